// Notary Project (notation) signatures in a real registry, through `layerseal verify` (issue 20
// "Proof"). docker-registry 2.8 has no referrers API, so notation attaches its signature
// manifests through the referrers fallback tag `sha256-<hex>` (tests/support/notation_images.h
// writes them as notation does); the referrers API form is served by the tests' own registry
// (tests/support/referrers_registry.h). The envelopes come from the offline fixtures
// (tests/fixtures/notation/make_fixtures.py: a CA, an intermediate, leaves, a TSA answering with
// `openssl ts -reply`), made at suite start over the image this test pushes. Each case is judged
// through the CLI with a policy in the decided syntax (trustStores + scope `notation:`), and its
// verdict, reason and a fragment of the detail are asserted.
//
// Cases: JWS and COSE admitted under strict (with CRLs), permissive, audit, and strict with
// `override: {revocation: log}`; the other key types (EC P-384, RSA 3072); skip admitting an
// unsigned image; expired (strict: SIGNATURE_EXPIRED; permissive: ALLOW, logged); untrusted
// identity (UNTRUSTED_IDENTITY; audit: ALLOW, logged); tampered payload (BAD_SIGNATURE, also
// under audit); wrong artifact size (SUBJECT_MISMATCH); an unknown critical header
// (MALFORMED_SIGNATURE); a timestamp outside the leaf's validity (BAD_TIMESTAMP); strict without
// a CRL (REVOCATION_UNCHECKED); a revoked leaf (REVOKED); an expired leaf without a timestamp and
// with one taken while it was valid; verifyTimestamp afterCertExpiry; the signingAuthority
// scheme; the OCI 1.0 form; the referrers API; a huge x5c chain; 1,000 signature entries whose
// thumbprint annotations lie.
//
// Needs Debian's python3-cryptography and python3-cbor2 (scripts/setup) and the openssl CLI.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/cosign_images.h"
#include "tests/support/images.h"
#include "tests/support/notation_images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/referrers_registry.h"
#include "tests/support/registry_server.h"
#include "verifier/notation/discovery.h"

