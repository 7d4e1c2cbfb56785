#include "verifier/verdict.h"

#include <cstddef>

#include "base/str_cat.h"

namespace layerseal {
namespace {

template <typename E>
struct Row {
  E value;
  std::string_view name;
};

// The one table per enum. A row per enumerator, in declaration order (checked below).
constexpr Row<Decision> kDecisionNames[] = {
    {Decision::kAllow, "ALLOW"},
    {Decision::kDeny, "DENY"},
};

constexpr Row<Reason> kReasonNames[] = {
    {Reason::kVerified, "VERIFIED"},
    {Reason::kInsecureAcceptAnything, "INSECURE_ACCEPT_ANYTHING"},
    {Reason::kRejectedByPolicy, "REJECTED_BY_POLICY"},
    {Reason::kInvalidManifest, "INVALID_MANIFEST"},
    {Reason::kNotSigned, "NOT_SIGNED"},
    {Reason::kMalformedSeal, "MALFORMED_SEAL"},
    {Reason::kUntrustedKey, "UNTRUSTED_KEY"},
    {Reason::kBadSignature, "BAD_SIGNATURE"},
    {Reason::kIntegrityMismatch, "INTEGRITY_MISMATCH"},
    {Reason::kConfigMismatch, "CONFIG_MISMATCH"},
    {Reason::kRegistryError, "REGISTRY_ERROR"},
    {Reason::kLimitExceeded, "LIMIT_EXCEEDED"},
    {Reason::kPolicyUnavailable, "POLICY_UNAVAILABLE"},
    {Reason::kMalformedSignature, "MALFORMED_SIGNATURE"},
    {Reason::kSubjectMismatch, "SUBJECT_MISMATCH"},
    {Reason::kBadTlogEntry, "BAD_TLOG_ENTRY"},
    {Reason::kTlogMismatch, "TLOG_MISMATCH"},
    {Reason::kBadTimestamp, "BAD_TIMESTAMP"},
    {Reason::kUntrustedCertificate, "UNTRUSTED_CERTIFICATE"},
    {Reason::kBadSct, "BAD_SCT"},
    {Reason::kUntrustedIdentity, "UNTRUSTED_IDENTITY"},
    {Reason::kUntrustedBase, "UNTRUSTED_BASE"},
    {Reason::kProtectedPath, "PROTECTED_PATH"},
    {Reason::kContentUnavailable, "CONTENT_UNAVAILABLE"},
    {Reason::kSignatureExpired, "SIGNATURE_EXPIRED"},
    {Reason::kRevoked, "REVOKED"},
    {Reason::kRevocationUnchecked, "REVOCATION_UNCHECKED"},
};

constexpr Row<Mode> kModeNames[] = {
    {Mode::kEnforce, "enforce"},
    {Mode::kWarn, "warn"},
    {Mode::kAudit, "audit"},
};

// One row per enumerator before E::kCount, row i naming enumerator i, every name non-empty
// and distinct (so Parse(Name(x)) == x).
template <typename E, size_t N>
constexpr bool Complete(const Row<E> (&rows)[N]) {
  if (N != static_cast<size_t>(E::kCount)) return false;
  for (size_t i = 0; i < N; ++i) {
    if (static_cast<size_t>(rows[i].value) != i || rows[i].name.empty()) return false;
    for (size_t j = 0; j < i; ++j) {
      if (rows[j].name == rows[i].name) return false;
    }
  }
  return true;
}

static_assert(Complete(kDecisionNames), "kDecisionNames needs one row per Decision, in order");
static_assert(Complete(kReasonNames), "kReasonNames needs one row per Reason, in order");
static_assert(Complete(kModeNames), "kModeNames needs one row per Mode, in order");

template <typename E, size_t N>
std::string_view NameIn(const Row<E> (&rows)[N], E value, std::string_view unknown) {
  auto i = static_cast<size_t>(value);
  return i < N ? rows[i].name : unknown;
}

template <typename E, size_t N>
absl::StatusOr<E> ParseIn(const Row<E> (&rows)[N], std::string_view name, std::string_view what) {
  std::string known;
  for (const Row<E>& row : rows) {
    if (row.name == name) return row.value;
    known = StrCat(known, known.empty() ? "" : ", ", row.name);
  }
  return absl::InvalidArgumentError(
      StrCat("unknown ", what, " \"", name.substr(0, 64), "\"; known: ", known));
}

}  // namespace

std::string_view DecisionName(Decision d) { return NameIn(kDecisionNames, d, "UNKNOWN"); }
std::string_view ReasonName(Reason r) { return NameIn(kReasonNames, r, "UNKNOWN"); }
std::string_view ModeName(Mode m) { return NameIn(kModeNames, m, "unknown"); }

absl::StatusOr<Decision> ParseDecision(std::string_view name) {
  return ParseIn(kDecisionNames, name, "verdict");
}
absl::StatusOr<Reason> ParseReason(std::string_view name) {
  return ParseIn(kReasonNames, name, "reason");
}
absl::StatusOr<Mode> ParseMode(std::string_view name) { return ParseIn(kModeNames, name, "mode"); }

}  // namespace layerseal
