#include "verifier/sigstore/rfc3161.h"

namespace layerseal::sigstore {

absl::StatusOr<VerifiedTime> VerifyTimestamp(std::string_view, std::string_view,
                                             const TrustedRoot&) {
  return absl::UnimplementedError("not built yet (issue 17)");
}

}  // namespace layerseal::sigstore
