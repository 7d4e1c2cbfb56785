#include "node-agent/judge.h"

#include <chrono>
#include <set>
#include <utility>

#include "absl/synchronization/notification.h"
#include "registry/hosts.h"
#include "registry/hosts_source.h"
#include "base/str_cat.h"
#include "verifier/verifier.h"

namespace layerseal::agent {

struct CachingJudge::Flight {
  absl::Notification done;
  Verdict verdict;
  bool from_cache = false;
};

// A verdict already known for `ref`: the policy's verdict for its whole repository, or one
// by digest (directly or through a recent tag resolution), with `ref` as its reference.
std::optional<Verdict> CachingJudge::Cached(const Reference& ref, const std::string& version) {
  std::string text = ref.ToString();
  std::optional<Verdict> v = options_.cache->FindForRepository(ref.Name(), version);
  if (!v) v = options_.cache->FindUnresolved(text, version);
  if (!v) {
    std::optional<Reference> pinned = ref.digest ? ref : options_.cache->Resolve(text);
    if (pinned) v = options_.cache->Find(*pinned, version);
  }
  if (v) {
    v->reference = text;
    v->duration = absl::ZeroDuration();
  }
  return v;
}

std::optional<plugin::Judgement> CachingJudge::TryCachedUnder(const Reference& ref,
                                                             const Policy& policy) {
  if (std::optional<Verdict> v = Cached(ref, policy.trust_version())) {
    return plugin::Judgement{.verdict = *std::move(v), .cached = true};
  }
  return std::nullopt;
}

namespace {
// Whether `policy` decides on `ref` without reading the image (accept anything, reject).
bool DecidedByPolicyAlone(const Reference& ref, const Policy& policy) {
  Requirement r = policy.Resolve(ref).requirement;
  return r == Requirement::kInsecureAcceptAnything || r == Requirement::kReject;
}
}  // namespace

CachingJudge::NamespaceAnswer CachingJudge::AskNamespacePolicies(const Reference& ref,
                                                                bool may_judge) {
  NamespaceAnswer answer;
  std::set<std::string> asked;  // several namespaces may share one policy
  for (const std::shared_ptr<const Policy>& policy : options_.policies->NamespacePolicies()) {
    if (!asked.insert(policy->trust_version()).second) continue;
    std::optional<plugin::Judgement> j = TryCachedUnder(ref, *policy);
    if (!j && DecidedByPolicyAlone(ref, *policy)) {
      if (!may_judge) {
        answer.needs_judging = true;
        continue;
      }
      j = JudgeUnder(plugin::JudgeRequest{.reference = ref}, policy);  // no registry I/O
    }
    if (!j) {
      answer.all_known = false;
    } else if (j->verdict.admits()) {
      answer.admitted = std::move(j);
      return answer;
    }
  }
  return answer;
}

std::optional<plugin::Judgement> CachingJudge::TryCachedAnyPolicy(
    const plugin::JudgeRequest& request) {
  std::optional<plugin::Judgement> node = TryCachedUnder(request.reference, *options_.policies->node());
  if (node && node->verdict.admits()) return node;
  NamespaceAnswer ns = AskNamespacePolicies(request.reference, /*may_judge=*/false);
  if (ns.admitted) return ns.admitted;
  if (ns.needs_judging) return std::nullopt;
  if (node) node->conclusive = ns.all_known;
  return node;  // nullopt: the node policy must verify
}

std::optional<plugin::Judgement> CachingJudge::TryCached(const plugin::JudgeRequest& request) {
  if (request.any_policy) return TryCachedAnyPolicy(request);
  return TryCachedUnder(request.reference, *options_.policies->For(request.pod.ns));
}

plugin::Judgement CachingJudge::Judge(const plugin::JudgeRequest& request) {
  if (std::optional<plugin::Judgement> known = TryCached(request)) return *std::move(known);
  if (request.any_policy) return JudgeAnyPolicy(request);
  return JudgeUnder(request, options_.policies->For(request.pod.ns));
}

// The node policy verifies; a namespace policy admits by what is known of it (a verdict
// cached meanwhile counts too) or by what it decides alone.
plugin::Judgement CachingJudge::JudgeAnyPolicy(const plugin::JudgeRequest& request) {
  plugin::Judgement node = JudgeUnder(request, options_.policies->node());
  if (node.verdict.admits()) return node;
  NamespaceAnswer ns = AskNamespacePolicies(request.reference, /*may_judge=*/true);
  if (ns.admitted) return *std::move(ns.admitted);
  node.conclusive = ns.all_known;
  return node;
}

plugin::Judgement CachingJudge::JudgeUnder(const plugin::JudgeRequest& request,
                                           std::shared_ptr<const Policy> policy) {
  if (std::optional<plugin::Judgement> known = TryCachedUnder(request.reference, *policy)) {
    return *std::move(known);
  }
  // Keyed by the trusted keys too: a key replaced under the same path keeps the version.
  const std::string& version = policy->trust_version();
  std::string key = StrCat(request.reference.ToString(), "|", version);
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Flight>& slot = flights_[key];
    if (!slot) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  if (leader) {
    flight->verdict = Verify(request, *policy, version, &flight->from_cache);
    {
      absl::MutexLock lock(&mu_);
      flights_.erase(key);
    }
    flight->done.Notify();
    return plugin::Judgement{.verdict = flight->verdict, .cached = flight->from_cache};
  }
  flight->done.WaitForNotification();
  // A follower ran no verification of its own.
  return plugin::Judgement{.verdict = flight->verdict, .cached = true};
}

// The registry directly, or through its hosts (mirrors) when a hosts directory is set.
std::unique_ptr<ImageSource> CachingJudge::Source(const std::string& registry,
                                                 registry::Options ro) const {
  if (options_.registry_hosts_dir.empty()) {
    return std::make_unique<registry::RegistryClient>(std::move(ro));
  }
  absl::StatusOr<std::vector<registry::RegistryHost>> hosts =
      registry::HostsFor(options_.registry_hosts_dir, registry);
  if (hosts.ok() && ro.plain_http) hosts->back().scheme = "http";  // --plain-http-registry
  return std::make_unique<registry::HostsSource>(registry, std::move(hosts), ro);
}

namespace {
// JudgeOptions::source lent out by OpenSource.
class BorrowedImageSource final : public ImageSource {
 public:
  explicit BorrowedImageSource(ImageSource* source) : source_(source) {}
  absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref, size_t max_bytes) override {
    return source_->FetchManifest(ref, max_bytes);
  }
  absl::StatusOr<std::string> FetchBlob(const Reference& repo, const Digest& digest,
                                        size_t max_bytes) override {
    return source_->FetchBlob(repo, digest, max_bytes);
  }
  absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo, const Digest& subject,
                                                 std::string_view artifact_type,
                                                 size_t max_bytes) override {
    return source_->FetchReferrers(repo, subject, artifact_type, max_bytes);
  }

