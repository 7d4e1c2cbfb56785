// The signal handling of the daemons' main()s: signals are taken by sigwait in main's
// thread, never by a handler, so what a signal does runs as ordinary code.
//
//   ShutdownSignals signals = ShutdownSignals::Block(ShutdownSignals::kWithHangup);
//   ... start the threads ...
//   signals.Wait([&] { reload(); });  // returns at SIGTERM or SIGINT
//   ... stop ...
//
// Thread-safety: Block must run before any thread starts (threads inherit the mask, so no
// thread is picked to run a default action); Wait from main's thread only.
#ifndef LAYERSEAL_BASE_SIGNALS_H_
#define LAYERSEAL_BASE_SIGNALS_H_

#include <signal.h>

#include <functional>

namespace layerseal {

class ShutdownSignals {
 public:
  enum Hangup { kWithoutHangup, kWithHangup };

  // Blocks SIGTERM and SIGINT (and SIGHUP, with kWithHangup) in the calling thread, and
  // ignores SIGPIPE (a peer closing a socket is an error return, not a death).
  static ShutdownSignals Block(Hangup hangup);

  // Waits for SIGTERM or SIGINT and returns its number. With kWithHangup, each SIGHUP in the
  // meantime calls `on_hangup` (if set) and the wait goes on.
  int Wait(const std::function<void()>& on_hangup = nullptr) const;

  // The mask as it was before Block (for tests, which must give it back).
  const sigset_t& previous_mask() const { return previous_; }

 private:
  ShutdownSignals() = default;
  sigset_t set_{};
  sigset_t previous_{};
};

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_SIGNALS_H_
