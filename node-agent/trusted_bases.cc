#include "node-agent/trusted_bases.h"

#include <utility>

#include "absl/time/clock.h"
#include "base/str_cat.h"

namespace layerseal::agent {

TrustedBaseResolver::TrustedBaseResolver(TrustedBaseResolverOptions options)
    : options_(std::move(options)),
      resolutions_(options_.metrics->AddCounter(
          "layerseal_trusted_base_resolutions_total",
          "Trusted bases written as references, resolved to ChainIDs through the registry, by "
          "result (resolved, error).",
          {"result"})) {
  options_.metrics->AddGaugeCallback(
      "layerseal_trusted_bases_unresolved",
      "Trusted bases of the policies in force that could not be resolved (they match no image).",
      [this] { return static_cast<double>(unresolved()); });
  thread_ = std::thread([this] { Run(); });
}

TrustedBaseResolver::~TrustedBaseResolver() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void TrustedBaseResolver::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

std::optional<TrustedBaseResolver::Entry> TrustedBaseResolver::Known(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

TrustedBaseResolver::Entry TrustedBaseResolver::Resolve(const Reference& ref, bool retry) {
  std::string key = ref.ToString();
  std::optional<Entry> known = Known(key);
  if (known && (known->chain_id || !retry || absl::Now() < known->next_try)) return *known;
  absl::StatusOr<Digest> chain_id;
  if (options_.resolve) {
    chain_id = options_.resolve(ref);
  } else {
    std::unique_ptr<ImageSource> source = options_.source_for(ref);
    chain_id = ResolveTrustedBase(ref, options_.platform, source.get());
  }
  Entry entry;
  if (chain_id.ok()) {
    entry.chain_id = *chain_id;
    resolutions_->WithLabels({"resolved"}).Increment();
  } else {
    entry.error = std::string(Sv(chain_id.status().message()));
    entry.next_try = absl::Now() + kTrustedBaseRetryInterval;
    resolutions_->WithLabels({"error"}).Increment();
  }
  bool log_it = false;
  {
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= kMaxResolvedTrustedBases && entries_.count(key) == 0) {
      // Full: forget the failures first (they are retried anyway), else answer unkept.
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = it->second.chain_id ? std::next(it) : entries_.erase(it);
      }
    }
    if (entries_.size() < kMaxResolvedTrustedBases || entries_.count(key) > 0) entries_[key] = entry;
    std::string& last = logged_[key];
    log_it = !entry.chain_id && last != entry.error;
    last = entry.error;
    if (logged_.size() > kMaxResolvedTrustedBases) logged_.clear();
  }
  if (log_it) {
    options_.logger->Warn("a trusted base could not be resolved; it matches no image until it is",
                          {{"base", key}, {"error", entry.error}});
  } else if (entry.chain_id) {
    options_.logger->Info("trusted base resolved",
                          {{"base", key}, {"chain_id", entry.chain_id->str()}});
  }
  return entry;
}

std::optional<IntegrityRules> TrustedBaseResolver::Apply(const IntegrityRules& rules,
                                                         bool may_block) {
  IntegrityRules out = rules;
  for (TrustedBase& base : out.trusted_bases) {
    if (!base.reference) continue;
    std::optional<Entry> e = Known(base.reference->ToString());
    if (!e) {
      if (!may_block) return std::nullopt;
      e = Resolve(*base.reference, /*retry=*/false);
    }
    if (e->chain_id) {
      base.chain_id = e->chain_id;
      base.unresolved.clear();
    } else {
      base.chain_id.reset();
      base.unresolved = e->error.empty() ? std::string(kNotResolvedYet) : e->error;
    }
  }
  return out;
}

void TrustedBaseResolver::ResolvePending() {
  size_t unresolved = 0;
  for (const std::shared_ptr<const Policy>& policy : options_.policies()) {
    if (!policy) continue;
    std::vector<const ScopePolicy*> scopes = {&policy->default_scope()};
    for (const ScopePolicy& s : policy->scopes()) scopes.push_back(&s);
    for (const ScopePolicy* scope : scopes) {
      for (const TrustedBase& base : scope->integrity.trusted_bases) {
        if (!base.reference) continue;
        unresolved += !Resolve(*base.reference, /*retry=*/true).chain_id.has_value();
      }
    }
  }
  unresolved_.store(unresolved);
}

void TrustedBaseResolver::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &TrustedBaseResolver::Woken),
                           kTrustedBaseRetryInterval);
      if (stop_) return;
      wake_ = false;
    }
    ResolvePending();
  }
}

}  // namespace layerseal::agent
