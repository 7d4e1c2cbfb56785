// The verifier, step by step and reason by reason, against in-memory images (FakeSource).
#include "verifier/verifier.h"

#include <functional>

#include "gtest/gtest.h"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "verifier/envelope.h"
#include "verifier/seal_layer.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using nlohmann::ordered_json;
using testing::BaseImageSpec;
using testing::FakeSource;
using testing::MakeBaseImage;
using testing::SealTestImage;
using testing::TestImage;

const Platform kAmd64{"linux", "amd64", ""};

// Rewrites a ustar header checksum after a test edits the header.
void FixChecksum(std::string& tar, size_t header = 0) {
  std::fill(tar.begin() + header + 148, tar.begin() + header + 156, ' ');
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += static_cast<unsigned char>(tar[header + i]);
  char buf[8];
  snprintf(buf, sizeof buf, "%06o", sum);
  std::copy(buf, buf + 6, tar.begin() + header + 148);
  tar[header + 154] = '\0';
}

class VerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    other_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    ed_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEd25519));
  }
  static void TearDownTestSuite() {
    delete key_;
    delete other_key_;
    delete ed_key_;
  }

  VerifierTest() : policy_(Policy::TrustingKeys({key_->public_key(), ed_key_->public_key()})) {}

  TestImage Base(int layers = 2, Family family = Family::kOci) {
    BaseImageSpec spec;
    spec.layers = layers;
    spec.family = family;
    return MakeBaseImage(spec);
  }
  TestImage Signed(int layers = 2, Family family = Family::kOci) {
    return SealTestImage(Base(layers, family), *key_);
  }

  Verdict Verify(const TestImage& image, const Platform& platform = kAmd64) {
    source_.Add(ref_, image);
    Verifier verifier(&source_, &policy_, platform);
    return verifier.Verify(ref_);
  }

  // Applies `edit` to the image manifest's JSON (and may add blobs to the image).
  static TestImage Edit(TestImage image, const std::function<void(ordered_json&, TestImage&)>& edit) {
    ordered_json m = ordered_json::parse(image.manifest);
    edit(m, image);
    testing::SetManifest(image, m.dump(2));
    return image;
  }

  // Replaces seal layer `index` (n-2 or n-1 as -2/-1) with `gz`.
  static TestImage ReplaceSeal(const TestImage& image, int from_end, std::string gz) {
    return Edit(image, [&](ordered_json& m, TestImage& img) {
      ordered_json& layer = m["layers"][m["layers"].size() + from_end];
      ordered_json d = testing::AddBlob(img, layer["mediaType"].get<std::string>(), gz);
      layer["digest"] = d["digest"];
      layer["size"] = d["size"];
    });
  }

  static std::string SignatureSealGz(const Envelope& e) {
    return GzipCompress(MakeSingleFileTar(kSealSignaturePath, SerializeEnvelope(e)));
  }

  static Envelope EnvelopeFor(const std::string& base_manifest, const PrivateKey& key, Algorithm a) {
    Envelope e;
    e.manifest_digest = Digest::Sha256Of(base_manifest);
    e.algorithm = a;
    e.key_id = key.public_key().key_id();
    e.signature = *key.Sign(a, Sha256(base_manifest));
    return e;
  }

  static PrivateKey* key_;
  static PrivateKey* other_key_;
  static PrivateKey* ed_key_;
  Policy policy_;
  FakeSource source_;
  Reference ref_ = *Reference::Parse("registry.test/team/app:1.0");
};

PrivateKey* VerifierTest::key_;
PrivateKey* VerifierTest::other_key_;
PrivateKey* VerifierTest::ed_key_;

#define EXPECT_REASON(verdict, r)                                                 \
  do {                                                                            \
    Verdict v_ = (verdict);                                                       \
    EXPECT_EQ(ReasonName(v_.reason), ReasonName(r)) << v_.detail;                 \
    EXPECT_EQ(v_.decision, (r) == Reason::kVerified ? Decision::kAllow : Decision::kDeny); \
  } while (0)

TEST_F(VerifierTest, SignedOciImageIsAllowedWithItsDigest) {
  TestImage image = Signed();
  Verdict v = Verify(image);
  EXPECT_REASON(v, Reason::kVerified);
  ASSERT_TRUE(v.manifest_digest.has_value());
  EXPECT_EQ(v.manifest_digest->str(), image.digest.str());
  EXPECT_EQ(v.key_id, key_->public_key().key_id());
  EXPECT_EQ(v.policy_version, policy_.version());
  EXPECT_TRUE(v.admits());
}

