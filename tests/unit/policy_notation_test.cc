// The policy's Notary Project fields (issue 20, docs/policy.md "Notary Project signatures"):
// top-level trustStores, the scope's notation member, `exact: true` scopes; and
// ImportNotationTrustPolicy (`layerseal policy import --notation-trust-policy`). One test per
// load-time rule, each checking the line and field the message names; trust stores hold
// certificates made in-process with OpenSSL (tests/support/notation_x509_certs.h) on disk.
#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/notation_x509_certs.h"
#include "verifier/digest.h"
#include "verifier/notation/trust.h"
#include "verifier/policy.h"
#include "verifier/policy_import.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

namespace nx = testing::notation_x509;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string PublicPem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string Thumbprint(const std::string& der) {
  std::string hex = Digest::Sha256Of(der).str();
  return hex.substr(hex.find(':') + 1);
}

// A policy directory with three trust stores (ca, signingAuthority, tsa) and a CRL.
class PolicyNotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = std::make_unique<nx::Pki>(nullptr, "acme");
    sa_ = std::make_unique<nx::Pki>(nullptr, "sa");
    tsa_root_ = nx::MakeCert({.subject = nx::Subject("tsa root"), .key = nx::SharedKey("P-256").get(),
                              .exts = nx::CaExts()});
    for (const char* d : {"truststore/x509/ca/acme", "truststore/x509/signingAuthority/sa",
                          "truststore/x509/tsa/ts", "crl", "empty"}) {
      std::filesystem::create_directories(dir_ / d);
    }
    nx::WriteFile(dir_ / "truststore/x509/ca/acme/root.pem", nx::Pem(ca_->root.get()));
    nx::WriteFile(dir_ / "truststore/x509/ca/acme/README", "not a certificate: ignored");
    nx::WriteFile(dir_ / "truststore/x509/signingAuthority/sa/root.CRT", nx::Der(sa_->root.get()));
    nx::WriteFile(dir_ / "truststore/x509/tsa/ts/tsa.cer", nx::Pem(tsa_root_.get()));
    nx::WriteFile(dir_ / "crl/acme.crl",
                  nx::MakeCrl(ca_->root.get(), ca_->root_key.get(), {}, absl::FromUnixSeconds(1700000000),
                              absl::FromUnixSeconds(1700000000 + 3650 * 86400)));
  }

  absl::StatusOr<Policy> Load(const std::string& yaml) {
    return Policy::Parse(yaml, dir_.path(), "policy.yaml");
  }
  std::string Error(const std::string& yaml) {
    absl::StatusOr<Policy> p = Load(yaml);
    EXPECT_FALSE(p.ok()) << yaml;
    return p.ok() ? "" : std::string(p.status().message());
  }

  static constexpr char kStores[] =
      "version: 1\n"                                                                   // 1
      "trustStores:\n"                                                                 // 2
      "  acme-ca: {type: ca, path: truststore/x509/ca/acme, crl: crl/acme.crl}\n"      // 3
      "  acme-sa: {type: signingAuthority, path: truststore/x509/signingAuthority/sa}\n"  // 4
      "  acme-tsa: {type: tsa, path: truststore/x509/tsa/ts}\n"                        // 5
      "default: {requirement: reject}\n"                                               // 6
      "scopes:\n"                                                                      // 7
      "  registry.example.com/app:\n";                                                 // 8
  // kStores and a scope whose lines start at line 9.
  std::string WithScope(const std::string& body) { return StrCat(kStores, body); }

  nx::X509TempDir dir_;
  std::unique_ptr<nx::Pki> ca_, sa_;
  nx::CertPtr tsa_root_;
};

constexpr char kGoodScope[] =
    "    requirement: signed\n"                                      // 9
    "    signatures: [notation]\n"                                   // 10
    "    exact: true\n"                                              // 11
    "    notation:\n"                                                // 12
    "      level: strict\n"                                          // 13
    "      override: {revocation: log, expiry: log}\n"               // 14
    "      verifyTimestamp: afterCertExpiry\n"                       // 15
    "      trustStores: [acme-ca, acme-sa, acme-tsa]\n"              // 16
    "      trustedIdentities: [\"x509.subject: C=US, ST=WA, O=acme\"]\n";  // 17

TEST_F(PolicyNotationTest, FullScopeLoads) {
  absl::StatusOr<Policy> p = Load(WithScope(kGoodScope));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->scopes().size(), 1u);
  const ScopePolicy& s = p->scopes()[0];
  EXPECT_EQ(s.signatures, std::vector<SignatureKind>{SignatureKind::kNotation});
  EXPECT_TRUE(s.exact);
  ASSERT_NE(s.notation, nullptr);
  const notation::NotationTrust& t = *s.notation;
  EXPECT_EQ(t.level, notation::Level::kStrict);
  EXPECT_EQ(t.actions.authenticity, notation::Action::kEnforce);
  EXPECT_EQ(t.actions.authentic_timestamp, notation::Action::kEnforce);
  EXPECT_EQ(t.actions.expiry, notation::Action::kLog);
  EXPECT_EQ(t.actions.revocation, notation::Action::kLog);
  EXPECT_EQ(t.verify_timestamp, notation::VerifyTimestamp::kAfterCertExpiry);
  ASSERT_EQ(t.stores.size(), 3u);
  EXPECT_EQ(t.stores[0]->name, "acme-ca");
  EXPECT_EQ(t.stores[0]->type, notation::StoreType::kCa);
  EXPECT_EQ(t.stores[0]->crls_der.size(), 1u);
  EXPECT_EQ(t.stores[1]->type, notation::StoreType::kSigningAuthority);
  EXPECT_EQ(t.stores[2]->type, notation::StoreType::kTsa);
  ASSERT_EQ(t.identities.size(), 1u);
  EXPECT_FALSE(t.identities[0].any);
  // The ca and signingAuthority roots, not the tsa's: what discovery pre-selects by.
  EXPECT_THAT(t.trusted_thumbprints,
              ElementsAre(Thumbprint(nx::Der(ca_->root.get())), Thumbprint(nx::Der(sa_->root.get()))));
  // Every certificate file and the CRL are watched; the README is not read, so not watched.
  EXPECT_THAT(p->key_files(), ElementsAre(dir_ / "truststore/x509/ca/acme/root.pem", dir_ / "crl/acme.crl",
                                          dir_ / "truststore/x509/signingAuthority/sa/root.CRT",
                                          dir_ / "truststore/x509/tsa/ts/tsa.cer"));
  EXPECT_THAT(p->trust_store_dirs(),
              ElementsAre(dir_ / "truststore/x509/ca/acme", dir_ / "truststore/x509/signingAuthority/sa",
                          dir_ / "truststore/x509/tsa/ts"));
  // Other scopes keep their defaults.
  EXPECT_EQ(p->default_scope().notation, nullptr);
  EXPECT_FALSE(p->default_scope().exact);
}

