// The policy's image-integrity and continuous-validation fields (issue 18, docs/policy.md
// "Image-integrity rules"): trustedBases, protectedPaths, packageInventory, onRevoked. One
// test per load-time rule, good and bad, each checking the line and field the message
// names; the trust version's dependence on the rules; reference resolution.
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/files.h"
#include "verifier/policy.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;

const std::string kChainA = "sha256:" + std::string(64, 'a');
const std::string kChainB = "sha256:" + std::string(64, 'b');
const std::string kManifest = "sha256:" + std::string(64, 'c');

class PolicyIntegrityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/layerseal-policy-integrity-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    std::filesystem::create_directories(*dir_ + "/keys");
    std::string cmd = StrCat("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ",
                             *dir_, "/keys/ci.key 2>/dev/null && openssl pkey -in ", *dir_,
                             "/keys/ci.key -pubout -out ", *dir_, "/keys/ci.pub");
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  // A policy: a `ci` key, then `body` (the default and scopes).
  static absl::StatusOr<Policy> Load(const std::string& body) {
    return Policy::Parse(StrCat("version: 1\nkeys:\n  ci: {path: keys/ci.pub}\n", body), *dir_,
                         "policy.yaml");
  }
  static Policy MustLoad(const std::string& body) {
    absl::StatusOr<Policy> p = Load(body);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : Policy::TrustingKeys({});
  }
  static void ExpectError(const std::string& body, const std::string& message) {
    absl::StatusOr<Policy> p = Load(body);
    ASSERT_FALSE(p.ok()) << body;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(p.status().message()), message) << body;
  }

  static std::string* dir_;
};
std::string* PolicyIntegrityTest::dir_ = nullptr;

TEST_F(PolicyIntegrityTest, PoliciesWithoutTheFieldsMeanWhatTheyMeant) {
  Policy p = MustLoad("default: {requirement: signed, keys: [ci]}\n"
                      "scopes:\n  \"r.example.com\": {requirement: insecureAcceptAnything}\n");
  EXPECT_TRUE(p.default_scope().integrity.empty());
  EXPECT_FALSE(p.default_scope().integrity.needs_layers());
  EXPECT_EQ(p.default_scope().on_revoked, OnRevoked::kReport);
  EXPECT_TRUE(p.scopes()[0].integrity.empty());
  EXPECT_EQ(p.scopes()[0].integrity.protected_paths, nullptr);
}

TEST_F(PolicyIntegrityTest, AllFieldsInBlockStyle) {
  Policy p = MustLoad(StrCat(
      "default:\n"
      "  requirement: signed\n"
      "  keys: [ci]\n"
      "  trustedBases:\n"
      "    - ", kChainA, "\n"
      "    - debian:12@", kManifest, "\n"
      "    - {name: alpine-3.19, chainId: ", kChainB, "}\n"
      "    - name: distroless\n"
      "      ref: gcr.io/distroless/static@", kManifest, "\n"
      "  protectedPaths: [\"/bin/*\", /etc/passwd, \"/usr/**/lib*.so*\"]\n"
      "  packageInventory: true\n"
      "  onRevoked: stop\n"));
  const ScopePolicy& d = p.default_scope();
  ASSERT_EQ(d.integrity.trusted_bases.size(), 4u);
  const TrustedBase& a = d.integrity.trusted_bases[0];
  EXPECT_EQ(a.name, kChainA);
  ASSERT_TRUE(a.chain_id.has_value());
  EXPECT_EQ(a.chain_id->str(), kChainA);
  EXPECT_FALSE(a.reference.has_value());
  EXPECT_EQ(a.unresolved, "");
  const TrustedBase& deb = d.integrity.trusted_bases[1];
  EXPECT_EQ(deb.name, StrCat("debian:12@", kManifest));
  ASSERT_TRUE(deb.reference.has_value());
  EXPECT_EQ(deb.reference->Name(), "docker.io/library/debian");
  EXPECT_EQ(deb.reference->digest->str(), kManifest);
  EXPECT_FALSE(deb.chain_id.has_value());
  EXPECT_THAT(deb.unresolved, HasSubstr("not resolved yet"));
  EXPECT_EQ(d.integrity.trusted_bases[2].name, "alpine-3.19");
  EXPECT_EQ(d.integrity.trusted_bases[2].chain_id->str(), kChainB);
  EXPECT_EQ(d.integrity.trusted_bases[3].name, "distroless");
  EXPECT_EQ(d.integrity.trusted_bases[3].reference->Name(), "gcr.io/distroless/static");
  EXPECT_EQ(d.integrity.protected_path_patterns,
            (std::vector<std::string>{"/bin/*", "/etc/passwd", "/usr/**/lib*.so*"}));
  ASSERT_NE(d.integrity.protected_paths, nullptr);
  EXPECT_EQ(d.integrity.protected_paths->globs().size(), 3u);
  EXPECT_TRUE(d.integrity.packages);
  EXPECT_TRUE(d.integrity.needs_layers());
  EXPECT_FALSE(d.integrity.empty());
  EXPECT_EQ(d.on_revoked, OnRevoked::kStop);
}

