// sigstore::VerifyEntity (verifier/sigstore/bundle_verifier.h) on real bundles of the
// sigstore-conformance corpus ($LAYERSEAL_SHARED_DIR/conformance/sigstore, read in place),
// changed in memory to reach the checks the corpus does not: the step-1 rules left to the
// verifier, predicate types, the clock-skew rule, the policy's material and log choices, and
// what a verified entity reports. The corpus itself runs through the CLI in
// tests/integration/sigstore_conformance_test.cc.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"
#include "tests/support/shared_dir.h"

namespace layerseal::sigstore {
namespace {

constexpr char kIdentity[] =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";

std::string SigstoreDir() { return layerseal::testing::SigstoreCorpusDir(); }

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SignedEntity Entity(const std::string& name) {
  absl::StatusOr<Bundle> b = ParseBundle(Read(StrCat(SigstoreDir(), "/bundle-verify/", name, "/bundle.sigstore.json")));
  EXPECT_TRUE(b.ok()) << name << ": " << b.status();
  return b.ok() ? FromBundle(*std::move(b)) : SignedEntity{};
}

class BundleVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TrustedRoot> r = TrustedRoot::LoadFile(SigstoreDir() + "/trusted_root.public-good.json");
    ASSERT_TRUE(r.ok()) << r.status();
    root_ = *std::move(r);
    absl::StatusOr<IdentityPattern> p = MakeIdentityPattern("beacon", kIssuer, std::nullopt, kIdentity, std::nullopt);
    ASSERT_TRUE(p.ok()) << p.status();
    keyless_.root = &*root_;
    keyless_.identities.push_back(*p);
    keyless_.now = absl::Now();
    a_txt_bytes_ = Read(SigstoreDir() + "/bundle-verify/a.txt");
    a_txt_.sha256 = Digest::Sha256Of(a_txt_bytes_);
  }

  std::optional<TrustedRoot> root_;
  TrustPolicy keyless_;
  std::string a_txt_bytes_;
  Artifact a_txt_;  // digest only
};

TEST_F(BundleVerifierTest, HappyPathByDigestAndByBytesReportsTheSigner) {
  SignedEntity e = Entity("happy-path-v0.1");
  EntityResult r = VerifyEntity(e, a_txt_, keyless_);
  ASSERT_TRUE(r.ok()) << r.detail;
  ASSERT_TRUE(r.signer.has_value());
  EXPECT_EQ(r.signer->kind, SignerInfo::Kind::kCosignKeyless);
  EXPECT_EQ(r.signer->subject, kIdentity);
  EXPECT_EQ(r.signer->issuer, kIssuer);
  EXPECT_EQ(r.signer->log_index, e.tlog[0].log_index);
  EXPECT_EQ(r.signer->log_id_hex, HexEncode(e.tlog[0].log_id));
  EXPECT_EQ(r.signer->signed_at, absl::FromUnixSeconds(e.tlog[0].integrated_time));
  EXPECT_EQ(r.signer->key_id.rfind("sha256:", 0), 0u);
  Artifact with_bytes = a_txt_;
  with_bytes.bytes = a_txt_bytes_;
  EXPECT_TRUE(VerifyEntity(e, with_bytes, keyless_).ok());
  // Bytes that are not the digested artifact: the digest binds (step 2), the bytes sign (8).
  with_bytes.bytes = a_txt_bytes_ + "x";
  EntityResult bad = VerifyEntity(e, with_bytes, keyless_);
  EXPECT_EQ(bad.reason, Reason::kBadSignature) << bad.detail;
  EXPECT_EQ(bad.step, 8);
}

// messageDigest is optional in a bundle: the artifact's bytes are then needed (the signature
// binds them) and the log entry is compared with the artifact's digest.
TEST_F(BundleVerifierTest, MessageWithoutDigestNeedsTheBytes) {
  SignedEntity e = Entity("happy-path-v0.1");
  ASSERT_TRUE(e.message.has_value());
  e.message->digest.clear();
  e.message->digest_algorithm.clear();
  EntityResult r = VerifyEntity(e, a_txt_, keyless_);
  EXPECT_EQ(r.reason, Reason::kSubjectMismatch) << r.detail;
  Artifact with_bytes = a_txt_;
  with_bytes.bytes = a_txt_bytes_;
  r = VerifyEntity(e, with_bytes, keyless_);
  EXPECT_TRUE(r.ok()) << r.detail;
}

TEST_F(BundleVerifierTest, DetailNamesTheStep) {
  Artifact other;
  other.sha256 = Digest::Sha256Of("something else");
  EntityResult r = VerifyEntity(Entity("happy-path-v0.1"), other, keyless_);
  EXPECT_EQ(r.reason, Reason::kSubjectMismatch);
  EXPECT_EQ(r.step, 2);
  EXPECT_EQ(r.detail.rfind("step 2 artifact: ", 0), 0u) << r.detail;
}

