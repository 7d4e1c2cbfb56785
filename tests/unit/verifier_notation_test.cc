// The verifier's notation path (issue 20) against FakeSource, with envelopes signed in the
// test (tests/support/notation_sign.h): lookups ride the concurrent fetch rounds, the
// referrers answer and fallback tag are shared with cosign's, pre-selection by the thumbprint
// annotation keeps envelopes from being fetched at all (asserted on the source's request log),
// the caps hold against hundreds of signatures, signatures of the index digest admit, level
// skip looks nothing up, and the kinds' failures combine.
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "tests/support/notation_sign.h"
#include "verifier/fetch_group.h"
#include "verifier/notation/discovery.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"
#include "verifier/sigstore/discovery.h"
#include "verifier/verifier.h"

namespace layerseal {
namespace {

using nlohmann::ordered_json;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeSource;
using testing::TestImage;

const Platform kAmd64{"linux", "amd64", ""};
constexpr char kName[] = "registry.test/team/app";
const std::string kSigType(notation::kSignatureArtifactType);

// FakeSource that also records the artifactType filter of each referrers call.
class FilterRecordingSource : public FakeSource {
 public:
  absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo, const Digest& subject,
                                                 std::string_view artifact_type,
                                                 size_t max_bytes) override {
    {
      std::lock_guard<std::mutex> lock(filters_mu_);
      filters_.push_back(StrCat(repo.Name(), "@", subject.str(), " [", artifact_type, "]"));
    }
    return FakeSource::FetchReferrers(repo, subject, artifact_type, max_bytes);
  }
  std::vector<std::string> Filters() {
    std::lock_guard<std::mutex> lock(filters_mu_);
    return filters_;
  }

