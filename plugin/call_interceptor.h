// The seam through which the gates (plugin/image_gates.h) see calls passing through the CRI
// proxy. An interceptor names the methods it wants; for each such call it receives an
// InterceptedCall holding the first request message and decides, now or later and from any
// thread, to forward it (possibly rewritten) or to answer it itself.
#ifndef LAYERSEAL_PLUGIN_CALL_INTERCEPTOR_H_
#define LAYERSEAL_PLUGIN_CALL_INTERCEPTOR_H_

#include <functional>
#include <memory>
#include <string_view>

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

namespace layerseal::plugin {

class InterceptedCall;

// Receives the runtime's answer to a call forwarded with InterceptedCall::ForwardForReview:
// `call` is the same call again (its request() now empty), to be resolved with Reply or
// Fail; `status` and `response` are the runtime's (the response is empty unless the status
// is OK). Runs on a proxy thread, like OnRequest: it must not block.
using ResponseReview =
    std::function<void(InterceptedCall call, const grpc::Status& status, grpc::ByteBuffer response)>;

// What the proxy needs from an intercepted call's resolution (implemented by the proxy's calls).
class CallResolver {
 public:
  virtual ~CallResolver() = default;
  virtual void Forward(grpc::ByteBuffer request) = 0;
  virtual void ForwardForReview(grpc::ByteBuffer request, ResponseReview review) = 0;
  virtual void Reply(const grpc::Status& status, grpc::ByteBuffer* response) = 0;
};

// One intercepted call. Move-only; resolve it exactly once with Forward, ForwardForReview,
// Reply or Fail.
// A call destroyed unresolved is failed with INTERNAL (fail closed: the runtime never sees
// a call the gate did not let through). Thread-safety: one thread at a time; any thread.
class InterceptedCall {
 public:
  InterceptedCall(std::string_view method, grpc::ByteBuffer request,
                  grpc::ServerContextBase* context, CallResolver* resolver)
      : method_(method), request_(std::move(request)), context_(context), resolver_(resolver) {}
  InterceptedCall(InterceptedCall&& other) noexcept;
  InterceptedCall& operator=(InterceptedCall&&) = delete;
  InterceptedCall(const InterceptedCall&) = delete;
  ~InterceptedCall();

  std::string_view method() const { return method_; }  // e.g. "/runtime.v1.ImageService/PullImage"
  const grpc::ByteBuffer& request() const { return request_; }
  // Valid until the call is resolved: client metadata, deadline, IsCancelled().
  const grpc::ServerContextBase& context() const { return *context_; }
  // Copies the caller's deadline and application metadata onto a context for the gate's own
  // call to the runtime, so the runtime sees what it would have seen without the proxy.
  void PrepareUpstreamContext(grpc::ClientContext* upstream) const;

  // Sends `request` (the original or a rewritten one) on to the runtime; the runtime's
  // response and status then reach the caller as for any forwarded call.
  void Forward(grpc::ByteBuffer request);
  void Forward() { Forward(request_); }
  // For unary methods: sends `request` on to the runtime like Forward, but hands the
  // runtime's answer to `review` instead of the caller; the review then answers the caller
  // (with the runtime's response as is, or anything else). The runtime's initial and
  // trailing metadata go to the caller whatever the review answers. Lets a gate that must
  // see the runtime's answer decide on the proxy's own thread, without a blocking call of
  // its own. Forward on a call handed to a review fails it with INTERNAL.
  void ForwardForReview(grpc::ByteBuffer request, ResponseReview review);
  // Answers the caller: `response` is sent when status is OK (one message: unary calls).
  void Reply(grpc::ByteBuffer response);
  void Fail(const grpc::Status& status);

 private:
  std::string_view method_;  // owned by the server context
  grpc::ByteBuffer request_;
  grpc::ServerContextBase* context_;  // the proxy's server context
  CallResolver* resolver_;  // nullptr once resolved or moved from
};

// Thread-safety: implementations must be safe to call concurrently from many calls.
// OnRequest runs on one of the proxy's completion-queue threads: it must not block (hand
// the call to a worker and return); the call may be resolved after OnRequest returns.
class CallInterceptor {
 public:
  virtual ~CallInterceptor() = default;

  // Whether calls to `method` go through OnRequest. Calls to other methods are forwarded at
  // once, headers before any message.
  virtual bool Intercepts(std::string_view method) const = 0;

  // Called once per intercepted call with its first request message, before any upstream
  // call is started. Not called if the client half-closes or cancels before sending a
  // message (the call is then forwarded as is).
  virtual void OnRequest(InterceptedCall call) = 0;
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_CALL_INTERCEPTOR_H_
