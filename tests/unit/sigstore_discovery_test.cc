// verifier/sigstore/discovery.h: tags, the signature repository, and which referrers and .sig
// layers become candidates, within kMaxReferrers / kMaxSigLayers.
#include "verifier/sigstore/discovery.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"
#include "verifier/sigstore/simple_signing.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::ordered_json;

Digest D(char c) { return *Digest::Parse(StrCat("sha256:", std::string(64, c))); }

ordered_json Desc(const std::string& media_type, const Digest& d, int64_t size,
                  const std::string& artifact_type = "") {
  ordered_json j = {{"mediaType", media_type}, {"digest", d.str()}, {"size", size}};
  if (!artifact_type.empty()) j["artifactType"] = artifact_type;
  return j;
}

std::string Index(const std::vector<ordered_json>& entries) {
  ordered_json j = {{"schemaVersion", 2}, {"mediaType", std::string(kOciIndex)},
                    {"manifests", entries}};
  return j.dump();
}

TEST(DiscoveryTest, Tags) {
  EXPECT_EQ(FallbackTag(D('a')), StrCat("sha256-", std::string(64, 'a')));
  EXPECT_EQ(LegacySigTag(D('a')), StrCat("sha256-", std::string(64, 'a'), ".sig"));
}

TEST(DiscoveryTest, SignatureRepoIsTheScopesOrTheImages) {
  Reference image = *Reference::Parse(StrCat("registry.test/team/app@", D('1').str()));
  ScopePolicy scope;
  Reference r = SignatureRepo(image, scope);
  EXPECT_EQ(r.Name(), "registry.test/team/app");
  EXPECT_FALSE(r.digest.has_value());
  EXPECT_TRUE(r.tag.empty());
  scope.signature_repository = *Reference::Parse("other.test/sigs/app");
  r = SignatureRepo(image, scope);
  EXPECT_EQ(r.Name(), "other.test/sigs/app");
  EXPECT_EQ(AtTag(r, "x").ToString(), "other.test/sigs/app:x");
}

TEST(DiscoveryTest, ReferrersKeepBundleAndEmptyArtifactTypes) {
  std::string index = Index({
      Desc(std::string(kOciManifest), D('1'), 10, std::string(kBundleV03MediaType)),
      Desc(std::string(kOciManifest), D('2'), 10, "application/spdx+json"),
      Desc(std::string(kOciManifest), D('3'), 10),  // cosign 3's fallback entries
      Desc(std::string(kOciManifest), D('4'), 10, std::string(kBundleMediaTypeV01)),
      Desc(std::string(kOciIndex), D('5'), 10, std::string(kBundleV03MediaType)),  // not a manifest
  });
  absl::StatusOr<ReferrerList> list = ParseReferrers(index, kOciIndex);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->candidates.size(), 3u);
  EXPECT_EQ(list->candidates[0].digest, D('1'));
  EXPECT_EQ(list->candidates[1].digest, D('3'));
  EXPECT_EQ(list->candidates[2].digest, D('4'));
  EXPECT_EQ(list->left_out, 0u);
}

TEST(DiscoveryTest, AThousandReferrersAreCut) {
  std::vector<ordered_json> entries;
  for (int i = 0; i < 1000; ++i) {
    entries.push_back(Desc(std::string(kOciManifest), Digest::Sha256Of(StrCat(i)), 10,
                           std::string(kBundleV03MediaType)));
  }
  absl::StatusOr<ReferrerList> list = ParseReferrers(Index(entries), kOciIndex);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->candidates.size(), kMaxReferrers);
  EXPECT_EQ(list->left_out, 1000 - kMaxReferrers);
  EXPECT_EQ(list->candidates[0].digest, Digest::Sha256Of("0"));  // index order
}

