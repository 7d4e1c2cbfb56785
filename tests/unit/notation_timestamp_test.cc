// verifier/notation/timestamp.h: RFC 3161 TimeStampTokens of notation signatures, on
// notation-go's countersignature test data (tests/fixtures/notation/upstream/notation-go,
// GlobalSign's TSA) and on tokens made in the test by OpenSSL's TS responder
// (tests/support/notation_sign.h) at chosen times.
#include "verifier/notation/timestamp.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/notation_sign.h"
#include "verifier/digest.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/x509.h"

namespace layerseal::notation {
namespace {

using ::layerseal::testing::CertKind;
using ::layerseal::testing::CertSpec;
using ::layerseal::testing::MakeCert;
using ::layerseal::testing::MakeStore;
using ::layerseal::testing::MakeTimestampToken;
using ::layerseal::testing::NewEcKey;
using ::layerseal::testing::NewRsaKey;
using ::layerseal::testing::TestCert;
using ::layerseal::testing::TsaSpec;
using ::testing::HasSubstr;

std::string Upstream(const std::string& rel) {
  absl::StatusOr<std::string> s = ReadFileLimited(
      StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/notation/upstream/notation-go/", rel),
      1 << 20, "fixture");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

// The GlobalSign R6 root of notation-go's tsa/test-timestamp store (DER or PEM as found).
std::shared_ptr<const TrustStore> GlobalSignTsaStore() {
  absl::StatusOr<TrustStore> s = LoadTrustStore(
      "test-timestamp", StoreType::kTsa,
      StrCat(LAYERSEAL_SOURCE_DIR,
             "/tests/fixtures/notation/upstream/notation-go/truststore/x509/tsa/test-timestamp"),
      "");
  EXPECT_TRUE(s.ok()) << s.status();
  return std::make_shared<const TrustStore>(s.ok() ? *s : TrustStore{});
}

// A TSA PKI of our own: root CA -> TSA signing certificate.
struct Pki {
  TestCert root;
  TestCert tsa;
  TestCert other_root;
  Pki() {
    root = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA root", CertKind::kCa, Utc(2020, 1, 1),
                     Utc(2040, 1, 1)},
                    NewEcKey(NID_X9_62_prime256v1), nullptr);
    tsa = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA", CertKind::kTimestamping, Utc(2024, 1, 1),
                    Utc(2030, 1, 1)},
                   NewRsaKey(2048), &root);
    other_root = MakeCert({"C=US,ST=WA,O=other,CN=other root", CertKind::kCa, Utc(2020, 1, 1),
                           Utc(2040, 1, 1)},
                          NewEcKey(NID_X9_62_prime256v1), nullptr);
  }
};
const Pki& P() {
  static const Pki* p = new Pki();
  return *p;
}

TsaSpec Spec() {
  TsaSpec s;
  s.tsa = P().tsa;
  s.chain = {P().root.der};
  s.gen_time = Utc(2025, 6, 15, 12, 0, 0);
  return s;
}

std::vector<std::shared_ptr<const TrustStore>> OurStores() {
  return {MakeStore("acme-tsa", StoreType::kTsa, {P().root.der})};
}

