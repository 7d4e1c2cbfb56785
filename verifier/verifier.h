// The verifier: spec section 4, one method that returns a judgement.
// Thread-safety: Verify() may be called concurrently if the ImageSource allows it.
// Ownership: borrows `source` and `policy`; both must outlive the Verifier.
#ifndef LAYERSEAL_VERIFIER_VERIFIER_H_
#define LAYERSEAL_VERIFIER_VERIFIER_H_

#include "verifier/image_source.h"
#include "verifier/manifest.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal {

class Verifier {
 public:
  Verifier(ImageSource* source, const Policy* policy, Platform platform)
      : source_(source), policy_(policy), platform_(std::move(platform)) {}

  // Never fails: every error becomes a DENY verdict with a reason (fail closed), unless the
  // scope allows registry errors.
  Verdict Verify(const Reference& ref) const;

 private:
  ImageSource* source_;
  const Policy* policy_;
  Platform platform_;
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_VERIFIER_H_
