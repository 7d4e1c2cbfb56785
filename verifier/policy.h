// The node policy: which keys are trusted for which repositories, and what to do.
// Documented in docs/policy.md. A policy that does not parse, or names a missing key, is an
// error naming the file, line and field; it is never replaced by a default.
// Thread-safety: immutable after construction; share freely.
#ifndef LAYERSEAL_VERIFIER_POLICY_H_
#define LAYERSEAL_VERIFIER_POLICY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/crypto.h"
#include "verifier/image_integrity.h"
#include "verifier/notation/trust.h"
#include "verifier/reference.h"
#include "verifier/sigstore/identity.h"
#include "verifier/verdict.h"

namespace layerseal {

inline constexpr size_t kMaxPolicyBytes = 1 << 20;
inline constexpr size_t kMaxPolicyScopes = 4096;  // bounds the load-time ambiguity check
inline constexpr size_t kMaxPolicyKeys = 256;
inline constexpr size_t kMaxScopeLength = 255;   // docker's limit on a repository name
inline constexpr size_t kMaxPolicyTrustedRoots = 16;
inline constexpr size_t kMaxPolicyIdentities = 256;
// RE2 instructions (RE2::ProgramSize) over every identity regexp of one policy: each regexp is
// bounded by sigstore::kMaxIdentityRegexpMemory, but 2 x kMaxPolicyIdentities of them at that
// bound would hold ~170 MB; real identity patterns need a few hundred instructions each.
inline constexpr int kMaxPolicyRegexpProgramSize = 1 << 18;

namespace sigstore {
class TrustedRoot;
}  // namespace sigstore

namespace policy_internal {
struct ScopePattern;  // a parsed scope string (policy.cc)
}  // namespace policy_internal

// Whether `scope` is a valid scope string (docs/policy.md "Scopes"): InvalidArgument saying
// why not. For tools that write policies (verifier/policy_import.h).
absl::Status ValidateScope(std::string_view scope);

enum class Requirement { kSigned, kReject, kInsecureAcceptAnything };
std::string_view RequirementName(Requirement r);  // "signed" / "reject" / "insecureAcceptAnything"

// The kinds of signature a scope may trust (scope field `signatures`).
enum class SignatureKind { kSeal, kCosign, kNotation };
std::string_view SignatureKindName(SignatureKind k);  // "seal" / "cosign" / "notation"

struct TrustedKey {
  std::string name;
  PublicKey key;
  std::optional<Algorithm> algorithm;  // pins one algorithm when set
};

struct ScopePolicy {
  std::string scope;  // "default" for the fallback
  Requirement requirement = Requirement::kReject;
  Mode mode = Mode::kEnforce;
  bool allow_on_registry_error = false;  // fail open on REGISTRY_ERROR / LIMIT_EXCEEDED
  std::vector<TrustedKey> keys;
  // The trusted key with this keyId, or nullptr.
  const TrustedKey* FindKey(std::string_view key_id) const;

  // cosign / sigstore (issue 17, docs/sigstore.md). The kinds of signature that may admit an
  // image: default seals only, so policies written before keep their meaning.
  std::vector<SignatureKind> signatures = {SignatureKind::kSeal};
  std::vector<sigstore::IdentityPattern> identities;  // keyless signers
  std::shared_ptr<const sigstore::TrustedRoot> trusted_root;  // null: none named
  std::string trusted_root_name;
  bool require_tlog = true;  // transparencyLog: require (default) | ignore
  std::optional<Reference> signature_repository;  // cosign's COSIGN_REPOSITORY
  bool Accepts(SignatureKind k) const;

  // Notary Project signatures (issue 20, docs/notation.md): the scope's `notation` member,
  // its trust stores resolved from the policy's top-level `trustStores`. Set exactly when
  // `signatures` holds kNotation.
  std::shared_ptr<const notation::NotationTrust> notation;
  // `exact: true`: the scope matches its repository only, not the repositories below it
  // (notation's registryScopes are exact; `layerseal policy import` of a
  // trustpolicy.oci.json writes it). Only for repository scopes (no glob, no bare registry).
  bool exact = false;