TEST_F(PolicyIntegrityTest, FieldsPerScopeAndUnderInsecureAcceptAnything) {
  Policy p = MustLoad(StrCat(
      "default: {requirement: reject, onRevoked: stop}\n"
      "scopes:\n"
      "  \"r.example.com/team\": {requirement: signed, keys: [ci], trustedBases: [", kChainA, "]}\n"
      "  \"r.example.com/vendor\":\n"
      "    requirement: insecureAcceptAnything\n"
      "    protectedPaths: [/bin/*]\n"
      "    packageInventory: false\n"));
  EXPECT_EQ(p.default_scope().on_revoked, OnRevoked::kStop);
  EXPECT_TRUE(p.default_scope().integrity.empty());
  ASSERT_EQ(p.scopes().size(), 2u);
  EXPECT_EQ(p.scopes()[0].integrity.trusted_bases.size(), 1u);
  EXPECT_FALSE(p.scopes()[0].integrity.needs_layers());
  EXPECT_EQ(p.scopes()[0].on_revoked, OnRevoked::kReport);
  EXPECT_EQ(p.scopes()[1].integrity.protected_path_patterns, std::vector<std::string>{"/bin/*"});
  EXPECT_FALSE(p.scopes()[1].integrity.packages);
}

TEST_F(PolicyIntegrityTest, YamlAnchorsShareOneList) {
  Policy p = MustLoad(StrCat(
      "default:\n"
      "  requirement: signed\n"
      "  keys: [ci]\n"
      "  trustedBases: &bases [", kChainA, ", ", kChainB, "]\n"
      "scopes:\n"
      "  \"r.example.com\": {requirement: signed, keys: [ci], trustedBases: *bases}\n"));
  EXPECT_EQ(p.scopes()[0].integrity.trusted_bases.size(), 2u);
  EXPECT_EQ(p.scopes()[0].integrity.Fingerprint(), p.default_scope().integrity.Fingerprint());
}

TEST_F(PolicyIntegrityTest, TrustedBaseErrorsNameTheLine) {
  // A tag alone: the base would move under the policy.
  ExpectError("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
              "    - debian:12\n",
              "policy.yaml:8: default.trustedBases[0]: \"debian:12\" has no digest: a trusted base "
              "is pinned (debian:12@sha256:<manifest digest>, or its ChainID), since a tag can "
              "move and the base with it");
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - ", kChainA, "\n    - {name: x, ref: debian}\n"),
              "policy.yaml:9: default.trustedBases[1].ref: \"debian\" has no digest: a trusted "
              "base is pinned (debian:12@sha256:<manifest digest>, or its ChainID), since a tag "
              "can move and the base with it");
  ExpectError("default: {requirement: signed, keys: [ci], trustedBases: [sha256:abc]}\n",
              "policy.yaml:4: default.trustedBases[0]: not a ChainID: digest \"sha256:abc\": want 64 "
              "lowercase hex digits after \"sha256:\"");
  ExpectError(StrCat("default: {requirement: signed, keys: [ci], trustedBases: [sha512:",
                     std::string(128, 'a'), "]}\n"),
              StrCat("policy.yaml:4: default.trustedBases[0]: a ChainID is sha256:<64 hex> "
                     "(layerseal inspect prints them), not \"sha512:",
                     std::string(93, 'a'), "\"..."));
  ExpectError("default: {requirement: signed, keys: [ci], trustedBases: [\"Not A Ref\"]}\n",
              "policy.yaml:4: default.trustedBases[0]: neither a ChainID (sha256:<64 hex>) nor "
              "an image reference: image reference \"Not A Ref\": invalid repository component "
              "\"Not A Ref\" (lowercase letters, digits, separators . _ __ -)");
  ExpectError("default: {requirement: signed, keys: [ci], trustedBases: []}\n",
              "policy.yaml:4: default.trustedBases: an empty list (no image could be admitted; "
              "use requirement: reject)");
  ExpectError("default: {requirement: signed, keys: [ci], trustedBases: debian}\n",
              "policy.yaml:4: default.trustedBases: expected a list of trusted bases, got a string");
  ExpectError("default: {requirement: signed, keys: [ci], trustedBases: [[a]]}\n",
              "policy.yaml:4: default.trustedBases[0]: expected a ChainID, a reference with a "
              "digest, or a map {name, chainId | ref}, got a list");
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - {name: a, chainId: ", kChainA, ", ref: x@", kManifest, "}\n"),
              "policy.yaml:8: default.trustedBases[0]: give exactly one of chainId or ref");
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - {name: a, chainid: ", kChainA, "}\n"),
              "policy.yaml:8: default.trustedBases[0].chainid: unknown field (expected one of: "
              "name, chainId, ref)");
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - {name: \"a b\", chainId: ", kChainA, "}\n"),
              "policy.yaml:8: default.trustedBases[0].name: a trusted base name is 1 to 64 of "
              "A-Z a-z 0-9 . _ -");
  // A ref field must be a reference, a chainId field a ChainID.
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - {chainId: debian@", kManifest, "}\n"),
              StrCat("policy.yaml:8: default.trustedBases[0].chainId: not a ChainID: digest \"debian@",
                     kManifest, "\": unsupported algorithm (sha256 or sha512)"));
}

