// `layerseal policy import`: a containers-policy.json (containers/image's policy, as read by
// podman, CRI-O and skopeo) turned into a layerseal policy (docs/policy.md, docs/sigstore.md
// "Migrating from containers-policy.json"); or a Notary Project trustpolicy.oci.json with its
// trust stores (below, issue 20). Pure functions: they read nothing themselves (key, CA and
// certificate files come through the options' callbacks) and return the files to write.
// Everything it cannot express exactly is an error naming its JSON path, for example
// `transports.docker["quay.io/x"][0].signedIdentity.type`: a policy that silently admitted
// more, or less, than the original would be worse than none.
// Thread-safety: ImportContainersPolicy and ImportNotationTrustPolicy are reentrant.
#ifndef LAYERSEAL_VERIFIER_POLICY_IMPORT_H_
#define LAYERSEAL_VERIFIER_POLICY_IMPORT_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace layerseal {

inline constexpr size_t kMaxContainersPolicyBytes = 1 << 20;
inline constexpr size_t kMaxImportedKeyFileBytes = 64 * 1024;  // keyPath, caPath, rekor keys
inline constexpr size_t kMaxImportedKeys = 256;                // as kMaxPolicyKeys
inline constexpr size_t kMaxImportedCaCerts = 64;              // certificates in one caPath/caData

// The path of the trusted root inside the output directory, and its name in the policy.
inline constexpr std::string_view kImportedTrustedRootPath = "sigstore/trusted_root.json";
inline constexpr std::string_view kImportedTrustedRootName = "imported";

struct ImportOptions {
  // The bytes of a trusted_root.json (`--trusted-root`): needed for fulcio and for Rekor
  // keys, which must be the root's CAs and tlogs. Written to kImportedTrustedRootPath.
  std::optional<std::string> trusted_root_json;
  // Reads a file the containers policy names (keyPath, caPath, rekorPublicKeyPath), at most
  // `max_bytes`. Unset: every such path is an error.
  std::function<absl::StatusOr<std::string>(const std::string& path, size_t max_bytes)> read_file;
};

struct ImportedFile {
  std::string path;  // relative to the output directory: "keys/imported-1.pub"
  std::string contents;
};

struct ImportedPolicy {
  std::string yaml;                 // policy.yaml, loadable by Policy::Parse next to `files`
  std::vector<ImportedFile> files;  // key files and the trusted root
};

// InvalidArgument naming the JSON path for anything that cannot be expressed (see the mapping
// table in docs/sigstore.md); errors of read_file and of the trusted root's parser are
// passed on with the path that named the file.
absl::StatusOr<ImportedPolicy> ImportContainersPolicy(std::string_view json,
                                                      const ImportOptions& options);

// ---- Notary Project trust policy (issue 20, docs/policy.md "Importing a Notary Project trust
// policy") ----
// A trustpolicy.oci.json (version "1.0") plus notation's trust store directory turned into a
// layerseal policy: each trust policy statement becomes one `exact: true` scope per entry of
// its registryScopes (notation's scopes are exact repositories), the global statement ("*")
// the default; every trust store a statement names ("ca:acme") becomes a top-level
// trustStores entry named "<type>-<name>" ("ca-acme") whose certificates are copied under
// kImportedTrustStoreDir/x509/<type>/<name>/. Without a global statement the default is
// reject (notation verifies nothing else either).

inline constexpr size_t kMaxNotationTrustPolicyBytes = 1 << 20;
inline constexpr size_t kMaxNotationTrustPolicies = 1024;  // statements in one document
// Where the copied certificates go in the output directory, and in the written policy.
inline constexpr std::string_view kImportedTrustStoreDir = "truststore";

// One entry of a directory, as lstat(2) sees it.
struct DirEntry {
  enum class Type { kFile, kDirectory, kSymlink, kOther };
  std::string name;  // a file name: no '/'
  Type type = Type::kFile;
};

struct NotationImportOptions {
  // notation's trust store directory (`--trust-store`, {NOTATION_CONFIG}/truststore): the
  // store "ca:acme" is the directory <trust_store>/x509/ca/acme.
  std::string trust_store;
  // The entries directly in `dir` ("." and ".." left out), at most `max_entries` + 1 of them
  // (more is refused anyway): NotFound when `dir` is missing, FailedPrecondition when it is
  // a symlink or not a directory. Unset: every trust store is an error.
  std::function<absl::StatusOr<std::vector<DirEntry>>(const std::string& dir, size_t max_entries)>
      list_dir;
  // Reads one certificate file, at most `max_bytes` (notation::kMaxTrustStoreFileBytes).
  std::function<absl::StatusOr<std::string>(const std::string& path, size_t max_bytes)> read_file;
};

// InvalidArgument naming the JSON path (`trustPolicies[1].registryScopes[0]`) for anything
// that notation would refuse or layerseal cannot express exactly: a version other than "1.0",
// an unknown member, a missing or repeated statement name, a second global statement, '*'
// anywhere but alone, a scope that is not a canonical repository, a scope in two statements,
// a bad level, override, trust store or trusted identity (the rules of
// verifier/notation/trust.h), skip with trust stores or identities, any other level without.
// A trust store whose directory is missing, empty, or holds a directory, a symlink or a file
// over notation::kMaxTrustStoreFileBytes is an error naming the statement's trustStores
// entry. Files whose names do not end in .pem, .crt or .cer (notation reads every file of a
// store; notation::LoadTrustStore only those) are copied with ".crt" appended. The
// certificates themselves are not judged here: load the written policy (the CLI does).
absl::StatusOr<ImportedPolicy> ImportNotationTrustPolicy(std::string_view json,
                                                         const NotationImportOptions& options);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_POLICY_IMPORT_H_
