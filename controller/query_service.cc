#include "controller/query_service.h"

#include <grpcpp/server_context.h>

#include <algorithm>
#include <string>
#include <vector>

#include "controller/authorize.h"
#include "controller/rpc_errors.h"
#include "base/str_cat.h"
#include "verifier/layers/packages.h"

namespace layerseal::controller {
namespace {

absl::Status CheckOneOf(const char* name, const std::string& value,
                        const std::vector<std::string>& allowed) {
  if (value.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end()) {
    return absl::OkStatus();
  }
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return absl::InvalidArgumentError(
      StrCat("filter.", name, " \"", value, "\" is not one of ", list));
}

// RAII count of running followers.
class FollowerSlot {
 public:
  FollowerSlot(std::atomic<int>& count, telemetry::Gauge& gauge) : count_(count), gauge_(gauge) {
    taken_ = count_.fetch_add(1) < kMaxFollowers;
    if (taken_) gauge_.Add(1);
  }
  ~FollowerSlot() {
    count_.fetch_sub(1);
    if (taken_) gauge_.Add(-1);
  }
  bool taken() const { return taken_; }

 private:
  std::atomic<int>& count_;
  telemetry::Gauge& gauge_;
  bool taken_ = false;
};

}  // namespace

void EventSignal::Notify() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

void EventSignal::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

uint64_t EventSignal::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

bool EventSignal::Wait(uint64_t* generation, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  uint64_t seen = *generation;
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || generation_ != seen;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  *generation = generation_;
  return !stopped_;
}

absl::Status ValidateFilter(const v1::EventFilter& f) {
  if (f.since_unix_micros() < 0 || f.until_unix_micros() < 0) {
    return absl::InvalidArgumentError("filter: since_unix_micros and until_unix_micros must not be negative");
  }
  if (f.has_since_unix_micros() && f.has_until_unix_micros() &&
      f.since_unix_micros() >= f.until_unix_micros()) {
    return absl::InvalidArgumentError(StrCat("filter: since_unix_micros ", f.since_unix_micros(),
                                             " is not before until_unix_micros ",
                                             f.until_unix_micros()));
  }
  for (auto [name, value] : {std::pair{"node", &f.node()}, {"namespace", &f.namespace_()},
                             {"pod", &f.pod()}, {"image", &f.image()}, {"digest", &f.digest()},
                             {"verdict", &f.verdict()}, {"reason", &f.reason()},
                             {"mode", &f.mode()}, {"signer", &f.signer()}}) {
    if (value->size() > kMaxFilterFieldBytes) {
      return absl::InvalidArgumentError(StrCat("filter.", name, " is ", value->size(),
                                               " bytes, more than the limit of ",
                                               kMaxFilterFieldBytes));
    }
  }
  absl::Status s = CheckOneOf("verdict", f.verdict(), {"ALLOW", "DENY"});
  if (!s.ok()) return s;
  return CheckOneOf("mode", f.mode(), {"enforce", "warn", "audit"});
}

QueryService::QueryService(EventStore* store, EventSignal* signal, CallTracker* calls,
                           telemetry::MetricsRegistry* metrics, bool require_reader)
    : store_(store), signal_(signal), calls_(calls), require_reader_(require_reader) {
  followers_gauge_ = metrics->AddGauge("layerseal_controller_followers",
                                       "FollowEvents streams open now");
  refused_ = metrics->AddCounter("layerseal_controller_refused_queries_total",
                                 "EventQuery calls refused because the client certificate is "
                                 "not a reader's, by its role (node, none)",
                                 {"role"});
}

grpc::Status QueryService::Admit(const grpc::ServerContext& context, std::string_view method) {
  if (!require_reader_) return grpc::Status::OK;
  Caller caller = CallerOf(context);
  grpc::Status s = Authorize(method, Role::kReader, caller);
  if (!s.ok()) refused_->WithLabels({std::string(RoleName(caller.identity.role))}).Increment();
  return s;
}

grpc::Status QueryService::QueryEvents(grpc::ServerContext* context,
                                       const v1::QueryEventsRequest* request,
                                       v1::QueryEventsResponse* response) {
  constexpr char kMethod[] = "QueryEvents";
  TrackedCall call(calls_);
  if (!call.entered()) return ShuttingDown(kMethod);
  if (grpc::Status s = Admit(*context, kMethod); !s.ok()) return s;
  if (absl::Status s = ValidateFilter(request->filter()); !s.ok()) return Rejected(kMethod, s);
  if (request->page_token().size() > kMaxPageTokenBytes) {
    return Rejected(kMethod, absl::InvalidArgumentError("page_token is not one this controller handed out"));
  }
  int page_size = static_cast<int>(std::min<uint32_t>(request->page_size(), kMaxPageSize));
  if (page_size == 0) page_size = kDefaultPageSize;
  for (;;) {
    absl::StatusOr<EventPage> page = store_->Query(request->filter(), page_size, request->page_token());
    if (!page.ok()) return StoreFailed(kMethod, page.status());
    response->Clear();
    for (v1::Event& e : page->events) *response->add_events() = std::move(e);
    response->set_next_page_token(page->next_page_token);
    if (page_size == 1 || response->ByteSizeLong() <= kMaxResponseBytes) return grpc::Status::OK;
    page_size /= 2;  // rare: a page of events with long details
  }
}

grpc::Status QueryService::FollowEvents(grpc::ServerContext* context,
                                        const v1::FollowEventsRequest* request,
                                        grpc::ServerWriter<v1::Event>* writer) {
  TrackedCall call(calls_);
  if (!call.entered()) return ShuttingDown("FollowEvents");
  if (grpc::Status s = Admit(*context, "FollowEvents"); !s.ok()) return s;
  if (absl::Status s = ValidateFilter(request->filter()); !s.ok()) {
    return Rejected("FollowEvents", s);
  }
  FollowerSlot slot(followers_, followers_gauge_->Get());
  if (!slot.taken()) return TooManyFollowers(kMaxFollowers);
  return Follow(context, request->filter(), writer);
}

grpc::Status QueryService::Follow(grpc::ServerContext* context, const v1::EventFilter& filter,
                                  grpc::ServerWriter<v1::Event>* writer) {
  constexpr char kMethod[] = "FollowEvents";
  // The generation before the cursor: an event stored in between is seen either way.
  uint64_t generation = signal_->generation();
  absl::StatusOr<int64_t> cursor = store_->LatestCursor();
  if (!cursor.ok()) return StoreFailed(kMethod, cursor.status());
  // Headers now, so the client knows the stream is open before the first event.
  writer->SendInitialMetadata();
  for (;;) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    absl::StatusOr<std::vector<v1::Event>> events = store_->After(filter, &*cursor, kFollowBatch);
    if (!events.ok()) return StoreFailed(kMethod, events.status());
    for (const v1::Event& e : *events) {
      if (!writer->Write(e)) return grpc::Status::CANCELLED;  // the client left
    }
    if (static_cast<int>(events->size()) == kFollowBatch) continue;  // more waiting
    if (!signal_->Wait(&generation, kFollowPoll)) return ShuttingDown(kMethod);
  }
}

