// The CRI proxy (plugin/cri_proxy.h) in front of a real containerd with its CRI plugin, and
// in front of a small in-process fake upstream (a generic gRPC server) for what containerd
// cannot show: metadata, deadline and cancellation reaching the upstream, status details and
// trailers, streaming, large messages, and the interception seam. Clients call with a
// generic stub, so every call is forwarded as opaque bytes exactly as the kubelet's would be.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/unknown_field_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "plugin/cri_proxy.h"
#include "plugin/image_gates.h"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/digest.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal::plugin {
namespace {

using grpc::ByteBuffer;
using Metadata = std::multimap<std::string, std::string>;

constexpr absl::Duration kCallTimeout = absl::Seconds(20);

ByteBuffer ToBuffer(const std::string& s) {
  grpc::Slice slice(s);
  return ByteBuffer(&slice, 1);
}

std::string ToString(const ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

std::string Str(grpc::string_ref s) { return std::string(s.data(), s.size()); }

Metadata ToMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& from) {
  Metadata out;
  for (const auto& [k, v] : from) out.emplace(Str(k), Str(v));
  return out;
}

std::string Get(const Metadata& md, const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? "<absent>" : it->second;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(StrCat("unix:", socket), grpc::InsecureChannelCredentials(),
                                   args);
}

struct CallResult {
  grpc::Status status;
  std::vector<std::string> responses;
  Metadata initial_metadata;
  Metadata trailing_metadata;
};

// A client call of any kind: writes `requests`, half-closes (unless told to keep the stream
// open), reads every response.
class Call final : public grpc::ClientBidiReactor<ByteBuffer, ByteBuffer> {
 public:
  Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
       std::vector<std::string> requests, const Metadata& metadata = {},
       absl::Duration timeout = kCallTimeout, bool half_close = true)
      : stub_(channel), requests_(std::move(requests)), half_close_(half_close) {
    for (const auto& [k, v] : metadata) ctx_.AddMetadata(k, v);
    if (timeout != absl::InfiniteDuration()) {
      ctx_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    }
    stub_.PrepareBidiStreamingCall(&ctx_, method, grpc::StubOptions(), this);
    AddHold();
    StartRead(&response_);
    NextWrite();
    StartCall();
  }

  void Cancel() { ctx_.TryCancel(); }

  CallResult Wait() {
    done_.WaitForNotification();
    return result_;
  }

  void OnWriteDone(bool ok) override {
    if (ok) {
      NextWrite();
    } else {
      RemoveHold();
    }
  }
  void OnWritesDoneDone(bool /*ok*/) override { RemoveHold(); }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    result_.responses.push_back(ToString(response_));
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    result_.status = status;
    result_.initial_metadata = ToMetadata(ctx_.GetServerInitialMetadata());
    result_.trailing_metadata = ToMetadata(ctx_.GetServerTrailingMetadata());
    done_.Notify();
  }

 private:
  void NextWrite() {
    if (next_ < requests_.size()) {
      request_ = ToBuffer(requests_[next_++]);
      StartWrite(&request_);
    } else if (half_close_) {
      StartWritesDone();
    } else {
      RemoveHold();  // the stream stays open for writes until the call ends
    }
  }

  grpc::GenericStub stub_;
  grpc::ClientContext ctx_;
  std::vector<std::string> requests_;
  bool half_close_;
  size_t next_ = 0;
  ByteBuffer request_;
  ByteBuffer response_;
  CallResult result_;
  absl::Notification done_;
};

CallResult Invoke(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                  std::vector<std::string> requests, const Metadata& metadata = {},
                  absl::Duration timeout = kCallTimeout) {
  Call call(channel, method, std::move(requests), metadata, timeout);
  return call.Wait();
}

// gRPC 1.51 (Debian) serves the callback API of every channel and server from one
// process-global completion queue (CompletionQueue::CallbackAlternativeCQ, because the posix
// iomgr does not run in the background). It is reference counted and torn down whenever the
// last channel or server using it goes away; under ASan that teardown raced its own polling
// threads (a double free inside grpc_cq_internal_unref) when tests created and destroyed
// servers and channels one after the other. A server kept for the whole binary holds the queue,
// so it is torn down once, at exit. The agent holds its server and upstream channel for its
// whole life, so it does not cycle the queue.
class PinCallbackQueue final : public ::testing::Environment {
 public:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(StrCat("unix:", dir_.File("pin.sock")),
                             grpc::InsecureServerCredentials());
    builder.RegisterCallbackGenericService(&service_);  // takes the queue at start
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }

 private:
  testing::TempDir dir_;
  grpc::CallbackGenericService service_;
  std::unique_ptr<grpc::Server> server_;
};
[[maybe_unused]] ::testing::Environment* const kPinCallbackQueue =
    ::testing::AddGlobalTestEnvironment(new PinCallbackQueue);

// ---------------------------------------------------------------------------------------
// The fake upstream. Methods (the first request message is the argument):
//   /fake.Echo/Unary   echoes the request; initial metadata "echo-<key>" for each x-* key
//                      received; trailer "deadline-ms": the deadline it saw, from now.
//   /fake.Echo/Sleep   answers nothing until cancelled, then records the cancellation.
//   /fake.Echo/Fail    FAILED_PRECONDITION "nope" with details and two trailers.
//   /fake.Echo/Stream  request "N": N messages "msg-i", then OK.
//   /fake.Echo/Bidi    echoes every message until the client half-closes.
//   /runtime.v1.ImageService/ImageStatus and its runtime.v1alpha2 twin: AnswerImageStatus.
// Anything else: UNIMPLEMENTED.
constexpr char kDetails[] = "\x08\x09" "details\x00\xff";  // binary, with NUL and 0xff
const std::string kDetailsBytes(kDetails, sizeof(kDetails) - 1);
const std::string kBinaryTrailer("\x00\x01\x02\xfe", 4);

