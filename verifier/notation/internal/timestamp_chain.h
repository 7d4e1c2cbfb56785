// Private to verifier/notation (verify.cc): VerifyTimestampToken's whole result, including the
// TSA chain as x509.h verified it, which verify.h's revocation step checks against the
// anchoring tsa store's CRLs. Thread-safety: pure function, as timestamp.h.
#ifndef LAYERSEAL_VERIFIER_NOTATION_INTERNAL_TIMESTAMP_CHAIN_H_
#define LAYERSEAL_VERIFIER_NOTATION_INTERNAL_TIMESTAMP_CHAIN_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/notation/timestamp.h"
#include "verifier/notation/trust.h"
#include "verifier/notation/x509.h"

namespace layerseal::notation::internal {

struct TimestampVerification {
  TimestampInfo info;
  VerifiedTimestamp verified;
  ChainResult tsa_chain;  // leaf (the TSA signing certificate) first, ending in the anchor
};

// One certificate's validity period, for messages naming which certificate a time falls
// outside of.
struct CertificateWindow {
  std::string subject;  // SubjectText
  absl::Time not_before;
  absl::Time not_after;
};
// The windows of `chain_der`, in order; InvalidArgument naming the certificate (by position)
// that does not parse or whose times do not.
absl::StatusOr<std::vector<CertificateWindow>> CertificateWindows(
    const std::vector<std::string>& chain_der);
// "" when `t` lies within every window (bounds included); else why not, naming the first
// certificate it falls outside of ("certificate \"<subject>\" is valid from X; <what> is Y").
std::string OutsideWindows(const std::vector<CertificateWindow>& windows, absl::Time lower,
                           absl::Time upper, std::string_view what);
// RFC 3339 UTC with the fraction when there is one ("2026-01-01T00:00:00Z").
std::string FormatTimeUtc(absl::Time t);

// What VerifyTimestampToken checks, in the same order, with the same errors.
absl::StatusOr<TimestampVerification> VerifyTimestampTokenChain(
    std::string_view token_der, std::string_view signature,
    const std::vector<std::shared_ptr<const TrustStore>>& stores);

}  // namespace layerseal::notation::internal

#endif  // LAYERSEAL_VERIFIER_NOTATION_INTERNAL_TIMESTAMP_CHAIN_H_
