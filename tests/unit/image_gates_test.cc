// The gates (plugin/image_gates.h) driven through the CallResolver seam
// (plugin/call_interceptor.h), without the proxy and without sockets: each call is an
// InterceptedCall whose resolution a FakeResolver records (Forward, ForwardForReview, Reply,
// Fail), the verdicts come from a FakeJudge, the tag naming goes to a FakeRecorder, and the
// gates' own questions to the runtime (CreateContainer's ImageStatus, and ImageStatus of a
// tag whose pinned digest is gone) reach a FakeRuntime over an in-process channel.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "plugin/call_interceptor.h"
#include "plugin/image_gates.h"
#include "plugin/image_judge.h"
#include "plugin/image_recorder.h"
#include "plugin/message_bytes.h"
#include "plugin/pulled_image_check.h"
#include "verifier/digest.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::plugin {
namespace {

namespace cri = ::runtime::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Long enough for a loaded machine; a resolution normally takes microseconds.
constexpr absl::Duration kResolveTimeout = absl::Seconds(20);

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// How the gates resolved one call.
struct Outcome {
  enum Kind { kNone, kForward, kReview, kReply } kind = kNone;
  std::string request;    // kForward, kReview: what goes to the runtime
  ResponseReview review;  // kReview
  grpc::Status status;    // kReply
  std::string response;   // kReply with OK
};

// Records the one resolution of a call (from whatever thread the gates resolve it on).
class FakeResolver final : public CallResolver {
 public:
  void Forward(grpc::ByteBuffer request) override {
    Set(Outcome{.kind = Outcome::kForward, .request = Bytes(request)});
  }
  void ForwardForReview(grpc::ByteBuffer request, ResponseReview review) override {
    Set(Outcome{.kind = Outcome::kReview, .request = Bytes(request), .review = std::move(review)});
  }
  void Reply(const grpc::Status& status, grpc::ByteBuffer* response) override {
    Set(Outcome{.kind = Outcome::kReply,
                .status = status,
                .response = response != nullptr ? Bytes(*response) : ""});
  }
  // The resolution; kind kNone if none came within kResolveTimeout.
  Outcome Wait() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](std::optional<Outcome>* o) { return o->has_value(); }, &outcome_),
                         kResolveTimeout);
    return outcome_ ? std::move(*outcome_) : Outcome{};
  }
  bool Resolved() {
    absl::MutexLock lock(&mu_);
    return outcome_.has_value();
  }
  int resolutions() {
    absl::MutexLock lock(&mu_);
    return resolutions_;
  }

 private:
  void Set(Outcome outcome) {
    absl::MutexLock lock(&mu_);
    ++resolutions_;
    outcome_ = std::move(outcome);
  }
  absl::Mutex mu_;
  std::optional<Outcome> outcome_ ABSL_GUARDED_BY(mu_);
  int resolutions_ ABSL_GUARDED_BY(mu_) = 0;
};

// Verdicts by the judged reference's text; anything not set is denied NOT_SIGNED. Cached
// verdicts (TryCached) are a separate table: empty, so every ImageStatus needs a worker.
class FakeJudge final : public ImageJudge {
 public:
  Judgement Judge(const JudgeRequest& request) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    auto it = verdicts_.find(request.reference.ToString());
    if (it != verdicts_.end()) return it->second;
    Judgement j;
    j.verdict.decision = Decision::kDeny;
    j.verdict.reason = Reason::kNotSigned;
    j.verdict.reference = request.reference.ToString();
    j.verdict.detail = "no seal";
    return j;
  }
  std::optional<Judgement> TryCached(const JudgeRequest& request) override {
    absl::MutexLock lock(&mu_);
    ++tried_;
    auto it = cached_.find(request.reference.ToString());
    if (it == cached_.end()) return std::nullopt;
    return it->second;
  }

  void Set(const std::string& reference, Judgement judgement) {
    absl::MutexLock lock(&mu_);
    verdicts_[reference] = std::move(judgement);
  }
  void Forget(const std::string& reference) {
    absl::MutexLock lock(&mu_);
    verdicts_.erase(reference);
  }
  void SetCached(const std::string& reference, Judgement judgement) {
    absl::MutexLock lock(&mu_);
    cached_[reference] = std::move(judgement);
  }
  std::vector<JudgeRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  int tried() {
    absl::MutexLock lock(&mu_);
    return tried_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, Judgement> verdicts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Judgement> cached_ ABSL_GUARDED_BY(mu_);
  std::vector<JudgeRequest> requests_ ABSL_GUARDED_BY(mu_);
  int tried_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeRecorder final : public ImageRecorder {
 public:
  absl::Status NameTag(const Reference& tag, const Reference& pinned) override {
    absl::MutexLock lock(&mu_);
    named_.push_back(StrCat(tag.ToString(), " -> ", pinned.ToString()));
    return absl::OkStatus();
  }
  std::vector<std::string> named() {
    absl::MutexLock lock(&mu_);
    return named_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> named_ ABSL_GUARDED_BY(mu_);
};

class FakeSink final : public EventSink {
 public:
  void Report(const VerdictEvent& event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  std::vector<VerdictEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<VerdictEvent> events_ ABSL_GUARDED_BY(mu_);
};

// The runtime's ImageStatus (v1 and v1alpha2), for the gates' own questions: the images it
// holds by the name asked; any other name is absent. RemoveImage (the integrity rules'
// removal after a denied pull) forgets the name and is recorded. Counts the calls by method.
class FakeRuntime final : public grpc::CallbackGenericService {
 public:
  void Hold(const std::string& name, cri::Image image) {
    absl::MutexLock lock(&mu_);
    images_[name] = std::move(image);
  }
  int calls(const std::string& method) {
    absl::MutexLock lock(&mu_);
    return calls_[method];
  }
  std::vector<std::string> asked() {
    absl::MutexLock lock(&mu_);
    return asked_;
  }
  std::vector<std::string> removed() {
    absl::MutexLock lock(&mu_);
    return removed_;
  }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new Reactor(this, ctx);
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    Reactor(FakeRuntime* runtime, grpc::GenericCallbackServerContext* ctx)
        : runtime_(runtime), ctx_(ctx) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (ok && (ctx_->method() == kRemoveImage || ctx_->method() == kRemoveImageV1alpha2)) {
        cri::RemoveImageRequest remove;
        if (!ParseMessage(request_, &remove)) {
          return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "fake runtime"));
        }
        {
          absl::MutexLock lock(&runtime_->mu_);
          ++runtime_->calls_[ctx_->method()];
          runtime_->removed_.push_back(remove.image().image());
          runtime_->images_.erase(remove.image().image());
        }
        response_ = SerializeMessage(cri::RemoveImageResponse());
        return StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
      }
      cri::ImageStatusRequest request;
      if (!ok || !ParseMessage(request_, &request) ||
          (ctx_->method() != kImageStatus && ctx_->method() != kImageStatusV1alpha2)) {
        return Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "fake runtime"));
      }
      cri::ImageStatusResponse response;
      {
        absl::MutexLock lock(&runtime_->mu_);
        ++runtime_->calls_[ctx_->method()];
        runtime_->asked_.push_back(request.image().image());
        auto it = runtime_->images_.find(request.image().image());
        if (it != runtime_->images_.end()) *response.mutable_image() = it->second;
      }
      response_ = SerializeMessage(response);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    FakeRuntime* const runtime_;
    grpc::GenericCallbackServerContext* const ctx_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
  };

  absl::Mutex mu_;
  std::map<std::string, cri::Image> images_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> asked_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> removed_ ABSL_GUARDED_BY(mu_);
};