namespace layerseal {
namespace {

using testing::NotationEnvelope;
using testing::RegistryServer;
using testing::RunResult;
using testing::TempDir;
using testing::TestImage;

const std::string kFixturesSrc = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/notation");

// Debian's interpreter (python3-cryptography, python3-cbor2), not whatever python3 is first on
// the PATH (a pyenv one may lack cbor2).
std::string Python() { return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct Verdict {
  int exit_code = -1;
  std::string verdict, reason, detail;
  std::string signer_kind, signer_subject, signer_issuer, key_id;
  std::string raw;
};

// A scope's notation settings (the policy syntax of docs/policy.md).
struct Notation {
  std::string level = "strict";
  std::vector<std::string> stores = {"acme", "acme-tsa"};
  std::string identities;  // YAML list; "" = the fixtures' signer
  std::string extra;       // more `notation:` members, e.g. "override: {revocation: log}"
};

class NotationRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = RegistryServer::Start({.log_requests = true});
    if (!server.ok()) {
      setup_error_ = server.status().ToString();
      return;
    }
    server_ = server->release();
    dir_ = new TempDir();
    out_ = dir_->File("fixtures");
    app_ = testing::MakeBaseImage({.seed = "notation-app"});
    const testing::CosignSubject s = testing::SubjectOf(app_);
    absl::Time start = absl::Now();
    absl::StatusOr<RunResult> made =
        testing::Run({Python(), kFixturesSrc + "/make_fixtures.py", "--out", out_, "--target",
                      StrCat("app=", s.media_type, ",", s.digest.str(), ",", s.size), "--short-lived-seconds", "10"},
                     "", absl::Minutes(2));
    if (!made.ok() || made->exit_code != 0) {
      setup_error_ = StrCat("make_fixtures.py failed: ", made.ok() ? made->out + made->err : made.status().ToString());
      return;
    }
    std::cerr << "make_fixtures.py took " << absl::ToDoubleSeconds(absl::Now() - start) << " s\n";
    index_ = nlohmann::json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    server_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static Reference Repo(const std::string& host, const std::string& repo) {
    absl::StatusOr<Reference> r = Reference::Parse(StrCat(host, "/", repo, ":latest"));
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }
  std::string Ref(const std::string& repo) const { return StrCat(server_->host(), "/", repo, ":latest"); }

  static NotationEnvelope Fixture(const std::string& name) {
    absl::StatusOr<NotationEnvelope> e = testing::LoadNotationFixture(out_, "app", name);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : NotationEnvelope{};
  }
  static nlohmann::json Meta(const std::string& name) {
    return nlohmann::json::parse(testing::ReadFileOrDie(StrCat(out_, "/app/", name, ".json")));
  }

  void PushImage(const std::string& repo) {
    registry::RegistryClient client(server_->ClientOptions());
    absl::Status s = testing::PushTestImage(client, Repo(server_->host(), repo), app_);
    ASSERT_TRUE(s.ok()) << s;
  }
  // Pushes the image to `repo` and attaches fixture `name` (when not empty) as notation does.
  void PushSigned(const std::string& repo, const std::string& name,
                  testing::NotationForm form = testing::NotationForm::kOci11,
                  testing::NotationEntry entry = testing::NotationEntry::kFull) {
    PushImage(repo);
    if (name.empty()) return;
    registry::RegistryClient client(server_->ClientOptions());
    TestImage sig = testing::MakeNotationSignature(testing::SubjectOf(app_), Fixture(name), form);
    absl::Status s = testing::AttachNotationSignature(client, Repo(server_->host(), repo), app_.digest, sig, entry);
    ASSERT_TRUE(s.ok()) << s;
  }

  // A policy in the fixtures dir (the trust stores are relative to it) with one notation scope
  // for host/repo.
  std::string Policy(const std::string& repo, const Notation& n, std::string host = "") {
    if (host.empty()) host = server_->host();
    std::string identities = n.identities;
    if (identities.empty()) identities = StrCat("[\"", index_["identity"].get<std::string>(), "\"]");
    std::string stores;
    for (const std::string& s : n.stores) stores += (stores.empty() ? "" : ", ") + s;
    if (!stores.empty()) stores = StrCat("      trustStores: [", stores, "]\n");
    if (identities == "none") identities.clear();
    if (!identities.empty()) identities = StrCat("      trustedIdentities: ", identities, "\n");
    std::string policy = StrCat(out_, "/policy-", policies_++, ".yaml");
    testing::WriteFileOrDie(
        policy,
        StrCat("version: 1\n"
               "trustStores:\n"
               "  acme: {type: ca, path: truststore/x509/ca/acme, crl: crl/acme.crl}\n"
               "  acme-nocrl: {type: ca, path: truststore/x509/ca/acme}\n"
               "  acme-sa: {type: signingAuthority, path: truststore/x509/signingAuthority/acme-sa, crl: crl/acme-sa.crl}\n"
               "  acme-tsa: {type: tsa, path: truststore/x509/tsa/acme-tsa, crl: crl/acme-tsa.crl}\n"
               "  acme-tsa-nocrl: {type: tsa, path: truststore/x509/tsa/acme-tsa}\n"
               "default: {requirement: reject}\n"
               "scopes:\n"
               "  \"", host, "/", repo, "\":\n"
               "    requirement: signed\n"
               "    signatures: [notation]\n"
               "    notation:\n"
               "      level: ", n.level, "\n",
               stores, identities,
               n.extra.empty() ? "" : StrCat("      ", n.extra, "\n")));
    return policy;
  }

  Verdict Verify(const std::string& policy, const std::string& ref) {
    absl::StatusOr<RunResult> r = testing::Run(
        {LAYERSEAL_BINARY, "verify", "--plain-http", "--policy", policy, "--output", "json", ref}, "",
        absl::Seconds(120));
    Verdict v;
    if (!r.ok()) {
      v.raw = r.status().ToString();
      return v;
    }
    v.exit_code = r->exit_code;
    v.raw = StrCat(r->out, r->err, "\npolicy:\n", testing::ReadFileOrDie(policy));
    nlohmann::json j = nlohmann::json::parse(r->out, nullptr, false);
    if (j.is_object()) {
      v.verdict = j.value("verdict", "");
      v.reason = j.value("reason", "");
      v.detail = j.value("detail", "");
      v.signer_kind = j.value("signerKind", "");
      v.signer_subject = j.value("signerSubject", "");
      v.signer_issuer = j.value("signerIssuer", "");
      v.key_id = j.value("keyId", "");
    }
    return v;
  }

  // ALLOW, by a notation signature (unless `kind` says otherwise), with `detail` in the detail.
  void ExpectAllow(const Verdict& v, const std::string& detail = "", const std::string& kind = "notation") {
    EXPECT_EQ(v.exit_code, 0) << v.raw;
    EXPECT_EQ(v.verdict, "ALLOW") << v.raw;
    if (!kind.empty()) {
      EXPECT_EQ(v.signer_kind, kind) << v.raw;
    }
    if (!detail.empty()) {
      EXPECT_NE(Lower(v.detail).find(Lower(detail)), std::string::npos) << "want \"" << detail << "\" in\n" << v.raw;
    }
  }
  // DENY with one of `reasons`, the detail holding `detail` (case-insensitive).
  void ExpectDeny(const Verdict& v, const std::vector<std::string>& reasons, const std::string& detail) {
    EXPECT_EQ(v.exit_code, 1) << v.raw;
    EXPECT_EQ(v.verdict, "DENY") << v.raw;
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), v.reason), reasons.end()) << v.raw;
    EXPECT_NE(Lower(v.detail).find(Lower(detail)), std::string::npos) << "want \"" << detail << "\" in\n" << v.raw;
  }

  // Signed with `fixture`, judged under `n`.
  Verdict Case(const std::string& repo, const std::string& fixture, const Notation& n) {
    PushSigned(repo, fixture);
    return Verify(Policy(repo, n), Ref(repo));
  }

  // GETs of `path` (e.g. "/v2/<repo>/blobs/<digest>") the registry answered so far.
  static int RegistryGets(const std::string& path) {
    std::ifstream in(server_->log_file());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      n += line.find("response completed") != std::string::npos &&
           line.find("http.request.method=GET") != std::string::npos &&
           line.find(StrCat("http.request.uri=\"", path, "\"")) != std::string::npos;
    }
    return n;
  }

  static RegistryServer* server_;
  static TempDir* dir_;
  static std::string out_;
  static std::string setup_error_;
  static TestImage app_;
  static nlohmann::json index_;
  int policies_ = 0;
};

