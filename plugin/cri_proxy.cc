// Design: gRPC's callback API (CallbackGenericService on the server side, GenericStub's
// bidi-streaming reactor on the client side) rather than AsyncGenericService with our own
// completion-queue threads. Every call, whatever its kind, is a bidi stream on the wire, so
// one pair of reactors (ServerSide, ClientSide) forwards all of them; gRPC owns the threads,
// so there is no pool to size and no tag bookkeeping, and an idle proxy runs no threads of
// its own. Each direction is a lockstep chain with at most one message in flight, which
// gives end-to-end flow control: a slow reader on one side slows the writer on the other.
//
// Request chain:  server Read -> client Write -> server Read ... -> client WritesDone.
// Response chain: client initial metadata -> server SendInitialMetadata; client Read ->
//                 server Write -> client Read ... until the client Read fails.
// Each chain holds one client-side hold, so the client's OnDone (the upstream status) comes
// after both chains end; it then finishes the server call with that status and trailers.
// A request chain parked in a server Read when the response chain ends (the runtime
// finished first, e.g. with an error while a bidi client is idle) is abandoned: its hold is
// released so the status is forwarded at once, and the pending server Read is ignored.
//
// This is the ProxyEngine::kCallback engine; ProxyEngine::kCompletionQueue is
// plugin/internal/queue_proxy.{h,cc} (same chains, the async API on a queue of our own).
#include "plugin/cri_proxy.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "plugin/errors.h"
#include "plugin/internal/listeners.h"
#include "plugin/internal/metadata.h"
#include "plugin/internal/queue_proxy.h"
#include "base/str_cat.h"

namespace layerseal::plugin {
namespace {

using grpc::ByteBuffer;

using internal::CopyMetadata;

}  // namespace

class CriProxy::Service final : public grpc::CallbackGenericService {
 public:
  Service(std::shared_ptr<grpc::Channel> upstream, CallInterceptor* interceptor,
          CallObserver* observer, const internal::Restriction* restriction)
      : stub_(std::move(upstream)),
        interceptor_(interceptor),
        observer_(observer),
        restriction_(restriction) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

 private:
  grpc::GenericStub stub_;
  CallInterceptor* const interceptor_;
  CallObserver* const observer_;
  const internal::Restriction* const restriction_;
};

namespace {

// One proxied call. Deleted when the server side, the client side (if started) and an
// unresolved interception (if any) are all done. All members but the chain state are
// touched by one chain at a time.
class Call final : public CallResolver {
 public:
  Call(grpc::GenericStub* stub, CallInterceptor* interceptor, CallObserver* observer,
       const internal::Restriction* restriction, grpc::GenericCallbackServerContext* ctx)
      : stub_(stub),
        interceptor_(interceptor),
        observer_(observer),
        server_ctx_(ctx),
        server_(this),
        client_(this) {
    restricted_ = restriction != nullptr && restriction->Restricted(*ctx);
    if (restricted_ && (interceptor_ == nullptr || !restriction->Allows(ctx->method()))) {
      Refuse();  // before any read: nothing of it is seen, nothing forwarded
      return;
    }
    intercepted_ = restricted_ || (interceptor_ != nullptr && interceptor_->Intercepts(ctx->method()));
    if (intercepted_) {
      server_.StartRead(&request_);  // OnRequest sees it before the upstream call starts
    } else {
      StartUpstream(/*first=*/Request::kNone);
    }
  }

  grpc::ServerGenericBidiReactor* server_reactor() { return &server_; }

 private:
  enum class Request { kNone, kMessage, kHalfClose };
  enum class RequestChain { kParked, kWriting, kDone };

  class ServerSide final : public grpc::ServerGenericBidiReactor {
   public:
    explicit ServerSide(Call* call) : call_(call) {}
    void OnReadDone(bool ok) override { call_->OnServerReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnServerWriteDone(ok); }
    void OnCancel() override { call_->client_ctx_.TryCancel(); }
    void OnDone() override { call_->Unref(); }

   private:
    Call* const call_;
  };

  class ClientSide final : public grpc::ClientBidiReactor<ByteBuffer, ByteBuffer> {
   public:
    explicit ClientSide(Call* call) : call_(call) {}
    void OnReadInitialMetadataDone(bool ok) override { call_->OnClientInitialMetadata(ok); }
    void OnReadDone(bool ok) override { call_->OnClientReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnClientWriteDone(ok); }
    void OnWritesDoneDone(bool /*ok*/) override { call_->EndRequestChain(); }
    void OnDone(const grpc::Status& status) override { call_->OnClientDone(status); }