// The image-integrity seam (plugin/pulled_image_check.h): results set per stage, by the
// judged reference's text; anything not set keeps the admitting verdict (no review).
// Records every call as "<Stage> <reference>".
class FakeIntegrity final : public PulledImageCheck {
 public:
  IntegrityResult BeforePull(const JudgeRequest& request, const Verdict& admitted) override {
    return Answer("BeforePull", request, admitted);
  }
  IntegrityResult AfterPull(const JudgeRequest& request, const Verdict& admitted) override {
    return Answer("AfterPull", request, admitted);
  }
  std::optional<IntegrityResult> TryKnown(const JudgeRequest& request,
                                          const Verdict& admitted) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back("TryKnown " + request.reference.ToString());
    if (unknown_.count(request.reference.ToString()) > 0) return std::nullopt;
    return Find("Check", request, admitted);
  }
  IntegrityResult Check(const JudgeRequest& request, const Verdict& admitted) override {
    return Answer("Check", request, admitted);
  }

  // What `stage` answers for `reference`: `admitted` with `result`'s fields (a denial when
  // `deny` is set).
  void Set(const std::string& stage, const std::string& reference, IntegrityResult result,
           std::optional<Reason> deny = std::nullopt) {
    absl::MutexLock lock(&mu_);
    results_[stage + " " + reference] = {std::move(result), deny};
  }
  // TryKnown answers nullopt for `reference` (its result needs a worker).
  void Unknown(const std::string& reference) {
    absl::MutexLock lock(&mu_);
    unknown_.insert(reference);
  }
  std::vector<std::string> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  IntegrityResult Answer(const std::string& stage, const JudgeRequest& request,
                         const Verdict& admitted) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(stage + " " + request.reference.ToString());
    return Find(stage, request, admitted);
  }
  IntegrityResult Find(const std::string& stage, const JudgeRequest& request,
                       const Verdict& admitted) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = results_.find(stage + " " + request.reference.ToString());
    if (it == results_.end()) return IntegrityResult{.verdict = admitted};
    IntegrityResult out = it->second.first;
    out.verdict = admitted;
    if (it->second.second) {
      out.verdict.decision = Decision::kDeny;
      out.verdict.reason = *it->second.second;
      out.verdict.detail = "layer 2 (sha256:top) adds /bin/sh";
    }
    return out;
  }
  absl::Mutex mu_;
  std::map<std::string, std::pair<IntegrityResult, std::optional<Reason>>> results_
      ABSL_GUARDED_BY(mu_);
  std::set<std::string> unknown_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

const std::string kRepo = "registry.test/team/app";
const std::string kTag = kRepo + ":1.0";
const Digest kManifest = Digest::Sha256Of("the judged manifest");
const std::string kPinned = kRepo + "@" + kManifest.str();

Judgement Allow(const std::string& reference, Reason reason = Reason::kVerified) {
  Judgement j;
  j.verdict.decision = Decision::kAllow;
  j.verdict.reason = reason;
  j.verdict.reference = reference;
  j.verdict.manifest_digest = kManifest;
  return j;
}

Judgement Deny(const std::string& reference, Reason reason, Mode mode = Mode::kEnforce) {
  Judgement j;
  j.verdict.decision = Decision::kDeny;
  j.verdict.reason = reason;
  j.verdict.reference = reference;
  j.verdict.detail = "the test says no";
  j.verdict.mode = mode;
  j.verdict.policy_version = "sha256:" + std::string(64, 'c');
  return j;
}

cri::Image StoredImage(const std::string& id, const std::vector<std::string>& repo_digests) {
  cri::Image image;
  image.set_id(id);
  for (const std::string& d : repo_digests) image.add_repo_digests(d);
  return image;
}

cri::PullImageRequest PullRequest(const std::string& image, const std::string& ns = "prod") {
  cri::PullImageRequest request;
  request.mutable_image()->set_image(image);
  request.mutable_auth()->set_username("robot");
  request.mutable_auth()->set_password("s3cret");
  cri::PodSandboxMetadata* pod = request.mutable_sandbox_config()->mutable_metadata();
  pod->set_namespace_(ns);
  pod->set_name("web-0");
  pod->set_uid("uid-1");
  return request;
}

