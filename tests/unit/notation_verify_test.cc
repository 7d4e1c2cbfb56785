// verifier/notation/verify.h: one notation signature judged. notation-go's timestamped
// envelopes (tests/fixtures/notation/upstream/notation-go, GlobalSign's TSA) at chosen
// verification times, and envelopes signed in the test (tests/support/notation_sign.h) over
// a PKI made in the test: each level and each failing check (enforced: the reason; logged:
// ALLOW with a `logged` entry), overrides, skip, both signing schemes, verifyTimestamp,
// expiry, revocation from CRLs, the plugin header.
#include "verifier/notation/verify.h"

#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/notation_sign.h"
#include "verifier/digest.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"
#include "verifier/notation/x509.h"

namespace layerseal::notation {
namespace {

using ::layerseal::testing::CertKind;
using ::layerseal::testing::EnvelopeSpec;
using ::layerseal::testing::MakeCert;
using ::layerseal::testing::MakeCrl;
using ::layerseal::testing::MakeStore;
using ::layerseal::testing::MakeTimestampToken;
using ::layerseal::testing::NewEcKey;
using ::layerseal::testing::NewRsaKey;
using ::layerseal::testing::SignEnvelope;
using ::layerseal::testing::TestCert;
using ::layerseal::testing::TsaSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Overrides = std::vector<std::pair<std::string, std::string>>;

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

constexpr char kDigest[] =
    "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
const absl::Time kNow = Utc(2025, 6, 20);
const absl::Time kSigned = Utc(2025, 6, 15, 12, 0, 0);

Target OciTarget() {
  Target t;
  t.media_type = "application/vnd.oci.image.manifest.v1+json";
  t.digest = *Digest::Parse(kDigest);
  t.size = 528;
  return t;
}

// The PKI, made once: a CA with an EC P-256 and an RSA-2048 signer (valid 2024-2026), the
// same CA as a signingAuthority, a TSA, an unrelated CA with its own signer.
struct Pki {
  TestCert root, leaf_ec, leaf_rsa, tsa_root, tsa, other_root, other_leaf;
  std::string crl_good, crl_revoking_leaf, tsa_crl_good, tsa_crl_revoking;
  Pki() {
    root = MakeCert({"C=US,ST=WA,O=acme,CN=acme root", CertKind::kCa, Utc(2020, 1, 1),
                     Utc(2040, 1, 1)},
                    NewEcKey(NID_secp384r1), nullptr);
    leaf_ec = MakeCert({"C=US,ST=WA,O=acme,CN=acme signer", CertKind::kCodeSigning,
                        Utc(2024, 1, 1), Utc(2026, 1, 1)},
                       NewEcKey(NID_X9_62_prime256v1), &root);
    leaf_rsa = MakeCert({"C=US,ST=WA,O=acme,CN=acme rsa signer", CertKind::kCodeSigning,
                         Utc(2024, 1, 1), Utc(2026, 1, 1)},
                        NewRsaKey(2048), &root);
    tsa_root = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA root", CertKind::kCa, Utc(2020, 1, 1),
                         Utc(2040, 1, 1)},
                        NewEcKey(NID_X9_62_prime256v1), nullptr);
    tsa = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA", CertKind::kTimestamping, Utc(2022, 1, 1),
                    Utc(2032, 1, 1)},
                   NewRsaKey(2048), &tsa_root);
    other_root = MakeCert({"C=US,ST=WA,O=other,CN=other root", CertKind::kCa, Utc(2020, 1, 1),
                           Utc(2040, 1, 1)},
                          NewEcKey(NID_X9_62_prime256v1), nullptr);
    other_leaf = MakeCert({"C=US,ST=WA,O=other,CN=other signer", CertKind::kCodeSigning,
                           Utc(2024, 1, 1), Utc(2026, 1, 1)},
                          NewEcKey(NID_X9_62_prime256v1), &other_root);
    crl_good = MakeCrl(root, Utc(2023, 1, 1), Utc(2030, 1, 1), {});
    crl_revoking_leaf = MakeCrl(root, Utc(2023, 1, 1), Utc(2030, 1, 1), {leaf_ec.serial});
    tsa_crl_good = MakeCrl(tsa_root, Utc(2023, 1, 1), Utc(2030, 1, 1), {});
    tsa_crl_revoking = MakeCrl(tsa_root, Utc(2023, 1, 1), Utc(2030, 1, 1), {tsa.serial});
  }
};
const Pki& P() {
  static const Pki* p = new Pki();
  return *p;
}

std::shared_ptr<const TrustStore> CaStore(std::vector<std::string> crls = {P().crl_good}) {
  return MakeStore("acme-ca", StoreType::kCa, {P().root.der}, std::move(crls));
}
std::shared_ptr<const TrustStore> TsaStore(std::vector<std::string> crls = {P().tsa_crl_good}) {
  return MakeStore("acme-tsa", StoreType::kTsa, {P().tsa_root.der}, std::move(crls));
}
std::shared_ptr<const TrustStore> SaStore() {
  return MakeStore("acme-sa", StoreType::kSigningAuthority, {P().root.der}, {P().crl_good});
}

