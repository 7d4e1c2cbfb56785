// The agent's PulledImageCheck (plugin/pulled_image_check.h): a scope's image-integrity
// rules (verifier/image_integrity.h) judged on the image the runtime pulls or holds, and the
// integrity scrub's corruption marks (integrity_state.h).
//
// Which rules: the scope of the policy that admitted the image (the pod's namespace policy,
// or for a pod-less question the policy in force whose version the admitting verdict
// carries), with trusted bases written as references resolved by the TrustedBaseResolver.
// Results are remembered in the IntegrityState under the image's manifest digest and the
// rules' Fingerprint(), so a changed rule (or a base resolved later) is judged anew and an
// unchanged one never twice.
//
// Where the bytes come from (never downloaded twice):
//   - before the pull, the trusted-base rule is judged over the config read from the
//     registry through the same kind of ImageSource the verification used (the manifest by
//     digest and the config: two small reads, once per image and rules; the verifier's own
//     config is not at hand for cosign signatures or a cached verdict). A registry error
//     there defers the judgement to after the pull;
//   - after the pull and for images the runtime holds, everything is read from containerd's
//     content store through a ContainerdBlobReader (under a lease). A runtime without the
//     content service (CRI-O) or a blob it no longer has (discard_unpacked_layers): the
//     manifest and config come from the registry, and a rule needing layers denies
//     CONTENT_UNAVAILABLE (fail closed) while the base rule still holds or fails on the config.
//
// Remembered: ALLOW, UNTRUSTED_BASE, PROTECTED_PATH (facts of the content-addressed image)
// and, for images the runtime holds, any other denial too (so an ImageStatus does not read
// the content again); a pull never takes a remembered CONTENT_UNAVAILABLE or
// INTEGRITY_MISMATCH as final but judges what it pulled. A corruption mark denies
// INTEGRITY_MISMATCH for images the runtime holds; a pull of a marked image re-hashes every
// blob after the pull (the mark is forgotten first): still corrupt, the gates remove it
// (containerd then drops its blobs, and the next pull fetches them afresh).
//
// Inspections that read layers run at most `max_inspections` at a time (each holds a gate
// worker while it waits), one per image and rules (concurrent askers wait for the first).
//
// Thread-safety: all methods may be called concurrently. Ownership: borrows everything in
// its options, which must outlive it.
#ifndef LAYERSEAL_NODE_AGENT_PULL_CHECK_H_
#define LAYERSEAL_NODE_AGENT_PULL_CHECK_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "node-agent/containerd_content.h"
#include "node-agent/integrity_state.h"
#include "node-agent/policy_set.h"
#include "node-agent/trusted_bases.h"
#include "plugin/pulled_image_check.h"
#include "registry/credentials.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "verifier/image_integrity.h"
#include "verifier/image_source.h"

namespace layerseal::agent {

// Inspections reading layers at once (decompression is CPU-bound; the node has other work).
inline constexpr int kDefaultMaxInspections = 2;

struct PullCheckOptions {
  PolicySet* policies = nullptr;          // required
  IntegrityState* state = nullptr;        // required
  TrustedBaseResolver* bases = nullptr;   // required
  // containerd's content store; nullptr: none (every layer read is "not available").
  ContainerdContent* content = nullptr;
  // An ImageSource for the reference's registry with the request's credentials (else the
  // node's): CachingJudge::OpenSource. Required.
  std::function<std::unique_ptr<ImageSource>(const Reference&,
                                             const std::optional<registry::Credentials>&)>
      source_for;
  Platform platform;
  int max_inspections = kDefaultMaxInspections;
  // Re-hash every blob and layer of every pulled image before PullImage answers (the
  // integrity scrub at pull time), whatever the rules.
  bool scrub_on_pull = false;
  telemetry::Logger* logger = nullptr;            // required
  telemetry::MetricsRegistry* metrics = nullptr;  // required
};

class PullCheck final : public plugin::PulledImageCheck {
 public:
  explicit PullCheck(PullCheckOptions options);

  plugin::IntegrityResult BeforePull(const plugin::JudgeRequest& request,
                                     const Verdict& admitted) override;
  plugin::IntegrityResult AfterPull(const plugin::JudgeRequest& request,
                                    const Verdict& admitted) override;
  std::optional<plugin::IntegrityResult> TryKnown(const plugin::JudgeRequest& request,
                                                  const Verdict& admitted) override;
  plugin::IntegrityResult Check(const plugin::JudgeRequest& request,
                                const Verdict& admitted) override;

 private:
  struct Flight;
  // The scope's rules for the request (references resolved; nullopt: !may_block and a
  // base was never tried), or an error verdict's detail when the admitting policy is gone.
  struct Rules {
    std::optional<IntegrityRules> rules;
    std::string fingerprint;
    std::string missing_policy;  // non-empty: no policy in force carries the verdict's version
  };
  Rules RulesFor(const plugin::JudgeRequest& request, const Verdict& admitted, bool may_block);
  // Judges the image's content: reads it (containerd first), inspects, applies, remembers.
  plugin::IntegrityResult Inspect(const plugin::JudgeRequest& request, const Verdict& admitted,
                                  const Digest& image, const IntegrityRules& rules,
                                  const std::string& fingerprint, bool scrub, bool pulled);
  plugin::IntegrityResult InspectNow(const plugin::JudgeRequest& request, const Verdict& admitted,
                                     const Digest& image, const IntegrityRules& rules,
                                     const std::string& fingerprint, bool scrub);
  // The base rule alone over the config from the registry; nullopt when the registry could
  // not be read (judged after the pull instead).
  std::optional<Verdict> JudgeBaseFromRegistry(const plugin::JudgeRequest& request,
                                               const Verdict& admitted, const Digest& image,
                                               const IntegrityRules& rules);
  void Count(std::string_view stage, const Verdict& v);
  bool SlotFree() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return running_ < options_.max_inspections;
  }

  const PullCheckOptions options_;
  telemetry::Family<telemetry::Counter>* checks_;
  mutable absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_PULL_CHECK_H_
