// Verdicts remembered by (repository, image manifest digest, policy version), and which
// digest a reference resolved to. Bounded (least recently used entries go first), with TTLs
// by kind: ALLOW verdicts live long; denials of a resolved image long enough to absorb the
// kubelet's whole pull back-off (10, 20, 40, 80, 160, then every 300 s) while each retry
// still re-resolves the tag (resolve_ttl), so a fixed image (a new digest behind the tag) is
// judged at the next retry; registry errors briefly. docs/agent.md states the rule.
//
// Verdicts the policy decides alone (a scope that accepts anything or rejects) depend only
// on the repository and the policy: they are kept by repository (PutForRepository), so any
// tag or digest of that repository is answered from memory.
//
// Why the repository is part of the key: policy scopes match repositories, so one digest
// can be allowed in one repository and rejected in another under the same policy.
//
// ALLOW verdicts are also appended to a file (JSON lines) and read back at start, so images
// already admitted stay admitted across agent restarts without a registry round trip. A
// damaged line is skipped and counted, never fatal.
//
// Clocks: every TTL in memory runs on the monotonic clock, so a wall clock stepped back
// cannot extend a verdict's life and one stepped forward cannot cut it short. Only the
// persisted expiry is wall time (it must mean something after a restart); on Load an entry
// whose expiry lies further ahead than allow_ttl is dropped (the wall clock was stepped back
// since it was written, or the TTL shortened: its age is unknown, so it is verified again),
// which bounds a remembered verdict's life by allow_ttl whatever the clock did.
// Thread-safety: all methods may be called concurrently.
#ifndef LAYERSEAL_NODE_AGENT_VERDICT_CACHE_H_
#define LAYERSEAL_NODE_AGENT_VERDICT_CACHE_H_

#include <cstdio>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "telemetry/metrics.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::agent {

inline constexpr absl::Duration kDefaultDenyTtl = absl::Minutes(15);
// Denials under a scope that accepts signatures kept beside the image (cosign, notation: OCI
// referrers and tags) are reused only this long: a signature attached after the denial
// changes no digest, so nothing in the key would notice it.
inline constexpr absl::Duration kDefaultReferrerDenyTtl = absl::Seconds(30);
// The longest line of the remembered-verdicts file that is read (a real one is ~0.5 KiB): a
// longer line is damage, skipped and counted, and never held in memory whole.
inline constexpr size_t kMaxVerdictCacheLineBytes = 16 * 1024;

struct VerdictCacheOptions {
  size_t max_entries = 10000;
  absl::Duration allow_ttl = absl::Hours(24);
  // A denial is keyed by digest and policy version (with its keys): neither a fixed image (new
  // digest), a policy reload nor a replaced key can hit it. Longer than the kubelet's back-off
  // climb summed (10+20+40+80+160+300 = 610 s): every retry of the climb is a hit, and then
  // at most one retry in three (300 s apart) verifies again.
  absl::Duration deny_ttl = kDefaultDenyTtl;
  // A DENY put with `signatures_beside_image` (Put): min(deny_ttl, referrer_deny_ttl). The
  // kubelet's retry after a signature was attached is then judged afresh within this time.
  absl::Duration referrer_deny_ttl = kDefaultReferrerDenyTtl;
  absl::Duration error_ttl = absl::Seconds(5);     // REGISTRY_ERROR, LIMIT_EXCEEDED
  absl::Duration resolve_ttl = absl::Seconds(10);  // tag -> digest
  std::string persist_path;                        // "" : nothing persisted
  // Borrowed, must outlive the cache; nullptr: SystemClock(). Tests pass a fake.
  const Clock* clock = nullptr;
};

class VerdictCache {
 public:
  explicit VerdictCache(VerdictCacheOptions options);
  ~VerdictCache();

  // Reads persist_path (if any) and compacts it. Errors only for an unusable file path;
  // bad lines are skipped (see skipped_lines()).
  absl::Status Load();

  // The verdict for `pinned` (repository@digest) under `policy_version`.
  std::optional<Verdict> Find(const Reference& pinned, const std::string& policy_version);
  void Put(const Reference& pinned, const Verdict& verdict);
  // Same, keyed by `key_version` instead of verdict.policy_version (the judge keys by the
  // policy version and its trusted keys: see judge.h). `signatures_beside_image`: the scope
  // that judged it accepts cosign or notation signatures (a DENY then lives
  // referrer_deny_ttl at most).
  void Put(const Reference& pinned, const std::string& key_version, const Verdict& verdict,
           bool signatures_beside_image = false);
  // A verdict for a reference that never resolved to a digest (e.g. a registry error),
  // keyed by the reference text.
  std::optional<Verdict> FindUnresolved(const std::string& ref, const std::string& policy_version);
  void PutUnresolved(const std::string& ref, const Verdict& verdict);
  void PutUnresolved(const std::string& ref, const std::string& key_version, const Verdict& verdict);

  // A verdict of the policy alone (reason INSECURE_ACCEPT_ANYTHING or REJECTED_BY_POLICY),
  // for every reference in `repository` (Reference::Name()) under `key_version`.
  std::optional<Verdict> FindForRepository(const std::string& repository,
                                           const std::string& key_version);
  void PutForRepository(const std::string& repository, const std::string& key_version,
                        const Verdict& verdict);

  std::optional<Reference> Resolve(const std::string& ref);
  void RememberResolution(const std::string& ref, const Reference& pinned);

  size_t size() const;
  size_t skipped_lines() const;

  // Defines layerseal_verdict_cache_entries (size() at scrape time) in `metrics`, which
  // must not be rendered once this cache is gone.
  void AddMetrics(telemetry::MetricsRegistry& metrics) const;

 private:
  struct Entry {
    std::string key;
    Verdict verdict;
    absl::Duration expires;  // on clock_.Monotonic()
  };
  // A persisted line: the entry and its wall-clock expiry.
  struct Line {
    std::string key;
    Verdict verdict;
    absl::Time expires;
  };
  static std::optional<Line> ParseLine(const std::string& line);
  absl::Duration TtlFor(const Verdict& v, bool signatures_beside_image = false) const;
  std::optional<Verdict> Get(const std::string& key);
  void Insert(std::string key, const Verdict& v, absl::Duration expires) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Append(const Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Compact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string LineText(const Entry& e) const;

  const VerdictCacheOptions options_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  struct Resolution {
    Reference pinned;
    absl::Duration expires;  // on clock_.Monotonic()
  };
  std::unordered_map<std::string, Resolution> resolutions_ ABSL_GUARDED_BY(mu_);
  FILE* persist_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  size_t skipped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_VERDICT_CACHE_H_
