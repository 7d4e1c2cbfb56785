// What the agent learned about images' content after their pull (issue 18): the judgement of
// a scope's image-integrity rules (verifier/image_integrity.h) on the bytes containerd holds,
// and integrity-scrub mismatches. The judge consults it for ImageStatus and CreateContainer,
// the sweep for running containers; the pull check and the scrub fill it.
//
// Two kinds of record, by image manifest digest:
//   - a rules result: the verdict ApplyIntegrity made under the rules whose
//     IntegrityRules::Fingerprint() is `fingerprint` (a changed rule is a new fingerprint, so
//     it is never answered by an old result);
//   - a corruption mark: a blob of the image no longer hashes to its descriptor. It holds
//     under every policy until the image is pulled again (Forget), since the bytes on disk
//     are not the bytes that were judged.
// Bounded: at most max_results rules results (the least recently stored go first: they are
// recomputed from the content store when asked again); corruption marks are at most
// kMaxCorruptImages (a scrub that finds more stops marking and says so in its report).
//
// Thread-safety: all methods may be called concurrently. Ownership: owns its records.
#ifndef LAYERSEAL_NODE_AGENT_INTEGRITY_STATE_H_
#define LAYERSEAL_NODE_AGENT_INTEGRITY_STATE_H_

#include <cstddef>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/digest.h"
#include "verifier/verdict.h"

namespace layerseal::agent {

inline constexpr size_t kDefaultMaxIntegrityResults = 16384;
inline constexpr size_t kMaxCorruptImages = 16384;

class IntegrityState {
 public:
  explicit IntegrityState(size_t max_results = kDefaultMaxIntegrityResults)
      : max_results_(max_results) {}

  // The verdict of the rules `fingerprint` for `image` (ALLOW or the integrity DENY). A
  // verdict for the same (image, fingerprint) replaces the older one.
  void Remember(const Digest& image, const std::string& fingerprint, const Verdict& verdict);
  std::optional<Verdict> Lookup(const Digest& image, const std::string& fingerprint) const;

  // A scrub mismatch (detail names the blob, expected and actual digest). False when
  // kMaxCorruptImages are marked already (nothing is dropped to make room).
  bool MarkCorrupt(const Digest& image, const std::string& detail, absl::Time when);
  struct Corruption {
    std::string detail;
    absl::Time when;
  };
  std::optional<Corruption> Corrupt(const Digest& image) const;

  // The image was removed or pulled again: its records go.
  void Forget(const Digest& image);

  size_t results() const;
  size_t corrupt_images() const;

 private:
  using Key = std::pair<std::string, std::string>;  // (image digest, fingerprint)
  struct Entry {
    Verdict verdict;
    std::list<Key>::iterator order;
  };
  const size_t max_results_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> results_ ABSL_GUARDED_BY(mu_);
  std::list<Key> order_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::map<std::string, Corruption> corrupt_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_INTEGRITY_STATE_H_
