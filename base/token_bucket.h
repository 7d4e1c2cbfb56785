// A token bucket on the monotonic clock (base/clock.h): work that must stay under a rate
// (the integrity scrub's bytes per second) takes tokens and waits for them.
//
// Take(n) always succeeds and returns how long the caller should wait before doing n units
// of work: the bucket holds at most `burst` tokens and refills at `rate` per second; a Take
// larger than what is there leaves the bucket in debt, which later Takes wait out. So the
// long-run rate is `rate` whatever the sizes taken, and a single large Take is never refused.
// A rate of 0 means unbounded (every wait is zero).
//
// Thread-safety: all methods may be called concurrently. Ownership: borrows the clock, which
// must outlive the bucket.
#ifndef LAYERSEAL_BASE_TOKEN_BUCKET_H_
#define LAYERSEAL_BASE_TOKEN_BUCKET_H_

#include <algorithm>
#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"

namespace layerseal {

class TokenBucket {
 public:
  // `rate`: units per second (0: unbounded). `burst`: the most tokens saved up (0: one
  // second's worth). Starts full.
  explicit TokenBucket(uint64_t rate, uint64_t burst = 0, const Clock& clock = SystemClock())
      : rate_(rate),
        burst_(static_cast<double>(burst != 0 ? burst : rate)),
        clock_(clock),
        tokens_(burst_),
        last_(clock.Monotonic()) {}

  uint64_t rate() const { return rate_; }

  // Takes `n` tokens; returns the wait before the work they pay for may start.
  absl::Duration Take(uint64_t n) {
    if (rate_ == 0) return absl::ZeroDuration();
    absl::MutexLock lock(&mu_);
    absl::Duration now = clock_.Monotonic();
    tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
    last_ = now;
    tokens_ -= static_cast<double>(n);
    if (tokens_ >= 0) return absl::ZeroDuration();
    return absl::Seconds(-tokens_ / static_cast<double>(rate_));
  }

 private:
  const uint64_t rate_;
  const double burst_;
  const Clock& clock_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_TOKEN_BUCKET_H_
