#include "verifier/sigstore/entity.h"

namespace layerseal::sigstore {

SignedEntity FromBundle(Bundle) { return {}; }
absl::StatusOr<SignedEntity> FromLegacySig(std::string, const std::map<std::string, std::string>&) {
  return absl::UnimplementedError("not built yet (issue 17)");
}

}  // namespace layerseal::sigstore
