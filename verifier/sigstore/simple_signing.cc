#include "verifier/sigstore/simple_signing.h"

namespace layerseal::sigstore {

absl::StatusOr<SimpleSigning> ParseSimpleSigning(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
absl::StatusOr<LegacySet> ParseCosignBundleAnnotation(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }

}  // namespace layerseal::sigstore
