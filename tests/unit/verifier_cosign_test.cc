// The verifier's concurrent fetches and its cosign path (issue 17), against FakeSource: the
// fetches after the manifest really overlap, the verdict does not depend on the order they
// finish in, cosign lookups go where the scope says (image and index digests, the signature
// repository), 1,000 referrers cost a bounded number of fetches, and "nothing found", "a
// lookup failed" and "signatures found but none verifies" are told apart.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "verifier/fetch_group.h"
#include "verifier/sigstore/discovery.h"
#include "verifier/sigstore/simple_signing.h"
#include "verifier/verifier.h"

namespace layerseal {
namespace {

using nlohmann::ordered_json;
using ::testing::HasSubstr;
using testing::FakeSource;
using testing::TestImage;

const Platform kAmd64{"linux", "amd64", ""};
constexpr char kName[] = "registry.test/team/app";

class VerifierCosignTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256)); }
  static void TearDownTestSuite() { delete key_; }

  VerifierCosignTest() : policy_(Policy::TrustingKeys({key_->public_key()})) {}

  // The policy's one scope, edited in place (the fields i17-policy parses from YAML).
  ScopePolicy& Scope() { return const_cast<ScopePolicy&>(policy_.default_scope()); }

  TestImage Base(const std::string& seed = "base") {
    testing::BaseImageSpec spec;
    spec.layers = 2;
    spec.seed = seed;
    return testing::MakeBaseImage(spec);
  }
  TestImage Sealed() { return testing::SealTestImage(Base(), *key_); }

  Verdict Verify(const TestImage& image) {
    source_.Add(ref_, image);
    Verifier verifier(&source_, &policy_, kAmd64);
    return verifier.Verify(ref_);
  }

  // A referrer artifact for `subject` holding `bundle` as its bundle layer, stored in the
  // source; returns its descriptor for an index.
  ordered_json PutBundleReferrer(const std::string& name, const Digest& subject,
                                 const std::string& bundle, const std::string& artifact_type) {
    TestImage a;
    a.media_type = std::string(kOciManifest);
    ordered_json m = {{"schemaVersion", 2}, {"mediaType", a.media_type},
                      {"artifactType", std::string(sigstore::kBundleV03MediaType)}};
    m["config"] = testing::AddBlob(a, "application/vnd.oci.empty.v1+json", "{}");
    m["layers"] = ordered_json::array({testing::AddBlob(a, sigstore::kBundleV03MediaType, bundle)});
    m["subject"] = {{"mediaType", std::string(kOciManifest)}, {"digest", subject.str()}, {"size", 1}};
    testing::SetManifest(a, m.dump());
    source_.PutManifest(name, a.digest.str(), a.media_type, a.manifest);
    for (const auto& [d, b] : a.blobs) source_.PutBlob(b);
    ordered_json d = {{"mediaType", a.media_type}, {"digest", a.digest.str()},
                      {"size", a.manifest.size()}};
    if (!artifact_type.empty()) d["artifactType"] = artifact_type;
    return d;
  }

  static std::string Index(const std::vector<ordered_json>& entries) {
    return ordered_json({{"schemaVersion", 2}, {"mediaType", std::string(kOciIndex)},
                         {"manifests", entries}}).dump();
  }

  // A .sig manifest with one simple-signing layer for `subject` signed by `key` (cosign's
  // key-based legacy form, without a Rekor bundle annotation), stored under its tag.
  void PutKeySig(const std::string& name, const Digest& subject, const PrivateKey& key,
                 std::optional<Digest> signed_digest = std::nullopt) {
    TestImage s;
    s.media_type = std::string(kOciManifest);
    std::string payload = StrCat(
        R"({"critical":{"identity":{"docker-reference":"registry.test/team/app"},"image":{"docker-manifest-digest":")",
        signed_digest.value_or(subject).str(), R"("},"type":"cosign container image signature"},"optional":null})");
    std::string sig = *key.Sign(Algorithm::kEcdsaP256Sha256, Sha256(payload));
    ordered_json m = {{"schemaVersion", 2}, {"mediaType", s.media_type}};
    m["config"] = testing::AddBlob(s, kOciConfig, "{}");
    ordered_json d = testing::AddBlob(s, sigstore::kSimpleSigningMediaType, payload);
    d["annotations"] = {{std::string(sigstore::kAnnSignature), absl::Base64Escape(sig)}};
    m["layers"] = ordered_json::array({d});
    testing::SetManifest(s, m.dump());
    source_.PutManifest(name, sigstore::LegacySigTag(subject), s.media_type, s.manifest);
    for (const auto& [dg, b] : s.blobs) source_.PutBlob(b);
  }

  // A .sig manifest with `n` simple-signing layers for `subject`, stored under its tag.
  void PutSig(const std::string& name, const Digest& subject, int n) {
    TestImage s;
    s.media_type = std::string(kOciManifest);
    ordered_json m = {{"schemaVersion", 2}, {"mediaType", s.media_type}};
    m["config"] = testing::AddBlob(s, kOciConfig, "{}");
    m["layers"] = ordered_json::array();
    for (int i = 0; i < n; ++i) {
      ordered_json d = testing::AddBlob(
          s, sigstore::kSimpleSigningMediaType,
          StrCat(R"({"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":")",
                 subject.str(), R"("},"type":"cosign container image signature"},"optional":{"n":)", i, "}}"));
      d["annotations"] = {{std::string(sigstore::kAnnSignature), "MEUCIQ=="}};
      m["layers"].push_back(d);
    }
    testing::SetManifest(s, m.dump());
    source_.PutManifest(name, sigstore::LegacySigTag(subject), s.media_type, s.manifest);
    for (const auto& [d, b] : s.blobs) source_.PutBlob(b);
  }

  static PrivateKey* key_;
  Policy policy_;
  FakeSource source_;
  Reference ref_ = *Reference::Parse(StrCat(kName, ":1.0"));
};

