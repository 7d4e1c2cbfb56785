#include "controller/kube/policy_reports.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/clock.h"
#include "base/str_cat.h"
#include "base/utf8.h"

namespace layerseal::controller::kube {
namespace {

constexpr char kReportManagedByLabel[] = "app.kubernetes.io/managed-by";
constexpr char kReportSource[] = "layerseal";

bool SameReportResult(const ReportResult& a, const ReportResult& b) {
  return std::tie(a.pod_name, a.pod_uid, a.image, a.digest, a.policy, a.rule, a.result, a.message,
                  a.gate, a.node, a.reason, a.mode, a.time) ==
         std::tie(b.pod_name, b.pod_uid, b.image, b.digest, b.policy, b.rule, b.result, b.message,
                  b.gate, b.node, b.reason, b.mode, b.time);
}

struct ReportApiPaths {
  std::string group_version;  // "wgpolicyk8s.io/v1alpha2"
  std::string kind;
  std::string plural;
};

ReportApiPaths ReportPathsFor(ReportApi api) {
  if (api == ReportApi::kOpenReports) return {"openreports.io/v1alpha1", "Report", "reports"};
  return {"wgpolicyk8s.io/v1alpha2", "PolicyReport", "policyreports"};
}

std::string ReportCollectionPath(ReportApi api, const std::string& ns) {
  ReportApiPaths p = ReportPathsFor(api);
  return StrCat("/apis/", p.group_version, "/namespaces/", EscapePathSegment(ns), "/", p.plural);
}

bool IsReportTransportError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kCancelled;
}

// A 404 that says the namespace itself does not exist (rather than the report, or the
// resource type when the CRD is not installed).
bool ReportNamespaceNotFound(const Response& response) {
  if (response.status != 404) return false;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return false;
  auto details = body.find("details");
  if (details == body.end() || !details->is_object()) return false;
  auto kind = details->find("kind");
  return kind != details->end() && kind->is_string() && kind->get<std::string>() == "namespaces";
}

std::string ReportResourceVersionOf(const std::string& body) {
  nlohmann::json object = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto rv = metadata->find("resourceVersion");
  if (rv == metadata->end() || !rv->is_string()) return "";
  return rv->get<std::string>();
}

}  // namespace

absl::StatusOr<ReportApi> ParseReportApi(std::string_view text) {
  if (text == "off") return ReportApi::kOff;
  if (text == "wgpolicyk8s.io") return ReportApi::kWgPolicy;
  if (text == "openreports.io") return ReportApi::kOpenReports;
  return absl::InvalidArgumentError(
      StrCat("policy report API \"", TruncateUtf8(text, 64),
             "\" is not one of \"off\", \"wgpolicyk8s.io\", \"openreports.io\""));
}

std::string_view ReportApiName(ReportApi api) {
  switch (api) {
    case ReportApi::kOff:
      return "off";
    case ReportApi::kWgPolicy:
      return "wgpolicyk8s.io";
    case ReportApi::kOpenReports:
      return "openreports.io";
  }
  return "off";
}

std::string_view RuleForReason(std::string_view reason) {
  static const std::map<std::string_view, std::string_view>* const rules =
      new std::map<std::string_view, std::string_view>{
          {"VERIFIED", "signed"},
          {"INSECURE_ACCEPT_ANYTHING", "unsigned"},
          {"REJECTED_BY_POLICY", "policy"},
          {"INVALID_MANIFEST", "signed"},
          {"NOT_SIGNED", "signed"},
          {"MALFORMED_SEAL", "signed"},
          {"UNTRUSTED_KEY", "signed"},
          {"BAD_SIGNATURE", "signed"},
          {"INTEGRITY_MISMATCH", "integrity"},
          {"CONFIG_MISMATCH", "signed"},
          {"REGISTRY_ERROR", "signed"},
          {"LIMIT_EXCEEDED", "signed"},
          {"POLICY_UNAVAILABLE", "policy"},
          {"MALFORMED_SIGNATURE", "signed"},
          {"SUBJECT_MISMATCH", "signed"},
          {"BAD_TLOG_ENTRY", "signed"},
          {"TLOG_MISMATCH", "signed"},
          {"BAD_TIMESTAMP", "signed"},
          {"UNTRUSTED_CERTIFICATE", "signed"},
          {"BAD_SCT", "signed"},
          {"UNTRUSTED_IDENTITY", "signed"},
          {"SIGNATURE_EXPIRED", "signed"},
          {"REVOKED", "signed"},
          {"REVOCATION_UNCHECKED", "signed"},
          {"UNTRUSTED_BASE", "trustedBases"},
          {"PROTECTED_PATH", "protectedPaths"},
          {"CONTENT_UNAVAILABLE", "integrity"},
      };
  auto it = rules->find(reason);
  return it == rules->end() ? "other" : it->second;
}

