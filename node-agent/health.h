// grpc.health.v1.Health, answered by the agent itself on its own sockets. Check: service ""
// is the agent, "layerseal.v1.Runtime" the runtime connection, "layerseal.v1.Policy" whether
// the configured node policy is loaded (NOT_SERVING on a fallback), anything else NOT_FOUND;
// Watch: UNIMPLEMENTED (probes use Check).
//
// Why not a gRPC server of its own: with gRPC 1.51's global epoll poller, every extra
// polling thread in the process (a callback-API server's or a sync server's) also picks up
// the CRI proxy's socket events and hands them over, which tripled the thread switches per
// forwarded call (bench/agent_bench: 4.4 without one, 12-16 with one). So the proxy's own
// server also listens on the health socket, as a restricted listener
// (CriProxyOptions::restricted_listen_paths, kHealthSocketMethods): there only the two
// health methods may be called, answered here; any other call (a CRI call) is
// UNIMPLEMENTED and never reaches the runtime (issue 14 item 5). A consequence, documented
// in docs/agent.md: on the CRI socket too, grpc.health.v1 is the agent's answer, not the
// runtime's.
// Thread-safety: SetStatus and OnRequest may run concurrently. Ownership: borrows `next`,
// which must outlive this interceptor.
#ifndef LAYERSEAL_NODE_AGENT_HEALTH_H_
#define LAYERSEAL_NODE_AGENT_HEALTH_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "plugin/call_interceptor.h"

namespace layerseal::agent {

inline constexpr std::string_view kHealthCheck = "/grpc.health.v1.Health/Check";
inline constexpr std::string_view kHealthWatch = "/grpc.health.v1.Health/Watch";
// The only methods callable on the health socket.
inline constexpr std::string_view kHealthSocketMethods[] = {kHealthCheck, kHealthWatch};
// The health socket's mode, set right after bind whatever the umask: the agent's user and
// group (probes run as root or in the agent's group); no one else may connect. Before the
// chmod the socket serves health only all the same.
inline constexpr mode_t kHealthSocketMode = 0660;

class HealthInterceptor final : public plugin::CallInterceptor {
 public:
  explicit HealthInterceptor(plugin::CallInterceptor* next) : next_(next) {}

  void SetStatus(const std::string& service, bool serving);

  bool Intercepts(std::string_view method) const override;
  void OnRequest(plugin::InterceptedCall call) override;

 private:
  plugin::CallInterceptor* const next_;
  absl::Mutex mu_;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_HEALTH_H_