   private:
    Call* const call_;
  };

  void StartUpstream(Request first) {
    upstream_started_ = true;
    client_ctx_.set_deadline(server_ctx_->raw_deadline());
    CopyMetadata(server_ctx_->client_metadata(),
                 [this](std::string k, std::string v) { client_ctx_.AddMetadata(k, v); });
    refs_.fetch_add(1);
    stub_->PrepareBidiStreamingCall(&client_ctx_, server_ctx_->method(), grpc::StubOptions(),
                                    &client_);
    client_.AddMultipleHolds(2);  // one for the request chain, one for the response chain
    if (first == Request::kNone) {
      {
        absl::MutexLock lock(&mu_);
        request_chain_ = RequestChain::kParked;
        ++starting_reads_;
      }
      client_.StartCall();
      server_.StartRead(&request_);
      ReadStarted();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      request_chain_ = RequestChain::kWriting;
    }
    client_.StartCall();
    if (first == Request::kMessage) {
      client_.StartWrite(&request_);
    } else {
      client_.StartWritesDone();
    }
  }

  // A call on a restricted listener that is not served there: UNIMPLEMENTED, never forwarded.
  void Refuse() {
    grpc::Status status = NotServedHere(server_ctx_->method());
    Observe(status.error_code());
    server_.Finish(status);
  }

  // Request chain.
  void OnServerReadDone(bool ok) {
    if (!upstream_started_) {
      if (!ok && restricted_) return Refuse();
      if (!ok) return StartUpstream(Request::kHalfClose);
      refs_.fetch_add(1);  // released when the interception is resolved
      interceptor_->OnRequest(
          InterceptedCall(server_ctx_->method(), std::move(request_), server_ctx_, this));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (request_chain_ == RequestChain::kDone) return;  // abandoned: upstream finished
      request_chain_ = RequestChain::kWriting;
    }
    if (ok) {
      client_.StartWrite(&request_);
    } else {
      client_.StartWritesDone();
    }
  }

  void OnClientWriteDone(bool ok) {
    bool read_next = false;
    {
      absl::MutexLock lock(&mu_);
      if (ok && !response_done_) {
        request_chain_ = RequestChain::kParked;
        ++starting_reads_;
        read_next = true;
      }
    }
    if (!read_next) return EndRequestChain();  // the upstream stream is over; status follows
    server_.StartRead(&request_);
    ReadStarted();
  }

  void EndRequestChain() {
    {
      absl::MutexLock lock(&mu_);
      request_chain_ = RequestChain::kDone;
    }
    client_.RemoveHold();
  }

  // Response chain.
  void OnClientInitialMetadata(bool ok) {
    if (!ok) return EndResponseChain();  // trailers-only response or failed call
    CopyMetadata(client_ctx_.GetServerInitialMetadata(),
                 [this](std::string k, std::string v) { server_ctx_->AddInitialMetadata(k, v); });
    // Under review the metadata leaves with the review's answer.
    if (!review_) server_.StartSendInitialMetadata();
    client_.StartRead(&response_);
  }

  void OnClientReadDone(bool ok) {
    if (!ok) return EndResponseChain();
    if (review_) {  // keep the (unary) response for the review and read on to its end
      reviewed_response_ = std::move(response_);
      client_.StartRead(&response_);
      return;
    }
    server_.StartWrite(&response_);
  }

  // CallResolver: an intercepted call's first message, resolved by the interceptor.
  void Forward(grpc::ByteBuffer request) override {
    if (restricted_) return Reply(NotServedHere(server_ctx_->method()), nullptr);
    if (upstream_started_) {  // a reviewed call: its request went upstream already
      return Reply(ForwardedAfterReview(server_ctx_->method()), nullptr);
    }
    request_ = std::move(request);
    StartUpstream(Request::kMessage);
    Unref();
  }

  void ForwardForReview(grpc::ByteBuffer request, ResponseReview review) override {
    if (!upstream_started_) review_ = std::move(review);  // else Forward fails the call
    Forward(std::move(request));
  }