RegistryServer* NotationRegistryTest::server_ = nullptr;
TempDir* NotationRegistryTest::dir_ = nullptr;
std::string NotationRegistryTest::out_;
std::string NotationRegistryTest::setup_error_;
TestImage NotationRegistryTest::app_;
nlohmann::json NotationRegistryTest::index_;

// JWS and COSE, under strict with CRLs for every store: admitted, the verdict naming the signer
// (leaf subject and issuer, key id = the leaf's thumbprint).
TEST_F(NotationRegistryTest, JwsAndCoseAdmittedUnderStrict) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    Verdict v = Case(StrCat("strict/", f), StrCat(f, "-good"), {});
    ExpectAllow(v);
    EXPECT_NE(v.signer_subject.find("CN=signer"), std::string::npos) << v.raw;
    EXPECT_NE(v.signer_issuer.find("notation test intermediate"), std::string::npos) << v.raw;
    EXPECT_EQ(v.key_id, StrCat("sha256:", Meta(StrCat(f, "-good"))["leafThumbprint"].get<std::string>())) << v.raw;
    // The other key types: JWS with EC P-384 (ES384), COSE with RSA 3072 (PS384).
    ExpectAllow(Case(StrCat("strict-alt/", f), StrCat(f, "-good-alt"), {}));
    // An expiry in the future.
    ExpectAllow(Case(StrCat("strict-expiry/", f), StrCat(f, "-expiry-future"), {}));
  }
}