 private:
  std::mutex filters_mu_;
  std::vector<std::string> filters_;
};

// A CA and a code-signing leaf under it.
struct Pki {
  testing::TestCert root, leaf;
  std::string Thumb(const testing::TestCert& c) const { return std::string(Digest::Sha256Of(c.der).hex()); }
};
Pki MakePki(const std::string& org) {
  Pki p;
  p.root = testing::MakeCert({StrCat("C=US,ST=WA,O=", org, ",CN=", org, " root"), testing::CertKind::kCa},
                             testing::NewEcKey(NID_X9_62_prime256v1), nullptr);
  p.leaf = testing::MakeCert({StrCat("C=US,ST=WA,O=", org, ",CN=", org, " signer")},
                             testing::NewEcKey(NID_X9_62_prime256v1), &p.root);
  return p;
}

struct SigOptions {
  // The thumbprint annotation (on the index entry and the manifest); "default": the chain's.
  std::string annotation = "default";
  bool annotate_entry = true;      // the index entry carries it too
  bool artifact_type = true;       // OCI 1.1 form; false: OCI 1.0 (config mediaType says it)
  notation::Format format = notation::Format::kJws;
  std::string envelope;            // non-empty: these bytes instead of a signed envelope
};

class VerifierNotationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    acme_ = new Pki(MakePki("acme"));
    evil_ = new Pki(MakePki("evil"));
    seal_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
  }
  static void TearDownTestSuite() {
    delete acme_;
    delete evil_;
    delete seal_key_;
  }

  VerifierNotationTest() : policy_(Policy::TrustingKeys({seal_key_->public_key()})) {
    SetTrust(notation::Level::kStrict);
    Scope().signatures = {SignatureKind::kNotation};
  }

  ScopePolicy& Scope() { return const_cast<ScopePolicy&>(policy_.default_scope()); }

  // The scope's notation trust: acme's root in a ca store, any identity, revocation skipped
  // (no CRL here: strict would deny REVOCATION_UNCHECKED, which notation_verify_test covers).
  void SetTrust(notation::Level level) {
    auto t = std::make_shared<notation::NotationTrust>();
    t->level = level;
    t->actions = notation::ActionsFor(level);
    if (level != notation::Level::kSkip) t->actions.revocation = notation::Action::kSkip;
    t->stores = {testing::MakeStore("acme-ca", notation::StoreType::kCa, {acme_->root.der})};
    t->identities = {*notation::ParseTrustedIdentity("*")};
    t->trusted_thumbprints = {acme_->Thumb(acme_->root)};
    Scope().notation = t;
  }

  TestImage Base(const std::string& seed = "base") {
    testing::BaseImageSpec spec;
    spec.layers = 1;
    spec.seed = seed;
    return testing::MakeBaseImage(spec);
  }

  Verdict Verify(const TestImage& image) {
    source_.Add(ref_, image);
    Verifier verifier(&source_, &policy_, kAmd64);
    return verifier.Verify(ref_);
  }

  // A notation signature manifest for `subject` whose envelope signs `target` (media type,
  // digest, size), by `pki`'s leaf, stored in the source; returns its index entry.
  ordered_json PutSignature(const Digest& subject, const std::string& target_type,
                            const Digest& target_digest, int64_t target_size, const Pki& pki,
                            const SigOptions& o = {}) {
    std::string envelope = o.envelope;
    if (envelope.empty()) {
      testing::EnvelopeSpec e;
      e.format = o.format;
      e.target_media_type = target_type;
      e.target_digest = target_digest.str();
      e.target_size = target_size;
      e.signing_time = absl::Now() - absl::Hours(1);
      e.chain = {pki.leaf.der, pki.root.der};
      e.key = pki.leaf.key;
      envelope = testing::SignEnvelope(e);
    }
    std::string annotation = o.annotation == "default"
                                 ? StrCat(R"([")", pki.Thumb(pki.leaf), R"(",")", pki.Thumb(pki.root), R"("])")
                                 : o.annotation;
    TestImage s;
    s.media_type = std::string(kOciManifest);
    ordered_json m = {{"schemaVersion", 2}, {"mediaType", s.media_type}};
    if (o.artifact_type) m["artifactType"] = kSigType;
    m["config"] = testing::AddBlob(s, o.artifact_type ? "application/vnd.oci.empty.v1+json" : kSigType, "{}");
    m["layers"] = ordered_json::array({testing::AddBlob(
        s, o.format == notation::Format::kJws ? notation::kJwsMediaType : notation::kCoseMediaType, envelope)});
    m["subject"] = {{"mediaType", std::string(kOciManifest)}, {"digest", subject.str()}, {"size", 1}};
    if (!annotation.empty()) m["annotations"] = {{std::string(notation::kThumbprintAnnotation), annotation}};
    testing::SetManifest(s, m.dump());
    source_.PutManifest(kName, s.digest.str(), s.media_type, s.manifest);
    for (const auto& [d, b] : s.blobs) source_.PutBlob(b);
    envelopes_[s.digest.str()] = Digest::Sha256Of(envelope).str();
    ordered_json d = {{"mediaType", s.media_type}, {"digest", s.digest.str()}, {"size", s.manifest.size()}};
    if (o.artifact_type) d["artifactType"] = kSigType;
    if (o.annotate_entry && !annotation.empty()) {
      d["annotations"] = {{std::string(notation::kThumbprintAnnotation), annotation}};
    }
    return d;
  }
  // For the image manifest itself.
  ordered_json PutSignature(const TestImage& image, const Pki& pki, const SigOptions& o = {}) {
    return PutSignature(image.digest, image.media_type, image.digest,
                        static_cast<int64_t>(image.manifest.size()), pki, o);
  }

  static std::string Index(const std::vector<ordered_json>& entries) {
    return ordered_json({{"schemaVersion", 2}, {"mediaType", std::string(kOciIndex)},
                         {"manifests", entries}}).dump();
  }
  void PutFallback(const Digest& subject, const std::vector<ordered_json>& entries) {
    source_.PutManifest(kName, sigstore::FallbackTag(subject), std::string(kOciIndex), Index(entries));
  }

  bool Requested(const std::string& what) {
    std::vector<std::string> req = source_.Requests();
    return std::find(req.begin(), req.end(), what) != req.end();
  }
  int CountRequests(const std::string& what) {
    std::vector<std::string> req = source_.Requests();
    return static_cast<int>(std::count(req.begin(), req.end(), what));
  }
  // The envelope blob of the signature manifest `entry` was fetched.
  bool EnvelopeFetched(const ordered_json& entry) {
    return Requested(StrCat("blob ", kName, "@", envelopes_[entry["digest"].get<std::string>()]));
  }
  bool ManifestFetched(const ordered_json& entry) {
    return Requested(StrCat("manifest ", kName, "@", entry["digest"].get<std::string>()));
  }

  static Pki* acme_;
  static Pki* evil_;
  static PrivateKey* seal_key_;
  Policy policy_;
  FilterRecordingSource source_;
  Reference ref_ = *Reference::Parse(StrCat(kName, ":1.0"));
  std::map<std::string, std::string> envelopes_;  // signature manifest digest -> envelope digest
};