cri::ImageStatusRequest StatusRequest(const std::string& image) {
  cri::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  return request;
}

cri::CreateContainerRequest CreateRequest(const std::string& image, const std::string& ns) {
  cri::CreateContainerRequest request;
  request.mutable_config()->mutable_image()->set_image(image);
  request.mutable_sandbox_config()->mutable_metadata()->set_namespace_(ns);
  request.mutable_sandbox_config()->mutable_metadata()->set_name("web-0");
  return request;
}

template <typename M>
M Parse(const std::string& bytes) {
  M message;
  EXPECT_TRUE(message.ParseFromString(bytes)) << "not a " << message.GetTypeName();
  return message;
}

class ImageGatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;  // no listening port: reached in-process only
    builder.RegisterCallbackGenericService(&runtime_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    MakeGates(V1alpha2Mode::kGate);
  }
  void TearDown() override {
    gates_.reset();  // waits for the gates' workers
    server_->Shutdown(std::chrono::system_clock::now());
  }

  void MakeGates(V1alpha2Mode v1alpha2) {
    gates_.reset();
    gates_ = std::make_unique<ImageGates>(
        ImageGatesOptions{.judge = &judge_,
                          .events = &sink_,
                          .upstream = server_->InProcessChannel(grpc::ChannelArguments()),
                          .recorder = &recorder_,
                          .integrity = integrity_check_,
                          .workers = 2,
                          .v1alpha2 = v1alpha2});
  }

  // Hands `request` to the gates as an intercepted call of `method`; its resolution.
  Outcome Call(std::string_view method, const google::protobuf::Message& request) {
    return CallBytes(method, request.SerializeAsString());
  }
  Outcome CallBytes(std::string_view method, const std::string& bytes) {
    EXPECT_TRUE(gates_->Intercepts(method)) << method;
    FakeResolver* resolver = NewResolver();
    grpc::Slice slice(bytes);
    gates_->OnRequest(InterceptedCall(Keep(method), grpc::ByteBuffer(&slice, 1), &context_, resolver));
    return resolver->Wait();
  }

  // Gives a reviewed call the runtime's answer (status OK and `response`); the review's
  // resolution. `resolved_at_once`: whether the review resolved the call before returning
  // (on the proxy's thread, without a worker).
  Outcome Answer(std::string_view method, Outcome& reviewed,
                 const google::protobuf::Message& response, bool* resolved_at_once = nullptr) {
    EXPECT_EQ(reviewed.kind, Outcome::kReview);
    if (reviewed.kind != Outcome::kReview) return Outcome{};
    return AnswerStatus(method, reviewed, grpc::Status::OK, SerializeMessage(response),
                        resolved_at_once);
  }
  Outcome AnswerStatus(std::string_view method, Outcome& reviewed, const grpc::Status& status,
                       grpc::ByteBuffer response, bool* resolved_at_once = nullptr) {
    FakeResolver* resolver = NewResolver();
    reviewed.review(InterceptedCall(Keep(method), grpc::ByteBuffer(), &context_, resolver), status,
                    std::move(response));
    if (resolved_at_once != nullptr) *resolved_at_once = resolver->Resolved();
    return resolver->Wait();
  }

  FakeResolver* NewResolver() {
    resolvers_.push_back(std::make_unique<FakeResolver>());
    return resolvers_.back().get();
  }
  // InterceptedCall borrows its method name (the server context's, in the proxy).
  std::string_view Keep(std::string_view method) {
    methods_.push_back(std::make_unique<std::string>(method));
    return *methods_.back();
  }

  FakeJudge judge_;
  FakeRecorder recorder_;
  PulledImageCheck* integrity_check_ = nullptr;  // set by IntegrityGatesTest
  FakeSink sink_;
  FakeRuntime runtime_;  // before server_: outlives it
  std::unique_ptr<grpc::Server> server_;
  grpc::ServerContext context_;  // no deadline, no metadata, not cancelled
  std::vector<std::unique_ptr<std::string>> methods_;
  std::vector<std::unique_ptr<FakeResolver>> resolvers_;  // outlive the gates' workers
  std::unique_ptr<ImageGates> gates_;                     // last: destroyed first
};

TEST_F(ImageGatesTest, InterceptsOnlyTheGatedMethods) {
  for (std::string_view m : {kPullImage, kImageStatus, kCreateContainer, kPullImageV1alpha2,
                             kImageStatusV1alpha2, kCreateContainerV1alpha2}) {
    EXPECT_TRUE(gates_->Intercepts(m)) << m;
  }
  for (std::string_view m : {"/runtime.v1.RuntimeService/Version", "/runtime.v1.ImageService/ListImages",
                             "/runtime.v1alpha2.RuntimeService/Version",
                             "/runtime.v1.RuntimeService/StartContainer"}) {
    EXPECT_FALSE(gates_->Intercepts(m)) << m;
  }
}