std::string_view ResultFor(const v1::Event& event) {
  const v1::Verdict& v = event.verdict();
  if (v.reason() == "REGISTRY_ERROR" || v.reason() == "POLICY_UNAVAILABLE" ||
      v.reason() == "CONTENT_UNAVAILABLE") {
    return "error";
  }
  if (v.verdict() == "ALLOW") return "pass";
  if (v.verdict() == "DENY") return event.admitted() ? "warn" : "fail";
  return "error";  // a verdict that is neither: the agent could not say
}

std::optional<std::pair<std::string, ReportResult>> ReportResultFor(const v1::Event& event) {
  if (event.kind() != v1::Event::VERDICT || event.pod_namespace().empty() ||
      event.pod_name().empty()) {
    return std::nullopt;
  }
  const v1::Verdict& v = event.verdict();
  ReportResult r;
  r.pod_name = TruncateUtf8(event.pod_name(), kMaxResultFieldBytes);
  r.pod_uid = TruncateUtf8(event.pod_uid(), kMaxResultFieldBytes);
  r.image =
      TruncateUtf8(event.image().empty() ? v.reference() : event.image(), kMaxResultFieldBytes);
  r.digest = TruncateUtf8(v.digest(), kMaxResultFieldBytes);
  r.policy = v.scope().empty() ? kNoScopePolicy : TruncateUtf8(v.scope(), kMaxResultFieldBytes);
  r.rule = std::string(RuleForReason(v.reason()));
  r.result = std::string(ResultFor(event));
  r.message = TruncateUtf8(v.detail().empty() ? v.reason() : StrCat(v.reason(), ": ", v.detail()),
                           kMaxResultMessageBytes);
  r.gate = TruncateUtf8(event.gate(), kMaxResultFieldBytes);
  r.node = TruncateUtf8(event.node(), kMaxResultFieldBytes);
  r.reason = TruncateUtf8(v.reason(), kMaxResultFieldBytes);
  r.mode = TruncateUtf8(v.mode(), kMaxResultFieldBytes);
  r.time = absl::FromUnixMicros(event.time_unix_micros());
  return std::make_pair(TruncateUtf8(event.pod_namespace(), kMaxResultFieldBytes), std::move(r));
}

namespace {

// One result as the report's JSON has it.
nlohmann::json ReportResultItem(const std::string& namespace_name, const ReportResult& r) {
  nlohmann::json pod = {
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"namespace", namespace_name}, {"name", r.pod_name}};
  if (!r.pod_uid.empty()) pod["uid"] = r.pod_uid;
  nlohmann::json properties = nlohmann::json::object();
  auto property = [&](const char* name, const std::string& value) {
    if (!value.empty()) properties[name] = value;
  };
  property("image", r.image);
  property("digest", r.digest);
  property("gate", r.gate);
  property("node", r.node);
  property("reason", r.reason);
  property("mode", r.mode);
  // seconds and nanos in [0, 1e9) counting forward from them, as the schema asks.
  int64_t micros = absl::ToUnixMicros(r.time);
  int64_t seconds = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  int64_t nanos = (micros - seconds * 1000000) * 1000;
  return {{"source", kReportSource},  {"policy", r.policy},
          {"rule", r.rule},           {"result", r.result},
          {"message", r.message},     {"resources", nlohmann::json::array({pod})},
          {"properties", properties}, {"timestamp", {{"seconds", seconds}, {"nanos", nanos}}}};
}

std::string ReportJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The bytes a result adds to its report's JSON (with the comma before it), as the API server
// stores it: Go's encoding/json also escapes '<', '>' and '&' (as \u003c: 5 more bytes each)
// and U+2028 / U+2029 (3 more each), which nlohmann's dump does not.
size_t ReportResultBytes(const std::string& namespace_name, const ReportResult& r) {
  std::string text = ReportJson(ReportResultItem(namespace_name, r));
  size_t bytes = text.size() + 1;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '<' || c == '>' || c == '&') bytes += 5;
    if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
        (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      bytes += 3;
    }
  }
  return bytes;
}

}  // namespace