Pki* VerifierNotationTest::acme_;
Pki* VerifierNotationTest::evil_;
PrivateKey* VerifierNotationTest::seal_key_;

// A signature found through the referrers API admits; the verdict names the leaf; the
// lookups (referrers, filtered to notation signatures, and the fallback tag) ran at once, and
// each round started after the one before ended.
TEST_F(VerifierNotationTest, ReferrersSignatureAdmitsInRounds) {
  TestImage image = Base();
  ordered_json sig = PutSignature(image, *acme_);
  source_.PutReferrers(kName, image.digest, Index({sig}));
  source_.SetLatency(absl::Milliseconds(100));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_EQ(v.signer_kind, "notation");
  EXPECT_EQ(v.signer_subject, "C=US, ST=WA, O=acme, CN=acme signer");
  EXPECT_EQ(v.signer_issuer, "C=US, ST=WA, O=acme, CN=acme root");
  EXPECT_EQ(v.key_id, StrCat("sha256:", acme_->Thumb(acme_->leaf)));
  EXPECT_THAT(v.detail, HasSubstr(StrCat("notation signature referrers of ", image.digest.str())));
  EXPECT_THAT(v.detail, HasSubstr("by C=US, ST=WA, O=acme, CN=acme signer (jws, notary.x509, trust store acme-ca)"));
  EXPECT_THAT(v.detail, Not(HasSubstr("logged")));
  EXPECT_GE(source_.max_in_flight.load(), 2);  // referrers and fallback tag together
  EXPECT_THAT(source_.Filters(),
              ::testing::ElementsAre(StrCat(kName, "@", image.digest.str(), " [", kSigType, "]")));
  // Order: image manifest; the two lookups; the signature manifest; the envelope.
  std::vector<std::string> req = source_.Requests();
  ASSERT_EQ(req.size(), 5u) << ::testing::PrintToString(req);
  EXPECT_EQ(req[0], StrCat("manifest ", kName, "@1.0"));
  std::vector<std::string> round1 = {req[1], req[2]};
  std::sort(round1.begin(), round1.end());
  EXPECT_EQ(round1[0], StrCat("manifest ", kName, "@", sigstore::FallbackTag(image.digest)));
  EXPECT_EQ(round1[1], StrCat("referrers ", kName, "@", image.digest.str()));
  EXPECT_EQ(req[3], StrCat("manifest ", kName, "@", sig["digest"].get<std::string>()));
  EXPECT_TRUE(EnvelopeFetched(sig));
  EXPECT_EQ(source_.blob_fetches.load(), 1);  // no seal blobs, no config: notation only
}

