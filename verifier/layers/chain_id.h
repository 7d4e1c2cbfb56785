// ChainIDs over an image's layer diff_ids (OCI image spec, config.md "Layer ChainID"):
//   ChainID(L0) = DiffID(L0)
//   ChainID(L0|...|Ln) = SHA256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))
// over the digests' "algorithm:hex" text, the result always "sha256:<hex>". containerd's
// snapshot keys are these ChainIDs. A `trustedBases` entry is a ChainID: an image is built on
// that base when some prefix of its diff_ids has it as ChainID.
// Thread-safety: pure functions. Ownership: results are values.
#ifndef LAYERSEAL_VERIFIER_LAYERS_CHAIN_ID_H_
#define LAYERSEAL_VERIFIER_LAYERS_CHAIN_ID_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/digest.h"

namespace layerseal::layers {

// The ChainID of the whole list. InvalidArgument when it is empty or holds an empty digest
// (naming its index).
absl::StatusOr<Digest> ChainId(const std::vector<Digest>& diff_ids);

// Every prefix's ChainID: result[i] = ChainID(diff_ids[0..i]), so result.back() is the
// image's. Same errors as ChainId.
absl::StatusOr<std::vector<Digest>> ChainIds(const std::vector<Digest>& diff_ids);

// When `diff_ids` starts with the base whose ChainID is `base`: the index k of the base's
// top layer (the base is diff_ids[0..k]). nullopt when no prefix has that ChainID, or the
// list is invalid for ChainIds.
std::optional<size_t> MatchBase(const std::vector<Digest>& diff_ids, const Digest& base);

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_CHAIN_ID_H_
