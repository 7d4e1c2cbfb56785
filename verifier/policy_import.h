// `layerseal policy import`: a containers-policy.json (containers/image's policy, as read by
// podman, CRI-O and skopeo) turned into a layerseal policy (docs/policy.md, docs/sigstore.md
// "Migrating from containers-policy.json"). A pure function: it reads nothing itself (key and
// CA files come through ImportOptions::read_file) and returns the files to write.
// Everything it cannot express exactly is an error naming its JSON path, for example
// `transports.docker["quay.io/x"][0].signedIdentity.type`: a policy that silently admitted
// more, or less, than the original would be worse than none.
// Thread-safety: ImportContainersPolicy is reentrant.
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

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_POLICY_IMPORT_H_
