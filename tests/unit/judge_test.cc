// The caching judge (node-agent/judge.h) with policies that need no registry, a registry
// that cannot be reached, or images from a FakeSource on a fake clock: policy versions,
// error TTLs, TryCached, the kubelet's back-off ladder, verdicts without a pod (any policy).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "node-agent/judge.h"
#include "node-agent/policy_set.h"
#include "node-agent/verdict_cache.h"
#include "plugin/image_judge.h"
#include "tests/support/agent_unit.h"
#include "tests/support/fake_source.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using layerseal::testing::CacheOptions;
using layerseal::testing::DigestOf;
using layerseal::testing::FakeClock;
using layerseal::testing::Ref;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

// ---------------------------------------------------------------------------------------
// CachingJudge

class CachingJudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "ns");
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    WriteAll(dir_ / "ci.pub", key->public_key().ToPem());
    WriteAll(dir_ / "policy.yaml", kNodePolicy);
    WriteAll(dir_ / "ns/locked.yaml", kLockedPolicy);
    WriteAll(dir_ / "ns/secure.yaml", SecurePolicy("deny"));
    WriteAll(dir_ / "ns/lenient.yaml", SecurePolicy("allow"));
    absl::StatusOr<std::unique_ptr<PolicySet>> set =
        PolicySet::Load(dir_ / "policy.yaml", dir_ / "ns");
    ASSERT_TRUE(set.ok()) << set.status();
    policies_ = *std::move(set);

    VerdictCacheOptions co = CacheOptions(clock_);
    co.error_ttl = absl::Seconds(5);
    cache_ = std::make_unique<VerdictCache>(co);

    JudgeOptions jo;
    jo.policies = policies_.get();
    jo.cache = cache_.get();
    jo.registry.timeout = absl::Seconds(2);
    jo.registry.connect_timeout = absl::Seconds(1);
    jo.registry.max_retries = 0;
    jo.plain_http_registries = {"127.0.0.1:1"};
    judge_ = std::make_unique<CachingJudge>(std::move(jo));
  }

  std::string SecurePolicy(std::string_view on_registry_error) const {
    return StrCat("version: 1\nonRegistryError: ", on_registry_error, "\nkeys:\n  ci:\n    path: ",
                  dir_.path(), "/ci.pub\ndefault:\n  requirement: signed\n  keys: [ci]\n");
  }
  static std::string Version(std::string_view text) { return Digest::Sha256Of(text).str(); }

  plugin::Judgement Judge(std::string_view ref, std::string ns = "") {
    plugin::JudgeRequest r;
    r.reference = Ref(ref);
    r.pod.ns = std::move(ns);
    return judge_->Judge(r);
  }

  static constexpr std::string_view kNodePolicy =
      "version: 1\n"
      "default:\n"
      "  requirement: insecureAcceptAnything\n"
      "scopes:\n"
      "  \"reject.example.com\": {requirement: reject}\n";
  static constexpr std::string_view kLockedPolicy =
      "version: 1\nmode: audit\ndefault:\n  requirement: reject\n";

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<CachingJudge> judge_;
};

TEST_F(CachingJudgeTest, PolicyOnlyVerdictsCarryThePolicyVersion) {
  plugin::Judgement open = Judge("example.org/app:1");
  EXPECT_TRUE(open.verdict.allowed());
  EXPECT_EQ(open.verdict.reason, Reason::kInsecureAcceptAnything);
  EXPECT_EQ(open.verdict.policy_version, Version(kNodePolicy));
  EXPECT_EQ(open.verdict.scope, "default");
  EXPECT_EQ(open.verdict.reference, "example.org/app:1");
  EXPECT_FALSE(open.cached);

  plugin::Judgement rejected = Judge("reject.example.com/app:1");
  EXPECT_FALSE(rejected.verdict.allowed());
  EXPECT_EQ(rejected.verdict.reason, Reason::kRejectedByPolicy);
  EXPECT_EQ(rejected.verdict.policy_version, Version(kNodePolicy));
  EXPECT_EQ(rejected.verdict.scope, "reject.example.com");
  EXPECT_FALSE(rejected.cached);

  // The pod's namespace picks its own policy.
  plugin::Judgement locked = Judge("example.org/app:1", "locked");
  EXPECT_FALSE(locked.verdict.allowed());
  EXPECT_EQ(locked.verdict.reason, Reason::kRejectedByPolicy);
  EXPECT_EQ(locked.verdict.mode, Mode::kAudit);
  EXPECT_TRUE(locked.verdict.admits());
  EXPECT_EQ(locked.verdict.policy_version, Version(kLockedPolicy));

  plugin::Judgement other_ns = Judge("example.org/app:1", "elsewhere");
  EXPECT_TRUE(other_ns.verdict.allowed());
  EXPECT_EQ(other_ns.verdict.policy_version, Version(kNodePolicy));
}