TEST_F(VerifierTest, SignedDockerImageIsAllowed) { EXPECT_REASON(Verify(Signed(3, Family::kDocker)), Reason::kVerified); }

TEST_F(VerifierTest, ImageWithNoBaseLayersIsAllowed) { EXPECT_REASON(Verify(Signed(0)), Reason::kVerified); }

TEST_F(VerifierTest, Ed25519SignatureIsAllowed) {
  EXPECT_REASON(Verify(SealTestImage(Base(), *ed_key_)), Reason::kVerified);
}

TEST_F(VerifierTest, DigestReferenceIsAllowed) {
  TestImage image = Signed();
  source_.Add(ref_, image);
  Verifier verifier(&source_, &policy_, kAmd64);
  Verdict v = verifier.Verify(ref_.WithDigest(image.digest));
  EXPECT_REASON(v, Reason::kVerified);
}

TEST_F(VerifierTest, UnsignedImageIsNotSigned) { EXPECT_REASON(Verify(Base()), Reason::kNotSigned); }

TEST_F(VerifierTest, IndexResolvesToTheNodePlatformChild) {
  BaseImageSpec arm;
  arm.architecture = "arm64";
  arm.seed = "arm";
  TestImage amd = Signed();
  TestImage arm_signed = SealTestImage(MakeBaseImage(arm), *key_);
  TestImage index = testing::MakeIndex(Family::kOci, {{kAmd64, amd}, {{"linux", "arm64", "v8"}, arm_signed}});
  Verdict v = Verify(index);
  EXPECT_REASON(v, Reason::kVerified);
  EXPECT_EQ(v.manifest_digest->str(), amd.digest.str());
  Verdict varm = Verify(index, Platform{"linux", "arm64", "v8"});
  EXPECT_REASON(varm, Reason::kVerified);
  EXPECT_EQ(varm.manifest_digest->str(), arm_signed.digest.str());
}

TEST_F(VerifierTest, IndexWithUnsignedChildForThisPlatformIsNotSigned) {
  TestImage index = testing::MakeIndex(Family::kDocker, {{kAmd64, Base(1, Family::kDocker)}});
  EXPECT_REASON(Verify(index), Reason::kNotSigned);
}

TEST_F(VerifierTest, IndexWithoutThisPlatformIsInvalid) {
  TestImage index = testing::MakeIndex(Family::kOci, {{{"linux", "s390x", ""}, Signed()}});
  EXPECT_REASON(Verify(index), Reason::kInvalidManifest);
}

TEST_F(VerifierTest, ContentTypeAndMediaTypeDisagree) {
  TestImage image = Signed();
  image.media_type = std::string(kDockerManifest);  // served as Docker, says OCI
  EXPECT_REASON(Verify(image), Reason::kInvalidManifest);
}

TEST_F(VerifierTest, UnknownContentTypeIsInvalid) {
  TestImage image = Signed();
  image.media_type = "application/vnd.example+json";
  EXPECT_REASON(Verify(image), Reason::kInvalidManifest);
}

TEST_F(VerifierTest, DuplicateKeysInManifestAreInvalid) {
  TestImage image = Signed();
  std::string m = image.manifest;
  m.insert(m.find('{') + 1, "\"schemaVersion\": 2,");
  testing::SetManifest(image, m);
  EXPECT_REASON(Verify(image), Reason::kInvalidManifest);
}

TEST_F(VerifierTest, ManifestOver4MiBExceedsLimit) {
  TestImage image = Signed();
  TestImage big = Edit(image, [](ordered_json& m, TestImage&) {
    m["annotations"] = {{"padding", std::string(kMaxManifestBytes, 'x')}};
  });
  EXPECT_REASON(Verify(big), Reason::kLimitExceeded);
}

TEST_F(VerifierTest, RegistryServingWrongManifestForDigestIsRegistryError) {
  TestImage image = Signed();
  TestImage other = SealTestImage(Base(1), *key_);
  source_.Add(ref_, image);
  source_.PutManifest(ref_.Name(), image.digest.str(), other.media_type, other.manifest);
  Verifier verifier(&source_, &policy_, kAmd64);
  EXPECT_REASON(verifier.Verify(ref_.WithDigest(image.digest)), Reason::kRegistryError);
}

