// node-agent/pull_check.h without a content store (CRI-O, or no containerd content client):
// the manifest and config come from the (fake) registry, so the trusted-base rule still holds
// or fails, while rules that need the layers fail closed (CONTENT_UNAVAILABLE). Also: what a
// pull decides before it (base, remembered results), and the scrub's corruption marks. The
// path through containerd's content store is tests/integration/integrity_e2e_test.cc.
#include "node-agent/pull_check.h"

#include <memory>
#include <string>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_source.h"
#include "tests/support/process.h"
#include "tests/support/images.h"
#include "verifier/layers/chain_id.h"
#include "verifier/seal_layer.h"

namespace layerseal::agent {
namespace {

using ::testing::HasSubstr;
using testing::TestImage;

class PullCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::MakeBaseImage({.first_layer_tar = MakeSingleFileTar("bin/sh", "the shell\n")});
    good_ = testing::WithLayerAdded(base_, MakeSingleFileTar("app/x", "x\n"));
    untrusted_ = testing::MakeBaseImage({.seed = "pull-check-untrusted"});
    absl::StatusOr<Digest> chain = layers::ChainId(testing::DiffIds(base_));
    ASSERT_TRUE(chain.ok()) << chain.status();
    testing::WriteFileOrDie(
        dir_.File("policy.yaml"),
        StrCat("version: 1\n"
               "default: {requirement: insecureAcceptAnything}\n"
               "scopes:\n"
               "  \"r.test/base\": {requirement: insecureAcceptAnything, trustedBases: [", chain->str(), "]}\n"
               "  \"r.test/paths\": {requirement: insecureAcceptAnything, trustedBases: [", chain->str(),
               "], protectedPaths: [\"/bin/*\"]}\n"));
    absl::StatusOr<std::unique_ptr<PolicySet>> policies = PolicySet::Load(dir_.File("policy.yaml"), "");
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = *std::move(policies);
    bases_ = std::make_unique<TrustedBaseResolver>(TrustedBaseResolverOptions{
        .policies = [this] { return std::vector<std::shared_ptr<const Policy>>{policies_->node()}; },
        .logger = &logger_,
        .metrics = &metrics_,
        .resolve = [](const Reference&) -> absl::StatusOr<Digest> {
          return absl::UnavailableError("no references here");
        }});
    check_ = std::make_unique<PullCheck>(PullCheckOptions{
        .policies = policies_.get(),
        .state = &state_,
        .bases = bases_.get(),
        .content = nullptr,  // CRI-O: no content store
        .source_for = [this](const Reference&, const std::optional<registry::Credentials>&) {
          ++sources_;
          auto source = std::make_unique<testing::FakeSource>();
          for (const char* repo : {"r.test/base/app", "r.test/paths/app", "r.test/none/app"}) {
            for (const TestImage* image : {&good_, &untrusted_}) {
              source->Add(*Reference::Parse(StrCat(repo, ":1")), *image);
            }
          }
          return std::unique_ptr<ImageSource>(std::move(source));
        },
        .logger = &logger_,
        .metrics = &metrics_});
  }

  plugin::JudgeRequest Request(const std::string& repo, const TestImage& image) {
    return {.reference = *Reference::Parse(StrCat(repo, "@", image.digest.str()))};
  }
  Verdict Admitted(const TestImage& image) {
    Verdict v;
    v.decision = Decision::kAllow;
    v.reason = Reason::kInsecureAcceptAnything;
    v.manifest_digest = image.digest;
    v.policy_version = policies_->node()->version();
    return v;
  }

  testing::TempDir dir_;
  TestImage base_, good_, untrusted_;
  telemetry::Logger logger_{"test"};
  telemetry::MetricsRegistry metrics_;
  IntegrityState state_;
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<TrustedBaseResolver> bases_;
  std::unique_ptr<PullCheck> check_;
  int sources_ = 0;
};

