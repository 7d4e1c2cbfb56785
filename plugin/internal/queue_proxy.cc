// The completion-queue engine. One Call per proxied call, driven by the events of its server
// call (AsyncGenericService) and of its upstream call (GenericStub::PrepareCall), which all
// arrive on the one server completion queue. Each event runs under the call's mutex, as do
// an interceptor's Forward/Reply (from any thread), so a call is never driven by two threads
// at once whatever the number of polling threads.
//
// Each direction is a lockstep chain with at most one message in flight, which gives
// end-to-end flow control: a slow reader on one side slows the writer on the other.
// Request chain:  server Read -> client Write -> server Read ... -> client WritesDone.
// Response chain: client initial metadata -> server SendInitialMetadata (and client Read);
//                 client Read -> server Write -> client Read ... until the client Read
//                 fails, then client Finish -> server Finish with the upstream's status and
//                 trailers. The status is forwarded as soon as the response chain ends:
//                 a request chain still parked in a server Read is abandoned.
// Client cancellation (the server call's done tag, cancelled) cancels the upstream call.
// A Call is deleted when no operation of it is pending on the queue and no interceptor
// holds it.
#include "plugin/internal/queue_proxy.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "plugin/cri_proxy.h"
#include "plugin/errors.h"
#include "plugin/internal/metadata.h"

namespace layerseal::plugin::internal {
namespace {

using grpc::ByteBuffer;

enum Op {
  kNewCall,
  kServerDone,
  kServerRead,
  kServerInitialMetadata,
  kServerWrite,
  kServerFinish,
  kClientStart,
  kClientInitialMetadata,
  kClientRead,
  kClientWrite,
  kClientWritesDone,
  kClientFinish,
  kNumOps,
};

class Call;
struct Tag {
  Call* call;
  Op op;
};

class Call final : public CallResolver {
 public:
  explicit Call(QueueProxy::Shared* shared) : shared_(shared), stream_(&server_ctx_) {
    for (int i = 0; i < kNumOps; ++i) tags_[i] = Tag{this, static_cast<Op>(i)};
    absl::MutexLock lock(&shared_->mu);
    ++shared_->live_calls;
  }
  ~Call() override {
    absl::MutexLock lock(&shared_->mu);
    --shared_->live_calls;
  }

  // Waits for the next call to arrive.
  void Listen() {
    {
      absl::MutexLock lock(&mu_);
      pending_ = 1;  // kNewCall; the done tag is counted once the call has started
    }
    server_ctx_.AsyncNotifyWhenDone(tag(kServerDone));
    shared_->service.RequestCall(&server_ctx_, &stream_, shared_->cq.get(), shared_->cq.get(),
                                 tag(kNewCall));
  }

  // An event of this call, from the queue.
  void Proceed(Op op, bool ok) {
    if (op == kNewCall && ok) (new Call(shared_))->Listen();  // the next call
    bool deliver;
    ResponseReview review;
    grpc::Status status;
    ByteBuffer response;
    bool dead;
    {
      absl::MutexLock lock(&mu_);
      --pending_;
      Handle(op, ok);
      deliver = std::exchange(deliver_request_, false);
      if (std::exchange(deliver_review_, false)) {
        review = std::exchange(review_, nullptr);
        status = upstream_status_;
        if (status.ok()) response = std::move(reviewed_response_);
      }
      dead = DeadLocked();
    }
    // Outside the lock: the interceptor may resolve the call at once. `this` may be gone
    // once OnRequest or the review returns.
    if (deliver) {
      shared_->interceptor->OnRequest(
          InterceptedCall(server_ctx_.method(), std::move(request_), &server_ctx_, this));
      return;
    }
    if (review) {
      review(InterceptedCall(server_ctx_.method(), ByteBuffer(), &server_ctx_, this), status,
             std::move(response));
      return;
    }
    if (dead) delete this;
  }

  // CallResolver: an intercepted call's first message, resolved by the interceptor.
  void Forward(grpc::ByteBuffer request) override {
    bool dead;
    {
      absl::MutexLock lock(&mu_);
      intercept_hold_ = false;
      if (client_ != nullptr) {  // a reviewed call: its request went upstream already
        FailLocked(ForwardedAfterReview(server_ctx_.method()));
      } else if (restricted_) {
        FailLocked(NotServedHere(server_ctx_.method()));
      } else {
        request_ = std::move(request);
        StartUpstream(First::kMessage);
      }
      dead = DeadLocked();
    }
    if (dead) delete this;
  }

  void ForwardForReview(grpc::ByteBuffer request, ResponseReview review) override {
    {
      absl::MutexLock lock(&mu_);
      if (client_ == nullptr) review_ = std::move(review);
    }
    Forward(std::move(request));
  }