PrivateKey* VerifierCosignTest::key_;

// The seal path: round 1 fetches both seal blobs and the image config at once.
TEST_F(VerifierCosignTest, SealFetchesOverlap) {
  source_.SetLatency(absl::Milliseconds(200));
  Verdict v = Verify(Sealed());
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.signer_kind, "seal");
  EXPECT_GE(source_.max_in_flight.load(), 3);
  EXPECT_EQ(source_.blob_fetches.load(), 4);   // two seals, two configs
  EXPECT_EQ(source_.referrers_fetches.load(), 0);  // seals only: no cosign lookups
  EXPECT_EQ(source_.manifest_fetches.load(), 1);
}

// A seal failure found after concurrent fetches is the one the sequential verifier named.
TEST_F(VerifierCosignTest, SealVerdictDoesNotDependOnFetchOrder) {
  TestImage image = Sealed();
  // The base config is missing from the repository (a copy that followed only the manifest).
  std::string detail;
  for (unsigned seed = 1; seed <= 4; ++seed) {
    FakeSource source;
    source.SetLatency(absl::Milliseconds(20), seed);
    TestImage copy = image;
    source.Add(ref_, copy);
    Verifier verifier(&source, &policy_, kAmd64);
    Verdict v = verifier.Verify(ref_);
    EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  }
  // Two failures at once: the manifest seal is missing and the config blob too. The
  // manifest seal's (step 3) is reported, whichever fetch ends first.
  for (unsigned seed = 1; seed <= 4; ++seed) {
    FakeSource source;
    source.SetLatency(absl::Milliseconds(20), seed);
    TestImage broken = image;
    ordered_json m = ordered_json::parse(broken.manifest);
    broken.blobs.erase(m["layers"][m["layers"].size() - 2]["digest"].get<std::string>());
    broken.blobs.erase(m["config"]["digest"].get<std::string>());
    source.Add(ref_, broken);
    Verifier verifier(&source, &policy_, kAmd64);
    Verdict v = verifier.Verify(ref_);
    EXPECT_EQ(ReasonName(v.reason), "REGISTRY_ERROR") << v.detail;
    if (detail.empty()) detail = v.detail;
    EXPECT_EQ(v.detail, detail);
    EXPECT_THAT(v.detail, HasSubstr(m["layers"][m["layers"].size() - 2]["digest"].get<std::string>()));
  }
}

TEST_F(VerifierCosignTest, CosignScopeLooksEverywhereAtOnce) {
  Scope().signatures = {SignatureKind::kCosign};
  source_.SetLatency(absl::Milliseconds(200));
  TestImage image = Base();
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "NOT_SIGNED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("no cosign signature"));
  EXPECT_GE(source_.max_in_flight.load(), 3);  // referrers, fallback tag, .sig together
  std::vector<std::string> req = source_.Requests();
  auto has = [&](const std::string& s) { return std::find(req.begin(), req.end(), s) != req.end(); };
  EXPECT_TRUE(has(StrCat("referrers ", kName, "@", image.digest.str())));
  EXPECT_TRUE(has(StrCat("manifest ", kName, "@", sigstore::FallbackTag(image.digest))));
  EXPECT_TRUE(has(StrCat("manifest ", kName, "@", sigstore::LegacySigTag(image.digest))));
  EXPECT_EQ(source_.blob_fetches.load(), 0);  // cosign only: no seal blobs, no configs
}