TEST_F(NotationRegistryTest, PermissiveAuditAndRevocationOverride) {
  // Permissive without any CRL: revocation cannot be checked, which permissive logs.
  ExpectAllow(Case("permissive/jws", "jws-good", {.level = "permissive", .stores = {"acme-nocrl", "acme-tsa-nocrl"}}),
              "crl");
  ExpectAllow(Case("audit/cose", "cose-good", {.level = "audit", .stores = {"acme-nocrl", "acme-tsa-nocrl"}}),
              "crl");
  ExpectAllow(Case("override/cose", "cose-good",
                   {.stores = {"acme-nocrl", "acme-tsa-nocrl"}, .extra = "override: {revocation: log}"}),
              "crl");
  // Strict without a CRL: revocation cannot be checked offline, which strict denies.
  ExpectDeny(Case("strict-nocrl/jws", "jws-good", {.stores = {"acme-nocrl", "acme-tsa"}}), {"REVOCATION_UNCHECKED"},
             "crl");
  ExpectDeny(Case("strict-nocrl/cose", "cose-good", {.stores = {"acme", "acme-tsa-nocrl"}}), {"REVOCATION_UNCHECKED"},
             "crl");
}

TEST_F(NotationRegistryTest, SkipAdmitsUnsigned) {
  PushImage("skip/app");
  Verdict v = Verify(Policy("skip/app", {.level = "skip", .stores = {}, .identities = "none"}), Ref("skip/app"));
  ExpectAllow(v, "notation verification level skip", "");
  EXPECT_EQ(v.reason, "INSECURE_ACCEPT_ANYTHING") << v.raw;
  // The same unsigned image under strict: no signature.
  ExpectDeny(Verify(Policy("skip/app", {}), Ref("skip/app")), {"NOT_SIGNED"}, "");
}

TEST_F(NotationRegistryTest, Expired) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectDeny(Case(StrCat("expired/", f), StrCat(f, "-expired"), {}), {"SIGNATURE_EXPIRED"}, "expir");
  }
  ExpectAllow(Case("expired-permissive/jws", "jws-expired", {.level = "permissive"}), "expir");
  ExpectAllow(Case("expired-override/cose", "cose-expired", {.extra = "override: {expiry: log}"}), "expir");
}

TEST_F(NotationRegistryTest, UntrustedIdentity) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectDeny(Case(StrCat("stranger/", f), StrCat(f, "-untrusted-identity"), {}), {"UNTRUSTED_IDENTITY"},
               "stranger");
    ExpectDeny(Case(StrCat("stranger-permissive/", f), StrCat(f, "-untrusted-identity"), {.level = "permissive"}),
               {"UNTRUSTED_IDENTITY"}, "stranger");
  }
  ExpectAllow(Case("stranger-audit/jws", "jws-untrusted-identity", {.level = "audit"}), "stranger");
  // "*": any identity the stores vouch for.
  ExpectAllow(Case("stranger-any/cose", "cose-untrusted-identity", {.identities = "[\"*\"]"}));
}

TEST_F(NotationRegistryTest, TamperedPayloadIsDeniedAtEveryLevel) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    for (const std::string level : {"strict", "permissive", "audit"}) {
      SCOPED_TRACE(level);
      ExpectDeny(Case(StrCat("tampered-", level, "/", f), StrCat(f, "-tampered"), {.level = level}),
                 {"BAD_SIGNATURE"}, "signature");
    }
  }
}

TEST_F(NotationRegistryTest, WrongArtifactSizeAndUnknownCriticalHeader) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectDeny(Case(StrCat("size/", f), StrCat(f, "-wrong-size"), {}), {"SUBJECT_MISMATCH"}, "size");
    ExpectDeny(Case(StrCat("size-audit/", f), StrCat(f, "-wrong-size"), {.level = "audit"}), {"SUBJECT_MISMATCH"},
               "size");
    ExpectDeny(Case(StrCat("crit/", f), StrCat(f, "-unknown-crit"), {}), {"MALFORMED_SIGNATURE"},
               "io.layerseal.test.unknownCritical");
  }
}

