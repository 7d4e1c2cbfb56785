// Keyless signer identities: what a Fulcio certificate says (issuer + subject) and the policy's
// patterns for it. Patterns are RE2 (cosign's Go regexp syntax) and match the WHOLE value, as
// if wrapped in ^(?:...)$ (cosign searches unanchored; see docs/sigstore.md for why not).
// Thread-safety: IdentityPattern is immutable after MakeIdentityPattern and safe to share.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_IDENTITY_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_IDENTITY_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace layerseal::sigstore {

inline constexpr size_t kMaxIdentityPatternLength = 1024;
inline constexpr int64_t kMaxIdentityRegexpMemory = 1 << 20;  // RE2::Options::max_mem

enum class SanType { kEmail, kUri, kOtherName };

// What a certificate asserts, from its SAN and Fulcio issuer extension (fulcio.h).
struct CertIdentity {
  std::string subject;
  std::string issuer;
  SanType san_type = SanType::kEmail;
};

struct IdentityPattern {
  std::string name;             // the policy's name for it
  std::string issuer;           // exact, when issuer_re is null
  std::string subject;          // exact, when subject_re is null
  std::shared_ptr<const re2::RE2> issuer_re, subject_re;  // compiled once
};

// A pattern from exactly one of issuer/issuer_regexp and one of subject/subject_regexp.
// InvalidArgument naming the field for a pattern over kMaxIdentityPatternLength, a regexp that
// does not compile (with RE2's message), or none / both of a pair.
absl::StatusOr<IdentityPattern> MakeIdentityPattern(
    std::string name, std::optional<std::string> issuer, std::optional<std::string> issuer_regexp,
    std::optional<std::string> subject, std::optional<std::string> subject_regexp);

// True when both the issuer and the subject match (exact bytes, or a full RE2 match).
bool MatchIdentity(const CertIdentity& id, const IdentityPattern& p);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_IDENTITY_H_