TEST_F(VerifierTest, MissingManifestIsRegistryError) {
  Verifier verifier(&source_, &policy_, kAmd64);
  EXPECT_REASON(verifier.Verify(ref_), Reason::kRegistryError);
}

TEST_F(VerifierTest, SealsNotLastAreMalformed) {
  TestImage image = Edit(Signed(2), [](ordered_json& m, TestImage&) {
    ordered_json layers = m["layers"];
    m["layers"] = ordered_json::array({layers[2], layers[3], layers[0], layers[1]});
  });
  EXPECT_REASON(Verify(image), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, SealsInWrongOrderAreMalformed) {
  TestImage image = Edit(Signed(1), [](ordered_json& m, TestImage&) { std::swap(m["layers"][1], m["layers"][2]); });
  EXPECT_REASON(Verify(image), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, ExtraSealAnnotationOnBaseLayerIsMalformed) {
  TestImage image = Edit(Signed(2), [](ordered_json& m, TestImage&) {
    m["layers"][0]["annotations"] = {{"dev.layerseal.seal", "manifest"}};
  });
  EXPECT_REASON(Verify(image), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, SealWithExtraAnnotationOrNonGzipTypeIsMalformed) {
  TestImage extra = Edit(Signed(1), [](ordered_json& m, TestImage&) { m["layers"][1]["annotations"]["x"] = "y"; });
  EXPECT_REASON(Verify(extra), Reason::kMalformedSeal);
  TestImage plain = Edit(Signed(1), [](ordered_json& m, TestImage&) {
    m["layers"][2]["mediaType"] = "application/vnd.oci.image.layer.v1.tar";
  });
  EXPECT_REASON(Verify(plain), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, SealTarWithTwoFilesIsMalformed) {
  TestImage base = Base();
  std::string one = MakeSingleFileTar(kSealManifestPath, base.manifest);
  std::string two = one.substr(0, one.size() - 1024) + MakeSingleFileTar("extra", "x");
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -2, GzipCompress(two))), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, SealTarWithLinkOrPaxHeaderIsMalformed) {
  TestImage base = Base();
  TestImage image = SealTestImage(base, *key_);
  for (char type : {'1', '2', 'x', 'g', 'L', '5'}) {
    std::string tar = MakeSingleFileTar(kSealManifestPath, base.manifest);
    tar[156] = type;
    FixChecksum(tar);
    SCOPED_TRACE(std::string("typeflag ") + type);
    EXPECT_REASON(Verify(ReplaceSeal(image, -2, GzipCompress(tar))), Reason::kMalformedSeal);
  }
}

TEST_F(VerifierTest, SealTarWithDotDotPathIsMalformed) {
  TestImage base = Base();
  std::string tar = MakeSingleFileTar("../.layerseal/manifest.json", base.manifest);
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -2, GzipCompress(tar))), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, GzipBombExceedsLimit) {
  std::string bomb = GzipCompress(std::string(64 << 20, '\0'));
  EXPECT_REASON(Verify(ReplaceSeal(Signed(), -2, bomb)), Reason::kLimitExceeded);
}

TEST_F(VerifierTest, SealDescriptorOver8MiBExceedsLimit) {
  TestImage image = Edit(Signed(), [](ordered_json& m, TestImage&) { m["layers"][3]["size"] = 9 << 20; });
  EXPECT_REASON(Verify(image), Reason::kLimitExceeded);
}

TEST_F(VerifierTest, RegistryServingWrongSealBytesIsMalformed) {
  TestImage image = Signed();
  auto m = ordered_json::parse(image.manifest);
  source_.PutRawBlob(m["layers"][3]["digest"].get<std::string>(), GzipCompress("not the seal"));
  EXPECT_REASON(Verify(image), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, EnvelopeWithUnknownMemberIsMalformed) {
  TestImage base = Base();
  Envelope e = EnvelopeFor(base.manifest, *key_, Algorithm::kEcdsaP256Sha256);
  std::string json = SerializeEnvelope(e);
  json.insert(json.size() - 1, ",\"note\":\"hi\"");
  std::string gz = GzipCompress(MakeSingleFileTar(kSealSignaturePath, json));
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -1, gz)), Reason::kMalformedSeal);
}

