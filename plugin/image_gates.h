// The gates: the CallInterceptor that makes the CRI proxy let only admitted images onto the
// node and into containers.
//
// - PullImage: the image is judged under the pod's policy (the request's credentials, the
//   sandbox config's namespace). A denial is answered with PullDenied (errors.h) and the
//   runtime never sees the call. An admitted image is pulled by the exact digest that was
//   judged (the request is rewritten to repository@digest), so a tag moved after the verdict
//   cannot bring an unjudged image; the runtime's response goes back as is. After a
//   VERIFIED ALLOW of a tag and the runtime's successful pull, the ImageRecorder (if any)
//   names the pulled image by the tag in the runtime before the response goes back, so the
//   runtime itself answers for the tag from then on (also after an agent restart).
//   The image-integrity rules (PulledImageCheck, pulled_image_check.h) judge an admitted
//   image before the pull (from its config) and, when they need the layers, after the
//   runtime's pull and before its answer goes back: a denial then removes the image through
//   the runtime's RemoveImage and answers PullDenied. The PullImage event is reported once
//   the content is judged, with the package inventory when the scope asks for one.
// - ImageStatus: forwarded for review (InterceptedCall::ForwardForReview); the runtime's
//   answer reports an image as absent unless one of its repository digests is admitted under
//   some policy in force (JudgeRequest::any_policy: the node policy, or a namespace policy
//   that admitted it), so the kubelet pulls (and the pull is judged) instead of using an
//   image that arrived some other way. The pod's own policy is the CreateContainer gate's.
//   A denial is recorded only when it holds for every policy (Judgement::conclusive). A tag that was pulled by digest here is asked for under that
//   digest (and, if the runtime no longer has it, under the tag itself).
// - CreateContainer: the container's image (as the runtime knows it) must be admitted under
//   the policy of the pod at hand, whoever pulled it; otherwise CreateDenied.
// - ImageStatus and CreateContainer: an image admitted by signature is admitted only if the
//   image-integrity rules of the admitting scope hold for what the runtime holds
//   (PulledImageCheck::TryKnown on the proxy's thread, Check on a worker).
// - runtime.v1alpha2 (served by containerd 1.6; kubelets before 1.26 fall back to it): the
//   same three methods are gated by the same code (V1alpha2Mode::kGate), or every v1alpha2
//   call is refused (kRefuse). Its messages carry every field the gates read at the v1
//   numbers (cri-api v1alpha2/api.proto; proto/k8s/cri/runtime/v1/api.proto says which), so
//   they are read with the v1 types, and a gate's own question to the runtime goes out in
//   the caller's version. No other method of either version brings an image or starts a
//   container from one that CreateContainer did not see (docs/threat-model.md 15.3).
// Verdicts come from the ImageJudge (cached there); every decision that ran a verification,
// and every PullImage and CreateContainer decision, is reported to the EventSink.
//
// Thread-safety: OnRequest may be called concurrently. Judging runs on the gates' own worker
// threads; an ImageStatus whose verdicts are all cached is answered on the proxy's thread
// (ImageJudge::TryCached), without a worker hop or a call of the gates' own. Ownership: borrows the judge and the sink, which must outlive the gates.
#ifndef LAYERSEAL_PLUGIN_IMAGE_GATES_H_
#define LAYERSEAL_PLUGIN_IMAGE_GATES_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "plugin/call_interceptor.h"
#include "plugin/image_judge.h"
#include "plugin/image_recorder.h"
#include "plugin/pulled_image_check.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace layerseal::plugin {

inline constexpr std::string_view kPullImage = "/runtime.v1.ImageService/PullImage";
inline constexpr std::string_view kImageStatus = "/runtime.v1.ImageService/ImageStatus";
inline constexpr std::string_view kCreateContainer = "/runtime.v1.RuntimeService/CreateContainer";
inline constexpr std::string_view kPullImageV1alpha2 = "/runtime.v1alpha2.ImageService/PullImage";
inline constexpr std::string_view kImageStatusV1alpha2 = "/runtime.v1alpha2.ImageService/ImageStatus";
inline constexpr std::string_view kCreateContainerV1alpha2 =
    "/runtime.v1alpha2.RuntimeService/CreateContainer";
// Not gated: the gates call it to remove an image the image-integrity rules deny after the
// pull (pulled_image_check.h).
inline constexpr std::string_view kRemoveImage = "/runtime.v1.ImageService/RemoveImage";
inline constexpr std::string_view kRemoveImageV1alpha2 = "/runtime.v1alpha2.ImageService/RemoveImage";
// Every method of the old API starts so.
inline constexpr std::string_view kV1alpha2Prefix = "/runtime.v1alpha2.";

// What the gates do with runtime.v1alpha2 calls.
enum class V1alpha2Mode {
  kGate,    // gate them exactly as v1 (the default)
  kRefuse,  // answer every v1alpha2 call UNIMPLEMENTED (V1alpha2Refused, errors.h)
};

// Threads that run judgements (each may block on a registry) and calls waiting for one.
inline constexpr int kDefaultGateWorkers = 16;
inline constexpr size_t kMaxQueuedGateCalls = 4096;
// Tags remembered as pulled by digest (for ImageStatus); the oldest are forgotten first.
inline constexpr size_t kMaxPinnedTags = 16384;

struct ImageGatesOptions {
  ImageJudge* judge = nullptr;    // required
  EventSink* events = nullptr;    // optional
  std::shared_ptr<grpc::Channel> upstream;  // the runtime (CreateUpstreamChannel), required
  ImageRecorder* recorder = nullptr;        // optional; borrowed, must outlive the gates
  // The image-integrity rules (issue 18); optional (none: the signature verdict is the
  // verdict); borrowed, must outlive the gates.
  PulledImageCheck* integrity = nullptr;
  int workers = kDefaultGateWorkers;
  V1alpha2Mode v1alpha2 = V1alpha2Mode::kGate;
  // Test seam: runs after a PullImage verdict that admits, before the pull is forwarded.
  std::function<void(const Verdict&)> after_pull_verdict;
};

class ImageGates final : public CallInterceptor {
 public:
  explicit ImageGates(ImageGatesOptions options);
  ~ImageGates() override;  // waits for calls being judged

  bool Intercepts(std::string_view method) const override;
  void OnRequest(InterceptedCall call) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_IMAGE_GATES_H_
