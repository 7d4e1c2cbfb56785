// verifier/notation/trust.h: trust store directories (certificates made here with OpenSSL and
// written as PEM, DER and multi-certificate PEM), trustedIdentities as notation parses them,
// identity matching against real certificates, and the levels/overrides table.
#include "verifier/notation/trust.h"

#include <openssl/err.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/support/notation_x509_certs.h"
#include "verifier/notation/x509.h"

namespace layerseal::notation {
namespace {

using namespace ::layerseal::testing::notation_x509;  // NOLINT

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// ---- stores --------------------------------------------------------------------------------

TEST(NotationTrustStoreTest, LoadsPemDerAndMultiPemInFileNameOrder) {
  X509TempDir dir;
  Pki a(nullptr, "a"), b(nullptr, "b");
  std::string store = dir / "acme";
  std::filesystem::create_directory(store);
  WriteFile(store + "/b-root.der", Der(b.root.get()));
  WriteFile(store + "/a-both.PEM", Pem(a.root.get()) + Pem(a.inter.get()));
  WriteFile(store + "/c-inter.cer", Pem(b.inter.get()));
  WriteFile(store + "/readme.txt", "not a certificate");
  std::filesystem::create_directory(store + "/sub");
  WriteFile(store + "/sub/x.pem", "garbage");
  absl::StatusOr<TrustStore> s = LoadTrustStore("acme", StoreType::kCa, store, "");
  ASSERT_TRUE(s.ok()) << s.status();
  // ".der" is not a certificate file name: only .pem/.crt/.cer count.
  ASSERT_EQ(s->certs_der.size(), 3u);
  EXPECT_EQ(s->certs_der[0], Der(a.root.get()));
  EXPECT_EQ(s->certs_der[1], Der(a.inter.get()));
  EXPECT_EQ(s->certs_der[2], Der(b.inter.get()));
  ASSERT_EQ(s->thumbprints.size(), 3u);
  EXPECT_EQ(s->thumbprints[0], Thumbprint(Der(a.root.get())));
  EXPECT_EQ(s->thumbprints[0].size(), 64u);
  EXPECT_EQ(s->name, "acme");
  EXPECT_EQ(s->type, StoreType::kCa);
  EXPECT_EQ(s->dir, store);
  EXPECT_TRUE(s->crls_der.empty());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationTrustStoreTest, LoadsDerCertificatesOneAfterAnother) {
  X509TempDir dir;
  Pki a;
  WriteFile(dir / "two.crt", Der(a.root.get()) + Der(a.inter.get()));
  absl::StatusOr<TrustStore> s = LoadTrustStore("x", StoreType::kSigningAuthority, dir.path(), "");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->certs_der.size(), 2u);
  EXPECT_EQ(s->certs_der[1], Der(a.inter.get()));
  EXPECT_NE(s->anchors, nullptr);
  // The same certificate in a second file is harmless.
  WriteFile(dir / "two-again.pem", Pem(a.root.get()));
  s = LoadTrustStore("x", StoreType::kSigningAuthority, dir.path(), "");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->certs_der.size(), 3u);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationTrustStoreTest, SelfSignedLeafIsAcceptedNonCaNonSelfSignedIsRefused) {
  X509TempDir dir;
  Pki a;
  KeyPtr k = SharedKey("P-256");
  CertPtr self = MakeCert({.subject = Subject("self-signed leaf"), .key = k.get(),
                           .exts = LeafExts()});
  WriteFile(dir / "self.pem", Pem(self.get()));
  absl::StatusOr<TrustStore> s = LoadTrustStore("x", StoreType::kCa, dir.path(), "");
  ASSERT_TRUE(s.ok()) << s.status();

  WriteFile(dir / "z-leaf.pem", Pem(a.leaf.get()));
  s = LoadTrustStore("x", StoreType::kCa, dir.path(), "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "z-leaf.pem")) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "is not a CA certificate")) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "CN=test leaf")) << s.status();
}

TEST(NotationTrustStoreTest, TsaStoreHoldsOnlyRootCertificates) {
  X509TempDir dir;
  Pki a;
  WriteFile(dir / "root.pem", Pem(a.root.get()));
  ASSERT_TRUE(LoadTrustStore("t", StoreType::kTsa, dir.path(), "").ok());
  WriteFile(dir / "inter.pem", Pem(a.inter.get()));  // a CA, but not a root
  absl::StatusOr<TrustStore> s = LoadTrustStore("t", StoreType::kTsa, dir.path(), "");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "not a root certificate")) << s.status();
  // The same directory is fine as a ca store.
  EXPECT_TRUE(LoadTrustStore("t", StoreType::kCa, dir.path(), "").ok());
}

