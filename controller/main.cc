// layerseal-controller: flags and signals around Controller (controller.h). SIGTERM and
// SIGINT stop it gracefully (in-flight batches finish; see Controller::~Controller).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controller/config.h"
#include "controller/controller.h"
#include "base/signals.h"
#include "base/str_cat.h"

int main(int argc, char** argv) {
  using namespace layerseal;
  // As in the agent: no abseil deadlock detection in production (it costs CPU on every lock).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<controller::ParsedControllerArgs> parsed = controller::ParseControllerArgs(args);
  if (!parsed.ok()) {
    fprintf(stderr, "layerseal-controller: %s\n(see layerseal-controller --help)\n",
            std::string(Sv(parsed.status().message())).c_str());
    return 2;
  }
  if (parsed->help) {
    fputs(controller::ControllerUsage().c_str(), stdout);
    return 0;
  }
  if (parsed->version) {
    printf("layerseal-controller %s\n", std::string(controller::kControllerVersion).c_str());
    return 0;
  }
  // Before any thread starts (base/signals.h). SIGHUP keeps its default action.
  ShutdownSignals signals = ShutdownSignals::Block(ShutdownSignals::kWithoutHangup);

  absl::StatusOr<std::unique_ptr<controller::Controller>> running =
      controller::Controller::Start(parsed->config);
  if (!running.ok()) {
    fprintf(stderr, "layerseal-controller: cannot start: %s\n",
            std::string(Sv(running.status().message())).c_str());
    return 1;
  }
  signals.Wait();
  running->reset();
  return 0;
}
