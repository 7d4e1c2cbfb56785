// Exponential backoff, the one both retry loops use (the registry client's retries, the
// agent's event delivery): the wait before a retry starts at `initial` and doubles with each
// failure in a row, never beyond `max`. With jitter, each wait is drawn uniformly from the
// upper half of that, [d/2, d), so that clients that failed together do not all come back at
// once, and none waits less than half its step.
//
// The waits are durations, to be slept on the monotonic clock (base/clock.h): a relative
// sleep (absl::SleepFor, MonotonicSignal::WaitFor, condition_variable::wait_for), never an
// absolute wall-clock deadline. What a server asks for (Retry-After) is the caller's business.
//
// Thread-safety: Delay() is const and may be called from many threads at once; Next() and
// Reset() change the object, which then belongs to one retry loop. Ownership: a plain value.
#ifndef LAYERSEAL_BASE_BACKOFF_H_
#define LAYERSEAL_BASE_BACKOFF_H_

#include <algorithm>
#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace layerseal {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(200);  // the first wait (before jitter)
  absl::Duration max = absl::Seconds(5);             // the cap on every wait
  bool jitter = false;                               // draw each wait from [d/2, d)
};

class Backoff {
 public:
  // `seed` only matters with jitter; 0: one from std::random_device.
  explicit Backoff(BackoffOptions options, uint32_t seed = 0)
      : options_(options), random_(options.jitter && seed == 0 ? std::random_device{}() : seed) {}

  // The un-jittered wait before retry `attempt` (0: the first): initial * 2^attempt, at most
  // max, never negative.
  absl::Duration Delay(int attempt) const {
    absl::Duration d = std::max(options_.initial, absl::ZeroDuration());
    for (int i = 0; i < attempt && d > absl::ZeroDuration() && d < options_.max; ++i) d *= 2;
    return std::min(d, options_.max);
  }

  // The wait before the next retry (jittered if asked); the one after it is twice as long,
  // up to max.
  absl::Duration Next() {
    absl::Duration d = Delay(attempt_);
    if (d > absl::ZeroDuration() && d < options_.max) ++attempt_;  // at the cap: stays
    if (!options_.jitter) return d;
    std::uniform_real_distribution<double> upper_half(0.5, 1.0);
    return d * upper_half(random_);
  }

  // After a success: the next failure waits `initial` again.
  void Reset() { attempt_ = 0; }

  const BackoffOptions& options() const { return options_; }

 private:
  BackoffOptions options_;
  int attempt_ = 0;  // failures in a row, counted only until the wait reaches max
  std::minstd_rand random_;
};

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_BACKOFF_H_
