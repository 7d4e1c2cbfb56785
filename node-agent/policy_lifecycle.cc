#include "node-agent/policy_lifecycle.h"

#include <optional>
#include <utility>

#include "base/str_cat.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

std::string Printable(std::string text) {
  if (text.size() > kMaxPolicyErrorInDetail) text.resize(kMaxPolicyErrorInDetail);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return text;
}

// Judges nothing while no policy is in force: every image is denied (POLICY_UNAVAILABLE),
// so the agent can run (and every other CRI call pass) without a policy, failing closed.
// Once a policy is in force, PolicySet never goes back to none, so `next` always finds one.
// Thread-safety: as ImageJudge. Ownership: borrows everything.
class PolicyGuardJudge final : public plugin::ImageJudge {
 public:
  PolicyGuardJudge(const PolicyLifecycle* lifecycle, plugin::ImageJudge* next)
      : lifecycle_(lifecycle), next_(next) {}

  plugin::Judgement Judge(const plugin::JudgeRequest& request) override {
    if (lifecycle_->origin() != PolicyOrigin::kNone) return next_->Judge(request);
    Verdict v;
    v.decision = Decision::kDeny;
    v.reason = Reason::kPolicyUnavailable;
    v.mode = Mode::kEnforce;
    v.reference = request.reference.ToString();
    v.detail = StrCat("the node policy could not be loaded (", lifecycle_->error(),
                      "); every image is denied until it can be");
    return plugin::Judgement{.verdict = std::move(v), .cached = false};
  }

  std::optional<plugin::Judgement> TryCached(const plugin::JudgeRequest& request) override {
    if (lifecycle_->origin() == PolicyOrigin::kNone) return std::nullopt;  // Judge denies
    return next_->TryCached(request);
  }

 private:
  const PolicyLifecycle* const lifecycle_;
  plugin::ImageJudge* const next_;
};

}  // namespace

PolicyLifecycle::PolicyLifecycle(PolicyLifecycleOptions options)
    : options_(std::move(options)), log_(*options_.logger) {
  telemetry::MetricsRegistry& m = *options_.metrics;
  reloads_ = m.AddCounter("layerseal_policy_reloads_total", "Policy reloads by result (ok, error).",
                          {"result"});
  m.AddGaugeCallback(
      "layerseal_policy_loaded",
      "1 when the configured policy files are in force; 0 on the last-good copy or with no "
      "policy (every image denied).",
      [this] { return origin() == PolicyOrigin::kFiles ? 1.0 : 0.0; });
  m.AddGaugeCallback(
      "layerseal_policy_last_good_in_force",
      "1 when the configured policy could not be loaded and its last-good copy is in force.",
      [this] { return origin() == PolicyOrigin::kLastGood ? 1.0 : 0.0; });
  LoadAtStart();
}

PolicyLifecycle::~PolicyLifecycle() { StopWatching(); }

void PolicyLifecycle::StartWatching() {
  if (!watcher_.joinable()) watcher_ = std::thread([this] { Watch(); });
}

void PolicyLifecycle::StopWatching() {
  stop_.Notify();
  if (watcher_.joinable()) watcher_.join();
}

std::unique_ptr<plugin::ImageJudge> PolicyLifecycle::GuardJudge(plugin::ImageJudge* next) const {
  return std::make_unique<PolicyGuardJudge>(this, next);
}

std::string PolicyLifecycle::error() const {
  absl::MutexLock lock(&error_mu_);
  return Printable(error_);
}

void PolicyLifecycle::SetError(std::string error) {
  absl::MutexLock lock(&error_mu_);
  error_ = std::move(error);
}

std::string PolicyLifecycle::LastGoodPath() const {
  return StrCat(options_.state_dir, "/policy.last-good");
}

std::string PolicyLifecycle::LastGoodKeyDir() const {
  return StrCat(options_.state_dir, "/policy.last-good.keys");
}