TEST_F(BundleVerifierTest, DsseNeedsExactlyOneSignatureAndAnAcceptedPredicate) {
  SignedEntity e = Entity("happy-path-intoto-in-dsse-v3");
  ASSERT_TRUE(e.dsse.has_value());
  ASSERT_TRUE(VerifyEntity(e, a_txt_, keyless_).ok());
  SignedEntity two = e;
  two.dsse->signatures.push_back(two.dsse->signatures[0]);
  EntityResult r = VerifyEntity(two, a_txt_, keyless_);
  EXPECT_EQ(r.reason, Reason::kMalformedSignature) << r.detail;
  EXPECT_EQ(r.step, 1);
  TrustPolicy cosign_only = keyless_;
  cosign_only.predicate_types = {"https://sigstore.dev/cosign/sign/v1"};
  r = VerifyEntity(e, a_txt_, cosign_only);
  EXPECT_EQ(r.reason, Reason::kSubjectMismatch) << r.detail;
  EXPECT_NE(r.detail.find("predicateType"), std::string::npos) << r.detail;
  SignedEntity other_type = e;
  other_type.dsse->payload_type = "application/json";
  EXPECT_EQ(VerifyEntity(other_type, a_txt_, keyless_).reason, Reason::kSubjectMismatch);
}

TEST_F(BundleVerifierTest, SigningTimeInTheFutureIsBadTimestamp) {
  SignedEntity e = Entity("happy-path-v0.1");
  TrustPolicy p = keyless_;
  // The clock says the entry was logged 6 minutes from now (more than kMaxClockSkew).
  p.now = absl::FromUnixSeconds(e.tlog[0].integrated_time) - kMaxClockSkew - absl::Minutes(1);
  EntityResult r = VerifyEntity(e, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kBadTimestamp) << r.detail;
  EXPECT_EQ(r.step, 5);
  p.now = absl::FromUnixSeconds(e.tlog[0].integrated_time) - kMaxClockSkew + absl::Minutes(1);
  EXPECT_TRUE(VerifyEntity(e, a_txt_, p).ok());
}

TEST_F(BundleVerifierTest, KeylessNeedsIdentitiesARootAndALogEntry) {
  SignedEntity e = Entity("happy-path-v0.2");
  TrustPolicy p = keyless_;
  p.identities.clear();
  EntityResult r = VerifyEntity(e, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kUntrustedIdentity) << r.detail;
  EXPECT_EQ(r.step, 3);
  p = keyless_;
  p.root = nullptr;
  r = VerifyEntity(e, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kUntrustedCertificate) << r.detail;
  EXPECT_EQ(r.step, 3);
  // Keyless always needs a log entry, even where a scope would ignore the log for keys.
  p = keyless_;
  p.require_tlog = false;
  SignedEntity no_log = e;
  no_log.tlog.clear();
  r = VerifyEntity(no_log, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kBadTlogEntry) << r.detail;
  EXPECT_EQ(r.step, 4);
  // An identity pattern that is not the signer's: everything else verified.
  absl::StatusOr<IdentityPattern> other =
      MakeIdentityPattern("other", kIssuer, std::nullopt, std::nullopt, "https://github\\.com/acme/.*");
  ASSERT_TRUE(other.ok());
  p = keyless_;
  p.identities = {*other};
  r = VerifyEntity(e, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kUntrustedIdentity) << r.detail;
  EXPECT_EQ(r.step, 9);
}

TEST_F(BundleVerifierTest, KeyBasedWithAndWithoutTheLog) {
  const std::string dir = SigstoreDir() + "/bundle-verify/managed-key-happy-path";
  SignedEntity e = Entity("managed-key-happy-path");
  absl::StatusOr<PublicKey> pk = PublicKey::FromPem(Read(dir + "/key.pub"));
  ASSERT_TRUE(pk.ok()) << pk.status();
  TrustedKey key{"cosign", *pk, std::nullopt};
  TrustPolicy p;
  p.root = &*root_;
  p.keys = {&key};
  p.now = absl::Now();
  EntityResult r = VerifyEntity(e, a_txt_, p);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.signer->kind, SignerInfo::Kind::kCosignKey);
  EXPECT_EQ(r.signer->key_id, pk->key_id());
  EXPECT_GE(r.signer->log_index, 0);
  // transparencyLog: ignore, no root: the signature alone; no log is reported.
  p.root = nullptr;
  p.require_tlog = false;
  r = VerifyEntity(e, a_txt_, p);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.signer->log_index, -1);
  // transparencyLog: require without a root cannot be satisfied.
  p.require_tlog = true;
  r = VerifyEntity(e, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kBadTlogEntry) << r.detail;
  // The log entry is required and removed.
  p.root = &*root_;
  SignedEntity no_log = e;
  no_log.tlog.clear();
  r = VerifyEntity(no_log, a_txt_, p);
  EXPECT_EQ(r.reason, Reason::kBadTlogEntry) << r.detail;
  EXPECT_EQ(r.step, 4);
  // A key bundle where only identities are trusted.
  r = VerifyEntity(e, a_txt_, keyless_);
  EXPECT_EQ(r.reason, Reason::kUntrustedKey) << r.detail;
  EXPECT_EQ(r.step, 3);
}

TEST_F(BundleVerifierTest, AnEntryFromAnUnknownLogCountsForNothing) {
  SignedEntity e = Entity("happy-path-v0.1");
  SignedEntity two = e;
  TlogEntry unknown = e.tlog[0];
  unknown.log_id = std::string(32, '\x42');
  two.tlog.insert(two.tlog.begin(), unknown);
  EXPECT_TRUE(VerifyEntity(two, a_txt_, keyless_).ok());
  two.tlog.pop_back();
  EntityResult r = VerifyEntity(two, a_txt_, keyless_);
  EXPECT_EQ(r.reason, Reason::kBadTlogEntry) << r.detail;
  EXPECT_NE(r.detail.find("not in the trusted root"), std::string::npos) << r.detail;
}

}  // namespace
}  // namespace layerseal::sigstore
