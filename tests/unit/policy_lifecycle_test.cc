// The policy lifecycle (node-agent/policy_lifecycle.h): loaded at start, the last-good copy
// when the files cannot be, a failed reload keeps what is in force (counted, logged), the
// guard judge denies every image while no policy is in force, and the watch thread reloads
// changed files. (With the agent as a process and a real containerd: policy_fault_test.)
#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/policy_lifecycle.h"
#include "plugin/image_judge.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "tests/support/agent_unit.h"
#include "tests/support/files.h"
#include "verifier/digest.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using layerseal::testing::Ref;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

// Admits everything and counts what it was asked.
class CountingJudge : public plugin::ImageJudge {
 public:
  plugin::Judgement Judge(const plugin::JudgeRequest& request) override {
    ++judged;
    Verdict v;
    v.decision = Decision::kAllow;
    v.reason = Reason::kInsecureAcceptAnything;
    v.reference = request.reference.ToString();
    return plugin::Judgement{.verdict = v, .cached = false};
  }
  std::optional<plugin::Judgement> TryCached(const plugin::JudgeRequest& request) override {
    ++tried;
    return Judge(request);
  }
  std::atomic<int> judged{0};
  std::atomic<int> tried{0};
};

constexpr std::string_view kGood = "version: 1\ndefault:\n  requirement: insecureAcceptAnything\n";
constexpr std::string_view kGood2 = "version: 1\ndefault:\n  requirement: reject\n";
constexpr std::string_view kBad = "version: 2\ndefault:\n  requirement: reject\n";

class PolicyLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_ / "state"); }

  std::unique_ptr<PolicyLifecycle> Make(absl::Duration check_interval = absl::Hours(1)) {
    return std::make_unique<PolicyLifecycle>(PolicyLifecycleOptions{
        .policy = policy_,
        .state_dir = dir_ / "state",
        .check_interval = check_interval,
        .logger = &logger_,
        .metrics = metrics_.get(),
        .on_files_in_force = [this] { ++files_in_force_; },
        .on_tick = [this] { ++ticks_; }});
  }
  // A fresh registry (each lifecycle defines its metrics once in a registry).
  void NewRegistry() { metrics_ = std::make_unique<telemetry::MetricsRegistry>(); }
  double Metric(const std::string& series) const {
    std::string text = metrics_->RenderText();
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  std::vector<std::string> Messages() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> msgs;
    for (const std::string& line : lines_) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object()) msgs.push_back(j["msg"].get<std::string>());
    }
    return msgs;
  }
  static std::string Version(std::string_view text) { return Digest::Sha256Of(text).str(); }
  plugin::JudgeRequest Request() {
    plugin::JudgeRequest r;
    r.reference = Ref("example.org/app:1");
    return r;
  }

  TempDir dir_;
  std::string policy_ = dir_ / "policy.yaml";
  std::unique_ptr<telemetry::MetricsRegistry> metrics_ = std::make_unique<telemetry::MetricsRegistry>();
  absl::Mutex mu_;
  std::vector<std::string> lines_;
  telemetry::Logger logger_{"test", [this](std::string_view line) {
                              absl::MutexLock lock(&mu_);
                              lines_.emplace_back(line);
                            }};
  std::atomic<int> files_in_force_{0};
  std::atomic<int> ticks_{0};
};

TEST_F(PolicyLifecycleTest, FailedReloadKeepsThePolicyInForceAndIsCounted) {
  WriteAll(policy_, kGood);
  std::unique_ptr<PolicyLifecycle> lifecycle = Make();
  EXPECT_EQ(lifecycle->origin(), PolicyOrigin::kFiles);
  EXPECT_EQ(lifecycle->version(), Version(kGood));
  EXPECT_EQ(lifecycle->error(), "");
  EXPECT_EQ(Metric("layerseal_policy_loaded"), 1);
  EXPECT_EQ(Metric("layerseal_policy_last_good_in_force"), 0);
  EXPECT_TRUE(fs::exists(lifecycle->LastGoodPath())) << "saved once the files load";

  WriteAll(policy_, kBad);
  absl::Status s = lifecycle->Reload();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("policy.yaml"));
  EXPECT_EQ(lifecycle->version(), Version(kGood));
  EXPECT_EQ(lifecycle->origin(), PolicyOrigin::kFiles);
  EXPECT_EQ(lifecycle->error(), "") << "a policy is in force: nothing is denied for want of one";
  EXPECT_EQ(Metric("layerseal_policy_reloads_total{result=\"error\"}"), 1);
  EXPECT_EQ(Metric("layerseal_policy_loaded"), 1);
  EXPECT_THAT(Messages(), ::testing::Contains("policy reload failed; the previous policies stay in force"));
  EXPECT_EQ(files_in_force_.load(), 0);

  WriteAll(policy_, kGood2);
  ASSERT_TRUE(lifecycle->Reload().ok());
  EXPECT_EQ(lifecycle->version(), Version(kGood2));
  EXPECT_EQ(Metric("layerseal_policy_reloads_total{result=\"ok\"}"), 1);
  EXPECT_EQ(files_in_force_.load(), 1);
  EXPECT_THAT(Messages(), ::testing::Contains("policies reloaded"));
}