TEST_F(CachingJudgeTest, PolicyVersionFollowsReload) {
  EXPECT_EQ(Judge("example.org/app:1").verdict.policy_version, Version(kNodePolicy));
  std::string node2 = "version: 1\ndefault:\n  requirement: reject\n";
  WriteAll(dir_ / "policy.yaml", node2);
  ASSERT_TRUE(policies_->Reload().ok());
  plugin::Judgement j = Judge("example.org/app:1");
  EXPECT_FALSE(j.verdict.allowed());
  EXPECT_EQ(j.verdict.policy_version, Version(node2));
}

TEST_F(CachingJudgeTest, UnreachableRegistryIsARegistryErrorCachedForErrorTtl) {
  absl::Time start = absl::Now();
  plugin::Judgement first = Judge("127.0.0.1:1/team/app:1", "secure");
  EXPECT_FALSE(first.verdict.allowed());
  EXPECT_EQ(first.verdict.reason, Reason::kRegistryError) << first.verdict.detail;
  EXPECT_EQ(first.verdict.policy_version, Version(SecurePolicy("deny")));
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(judge_->verifications(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "no retries, short timeouts";

  clock_.t += absl::Seconds(4);  // within error_ttl (5s)
  plugin::Judgement second = Judge("127.0.0.1:1/team/app:1", "secure");
  EXPECT_TRUE(second.cached);
  EXPECT_EQ(second.verdict.reason, Reason::kRegistryError);
  EXPECT_FALSE(second.verdict.allowed());
  EXPECT_EQ(second.verdict.reference, "127.0.0.1:1/team/app:1");
  EXPECT_EQ(judge_->verifications(), 1u) << "no second attempt within error_ttl";

  // Another namespace's policy is another key: not answered from this entry.
  plugin::Judgement node = Judge("127.0.0.1:1/team/app:1");
  EXPECT_TRUE(node.verdict.allowed());
  EXPECT_EQ(node.verdict.reason, Reason::kInsecureAcceptAnything);

  clock_.t += absl::Seconds(2);  // 6s: past error_ttl, tried again
  plugin::Judgement third = Judge("127.0.0.1:1/team/app:1", "secure");
  EXPECT_FALSE(third.cached);
  EXPECT_EQ(third.verdict.reason, Reason::kRegistryError);
  EXPECT_EQ(judge_->verifications(), 3u);  // the node-policy judgement counted too
}

TEST_F(CachingJudgeTest, AllowOnRegistryErrorLivesOnlyErrorTtl) {
  plugin::Judgement first = Judge("127.0.0.1:1/team/app@" + DigestOf("x").str(), "lenient");
  EXPECT_TRUE(first.verdict.allowed());
  EXPECT_EQ(first.verdict.reason, Reason::kRegistryError) << first.verdict.detail;
  EXPECT_EQ(first.verdict.policy_version, Version(SecurePolicy("allow")));
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(judge_->verifications(), 1u);

  plugin::Judgement second = Judge("127.0.0.1:1/team/app@" + DigestOf("x").str(), "lenient");
  EXPECT_TRUE(second.cached);
  EXPECT_TRUE(second.verdict.allowed());
  EXPECT_EQ(judge_->verifications(), 1u);

  clock_.t += absl::Seconds(6);  // past error_ttl (5s), well within allow_ttl (100s)
  plugin::Judgement third = Judge("127.0.0.1:1/team/app@" + DigestOf("x").str(), "lenient");
  EXPECT_FALSE(third.cached);
  EXPECT_EQ(judge_->verifications(), 2u);
}

TEST_F(CachingJudgeTest, TryCachedAnswersOnlyWhatJudgeWouldAnswerFromMemory) {
  plugin::JudgeRequest r;
  r.reference = Ref("127.0.0.1:1/team/app@" + DigestOf("y").str());
  r.pod.ns = "lenient";
  // Nothing known yet: TryCached neither verifies nor guesses.
  EXPECT_FALSE(judge_->TryCached(r).has_value());
  EXPECT_EQ(judge_->verifications(), 0u);

  plugin::Judgement judged = judge_->Judge(r);
  EXPECT_FALSE(judged.cached);
  std::optional<plugin::Judgement> cached = judge_->TryCached(r);
  ASSERT_TRUE(cached.has_value());
  EXPECT_TRUE(cached->cached);
  EXPECT_EQ(cached->verdict.reason, judged.verdict.reason);
  EXPECT_EQ(cached->verdict.policy_version, judged.verdict.policy_version);
  EXPECT_EQ(judge_->verifications(), 1u);

  // Keyed by the pod's policy, and gone once the entry expires.
  r.pod.ns = "secure";
  EXPECT_FALSE(judge_->TryCached(r).has_value());
  r.pod.ns = "lenient";
  clock_.t += absl::Seconds(6);  // past error_ttl
  EXPECT_FALSE(judge_->TryCached(r).has_value());
  EXPECT_EQ(judge_->verifications(), 1u);
}

TEST_F(CachingJudgeTest, ConcurrentJudgementsOfOneImage) {
  std::vector<std::thread> threads;
  std::vector<plugin::Judgement> results(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, &results, t] {
      results[t] = Judge("127.0.0.1:1/team/app:7", "secure");
    });
  }
  for (std::thread& th : threads) th.join();
  for (const plugin::Judgement& j : results) {
    EXPECT_FALSE(j.verdict.allowed());
    EXPECT_EQ(j.verdict.reason, Reason::kRegistryError);
  }
  EXPECT_GE(judge_->verifications(), 1u);
  EXPECT_LE(judge_->verifications(), 8u);
  EXPECT_TRUE(Judge("127.0.0.1:1/team/app:7", "secure").cached);
}