// cosign and notation accepted: the unfiltered referrers answer and the fallback tag that
// cosign fetches are the ones notation reads; nothing is fetched twice.
TEST_F(VerifierNotationTest, LookupsSharedWithCosign) {
  Scope().signatures = {SignatureKind::kCosign, SignatureKind::kNotation};
  TestImage image = Base();
  ordered_json sig = PutSignature(image, *acme_);
  PutFallback(image.digest, {sig});
  source_.PutReferrers(kName, Base("other").digest, Index({}));  // the registry has the API
  source_.SetLatency(absl::Milliseconds(50));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.signer_kind, "notation");
  EXPECT_EQ(source_.referrers_fetches.load(), 1);
  EXPECT_THAT(source_.Filters(), ::testing::ElementsAre(StrCat(kName, "@", image.digest.str(), " []")));
  EXPECT_EQ(CountRequests(StrCat("manifest ", kName, "@", sigstore::FallbackTag(image.digest))), 1);
  EXPECT_EQ(CountRequests(StrCat("manifest ", kName, "@", sig["digest"].get<std::string>())), 1);
  EXPECT_GE(source_.max_in_flight.load(), 3);  // referrers, fallback, .sig together
}

// With a separate cosign signatureRepository the answers differ: notation looks in the
// image's own repository, filtered.
TEST_F(VerifierNotationTest, NotSharedWithAnotherSignatureRepository) {
  Scope().signatures = {SignatureKind::kCosign, SignatureKind::kNotation};
  Scope().signature_repository = *Reference::Parse("sigs.test/mirror/app");
  TestImage image = Base();
  ordered_json sig = PutSignature(image, *acme_);
  source_.PutReferrers(kName, image.digest, Index({sig}));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  std::vector<std::string> f = source_.Filters();
  std::sort(f.begin(), f.end());
  EXPECT_THAT(f, ::testing::ElementsAre(StrCat(kName, "@", image.digest.str(), " [", kSigType, "]"),
                                        StrCat("sigs.test/mirror/app@", image.digest.str(), " []")));
  EXPECT_TRUE(Requested(StrCat("manifest ", kName, "@", sigstore::FallbackTag(image.digest))));
  EXPECT_TRUE(Requested(StrCat("manifest sigs.test/mirror/app@", sigstore::FallbackTag(image.digest))));
}

// Pre-selection: a signature whose annotation names no certificate of the stores is never
// fetched (neither manifest nor envelope), whatever else is there; a lying annotation costs
// a fetch and fails in full verification; a malformed one is tried after the trusted ones.
TEST_F(VerifierNotationTest, PreselectionSkipsUntrustedEnvelopes) {
  TestImage image = Base();
  ordered_json untrusted = PutSignature(image, *evil_);
  SigOptions lie;
  lie.annotation = StrCat(R"([")", acme_->Thumb(acme_->root), R"("])");
  ordered_json lying = PutSignature(image, *evil_, lie);
  SigOptions malformed;
  malformed.annotation = "[\"nope\"]";
  ordered_json odd = PutSignature(image, *acme_, malformed);
  source_.PutReferrers(kName, image.digest, Index({untrusted, odd, lying}));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_FALSE(ManifestFetched(untrusted));
  EXPECT_FALSE(EnvelopeFetched(untrusted));
  EXPECT_TRUE(EnvelopeFetched(lying));  // said trusted: tried (first), and failed
  EXPECT_TRUE(EnvelopeFetched(odd));
}

TEST_F(VerifierNotationTest, OnlyUntrustedSignaturesAreDeniedWithoutAFetch) {
  TestImage image = Base();
  ordered_json a = PutSignature(image, *evil_);
  SigOptions entry_silent;  // the index entry says nothing; the manifest's annotation decides
  entry_silent.annotate_entry = false;
  ordered_json b = PutSignature(image, *evil_, entry_silent);
  PutFallback(image.digest, {a, b});
  Verdict v = Verify(image);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_CERTIFICATE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("2 signatures skipped: the thumbprint annotation names no certificate"));
  EXPECT_FALSE(ManifestFetched(a));
  EXPECT_TRUE(ManifestFetched(b));  // needed a look
  EXPECT_EQ(source_.blob_fetches.load(), 0);  // no envelope at all
}

