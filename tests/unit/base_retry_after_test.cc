// base/retry_after.h: one Retry-After reading for the registry and Kubernetes API clients.
#include "base/retry_after.h"

#include <gtest/gtest.h>

namespace layerseal {
namespace {

TEST(ParseRetryAfter, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("0"), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("7"), absl::Seconds(7));
  EXPECT_EQ(ParseRetryAfter(" \t120 "), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter("999999999"), absl::Seconds(999999999));
}

TEST(ParseRetryAfter, HugeValuesSaturateInsteadOfOverflowing) {
  EXPECT_EQ(ParseRetryAfter("1000000000"), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999999999"), kMaxRetryAfter);
}

TEST(ParseRetryAfter, AnythingElseIsNotHonoured) {
  for (const char* v : {"", "   ", "-5", "+5", "1.5", "5s", "5 5", "0x10",
                        "Wed, 21 Oct 2015 07:28:00 GMT"}) {
    EXPECT_EQ(ParseRetryAfter(v), std::nullopt) << v;
  }
}

}  // namespace
}  // namespace layerseal
