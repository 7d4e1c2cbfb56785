// The layerseal node agent, wired: the policy lifecycle (policy_lifecycle.h), verdict cache,
// judge, gates, CRI proxy, the verdict event fan-out (verdict_events.h: metrics, log, event
// log, spool), call metrics and health. agent.cc holds only this wiring; each part defines
// its own metrics. main.cc adds flags and signals; tests start it in-process.
// Thread-safety: ReloadPolicies may be called from any thread (e.g. a signal thread).
#ifndef LAYERSEAL_NODE_AGENT_AGENT_H_
#define LAYERSEAL_NODE_AGENT_AGENT_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "node-agent/config.h"
#include "node-agent/integrity_state.h"
#include "node-agent/scrub.h"
#include "plugin/image_judge.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::agent {

inline constexpr std::string_view kAgentVersion = "0.1.0";

struct AgentHooks {
  // Receives every verdict event after the event log (the controller client, issue 5).
  plugin::EventSink* reporter = nullptr;
  // Test seam: see ImageGatesOptions::after_pull_verdict.
  std::function<void(const Verdict&)> after_pull_verdict;
  telemetry::Logger* logger = nullptr;  // nullptr: JSON lines on stderr
};

class Agent {
 public:
  // Loads the policies, opens the state, listens on config.listen and returns once calls
  // are accepted. A policy that cannot be loaded does not stop it: the last-good copy
  // (<state_dir>/policy.last-good) is put in force, else every image is denied
  // (POLICY_UNAVAILABLE) while every other CRI call passes; the files are retried until
  // they load.
  static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentConfig config, AgentHooks hooks = {});
  ~Agent();  // stops listening, waits for calls in progress (CriProxy::kShutdownGrace)

  // Re-reads the policy files; on error the policies in force stay and the error is logged,
  // counted and returned.
  absl::Status ReloadPolicies();

  const telemetry::MetricsRegistry& metrics() const;
  uint64_t verifications() const;
  int admin_port() const;  // 0 when the admin endpoint is off
  // The integrity scrub (issue 18): sweeps call ScrubAll, the pull check ScrubImage.
  Scrubber& scrubber();
  // Per-image integrity results and the scrub's corruption marks.
  const IntegrityState& integrity() const;

 private:
  class Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_AGENT_H_
