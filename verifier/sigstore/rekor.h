// Rekor transparency-log entries: the canonicalized body kinds sigstore clients write, the
// signed entry timestamp (SET), and RFC 6962 inclusion proofs. Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_REKOR_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_REKOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {

enum class BodyKind { kHashedRekord001, kDsse001, kIntoto002, kHashedRekord002 };

// What an entry body says was logged, normalised across kinds.
struct EntryBody {
  BodyKind kind = BodyKind::kHashedRekord001;
  std::vector<std::string> signatures;  // raw bytes (intoto 0.0.2: base64 decoded twice)
  std::vector<std::string> verifiers_der;  // certificate DER or SPKI DER, one per signature
  std::vector<bool> verifier_is_cert;
  std::string digest_alg;  // "sha256"
  std::string digest;      // raw: hashedrekord data hash; dsse/intoto payloadHash
  std::string envelope_hash;  // raw; dsse 0.0.1 envelopeHash when present
};
// The entry's body; its kind/apiVersion must equal the entry's kindVersion. InvalidArgument
// naming the member otherwise, or for an unknown kind.
absl::StatusOr<EntryBody> ParseEntryBody(const TlogEntry& e);
// The canonical JSON a SET signs: {"body":..,"integratedTime":..,"logID":"<hex>","logIndex":..}.
std::string SetPayload(const TlogEntry& e);
// OK when e.set verifies under `log`'s key and log.valid_for contains e.integrated_time.
// PermissionDenied saying why otherwise.
absl::Status VerifySet(const TlogEntry& e, const LogKey& log);
// SHA-256(0x00 || body).
std::string LeafHash(std::string_view body);
// RFC 6962 / RFC 9162 inclusion of `leaf_hash` at `index` in a tree of `size` with `root`.
// PermissionDenied saying why otherwise (index >= size, wrong path length, root mismatch).
absl::Status VerifyInclusion(std::string_view leaf_hash, uint64_t index, uint64_t size,
                             const std::vector<std::string>& path, std::string_view root);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_REKOR_H_