TEST_F(PolicyIntegrityTest, TrustedBaseDuplicates) {
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - ", kChainA, "\n    - {name: again, chainId: ", kChainA, "}\n"),
              "policy.yaml:9: default.trustedBases[1]: the same base as default.trustedBases[0] "
              "(line 8)");
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - {name: deb, chainId: ", kChainA, "}\n    - {name: deb, chainId: ",
                     kChainB, "}\n"),
              "policy.yaml:9: default.trustedBases[1]: the same base as default.trustedBases[0] "
              "(line 8)");
  // docker.io/library/debian and debian are the same image.
  ExpectError(StrCat("default:\n  requirement: signed\n  keys: [ci]\n  trustedBases:\n"
                     "    - debian:12@", kManifest, "\n    - docker.io/library/debian:12@",
                     kManifest, "\n"),
              "policy.yaml:9: default.trustedBases[1]: the same base as default.trustedBases[0] "
              "(line 8)");
}

TEST_F(PolicyIntegrityTest, TooManyTrustedBases) {
  std::string list;
  for (size_t i = 0; i <= kMaxTrustedBases; ++i) {
    char hex[65];
    snprintf(hex, sizeof hex, "%064zx", i);
    list += StrCat("    - sha256:", hex, "\n");
  }
  absl::StatusOr<Policy> p = Load(StrCat("default:\n  requirement: signed\n  keys: [ci]\n"
                                         "  trustedBases:\n", list));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(std::string(p.status().message()),
            "policy.yaml:7: default.trustedBases: more than 256 trusted bases");
}

TEST_F(PolicyIntegrityTest, ProtectedPathErrorsNameLineAndPattern) {
  ExpectError("default:\n  requirement: signed\n  keys: [ci]\n  protectedPaths:\n"
              "    - /bin/*\n    - bin/sh\n",
              "policy.yaml:9: default.protectedPaths[1]: glob \"bin/sh\" is not absolute (it must "
              "start with '/')");
  ExpectError("default:\n  requirement: signed\n  keys: [ci]\n  protectedPaths:\n"
              "    - /bin/*\n    - /etc/[ab\n",
              "policy.yaml:9: default.protectedPaths[1]: glob \"/etc/[ab\": an unterminated '['");
  ExpectError("default:\n  requirement: signed\n  keys: [ci]\n  protectedPaths:\n"
              "    - /bin/*\n    - /bin/*\n",
              "policy.yaml:9: default.protectedPaths[1]: \"/bin/*\" is listed twice");
  ExpectError("default: {requirement: signed, keys: [ci], protectedPaths: []}\n",
              "policy.yaml:4: default.protectedPaths: an empty list (give at least one of path "
              "globs (/bin/*, /etc/passwd))");
  ExpectError("default: {requirement: signed, keys: [ci], protectedPaths: [{a: b}]}\n",
              "policy.yaml:4: default.protectedPaths[0]: expected a string, got a map");
}

TEST_F(PolicyIntegrityTest, PackageInventoryAndOnRevokedValues) {
  ExpectError("default: {requirement: signed, keys: [ci], packageInventory: yes}\n",
              "policy.yaml:4: default.packageInventory: expected true or false, got \"yes\"");
  ExpectError("default: {requirement: signed, keys: [ci], packageInventory: \"true\"}\n",
              "policy.yaml:4: default.packageInventory: expected true or false, got \"true\"");
  ExpectError("default: {requirement: signed, keys: [ci], onRevoked: kill}\n",
              "policy.yaml:4: default.onRevoked: unknown value \"kill\" (expected one of: report, "
              "stop)");
  Policy p = MustLoad("default: {requirement: signed, keys: [ci], onRevoked: report, "
                      "packageInventory: true}\n");
  EXPECT_EQ(p.default_scope().on_revoked, OnRevoked::kReport);
  EXPECT_TRUE(p.default_scope().integrity.packages);
  EXPECT_FALSE(p.default_scope().integrity.empty());
  EXPECT_TRUE(p.default_scope().integrity.needs_layers());
}

