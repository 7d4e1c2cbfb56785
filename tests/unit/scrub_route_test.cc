// node-agent/scrub.h's admin route GET /scrub (issue 18) without a runtime: the query is
// checked before anything starts, a start answers at once with its run number, the status
// shows the report when it has finished, and a runtime that cannot be reached is an error
// in the report, never a mismatch.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/integrity_state.h"
#include "node-agent/scrub.h"
#include "plugin/cri_proxy.h"

namespace layerseal {
namespace {

using agent::Scrubber;
using nlohmann::json;

class ScrubRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Scrubber::Create(
        {.runtime = plugin::CreateUpstreamChannel("/nonexistent/layerseal-scrub-route-test/no-runtime.sock"),
         .state = &state_,
         .logger = &logger_});
    ASSERT_TRUE(s.ok()) << s.status();
    scrubber_ = *std::move(s);
    route_ = agent::ScrubAdminRoute(scrubber_.get());
  }

  telemetry::HttpResponse Get(std::vector<std::pair<std::string, std::string>> query) {
    telemetry::HttpRequest req;
    req.path = agent::kScrubAdminPath;
    req.query = std::move(query);
    return route_.handler(req);
  }

  agent::IntegrityState state_;
  telemetry::Logger logger_{"scrub-route-test"};
  std::unique_ptr<Scrubber> scrubber_;
  telemetry::HttpRoute route_;
};

TEST_F(ScrubRouteTest, ABadQueryIsRefusedAndStartsNothing) {
  EXPECT_EQ(route_.path, "/scrub");
  for (const auto& query : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"start", "1"}, {"image", "sha256:nothex"}},
           {{"image", std::string("sha256:") + std::string(64, 'a')}},  // image without start
           {{"start", "yes"}},
           {{"start", "1"}, {"start", "1"}},
           {{"stop", "1"}}}) {
    telemetry::HttpResponse r = Get(query);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << r.body;
  }
  EXPECT_FALSE(scrubber_->status().running);
  EXPECT_EQ(scrubber_->status().runs, 0u);
}

TEST_F(ScrubRouteTest, AStartAnswersAtOnceAndTheStatusHasTheReportWhenItEnds) {
  telemetry::HttpResponse idle = Get({});
  EXPECT_EQ(idle.status, 200);
  json j = json::parse(idle.body);
  EXPECT_EQ(j["running"], false);
  EXPECT_EQ(j["runs"], 0);
  EXPECT_TRUE(j["last"].is_null());

  telemetry::HttpResponse started = Get({{"start", "1"}});
  EXPECT_EQ(started.status, 202) << started.body;
  j = json::parse(started.body);
  EXPECT_EQ(j["started"], true);
  EXPECT_EQ(j["run"], 1);

  // The runtime is not there: the report says so (an error), and marks nothing.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (scrubber_->status().runs < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  j = json::parse(Get({}).body);
  ASSERT_EQ(j["runs"], 1) << j.dump();
  EXPECT_EQ(j["last"]["errors"], 1) << j.dump();
  EXPECT_EQ(j["last"]["mismatches"], 0) << j.dump();
  EXPECT_EQ(j["last"]["findings"][0]["kind"], "error") << j.dump();
  EXPECT_EQ(state_.corrupt_images(), 0u);

  // A second start is run 2.
  j = json::parse(Get({{"start", "1"}, {"image", std::string("sha256:") + std::string(64, 'b')}}).body);
  EXPECT_EQ(j["run"], 2) << j.dump();
}

}  // namespace
}  // namespace layerseal
