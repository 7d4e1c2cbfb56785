// The seam through which the gates (PullImage, ImageStatus, CreateContainer; issue 4) will see
// calls passing through the CRI proxy. The default interceptor sees nothing: every call is
// forwarded untouched.
#ifndef LAYERSEAL_PLUGIN_CALL_INTERCEPTOR_H_
#define LAYERSEAL_PLUGIN_CALL_INTERCEPTOR_H_

#include <optional>
#include <string_view>

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

namespace layerseal::plugin {

// Thread-safety: implementations must be safe to call concurrently from many calls.
// Both methods run on gRPC's callback threads: OnRequest delays only its own call, but a
// blocking OnRequest occupies one of gRPC's few callback threads while it runs. Gates that
// do registry I/O must not block there unboundedly (an asynchronous variant of this seam,
// or a worker pool, is the next step of issue 4).
class CallInterceptor {
 public:
  virtual ~CallInterceptor() = default;

  // Whether calls to `method` (e.g. "/runtime.v1.ImageService/PullImage") go through
  // OnRequest. Calls to other methods are forwarded at once, headers before any message.
  virtual bool Intercepts(std::string_view /*method*/) const { return false; }

  // Called once per intercepted call with its first request message, before the upstream
  // call is started. It may rewrite `request` in place (it is then forwarded as rewritten).
  // Returning a status answers the client with it; the upstream never sees the call.
  // Not called if the client half-closes or cancels before sending a message.
  virtual std::optional<grpc::Status> OnRequest(std::string_view /*method*/,
                                                grpc::ByteBuffer& /*request*/,
                                                const grpc::ServerContextBase& /*context*/) {
    return std::nullopt;
  }
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_CALL_INTERCEPTOR_H_
