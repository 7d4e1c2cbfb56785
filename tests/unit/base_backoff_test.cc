// base/backoff.h: the exponential backoff the registry client's retries and the agent's event
// delivery share (issue 16). The sequences below are the ones each had before it moved here.
#include "base/backoff.h"

#include <climits>
#include <set>

#include "gtest/gtest.h"

namespace layerseal {
namespace {

using absl::Milliseconds;
using absl::Seconds;

TEST(BackoffTest, DoublesFromInitialUpToMax) {
  // The registry client's defaults (registry::Options).
  Backoff backoff({Milliseconds(200), Seconds(5)});
  EXPECT_EQ(backoff.Delay(0), Milliseconds(200));
  EXPECT_EQ(backoff.Delay(1), Milliseconds(400));
  EXPECT_EQ(backoff.Delay(2), Milliseconds(800));
  EXPECT_EQ(backoff.Delay(3), Milliseconds(1600));
  EXPECT_EQ(backoff.Delay(4), Milliseconds(3200));
  EXPECT_EQ(backoff.Delay(5), Seconds(5));
  EXPECT_EQ(backoff.Delay(6), Seconds(5));
  EXPECT_EQ(backoff.Delay(INT_MAX), Seconds(5));
}

TEST(BackoffTest, NextFollowsDelayAndResetStartsOver) {
  Backoff backoff({Milliseconds(500), Seconds(30)});
  for (absl::Duration want : {Milliseconds(500), Seconds(1), Seconds(2), Seconds(4), Seconds(8),
                              Seconds(16), Seconds(30), Seconds(30), Seconds(30)}) {
    EXPECT_EQ(backoff.Next(), want);
  }
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), Milliseconds(500));
  EXPECT_EQ(backoff.Next(), Seconds(1));
}

TEST(BackoffTest, JitterDrawsFromTheUpperHalfOfEachStep) {
  // The event sender's: kMinBackoff 500 ms, kMaxBackoff 30 s, jitter.
  Backoff backoff({Milliseconds(500), Seconds(30), /*jitter=*/true}, /*seed=*/42);
  Backoff plain({Milliseconds(500), Seconds(30)});
  for (int i = 0; i < 12; ++i) {
    absl::Duration step = plain.Next();
    absl::Duration d = backoff.Next();
    EXPECT_GE(d, step / 2) << "retry " << i;
    EXPECT_LE(d, step) << "retry " << i;
  }
  // At the cap the waits still differ (agents do not come back together).
  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(absl::ToInt64Microseconds(backoff.Next()));
  EXPECT_GT(seen.size(), 10u);
}

TEST(BackoffTest, SameSeedSameWaits) {
  Backoff a({Milliseconds(10), Seconds(1), true}, 7);
  Backoff b({Milliseconds(10), Seconds(1), true}, 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(BackoffTest, OddSettingsStayBounded) {
  // An initial wait above the cap is capped.
  EXPECT_EQ(Backoff({Seconds(10), Seconds(1)}).Delay(0), Seconds(1));
  // Zero stays zero, and a long run of failures does not loop or overflow.
  Backoff zero({absl::ZeroDuration(), Seconds(1)});
  EXPECT_EQ(zero.Delay(INT_MAX), absl::ZeroDuration());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(zero.Next(), absl::ZeroDuration());
  // A negative initial wait is none.
  EXPECT_EQ(Backoff({Milliseconds(-5), Seconds(1)}).Delay(3), absl::ZeroDuration());
  // Without a cap the waits saturate at infinity rather than wrap.
  Backoff uncapped({Milliseconds(1), absl::InfiniteDuration()});
  EXPECT_EQ(uncapped.Delay(10), Milliseconds(1024));
  EXPECT_EQ(uncapped.Delay(INT_MAX), absl::InfiniteDuration());
}

}  // namespace
}  // namespace layerseal
