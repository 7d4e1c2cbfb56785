// verifier/fetch_group.h: every task runs, at most max_parallel at once, Wait joins.
#include "verifier/fetch_group.h"

#include <atomic>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace layerseal {
namespace {

// Counts tasks running at once.
struct Gauge {
  std::atomic<int> now{0}, max{0}, done{0};
  void Run(absl::Duration d) {
    int n = ++now;
    int seen = max.load();
    while (n > seen && !max.compare_exchange_weak(seen, n)) {
    }
    absl::SleepFor(d);
    --now;
    ++done;
  }
};

TEST(FetchGroupTest, RunsTasksConcurrentlyUpToTheBound) {
  Gauge g;
  FetchGroup group(4);
  for (int i = 0; i < 12; ++i) group.Add([&] { g.Run(absl::Milliseconds(100)); });
  group.Wait();
  EXPECT_EQ(g.done.load(), 12);
  EXPECT_EQ(g.now.load(), 0);
  EXPECT_LE(g.max.load(), 4);
  EXPECT_GE(g.max.load(), 2);  // they overlapped (each sleeps 100 ms; not a timing bound)
}

TEST(FetchGroupTest, DefaultBoundIsKMaxParallelFetches) {
  Gauge g;
  {
    FetchGroup group;
    for (int i = 0; i < 40; ++i) group.Add([&] { g.Run(absl::Milliseconds(50)); });
  }  // the destructor waits
  EXPECT_EQ(g.done.load(), 40);
  EXPECT_LE(g.max.load(), static_cast<int>(kMaxParallelFetches));
}

TEST(FetchGroupTest, ReusableAfterWaitAndEachTaskWritesItsSlot) {
  FetchGroup group(3);
  std::vector<int> slots(10, 0);
  for (int i = 0; i < 10; ++i) group.Add([&slots, i] { slots[i] = i * i; });
  group.Wait();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(slots[i], i * i);
  std::atomic<int> n{0};
  for (int i = 0; i < 5; ++i) group.Add([&] { ++n; });
  group.Wait();
  EXPECT_EQ(n.load(), 5);
  group.Wait();  // nothing added: returns
}

TEST(FetchGroupTest, ZeroBoundRunsOneAtATime) {
  Gauge g;
  FetchGroup group(0);
  for (int i = 0; i < 5; ++i) group.Add([&] { g.Run(absl::Milliseconds(10)); });
  group.Wait();
  EXPECT_EQ(g.done.load(), 5);
  EXPECT_EQ(g.max.load(), 1);
}

}  // namespace
}  // namespace layerseal