NotationTrust Trust(Level level, const Overrides& overrides = {},
                    std::vector<std::shared_ptr<const TrustStore>> stores = {CaStore(), TsaStore()},
                    std::vector<std::string> identities = {"x509.subject: C=US, ST=WA, O=acme"}) {
  NotationTrust t;
  t.level = level;
  absl::StatusOr<Actions> a = ApplyOverrides(level, overrides);
  EXPECT_TRUE(a.ok()) << a.status();
  if (a.ok()) t.actions = *a;
  t.stores = std::move(stores);
  if (level != Level::kSkip) {
    absl::StatusOr<std::vector<TrustedIdentity>> ids = ParseTrustedIdentities(identities);
    EXPECT_TRUE(ids.ok()) << ids.status();
    if (ids.ok()) t.identities = *ids;
  }
  return t;
}

std::function<std::string(std::string_view)> Tsa(absl::Time gen = kSigned) {
  return [gen](std::string_view sig) {
    TsaSpec s;
    s.tsa = P().tsa;
    s.chain = {P().tsa_root.der};
    s.gen_time = gen;
    return MakeTimestampToken(s, sig);
  };
}

// A good EC P-256 JWS with a timestamp.
EnvelopeSpec Good(Format format = Format::kJws) {
  EnvelopeSpec e;
  e.format = format;
  e.signing_time = kSigned;
  e.chain = {P().leaf_ec.der, P().root.der};
  e.key = P().leaf_ec.key;
  e.timestamp = Tsa();
  return e;
}

std::string_view MediaType(const EnvelopeSpec& e) {
  return e.format == Format::kJws ? kJwsMediaType : kCoseMediaType;
}

Result Judge(const EnvelopeSpec& e, const NotationTrust& trust, absl::Time now = kNow,
             const Target& target = OciTarget()) {
  Result r = VerifySignature(SignEnvelope(e), MediaType(e), target, trust, now);
  EXPECT_EQ(ERR_peek_error(), 0u);
  return r;
}

#define EXPECT_DENY(r, want_reason, want_step, text)                          \
  do {                                                                        \
    const Result& rr_ = (r);                                                  \
    EXPECT_EQ(ReasonName(rr_.reason), ReasonName(want_reason)) << rr_.detail; \
    EXPECT_EQ(rr_.step, want_step) << rr_.detail;                             \
    EXPECT_THAT(rr_.detail, HasSubstr(text));                                 \
    EXPECT_FALSE(rr_.signer.has_value());                                     \
  } while (0)

#define EXPECT_VERIFIED(r)                                                              \
  do {                                                                                  \
    const Result& rv_ = (r);                                                            \
    EXPECT_EQ(ReasonName(rv_.reason), "VERIFIED") << rv_.detail;                        \
    EXPECT_TRUE(rv_.signer.has_value());                                                \
  } while (0)

// ---- Good signatures ----

TEST(VerifySignature, StrictJwsEs256WithTimestamp) {
  Result r = Judge(Good(), Trust(Level::kStrict));
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.step, 8);
  EXPECT_THAT(r.logged, IsEmpty());
  ASSERT_TRUE(r.signer.has_value());
  EXPECT_EQ(r.signer->subject, SubjectText(P().leaf_ec.der));
  EXPECT_EQ(r.signer->issuer, SubjectText(P().root.der));
  EXPECT_EQ(r.signer->thumbprint, Thumbprint(P().leaf_ec.der));
  EXPECT_EQ(r.signer->store, "acme-ca");
  EXPECT_EQ(r.signer->scheme, SigningScheme::kX509);
  EXPECT_EQ(r.signer->format, Format::kJws);
  ASSERT_TRUE(r.signer->timestamp.has_value());
  EXPECT_EQ(*r.signer->timestamp, kSigned);
  EXPECT_THAT(r.detail, HasSubstr("acme signer"));
  EXPECT_THAT(r.detail, HasSubstr("acme-ca"));
  EXPECT_THAT(r.detail, HasSubstr("acme TSA"));
}

TEST(VerifySignature, StrictCosePs256WithTimestamp) {
  EnvelopeSpec e = Good(Format::kCose);
  e.chain = {P().leaf_rsa.der, P().root.der};
  e.key = P().leaf_rsa.key;
  Result r = Judge(e, Trust(Level::kStrict));
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.signer->format, Format::kCose);
  EXPECT_EQ(r.signer->thumbprint, Thumbprint(P().leaf_rsa.der));
  EXPECT_THAT(r.detail, HasSubstr("PS256"));
}

TEST(VerifySignature, EnvelopeWithoutRootVerifies) {
  EnvelopeSpec e = Good();
  e.chain = {P().leaf_ec.der};
  Result r = Judge(e, Trust(Level::kStrict));
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.signer->issuer, SubjectText(P().root.der));
}

TEST(VerifySignature, SkipLooksAtNothing) {
  NotationTrust t = Trust(Level::kSkip, {}, {});
  Result r = VerifySignature("garbage", "application/x-nothing", OciTarget(), t, kNow);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.step, 0);
  EXPECT_EQ(r.detail, "notation verification level skip");
}

// ---- 1. parse ----

TEST(VerifySignature, ParseFailures) {
  for (Level level : {Level::kStrict, Level::kAudit}) {
    Result junk = VerifySignature("{not json", kJwsMediaType, OciTarget(), Trust(level), kNow);
    EXPECT_DENY(junk, Reason::kMalformedSignature, 1, "notation signature (application/jose+json)");
    Result media = VerifySignature(SignEnvelope(Good()), "application/json", OciTarget(),
                                   Trust(level), kNow);
    EXPECT_DENY(media, Reason::kMalformedSignature, 1, "application/json");
    std::string big(kMaxEnvelopeBytes + 1, ' ');
    Result huge = VerifySignature(big, kJwsMediaType, OciTarget(), Trust(level), kNow);
    EXPECT_DENY(huge, Reason::kLimitExceeded, 1, "");
  }
}