  void Reply(const grpc::Status& status, grpc::ByteBuffer* response) override {
    bool dead;
    {
      absl::MutexLock lock(&mu_);
      intercept_hold_ = false;
      if (status.ok() && response != nullptr) {
        response_ = std::move(*response);
        Observe(status.error_code());
        ++pending_;
        stream_.WriteAndFinish(response_, grpc::WriteOptions(), status, tag(kServerFinish));
      } else {
        FailLocked(status);
      }
      dead = DeadLocked();
    }
    if (dead) delete this;
  }

 private:
  enum class First { kNone, kMessage, kHalfClose };
  enum class Deferred { kNone, kWrite, kWritesDone };

  void* tag(Op op) { return &tags_[op]; }

  void FailLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Observe(status.error_code());
    ++pending_;
    stream_.Finish(status, tag(kServerFinish));
  }

  bool DeadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pending_ == 0 && !intercept_hold_;
  }

  void Handle(Op op, bool ok) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    switch (op) {
      case kNewCall:
        if (!ok) return;  // the server is shutting down; no done tag follows
        ++pending_;       // the done tag, now that the call has started
        start_ = absl::Now();
        restricted_ = shared_->restriction != nullptr && shared_->restriction->Restricted(server_ctx_);
        if (restricted_ && (shared_->interceptor == nullptr ||
                            !shared_->restriction->Allows(server_ctx_.method()))) {
          return FailLocked(NotServedHere(server_ctx_.method()));  // nothing read, nothing forwarded
        }
        if (restricted_ || (shared_->interceptor != nullptr &&
                            shared_->interceptor->Intercepts(server_ctx_.method()))) {
          ServerRead();  // OnRequest sees it before the upstream call starts
        } else {
          StartUpstream(First::kNone);
        }
        return;
      case kServerDone:
        if (server_ctx_.IsCancelled()) {
          cancelled_ = true;
          if (client_ != nullptr) client_ctx_.TryCancel();
        }
        return;
      case kServerRead:
        if (client_ == nullptr) {  // an intercepted call's first message
          if (!ok && restricted_) return FailLocked(NotServedHere(server_ctx_.method()));
          if (!ok) return StartUpstream(First::kHalfClose);
          intercept_hold_ = true;  // released by Forward or Reply
          deliver_request_ = true;
          return;
        }
        if (response_done_) return;  // abandoned: the upstream finished first
        if (ok) return ClientWrite();
        return ClientWritesDone();
      case kClientWrite:
        if (ok && !response_done_) ServerRead();
        return;  // else the upstream stream is over; its status follows
      case kClientStart:
        client_started_ = true;
        switch (std::exchange(deferred_, Deferred::kNone)) {
          case Deferred::kNone:
            return;
          case Deferred::kWrite:
            return ClientWrite();
          case Deferred::kWritesDone:
            return ClientWritesDone();
        }
        return;
      case kClientWritesDone:
      case kServerFinish:
        return;
      case kClientInitialMetadata:
        if (ok) {
          CopyMetadata(client_ctx_.GetServerInitialMetadata(), [this](std::string k, std::string v) {
            server_ctx_.AddInitialMetadata(k, v);
          });
          if (review_) return ClientRead();  // the metadata leaves with the review's answer
          server_metadata_pending_ = true;
          ++pending_;
          stream_.SendInitialMetadata(tag(kServerInitialMetadata));
        }
        return ClientRead();
      case kServerInitialMetadata:
        server_metadata_pending_ = false;
        if (write_waiting_) {
          write_waiting_ = false;
          ServerWrite();
        }
        if (finish_waiting_) {
          finish_waiting_ = false;
          FinishServer();
        }
        return;
      case kClientRead:
        if (!ok) return EndResponseChain();
        if (review_) {  // keep the (unary) response for the review and read on to its end
          reviewed_response_ = std::move(response_);
          return ClientRead();
        }
        if (server_metadata_pending_) {
          write_waiting_ = true;
        } else {
          ServerWrite();
        }
        return;
      case kServerWrite:
        if (!ok) return EndResponseChain();  // the client is gone; the done tag cancels
        return ClientRead();
      case kClientFinish:
        if (server_metadata_pending_) {
          finish_waiting_ = true;
        } else {
          FinishServer();
        }
        return;
      case kNumOps:
        return;
    }
  }

  void StartUpstream(First first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    client_ctx_.set_deadline(server_ctx_.raw_deadline());
    CopyMetadata(server_ctx_.client_metadata(),
                 [this](std::string k, std::string v) { client_ctx_.AddMetadata(k, v); });
    client_ = shared_->stub.PrepareCall(&client_ctx_, server_ctx_.method(), shared_->cq.get());
    if (first == First::kNone) {
      ++pending_;
      client_->StartCall(tag(kClientStart));  // headers now; writes wait for kClientStart
    } else {
      // The headers go with the first write: no StartCall operation (nor tag) of its own.
      client_ctx_.set_initial_metadata_corked(true);
      client_->StartCall(nullptr);
      client_started_ = true;
    }
    ++pending_;
    client_->ReadInitialMetadata(tag(kClientInitialMetadata));
    if (cancelled_) client_ctx_.TryCancel();  // the caller left while a gate held the call
    switch (first) {
      case First::kNone:
        return ServerRead();
      case First::kMessage:
        return ClientWrite();
      case First::kHalfClose:
        return ClientWritesDone();
    }
  }

  // In gRPC 1.51 StartCall and Write/WritesDone share one operation set: a write waits for
  // StartCall's tag.
  void ClientWritesDone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!client_started_) {
      deferred_ = Deferred::kWritesDone;
      return;
    }
    ++pending_;
    client_->WritesDone(tag(kClientWritesDone));
  }

  void ServerRead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++pending_;
    stream_.Read(&request_, tag(kServerRead));
  }
  void ClientWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!client_started_) {
      deferred_ = Deferred::kWrite;
      return;
    }
    ++pending_;
    client_->Write(request_, tag(kClientWrite));
  }
  void ClientRead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++pending_;
    client_->Read(&response_, tag(kClientRead));
  }
  void ServerWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++pending_;
    stream_.Write(response_, tag(kServerWrite));
  }

  void EndResponseChain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    response_done_ = true;
    ++pending_;
    client_->Finish(&upstream_status_, tag(kClientFinish));
  }

  void FinishServer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CopyMetadata(client_ctx_.GetServerTrailingMetadata(), [this](std::string k, std::string v) {
      server_ctx_.AddTrailingMetadata(k, v);
    });
    if (review_) {  // Proceed hands the call to the review once the lock is released
      intercept_hold_ = true;
      deliver_review_ = true;
      return;
    }
    Observe(upstream_status_.error_code());
    ++pending_;
    stream_.Finish(upstream_status_, tag(kServerFinish));
  }

  void Observe(grpc::StatusCode code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (shared_->observer == nullptr) return;
    shared_->observer->OnCallDone(server_ctx_.method(), code, absl::Now() - start_);
  }

  QueueProxy::Shared* const shared_;
  Tag tags_[kNumOps];
  grpc::GenericServerContext server_ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  grpc::ClientContext client_ctx_;

  absl::Mutex mu_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> client_ ABSL_GUARDED_BY(mu_);
  absl::Time start_ ABSL_GUARDED_BY(mu_);
  ByteBuffer request_;   // the request chain's; an interceptor's while it holds the call
  ByteBuffer response_ ABSL_GUARDED_BY(mu_);
  ResponseReview review_ ABSL_GUARDED_BY(mu_);  // set before the upstream call starts
  ByteBuffer reviewed_response_ ABSL_GUARDED_BY(mu_);
  bool deliver_review_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status upstream_status_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // operations started whose tag has not come back
  bool intercept_hold_ ABSL_GUARDED_BY(mu_) = false;
  bool deliver_request_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool restricted_ ABSL_GUARDED_BY(mu_) = false;  // on a restricted listener: never forwarded
  bool client_started_ ABSL_GUARDED_BY(mu_) = false;  // StartCall's operation is done
  Deferred deferred_ ABSL_GUARDED_BY(mu_) = Deferred::kNone;
  bool response_done_ ABSL_GUARDED_BY(mu_) = false;
  bool server_metadata_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool write_waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_waiting_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

