// ChainIDs (verifier/layers/chain_id.h) against values computed independently: python3's
// hashlib at test time, and fixed values from the OCI spec's definition computed the same way.
#include "verifier/layers/chain_id.h"

#include <gtest/gtest.h>

#include "base/str_cat.h"
#include "tests/support/process.h"

namespace layerseal::layers {
namespace {

Digest D(std::string_view text) {
  absl::StatusOr<Digest> d = Digest::Parse(text);
  EXPECT_TRUE(d.ok()) << text;
  return d.ok() ? *d : Digest();
}

std::vector<Digest> ThreeDiffIds() {
  return {Digest::Sha256Of("layer0"), Digest::Sha256Of("layer1"), Digest::Sha256Of("layer2")};
}

// python3 -c 'import hashlib; ...' over the "sha256:<hex>" texts, run when this was written.
TEST(ChainIdTest, MatchesValuesComputedWithPythonHashlib) {
  absl::StatusOr<std::vector<Digest>> ids = ChainIds(ThreeDiffIds());
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[0].str(), "sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e");
  EXPECT_EQ((*ids)[1].str(), "sha256:ef232af0eb422cdfd7917631657cd8ed2bfd5b9461b37c427aa0d3e0a19adf79");
  EXPECT_EQ((*ids)[2].str(), "sha256:7ad3896338947cc04ee0b35b50d400ff32538d63f42f85ec87feac78bf71a54d");
  absl::StatusOr<Digest> top = ChainId(ThreeDiffIds());
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(*top, (*ids)[2]);
}

TEST(ChainIdTest, MatchesSha256sumAtTestTime) {
  std::vector<Digest> diff_ids;
  for (int i = 0; i < 5; ++i) diff_ids.push_back(Digest::Sha256Of(StrCat("diff ", i)));
  absl::StatusOr<std::vector<Digest>> ids = ChainIds(diff_ids);
  ASSERT_TRUE(ids.ok());
  std::string chain = diff_ids[0].str();
  EXPECT_EQ((*ids)[0].str(), chain);
  for (size_t i = 1; i < diff_ids.size(); ++i) {
    absl::StatusOr<testing::RunResult> r = testing::Run({"sha256sum"}, StrCat(chain, " ", diff_ids[i].str()));
    ASSERT_TRUE(r.ok() && r->exit_code == 0);
    chain = StrCat("sha256:", r->out.substr(0, 64));
    EXPECT_EQ((*ids)[i].str(), chain) << "layer " << i;
  }
}

TEST(ChainIdTest, OneLayerIsItsDiffId) {
  Digest d = D("sha256:0000000000000000000000000000000000000000000000000000000000000001");
  absl::StatusOr<Digest> id = ChainId({d});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, d);
}

TEST(ChainIdTest, EmptyListAndEmptyDigestAreErrors) {
  EXPECT_EQ(ChainId({}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Digest> bad = ChainId({Digest::Sha256Of("a"), Digest()});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("diff_id 1"), absl::string_view::npos) << bad.status();
}

TEST(ChainIdTest, MatchBaseFindsTheBasesTopLayer) {
  std::vector<Digest> diff_ids = ThreeDiffIds();
  absl::StatusOr<std::vector<Digest>> ids = ChainIds(diff_ids);
  ASSERT_TRUE(ids.ok());
  for (size_t k = 0; k < 3; ++k) {
    std::optional<size_t> at = MatchBase(diff_ids, (*ids)[k]);
    ASSERT_TRUE(at.has_value()) << k;
    EXPECT_EQ(*at, k);
  }
  // A diff_id that is not the first layer's is not a base (ChainID(L1) != DiffID(L1)).
  EXPECT_FALSE(MatchBase(diff_ids, diff_ids[1]).has_value());
  // The same layers in another order are another base.
  std::vector<Digest> swapped = {diff_ids[1], diff_ids[0], diff_ids[2]};
  EXPECT_FALSE(MatchBase(swapped, (*ids)[1]).has_value());
  EXPECT_FALSE(MatchBase(diff_ids, Digest()).has_value());
  EXPECT_FALSE(MatchBase({}, (*ids)[0]).has_value());
}

}  // namespace
}  // namespace layerseal::layers
