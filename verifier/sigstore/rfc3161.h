// RFC 3161 timestamp responses over a signature, verified against the trusted root's
// timestamp authorities at the token's own genTime. Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_RFC3161_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_RFC3161_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {

struct VerifiedTime {
  absl::Time time;
  std::string tsa_uri;
};
// The genTime of `der_response` (a DER TimeStampResp, at most kMaxTimestampResponseBytes) when
// a TSA of `root` valid at genTime signed it over `signed_bytes`. For each such TSA: the
// CMS signature, the ESS signing-certificate, the timestamping EKU and the signer's chain
// to the TSA's root are checked AT genTime (a TSA certificate that expired later still
// counts), with the TSA's own certificates supplied (tokens without embedded certificates
// verify), and when the root names the TSA's signing certificate (the chain's first is not a
// CA) the token must be signed by exactly it. InvalidArgument when it does not parse or its
// status is not granted (0) / grantedWithMods (1); PermissionDenied saying why (per TSA)
// when no TSA verifies it.
absl::StatusOr<VerifiedTime> VerifyTimestamp(std::string_view der_response,
                                             std::string_view signed_bytes,
                                             const TrustedRoot& root);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_RFC3161_H_
