// The real `layerseal-agent` binary (LAYERSEAL_AGENT_BINARY) as a child process, for the
// integration tests that run it (agent_e2e, fault_e2e, policy_fault, delivery_e2e, and the
// kubelet and critest suites through kube_node.h).
// Thread-safety: none; one thread uses an AgentProcess at a time.
#ifndef LAYERSEAL_TESTS_SUPPORT_AGENT_PROCESS_H_
#define LAYERSEAL_TESTS_SUPPORT_AGENT_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/process.h"

namespace layerseal::testing {

// How long Start waits for the agent's admin port (a bound on a wait on a loaded machine).
inline constexpr absl::Duration kAgentStartTimeout = absl::Seconds(30);

// Stopped on destruction (SIGTERM, then SIGKILL after a grace; Child::Stop); its log is then
// the caller's to check (e.g. for sanitizer reports).
class AgentProcess {
 public:
  // `args` follow the binary's path; `env` ("NAME=value", e.g. a proxy) is added to the
  // child's environment. Up once `admin_port` accepts connections (at most
  // kAgentStartTimeout): UNAVAILABLE with the agent's log otherwise.
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Start(const std::vector<std::string>& args,
                                                             const std::vector<std::string>& env,
                                                             int admin_port,
                                                             const std::string& log_path);
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const { return child_->pid(); }  // the agent's own (env execs it)
  bool Running() { return child_->Running(); }
  void Stop() { child_->Stop(); }  // idempotent
  std::string Log() const;

 private:
  AgentProcess() = default;
  std::unique_ptr<Child> child_;
  std::string log_path_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_AGENT_PROCESS_H_
