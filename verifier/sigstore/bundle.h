// The sigstore bundle JSON (v0.1, v0.2, v0.3; both media-type spellings), parsed strictly
// into one value type. Structural rules follow sigstore-go bundle.validate (see
// docs/sigstore.md). Pure parsing; thread-safe; the result owns all its bytes.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_BUNDLE_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_BUNDLE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/sigstore/dsse.h"

namespace layerseal::sigstore {

inline constexpr size_t kMaxBundleBytes = 1 << 20;       // 1 MiB (DSSE provenance fits)
inline constexpr size_t kMaxTlogEntries = 32;            // sigstore-go MaxAllowedTlogEntries
inline constexpr size_t kMaxRfc3161Timestamps = 32;      // sigstore-go MaxAllowedTimestamps
inline constexpr size_t kMaxBundleChainCerts = 10;
inline constexpr size_t kMaxCertificateBytes = 32 * 1024;
inline constexpr size_t kMaxSignatureBytes = 16 * 1024;
inline constexpr size_t kMaxInclusionProofHashes = 64;
inline constexpr size_t kMaxTimestampResponseBytes = 64 * 1024;
inline constexpr size_t kMaxCanonicalizedBodyBytes = 256 * 1024;

inline constexpr std::string_view kBundleMediaTypeV01 =
    "application/vnd.dev.sigstore.bundle+json;version=0.1";
inline constexpr std::string_view kBundleMediaTypeV02 =
    "application/vnd.dev.sigstore.bundle+json;version=0.2";
inline constexpr std::string_view kBundleMediaTypeV03 =
    "application/vnd.dev.sigstore.bundle+json;version=0.3";
inline constexpr std::string_view kBundleMediaTypeV03New =
    "application/vnd.dev.sigstore.bundle.v0.3+json";

enum class BundleVersion { kV01, kV02, kV03 };
// The version a bundle media type names; nullopt for anything else.
std::optional<BundleVersion> BundleVersionOf(std::string_view media_type);

struct InclusionProof {
  int64_t log_index = 0;  // Rekor v1: shard-local; v2: equals the entry's
  std::string root_hash;  // raw 32 bytes
  int64_t tree_size = 0;
  std::vector<std::string> hashes;  // raw 32 bytes each
  std::string checkpoint;           // the signed-note text (checkpoint.envelope); never empty
};

struct TlogEntry {
  int64_t log_index = 0;       // global
  std::string log_id;          // raw bytes (logId.keyId)
  std::string kind, version;   // kindVersion
  int64_t integrated_time = 0;  // seconds since the epoch; 0: none (Rekor v2)
  std::optional<std::string> set;  // inclusionPromise.signedEntryTimestamp, raw
  std::optional<InclusionProof> proof;
  std::string body;  // canonicalizedBody, decoded (JSON bytes)
};

struct MessageSignature {
  std::string digest_algorithm;  // e.g. "SHA2_256"; empty when absent
  std::string digest;            // raw; empty when absent
  std::string signature;         // raw
};

struct Bundle {
  BundleVersion version = BundleVersion::kV03;
  std::string media_type;
  enum class Material { kPublicKey, kCertificate, kChain } material = Material::kCertificate;
  std::string public_key_hint;          // publicKey.hint, as given
  std::vector<std::string> certs_der;   // [0] = leaf; kCertificate: exactly one
  std::vector<TlogEntry> tlog;
  std::vector<std::string> timestamps;  // DER TimeStampResp each
  std::optional<MessageSignature> message;
  std::optional<dsse::Envelope> dsse;
};

// The bundle `json` (at most kMaxBundleBytes). InvalidArgument naming the JSON path of what is
// wrong (unknown media type, missing or extra members, bad base64, the structural rules of
// docs/sigstore.md); ResourceExhausted when a limit above is exceeded.
absl::StatusOr<Bundle> ParseBundle(std::string_view json);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_BUNDLE_H_