TEST_F(PolicyLifecycleTest, BadFilesAtStartPutTheLastGoodCopyInForce) {
  WriteAll(policy_, kGood);
  Make().reset();  // saves the copy
  WriteAll(policy_, kBad);
  NewRegistry();
  std::unique_ptr<PolicyLifecycle> lifecycle = Make();
  EXPECT_EQ(lifecycle->origin(), PolicyOrigin::kLastGood);
  EXPECT_EQ(lifecycle->version(), Version(kGood));
  EXPECT_EQ(Metric("layerseal_policy_loaded"), 0);
  EXPECT_EQ(Metric("layerseal_policy_last_good_in_force"), 1);
  EXPECT_THAT(Messages(), ::testing::Contains(
                              "the last-good copy of the policy is in force until the policy file loads"));
  // The copy judges: the guard passes to the next judge.
  CountingJudge next;
  std::unique_ptr<plugin::ImageJudge> guard = lifecycle->GuardJudge(&next);
  EXPECT_TRUE(guard->Judge(Request()).verdict.allowed());
  EXPECT_EQ(next.judged.load(), 1);
  // A failed reload keeps the copy in force, and says so.
  EXPECT_FALSE(lifecycle->Reload().ok());
  EXPECT_EQ(lifecycle->origin(), PolicyOrigin::kLastGood);
  EXPECT_THAT(Messages(), ::testing::Contains("policy reload failed; the last-good copy stays in force"));
}

TEST_F(PolicyLifecycleTest, WithNoPolicyTheGuardDeniesEveryImageUntilTheFilesLoad) {
  // Neither files nor a copy; the parser's message carries bytes that are not printable.
  WriteAll(policy_, std::string("version: 1\ndefault:\n  requirement: \x01\xff", 37) +
                        std::string(2000, 'x') + "\n");
  std::unique_ptr<PolicyLifecycle> lifecycle = Make();
  ASSERT_EQ(lifecycle->origin(), PolicyOrigin::kNone);
  EXPECT_THAT(Messages(), ::testing::Contains(
                              "no usable last-good policy copy; every image is denied until the "
                              "policy file loads"));
  std::string error = lifecycle->error();
  EXPECT_FALSE(error.empty());
  EXPECT_LE(error.size(), kMaxPolicyErrorInDetail);
  for (char c : error) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << static_cast<int>(c);

  CountingJudge next;
  std::unique_ptr<plugin::ImageJudge> guard = lifecycle->GuardJudge(&next);
  plugin::Judgement j = guard->Judge(Request());
  EXPECT_FALSE(j.verdict.allowed());
  EXPECT_EQ(j.verdict.reason, Reason::kPolicyUnavailable);
  EXPECT_EQ(j.verdict.mode, Mode::kEnforce);
  EXPECT_EQ(j.verdict.reference, "example.org/app:1");
  EXPECT_THAT(j.verdict.detail, HasSubstr(error));
  EXPECT_THAT(j.verdict.detail, HasSubstr("every image is denied until it can be"));
  EXPECT_FALSE(guard->TryCached(Request()).has_value());
  EXPECT_EQ(next.judged.load() + next.tried.load(), 0);

  WriteAll(policy_, kGood);
  ASSERT_TRUE(lifecycle->Reload().ok());
  EXPECT_EQ(lifecycle->error(), "");
  EXPECT_TRUE(guard->Judge(Request()).verdict.allowed());
  EXPECT_TRUE(guard->TryCached(Request()).has_value());
  EXPECT_EQ(next.judged.load(), 2);  // TryCached of CountingJudge judges too
  EXPECT_EQ(next.tried.load(), 1);
}

TEST_F(PolicyLifecycleTest, WatchReloadsChangedFilesAndRetriesUntilTheyLoad) {
  WriteAll(policy_, kBad);
  std::unique_ptr<PolicyLifecycle> lifecycle = Make(absl::Milliseconds(20));
  ASSERT_EQ(lifecycle->origin(), PolicyOrigin::kNone);
  lifecycle->StartWatching();
  auto wait_for = [](auto done) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return ticks_ >= 3; }));
  // The same error again is neither counted nor logged again.
  EXPECT_EQ(Metric("layerseal_policy_reloads_total{result=\"error\"}"), -1);
  WriteAll(policy_, kGood);
  ASSERT_TRUE(wait_for([&] { return lifecycle->origin() == PolicyOrigin::kFiles; }));
  EXPECT_EQ(lifecycle->version(), Version(kGood));
  // A change of the files in force is seen by their fingerprint.
  WriteAll(policy_ + ".new", kGood2);
  fs::rename(policy_ + ".new", policy_);
  ASSERT_TRUE(wait_for([&] { return lifecycle->version() == Version(kGood2); }));
  EXPECT_THAT(Messages(), ::testing::Contains("policy files changed"));
  lifecycle->StopWatching();
  int ticks = ticks_.load();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(ticks_.load(), ticks) << "no hook after StopWatching";
}

}  // namespace
}  // namespace layerseal::agent
