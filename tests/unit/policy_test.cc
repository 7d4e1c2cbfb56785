// The node policy: format, precedence, version, and one test per error kind, each checking
// the line and field the message names. Keys are made by the openssl CLI, not by our code.
#include "verifier/policy.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "gmock/gmock.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/support/files.h"
#include "verifier/digest.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using testing::ReadAll;
using testing::WriteAll;

// Runs a shell command; returns its stdout, or fails the test.
std::string Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  if (p == nullptr) return "";
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << cmd;
  return out;
}

// A public key made by openssl: `genpkey_args` picks the type.
void MakeKey(const std::string& dir, const std::string& name, const std::string& genpkey_args) {
  Shell(StrCat("openssl genpkey ", genpkey_args, " -out ", dir, "/", name, ".key 2>/dev/null && ",
               "openssl pkey -in ", dir, "/", name, ".key -pubout -out ", dir, "/", name, ".pub"));
}

// The policy's text, each line indented by `n` spaces (for inline PEM blocks).
std::string Indent(std::string_view text, int n) {
  std::string out;
  std::string pad(n, ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out += StrCat(pad, text.substr(start, end - start), "\n");
    start = end + 1;
  }
  return out;
}

class PolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/layerseal-policy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    std::filesystem::create_directories(*dir_ + "/keys");
    std::string keys = *dir_ + "/keys";
    MakeKey(keys, "ci", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
    MakeKey(keys, "release", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
    MakeKey(keys, "rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
    MakeKey(keys, "ed", "-algorithm ED25519");
    WriteAll(keys + "/garbage.pub", "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n");
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static const std::string& dir() { return *dir_; }
  static std::string KeyPath(std::string_view name) { return StrCat(*dir_, "/keys/", name, ".pub"); }
  static PublicKey Key(std::string_view name) {
    absl::StatusOr<PublicKey> k = PublicKey::FromPem(ReadAll(KeyPath(name)));
    EXPECT_TRUE(k.ok()) << k.status();
    return *k;
  }

  static absl::StatusOr<Policy> ParseText(std::string_view yaml) {
    return Policy::Parse(yaml, *dir_, "policy.yaml");
  }
  // The error message of a policy that must not load.
  static std::string ErrorOf(std::string_view yaml) {
    absl::StatusOr<Policy> p = ParseText(yaml);
    EXPECT_FALSE(p.ok()) << "loaded:\n" << yaml;
    if (p.ok()) return "";
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(Sv(p.status().message()));
  }
  static const ScopePolicy& Resolve(const Policy& p, std::string_view ref) {
    absl::StatusOr<Reference> r = Reference::Parse(ref);
    EXPECT_TRUE(r.ok()) << r.status();
    return p.Resolve(*r);
  }

  static std::string* dir_;
};

std::string* PolicyTest::dir_ = nullptr;

std::vector<std::string> KeyNames(const ScopePolicy& s) {
  std::vector<std::string> names;
  for (const TrustedKey& k : s.keys) names.push_back(k.name);
  return names;
}

// The example of docs/policy.md, with key paths relative to the test's directory.
constexpr std::string_view kFullPolicy = R"(# the node policy
version: 1
mode: enforce
onRegistryError: deny
keys:
  ci:
    path: keys/ci.pub
  release:
    path: keys/release.pub
  rsa:
    path: keys/rsa.pub
    algorithm: rsa-pss-sha256
default:
  requirement: reject
scopes:
  "registry.example.com/team/app": {requirement: signed, keys: [ci]}
  "registry.example.com/team/*":   {requirement: signed, keys: [ci, release], mode: warn}
  "registry.example.com":          {requirement: signed, keys: [release, rsa], onRegistryError: allow}
  "*.example.org":                 {requirement: insecureAcceptAnything, mode: audit}
)";

TEST_F(PolicyTest, FullPolicyLoads) {
  absl::StatusOr<Policy> p = ParseText(kFullPolicy);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->version(), Digest::Sha256Of(kFullPolicy).str());

  const ScopePolicy& def = p->default_scope();
  EXPECT_EQ(def.scope, "default");
  EXPECT_EQ(def.requirement, Requirement::kReject);
  EXPECT_EQ(def.mode, Mode::kEnforce);
  EXPECT_FALSE(def.allow_on_registry_error);
  EXPECT_TRUE(def.keys.empty());

  ASSERT_EQ(p->scopes().size(), 4u);
  const ScopePolicy& app = p->scopes()[0];
  EXPECT_EQ(app.scope, "registry.example.com/team/app");
  EXPECT_EQ(app.requirement, Requirement::kSigned);
  EXPECT_EQ(app.mode, Mode::kEnforce);
  EXPECT_EQ(KeyNames(app), std::vector<std::string>{"ci"});

  const ScopePolicy& team = p->scopes()[1];
  EXPECT_EQ(team.mode, Mode::kWarn);
  EXPECT_EQ(KeyNames(team), (std::vector<std::string>{"ci", "release"}));
  EXPECT_FALSE(team.allow_on_registry_error);

  const ScopePolicy& reg = p->scopes()[2];
  EXPECT_TRUE(reg.allow_on_registry_error);
  EXPECT_EQ(KeyNames(reg), (std::vector<std::string>{"release", "rsa"}));
  ASSERT_TRUE(reg.keys[1].algorithm.has_value());
  EXPECT_EQ(*reg.keys[1].algorithm, Algorithm::kRsaPssSha256);
  EXPECT_FALSE(reg.keys[0].algorithm.has_value());

  const ScopePolicy& org = p->scopes()[3];
  EXPECT_EQ(org.requirement, Requirement::kInsecureAcceptAnything);
  EXPECT_EQ(org.mode, Mode::kAudit);
}

