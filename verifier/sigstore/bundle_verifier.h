// The ordered checks for one cosign/sigstore signature (docs/sigstore.md "Order of checks"):
// parse, artifact binding, material vs. policy, transparency log entries, verified times,
// certificate chain at each time, SCT, signature, identity. Every failure names its step.
// Pure function; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_BUNDLE_VERIFIER_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_BUNDLE_VERIFIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "verifier/digest.h"
#include "verifier/policy.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"
#include "verifier/verdict.h"

namespace layerseal::sigstore {

inline constexpr absl::Duration kMaxClockSkew = absl::Minutes(5);

struct TrustPolicy {
  const TrustedRoot* root = nullptr;  // may be null: keys without a log
  std::vector<const TrustedKey*> keys;
  std::vector<IdentityPattern> identities;
  bool require_tlog = true;
  // DSSE: predicate types accepted; empty accepts any.
  std::vector<std::string> predicate_types;
  absl::Time now;
};

// What was signed: the bytes when known (a file, manifest bytes), else only its digest.
struct Artifact {
  std::optional<std::string> bytes;
  Digest sha256;
};

struct SignerInfo {
  enum class Kind { kCosignKey, kCosignKeyless } kind = Kind::kCosignKey;
  std::string key_id;  // "sha256:<hex>" of the SPKI (keys and certificates alike)
  std::string issuer, subject;
  int64_t log_index = -1;
  std::string log_id_hex;
  absl::Time signed_at;
};

struct EntityResult {
  Reason reason = Reason::kMalformedSignature;
  std::string detail;
  int step = 0;  // the step that decided (0: none ran)
  std::optional<SignerInfo> signer;  // on ALLOW
  bool ok() const { return reason == Reason::kVerified; }
};

EntityResult VerifyEntity(const SignedEntity& entity, const Artifact& artifact,
                          const TrustPolicy& policy);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_BUNDLE_VERIFIER_H_
