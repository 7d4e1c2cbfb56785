#include "node-agent/judge.h"

#include <chrono>
#include <utility>

#include "absl/synchronization/notification.h"
#include "registry/hosts.h"
#include "registry/hosts_source.h"
#include "verifier/str_cat.h"
#include "verifier/verifier.h"

namespace layerseal::agent {

struct CachingJudge::Flight {
  absl::Notification done;
  Verdict verdict;
  bool from_cache = false;
};

// A verdict already known for `ref` (by digest, or through a recent tag resolution), with
// `ref` as its reference.
std::optional<Verdict> CachingJudge::Cached(const Reference& ref, const std::string& version) {
  std::string text = ref.ToString();
  std::optional<Verdict> v = options_.cache->FindUnresolved(text, version);
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

std::optional<plugin::Judgement> CachingJudge::TryCached(const plugin::JudgeRequest& request) {
  std::shared_ptr<const Policy> policy = options_.policies->For(request.pod.ns);
  if (std::optional<Verdict> v = Cached(request.reference, policy->trust_version())) {
    return plugin::Judgement{.verdict = *std::move(v), .cached = true};
  }
  return std::nullopt;
}

plugin::Judgement CachingJudge::Judge(const plugin::JudgeRequest& request) {
  if (std::optional<plugin::Judgement> known = TryCached(request)) return *std::move(known);
  std::shared_ptr<const Policy> policy = options_.policies->For(request.pod.ns);
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

Verdict CachingJudge::Verify(const plugin::JudgeRequest& request, const Policy& policy,
                             const std::string& version, bool* from_cache) {
  const Reference& ref = request.reference;
  registry::Options ro = options_.registry;
  ro.plain_http = options_.plain_http_registries.count(ref.registry) > 0;
  if (request.credentials) ro.credentials = registry::StaticCredentials(ref.registry, *request.credentials);
  std::unique_ptr<ImageSource> source = Source(ref.registry, std::move(ro));
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
    cache.Put(pinned, version, v);
  } else if (v.reason != Reason::kInsecureAcceptAnything && v.reason != Reason::kRejectedByPolicy) {
    cache.PutUnresolved(text, version, v);  // e.g. the registry was unreachable: brief negative entry
  }
  return v;
}

}  // namespace layerseal::agent