TEST(DiscoveryTest, ReferrersErrors) {
  EXPECT_FALSE(ParseReferrers("{", kOciIndex).ok());
  EXPECT_FALSE(ParseReferrers(R"({"schemaVersion":2,"config":{},"layers":[]})", kOciManifest).ok());
  std::string bad_type = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                         D('1').str() + R"(","size":1,"artifactType":7}]})";
  absl::StatusOr<ReferrerList> l = ParseReferrers(bad_type, kOciIndex);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(std::string(Sv(l.status().message())).find("artifactType"), std::string::npos);
}

ImageManifest Manifest(const std::string& artifact_type, const std::string& config_type,
                       const std::vector<ordered_json>& layers) {
  ordered_json m = {{"schemaVersion", 2}, {"mediaType", std::string(kOciManifest)}};
  if (!artifact_type.empty()) m["artifactType"] = artifact_type;
  m["config"] = Desc(config_type, D('c'), 2);
  m["layers"] = layers;
  absl::StatusOr<ImageManifest> parsed = ParseImageManifest(m.dump(), kOciManifest);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return *parsed;
}

TEST(DiscoveryTest, BundleLayer) {
  const std::string empty = "application/vnd.oci.empty.v1+json";
  // cosign 3: artifactType and the layer say bundle.
  absl::StatusOr<std::optional<Descriptor>> l = BundleLayer(
      Manifest(std::string(kBundleV03MediaType), empty, {Desc(std::string(kBundleV03MediaType), D('b'), 100)}));
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_TRUE(l->has_value());
  EXPECT_EQ((*l)->digest, D('b'));
  // Only the layer says so (no artifactType: the fallback tag's entries are decided here).
  l = BundleLayer(Manifest("", empty, {Desc(std::string(kBundleMediaTypeV03), D('b'), 100)}));
  ASSERT_TRUE(l.ok() && l->has_value());
  // Another artifact: not a candidate.
  l = BundleLayer(Manifest("application/spdx+json", empty, {Desc("application/spdx+json", D('e'), 100)}));
  ASSERT_TRUE(l.ok());
  EXPECT_FALSE(l->has_value());
  // Says bundle, has none.
  l = BundleLayer(Manifest(std::string(kBundleV03MediaType), empty, {Desc("text/plain", D('e'), 100)}));
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  l = BundleLayer(Manifest(std::string(kBundleV03MediaType), empty, {}));
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  // Too big to fetch.
  l = BundleLayer(Manifest("", empty, {Desc(std::string(kBundleV03MediaType), D('b'), kMaxBundleBytes + 1)}));
  EXPECT_EQ(l.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(DiscoveryTest, SigLayersWithAnnotationsAndCut) {
  std::vector<ordered_json> layers;
  for (int i = 0; i < 20; ++i) {
    ordered_json d = Desc(std::string(kSimpleSigningMediaType), Digest::Sha256Of(StrCat(i)), 200);
    d["annotations"] = {{std::string(kAnnSignature), StrCat("sig", i)}};
    layers.push_back(d);
  }
  layers.insert(layers.begin() + 1, Desc("application/octet-stream", D('d'), 5));
  ordered_json m = {{"schemaVersion", 2}, {"mediaType", std::string(kOciManifest)},
                    {"config", Desc("application/vnd.oci.image.config.v1+json", D('c'), 2)},
                    {"layers", layers}};
  absl::StatusOr<SigLayerList> l = SigLayers(m.dump(), kOciManifest);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->layers.size(), kMaxSigLayers);
  EXPECT_EQ(l->left_out, 20 - kMaxSigLayers);
  EXPECT_EQ(l->layers[0].annotations.at(std::string(kAnnSignature)), "sig0");
  EXPECT_EQ(l->layers[1].annotations.at(std::string(kAnnSignature)), "sig1");  // skipped the other
  EXPECT_FALSE(SigLayers("[]", kOciManifest).ok());
  EXPECT_FALSE(SigLayers(Index({}), kOciIndex).ok());
}

}  // namespace
}  // namespace layerseal::sigstore