// A lying annotation: the envelope is verified in full and its chain is not trusted.
TEST_F(VerifierNotationTest, LyingAnnotationIsDeniedByVerification) {
  TestImage image = Base();
  SigOptions lie;
  lie.annotation = StrCat(R"([")", acme_->Thumb(acme_->root), R"("])");
  ordered_json sig = PutSignature(image, *evil_, lie);
  source_.PutReferrers(kName, image.digest, Index({sig}));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_CERTIFICATE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(sig["digest"].get<std::string>()));
  EXPECT_TRUE(EnvelopeFetched(sig));
}

// audit: authenticity is logged, so nothing is pre-selected away and an untrusted signer's
// intact signature admits, the finding in the detail.
TEST_F(VerifierNotationTest, AuditSeesEverySignatureAndLogs) {
  SetTrust(notation::Level::kAudit);
  TestImage image = Base();
  ordered_json sig = PutSignature(image, *evil_);
  source_.PutReferrers(kName, image.digest, Index({sig}));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.signer_kind, "notation");
  EXPECT_THAT(v.detail, HasSubstr("notation: logged: "));
  // The signer is named although no store vouched for it; the finding says why.
  EXPECT_THAT(v.detail, HasSubstr("by C=US, ST=WA, O=evil, CN=evil signer (jws, notary.x509)"));
  EXPECT_THAT(v.detail, HasSubstr("notation: logged: authenticity: "));
  EXPECT_TRUE(EnvelopeFetched(sig));
}

// Hundreds of signatures: at most kMaxSignatureAttempts envelopes, kTrusted first (the one
// real signature, listed last, is among them and admits), the manifests within their caps.
TEST_F(VerifierNotationTest, AttemptsAndManifestsAreCapped) {
  TestImage image = Base();
  std::vector<ordered_json> entries;
  SigOptions junk;
  junk.envelope = "{}";
  for (int i = 0; i < 300; ++i) {
    junk.envelope = StrCat(R"({"junk":)", i, "}");
    junk.annotation = i % 2 == 0 ? "" : StrCat(R"([")", acme_->Thumb(acme_->root), R"("])");
    entries.push_back(PutSignature(image, *acme_, junk));
  }
  ordered_json real = PutSignature(image, *acme_);
  entries.push_back(real);
  source_.PutReferrers(kName, image.digest, Index(entries));
  Verdict v = Verify(image);
  // 151 entries vouched for by the annotation: only kMaxSignatureAttempts are tried, in index
  // order, so the real one (last) is not reached: the deepest failure, and what was left out.
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(ReasonName(v.reason), "MALFORMED_SIGNATURE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("more not examined"));
  // 151 vouched for (16 fetched), 150 to look at (32 fetched), 48 envelopes (16 tried).
  EXPECT_THAT(v.detail, HasSubstr("; 285 more not examined (at most 16 envelopes, 32 signature manifests"));
  EXPECT_THAT(v.detail, HasSubstr(StrCat("(", notation::kMaxSignatureAttempts - 1, " other signatures failed earlier)")));
  EXPECT_EQ(source_.blob_fetches.load(), static_cast<int>(notation::kMaxSignatureAttempts));
  // image + fallback + vouched manifests (kMaxSignatureAttempts) + ones to look at.
  EXPECT_EQ(source_.manifest_fetches.load(),
            2 + static_cast<int>(notation::kMaxSignatureAttempts + notation::kMaxSignatureManifests));
  EXPECT_LE(source_.max_in_flight.load(), static_cast<int>(kMaxParallelFetches));
  EXPECT_FALSE(EnvelopeFetched(real));
}

// The vouched-for ones come first whatever their place in the index: one real signature
// after 300 without annotation is tried before them, and admits.
TEST_F(VerifierNotationTest, TrustedAnnotationIsTriedFirst) {
  TestImage image = Base();
  std::vector<ordered_json> entries;
  SigOptions junk;
  junk.annotation = "";
  for (int i = 0; i < 300; ++i) {
    junk.envelope = StrCat(R"({"junk":)", i, "}");
    entries.push_back(PutSignature(image, *acme_, junk));
  }
  ordered_json real = PutSignature(image, *acme_);
  entries.push_back(real);
  source_.PutReferrers(kName, image.digest, Index(entries));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_TRUE(EnvelopeFetched(real));
  EXPECT_EQ(source_.blob_fetches.load(), static_cast<int>(notation::kMaxSignatureAttempts));
  EXPECT_EQ(source_.manifest_fetches.load(), 2 + 1 + static_cast<int>(notation::kMaxSignatureManifests));
}

// notation signs the digest the user named: for a multi-arch image, the index. A signature
// under the index digest whose targetArtifact is the index admits; one whose target is the
// platform manifest is a SUBJECT_MISMATCH.
TEST_F(VerifierNotationTest, IndexDigestSignatures) {
  TestImage child = Base();
  TestImage index = testing::MakeIndex(Family::kOci, {{kAmd64, child}});
  ordered_json good = PutSignature(index.digest, index.media_type, index.digest,
                                   static_cast<int64_t>(index.manifest.size()), *acme_);
  source_.PutReferrers(kName, index.digest, Index({good}));
  Verdict v = Verify(index);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(StrCat("referrers of ", index.digest.str())));
  EXPECT_EQ(v.manifest_digest, child.digest);
  for (const Digest& d : {child.digest, index.digest}) {
    EXPECT_TRUE(Requested(StrCat("referrers ", kName, "@", d.str())));
    EXPECT_TRUE(Requested(StrCat("manifest ", kName, "@", sigstore::FallbackTag(d))));
  }
}