TEST_F(PolicyNotationTest, LevelsAndCombinedKinds) {
  absl::StatusOr<Policy> p = Load(WithScope(
      "    requirement: signed\n"
      "    signatures: [notation]\n"
      "    notation: {level: audit, trustStores: [acme-ca], trustedIdentities: [\"*\"]}\n"
      "  registry.example.com/skip:\n"
      "    requirement: signed\n"
      "    signatures: [notation]\n"
      "    notation: {level: skip}\n"));
  ASSERT_TRUE(p.ok()) << p.status();
  const notation::NotationTrust& audit = *p->scopes()[0].notation;
  EXPECT_EQ(audit.level, notation::Level::kAudit);
  EXPECT_EQ(audit.actions.authenticity, notation::Action::kLog);
  EXPECT_EQ(audit.verify_timestamp, notation::VerifyTimestamp::kAlways);
  ASSERT_EQ(audit.identities.size(), 1u);
  EXPECT_TRUE(audit.identities[0].any);
  const notation::NotationTrust& skip = *p->scopes()[1].notation;
  EXPECT_EQ(skip.level, notation::Level::kSkip);
  EXPECT_EQ(skip.actions.authenticity, notation::Action::kSkip);
  EXPECT_TRUE(skip.stores.empty());
  EXPECT_TRUE(skip.identities.empty());
  EXPECT_TRUE(skip.trusted_thumbprints.empty());

  // notation beside seal (keys) and in the default scope.
  nx::WriteFile(dir_ / "k.pub", PublicPem(nx::SharedKey("P-256").get()));
  absl::StatusOr<Policy> both = Load(
      "version: 1\n"
      "keys: {k: {path: k.pub}}\n"
      "trustStores: {acme-ca: {type: ca, path: truststore/x509/ca/acme}}\n"
      "default: {requirement: signed, signatures: [seal, notation], keys: [k],\n"
      "          notation: {level: permissive, trustStores: [acme-ca], trustedIdentities: [\"*\"]}}\n");
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_TRUE(both->default_scope().Accepts(SignatureKind::kSeal));
  EXPECT_TRUE(both->default_scope().Accepts(SignatureKind::kNotation));
  ASSERT_NE(both->default_scope().notation, nullptr);
  EXPECT_EQ(both->default_scope().notation->actions.expiry, notation::Action::kLog);
}

