// The policies in force on the node: the node policy, and per-namespace policies from a
// directory (<dir>/<namespace>.yaml, like CRI-O's signature_policy_dir). A pod whose
// namespace has a file there is judged by it; every other pod by the node policy.
//
// Reload() reads everything again and swaps it in at once; if any file is bad, the old set
// stays in force and the error names the file. Calls in flight keep the policy they started
// with (shared_ptr).
// Thread-safety: all methods may be called concurrently.
#ifndef LAYERSEAL_NODE_AGENT_POLICY_SET_H_
#define LAYERSEAL_NODE_AGENT_POLICY_SET_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "verifier/policy.h"

namespace layerseal::agent {

// More namespace policy files than this is a configuration error (each one is parsed).
inline constexpr size_t kMaxNamespacePolicies = 1024;

class PolicySet {
 public:
  // `namespace_dir` may be empty (no namespace policies). Fails if any file is bad.
  static absl::StatusOr<std::unique_ptr<PolicySet>> Load(std::string node_path,
                                                         std::string namespace_dir);

  // The policy for a pod in namespace `ns` ("" or unknown: the node policy).
  std::shared_ptr<const Policy> For(std::string_view ns) const;
  std::shared_ptr<const Policy> node() const { return For(""); }
  // Namespace -> policy version, for status pages and logs.
  std::map<std::string, std::string> NamespaceVersions() const;

  // Re-reads the files; on error the current policies stay in force.
  absl::Status Reload();
  // Cheap summary of the files' identity (path, size, mtime, inode), key files included; a
  // change means Reload.
  std::string Fingerprint() const;

 private:
  struct Snapshot {
    std::shared_ptr<const Policy> node;
    std::map<std::string, std::shared_ptr<const Policy>, std::less<>> namespaces;
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