TEST_F(PullCheckTest, WithoutContentTheBaseRuleStillJudgesTheConfig) {
  plugin::IntegrityResult good = check_->Check(Request("r.test/base/app", good_), Admitted(good_));
  EXPECT_TRUE(good.verdict.allowed()) << good.verdict.detail;
  EXPECT_TRUE(good.inspected);
  plugin::IntegrityResult bad =
      check_->Check(Request("r.test/base/app", untrusted_), Admitted(untrusted_));
  EXPECT_EQ(bad.verdict.reason, Reason::kUntrustedBase) << bad.verdict.detail;
  // Remembered: answered from memory (the proxy's thread) without the registry.
  int sources = sources_;
  std::optional<plugin::IntegrityResult> known =
      check_->TryKnown(Request("r.test/base/app", untrusted_), Admitted(untrusted_));
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->verdict.reason, Reason::kUntrustedBase);
  EXPECT_FALSE(known->inspected);
  EXPECT_EQ(sources_, sources);
}

TEST_F(PullCheckTest, WithoutContentRulesThatNeedLayersFailClosed) {
  plugin::IntegrityResult r = check_->Check(Request("r.test/paths/app", good_), Admitted(good_));
  EXPECT_EQ(r.verdict.reason, Reason::kContentUnavailable) << r.verdict.detail;
  EXPECT_EQ(r.verdict.decision, Decision::kDeny);
  EXPECT_THAT(r.verdict.detail, HasSubstr("not available"));
  // The base still decides first.
  plugin::IntegrityResult u = check_->Check(Request("r.test/paths/app", untrusted_), Admitted(untrusted_));
  EXPECT_EQ(u.verdict.reason, Reason::kUntrustedBase) << u.verdict.detail;
}

TEST_F(PullCheckTest, BeforePullJudgesTheBaseAndAsksForAReviewOnlyForLayers) {
  plugin::IntegrityResult denied =
      check_->BeforePull(Request("r.test/paths/app", untrusted_), Admitted(untrusted_));
  EXPECT_EQ(denied.verdict.reason, Reason::kUntrustedBase);
  EXPECT_FALSE(denied.review);
  plugin::IntegrityResult base_only = check_->BeforePull(Request("r.test/base/app", good_), Admitted(good_));
  EXPECT_TRUE(base_only.verdict.allowed());
  EXPECT_FALSE(base_only.review) << "the base is all of the rules: nothing to read after the pull";
  plugin::IntegrityResult paths = check_->BeforePull(Request("r.test/paths/app", good_), Admitted(good_));
  EXPECT_TRUE(paths.verdict.allowed());
  EXPECT_TRUE(paths.review);
  // A remembered CONTENT_UNAVAILABLE is no reason to refuse a pull: it is judged again.
  check_->Check(Request("r.test/paths/app", good_), Admitted(good_));
  plugin::IntegrityResult again = check_->BeforePull(Request("r.test/paths/app", good_), Admitted(good_));
  EXPECT_TRUE(again.verdict.allowed());
  EXPECT_TRUE(again.review);
  // A scope without rules: nothing read, nothing to review.
  int sources = sources_;
  plugin::IntegrityResult none = check_->BeforePull(Request("r.test/none/app", good_), Admitted(good_));
  EXPECT_TRUE(none.verdict.allowed());
  EXPECT_FALSE(none.review);
  EXPECT_EQ(sources_, sources);
}

TEST_F(PullCheckTest, ACorruptionMarkDeniesUnderEveryScope) {
  ASSERT_TRUE(state_.MarkCorrupt(good_.digest, "layer sha256:... is sha256:...", absl::Now()));
  std::optional<plugin::IntegrityResult> r =
      check_->TryKnown(Request("r.test/none/app", good_), Admitted(good_));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict.reason, Reason::kIntegrityMismatch);
  EXPECT_EQ(r->verdict.detail, "layer sha256:... is sha256:...");
  // A pull of it is reviewed: its bytes are judged again after the pull.
  EXPECT_TRUE(check_->BeforePull(Request("r.test/none/app", good_), Admitted(good_)).review);
}

}  // namespace
}  // namespace layerseal::agent
