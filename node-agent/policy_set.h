// The policies in force on the node: the node policy, and per-namespace policies from a
// directory (<dir>/<namespace>.yaml, like CRI-O's signature_policy_dir). A pod whose
// namespace has a file there is judged by it; every other pod by the node policy.
//
// Reload() reads everything again and swaps it in at once; if any file is bad, the old set
// stays in force and the error names the file. Calls in flight keep the policy they started
// with (shared_ptr).
//
// A set can also have no policy in force (Empty(): the files could not be read at start and
// there was no last-good copy); For() then returns nullptr and the agent denies every image
// (POLICY_UNAVAILABLE). Once a policy is in force, no call takes it away again.
//
// The last-good copy: SaveLastGood() writes what the files in force said (every policy's
// bytes and source path, and the bytes of every key file it read) to one file, atomically;
// LoadLastGood() puts that copy in force when the files themselves cannot be read. Key files
// come from the copy when the policy names them by a relative path (they are written under
// `key_dir`, mirroring their original place, and the policy is parsed as if it sat in its
// original directory there); a key named by an absolute path is read from that path.
// Thread-safety: all methods may be called concurrently.
#ifndef LAYERSEAL_NODE_AGENT_POLICY_SET_H_
#define LAYERSEAL_NODE_AGENT_POLICY_SET_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "verifier/notation/trust.h"
#include "verifier/policy.h"

namespace layerseal::agent {

// More namespace policy files than this is a configuration error (each one is parsed).
inline constexpr size_t kMaxNamespacePolicies = 1024;
// A last-good copy larger than this is refused (written or read): policies are at most
// kMaxPolicyBytes each, keys small; a copy this large is damage, not a policy set.
inline constexpr size_t kMaxLastGoodBytes = 32 << 20;
// A key file larger than this is not kept in the last-good copy: the largest file a policy
// reads is a notation trust store's CRL file (notation::kMaxCrlFileBytes); keys and
// certificates are far smaller. The whole copy stays within kMaxLastGoodBytes.
inline constexpr size_t kMaxLastGoodKeyBytes = notation::kMaxCrlFileBytes;
// Key files one policy of a last-good copy may carry: its keys and trusted roots, and every
// certificate and CRL file of its notation trust stores (each store at most
// kMaxTrustStoreCertificates files, one CRL).
inline constexpr size_t kMaxLastGoodKeyFiles =
    kMaxPolicyKeys + notation::kMaxTrustStores * (notation::kMaxTrustStoreCertificates + 1);

// Where the policies in force came from.
enum class PolicyOrigin { kNone, kFiles, kLastGood };
std::string_view PolicyOriginName(PolicyOrigin o);  // "none", "files", "last-good"

class PolicySet {
 public:
  // `namespace_dir` may be empty (no namespace policies). Fails if any file is bad.
  static absl::StatusOr<std::unique_ptr<PolicySet>> Load(std::string node_path,
                                                         std::string namespace_dir);
  // A set with no policy in force until Reload() or LoadLastGood() succeeds.
  static std::unique_ptr<PolicySet> Empty(std::string node_path, std::string namespace_dir);

  // The policy for a pod in namespace `ns` ("" or unknown: the node policy); nullptr while
  // origin() is kNone.
  std::shared_ptr<const Policy> For(std::string_view ns) const;
  std::shared_ptr<const Policy> node() const { return For(""); }
  // The node policy's version, "" while no policy is in force.
  std::string version() const;
  PolicyOrigin origin() const;
  // Every namespace policy in force (one per file, in namespace order; several may be the
  // same policy text), for judging an image without a pod (ImageStatus: plugin/image_judge.h).
  std::vector<std::shared_ptr<const Policy>> NamespacePolicies() const;
  // Namespace -> policy version, for status pages and logs.
  std::map<std::string, std::string> NamespaceVersions() const;

  // Re-reads the files; on error the current policies stay in force. On success the origin
  // is kFiles.
  absl::Status Reload();
  // Cheap summary of the files' identity (path, size, mtime, inode), key files included; a
  // change means Reload.
  std::string Fingerprint() const;

  // Writes the policies in force to `path` (temp file, fsync, rename, fsync of the
  // directory). Fails unless they came from the files (origin kFiles).
  absl::Status SaveLastGood(const std::string& path) const;
  // Puts the copy at `path` in force (origin kLastGood), writing its key files under
  // `key_dir` (emptied first). On error nothing changes.
  absl::Status LoadLastGood(const std::string& path, const std::string& key_dir);

 private:
  // One policy as read: what the last-good copy keeps.
  struct Source {
    std::string ns;    // "" for the node policy
    std::string path;  // the file it was read from
    std::string yaml;  // its bytes
  };
  struct Snapshot {
    PolicyOrigin origin = PolicyOrigin::kNone;
    std::shared_ptr<const Policy> node;
    std::map<std::string, std::shared_ptr<const Policy>, std::less<>> namespaces;
    std::vector<Source> sources;  // origin kFiles only
  };
  PolicySet(std::string node_path, std::string namespace_dir)
      : node_path_(std::move(node_path)), namespace_dir_(std::move(namespace_dir)) {}
  absl::StatusOr<Snapshot> Read() const;

  const std::string node_path_;
  const std::string namespace_dir_;
  mutable absl::Mutex mu_;
  Snapshot current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_POLICY_SET_H_