TEST(VerifySignature, PluginHeaderIsRefused) {
  for (Format f : {Format::kJws, Format::kCose}) {
    EnvelopeSpec e = Good(f);
    e.plugin = "com.example.plugin";
    e.plugin_min_version = "1.0.0";
    for (Level level : {Level::kStrict, Level::kAudit}) {
      Result r = Judge(e, Trust(level));
      EXPECT_DENY(r, Reason::kMalformedSignature, 1,
                  "requires verification plugin com.example.plugin (minimum version 1.0.0), "
                  "which layerseal does not run");
    }
  }
}

// ---- 2, 3. integrity: always enforced ----

TEST(VerifySignature, IntegrityIsAlwaysEnforced) {
  EnvelopeSpec wrong_key = Good();
  wrong_key.key = P().other_leaf.key;  // signs with a key that is not the leaf's
  EnvelopeSpec substituted = Good();
  substituted.chain = {P().leaf_rsa.der, P().root.der};
  substituted.key = P().leaf_rsa.key;
  substituted.alg = "PS384";  // the key implies PS256
  for (Level level : {Level::kStrict, Level::kPermissive, Level::kAudit}) {
    Result r = Judge(wrong_key, Trust(level));
    EXPECT_DENY(r, Reason::kBadSignature, 2, "does not verify");
    EXPECT_THAT(r.detail, HasSubstr("acme signer"));
    Result s = Judge(substituted, Trust(level));
    EXPECT_DENY(s, Reason::kBadSignature, 2, "PS384");
  }
}

TEST(VerifySignature, TargetMismatchNamesTheMember) {
  Target digest = OciTarget();
  digest.digest = Digest::Sha256Of("another image");
  Target media = OciTarget();
  media.media_type = "application/vnd.oci.image.index.v1+json";
  Target size = OciTarget();
  size.size = 529;
  for (Level level : {Level::kStrict, Level::kAudit}) {
    EXPECT_DENY(Judge(Good(), Trust(level), kNow, digest), Reason::kSubjectMismatch, 3,
                StrCat("targetArtifact digest is ", kDigest, "; the image's is ",
                       digest.digest.str()));
    EXPECT_DENY(Judge(Good(), Trust(level), kNow, media), Reason::kSubjectMismatch, 3,
                "mediaType is \"application/vnd.oci.image.manifest.v1+json\"; the image's is "
                "\"application/vnd.oci.image.index.v1+json\"");
    EXPECT_DENY(Judge(Good(), Trust(level), kNow, size), Reason::kSubjectMismatch, 3,
                "size is 528; the image's is 529");
  }
}

// ---- 4, 5. authenticity ----

TEST(VerifySignature, UntrustedChain) {
  EnvelopeSpec e = Good();
  e.chain = {P().other_leaf.der, P().other_root.der};
  e.key = P().other_leaf.key;
  NotationTrust any = Trust(Level::kStrict, {}, {CaStore(), TsaStore()}, {"*"});
  EXPECT_DENY(Judge(e, any), Reason::kUntrustedCertificate, 4, "other signer");
  NotationTrust permissive = Trust(Level::kPermissive, {}, {CaStore(), TsaStore()}, {"*"});
  EXPECT_DENY(Judge(e, permissive), Reason::kUntrustedCertificate, 4, "acme-ca");
  // Audit logs it and goes on; revocation cannot apply to an unverified chain (logged too).
  NotationTrust audit = Trust(Level::kAudit, {}, {CaStore(), TsaStore()}, {"*"});
  Result r = Judge(e, audit);
  EXPECT_VERIFIED(r);
  ASSERT_THAT(r.logged, SizeIs(2));
  EXPECT_THAT(r.logged[0], HasSubstr("authenticity: certificate chain of"));
  EXPECT_THAT(r.logged[1], HasSubstr("revocation: signing chain: not verified"));
  EXPECT_EQ(r.signer->store, "");
  EXPECT_EQ(r.signer->subject, SubjectText(P().other_leaf.der));
  EXPECT_EQ(r.signer->issuer, SubjectText(P().other_root.der));
  // strict with authenticity overridden to log admits it the same way.
  Result o = Judge(e, Trust(Level::kStrict, {{"authenticity", "log"}, {"revocation", "skip"}},
                            {CaStore(), TsaStore()}, {"*"}));
  EXPECT_VERIFIED(o);
  EXPECT_THAT(o.logged, SizeIs(1));
}

TEST(VerifySignature, NoStoreOfTheSchemesType) {
  NotationTrust only_tsa = Trust(Level::kStrict, {}, {TsaStore()}, {"*"});
  EXPECT_DENY(Judge(Good(), only_tsa), Reason::kUntrustedCertificate, 4,
              "needs a trust store of type ca; the scope's trust stores: acme-tsa (tsa)");
}