  void Reply(const grpc::Status& status, grpc::ByteBuffer* response) override {
    Observe(status.error_code());
    if (status.ok() && response != nullptr) {
      response_ = std::move(*response);
      server_.StartWriteAndFinish(&response_, grpc::WriteOptions(), status);
    } else {
      server_.Finish(status);
    }
    Unref();
  }

  void OnServerWriteDone(bool ok) {
    if (!upstream_started_) return;  // a reply written by an interceptor
    if (!ok) return EndResponseChain();  // the client is gone; OnCancel cancels upstream
    client_.StartRead(&response_);
  }

  void EndResponseChain() {
    bool abandon_request = false;
    {
      absl::MutexLock lock(&mu_);
      response_done_ = true;
      if (request_chain_ == RequestChain::kParked) {
        request_chain_ = RequestChain::kDone;
        abandon_request = true;
      }
    }
    if (abandon_request) client_.RemoveHold();
    client_.RemoveHold();
  }

  // The upstream call is over (both chains ended): finish the server call with its status,
  // unless a server Read is being started right now, in which case ReadStarted finishes.
  void OnClientDone(const grpc::Status& status) {
    bool finish_now;
    {
      absl::MutexLock lock(&mu_);
      upstream_status_ = status;
      finish_now = starting_reads_ == 0;
      finish_pending_ = !finish_now;
    }
    if (finish_now) FinishServer();
    Unref();
  }

  // After a server StartRead returned: it is registered, so Finish may follow it.
  void ReadStarted() {
    bool finish_now;
    {
      absl::MutexLock lock(&mu_);
      --starting_reads_;
      finish_now = starting_reads_ == 0 && finish_pending_;
      if (finish_now) finish_pending_ = false;
    }
    if (finish_now) FinishServer();
  }

  void Observe(grpc::StatusCode code) {
    if (observer_ == nullptr) return;
    observer_->OnCallDone(server_ctx_->method(), code, absl::Now() - start_);
  }

  void FinishServer() {
    CopyMetadata(client_ctx_.GetServerTrailingMetadata(),
                 [this](std::string k, std::string v) { server_ctx_->AddTrailingMetadata(k, v); });
    if (review_) {
      refs_.fetch_add(1);  // released when the review resolves the call
      ByteBuffer response = upstream_status_.ok() ? std::move(reviewed_response_) : ByteBuffer();
      std::exchange(review_, nullptr)(
          InterceptedCall(server_ctx_->method(), ByteBuffer(), server_ctx_, this),
          upstream_status_, std::move(response));
      return;
    }
    Observe(upstream_status_.error_code());
    server_.Finish(upstream_status_);
  }

  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  grpc::GenericStub* const stub_;
  CallInterceptor* const interceptor_;
  CallObserver* const observer_;
  const absl::Time start_ = absl::Now();
  grpc::GenericCallbackServerContext* const server_ctx_;
  grpc::ClientContext client_ctx_;
  ServerSide server_;
  ClientSide client_;
  bool intercepted_ = false;
  bool restricted_ = false;  // on a restricted listener: never forwarded
  bool upstream_started_ = false;  // set before any upstream or forwarded-response activity
  ByteBuffer request_;             // owned by the request chain
  ByteBuffer response_;            // owned by the response chain
  ResponseReview review_;          // set before the upstream call starts; taken by FinishServer
  ByteBuffer reviewed_response_;   // the response chain's, until the review takes it
  std::atomic<int> refs_{1};       // the server side, plus the client side once started

