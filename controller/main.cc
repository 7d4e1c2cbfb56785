// layerseal-controller: flags and signals around Controller (controller.h). SIGTERM and
// SIGINT stop it gracefully (in-flight batches finish; see Controller::~Controller).
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controller/config.h"
#include "controller/controller.h"
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
  // Signals are taken by sigwait below, never by a handler: block them before any thread
  // starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<controller::Controller>> running =
      controller::Controller::Start(parsed->config);
  if (!running.ok()) {
    fprintf(stderr, "layerseal-controller: cannot start: %s\n",
            std::string(Sv(running.status().message())).c_str());
    return 1;
  }
  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  running->reset();
  return 0;
}
