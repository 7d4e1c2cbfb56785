// The narrow seam through which the verifier reads a registry. registry::RegistryClient
// implements it; unit tests fake it. The verifier never opens a socket itself.
//
// Status conventions an implementation must follow (the verifier maps them to reasons):
//   ResourceExhausted  a size limit was exceeded                -> LIMIT_EXCEEDED
//   DataLoss           bytes did not match their digest or size -> step-specific reason
//   anything else      transport, HTTP, auth, not found         -> REGISTRY_ERROR
#ifndef LAYERSEAL_VERIFIER_IMAGE_SOURCE_H_
#define LAYERSEAL_VERIFIER_IMAGE_SOURCE_H_

#include <string>

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
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_IMAGE_SOURCE_H_