// A tag admitted by a verified verdict: pulled by the judged digest (the rest of the request
// untouched), and named by the tag only after the runtime's successful pull, before the
// runtime's answer goes back as is.
TEST_F(ImageGatesTest, AllowedTagIsPulledByDigestThenNamed) {
  judge_.Set(kTag, Allow(kTag));
  cri::PullImageRequest request = PullRequest(kTag);
  Outcome pulled = Call(kPullImage, request);
  ASSERT_EQ(pulled.kind, Outcome::kReview) << "a verified tag is reviewed to name it after the pull";
  cri::PullImageRequest forwarded = Parse<cri::PullImageRequest>(pulled.request);
  EXPECT_EQ(forwarded.image().image(), kPinned);
  EXPECT_EQ(forwarded.auth().password(), "s3cret");
  EXPECT_EQ(forwarded.sandbox_config().metadata().namespace_(), "prod");
  EXPECT_TRUE(recorder_.named().empty()) << "named before the runtime pulled it";

  // The judge saw the pod's namespace and the request's credentials.
  std::vector<JudgeRequest> asked = judge_.requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].reference.ToString(), kTag);
  EXPECT_EQ(asked[0].pod.ns, "prod");
  EXPECT_EQ(asked[0].pod.name, "web-0");
  ASSERT_TRUE(asked[0].credentials.has_value());
  EXPECT_EQ(asked[0].credentials->username, "robot");
  EXPECT_FALSE(asked[0].any_policy);

  cri::PullImageResponse response;
  response.set_image_ref("sha256:" + std::string(64, 'e'));
  Outcome answered = Answer(kPullImage, pulled, response);
  ASSERT_EQ(answered.kind, Outcome::kReply);
  EXPECT_TRUE(answered.status.ok()) << answered.status.error_message();
  EXPECT_EQ(Parse<cri::PullImageResponse>(answered.response).image_ref(), response.image_ref());
  EXPECT_EQ(recorder_.named(), std::vector<std::string>{kTag + " -> " + kPinned});

  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].gate, "PullImage");
  EXPECT_EQ(events[0].image, kTag);
  EXPECT_EQ(events[0].pod.ns, "prod");
  EXPECT_TRUE(events[0].admitted);
}

// The runtime's failed pull goes back as is and names nothing.
TEST_F(ImageGatesTest, FailedPullOfAnAllowedTagNamesNothing) {
  judge_.Set(kTag, Allow(kTag));
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReview);
  Outcome answered = AnswerStatus(kPullImage, pulled,
                                  grpc::Status(grpc::StatusCode::NOT_FOUND, "runtime: no such"),
                                  grpc::ByteBuffer());
  ASSERT_EQ(answered.kind, Outcome::kReply);
  EXPECT_EQ(answered.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(answered.status.error_message(), "runtime: no such");
  EXPECT_TRUE(recorder_.named().empty());
}

// A pull by digest is forwarded as it is (nothing to name).
TEST_F(ImageGatesTest, AllowedDigestIsForwardedWithoutNaming) {
  judge_.Set(kPinned, Allow(kPinned));
  Outcome pulled = Call(kPullImage, PullRequest(kPinned));
  ASSERT_EQ(pulled.kind, Outcome::kForward);
  EXPECT_EQ(Parse<cri::PullImageRequest>(pulled.request).image().image(), kPinned);
  EXPECT_TRUE(recorder_.named().empty());
}

// A denial: the kubelet's SignatureValidationFailed shape with the reason and detail, and
// nothing reaches the runtime.
TEST_F(ImageGatesTest, DeniedPullFailsWithTheReason) {
  judge_.Set(kTag, Deny(kTag, Reason::kUntrustedKey));
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReply) << "a denied pull was forwarded";
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(pulled.status.error_message(), StartsWith("SignatureValidationFailed: layerseal denied "));
  EXPECT_THAT(pulled.status.error_message(), HasSubstr("UNTRUSTED_KEY: the test says no"));
  EXPECT_THAT(pulled.status.error_message(), HasSubstr(kTag));
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].admitted);
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kUntrustedKey);
}

// audit and warn admit a denial: the pull goes on (by digest when one is known) and is
// recorded as admitted, but only a VERIFIED ALLOW is ever named by the tag.
TEST_F(ImageGatesTest, AuditAndWarnAdmitButNeverName) {
  for (Mode mode : {Mode::kAudit, Mode::kWarn}) {
    const std::string tag = StrCat(kRepo, ":", ModeName(mode));
    Judgement j = Deny(tag, Reason::kBadSignature, mode);
    j.verdict.manifest_digest = kManifest;
    judge_.Set(tag, j);
    Outcome pulled = Call(kPullImage, PullRequest(tag));
    ASSERT_EQ(pulled.kind, Outcome::kForward) << ModeName(mode);
    EXPECT_EQ(Parse<cri::PullImageRequest>(pulled.request).image().image(), kPinned);
  }
  // Allowed without verification (insecureAcceptAnything: no digest): by the tag itself.
  const std::string open = kRepo + ":open";
  Judgement anything = Allow(open, Reason::kInsecureAcceptAnything);
  anything.verdict.manifest_digest.reset();
  judge_.Set(open, anything);
  Outcome pulled = Call(kPullImage, PullRequest(open));
  ASSERT_EQ(pulled.kind, Outcome::kForward);
  EXPECT_EQ(Parse<cri::PullImageRequest>(pulled.request).image().image(), open);

  EXPECT_TRUE(recorder_.named().empty());
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 3u);
  for (const VerdictEvent& e : events) EXPECT_TRUE(e.admitted) << e.image;
  EXPECT_EQ(events[0].judgement.verdict.mode, Mode::kAudit);
  EXPECT_EQ(events[1].judgement.verdict.mode, Mode::kWarn);
}

