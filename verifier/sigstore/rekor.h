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
  // Raw bytes, never empty, except: intoto 0.0.2 stores base64(base64(sig)), and when the
  // inner text is not base64 the signature is empty (it equals no signature of a bundle).
  std::vector<std::string> signatures;
  std::vector<std::string> verifiers_der;  // certificate DER or SPKI DER, one per signature
  std::vector<bool> verifier_is_cert;
  std::string digest_alg;  // "sha256"
  std::string digest;      // raw: hashedrekord data hash; dsse/intoto payloadHash
  std::string envelope_hash;  // raw; dsse 0.0.1 envelopeHash when present
};
// The entry's body; its kind/apiVersion must equal the entry's kindVersion. InvalidArgument
// naming the member otherwise, or for an unknown kind. The body is strict JSON (at most
// kMaxCanonicalizedBodyBytes); the members read must be present with their types (base64
// strict, hex hashes of their algorithm's size, PEM holding exactly one CERTIFICATE or PUBLIC
// KEY whose DER parses, at most dsse::kMaxEnvelopeSignatures signatures of at most
// kMaxSignatureBytes each). Members layerseal does not read are ignored: the log, not the
// bundle, wrote the body, and the checks only compare what is read. Rekor v2 bodies are
// protojson, so their members may also be spelled in snake_case.
absl::StatusOr<EntryBody> ParseEntryBody(const TlogEntry& e);
// The canonical JSON a SET signs: {"body":..,"integratedTime":..,"logID":"<hex>","logIndex":..}.
std::string SetPayload(const TlogEntry& e);
// OK when e.set verifies under `log`'s key (signature.h VerifyMessage: ECDSA over the curve's
// digest, Ed25519 pure) and log.valid_for contains e.integrated_time.
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