// Each rule of the notation member, with the line and field it names.
TEST_F(PolicyNotationTest, NotationMemberErrors) {
  auto scope = [&](const std::string& notation_line, const std::string& signatures = "[notation]") {
    return Error(WithScope(StrCat("    requirement: signed\n    signatures: ", signatures, "\n",
                                  "    notation:", notation_line)));  // line 11
  };
  const std::string at = "policy.yaml:11: scopes[\"registry.example.com/app\"].notation";
  EXPECT_EQ(scope(" {level: strict, trustStores: [acme-ca], trustedIdentities: [\"*\"]}\n", "[seal]"),
            StrCat(at, ": notation applies only to notation signatures: add notation to signatures"));
  EXPECT_EQ(Error(WithScope("    requirement: signed\n    signatures: [notation]\n")),
            "policy.yaml:10: scopes[\"registry.example.com/app\"].signatures: notation signatures need "
            "the scope's notation member (level, trustStores, trustedIdentities)");
  EXPECT_THAT(scope(" {level: strict, trustStore: [acme-ca]}\n"),
              StartsWith(StrCat(at, ".trustStore: unknown field (expected one of: level, override, "
                                "verifyTimestamp, trustStores, trustedIdentities)")));
  EXPECT_EQ(scope(" {trustStores: [acme-ca], trustedIdentities: [\"*\"]}\n"),
            StrCat(at, ": missing field \"level\" (strict, permissive, audit or skip)"));
  EXPECT_EQ(scope(" {level: lax}\n"),
            StrCat(at, ".level: unknown value \"lax\" (expected one of: strict, permissive, audit, skip)"));
  EXPECT_EQ(scope(" {level: strict, trustStores: [nope], trustedIdentities: [\"*\"]}\n"),
            StrCat(at, ".trustStores[0]: unknown trust store \"nope\" (names from the top-level trustStores)"));
  EXPECT_EQ(scope(" {level: strict, trustStores: [acme-tsa], trustedIdentities: [\"*\"]}\n"),
            StrCat(at, ".trustStores: no trust store of type ca or signingAuthority (a tsa store only "
                       "vouches for timestamps, never for the signer)"));
  EXPECT_EQ(scope(" {level: strict, trustStores: [acme-ca, acme-ca], trustedIdentities: [\"*\"]}\n"),
            StrCat(at, ".trustStores[1]: \"acme-ca\" is listed twice"));
  EXPECT_THAT(scope(" {level: strict, trustStores: [acme-ca]}\n"),
              StartsWith(StrCat(at, ": missing field \"trustedIdentities\"")));
  EXPECT_THAT(scope(" {level: strict, trustedIdentities: [\"*\"]}\n"),
              StartsWith(StrCat(at, ": missing field \"trustStores\"")));
  EXPECT_THAT(scope(" {level: strict, trustStores: [], trustedIdentities: [\"*\"]}\n"),
              StartsWith(StrCat(at, ".trustStores: an empty list")));
  EXPECT_EQ(scope(" {level: skip, override: {revocation: log}}\n"),
            StrCat(at, ".override: override does not apply to level skip (nothing is verified)"));
  EXPECT_THAT(scope(" {level: skip, trustStores: [acme-ca]}\n"),
              StartsWith(StrCat(at, ".trustStores: trustStores does not apply to level skip")));
  EXPECT_THAT(scope(" {level: skip, trustedIdentities: [\"*\"]}\n"),
              StartsWith(StrCat(at, ".trustedIdentities: trustedIdentities does not apply to level skip")));
  EXPECT_THAT(scope(" {level: strict, override: {integrity: log}, trustStores: [acme-ca], "
                    "trustedIdentities: [\"*\"]}\n"),
              StartsWith(StrCat(at, ".override[\"integrity\"]: ")));
  EXPECT_THAT(scope(" {level: strict, override: {expiry: skip}, trustStores: [acme-ca], "
                    "trustedIdentities: [\"*\"]}\n"),
              StartsWith(StrCat(at, ".override[\"expiry\"]: ")));
  EXPECT_THAT(scope(" {level: strict, override: [revocation], trustStores: [acme-ca], "
                    "trustedIdentities: [\"*\"]}\n"),
              StartsWith(StrCat(at, ".override: expected a map")));
  EXPECT_EQ(scope(" {level: strict, verifyTimestamp: never, trustStores: [acme-ca], "
                  "trustedIdentities: [\"*\"]}\n"),
            StrCat(at, ".verifyTimestamp: unknown value \"never\" (expected one of: always, afterCertExpiry)"));
  // Identities: each entry by its own rules, then the list's.
  EXPECT_THAT(scope(" {level: strict, trustStores: [acme-ca], trustedIdentities: [\"x509.subject: C=US, O=acme\"]}\n"),
              StartsWith(StrCat(at, ".trustedIdentities[0]: ")));
  EXPECT_THAT(scope(" {level: strict, trustStores: [acme-ca], trustedIdentities: [\"*\", \"x509.subject: "
                    "C=US, ST=WA, O=acme\"]}\n"),
              StartsWith(StrCat(at, ".trustedIdentities: ")));
  EXPECT_THAT(scope(" {level: strict, trustStores: [acme-ca], trustedIdentities: [\"x509.subject: C=US, ST=WA, "
                    "O=acme\", \"x509.subject: C=US, ST=WA, O=acme, CN=x\"]}\n"),
              StartsWith(StrCat(at, ".trustedIdentities: ")));
  // keys mean nothing to notation alone.
  nx::WriteFile(dir_ / "k.pub", PublicPem(nx::SharedKey("P-256").get()));
  EXPECT_EQ(Error(StrCat("version: 1\nkeys: {k: {path: k.pub}}\n", std::string(kStores).substr(11),
                         "    requirement: signed\n    signatures: [notation]\n    keys: [k]\n"
                         "    notation: {level: skip}\n")),
            "policy.yaml:12: scopes[\"registry.example.com/app\"].keys: keys apply only to seal and cosign "
            "signatures (notation signatures are trusted through trustStores and trustedIdentities)");
}

TEST_F(PolicyNotationTest, NotationOnlyUnderSigned) {
  for (const char* req : {"reject", "insecureAcceptAnything"}) {
    EXPECT_EQ(Error(WithScope(StrCat("    requirement: ", req, "\n    notation: {level: skip}\n"))),
              StrCat("policy.yaml:10: scopes[\"registry.example.com/app\"].notation: notation applies only to "
                     "requirement signed, not ", req));
  }
}