// docs/policy.md's complete example loads, and resolves as its table says.
TEST_F(PolicyTest, DocumentedExample) {
  std::string doc = ReadAll(LAYERSEAL_SOURCE_DIR "/docs/policy.md");
  size_t start = doc.find("```yaml\n");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  std::string yaml = doc.substr(start, doc.find("```", start) - start);
  WriteAll(dir() + "/documented.yaml", yaml);
  absl::StatusOr<Policy> p = Policy::LoadFile(dir() + "/documented.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Resolve(*p, "registry.example.com/team/app:1.0").scope, "registry.example.com/team/app");
  const ScopePolicy& team = Resolve(*p, "registry.example.com/team/api:2");
  EXPECT_EQ(team.scope, "registry.example.com/team/*");
  EXPECT_EQ(team.mode, Mode::kWarn);
  const ScopePolicy& reg = Resolve(*p, "registry.example.com/tools/build");
  EXPECT_EQ(reg.scope, "registry.example.com");
  EXPECT_EQ(KeyNames(reg), (std::vector<std::string>{"release", "legacy"}));
  EXPECT_EQ(*reg.keys[1].algorithm, Algorithm::kRsaPssSha256);
  const ScopePolicy& mirror = Resolve(*p, "registry.example.com/mirror/debian");
  EXPECT_EQ(mirror.scope, "registry.example.com/mirror");
  EXPECT_TRUE(mirror.allow_on_registry_error);
  EXPECT_FALSE(reg.allow_on_registry_error);
  EXPECT_EQ(Resolve(*p, "cache.example.org/anything").requirement, Requirement::kInsecureAcceptAnything);
  EXPECT_EQ(Resolve(*p, "nginx").scope, "default");
  EXPECT_EQ(Resolve(*p, "nginx").requirement, Requirement::kReject);
}

TEST_F(PolicyTest, FindKeyByKeyId) {
  absl::StatusOr<Policy> p = ParseText(kFullPolicy);
  ASSERT_TRUE(p.ok()) << p.status();
  const ScopePolicy& team = Resolve(*p, "registry.example.com/team/web:1");
  const TrustedKey* release = team.FindKey(Key("release").key_id());
  ASSERT_NE(release, nullptr);
  EXPECT_EQ(release->name, "release");
  EXPECT_EQ(release->key.key_id(), Key("release").key_id());
  EXPECT_EQ(team.FindKey(Key("rsa").key_id()), nullptr);  // trusted elsewhere, not here
  EXPECT_EQ(team.FindKey("sha256:0000"), nullptr);
}

TEST_F(PolicyTest, RequirementNames) {
  EXPECT_EQ(RequirementName(Requirement::kSigned), "signed");
  EXPECT_EQ(RequirementName(Requirement::kReject), "reject");
  EXPECT_EQ(RequirementName(Requirement::kInsecureAcceptAnything), "insecureAcceptAnything");
}

TEST_F(PolicyTest, TopLevelModeAndOnRegistryErrorAreInheritedAndOverridden) {
  absl::StatusOr<Policy> p = ParseText(R"(version: 1
mode: audit
onRegistryError: allow
keys: {ci: {path: keys/ci.pub}}
default: {requirement: signed, keys: [ci]}
scopes:
  "a.example.com": {requirement: signed, keys: [ci], mode: enforce, onRegistryError: deny}
  "b.example.com": {requirement: reject}
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_scope().mode, Mode::kAudit);
  EXPECT_TRUE(p->default_scope().allow_on_registry_error);
  EXPECT_EQ(p->scopes()[0].mode, Mode::kEnforce);
  EXPECT_FALSE(p->scopes()[0].allow_on_registry_error);
  EXPECT_EQ(p->scopes()[1].mode, Mode::kAudit);
  EXPECT_TRUE(p->scopes()[1].allow_on_registry_error);
}

TEST_F(PolicyTest, InlinePemAndBlockStyle) {
  std::string yaml = StrCat("version: 1\nkeys:\n  release:\n    pem: |\n",
                            Indent(ReadAll(KeyPath("release")), 6),
                            "default:\n  requirement: signed\n  keys:\n    - release\n");
  absl::StatusOr<Policy> p = ParseText(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->default_scope().keys.size(), 1u);
  EXPECT_EQ(p->default_scope().keys[0].key.key_id(), Key("release").key_id());
  EXPECT_EQ(Resolve(*p, "anything.example/x").scope, "default");
}

TEST_F(PolicyTest, LoadFileResolvesKeysAgainstThePolicyDirectory) {
  std::string sub = dir() + "/etc";
  std::filesystem::create_directories(sub);
  std::string yaml = R"(version: 1
keys: {ci: {path: ../keys/ci.pub}, abs: {path: )" + KeyPath("release") + R"(}}
default: {requirement: signed, keys: [ci, abs]}
)";
  WriteAll(sub + "/policy.yaml", yaml);
  absl::StatusOr<Policy> p = Policy::LoadFile(sub + "/policy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_scope().keys.size(), 2u);
  // The version is the SHA-256 of the file's bytes, as sha256sum computes it.
  std::string sum = Shell(StrCat("sha256sum ", sub, "/policy.yaml"));
  EXPECT_EQ(p->version(), StrCat("sha256:", sum.substr(0, 64)));

  // Errors are prefixed with the file's path.
  WriteAll(sub + "/bad.yaml", "version: 1\nkeys: {ci: {path: keys/ci.pub}}\ndefault: {requirement: reject}\n");
  absl::StatusOr<Policy> bad = Policy::LoadFile(sub + "/bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(Sv(bad.status().message())),
              StartsWith(StrCat(sub, "/bad.yaml:2: keys[\"ci\"].path: cannot open \"", sub,
                                "/keys/ci.pub\": No such file or directory")));

  absl::StatusOr<Policy> missing = Policy::LoadFile(sub + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(Sv(missing.status().message())), HasSubstr("nope.yaml"));
}

// ---- Precedence ----

constexpr std::string_view kPrecedencePolicy = R"(version: 1
keys: {ci: {path: keys/ci.pub}}
default: {requirement: reject}
scopes:
  "registry.example.com": {requirement: insecureAcceptAnything}
  "registry.example.com/team": {requirement: insecureAcceptAnything}
  "registry.example.com/team/app": {requirement: insecureAcceptAnything}
  "registry.example.com/team/app/*": {requirement: insecureAcceptAnything}
  "registry.example.com/team/*": {requirement: insecureAcceptAnything}
  "registry.example.com/team/web-*": {requirement: insecureAcceptAnything}
  "registry.example.com/*/tools": {requirement: insecureAcceptAnything}
  "registry.example.com/ops-*": {requirement: insecureAcceptAnything}
  "registry.example.com:5000": {requirement: insecureAcceptAnything}
  "127.0.0.1:5000/team": {requirement: insecureAcceptAnything}
  "localhost/dev": {requirement: insecureAcceptAnything}
  "[::1]:5000": {requirement: insecureAcceptAnything}
  "docker.io/library/nginx": {requirement: insecureAcceptAnything}
  "*.example.org": {requirement: insecureAcceptAnything}
  "*.sub.example.org": {requirement: insecureAcceptAnything}
  "pinned.example.org": {requirement: insecureAcceptAnything}
  "*.example.org:5000": {requirement: insecureAcceptAnything}
)";

