#include "verifier/sigstore/signature.h"

namespace layerseal::sigstore {

const EVP_MD* DefaultDigest(EVP_PKEY*) { return nullptr; }
absl::Status VerifyMessage(EVP_PKEY*, std::string_view, std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
absl::Status VerifyPrehashed(EVP_PKEY*, const EVP_MD*, std::string_view, std::string_view) {
  return absl::UnimplementedError("not built yet (issue 17)");
}
absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFromSpkiDer(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
std::string SpkiDer(EVP_PKEY*) { return ""; }

}  // namespace layerseal::sigstore
