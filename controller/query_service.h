// EventQuery: QueryEvents (filtered, paginated, newest first), FollowEvents (new events as
// they are stored), ListNodes, ListImages, GetImagePackages, ListImagePackages
// (controller.proto). Only a reader's certificate
// (O=layerseal:readers, controller/identity.h) may call them: a node's certificate, or one
// with no role, is PERMISSION_DENIED on every method (a node reads nothing, not even its
// own events), counted in layerseal_controller_refused_queries_total{role}. Without
// certificates (`insecure: true`) there are no roles and no such check.
//
// Thread-safety: every method runs concurrently on gRPC's threads. Ownership: borrows the
// store, the signal, the tracker and the registry, which must outlive the service.
#ifndef LAYERSEAL_CONTROLLER_QUERY_SERVICE_H_
#define LAYERSEAL_CONTROLLER_QUERY_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/event_store.h"
#include "controller/rpc_errors.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "telemetry/metrics.h"

namespace layerseal::controller {

// Concurrent FollowEvents streams; each holds a gRPC thread (RESOURCE_EXHAUSTED beyond).
inline constexpr int kMaxFollowers = 64;
// Events a follower reads from the store at once: its memory bound.
inline constexpr int kFollowBatch = 100;
// How often a follower looks at the store without being woken (events stored by another
// controller on the same PostgreSQL database) and checks for a cancelled client.
inline constexpr absl::Duration kFollowPoll = absl::Milliseconds(500);
// A filter string longer than this is INVALID_ARGUMENT (names, references and digests are
// far shorter).
inline constexpr size_t kMaxFilterFieldBytes = 1024;
inline constexpr size_t kMaxPageTokenBytes = 1024;
// A QueryEvents answer larger than this is fetched again with half the page size, so that
// clients with gRPC's default 4 MiB receive limit can read any page.
inline constexpr size_t kMaxResponseBytes = 3 * 1024 * 1024;

// Wakes followers when events are stored, and ends them on shutdown.
// Thread-safety: all methods from any thread.
class EventSignal {
 public:
  // New events were stored.
  void Notify();
  // Ends every Wait from now on (returns false).
  void Stop();
  // Waits until Notify after `*generation` was observed, Stop, or `timeout`. Updates
  // `*generation`. Returns false once stopped.
  bool Wait(uint64_t* generation, absl::Duration timeout);
  uint64_t generation();

 private:
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

// OK or INVALID_ARGUMENT naming the field: times not negative, since before until, verdict
// ALLOW/DENY, mode enforce/warn/audit, strings within kMaxFilterFieldBytes.
absl::Status ValidateFilter(const v1::EventFilter& filter);

// A stored inventory record as the API's ImagePackages: the counts and times, and with
// `with_packages` the attachment's packages (it is parsed again: DATA_LOSS naming the digest
// when the stored document no longer parses).
absl::StatusOr<v1::ImagePackages> ImagePackagesOf(const ImagePackagesRecord& record,
                                                  bool with_packages);

class QueryService final : public v1::EventQuery::Service {
 public:
  // `require_reader`: false only with `insecure: true`.
  QueryService(EventStore* store, EventSignal* signal, CallTracker* calls,
               telemetry::MetricsRegistry* metrics, bool require_reader);

  grpc::Status QueryEvents(grpc::ServerContext* context, const v1::QueryEventsRequest* request,
                           v1::QueryEventsResponse* response) override;
  grpc::Status FollowEvents(grpc::ServerContext* context, const v1::FollowEventsRequest* request,
                            grpc::ServerWriter<v1::Event>* writer) override;
  grpc::Status ListNodes(grpc::ServerContext* context, const v1::ListNodesRequest* request,
                         v1::ListNodesResponse* response) override;
  grpc::Status ListImages(grpc::ServerContext* context, const v1::ListImagesRequest* request,
                          v1::ListImagesResponse* response) override;
  // Package inventories (issue 18): one digest's (INVALID_ARGUMENT for a digest that is not
  // "algorithm:hex" within kMaxFilterFieldBytes; NOT_FOUND when none is stored), and the
  // digests that have one, with their counts.
  grpc::Status GetImagePackages(grpc::ServerContext* context,
                                const v1::GetImagePackagesRequest* request,
                                v1::ImagePackages* response) override;
  grpc::Status ListImagePackages(grpc::ServerContext* context,
                                 const v1::ListImagePackagesRequest* request,
                                 v1::ListImagePackagesResponse* response) override;

 private:
  // OK for a reader (or without require_reader_); otherwise counts and returns the refusal.
  grpc::Status Admit(const grpc::ServerContext& context, std::string_view method);
  // Streams events after the newest one until the client leaves or the signal stops.
  grpc::Status Follow(grpc::ServerContext* context, const v1::EventFilter& filter,
                      grpc::ServerWriter<v1::Event>* writer);

  EventStore* const store_;
  EventSignal* const signal_;
  CallTracker* const calls_;
  const bool require_reader_;
  telemetry::Family<telemetry::Counter>* refused_;
  std::atomic<int> followers_{0};
  telemetry::Family<telemetry::Gauge>* followers_gauge_;
};

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_QUERY_SERVICE_H_
