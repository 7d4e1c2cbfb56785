// The CRI proxy's restricted listeners (CriProxyOptions::restricted_listen_paths): served by
// the proxy's one server (another server would add polling threads, which cost the proxy
// thread switches per call: docs/performance.md), and told apart per call by their
// credentials: a restricted listener is added with gRPC's local credentials, whose auth
// context says transport_security_type "local", the CRI socket with insecure credentials
// ("insecure"). Clients of either connect with insecure credentials: the local handshake
// sends nothing on the wire.
// Thread-safety: const after construction.
#ifndef LAYERSEAL_PLUGIN_INTERNAL_LISTENERS_H_
#define LAYERSEAL_PLUGIN_INTERNAL_LISTENERS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

namespace layerseal::plugin::internal {

class Restriction {
 public:
  // `allowed_methods`: full method names ("/pkg.Service/Method") callable on a restricted
  // listener; `active`: whether there are restricted listeners at all.
  Restriction(std::vector<std::string> allowed_methods, bool active);

  // The credentials to add a restricted listener with (unix sockets only).
  static std::shared_ptr<grpc::ServerCredentials> ListenerCredentials();

  // Whether the call of `context` arrived on a restricted listener (false when none exist,
  // without looking at the call). Fail closed: only a call whose auth context says
  // "insecure" (the CRI socket's credentials) is not restricted.
  bool Restricted(const grpc::ServerContextBase& context) const;
  bool Allows(std::string_view method) const;

 private:
  const std::vector<std::string> allowed_;
  const bool active_;
};

}  // namespace layerseal::plugin::internal

#endif  // LAYERSEAL_PLUGIN_INTERNAL_LISTENERS_H_
