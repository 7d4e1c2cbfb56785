// The agent's spool with events that carry a package inventory (issue 18): an event with
// the largest inventory an agent sends (node-agent/event_record.h kMaxEventPackagesBytes)
// is kept, survives a restart (Open does not take it for damage) and is read back whole;
// one longer than a record may be (kMaxSpoolRecordBytes) is refused when appended, counted
// and reported as lost, never written to be cut off at the next Open.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "node-agent/event_record.h"
#include "node-agent/spool.h"
#include "tests/support/process.h"

namespace layerseal::agent {
namespace {

std::unique_ptr<EventSpool> OpenSpool(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<EventSpool>> spool = EventSpool::Open(
      SpoolOptions{.dir = dir + "/spool", .node = "node-1", .agent_version = "test"});
  EXPECT_TRUE(spool.ok()) << spool.status();
  return spool.ok() ? std::move(*spool) : nullptr;
}

v1::Event WithPackages(size_t bytes) {
  plugin::VerdictEvent e;
  e.gate = "PullImage";
  e.image = "registry.example/app:1";
  e.time = absl::FromUnixSeconds(1'800'000'000);
  e.packages_attachment = std::string(bytes, 'p');
  return VerdictEventRecord(e, "node-1", 0, "test");
}

TEST(SpoolPackagesTest, LargestInventoryIsKeptAcrossARestart) {
  testing::TempDir dir;
  {
    std::unique_ptr<EventSpool> spool = OpenSpool(dir.path());
    ASSERT_NE(spool, nullptr);
    v1::Event big = WithPackages(kMaxEventPackagesBytes);
    ASSERT_EQ(big.packages_attachment().size(), kMaxEventPackagesBytes);
    ASSERT_TRUE(spool->Append(big).ok());
    ASSERT_TRUE(spool->Append(WithPackages(10)).ok());
  }
  std::unique_ptr<EventSpool> spool = OpenSpool(dir.path());
  ASSERT_NE(spool, nullptr);
  EXPECT_TRUE(spool->recovered_cuts().empty()) << spool->recovered_cuts()[0];
  absl::StatusOr<std::vector<v1::Event>> events = spool->Unacked(10, 1 << 20);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);  // one batch: the big one alone (always one)
  EXPECT_EQ((*events)[0].packages_attachment().size(), kMaxEventPackagesBytes);
  ASSERT_TRUE(spool->Ack((*events)[0].seq()).ok());
  events = spool->Unacked(10, 1 << 20);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].packages_attachment(), std::string(10, 'p'));
}

// A sweep's finding names its container in the event the controller gets (Event fields 20
// and 21; the controller keeps the event's body, so queries return them).
TEST(SpoolPackagesTest, RevalidationEventKeepsItsContainerThroughTheSpool) {
  plugin::VerdictEvent e;
  e.gate = "Revalidation";
  e.image = "registry.example/app@sha256:" + std::string(64, 'a');
  e.pod = {.ns = "team-a", .name = "web-0", .uid = "uid-1"};
  e.container_id = "4f0c1e";
  e.container_name = "web";
  e.time = absl::FromUnixSeconds(1'800'000'000);
  v1::Event record = VerdictEventRecord(e, "node-1", 0, "test");
  EXPECT_EQ(record.container_id(), "4f0c1e");
  EXPECT_EQ(record.container_name(), "web");
  testing::TempDir dir;
  {
    std::unique_ptr<EventSpool> spool = OpenSpool(dir.path());
    ASSERT_NE(spool, nullptr);
    ASSERT_TRUE(spool->Append(record).ok());
  }
  std::unique_ptr<EventSpool> spool = OpenSpool(dir.path());
  ASSERT_NE(spool, nullptr);
  absl::StatusOr<std::vector<v1::Event>> events = spool->Unacked(10, 1 << 20);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].gate(), "Revalidation");
  EXPECT_EQ((*events)[0].container_id(), "4f0c1e");
  EXPECT_EQ((*events)[0].container_name(), "web");
  EXPECT_EQ((*events)[0].pod_namespace(), "team-a");
}

TEST(SpoolPackagesTest, InventoryOverTheEventLimitTravelsAsItsSize) {
  v1::Event e = WithPackages(kMaxEventPackagesBytes + 1);
  EXPECT_EQ(e.packages_attachment(), "");
  EXPECT_EQ(e.packages_omitted_bytes(), kMaxEventPackagesBytes + 1);
}

TEST(SpoolPackagesTest, RecordLongerThanTheLimitIsRefusedAndReportedAsLost) {
  testing::TempDir dir;
  std::unique_ptr<EventSpool> spool = OpenSpool(dir.path());
  ASSERT_NE(spool, nullptr);
  v1::Event huge = WithPackages(10);
  huge.set_packages_attachment(std::string(kMaxSpoolRecordBytes, 'p'));  // past the record limit
  absl::StatusOr<uint64_t> seq = spool->Append(huge);
  EXPECT_EQ(seq.status().code(), absl::StatusCode::kResourceExhausted) << seq.status();
  EXPECT_NE(seq.status().message().find("kMaxSpoolRecordBytes"), std::string::npos);
  EXPECT_EQ(spool->stats().lost, 1u);
  ASSERT_TRUE(spool->Append(WithPackages(10)).ok());
  absl::StatusOr<std::vector<v1::Event>> events = spool->Unacked(10, 1 << 20);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].kind(), v1::Event::EVENTS_LOST);
  EXPECT_EQ((*events)[0].lost_count(), 1u);
  spool.reset();
  spool = OpenSpool(dir.path());
  EXPECT_TRUE(spool->recovered_cuts().empty());
}

}  // namespace
}  // namespace layerseal::agent