nlohmann::json ReportObject(ReportApi api, const std::string& namespace_name,
                            const std::vector<ReportResult>& results) {
  ReportApiPaths p = ReportPathsFor(api);
  std::vector<const ReportResult*> sorted;
  sorted.reserve(results.size());
  for (const ReportResult& r : results) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const ReportResult* a, const ReportResult* b) { return a->time > b->time; });
  nlohmann::json items = nlohmann::json::array();
  std::map<std::string, int64_t> counts{
      {"pass", 0}, {"fail", 0}, {"warn", 0}, {"error", 0}, {"skip", 0}};
  for (const ReportResult* r : sorted) {
    items.push_back(ReportResultItem(namespace_name, *r));
    auto count = counts.find(r->result);
    if (count != counts.end()) ++count->second;
  }
  nlohmann::json object = {
      {"apiVersion", p.group_version},
      {"kind", p.kind},
      {"metadata",
       {{"name", kReportName},
        {"namespace", namespace_name},
        {"labels", {{kReportManagedByLabel, kReportSource}}}}},
      {"results", items},
      {"summary", counts},
  };
  if (api == ReportApi::kOpenReports) object["source"] = kReportSource;
  return object;
}

// ---------------------------------------------------------------------------------------
// The reporter.

class PolicyReporter::Impl {
 public:
  explicit Impl(PolicyReportsOptions options) : options_(std::move(options)) {
    if (options_.max_results == 0) options_.max_results = kDefaultMaxResults;
    options_.max_results = std::min(options_.max_results, kMaxResultsLimit);
    if (options_.interval <= absl::ZeroDuration()) options_.interval = kDefaultReportInterval;
    if (options_.max_total_result_bytes == 0)
      options_.max_total_result_bytes = kMaxTotalResultBytes;
    options_.max_total_result_bytes =
        std::min(options_.max_total_result_bytes, kMaxTotalResultBytes);
    if (options_.metrics != nullptr) {
      writes_ = options_.metrics->AddCounter(
          "layerseal_controller_policy_reports_writes_total",
          "PolicyReport writes to the Kubernetes API server, by result", {"result"});
      results_gauge_ = options_.metrics->AddGauge(
          "layerseal_controller_policy_report_results",
          "Results in the namespace's PolicyReport as the controller keeps it", {"namespace"});
      pruned_ = options_.metrics->AddCounter(
          "layerseal_controller_policy_report_results_pruned_total",
          "PolicyReport results pruned, oldest first, to keep a report within its bounds");
      skipped_ = options_.metrics->AddCounter(
          "layerseal_controller_policy_report_events_skipped_total",
          "Verdict events not reported: their namespace was beyond the namespaces tracked");
    }
  }

  ~Impl() { Stop(); }

  void Offer(const v1::Event& event) {
    auto made = ReportResultFor(event);
    if (!made) return;
    size_t bytes = ReportResultBytes(made->first, made->second);  // outside the lock
    absl::MutexLock lock(&mu_);
    Apply(made->first, std::move(made->second), bytes, /*seeding=*/false);
  }

  absl::Status Seed(EventStore& store) {
    std::string token;
    size_t read = 0;
    v1::EventFilter all;
    while (read < kMaxSeedEvents) {
      int page_size = static_cast<int>(std::min<size_t>(kMaxPageSize, kMaxSeedEvents - read));
      absl::StatusOr<EventPage> page = store.Query(all, page_size, token);
      if (!page.ok()) {
        return absl::Status(page.status().code(),
                            StrCat("seeding the policy reports from the event store: ",
                                   Sv(page.status().message())));
      }
      {
        absl::MutexLock lock(&mu_);
        for (const v1::Event& event : page->events) {
          auto made = ReportResultFor(event);
          if (!made) continue;
          size_t bytes = ReportResultBytes(made->first, made->second);
          Apply(made->first, std::move(made->second), bytes, /*seeding=*/true);
        }
      }
      read += page->events.size();
      if (page->next_page_token.empty() || page->events.empty()) break;
      token = page->next_page_token;
    }
    return absl::OkStatus();
  }