TEST_F(PolicyIntegrityTest, RejectTakesNoIntegrityRules) {
  for (std::string field : {StrCat("trustedBases: [", kChainA, "]"),
                            std::string("protectedPaths: [/bin/*]"),
                            std::string("packageInventory: true")}) {
    std::string name = field.substr(0, field.find(':'));
    ExpectError(StrCat("default: {requirement: reject, ", field, "}\n"),
                StrCat("policy.yaml:4: default.", name, ": ", name,
                       " applies only to requirement signed or insecureAcceptAnything, not "
                       "reject (a rejected image is never judged further)"));
  }
}

TEST_F(PolicyIntegrityTest, TrustVersionFollowsTheRules) {
  // No rules: the trust version is what it was before the fields existed (sha256 over the
  // version and the key ids), so upgrading keeps the agent's cached verdicts.
  Policy plain = MustLoad("default: {requirement: signed, keys: [ci]}\n");
  std::string text = plain.version();
  for (const TrustedKey& k : plain.default_scope().keys) text += StrCat("|", k.key.key_id());
  EXPECT_EQ(plain.trust_version(), Digest::Sha256Of(text).str());

  Policy a = MustLoad(StrCat("default: {requirement: signed, keys: [ci], trustedBases: [debian@",
                             kManifest, "]}\n"));
  Policy b = MustLoad(StrCat("default: {requirement: signed, keys: [ci], trustedBases: [debian@",
                             kManifest, "]}\n"));
  EXPECT_EQ(a.trust_version(), b.trust_version());
  std::string before = a.trust_version();
  // The same bytes, resolved to different ChainIDs: different rules.
  EXPECT_EQ(a.ResolveTrustedBases([](const Reference&) -> absl::StatusOr<Digest> {
    return *Digest::Parse(kChainA);
  }), 0u);
  EXPECT_EQ(b.ResolveTrustedBases([](const Reference&) -> absl::StatusOr<Digest> {
    return *Digest::Parse(kChainB);
  }), 0u);
  EXPECT_NE(a.trust_version(), before);
  EXPECT_NE(a.trust_version(), b.trust_version());
  EXPECT_EQ(a.version(), b.version());
}

TEST_F(PolicyIntegrityTest, ResolveTrustedBasesOncePerReference) {
  Policy p = MustLoad(StrCat(
      "default:\n  requirement: signed\n  keys: [ci]\n"
      "  trustedBases: [", kChainB, ", debian:12@", kManifest, ", r.example.com/base@", kManifest, "]\n"
      "scopes:\n"
      "  \"r.example.com\": {requirement: insecureAcceptAnything, trustedBases: [debian:12@",
      kManifest, "]}\n"));
  std::map<std::string, int> calls;
  size_t failed = p.ResolveTrustedBases([&](const Reference& ref) -> absl::StatusOr<Digest> {
    ++calls[ref.ToString()];
    if (ref.registry == "r.example.com") return absl::NotFoundError("manifest unknown");
    return *Digest::Parse(kChainA);
  });
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(calls.size(), 2u);
  for (const auto& [ref, n] : calls) EXPECT_EQ(n, 1) << ref;
  const auto& bases = p.default_scope().integrity.trusted_bases;
  EXPECT_EQ(bases[0].chain_id->str(), kChainB);  // a ChainID stays as written
  EXPECT_EQ(bases[1].chain_id->str(), kChainA);
  EXPECT_EQ(bases[1].unresolved, "");
  EXPECT_FALSE(bases[2].chain_id.has_value());
  EXPECT_EQ(bases[2].unresolved, "manifest unknown");
  EXPECT_EQ(p.scopes()[0].integrity.trusted_bases[0].chain_id->str(), kChainA);
}

TEST_F(PolicyIntegrityTest, FingerprintDistinguishesRules) {
  auto fp = [](const std::string& body) { return MustLoad(body).default_scope().integrity.Fingerprint(); };
  std::string base = "default: {requirement: insecureAcceptAnything";
  std::string f1 = fp(base + ", protectedPaths: [/bin/*]}\n");
  std::string f2 = fp(base + ", protectedPaths: [/bin/*, /etc/passwd]}\n");
  std::string f3 = fp(base + ", protectedPaths: [/bin/*], packageInventory: true}\n");
  std::string f4 = fp(StrCat(base, ", protectedPaths: [/bin/*], trustedBases: [", kChainA, "]}\n"));
  EXPECT_THAT(f1, ::testing::StartsWith("sha256:"));
  EXPECT_NE(f1, f2);
  EXPECT_NE(f1, f3);
  EXPECT_NE(f1, f4);
  EXPECT_EQ(f1, fp(base + ", protectedPaths: [/bin/*], onRevoked: stop}\n"));
}

}  // namespace
}  // namespace layerseal