TEST_F(VerifierTest, EnvelopeForAnotherManifestIsMalformed) {
  TestImage base = Base();
  TestImage other = Base(1);
  std::string gz = SignatureSealGz(EnvelopeFor(other.manifest, *key_, Algorithm::kEcdsaP256Sha256));
  Verdict v = Verify(ReplaceSeal(SealTestImage(base, *key_), -1, gz));
  EXPECT_REASON(v, Reason::kMalformedSeal);
  EXPECT_NE(v.detail.find("envelope signs"), std::string::npos) << v.detail;
}

TEST_F(VerifierTest, UntrustedKeyIsDenied) {
  EXPECT_REASON(Verify(SealTestImage(Base(), *other_key_)), Reason::kUntrustedKey);
}

TEST_F(VerifierTest, AlgorithmThatDoesNotFitTheKeyIsBadSignature) {
  TestImage base = Base();
  Envelope e = EnvelopeFor(base.manifest, *key_, Algorithm::kEcdsaP256Sha256);
  e.algorithm = Algorithm::kEd25519;
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -1, SignatureSealGz(e))), Reason::kBadSignature);
}

TEST_F(VerifierTest, TruncatedSignatureIsBadSignature) {
  TestImage base = Base();
  Envelope e = EnvelopeFor(base.manifest, *key_, Algorithm::kEcdsaP256Sha256);
  e.signature.pop_back();
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -1, SignatureSealGz(e))), Reason::kBadSignature);
}

TEST_F(VerifierTest, ReencodedSignatureIsBadSignature) {
  TestImage base = Base();
  Envelope e = EnvelopeFor(base.manifest, *key_, Algorithm::kEcdsaP256Sha256);
  // DER SEQUENCE with a short length re-encoded in BER long form: same values, not DER.
  ASSERT_EQ(static_cast<unsigned char>(e.signature[0]), 0x30);
  e.signature = std::string("\x30\x81", 2) + e.signature.substr(1);
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -1, SignatureSealGz(e))), Reason::kBadSignature);
}

TEST_F(VerifierTest, SignatureOverOtherBytesIsBadSignature) {
  TestImage base = Base();
  Envelope e = EnvelopeFor(base.manifest, *key_, Algorithm::kEcdsaP256Sha256);
  e.signature = EnvelopeFor(Base(1).manifest, *key_, Algorithm::kEcdsaP256Sha256).signature;
  EXPECT_REASON(Verify(ReplaceSeal(SealTestImage(base, *key_), -1, SignatureSealGz(e))), Reason::kBadSignature);
}

TEST_F(VerifierTest, ReorderedBaseLayersAreIntegrityMismatch) {
  TestImage image = Edit(Signed(2), [](ordered_json& m, TestImage&) { std::swap(m["layers"][0], m["layers"][1]); });
  EXPECT_REASON(Verify(image), Reason::kIntegrityMismatch);
}

TEST_F(VerifierTest, DroppedBaseLayerIsIntegrityMismatch) {
  TestImage image = Edit(Signed(2), [](ordered_json& m, TestImage&) { m["layers"].erase(0); });
  EXPECT_REASON(Verify(image), Reason::kIntegrityMismatch);
}

TEST_F(VerifierTest, ReplacedBaseLayerIsIntegrityMismatch) {
  TestImage image = Edit(Signed(2), [](ordered_json& m, TestImage& img) {
    ordered_json d = testing::AddBlob(img, kOciLayerGzip, GzipCompress(MakeSingleFileTar("evil", "x")));
    m["layers"][1]["digest"] = d["digest"];
    m["layers"][1]["size"] = d["size"];
  });
  EXPECT_REASON(Verify(image), Reason::kIntegrityMismatch);
}

TEST_F(VerifierTest, BaseLayerWithUrlsIsIntegrityMismatch) {
  TestImage image = Edit(Signed(2), [](ordered_json& m, TestImage&) {
    m["layers"][0]["urls"] = {"https://evil.example/layer"};
  });
  EXPECT_REASON(Verify(image), Reason::kIntegrityMismatch);
}

TEST_F(VerifierTest, DockerImageEmbeddingOciBaseIsIntegrityMismatch) {
  TestImage image = Edit(Signed(1), [](ordered_json& m, TestImage&) {
    m["mediaType"] = kDockerManifest;
    m["config"]["mediaType"] = kDockerConfig;
    for (auto& l : m["layers"]) l["mediaType"] = kDockerLayerGzip;
  });
  image.media_type = std::string(kDockerManifest);
  EXPECT_REASON(Verify(image), Reason::kIntegrityMismatch);
}