TEST(ParseTimestampToken, UpstreamToken) {
  absl::StatusOr<TimestampInfo> info =
      ParseTimestampToken(Upstream("timestamp/countersignature/TimeStampToken.p7s"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->gen_time, Utc(2021, 9, 17, 14, 9, 10));
  EXPECT_EQ(info->accuracy, absl::Seconds(1));
  EXPECT_EQ(info->hash_algorithm, "sha256");
  EXPECT_EQ(info->message_imprint, Sha256("notation"));
  EXPECT_EQ(info->certs_der.size(), 4u);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(ParseTimestampToken, UpstreamBadTokens) {
  absl::StatusOr<TimestampInfo> ct =
      ParseTimestampToken(Upstream("timestamp/countersignature/TimeStampTokenWithInvalideContentType.p7s"));
  ASSERT_FALSE(ct.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ct.status()));
  EXPECT_THAT(Msg(ct.status()), HasSubstr("content type is 1.2.840.113549.1.7.1"));
  EXPECT_THAT(Msg(ct.status()), HasSubstr("id-ct-TSTInfo"));

  absl::StatusOr<TimestampInfo> tst =
      ParseTimestampToken(Upstream("timestamp/countersignature/TimeStampTokenWithInvalidTSTInfo.p7s"));
  ASSERT_FALSE(tst.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(tst.status()));
  EXPECT_THAT(Msg(tst.status()), HasSubstr("TSTInfo does not parse"));

  absl::StatusOr<TimestampInfo> nocert =
      ParseTimestampToken(Upstream("timestamp/countersignature/TimeStampTokenWithoutCertificate.p7s"));
  ASSERT_TRUE(nocert.ok()) << nocert.status();
  EXPECT_TRUE(nocert->certs_der.empty());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(ParseTimestampToken, HostileBytes) {
  EXPECT_TRUE(absl::IsInvalidArgument(ParseTimestampToken("").status()));
  absl::StatusOr<TimestampInfo> junk = ParseTimestampToken("not DER at all");
  EXPECT_TRUE(absl::IsInvalidArgument(junk.status()));
  EXPECT_THAT(Msg(junk.status()), HasSubstr("not a DER CMS ContentInfo"));
  std::string big(kMaxTimestampTokenBytes + 1, '\x30');
  EXPECT_TRUE(absl::IsResourceExhausted(ParseTimestampToken(big).status()));
  std::string good = Upstream("timestamp/countersignature/TimeStampToken.p7s");
  absl::StatusOr<TimestampInfo> trailing = ParseTimestampToken(good + "x");
  EXPECT_TRUE(absl::IsInvalidArgument(trailing.status()));
  EXPECT_THAT(Msg(trailing.status()), HasSubstr("1 bytes after"));
  // Every truncation fails cleanly.
  for (size_t n = 0; n < good.size(); n += 97) {
    EXPECT_FALSE(ParseTimestampToken(good.substr(0, n)).ok()) << n;
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(VerifyTimestampToken, UpstreamTokenAgainstGlobalSignRoot) {
  std::string token = Upstream("timestamp/countersignature/TimeStampToken.p7s");
  auto store = GlobalSignTsaStore();
  absl::StatusOr<VerifiedTimestamp> v = VerifyTimestampToken(token, "notation", {store});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->lower, Utc(2021, 9, 17, 14, 9, 9));
  EXPECT_EQ(v->upper, Utc(2021, 9, 17, 14, 9, 11));
  EXPECT_THAT(v->tsa_subject, HasSubstr("Globalsign TSA for Advanced - G4"));
  EXPECT_EQ(v->store, "test-timestamp");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(VerifyTimestampToken, UpstreamFailures) {
  std::string token = Upstream("timestamp/countersignature/TimeStampToken.p7s");
  auto store = GlobalSignTsaStore();
  // notation-go: "invalid TSTInfo: mismatched message".
  absl::StatusOr<VerifiedTimestamp> mismatch = VerifyTimestampToken(token, "mismatch", {store});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(mismatch.status()));
  EXPECT_THAT(Msg(mismatch.status()), HasSubstr("messageImprint"));
  // notation-go: "signing certificate not found in the timestamp token".
  absl::StatusOr<VerifiedTimestamp> nocert = VerifyTimestampToken(
      Upstream("timestamp/countersignature/TimeStampTokenWithoutCertificate.p7s"), "notation",
      {store});
  ASSERT_FALSE(nocert.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(nocert.status()));
  EXPECT_THAT(Msg(nocert.status()), HasSubstr("embeds no certificate"));
  // notation-go's tsa:test-mismatch (DigiCert's root): "certificate signed by unknown authority".
  absl::StatusOr<TrustStore> digicert = LoadTrustStore(
      "test-mismatch", StoreType::kTsa,
      StrCat(LAYERSEAL_SOURCE_DIR,
             "/tests/fixtures/notation/upstream/notation-go/truststore/x509/tsa/test-mismatch"),
      "");
  ASSERT_TRUE(digicert.ok()) << digicert.status();
  absl::StatusOr<VerifiedTimestamp> untrusted = VerifyTimestampToken(
      token, "notation", {std::make_shared<const TrustStore>(*digicert)});
  ASSERT_FALSE(untrusted.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(untrusted.status()));
  EXPECT_THAT(Msg(untrusted.status()), HasSubstr("TSA certificate chain"));
  EXPECT_THAT(Msg(untrusted.status()), HasSubstr("Globalsign TSA for Advanced - G4"));
  // The same root as a ca store is no tsa store.
  auto as_ca = std::make_shared<TrustStore>(*store);
  as_ca->type = StoreType::kCa;
  absl::StatusOr<VerifiedTimestamp> wrong_type = VerifyTimestampToken(token, "notation", {as_ca});
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_THAT(Msg(wrong_type.status()), HasSubstr("no tsa trust store"));
  // Parse errors stay InvalidArgument.
  EXPECT_TRUE(absl::IsInvalidArgument(
      VerifyTimestampToken(Upstream("timestamp/countersignature/TimeStampTokenWithInvalidTSTInfo.p7s"),
                           "notation", {store})
          .status()));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(VerifyTimestampToken, OwnTokenVerifies) {
  std::string sig = "the envelope's signature value";
  TsaSpec spec = Spec();
  absl::StatusOr<VerifiedTimestamp> v =
      VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, OurStores());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->lower, spec.gen_time - absl::Seconds(1));
  EXPECT_EQ(v->upper, spec.gen_time + absl::Seconds(1));
  EXPECT_EQ(v->tsa_subject, SubjectText(P().tsa.der));
  EXPECT_EQ(v->store, "acme-tsa");
  // The anchor need not be first: stores are tried in order.
  std::vector<std::shared_ptr<const TrustStore>> two = {
      MakeStore("other", StoreType::kTsa, {P().other_root.der}), OurStores()[0]};
  absl::StatusOr<VerifiedTimestamp> v2 =
      VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, two);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->store, "acme-tsa");
}

