// layerseal-controller wired together: the event store (config.database), one gRPC server
// (EventIngest, EventQuery and grpc.health.v1 on config.listen, mutual TLS), two HTTP
// servers (/metrics /healthz /readyz on config.admin; the web page and its JSON API on
// config.web, HTTPS for readers with config.web_tls) and the retention thread.
// main.cc adds flags and signals; tests may start it in-process.
//
// Thread-safety: Start and the destructor from one thread; the accessors from any.
// Ownership: the Controller owns everything it starts; the hooks' logger is borrowed and
// must outlive it.
#ifndef LAYERSEAL_CONTROLLER_CONTROLLER_H_
#define LAYERSEAL_CONTROLLER_CONTROLLER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/config.h"
#include "controller/event_store.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::controller {

// How long shutdown waits for in-flight calls (a batch being stored) before cancelling them.
inline constexpr absl::Duration kShutdownGrace = absl::Seconds(10);
// gRPC threads: every follower holds one; the rest serve batches and queries.
inline constexpr int kMaxGrpcThreads = 128;
// After the calls in flight finished: how long clients get to act on the GOAWAY (and
// close their connections) before every connection is closed.
inline constexpr absl::Duration kGoawayGrace = absl::Seconds(1);

struct ControllerHooks {
  telemetry::Logger* logger = nullptr;  // nullptr: JSON lines on stderr, component "controller"
};

class Controller {
 public:
  // Opens the store, starts serving and returns; errors name what failed (a file, the
  // database URL, an address in use).
  static absl::StatusOr<std::unique_ptr<Controller>> Start(const ControllerConfig& config,
                                                           ControllerHooks hooks = {});
  // Graceful stop: health turns NOT_SERVING, followers end, in-flight batches finish (up to
  // kShutdownGrace), the retention thread stops, then the store closes.
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // The bound ports (useful with port 0); admin_port() and web_port() are 0 when that
  // listener is off, grpc_port() is 0 on a unix socket.
  int grpc_port() const;
  int admin_port() const;
  int web_port() const;
  EventStore* store();
  const telemetry::MetricsRegistry& metrics() const;
  // One retention pass now (also what the thread does): how many events were pruned.
  absl::StatusOr<int64_t> PruneNow();

  class Impl;

 private:
  explicit Controller(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_CONTROLLER_H_
