// Verdicts remembered by (repository, image manifest digest, policy version), and which
// digest a reference resolved to. Bounded (least recently used entries go first), with TTLs
// by kind: ALLOW verdicts live long; denials briefly (so a kubelet retry storm does not hit
// the registry for each try, yet a fixed image is seen soon); registry errors more briefly.
//
// Why the repository is part of the key: policy scopes match repositories, so one digest
// can be allowed in one repository and rejected in another under the same policy.
//
// ALLOW verdicts are also appended to a file (JSON lines) and read back at start, so images
// already admitted stay admitted across agent restarts without a registry round trip. A
// damaged line is skipped and counted, never fatal.
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
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::agent {

struct VerdictCacheOptions {
  size_t max_entries = 10000;
  absl::Duration allow_ttl = absl::Hours(24);
  absl::Duration deny_ttl = absl::Seconds(30);
  absl::Duration error_ttl = absl::Seconds(5);     // REGISTRY_ERROR, LIMIT_EXCEEDED
  absl::Duration resolve_ttl = absl::Seconds(10);  // tag -> digest
  std::string persist_path;                        // "" : nothing persisted
  std::function<absl::Time()> now = [] { return absl::Now(); };  // test seam
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
  // policy version and its trusted keys: see judge.h).
  void Put(const Reference& pinned, const std::string& key_version, const Verdict& verdict);
  // A verdict for a reference that never resolved to a digest (e.g. a registry error),
  // keyed by the reference text.
  std::optional<Verdict> FindUnresolved(const std::string& ref, const std::string& policy_version);
  void PutUnresolved(const std::string& ref, const Verdict& verdict);
  void PutUnresolved(const std::string& ref, const std::string& key_version, const Verdict& verdict);

  std::optional<Reference> Resolve(const std::string& ref);
  void RememberResolution(const std::string& ref, const Reference& pinned);

  size_t size() const;
  size_t skipped_lines() const;

 private:
  struct Entry {
    std::string key;
    Verdict verdict;
    absl::Time expires;
  };
  static std::optional<std::pair<std::string, Entry>> ParseLine(const std::string& line);
  absl::Duration TtlFor(const Verdict& v) const;
  std::optional<Verdict> Get(const std::string& key);
  void Insert(std::string key, const Verdict& v, absl::Time expires) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Append(const Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Compact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const VerdictCacheOptions options_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  struct Resolution {
    Reference pinned;
    absl::Time expires;
  };
  std::unordered_map<std::string, Resolution> resolutions_ ABSL_GUARDED_BY(mu_);
  FILE* persist_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  size_t skipped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_VERDICT_CACHE_H_