TEST(VerifyTimestampToken, Accuracy) {
  std::string sig = "sig";
  TsaSpec spec = Spec();
  spec.accuracy_seconds = 3;
  absl::StatusOr<TimestampInfo> three = ParseTimestampToken(MakeTimestampToken(spec, sig));
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->accuracy, absl::Seconds(3));
  // No accuracy member: 1 s under the baseline policy 0.4.0.2023.1.1, else 0.
  spec.accuracy_seconds.reset();
  absl::StatusOr<TimestampInfo> none = ParseTimestampToken(MakeTimestampToken(spec, sig));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->accuracy, absl::ZeroDuration());
  spec.policy_oid = "0.4.0.2023.1.1";
  absl::StatusOr<TimestampInfo> baseline = ParseTimestampToken(MakeTimestampToken(spec, sig));
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  EXPECT_EQ(baseline->accuracy, absl::Seconds(1));
  absl::StatusOr<VerifiedTimestamp> v =
      VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, OurStores());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->upper - v->lower, absl::Seconds(2));
}

TEST(VerifyTimestampToken, ImprintAlgorithms) {
  std::string sig = "sig";
  TsaSpec spec = Spec();
  spec.imprint_md = EVP_sha384();
  EXPECT_TRUE(VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, OurStores()).ok());
  spec.imprint_md = EVP_sha512();
  EXPECT_TRUE(VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, OurStores()).ok());
  spec.imprint_md = EVP_sha1();
  absl::StatusOr<VerifiedTimestamp> sha1 =
      VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, OurStores());
  ASSERT_FALSE(sha1.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(sha1.status()));
  EXPECT_THAT(Msg(sha1.status()), HasSubstr("uses sha1"));
  // A token over another signature.
  absl::StatusOr<VerifiedTimestamp> other =
      VerifyTimestampToken(MakeTimestampToken(Spec(), "other"), sig, OurStores());
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(Msg(other.status()), HasSubstr("is not the hash of the envelope's signature"));
}

TEST(VerifyTimestampToken, EssAttribute) {
  std::string sig = "sig";
  TsaSpec spec = Spec();
  spec.ess_v2 = false;  // signing-certificate (v1, SHA-1): accepted
  absl::StatusOr<VerifiedTimestamp> v1 =
      VerifyTimestampToken(MakeTimestampToken(spec, sig), sig, OurStores());
  EXPECT_TRUE(v1.ok()) << v1.status();
  spec.no_ess = true;
  std::string token = MakeTimestampToken(spec, sig);
  ASSERT_TRUE(ParseTimestampToken(token).ok());
  absl::StatusOr<VerifiedTimestamp> none = VerifyTimestampToken(token, sig, OurStores());
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(none.status()));
  EXPECT_THAT(Msg(none.status()), HasSubstr("no ESS signing-certificate"));
}