struct PrecedenceCase {
  std::string ref;
  std::string_view scope;
};

TEST_F(PolicyTest, MostSpecificScopeWins) {
  absl::StatusOr<Policy> p = ParseText(kPrecedencePolicy);
  ASSERT_TRUE(p.ok()) << p.status();
  const PrecedenceCase cases[] = {
      // Exact name beats everything.
      {"registry.example.com/team/app:1", "registry.example.com/team/app"},
      {"registry.example.com/team/app@sha256:" + std::string(64, 'a'), "registry.example.com/team/app"},
      // A literal scope equal to the name beats a same-length glob.
      {"registry.example.com/team", "registry.example.com/team"},
      // Deeper: the trailing /* (4 segments) beats the literal prefix team/app (3).
      {"registry.example.com/team/app/sub", "registry.example.com/team/app/*"},
      {"registry.example.com/team/app/sub/deeper", "registry.example.com/team/app/*"},
      // team/* (3 segments) beats the literal team (2) and the host (1).
      {"registry.example.com/team/api", "registry.example.com/team/*"},
      {"registry.example.com/team/api/v2", "registry.example.com/team/*"},
      // Same length, both globs: more fixed characters win (web-* over *).
      {"registry.example.com/team/web-frontend", "registry.example.com/team/web-*"},
      // Same length: a literal segment further left wins (team/* over */tools).
      {"registry.example.com/team/tools", "registry.example.com/team/*"},
      {"registry.example.com/infra/tools", "registry.example.com/*/tools"},
      {"registry.example.com/infra/tools/x", "registry.example.com/*/tools"},
      // Path prefixes only at '/' boundaries.
      {"registry.example.com/teamx/app", "registry.example.com"},
      {"registry.example.com/teamx", "registry.example.com"},
      {"registry.example.com/ops-a", "registry.example.com/ops-*"},
      {"registry.example.com/ops-a/deep/er", "registry.example.com/ops-*"},
      {"registry.example.com/ops", "registry.example.com"},
      // The port is part of the registry.
      {"registry.example.com:5000/team/app", "registry.example.com:5000"},
      {"registry.example.com:5001/team/app", "default"},
      {"127.0.0.1:5000/team/app", "127.0.0.1:5000/team"},
      {"127.0.0.1:5000/other", "default"},
      {"127.0.0.1/team/app", "default"},
      {"localhost/dev/x", "localhost/dev"},
      {"[::1]:5000/a", "[::1]:5000"},
      // docker.io normalization happens in the reference.
      {"nginx", "docker.io/library/nginx"},
      {"docker.io/library/nginx:1.25", "docker.io/library/nginx"},
      {"docker.io/library/redis", "default"},
      // Host wildcards: any depth of subdomain, never the domain itself; the longest suffix
      // wins; a literal host beats a wildcard.
      {"a.example.org/x", "*.example.org"},
      {"a.b.c.example.org/x/y", "*.example.org"},
      {"sub.example.org/x", "*.example.org"},
      {"a.sub.example.org/x", "*.sub.example.org"},
      {"pinned.example.org/x", "pinned.example.org"},
      {"example.org/x", "default"},
      {"badexample.org/x", "default"},
      {"a.example.org:5000/x", "*.example.org:5000"},
      {"a.example.org:5001/x", "default"},
      // Registries compare without case.
      {"REGISTRY.Example.com/team/app", "registry.example.com/team/app"},
      {"unrelated.example.com/x", "default"},
  };
  for (const PrecedenceCase& c : cases) {
    EXPECT_EQ(Resolve(*p, c.ref).scope, c.scope) << c.ref;
  }
}