TEST_F(ImageGatesTest, MalformedPullIsInvalidArgument) {
  Outcome garbage = CallBytes(kPullImage, std::string("\xff\xff\xff", 3));
  ASSERT_EQ(garbage.kind, Outcome::kReply);
  EXPECT_EQ(garbage.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Outcome bad_ref = Call(kPullImage, PullRequest("UPPER/Case::x"));
  ASSERT_EQ(bad_ref.kind, Outcome::kReply);
  EXPECT_EQ(bad_ref.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad_ref.status.error_message(), HasSubstr("UPPER/Case::x"));
  EXPECT_TRUE(judge_.requests().empty());
}

// ImageStatus: the runtime's answer shows the image only if one of its repository digests
// is admitted under some policy (any_policy); otherwise the image is reported absent, so
// the kubelet pulls it and the pull is judged.
TEST_F(ImageGatesTest, ImageStatusOfADeniedImageIsReportedAbsent) {
  const std::string denied_digest = kRepo + "@" + Digest::Sha256Of("other").str();
  cri::ImageStatusRequest request = StatusRequest(kTag);
  Outcome asked = Call(kImageStatus, request);
  ASSERT_EQ(asked.kind, Outcome::kReview);
  EXPECT_EQ(asked.request, request.SerializeAsString()) << "asked as sent (nothing pinned)";

  cri::ImageStatusResponse held;
  *held.mutable_image() = StoredImage("sha256:held", {denied_digest});
  Outcome answered = Answer(kImageStatus, asked, held);
  ASSERT_EQ(answered.kind, Outcome::kReply);
  ASSERT_TRUE(answered.status.ok()) << answered.status.error_message();
  EXPECT_FALSE(Parse<cri::ImageStatusResponse>(answered.response).has_image())
      << "a denied image was shown";
  std::vector<JudgeRequest> judged = judge_.requests();
  ASSERT_EQ(judged.size(), 1u);
  EXPECT_EQ(judged[0].reference.ToString(), denied_digest);
  EXPECT_TRUE(judged[0].any_policy);
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].gate, "ImageStatus");
  EXPECT_FALSE(events[0].admitted);

  // Admitted: the runtime's answer as is.
  judge_.Set(denied_digest, Allow(denied_digest));
  Outcome again = Call(kImageStatus, request);
  Outcome shown = Answer(kImageStatus, again, held);
  ASSERT_EQ(shown.kind, Outcome::kReply);
  EXPECT_EQ(shown.response, held.SerializeAsString());

  // An image with no repository digest (imported, not pulled) cannot be judged: absent.
  cri::ImageStatusResponse imported;
  *imported.mutable_image() = StoredImage("sha256:imported", {});
  Outcome third = Call(kImageStatus, request);
  Outcome hidden = Answer(kImageStatus, third, imported);
  ASSERT_EQ(hidden.kind, Outcome::kReply);
  EXPECT_FALSE(Parse<cri::ImageStatusResponse>(hidden.response).has_image());
}

// A denial that does not hold under every policy (some namespace policy's verdict unknown)
// hides the image but is no denial of any pod: not reported.
TEST_F(ImageGatesTest, InconclusiveImageStatusDenialIsHiddenButNotReported) {
  const std::string digest = kRepo + "@" + kManifest.str();
  Judgement j = Deny(digest, Reason::kNotSigned);
  j.conclusive = false;
  judge_.Set(digest, j);
  Outcome asked = Call(kImageStatus, StatusRequest(kTag));
  cri::ImageStatusResponse held;
  *held.mutable_image() = StoredImage("sha256:held", {digest});
  Outcome answered = Answer(kImageStatus, asked, held);
  ASSERT_EQ(answered.kind, Outcome::kReply);
  EXPECT_FALSE(Parse<cri::ImageStatusResponse>(answered.response).has_image());
  EXPECT_TRUE(sink_.events().empty());
}

// Cached verdicts answer ImageStatus inside the review, on the proxy's thread: no worker, no
// Judge, no event (nothing was verified).
TEST_F(ImageGatesTest, CachedVerdictsAnswerImageStatusAtOnce) {
  const std::string admitted = kRepo + "@" + kManifest.str();
  const std::string denied = kRepo + "@" + Digest::Sha256Of("denied").str();
  Judgement cached_allow = Allow(admitted);
  cached_allow.cached = true;
  judge_.SetCached(admitted, cached_allow);
  Judgement cached_deny = Deny(denied, Reason::kNotSigned);
  cached_deny.cached = true;
  judge_.SetCached(denied, cached_deny);

  cri::ImageStatusResponse shown_image;
  *shown_image.mutable_image() = StoredImage("sha256:a", {admitted});
  Outcome asked = Call(kImageStatus, StatusRequest(kTag));
  bool at_once = false;
  Outcome shown = Answer(kImageStatus, asked, shown_image, &at_once);
  EXPECT_TRUE(at_once) << "a cached verdict went to a worker";
  ASSERT_EQ(shown.kind, Outcome::kReply);
  EXPECT_EQ(shown.response, shown_image.SerializeAsString());

  cri::ImageStatusResponse hidden_image;
  *hidden_image.mutable_image() = StoredImage("sha256:d", {denied});
  Outcome asked2 = Call(kImageStatus, StatusRequest(kTag));
  Outcome hidden = Answer(kImageStatus, asked2, hidden_image, &at_once);
  EXPECT_TRUE(at_once);
  ASSERT_EQ(hidden.kind, Outcome::kReply);
  EXPECT_FALSE(Parse<cri::ImageStatusResponse>(hidden.response).has_image());

  EXPECT_EQ(judge_.tried(), 2);
  EXPECT_TRUE(judge_.requests().empty()) << "Judge ran although the verdicts were cached";
  EXPECT_TRUE(sink_.events().empty());
  EXPECT_EQ(runtime_.calls(std::string(kImageStatus)), 0) << "the gates asked the runtime";
}

// After the gates pulled a tag by digest, ImageStatus(tag) is asked for the digest; if the
// runtime no longer has it, the gates ask for the tag itself (their own call).
TEST_F(ImageGatesTest, ImageStatusOfAPulledTagAsksForItsDigest) {
  judge_.Set(kTag, Allow(kTag));
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReview);
  ASSERT_EQ(Answer(kPullImage, pulled, cri::PullImageResponse()).kind, Outcome::kReply);

  judge_.Set(kPinned, Allow(kPinned));
  Outcome asked = Call(kImageStatus, StatusRequest(kTag));
  ASSERT_EQ(asked.kind, Outcome::kReview);
  EXPECT_EQ(Parse<cri::ImageStatusRequest>(asked.request).image().image(), kPinned);

  // The pinned image is gone; the runtime holds the tag (named by the recorder).
  runtime_.Hold(kTag, StoredImage("sha256:tagged", {kPinned}));
  Outcome answered = Answer(kImageStatus, asked, cri::ImageStatusResponse());
  ASSERT_EQ(answered.kind, Outcome::kReply);
  cri::ImageStatusResponse response = Parse<cri::ImageStatusResponse>(answered.response);
  ASSERT_TRUE(response.has_image()) << "the tag the runtime holds was not asked for";
  EXPECT_EQ(response.image().id(), "sha256:tagged");
  EXPECT_EQ(runtime_.asked(), std::vector<std::string>{kTag});
}

