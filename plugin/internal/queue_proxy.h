// The CRI proxy's engine (its only one since issue 16): grpc::AsyncGenericService on the
// server side, GenericStub's async generic streams on the client side, both on one server
// completion queue polled by kQueueThreads threads of our own. Figures in
// docs/performance.md, "Node agent".
#ifndef LAYERSEAL_PLUGIN_INTERNAL_QUEUE_PROXY_H_
#define LAYERSEAL_PLUGIN_INTERNAL_QUEUE_PROXY_H_

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/synchronization/mutex.h"
#include "plugin/call_interceptor.h"
#include "plugin/internal/listeners.h"

namespace layerseal::plugin {
class CallObserver;
}  // namespace layerseal::plugin

namespace layerseal::plugin::internal {

// Threads polling the completion queue. One: the work per event is a few microseconds and
// the kubelet's CRI calls are small; in agent_bench (2 vCPUs) two threads cost more CPU and
// context switches per call than one, for no throughput.
inline constexpr int kQueueThreads = 1;
// RequestCall()s kept outstanding on the queue: calls arriving together need not wait for
// the polling thread to post a new request for each.
inline constexpr int kListeningCalls = 4;

// Thread-safety: construct, Start and Stop from one thread; calls are served on the
// queue's threads and on whatever thread an interceptor resolves a call from.
class QueueProxy {
 public:
  // Registers the service and the completion queue on `builder` (before BuildAndStart).
  // `restriction` (borrowed, may be null): the restricted listeners' rules (listeners.h).
  QueueProxy(std::shared_ptr<grpc::Channel> upstream, CallInterceptor* interceptor,
             CallObserver* observer, const Restriction* restriction,
             grpc::ServerBuilder& builder);
  ~QueueProxy();  // after Stop
  QueueProxy(const QueueProxy&) = delete;
  QueueProxy& operator=(const QueueProxy&) = delete;

  // After BuildAndStart succeeded: starts listening for calls and the polling threads.
  void Start();
  // Shuts `server` (null if it failed to start) down with `deadline`, waits for every call
  // to end, then shuts the queue down, drains it and joins the threads. Before destroying
  // the server.
  void Stop(grpc::Server* server, std::chrono::system_clock::time_point deadline);

  // Internal, for the calls.
  struct Shared {
    Shared(std::shared_ptr<grpc::Channel> upstream, CallInterceptor* interceptor,
           CallObserver* observer, const Restriction* restriction)
        : stub(std::move(upstream)),
          interceptor(interceptor),
          observer(observer),
          restriction(restriction) {}
    grpc::AsyncGenericService service;
    grpc::GenericStub stub;
    CallInterceptor* interceptor;
    CallObserver* observer;
    const Restriction* restriction;
    std::unique_ptr<grpc::ServerCompletionQueue> cq;
    absl::Mutex mu;
    int live_calls ABSL_GUARDED_BY(mu) = 0;
  };

 private:
  void Poll();

  Shared shared_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace layerseal::plugin::internal

#endif  // LAYERSEAL_PLUGIN_INTERNAL_QUEUE_PROXY_H_
