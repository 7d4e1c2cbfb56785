// RFC 3161 timestamp countersignatures on notation signatures (issue 20; specs/
// trust-store-trust-policy.md "Timestamp Countersignature Verification details"): the
// envelope's io.cncf.notary.timestampSignature, a DER TimeStampToken (CMS ContentInfo of
// SignedData over TSTInfo; not a TimeStampResp), whose messageImprint hashes the envelope's
// signature value.
//
// Pure functions (OpenSSL 3 TS/CMS); thread-safe; the thread's OpenSSL error queue is left
// empty. Never crashes on any bytes (fuzz target notation_timestamp).
#ifndef LAYERSEAL_VERIFIER_NOTATION_TIMESTAMP_H_
#define LAYERSEAL_VERIFIER_NOTATION_TIMESTAMP_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/notation/trust.h"

namespace layerseal::notation {

// The token parsed, nothing verified: for messages and the fuzz target.
struct TimestampInfo {
  absl::Time gen_time;
  absl::Duration accuracy;  // TSTInfo.accuracy; else 1 s under the baseline policy
                            // (0.4.0.2023.1.1, RFC 3628), else 0
  std::string hash_algorithm;  // "sha256", ... of messageImprint
  std::string message_imprint;  // raw hash bytes
  std::vector<std::string> certs_der;  // embedded in the SignedData, as found
};
// InvalidArgument naming what does not parse (not a ContentInfo, not SignedData, content type
// not id-ct-TSTInfo, bad TSTInfo); ResourceExhausted over kMaxTimestampTokenBytes.
absl::StatusOr<TimestampInfo> ParseTimestampToken(std::string_view token_der);

struct VerifiedTimestamp {
  absl::Time lower;  // genTime - accuracy
  absl::Time upper;  // genTime + accuracy
  std::string tsa_subject;  // the TSA signing certificate's subject (SubjectText)
  std::string store;        // the tsa store that anchored it
};
// Verifies `token_der` over `signature` (the envelope's signature value): messageImprint
// equals the hash of `signature` under the imprint's algorithm (sha256/384/512 only); the
// CMS signature by the TSA certificate (embedded in the token); the signing-certificate-v2
// (or v1) ESS attribute names that certificate (missing: PermissionDenied); the TSA chain
// meets CheckCertificateRules(kTimestamping) and leads to a certificate of a `tsa` store of
// `stores` (x509.h VerifyChain), and genTime lies within every certificate of that chain's
// validity. PermissionDenied saying which check failed; InvalidArgument when it does not
// parse.
absl::StatusOr<VerifiedTimestamp> VerifyTimestampToken(
    std::string_view token_der, std::string_view signature,
    const std::vector<std::shared_ptr<const TrustStore>>& stores);

}  // namespace layerseal::notation

#endif  // LAYERSEAL_VERIFIER_NOTATION_TIMESTAMP_H_
