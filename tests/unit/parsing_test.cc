// Strict parsers of the verifier: digests, references, JSON, manifests, indexes, envelopes,
// and the sealer's output shape.
#include "gtest/gtest.h"
#include "tests/support/images.h"
#include "verifier/envelope.h"
#include "verifier/manifest.h"
#include "verifier/reference.h"
#include "verifier/seal_layer.h"
#include "verifier/sealer.h"

namespace layerseal {
namespace {

using nlohmann::json;
const std::string kHex(64, 'a');

TEST(DigestTest, AcceptsOnlyCanonicalForms) {
  EXPECT_TRUE(Digest::Parse("sha256:" + kHex).ok());
  EXPECT_TRUE(Digest::Parse("sha512:" + std::string(128, '0')).ok());
  EXPECT_FALSE(Digest::Parse("sha256:" + std::string(64, 'A')).ok());  // uppercase
  EXPECT_FALSE(Digest::Parse("sha256:" + kHex + "a").ok());
  EXPECT_FALSE(Digest::Parse("sha256:" + kHex.substr(1)).ok());
  EXPECT_FALSE(Digest::Parse("md5:" + std::string(32, 'a')).ok());
  EXPECT_FALSE(Digest::Parse(kHex).ok());
  EXPECT_FALSE(Digest::Parse("").ok());
}

TEST(DigestTest, HashesAndMatches) {
  Digest d = Digest::Sha256Of("abc");
  EXPECT_EQ(d.str(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(d.Matches("abc"));
  EXPECT_FALSE(d.Matches("abd"));
  EXPECT_FALSE(Digest().Matches(""));
}

TEST(ReferenceTest, ParsesRegistryRepositoryTagAndDigest) {
  auto r = Reference::Parse("127.0.0.1:5000/team/app:1.0@sha256:" + kHex);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/app");
  EXPECT_EQ(r->tag, "1.0");
  EXPECT_EQ(r->Identifier(), "sha256:" + kHex);
  EXPECT_EQ(r->Name(), "127.0.0.1:5000/team/app");
}

TEST(ReferenceTest, NormalizesDockerHub) {
  auto r = Reference::Parse("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Name(), "docker.io/library/busybox");
  EXPECT_EQ(r->Identifier(), "latest");
  EXPECT_EQ(Reference::Parse("localhost/app:v1")->registry, "localhost");
  EXPECT_EQ(Reference::Parse("team/app")->Name(), "docker.io/team/app");
}

TEST(ReferenceTest, RejectsBadReferences) {
  for (const char* bad : {"", "UPPER/case", "reg.io/a//b", "reg.io/app:", "reg.io/app:-x", "reg.io/app@sha256:12",
                          "reg.io/-app", "reg.io:99999999/app", "reg.io/app:" "toolongtag" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}) {
    EXPECT_FALSE(Reference::Parse(bad).ok()) << bad;
  }
}

TEST(StrictJsonTest, RejectsDuplicatesDepthTrailingAndBadUtf8) {
  EXPECT_TRUE(ParseStrictJson(R"({"a":{"b":1},"c":{"b":2}})", 100).ok());
  EXPECT_FALSE(ParseStrictJson(R"({"a":1,"a":1})", 100).ok());
  EXPECT_FALSE(ParseStrictJson(R"({"x":{"a":1,"a":2}})", 100).ok());
  EXPECT_FALSE(ParseStrictJson(std::string(100, '[') + std::string(100, ']'), 1000).ok());
  EXPECT_FALSE(ParseStrictJson(R"({} {})", 100).ok());
  EXPECT_FALSE(ParseStrictJson("{\"a\":\"\xff\"}", 100).ok());
  auto big = ParseStrictJson(std::string(200, ' ') + "{}", 100);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  // The messages name what was wrong.
  EXPECT_NE(ParseStrictJson(R"({"x":{"a":1,"a":2}})", 100).status().message().find("duplicate key \"a\""),
            absl::string_view::npos);
  EXPECT_NE(ParseStrictJson("[1,", 100).status().message().find("invalid JSON: [json.exception.parse_error"),
            absl::string_view::npos);
}

TEST(StrictJsonTest, DepthLimitIsExact) {
  auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_TRUE(ParseStrictJson(nested(kMaxJsonDepth), 1000).ok());
  absl::Status deep = ParseStrictJson(nested(kMaxJsonDepth + 1), 1000).status();
  EXPECT_EQ(deep.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(deep.message().find("nesting deeper than 64"), absl::string_view::npos) << deep;
  std::string objects;
  for (int i = 0; i < kMaxJsonDepth; ++i) objects += "{\"a\":";
  EXPECT_TRUE(ParseStrictJson(objects + "1" + std::string(kMaxJsonDepth, '}'), 1000).ok());
  EXPECT_FALSE(ParseStrictJson(objects + "[]" + std::string(kMaxJsonDepth, '}'), 1000).ok());
}

TEST(StrictJsonTest, LongArraysOfObjectsParseInLinearTime) {
  // nlohmann's callback parser, which the duplicate-key check used, rescanned the enclosing
  // array at each object's end: this 1.2 MB document took minutes (n^2 = 1.6e11 steps). It is
  // now two linear passes; a regression shows as this test's timeout.
  std::string doc = "[";
  constexpr int kObjects = 400000;
  doc.reserve(3 * kObjects + 2);
  for (int i = 0; i < kObjects; ++i) doc += i ? ",{}" : "{}";
  doc += "]";
  absl::StatusOr<nlohmann::json> parsed = ParseStrictJson(doc, doc.size());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), static_cast<size_t>(kObjects));
}

TEST(ManifestTest, ClassifyRequiresAgreement) {
  std::string oci = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  EXPECT_EQ(*ClassifyManifest(oci, "application/vnd.oci.image.manifest.v1+json; charset=utf-8"), kOciManifest);
  EXPECT_FALSE(ClassifyManifest(oci, std::string(kDockerManifest)).ok());
  EXPECT_FALSE(ClassifyManifest(oci, "application/json").ok());
  EXPECT_EQ(*ClassifyManifest(R"({"schemaVersion":2})", std::string(kOciIndex)), kOciIndex);
}

TEST(ManifestTest, ParseServedManifestClassifiesAndParsesOnce) {
  auto base = testing::MakeBaseImage({});
  auto image = ParseServedManifest(base.manifest, std::string(kOciManifest) + "; charset=utf-8");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->media_type, kOciManifest);
  ASSERT_TRUE(image->image.has_value());
  EXPECT_FALSE(image->index.has_value());
  EXPECT_EQ(image->image->layers.size(), 1u);

  auto index = testing::MakeIndex(Family::kDocker, {{{"linux", "amd64", ""}, base}});
  auto parsed = ParseServedManifest(index.manifest, kDockerList);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->index.has_value());
  EXPECT_FALSE(parsed->image.has_value());
  EXPECT_EQ(parsed->index->manifests.size(), 1u);

  EXPECT_FALSE(ParseServedManifest(base.manifest, kDockerManifest).ok());  // disagree
  EXPECT_FALSE(ParseServedManifest(base.manifest, "application/json").ok());
  EXPECT_FALSE(ParseServedManifest(R"({"schemaVersion":2})", kOciManifest).ok());  // no config
}

TEST(ManifestTest, ParsesDescriptorsStrictly) {
  auto base = testing::MakeBaseImage({});
  auto m = ParseImageManifest(base.manifest, kOciManifest);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->layers.size(), 1u);
  json doc = json::parse(base.manifest);
  for (auto edit : std::vector<std::function<void(json&)>>{
           [](json& d) { d["layers"][0]["size"] = -1; },
           [](json& d) { d["layers"][0]["size"] = "12"; },
           [](json& d) { d["layers"][0]["digest"] = "sha256:ABC"; },
           [](json& d) { d["layers"][0].erase("mediaType"); },
           [](json& d) { d["layers"][0]["annotations"] = {{"a", 1}}; },
           [](json& d) { d["schemaVersion"] = 1; },
           [](json& d) { d.erase("config"); },
           [](json& d) { d["layers"] = json::object(); },
           [](json& d) { d["mediaType"] = kDockerManifest; },
       }) {
    json bad = doc;
    edit(bad);
    EXPECT_FALSE(ParseImageManifest(bad.dump(), kOciManifest).ok()) << bad.dump();
  }
  EXPECT_FALSE(ParseImageManifest(base.manifest, kDockerManifest).ok());
}

TEST(ManifestTest, SelectPlatformPicksOsArchAndVariant) {
  auto amd = testing::MakeBaseImage({});
  auto index = testing::MakeIndex(Family::kOci, {{{"linux", "arm", "v6"}, amd}, {{"linux", "arm", "v7"}, amd}});
  auto parsed = ParseImageIndex(index.manifest, kOciIndex);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(SelectPlatform(*parsed, {"linux", "arm", "v7"})->platform->variant, "v7");
  EXPECT_EQ(SelectPlatform(*parsed, {"linux", "amd64", ""}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Platform::Parse("linux/arm64/v8")->variant, "v8");
  EXPECT_FALSE(Platform::Parse("linux").ok());
}

TEST(EnvelopeTest, RoundTripsAndRejectsEveryDeviation) {
  Envelope e{Digest::Sha256Of("m"), Algorithm::kEd25519, "sha256:" + kHex, "sig-bytes"};
  std::string text = SerializeEnvelope(e);
  auto back = ParseEnvelope(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->signature, "sig-bytes");
  EXPECT_EQ(back->key_id, e.key_id);
  json doc = json::parse(text);
  for (auto edit : std::vector<std::function<void(json&)>>{
           [](json& d) { d["extra"] = 1; },
           [](json& d) { d.erase("keyId"); },
           [](json& d) { d["schemaVersion"] = "1"; },
           [](json& d) { d["schemaVersion"] = 2; },
           [](json& d) { d["type"] = "other"; },
           [](json& d) { d["algorithm"] = "rsa-sha1"; },
           [](json& d) { d["keyId"] = "sha512:" + std::string(128, 'a'); },
           [](json& d) { d["manifestDigest"] = "sha256:xyz"; },
           [](json& d) { d["signature"] = "not base64!"; },
           [](json& d) { d["signature"] = "c2lnYQ"; },  // missing padding
           [](json& d) { d["signature"] = ""; },
       }) {
    json bad = doc;
    edit(bad);
    EXPECT_FALSE(ParseEnvelope(bad.dump()).ok()) << bad.dump();
  }
  std::string dup = text;
  dup.insert(1, "\"type\":\"layerseal.signature.v1\",");
  EXPECT_FALSE(ParseEnvelope(dup).ok());
}

TEST(SealerTest, SealedImageHasTheShapeOfTheSpec) {
  auto key = *PrivateKey::Generate(Algorithm::kEd25519);
  auto base = testing::MakeBaseImage({.layers = 2});
  json mb = json::parse(base.manifest);
  std::string cb = base.blobs[mb["config"]["digest"].get<std::string>()];
  auto sealed = SealImage(base.manifest, kOciManifest, cb, key, Algorithm::kEd25519);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  json ms = json::parse(sealed->manifest);
  ASSERT_EQ(ms["layers"].size(), 4u);
  EXPECT_EQ(ms["layers"][0], mb["layers"][0]);
  EXPECT_EQ(ms["layers"][1], mb["layers"][1]);
  EXPECT_EQ(ms["layers"][2]["annotations"], json({{"dev.layerseal.seal", "manifest"}}));
  EXPECT_EQ(ms["layers"][3]["annotations"], json({{"dev.layerseal.seal", "signature"}}));
  EXPECT_EQ(ms["layers"][3]["mediaType"], kOciLayerGzip);
  EXPECT_EQ(ms["config"]["digest"], sealed->config.digest.str());

  auto m_tar = GzipDecompress(sealed->manifest_seal.bytes, 1 << 20);
  ASSERT_TRUE(m_tar.ok());
  EXPECT_EQ(*ReadSingleFileTar(*m_tar, kSealManifestPath), base.manifest);
  json cs = json::parse(sealed->config.bytes);
  json cbj = json::parse(cb);
  ASSERT_EQ(cs["rootfs"]["diff_ids"].size(), cbj["rootfs"]["diff_ids"].size() + 2);
  EXPECT_EQ(cs["rootfs"]["diff_ids"][2], Digest::Sha256Of(*m_tar).str());
  EXPECT_EQ(cs["history"].back(), json({{"created_by", "layerseal signature seal"}}));
  // Nothing else differs: Cb plus exactly the appended entries is Cs.
  cbj["rootfs"]["diff_ids"].push_back(Digest::Sha256Of(*m_tar).str());
  cbj["rootfs"]["diff_ids"].push_back(cs["rootfs"]["diff_ids"][3]);
  cbj["history"].push_back({{"created_by", "layerseal manifest seal"}});
  cbj["history"].push_back({{"created_by", "layerseal signature seal"}});
  EXPECT_EQ(cs, cbj);
}

TEST(SealerTest, RefusesAnAlreadySealedImage) {
  auto key = *PrivateKey::Generate(Algorithm::kEd25519);
  auto signed_image = testing::SealTestImage(testing::MakeBaseImage({}), key);
  json ms = json::parse(signed_image.manifest);
  std::string cs = signed_image.blobs[ms["config"]["digest"].get<std::string>()];
  auto again = SealImage(signed_image.manifest, kOciManifest, cs, key, Algorithm::kEd25519);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(again.status().message()).find("already sealed"), std::string::npos);
}

TEST(SealerTest, IsDeterministicForEd25519) {
  auto key = *PrivateKey::Generate(Algorithm::kEd25519);
  auto base = testing::MakeBaseImage({});
  EXPECT_EQ(testing::SealTestImage(base, key).manifest, testing::SealTestImage(base, key).manifest);
}

}  // namespace
}  // namespace layerseal
