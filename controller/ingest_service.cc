#include "controller/ingest_service.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "controller/authorize.h"
#include "controller/rpc_errors.h"
#include "controller/sql_store.h"
#include "base/str_cat.h"
#include "verifier/layers/packages.h"

namespace layerseal::controller {
namespace {

constexpr char kMethod[] = "ReportEvents";

struct StringField {
  const char* name;
  const std::string& value;
  size_t max;
};

absl::Status CheckStrings(const std::string& where, const std::vector<StringField>& fields) {
  for (const StringField& f : fields) {
    if (f.value.size() > f.max) {
      return absl::InvalidArgumentError(StrCat(where, f.name, " is ", f.value.size(),
                                               " bytes, more than the limit of ", f.max));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckVerdict(const std::string& where, const v1::Verdict& v) {
  constexpr size_t kShort = kMaxShortFieldBytes;
  return CheckStrings(where, {{"verdict.reference", v.reference(), kShort},
                              {"verdict.digest", v.digest(), kShort},
                              {"verdict.verdict", v.verdict(), kShort},
                              {"verdict.reason", v.reason(), kShort},
                              {"verdict.detail", v.detail(), kMaxFieldBytes},
                              {"verdict.key_id", v.key_id(), kShort},
                              {"verdict.policy_version", v.policy_version(), kShort},
                              {"verdict.scope", v.scope(), kShort},
                              {"verdict.mode", v.mode(), kShort},
                              {"verdict.signer_kind", v.signer_kind(), kShort},
                              {"verdict.signer_issuer", v.signer_issuer(), kShort},
                              {"verdict.signer_subject", v.signer_subject(), kShort},
                              {"verdict.rekor_log_id", v.rekor_log_id(), kShort}});
}

absl::Status CheckEvent(const std::string& node, int index, const v1::Event& e) {
  std::string where = StrCat("events[", index, "].");
  if (e.node() != node) {
    return absl::PermissionDeniedError(StrCat(where, "node is \"", e.node(),
                                              "\", not the batch's node \"", node,
                                              "\": an agent may only report its own node's events"));
  }
  if (e.seq() == 0) {
    return absl::InvalidArgumentError(StrCat(where, "seq is 0 (an agent numbers events from 1)"));
  }
  if (e.kind() == v1::Event::KIND_UNSPECIFIED || !v1::Event::Kind_IsValid(e.kind())) {
    return absl::InvalidArgumentError(StrCat(where, "kind ", static_cast<int>(e.kind()),
                                             " is not VERDICT or EVENTS_LOST"));
  }
  if (e.time_unix_micros() <= 0) {
    return absl::InvalidArgumentError(StrCat(where, "time_unix_micros ", e.time_unix_micros(),
                                             " is not a time after 1970"));
  }
  absl::Status s = CheckStrings(where, {{"gate", e.gate(), kMaxShortFieldBytes},
                                        {"image", e.image(), kMaxShortFieldBytes},
                                        {"pod_namespace", e.pod_namespace(), kMaxShortFieldBytes},
                                        {"pod_name", e.pod_name(), kMaxShortFieldBytes},
                                        {"pod_uid", e.pod_uid(), kMaxShortFieldBytes},
                                        {"agent_version", e.agent_version(), kMaxShortFieldBytes},
                                        {"spool_incarnation", e.spool_incarnation(),
                                         kMaxIncarnationBytes}});
  if (!s.ok()) return s;
  return CheckVerdict(where, e.verdict());
}

const char* ReasonFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kPermissionDenied:
      return kRejectNodeMismatch;
    case absl::StatusCode::kResourceExhausted:
      return kRejectTooLarge;
    default:
      return kRejectMalformed;
  }
}

}  // namespace

absl::Status ValidateBatch(const v1::ReportEventsRequest& request) {
  if (request.node().empty()) return absl::InvalidArgumentError("node is empty");
  if (request.events_size() > kMaxBatchEvents) {
    return absl::ResourceExhaustedError(StrCat("events[", kMaxBatchEvents, "]: the batch has ",
                                               request.events_size(), " events, more than the limit of ",
                                               kMaxBatchEvents, " (kMaxBatchEvents)"));
  }
  if (size_t bytes = request.ByteSizeLong(); bytes > kMaxBatchBytes) {
    return absl::ResourceExhaustedError(StrCat("the batch is ", bytes, " bytes, more than the limit of ",
                                               kMaxBatchBytes, " (kMaxBatchBytes)"));
  }
  absl::Status s = CheckStrings("", {{"node", request.node(), kMaxShortFieldBytes},
                                     {"status.agent_version", request.status().agent_version(),
                                      kMaxShortFieldBytes},
                                     {"status.policy_version", request.status().policy_version(),
                                      kMaxShortFieldBytes}});
  if (!s.ok()) return s;
  for (int i = 0; i < request.events_size(); ++i) {
    s = CheckEvent(request.node(), i, request.events(i));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

PackagesIntake TakePackages(const std::string& node, std::vector<v1::Event>& events) {
  PackagesIntake out;
  std::map<std::string, ImagePackagesRecord> by_digest;
  for (size_t i = 0; i < events.size(); ++i) {
    v1::Event& e = events[i];
    const std::string& digest = e.verdict().digest();
    if (e.packages_attachment().empty()) {
      if (e.packages_omitted_bytes() == 0 || e.kind() != v1::Event::VERDICT || digest.empty()) {
        continue;
      }
      ++out.omitted;
      auto [it, added] = by_digest.try_emplace(digest);
      if (added || it->second.attachment.empty()) {
        it->second = {digest, "", 0, static_cast<int64_t>(e.packages_omitted_bytes()), node};
      }
      continue;
    }
    std::string attachment = std::move(*e.mutable_packages_attachment());
    e.clear_packages_attachment();
    absl::Status why;
    if (e.kind() != v1::Event::VERDICT) {
      why = absl::InvalidArgumentError("only a VERDICT event carries a package inventory");
    } else if (digest.empty()) {
      why = absl::InvalidArgumentError(
          "the event has no verdict.digest, the image digest its inventory is kept under");
    } else {
      absl::StatusOr<layers::PackageInventory> inv = layers::ParsePackagesAttachment(attachment);
      if (!inv.ok()) {
        why = inv.status();
      } else if (inv->image != digest) {
        why = absl::InvalidArgumentError(StrCat("the inventory is for image \"", inv->image,
                                                "\", not the event's digest \"", digest, "\""));
      } else {
        ++out.accepted;
        by_digest[digest] = {digest, std::move(attachment),
                             static_cast<int64_t>(inv->packages.size()), 0, node};
        continue;
      }
    }
    ++out.refused;
    if (out.errors.size() < kMaxPackagesErrors) {
      out.errors.push_back(StrCat("events[", i, "] (", sql::IdentityName(e),
                                  "): package inventory refused: ", Sv(why.message())));
    }
  }
  for (auto& [digest, record] : by_digest) out.records.push_back(std::move(record));
  return out;
}

IngestService::IngestService(IngestOptions options) : options_(std::move(options)) {
  telemetry::MetricsRegistry& m = *options_.metrics;
  received_ = m.AddCounter("layerseal_controller_events_received_total",
                           "Events in accepted batches (new, duplicate and conflicting)");
  duplicates_ = m.AddCounter("layerseal_controller_duplicate_events_total",
                             "Events received again after they were stored (resends)");
  conflicts_ = m.AddCounter("layerseal_controller_event_conflicts_total",
                            "Events whose id (node, incarnation, seq) was stored with other "
                            "content: kept in event_conflicts, never taken for resends",
                            {"node"});
  rejected_ = m.AddCounter("layerseal_controller_rejected_batches_total",
                           "Batches refused, by reason (node_mismatch, malformed, too_large, "
                           "unauthenticated, store_error, wrong_role: a reader's certificate, "
                           "no_role: a certificate with no layerseal role); nothing of them "
                           "was stored",
                           {"reason"});
  // Every reason from the start, at 0: an alert on increase(...{reason="store_error"}) sees
  // the first failure only if the series existed before it (Prometheus cannot tell a new
  // series' first sample from an old count).
  for (const char* reason : {kRejectUnauthenticated, kRejectNodeMismatch, kRejectMalformed,
                             kRejectTooLarge, kRejectStoreError, kRejectWrongRole, kRejectNoRole}) {
    rejected_->WithLabels({reason});
  }
  batches_ = m.AddCounter("layerseal_controller_batches_total",
                          "ReportEvents calls, accepted or not (heartbeats included)");
  lag_ = m.AddGauge("layerseal_controller_node_lag_seconds",
                    "Per node: receive time minus the oldest event time of its last batch "
                    "(0 for an empty batch)",
                    {"node"});
  last_report_ = m.AddGauge("layerseal_controller_node_last_report_timestamp_seconds",
                            "Per node: Unix time of its last accepted batch (agents send an "
                            "empty one every 10 s when idle); alert on time() minus this",
                            {"node"});
  packages_ = m.AddCounter("layerseal_controller_packages_total",
                           "Package inventories (issue 18) in accepted batches by result: "
                           "stored (valid; kept once per image digest), refused (invalid: not "
                           "stored, the event was), omitted (the agent reported one too large "
                           "to send)",
                           {"result"});
  latency_ = m.AddHistogram("layerseal_controller_ingest_seconds",
                            "Time to validate and store one batch",
                            telemetry::ExponentialBuckets(0.0005, 2, 14));
}

grpc::Status IngestService::ReportEvents(grpc::ServerContext* context,
                                         const v1::ReportEventsRequest* request,
                                         v1::ReportEventsResponse* response) {
  TrackedCall call(options_.calls);
  if (!call.entered()) return ShuttingDown(kMethod);
  if (!options_.require_identity) return Report(std::nullopt, *request, response);
  Caller caller = CallerOf(*context);
  if (grpc::Status s = Authorize(kMethod, Role::kNode, caller); !s.ok()) {
    batches_->Get().Increment();
    const char* reason = caller.identity.role == Role::kNone ? kRejectNoRole : kRejectWrongRole;
    return Reject(reason, caller.subject, std::move(s));
  }
  return Report(caller.identity.common_name, *request, response);
}

grpc::Status IngestService::Reject(const char* reason, const std::string& node,
                                   grpc::Status status) {
  rejected_->WithLabels({reason}).Increment();
  int64_t left_out = 0;
  {
    absl::MutexLock lock(&log_mu_);
    absl::Time second = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
    if (second != log_second_) {
      log_second_ = second;
      logged_this_second_ = 0;
    }
    if (logged_this_second_ == kMaxRejectLogsPerSecond) {
      ++not_logged_;
      return status;
    }
    ++logged_this_second_;
    left_out = std::exchange(not_logged_, 0);
  }
  nlohmann::json fields = {{"reason", reason},
                           {"node", node},
                           {"code", static_cast<int>(status.error_code())},
                           {"error", status.error_message()}};
  if (left_out > 0) fields["rejections_not_logged"] = left_out;
  options_.logger->Warn("batch rejected", fields);
  return status;
}

grpc::Status IngestService::Report(const std::optional<std::string>& cert_node,
                                   const v1::ReportEventsRequest& request,
                                   v1::ReportEventsResponse* response) {
  absl::Time start = absl::Now();
  batches_->Get().Increment();
  if (options_.require_identity) {
    if (!cert_node) return Reject(kRejectUnauthenticated, request.node(), NoIdentity());
    if (request.node() != *cert_node) {
      return Reject(kRejectNodeMismatch, *cert_node,
                    NodeMismatch(*cert_node, "the request", request.node()));
    }
  }
  if (absl::Status s = ValidateBatch(request); !s.ok()) {
    return Reject(ReasonFor(s.code()), request.node(), Rejected(kMethod, s));
  }
  std::vector<v1::Event> events(request.events().begin(), request.events().end());
  absl::Time received = absl::Now();
  // Package inventories first, so that no stored event lacks its inventory; both steps are
  // idempotent, so a failure in between is repaired by the agent's resend.
  PackagesIntake packages = TakePackages(request.node(), events);
  if (absl::Status s = options_.store->PutPackages(packages.records, received); !s.ok()) {
    return Reject(kRejectStoreError, request.node(), StoreFailed(kMethod, s));
  }
  absl::StatusOr<AppendResult> stored =
      options_.store->Append(request.node(), request.status(), events, received);
  if (!stored.ok()) {
    return Reject(kRejectStoreError, request.node(), StoreFailed(kMethod, stored.status()));
  }
  response->set_stored(static_cast<uint32_t>(stored->stored));
  response->set_duplicates(static_cast<uint32_t>(stored->duplicates));
  response->set_conflicts(static_cast<uint32_t>(stored->conflicts));
  ReportPackages(request.node(), packages, response);
  received_->Get().Increment(stored->stored + stored->duplicates + stored->conflicts);
  if (stored->conflicts > 0) ReportConflicts(request.node(), *stored);
  duplicates_->Get().Increment(stored->duplicates);
  RecordLag(request, received);
  if (stored->stored > 0) {
    if (options_.on_count) options_.on_count(stored->stored);
    if (options_.on_stored) options_.on_stored();
    if (options_.on_events) options_.on_events(events);
  }
  latency_->Get().Observe(absl::ToDoubleSeconds(absl::Now() - start));
  options_.logger->Debug("batch stored", {{"node", request.node()},
                                          {"stored", stored->stored},
                                          {"duplicates", stored->duplicates}});
  return grpc::Status::OK;
}

void IngestService::ReportPackages(const std::string& node, const PackagesIntake& packages,
                                   v1::ReportEventsResponse* response) {
  response->set_packages_stored(static_cast<uint32_t>(packages.accepted));
  response->set_packages_refused(static_cast<uint32_t>(packages.refused));
  for (const std::string& e : packages.errors) response->add_packages_errors(e);
  if (packages.accepted > 0) packages_->WithLabels({"stored"}).Increment(packages.accepted);
  if (packages.omitted > 0) packages_->WithLabels({"omitted"}).Increment(packages.omitted);
  if (packages.refused == 0) return;
  packages_->WithLabels({"refused"}).Increment(packages.refused);
  options_.logger->Warn("package inventories refused; their events were stored without them",
                        {{"node", node},
                         {"refused", packages.refused},
                         {"errors", nlohmann::json(packages.errors)}});
}

void IngestService::ReportConflicts(const std::string& node, const AppendResult& stored) {
  conflicts_->WithLabels({node}).Increment(stored.conflicts);
  options_.logger->Error(
      "events whose id was already stored with other content: kept as conflicts, not taken "
      "for resends (an agent that lost its state without a spool incarnation?)",
      {{"node", node},
       {"conflicts", stored.conflicts},
       {"ids", nlohmann::json(stored.conflict_names)}});
}

void IngestService::RecordLag(const v1::ReportEventsRequest& request, absl::Time received) {
  double lag = 0;
  if (request.events_size() > 0) {
    int64_t oldest = request.events(0).time_unix_micros();
    for (const v1::Event& e : request.events()) oldest = std::min(oldest, e.time_unix_micros());
    lag = absl::ToDoubleSeconds(received - absl::FromUnixMicros(oldest));
  }
  lag_->WithLabels({request.node()}).Set(lag);
  last_report_->WithLabels({request.node()}).Set(absl::ToDoubleSeconds(received - absl::UnixEpoch()));
}

}  // namespace layerseal::controller
