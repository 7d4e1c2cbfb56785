// The node's policies over the agent's life: loaded at start (a policy that cannot be loaded
// does not stop the agent: the last-good copy is put in force, else every image is denied),
// saved as the last-good copy whenever the files load, reloaded on request or when the files
// change (a failed reload keeps what is in force), retried while the files are not in force,
// and a guard judge that denies every image (POLICY_UNAVAILABLE) while no policy is in force.
// Defines and updates its metrics: layerseal_policy_reloads_total, layerseal_policy_loaded,
// layerseal_policy_last_good_in_force (docs/agent.md).
//
// Thread-safety: Reload may be called from any thread (a signal thread, the watch thread);
// reloads are serialized. policies() is safe to use concurrently with reloads (PolicySet is).
// The accessors may be called from any thread.
// Ownership: owns the PolicySet and its watch thread (stopped and joined by the destructor);
// borrows the logger and the metrics registry, which must outlive it. The hooks run on the
// thread that reloads (Watch's or Reload's caller) and must not call back into this object.
#ifndef LAYERSEAL_NODE_AGENT_POLICY_LIFECYCLE_H_
#define LAYERSEAL_NODE_AGENT_POLICY_LIFECYCLE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "node-agent/policy_set.h"
#include "plugin/image_judge.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::agent {

// The load error as a POLICY_UNAVAILABLE verdict's detail: at most this many bytes, printable
// ASCII (a binary policy file can put any byte into a parser's message; events are protobuf
// strings, UTF-8 only).
inline constexpr size_t kMaxPolicyErrorInDetail = 512;

struct PolicyLifecycleOptions {
  std::string policy;                // the node policy file
  std::string namespace_policy_dir;  // "" : node policy only
  // Where the last-good copy lives (<state_dir>/policy.last-good and .keys/).
  std::string state_dir;
  // How often Watch checks the files (on the monotonic clock).
  absl::Duration check_interval = absl::Seconds(2);
  telemetry::Logger* logger = nullptr;           // required
  telemetry::MetricsRegistry* metrics = nullptr;  // required
  // Called after every successful reload (the configured files are in force).
  std::function<void()> on_files_in_force;
  // Called on the watch thread every check_interval, before the files are checked.
  std::function<void()> on_tick;
};

class PolicyLifecycle {
 public:
  // Loads the policies (never fails: see the top of this file) and defines the metrics.
  explicit PolicyLifecycle(PolicyLifecycleOptions options);
  ~PolicyLifecycle();  // StopWatching()
  PolicyLifecycle(const PolicyLifecycle&) = delete;
  PolicyLifecycle& operator=(const PolicyLifecycle&) = delete;

  // Starts the thread that reloads the policies when their files change, and retries them
  // while they are not in force. At most once.
  void StartWatching();
  // Stops and joins that thread (the hooks are not called after it returns). Idempotent;
  // the watch cannot be started again.
  void StopWatching();

  // Re-reads the policy files; on error the policies in force stay and the error is logged,
  // counted and returned.
  absl::Status Reload() { return ReloadFiles(/*retry=*/false); }

  // A judge in front of `next` (borrowed; must outlive it): while no policy is in force it
  // denies every image (POLICY_UNAVAILABLE, with why in the detail) and TryCached knows
  // nothing; otherwise it is `next`. Borrows this object, which must outlive it.
  std::unique_ptr<plugin::ImageJudge> GuardJudge(plugin::ImageJudge* next) const;

  // The set in force (for the judge; reload it through Reload only); never null, the same
  // object for this object's whole life.
  PolicySet* policies() const { return policies_.get(); }
  PolicyOrigin origin() const { return policies_->origin(); }
  std::string version() const { return policies_->version(); }
  // Why no policy is in force ("" while one is): the last load error, printable, cut to
  // kMaxPolicyErrorInDetail bytes.
  std::string error() const;

  std::string LastGoodPath() const;
  std::string LastGoodKeyDir() const;

 private:
  void LoadAtStart();
  void SaveLastGood();
  // `retry`: a periodic attempt while the files are not in force; the same error again is
  // neither logged nor counted (it would be every check_interval).
  absl::Status ReloadFiles(bool retry);
  void SetError(std::string error);
  void Watch();

  const PolicyLifecycleOptions options_;
  telemetry::Logger& log_;
  telemetry::Family<telemetry::Counter>* reloads_ = nullptr;
  std::unique_ptr<PolicySet> policies_;
  absl::Mutex reload_mu_;
  std::string fingerprint_ ABSL_GUARDED_BY(reload_mu_);
  std::string last_error_ ABSL_GUARDED_BY(reload_mu_);  // the last one logged
  mutable absl::Mutex error_mu_;
  std::string error_ ABSL_GUARDED_BY(error_mu_);  // "" while a policy is in force
  MonotonicSignal stop_;
  std::thread watcher_;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_POLICY_LIFECYCLE_H_
