// The controller's intake of package inventories (controller/ingest_service.h TakePackages,
// issue 18): valid attachments become one record per image digest and leave their events;
// bad ones are refused by name, and their events are stored without them; omissions are
// recorded only where no inventory is.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/ingest_service.h"
#include "tests/support/package_inventory.h"

namespace layerseal::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const std::string kImageA = "sha256:" + std::string(64, 'a');
const std::string kImageB = "sha256:" + std::string(64, 'b');

v1::Event Verdict(uint64_t seq, const std::string& digest, std::string attachment = "") {
  v1::Event e;
  e.set_node("node-a");
  e.set_seq(seq);
  e.set_spool_incarnation("0123456789abcdef0123456789abcdef");
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.mutable_verdict()->set_digest(digest);
  e.set_packages_attachment(std::move(attachment));
  return e;
}

TEST(TakePackages, ValidAttachmentsBecomeOneRecordPerDigestAndLeaveTheirEvents) {
  std::string a1 = testing::TestAttachment(kImageA, {{"curl", "7.88.1-10"}});
  std::string a2 = testing::TestAttachment(kImageA, {{"curl", "7.88.1-10"}, {"jq", "1.6-2.1"}});
  std::string b = testing::TestAttachment(kImageB, {{"bash", "5.2.15-2+b2"}});
  std::vector<v1::Event> events = {Verdict(1, kImageA, a1), Verdict(2, kImageB, b),
                                   Verdict(3, kImageA, a2), Verdict(4, kImageB)};
  PackagesIntake in = TakePackages("node-a", events);
  EXPECT_EQ(in.accepted, 3);
  EXPECT_EQ(in.refused, 0);
  EXPECT_EQ(in.omitted, 0);
  ASSERT_THAT(in.records, SizeIs(2));  // by digest; the batch's last for kImageA wins
  EXPECT_EQ(in.records[0].digest, kImageA);
  EXPECT_EQ(in.records[0].attachment, a2);
  EXPECT_EQ(in.records[0].packages, 2);
  EXPECT_EQ(in.records[0].node, "node-a");
  EXPECT_EQ(in.records[1].digest, kImageB);
  EXPECT_EQ(in.records[1].packages, 1);
  for (const v1::Event& e : events) EXPECT_EQ(e.packages_attachment(), "") << e.seq();
}

TEST(TakePackages, BadAttachmentsAreRefusedByNameAndTheirEventsKept) {
  std::string good = testing::TestAttachment(kImageA, {{"curl", "7.88.1-10"}});
  std::string v2 = good;
  v2.replace(v2.find("layerseal.packages/v1"), 21, "layerseal.packages/v2");
  std::string bad_purl = good;
  bad_purl.replace(bad_purl.find("pkg:deb/"), 8, "pkg:npm/");
  v1::Event lost = Verdict(6, kImageA, good);
  lost.set_kind(v1::Event::EVENTS_LOST);
  std::vector<v1::Event> events = {
      Verdict(1, kImageA, "{not json"),
      Verdict(2, kImageA, v2),
      Verdict(3, kImageA, bad_purl),
      Verdict(4, kImageB, good),  // the inventory of another image
      Verdict(5, "", good),       // no digest to keep it under
      lost,
      Verdict(7, kImageA, std::string("\xff\xfe\x00", 3)),
  };
  PackagesIntake in = TakePackages("node-a", events);
  EXPECT_EQ(in.accepted, 0);
  EXPECT_EQ(in.refused, 7);
  EXPECT_THAT(in.records, SizeIs(0));
  ASSERT_THAT(in.errors, SizeIs(7));
  const std::string id = "node-a/0123456789abcdef0123456789abcdef/";
  EXPECT_THAT(in.errors[0], HasSubstr("events[0] (" + id + "1): package inventory refused: "));
  EXPECT_THAT(in.errors[1], HasSubstr("layerseal.packages/v2"));
  EXPECT_THAT(in.errors[2], HasSubstr("packages[0].purl"));
  EXPECT_THAT(in.errors[3], HasSubstr("is for image \"" + kImageA + "\", not the event's digest \"" +
                                      kImageB + "\""));
  EXPECT_THAT(in.errors[4], HasSubstr("no verdict.digest"));
  EXPECT_THAT(in.errors[5], HasSubstr("only a VERDICT event"));
  EXPECT_THAT(in.errors[6], HasSubstr("events[6]"));
  for (const v1::Event& e : events) EXPECT_EQ(e.packages_attachment(), "") << e.seq();

  // At most kMaxPackagesErrors are named; all are counted.
  std::vector<v1::Event> many;
  for (uint64_t i = 1; i <= kMaxPackagesErrors + 5; ++i) many.push_back(Verdict(i, kImageA, "[]"));
  PackagesIntake lots = TakePackages("node-a", many);
  EXPECT_EQ(lots.refused, static_cast<int>(kMaxPackagesErrors + 5));
  EXPECT_THAT(lots.errors, SizeIs(kMaxPackagesErrors));
}

TEST(TakePackages, OmissionsAreRecordedOnlyWhereNoInventoryIs) {
  std::string a = testing::TestAttachment(kImageA, {{"curl", "7.88.1-10"}});
  v1::Event omitted_a = Verdict(2, kImageA);
  omitted_a.set_packages_omitted_bytes(5u << 20);
  v1::Event omitted_b = Verdict(3, kImageB);
  omitted_b.set_packages_omitted_bytes(4u << 20);
  std::vector<v1::Event> events = {Verdict(1, kImageA, a), omitted_a, omitted_b};
  PackagesIntake in = TakePackages("node-a", events);
  EXPECT_EQ(in.accepted, 1);
  EXPECT_EQ(in.omitted, 2);
  ASSERT_THAT(in.records, SizeIs(2));
  EXPECT_EQ(in.records[0].attachment, a);  // the inventory, not the later omission
  EXPECT_EQ(in.records[0].omitted_bytes, 0);
  EXPECT_EQ(in.records[1].attachment, "");
  EXPECT_EQ(in.records[1].omitted_bytes, 4 << 20);
  // The omission stays on its stored event.
  EXPECT_EQ(events[2].packages_omitted_bytes(), 4u << 20);
}

// What a batch with an inventory looks like to ValidateBatch: the attachment counts toward
// kMaxBatchBytes like every other byte (an agent's largest, kMaxEventPackagesBytes, fits).
TEST(TakePackages, BatchLimitCoversTheAttachment) {
  v1::ReportEventsRequest request;
  request.set_node("node-a");
  *request.add_events() = Verdict(1, kImageA, std::string(3u << 20, 'x'));
  request.mutable_events(0)->set_time_unix_micros(1);
  EXPECT_TRUE(ValidateBatch(request).ok()) << ValidateBatch(request);
  request.mutable_events(0)->set_packages_attachment(std::string(kMaxBatchBytes, 'x'));
  EXPECT_EQ(ValidateBatch(request).code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace layerseal::controller