  absl::Mutex mu_;
  RequestChain request_chain_ ABSL_GUARDED_BY(mu_) = RequestChain::kDone;
  bool response_done_ ABSL_GUARDED_BY(mu_) = false;
  int starting_reads_ ABSL_GUARDED_BY(mu_) = 0;
  bool finish_pending_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status upstream_status_;  // written in OnClientDone, read by FinishServer after it
};

}  // namespace

InterceptedCall::InterceptedCall(InterceptedCall&& other) noexcept
    : method_(other.method_),
      request_(std::move(other.request_)),
      context_(other.context_),
      resolver_(std::exchange(other.resolver_, nullptr)) {}

InterceptedCall::~InterceptedCall() {
  if (resolver_ != nullptr) {
    Fail(DroppedCall(method_));
  }
}

void InterceptedCall::PrepareUpstreamContext(grpc::ClientContext* upstream) const {
  // Only through the base: the completion-queue engine's context is not a callback one.
  const grpc::ServerContextBase& context = this->context();
  upstream->set_deadline(context.raw_deadline());
  CopyMetadata(context.client_metadata(),
               [upstream](std::string k, std::string v) { upstream->AddMetadata(k, v); });
}

void InterceptedCall::Forward(grpc::ByteBuffer request) {
  std::exchange(resolver_, nullptr)->Forward(std::move(request));
}

void InterceptedCall::ForwardForReview(grpc::ByteBuffer request, ResponseReview review) {
  std::exchange(resolver_, nullptr)->ForwardForReview(std::move(request), std::move(review));
}

void InterceptedCall::Reply(grpc::ByteBuffer response) {
  std::exchange(resolver_, nullptr)->Reply(grpc::Status::OK, &response);
}

void InterceptedCall::Fail(const grpc::Status& status) {
  std::exchange(resolver_, nullptr)->Reply(status, nullptr);
}

grpc::ServerGenericBidiReactor* CriProxy::Service::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  return (new Call(&stub_, interceptor_, observer_, restriction_, ctx))->server_reactor();
}

CriProxy::CriProxy() = default;

CriProxy::~CriProxy() {
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kShutdownGrace);
  if (queue_) {
    queue_->Stop(server_.get(), deadline);  // the server first, then the queue
    server_.reset();
    queue_.reset();
    return;
  }
  if (server_) {
    server_->Shutdown(deadline);
    server_->Wait();
  }
}

std::shared_ptr<grpc::Channel> CreateUpstreamChannel(const std::string& upstream_path) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  const int backoff_ms = static_cast<int>(absl::ToInt64Milliseconds(kMaxReconnectBackoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(backoff_ms, 100));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(backoff_ms, 100));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_ms);
  return grpc::CreateCustomChannel(StrCat("unix:", upstream_path),
                                   grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<std::unique_ptr<CriProxy>> CriProxy::Start(CriProxyOptions options) {
  if (options.listen_path.empty() || (options.upstream_path.empty() && !options.upstream)) {
    return absl::InvalidArgumentError(
        "CriProxy: listen_path and upstream_path (or upstream) are required");
  }
  std::shared_ptr<grpc::Channel> upstream = options.upstream
                                                ? std::move(options.upstream)
                                                : CreateUpstreamChannel(options.upstream_path);
  std::unique_ptr<CriProxy> proxy(new CriProxy());
  proxy->restriction_ = std::make_unique<internal::Restriction>(
      options.restricted_methods, !options.restricted_listen_paths.empty());
  grpc::ServerBuilder builder;
  std::vector<std::string> paths = {options.listen_path};
  paths.insert(paths.end(), options.restricted_listen_paths.begin(),
               options.restricted_listen_paths.end());
  std::vector<int> bound(paths.size(), 0);
  for (size_t i = 0; i < paths.size(); ++i) {
    builder.AddListeningPort(StrCat("unix:", paths[i]),
                             i == 0 ? grpc::InsecureServerCredentials()
                                    : internal::Restriction::ListenerCredentials(),
                             &bound[i]);
  }
  switch (options.engine) {
    case ProxyEngine::kCallback:
      proxy->service_ = std::make_unique<Service>(std::move(upstream), options.interceptor,
                                                  options.observer, proxy->restriction_.get());
      builder.RegisterCallbackGenericService(proxy->service_.get());
      break;
    case ProxyEngine::kCompletionQueue:
      proxy->queue_ = std::make_unique<internal::QueueProxy>(
          std::move(upstream), options.interceptor, options.observer, proxy->restriction_.get(),
          builder);
      break;
  }
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  proxy->server_ = builder.BuildAndStart();
  auto unbound = std::find(bound.begin(), bound.end(), 0);
  if (proxy->server_ == nullptr || unbound != bound.end()) {
    if (proxy->queue_) proxy->queue_->Stop(proxy->server_.get(), std::chrono::system_clock::now());
    proxy->server_.reset();
    const std::string& path = unbound != bound.end() ? paths[unbound - bound.begin()] : paths[0];
    return absl::UnavailableError(StrCat("CriProxy: cannot listen on unix:", path));
  }
  if (proxy->queue_) proxy->queue_->Start();
  return proxy;
}

}  // namespace layerseal::plugin
