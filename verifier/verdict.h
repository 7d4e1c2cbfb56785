// A verification verdict: ALLOW or DENY with exactly one reason code (spec section 4).
#ifndef LAYERSEAL_VERIFIER_VERDICT_H_
#define LAYERSEAL_VERIFIER_VERDICT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/digest.h"

namespace layerseal {

// Each enum below ends in kCount, which is not a value but the number of values. Its names
// are one table in verdict.cc, checked at compile time to have one row per enumerator in
// declaration order: an enumerator added without a row there does not compile. New values go
// above kCount. The names are the wire form (proto, event log, verdict cache, metrics):
// verifier/verdict_codec.h maps a whole Verdict.
enum class Decision { kAllow, kDeny, kCount };

enum class Reason {
  kVerified,                // ALLOW: both seals verified (step 8)
  kInsecureAcceptAnything,  // ALLOW: the policy scope requires nothing
  kRejectedByPolicy,        // DENY: the policy scope rejects the repository
  kInvalidManifest,         // DENY: step 1, a manifest that is not a well-formed known type
  kNotSigned,               // DENY: step 2
  kMalformedSeal,           // DENY: steps 2-4
  kUntrustedKey,            // DENY: step 5
  kBadSignature,            // DENY: step 5
  kIntegrityMismatch,       // DENY: step 6
  kConfigMismatch,          // DENY: step 7
  kRegistryError,           // DENY (unless the policy allows on registry errors)
  kLimitExceeded,           // DENY
  // DENY: the node agent has no policy in force (its policy file could not be loaded at
  // start and there was no last-good copy). Not a verifier outcome: the agent's own.
  kPolicyUnavailable,
  // cosign / sigstore signatures (issue 17; steps in docs/sigstore.md). BAD_SIGNATURE,
  // UNTRUSTED_KEY and NOT_SIGNED keep their meanings for cosign signatures too.
  kMalformedSignature,    // DENY: step 1, a bundle, payload or .sig layer that does not parse
  kSubjectMismatch,       // DENY: step 2, the signature is for another digest
  kBadTlogEntry,          // DENY: step 4, no transparency-log entry verifies
  kTlogMismatch,          // DENY: step 4f, the log entry is for another signature/key/digest
  kBadTimestamp,          // DENY: step 5, no verified signing time
  kUntrustedCertificate,  // DENY: step 6, the certificate does not chain to a trusted CA then
  kBadSct,                // DENY: step 7, no embedded SCT verifies
  kUntrustedIdentity,     // DENY: step 9, valid, but by an identity the scope does not list
  // Image-integrity rules (issue 18, verifier/image_integrity.h). INTEGRITY_MISMATCH also
  // means a blob or layer on the node's disk that no longer hashes to its descriptor.
  kUntrustedBase,       // DENY: the layers do not start with a trusted base
  kProtectedPath,       // DENY: a layer above the base adds, replaces or deletes a protected path
  kContentUnavailable,  // DENY: a rule needs content the runtime does not have
  // Notary Project signatures (issue 20, docs/notation.md). The cosign reasons above keep
  // their meanings for notation signatures too (MALFORMED_SIGNATURE, BAD_SIGNATURE,
  // SUBJECT_MISMATCH, UNTRUSTED_CERTIFICATE, UNTRUSTED_IDENTITY, BAD_TIMESTAMP, NOT_SIGNED).
  kSignatureExpired,     // DENY: the signature's signed expiry time has passed
  kRevoked,              // DENY: a configured CRL revokes a certificate of the chain
  kRevocationUnchecked,  // DENY: revocation must be checked (strict) and could not be, offline
  kCount,  // not a reason: see above
};

enum class Mode { kEnforce, kWarn, kAudit, kCount };

inline constexpr int kDecisionCount = static_cast<int>(Decision::kCount);
inline constexpr int kReasonCount = static_cast<int>(Reason::kCount);
inline constexpr int kModeCount = static_cast<int>(Mode::kCount);

// The name of each value; kCount or an out-of-range value: "UNKNOWN" ("unknown" for Mode).
std::string_view DecisionName(Decision d);  // "ALLOW" / "DENY"
std::string_view ReasonName(Reason r);      // "VERIFIED", "BAD_SIGNATURE", ...
std::string_view ModeName(Mode m);          // "enforce" / "warn" / "audit"

// The value of a name above, exactly as written (case matters: these are wire names);
// anything else is InvalidArgument naming the text (its first 64 bytes) and the known names.
absl::StatusOr<Decision> ParseDecision(std::string_view name);
absl::StatusOr<Reason> ParseReason(std::string_view name);
absl::StatusOr<Mode> ParseMode(std::string_view name);

struct Verdict {
  Decision decision = Decision::kDeny;
  Reason reason = Reason::kRegistryError;
  std::string detail;                    // human-readable, names what was wrong
  std::string reference;                 // as requested
  std::optional<Digest> manifest_digest;  // the digest the runtime must pull (ALLOW)
  std::string key_id;                    // the signing key, when known
  // Which signature admitted the image (ALLOW): "seal", "cosign-key", "cosign-keyless" or
  // "notation" (then signer_subject / signer_issuer are the leaf certificate's subject and
  // issuer DNs, key_id "sha256:<leaf thumbprint>");
  // empty when none did. Keyless: the certificate's OIDC issuer and subject. Rekor: the log
  // index (-1: none) and log id (hex) of the entry that verified.
  std::string signer_kind;
  std::string signer_issuer;
  std::string signer_subject;
  int64_t rekor_log_index = -1;
  std::string rekor_log_id;
  std::string policy_version;            // "sha256:..." of the policy bytes
  std::string scope;                     // the policy scope that applied
  Mode mode = Mode::kEnforce;
  absl::Duration duration;

  bool allowed() const { return decision == Decision::kAllow; }
  // Whether the image may be used: allowed, or denied under a non-enforcing mode.
  bool admits() const { return allowed() || mode != Mode::kEnforce; }
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_VERDICT_H_
