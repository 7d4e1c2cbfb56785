// RFC 6962 Signed Certificate Timestamps embedded in a Fulcio certificate (extension
// 1.3.6.1.4.1.11129.2.4.2), verified by hand against the trusted root's CT logs over the
// reconstructed precertificate TBS. Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_SCT_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_SCT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {

inline constexpr size_t kMaxSctListBytes = 16 * 1024;
inline constexpr size_t kMaxScts = 32;
inline constexpr size_t kMaxSctExtensionsBytes = 4 * 1024;

struct Sct {
  uint8_t version = 0;
  std::string log_id;  // 32 raw bytes
  uint64_t timestamp_ms = 0;
  std::string extensions;
  uint8_t hash_alg = 0, sig_alg = 0;
  std::string signature;
};
// The TLS-encoded SignedCertificateTimestampList (bounds-checked; every length must match;
// 1..kMaxScts SCTs, each of version v1 = 0: another version has no known layout, so the
// list is refused). InvalidArgument naming the SCT and field otherwise.
absl::StatusOr<std::vector<Sct>> ParseSctList(std::string_view tls);
// The bytes the CT log signed for `sct` on the precertificate of `leaf` issued by `issuer`.
absl::StatusOr<std::string> PrecertSignedData(X509* leaf, X509* issuer, const Sct& sct);
// OK when at least `threshold` (at least 1, whatever is passed) distinct CT logs of `root`
// (valid at the SCT's time) signed an SCT embedded in `leaf`; SCTs of unknown logs count for
// nothing. PermissionDenied saying why for each SCT otherwise (also when there is no SCT
// extension); InvalidArgument when the extension is malformed.
absl::Status VerifyEmbeddedScts(X509* leaf, X509* issuer, const TrustedRoot& root,
                                int threshold = 1);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_SCT_H_
