// A transparent gRPC proxy between the kubelet and the container runtime: it listens on a
// unix socket and forwards every call, whatever its method, as opaque bytes to the runtime's
// unix socket. Propagated: request metadata (but pseudo-headers, grpc-* and hop-by-hop
// headers, which gRPC sets itself), the deadline, cancellation, response initial metadata,
// every message both ways (unary, client-, server- and bidi-streaming alike), and the final
// status with its message, details (grpc-status-details-bin) and trailing metadata. An
// unreachable runtime is an UNAVAILABLE status to the client.
#ifndef LAYERSEAL_PLUGIN_CRI_PROXY_H_
#define LAYERSEAL_PLUGIN_CRI_PROXY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plugin/call_interceptor.h"

namespace grpc {
class Channel;
class Server;
}  // namespace grpc

namespace layerseal::plugin {
namespace internal {
class QueueProxy;
class Restriction;
}  // namespace internal

// Largest message accepted or sent, both directions and both sides. The kubelet's CRI
// client accepts 16 MiB by default; ListImages on a node with thousands of images and large
// ContainerStatus/Exec responses must not be cut by the proxy, so it allows more.
inline constexpr int kMaxMessageBytes = 64 << 20;
// Backoff between reconnection attempts to the runtime (gRPC's default grows to 120 s; a
// restarted containerd must be reachable again within about a second).
inline constexpr absl::Duration kMaxReconnectBackoff = absl::Seconds(1);

// A channel to the runtime's unix socket with the proxy's message limits and reconnection
// backoff. One per process: share it between the proxy and the gates' own calls.
std::shared_ptr<grpc::Channel> CreateUpstreamChannel(const std::string& upstream_path);

// Sees every call when it ends: the method, the status code the caller got, and the time
// from the call's arrival to its end. Thread-safety: called concurrently from the proxy's
// threads and interceptors' threads; must be cheap (metrics).
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  virtual void OnCallDone(std::string_view method, grpc::StatusCode code,
                          absl::Duration elapsed) = 0;
};

struct CriProxyOptions {
  std::string listen_path;    // unix socket the kubelet connects to (replaced if stale)
  // Restricted sockets served by the same server (the agent's health socket: one server,
  // because another would add polling threads that cost the proxy thread switches per
  // call, docs/performance.md). On them only `restricted_methods` may be called, and only
  // the interceptor answers them (it must intercept them and Reply or Fail; a Forward, or a
  // call that half-closes before its first message, is refused). Every other call there is
  // UNIMPLEMENTED (plugin/errors.h NotServedHere): nothing made on a restricted socket
  // reaches the upstream. Clients connect with insecure credentials as on `listen_path`.
  std::vector<std::string> restricted_listen_paths;
  std::vector<std::string> restricted_methods;  // full names, "/pkg.Service/Method"
  std::string upstream_path;  // the runtime's unix socket, e.g. /run/containerd/containerd.sock
  std::shared_ptr<grpc::Channel> upstream;  // if set, used instead of upstream_path
  // Not owned; must outlive the proxy. nullptr: forward everything untouched.
  CallInterceptor* interceptor = nullptr;
  CallObserver* observer = nullptr;  // not owned; may be null
};

// One engine drives the calls: gRPC's async API on one completion queue polled by a fixed,
// small number of the proxy's own threads (plugin/internal/queue_proxy.h). It replaced a
// second engine on gRPC's callback API (issue 16), which cost more thread hops and CPU per
// call (docs/performance.md, "Node agent") and made every fix a fix in two places.
// Thread-safety: Start and the destructor from one thread; calls are served on the proxy's
// completion-queue threads (and on whatever thread an interceptor resolves a call from).
class CriProxy {
 public:
  // Listens and returns once the socket accepts connections. The runtime need not be up:
  // calls made while it is down fail with UNAVAILABLE.
  static absl::StatusOr<std::unique_ptr<CriProxy>> Start(CriProxyOptions options);
  // Stops listening, cancels calls still running after `kShutdownGrace`, waits for them.
  ~CriProxy();
  CriProxy(const CriProxy&) = delete;
  CriProxy& operator=(const CriProxy&) = delete;

  static constexpr absl::Duration kShutdownGrace = absl::Seconds(2);

 private:
  CriProxy();
  std::unique_ptr<internal::Restriction> restriction_;
  std::unique_ptr<internal::QueueProxy> queue_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_CRI_PROXY_H_