// CreateContainer: the image the runtime holds must be admitted under the pod's own policy.
TEST_F(ImageGatesTest, CreateContainerGate) {
  const std::string digest = kRepo + "@" + kManifest.str();
  runtime_.Hold(kTag, StoredImage("sha256:held", {digest}));
  cri::CreateContainerRequest request = CreateRequest(kTag, "prod");

  Outcome refused = Call(kCreateContainer, request);
  ASSERT_EQ(refused.kind, Outcome::kReply) << "an unadmitted image's container was created";
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("NOT_SIGNED"));
  EXPECT_THAT(refused.status.error_message(), HasSubstr(kTag));
  std::vector<JudgeRequest> judged = judge_.requests();
  ASSERT_EQ(judged.size(), 1u);
  EXPECT_EQ(judged[0].reference.ToString(), digest);
  EXPECT_EQ(judged[0].pod.ns, "prod");
  EXPECT_FALSE(judged[0].any_policy) << "CreateContainer is the pod's own policy's";

  judge_.Set(digest, Allow(digest));
  Outcome created = Call(kCreateContainer, request);
  ASSERT_EQ(created.kind, Outcome::kForward);
  EXPECT_EQ(created.request, request.SerializeAsString()) << "the request was changed";
  EXPECT_EQ(runtime_.calls(std::string(kImageStatus)), 2);

  // An image the runtime does not have: the runtime says so itself.
  Outcome missing = Call(kCreateContainer, CreateRequest(kRepo + ":missing", "prod"));
  EXPECT_EQ(missing.kind, Outcome::kForward);

  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].gate, "CreateContainer");
  EXPECT_FALSE(events[0].admitted);
  EXPECT_TRUE(events[1].admitted);
}

// runtime.v1alpha2 is gated as v1, and the gates' own question goes out in v1alpha2.
TEST_F(ImageGatesTest, V1alpha2IsGatedAsV1) {
  Outcome pulled = Call(kPullImageV1alpha2, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReply);
  EXPECT_THAT(pulled.status.error_message(), StartsWith("SignatureValidationFailed: "));

  const std::string digest = kRepo + "@" + kManifest.str();
  runtime_.Hold(kTag, StoredImage("sha256:held", {digest}));
  Outcome refused = Call(kCreateContainerV1alpha2, CreateRequest(kTag, "prod"));
  ASSERT_EQ(refused.kind, Outcome::kReply);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(runtime_.calls(std::string(kImageStatusV1alpha2)), 1);
  EXPECT_EQ(runtime_.calls(std::string(kImageStatus)), 0);

  Outcome asked = Call(kImageStatusV1alpha2, StatusRequest(kTag));
  cri::ImageStatusResponse held;
  *held.mutable_image() = StoredImage("sha256:held", {digest});
  Outcome hidden = Answer(kImageStatusV1alpha2, asked, held);
  ASSERT_EQ(hidden.kind, Outcome::kReply);
  EXPECT_FALSE(Parse<cri::ImageStatusResponse>(hidden.response).has_image());
  EXPECT_EQ(judge_.requests().size(), 3u);
}

// v1alpha2: refuse answers every v1alpha2 call UNIMPLEMENTED, saying why, unjudged.
TEST_F(ImageGatesTest, V1alpha2RefusedWhenConfigured) {
  MakeGates(V1alpha2Mode::kRefuse);
  for (std::string_view method : {kPullImageV1alpha2, std::string_view("/runtime.v1alpha2.RuntimeService/Version")}) {
    Outcome r = CallBytes(method, "");
    ASSERT_EQ(r.kind, Outcome::kReply) << method;
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << method;
    EXPECT_THAT(r.status.error_message(), HasSubstr("v1alpha2: refuse")) << method;
  }
  EXPECT_FALSE(gates_->Intercepts("/runtime.v1.RuntimeService/Version"));
  EXPECT_TRUE(judge_.requests().empty());
}

// The gates keep no verdict of their own: a denial lasts as long as the judge's (its deny
// TTL), and the next pull after it expired is judged afresh and admitted.
TEST_F(ImageGatesTest, ADenialLastsOnlyAsLongAsTheJudges) {
  judge_.Set(kTag, Deny(kTag, Reason::kRegistryError));
  Outcome first = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(first.kind, Outcome::kReply);
  EXPECT_THAT(first.status.error_message(), HasSubstr("REGISTRY_ERROR"));
  Outcome second = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(second.kind, Outcome::kReply);

  judge_.Set(kTag, Allow(kTag));  // the judge's deny TTL ran out; the registry is back
  Outcome third = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(third.kind, Outcome::kReview);
  EXPECT_EQ(Parse<cri::PullImageRequest>(third.request).image().image(), kPinned);
  EXPECT_EQ(judge_.requests().size(), 3u) << "each pull is judged";
}

// Each call is resolved exactly once, whatever the outcome.
TEST_F(ImageGatesTest, EveryCallIsResolvedOnce) {
  judge_.Set(kTag, Allow(kTag));
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  Answer(kPullImage, pulled, cri::PullImageResponse());
  Call(kPullImage, PullRequest(kRepo + ":denied"));
  Call(kCreateContainer, CreateRequest(kTag, "prod"));
  gates_.reset();  // waits for the workers
  for (const std::unique_ptr<FakeResolver>& r : resolvers_) EXPECT_EQ(r->resolutions(), 1);
  EXPECT_EQ(resolvers_.size(), 4u);
}