TEST_F(PolicyNotationTest, TrustStoreErrors) {
  auto store = [&](const std::string& entry) {
    return Error(StrCat("version: 1\ntrustStores:\n  ", entry, "\ndefault: {requirement: reject}\n"));
  };
  EXPECT_EQ(store("bad/name: {type: ca, path: truststore/x509/ca/acme}"),
            "policy.yaml:3: trustStores[\"bad/name\"]: a trust store name is 1 to 64 of A-Z a-z 0-9 . _ -");
  EXPECT_THAT(store("s: {type: root, path: truststore/x509/ca/acme}"),
              StartsWith("policy.yaml:3: trustStores[\"s\"].type: "));
  EXPECT_THAT(store("s: {path: truststore/x509/ca/acme}"),
              StartsWith("policy.yaml:3: trustStores[\"s\"]: missing field \"type\""));
  EXPECT_THAT(store("s: {type: ca}"), StartsWith("policy.yaml:3: trustStores[\"s\"]: missing field \"path\""));
  EXPECT_EQ(store("s: {type: ca, path: \"\"}"), "policy.yaml:3: trustStores[\"s\"].path: empty path");
  EXPECT_THAT(store("s: {type: ca, path: truststore/x509/ca/acme, pem: x}"),
              StartsWith("policy.yaml:3: trustStores[\"s\"].pem: unknown field (expected one of: type, path, crl)"));
  EXPECT_THAT(store("s: {type: ca, path: truststore/x509/ca/missing}"),
              AllOf(StartsWith("policy.yaml:3: trustStores[\"s\"].path: "), HasSubstr("truststore/x509/ca/missing")));
  EXPECT_THAT(store("s: {type: ca, path: empty}"), StartsWith("policy.yaml:3: trustStores[\"s\"].path: "));
  EXPECT_THAT(store("s: {type: ca, path: truststore/x509/ca/acme, crl: crl/missing.crl}"),
              AllOf(StartsWith("policy.yaml:3: trustStores[\"s\"].crl: "), HasSubstr("crl/missing.crl")));
  // A tsa store holds roots only (trust.h).
  std::filesystem::create_directories(dir_ / "notroot");
  nx::WriteFile(dir_ / "notroot/inter.pem", nx::Pem(ca_->inter.get()));
  EXPECT_TRUE(Load("version: 1\ntrustStores:\n  s: {type: ca, path: notroot}\ndefault: {requirement: reject}\n").ok());
  EXPECT_THAT(store("s: {type: tsa, path: notroot}"), StartsWith("policy.yaml:3: trustStores[\"s\"].path: "));
  EXPECT_TRUE(Load("version: 1\ntrustStores:\n  s: {type: tsa, path: truststore/x509/tsa/ts}\n"
                   "default: {requirement: reject}\n").ok());
  std::string many = "version: 1\ntrustStores:\n";
  for (size_t i = 0; i <= notation::kMaxTrustStores; ++i) {
    many += StrCat("  s", i, ": {type: ca, path: truststore/x509/ca/acme}\n");
  }
  EXPECT_EQ(Error(many + "default: {requirement: reject}\n"),
            StrCat("policy.yaml:2: trustStores: more than ", notation::kMaxTrustStores, " trust stores"));
}

// A certificate or CRL replaced under the same path keeps version() but not trust_version().
TEST_F(PolicyNotationTest, TrustVersionCoversCertificatesAndCrls) {
  std::string yaml = WithScope(kGoodScope);
  absl::StatusOr<Policy> a = Load(yaml);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<Policy> same = Load(yaml);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->trust_version(), a->trust_version());

  nx::Pki other(nullptr, "other");
  nx::WriteFile(dir_ / "truststore/x509/ca/acme/root.pem", nx::Pem(other.root.get()));
  absl::StatusOr<Policy> b = Load(yaml);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->version(), a->version());
  EXPECT_NE(b->trust_version(), a->trust_version());

  nx::WriteFile(dir_ / "crl/acme.crl",
                nx::MakeCrl(ca_->root.get(), ca_->root_key.get(), {42}, absl::FromUnixSeconds(1700000000),
                            absl::FromUnixSeconds(1700000000 + 3650 * 86400)));
  absl::StatusOr<Policy> c = Load(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(c->trust_version(), b->trust_version());

  // A new certificate file in a store directory is read at the next load, and watched.
  nx::WriteFile(dir_ / "truststore/x509/ca/acme/second.crt", nx::Pem(ca_->inter.get()));
  absl::StatusOr<Policy> d = Load(yaml);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_NE(d->trust_version(), c->trust_version());
  EXPECT_EQ(d->scopes()[0].notation->stores[0]->certs_der.size(), 2u);
  EXPECT_NE(std::find(d->key_files().begin(), d->key_files().end(), dir_ / "truststore/x509/ca/acme/second.crt"),
            d->key_files().end());

  // A policy without trust stores keeps the trust version it had before they existed: only
  // its version and keys count.
  absl::StatusOr<Policy> plain = Load("version: 1\ndefault: {requirement: reject}\n");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->trust_version(), Digest::Sha256Of(plain->version()).str());
}

// `exact: true`: the repository only; below it the next most specific scope, or default.
TEST_F(PolicyNotationTest, ExactScopesResolve) {
  absl::StatusOr<Policy> p = Load(
      "version: 1\n"
      "default: {requirement: reject}\n"
      "scopes:\n"
      "  registry.example.com/app: {requirement: insecureAcceptAnything, exact: true}\n"
      "  registry.example.com/app/*: {requirement: insecureAcceptAnything, mode: warn}\n"
      "  registry.example.com/lib: {requirement: insecureAcceptAnything, exact: false}\n"
      "  other.example.com/a/b: {requirement: insecureAcceptAnything, exact: true}\n"
      "  other.example.com: {requirement: insecureAcceptAnything, mode: audit}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  auto resolve = [&](const std::string& ref) {
    absl::StatusOr<Reference> r = Reference::Parse(ref);
    EXPECT_TRUE(r.ok()) << ref;
    return p->Resolve(*r).scope;
  };
  EXPECT_EQ(resolve("registry.example.com/app:1"), "registry.example.com/app");
  EXPECT_EQ(resolve("REGISTRY.example.com/app@sha256:" + std::string(64, 'a')), "registry.example.com/app");
  EXPECT_EQ(resolve("registry.example.com/app/sub:1"), "registry.example.com/app/*");
  EXPECT_EQ(resolve("registry.example.com/app/sub/deeper:1"), "registry.example.com/app/*");
  EXPECT_EQ(resolve("registry.example.com/apps:1"), "default");
  EXPECT_EQ(resolve("registry.example.com/lib/sub:1"), "registry.example.com/lib");  // not exact
  EXPECT_EQ(resolve("other.example.com/a/b:1"), "other.example.com/a/b");
  EXPECT_EQ(resolve("other.example.com/a/b/c:1"), "other.example.com");
  EXPECT_EQ(resolve("other.example.com/a:1"), "other.example.com");
  EXPECT_TRUE(p->scopes()[0].exact);
  EXPECT_FALSE(p->scopes()[2].exact);

  // Without a broader scope, below an exact one is the default's.
  absl::StatusOr<Policy> q = Load(
      "version: 1\ndefault: {requirement: reject}\n"
      "scopes:\n  registry.example.com/app: {requirement: insecureAcceptAnything, exact: true}\n");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Resolve(*Reference::Parse("registry.example.com/app/x:1")).scope, "default");
  EXPECT_EQ(q->Resolve(*Reference::Parse("registry.example.com/app:1")).scope, "registry.example.com/app");
}