QueueProxy::QueueProxy(std::shared_ptr<grpc::Channel> upstream, CallInterceptor* interceptor,
                       CallObserver* observer, const Restriction* restriction,
                       grpc::ServerBuilder& builder)
    : shared_(std::move(upstream), interceptor, observer, restriction) {
  builder.RegisterAsyncGenericService(&shared_.service);
  shared_.cq = builder.AddCompletionQueue();
}

QueueProxy::~QueueProxy() = default;

void QueueProxy::Start() {
  for (int i = 0; i < kListeningCalls; ++i) (new Call(&shared_))->Listen();
  for (int i = 0; i < kQueueThreads; ++i) threads_.emplace_back([this] { Poll(); });
}

void QueueProxy::Poll() {
  void* tag;
  bool ok;
  while (shared_.cq->Next(&tag, &ok)) {
    Tag* t = static_cast<Tag*>(tag);
    t->call->Proceed(t->op, ok);
  }
}

void QueueProxy::Stop(grpc::Server* server, std::chrono::system_clock::time_point deadline) {
  if (stopped_) return;
  stopped_ = true;
  if (server != nullptr) {
    server->Shutdown(deadline);  // cancels what still runs at the deadline
    server->Wait();
    absl::MutexLock lock(&shared_.mu);
    // Upstream calls of cancelled server calls end shortly after them.
    shared_.mu.Await(absl::Condition(
        +[](int* live) { return *live == 0; }, &shared_.live_calls));
  }
  shared_.cq->Shutdown();
  if (threads_.empty()) {
    void* tag;
    bool ok;
    while (shared_.cq->Next(&tag, &ok)) {
    }
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace layerseal::plugin::internal
