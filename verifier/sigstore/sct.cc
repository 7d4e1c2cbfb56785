#include "verifier/sigstore/sct.h"

namespace layerseal::sigstore {

absl::StatusOr<std::vector<Sct>> ParseSctList(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
absl::StatusOr<std::string> PrecertSignedData(X509*, X509*, const Sct&) { return absl::UnimplementedError("not built yet (issue 17)"); }
absl::Status VerifyEmbeddedScts(X509*, X509*, const TrustedRoot&, int) { return absl::UnimplementedError("not built yet (issue 17)"); }

}  // namespace layerseal::sigstore