TEST_F(NotationRegistryTest, TimestampOutsideTheLeafsValidity) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectDeny(Case(StrCat("ts-after/", f), StrCat(f, "-ts-after-validity"), {}), {"BAD_TIMESTAMP"}, "timestamp");
    ExpectDeny(Case(StrCat("ts-before/", f), StrCat(f, "-ts-before-validity"), {}), {"BAD_TIMESTAMP"}, "timestamp");
    // Permissive logs the authentic timestamp.
    ExpectAllow(Case(StrCat("ts-after-permissive/", f), StrCat(f, "-ts-after-validity"), {.level = "permissive"}),
                "timestamp");
  }
}

TEST_F(NotationRegistryTest, RevokedLeaf) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectDeny(Case(StrCat("revoked/", f), StrCat(f, "-revoked"), {}), {"REVOKED"}, "revoked");
  }
  // Permissive logs revocation.
  ExpectAllow(Case("revoked-permissive/jws", "jws-revoked", {.level = "permissive"}), "revoked");
}

// An expired leaf: without a timestamp it cannot be trusted (with a tsa store the token is
// required; without one the chain must be valid now); with a timestamp taken while it was valid
// it is admitted (the leaf of "expired-leaf-ts" expires a few seconds after the fixtures were
// made, its timestamp taken before that).
TEST_F(NotationRegistryTest, ExpiredLeafWithAndWithoutTimestamp) {
  ExpectDeny(Case("expired-leaf/with-tsa", "jws-expired-leaf-no-ts", {}), {"BAD_TIMESTAMP"}, "timestamp");
  ExpectDeny(Case("expired-leaf/no-tsa", "cose-expired-leaf-no-ts", {.stores = {"acme"}}), {"UNTRUSTED_CERTIFICATE"},
             "expired");
  absl::Time until;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, index_["shortLivedNotAfter"].get<std::string>(), &until, &err)) << err;
  absl::SleepFor(until + absl::Seconds(1) - absl::Now());
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectAllow(Case(StrCat("expired-leaf-ts/", f), StrCat(f, "-expired-leaf-ts"), {}));
    ExpectAllow(Case(StrCat("expired-leaf-ts-after/", f), StrCat(f, "-expired-leaf-ts"),
                     {.extra = "verifyTimestamp: afterCertExpiry"}));
  }
}

TEST_F(NotationRegistryTest, VerifyTimestampAlwaysOrAfterCertExpiry) {
  // No timestamp, a valid leaf: `always` (the default, with a tsa store) requires one;
  // `afterCertExpiry` does not while the certificate is valid.
  ExpectDeny(Case("no-ts/always", "jws-no-timestamp", {}), {"BAD_TIMESTAMP"}, "timestamp");
  ExpectAllow(Case("no-ts/after-expiry", "cose-no-timestamp", {.extra = "verifyTimestamp: afterCertExpiry"}));
  // Without a tsa store no timestamp is verified.
  ExpectAllow(Case("no-ts/no-tsa", "jws-no-timestamp", {.stores = {"acme"}}));
}

TEST_F(NotationRegistryTest, SigningAuthorityScheme) {
  const std::string sa = StrCat("[\"", index_["signingAuthorityIdentity"].get<std::string>(), "\"]");
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    Verdict v = Case(StrCat("sa/", f), StrCat(f, "-signing-authority"), {.stores = {"acme-sa"}, .identities = sa});
    ExpectAllow(v);
    EXPECT_NE(v.signer_subject.find("CN=authority-signer"), std::string::npos) << v.raw;
    // The same signature against a ca store: its thumbprints name no certificate there, so it
    // is skipped before its envelope is fetched.
    ExpectDeny(Case(StrCat("sa-as-ca/", f), StrCat(f, "-signing-authority"), {.identities = sa}),
               {"UNTRUSTED_CERTIFICATE"}, "thumbprint");
  }
}