TEST_F(PolicyTest, ScopeOrderInTheFileDoesNotMatter) {
  // The same scopes, most specific first instead of last.
  absl::StatusOr<Policy> p = ParseText(R"(version: 1
default: {requirement: reject}
scopes:
  "r.example.com/a/b": {requirement: insecureAcceptAnything}
  "r.example.com/a/*": {requirement: insecureAcceptAnything}
  "r.example.com/a": {requirement: insecureAcceptAnything}
  "r.example.com": {requirement: insecureAcceptAnything}
)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Resolve(*p, "r.example.com/a/b").scope, "r.example.com/a/b");
  EXPECT_EQ(Resolve(*p, "r.example.com/a/c").scope, "r.example.com/a/*");
  EXPECT_EQ(Resolve(*p, "r.example.com/a").scope, "r.example.com/a");
  EXPECT_EQ(Resolve(*p, "r.example.com/b").scope, "r.example.com");
}

TEST_F(PolicyTest, AmbiguousGlobsAreAnErrorAtLoad) {
  std::string msg = ErrorOf(R"(version: 1
default: {requirement: reject}
scopes:
  "r.example.com/team-*": {requirement: reject}
  "r.example.com/*-team": {requirement: reject}
)");
  EXPECT_THAT(msg, StartsWith("policy.yaml:5: scopes[\"r.example.com/*-team\"]: as specific as "
                              "scopes[\"r.example.com/team-*\"] (line 4)"));
  // Same rank but disjoint: no name matches both, so no tie is possible.
  EXPECT_TRUE(ParseText(R"(version: 1
default: {requirement: reject}
scopes:
  "r.example.com/a*b": {requirement: reject}
  "r.example.com/c*d": {requirement: reject}
  "r.example.com/x*y/*": {requirement: reject}
  "r.example.com/x*z/*": {requirement: reject}
)").ok());
  EXPECT_THAT(ErrorOf(R"(version: 1
default: {requirement: reject}
scopes:
  "r.example.com/*/app": {requirement: reject}
  "r.example.com/*/*": {requirement: reject}
  "r.example.com/a*/*": {requirement: reject}
  "r.example.com/*a/*": {requirement: reject}
)"),
              StartsWith("policy.yaml:7: scopes[\"r.example.com/*a/*\"]: as specific as "
                         "scopes[\"r.example.com/a*/*\"] (line 6)"));
}

// ---- Version ----

TEST_F(PolicyTest, VersionIsTheSha256OfTheBytes) {
  std::string base = std::string(kFullPolicy);
  absl::StatusOr<Policy> p = ParseText(base);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->version(), StartsWith("sha256:"));
  EXPECT_EQ(p->version().size(), 7u + 64u);
  EXPECT_EQ(ParseText(base)->version(), p->version());  // deterministic

  // Any byte change, even one YAML ignores, is a new version.
  const std::string variants[] = {
      base + "\n",
      base + "# comment\n",
      "#" + base,
      std::string(absl::StrReplaceAll(base, {{"mode: enforce", "mode:  enforce"}})),
      std::string(absl::StrReplaceAll(base, {{"mode: enforce", "mode: warn"}})),
  };
  std::set<std::string> versions = {p->version()};
  for (const std::string& v : variants) {
    absl::StatusOr<Policy> q = ParseText(v);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->version(), Digest::Sha256Of(v).str());
    versions.insert(q->version());
  }
  EXPECT_EQ(versions.size(), 1u + std::size(variants));
}