// Issue 15.6: a verdict of the policy alone is cached for its whole repository, so TryCached
// (an ImageStatus on the proxy's thread) answers any tag or digest of it without a worker.
TEST_F(CachingJudgeTest, PolicyOnlyVerdictsAreCachedForTheWholeRepository) {
  plugin::JudgeRequest by_digest;
  by_digest.reference = Ref("example.org/app@" + DigestOf("open").str());
  EXPECT_FALSE(judge_->TryCached(by_digest).has_value());  // nothing known yet

  EXPECT_EQ(Judge("example.org/app:1").verdict.reason, Reason::kInsecureAcceptAnything);
  std::optional<plugin::Judgement> open = judge_->TryCached(by_digest);
  ASSERT_TRUE(open.has_value());
  EXPECT_TRUE(open->cached);
  EXPECT_TRUE(open->verdict.allowed());
  EXPECT_EQ(open->verdict.reason, Reason::kInsecureAcceptAnything);
  EXPECT_EQ(open->verdict.reference, by_digest.reference.ToString());
  plugin::Judgement other_tag = Judge("example.org/app:2");
  EXPECT_TRUE(other_tag.cached);
  EXPECT_EQ(other_tag.verdict.reference, "example.org/app:2");

  EXPECT_EQ(Judge("reject.example.com/app:1").verdict.reason, Reason::kRejectedByPolicy);
  plugin::JudgeRequest rejected;
  rejected.reference = Ref("reject.example.com/app@" + DigestOf("r").str());
  std::optional<plugin::Judgement> known = judge_->TryCached(rejected);
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->verdict.reason, Reason::kRejectedByPolicy);
  EXPECT_EQ(judge_->verifications(), 2u);

  // Keyed by the policy: another repository or a reloaded policy is not answered.
  by_digest.reference = Ref("example.org/other@" + DigestOf("open").str());
  EXPECT_FALSE(judge_->TryCached(by_digest).has_value());
  WriteAll(dir_ / "policy.yaml", std::string(kNodePolicy) + "# changed\n");
  ASSERT_TRUE(policies_->Reload().ok());
  by_digest.reference = Ref("example.org/app@" + DigestOf("open").str());
  EXPECT_FALSE(judge_->TryCached(by_digest).has_value());
}