grpc::Status QueryService::ListNodes(grpc::ServerContext* context, const v1::ListNodesRequest*,
                                     v1::ListNodesResponse* response) {
  TrackedCall call(calls_);
  if (!call.entered()) return ShuttingDown("ListNodes");
  if (grpc::Status s = Admit(*context, "ListNodes"); !s.ok()) return s;
  absl::StatusOr<std::vector<v1::NodeSummary>> nodes = store_->Nodes();
  if (!nodes.ok()) return StoreFailed("ListNodes", nodes.status());
  for (v1::NodeSummary& n : *nodes) *response->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status QueryService::ListImages(grpc::ServerContext* context,
                                      const v1::ListImagesRequest* request,
                                      v1::ListImagesResponse* response) {
  constexpr char kMethod[] = "ListImages";
  TrackedCall call(calls_);
  if (!call.entered()) return ShuttingDown(kMethod);
  if (grpc::Status s = Admit(*context, kMethod); !s.ok()) return s;
  if (request->since_unix_micros() < 0) {
    return Rejected(kMethod, absl::InvalidArgumentError("since_unix_micros must not be negative"));
  }
  int limit = static_cast<int>(std::min<uint32_t>(request->limit(), kMaxPageSize));
  if (limit == 0) limit = kDefaultPageSize;
  absl::StatusOr<std::vector<v1::ImageSummary>> images =
      store_->Images(absl::FromUnixMicros(request->since_unix_micros()), limit);
  if (!images.ok()) return StoreFailed(kMethod, images.status());
  for (v1::ImageSummary& i : *images) *response->add_images() = std::move(i);
  return grpc::Status::OK;
}

absl::StatusOr<v1::ImagePackages> ImagePackagesOf(const ImagePackagesRecord& record,
                                                  bool with_packages) {
  v1::ImagePackages out;
  out.set_digest(record.digest);
  out.set_package_count(static_cast<uint64_t>(record.packages));
  out.set_omitted_bytes(static_cast<uint64_t>(record.omitted_bytes));
  out.set_node(record.node);
  out.set_updated_unix_micros(record.updated_us);
  out.set_last_seen_unix_micros(record.last_seen_us);
  if (!with_packages || record.attachment.empty()) return out;
  absl::StatusOr<layers::PackageInventory> inv = layers::ParsePackagesAttachment(record.attachment);
  if (!inv.ok()) {
    return absl::DataLossError(StrCat("the stored package inventory of ", record.digest,
                                      " does not parse: ", Sv(inv.status().message())));
  }
  out.set_base_layers(static_cast<uint32_t>(inv->base_layers));
  out.set_layers(static_cast<uint32_t>(inv->layers));
  if (inv->distro) {
    out.set_distro(inv->distro->version_id.empty()
                       ? inv->distro->id
                       : StrCat(inv->distro->id, " ", inv->distro->version_id));
  }
  for (const layers::InventoryPackage& p : inv->packages) {
    v1::ImagePackage* q = out.add_packages();
    q->set_name(p.package.name);
    q->set_version(p.package.version);
    q->set_arch(p.package.arch);
    q->set_ecosystem(std::string(layers::EcosystemName(p.package.ecosystem)));
    q->set_purl(p.purl);
    q->set_layer_index(static_cast<uint32_t>(p.layer_index));
    q->set_layer_digest(p.layer_digest);
    q->set_change(p.changed ? "changed" : "added");
    q->set_previous_version(p.previous_version);
    q->set_source(p.package.source);
    q->set_source_version(p.package.source_version);
    q->set_state(p.package.dpkg_state);
  }
  for (const layers::UnavailableDb& u : inv->unavailable) {
    out.add_unavailable(StrCat(u.path, " (layer ", u.layer_index, "): ", u.reason));
  }
  return out;
}

grpc::Status QueryService::GetImagePackages(grpc::ServerContext* context,
                                            const v1::GetImagePackagesRequest* request,
                                            v1::ImagePackages* response) {
  constexpr char kMethod[] = "GetImagePackages";
  TrackedCall call(calls_);
  if (!call.entered()) return ShuttingDown(kMethod);
  if (grpc::Status s = Admit(*context, kMethod); !s.ok()) return s;
  const std::string& digest = request->digest();
  size_t colon = digest.find(':');
  if (digest.size() > kMaxFilterFieldBytes || colon == std::string::npos || colon == 0 ||
      colon + 1 == digest.size()) {
    return Rejected(kMethod, absl::InvalidArgumentError(StrCat(
                                 "digest \"", digest.substr(0, 100),
                                 "\" is not an image digest (algorithm:hex, e.g. sha256:...)")));
  }
  absl::StatusOr<ImagePackagesRecord> record = store_->GetPackages(digest);
  if (record.status().code() == absl::StatusCode::kNotFound) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        StrCat(kMethod, ": ", Sv(record.status().message())));
  }
  if (!record.ok()) return StoreFailed(kMethod, record.status());
  absl::StatusOr<v1::ImagePackages> out = ImagePackagesOf(*record, /*with_packages=*/true);
  if (!out.ok()) return StoreFailed(kMethod, out.status());
  *response = std::move(*out);
  return grpc::Status::OK;
}

grpc::Status QueryService::ListImagePackages(grpc::ServerContext* context,
                                             const v1::ListImagePackagesRequest* request,
                                             v1::ListImagePackagesResponse* response) {
  constexpr char kMethod[] = "ListImagePackages";
  TrackedCall call(calls_);
  if (!call.entered()) return ShuttingDown(kMethod);
  if (grpc::Status s = Admit(*context, kMethod); !s.ok()) return s;
  int limit = static_cast<int>(std::min<uint32_t>(request->limit(), kMaxPageSize));
  if (limit == 0) limit = kDefaultPageSize;
  absl::StatusOr<std::vector<ImagePackagesRecord>> records = store_->ListPackages(limit);
  if (!records.ok()) return StoreFailed(kMethod, records.status());
  for (const ImagePackagesRecord& r : *records) {
    absl::StatusOr<v1::ImagePackages> one = ImagePackagesOf(r, /*with_packages=*/false);
    if (!one.ok()) return StoreFailed(kMethod, one.status());
    *response->add_images() = std::move(*one);
  }
  return grpc::Status::OK;
}

}  // namespace layerseal::controller
