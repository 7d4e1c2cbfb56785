// cosign's legacy signature form: a simple-signing JSON payload in a layer of the
// `sha256-<hex>.sig` manifest, with the signature, certificate, chain, Rekor bundle (SET) and
// RFC 3161 timestamp in that layer's annotations. Pure parsing; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_SIMPLE_SIGNING_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_SIMPLE_SIGNING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/digest.h"

namespace layerseal::sigstore {

inline constexpr size_t kMaxSimpleSigningBytes = 64 * 1024;
inline constexpr size_t kMaxCosignAnnotationBytes = 64 * 1024;  // each annotation below
inline constexpr std::string_view kSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kCosignSignatureType = "cosign container image signature";
inline constexpr std::string_view kAnnSignature = "dev.cosignproject.cosign/signature";
inline constexpr std::string_view kAnnCertificate = "dev.sigstore.cosign/certificate";
inline constexpr std::string_view kAnnChain = "dev.sigstore.cosign/chain";
inline constexpr std::string_view kAnnBundle = "dev.sigstore.cosign/bundle";  // Rekor SET
inline constexpr std::string_view kAnnTimestamp = "dev.sigstore.cosign/rfc3161timestamp";

struct SimpleSigning {
  Digest manifest_digest;        // critical.image.docker-manifest-digest
  std::string docker_reference;  // critical.identity.docker-reference (recorded, not enforced)
  std::string type;              // critical.type; ParseSimpleSigning requires kCosignSignatureType
};
// InvalidArgument naming the member when the payload is not a simple-signing document.
absl::StatusOr<SimpleSigning> ParseSimpleSigning(std::string_view bytes);

// The dev.sigstore.cosign/bundle annotation:
// {"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime", "logIndex", "logID": hex}}
struct LegacySet {
  std::string set;   // raw signature bytes
  std::string body;  // decoded canonicalized body
  int64_t integrated_time = 0;
  int64_t log_index = 0;
  std::string log_id;  // raw bytes (decoded from hex)
};
absl::StatusOr<LegacySet> ParseCosignBundleAnnotation(std::string_view json);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_SIMPLE_SIGNING_H_