TEST_F(VerifierCosignTest, UnsignedForBothKindsIsNotSigned) {
  Scope().signatures = {SignatureKind::kSeal, SignatureKind::kCosign};
  Verdict v = Verify(Base());
  EXPECT_EQ(ReasonName(v.reason), "NOT_SIGNED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("no layer carries a layerseal seal, and no cosign signature"));
}

TEST_F(VerifierCosignTest, SealAdmitsInABothKindsScope) {
  Scope().signatures = {SignatureKind::kSeal, SignatureKind::kCosign};
  Verdict v = Verify(Sealed());
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.signer_kind, "seal");
  EXPECT_EQ(source_.referrers_fetches.load(), 1);  // looked for cosign too, concurrently
}

TEST_F(VerifierCosignTest, IndexAndChildDigestsAndSignatureRepository) {
  Scope().signatures = {SignatureKind::kCosign};
  Scope().signature_repository = *Reference::Parse("sigs.test/mirror/app");
  TestImage child = Base();
  TestImage index = testing::MakeIndex(Family::kOci, {{kAmd64, child}});
  Verdict v = Verify(index);
  EXPECT_EQ(ReasonName(v.reason), "NOT_SIGNED") << v.detail;
  std::vector<std::string> req = source_.Requests();
  auto has = [&](const std::string& s) { return std::find(req.begin(), req.end(), s) != req.end(); };
  for (const Digest& d : {child.digest, index.digest}) {
    EXPECT_TRUE(has(StrCat("referrers sigs.test/mirror/app@", d.str())));
    EXPECT_TRUE(has(StrCat("manifest sigs.test/mirror/app@", sigstore::FallbackTag(d))));
    EXPECT_TRUE(has(StrCat("manifest sigs.test/mirror/app@", sigstore::LegacySigTag(d))));
  }
  EXPECT_EQ(source_.referrers_fetches.load(), 2);
}

TEST_F(VerifierCosignTest, AFailedLookupIsARegistryErrorNotUnsigned) {
  Scope().signatures = {SignatureKind::kCosign};
  TestImage image = Base();
  source_.FailManifest(kName, sigstore::LegacySigTag(image.digest), absl::UnavailableError("HTTP 503"));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "REGISTRY_ERROR") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("HTTP 503"));
}

// 1,000 referrers: at most kMaxReferrers manifests and bundles fetched; the verdict is the
// deepest failure and says how many were examined and left out.
TEST_F(VerifierCosignTest, AThousandReferrersAreBounded) {
  Scope().signatures = {SignatureKind::kCosign};
  TestImage image = Base();
  std::vector<ordered_json> entries;
  for (int i = 0; i < 1000; ++i) {
    entries.push_back(PutBundleReferrer(kName, image.digest, StrCat(R"({"junk":)", i, "}"),
                                        std::string(sigstore::kBundleV03MediaType)));
  }
  source_.PutReferrers(kName, image.digest, Index(entries));
  Verdict v = Verify(image);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(ReasonName(v.reason), "MALFORMED_SIGNATURE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(StrCat("(", sigstore::kMaxReferrers - 1, " other signatures failed earlier)")));
  EXPECT_THAT(v.detail, HasSubstr(StrCat(1000 - sigstore::kMaxReferrers, " more not examined")));
  // image manifest + fallback + .sig + the referrer manifests; the bundles.
  EXPECT_EQ(source_.manifest_fetches.load(), 3 + static_cast<int>(sigstore::kMaxReferrers));
  EXPECT_EQ(source_.blob_fetches.load(), static_cast<int>(sigstore::kMaxReferrers));
  EXPECT_LE(source_.max_in_flight.load(), static_cast<int>(kMaxParallelFetches));
}

// @sigstore/oci (sigstore-js, GitHub's attest actions) gives a referrer the bundle's own
// mediaType as artifactType, in any of the four spellings, and writes no fallback tag when the
// registry has the referrers API: every spelling must be found through the API (it used to
// be asked for the v0.3 new spelling only, so the others were filtered out).
TEST_F(VerifierCosignTest, ReferrersOfEveryBundleSpellingAreFound) {
  Scope().signatures = {SignatureKind::kCosign};
  TestImage image = Base();
  std::vector<ordered_json> entries;
  for (std::string_view type : {sigstore::kBundleMediaTypeV01, sigstore::kBundleMediaTypeV02,
                                sigstore::kBundleMediaTypeV03, sigstore::kBundleMediaTypeV03New}) {
    entries.push_back(PutBundleReferrer(kName, image.digest, StrCat(R"({"junk":")", type, R"("})"),
                                        std::string(type)));
  }
  source_.PutReferrers(kName, image.digest, Index(entries));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "MALFORMED_SIGNATURE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("(3 other signatures failed earlier)"));
  EXPECT_EQ(source_.blob_fetches.load(), 4);  // the 4 bundles
}

// The fallback tag's entries (empty artifactType) are fetched and decided from their manifest;
// a referrer listed by both the API and the fallback tag is judged once; other artifacts
// are not signatures.
TEST_F(VerifierCosignTest, FallbackTagEntriesAreDecidedFromTheirManifest) {
  Scope().signatures = {SignatureKind::kCosign};
  TestImage image = Base();
  ordered_json a = PutBundleReferrer(kName, image.digest, "{}", "");
  ordered_json b = PutBundleReferrer(kName, image.digest, "[]", std::string(sigstore::kBundleV03MediaType));
  // An SBOM referrer with an empty artifactType in the fallback index: fetched, then skipped.
  TestImage sbom;
  sbom.media_type = std::string(kOciManifest);
  ordered_json m = {{"schemaVersion", 2}, {"mediaType", sbom.media_type}, {"artifactType", "application/spdx+json"}};
  m["config"] = testing::AddBlob(sbom, "application/vnd.oci.empty.v1+json", "{}");
  m["layers"] = ordered_json::array({testing::AddBlob(sbom, "application/spdx+json", "{}")});
  testing::SetManifest(sbom, m.dump());
  source_.PutManifest(kName, sbom.digest.str(), sbom.media_type, sbom.manifest);
  ordered_json s = {{"mediaType", sbom.media_type}, {"digest", sbom.digest.str()}, {"size", sbom.manifest.size()}};
  source_.PutManifest(kName, sigstore::FallbackTag(image.digest), std::string(kOciIndex), Index({a, s, b}));
  source_.PutReferrers(kName, image.digest, Index({b}));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "MALFORMED_SIGNATURE") << v.detail;
  // b (via the referrers API), then a (via the fallback tag): 2 judged, the SBOM not.
  EXPECT_THAT(v.detail, HasSubstr("(1 other signature failed earlier)"));
  EXPECT_THAT(v.detail, HasSubstr(StrCat("referrers of ", image.digest.str(), ": ", b["digest"].get<std::string>())));
}