TEST_F(VerifierNotationTest, IndexSignatureForTheChildIsSubjectMismatch) {
  TestImage child = Base();
  TestImage index = testing::MakeIndex(Family::kOci, {{kAmd64, child}});
  ordered_json wrong = PutSignature(index.digest, child.media_type, child.digest,
                                    static_cast<int64_t>(child.manifest.size()), *acme_);
  PutFallback(index.digest, {wrong});
  Verdict v = Verify(index);
  EXPECT_EQ(ReasonName(v.reason), "SUBJECT_MISMATCH") << v.detail;
}

// OCI 1.0: the fallback tag's entry has no artifactType and the manifest says what it is in
// its config's mediaType; COSE envelopes alike.
TEST_F(VerifierNotationTest, Oci10FallbackTagCose) {
  TestImage image = Base();
  SigOptions o;
  o.artifact_type = false;
  o.format = notation::Format::kCose;
  ordered_json sig = PutSignature(image, *acme_, o);
  PutFallback(image.digest, {sig});
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("cose"));
}

TEST_F(VerifierNotationTest, SkipLevelLooksNothingUp) {
  SetTrust(notation::Level::kSkip);
  TestImage image = Base();
  Verdict v = Verify(image);
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_EQ(ReasonName(v.reason), "INSECURE_ACCEPT_ANYTHING");
  EXPECT_EQ(v.detail, "notation verification level skip");
  EXPECT_TRUE(source_.Requests().empty());
}

TEST_F(VerifierNotationTest, NothingFoundIsNotSigned) {
  TestImage image = Base();
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "NOT_SIGNED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(StrCat("no notation signature for ", image.digest.str())));
}

