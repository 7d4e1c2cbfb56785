// The clock seam (base/clock.h): the system clock's monotonic time and MonotonicSignal.
// (Clock jumps as the verdict cache sees them: verdict_cache_test.cc, ClockJumpTest.)
#include <thread>

#include "absl/time/time.h"
#include "base/clock.h"
#include "gtest/gtest.h"

namespace layerseal {
namespace {


TEST(ClockJumpTest, MonotonicSignalWaitsAndWakes) {
  MonotonicSignal signal;
  EXPECT_FALSE(signal.WaitFor(absl::Milliseconds(1)));  // nobody notifies: times out
  std::thread notifier([&signal] { signal.Notify(); });
  EXPECT_TRUE(signal.WaitFor(absl::Hours(1)));  // woken, not timed out
  notifier.join();
  EXPECT_TRUE(signal.WaitFor(absl::ZeroDuration()));  // stays notified
}

TEST(ClockJumpTest, SystemClockMonotonicNeverGoesBack) {
  const Clock& clock = SystemClock();
  absl::Duration last = clock.Monotonic();
  for (int i = 0; i < 1000; ++i) {
    absl::Duration now = clock.Monotonic();
    ASSERT_GE(now, last);
    last = now;
  }
}

}  // namespace
}  // namespace layerseal