// Issue 15.4: without a pod (ImageStatus) an image is admitted when any policy in force
// admits it; here the "locked" namespace's audit mode admits what the node policy rejects,
// decided by that policy alone.
TEST_F(CachingJudgeTest, AnyPolicyAdmitsWhatANamespacePolicyAdmits) {
  plugin::JudgeRequest r;
  r.reference = Ref("reject.example.com/app@" + DigestOf("any").str());
  r.any_policy = true;
  EXPECT_FALSE(judge_->TryCached(r).has_value());  // the node policy has not judged it yet
  plugin::Judgement j = judge_->Judge(r);
  EXPECT_TRUE(j.verdict.admits());
  EXPECT_EQ(j.verdict.mode, Mode::kAudit);
  EXPECT_EQ(j.verdict.policy_version, Version(kLockedPolicy));
  std::optional<plugin::Judgement> again = judge_->TryCached(r);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->verdict.admits());
  // The pod's own request still gets its own policy's verdict.
  r.any_policy = false;
  EXPECT_FALSE(judge_->Judge(r).verdict.admits());
}

// A judge reading images from a FakeSource (no registry), on a fake clock with the default
// TTLs: the node policy wants images signed by `ci`; namespace "team" trusts `other`.
class BackOffJudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "ns");
    WriteAll(dir_ / "ci.pub", key_.public_key().ToPem());
    WriteAll(dir_ / "other.pub", other_.public_key().ToPem());
    WriteAll(dir_ / "policy.yaml", StrCat("version: 1\nkeys:\n  ci:\n    path: ", dir_ / "ci.pub",
                                          "\ndefault:\n  requirement: signed\n  keys: [ci]\n"));
    WriteAll(dir_ / "ns/team.yaml", StrCat("version: 1\nkeys:\n  other:\n    path: ",
                                           dir_ / "other.pub",
                                           "\ndefault:\n  requirement: signed\n  keys: [other]\n"));
    absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(dir_ / "policy.yaml", dir_ / "ns");
    ASSERT_TRUE(set.ok()) << set.status();
    policies_ = *std::move(set);
    VerdictCacheOptions co;  // the defaults under test
    co.clock = &clock_;
    cache_ = std::make_unique<VerdictCache>(co);
    judge_ = std::make_unique<CachingJudge>(
        JudgeOptions{.policies = policies_.get(), .cache = cache_.get(), .source = &source_});
  }

  plugin::Judgement Judge(std::string_view ref, std::string ns = "", bool any_policy = false) {
    plugin::JudgeRequest r;
    r.reference = Ref(ref);
    r.pod.ns = std::move(ns);
    r.any_policy = any_policy;
    return judge_->Judge(r);
  }

  static constexpr std::string_view kTag = "registry.example/team/app:1";
  PrivateKey key_ = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  PrivateKey other_ = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  TempDir dir_;
  FakeClock clock_;
  layerseal::testing::FakeSource source_;
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<CachingJudge> judge_;
};

// Issue 15.5: the kubelet retries a denied pull after about 10, 20, 40, 80, 160 and then every
// 300 s. Every retry of the ladder is answered from the denial cached for the image's digest
// (only the tag is looked up again); once the tag names a fixed (signed) image, the next
// retry is judged afresh and admitted.
TEST_F(BackOffJudgeTest, DenialAbsorbsTheBackOffLadderAndAFixedImageIsAdmittedAtTheNextRetry) {
  source_.Add(Ref(kTag), layerseal::testing::MakeBaseImage({.seed = "backoff-unsigned"}));
  plugin::Judgement first = Judge(kTag);
  EXPECT_EQ(first.verdict.reason, Reason::kNotSigned) << first.verdict.detail;
  EXPECT_EQ(judge_->verifications(), 1u);
  int blobs = source_.blob_fetches;
  for (int seconds : {10, 20, 40, 80, 160, 300}) {
    clock_.t += absl::Seconds(seconds);
    plugin::Judgement retry = Judge(kTag);
    EXPECT_FALSE(retry.verdict.admits()) << seconds;
    EXPECT_TRUE(retry.cached) << "retry after " << seconds << " s verified again";
  }
  EXPECT_EQ(judge_->verifications(), 1u);
  EXPECT_EQ(source_.blob_fetches, blobs);

  // The fix: a signed image pushed under the same tag.
  source_.Add(Ref(kTag), layerseal::testing::SealTestImage(
                             layerseal::testing::MakeBaseImage({.seed = "backoff-unsigned"}), key_));
  clock_.t += absl::Seconds(10);
  plugin::Judgement fixed = Judge(kTag);
  EXPECT_TRUE(fixed.verdict.allowed()) << fixed.verdict.detail;
  EXPECT_EQ(fixed.verdict.reason, Reason::kVerified);
  EXPECT_EQ(judge_->verifications(), 2u);
}