// An older notation / registry: the manifest's artifact type is only its config's media type,
// and the fallback index entry has no artifactType (nor annotations).
TEST_F(NotationRegistryTest, Oci10Form) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    PushSigned(StrCat("oci10/", f), StrCat(f, "-good"), testing::NotationForm::kOci10, testing::NotationEntry::kBare);
    ExpectAllow(Verify(Policy(StrCat("oci10/", f), {}), Ref(StrCat("oci10/", f))));
  }
  PushSigned("oci10/tampered", "jws-tampered", testing::NotationForm::kOci10, testing::NotationEntry::kBare);
  ExpectDeny(Verify(Policy("oci10/tampered", {}), Ref("oci10/tampered")), {"BAD_SIGNATURE"}, "signature");
  // Entries without artifactType but with the manifest's annotations.
  PushSigned("oci10-annotated/cose", "cose-good", testing::NotationForm::kOci11, testing::NotationEntry::kBare);
  ExpectAllow(Verify(Policy("oci10-annotated/cose", {}), Ref("oci10-annotated/cose")));
}

// docker-registry 2.8 has no referrers API: the tests' own registry serves it. (The
// repositories are not named "referrers/...": that helper takes the first "/referrers/" in a
// path for the API route.)
TEST_F(NotationRegistryTest, ReferrersApi) {
  absl::StatusOr<std::unique_ptr<testing::ReferrersRegistry>> rr = testing::ReferrersRegistry::Start();
  ASSERT_TRUE(rr.ok()) << rr.status();
  const std::string host = (*rr)->host();
  auto add = [&](const std::string& repo, const std::string& fixture) {
    (*rr)->AddImage(repo, "latest", app_);
    testing::AddNotationReferrer(**rr, repo, app_.digest,
                                 testing::MakeNotationSignature(testing::SubjectOf(app_), Fixture(fixture)));
    return Verify(Policy(repo, {}, host), StrCat(host, "/", repo, ":latest"));
  };
  ExpectAllow(add("oci11/jws", "jws-good"));
  ExpectAllow(add("oci11/cose", "cose-good"));
  ExpectDeny(add("oci11/tampered", "cose-tampered"), {"BAD_SIGNATURE"}, "signature");
  ExpectDeny(add("oci11/stranger", "jws-untrusted-identity"), {"UNTRUSTED_IDENTITY"}, "stranger");
  EXPECT_GT((*rr)->ReferrersRequests(), 0u);
  // A registry that ignores the artifactType filter: a cosign bundle referrer listed next to
  // the notation signature is not taken for one.
  (*rr)->SetFiltering(false);
  (*rr)->AddImage("oci11/mixed", "latest", app_);
  (*rr)->AddReferrer("oci11/mixed", app_.digest,
                     testing::MakeBundleReferrer(testing::SubjectOf(app_), "{}"),
                     std::string(testing::kCosignBundleV03MediaType));
  testing::AddNotationReferrer(**rr, "oci11/mixed", app_.digest,
                               testing::MakeNotationSignature(testing::SubjectOf(app_), Fixture("jws-good")));
  ExpectAllow(Verify(Policy("oci11/mixed", {}, host), StrCat(host, "/oci11/mixed:latest")));
}

TEST_F(NotationRegistryTest, HugeX5cChain) {
  for (const std::string f : {"jws", "cose"}) {
    SCOPED_TRACE(f);
    ExpectDeny(Case(StrCat("huge-x5c/", f), StrCat(f, "-huge-x5c"), {}), {"LIMIT_EXCEEDED", "MALFORMED_SIGNATURE"},
               "certificates");
  }
}