class FakeUpstream final : public grpc::CallbackGenericService {
 public:
  std::atomic<int> calls{0};
  std::atomic<int> v1alpha2_image_status{0};  // runtime.v1alpha2 ImageStatus calls answered
  absl::Notification sleep_cancelled;

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    calls.fetch_add(1);
    return new Reactor(this, ctx);
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    Reactor(FakeUpstream* fake, grpc::GenericCallbackServerContext* ctx) : fake_(fake), ctx_(ctx) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      const std::string& method = ctx_->method();
      if (method == "/fake.Echo/Bidi") {
        if (ok) {
          StartWrite(&request_);
        } else {
          FinishOnce(grpc::Status::OK);
        }
        return;
      }
      if (!ok) return FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "no request"));
      if (method == "/fake.Echo/Unary") {
        for (const auto& [k, v] : ctx_->client_metadata()) {
          if (Str(k).rfind("x-", 0) == 0) ctx_->AddInitialMetadata("echo-" + Str(k), Str(v));
        }
        auto left = ctx_->deadline() - std::chrono::system_clock::now();
        ctx_->AddTrailingMetadata(
            "deadline-ms",
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
        finished_.store(true);
        StartWriteAndFinish(&request_, grpc::WriteOptions(), grpc::Status::OK);
      } else if (method == "/fake.Echo/Sleep") {
        // OnCancel finishes.
      } else if (method == "/fake.Echo/Fail") {
        ctx_->AddTrailingMetadata("x-trailer", "t");
        ctx_->AddTrailingMetadata("x-trailer-bin", kBinaryTrailer);
        FinishOnce(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "nope", kDetailsBytes));
      } else if (method == "/runtime.v1.ImageService/ImageStatus") {
        AnswerImageStatus();
      } else if (method == "/runtime.v1alpha2.ImageService/ImageStatus") {
        fake_->v1alpha2_image_status.fetch_add(1);
        AnswerImageStatus();  // the same fields at the same numbers
      } else if (method == "/runtime.v1.ImageService/PullImage") {
        AnswerPullImage();
      } else if (method == "/fake.Echo/Stream") {
        remaining_ = std::stoi(ToString(request_));
        ctx_->AddInitialMetadata("stream-initial", "yes");
        WriteNext();
      } else {
        FinishOnce(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "fake: no such method"));
      }
    }
    void OnWriteDone(bool ok) override {
      if (!ok) return FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      if (ctx_->method() == "/fake.Echo/Bidi") {
        StartRead(&request_);
      } else {
        WriteNext();
      }
    }
    void OnCancel() override {
      if (ctx_->method() == "/fake.Echo/Sleep") fake_->sleep_cancelled.Notify();
      FinishOnce(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    // A runtime's ImageStatus, by the image asked for: "garbage" answers bytes that are no
    // ImageStatusResponse, "fail" FAILED_PRECONDITION, "absent" no image; any other name
    // is an image whose repository digest is the name itself.
    void AnswerImageStatus() {
      ::runtime::v1::ImageStatusRequest request;
      std::string bytes = ToString(request_);
      request.ParseFromString(bytes);
      const std::string& image = request.image().image();
      if (image == "fail") return FinishOnce(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "runtime says no"));
      ::runtime::v1::ImageStatusResponse response;
      if (image != "absent" && image != "garbage") {
        response.mutable_image()->set_id("sha256:fake");
        response.mutable_image()->add_repo_digests(image);
      }
      response_ = ToBuffer(image == "garbage" ? std::string("\xff\xff\xff\xff", 4)
                                              : response.SerializeAsString());
      finished_.store(true);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }

    // A runtime's PullImage: "fail@..." images fail (UNAVAILABLE), any other image is
    // "pulled" and named in image_ref.
    void AnswerPullImage() {
      ::runtime::v1::PullImageRequest request;
      request.ParseFromString(ToString(request_));
      if (request.image().image().rfind("fail", 0) == 0) {
        return FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "pull failed"));
      }
      ::runtime::v1::PullImageResponse response;
      response.set_image_ref(request.image().image());
      response_ = ToBuffer(response.SerializeAsString());
      finished_.store(true);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }

    void WriteNext() {
      if (remaining_ == 0) return FinishOnce(grpc::Status::OK);
      response_ = ToBuffer(StrCat("msg-", sent_++));
      --remaining_;
      StartWrite(&response_);
    }
    void FinishOnce(const grpc::Status& status) {
      if (!finished_.exchange(true)) Finish(status);
    }

    FakeUpstream* const fake_;
    grpc::GenericCallbackServerContext* const ctx_;
    ByteBuffer request_;
    ByteBuffer response_;
    int remaining_ = 0;
    int sent_ = 0;
    std::atomic<bool> finished_{false};
  };
};

// For "/fake.Echo/Unary": rewrites "rewrite-me", refuses "deny", answers "answer" itself
// from another thread after a while, drops "drop" unresolved, forwards anything else.
// Forwarded for review: "/fake.Echo/Fail", "/fake.Echo/Sleep" and "review-<how>" (Review).
class TestInterceptor final : public CallInterceptor {
 public:
  ~TestInterceptor() override {
    for (std::thread& t : threads_) t.join();
  }
  bool Intercepts(std::string_view method) const override {
    return method == "/fake.Echo/Unary" || method == "/fake.Echo/Fail" ||
           method == "/fake.Echo/Sleep";
  }
  void OnRequest(InterceptedCall call) override {
    seen_method = std::string(call.method());
    std::string text = ToString(call.request());
    auto md = call.context().client_metadata();
    seen_header = md.count("x-who") ? Str(md.find("x-who")->second) : "";
    if (text.rfind("review-", 0) == 0 || call.method() != "/fake.Echo/Unary") {
      call.ForwardForReview(call.request(), [this, text](InterceptedCall c, const grpc::Status& s,
                                                         ByteBuffer answer) {
        Review(std::move(c), text, s, std::move(answer));
      });
    } else if (text == "deny") {
      call.Fail(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "denied: deny"));
    } else if (text == "rewrite-me") {
      call.Forward(ToBuffer("rewritten"));
    } else if (text == "answer") {
      Later(std::move(call), [](InterceptedCall c) { c.Reply(ToBuffer("answered-by-gate")); });
    } else if (text != "drop") {
      call.Forward();
    }
  }
  std::string seen_method;
  std::string seen_header;
  std::atomic<int> reviews{0};

 private:
  // review-pass: the runtime's answer as is; review-swap: "reviewed:<answer>", from another
  // thread; review-forward: forwards again (a misuse); review-drop: drops the call. Any
  // other call (Fail, Sleep): the runtime's status as is.
  void Review(InterceptedCall call, const std::string& text, const grpc::Status& status,
              ByteBuffer answer) {
    reviews.fetch_add(1);
    if (!status.ok()) return call.Fail(status);
    if (text == "review-pass") return call.Reply(std::move(answer));
    if (text == "review-forward") return call.Forward();
    if (text == "review-swap") {
      std::string swapped = StrCat("reviewed:", ToString(answer));
      return Later(std::move(call), [swapped](InterceptedCall c) { c.Reply(ToBuffer(swapped)); });
    }
    // review-drop: `call` dies unresolved here.
  }

  // Resolves `call` from another thread, after a while.
  void Later(InterceptedCall call, std::function<void(InterceptedCall)> resolve) {
    threads_.emplace_back([c = std::move(call), resolve = std::move(resolve)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      resolve(std::move(c));
    });
  }

  std::vector<std::thread> threads_;
};

class FakeUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override { StartProxy(nullptr); }

  // `restricted_methods` non-empty: also a restricted socket, restricted.sock, where only
  // they may be called.
  void StartProxy(CallInterceptor* interceptor,
                  const std::vector<std::string>& restricted_methods = {},
                  CallObserver* observer = nullptr) {
    proxy_.reset();
    upstream_server_.reset();
    fake_ = std::make_unique<FakeUpstream>();  // a generic service registers with one server
    grpc::ServerBuilder builder;
    builder.AddListeningPort(StrCat("unix:", dir_.File("upstream.sock")),
                             grpc::InsecureServerCredentials());
    builder.RegisterCallbackGenericService(fake_.get());
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.SetMaxSendMessageSize(kMaxMessageBytes);
    upstream_server_ = builder.BuildAndStart();
    ASSERT_NE(upstream_server_, nullptr);
    std::vector<std::string> restricted;
    if (!restricted_methods.empty()) restricted.push_back(dir_.File("restricted.sock"));
    absl::StatusOr<std::unique_ptr<CriProxy>> proxy = CriProxy::Start(
        {.listen_path = dir_.File("proxy.sock"),
         .restricted_listen_paths = restricted,
         .restricted_methods = restricted_methods,
         .upstream_path = dir_.File("upstream.sock"),
         .interceptor = interceptor,
         .observer = observer});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
    channel_ = Connect(dir_.File("proxy.sock"));
  }

  void TearDown() override {
    proxy_.reset();
    if (upstream_server_) upstream_server_->Shutdown(std::chrono::system_clock::now());
  }

  testing::TempDir dir_;
  std::unique_ptr<FakeUpstream> fake_;  // declared first: outlives its server
  std::unique_ptr<grpc::Server> upstream_server_;
  std::unique_ptr<CriProxy> proxy_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(FakeUpstreamTest, MetadataAndDeadlineReachTheUpstream) {
  CallResult r = Invoke(channel_, "/fake.Echo/Unary", {"hello"},
                        {{"x-request-id", "abc"}, {"x-blob-bin", kBinaryTrailer}},
                        absl::Seconds(30));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.responses, std::vector<std::string>{"hello"});
  EXPECT_EQ(Get(r.initial_metadata, "echo-x-request-id"), "abc");
  EXPECT_EQ(Get(r.initial_metadata, "echo-x-blob-bin"), kBinaryTrailer);
  int deadline_ms = std::stoi(Get(r.trailing_metadata, "deadline-ms"));
  EXPECT_GT(deadline_ms, 15000);  // the client's 30 s, not "infinite", not lost
  // grpc-timeout is rounded up when encoded (seen: 30099 ms).
  EXPECT_LE(deadline_ms, 30500);
}

