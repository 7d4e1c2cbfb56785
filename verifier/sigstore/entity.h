// One internal form for every cosign signature, whether it came as a sigstore bundle or as a
// legacy `.sig` layer, so that one verifier (bundle_verifier.h) judges both.
// Value type; thread-compatible.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_ENTITY_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_ENTITY_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/sigstore/bundle.h"

namespace layerseal::sigstore {

struct SignedEntity {
  enum class Form { kBundle, kLegacySig } form = Form::kBundle;
  BundleVersion version = BundleVersion::kV03;  // legacy: treated as v0.1 (SET, no proof)
  Bundle::Material material = Bundle::Material::kCertificate;
  std::optional<MessageSignature> message;  // legacy: signature over legacy_payload
  std::optional<dsse::Envelope> dsse;
  std::string legacy_payload;  // legacy: the simple-signing bytes (the signed message)
  std::string public_key_hint;
  std::vector<std::string> certs_der;  // [0] = leaf; empty for keys
  std::vector<TlogEntry> tlog;
  std::vector<std::string> timestamps;
};

SignedEntity FromBundle(Bundle b);
// A legacy .sig layer: its bytes (the simple-signing payload, not parsed here) and its
// annotations. The result: version kV01; message {"SHA2_256", SHA-256(payload), signature};
// material kPublicKey without a certificate, kCertificate with one, kChain with a chain too
// (certs_der = leaf, then the chain's certificates except self-signed ones: roots come from
// the trusted root only); the bundle annotation as one TlogEntry with its SET and no proof,
// kind/version taken from the body's kind/apiVersion; the rfc3161timestamp annotation
// ({"SignedRFC3161Timestamp": base64}) as one timestamp. An empty annotation counts as absent.
// Errors: InvalidArgument naming the annotation (missing signature, bad base64, certificate
// PEM or bundle annotation that does not parse, a chain without a certificate);
// ResourceExhausted over kMaxCosignAnnotationBytes, kMaxSimpleSigningBytes or the chain limit.
absl::StatusOr<SignedEntity> FromLegacySig(std::string payload,
                                           const std::map<std::string, std::string>& annotations);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_ENTITY_H_