 private:
  ImageSource* source_;
};
}  // namespace

std::unique_ptr<ImageSource> CachingJudge::OpenSource(
    const Reference& ref, const std::optional<registry::Credentials>& credentials) const {
  if (options_.source != nullptr) return std::make_unique<BorrowedImageSource>(options_.source);
  registry::Options ro = options_.registry;
  ro.plain_http = options_.plain_http_registries.count(ref.registry) > 0;
  if (credentials) ro.credentials = registry::StaticCredentials(ref.registry, *credentials);
  return Source(ref.registry, std::move(ro));
}

Verdict CachingJudge::Verify(const plugin::JudgeRequest& request, const Policy& policy,
                             const std::string& version, bool* from_cache) {
  const Reference& ref = request.reference;
  std::unique_ptr<ImageSource> source = OpenSource(ref, request.credentials);
  Verifier verifier(source.get(), &policy, options_.platform);

  VerdictCache& cache = *options_.cache;
  std::string text = ref.ToString();
  Verdict v = verifier.Verify(ref, [&](const Reference& pinned) -> std::optional<Verdict> {
    if (!ref.digest) cache.RememberResolution(text, pinned);
    std::optional<Verdict> known = cache.Find(pinned, version);
    *from_cache = known.has_value();
    return known;
  });
  if (*from_cache) return v;
  verifications_.fetch_add(1);
  if (v.manifest_digest) {
    Reference pinned = ref.WithDigest(*v.manifest_digest);
    // Signatures kept beside the image (referrers, tags) can arrive without a new digest.
    const ScopePolicy& scope = policy.Resolve(ref);
    bool beside = scope.Accepts(SignatureKind::kCosign) || scope.Accepts(SignatureKind::kNotation);
    cache.Put(pinned, version, v, beside);
  } else if (v.reason == Reason::kInsecureAcceptAnything || v.reason == Reason::kRejectedByPolicy) {
    cache.PutForRepository(ref.Name(), version, v);  // the policy alone decided: any tag or digest
  } else {
    cache.PutUnresolved(text, version, v);  // e.g. the registry was unreachable: brief negative entry
  }
  return v;
}

}  // namespace layerseal::agent
