// The seam through which the gates apply a scope's image-integrity rules (issue 18,
// verifier/image_integrity.h: trusted bases, protected paths, package inventory) and the
// integrity scrub's corruption marks to the images they admit. The gates know nothing of
// policies, containerd's content store or registries: node-agent/pull_check.h implements
// it (IntegrityState, containerd's content through a lease, the registry for the config);
// unit tests fake it.
//
// The gates call it only for an image whose signature verdict ALLOWs (a denial, also one a
// warn/audit scope lets through, stays what it is), in this order:
//   - PullImage, on a worker, before the pull: BeforePull. What can be judged without the
//     layers: a result remembered for this image under the scope's current rules, a scrub
//     corruption mark, the trusted-base rule over the config read from the registry. A
//     result whose verdict does not admit is answered PullDenied and the runtime never sees
//     the call. `review` asks the gates to call AfterPull once the runtime has pulled.
//   - PullImage, on a worker, after the runtime's successful pull and before its answer
//     goes back: AfterPull judges what the runtime now holds (protected paths, packages). A
//     verdict that does not admit makes the gates remove the image through the runtime's
//     RemoveImage and answer PullDenied, so the image never becomes usable.
//   - ImageStatus / CreateContainer of an image the runtime holds: TryKnown on the proxy's
//     thread (memory only: nullopt sends the call to a worker), Check on a worker (may read
//     the runtime's content).
// Every method returns the verdict that stands: `admitted` unchanged, or the integrity DENY
// that replaces it (same reference, scope, policy and mode; reason UNTRUSTED_BASE,
// PROTECTED_PATH, INTEGRITY_MISMATCH or CONTENT_UNAVAILABLE). It never fails open: what it
// cannot establish is a DENY.
//
// Thread-safety: every method may be called concurrently; TryKnown never blocks beyond a
// mutex. Ownership: the gates borrow the implementation, which must outlive them.
#ifndef LAYERSEAL_PLUGIN_PULLED_IMAGE_CHECK_H_
#define LAYERSEAL_PLUGIN_PULLED_IMAGE_CHECK_H_

#include <optional>
#include <string>

#include "plugin/image_judge.h"
#include "verifier/verdict.h"

namespace layerseal::plugin {

struct IntegrityResult {
  Verdict verdict;  // the verdict that stands (see above)
  // BeforePull: the content must be judged after the pull (AfterPull).
  bool review = false;
  // A rule was judged now (a registry or content read ran), not answered from memory: the
  // gates report the decision as one that ran a verification (ImageStatus records it).
  bool inspected = false;
  // The layerseal.packages/v1 attachment when the scope asks for a package inventory and
  // an inspection built it now; "" otherwise. The gates put it on the decision's event.
  std::string packages_attachment;
};

class PulledImageCheck {
 public:
  virtual ~PulledImageCheck() = default;
  // `request` is the judged request (PullImage: as the kubelet sent it; ImageStatus and
  // CreateContainer: repository@digest from the runtime's repo_digests, with the pod or
  // any_policy as the judge was asked); `admitted` the judge's ALLOW for it. BeforePull may
  // set verdict.manifest_digest when `admitted` has none (a scope that accepts anything
  // but has rules): the gates then pull exactly that digest.
  virtual IntegrityResult BeforePull(const JudgeRequest& request, const Verdict& admitted) = 0;
  // `admitted` is BeforePull's verdict (it has manifest_digest: the image just pulled).
  virtual IntegrityResult AfterPull(const JudgeRequest& request, const Verdict& admitted) = 0;
  virtual std::optional<IntegrityResult> TryKnown(const JudgeRequest& request,
                                                  const Verdict& admitted) = 0;
  virtual IntegrityResult Check(const JudgeRequest& request, const Verdict& admitted) = 0;
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_PULLED_IMAGE_CHECK_H_
