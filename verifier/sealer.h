// The signer's pure half: from a base manifest and config, the signed image of spec
// section 2. Pushing is the caller's job (cli/sign).
#ifndef LAYERSEAL_VERIFIER_SEALER_H_
#define LAYERSEAL_VERIFIER_SEALER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"

namespace layerseal {

struct Blob {
  std::string bytes;
  Digest digest;
};

struct SealedImage {
  std::string media_type;  // same as the base manifest's
  std::string manifest;    // Ms
  Blob config;             // Cs
  Blob manifest_seal;      // M, gzip
  Blob signature_seal;     // S, gzip
};

// Refuses (FailedPrecondition) a base whose layers already carry seal annotations, and
// (InvalidArgument) anything but a single-platform image manifest.
absl::StatusOr<SealedImage> SealImage(std::string_view base_manifest,
                                      std::string_view base_media_type,
                                      std::string_view base_config, const PrivateKey& key,
                                      Algorithm algorithm);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_SEALER_H_