TEST_F(VerifierCosignTest, SigLayersAreJudgedAndCut) {
  Scope().signatures = {SignatureKind::kCosign};
  TestImage image = Base();
  PutSig(kName, image.digest, 20);
  Verdict v = Verify(image);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_NE(ReasonName(v.reason), "NOT_SIGNED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(StrCat(sigstore::LegacySigTag(image.digest), " layer 0")));
  EXPECT_THAT(v.detail, HasSubstr(StrCat("(", sigstore::kMaxSigLayers - 1, " other signatures failed earlier)")));
  EXPECT_THAT(v.detail, HasSubstr("4 more not examined"));
  EXPECT_EQ(source_.blob_fetches.load(), static_cast<int>(sigstore::kMaxSigLayers));
}

// A key-based legacy .sig (transparencyLog: ignore) admits the image, and the verdict names
// the cosign key; by another key it is BAD_SIGNATURE; for another digest SUBJECT_MISMATCH.
// (With a seal-capable scope too: any kind that verifies admits.)
TEST_F(VerifierCosignTest, KeyBasedLegacySigAdmits) {
  Scope().signatures = {SignatureKind::kSeal, SignatureKind::kCosign};
  Scope().require_tlog = false;
  TestImage image = Base();
  PutKeySig(kName, image.digest, *key_);
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.signer_kind, "cosign-key");
  EXPECT_EQ(v.key_id, key_->public_key().key_id());
  EXPECT_THAT(v.detail, HasSubstr(sigstore::LegacySigTag(image.digest)));
}

// A legacy .sig names no key: it is tried against the scope's keys, so another key's
// signature is BAD_SIGNATURE (as with cosign verify --key).
TEST_F(VerifierCosignTest, LegacySigByAnotherKeyIsBadSignature) {
  Scope().signatures = {SignatureKind::kCosign};
  Scope().require_tlog = false;
  TestImage image = Base();
  PrivateKey other = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  PutKeySig(kName, image.digest, other);
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "BAD_SIGNATURE") << v.detail;
  EXPECT_EQ(v.decision, Decision::kDeny);
}

TEST_F(VerifierCosignTest, LegacySigForAnotherDigestIsSubjectMismatch) {
  Scope().signatures = {SignatureKind::kCosign};
  Scope().require_tlog = false;
  TestImage image = Base();
  PutKeySig(kName, image.digest, *key_, Base("other").digest);  // copied from another image
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "SUBJECT_MISMATCH") << v.detail;
}

}  // namespace
}  // namespace layerseal