TEST_F(PolicyTest, TrustVersionFollowsTheKeysAndKeyFilesAreListed) {
  std::string sub = dir() + "/trust";
  std::filesystem::create_directories(sub);
  std::string yaml = "version: 1\nkeys: {ci: {path: ci.pub}}\ndefault: {requirement: signed, keys: [ci]}\n";
  WriteAll(sub + "/policy.yaml", yaml);
  WriteAll(sub + "/ci.pub", ReadAll(KeyPath("ci")));
  absl::StatusOr<Policy> before = Policy::LoadFile(sub + "/policy.yaml");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->key_files(), std::vector<std::string>{sub + "/ci.pub"});
  // The same policy bytes over another key under the same path: same version, new trust.
  WriteAll(sub + "/ci.pub", ReadAll(KeyPath("release")));
  absl::StatusOr<Policy> after = Policy::LoadFile(sub + "/policy.yaml");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version(), before->version());
  EXPECT_NE(after->trust_version(), before->trust_version());
  EXPECT_THAT(after->trust_version(), StartsWith("sha256:"));
  EXPECT_EQ(Policy::LoadFile(sub + "/policy.yaml")->trust_version(), after->trust_version());
}

// ---- TrustingKeys ----

TEST_F(PolicyTest, TrustingKeys) {
  PublicKey ci = Key("ci"), ed = Key("ed");
  Policy p = Policy::TrustingKeys({ci, ed});
  for (std::string_view ref : {"nginx", "registry.example.com/team/app:1", "127.0.0.1:5000/x"}) {
    const ScopePolicy& s = Resolve(p, ref);
    EXPECT_EQ(s.scope, "default");
    EXPECT_EQ(s.requirement, Requirement::kSigned);
    EXPECT_EQ(s.mode, Mode::kEnforce);
    EXPECT_FALSE(s.allow_on_registry_error);
    ASSERT_EQ(s.keys.size(), 2u);
    EXPECT_NE(s.FindKey(ci.key_id()), nullptr);
    EXPECT_NE(s.FindKey(ed.key_id()), nullptr);
    EXPECT_EQ(s.FindKey(Key("release").key_id()), nullptr);
  }
  EXPECT_EQ(p.scopes().size(), 0u);
  EXPECT_EQ(p.version(), Digest::Sha256Of(ci.key_id() + ed.key_id()).str());
  EXPECT_NE(Policy::TrustingKeys({ed, ci}).version(), p.version());  // order is part of it
  EXPECT_EQ(p.default_scope().keys[0].name, ci.key_id());
}

// ---- Errors: each names the line and the field ----

TEST_F(PolicyTest, SyntaxErrorNamesTheLine) {
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {requirement: reject}\nscopes: [a,\n"),
              StartsWith("policy.yaml:4: invalid YAML: "));
  EXPECT_THAT(ErrorOf("version: 1\n  bad indent: x\n"), StartsWith("policy.yaml:2: invalid YAML: "));
  // Deep nesting is a parse error, not a crash.
  EXPECT_THAT(ErrorOf(std::string(100000, '[')), StartsWith("policy.yaml:1: invalid YAML: nested too deeply"));
}

TEST_F(PolicyTest, UnknownFieldsAnywhere) {
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {requirement: reject}\nmodes: warn\n"),
              StartsWith("policy.yaml:3: modes: unknown field (expected one of: version, mode, "
                         "onRegistryError, keys, trustedRoots, identities, trustStores, default, scopes)"));
  EXPECT_THAT(ErrorOf("version: 1\ndefault:\n  requirement: reject\n  requirment: signed\n"),
              StartsWith("policy.yaml:4: default.requirment: unknown field"));
  EXPECT_THAT(ErrorOf(R"(version: 1
keys:
  ci:
    path: keys/ci.pub
    paths: keys/ci.pub
default: {requirement: reject}
)"),
              StartsWith("policy.yaml:5: keys[\"ci\"].paths: unknown field (expected one of: path, "
                         "pem, algorithm)"));
  EXPECT_THAT(ErrorOf(R"(version: 1
default: {requirement: reject}
scopes:
  "a.example.com":
    requirement: reject
    mod: warn
)"),
              StartsWith("policy.yaml:6: scopes[\"a.example.com\"].mod: unknown field"));
}