TestImage EditConfig(TestImage image, const std::function<void(nlohmann::json&)>& edit) {
  ordered_json m = ordered_json::parse(image.manifest);
  nlohmann::json config = nlohmann::json::parse(image.blobs[m["config"]["digest"].get<std::string>()]);
  edit(config);
  ordered_json d = testing::AddBlob(image, m["config"]["mediaType"].get<std::string>(), config.dump());
  m["config"]["digest"] = d["digest"];
  m["config"]["size"] = d["size"];
  testing::SetManifest(image, m.dump(2));
  return image;
}

TEST_F(VerifierTest, ChangedEntrypointIsConfigMismatch) {
  TestImage image = EditConfig(Signed(), [](nlohmann::json& c) { c["config"]["Entrypoint"] = {"/bin/evil"}; });
  EXPECT_REASON(Verify(image), Reason::kConfigMismatch);
}

TEST_F(VerifierTest, ChangedEnvIsConfigMismatch) {
  TestImage image = EditConfig(Signed(), [](nlohmann::json& c) { c["config"]["Env"].push_back("LD_PRELOAD=/x"); });
  EXPECT_REASON(Verify(image), Reason::kConfigMismatch);
}

TEST_F(VerifierTest, WrongSealDiffIdIsConfigMismatch) {
  TestImage image = EditConfig(Signed(), [](nlohmann::json& c) {
    c["rootfs"]["diff_ids"].back() = Digest::Sha256Of("other").str();
  });
  EXPECT_REASON(Verify(image), Reason::kConfigMismatch);
}

TEST_F(VerifierTest, MissingSealHistoryIsConfigMismatch) {
  TestImage image = EditConfig(Signed(), [](nlohmann::json& c) { c["history"].erase(c["history"].size() - 1); });
  EXPECT_REASON(Verify(image), Reason::kConfigMismatch);
}

TEST_F(VerifierTest, VerdictCarriesReferenceScopeAndDuration) {
  Verdict v = Verify(Signed());
  EXPECT_EQ(v.reference, "registry.test/team/app:1.0");
  EXPECT_FALSE(v.scope.empty());
  EXPECT_GT(absl::ToDoubleMicroseconds(v.duration), 0);
}


// Policy-driven verdicts: the scope decides before, and around, the spec's steps.
class VerifierPolicyTest : public VerifierTest {
 protected:
  static std::string Indent(const std::string& pem) {
    std::string out;
    for (char c : pem) {
      out += c;
      if (c == '\n') out += "      ";
    }
    return out;
  }
  // Keys: ci (key_), ops (other_key_), and rsa (extra_key_, when set, pinned to `rsa_pin`).
  Verdict VerifyUnder(const std::string& scopes, const TestImage* image, const std::string& rsa_pin = "") {
    std::string yaml = StrCat("version: 1\nkeys:\n",
                              "  ci:\n    pem: |\n      ", Indent(key_->public_key().ToPem()), "\n",
                              "  ops:\n    pem: |\n      ", Indent(other_key_->public_key().ToPem()), "\n");
    if (!extra_key_.empty()) {
      yaml += StrCat("  rsa:\n", rsa_pin.empty() ? "" : StrCat("    algorithm: ", rsa_pin, "\n"),
                     "    pem: |\n      ", Indent(extra_key_), "\n");
    }
    yaml += StrCat("default:\n  requirement: reject\nscopes:\n", scopes);
    auto policy = Policy::Parse(yaml, "/nonexistent", "test-policy");
    EXPECT_TRUE(policy.ok()) << policy.status() << "\n" << yaml;
    if (!policy.ok()) return Verdict{};
    policy_ = *std::move(policy);
    if (image) source_.Add(ref_, *image);
    return Verifier(&source_, &policy_, kAmd64).Verify(ref_);
  }
  std::string extra_key_;
};

TEST_F(VerifierPolicyTest, RejectScopeDeniesWithoutTouchingTheRegistry) {
  TestImage image = Signed();
  Verdict v = VerifyUnder("  \"registry.test/team\": {requirement: reject}\n", &image);
  EXPECT_EQ(ReasonName(v.reason), "REJECTED_BY_POLICY");
  EXPECT_EQ(v.scope, "registry.test/team");
  EXPECT_EQ(source_.manifest_fetches, 0);
}