TEST(VerifySignature, UntrustedIdentity) {
  std::vector<std::string> other = {"x509.subject: C=US, ST=WA, O=other"};
  Result strict = Judge(Good(), Trust(Level::kStrict, {}, {CaStore(), TsaStore()}, other));
  EXPECT_DENY(strict, Reason::kUntrustedIdentity, 5,
              StrCat("signing certificate \"", SubjectText(P().leaf_ec.der),
                     "\" matches none of the scope's trusted identities: "
                     "\"x509.subject: C=US, ST=WA, O=other\""));
  EXPECT_DENY(Judge(Good(), Trust(Level::kPermissive, {}, {CaStore(), TsaStore()}, other)),
              Reason::kUntrustedIdentity, 5, "acme signer");
  Result audit = Judge(Good(), Trust(Level::kAudit, {}, {CaStore(), TsaStore()}, other));
  EXPECT_VERIFIED(audit);
  ASSERT_THAT(audit.logged, SizeIs(1));
  EXPECT_THAT(audit.logged[0], HasSubstr("authenticity: signing certificate"));
  EXPECT_EQ(audit.signer->store, "acme-ca");
  // The full subject matches too.
  Result exact = Judge(Good(), Trust(Level::kStrict, {}, {CaStore(), TsaStore()},
                                     {"x509.subject: C=US, ST=WA, O=acme, CN=acme signer"}));
  EXPECT_TRUE(exact.ok()) << exact.detail;
}

// ---- 6. expiry ----

TEST(VerifySignature, Expiry) {
  EnvelopeSpec e = Good();
  e.expiry = Utc(2025, 6, 18);
  EXPECT_DENY(Judge(e, Trust(Level::kStrict)), Reason::kSignatureExpired, 6,
              "signature expired 2025-06-18T00:00:00Z (verification time 2025-06-20T00:00:00Z)");
  // At exactly the expiry time it has expired (now >= expiry).
  EXPECT_DENY(Judge(e, Trust(Level::kStrict), Utc(2025, 6, 18)), Reason::kSignatureExpired, 6,
              "expired");
  EXPECT_TRUE(Judge(e, Trust(Level::kStrict), Utc(2025, 6, 17, 23, 59, 59)).ok());
  for (Level level : {Level::kPermissive, Level::kAudit}) {
    Result r = Judge(e, Trust(level));
    EXPECT_VERIFIED(r);
    EXPECT_THAT(r.logged, ElementsAre("expiry: signature expired 2025-06-18T00:00:00Z "
                                      "(verification time 2025-06-20T00:00:00Z)"));
  }
  Result o = Judge(e, Trust(Level::kStrict, {{"expiry", "log"}}));
  EXPECT_VERIFIED(o);
  EXPECT_THAT(o.logged, SizeIs(1));
  // And the other way: permissive with expiry enforced.
  EXPECT_DENY(Judge(e, Trust(Level::kPermissive, {{"expiry", "enforce"}})),
              Reason::kSignatureExpired, 6, "expired");
}

TEST(VerifySignature, EnforcedChecksRunInOrder) {
  // Expired and by an untrusted identity: identity (5) decides before expiry (6).
  EnvelopeSpec e = Good();
  e.expiry = Utc(2025, 6, 18);
  Result r = Judge(e, Trust(Level::kStrict, {}, {CaStore(), TsaStore()},
                            {"x509.subject: C=US, ST=WA, O=other"}));
  EXPECT_DENY(r, Reason::kUntrustedIdentity, 5, "matches none");
  // Under permissive the expiry is logged and a missing timestamp (7, logged too) follows;
  // both end up in `logged`, in order.
  EnvelopeSpec no_ts = e;
  no_ts.timestamp = nullptr;
  Result p = Judge(no_ts, Trust(Level::kPermissive));
  EXPECT_VERIFIED(p);
  ASSERT_THAT(p.logged, SizeIs(2));
  EXPECT_THAT(p.logged[0], HasSubstr("expiry:"));
  EXPECT_THAT(p.logged[1], HasSubstr("authenticTimestamp:"));
}

// ---- 7. authentic timestamp ----

TEST(VerifySignature, MissingTimestampWithTsaStore) {
  EnvelopeSpec e = Good();
  e.timestamp = nullptr;
  EXPECT_DENY(Judge(e, Trust(Level::kStrict)), Reason::kBadTimestamp, 7,
              "has no timestamp countersignature, which the scope's tsa trust store(s) acme-tsa "
              "require (verifyTimestamp always)");
  Result p = Judge(e, Trust(Level::kPermissive));
  EXPECT_VERIFIED(p);
  EXPECT_THAT(p.logged, ElementsAre(HasSubstr("authenticTimestamp: notation jws signature has "
                                              "no timestamp countersignature")));
  EXPECT_FALSE(p.signer->timestamp.has_value());
  // Without a tsa store no timestamp is needed (the chain is valid now).
  Result no_tsa = Judge(e, Trust(Level::kStrict, {}, {CaStore()}));
  EXPECT_TRUE(no_tsa.ok()) << no_tsa.detail;
  EXPECT_FALSE(no_tsa.signer->timestamp.has_value());
}