// 1,000 signature manifests in the fallback index, all of them bad, with the same envelope blob.
// (a) Their thumbprint annotations lie, naming the trusted root: each is a candidate, so the
//     verifier fetches at most its attempt limit (notation/discovery.h kMaxSignatureAttempts,
//     16) and denies with the envelopes' reason, quickly.
// (b) Their annotations name certificates no store holds: skipped without a fetch, and the one
//     good signature at the end of the index is found.
TEST_F(NotationRegistryTest, AThousandSignaturesWithLyingThumbprints) {
  const NotationEnvelope bad = Fixture("jws-tampered");
  const NotationEnvelope good = Fixture("jws-good");
  const std::string bad_blob = Digest::Sha256Of(bad.bytes).str();
  auto crowd = [&](const std::string& repo, const std::vector<std::string>& thumbprints, bool with_good) {
    PushImage(repo);
    std::vector<TestImage> signatures;
    for (int i = 0; i < 1000; ++i) {
      signatures.push_back(testing::MakeNotationSignature(
          testing::SubjectOf(app_), bad, testing::NotationForm::kOci11,
          {{std::string(testing::kNotationThumbprints), testing::NotationThumbprintAnnotation(thumbprints)},
           {"io.layerseal.test.n", StrCat(i)}}));
    }
    if (with_good) signatures.push_back(testing::MakeNotationSignature(testing::SubjectOf(app_), good));
    // docker-registry checks an index's children exist: push the manifests (4 threads), then the
    // index. The first one alone: its blobs (shared by all) are then there, and the threads never
    // upload one blob at the same time (docker-registry may then answer "blob unknown").
    registry::RegistryClient client(server_->ClientOptions());
    absl::Status first = testing::PushReferrer(client, Repo(server_->host(), repo), signatures[0]);
    ASSERT_TRUE(first.ok()) << first;
    std::vector<absl::Status> pushed(4);
    std::vector<std::thread> pushers;
    for (size_t t = 0; t < pushed.size(); ++t) {
      pushers.emplace_back([&, t] {
        for (size_t i = 1 + t; i < signatures.size() && pushed[t].ok(); i += pushed.size()) {
          pushed[t] = testing::PushReferrer(client, Repo(server_->host(), repo), signatures[i]);
        }
      });
    }
    for (std::thread& t : pushers) t.join();
    for (const absl::Status& p : pushed) ASSERT_TRUE(p.ok()) << p;
    TestImage index = testing::MakeNotationFallbackIndex(signatures);
    absl::StatusOr<Digest> put = client.PutManifest(
        Repo(server_->host(), repo).WithTag(testing::CosignFallbackTag(app_.digest)), index.media_type, index.manifest);
    ASSERT_TRUE(put.ok()) << put.status();
  };

  // (a) lying: they name the real chain (leaf, intermediate, trusted root).
  crowd("crowd/lying", good.thumbprints, false);
  absl::Time start = absl::Now();
  Verdict lying = Verify(Policy("crowd/lying", {}), Ref("crowd/lying"));
  ExpectDeny(lying, {"BAD_SIGNATURE"}, "signature");
  EXPECT_NE(lying.detail.find("not examined"), std::string::npos) << lying.raw;
  absl::Duration took = absl::Now() - start;
  const int lying_fetches = RegistryGets(StrCat("/v2/crowd/lying/blobs/", bad_blob));
  EXPECT_GT(lying_fetches, 0);
  EXPECT_LE(static_cast<size_t>(lying_fetches), notation::kMaxSignatureAttempts)
      << "envelopes fetched of 1,000 candidates";
  EXPECT_LT(took, absl::Seconds(30));
  std::cerr << "1,000 lying candidates: denied in " << absl::ToDoubleSeconds(took) << " s, " << lying_fetches
            << " envelope fetches\n";

  // (b) untrusted thumbprints, one good signature last.
  crowd("crowd/skipped", {std::string(64, 'a'), std::string(64, 'b')}, true);
  start = absl::Now();
  ExpectAllow(Verify(Policy("crowd/skipped", {}), Ref("crowd/skipped")));
  took = absl::Now() - start;
  EXPECT_EQ(RegistryGets(StrCat("/v2/crowd/skipped/blobs/", bad_blob)), 0) << "a pre-selected-out envelope was fetched";
  EXPECT_LT(took, absl::Seconds(30));
  std::cerr << "1,000 untrusted + 1 good: admitted in " << absl::ToDoubleSeconds(took) << " s\n";
  // The same index under audit (authenticity logged): no pre-selection, the good one is still found.
  ExpectAllow(Verify(Policy("crowd/skipped", {.level = "audit"}), Ref("crowd/skipped")));
}

}  // namespace
}  // namespace layerseal
