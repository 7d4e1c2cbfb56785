// Trusted bases written as references (`trustedBases: ["debian:12@sha256:..."]`, issue 18)
// resolved to ChainIDs through the registry (ResolveTrustedBase over the agent's registry
// client, node's own credentials), for the image-integrity rules in force.
//
// A reference always carries a digest, so its ChainID never changes: a resolved one is kept
// (at most kMaxResolvedTrustedBases, keyed by the reference's text) and never asked again.
// A failed resolution is kept too, with its error, and retried after
// kTrustedBaseRetryInterval by the resolver's own thread, which also wakes whenever the
// policies change (Wake: the agent calls it on every reload and on the policy watch's tick)
// and resolves every base of every policy in force that is not resolved yet. The CRI path
// never waits for a registry it already failed to reach: Apply answers from memory, and
// only a base never tried yet is resolved in the caller's thread (a gate worker; the first
// pull after a reload that named it).
//
// An unresolved base matches no image (fail closed: the rules deny UNTRUSTED_BASE and the
// base's `unresolved` says why); each failure is logged once per distinct error and counted
// in layerseal_trusted_base_resolutions_total{result="error"}; layerseal_trusted_bases_unresolved
// is the number of bases of the policies in force not resolved at the last pass.
//
// Thread-safety: all methods may be called concurrently. Ownership: borrows the logger and
// the metrics registry, which must outlive it; owns its thread (joined by the destructor).
#ifndef LAYERSEAL_NODE_AGENT_TRUSTED_BASES_H_
#define LAYERSEAL_NODE_AGENT_TRUSTED_BASES_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "verifier/image_integrity.h"
#include "verifier/image_source.h"
#include "verifier/manifest.h"
#include "verifier/policy.h"

namespace layerseal::agent {

// Distinct trusted-base references remembered (resolved or failed).
inline constexpr size_t kMaxResolvedTrustedBases = 4096;
// A failed resolution is tried again after this long (by the resolver's thread).
inline constexpr absl::Duration kTrustedBaseRetryInterval = absl::Seconds(30);
// The detail of a base no resolution has been tried for yet (memory-only callers).
inline constexpr std::string_view kNotResolvedYet = "not resolved yet";

struct TrustedBaseResolverOptions {
  // An ImageSource for the reference's registry (CachingJudge::OpenSource with the node's
  // credentials). Required.
  std::function<std::unique_ptr<ImageSource>(const Reference&)> source_for;
  Platform platform;  // the node's: an index is resolved to its manifest for this platform
  // Every policy in force (node and namespaces), read by the resolver's thread. Required.
  std::function<std::vector<std::shared_ptr<const Policy>>()> policies;
  telemetry::Logger* logger = nullptr;            // required
  telemetry::MetricsRegistry* metrics = nullptr;  // required
  // Test seam: ResolveTrustedBase; also counts as "the registry was asked".
  std::function<absl::StatusOr<Digest>(const Reference&)> resolve;
};

class TrustedBaseResolver {
 public:
  explicit TrustedBaseResolver(TrustedBaseResolverOptions options);
  ~TrustedBaseResolver();  // stops and joins the thread
  TrustedBaseResolver(const TrustedBaseResolver&) = delete;
  TrustedBaseResolver& operator=(const TrustedBaseResolver&) = delete;

  // `rules` with every base written as a reference given its ChainID (resolved) or its
  // `unresolved` reason. A base never tried yet is resolved now when `may_block` (registry
  // I/O), else Apply returns nullopt (the caller goes to a worker). Rules without reference
  // bases come back as they are.
  std::optional<IntegrityRules> Apply(const IntegrityRules& rules, bool may_block);

  // Asks the thread to resolve what the policies in force name and is not resolved (after a
  // reload; on the watch's tick only failed ones past their retry time are tried again).
  void Wake();
  // Resolves, in the caller's thread, every base of the policies in force that is not
  // resolved and whose retry time has come (the thread's pass; for tests and Start).
  void ResolvePending();

  size_t unresolved() const { return unresolved_.load(); }

 private:
  struct Entry {
    std::optional<Digest> chain_id;
    std::string error;       // why not, when chain_id is empty
    absl::Time next_try;     // a failed one: not before
  };
  // The entry for `ref`, resolving it now when it was never tried (or its retry time came
  // and `retry`).
  Entry Resolve(const Reference& ref, bool retry);
  std::optional<Entry> Known(const std::string& key) const;
  void Run();
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stop_; }

  const TrustedBaseResolverOptions options_;
  telemetry::Family<telemetry::Counter>* resolutions_;
  std::atomic<size_t> unresolved_{0};
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> logged_ ABSL_GUARDED_BY(mu_);  // key -> last error logged
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_TRUSTED_BASES_H_