TEST_F(PolicyNotationTest, ExactErrors) {
  auto scope = [&](const std::string& name, const std::string& exact) {
    return Error(StrCat("version: 1\ndefault: {requirement: reject}\nscopes:\n  \"", name,
                        "\": {requirement: reject, exact: ", exact, "}\n"));
  };
  const char* kNotRepo = "exact applies only to a repository scope without '*' (registry.example.com/app), "
                         "not to a registry or a wildcard";
  EXPECT_EQ(scope("registry.example.com", "true"),
            StrCat("policy.yaml:4: scopes[\"registry.example.com\"].exact: ", kNotRepo));
  EXPECT_EQ(scope("*.example.com", "true"), StrCat("policy.yaml:4: scopes[\"*.example.com\"].exact: ", kNotRepo));
  EXPECT_EQ(scope("registry.example.com/a*", "true"),
            StrCat("policy.yaml:4: scopes[\"registry.example.com/a*\"].exact: ", kNotRepo));
  EXPECT_EQ(scope("registry.example.com/*/b", "true"),
            StrCat("policy.yaml:4: scopes[\"registry.example.com/*/b\"].exact: ", kNotRepo));
  EXPECT_EQ(scope("registry.example.com/a", "yes"),
            "policy.yaml:4: scopes[\"registry.example.com/a\"].exact: expected true or false, got \"yes\"");
  EXPECT_EQ(Error("version: 1\ndefault: {requirement: reject, exact: true}\n"),
            "policy.yaml:2: default.exact: exact applies only to a repository scope (default matches what "
            "no scope does)");
  // The ambiguity check still holds: an exact scope is a literal name like any other.
  EXPECT_THAT(Error("version: 1\ndefault: {requirement: reject}\nscopes:\n"
                    "  registry.example.com/a: {requirement: reject, exact: true}\n"
                    "  registry.example.com/a: {requirement: reject}\n"),
              HasSubstr("duplicate key"));
  EXPECT_THAT(Error("version: 1\ndefault: {requirement: reject}\nscopes:\n"
                    "  registry.example.com/a*/x: {requirement: reject}\n"
                    "  registry.example.com/*b/x: {requirement: reject}\n"),
              HasSubstr("as specific as"));
}

// ---- ImportNotationTrustPolicy ----

// An in-memory trust store directory for the importer's callbacks.
struct FakeStores {
  std::map<std::string, std::vector<DirEntry>> dirs;
  std::map<std::string, std::string> files;
  NotationImportOptions Options() const {
    NotationImportOptions o;
    o.trust_store = "/ts";
    o.list_dir = [this](const std::string& dir, size_t) -> absl::StatusOr<std::vector<DirEntry>> {
      auto it = dirs.find(dir);
      if (it == dirs.end()) return absl::NotFoundError(StrCat(dir, ": missing"));
      return it->second;
    };
    o.read_file = [this](const std::string& path, size_t max) -> absl::StatusOr<std::string> {
      auto it = files.find(path);
      if (it == files.end()) return absl::NotFoundError(StrCat(path, ": missing"));
      if (it->second.size() > max) return absl::ResourceExhaustedError(StrCat(path, ": too large"));
      return it->second;
    };
    return o;
  }
  void Add(const std::string& dir, const std::string& name, const std::string& bytes) {
    dirs[dir].push_back(DirEntry{name, DirEntry::Type::kFile});
    files[StrCat(dir, "/", name)] = bytes;
  }
};

class NotationImportTest : public PolicyNotationTest {
 protected:
  void SetUp() override {
    PolicyNotationTest::SetUp();
    fs_.Add("/ts/x509/ca/acme-rockets", "root.pem", nx::Pem(ca_->root.get()));
    fs_.Add("/ts/x509/ca/acme-rockets", "GlobalSign.der", nx::Der(sa_->root.get()));
    fs_.Add("/ts/x509/signingAuthority/wabbit", "sa.crt", nx::Pem(sa_->root.get()));
    fs_.Add("/ts/x509/tsa/trusted-tsa", "tsa.cer", nx::Pem(tsa_root_.get()));
  }
  absl::StatusOr<ImportedPolicy> Import(const std::string& json) {
    return ImportNotationTrustPolicy(json, fs_.Options());
  }
  std::string Error(const std::string& json) {
    absl::StatusOr<ImportedPolicy> r = Import(json);
    EXPECT_FALSE(r.ok()) << json;
    return r.ok() ? "" : std::string(r.status().message());
  }
  // Writes the import into a fresh directory and loads it as the CLI does.
  absl::StatusOr<Policy> Written(const ImportedPolicy& imported, const std::string& sub) {
    std::string out = dir_ / sub;
    for (const ImportedFile& f : imported.files) {
      std::filesystem::create_directories(std::filesystem::path(StrCat(out, "/", f.path)).parent_path());
      nx::WriteFile(StrCat(out, "/", f.path), f.contents);
    }
    std::filesystem::create_directories(out);
    nx::WriteFile(out + "/policy.yaml", imported.yaml);
    return Policy::LoadFile(out + "/policy.yaml");
  }
  FakeStores fs_;
};