TEST(NotationTrustStoreTest, SymlinksAreRefused) {
  X509TempDir dir;
  Pki a;
  std::filesystem::create_directory(dir / "real");
  WriteFile(dir / "real/root.pem", Pem(a.root.get()));
  std::filesystem::create_directory_symlink(dir / "real", dir / "link");
  absl::StatusOr<TrustStore> s = LoadTrustStore("x", StoreType::kCa, dir / "link", "");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "symlink")) << s.status();

  std::filesystem::create_symlink(dir / "real/root.pem", dir / "real/alias.pem");
  s = LoadTrustStore("x", StoreType::kCa, dir / "real", "");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "\"alias.pem\" is a symlink")) << s.status();
}

TEST(NotationTrustStoreTest, EmptyMissingOversizedAndGarbageAreRefused) {
  X509TempDir dir;
  std::filesystem::create_directory(dir / "empty");
  WriteFile(dir / "empty/notes.txt", "hello");
  absl::StatusOr<TrustStore> s = LoadTrustStore("e", StoreType::kCa, dir / "empty", "");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "holds no certificate")) << s.status();

  s = LoadTrustStore("m", StoreType::kCa, dir / "missing", "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << s.status();

  std::filesystem::create_directory(dir / "big");
  WriteFile(dir / "big/huge.pem", std::string(kMaxTrustStoreFileBytes + 1, 'A'));
  s = LoadTrustStore("b", StoreType::kCa, dir / "big", "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "huge.pem")) << s.status();

  std::filesystem::create_directory(dir / "junk");
  WriteFile(dir / "junk/junk.crt", "\x30\x03\x02\x01\x01");
  s = LoadTrustStore("j", StoreType::kCa, dir / "junk", "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "does not parse")) << s.status();

  WriteFile(dir / "junk/junk.crt", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  s = LoadTrustStore("j", StoreType::kCa, dir / "junk", "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "PRIVATE KEY")) << s.status();

  WriteFile(dir / "junk/junk.crt", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
  s = LoadTrustStore("j", StoreType::kCa, dir / "junk", "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();

  WriteFile(dir / "junk/junk.crt", "");
  s = LoadTrustStore("j", StoreType::kCa, dir / "junk", "");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationTrustStoreTest, TooManyCertificatesAreRefused) {
  X509TempDir dir;
  Pki a;
  std::string one = Pem(a.root.get());
  std::string many;
  for (size_t i = 0; i < kMaxTrustStoreCertificates; ++i) many += one;
  WriteFile(dir / "a.pem", many);
  ASSERT_TRUE(LoadTrustStore("x", StoreType::kCa, dir.path(), "").ok());
  WriteFile(dir / "b.pem", one);
  absl::StatusOr<TrustStore> s = LoadTrustStore("x", StoreType::kCa, dir.path(), "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
}

TEST(NotationTrustStoreTest, CrlFileIsLoadedPemOrDer) {
  X509TempDir dir;
  Pki a;
  WriteFile(dir / "root.pem", Pem(a.root.get()));
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::string c1 = MakeCrl(a.root.get(), a.root_key.get(), {5}, t0, t0 + absl::Hours(24));
  std::string c2 = MakeCrl(a.inter.get(), a.inter_key.get(), {}, t0, t0 + absl::Hours(24));
  WriteFile(dir / "crl.pem.x", CrlPem(c1) + CrlPem(c2));
  absl::StatusOr<TrustStore> s = LoadTrustStore("x", StoreType::kCa, dir.path(), dir / "crl.pem.x");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->crls_der.size(), 2u);
  EXPECT_EQ(s->crls_der[0], c1);
  EXPECT_EQ(s->crl_path, dir / "crl.pem.x");

  WriteFile(dir / "crl.der.x", c1 + c2);
  s = LoadTrustStore("x", StoreType::kCa, dir.path(), dir / "crl.der.x");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->crls_der.size(), 2u);

  WriteFile(dir / "bad.x", "not a crl");
  s = LoadTrustStore("x", StoreType::kCa, dir.path(), dir / "bad.x");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "bad.x")) << s.status();
  s = LoadTrustStore("x", StoreType::kCa, dir.path(), dir / "nope.crl");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound) << s.status();
}

TEST(NotationTrustStoreTest, StoreTypeNames) {
  EXPECT_EQ(*ParseStoreType("ca"), StoreType::kCa);
  EXPECT_EQ(*ParseStoreType("signingAuthority"), StoreType::kSigningAuthority);
  EXPECT_EQ(*ParseStoreType("tsa"), StoreType::kTsa);
  EXPECT_EQ(StoreTypeName(StoreType::kSigningAuthority), "signingAuthority");
  absl::StatusOr<StoreType> bad = ParseStoreType("CA");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "\"CA\"")) << bad.status();
  EXPECT_FALSE(ParseStoreType("signingauthority").ok());
}

