// The agent's ImageJudge: the policy for the pod's namespace, the verdict cache, and the
// verifier reading the registry. One verification per image at a time: concurrent requests
// for the same reference under the same policy wait for the first one's verdict.
// Thread-safety: Judge may be called concurrently. Ownership: borrows the policy set and
// the cache, which must outlive the judge. Verdicts are cached under the policy version
// and the trusted keys' ids together, so replacing a key file (same path, same policy
// bytes) and reloading drops the verdicts made with the old key.
// Verdicts of the policy alone (accept anything, reject) are cached by repository, so
// TryCached answers every tag and digest under such a scope at once. A request with
// any_policy (plugin/image_judge.h) is judged under the node policy and admitted also by a
// namespace policy's cached verdict or a namespace scope that accepts anything; namespace
// policies are never verified for it (at most one verification per question).
#ifndef LAYERSEAL_NODE_AGENT_JUDGE_H_
#define LAYERSEAL_NODE_AGENT_JUDGE_H_

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "node-agent/policy_set.h"
#include "node-agent/verdict_cache.h"
#include "plugin/image_judge.h"
#include "registry/client.h"
#include "verifier/image_source.h"
#include "verifier/manifest.h"

namespace layerseal::agent {

struct JudgeOptions {
  PolicySet* policies = nullptr;  // required
  VerdictCache* cache = nullptr;  // required
  // Per-call registry options (TLS CA, timeouts, retries). `credentials` is the node's own
  // store (e.g. docker config.json), used when the request carries none.
  registry::Options registry;
  std::set<std::string> plain_http_registries;  // "host:port" spoken to over plain HTTP
  // containerd's hosts.toml directory (AgentConfig::registry_hosts_dir); "": none. Read at
  // each verification, like containerd, so edits apply without a restart.
  std::string registry_hosts_dir;
  Platform platform;  // the node's platform, for indexes
  // Test seam: images are read from here (borrowed) instead of a registry client.
  ImageSource* source = nullptr;
};

class CachingJudge final : public plugin::ImageJudge {
 public:
  explicit CachingJudge(JudgeOptions options) : options_(std::move(options)) {}

  plugin::Judgement Judge(const plugin::JudgeRequest& request) override;
  std::optional<plugin::Judgement> TryCached(const plugin::JudgeRequest& request) override;

  // An ImageSource for `ref`'s registry as a verification would use it (its hosts,
  // plain HTTP, TLS, timeouts; `credentials`, else the node's own), for other reads of the
  // same registry (the image-integrity rules: configs, trusted bases). The test seam
  // JudgeOptions::source is returned borrowed (wrapped). Never null.
  std::unique_ptr<ImageSource> OpenSource(const Reference& ref,
                                          const std::optional<registry::Credentials>& credentials) const;

  // Verifications actually run (cache misses), for metrics and tests.
  uint64_t verifications() const { return verifications_.load(); }

 private:
  struct Flight;
  std::optional<Verdict> Cached(const Reference& ref, const std::string& version);
  std::optional<plugin::Judgement> TryCachedUnder(const Reference& ref, const Policy& policy);
  // any_policy: what the namespace policies say of `ref` without a registry: their cached
  // verdicts, and (with may_judge) what a policy decides alone (accept anything, reject).
  struct NamespaceAnswer {
    std::optional<plugin::Judgement> admitted;  // the first admitting verdict
    bool all_known = true;       // every namespace policy's verdict is known (none admits)
    bool needs_judging = false;  // !may_judge, and a policy would decide alone: judge to know
  };
  NamespaceAnswer AskNamespacePolicies(const Reference& ref, bool may_judge);
  std::optional<plugin::Judgement> TryCachedAnyPolicy(const plugin::JudgeRequest& request);
  plugin::Judgement JudgeAnyPolicy(const plugin::JudgeRequest& request);
  plugin::Judgement JudgeUnder(const plugin::JudgeRequest& request,
                               std::shared_ptr<const Policy> policy);
  Verdict Verify(const plugin::JudgeRequest& request, const Policy& policy,
                 const std::string& version, bool* from_cache);
  std::unique_ptr<ImageSource> Source(const std::string& registry, registry::Options ro) const;

  const JudgeOptions options_;
  std::atomic<uint64_t> verifications_{0};
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_JUDGE_H_
