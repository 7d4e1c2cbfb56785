// The agent's two clocks behind one seam (like leveldb's Env): wall time, which names
// instants that must survive a restart but can be stepped back or forward (NTP, an operator,
// a VM resumed), and monotonic time, which only moves forward at the rate of real time and
// is what every in-memory TTL, deadline and backoff must be measured on.
// Thread-safety: SystemClock() may be called from any thread; implementations must be
// thread-safe. Ownership: SystemClock() returns a process-wide object that is never destroyed.
#ifndef LAYERSEAL_BASE_CLOCK_H_
#define LAYERSEAL_BASE_CLOCK_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace layerseal {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time (CLOCK_REALTIME): may jump either way.
  virtual absl::Time Wall() const = 0;
  // Time since an arbitrary fixed origin (CLOCK_MONOTONIC): never goes back, never jumps.
  // Only differences between two readings mean anything.
  virtual absl::Duration Monotonic() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Wall() const override { return absl::Now(); }
  absl::Duration Monotonic() const override {
    return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
};

inline const Clock& SystemClock() {
  static const RealClock* const clock = new RealClock();  // never destroyed: used at exit
  return *clock;
}

// A one-shot signal (e.g. "stop") whose timed waits run on the monotonic clock. Why not
// absl::Notification: timed waits in Debian's abseil (20220623) sleep until an absolute
// CLOCK_REALTIME deadline, so a wall clock stepped back by an hour stalls such a wait for
// an hour; std::condition_variable::wait_for waits on steady_clock (libstdc++ uses
// pthread_cond_clockwait with CLOCK_MONOTONIC).
// Thread-safety: all methods may be called concurrently.
class MonotonicSignal {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      notified_ = true;
    }
    cv_.notify_all();
  }
  // True once notified (at once if already); false when `timeout` passed first.
  bool WaitFor(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_CLOCK_H_