TEST(VerifyTimestampToken, ChainAndTimes) {
  std::string sig = "sig";
  // Not embedded: the chain cannot be built from the token.
  TsaSpec bare = Spec();
  bare.embed_certs = false;
  bare.chain.clear();
  absl::StatusOr<VerifiedTimestamp> no_certs =
      VerifyTimestampToken(MakeTimestampToken(bare, sig), sig, OurStores());
  ASSERT_FALSE(no_certs.ok());
  EXPECT_THAT(Msg(no_certs.status()), HasSubstr("embeds no certificate"));
  // Untrusted root.
  absl::StatusOr<VerifiedTimestamp> untrusted = VerifyTimestampToken(
      MakeTimestampToken(Spec(), sig), sig,
      {MakeStore("other", StoreType::kTsa, {P().other_root.der})});
  ASSERT_FALSE(untrusted.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(untrusted.status()));
  EXPECT_THAT(Msg(untrusted.status()), HasSubstr("TSA certificate chain"));
  // genTime before the TSA certificate's notBefore (2024-01-01) and after its notAfter.
  TsaSpec early = Spec();
  early.gen_time = Utc(2023, 6, 1);
  absl::StatusOr<VerifiedTimestamp> before =
      VerifyTimestampToken(MakeTimestampToken(early, sig), sig, OurStores());
  ASSERT_FALSE(before.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(before.status()));
  EXPECT_THAT(Msg(before.status()), HasSubstr("genTime 2023-06-01T00:00:00Z is before certificate"));
  EXPECT_THAT(Msg(before.status()), HasSubstr("CN=acme TSA"));
  EXPECT_THAT(Msg(before.status()), HasSubstr("notBefore 2024-01-01T00:00:00Z"));
  TsaSpec late = Spec();
  late.gen_time = Utc(2031, 6, 1);
  absl::StatusOr<VerifiedTimestamp> after =
      VerifyTimestampToken(MakeTimestampToken(late, sig), sig, OurStores());
  ASSERT_FALSE(after.ok());
  EXPECT_THAT(Msg(after.status()), HasSubstr("notAfter 2030-01-01T00:00:00Z"));
  // A TSA certificate without the timeStamping EKU cannot even sign with OpenSSL's
  // responder; a code-signing certificate's token made by hand is refused by the chain rules
  // (x509.h), covered in notation_x509_test.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(VerifyTimestampToken, TamperedToken) {
  std::string sig = "sig";
  std::string token = MakeTimestampToken(Spec(), sig);
  ASSERT_TRUE(VerifyTimestampToken(token, sig, OurStores()).ok());
  // The CMS signature is the token's last bytes.
  std::string bad = token;
  bad[bad.size() - 5] ^= 0x01;
  absl::StatusOr<VerifiedTimestamp> v = VerifyTimestampToken(bad, sig, OurStores());
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(v.status())) << v.status();
  EXPECT_THAT(Msg(v.status()), HasSubstr("signature does not verify"));
  // Every single-byte flip is refused (or, in unsigned parts of the DER, still verifies only
  // if it names the same things): never a crash, never an error left on the queue.
  for (size_t i = 0; i < token.size(); i += 13) {
    std::string t = token;
    t[i] ^= 0x40;
    (void)VerifyTimestampToken(t, sig, OurStores());
    EXPECT_EQ(ERR_peek_error(), 0u) << i;
  }
}

}  // namespace
}  // namespace layerseal::notation

namespace layerseal::notation {
namespace {

// The token embeds only the TSA certificate; its intermediate and root are in the tsa store.
TEST(VerifyTimestampToken, IntermediateFromTheStore) {
  TestCert inter = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA intermediate", CertKind::kCa,
                             Utc(2021, 1, 1), Utc(2035, 1, 1)},
                            NewEcKey(NID_X9_62_prime256v1), &P().root);
  TestCert tsa = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA 2", CertKind::kTimestamping,
                           Utc(2024, 1, 1), Utc(2030, 1, 1)},
                          NewEcKey(NID_X9_62_prime256v1), &inter);
  TsaSpec spec = Spec();
  spec.tsa = tsa;
  spec.chain.clear();
  std::string sig = "sig";
  std::string token = MakeTimestampToken(spec, sig);
  absl::StatusOr<TimestampInfo> info = ParseTimestampToken(token);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->certs_der.size(), 1u);
  absl::StatusOr<VerifiedTimestamp> v = VerifyTimestampToken(
      token, sig, {MakeStore("acme-tsa", StoreType::kTsa, {P().root.der, inter.der})});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->tsa_subject, "C=US, ST=WA, O=acme, CN=acme TSA 2");
  // Only the root in the store: the intermediate is nowhere.
  absl::StatusOr<VerifiedTimestamp> missing =
      VerifyTimestampToken(token, sig, OurStores());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(Msg(missing.status()), HasSubstr("TSA certificate chain"));
}

}  // namespace
}  // namespace layerseal::notation