TEST_F(VerifierPolicyTest, UnmatchedRepositoryFallsToTheDefault) {
  TestImage image = Signed();
  Verdict v = VerifyUnder("  \"registry.test/other\": {requirement: signed, keys: [ci]}\n", &image);
  EXPECT_EQ(ReasonName(v.reason), "REJECTED_BY_POLICY");
  EXPECT_EQ(v.scope, "default");
}

TEST_F(VerifierPolicyTest, InsecureAcceptAnythingAllowsWithoutFetching) {
  Verdict v = VerifyUnder("  \"registry.test\": {requirement: insecureAcceptAnything}\n", nullptr);
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_EQ(ReasonName(v.reason), "INSECURE_ACCEPT_ANYTHING");
  EXPECT_EQ(source_.manifest_fetches, 0);
}

TEST_F(VerifierPolicyTest, SignedScopeVerifies) {
  TestImage image = Signed();
  Verdict v = VerifyUnder("  \"registry.test/team/app\": {requirement: signed, keys: [ci]}\n", &image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.policy_version, policy_.version());
}

TEST_F(VerifierPolicyTest, WarnModeDeniesButAdmits) {
  TestImage image = SealTestImage(Base(), *other_key_);
  Verdict v = VerifyUnder("  \"registry.test\": {requirement: signed, keys: [ci], mode: warn}\n", &image);
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_KEY");
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.mode, Mode::kWarn);
  EXPECT_TRUE(v.admits());
}

TEST_F(VerifierPolicyTest, OnRegistryErrorAllowFailsOpenOnlyOnRegistryErrors) {
  Verdict missing = VerifyUnder("  \"registry.test\": {requirement: signed, keys: [ci], onRegistryError: allow}\n", nullptr);
  EXPECT_EQ(missing.decision, Decision::kAllow);
  EXPECT_EQ(ReasonName(missing.reason), "REGISTRY_ERROR");
  EXPECT_NE(missing.detail.find("onRegistryError"), std::string::npos);
  TestImage unsigned_image = Base();
  Verdict not_signed = VerifyUnder("  \"registry.test\": {requirement: signed, keys: [ci], onRegistryError: allow}\n", &unsigned_image);
  EXPECT_EQ(not_signed.decision, Decision::kDeny);
  EXPECT_EQ(ReasonName(not_signed.reason), "NOT_SIGNED");
}

TEST_F(VerifierPolicyTest, RegistryErrorDeniesByDefault) {
  Verdict v = VerifyUnder("  \"registry.test\": {requirement: signed, keys: [ci]}\n", nullptr);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(ReasonName(v.reason), "REGISTRY_ERROR");
}

TEST_F(VerifierPolicyTest, KeyTrustedForAnotherScopeIsUntrustedHere) {
  TestImage image = Signed();  // signed by ci
  ref_ = *Reference::Parse("registry.test/team/other:1.0");
  Verdict v = VerifyUnder("  \"registry.test/team/app\": {requirement: signed, keys: [ci]}\n"
                          "  \"registry.test/team\": {requirement: signed, keys: [ops]}\n", &image);
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_KEY");
  EXPECT_EQ(v.scope, "registry.test/team");
}

TEST_F(VerifierPolicyTest, PinnedAlgorithmRejectsTheOtherRsaPadding) {
  auto rsa = PrivateKey::Generate(Algorithm::kRsaPkcs1v15Sha256);
  ASSERT_TRUE(rsa.ok());
  extra_key_ = rsa->public_key().ToPem();
  TestImage pkcs1 = SealTestImage(Base(), *rsa, Algorithm::kRsaPkcs1v15Sha256);
  Verdict v = VerifyUnder("  \"registry.test\": {requirement: signed, keys: [rsa]}\n", &pkcs1, "rsa-pss-sha256");
  EXPECT_EQ(ReasonName(v.reason), "BAD_SIGNATURE");
  TestImage pss = SealTestImage(Base(1), *rsa, Algorithm::kRsaPssSha256);
  Verdict ok = VerifyUnder("  \"registry.test\": {requirement: signed, keys: [rsa]}\n", &pss, "rsa-pss-sha256");
  EXPECT_EQ(ReasonName(ok.reason), "VERIFIED") << ok.detail;
}

}  // namespace
}  // namespace layerseal
