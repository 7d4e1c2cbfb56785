// The event log (node-agent/event_log.h): EventJson's fields, JSON lines appended (and
// valid for names that are not UTF-8), the next sink in the chain, rotation at the size limit.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/event_log.h"
#include "plugin/image_judge.h"
#include "tests/support/agent_unit.h"
#include "tests/support/files.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using layerseal::testing::DigestOf;
using layerseal::testing::kV1;
using layerseal::testing::Lines;
using layerseal::testing::ReadAll;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

// ---------------------------------------------------------------------------------------
// EventLog / EventJson

plugin::VerdictEvent MakeEvent(std::string image, bool allow) {
  plugin::VerdictEvent e;
  e.gate = "PullImage";
  e.image = std::move(image);
  e.pod = plugin::PodRef{.ns = "team-a", .name = "web-0", .uid = "uid-1234"};
  Verdict& v = e.judgement.verdict;
  v.decision = allow ? Decision::kAllow : Decision::kDeny;
  v.reason = allow ? Reason::kVerified : Reason::kBadSignature;
  v.detail = allow ? "signed by key-1" : "signature does not verify";
  v.reference = e.image;
  if (allow) v.manifest_digest = DigestOf("event-image");
  v.key_id = "key-1";
  v.policy_version = kV1;
  v.scope = "registry.example.com";
  v.mode = allow ? Mode::kEnforce : Mode::kWarn;
  v.duration = absl::Milliseconds(12);
  e.judgement.cached = allow;
  e.admitted = allow;
  e.gate_time = absl::Milliseconds(15);
  e.time = absl::FromUnixMillis(1'800'000'000'123);
  return e;
}

TEST(EventJsonTest, Fields) {
  nlohmann::json j = EventJson("node-7", MakeEvent("registry.example.com/app:1", true));
  EXPECT_EQ(j["time"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(j["node"], "node-7");
  EXPECT_EQ(j["gate"], "PullImage");
  EXPECT_EQ(j["pod"]["namespace"], "team-a");
  EXPECT_EQ(j["pod"]["name"], "web-0");
  EXPECT_EQ(j["pod"]["uid"], "uid-1234");
  EXPECT_EQ(j["image"], "registry.example.com/app:1");
  EXPECT_EQ(j["reference"], "registry.example.com/app:1");
  EXPECT_EQ(j["digest"], DigestOf("event-image").str());
  EXPECT_EQ(j["verdict"], "ALLOW");
  EXPECT_EQ(j["reason"], "VERIFIED");
  EXPECT_EQ(j["detail"], "signed by key-1");
  EXPECT_EQ(j["key_id"], "key-1");
  EXPECT_EQ(j["policy_version"], kV1);
  EXPECT_EQ(j["scope"], "registry.example.com");
  EXPECT_EQ(j["mode"], "enforce");
  EXPECT_EQ(j["admitted"], true);
  EXPECT_EQ(j["cached"], true);
  EXPECT_DOUBLE_EQ(j["verify_ms"].get<double>(), 12.0);
  EXPECT_DOUBLE_EQ(j["gate_ms"].get<double>(), 15.0);
}

TEST(EventJsonTest, DenialFields) {
  nlohmann::json j = EventJson("node-7", MakeEvent("registry.example.com/app:2", false));
  EXPECT_EQ(j["verdict"], "DENY");
  EXPECT_EQ(j["reason"], "BAD_SIGNATURE");
  EXPECT_EQ(j["mode"], "warn");
  EXPECT_EQ(j["digest"], "");
  EXPECT_EQ(j["admitted"], false);
  EXPECT_EQ(j["cached"], false);
}

class RecordingSink : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent& event) override { events.push_back(event); }
  std::vector<plugin::VerdictEvent> events;
};

TEST(EventLogTest, LinesAreValidJson) {
  TempDir dir;
  std::string path = dir / "events.jsonl";
  {
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(MakeEvent("registry.example.com/app:1", true));
    (*log)->Report(MakeEvent("registry.example.com/app:2", false));
    // Not UTF-8 (an image name straight from a CRI request): still a valid JSON line.
    (*log)->Report(MakeEvent("registry.example.com/bad\xff\xfe:1", false));
  }
  {
    // Reopening appends.
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(MakeEvent("registry.example.com/app:4", true));
  }
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 4u) << ReadAll(path);
  std::vector<std::string> images;
  for (const std::string& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["node"], "node-7");
    EXPECT_EQ(j["pod"]["uid"], "uid-1234");
    images.push_back(j["image"].get<std::string>());
  }
  EXPECT_EQ(images[0], "registry.example.com/app:1");
  EXPECT_EQ(images[1], "registry.example.com/app:2");
  EXPECT_THAT(images[2], HasSubstr("registry.example.com/bad"));
  EXPECT_EQ(images[3], "registry.example.com/app:4");
}

TEST(EventLogTest, NextSinkReceivesEveryEvent) {
  TempDir dir;
  for (std::string path : {std::string(""), dir / "events.jsonl"}) {
    RecordingSink sink;
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, &sink);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(MakeEvent("registry.example.com/app:1", true));
    (*log)->Report(MakeEvent("registry.example.com/app:2", false));
    (*log)->Report(MakeEvent("registry.example.com/app:3", true));
    ASSERT_EQ(sink.events.size(), 3u) << path;
    EXPECT_EQ(sink.events[0].image, "registry.example.com/app:1");
    EXPECT_EQ(sink.events[1].image, "registry.example.com/app:2");
    EXPECT_FALSE(sink.events[1].admitted);
    EXPECT_EQ(sink.events[2].image, "registry.example.com/app:3");
    if (!path.empty()) {
      EXPECT_EQ(Lines(path).size(), 3u);
    }
  }
}

// At kMaxEventLogBytes the file is moved to <path>.1 (one old file kept) and a new one
// begun. The size is taken from the file at Open, so a sparse file stands in for 64 MiB.
TEST(EventLogTest, RotatesAtTheSizeLimit) {
  TempDir dir;
  std::string path = dir / "events.jsonl";
  WriteAll(path + ".1", "older rotation\n");
  WriteAll(path, "{}\n");
  fs::resize_file(path, kMaxEventLogBytes - 10);
  absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, nullptr);
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Report(MakeEvent("registry.example.com/app:1", true));
  EXPECT_EQ(fs::file_size(path + ".1"), kMaxEventLogBytes - 10);
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(nlohmann::json::accept(lines[0])) << lines[0];
  (*log)->Report(MakeEvent("registry.example.com/app:2", true));
  EXPECT_EQ(Lines(path).size(), 2u);
  EXPECT_EQ(fs::file_size(path + ".1"), kMaxEventLogBytes - 10);
}

TEST(EventLogTest, OpenFailsForAnUnwritablePath) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<EventLog>> log =
      EventLog::Open("node-7", dir / "missing/events.jsonl", nullptr);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(Sv(log.status().message())), HasSubstr("missing/events.jsonl"));
}

}  // namespace
}  // namespace layerseal::agent