TEST_F(VerifierNotationTest, AllThreeKindsUnsigned) {
  Scope().signatures = {SignatureKind::kSeal, SignatureKind::kCosign, SignatureKind::kNotation};
  Verdict v = Verify(Base());
  EXPECT_EQ(ReasonName(v.reason), "NOT_SIGNED") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("no layer carries a layerseal seal, and no cosign signature"));
  EXPECT_THAT(v.detail, HasSubstr(", and no notation signature"));
}

// A seal admits in a scope of all three kinds; a failing notation signature is named when the
// seal fails.
TEST_F(VerifierNotationTest, SealAndNotationCombine) {
  Scope().signatures = {SignatureKind::kSeal, SignatureKind::kNotation};
  TestImage sealed = testing::SealTestImage(Base(), *seal_key_);
  Verdict v = Verify(sealed);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_EQ(v.signer_kind, "seal");

  // Unsealed, with a notation signature by an untrusted signer (with a lying annotation):
  // notation's failure decides, since no seal is there.
  TestImage image = Base("plain");
  SigOptions lie;
  lie.annotation = StrCat(R"([")", acme_->Thumb(acme_->root), R"("])");
  source_.PutReferrers(kName, image.digest, Index({PutSignature(image, *evil_, lie)}));
  v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_CERTIFICATE") << v.detail;
  EXPECT_THAT(v.detail, Not(HasSubstr("seal")));
}

TEST_F(VerifierNotationTest, AFailedLookupIsARegistryError) {
  TestImage image = Base();
  source_.FailManifest(kName, sigstore::FallbackTag(image.digest), absl::UnavailableError("HTTP 503"));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "REGISTRY_ERROR") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("looking for notation signatures"));
  EXPECT_THAT(v.detail, HasSubstr("HTTP 503"));
}

// A fallback tag that is not an index is a malformed listing (not "unsigned"); a listed
// signature manifest the registry does not serve is a registry error, ranked below any
// signature that was judged.
TEST_F(VerifierNotationTest, BadListingAndMissingManifest) {
  TestImage image = Base();
  source_.PutManifest(kName, sigstore::FallbackTag(image.digest), std::string(kOciManifest), image.manifest);
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "MALFORMED_SIGNATURE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(StrCat("fallback tag ", sigstore::FallbackTag(image.digest), ": listing: ")));

  TestImage other = Base("other");
  ordered_json gone = {{"mediaType", std::string(kOciManifest)}, {"digest", Digest::Sha256Of("gone").str()},
                       {"size", 100}, {"artifactType", kSigType}};
  source_.PutReferrers(kName, other.digest, Index({gone}));
  v = Verify(other);
  EXPECT_EQ(ReasonName(v.reason), "REGISTRY_ERROR") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("signature manifest: "));

  SigOptions lie;
  lie.annotation = StrCat(R"([")", acme_->Thumb(acme_->root), R"("])");
  source_.PutReferrers(kName, other.digest, Index({gone, PutSignature(other, *evil_, lie)}));
  v = Verify(other);
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_CERTIFICATE") << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("(1 other signature failed earlier)"));
}

// Other artifacts in the referrers answer (a cosign bundle, an SBOM) are not signatures, and a
// notation signature beside them still admits.
TEST_F(VerifierNotationTest, OtherReferrersAreIgnored) {
  Scope().signatures = {SignatureKind::kCosign, SignatureKind::kNotation};
  TestImage image = Base();
  ordered_json sbom = {{"mediaType", std::string(kOciManifest)},
                       {"digest", Digest::Sha256Of("sbom").str()}, {"size", 10},
                       {"artifactType", "application/spdx+json"}};
  ordered_json sig = PutSignature(image, *acme_);
  source_.PutReferrers(kName, image.digest, Index({sbom, sig}));
  Verdict v = Verify(image);
  EXPECT_EQ(ReasonName(v.reason), "VERIFIED") << v.detail;
  EXPECT_FALSE(Requested(StrCat("manifest ", kName, "@", Digest::Sha256Of("sbom").str())));
}

}  // namespace
}  // namespace layerseal