  // Image-integrity rules and continuous validation (issue 18, docs/policy.md): trustedBases,
  // protectedPaths, packageInventory, onRevoked.
  IntegrityRules integrity;
  OnRevoked on_revoked = OnRevoked::kReport;
};

class Policy {
 public:
  // `yaml` is the policy text; relative key paths resolve against `base_dir`; `source_name`
  // (usually the file path) prefixes error messages.
  static absl::StatusOr<Policy> Parse(std::string_view yaml, std::string_view base_dir,
                                      std::string_view source_name = "policy");
  // The file at `path`, parsed: NOT_FOUND when it is missing, RESOURCE_EXHAUSTED when it is
  // over kMaxPolicyBytes (base/file.h), INVALID_ARGUMENT when it does not parse.
  static absl::StatusOr<Policy> LoadFile(const std::string& path);
  // A policy trusting `keys` for every repository, enforce mode (the CLI's --key): one scope
  // "default", keys named by their key ids; version "sha256:" of the concatenated key ids.
  static Policy TrustingKeys(std::vector<PublicKey> keys);

  // The scope that applies to `ref`: the most specific match, else the default (precedence
  // in docs/policy.md; ties are refused at load, so file order never decides).
  const ScopePolicy& Resolve(const Reference& ref) const;
  // "sha256:<hex>" of the policy's bytes.
  const std::string& version() const { return version_; }
  // The scopes in file order, and the fallback.
  const std::vector<ScopePolicy>& scopes() const { return scopes_; }
  const ScopePolicy& default_scope() const { return default_; }
  // "sha256:<hex>" over version(), every trusted key's id, every trusted root's bytes,
  // every Notary Project trust store's certificates and CRLs and, for scopes with
  // image-integrity rules, IntegrityRules::Fingerprint() (the resolved trusted bases): what a
  // cache of verdicts must be keyed by, since a key file replaced under the same path keeps
  // version(). A policy without integrity rules or trust stores keeps the trust version it
  // had before those existed.
  const std::string& trust_version() const { return trust_version_; }
  // The key files the policy read (joined with its directory), e.g. to watch for changes:
  // key files, trusted roots, and every certificate file and CRL file of its trust stores.
  const std::vector<std::string>& key_files() const { return key_files_; }
  // The directories of its Notary Project trust stores (joined with its directory): a file
  // added to or removed from one changes the directory, not any file of key_files().
  const std::vector<std::string>& trust_store_dirs() const { return trust_store_dirs_; }

  // Resolves every trusted base written as a reference (docs/policy.md "trustedBases") to its
  // ChainID with `resolve` (e.g. ResolveTrustedBase over a registry, verifier/
  // image_integrity.h), once per distinct reference: sets TrustedBase::chain_id, or, when
  // `resolve` fails, TrustedBase::unresolved to its message (such a base matches no image:
  // fail closed). Bases written as ChainIDs are left as they are. Recomputes trust_version()
  // (a reference resolved differently is a different rule). Returns how many references
  // could not be resolved. Not thread-safe: call it before the policy is shared.
  size_t ResolveTrustedBases(
      const std::function<absl::StatusOr<Digest>(const Reference&)>& resolve);

 private:
  void SetTrustVersion();

  std::string version_;
  std::string trust_version_;
  std::vector<std::string> key_files_;
  std::vector<std::shared_ptr<const notation::TrustStore>> trust_stores_;  // in file order
  std::vector<std::string> trust_store_dirs_;
  std::vector<ScopePolicy> scopes_;  // in file order
  ScopePolicy default_;
  // patterns_[i] is scopes_[i].scope parsed once at load; shared so copies stay cheap.
  std::vector<std::shared_ptr<const policy_internal::ScopePattern>> patterns_;
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_POLICY_H_