  std::vector<ReportResult> Results(const std::string& ns) const {
    absl::MutexLock lock(&mu_);
    auto it = namespaces_.find(ns);
    if (it == namespaces_.end()) return {};
    return Snapshot(it->second);
  }

  void Start() {
    absl::MutexLock lock(&thread_mu_);
    if (thread_.joinable() || stopped_) return;
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&thread_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (!cancel_.HasBeenNotified()) cancel_.Notify();
    wake_.Notify();
    if (!thread_.joinable()) return;  // never started: nothing to finish
    thread_.join();
    // One last round, single attempts: what changed since the last round is not lost when
    // the API server answers.
    (void)Round(/*final=*/true);
  }

  absl::Status SyncNow() { return Round(/*final=*/false); }

 private:
  using Key = std::pair<std::string, std::string>;  // pod name, image
  using Order = std::tuple<absl::Time, uint64_t>;   // gate time, then arrival

  struct Entry {
    ReportResult result;
    Order order;
    size_t bytes = 0;
  };
  struct Namespace {
    std::map<Key, Entry> by_key;
    std::map<Order, Key> by_age;  // oldest first
    size_t bytes = 0;
    uint64_t version = 0;          // bumped by every change
    uint64_t written_version = 0;  // the version the API server has
    bool dirty() const { return version != written_version; }
  };
  // A namespace's report as one round writes it.
  struct Pending {
    std::string ns;
    uint64_t version;
    std::vector<ReportResult> results;
  };

  static std::vector<ReportResult> Snapshot(const Namespace& ns) {
    std::vector<ReportResult> out;
    out.reserve(ns.by_age.size());
    for (auto it = ns.by_age.rbegin(); it != ns.by_age.rend(); ++it) {
      out.push_back(ns.by_key.at(it->second).result);
    }
    return out;
  }