// A signature kept beside the image (here a cosign one, found through referrers and tags)
// can be attached after a denial without changing the image's digest: under a scope that
// accepts such signatures the denial is reused only cache.referrerDenyTtl, so the retry after
// it is verified again. A seal-only scope keeps the long denial (the test above).
TEST_F(BackOffJudgeTest, ReferrerSignaturesAttachedAfterADenialAreSeenWithinTheirTtl) {
  WriteAll(dir_ / "ns/cosign.yaml",
           StrCat("version: 1\nkeys:\n  ci:\n    path: ", dir_ / "ci.pub",
                  "\ndefault:\n  requirement: signed\n  signatures: [seal, cosign]\n"
                  "  keys: [ci]\n  transparencyLog: ignore\n"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(dir_ / "policy.yaml", dir_ / "ns");
  ASSERT_TRUE(set.ok()) << set.status();
  policies_ = *std::move(set);
  judge_ = std::make_unique<CachingJudge>(
      JudgeOptions{.policies = policies_.get(), .cache = cache_.get(), .source = &source_});

  source_.Add(Ref(kTag), layerseal::testing::MakeBaseImage({.seed = "referrer-later"}));
  EXPECT_EQ(Judge(kTag, "cosign").verdict.reason, Reason::kNotSigned);
  EXPECT_EQ(judge_->verifications(), 1u);
  clock_.t += absl::Seconds(10);
  EXPECT_TRUE(Judge(kTag, "cosign").cached);  // within the 30 s
  clock_.t += kDefaultReferrerDenyTtl;
  plugin::Judgement later = Judge(kTag, "cosign");
  EXPECT_FALSE(later.cached) << "a denial under a cosign scope outlived referrerDenyTtl";
  EXPECT_EQ(judge_->verifications(), 2u);

  // The node policy (seals only) still keeps its denial for denyTtl.
  EXPECT_FALSE(Judge(kTag).verdict.admits());
  EXPECT_EQ(judge_->verifications(), 3u);
  clock_.t += kDefaultReferrerDenyTtl * 4;
  EXPECT_TRUE(Judge(kTag).cached);
  EXPECT_EQ(judge_->verifications(), 3u);
}

// Issue 15.4: an image only a namespace policy admits. Without a pod it is admitted once that
// namespace's verdict is known; before, it is absent but the denial is not conclusive (it
// must not be recorded as a denial of any pod). Namespace policies are never verified for it.
TEST_F(BackOffJudgeTest, AnyPolicyUsesNamespaceVerdictsWithoutVerifyingUnderThem) {
  layerseal::testing::TestImage image = layerseal::testing::SealTestImage(
      layerseal::testing::MakeBaseImage({.seed = "team-only"}), other_);
  source_.Add(Ref(kTag), image);
  std::string pinned = StrCat("registry.example/team/app@", image.digest.str());

  plugin::Judgement unknown = Judge(pinned, "", /*any_policy=*/true);
  EXPECT_FALSE(unknown.verdict.admits());
  EXPECT_EQ(unknown.verdict.reason, Reason::kUntrustedKey);
  EXPECT_FALSE(unknown.conclusive);
  EXPECT_EQ(judge_->verifications(), 1u);  // the node policy only

  EXPECT_TRUE(Judge(kTag, "team").verdict.allowed());  // the pull of a "team" pod
  plugin::JudgeRequest r{.reference = Ref(pinned), .any_policy = true};
  std::optional<plugin::Judgement> known = judge_->TryCached(r);
  ASSERT_TRUE(known.has_value());
  EXPECT_TRUE(known->verdict.allowed());
  EXPECT_EQ(known->verdict.policy_version, policies_->For("team")->version());
  EXPECT_FALSE(Judge(pinned, "default").verdict.admits());  // a pod elsewhere: still denied

  // A node-policy denial with every namespace verdict known (and none admitting) is conclusive.
  layerseal::testing::TestImage unsigned_image =
      layerseal::testing::MakeBaseImage({.seed = "nobody"});
  source_.Add(Ref("registry.example/team/other:1"), unsigned_image);
  std::string other = StrCat("registry.example/team/other@", unsigned_image.digest.str());
  EXPECT_FALSE(Judge(other, "team").verdict.admits());
  plugin::Judgement denied = Judge(other, "", /*any_policy=*/true);
  EXPECT_FALSE(denied.verdict.admits());
  EXPECT_TRUE(denied.conclusive);
}

}  // namespace
}  // namespace layerseal::agent