TEST_F(FakeUpstreamTest, DeadlineExceededCancelsTheUpstream) {
  CallResult r = Invoke(channel_, "/fake.Echo/Sleep", {"zzz"}, {}, absl::Milliseconds(300));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(fake_->sleep_cancelled.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST_F(FakeUpstreamTest, ClientCancellationCancelsTheUpstream) {
  Call call(channel_, "/fake.Echo/Sleep", {"zzz"}, {}, absl::InfiniteDuration());
  absl::SleepFor(absl::Milliseconds(200));
  call.Cancel();
  EXPECT_EQ(call.Wait().status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(fake_->sleep_cancelled.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST_F(FakeUpstreamTest, StatusDetailsAndTrailersPassThrough) {
  CallResult r = Invoke(channel_, "/fake.Echo/Fail", {"x"});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.status.error_message(), "nope");
  EXPECT_EQ(r.status.error_details(), kDetailsBytes);
  EXPECT_EQ(Get(r.trailing_metadata, "x-trailer"), "t");
  EXPECT_EQ(Get(r.trailing_metadata, "x-trailer-bin"), kBinaryTrailer);
  EXPECT_TRUE(r.responses.empty());
}

TEST_F(FakeUpstreamTest, ServerStreamingPassesEveryMessageInOrder) {
  CallResult r = Invoke(channel_, "/fake.Echo/Stream", {"50"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.responses.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(r.responses[i], StrCat("msg-", i));
  EXPECT_EQ(Get(r.initial_metadata, "stream-initial"), "yes");
}

TEST_F(FakeUpstreamTest, BidiStreamingEchoesEveryMessage) {
  std::vector<std::string> sent = {"one", "two", "", "four"};
  CallResult r = Invoke(channel_, "/fake.Echo/Bidi", sent);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.responses, sent);
}

TEST_F(FakeUpstreamTest, UpstreamFinishingFirstEndsAStreamTheClientKeepsOpen) {
  // The client never half-closes: the proxy must not wait for it to forward the status.
  Call call(channel_, "/fake.Echo/Fail", {"x"}, {}, kCallTimeout, /*half_close=*/false);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << r.status.error_message();
  EXPECT_EQ(r.status.error_details(), kDetailsBytes);
}

TEST_F(FakeUpstreamTest, UnknownMethodStatusIsTheUpstreams) {
  CallResult r = Invoke(channel_, "/no.Such/Method", {"x"});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(r.status.error_message(), "fake: no such method");
}

TEST_F(FakeUpstreamTest, TwentyMiBMessagesPassBothWays) {
  std::string big(20 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  CallResult r = Invoke(channel_, "/fake.Echo/Unary", {big});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.responses.size(), 1u);
  EXPECT_TRUE(r.responses[0] == big);
}

TEST_F(FakeUpstreamTest, ManyConcurrentCallsAllComplete) {
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 64; ++i) {
    calls.push_back(std::make_unique<Call>(channel_, i % 2 ? "/fake.Echo/Stream" : "/fake.Echo/Unary",
                                           std::vector<std::string>{"7"}));
  }
  for (int i = 0; i < 64; ++i) {
    CallResult r = calls[i]->Wait();
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.error_message();
    EXPECT_EQ(r.responses.size(), i % 2 ? 7u : 1u);
  }
}

TEST_F(FakeUpstreamTest, InterceptorRewritesOrAnswersInstead) {
  TestInterceptor interceptor;
  StartProxy(&interceptor);
  int before = fake_->calls.load();

  CallResult denied = Invoke(channel_, "/fake.Echo/Unary", {"deny"}, {{"x-who", "kubelet"}});
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.status.error_message(), "denied: deny");
  EXPECT_EQ(fake_->calls.load(), before);  // the upstream never saw it
  EXPECT_EQ(interceptor.seen_method, "/fake.Echo/Unary");
  EXPECT_EQ(interceptor.seen_header, "kubelet");

  CallResult rewritten = Invoke(channel_, "/fake.Echo/Unary", {"rewrite-me"});
  ASSERT_TRUE(rewritten.status.ok()) << rewritten.status.error_message();
  EXPECT_EQ(rewritten.responses, std::vector<std::string>{"rewritten"});

  CallResult streamed = Invoke(channel_, "/fake.Echo/Stream", {"3"});  // not intercepted
  EXPECT_EQ(streamed.responses.size(), 3u);

  int upstream_calls = fake_->calls.load();
  CallResult answered = Invoke(channel_, "/fake.Echo/Unary", {"answer"});
  ASSERT_TRUE(answered.status.ok()) << answered.status.error_message();
  EXPECT_EQ(answered.responses, std::vector<std::string>{"answered-by-gate"});
  EXPECT_EQ(fake_->calls.load(), upstream_calls);

  // A gate that loses a call fails it closed instead of forwarding it or hanging.
  CallResult dropped = Invoke(channel_, "/fake.Echo/Unary", {"drop"});
  EXPECT_EQ(dropped.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(dropped.status.error_message(), ::testing::HasSubstr("dropped the call"));
  EXPECT_EQ(fake_->calls.load(), upstream_calls);

  CallResult plain = Invoke(channel_, "/fake.Echo/Unary", {"hello"});
  ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
  EXPECT_EQ(plain.responses, std::vector<std::string>{"hello"});
}

// The agent's health socket (issue 14 item 5): on a restricted socket only the listed
// methods are called, only the interceptor answers them, and nothing reaches the upstream:
// not another method, not a listed one the interceptor forwards, not one that half-closes
// before its first message. The main socket is unchanged.
TEST_F(FakeUpstreamTest, RestrictedSocketAnswersOnlyItsMethodsAndForwardsNothing) {
  TestInterceptor interceptor;
  StartProxy(&interceptor, {"/fake.Echo/Unary"});
  auto restricted = Connect(dir_.File("restricted.sock"));
  int upstream_calls = fake_->calls.load();

  CallResult answered = Invoke(restricted, "/fake.Echo/Unary", {"answer"});
  ASSERT_TRUE(answered.status.ok()) << answered.status.error_message();
  EXPECT_EQ(answered.responses, std::vector<std::string>{"answered-by-gate"});
  EXPECT_EQ(Invoke(restricted, "/fake.Echo/Unary", {"deny"}).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  for (const CallResult& r : {Invoke(restricted, "/fake.Echo/Stream", {"3"}),  // not listed
                              Invoke(restricted, "/fake.Echo/Fail", {"x"}),    // not listed
                              Invoke(restricted, "/fake.Echo/Unary", {"hello"}),  // forwarded
                              Invoke(restricted, "/fake.Echo/Unary", {})}) {  // no message
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << r.status.error_message();
    EXPECT_THAT(r.status.error_message(), ::testing::HasSubstr("not served on this socket"));
    EXPECT_TRUE(r.responses.empty());
  }
  EXPECT_EQ(fake_->calls.load(), upstream_calls);

  CallResult plain = Invoke(channel_, "/fake.Echo/Unary", {"hello"});
  ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
  EXPECT_EQ(plain.responses, std::vector<std::string>{"hello"});
  EXPECT_EQ(Invoke(channel_, "/fake.Echo/Stream", {"3"}).responses.size(), 3u);
}

// The observer (the agent's layerseal_cri_calls_total and latency) sees every call once, with
// the code its caller got, however the call ended: forwarded, answered or failed by the
// interceptor, reviewed, refused on a restricted socket.
class RecordingObserver final : public CallObserver {
 public:
  void OnCallDone(std::string_view method, grpc::StatusCode code, absl::Duration elapsed) override {
    absl::MutexLock lock(&mu_);
    seen_.push_back(StrCat(method, " ", static_cast<int>(code)));
    if (elapsed < absl::ZeroDuration()) seen_.push_back("negative elapsed");
  }
  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_F(FakeUpstreamTest, EveryCallIsObservedOnceWithItsCallersCode) {
  TestInterceptor interceptor;
  RecordingObserver observer;
  StartProxy(&interceptor, {"/fake.Echo/Unary"}, &observer);
  auto restricted = Connect(dir_.File("restricted.sock"));
  ASSERT_TRUE(Invoke(channel_, "/fake.Echo/Unary", {"hello"}).status.ok());         // forwarded
  ASSERT_TRUE(Invoke(channel_, "/fake.Echo/Stream", {"2"}).status.ok());            // not intercepted
  ASSERT_FALSE(Invoke(channel_, "/fake.Echo/Unary", {"deny"}).status.ok());         // failed by it
  ASSERT_TRUE(Invoke(channel_, "/fake.Echo/Unary", {"answer"}).status.ok());        // answered by it
  ASSERT_TRUE(Invoke(channel_, "/fake.Echo/Unary", {"review-swap"}).status.ok());   // reviewed
  ASSERT_FALSE(Invoke(channel_, "/fake.Echo/Fail", {"x"}).status.ok());             // reviewed error
  ASSERT_FALSE(Invoke(restricted, "/fake.Echo/Stream", {"2"}).status.ok());         // refused
  ASSERT_FALSE(Invoke(restricted, "/fake.Echo/Unary", {"hello"}).status.ok());      // refused forward
  EXPECT_EQ(observer.seen(), (std::vector<std::string>{
                                 "/fake.Echo/Unary 0", "/fake.Echo/Stream 0", "/fake.Echo/Unary 7",
                                 "/fake.Echo/Unary 0", "/fake.Echo/Unary 0", "/fake.Echo/Fail 9",
                                 "/fake.Echo/Stream 12", "/fake.Echo/Unary 12"}));
}

TEST_F(FakeUpstreamTest, ReviewSeesTheUpstreamsAnswerBeforeTheCaller) {
  TestInterceptor interceptor;
  StartProxy(&interceptor);
  int upstream_calls = fake_->calls.load();

  CallResult passed = Invoke(channel_, "/fake.Echo/Unary", {"review-pass"}, {{"x-who", "kubelet"}});
  ASSERT_TRUE(passed.status.ok()) << passed.status.error_message();
  EXPECT_EQ(passed.responses, std::vector<std::string>{"review-pass"});
  // The upstream's metadata reaches the caller with the review's answer.
  EXPECT_EQ(Get(passed.initial_metadata, "echo-x-who"), "kubelet");
  EXPECT_FALSE(Get(passed.trailing_metadata, "deadline-ms").empty());

  CallResult swapped = Invoke(channel_, "/fake.Echo/Unary", {"review-swap"});
  ASSERT_TRUE(swapped.status.ok()) << swapped.status.error_message();
  EXPECT_EQ(swapped.responses, std::vector<std::string>{"reviewed:review-swap"});

  CallResult failed = Invoke(channel_, "/fake.Echo/Fail", {"x"});
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(failed.status.error_message(), "nope");
  EXPECT_EQ(failed.status.error_details(), kDetailsBytes);
  EXPECT_EQ(Get(failed.trailing_metadata, "x-trailer"), "t");
  EXPECT_TRUE(failed.responses.empty());

  // Misuse fails closed: a second Forward, or a review that drops the call.
  CallResult forwarded = Invoke(channel_, "/fake.Echo/Unary", {"review-forward"});
  EXPECT_EQ(forwarded.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(forwarded.status.error_message(), ::testing::HasSubstr("after its review"));
  EXPECT_TRUE(forwarded.responses.empty());
  CallResult dropped = Invoke(channel_, "/fake.Echo/Unary", {"review-drop"});
  EXPECT_EQ(dropped.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(dropped.status.error_message(), ::testing::HasSubstr("dropped the call"));
  EXPECT_TRUE(dropped.responses.empty());

  EXPECT_EQ(interceptor.reviews.load(), 5);
  EXPECT_EQ(fake_->calls.load(), upstream_calls + 5);  // each went upstream exactly once
}

TEST_F(FakeUpstreamTest, AReviewedCallPastItsDeadlineCancelsTheUpstream) {
  TestInterceptor interceptor;
  StartProxy(&interceptor);
  CallResult r = Invoke(channel_, "/fake.Echo/Sleep", {"x"}, {}, absl::Milliseconds(300));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(fake_->sleep_cancelled.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(r.responses.empty());
  // The upstream's CANCELLED answer still comes back for review, at a moment of its own: stop
  // the proxy (which finishes every call) while `interceptor` is alive. Without this the
  // review could run after the test body had destroyed it (ASan saw it, once).
  proxy_.reset();
}

// A judge whose cached verdicts the test sets; Judge (the slow path) denies.
class FakeJudge final : public ImageJudge {
 public:
  Judgement Judge(const JudgeRequest& request) override {
    judged.fetch_add(1);
    Judgement j;
    j.verdict.decision = Decision::kDeny;
    j.verdict.reason = Reason::kNotSigned;
    j.verdict.reference = request.reference.ToString();
    return j;
  }
  std::optional<Judgement> TryCached(const JudgeRequest& request) override {
    tried.fetch_add(1);
    if (!cached_admit) return std::nullopt;
    Judgement j{.cached = true};
    j.verdict.decision = Decision::kAllow;
    j.verdict.reason = Reason::kVerified;
    j.verdict.reference = request.reference.ToString();
    return j;
  }
  std::atomic<bool> cached_admit{false};
  std::atomic<int> judged{0};
  std::atomic<int> tried{0};
};

// ImageStatus through the gates over a fake runtime: what the review does with each answer.
TEST_F(FakeUpstreamTest, ImageStatusGateReviewsTheRuntimesAnswer) {
  FakeJudge judge;
  ImageGates gates({.judge = &judge, .upstream = CreateUpstreamChannel(dir_.File("upstream.sock"))});
  StartProxy(&gates);
  const std::string kMethod(kImageStatus);
  auto ask = [&](const std::string& image) {
    ::runtime::v1::ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    return Invoke(channel_, kMethod, {request.SerializeAsString()});
  };
  auto image_in = [](const CallResult& r) -> std::string {
    if (r.responses.size() != 1) return "<no response>";
    ::runtime::v1::ImageStatusResponse response;
    if (!response.ParseFromString(r.responses[0])) return "<unparsable>";
    return response.has_image() ? response.image().id() : "";
  };
  const std::string image = "example.org/app@sha256:" + std::string(64, 'a');
  int upstream_calls = fake_->calls.load();

  // A cached admitting verdict: the runtime's answer as is, judged on the proxy's thread.
  judge.cached_admit = true;
  CallResult admitted = ask(image);
  ASSERT_TRUE(admitted.status.ok()) << admitted.status.error_message();
  EXPECT_EQ(image_in(admitted), "sha256:fake");
  EXPECT_EQ(judge.judged.load(), 0);
  EXPECT_EQ(judge.tried.load(), 1);
  // No cached verdict: judged on a worker (denied here), and the image is absent.
  judge.cached_admit = false;
  CallResult denied = ask(image);
  ASSERT_TRUE(denied.status.ok()) << denied.status.error_message();
  EXPECT_EQ(image_in(denied), "");
  EXPECT_EQ(judge.judged.load(), 1);
  EXPECT_EQ(fake_->calls.load(), upstream_calls + 2);  // one runtime call each, none of its own

  CallResult absent = ask("absent");
  ASSERT_TRUE(absent.status.ok()) << absent.status.error_message();
  EXPECT_EQ(image_in(absent), "");
  // The runtime's error passes as is; an answer that is no ImageStatusResponse fails closed.
  CallResult failed = ask("fail");
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(failed.status.error_message(), "runtime says no");
  CallResult garbage = ask("garbage");
  EXPECT_EQ(garbage.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(garbage.status.error_message(), ::testing::HasSubstr("response is malformed"));
  EXPECT_TRUE(garbage.responses.empty());
  EXPECT_EQ(judge.judged.load(), 1);
}

// Issue 15.3: runtime.v1alpha2 goes through the same gates as v1. Nothing reaches the runtime
// for a denied pull; CreateContainer asks the runtime in v1alpha2 and is refused for an image
// no policy admits; ImageStatus is reviewed.
TEST_F(FakeUpstreamTest, V1alpha2IsGatedAsV1) {
  FakeJudge judge;
  ImageGates gates({.judge = &judge, .upstream = CreateUpstreamChannel(dir_.File("upstream.sock"))});
  StartProxy(&gates);
  const std::string image = "example.org/app@sha256:" + std::string(64, 'b');
  int upstream_calls = fake_->calls.load();

  ::runtime::v1::PullImageRequest pull;
  pull.mutable_image()->set_image(image);
  CallResult pulled = Invoke(channel_, std::string(kPullImageV1alpha2), {pull.SerializeAsString()});
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(pulled.status.error_message(), ::testing::StartsWith("SignatureValidationFailed: "));
  EXPECT_EQ(fake_->calls.load(), upstream_calls) << "a denied pull reached the runtime";

  ::runtime::v1::CreateContainerRequest create;
  create.mutable_config()->mutable_image()->set_image(image);
  create.mutable_sandbox_config()->mutable_metadata()->set_namespace_("default");
  CallResult created =
      Invoke(channel_, std::string(kCreateContainerV1alpha2), {create.SerializeAsString()});
  EXPECT_EQ(created.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(created.status.error_message(), ::testing::HasSubstr("NOT_SIGNED"));
  EXPECT_EQ(fake_->v1alpha2_image_status.load(), 1) << "the gate asked in another version";

  ::runtime::v1::ImageStatusRequest status;
  status.mutable_image()->set_image(image);
  CallResult shown = Invoke(channel_, std::string(kImageStatusV1alpha2), {status.SerializeAsString()});
  ASSERT_TRUE(shown.status.ok()) << shown.status.error_message();
  ASSERT_EQ(shown.responses.size(), 1u);
  ::runtime::v1::ImageStatusResponse response;
  ASSERT_TRUE(response.ParseFromString(shown.responses[0]));
  EXPECT_FALSE(response.has_image()) << "an unadmitted image was shown";
  EXPECT_EQ(fake_->v1alpha2_image_status.load(), 2);
  EXPECT_EQ(judge.judged.load(), 3);
}

// v1alpha2: refuse answers every runtime.v1alpha2 call UNIMPLEMENTED, saying why; v1 and
// other services pass as before.
TEST_F(FakeUpstreamTest, V1alpha2RefusedWhenConfigured) {
  FakeJudge judge;
  ImageGates gates({.judge = &judge,
                    .upstream = CreateUpstreamChannel(dir_.File("upstream.sock")),
                    .v1alpha2 = V1alpha2Mode::kRefuse});
  StartProxy(&gates);
  int upstream_calls = fake_->calls.load();
  for (const std::string& method : {std::string("/runtime.v1alpha2.RuntimeService/Version"),
                                   std::string(kPullImageV1alpha2),
                                   std::string("/runtime.v1alpha2.RuntimeService/RunPodSandbox")}) {
    CallResult r = Invoke(channel_, method, {""});
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << method;
    EXPECT_THAT(r.status.error_message(), ::testing::HasSubstr("v1alpha2: refuse")) << method;
  }
  EXPECT_EQ(fake_->calls.load(), upstream_calls);
  CallResult echo = Invoke(channel_, "/fake.Echo/Unary", {"hello"});
  EXPECT_TRUE(echo.status.ok()) << echo.status.error_message();
  ::runtime::v1::ImageStatusRequest status;
  status.mutable_image()->set_image("absent");
  EXPECT_TRUE(Invoke(channel_, std::string(kImageStatus), {status.SerializeAsString()}).status.ok());
  EXPECT_EQ(judge.judged.load(), 0);
}

// A judge whose every verdict is `verdict` with the judged reference's digest.
class FixedJudge final : public ImageJudge {
 public:
  Judgement Judge(const JudgeRequest& request) override {
    Judgement j{.verdict = verdict};
    j.verdict.reference = request.reference.ToString();
    j.verdict.manifest_digest = Digest::Sha256Of("manifest");
    return j;
  }
  Verdict verdict;
};

class FakeRecorder final : public ImageRecorder {
 public:
  absl::Status NameTag(const Reference& tag, const Reference& pinned) override {
    absl::MutexLock lock(&mu);
    named.push_back(StrCat(tag.ToString(), " -> ", pinned.ToString()));
    return absl::OkStatus();
  }
  std::vector<std::string> Named() {
    absl::MutexLock lock(&mu);
    return named;
  }
  absl::Mutex mu;
  std::vector<std::string> named;
};

// Issue 15 item 1: the gates name the image by its tag after a VERIFIED ALLOW and the
// runtime's successful pull, and in no other case.
TEST_F(FakeUpstreamTest, PullImageNamesTheTagOnlyAfterAVerifiedPull) {
  FixedJudge judge;
  FakeRecorder recorder;
  ImageGates gates({.judge = &judge,
                    .upstream = CreateUpstreamChannel(dir_.File("upstream.sock")),
                    .recorder = &recorder});
  StartProxy(&gates);
  auto pull = [&](const std::string& image) {
    ::runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    return Invoke(channel_, std::string(kPullImage), {request.SerializeAsString()});
  };
  const std::string pinned = "example.org/app@" + Digest::Sha256Of("manifest").str();
  judge.verdict.decision = Decision::kAllow;
  judge.verdict.reason = Reason::kVerified;
  CallResult ok = pull("example.org/app:1");
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  ::runtime::v1::PullImageResponse response;
  ASSERT_EQ(ok.responses.size(), 1u);
  ASSERT_TRUE(response.ParseFromString(ok.responses[0]));
  EXPECT_EQ(response.image_ref(), pinned);  // the runtime's answer goes back as is
  EXPECT_EQ(recorder.Named(), std::vector<std::string>{"example.org/app:1 -> " + pinned});

  // A pull by digest names nothing; a failed pull neither (its error goes back as is).
  ASSERT_TRUE(pull(pinned).status.ok());
  CallResult failed = pull("fail.example/app:1");
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Admitted without a verified digest: audit mode, onRegistryError: allow.
  judge.verdict.decision = Decision::kDeny;
  judge.verdict.reason = Reason::kNotSigned;
  judge.verdict.mode = Mode::kAudit;
  ASSERT_TRUE(pull("example.org/audit:1").status.ok());
  judge.verdict.decision = Decision::kAllow;
  judge.verdict.reason = Reason::kRegistryError;
  judge.verdict.mode = Mode::kEnforce;
  ASSERT_TRUE(pull("example.org/fail-open:1").status.ok());
  EXPECT_EQ(recorder.Named().size(), 1u);
}

TEST(CriProxyTest, MissingUpstreamIsUnavailableThenRecovers) {
  testing::TempDir dir;
  const std::string upstream = dir.File("upstream.sock");
  absl::StatusOr<std::unique_ptr<CriProxy>> proxy =
      CriProxy::Start({.listen_path = dir.File("proxy.sock"), .upstream_path = upstream});
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  std::shared_ptr<grpc::Channel> channel = Connect(dir.File("proxy.sock"));
  for (int i = 0; i < 3; ++i) {  // the first call, and those while the channel backs off
    // A proxy that waited for the runtime instead would end in DEADLINE_EXCEEDED.
    CallResult r = Invoke(channel, "/fake.Echo/Unary", {"x"}, {}, absl::Seconds(10));
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  }

  // The runtime comes up: calls pass again without restarting the proxy.
  FakeUpstream fake;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(StrCat("unix:", upstream), grpc::InsecureServerCredentials());
  builder.RegisterCallbackGenericService(&fake);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  grpc::Status last;
  for (int i = 0; i < 100 && !last.ok(); ++i) {
    if (i > 0) absl::SleepFor(absl::Milliseconds(100));
    last = Invoke(channel, "/fake.Echo/Unary", {"x"}, {}, absl::Seconds(5)).status;
  }
  EXPECT_TRUE(last.ok()) << last.error_code() << " " << last.error_message();
  proxy->reset();
  server->Shutdown(std::chrono::system_clock::now());
}

TEST(CriProxyTest, ReplacesAStaleListenSocket) {
  testing::TempDir dir;
  const std::string path = dir.File("proxy.sock");
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);  // the socket file stays, as after a crash

  absl::StatusOr<std::unique_ptr<CriProxy>> proxy =
      CriProxy::Start({.listen_path = path, .upstream_path = dir.File("none.sock")});
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  CallResult r = Invoke(Connect(path), "/fake.Echo/Unary", {"x"}, {}, absl::Seconds(10));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
}

TEST(CriProxyTest, StartFailsOnAnUnusableListenPath) {
  absl::StatusOr<std::unique_ptr<CriProxy>> proxy = CriProxy::Start(
      {.listen_path = "/nonexistent-dir/x/proxy.sock", .upstream_path = "/tmp/whatever.sock"});
  ASSERT_FALSE(proxy.ok());
  EXPECT_EQ(proxy.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(Sv(proxy.status().message()).find("/nonexistent-dir/x/proxy.sock"),
            std::string_view::npos);
}

// ---------------------------------------------------------------------------------------
// The CRI subset: fields outside it survive a parse + serialize byte for byte.

void Tag(std::string& out, int field, int wire_type) {
  uint32_t v = static_cast<uint32_t>(field << 3 | wire_type);
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
std::string Bytes(int field, const std::string& payload) {
  std::string out;
  Tag(out, field, 2);
  out.push_back(static_cast<char>(payload.size()));  // payloads here are < 128 bytes
  return out + payload;
}
std::string Varint(int field, int value) {
  std::string out;
  Tag(out, field, 0);
  out.push_back(static_cast<char>(value));  // values here are < 128
  return out;
}

TEST(CriSubsetTest, PullImageRequestKeepsFieldsOutsideTheSubset) {
  // As upstream serializes it (field order), with fields the subset leaves out:
  // ImageSpec: image(1), user_specified_image(18); and a future field 25.
  std::string image_spec = Bytes(1, "registry.local/app:1.0") + Bytes(18, "app:1.0") +
                           Bytes(25, "future");
  std::string auth = Bytes(1, "user") + Bytes(2, "secret") + Bytes(4, "registry.local");
  std::string metadata = Bytes(1, "web-0") + Bytes(2, "uid-123") + Bytes(3, "prod") + Varint(4, 2);
  // PodSandboxConfig: metadata(1) kept; hostname(2), log_directory(3), labels(6) not.
  std::string sandbox = Bytes(1, metadata) + Bytes(2, "web-0") + Bytes(3, "/var/log/pods/x") +
                        Bytes(6, Bytes(1, "app") + Bytes(2, "web"));
  std::string wire = Bytes(1, image_spec) + Bytes(2, auth) + Bytes(3, sandbox) + Varint(9, 1);

  runtime::v1::PullImageRequest request;
  ASSERT_TRUE(request.ParseFromString(wire));
  EXPECT_EQ(request.image().image(), "registry.local/app:1.0");
  EXPECT_EQ(request.image().user_specified_image(), "app:1.0");
  EXPECT_EQ(request.auth().password(), "secret");
  EXPECT_EQ(request.sandbox_config().metadata().namespace_(), "prod");
  EXPECT_EQ(request.sandbox_config().metadata().attempt(), 2u);
  std::string again;
  ASSERT_TRUE(request.SerializeToString(&again));
  EXPECT_EQ(again, wire);

  // Editing a known field keeps the unknown ones too (the PullImage gate will pin a digest).
  request.mutable_image()->set_image("registry.local/app@sha256:00");
  runtime::v1::PullImageRequest edited;
  ASSERT_TRUE(edited.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(edited.image().image(), "registry.local/app@sha256:00");
  const google::protobuf::UnknownFieldSet& image_unknown =
      edited.image().GetReflection()->GetUnknownFields(edited.image());
  ASSERT_EQ(image_unknown.field_count(), 1);
  EXPECT_EQ(image_unknown.field(0).number(), 25);
  EXPECT_EQ(image_unknown.field(0).length_delimited(), "future");
  const google::protobuf::UnknownFieldSet& sandbox_unknown =
      edited.sandbox_config().GetReflection()->GetUnknownFields(edited.sandbox_config());
  ASSERT_EQ(sandbox_unknown.field_count(), 3);  // hostname, log_directory, labels
  EXPECT_EQ(sandbox_unknown.field(1).length_delimited(), "/var/log/pods/x");
}

// ---------------------------------------------------------------------------------------
// A real containerd with its CRI plugin: the same calls direct and through the proxy.

// One proxy for the whole suite, in front of one containerd.
class ContainerdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> server =
        testing::ContainerdServer::Start({.cri = true});
    ASSERT_TRUE(server.ok()) << server.status();
    containerd_ = server->release();
    dir_ = new testing::TempDir();
    absl::StatusOr<std::unique_ptr<CriProxy>> proxy = CriProxy::Start(
        {.listen_path = dir_->File("proxy.sock"), .upstream_path = containerd_->socket()});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = proxy->release();
  }
  static void TearDownTestSuite() {
    delete std::exchange(proxy_, nullptr);
    delete dir_;
    delete containerd_;
  }
  void SetUp() override {
    ASSERT_NE(proxy_, nullptr);
    direct_ = Connect(containerd_->socket());
    proxied_ = Connect(dir_->File("proxy.sock"));
  }

  // The call must give the same status, messages and application metadata both ways.
  CallResult ExpectSameBothWays(const std::string& method, const std::string& request,
                                absl::Duration timeout = kCallTimeout) {
    CallResult direct = Invoke(direct_, method, {request}, {}, timeout);
    CallResult proxied = Invoke(proxied_, method, {request}, {}, timeout);
    EXPECT_EQ(proxied.status.error_code(), direct.status.error_code()) << method;
    EXPECT_EQ(proxied.status.error_message(), direct.status.error_message()) << method;
    EXPECT_EQ(proxied.status.error_details(), direct.status.error_details()) << method;
    EXPECT_EQ(proxied.responses, direct.responses) << method;
    return proxied;
  }

  static testing::ContainerdServer* containerd_;
  static testing::TempDir* dir_;
  static CriProxy* proxy_;
  std::shared_ptr<grpc::Channel> direct_;
  std::shared_ptr<grpc::Channel> proxied_;
};

testing::ContainerdServer* ContainerdTest::containerd_ = nullptr;
testing::TempDir* ContainerdTest::dir_ = nullptr;
CriProxy* ContainerdTest::proxy_ = nullptr;

TEST_F(ContainerdTest, VersionIsByteIdentical) {
  runtime::v1::VersionRequest request;
  request.set_version("v1");
  CallResult r = ExpectSameBothWays("/runtime.v1.RuntimeService/Version",
                                    request.SerializeAsString());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.responses.size(), 1u);
  runtime::v1::VersionResponse version;
  ASSERT_TRUE(version.ParseFromString(r.responses[0]));
  EXPECT_EQ(version.runtime_name(), "containerd");
  EXPECT_EQ(version.runtime_api_version(), "v1");
}

TEST_F(ContainerdTest, ImageServiceCallsAreIdentical) {
  CallResult list = ExpectSameBothWays("/runtime.v1.ImageService/ListImages",
                                       runtime::v1::ListImagesRequest().SerializeAsString());
  EXPECT_TRUE(list.status.ok()) << list.status.error_message();
  runtime::v1::ImageStatusRequest status_request;
  status_request.mutable_image()->set_image("registry.invalid/absent:1.0");
  CallResult status = ExpectSameBothWays("/runtime.v1.ImageService/ImageStatus",
                                         status_request.SerializeAsString());
  EXPECT_TRUE(status.status.ok()) << status.status.error_message();
  // A pull that must fail (nothing listens on the port): the runtime's own error comes back.
  runtime::v1::PullImageRequest pull;
  pull.mutable_image()->set_image("127.0.0.1:1/absent:1.0");
  CallResult direct = Invoke(direct_, "/runtime.v1.ImageService/PullImage",
                             {pull.SerializeAsString()});
  CallResult proxied = Invoke(proxied_, "/runtime.v1.ImageService/PullImage",
                              {pull.SerializeAsString()});
  EXPECT_FALSE(direct.status.ok());
  EXPECT_EQ(proxied.status.error_code(), direct.status.error_code());
}

TEST_F(ContainerdTest, AnImageInTheRuntimeListsAndReportsTheSameThroughTheProxy) {
  // An image pulled into the CRI namespace behind the kubelet's back (ctr, plain HTTP).
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
      testing::RegistryServer::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  absl::StatusOr<Reference> ref = Reference::Parse(StrCat((*registry)->host(), "/cri/app:1.0"));
  ASSERT_TRUE(ref.ok()) << ref.status();
  registry::RegistryClient client((*registry)->ClientOptions());
  ASSERT_TRUE(testing::PushTestImage(client, *ref, testing::MakeBaseImage({})).ok());
  absl::StatusOr<testing::RunResult> pull =
      testing::Run({"ctr", "--address", containerd_->socket(), "--namespace", "k8s.io", "images",
                    "pull", "--plain-http", "--snapshotter", "native", ref->ToString()});
  ASSERT_TRUE(pull.ok()) << pull.status();
  ASSERT_EQ(pull->exit_code, 0) << pull->out << pull->err;

  // The suite shares one containerd: earlier tests' images may stay (the
  // same content under another registry's tag is the same image).
  runtime::v1::ListImagesResponse listed;
  const runtime::v1::Image* pulled = nullptr;
  for (int i = 0; i < 100 && pulled == nullptr; ++i) {  // the CRI plugin syncs by event
    if (i > 0) absl::SleepFor(absl::Milliseconds(100));
    CallResult r = Invoke(direct_, "/runtime.v1.ImageService/ListImages",
                          {runtime::v1::ListImagesRequest().SerializeAsString()});
    ASSERT_TRUE(r.status.ok() && r.responses.size() == 1) << r.status.error_message();
    ASSERT_TRUE(listed.ParseFromString(r.responses[0]));
    for (const runtime::v1::Image& image : listed.images()) {  // same content: same image
      for (const std::string& tag : image.repo_tags()) {
        if (tag == ref->ToString()) pulled = &image;
      }
    }
  }
  ASSERT_NE(pulled, nullptr) << ref->ToString() << " not listed";

  CallResult list = ExpectSameBothWays("/runtime.v1.ImageService/ListImages",
                                       runtime::v1::ListImagesRequest().SerializeAsString());
  ASSERT_EQ(list.responses.size(), 1u);
  runtime::v1::ImageStatusRequest status_request;
  status_request.mutable_image()->set_image(ref->ToString());
  status_request.set_verbose(true);
  CallResult status = ExpectSameBothWays("/runtime.v1.ImageService/ImageStatus",
                                         status_request.SerializeAsString());
  ASSERT_EQ(status.responses.size(), 1u);
  runtime::v1::ImageStatusResponse image_status;
  ASSERT_TRUE(image_status.ParseFromString(status.responses[0]));
  EXPECT_EQ(image_status.image().id(), pulled->id());
  EXPECT_FALSE(image_status.info().empty());  // verbose: the runtime's JSON passes intact
}

TEST_F(ContainerdTest, UnknownMethodIsUnimplementedAsDirect) {
  CallResult r = ExpectSameBothWays("/runtime.v1.RuntimeService/NoSuchMethod", "");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ContainerdTest, GetContainerEventsStreamsAsDirect) {
  // Server-streaming. If the runtime implements it, the stream stays open without events
  // until the deadline; if not, UNIMPLEMENTED. Either way the proxy says what containerd says.
  CallResult r = ExpectSameBothWays("/runtime.v1.RuntimeService/GetContainerEvents", "",
                                    absl::Seconds(1));
  EXPECT_TRUE(r.status.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
              r.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << r.status.error_code() << " " << r.status.error_message();
  std::cout << "GetContainerEvents through the proxy: code " << r.status.error_code() << " \""
            << r.status.error_message() << "\"\n";
}

}  // namespace

}  // namespace layerseal::plugin