// A policy that cannot be loaded does not stop the agent (a crash-looping agent fails every
// CRI call, not only pulls): the last-good copy is used, else every image is denied until
// the files load (Watch retries them).
void PolicyLifecycle::LoadAtStart() {
  absl::MutexLock lock(&reload_mu_);
  policies_ = PolicySet::Empty(options_.policy, options_.namespace_policy_dir);
  absl::Status s = policies_->Reload();
  fingerprint_ = policies_->Fingerprint();
  if (s.ok()) {
    SaveLastGood();
    return;
  }
  std::string error(Sv(s.message()));
  last_error_ = error;
  SetError(error);
  log_.Error("cannot load the policy", {{"policy", options_.policy},
                                        {"namespace_policy_dir", options_.namespace_policy_dir},
                                        {"error", error}});
  absl::Status copy = policies_->LoadLastGood(LastGoodPath(), LastGoodKeyDir());
  if (copy.ok()) {
    log_.Error("the last-good copy of the policy is in force until the policy file loads",
               {{"policy", options_.policy}, {"last_good", LastGoodPath()},
                {"policy_version", policies_->version()},
                {"namespaces", policies_->NamespaceVersions()}});
    return;
  }
  log_.Error("no usable last-good policy copy; every image is denied until the policy file loads",
             {{"policy", options_.policy}, {"last_good", LastGoodPath()},
              {"last_good_error", std::string(Sv(copy.message()))}});
}

void PolicyLifecycle::SaveLastGood() {
  if (absl::Status s = policies_->SaveLastGood(LastGoodPath()); !s.ok()) {
    log_.Warn("cannot save the last-good copy of the policy",
              {{"last_good", LastGoodPath()}, {"error", std::string(Sv(s.message()))}});
  }
}

absl::Status PolicyLifecycle::ReloadFiles(bool retry) {
  absl::MutexLock lock(&reload_mu_);
  PolicyOrigin was = policies_->origin();
  std::string before = policies_->version();
  absl::Status s = policies_->Reload();
  fingerprint_ = policies_->Fingerprint();
  if (!s.ok()) {
    std::string error(Sv(s.message()));
    if (retry && error == last_error_) return s;
    last_error_ = error;
    if (was == PolicyOrigin::kNone) SetError(error);
    reloads_->WithLabels({"error"}).Increment();
    log_.Error(was == PolicyOrigin::kNone
                   ? "policy reload failed; every image is still denied"
                   : (was == PolicyOrigin::kLastGood
                          ? "policy reload failed; the last-good copy stays in force"
                          : "policy reload failed; the previous policies stay in force"),
               {{"policy", options_.policy}, {"error", error}, {"policy_version", before},
                {"policy_origin", PolicyOriginName(was)}});
    return s;
  }
  last_error_.clear();
  SetError("");
  if (options_.on_files_in_force) options_.on_files_in_force();
  reloads_->WithLabels({"ok"}).Increment();
  log_.Info("policies reloaded", {{"previous_version", before},
                                  {"previous_origin", PolicyOriginName(was)},
                                  {"policy_version", policies_->version()},
                                  {"namespaces", policies_->NamespaceVersions()}});
  SaveLastGood();
  return absl::OkStatus();
}

// Reloads the policies when their files change.
void PolicyLifecycle::Watch() {
  while (!stop_.WaitFor(options_.check_interval)) {  // monotonic: see base/clock.h
    if (options_.on_tick) options_.on_tick();
    if (policies_->origin() != PolicyOrigin::kFiles) {
      // Not every fault changes the file's identity (a key file that appears again):
      // until the files are in force, try them every time.
      ReloadFiles(/*retry=*/true).IgnoreError();
      continue;
    }
    {
      absl::MutexLock lock(&reload_mu_);
      if (policies_->Fingerprint() == fingerprint_) continue;
    }
    log_.Info("policy files changed", {{"policy", options_.policy}});
    Reload().IgnoreError();
  }
}

}  // namespace layerseal::agent