// ---- identities ----------------------------------------------------------------------------

using Attrs = std::vector<std::pair<std::string, std::string>>;

TEST(NotationIdentityTest, ParsesDnsAsNotationDoes) {
  absl::StatusOr<TrustedIdentity> id =
      ParseTrustedIdentity("x509.subject: C=US, ST=WA, L=Seattle, O=wabbit-networks.io, OU=Finance, CN=SecureBuilder");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_FALSE(id->any);
  EXPECT_EQ(id->attributes, (Attrs{{"C", "US"}, {"ST", "WA"}, {"L", "Seattle"},
                                   {"O", "wabbit-networks.io"}, {"OU", "Finance"},
                                   {"CN", "SecureBuilder"}}));
  // S is ST; no space after the colon; escapes; a trailing escaped space.
  id = ParseTrustedIdentity(R"(x509.subject:C=US,S=WA,O=acme\, inc.\;x\\y,CN=a\20b\ )");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->attributes, (Attrs{{"C", "US"}, {"ST", "WA"}, {"O", "acme, inc.;x\\y"},
                                   {"CN", "a b "}}));
  // Type names in any case, E and dotted OIDs.
  id = ParseTrustedIdentity("x509.subject: c=US, st=WA, o=acme, E=a@b.c, 2.5.4.11=eng");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->attributes, (Attrs{{"C", "US"}, {"ST", "WA"}, {"O", "acme"},
                                   {"emailAddress", "a@b.c"}, {"OU", "eng"}}));
  id = ParseTrustedIdentity("*");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->any);
  EXPECT_EQ(id->text, "*");
}