TEST(VerifySignature, TimestampOutsideSigningChainValidity) {
  EnvelopeSpec e = Good();
  e.timestamp = Tsa(Utc(2023, 6, 1));  // the leaf is valid from 2024-01-01; the TSA from 2022
  EXPECT_DENY(Judge(e, Trust(Level::kStrict)), Reason::kBadTimestamp, 7,
              StrCat("timestamp (genTime 2023-06-01T00:00:00Z, accuracy 1s, TSA \"",
                     SubjectText(P().tsa.der), "\") limit 2023-05-31T23:59:59Z is before "
                     "certificate \"", SubjectText(P().leaf_ec.der),
                     "\" is valid (notBefore 2024-01-01T00:00:00Z)"));
  // Just inside: genTime - 1 s == notBefore.
  e.timestamp = Tsa(Utc(2024, 1, 1, 0, 0, 1));
  EXPECT_TRUE(Judge(e, Trust(Level::kStrict)).ok());
  // After notAfter (2026-01-01), with the TSA still valid.
  e.timestamp = Tsa(Utc(2026, 1, 1, 0, 0, 0));
  EXPECT_DENY(Judge(e, Trust(Level::kStrict), Utc(2026, 6, 1)), Reason::kBadTimestamp, 7,
              "limit 2026-01-01T00:00:01Z is after certificate");
  Result logged = Judge(e, Trust(Level::kPermissive), Utc(2026, 6, 1));
  EXPECT_VERIFIED(logged);
  EXPECT_THAT(logged.logged, ElementsAre(HasSubstr("authenticTimestamp: timestamp (genTime")));
  EXPECT_FALSE(logged.signer->timestamp.has_value());
}

TEST(VerifySignature, BadTimestampTokens) {
  EnvelopeSpec other_sig = Good();
  other_sig.timestamp = [](std::string_view) { return Tsa()("not this signature"); };
  EXPECT_DENY(Judge(other_sig, Trust(Level::kStrict)), Reason::kBadTimestamp, 7,
              "timestamp countersignature: timestamp messageImprint");
  EnvelopeSpec junk = Good();
  junk.timestamp = [](std::string_view) { return std::string("\x30\x03\x02\x01\x01", 5); };
  EXPECT_DENY(Judge(junk, Trust(Level::kStrict)), Reason::kBadTimestamp, 7,
              "timestamp countersignature:");
  // A TSA the tsa store does not hold.
  NotationTrust other_tsa = Trust(
      Level::kStrict, {},
      {CaStore(), MakeStore("other-tsa", StoreType::kTsa, {P().other_root.der})});
  EXPECT_DENY(Judge(Good(), other_tsa), Reason::kBadTimestamp, 7, "TSA certificate chain");
}

TEST(VerifySignature, ExpiredCertificate) {
  const absl::Time later = Utc(2027, 1, 1);  // the leaf expired 2026-01-01
  EnvelopeSpec no_ts = Good();
  no_ts.timestamp = nullptr;
  // No tsa store: the chain must be valid now.
  Result r = Judge(no_ts, Trust(Level::kStrict, {}, {CaStore()}), later);
  EXPECT_DENY(r, Reason::kUntrustedCertificate, 7,
              StrCat("verification time 2027-01-01T00:00:00Z is after certificate \"",
                     SubjectText(P().leaf_ec.der), "\" expired (notAfter 2026-01-01T00:00:00Z)"));
  EXPECT_THAT(r.detail, HasSubstr("no tsa trust store"));
  Result p = Judge(no_ts, Trust(Level::kPermissive, {}, {CaStore()}), later);
  EXPECT_VERIFIED(p);
  EXPECT_THAT(p.logged, ElementsAre(HasSubstr("authenticTimestamp: verification time")));
  // A timestamp inside the validity keeps it valid.
  Result ts = Judge(Good(), Trust(Level::kStrict), later);
  EXPECT_TRUE(ts.ok()) << ts.detail;
  // Not yet valid.
  EXPECT_DENY(Judge(no_ts, Trust(Level::kStrict, {}, {CaStore()}), Utc(2023, 6, 1)),
              Reason::kUntrustedCertificate, 7, "is before certificate");
}

TEST(VerifySignature, VerifyTimestampAfterCertExpiry) {
  EnvelopeSpec no_ts = Good();
  no_ts.timestamp = nullptr;
  NotationTrust t = Trust(Level::kStrict);
  t.verify_timestamp = VerifyTimestamp::kAfterCertExpiry;
  // Unexpired: no timestamp needed.
  Result fresh = Judge(no_ts, t);
  EXPECT_TRUE(fresh.ok()) << fresh.detail;
  // A timestamp present but not verified: none reported.
  Result with_ts = Judge(Good(), t);
  EXPECT_TRUE(with_ts.ok()) << with_ts.detail;
  EXPECT_FALSE(with_ts.signer->timestamp.has_value());
  // Expired: now the timestamp is required, and it suffices.
  EXPECT_DENY(Judge(no_ts, t, Utc(2027, 1, 1)), Reason::kBadTimestamp, 7,
              "(verifyTimestamp afterCertExpiry, and the chain has expired)");
  Result expired_ts = Judge(Good(), t, Utc(2027, 1, 1));
  EXPECT_TRUE(expired_ts.ok()) << expired_ts.detail;
  EXPECT_TRUE(expired_ts.signer->timestamp.has_value());
  // Not yet valid: no timestamp verification, and the chain is not valid now.
  EXPECT_DENY(Judge(no_ts, t, Utc(2023, 6, 1)), Reason::kUntrustedCertificate, 7,
              "is before certificate");
}