TEST_F(PolicyTest, DuplicateKeys) {
  EXPECT_THAT(ErrorOf("version: 1\nmode: warn\ndefault: {requirement: reject}\nmode: enforce\n"),
              StartsWith("policy.yaml:4: mode: duplicate key (first on line 2)"));
  EXPECT_THAT(ErrorOf(R"(version: 1
keys:
  ci: {path: keys/ci.pub}
  ci: {path: keys/release.pub}
default: {requirement: reject}
)"),
              StartsWith("policy.yaml:4: keys[\"ci\"]: duplicate key (first on line 3)"));
  EXPECT_THAT(ErrorOf(R"(version: 1
default: {requirement: reject}
scopes:
  "a.example.com": {requirement: reject}
  "b.example.com": {requirement: reject}
  "a.example.com": {requirement: insecureAcceptAnything}
)"),
              StartsWith("policy.yaml:6: scopes[\"a.example.com\"]: duplicate key (first on line 4)"));
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {requirement: reject, requirement: signed}\n"),
              StartsWith("policy.yaml:2: default.requirement: duplicate key (first on line 2)"));
}

TEST_F(PolicyTest, MissingKeyFile) {
  std::string msg = ErrorOf(R"(version: 1
keys:
  ci:
    path: keys/nope.pub
default: {requirement: reject}
)");
  EXPECT_EQ(msg, StrCat("policy.yaml:4: keys[\"ci\"].path: cannot open \"", dir(),
                        "/keys/nope.pub\": No such file or directory"));
  // A directory is not a key file either.
  EXPECT_THAT(ErrorOf("version: 1\nkeys: {ci: {path: keys}}\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: keys[\"ci\"].path: "));
  EXPECT_THAT(ErrorOf("version: 1\nkeys: {ci: {path: \"\"}}\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: keys[\"ci\"].path: empty path"));
}

TEST_F(PolicyTest, BadPem) {
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  ci: {path: keys/garbage.pub}\ndefault: {requirement: reject}\n"),
              StartsWith(StrCat("policy.yaml:3: keys[\"ci\"].path: \"", dir(), "/keys/garbage.pub\": ")));
  // A private key is not a public key.
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  ci: {path: keys/ci.key}\ndefault: {requirement: reject}\n"),
              StartsWith(StrCat("policy.yaml:3: keys[\"ci\"].path: \"", dir(), "/keys/ci.key\": ")));
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  ci:\n    pem: not a pem\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:4: keys[\"ci\"].pem: "));
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  ci: {path: keys/ci.pub, pem: x}\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:3: keys[\"ci\"]: give exactly one of path or pem"));
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  ci: {}\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:3: keys[\"ci\"]: give exactly one of path or pem"));
}

TEST_F(PolicyTest, AlgorithmPin) {
  EXPECT_THAT(ErrorOf(R"(version: 1
keys:
  ci:
    path: keys/ci.pub
    algorithm: rsa-pss-sha256
default: {requirement: reject}
)"),
              StartsWith("policy.yaml:5: keys[\"ci\"].algorithm: rsa-pss-sha256 does not fit this key "
                         "(it fits: ecdsa-p256-sha256)"));
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  ci: {path: keys/ci.pub, algorithm: md5}\n"
                      "default: {requirement: reject}\n"),
              StartsWith("policy.yaml:3: keys[\"ci\"].algorithm: "));
  for (std::string_view alg : {"rsa-pkcs1v15-sha256", "rsa-pss-sha256"}) {
    absl::StatusOr<Policy> p = ParseText(StrCat("version: 1\nkeys:\n  rsa: {path: keys/rsa.pub, algorithm: ",
                                                alg, "}\ndefault: {requirement: signed, keys: [rsa]}\n"));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(AlgorithmName(*p->default_scope().keys[0].algorithm), alg);
  }
}

TEST_F(PolicyTest, SameKeyUnderTwoNames) {
  EXPECT_THAT(ErrorOf(R"(version: 1
keys:
  ci: {path: keys/ci.pub}
  ci2: {path: keys/ci.pub}
default: {requirement: reject}
)"),
              StartsWith("policy.yaml:4: keys[\"ci2\"]: the same public key as keys[\"ci\"]"));
}

TEST_F(PolicyTest, BadKeyName) {
  EXPECT_THAT(ErrorOf("version: 1\nkeys:\n  \"c i\": {path: keys/ci.pub}\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:3: keys[\"c i\"]: a key name is"));
}

