#include "verifier/sigstore/identity.h"

namespace layerseal::sigstore {

absl::StatusOr<IdentityPattern> MakeIdentityPattern(std::string, std::optional<std::string>,
                                                    std::optional<std::string>,
                                                    std::optional<std::string>,
                                                    std::optional<std::string>) {
  return absl::UnimplementedError("not built yet (issue 17)");
}
bool MatchIdentity(const CertIdentity&, const IdentityPattern&) { return false; }

}  // namespace layerseal::sigstore
