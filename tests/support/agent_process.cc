#include "tests/support/agent_process.h"

#include <utility>

#include "base/str_cat.h"

namespace layerseal::testing {

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Start(
    const std::vector<std::string>& args, const std::vector<std::string>& env, int admin_port,
    const std::string& log_path) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(LAYERSEAL_AGENT_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(argv, log_path);
  if (!child.ok()) return child.status();
  std::unique_ptr<AgentProcess> agent(new AgentProcess());
  agent->child_ = *std::move(child);
  agent->log_path_ = log_path;
  if (!WaitForPort(admin_port, kAgentStartTimeout)) {
    return absl::UnavailableError(StrCat("the agent did not start; log:\n", agent->Log()));
  }
  return agent;
}

AgentProcess::~AgentProcess() { child_->Stop(); }

std::string AgentProcess::Log() const { return ReadFileOrDie(log_path_); }

}  // namespace layerseal::testing