TEST(VerifySignature, SigningAuthorityScheme) {
  EnvelopeSpec e = Good();
  e.scheme = SigningScheme::kX509SigningAuthority;
  e.timestamp = nullptr;
  e.authentic_signing_time = Utc(2025, 3, 1);
  NotationTrust t = Trust(Level::kStrict, {}, {SaStore(), TsaStore()});
  Result r = Judge(e, t, Utc(2027, 1, 1));  // expired now: the authentic time is what counts
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.signer->scheme, SigningScheme::kX509SigningAuthority);
  EXPECT_EQ(r.signer->store, "acme-sa");
  EXPECT_FALSE(r.signer->timestamp.has_value());
  // Outside the validity.
  e.authentic_signing_time = Utc(2023, 3, 1);
  EXPECT_DENY(Judge(e, t), Reason::kBadTimestamp, 7,
              StrCat("authentic signing time 2023-03-01T00:00:00Z is before certificate \"",
                     SubjectText(P().leaf_ec.der), "\""));
  Result p = Judge(e, Trust(Level::kPermissive, {}, {SaStore()}));
  EXPECT_VERIFIED(p);
  EXPECT_THAT(p.logged, ElementsAre(HasSubstr("authenticTimestamp: authentic signing time")));
  // A signingAuthority signature needs a signingAuthority store: a ca store does not do.
  e.authentic_signing_time = Utc(2025, 3, 1);
  EXPECT_DENY(Judge(e, Trust(Level::kStrict)), Reason::kUntrustedCertificate, 4,
              "needs a trust store of type signingAuthority");
  // And a notary.x509 signature is not anchored by a signingAuthority store.
  EXPECT_DENY(Judge(Good(), Trust(Level::kStrict, {}, {SaStore(), TsaStore()})),
              Reason::kUntrustedCertificate, 4, "needs a trust store of type ca");
}

// ---- 8. revocation ----

TEST(VerifySignature, Revocation) {
  // The leaf revoked by the CA's CRL.
  NotationTrust strict = Trust(Level::kStrict, {}, {CaStore({P().crl_revoking_leaf}), TsaStore()});
  Result revoked = Judge(Good(), strict);
  EXPECT_DENY(revoked, Reason::kRevoked, 8, "signing chain: ");
  NotationTrust permissive =
      Trust(Level::kPermissive, {}, {CaStore({P().crl_revoking_leaf}), TsaStore()});
  Result logged = Judge(Good(), permissive);
  EXPECT_VERIFIED(logged);
  EXPECT_THAT(logged.logged, ElementsAre(HasSubstr("revocation: signing chain: ")));
  // No CRL: unknown, enforced under strict, logged under permissive, skipped on request.
  NotationTrust no_crl = Trust(Level::kStrict, {}, {CaStore({}), TsaStore()});
  EXPECT_DENY(Judge(Good(), no_crl), Reason::kRevocationUnchecked, 8, "acme-ca");
  Result p = Judge(Good(), Trust(Level::kPermissive, {}, {CaStore({}), TsaStore()}));
  EXPECT_VERIFIED(p);
  EXPECT_THAT(p.logged, ElementsAre(HasSubstr("revocation: signing chain: ")));
  Result skipped =
      Judge(Good(), Trust(Level::kStrict, {{"revocation", "skip"}}, {CaStore({}), TsaStore({})}));
  EXPECT_TRUE(skipped.ok()) << skipped.detail;
  EXPECT_THAT(skipped.logged, IsEmpty());
  Result as_log =
      Judge(Good(), Trust(Level::kStrict, {{"revocation", "log"}}, {CaStore({}), TsaStore({})}));
  EXPECT_VERIFIED(as_log);
  EXPECT_THAT(as_log.logged, SizeIs(2));  // the signing chain and the TSA chain
  // The TSA chain is checked too (when the timestamp was verified).
  Result tsa_revoked =
      Judge(Good(), Trust(Level::kStrict, {}, {CaStore(), TsaStore({P().tsa_crl_revoking})}));
  EXPECT_DENY(tsa_revoked, Reason::kRevoked, 8, "TSA chain: ");
  Result tsa_unknown = Judge(Good(), Trust(Level::kStrict, {}, {CaStore(), TsaStore({})}));
  EXPECT_DENY(tsa_unknown, Reason::kRevocationUnchecked, 8, "TSA chain: ");
  // A revocation decides before an unknown status.
  Result both = Judge(Good(), Trust(Level::kStrict, {},
                                    {CaStore({}), TsaStore({P().tsa_crl_revoking})}));
  EXPECT_DENY(both, Reason::kRevoked, 8, "TSA chain");
}

TEST(VerifySignature, AuditLogsEverything) {
  // Untrusted identity, expired signature, no timestamp, no CRL: audit admits with all four.
  EnvelopeSpec e = Good();
  e.expiry = Utc(2025, 6, 18);
  e.timestamp = nullptr;
  Result r = Judge(e, Trust(Level::kAudit, {}, {CaStore({}), TsaStore()},
                            {"x509.subject: C=US, ST=WA, O=other"}));
  EXPECT_VERIFIED(r);
  ASSERT_THAT(r.logged, SizeIs(4));
  EXPECT_THAT(r.logged[0], HasSubstr("authenticity:"));
  EXPECT_THAT(r.logged[1], HasSubstr("expiry:"));
  EXPECT_THAT(r.logged[2], HasSubstr("authenticTimestamp:"));
  EXPECT_THAT(r.logged[3], HasSubstr("revocation:"));
}

// ---- notation-go's timestamped envelopes ----

