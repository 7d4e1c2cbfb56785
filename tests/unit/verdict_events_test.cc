// The verdict event fan-out (node-agent/verdict_events.h): every gate decision reaches the
// metrics, the agent's log (at the level its verdict and mode call for), the event log and
// the reporter behind it. Delivery to a controller (spool and sender) is crossed for real in
// delivery_e2e_test; here only its start-up check.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/verdict_events.h"
#include "plugin/image_judge.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "tests/support/agent_unit.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

using ::testing::HasSubstr;
using layerseal::testing::Lines;
using TempDir = layerseal::testing::UnitTempDir;

class RecordingSink : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent& event) override {
    absl::MutexLock lock(&mu);
    images.push_back(event.image);
  }
  absl::Mutex mu;
  std::vector<std::string> images;
};

plugin::VerdictEvent Event(std::string image, Decision decision, Reason reason, Mode mode,
                           bool admitted, bool cached) {
  plugin::VerdictEvent e;
  e.gate = "PullImage";
  e.image = std::move(image);
  e.pod = plugin::PodRef{.ns = "team-a", .name = "web-0", .uid = "uid-1"};
  Verdict& v = e.judgement.verdict;
  v.decision = decision;
  v.reason = reason;
  v.mode = mode;
  v.reference = e.image;
  v.duration = absl::Milliseconds(20);
  e.judgement.cached = cached;
  e.admitted = admitted;
  return e;
}

class VerdictEventsTest : public ::testing::Test {
 protected:
  std::unique_ptr<VerdictEvents> Start(std::string event_log) {
    absl::StatusOr<std::unique_ptr<VerdictEvents>> fanout =
        VerdictEvents::Start({.node = "node-7",
                              .agent_version = "0.1.0",
                              .event_log = std::move(event_log),
                              .reporter = &reporter_,
                              .logger = &logger_,
                              .metrics = &metrics_});
    EXPECT_TRUE(fanout.ok()) << fanout.status();
    return fanout.ok() ? *std::move(fanout) : nullptr;
  }
  // The value of `series` in the rendered metrics, -1 when absent.
  double Metric(const std::string& series) const {
    std::string text = metrics_.RenderText();
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  // The agent's log lines (JSON) whose msg is `msg`.
  std::vector<nlohmann::json> Logged(const std::string& msg) {
    absl::MutexLock lock(&mu_);
    std::vector<nlohmann::json> found;
    for (const std::string& line : log_lines_) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j["msg"] == msg) found.push_back(j);
    }
    return found;
  }

  TempDir dir_;
  RecordingSink reporter_;
  telemetry::MetricsRegistry metrics_;
  absl::Mutex mu_;
  std::vector<std::string> log_lines_;
  telemetry::Logger logger_{"test", [this](std::string_view line) {
                              absl::MutexLock lock(&mu_);
                              log_lines_.emplace_back(line);
                            }};
};

TEST_F(VerdictEventsTest, EveryDecisionReachesEachSinkAndIsCounted) {
  std::string path = dir_ / "events.jsonl";
  std::unique_ptr<VerdictEvents> fanout = Start(path);
  ASSERT_NE(fanout, nullptr);
  fanout->Report(Event("example.org/app:1", Decision::kAllow, Reason::kVerified, Mode::kEnforce,
                       /*admitted=*/true, /*cached=*/false));
  fanout->Report(Event("example.org/app:2", Decision::kDeny, Reason::kBadSignature,
                       Mode::kEnforce, /*admitted=*/false, /*cached=*/true));
  fanout->Report(Event("example.org/app:3", Decision::kDeny, Reason::kNotSigned, Mode::kWarn,
                       /*admitted=*/true, /*cached=*/false));

  // The event log, and the reporter behind it.
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[1])["image"], "example.org/app:2");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["node"], "node-7");
  {
    absl::MutexLock lock(&reporter_.mu);
    EXPECT_THAT(reporter_.images, ::testing::ElementsAre("example.org/app:1", "example.org/app:2",
                                                         "example.org/app:3"));
  }
  // The metrics.
  EXPECT_EQ(Metric("layerseal_verdicts_total{gate=\"PullImage\",verdict=\"ALLOW\","
                   "reason=\"VERIFIED\",mode=\"enforce\"}"), 1);
  EXPECT_EQ(Metric("layerseal_verdicts_total{gate=\"PullImage\",verdict=\"DENY\","
                   "reason=\"BAD_SIGNATURE\",mode=\"enforce\"}"), 1);
  EXPECT_EQ(Metric("layerseal_verdicts_total{gate=\"PullImage\",verdict=\"DENY\","
                   "reason=\"NOT_SIGNED\",mode=\"warn\"}"), 1);
  EXPECT_EQ(Metric("layerseal_verdict_cache_total{result=\"hit\"}"), 1);
  EXPECT_EQ(Metric("layerseal_verdict_cache_total{result=\"miss\"}"), 2);
  EXPECT_EQ(Metric("layerseal_verification_seconds_count"), 2);  // the misses only
  // No controller: no spool, its metrics stay 0.
  EXPECT_EQ(fanout->spool_backlog(), 0u);
  EXPECT_EQ(Metric("layerseal_agent_spool_events"), 0);
  EXPECT_EQ(Metric("layerseal_agent_spool_bytes"), 0);
  EXPECT_EQ(Metric("layerseal_agent_events_lost_total"), 0);
  // The log: an admission at info, a denial at warn, also when warn mode admits it.
  std::vector<nlohmann::json> admitted = Logged("image admitted");
  std::vector<nlohmann::json> denied = Logged("image denied");
  ASSERT_EQ(admitted.size(), 2u);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(admitted[0]["level"], "info");
  EXPECT_EQ(admitted[0]["image"], "example.org/app:1");
  EXPECT_EQ(admitted[1]["level"], "warn");
  EXPECT_EQ(admitted[1]["reason"], "NOT_SIGNED");
  EXPECT_EQ(denied[0]["level"], "warn");
  EXPECT_EQ(denied[0]["image"], "example.org/app:2");
}

