#include "plugin/image_gates.h"

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "plugin/errors.h"
#include "plugin/message_bytes.h"
#include "plugin/internal/worker_pool.h"
#include "verifier/crypto.h"
#include "base/str_cat.h"

namespace layerseal::plugin {
namespace {

namespace cri = ::runtime::v1;

enum class Gate { kPullImage, kImageStatus, kCreateContainer };

// A gated method: which gate, and in which CRI version (v1alpha2 messages are read with the
// v1 types: image_gates.h).
struct GatedMethod {
  Gate gate;
  bool v1alpha2;
};

std::optional<GatedMethod> ParseGated(std::string_view method) {
  if (method == kPullImage) return GatedMethod{Gate::kPullImage, false};
  if (method == kImageStatus) return GatedMethod{Gate::kImageStatus, false};
  if (method == kCreateContainer) return GatedMethod{Gate::kCreateContainer, false};
  if (method == kPullImageV1alpha2) return GatedMethod{Gate::kPullImage, true};
  if (method == kImageStatusV1alpha2) return GatedMethod{Gate::kImageStatus, true};
  if (method == kCreateContainerV1alpha2) return GatedMethod{Gate::kCreateContainer, true};
  return std::nullopt;
}

bool IsV1alpha2(std::string_view method) { return method.substr(0, kV1alpha2Prefix.size()) == kV1alpha2Prefix; }

PodRef PodFrom(const cri::PodSandboxConfig& config) {
  const cri::PodSandboxMetadata& m = config.metadata();
  return PodRef{.ns = m.namespace_(), .name = m.name(), .uid = m.uid()};
}

// The kubelet's AuthConfig as registry credentials: username/password, or the docker
// "auth" form (base64 of user:password), or tokens. nullopt when it carries nothing.
std::optional<registry::Credentials> CredentialsFrom(const cri::AuthConfig& auth) {
  registry::Credentials c{.username = auth.username(),
                          .password = auth.password(),
                          .identity_token = auth.identity_token(),
                          .registry_token = auth.registry_token()};
  if (c.username.empty() && !auth.auth().empty()) {
    absl::StatusOr<std::string> decoded = Base64Decode(auth.auth());
    if (decoded.ok()) {
      size_t colon = decoded->find(':');
      if (colon != std::string::npos) {
        c.username = decoded->substr(0, colon);
        c.password = decoded->substr(colon + 1);
      }
    }
  }
  if (c.username.empty() && c.password.empty() && c.identity_token.empty() &&
      c.registry_token.empty()) {
    return std::nullopt;
  }
  return c;
}

// A verdict for an image the runtime holds but that cannot be judged by digest.
Judgement Unjudgeable(std::string_view image, std::string detail) {
  Judgement j;
  j.verdict.decision = Decision::kDeny;
  j.verdict.reason = Reason::kNotSigned;
  j.verdict.reference = std::string(image);
  j.verdict.detail = std::move(detail);
  return j;
}

// Tags the gates pulled by digest, so that ImageStatus(tag) finds the image the runtime
// stored under repository@digest. Bounded: the oldest tags are forgotten first (the kubelet
// then pulls once more, which is cheap: the verdict is cached).
class PinnedTags {
 public:
  void Remember(const std::string& tag_ref, const std::string& pinned) {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = pins_.insert_or_assign(tag_ref, pinned);
    if (inserted) order_.push_back(tag_ref);
    while (order_.size() > kMaxPinnedTags) {
      pins_.erase(order_.front());
      order_.pop_front();
    }
  }
  std::optional<std::string> Find(const std::string& tag_ref) {
    absl::MutexLock lock(&mu_);
    auto it = pins_.find(tag_ref);
    if (it == pins_.end()) return std::nullopt;
    return it->second;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> pins_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

class ImageGates::Impl {
 public:
  explicit Impl(ImageGatesOptions options)
      : options_(std::move(options)),
        pool_(options_.workers, kMaxQueuedGateCalls) {}

  bool Intercepts(std::string_view method) const {
    if (IsV1alpha2(method) && options_.v1alpha2 == V1alpha2Mode::kRefuse) return true;
    return ParseGated(method).has_value();
  }

  void Dispatch(InterceptedCall call) {
    absl::Time arrival = absl::Now();
    if (IsV1alpha2(call.method()) && options_.v1alpha2 == V1alpha2Mode::kRefuse) {
      return call.Fail(V1alpha2Refused(call.method()));
    }
    std::optional<GatedMethod> gated = ParseGated(call.method());
    if (!gated) return call.Forward();  // not asked for (Intercepts)
    // ImageStatus is the kubelet's most frequent gated call: it is decided on the proxy's
    // thread when the verdict is cached, without a worker or a call of the gates' own.
    if (gated->gate == Gate::kImageStatus) return ImageStatus(std::move(call), arrival);
    Submit(std::move(call), [this, arrival, gated = *gated](InterceptedCall c) {
      Run(std::move(c), gated, arrival);
    });
  }

 private:
  using Work = std::function<void(InterceptedCall)>;

  // Runs `work` on a worker; a full queue fails the call (Overloaded).
  void Submit(InterceptedCall call, Work work) {
    std::string method(call.method());
    auto holder = std::make_shared<InterceptedCall>(std::move(call));
    bool queued = pool_.Submit([holder, work = std::move(work)] { work(std::move(*holder)); });
    if (!queued) holder->Fail(Overloaded(method));
  }

  void Run(InterceptedCall call, GatedMethod gated, absl::Time arrival) {
    if (call.context().IsCancelled()) return call.Fail(CallerGone(call.method()));
    if (gated.gate == Gate::kPullImage) return PullImage(std::move(call), arrival);
    return CreateContainer(std::move(call), gated.v1alpha2, arrival);
  }

  void PullImage(InterceptedCall call, absl::Time arrival) {
    cri::PullImageRequest request;
    if (!ParseMessage(call.request(), &request)) {
      return call.Fail(MalformedRequest(call.method(), "not a PullImageRequest"));
    }
    const std::string image = request.image().image();  // a copy: the request is rewritten below
    absl::StatusOr<Reference> ref = Reference::Parse(image);
    if (!ref.ok()) {
      return call.Fail(MalformedRequest(call.method(), StrCat("image \"", image, "\": ",
                                                              ref.status().message())));
    }
    JudgeRequest judge_request{.reference = *ref,
                               .credentials = CredentialsFrom(request.auth()),
                               .pod = PodFrom(request.sandbox_config())};
    Judgement judgement = options_.judge->Judge(judge_request);
    // The image-integrity rules (pulled_image_check.h): what can be judged before the pull.
    bool review = false;
    std::string packages;
    if (ChecksIntegrity(judgement.verdict)) {
      IntegrityResult before = options_.integrity->BeforePull(judge_request, judgement.verdict);
      judgement.verdict = std::move(before.verdict);
      if (before.inspected) judgement.cached = false;
      review = before.review && judgement.verdict.admits();
      packages = std::move(before.packages_attachment);
    }
    const Verdict& v = judgement.verdict;
    // With a review the decision is reported once the content is judged (AfterPull).
    if (!review) Report("PullImage", image, judge_request.pod, judgement, v.admits(), arrival, packages);
    if (!v.admits()) return call.Fail(PullDenied(v));
    std::optional<Reference> pinned;
    if (v.manifest_digest) {
      // Pull exactly what was judged. The tag is dropped: the runtime names the image by
      // repository@digest; the tag is named after the pull (ReviewPull), and
      // ImageStatus(tag) is also answered through pins_.
      pinned = ref->WithDigest(*v.manifest_digest);
      if (!ref->digest) pins_.Remember(image, pinned->ToString());
      request.mutable_image()->set_image(pinned->ToString());
    }
    if (options_.after_pull_verdict) options_.after_pull_verdict(v);
    // Only a verified digest is ever named by the tag: not audit/warn admissions, not
    // onRegistryError: allow, not insecureAcceptAnything (pulled by the tag itself).
    bool name_tag = options_.recorder != nullptr && pinned && !ref->digest &&
                    v.decision == Decision::kAllow && v.reason == Reason::kVerified;
    // A review needs the digest the runtime pulls (BeforePull sets it when the judge did
    // not): without one there is nothing to judge or remove, so the pull is refused.
    if (review && !pinned) {
      Verdict unpinned = v;
      unpinned.decision = Decision::kDeny;
      unpinned.reason = Reason::kContentUnavailable;
      unpinned.detail = "the image-integrity rules need the image's digest, and none was resolved";
      judgement.verdict = unpinned;
      Report("PullImage", image, judge_request.pod, judgement, false, arrival);
      return call.Fail(PullDenied(unpinned));
    }
    if (!name_tag && !review) return call.Forward(SerializeMessage(request));
    auto pull = std::make_shared<PullInFlight>(PullInFlight{
        .request = judge_request,
        .image = image,
        .judgement = std::move(judgement),
        .tag = name_tag ? std::optional<Reference>(*ref) : std::nullopt,
        .pinned = *pinned,
        .review = review,
        .arrival = arrival});
    call.ForwardForReview(SerializeMessage(request),
                          [this, pull](InterceptedCall c, const grpc::Status& status,
                                       grpc::ByteBuffer answer) {
                            ReviewPull(std::move(c), pull, status, std::move(answer));
                          });
  }

  // A pull the gates review once the runtime has answered.
  struct PullInFlight {
    JudgeRequest request;
    std::string image;      // as the request named it
    Judgement judgement;    // the verdict that admitted the pull
    std::optional<Reference> tag;  // to name after the pull (ImageRecorder)
    Reference pinned;       // what the runtime pulled
    bool review = false;    // the image-integrity rules judge the content (AfterPull)
    absl::Time arrival;
  };

  bool ChecksIntegrity(const Verdict& v) const { return options_.integrity != nullptr && v.allowed(); }

  // On the proxy's thread: once the runtime has pulled, a worker judges the content
  // (AfterPull: a denial removes the image and fails the pull) and names the tag in the
  // runtime, then the runtime's answer goes back. Without a worker (queue full) the answer
  // goes back at once when only the naming is left; a pending review fails the call
  // (Overloaded): the image stays unjudged, and ImageStatus and CreateContainer judge it.
  void ReviewPull(InterceptedCall call, const std::shared_ptr<PullInFlight>& pull,
                  const grpc::Status& status, grpc::ByteBuffer answer) {
    if (!status.ok()) {
      if (pull->review) {
        Report("PullImage", pull->image, pull->request.pod, pull->judgement, true, pull->arrival);
      }
      return call.Fail(status);
    }
    std::string method(call.method());
    auto holder = std::make_shared<InterceptedCall>(std::move(call));
    auto reply = std::make_shared<grpc::ByteBuffer>(std::move(answer));
    bool queued = pool_.Submit([this, holder, reply, pull] {
      if (pull->review && !JudgePulledContent(*holder, *pull)) return;
      // Errors are the recorder's to log and count; pins_ still answers for the tag.
      if (pull->tag) options_.recorder->NameTag(*pull->tag, pull->pinned).IgnoreError();
      holder->Reply(std::move(*reply));
    });
    if (queued) return;
    if (pull->review) return holder->Fail(Overloaded(method));
    holder->Reply(std::move(*reply));
  }

  // On a worker: AfterPull over what the runtime just pulled; reports the decision. A
  // denial removes the image through the runtime and fails the call (false).
  bool JudgePulledContent(InterceptedCall& call, PullInFlight& pull) {
    IntegrityResult after = options_.integrity->AfterPull(pull.request, pull.judgement.verdict);
    pull.judgement.verdict = std::move(after.verdict);
    if (after.inspected) pull.judgement.cached = false;
    bool admitted = pull.judgement.verdict.admits();
    Report("PullImage", pull.image, pull.request.pod, pull.judgement, admitted, pull.arrival,
           after.packages_attachment);
    if (admitted) return true;
    // The runtime's own error is of no use to the kubelet here: the pull is denied either
    // way, and the remembered denial hides the image and refuses its containers.
    RemoveFromRuntime(call, pull.pinned).IgnoreError();
    call.Fail(PullDenied(pull.judgement.verdict));
    return false;
  }

  // RemoveImage(`image`) in the caller's CRI version.
  grpc::Status RemoveFromRuntime(const InterceptedCall& call, const Reference& image) {
    cri::RemoveImageRequest request;
    request.mutable_image()->set_image(image.ToString());
    cri::RemoveImageResponse response;
    grpc::ClientContext context;
    call.PrepareUpstreamContext(&context);
    const grpc::internal::RpcMethod& method =
        IsV1alpha2(call.method()) ? remove_image_v1alpha2_ : remove_image_v1_;
    return grpc::internal::BlockingUnaryCall<cri::RemoveImageRequest, cri::RemoveImageResponse,
                                             grpc::protobuf::MessageLite,
                                             grpc::protobuf::MessageLite>(
        options_.upstream.get(), method, &context, request, &response);
  }

  // On the proxy's thread: forwards the question (for repository@digest if the gates pulled
  // the tag by digest) and reviews the runtime's answer.
  void ImageStatus(InterceptedCall call, absl::Time arrival) {
    auto request = std::make_shared<cri::ImageStatusRequest>();
    if (!ParseMessage(call.request(), request.get())) {
      return call.Fail(MalformedRequest(call.method(), "not an ImageStatusRequest"));
    }
    grpc::ByteBuffer question = call.request();  // as sent, unless pinned
    std::optional<std::string> pinned = pins_.Find(request->image().image());
    if (pinned) {
      cri::ImageStatusRequest rewritten = *request;
      rewritten.mutable_image()->set_image(*pinned);
      question = SerializeMessage(rewritten);
    }
    call.ForwardForReview(
        std::move(question),
        [this, request, asked_pinned = pinned.has_value(), arrival](
            InterceptedCall c, const grpc::Status& status, grpc::ByteBuffer answer) {
          ReviewImageStatus(std::move(c), request, asked_pinned, status, std::move(answer),
                            arrival);
        });
  }

  // On the proxy's thread: the runtime's answer goes back as is when a cached verdict admits
  // the image; anything that needs a verification or another question goes to a worker.
  void ReviewImageStatus(InterceptedCall call,
                         const std::shared_ptr<const cri::ImageStatusRequest>& request,
                         bool asked_pinned, const grpc::Status& status, grpc::ByteBuffer answer,
                         absl::Time arrival) {
    if (!status.ok()) return call.Fail(status);  // the runtime's own error, untouched
    auto response = std::make_shared<cri::ImageStatusResponse>();
    if (!ParseMessage(answer, response.get())) {
      return call.Fail(MalformedResponse(call.method(), "not an ImageStatusResponse"));
    }
    if (!response->has_image()) {
      if (!asked_pinned) return call.Reply(std::move(answer));
      // The image pulled by digest is gone: ask for the tag itself (a blocking call).
      return Submit(std::move(call), [this, request, arrival](InterceptedCall c) {
        AskForTag(std::move(c), *request, arrival);
      });
    }
    if (std::optional<bool> admitted = CachedAdmission(response->image())) {
      return call.Reply(*admitted ? std::move(answer)
                                  : SerializeMessage(cri::ImageStatusResponse()));
    }
    Submit(std::move(call), [this, request, response, arrival](InterceptedCall c) {
      AnswerImageStatus(std::move(c), request->image().image(), *response, arrival);
    });
  }

  // On a worker: the runtime's ImageStatus for the tag itself.
  void AskForTag(InterceptedCall call, const cri::ImageStatusRequest& request,
                 absl::Time arrival) {
    cri::ImageStatusResponse response;
    grpc::Status status = AskRuntime(call, request, &response, IsV1alpha2(call.method()));
    if (!status.ok()) return call.Fail(status);
    AnswerImageStatus(std::move(call), request.image().image(), response, arrival);
  }

  // On a worker: judges the image the runtime holds and answers. An image without an
  // admitting verdict is reported absent: the kubelet then pulls it, and the pull is judged.
  void AnswerImageStatus(InterceptedCall call, const std::string& asked,
                         const cri::ImageStatusResponse& response, absl::Time arrival) {
    if (!response.has_image()) return call.Reply(SerializeMessage(response));
    StoredJudgement stored = JudgeStoredImage(response.image(), PodRef{}, asked, /*pod_less=*/true);
    // Recorded when a verification ran and the outcome holds for every pod: an image only
    // some namespace policy might admit is reported absent (the kubelet pulls it under its
    // pod's policy, and that pull is recorded) but is no denial.
    if (!stored.judgement.cached && (stored.admitted || stored.judgement.conclusive)) {
      Report("ImageStatus", asked, PodRef{}, stored.judgement, stored.admitted, arrival,
             stored.packages_attachment);
    }
    call.Reply(SerializeMessage(stored.admitted ? response : cri::ImageStatusResponse()));
  }

  // JudgeStoredImage without a pod from cached verdicts alone: nullopt when a repository
  // digest (in JudgeStoredImage's order) has none, or there is none to judge.
  std::optional<bool> CachedAdmission(const cri::Image& image) {
    bool denied = false;
    for (const std::string& repo_digest : image.repo_digests()) {
      absl::StatusOr<Reference> ref = Reference::Parse(repo_digest);
      if (!ref.ok() || !ref->digest) continue;
      JudgeRequest question{.reference = *ref, .any_policy = true};
      std::optional<Judgement> j = options_.judge->TryCached(question);
      if (!j) return std::nullopt;
      if (j->verdict.admits() && ChecksIntegrity(j->verdict)) {
        // The integrity result from memory only; reading content is a worker's job.
        std::optional<IntegrityResult> known = options_.integrity->TryKnown(question, j->verdict);
        if (!known) return std::nullopt;
        j->verdict = std::move(known->verdict);
      }
      if (j->verdict.admits()) return true;
      denied = true;
    }
    if (!denied) return std::nullopt;  // unjudgeable: the worker reports it
    return false;
  }

  void CreateContainer(InterceptedCall call, bool v1alpha2, absl::Time arrival) {
    cri::CreateContainerRequest request;
    if (!ParseMessage(call.request(), &request)) {
      return call.Fail(MalformedRequest(call.method(), "not a CreateContainerRequest"));
    }
    const std::string& image = request.config().image().image();
    cri::ImageStatusRequest status_request;
    *status_request.mutable_image() = request.config().image();
    cri::ImageStatusResponse response;
    grpc::Status status = AskRuntime(call, status_request, &response, v1alpha2);
    if (!status.ok()) return call.Fail(status);
    // An image the runtime does not have cannot run; let the runtime say so.
    if (!response.has_image()) return call.Forward();
    PodRef pod = PodFrom(request.sandbox_config());
    StoredJudgement stored = JudgeStoredImage(response.image(), pod, image, /*pod_less=*/false);
    Report("CreateContainer", image, pod, stored.judgement, stored.admitted, arrival,
           stored.packages_attachment);
    if (!stored.admitted) return call.Fail(CreateDenied(image, stored.judgement.verdict));
    call.Forward();
  }

  // The runtime's ImageStatus, asked in the CRI version the caller speaks (a runtime that
  // serves only one of them answers it).
  grpc::Status AskRuntime(const InterceptedCall& call, const cri::ImageStatusRequest& request,
                          cri::ImageStatusResponse* response, bool v1alpha2) {
    grpc::ClientContext context;
    call.PrepareUpstreamContext(&context);
    const grpc::internal::RpcMethod& method = v1alpha2 ? image_status_v1alpha2_ : image_status_v1_;
    return grpc::internal::BlockingUnaryCall<cri::ImageStatusRequest, cri::ImageStatusResponse,
                                             grpc::protobuf::MessageLite,
                                             grpc::protobuf::MessageLite>(
        options_.upstream.get(), method, &context, request, response);
  }

  struct StoredJudgement {
    bool admitted = false;
    Judgement judgement;
    std::string packages_attachment;  // from an inspection that ran now
  };

  // An image the runtime holds is admitted when one of its repository digests is (its
  // signature verdict, then the image-integrity rules on what the runtime holds): the
  // runtime's content is addressed by digest, so a verdict for repository@digest is a
  // verdict for these bytes. Returns the admitting judgement, else the first denial.
  StoredJudgement JudgeStoredImage(const cri::Image& image, const PodRef& pod,
                                   std::string_view asked, bool pod_less) {
    std::optional<StoredJudgement> first_denial;
    for (const std::string& repo_digest : image.repo_digests()) {
      absl::StatusOr<Reference> ref = Reference::Parse(repo_digest);
      if (!ref.ok() || !ref->digest) continue;
      // Without a pod (ImageStatus): admitted under any policy in force.
      JudgeRequest question{.reference = *ref, .pod = pod, .any_policy = pod_less};
      StoredJudgement j{.judgement = options_.judge->Judge(question)};
      if (ChecksIntegrity(j.judgement.verdict)) {
        IntegrityResult checked = options_.integrity->Check(question, j.judgement.verdict);
        j.judgement.verdict = std::move(checked.verdict);
        if (checked.inspected) j.judgement.cached = false;
        j.packages_attachment = std::move(checked.packages_attachment);
      }
      j.admitted = j.judgement.verdict.admits();
      if (j.admitted) return j;
      if (!first_denial) first_denial = std::move(j);
    }
    if (first_denial) return *std::move(first_denial);
    return {.judgement = Unjudgeable(asked, StrCat("the runtime has no repository digest for image ",
                                                   image.id(), " (imported, not pulled), so its seals "
                                                   "cannot be checked; pull it from a registry"))};
  }

  void Report(std::string_view gate, std::string_view image, const PodRef& pod,
              const Judgement& judgement, bool admitted, absl::Time arrival,
              std::string packages_attachment = "") {
    if (options_.events == nullptr) return;
    absl::Time now = absl::Now();
    options_.events->Report(VerdictEvent{.gate = std::string(gate),
                                         .image = std::string(image),
                                         .pod = pod,
                                         .judgement = judgement,
                                         .admitted = admitted,
                                         .gate_time = now - arrival,
                                         .time = now,
                                         .packages_attachment = std::move(packages_attachment)});
  }

  const ImageGatesOptions options_;
  const grpc::internal::RpcMethod image_status_v1_{kImageStatus.data(),
                                                   grpc::internal::RpcMethod::NORMAL_RPC};
  const grpc::internal::RpcMethod image_status_v1alpha2_{kImageStatusV1alpha2.data(),
                                                         grpc::internal::RpcMethod::NORMAL_RPC};
  const grpc::internal::RpcMethod remove_image_v1_{kRemoveImage.data(),
                                                   grpc::internal::RpcMethod::NORMAL_RPC};
  const grpc::internal::RpcMethod remove_image_v1alpha2_{kRemoveImageV1alpha2.data(),
                                                         grpc::internal::RpcMethod::NORMAL_RPC};
  PinnedTags pins_;
  internal::WorkerPool pool_;  // last: its destructor drains work that uses the members above
};

ImageGates::ImageGates(ImageGatesOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
ImageGates::~ImageGates() = default;

bool ImageGates::Intercepts(std::string_view method) const { return impl_->Intercepts(method); }

void ImageGates::OnRequest(InterceptedCall call) { impl_->Dispatch(std::move(call)); }

}  // namespace layerseal::plugin
