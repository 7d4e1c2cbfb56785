// verifier/notation/x509.h: implementation (issue 20).
#include "verifier/notation/x509.h"

#include "absl/status/status.h"
#include "verifier/digest.h"

namespace layerseal::notation {

std::string Thumbprint(std::string_view der) { return HexEncode(Sha256(der)); }

absl::StatusOr<Algorithm> AlgorithmOf(std::string_view) {
  return absl::UnimplementedError("notation x509: AlgorithmOf not yet implemented");
}
absl::Status VerifyEnvelopeSignature(const Envelope&) {
  return absl::UnimplementedError("notation x509: VerifyEnvelopeSignature not yet implemented");
}
absl::Status CheckCertificateRules(const std::vector<std::string>&, ChainPurpose) {
  return absl::UnimplementedError("notation x509: CheckCertificateRules not yet implemented");
}
absl::StatusOr<ChainResult> VerifyChain(const std::vector<std::string>&,
                                        const std::vector<std::shared_ptr<const TrustStore>>&,
                                        StoreType, ChainPurpose) {
  return absl::UnimplementedError("notation x509: VerifyChain not yet implemented");
}
RevocationResult CheckRevocation(const ChainResult&, const TrustStore&, absl::Time) {
  return RevocationResult{RevocationStatus::kUnknown, "notation x509: not yet implemented"};
}

}  // namespace layerseal::notation
