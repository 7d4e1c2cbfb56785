// base/token_bucket.h on a hand-moved monotonic clock.
#include "base/token_bucket.h"

#include "gtest/gtest.h"

namespace layerseal {
namespace {

class HandClock final : public Clock {
 public:
  absl::Time Wall() const override { return absl::UnixEpoch() + now_; }
  absl::Duration Monotonic() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Duration now_ = absl::Hours(1);
};

TEST(TokenBucketTest, AFullBucketPaysAtOnceThenTheRateDecides) {
  HandClock clock;
  TokenBucket bucket(1000, 0, clock);  // 1000/s, burst one second's worth
  EXPECT_EQ(bucket.Take(1000), absl::ZeroDuration());
  EXPECT_EQ(bucket.Take(500), absl::Milliseconds(500));   // in debt by 500
  EXPECT_EQ(bucket.Take(500), absl::Milliseconds(1000));  // by 1000
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(bucket.Take(0), absl::ZeroDuration());        // paid off
}

TEST(TokenBucketTest, IdleTimeSavesAtMostTheBurst) {
  HandClock clock;
  TokenBucket bucket(100, 200, clock);
  EXPECT_EQ(bucket.Take(200), absl::ZeroDuration());
  clock.Advance(absl::Hours(5));
  EXPECT_EQ(bucket.Take(200), absl::ZeroDuration());
  EXPECT_EQ(bucket.Take(100), absl::Seconds(1));
}

TEST(TokenBucketTest, ALargeTakeIsNeverRefusedOnlyWaitedFor) {
  HandClock clock;
  TokenBucket bucket(1 << 20, 0, clock);
  EXPECT_EQ(bucket.Take(uint64_t{11} << 20), absl::Seconds(10));
}

TEST(TokenBucketTest, RateZeroIsUnbounded) {
  HandClock clock;
  TokenBucket bucket(0, 0, clock);
  EXPECT_EQ(bucket.Take(uint64_t{1} << 40), absl::ZeroDuration());
}

}  // namespace
}  // namespace layerseal