TEST_F(VerdictEventsTest, AuditDenialIsQuietAndPolicyUnavailableIsNotTimed) {
  std::unique_ptr<VerdictEvents> fanout = Start("");  // no event log file
  ASSERT_NE(fanout, nullptr);
  fanout->Report(Event("example.org/app:1", Decision::kDeny, Reason::kRejectedByPolicy,
                       Mode::kAudit, /*admitted=*/true, /*cached=*/false));
  fanout->Report(Event("example.org/app:2", Decision::kDeny, Reason::kPolicyUnavailable,
                       Mode::kEnforce, /*admitted=*/false, /*cached=*/false));
  std::vector<nlohmann::json> admitted = Logged("image admitted");
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0]["level"], "info");
  EXPECT_EQ(Metric("layerseal_verification_seconds_count"), 1);  // POLICY_UNAVAILABLE ran none
  EXPECT_EQ(Metric("layerseal_verdict_cache_total{result=\"miss\"}"), 2);
  absl::MutexLock lock(&reporter_.mu);
  EXPECT_EQ(reporter_.images.size(), 2u);
}

// Issue 19's dashboard filters verdicts by namespace: decisions with a pod are counted by its
// namespace too; a decision without one (ImageStatus) only in layerseal_verdicts_total.
TEST_F(VerdictEventsTest, DecisionsWithAPodAreCountedByItsNamespace) {
  std::unique_ptr<VerdictEvents> fanout = Start("");
  ASSERT_NE(fanout, nullptr);
  fanout->Report(Event("example.org/app:1", Decision::kAllow, Reason::kVerified, Mode::kEnforce,
                       /*admitted=*/true, /*cached=*/false));
  fanout->Report(Event("example.org/app:2", Decision::kDeny, Reason::kBadSignature,
                       Mode::kEnforce, /*admitted=*/false, /*cached=*/false));
  fanout->Report(Event("example.org/app:2", Decision::kDeny, Reason::kBadSignature, Mode::kWarn,
                       /*admitted=*/true, /*cached=*/true));
  plugin::VerdictEvent status = Event("example.org/app:3", Decision::kDeny, Reason::kNotSigned,
                                      Mode::kEnforce, /*admitted=*/false, /*cached=*/false);
  status.gate = "ImageStatus";
  status.pod = {};
  fanout->Report(status);

  EXPECT_EQ(Metric("layerseal_namespace_verdicts_total{namespace=\"team-a\",gate=\"PullImage\","
                   "verdict=\"ALLOW\",reason=\"VERIFIED\"}"), 1);
  EXPECT_EQ(Metric("layerseal_namespace_verdicts_total{namespace=\"team-a\",gate=\"PullImage\","
                   "verdict=\"DENY\",reason=\"BAD_SIGNATURE\"}"), 2);
  EXPECT_EQ(metrics_.RenderText().find("layerseal_namespace_verdicts_total{namespace=\"\""),
            std::string::npos);
  EXPECT_EQ(Metric("layerseal_verdicts_total{gate=\"ImageStatus\",verdict=\"DENY\","
                   "reason=\"NOT_SIGNED\",mode=\"enforce\"}"), 1);
}

TEST_F(VerdictEventsTest, StartFailsNamingWhatCannotBeUsed) {
  absl::StatusOr<std::unique_ptr<VerdictEvents>> no_log = VerdictEvents::Start(
      {.node = "node-7", .event_log = dir_ / "missing/events.jsonl", .logger = &logger_,
       .metrics = &metrics_});
  ASSERT_FALSE(no_log.ok());
  EXPECT_THAT(std::string(Sv(no_log.status().message())), HasSubstr("missing/events.jsonl"));

  telemetry::MetricsRegistry other;
  absl::StatusOr<std::unique_ptr<VerdictEvents>> bad_cert = VerdictEvents::Start(
      {.node = "node-7",
       .controller = "127.0.0.1:1",
       .controller_cert = dir_ / "absent-cert.pem",
       .controller_key = dir_ / "absent-key.pem",
       .spool_dir = dir_ / "spool",
       .logger = &logger_,
       .metrics = &other});
  ASSERT_FALSE(bad_cert.ok());
  EXPECT_THAT(std::string(Sv(bad_cert.status().message())), HasSubstr("absent-cert.pem"));
}

}  // namespace
}  // namespace layerseal::agent