TEST_F(PolicyTest, SignedNeedsKeys) {
  EXPECT_THAT(ErrorOf("version: 1\ndefault:\n  requirement: signed\n"),
              StartsWith("policy.yaml:2: default: requirement signed needs keys"));
  EXPECT_THAT(ErrorOf(R"(version: 1
keys: {ci: {path: keys/ci.pub}}
default: {requirement: reject}
scopes:
  "a.example.com": {requirement: signed, keys: []}
)"),
              StartsWith("policy.yaml:5: scopes[\"a.example.com\"].keys: requirement signed needs at "
                         "least one key"));
  EXPECT_THAT(ErrorOf(R"(version: 1
keys: {ci: {path: keys/ci.pub}}
default: {requirement: reject}
scopes:
  "a.example.com":
    requirement: signed
    keys:
)"),
              StartsWith("policy.yaml:7: scopes[\"a.example.com\"].keys: expected a list of key names, "
                         "got nothing"));
  // Keys on a scope that does not check signatures would be silently ignored: refused.
  EXPECT_THAT(ErrorOf(R"(version: 1
keys: {ci: {path: keys/ci.pub}}
default: {requirement: reject, keys: [ci]}
)"),
              StartsWith("policy.yaml:3: default.keys: keys apply only to requirement signed, not reject"));
}

TEST_F(PolicyTest, UnknownKeyNameNamesLineAndScope) {
  EXPECT_EQ(ErrorOf(R"(version: 1
keys:
  ci: {path: keys/ci.pub}
default: {requirement: reject}
scopes:
  "a.example.com":
    requirement: signed
    keys:
      - ci
      - cx
)"),
            "policy.yaml:10: scopes[\"a.example.com\"].keys[1]: unknown key \"cx\"");
  EXPECT_EQ(ErrorOf(R"(version: 1
keys:
  ci: {path: keys/ci.pub}
default: {requirement: signed, keys: [ci, ci]}
)"),
            "policy.yaml:4: default.keys[1]: key \"ci\" is listed twice");
}

TEST_F(PolicyTest, UnknownValues) {
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {requirement: sined}\n"),
              StartsWith("policy.yaml:2: default.requirement: unknown value \"sined\" (expected one "
                         "of: signed, reject, insecureAcceptAnything)"));
  EXPECT_THAT(ErrorOf("version: 1\nmode: enforcing\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: mode: unknown value \"enforcing\" (expected one of: enforce, "
                         "warn, audit)"));
  EXPECT_THAT(ErrorOf(R"(version: 1
default: {requirement: reject}
scopes:
  "a.example.com":
    requirement: reject
    mode: Warn
)"),
              StartsWith("policy.yaml:6: scopes[\"a.example.com\"].mode: unknown value \"Warn\""));
  EXPECT_THAT(ErrorOf("version: 1\nonRegistryError: yes\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: onRegistryError: unknown value \"yes\" (expected one of: "
                         "deny, allow)"));
  EXPECT_THAT(ErrorOf("version: 1\nmode: [warn]\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: mode: expected a string, got a list"));
  EXPECT_THAT(ErrorOf("version: 1\nmode: ~\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: mode: expected a string, got nothing"));
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {mode: warn}\n"),
              StartsWith("policy.yaml:2: default: missing field \"requirement\""));
}

TEST_F(PolicyTest, VersionAndRequiredFields) {
  EXPECT_THAT(ErrorOf("default: {requirement: reject}\n"),
              StartsWith("policy.yaml:1: missing field \"version\""));
  EXPECT_THAT(ErrorOf("# header\nversion: 2\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:2: version: unsupported policy version \"2\""));
  EXPECT_THAT(ErrorOf("version: \"1\"\ndefault: {requirement: reject}\n"),
              StartsWith("policy.yaml:1: version: unsupported policy version \"1\""));
  EXPECT_THAT(ErrorOf("version: 1\n"), StartsWith("policy.yaml:1: missing field \"default\""));
  EXPECT_THAT(ErrorOf("version: 1\ndefault:\n"),
              StartsWith("policy.yaml:2: default: expected a map, got nothing"));
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {requirement: reject}\nscopes: [a.example.com]\n"),
              StartsWith("policy.yaml:3: scopes: expected a map, got a list"));
}

TEST_F(PolicyTest, EmptyOrNotOneMap) {
  EXPECT_EQ(ErrorOf(""), "policy.yaml:1: the policy is empty");
  EXPECT_EQ(ErrorOf("# only a comment\n"), "policy.yaml:1: the policy is empty");
  EXPECT_THAT(ErrorOf("---\n"), HasSubstr("the policy is empty"));
  EXPECT_THAT(ErrorOf("- version: 1\n"), StartsWith("policy.yaml:1: expected a map, got a list"));
  EXPECT_THAT(ErrorOf("version: 1\ndefault: {requirement: reject}\n---\nversion: 1\n"),
              StartsWith("policy.yaml:4: a policy is one YAML document"));
}

