#include "base/signals.h"

#include <pthread.h>

namespace layerseal {

ShutdownSignals ShutdownSignals::Block(Hangup hangup) {
  ShutdownSignals s;
  sigemptyset(&s.set_);
  sigaddset(&s.set_, SIGTERM);
  sigaddset(&s.set_, SIGINT);
  if (hangup == kWithHangup) sigaddset(&s.set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &s.set_, &s.previous_);
  signal(SIGPIPE, SIG_IGN);
  return s;
}

int ShutdownSignals::Wait(const std::function<void()>& on_hangup) const {
  for (;;) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    if (on_hangup) on_hangup();
  }
}

}  // namespace layerseal
