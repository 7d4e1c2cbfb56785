#include "verifier/sigstore/bundle.h"

namespace layerseal::sigstore {

std::optional<BundleVersion> BundleVersionOf(std::string_view) { return std::nullopt; }
absl::StatusOr<Bundle> ParseBundle(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }

}  // namespace layerseal::sigstore
