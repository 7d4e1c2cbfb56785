// layerseal-agent: flags and signals around Agent (agent.h). SIGHUP reloads the policies;
// SIGTERM and SIGINT stop the agent (calls in progress get CriProxy::kShutdownGrace).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "node-agent/agent.h"
#include "node-agent/config.h"
#include "base/signals.h"
#include "base/str_cat.h"

int main(int argc, char** argv) {
  using namespace layerseal;
  // Debian's abseil is built with mutex deadlock detection on: 1.5-3% of the agent's CPU in
  // bench/agent_bench. The lock order is fixed by design and checked by the test suite.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<agent::ParsedArgs> parsed = agent::ParseAgentArgs(args);
  if (!parsed.ok()) {
    fprintf(stderr, "layerseal-agent: %s\n(see layerseal-agent --help)\n",
            std::string(Sv(parsed.status().message())).c_str());
    return 2;
  }
  if (parsed->help) {
    fputs(agent::AgentUsage().c_str(), stdout);
    return 0;
  }
  if (parsed->version) {
    printf("layerseal-agent %s\n", std::string(agent::kAgentVersion).c_str());
    return 0;
  }
  // Before any thread starts (base/signals.h).
  ShutdownSignals signals = ShutdownSignals::Block(ShutdownSignals::kWithHangup);

  absl::StatusOr<std::unique_ptr<agent::Agent>> running = agent::Agent::Start(parsed->config);
  if (!running.ok()) {
    fprintf(stderr, "layerseal-agent: cannot start: %s\n",
            std::string(Sv(running.status().message())).c_str());
    return 1;
  }
  signals.Wait([&running] {
    (*running)->ReloadPolicies().IgnoreError();  // logged; the old policies stay
  });
  running->reset();
  return 0;
}
