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
// a TSA of `root` valid at genTime signed it over `signed_bytes`. InvalidArgument when it does
// not parse; PermissionDenied saying why when no TSA verifies it.
absl::StatusOr<VerifiedTime> VerifyTimestamp(std::string_view der_response,
                                             std::string_view signed_bytes,
                                             const TrustedRoot& root);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_RFC3161_H_