// The image-integrity seam (issue 18): the gates ask PulledImageCheck only about images
// the signature admits, deny before the pull what it denies then, judge the pulled content
// before the runtime's answer goes back (a denial removes the image through the runtime),
// and apply its verdict to ImageStatus and CreateContainer.
class IntegrityGatesTest : public ImageGatesTest {
 protected:
  void SetUp() override {
    ImageGatesTest::SetUp();
    integrity_check_ = &integrity_;
    MakeGates(V1alpha2Mode::kGate);
  }
  FakeIntegrity integrity_;
};

TEST_F(IntegrityGatesTest, ADenialBeforeThePullNeverReachesTheRuntime) {
  judge_.Set(kTag, Allow(kTag));
  integrity_.Set("BeforePull", kTag, {}, Reason::kUntrustedBase);
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReply) << "an image on an untrusted base was pulled";
  EXPECT_EQ(pulled.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(pulled.status.error_message(), StartsWith("SignatureValidationFailed: layerseal denied "));
  EXPECT_THAT(pulled.status.error_message(), HasSubstr("UNTRUSTED_BASE"));
  EXPECT_THAT(integrity_.calls(), ::testing::ElementsAre("BeforePull " + kTag));
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kUntrustedBase);
  EXPECT_FALSE(events[0].admitted);
  EXPECT_TRUE(recorder_.named().empty());
}

TEST_F(IntegrityGatesTest, SignatureDenialsAreNeverAskedAbout) {
  judge_.Set(kTag, Deny(kTag, Reason::kUntrustedKey));
  EXPECT_EQ(Call(kPullImage, PullRequest(kTag)).kind, Outcome::kReply);
  // Audit mode lets the denial through: it stays the signature's, and is not judged further.
  const std::string audited = kRepo + ":audited";
  judge_.Set(audited, Deny(audited, Reason::kNotSigned, Mode::kAudit));
  EXPECT_EQ(Call(kPullImage, PullRequest(audited)).kind, Outcome::kForward);
  EXPECT_TRUE(integrity_.calls().empty());
}

// The rules need the layers: the pull is reviewed, the content judged after the runtime's
// pull; a denial removes exactly the pulled image and fails the pull naming layer and path,
// and the tag is never named.
TEST_F(IntegrityGatesTest, ADenialAfterThePullRemovesTheImage) {
  judge_.Set(kTag, Allow(kTag));
  integrity_.Set("BeforePull", kTag, {.review = true});
  integrity_.Set("AfterPull", kTag, {.inspected = true}, Reason::kProtectedPath);
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReview);
  EXPECT_EQ(Parse<cri::PullImageRequest>(pulled.request).image().image(), kPinned);
  EXPECT_TRUE(sink_.events().empty()) << "reported before the content was judged";
  cri::PullImageResponse response;
  response.set_image_ref("sha256:pulled");
  Outcome answered = Answer(kPullImage, pulled, response);
  ASSERT_EQ(answered.kind, Outcome::kReply);
  EXPECT_EQ(answered.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(answered.status.error_message(), StartsWith("SignatureValidationFailed: layerseal denied "));
  EXPECT_THAT(answered.status.error_message(), HasSubstr("PROTECTED_PATH: layer 2 (sha256:top) adds /bin/sh"));
  EXPECT_THAT(runtime_.removed(), ::testing::ElementsAre(kPinned));
  EXPECT_TRUE(recorder_.named().empty()) << "a denied image was named by its tag";
  EXPECT_THAT(integrity_.calls(), ::testing::ElementsAre("BeforePull " + kTag, "AfterPull " + kTag));
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].gate, "PullImage");
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kProtectedPath);
  EXPECT_FALSE(events[0].judgement.cached);
  EXPECT_FALSE(events[0].admitted);
}

TEST_F(IntegrityGatesTest, ADenialAfterAV1alpha2PullRemovesThroughV1alpha2) {
  judge_.Set(kTag, Allow(kTag));
  integrity_.Set("BeforePull", kTag, {.review = true});
  integrity_.Set("AfterPull", kTag, {}, Reason::kContentUnavailable);
  Outcome pulled = Call(kPullImageV1alpha2, PullRequest(kTag));
  Outcome answered = Answer(kPullImageV1alpha2, pulled, cri::PullImageResponse());
  ASSERT_EQ(answered.kind, Outcome::kReply);
  EXPECT_THAT(answered.status.error_message(), HasSubstr("CONTENT_UNAVAILABLE"));
  EXPECT_EQ(runtime_.calls(std::string(kRemoveImageV1alpha2)), 1);
  EXPECT_EQ(runtime_.calls(std::string(kRemoveImage)), 0);
}

// Admitted after the pull: the runtime's answer goes back as is, the tag is named after the
// content was judged, and the event carries the package inventory.
TEST_F(IntegrityGatesTest, AnAdmittedPullCarriesThePackagesAttachment) {
  judge_.Set(kTag, Allow(kTag));
  integrity_.Set("BeforePull", kTag, {.review = true});
  integrity_.Set("AfterPull", kTag,
                 {.inspected = true, .packages_attachment = R"({"format":"layerseal.packages/v1"})"});
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  cri::PullImageResponse response;
  response.set_image_ref("sha256:pulled");
  Outcome answered = Answer(kPullImage, pulled, response);
  ASSERT_EQ(answered.kind, Outcome::kReply);
  ASSERT_TRUE(answered.status.ok()) << answered.status.error_message();
  EXPECT_EQ(Parse<cri::PullImageResponse>(answered.response).image_ref(), "sha256:pulled");
  EXPECT_THAT(recorder_.named(), ::testing::ElementsAre(kTag + " -> " + kPinned));
  EXPECT_TRUE(runtime_.removed().empty());
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].admitted);
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kVerified);
  EXPECT_EQ(events[0].packages_attachment, R"({"format":"layerseal.packages/v1"})");
  EXPECT_EQ(events[0].image, kTag) << "the event names the image as the request did";
}