// The spec's example 2 (specs/trust-store-trust-policy.md), with a global policy added.
constexpr char kSpecExample[] = R"({
  "version": "1.0",
  "trustPolicies": [
    {
      "name": "wabbit-networks-images",
      "registryScopes": ["registry.acme-rockets.io/software/net-monitor",
                         "registry.acme-rockets.io/software/net-logger"],
      "signatureVerification": {"level": "strict", "override": {"revocation": "log"},
                                "verifyTimestamp": "afterCertExpiry"},
      "trustStores": ["ca:acme-rockets", "signingAuthority:wabbit", "tsa:trusted-tsa"],
      "trustedIdentities": ["x509.subject: C=US, ST=WA, L=Seattle, O=wabbit-networks.io, OU=Security Tools"]
    },
    {
      "name": "unsigned-image",
      "registryScopes": ["registry.wabbit-networks.io/software/unsigned/net-utils"],
      "signatureVerification": {"level": "skip"}
    },
    {
      "name": "global-policy-for-all-other-images",
      "registryScopes": ["*"],
      "signatureVerification": {"level": "audit"},
      "trustStores": ["ca:acme-rockets"],
      "trustedIdentities": ["*"]
    }
  ]
})";

TEST_F(NotationImportTest, SpecExampleImportsAndLoads) {
  absl::StatusOr<ImportedPolicy> r = Import(kSpecExample);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->yaml, HasSubstr(
      "trustStores:\n"
      "  ca-acme-rockets: {type: ca, path: truststore/x509/ca/acme-rockets}\n"
      "  signingAuthority-wabbit: {type: signingAuthority, path: truststore/x509/signingAuthority/wabbit}\n"
      "  tsa-trusted-tsa: {type: tsa, path: truststore/x509/tsa/trusted-tsa}\n"));
  EXPECT_THAT(r->yaml, HasSubstr(
      "default: {requirement: signed, signatures: [notation], notation: {level: audit, trustStores: "
      "[ca-acme-rockets], trustedIdentities: [\"*\"]}}\n"));
  EXPECT_THAT(r->yaml, HasSubstr(
      "  \"registry.acme-rockets.io/software/net-monitor\": {requirement: signed, signatures: [notation], "
      "exact: true, notation: {level: strict, override: {revocation: log}, verifyTimestamp: afterCertExpiry, "
      "trustStores: [ca-acme-rockets, signingAuthority-wabbit, tsa-trusted-tsa], trustedIdentities: "
      "[\"x509.subject: C=US, ST=WA, L=Seattle, O=wabbit-networks.io, OU=Security Tools\"]}}\n"));
  EXPECT_THAT(r->yaml, HasSubstr(
      "  \"registry.wabbit-networks.io/software/unsigned/net-utils\": {requirement: signed, signatures: "
      "[notation], exact: true, notation: {level: skip}}\n"));
  std::vector<std::string> paths;
  for (const ImportedFile& f : r->files) paths.push_back(f.path);
  // A file that LoadTrustStore would not read (.der) is copied as .crt.
  EXPECT_THAT(paths, ElementsAre("truststore/x509/ca/acme-rockets/GlobalSign.der.crt",
                                 "truststore/x509/ca/acme-rockets/root.pem",
                                 "truststore/x509/signingAuthority/wabbit/sa.crt",
                                 "truststore/x509/tsa/trusted-tsa/tsa.cer"));
  EXPECT_EQ(r->files[0].contents, nx::Der(sa_->root.get()));

  absl::StatusOr<Policy> p = Written(*r, "out");
  ASSERT_TRUE(p.ok()) << p.status() << "\n" << r->yaml;
  ASSERT_EQ(p->scopes().size(), 3u);
  const ScopePolicy& monitor = p->scopes()[0];
  EXPECT_TRUE(monitor.exact);
  ASSERT_NE(monitor.notation, nullptr);
  EXPECT_EQ(monitor.notation->actions.revocation, notation::Action::kLog);
  EXPECT_EQ(monitor.notation->stores.size(), 3u);
  EXPECT_EQ(monitor.notation->trusted_thumbprints.size(), 2u);  // ca root and sa root (the .der is the sa root too)
  EXPECT_EQ(p->scopes()[2].notation->level, notation::Level::kSkip);
  EXPECT_EQ(p->default_scope().notation->level, notation::Level::kAudit);
  // Exact: a repository below a notation scope is the global policy's, as in notation.
  EXPECT_EQ(p->Resolve(*Reference::Parse("registry.acme-rockets.io/software/net-monitor:1")).scope,
            "registry.acme-rockets.io/software/net-monitor");
  EXPECT_EQ(p->Resolve(*Reference::Parse("registry.acme-rockets.io/software/net-monitor/x:1")).scope, "default");
}

TEST_F(NotationImportTest, WithoutGlobalPolicyTheDefaultRejects) {
  absl::StatusOr<ImportedPolicy> r = Import(R"({"version": "1.0", "trustPolicies": [
    {"name": "a", "registryScopes": ["localhost:5000/app"], "signatureVerification": {"level": "skip"}}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->yaml, HasSubstr("default: {requirement: reject}\n"));
  EXPECT_TRUE(r->files.empty());
  absl::StatusOr<Policy> p = Policy::Parse(r->yaml, dir_.path(), "imported");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->scopes()[0].scope, "localhost:5000/app");
}