TEST(NotationIdentityTest, RefusesWhatNotationRefuses) {
  struct Case {
    std::string text;
    std::string want;
  };
  std::vector<Case> cases = {
      {"x509.subject: ST=WA, O=acme", "has no C attribute"},
      {"x509.subject: C=US, O=acme", "has no ST attribute"},
      {"x509.subject: C=US, ST=WA, CN=x", "has no O attribute"},
      {"x509.subject: C=US, ST=WA, S=OR, O=acme", "ST appears more than once"},
      {"x509.subject: C=US+ST=WA, O=acme", "multi-valued"},
      {"x509.subject: C=US, ST=WA, O=#0403616263", "=#"},
      {"x509.subject: C=US, ST=WA, O=a\\qb", "bad escape"},
      {"x509.subject: C=US, ST=WA, O=ab\\", "lone"},
      {"x509.subject: C=US, ST=WA, O=", "empty value"},
      {"x509.subject: C=US, ST=WA, O=acme,", "ends in a separator"},
      {"x509.subject: C=US, ST=WA, Foo=x, O=acme", "unknown attribute type \"Foo\""},
      {"x509.subject: C=US, ST=WA, acme", "no '='"},
      {"x509.subject: C=US, ST=WA, O=\\ff", "not valid UTF-8"},
      {"x509.subject:", "empty distinguished name"},
      {"x509.subject:   ", "empty distinguished name"},
      {"x509.issuer: C=US, ST=WA, O=acme", "unknown prefix \"x509.issuer\""},
      {"C=US, ST=WA, O=acme", "no ':'"},
      {"x509.subject C=US: ST=WA, O=acme", "unknown prefix"},
      {"acme", "no ':'"},
      {"", "no ':'"},
      {"x509.subject: C=US, ST=WA, O=" + std::string(kMaxIdentityLength, 'a'), "at most"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TrustedIdentity> id = ParseTrustedIdentity(c.text);
    ASSERT_FALSE(id.ok()) << c.text;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_TRUE(absl::StrContains(id.status().message(), c.want))
        << c.text << " -> " << id.status() << " (wanted " << c.want << ")";
  }
}

TEST(NotationIdentityTest, ListRules) {
  ASSERT_TRUE(ParseTrustedIdentities({"*"}).ok());
  ASSERT_TRUE(ParseTrustedIdentities({"x509.subject: C=US, ST=WA, O=a",
                                      "x509.subject: C=US, ST=WA, O=b"})
                  .ok());
  auto err = [](const std::vector<std::string>& v) {
    absl::StatusOr<std::vector<TrustedIdentity>> r = ParseTrustedIdentities(v);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : Msg(r.status());
  };
  EXPECT_TRUE(absl::StrContains(err({}), "empty"));
  EXPECT_TRUE(absl::StrContains(err({"*", "x509.subject: C=US, ST=WA, O=a"}), "wildcard"));
  EXPECT_TRUE(absl::StrContains(err({"*", "*"}), "wildcard"));
  // A subset overlaps: every certificate matching the longer one matches the shorter one too.
  std::string m = err({"x509.subject: C=US, ST=WA, O=a", "x509.subject: C=US, ST=WA, O=a, CN=x"});
  EXPECT_TRUE(absl::StrContains(m, "overlaps")) << m;
  EXPECT_TRUE(absl::StrContains(err({"x509.subject: C=US, ST=WA, O=a", "x509.subject: O=a, S=WA, C=US"}),
                                "overlaps"));
  EXPECT_TRUE(absl::StrContains(err({"x509.subject: C=US, ST=WA, O=a", "bad"}), "bad"));
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxTrustedIdentities; ++i) {
    many.push_back("x509.subject: C=US, ST=WA, O=o" + std::to_string(i));
  }
  EXPECT_TRUE(absl::StrContains(err(many), "at most"));
  many.pop_back();
  EXPECT_TRUE(ParseTrustedIdentities(many).ok());
}

TEST(NotationIdentityTest, MatchesLeafSubjects) {
  KeyPtr k = SharedKey("P-256");
  CertPtr leaf = MakeCert({.subject = {{"C", "US"}, {"ST", "WA"}, {"L", "Seattle"},
                                       {"O", "acme, inc."}, {"CN", "builder \xC3\xA9"}},
                           .key = k.get(), .exts = LeafExts()});
  std::string der = Der(leaf.get());
  auto id = [](const std::string& t) {
    absl::StatusOr<TrustedIdentity> r = ParseTrustedIdentity(t);
    EXPECT_TRUE(r.ok()) << t << ": " << r.status();
    return r.ok() ? *r : TrustedIdentity{};
  };
  EXPECT_TRUE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme\\, inc."), der));
  EXPECT_TRUE(IdentityMatches(id("x509.subject: O=acme\\, inc., S=WA, C=US"), der));
  EXPECT_TRUE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme\\, inc., CN=builder \xC3\xA9"), der));
  EXPECT_TRUE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme\\2c inc., CN=builder \\c3\\a9"), der));
  EXPECT_FALSE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme\\, inc., CN=builder"), der));
  EXPECT_FALSE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=Acme\\, inc."), der));
  EXPECT_FALSE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme\\, inc., OU=x"), der));
  EXPECT_FALSE(IdentityMatches(id("x509.subject: C=US, ST=OR, O=acme\\, inc."), der));
  EXPECT_TRUE(IdentityMatches(id("*"), der));
  EXPECT_FALSE(IdentityMatches(id("*"), "garbage"));
  EXPECT_FALSE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme\\, inc."), der + "x"));

  // Two OUs in the leaf: notation cannot parse such a subject, so nothing but "*" matches.
  CertPtr two = MakeCert({.subject = {{"C", "US"}, {"ST", "WA"}, {"O", "acme"}, {"OU", "a"}, {"OU", "b"}},
                          .key = k.get(), .exts = LeafExts()});
  EXPECT_FALSE(IdentityMatches(id("x509.subject: C=US, ST=WA, O=acme"), Der(two.get())));
  EXPECT_TRUE(IdentityMatches(id("*"), Der(two.get())));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationIdentityTest, SubjectTextInCertificateOrderWithEscapes) {
  KeyPtr k = SharedKey("P-256");
  CertPtr leaf = MakeCert({.subject = {{"C", "US"}, {"ST", "WA"}, {"O", "acme, inc."},
                                       {"emailAddress", "a@b.c"}, {"CN", " x"}},
                           .key = k.get()});
  std::string text = SubjectText(Der(leaf.get()));
  EXPECT_EQ(text, R"(C=US, ST=WA, O=acme\, inc., emailAddress=a@b.c, CN=\ x)");
  // The text parses back into an identity matching the certificate.
  absl::StatusOr<TrustedIdentity> id = ParseTrustedIdentity("x509.subject: " + text);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(IdentityMatches(*id, Der(leaf.get())));
  EXPECT_EQ(SubjectText("nope"), "");
}