// A failed pull is the runtime's answer; the admitting decision is still reported once.
TEST_F(IntegrityGatesTest, AFailedReviewedPullIsTheRuntimesError) {
  judge_.Set(kTag, Allow(kTag));
  integrity_.Set("BeforePull", kTag, {.review = true});
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  Outcome answered = AnswerStatus(kPullImage, pulled,
                                  grpc::Status(grpc::StatusCode::NOT_FOUND, "runtime: no such"),
                                  grpc::ByteBuffer());
  ASSERT_EQ(answered.kind, Outcome::kReply);
  EXPECT_EQ(answered.status.error_message(), "runtime: no such");
  EXPECT_THAT(integrity_.calls(), ::testing::ElementsAre("BeforePull " + kTag));
  EXPECT_EQ(sink_.events().size(), 1u);
}

// BeforePull may pin a digest the judge did not have (a scope that accepts anything but
// has rules): the runtime pulls exactly that.
TEST_F(IntegrityGatesTest, BeforePullPinsTheDigestItJudged) {
  Judgement anything = Allow(kTag, Reason::kInsecureAcceptAnything);
  anything.verdict.manifest_digest.reset();
  judge_.Set(kTag, anything);
  IntegrityResult pinned{.review = true};
  integrity_.Set("BeforePull", kTag, pinned);
  // FakeIntegrity returns the admitted verdict: pin it through a wrapper.
  class Pinning final : public PulledImageCheck {
   public:
    explicit Pinning(PulledImageCheck* next) : next_(next) {}
    IntegrityResult BeforePull(const JudgeRequest& r, const Verdict& v) override {
      IntegrityResult out = next_->BeforePull(r, v);
      out.verdict.manifest_digest = kManifest;
      return out;
    }
    IntegrityResult AfterPull(const JudgeRequest& r, const Verdict& v) override {
      EXPECT_EQ(v.manifest_digest, kManifest);
      return next_->AfterPull(r, v);
    }
    std::optional<IntegrityResult> TryKnown(const JudgeRequest& r, const Verdict& v) override {
      return next_->TryKnown(r, v);
    }
    IntegrityResult Check(const JudgeRequest& r, const Verdict& v) override { return next_->Check(r, v); }

   private:
    PulledImageCheck* next_;
  } pinning(&integrity_);
  integrity_check_ = &pinning;
  MakeGates(V1alpha2Mode::kGate);
  Outcome pulled = Call(kPullImage, PullRequest(kTag));
  ASSERT_EQ(pulled.kind, Outcome::kReview);
  EXPECT_EQ(Parse<cri::PullImageRequest>(pulled.request).image().image(), kPinned);
  Outcome answered = Answer(kPullImage, pulled, cri::PullImageResponse());
  EXPECT_TRUE(answered.status.ok());
  EXPECT_TRUE(recorder_.named().empty()) << "only verified digests are named";
  gates_.reset();  // before `pinning` goes
}

// ImageStatus: a cached signature verdict with a known integrity result is answered at
// once; an unknown one goes to a worker (Check), and its denial hides the image.
TEST_F(IntegrityGatesTest, ImageStatusAppliesTheIntegrityResult) {
  const std::string good = kRepo + "@" + Digest::Sha256Of("good").str();
  const std::string bad = kRepo + "@" + Digest::Sha256Of("bad").str();
  judge_.SetCached(good, Allow(good));
  judge_.SetCached(bad, Allow(bad));
  judge_.Set(bad, Allow(bad));
  integrity_.Unknown(bad);
  integrity_.Set("Check", bad, {.inspected = true}, Reason::kProtectedPath);

  cri::ImageStatusResponse shown_image;
  *shown_image.mutable_image() = StoredImage("sha256:good", {good});
  Outcome asked = Call(kImageStatus, StatusRequest(good));
  bool at_once = false;
  Outcome shown = Answer(kImageStatus, asked, shown_image, &at_once);
  ASSERT_EQ(shown.kind, Outcome::kReply);
  EXPECT_TRUE(at_once) << "a known integrity result needed a worker";
  EXPECT_EQ(Parse<cri::ImageStatusResponse>(shown.response).image().id(), "sha256:good");

  cri::ImageStatusResponse bad_image;
  *bad_image.mutable_image() = StoredImage("sha256:bad", {bad});
  Outcome asked2 = Call(kImageStatus, StatusRequest(bad));
  Outcome hidden = Answer(kImageStatus, asked2, bad_image);
  ASSERT_EQ(hidden.kind, Outcome::kReply);
  EXPECT_FALSE(Parse<cri::ImageStatusResponse>(hidden.response).has_image());
  // Memory first (the proxy's thread), then Check (a worker: it may read content).
  EXPECT_THAT(integrity_.calls(), ::testing::ElementsAre("TryKnown " + good, "TryKnown " + bad,
                                                         "Check " + bad));
  std::vector<VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u) << "an inspection that ran is a decision to record";
  EXPECT_EQ(events[0].gate, "ImageStatus");
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kProtectedPath);
}

TEST_F(IntegrityGatesTest, CreateContainerIsRefusedForAnImageTheRulesDeny) {
  const std::string digest = kRepo + "@" + Digest::Sha256Of("held").str();
  runtime_.Hold(kTag, StoredImage("sha256:held", {digest}));
  judge_.Set(digest, Allow(digest));
  integrity_.Set("Check", digest, {}, Reason::kIntegrityMismatch);
  Outcome refused = Call(kCreateContainer, CreateRequest(kTag, "prod"));
  ASSERT_EQ(refused.kind, Outcome::kReply);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("INTEGRITY_MISMATCH"));

  integrity_.Set("Check", digest, {});  // the rules hold
  EXPECT_EQ(Call(kCreateContainer, CreateRequest(kTag, "prod")).kind, Outcome::kForward);
}

}  // namespace
}  // namespace layerseal::plugin
