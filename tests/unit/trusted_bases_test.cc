// node-agent/trusted_bases.h: trusted bases written as references, resolved once through
// the (faked) ResolveTrustedBase seam, failures fail closed with their reason, and memory-only
// callers never wait for a registry.
#include "node-agent/trusted_bases.h"

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "tests/support/metrics_text.h"

namespace layerseal::agent {
namespace {

using ::testing::HasSubstr;

const Digest kChain = Digest::Sha256Of("the base's chain id");
const Digest kOtherChain = Digest::Sha256Of("a chain id given as such");

TrustedBase ByReference(const std::string& text) {
  TrustedBase b;
  b.name = text;
  b.reference = *Reference::Parse(text);
  b.unresolved = "not resolved yet";
  return b;
}

class TrustedBasesTest : public ::testing::Test {
 protected:
  std::unique_ptr<TrustedBaseResolver> Make() {
    return std::make_unique<TrustedBaseResolver>(TrustedBaseResolverOptions{
        .policies = [] { return std::vector<std::shared_ptr<const Policy>>{}; },
        .logger = &logger_,
        .metrics = &metrics_,
        .resolve = [this](const Reference& ref) -> absl::StatusOr<Digest> {
          ++asked_;
          if (ref.Name().find("down") != std::string::npos) {
            return absl::UnavailableError("registry down: connection refused");
          }
          return kChain;
        }});
  }
  IntegrityRules Rules(std::vector<TrustedBase> bases) {
    IntegrityRules r;
    r.trusted_bases = std::move(bases);
    return r;
  }

  telemetry::Logger logger_{"test"};
  telemetry::MetricsRegistry metrics_;
  std::atomic<int> asked_{0};
  const std::string kRef = "registry.test/base/debian@" + Digest::Sha256Of("manifest").str();
  const std::string kDown = "down.test/base/debian@" + Digest::Sha256Of("manifest").str();
};

TEST_F(TrustedBasesTest, AReferenceIsResolvedOnceAndChainIdsStayAsWritten) {
  std::unique_ptr<TrustedBaseResolver> bases = Make();
  TrustedBase given;
  given.name = kOtherChain.str();
  given.chain_id = kOtherChain;
  IntegrityRules written = Rules({ByReference(kRef), given});
  // Never tried: a memory-only caller is told to ask a worker.
  EXPECT_FALSE(bases->Apply(written, /*may_block=*/false).has_value());
  EXPECT_EQ(asked_.load(), 0);
  std::optional<IntegrityRules> applied = bases->Apply(written, /*may_block=*/true);
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->trusted_bases[0].chain_id, kChain);
  EXPECT_EQ(applied->trusted_bases[0].unresolved, "");
  EXPECT_EQ(applied->trusted_bases[1].chain_id, kOtherChain);
  EXPECT_EQ(asked_.load(), 1);
  // Remembered: memory-only callers and later rules get it without the registry.
  ASSERT_TRUE(bases->Apply(written, /*may_block=*/false).has_value());
  EXPECT_EQ(bases->Apply(written, true)->Fingerprint(), applied->Fingerprint());
  EXPECT_EQ(asked_.load(), 1);
  EXPECT_NE(applied->Fingerprint(), written.Fingerprint()) << "a resolved base is another rule";
}

TEST_F(TrustedBasesTest, AFailedResolutionMatchesNothingAndIsNotRetriedAtOnce) {
  std::unique_ptr<TrustedBaseResolver> bases = Make();
  IntegrityRules written = Rules({ByReference(kDown)});
  std::optional<IntegrityRules> applied = bases->Apply(written, /*may_block=*/true);
  ASSERT_TRUE(applied.has_value());
  EXPECT_FALSE(applied->trusted_bases[0].chain_id.has_value());
  EXPECT_THAT(applied->trusted_bases[0].unresolved, HasSubstr("registry down"));
  // The CRI path does not wait for the registry again before the retry time.
  ASSERT_TRUE(bases->Apply(written, /*may_block=*/false).has_value());
  bases->Apply(written, /*may_block=*/true);
  EXPECT_EQ(asked_.load(), 1);
  std::string text = metrics_.RenderText();
  EXPECT_EQ(testing::MetricValue(text, "layerseal_trusted_base_resolutions_total{result=\"error\"}"), 1)
      << text;
}

}  // namespace
}  // namespace layerseal::agent