std::string Upstream(const std::string& rel) {
  absl::StatusOr<std::string> s = ReadFileLimited(
      StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/notation/upstream/notation-go/", rel),
      1 << 20, "fixture");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

std::string UpstreamDir(const std::string& rel) {
  return StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/notation/upstream/notation-go/", rel);
}

// notation-go's trust policy "test-timestamp": ca:valid-trust-store (here: the certificate the
// envelope is signed with, as that store holds it), tsa:test-timestamp, identities "*".
// Revocation skipped: the stores have no CRLs (notation-go's test uses OCSP online).
NotationTrust UpstreamTrust(const std::string& envelope, std::string_view media_type,
                            const std::string& tsa_dir = "truststore/x509/tsa/test-timestamp",
                            Level level = Level::kStrict) {
  absl::StatusOr<Envelope> env = ParseEnvelope(envelope, media_type);
  EXPECT_TRUE(env.ok()) << env.status();
  std::vector<std::shared_ptr<const TrustStore>> stores;
  if (env.ok()) {
    stores.push_back(MakeStore("valid-trust-store", StoreType::kCa, {env->certs_der.front()}));
  }
  if (!tsa_dir.empty()) {
    absl::StatusOr<TrustStore> tsa =
        LoadTrustStore(tsa_dir.substr(tsa_dir.rfind('/') + 1), StoreType::kTsa,
                       UpstreamDir(tsa_dir), "");
    EXPECT_TRUE(tsa.ok()) << tsa.status();
    if (tsa.ok()) stores.push_back(std::make_shared<const TrustStore>(*tsa));
  }
  return Trust(level, {{"revocation", "skip"}}, std::move(stores), {"*"});
}

Target UpstreamTarget() {
  Target t;
  t.media_type = "application/vnd.docker.distribution.manifest.v2+json";
  t.digest = *Digest::Parse(kDigest);
  t.size = 528;
  return t;
}

struct UpstreamCase {
  const char* file;
  std::string_view media_type;
  absl::Time gen_time;
};

TEST(VerifySignatureUpstream, TimestampedEnvelopesVerify) {
  const UpstreamCase cases[] = {
      {"jwsWithTimestamp.sig", kJwsMediaType, Utc(2024, 6, 18, 6, 29, 37)},
      {"coseWithTimestamp.sig", kCoseMediaType, Utc(2024, 6, 18, 6, 27, 16)},
      // Signed by a certificate valid for ten minutes; verified long after it expired.
      {"jwsExpiredWithTimestamp.sig", kJwsMediaType, Utc(2024, 6, 18, 7, 21, 42)},
      {"coseExpiredWithTimestamp.sig", kCoseMediaType, Utc(2024, 6, 18, 7, 21, 12)},
  };
  for (const UpstreamCase& c : cases) {
    SCOPED_TRACE(c.file);
    std::string env = Upstream(StrCat("timestamp/sigEnv/", c.file));
    Result r = VerifySignature(env, c.media_type, UpstreamTarget(),
                               UpstreamTrust(env, c.media_type), Utc(2025, 1, 1));
    ASSERT_TRUE(r.ok()) << r.detail;
    ASSERT_TRUE(r.signer->timestamp.has_value());
    EXPECT_EQ(*r.signer->timestamp, c.gen_time);
    EXPECT_THAT(r.detail, HasSubstr("Globalsign TSA for Advanced - G4 - 202311"));
    EXPECT_THAT(r.signer->subject, HasSubstr("O=Notary"));
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

TEST(VerifySignatureUpstream, ExpiredWithoutTsaStore) {
  // notation-go: "verification time is after certificate "CN=testTSA,..." validity period, it
  // was expired at "Tue, 18 Jun 2024 07:30:31 +0000"".
  std::string env = Upstream("timestamp/sigEnv/coseExpiredWithTimestamp.sig");
  Result r = VerifySignature(env, kCoseMediaType, UpstreamTarget(),
                             UpstreamTrust(env, kCoseMediaType, ""), Utc(2025, 1, 1));
  EXPECT_DENY(r, Reason::kUntrustedCertificate, 7,
              "is after certificate \"C=US, ST=WA, L=Seattle, O=Notary, CN=testTSA\" expired "
              "(notAfter 2024-06-18T07:30:31Z)");
  // afterCertExpiry: expired, so the timestamp is verified, and it holds.
  NotationTrust after = UpstreamTrust(env, kCoseMediaType);
  after.verify_timestamp = VerifyTimestamp::kAfterCertExpiry;
  EXPECT_TRUE(VerifySignature(env, kCoseMediaType, UpstreamTarget(), after, Utc(2025, 1, 1)).ok());
}

TEST(VerifySignatureUpstream, TimestampOutsideValidity) {
  // notation-go: "timestamp can be before certificate "CN=testTSA,..." validity period, it will
  // be valid from "Fri, 18 Sep 2099 11:54:34 +0000"".
  std::string before = Upstream("timestamp/sigEnv/timestampBeforeNotBefore.sig");
  Result b = VerifySignature(before, kJwsMediaType, UpstreamTarget(),
                             UpstreamTrust(before, kJwsMediaType), Utc(2025, 1, 1));
  EXPECT_DENY(b, Reason::kBadTimestamp, 7, "(notBefore 2099-09-18T11:54:34Z)");
  EXPECT_THAT(b.detail, HasSubstr("CN=testTSA"));
  // "... it was expired at "Tue, 18 Sep 2001 11:54:34 +0000"".
  std::string after = Upstream("timestamp/sigEnv/timestampAfterNotAfter.sig");
  Result a = VerifySignature(after, kCoseMediaType, UpstreamTarget(),
                             UpstreamTrust(after, kCoseMediaType), Utc(2025, 1, 1));
  EXPECT_DENY(a, Reason::kBadTimestamp, 7, "(notAfter 2001-09-18T11:54:34Z)");
}

TEST(VerifySignatureUpstream, WithoutTimestamp) {
  // notation-go: "no timestamp countersignature was found in the signature envelope".
  std::string env = Upstream("timestamp/sigEnv/withoutTimestamp.sig");
  Result r = VerifySignature(env, kJwsMediaType, UpstreamTarget(),
                             UpstreamTrust(env, kJwsMediaType), Utc(2025, 1, 1));
  EXPECT_DENY(r, Reason::kBadTimestamp, 7, "no timestamp countersignature");
  // Without a tsa store it verifies (the certificate is valid until 2033).
  Result ok = VerifySignature(env, kJwsMediaType, UpstreamTarget(),
                              UpstreamTrust(env, kJwsMediaType, ""), Utc(2025, 1, 1));
  EXPECT_TRUE(ok.ok()) << ok.detail;
  // The envelope's own store in the truststore directory is the same certificate.
  absl::StatusOr<TrustStore> vts = LoadTrustStore(
      "valid-trust-store", StoreType::kCa, UpstreamDir("truststore/x509/ca/valid-trust-store"), "");
  ASSERT_TRUE(vts.ok()) << vts.status();
  Result dir = VerifySignature(
      env, kJwsMediaType, UpstreamTarget(),
      Trust(Level::kStrict, {{"revocation", "skip"}}, {std::make_shared<const TrustStore>(*vts)},
            {"*"}),
      Utc(2025, 1, 1));
  EXPECT_TRUE(dir.ok()) << dir.detail;
}

TEST(VerifySignatureUpstream, UntrustedTsa) {
  // notation-go's tsa:test-mismatch: "certificate signed by unknown authority".
  std::string env = Upstream("timestamp/sigEnv/coseWithTimestamp.sig");
  Result r = VerifySignature(env, kCoseMediaType, UpstreamTarget(),
                             UpstreamTrust(env, kCoseMediaType, "truststore/x509/tsa/test-mismatch"),
                             Utc(2025, 1, 1));
  EXPECT_DENY(r, Reason::kBadTimestamp, 7, "TSA certificate chain");
  // Tampering with the envelope's payload target is caught before (step 3).
  Target other = UpstreamTarget();
  other.size = 1;
  EXPECT_DENY(VerifySignature(env, kCoseMediaType, other, UpstreamTrust(env, kCoseMediaType),
                              Utc(2025, 1, 1)),
              Reason::kSubjectMismatch, 3, "size is 528; the image's is 1");
}

}  // namespace
}  // namespace layerseal::notation

namespace layerseal::notation {
namespace {

// A chain with an intermediate that expires before the leaf: messages name the intermediate,
// and a timestamp inside every certificate's validity keeps the signature valid after it.
TEST(VerifySignature, IntermediateValidityIsNamed) {
  TestCert inter = MakeCert({"C=US,ST=WA,O=acme,CN=acme intermediate", CertKind::kCa,
                             Utc(2023, 1, 1), Utc(2025, 9, 1)},
                            NewEcKey(NID_X9_62_prime256v1), &P().root);
  TestCert leaf = MakeCert({"C=US,ST=WA,O=acme,CN=acme leaf", CertKind::kCodeSigning,
                            Utc(2024, 1, 1), Utc(2026, 1, 1)},
                           NewEcKey(NID_X9_62_prime256v1), &inter);
  EnvelopeSpec e = Good();
  e.chain = {leaf.der, inter.der, P().root.der};
  e.key = leaf.key;
  EnvelopeSpec no_ts = e;
  no_ts.timestamp = nullptr;
  const Overrides skip_rev = {{"revocation", "skip"}};
  Result r = Judge(no_ts, Trust(Level::kStrict, skip_rev, {CaStore()}), Utc(2025, 10, 1));
  EXPECT_DENY(r, Reason::kUntrustedCertificate, 7,
              "verification time 2025-10-01T00:00:00Z is after certificate \"C=US, ST=WA, "
              "O=acme, CN=acme intermediate\" expired (notAfter 2025-09-01T00:00:00Z)");
  Result ts = Judge(e, Trust(Level::kStrict, skip_rev), Utc(2025, 10, 1));
  EXPECT_TRUE(ts.ok()) << ts.detail;
  EXPECT_EQ(ts.signer->issuer, "C=US, ST=WA, O=acme, CN=acme intermediate");
  // A timestamp after the intermediate's expiry (the leaf still valid) is refused.
  e.timestamp = Tsa(Utc(2025, 9, 15));
  EXPECT_DENY(Judge(e, Trust(Level::kStrict, skip_rev), Utc(2025, 10, 1)), Reason::kBadTimestamp,
              7, "is after certificate \"C=US, ST=WA, O=acme, CN=acme intermediate\"");
  // Revocation needs a CRL from each issuer: the root's covers the intermediate, nothing
  // covers the leaf.
  e.timestamp = Tsa();
  Result rev = Judge(e, Trust(Level::kStrict), Utc(2025, 8, 1));
  EXPECT_DENY(rev, Reason::kRevocationUnchecked, 8, "signing chain: ");
}

}  // namespace
}  // namespace layerseal::notation