// Names and identities are written in plain ASCII: no text of the input can break the YAML.
TEST_F(NotationImportTest, TextIsEscaped) {
  absl::StatusOr<ImportedPolicy> r = Import(R"({"version": "1.0", "trustPolicies": [
    {"name": "x\u0085default: {requirement: insecureAcceptAnything}\n\"", "registryScopes": ["r.example.com/a"],
     "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme-rockets"],
     "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Ünïcode \ud83d\ude00"]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  for (char c : r->yaml) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << static_cast<int>(c);
  EXPECT_THAT(r->yaml, HasSubstr("O=\\u00DCn\\u00EFcode \\U0001F600\""));
  EXPECT_THAT(r->yaml, HasSubstr("# trustPolicies[0] \"x\\u0085default: {requirement: insecureAcceptAnything}\\u000A\\\"\"\n"));
  absl::StatusOr<Policy> p = Written(*r, "escaped");
  ASSERT_TRUE(p.ok()) << p.status() << "\n" << r->yaml;
  EXPECT_EQ(p->default_scope().requirement, Requirement::kReject);
  ASSERT_EQ(p->scopes().size(), 1u);
  ASSERT_EQ(p->scopes()[0].notation->identities.size(), 1u);
  EXPECT_EQ(p->scopes()[0].notation->identities[0].text, "x509.subject: C=US, ST=WA, O=Ünïcode \xF0\x9F\x98\x80");
}

