// The narrow seam through which the verifier reads a registry. registry::RegistryClient
// implements it; unit tests fake it. The verifier never opens a socket itself.
//
// Status conventions an implementation must follow (the verifier maps them to reasons):
//   ResourceExhausted  a size limit was exceeded                -> LIMIT_EXCEEDED
//   DataLoss           bytes did not match their digest or size -> step-specific reason
//   anything else      transport, HTTP, auth, not found         -> REGISTRY_ERROR
// except where the verifier looks for something that may be absent (cosign signatures,
// issue 17): there NotFound from FetchManifest of a tag means "no such tag" (no signature
// there), and Unimplemented from FetchReferrers means "this registry has no referrers API".
#ifndef LAYERSEAL_VERIFIER_IMAGE_SOURCE_H_
#define LAYERSEAL_VERIFIER_IMAGE_SOURCE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal {

struct FetchedManifest {
  std::string bytes;
  std::string content_type;  // as the registry sent it
  Digest digest;             // SHA-256 of bytes
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  // The manifest `ref` names (its digest if it has one, else its tag), at most `max_bytes`.
  // When `ref` has a digest, the bytes must hash to it (DataLoss otherwise).
  virtual absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref,
                                                        size_t max_bytes) = 0;
  // The blob `digest` of `repo`'s repository, at most `max_bytes`, checked against `digest`.
  virtual absl::StatusOr<std::string> FetchBlob(const Reference& repo, const Digest& digest,
                                                size_t max_bytes) = 0;
  // The OCI 1.1 referrers of `subject` in `repo`'s repository (GET /v2/<name>/referrers/
  // <digest>), as one image index whose `manifests` hold only descriptors whose artifactType
  // is `artifact_type` (empty: every referrer). Each page of the answer is at most
  // `max_bytes`; the pages are merged. Errors: Unimplemented when the registry has no
  // referrers API (it answers 404); otherwise the conventions above. The default
  // implementation has no referrers API.
  virtual absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo,
                                                         const Digest& subject,
                                                         std::string_view artifact_type,
                                                         size_t max_bytes) {
    (void)repo, (void)subject, (void)artifact_type, (void)max_bytes;
    return absl::UnimplementedError("this image source has no referrers API");
  }
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_IMAGE_SOURCE_H_