TEST_F(PolicyTest, BadScopes) {
  struct Case {
    std::string_view scope;
    std::string_view message;
  };
  const Case cases[] = {
      {"nginx", "\"nginx\" is not a registry host"},
      {"library/nginx", "\"library\" is not a registry host"},
      {"Registry.example.com/x", "uppercase"},
      {"registry.example.com/Team", "uppercase"},
      {"registry.example.com/app:1.0", "not tags or digests"},
      {"registry.example.com/app@sha256:00", "not tags or digests"},
      {"registry.example.com//app", "empty path segment"},
      {"registry.example.com/app/", "empty path segment"},
      {"/registry.example.com", "empty path segment"},
      {"*", "that is what default is for"},
      {"*.example.org/team", "takes no path"},
      {"reg*.example.com/x", "'*' in a host"},
      {"registry.example.com/a?b", "'*' is the only wildcard"},
      {"registry.example.com/[ab]", "'*' is the only wildcard"},
      {"registry.example.com:http/x", "bad port"},
      {"", "empty scope"},
  };
  for (const Case& c : cases) {
    std::string yaml = StrCat("version: 1\ndefault: {requirement: reject}\nscopes:\n  \"", c.scope,
                              "\": {requirement: reject}\n");
    std::string msg = ErrorOf(yaml);
    EXPECT_THAT(msg, StartsWith(StrCat("policy.yaml:4: scopes[\"", c.scope, "\"]: "))) << c.scope;
    EXPECT_THAT(msg, HasSubstr(c.message)) << c.scope;
  }
  EXPECT_THAT(ErrorOf(StrCat("version: 1\ndefault: {requirement: reject}\nscopes:\n  \"r.example.com/",
                             std::string(300, 'a'), "\": {requirement: reject}\n")),
              HasSubstr("longer than 255 bytes"));
}

TEST_F(PolicyTest, TooLargeIsRejected) {
  std::string yaml = "version: 1\ndefault: {requirement: reject}\n";
  yaml += "# " + std::string(2 << 20, 'x') + "\n";
  EXPECT_THAT(ErrorOf(yaml), StartsWith(StrCat("policy.yaml: the policy is ", yaml.size(),
                                               " bytes; the limit is 1048576")));
  std::string path = dir() + "/big.yaml";
  WriteAll(path, yaml);
  absl::StatusOr<Policy> p = Policy::LoadFile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(Sv(p.status().message())), HasSubstr("is larger than 1048576 bytes"));
  // Exactly at the limit is fine.
  std::string at_limit = "version: 1\ndefault: {requirement: reject}\n#";
  at_limit += std::string(kMaxPolicyBytes - at_limit.size(), 'x');
  EXPECT_TRUE(ParseText(at_limit).ok());
}

TEST_F(PolicyTest, ScopeCountLimit) {
  // At the limit, all globs of one rank: the load-time ambiguity check must still accept it.
  auto many = [](size_t n) {
    std::string yaml = "version: 1\ndefault: {requirement: reject}\nscopes:\n";
    for (size_t i = 0; i < n; ++i) {
      yaml += StrCat("  \"r.example.com/x", 100000 + i, "-*/*\": {requirement: reject}\n");
    }
    return yaml;
  };
  absl::StatusOr<Policy> p = ParseText(many(kMaxPolicyScopes));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Resolve(*p, "r.example.com/x100007-a/b").scope, "r.example.com/x100007-*/*");
  EXPECT_THAT(ErrorOf(many(kMaxPolicyScopes + 1)), StartsWith("policy.yaml:3: scopes: more than 4096 scopes"));
}

// Every prefix of a valid policy either loads or is an error with a location: yaml-cpp's
// exceptions never escape, and nothing crashes on half-written files.
TEST_F(PolicyTest, EveryTruncationLoadsOrFailsCleanly) {
  std::string full(kFullPolicy);
  for (size_t n = 0; n < full.size(); ++n) {
    absl::StatusOr<Policy> p = ParseText(full.substr(0, n));
    if (!p.ok()) {
      EXPECT_THAT(std::string(Sv(p.status().message())), StartsWith("policy.yaml:")) << n;
    }
  }
}

TEST_F(PolicyTest, YamlMergeKeysAreNotSupported) {
  // yaml-cpp reads "<<" as a plain key; it must not be mistaken for anything else.
  EXPECT_THAT(ErrorOf(R"(version: 1
base: &b {requirement: reject}
default: {requirement: reject}
)"),
              StartsWith("policy.yaml:2: base: unknown field"));
  EXPECT_THAT(ErrorOf(R"(version: 1
default:
  <<: {requirement: reject}
)"),
              StartsWith("policy.yaml:3: default.<<: unknown field"));
}

TEST_F(PolicyTest, DefaultConstructedPolicyRejects) {
  Policy p;
  EXPECT_EQ(Resolve(p, "nginx").requirement, Requirement::kReject);
}

}  // namespace
}  // namespace layerseal