TEST_F(NotationImportTest, ErrorsNameTheJsonPath) {
  auto one = [&](const std::string& statement) {
    return Error(StrCat(R"({"version": "1.0", "trustPolicies": [)", statement, "]}"));
  };
  const std::string ok_rest =
      R"("signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme-rockets"], "trustedIdentities": ["*"])";
  EXPECT_EQ(Error(R"({"version": "2.0", "trustPolicies": []})"), "version: unsupported version \"2.0\" (1.0 only)");
  EXPECT_EQ(Error(R"({"version": "1.0", "trustPolicies": [], "x": 1})"), "x: not supported by layerseal policy import");
  EXPECT_EQ(Error(R"({"version": "1.0", "trustPolicies": []})"), "trustPolicies: an empty list (notation refuses it)");
  EXPECT_EQ(Error(R"({"version": "1.0"})"), "trustPolicies: missing");
  EXPECT_EQ(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com/a"], "extra": 1, )", ok_rest, "}")),
            "trustPolicies[0].extra: not supported by layerseal policy import");
  EXPECT_EQ(one(StrCat(R"({"registryScopes": ["r.example.com/a"], )", ok_rest, "}")), "trustPolicies[0].name: missing");
  EXPECT_EQ(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com/a"], )", ok_rest, R"(}, {"name": "a", "registryScopes": ["r.example.com/b"], )", ok_rest, "}")),
            "trustPolicies[1].name: \"a\" is also the name of trustPolicies[0]");
  EXPECT_EQ(one(StrCat(R"({"name": "a", "registryScopes": ["*"], )", ok_rest, R"(}, {"name": "b", "registryScopes": ["*"], )", ok_rest, "}")),
            "trustPolicies[1].registryScopes[0]: a second global policy (the first is trustPolicies[0].registryScopes[0])");
  EXPECT_EQ(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com/a", "*"], )", ok_rest, "}")),
            "trustPolicies[0].registryScopes[1]: '*' (the global policy) cannot be combined with other scopes");
  EXPECT_THAT(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com/*"], )", ok_rest, "}")),
              StartsWith("trustPolicies[0].registryScopes[0]: '*' only as the whole scope"));
  EXPECT_THAT(one(StrCat(R"({"name": "a", "registryScopes": ["*.example.com"], )", ok_rest, "}")),
              StartsWith("trustPolicies[0].registryScopes[0]: '*' only as the whole scope"));
  EXPECT_EQ(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com/a"], )", ok_rest, R"(}, {"name": "b", "registryScopes": ["r.example.com/b", "r.example.com/a"], )", ok_rest, "}")),
            "trustPolicies[1].registryScopes[1]: \"r.example.com/a\" is also trustPolicies[0].registryScopes[0] "
            "(notation refuses a scope in two statements)");
  EXPECT_THAT(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com"], )", ok_rest, "}")),
              StartsWith("trustPolicies[0].registryScopes[0]: not a canonical repository name"));
  EXPECT_THAT(one(StrCat(R"({"name": "a", "registryScopes": ["docker.io/nginx"], )", ok_rest, "}")),
              StartsWith("trustPolicies[0].registryScopes[0]: not a canonical repository name"));
  EXPECT_THAT(one(StrCat(R"({"name": "a", "registryScopes": ["r.example.com/a:v1"], )", ok_rest, "}")),
              StartsWith("trustPolicies[0].registryScopes[0]: "));
  EXPECT_THAT(one(StrCat(R"({"name": "a", "registryScopes": ["R.example.com/a"], )", ok_rest, "}")),
              StartsWith("trustPolicies[0].registryScopes[0]: "));
  EXPECT_EQ(one(R"({"name": "a", "registryScopes": [], "signatureVerification": {"level": "skip"}})"),
            "trustPolicies[0].registryScopes: an empty list (notation refuses it)");
  // signatureVerification
  const std::string scope = R"("name": "a", "registryScopes": ["r.example.com/a"], )";
  EXPECT_EQ(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict", "x": 1}})")),
            "trustPolicies[0].signatureVerification.x: not supported by layerseal policy import");
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "lax"}})")),
              StartsWith("trustPolicies[0].signatureVerification.level: "));
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict", "override": {"integrity": "log"}}, "trustStores": ["ca:acme-rockets"], "trustedIdentities": ["*"]})")),
              StartsWith("trustPolicies[0].signatureVerification.override.integrity: "));
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "skip", "override": {"revocation": "log"}}})")),
              StartsWith("trustPolicies[0].signatureVerification.override.revocation: "));
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict", "verifyTimestamp": "never"}, "trustStores": ["ca:acme-rockets"], "trustedIdentities": ["*"]})")),
              StartsWith("trustPolicies[0].signatureVerification.verifyTimestamp: unknown value"));
  // trust stores and identities
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "skip"}, "trustStores": ["ca:acme-rockets"]})")),
              StartsWith("trustPolicies[0].trustStores: level skip takes no trust stores"));
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme-rockets"]})")),
              StartsWith("trustPolicies[0].trustedIdentities: missing or empty"));
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict"}, "trustedIdentities": ["*"]})")),
              StartsWith("trustPolicies[0].trustStores: missing or empty"));
  auto stores = [&](const std::string& list) {
    return one(StrCat("{", scope, R"("signatureVerification": {"level": "strict"}, "trustedIdentities": ["*"], "trustStores": )", list, "}"));
  };
  EXPECT_THAT(stores(R"(["root:acme-rockets"])"), StartsWith("trustPolicies[0].trustStores[0]: "));
  EXPECT_THAT(stores(R"(["acme-rockets"])"), StartsWith("trustPolicies[0].trustStores[0]: \"acme-rockets\" is not <type>:<name>"));
  EXPECT_THAT(stores(R"(["ca:.."])"), StartsWith("trustPolicies[0].trustStores[0]: the store name \"..\""));
  EXPECT_THAT(stores(R"(["ca:a/b"])"), StartsWith("trustPolicies[0].trustStores[0]: the store name \"a/b\""));
  EXPECT_EQ(stores(R"(["ca:acme-rockets", "ca:missing"])"),
            "trustPolicies[0].trustStores[1]: the trust store directory /ts/x509/ca/missing does not exist");
  EXPECT_EQ(stores(R"(["tsa:trusted-tsa"])"),
            "trustPolicies[0].trustStores: no trust store of type ca or signingAuthority (a tsa store only vouches "
            "for timestamps)");
  // A store named twice is the same trust as once; an empty verifyTimestamp is the default.
  absl::StatusOr<ImportedPolicy> twice = Import(StrCat(R"({"version": "1.0", "trustPolicies": [{)", scope,
      R"("signatureVerification": {"level": "strict", "verifyTimestamp": ""}, "trustedIdentities": ["*"], )"
      R"("trustStores": ["ca:acme-rockets", "ca:acme-rockets"]}]})"));
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_THAT(twice->yaml, HasSubstr("notation: {level: strict, trustStores: [ca-acme-rockets], trustedIdentities: [\"*\"]}"));
  EXPECT_EQ(twice->files.size(), 2u);
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme-rockets"], "trustedIdentities": ["x509.subject: C=US"]})")),
              StartsWith("trustPolicies[0].trustedIdentities[0]: "));
  EXPECT_THAT(one(StrCat("{", scope, R"("signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme-rockets"], "trustedIdentities": ["*", "x509.subject: C=US, ST=WA, O=a"]})")),
              StartsWith("trustPolicies[0].trustedIdentities: "));

  // What notation refuses in a store directory.
  fs_.dirs["/ts/x509/ca/sub"] = {DirEntry{"dir", DirEntry::Type::kDirectory}};
  fs_.dirs["/ts/x509/ca/link"] = {DirEntry{"a.pem", DirEntry::Type::kSymlink}};
  fs_.dirs["/ts/x509/ca/empty"] = {};
  fs_.Add("/ts/x509/ca/clash", "a.der", "x");
  fs_.Add("/ts/x509/ca/clash", "a.der.crt", "y");
  fs_.Add("/ts/x509/ca/big", "a.pem", std::string(notation::kMaxTrustStoreFileBytes + 1, 'x'));
  EXPECT_EQ(stores(R"(["ca:sub"])"),
            "trustPolicies[0].trustStores[0]: /ts/x509/ca/sub/dir is not a regular file (notation refuses "
            "directories and symlinks in a trust store)");
  EXPECT_THAT(stores(R"(["ca:link"])"), HasSubstr("/ts/x509/ca/link/a.pem is not a regular file"));
  EXPECT_EQ(stores(R"(["ca:empty"])"), "trustPolicies[0].trustStores[0]: the trust store directory /ts/x509/ca/empty is empty");
  EXPECT_THAT(stores(R"(["ca:clash"])"), HasSubstr("would be copied as a.der.crt"));
  EXPECT_THAT(stores(R"(["ca:big"])"), StartsWith("trustPolicies[0].trustStores[0]: /ts/x509/ca/big/a.pem: too large"));
  fs_.dirs["/ts/x509/ca/evil"] = {DirEntry{"../x", DirEntry::Type::kFile}};
  EXPECT_THAT(stores(R"(["ca:evil"])"), HasSubstr("lists a bad file name \"../x\""));
  // Not JSON, or duplicate members.
  EXPECT_FALSE(Import("{").ok());
  EXPECT_FALSE(Import(R"({"version": "1.0", "version": "1.0", "trustPolicies": []})").ok());
}

}  // namespace
}  // namespace layerseal
