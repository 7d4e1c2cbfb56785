// The policy's cosign / sigstore fields (docs/policy.md, docs/sigstore.md): trustedRoots,
// identities, and the scope fields signatures, identities, trustedRoot, transparencyLog and
// signatureRepository. One test per load-time rule, good and bad, each checking the line and
// field the message names; identity matching (full match, not cosign's unanchored search).
// Keys and the trusted root's certificates are made by the openssl CLI, not by our code.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/files.h"
#include "tests/support/trusted_root_files.h"
#include "verifier/policy.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::ReadAll;
using testing::WriteAll;

// ---- Identity patterns ----

using sigstore::CertIdentity;
using sigstore::IdentityPattern;
using sigstore::MakeIdentityPattern;
using sigstore::MatchIdentity;

constexpr char kActions[] = "https://token.actions.githubusercontent.com";

IdentityPattern Pattern(std::optional<std::string> issuer, std::optional<std::string> issuer_re,
                        std::optional<std::string> subject, std::optional<std::string> subject_re) {
  absl::StatusOr<IdentityPattern> p =
      MakeIdentityPattern("p", std::move(issuer), std::move(issuer_re), std::move(subject),
                          std::move(subject_re));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : IdentityPattern{};
}

TEST(IdentityPatternTest, ExactMatchesOnlyTheSameBytes) {
  IdentityPattern p = Pattern(kActions, std::nullopt, "oncall@acme.example", std::nullopt);
  EXPECT_EQ(p.name, "p");
  EXPECT_EQ(p.issuer_re, nullptr);
  EXPECT_TRUE(MatchIdentity(CertIdentity{"oncall@acme.example", kActions}, p));
  EXPECT_FALSE(MatchIdentity(CertIdentity{"oncall@acme.example ", kActions}, p));
  EXPECT_FALSE(MatchIdentity(CertIdentity{"Oncall@acme.example", kActions}, p));
  EXPECT_FALSE(MatchIdentity(CertIdentity{"oncall@acme.example", "https://accounts.google.com"}, p));
  // An exact pattern is not a regexp: '.' is a dot.
  EXPECT_FALSE(MatchIdentity(CertIdentity{"oncall@acmexexample", kActions}, p));
}

