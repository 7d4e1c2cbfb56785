// The one rule both signer and verifier apply to a config (spec section 2): Cs is Cb with
// two diff_ids (and, when Cb has history, two history entries) appended. Private to verifier/.
#ifndef LAYERSEAL_VERIFIER_INTERNAL_CONFIG_BINDING_H_
#define LAYERSEAL_VERIFIER_INTERNAL_CONFIG_BINDING_H_

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "verifier/digest.h"

namespace layerseal::internal {

// InvalidArgument when `base` is not an object with rootfs.diff_ids as an array of strings,
// or history is present but not an array.
absl::StatusOr<nlohmann::json> SealConfig(nlohmann::json base, const Digest& manifest_tar,
                                          const Digest& signature_tar);

}  // namespace layerseal::internal

#endif  // LAYERSEAL_VERIFIER_INTERNAL_CONFIG_BINDING_H_