// ---- levels --------------------------------------------------------------------------------

TEST(NotationLevelTest, TableRows) {
  struct Row {
    Level level;
    Action authenticity, timestamp, expiry, revocation;
  };
  const Action E = Action::kEnforce, L = Action::kLog, S = Action::kSkip;
  for (const Row& r : {Row{Level::kStrict, E, E, E, E}, Row{Level::kPermissive, E, L, L, L},
                       Row{Level::kAudit, L, L, L, L}, Row{Level::kSkip, S, S, S, S}}) {
    Actions a = ActionsFor(r.level);
    EXPECT_EQ(a.authenticity, r.authenticity) << LevelName(r.level);
    EXPECT_EQ(a.authentic_timestamp, r.timestamp) << LevelName(r.level);
    EXPECT_EQ(a.expiry, r.expiry) << LevelName(r.level);
    EXPECT_EQ(a.revocation, r.revocation) << LevelName(r.level);
    absl::StatusOr<Level> parsed = ParseLevel(LevelName(r.level));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r.level);
  }
  EXPECT_FALSE(ParseLevel("Strict").ok());
  EXPECT_FALSE(ParseLevel("").ok());
  EXPECT_EQ(ActionName(Action::kLog), "log");
}

TEST(NotationLevelTest, Overrides) {
  absl::StatusOr<Actions> a = ApplyOverrides(Level::kStrict, {{"revocation", "skip"}, {"expiry", "log"}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->revocation, Action::kSkip);
  EXPECT_EQ(a->expiry, Action::kLog);
  EXPECT_EQ(a->authenticity, Action::kEnforce);
  a = ApplyOverrides(Level::kAudit, {{"authenticity", "enforce"}, {"authenticTimestamp", "enforce"}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->authenticity, Action::kEnforce);
  EXPECT_EQ(a->authentic_timestamp, Action::kEnforce);
  EXPECT_EQ(a->revocation, Action::kLog);
  a = ApplyOverrides(Level::kSkip, {});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->authenticity, Action::kSkip);

  struct Bad {
    Level level;
    std::vector<std::pair<std::string, std::string>> overrides;
    std::string want;
  };
  for (const Bad& b : std::vector<Bad>{
           {Level::kStrict, {{"integrity", "log"}}, "integrity"},
           {Level::kStrict, {{"authenticity", "skip"}}, "authenticity cannot be skipped"},
           {Level::kStrict, {{"expiry", "skip"}}, "cannot be skipped"},
           {Level::kStrict, {{"authenticTimestamp", "skip"}}, "cannot be skipped"},
           {Level::kStrict, {{"revocation", "ignore"}}, "\"ignore\""},
           {Level::kStrict, {{"Revocation", "log"}}, "\"Revocation\""},
           {Level::kStrict, {{"expiry", "log"}, {"expiry", "enforce"}}, "twice"},
           {Level::kSkip, {{"revocation", "log"}}, "skip"},
       }) {
    absl::StatusOr<Actions> r = ApplyOverrides(b.level, b.overrides);
    ASSERT_FALSE(r.ok()) << b.want;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(r.status().message(), b.want)) << r.status() << " / " << b.want;
  }
}

}  // namespace
}  // namespace layerseal::notation