TEST(IdentityPatternTest, RegexpIsAFullMatch) {
  IdentityPattern p = Pattern(
      kActions, std::nullopt, std::nullopt,
      R"(https://github\.com/acme/[a-z0-9-]+/\.github/workflows/release\.yml@refs/tags/v[0-9.]+)");
  ASSERT_NE(p.subject_re, nullptr);
  EXPECT_TRUE(MatchIdentity(
      CertIdentity{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3", kActions}, p));
  // A prefix, a suffix or a match in the middle is not enough.
  EXPECT_FALSE(MatchIdentity(
      CertIdentity{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3-evil", kActions}, p));
  EXPECT_FALSE(MatchIdentity(
      CertIdentity{"x https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1", kActions}, p));
}

// cosign's unanchored search would let `github.com/acme/` match any URL containing it; here
// the pattern must match the whole subject (docs/sigstore.md, "Policy fields").
TEST(IdentityPatternTest, UnanchoredFootGunDoesNotMatch) {
  IdentityPattern p = Pattern(std::nullopt, "https://token\\.actions\\.githubusercontent\\.com",
                              std::nullopt, "github.com/acme/");
  EXPECT_FALSE(MatchIdentity(CertIdentity{"https://evil.example/?github.com/acme/", kActions}, p));
  EXPECT_FALSE(MatchIdentity(CertIdentity{"https://github.com/acme/", kActions}, p));
  EXPECT_TRUE(MatchIdentity(CertIdentity{"github.com/acme/", kActions}, p));
  // The same with an alternation, which naive anchoring ("^" + re + "$") would get wrong.
  IdentityPattern alt = Pattern(kActions, std::nullopt, std::nullopt, "a@acme\\.example|b@acme\\.example");
  EXPECT_TRUE(MatchIdentity(CertIdentity{"b@acme.example", kActions}, alt));
  EXPECT_FALSE(MatchIdentity(CertIdentity{"a@acme.example.evil", kActions}, alt));
  EXPECT_FALSE(MatchIdentity(CertIdentity{"evil.b@acme.example", kActions}, alt));
  // And the issuer regexp is full too.
  EXPECT_FALSE(MatchIdentity(CertIdentity{"github.com/acme/", "https://token.actions.githubusercontent.com.evil"}, p));
}

TEST(IdentityPatternTest, ErrorsNameTheField) {
  auto error = [](std::optional<std::string> i, std::optional<std::string> ir,
                  std::optional<std::string> s, std::optional<std::string> sr) {
    absl::StatusOr<IdentityPattern> p = MakeIdentityPattern("n", i, ir, s, sr);
    EXPECT_FALSE(p.ok());
    if (p.ok()) return std::string();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(Sv(p.status().message()));
  };
  EXPECT_THAT(error(std::nullopt, std::nullopt, "s", std::nullopt),
              HasSubstr("exactly one of issuer or issuerRegExp"));
  EXPECT_THAT(error("i", "i", "s", std::nullopt), HasSubstr("exactly one of issuer or issuerRegExp"));
  EXPECT_THAT(error("i", std::nullopt, std::nullopt, std::nullopt),
              HasSubstr("exactly one of subject or subjectRegExp"));
  EXPECT_THAT(error("i", std::nullopt, "s", "s"), HasSubstr("exactly one of subject or subjectRegExp"));
  std::string long_text(sigstore::kMaxIdentityPatternLength + 1, 'a');
  EXPECT_THAT(error(long_text, std::nullopt, "s", std::nullopt), StartsWith("issuer: longer than 1024"));
  EXPECT_THAT(error("i", std::nullopt, std::nullopt, long_text), StartsWith("subjectRegExp: longer than 1024"));
  // Exactly the limit is fine.
  EXPECT_TRUE(MakeIdentityPattern("n", std::string(sigstore::kMaxIdentityPatternLength, 'a'),
                                  std::nullopt, "s", std::nullopt).ok());
  // RE2's own message is carried.
  EXPECT_THAT(error("i", std::nullopt, std::nullopt, "a(b"),
              AllOf(StartsWith("subjectRegExp: not a valid regular expression: "),
                    HasSubstr("missing )")));
  EXPECT_THAT(error(std::nullopt, "[z-a]", "s", std::nullopt),
              AllOf(StartsWith("issuerRegExp: "), HasSubstr("invalid character class range")));
  // Go regexp syntax, as cosign: no backreferences.
  EXPECT_THAT(error("i", std::nullopt, std::nullopt, "(a)\\1"), StartsWith("subjectRegExp: "));
  EXPECT_THAT(error("", std::nullopt, "s", std::nullopt), StartsWith("issuer: empty"));
}

// A regexp whose automaton needs more than kMaxIdentityRegexpMemory is refused at load
// rather than compiled into something huge.
TEST(IdentityPatternTest, RegexpMemoryIsBounded) {
  absl::StatusOr<IdentityPattern> p =
      MakeIdentityPattern("n", "i", std::nullopt, std::nullopt, "((((a{100}){100}){100}){100})");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(Sv(p.status().message())), StartsWith("subjectRegExp: "));
}

// ---- The policy ----

class PolicySigstoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/layerseal-policy-sigstore-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    std::filesystem::create_directories(*dir_ + "/keys");
    std::filesystem::create_directories(*dir_ + "/sigstore");
    for (const char* name : {"ci", "cosign"}) {
      bool ok = false;
      testing::RunShell(StrCat("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ",
                               *dir_, "/keys/", name, ".key 2>/dev/null && openssl pkey -in ", *dir_,
                               "/keys/", name, ".key -pubout -out ", *dir_, "/keys/", name, ".pub"),
                        &ok);
      ASSERT_TRUE(ok);
    }
    bool ok = false;
    root_ = new testing::TrustedRootFiles(testing::MakeTrustedRoot(*dir_ + "/sigstore", "pg", &ok));
    ASSERT_TRUE(ok);
    std::filesystem::copy_file(root_->json, *dir_ + "/sigstore/trusted_root.json");
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete root_;
  }

  // Tests that need a trusted root to load: skipped only while TrustedRoot::Parse is the
  // skeleton's stub (branch i17-formats builds it).
  void SetUp() override {
    if (NeedsRoot()) {
      absl::StatusOr<sigstore::TrustedRoot> r =
          sigstore::TrustedRoot::Parse(ReadAll(root_->json), "test");
      if (r.status().code() == absl::StatusCode::kUnimplemented) {
        GTEST_SKIP() << "TrustedRoot::Parse is not built yet";
      }
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  virtual bool NeedsRoot() const { return false; }

  static absl::StatusOr<Policy> ParseText(std::string_view yaml) {
    return Policy::Parse(yaml, *dir_, "policy.yaml");
  }
  static std::string ErrorOf(std::string_view yaml) {
    absl::StatusOr<Policy> p = ParseText(yaml);
    EXPECT_FALSE(p.ok()) << "loaded:\n" << yaml;
    if (p.ok()) return "";
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(Sv(p.status().message()));
  }
  static std::string dir() { return *dir_; }

  static std::string* dir_;
  static testing::TrustedRootFiles* root_;
};

std::string* PolicySigstoreTest::dir_ = nullptr;
testing::TrustedRootFiles* PolicySigstoreTest::root_ = nullptr;

class PolicySigstoreRootTest : public PolicySigstoreTest {
  bool NeedsRoot() const override { return true; }
};

// The head of every policy below: keys ci and cosign, no trusted roots.
constexpr std::string_view kKeys = R"(version: 1
keys:
  ci: {path: keys/ci.pub}
  cosign: {path: keys/cosign.pub}
)";

std::string WithKeys(std::string_view rest) { return StrCat(kKeys, rest); }

// A policy written before issue 17 keeps its meaning: seals only, no cosign settings.
TEST_F(PolicySigstoreTest, OldPoliciesAreSealOnly) {
  absl::StatusOr<Policy> p = ParseText(WithKeys(R"(default: {requirement: reject}
scopes:
  "registry.example.com/team/app": {requirement: signed, keys: [ci]}
  "*.example.org": {requirement: insecureAcceptAnything}
)"));
  ASSERT_TRUE(p.ok()) << p.status();
  for (const ScopePolicy* s : {&p->default_scope(), &p->scopes()[0], &p->scopes()[1]}) {
    EXPECT_EQ(s->signatures, std::vector<SignatureKind>{SignatureKind::kSeal}) << s->scope;
    EXPECT_TRUE(s->Accepts(SignatureKind::kSeal));
    EXPECT_FALSE(s->Accepts(SignatureKind::kCosign));
    EXPECT_TRUE(s->identities.empty());
    EXPECT_EQ(s->trusted_root, nullptr);
    EXPECT_TRUE(s->trusted_root_name.empty());
    EXPECT_TRUE(s->require_tlog);
    EXPECT_FALSE(s->signature_repository.has_value());
  }
  // Today's rule and message: signed needs keys when seals are trusted.
  EXPECT_EQ(ErrorOf(WithKeys("default: {requirement: signed}\n")),
            "policy.yaml:5: default: requirement signed needs keys (names from the top-level keys)");
}

// Every new scope field applies only to requirement signed, as keys do.
TEST_F(PolicySigstoreTest, NewFieldsOnlyUnderSigned) {
  for (std::string_view req : {"reject", "insecureAcceptAnything"}) {
    for (std::string_view field :
         {"signatures: [cosign]", "identities: [x]", "trustedRoot: pg", "transparencyLog: ignore",
          "signatureRepository: ghcr.io/acme/sigs"}) {
      std::string name(field.substr(0, field.find(':')));
      EXPECT_EQ(ErrorOf(WithKeys(StrCat("default:\n  requirement: ", req, "\n  ", field, "\n"))),
                StrCat("policy.yaml:7: default.", name, ": ", name, " applies only to requirement signed, not ", req));
    }
  }
}

TEST_F(PolicySigstoreTest, Signatures) {
  // cosign with keys, no log: loads without a trusted root.
  absl::StatusOr<Policy> p = ParseText(WithKeys(R"(default: {requirement: reject}
scopes:
  "ghcr.io/acme":
    requirement: signed
    signatures: [cosign, seal]
    keys: [ci, cosign]
    transparencyLog: ignore
)"));
  ASSERT_TRUE(p.ok()) << p.status();
  const ScopePolicy& s = p->scopes()[0];
  EXPECT_EQ(s.signatures, (std::vector<SignatureKind>{SignatureKind::kCosign, SignatureKind::kSeal}));
  EXPECT_TRUE(s.Accepts(SignatureKind::kSeal));
  EXPECT_TRUE(s.Accepts(SignatureKind::kCosign));
  EXPECT_FALSE(s.require_tlog);
  EXPECT_EQ(s.keys.size(), 2u);

  auto scope_error = [](std::string_view body) {
    return ErrorOf(WithKeys(StrCat("default: {requirement: reject}\nscopes:\n  \"ghcr.io/acme\":\n", body)));
  };
  EXPECT_EQ(scope_error("    requirement: signed\n    keys: [ci]\n    signatures: []\n"),
            "policy.yaml:10: scopes[\"ghcr.io/acme\"].signatures: an empty list (give at least one of seal, cosign, notation)");
  EXPECT_EQ(scope_error("    requirement: signed\n    keys: [ci]\n    signatures: seal\n"),
            "policy.yaml:10: scopes[\"ghcr.io/acme\"].signatures: expected a list of seal, cosign, notation, got a string");
  EXPECT_EQ(scope_error("    requirement: signed\n    keys: [ci]\n    signatures: [seal, gpg]\n"),
            "policy.yaml:10: scopes[\"ghcr.io/acme\"].signatures[1]: unknown value \"gpg\" (expected one of: seal, cosign, notation)");
  EXPECT_EQ(scope_error("    requirement: signed\n    keys: [ci]\n    signatures:\n      - seal\n      - seal\n"),
            "policy.yaml:12: scopes[\"ghcr.io/acme\"].signatures[1]: \"seal\" is listed twice");
  EXPECT_EQ(scope_error("    requirement: signed\n    keys: [ci]\n    signatures: [[seal]]\n"),
            "policy.yaml:10: scopes[\"ghcr.io/acme\"].signatures[0]: expected a string, got a list");
}

TEST_F(PolicySigstoreTest, KeysAndIdentitiesRequirement) {
  auto scope_error = [](std::string_view body) {
    return ErrorOf(WithKeys(StrCat("default: {requirement: reject}\nscopes:\n  \"ghcr.io/acme\":\n", body)));
  };
  // With seal in signatures, keys are required (as today).
  EXPECT_EQ(scope_error("    requirement: signed\n    signatures: [seal, cosign]\n    transparencyLog: ignore\n"),
            "policy.yaml:7: scopes[\"ghcr.io/acme\"]: requirement signed needs keys (names from the top-level keys)");
  // With only cosign, keys or identities.
  EXPECT_EQ(scope_error("    requirement: signed\n    signatures: [cosign]\n    transparencyLog: ignore\n"),
            "policy.yaml:7: scopes[\"ghcr.io/acme\"]: requirement signed needs keys or identities (names "
            "from the top-level keys and identities)");
  EXPECT_EQ(scope_error("    requirement: signed\n    signatures: [cosign]\n    keys: []\n    transparencyLog: ignore\n"),
            "policy.yaml:10: scopes[\"ghcr.io/acme\"].keys: requirement signed needs at least one key");
  // cosign keys only: fine.
  absl::StatusOr<Policy> p = ParseText(WithKeys(
      "default: {requirement: signed, signatures: [cosign], keys: [cosign], transparencyLog: ignore}\n"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->default_scope().Accepts(SignatureKind::kSeal));
}

TEST_F(PolicySigstoreTest, ScopeFieldsNeedCosign) {
  for (std::string_view field : {"identities: [x]", "trustedRoot: pg", "transparencyLog: require",
                                 "signatureRepository: ghcr.io/acme/sigs"}) {
    std::string name(field.substr(0, field.find(':')));
    EXPECT_EQ(ErrorOf(WithKeys(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  ", field, "\n"))),
              StrCat("policy.yaml:8: default.", name, ": ", name,
                     " applies only to cosign signatures: add cosign to signatures"));
  }
}

TEST_F(PolicySigstoreTest, TransparencyLog) {
  std::string head = "default:\n  requirement: signed\n  signatures: [cosign]\n  keys: [cosign]\n";
  EXPECT_EQ(ErrorOf(WithKeys(StrCat(head, "  transparencyLog: optional\n"))),
            "policy.yaml:9: default.transparencyLog: unknown value \"optional\" (expected one of: require, ignore)");
  // require (the default) needs a trusted root for the log keys.
  EXPECT_THAT(ErrorOf(WithKeys(head)),
              StartsWith("policy.yaml:5: default: cosign signatures with transparencyLog: require "
                         "(the default) need a trustedRoot"));
  EXPECT_THAT(ErrorOf(WithKeys(StrCat(head, "  transparencyLog: require\n"))),
              StartsWith("policy.yaml:5: default: cosign signatures with transparencyLog: require"));
  // ignore with identities: refused (checked before the root is needed).
  EXPECT_EQ(ErrorOf(WithKeys(StrCat(R"(identities:
  release: {issuer: https://token.actions.githubusercontent.com, subject: a@b.example}
)", head, "  identities: [release]\n  transparencyLog: ignore\n"))),
            "policy.yaml:12: default.transparencyLog: ignore is not allowed with identities: a keyless "
            "signature needs a transparency log entry or timestamp for its certificate's time");
}

TEST_F(PolicySigstoreTest, ScopeIdentities) {
  std::string head = WithKeys(R"(identities:
  release: {issuer: https://token.actions.githubusercontent.com, subject: a@b.example}
default:
  requirement: signed
  signatures: [cosign]
)");
  EXPECT_EQ(ErrorOf(StrCat(head, "  identities: [nope]\n")),
            "policy.yaml:10: default.identities[0]: unknown identity \"nope\" (names from the top-level identities)");
  EXPECT_EQ(ErrorOf(StrCat(head, "  identities: [release, release]\n")),
            "policy.yaml:10: default.identities[1]: \"release\" is listed twice");
  EXPECT_EQ(ErrorOf(StrCat(head, "  identities: []\n")),
            "policy.yaml:10: default.identities: an empty list (give at least one of identity names)");
  EXPECT_EQ(ErrorOf(StrCat(head, "  identities: release\n")),
            "policy.yaml:10: default.identities: expected a list of identity names, got a string");
  EXPECT_EQ(ErrorOf(StrCat(head, "  identities: [release]\n")),
            "policy.yaml:7: default: identities need a trustedRoot (its Fulcio CAs issue the certificates)");
  EXPECT_EQ(ErrorOf(StrCat(head, "  identities: [release]\n  trustedRoot: pg\n")),
            "policy.yaml:11: default.trustedRoot: unknown trusted root \"pg\" (names from the top-level trustedRoots)");
}

TEST_F(PolicySigstoreTest, TopLevelIdentities) {
  auto id_error = [](std::string_view body) {
    return ErrorOf(WithKeys(StrCat("identities:\n", body, "default: {requirement: reject}\n")));
  };
  EXPECT_EQ(id_error("  \"bad name\": {issuer: i, subject: s}\n"),
            "policy.yaml:6: identities[\"bad name\"]: an identity name is 1 to 64 of A-Z a-z 0-9 . _ -");
  EXPECT_EQ(id_error("  a: {issuer: i, subject: s, email: e}\n"),
            "policy.yaml:6: identities[\"a\"].email: unknown field (expected one of: issuer, issuerRegExp, "
            "subject, subjectRegExp)");
  EXPECT_EQ(id_error("  a: {subject: s}\n"),
            "policy.yaml:6: identities[\"a\"]: give exactly one of issuer or issuerRegExp");
  EXPECT_EQ(id_error("  a: {issuer: i, issuerRegExp: i, subject: s}\n"),
            "policy.yaml:6: identities[\"a\"]: give exactly one of issuer or issuerRegExp");
  EXPECT_EQ(id_error("  a: {issuer: i}\n"),
            "policy.yaml:6: identities[\"a\"]: give exactly one of subject or subjectRegExp");
  EXPECT_EQ(id_error("  a: {issuer: i, subject: s, subjectRegExp: s}\n"),
            "policy.yaml:6: identities[\"a\"]: give exactly one of subject or subjectRegExp");
  EXPECT_EQ(id_error("  a: {issuer: [i], subject: s}\n"),
            "policy.yaml:6: identities[\"a\"].issuer: expected a string, got a list");
  EXPECT_EQ(id_error("  a: nope\n"), "policy.yaml:6: identities[\"a\"]: expected a map, got a string");
  EXPECT_EQ(id_error(StrCat("  a:\n    issuer: i\n    subject: ", std::string(1025, 'x'), "\n")),
            "policy.yaml:8: identities[\"a\"].subject: longer than 1024 characters");
  EXPECT_THAT(id_error("  a:\n    issuer: i\n    subjectRegExp: 'a(b'\n"),
              StartsWith("policy.yaml:8: identities[\"a\"].subjectRegExp: not a valid regular expression: missing )"));
  EXPECT_THAT(id_error("  a:\n    issuerRegExp: '*'\n    subject: s\n"),
              StartsWith("policy.yaml:7: identities[\"a\"].issuerRegExp: not a valid regular expression: "));
  EXPECT_EQ(id_error("  a: {issuer: i, subject: s}\n  a: {issuer: i, subject: t}\n"),
            "policy.yaml:7: identities[\"a\"]: duplicate key (first on line 6)");
  std::string many;
  for (size_t i = 0; i <= kMaxPolicyIdentities; ++i) many += StrCat("  i", i, ": {issuer: i, subject: s}\n");
  EXPECT_EQ(id_error(many), "policy.yaml:5: identities: more than 256 identities");
  // 256 load.
  std::string enough;
  for (size_t i = 0; i < kMaxPolicyIdentities; ++i) enough += StrCat("  i", i, ": {issuer: i, subject: s}\n");
  EXPECT_TRUE(ParseText(WithKeys(StrCat("identities:\n", enough, "default: {requirement: reject}\n"))).ok());
}

// Each regexp is bounded by RE2's max_mem, and all of them together by an instruction budget.
TEST_F(PolicySigstoreTest, RegexpProgramSizeIsBoundedPerPolicy) {
  std::string big;
  for (int i = 0; i < 5; ++i) big += ".{1000}";  // about 40000 RE2 instructions
  std::string ids;
  int n = 0;
  for (; n < 10; ++n) ids += StrCat("  i", n, ": {issuer: i, subjectRegExp: '", big, "'}\n");
  std::string error = ErrorOf(WithKeys(StrCat("identities:\n", ids, "default: {requirement: reject}\n")));
  EXPECT_THAT(error, StartsWith("policy.yaml:"));
  EXPECT_THAT(error, HasSubstr("]: the identities' regular expressions together compile to more than 262144 RE2 instructions"));
  // A few of them are fine.
  std::string few;
  for (int i = 0; i < 3; ++i) few += StrCat("  i", i, ": {issuer: i, subjectRegExp: '", big, "'}\n");
  absl::StatusOr<Policy> p = ParseText(WithKeys(StrCat("identities:\n", few, "default: {requirement: reject}\n")));
  EXPECT_TRUE(p.ok()) << p.status();
}

TEST_F(PolicySigstoreTest, TopLevelTrustedRootErrors) {
  auto root_error = [](std::string_view body) {
    return ErrorOf(WithKeys(StrCat("trustedRoots:\n", body, "default: {requirement: reject}\n")));
  };
  EXPECT_EQ(root_error("  \"a b\": {path: sigstore/trusted_root.json}\n"),
            "policy.yaml:6: trustedRoots[\"a b\"]: a trusted root name is 1 to 64 of A-Z a-z 0-9 . _ -");
  EXPECT_EQ(root_error("  pg: {path: sigstore/trusted_root.json, url: https://x}\n"),
            "policy.yaml:6: trustedRoots[\"pg\"].url: unknown field (expected one of: path)");
  EXPECT_EQ(root_error("  pg: {}\n"),
            "policy.yaml:6: trustedRoots[\"pg\"]: missing field \"path\" (a trusted_root.json)");
  EXPECT_EQ(root_error("  pg: {path: ''}\n"), "policy.yaml:6: trustedRoots[\"pg\"].path: empty path");
  EXPECT_THAT(root_error("  pg:\n    path: sigstore/missing.json\n"),
              AllOf(StartsWith("policy.yaml:7: trustedRoots[\"pg\"].path: "), HasSubstr("missing.json")));
  WriteAll(dir() + "/sigstore/huge.json", std::string(sigstore::kMaxTrustedRootBytes + 1, ' '));
  EXPECT_THAT(root_error("  pg:\n    path: sigstore/huge.json\n"),
              StartsWith("policy.yaml:7: trustedRoots[\"pg\"].path: "));
  WriteAll(dir() + "/sigstore/garbage.json", "{\"mediaType\": 7}");
  std::string garbage = root_error("  pg:\n    path: sigstore/garbage.json\n");
  EXPECT_THAT(garbage, StartsWith("policy.yaml:7: trustedRoots[\"pg\"].path: "));
  if (sigstore::TrustedRoot::Parse("{}", "x").status().code() != absl::StatusCode::kUnimplemented) {
    EXPECT_THAT(garbage, HasSubstr("garbage.json"));  // the parser's error names the file
  }
  std::string many;
  for (size_t i = 0; i <= kMaxPolicyTrustedRoots; ++i) many += StrCat("  r", i, ": {path: sigstore/trusted_root.json}\n");
  EXPECT_EQ(root_error(many), "policy.yaml:5: trustedRoots: more than 16 trusted roots");
}

TEST_F(PolicySigstoreTest, SignatureRepository) {
  auto repo = [](std::string_view value) {
    return ParseText(WithKeys(StrCat("default:\n  requirement: signed\n  signatures: [cosign]\n  keys: [cosign]\n",
                                     "  transparencyLog: ignore\n  signatureRepository: ", value, "\n")));
  };
  absl::StatusOr<Policy> p = repo("ghcr.io/acme/signatures");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->default_scope().signature_repository.has_value());
  EXPECT_EQ(p->default_scope().signature_repository->registry, "ghcr.io");
  EXPECT_EQ(p->default_scope().signature_repository->repository, "acme/signatures");
  EXPECT_EQ(p->default_scope().signature_repository->tag, "");
  EXPECT_TRUE(repo("localhost:5000/sigs").ok());
  auto error = [&repo](std::string_view value) {
    absl::StatusOr<Policy> q = repo(value);
    EXPECT_FALSE(q.ok()) << value;
    return q.ok() ? std::string() : std::string(Sv(q.status().message()));
  };
  const std::string at = "policy.yaml:10: default.signatureRepository: ";
  EXPECT_EQ(error("ghcr.io/acme/sigs:latest"), at + "a scope names repositories, not tags or digests");
  EXPECT_EQ(error("\"ghcr.io/acme/sigs@sha256:0000000000000000000000000000000000000000000000000000000000000000\""),
            at + "a scope names repositories, not tags or digests");
  EXPECT_THAT(error("ghcr.io/Acme/sigs"), StartsWith(at + "repository segment \"Acme\" has uppercase"));
  EXPECT_THAT(error("GHCR.io/acme/sigs"), StartsWith(at + "host \"GHCR.io\" has uppercase"));
  EXPECT_THAT(error("acme/sigs"), StartsWith(at + "\"acme\" is not a registry host"));
  EXPECT_EQ(error("ghcr.io"), at + "a repository name is a registry host then a path (ghcr.io/acme/signatures)");
  EXPECT_EQ(error("ghcr.io/acme/*"), at + "a repository name takes no '*'");
  EXPECT_EQ(error("\"*.ghcr.io\""), at + "a repository name takes no '*'");
  EXPECT_EQ(error(StrCat("ghcr.io/", std::string(250, 'a'))), at + "longer than 255 bytes");
  EXPECT_EQ(error("[ghcr.io]"), at + "expected a string, got a list");
}

// ---- With a trusted root (needs TrustedRoot::Parse) ----

constexpr std::string_view kSigstorePolicy = R"(version: 1
keys:
  ci: {path: keys/ci.pub}
  cosign: {path: keys/cosign.pub}
trustedRoots:
  public-good: {path: sigstore/trusted_root.json}
identities:
  release:
    issuer: https://token.actions.githubusercontent.com
    subject: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main
  acme-tags:
    issuer: https://token.actions.githubusercontent.com
    subjectRegExp: 'https://github\.com/acme/[a-z0-9-]+/\.github/workflows/release\.yml@refs/tags/v[0-9.]+'
  oncall:
    issuerRegExp: 'https://accounts\.google\.com'
    subject: oncall@acme.example
default: {requirement: reject}
scopes:
  "registry.example.com/team/app": {requirement: signed, keys: [ci]}
  "ghcr.io/acme":
    requirement: signed
    signatures: [seal, cosign]
    keys: [ci, cosign]
    identities: [release, acme-tags]
    trustedRoot: public-good
    transparencyLog: require
    signatureRepository: ghcr.io/acme/signatures
  "quay.io/vendor":
    {requirement: signed, signatures: [cosign], identities: [oncall], trustedRoot: public-good}
)";

TEST_F(PolicySigstoreRootTest, PlanExampleLoads) {
  absl::StatusOr<Policy> p = ParseText(kSigstorePolicy);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->scopes().size(), 3u);
  const ScopePolicy& app = p->scopes()[0];
  EXPECT_EQ(app.signatures, std::vector<SignatureKind>{SignatureKind::kSeal});
  EXPECT_EQ(app.trusted_root, nullptr);
  const ScopePolicy& acme = p->scopes()[1];
  EXPECT_EQ(acme.signatures, (std::vector<SignatureKind>{SignatureKind::kSeal, SignatureKind::kCosign}));
  ASSERT_EQ(acme.identities.size(), 2u);
  EXPECT_EQ(acme.identities[0].name, "release");
  EXPECT_EQ(acme.identities[1].name, "acme-tags");
  EXPECT_NE(acme.identities[1].subject_re, nullptr);
  ASSERT_NE(acme.trusted_root, nullptr);
  EXPECT_EQ(acme.trusted_root_name, "public-good");
  EXPECT_EQ(acme.trusted_root->tlogs().size(), 1u);
  EXPECT_EQ(acme.trusted_root->fulcio().size(), 1u);
  EXPECT_TRUE(acme.require_tlog);
  ASSERT_TRUE(acme.signature_repository.has_value());
  EXPECT_EQ(acme.signature_repository->Name(), "ghcr.io/acme/signatures");
  EXPECT_TRUE(MatchIdentity(
      CertIdentity{"https://github.com/acme/tool/.github/workflows/release.yml@refs/tags/v2.0", kActions},
      acme.identities[1]));
  const ScopePolicy& vendor = p->scopes()[2];
  EXPECT_TRUE(vendor.keys.empty());
  EXPECT_FALSE(vendor.Accepts(SignatureKind::kSeal));
  EXPECT_EQ(vendor.trusted_root, acme.trusted_root);  // parsed once, shared
  EXPECT_TRUE(MatchIdentity(CertIdentity{"oncall@acme.example", "https://accounts.google.com"},
                            vendor.identities[0]));
  // The root is a key file: watched, and kept in the last-good copy.
  EXPECT_EQ(p->key_files(), (std::vector<std::string>{dir() + "/keys/ci.pub", dir() + "/keys/cosign.pub",
                                                       dir() + "/sigstore/trusted_root.json"}));
}

// A trusted_root.json replaced under the same path keeps version() but changes trust_version().
TEST_F(PolicySigstoreRootTest, TrustVersionCoversTheRootsBytes) {
  std::string sub = dir() + "/tv";
  std::filesystem::create_directories(sub + "/keys");
  std::filesystem::create_directories(sub + "/sigstore");
  std::filesystem::copy_file(dir() + "/keys/ci.pub", sub + "/keys/ci.pub");
  std::filesystem::copy_file(dir() + "/keys/cosign.pub", sub + "/keys/cosign.pub");
  std::string root = ReadAll(root_->json);
  WriteAll(sub + "/sigstore/trusted_root.json", root);
  WriteAll(sub + "/policy.yaml", kSigstorePolicy);
  absl::StatusOr<Policy> a = Policy::LoadFile(sub + "/policy.yaml");
  ASSERT_TRUE(a.ok()) << a.status();
  // The same JSON, other bytes (whitespace): a different file.
  WriteAll(sub + "/sigstore/trusted_root.json", root + "\n");
  absl::StatusOr<Policy> b = Policy::LoadFile(sub + "/policy.yaml");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->version(), b->version());
  EXPECT_NE(a->trust_version(), b->trust_version());
  // Unchanged bytes: the same trust version.
  absl::StatusOr<Policy> c = Policy::LoadFile(sub + "/policy.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(b->trust_version(), c->trust_version());
}

TEST_F(PolicySigstoreRootTest, TrustedRootRules) {
  std::string head = WithKeys(R"(trustedRoots:
  pg: {path: sigstore/trusted_root.json}
identities:
  release: {issuer: https://token.actions.githubusercontent.com, subject: a@b.example}
)");
  // cosign keys with the default require: the root is what verifies log entries.
  absl::StatusOr<Policy> p = ParseText(StrCat(head,
      "default: {requirement: signed, signatures: [cosign], keys: [cosign], trustedRoot: pg}\n"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->default_scope().require_tlog);
  EXPECT_EQ(p->default_scope().trusted_root_name, "pg");
  // keyless with ignore: refused even with a root.
  EXPECT_THAT(ErrorOf(StrCat(head, "default: {requirement: signed, signatures: [cosign], identities: [release], "
                                   "trustedRoot: pg, transparencyLog: ignore}\n")),
              StartsWith("policy.yaml:9: default.transparencyLog: ignore is not allowed with identities"));
  // An unknown root name.
  EXPECT_THAT(ErrorOf(StrCat(head, "default: {requirement: signed, signatures: [cosign], identities: [release], "
                                   "trustedRoot: staging}\n")),
              StartsWith("policy.yaml:9: default.trustedRoot: unknown trusted root \"staging\""));
  // 16 roots load.
  std::string many = "trustedRoots:\n";
  for (size_t i = 0; i < kMaxPolicyTrustedRoots; ++i) many += StrCat("  r", i, ": {path: sigstore/trusted_root.json}\n");
  EXPECT_TRUE(ParseText(WithKeys(StrCat(many, "default: {requirement: reject}\n"))).ok());
}

}  // namespace
}  // namespace layerseal