  // `bytes`: ReportResultBytes(ns_name, result), computed by the caller before it locks.
  void Apply(const std::string& ns_name, ReportResult result, size_t bytes, bool seeding)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto ns_it = namespaces_.find(ns_name);
    if (ns_it == namespaces_.end()) {
      if (namespaces_.size() >= kMaxNamespaces) {
        if (skipped_ != nullptr) skipped_->Get().Increment();
        return;
      }
      ns_it = namespaces_.emplace(ns_name, Namespace()).first;
    }
    Namespace& ns = ns_it->second;
    Key key(result.pod_name, result.image);
    auto existing = ns.by_key.find(key);
    if (existing != ns.by_key.end()) {
      const ReportResult& old = existing->second.result;
      // An older verdict never replaces a newer one; the same time: the later offer wins
      // (seeding reads newest first, so there the one already applied wins).
      if (result.time < old.time || (seeding && result.time == old.time)) return;
      if (SameReportResult(old, result)) return;  // a resend: nothing to write
      ns.by_age.erase(existing->second.order);
      all_by_age_.erase(existing->second.order);
      ns.bytes -= existing->second.bytes;
      total_bytes_ -= existing->second.bytes;
      ns.by_key.erase(existing);
    }
    Order order(result.time, ++arrivals_);
    ns.by_age.emplace(order, key);
    ns.by_key.emplace(key, Entry{std::move(result), order, bytes});
    ns.bytes += bytes;
    all_by_age_.emplace(order, ns_name);
    total_bytes_ += bytes;
    size_t pruned = 0;
    while (ns.by_key.size() > options_.max_results ||
           (ns.bytes > kMaxReportBytes && ns.by_key.size() > 1)) {
      RemoveOldest(ns);
      ++pruned;
    }
    ++ns.version;
    SetGauge(ns_name, ns);
    // All namespaces together: the oldest result anywhere goes first.
    while (total_bytes_ > options_.max_total_result_bytes && all_by_age_.size() > 1) {
      const std::string oldest_ns = all_by_age_.begin()->second;
      Namespace& other = namespaces_.at(oldest_ns);
      RemoveOldest(other);
      ++other.version;
      SetGauge(oldest_ns, other);
      ++pruned;
    }
    if (pruned > 0 && !seeding && pruned_ != nullptr) {
      pruned_->Get().Increment(static_cast<double>(pruned));
    }
  }

  void RemoveOldest(Namespace& ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto oldest = ns.by_age.begin();
    auto entry = ns.by_key.find(oldest->second);
    ns.bytes -= entry->second.bytes;
    total_bytes_ -= entry->second.bytes;
    all_by_age_.erase(oldest->first);
    ns.by_key.erase(entry);
    ns.by_age.erase(oldest);
  }

  // Drops a namespace and its results (the API server says it does not exist).
  void Forget(const std::string& ns_name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = namespaces_.find(ns_name);
    if (it == namespaces_.end()) return;
    while (!it->second.by_age.empty()) RemoveOldest(it->second);
    namespaces_.erase(it);
    if (results_gauge_ != nullptr) results_gauge_->WithLabels({ns_name}).Set(0);
  }

  void SetGauge(const std::string& ns_name, const Namespace& ns) {
    if (results_gauge_ != nullptr) {
      results_gauge_->WithLabels({ns_name}).Set(static_cast<double>(ns.by_key.size()));
    }
  }

  void Run() {
    while (!wake_.WaitFor(options_.interval)) {
      (void)Round(/*final=*/false);
    }
  }

  // One round: every dirty namespace's report, written without holding mu_.
  absl::Status Round(bool final) ABSL_LOCKS_EXCLUDED(round_mu_, mu_) {
    absl::MutexLock round_lock(&round_mu_);
    if (options_.transport == nullptr || options_.api == ReportApi::kOff) {
      return absl::OkStatus();
    }
    std::vector<std::string> dirty;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, ns] : namespaces_) {
        if (ns.dirty()) dirty.push_back(name);
      }
    }
    RetryOptions retry = options_.retry;
    if (final) retry.max_attempts = 1;
    absl::Status first;
    int failed = 0;
    for (const std::string& name : dirty) {
      Pending pending;
      {
        absl::MutexLock lock(&mu_);
        auto it = namespaces_.find(name);
        if (it == namespaces_.end() || !it->second.dirty()) continue;
        pending = Pending{name, it->second.version, Snapshot(it->second)};
      }
      bool namespace_gone = false;
      absl::Status s = Write(pending, retry, final, &namespace_gone);
      if (writes_ != nullptr) writes_->WithLabels({s.ok() ? "ok" : "failed"}).Increment();
      absl::MutexLock lock(&mu_);
      auto it = namespaces_.find(name);
      if (s.ok()) {
        if (it != namespaces_.end()) it->second.written_version = pending.version;
        continue;
      }
      if (namespace_gone) {
        // Its results are about Pods that no longer exist; a namespace made again later is
        // reported from its new events.
        Forget(name);
        versions_.erase(name);
      }
      ++failed;
      if (first.ok()) first = s;
      if (IsReportTransportError(s)) break;  // the API server is away: the rest stay dirty too
    }
    LogRound(first, failed);
    return first;
  }

  void LogRound(const absl::Status& first, int failed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_) {
    if (options_.logger == nullptr) return;
    if (!first.ok()) {
      // Logged when the failure is new or different, not every round of an outage.
      if (first.message() != last_error_) {
        options_.logger->Warn(
            "policy reports: writing failed; the reports are written again at the next round",
            {{"api", std::string(ReportApiName(options_.api))},
             {"error", std::string(Sv(first.message()))},
             {"namespaces_failed", failed}});
        last_error_ = std::string(Sv(first.message()));
      }
    } else if (!last_error_.empty()) {
      options_.logger->Info("policy reports: writing again",
                            {{"api", std::string(ReportApiName(options_.api))}});
      last_error_.clear();
    }
  }

  // The final round makes single attempts, so it has no waits to cancel (and must not be
  // cancelled before its first).
  absl::StatusOr<Response> Call(std::string_view method, const std::string& path,
                                const std::string& body, const RetryOptions& retry, bool final) {
    return DoWithRetry(*options_.transport, method, path, body, "application/json", retry,
                       final ? nullptr : &cancel_);
  }

  // Writes one namespace's report: PUT over the resourceVersion known (the last write's, or
  // a GET's), POST when there is none; a 409 reads again.
  absl::Status Write(const Pending& pending, const RetryOptions& retry, bool final,
                     bool* namespace_gone) ABSL_EXCLUSIVE_LOCKS_REQUIRED(round_mu_) {
    const std::string collection = ReportCollectionPath(options_.api, pending.ns);
    const std::string path = StrCat(collection, "/", EscapePathSegment(kReportName));
    nlohmann::json object = ReportObject(options_.api, pending.ns, pending.results);
    std::string known = versions_[pending.ns];  // "": read it first
    absl::Status last;
    for (int attempt = 0; attempt <= kMaxConflictRetries; ++attempt) {
      bool create = false;
      if (known.empty()) {
        absl::StatusOr<Response> got = Call("GET", path, "", retry, final);
        if (!got.ok()) return Named(got.status(), pending.ns);
        if (got->status == 404) {
          create = true;
        } else if (got->status / 100 == 2) {
          known = ReportResourceVersionOf(got->body);
          if (known.empty()) {
            return absl::InternalError(
                StrCat("policy report ", pending.ns, "/", kReportName,
                       ": the API server's answer has no metadata.resourceVersion"));
          }
        } else {
          return StatusFromResponse(*got,
                                    StrCat("reading policy report ", pending.ns, "/", kReportName));
        }
      }
      absl::StatusOr<Response> answer;
      if (create) {
        object["metadata"].erase("resourceVersion");
        answer = Call("POST", collection, ReportJson(object), retry, final);
      } else {
        object["metadata"]["resourceVersion"] = known;
        answer = Call("PUT", path, ReportJson(object), retry, final);
      }
      if (!answer.ok()) return Named(answer.status(), pending.ns);
      if (answer->status / 100 == 2) {
        versions_[pending.ns] = ReportResourceVersionOf(answer->body);
        return absl::OkStatus();
      }
      last = StatusFromResponse(*answer, StrCat(create ? "creating" : "replacing",
                                                " policy report ", pending.ns, "/", kReportName));
      if (answer->status == 409 || (answer->status == 404 && !create)) {
        // Changed or created by someone else (409), or deleted since (404): read again.
        known.clear();
        versions_[pending.ns].clear();
        continue;
      }
      if (create && ReportNamespaceNotFound(*answer)) *namespace_gone = true;
      versions_[pending.ns].clear();
      return last;
    }
    return absl::AbortedError(StrCat("policy report ", pending.ns, "/", kReportName,
                                     ": still conflicting after ", kMaxConflictRetries,
                                     " retries: ", Sv(last.message())));
  }

  static absl::Status Named(const absl::Status& s, const std::string& ns) {
    return absl::Status(s.code(),
                        StrCat("policy report ", ns, "/", kReportName, ": ", Sv(s.message())));
  }

  PolicyReportsOptions options_;
  telemetry::Family<telemetry::Counter>* writes_ = nullptr;
  telemetry::Family<telemetry::Gauge>* results_gauge_ = nullptr;
  telemetry::Family<telemetry::Counter>* pruned_ = nullptr;
  telemetry::Family<telemetry::Counter>* skipped_ = nullptr;

  mutable absl::Mutex mu_;
  std::map<std::string, Namespace> namespaces_ ABSL_GUARDED_BY(mu_);
  uint64_t arrivals_ ABSL_GUARDED_BY(mu_) = 0;
  // Every namespace's results together, oldest first, and their bytes (max_total_result_bytes).
  std::map<Order, std::string> all_by_age_ ABSL_GUARDED_BY(mu_);
  size_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  // The round's own state: one round at a time.
  absl::Mutex round_mu_;
  // ns → the resourceVersion of its last write ("": read it first).
  std::map<std::string, std::string> versions_ ABSL_GUARDED_BY(round_mu_);
  std::string last_error_ ABSL_GUARDED_BY(round_mu_);  // the last round's, for the log

  absl::Mutex thread_mu_;
  bool stopped_ ABSL_GUARDED_BY(thread_mu_) = false;
  std::thread thread_;
  MonotonicSignal wake_;
  absl::Notification cancel_;
};

PolicyReporter::PolicyReporter(PolicyReportsOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
PolicyReporter::~PolicyReporter() = default;
absl::Status PolicyReporter::Seed(EventStore& store) { return impl_->Seed(store); }
void PolicyReporter::Start() { impl_->Start(); }
void PolicyReporter::Stop() { impl_->Stop(); }
void PolicyReporter::Offer(const v1::Event& event) { impl_->Offer(event); }
absl::Status PolicyReporter::SyncNow() { return impl_->SyncNow(); }
std::vector<ReportResult> PolicyReporter::Results(const std::string& namespace_name) const {
  return impl_->Results(namespace_name);
}

}  // namespace layerseal::controller::kube
