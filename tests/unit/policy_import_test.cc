// `layerseal policy import` as a library (verifier/policy_import.h): each row of the mapping
// table of docs/sigstore.md ("Migrating from containers-policy.json"), each error naming its
// JSON path, and the round trip: the written policy loads with Policy::Parse and means what
// the containers policy meant. Keys and certificates are made by the openssl CLI.
#include "verifier/policy_import.h"

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/files.h"
#include "tests/support/trusted_root_files.h"
#include "verifier/crypto.h"
#include "verifier/policy.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::ReadAll;
using testing::WriteAll;

class PolicyImportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/layerseal-policy-import-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    for (const char* name : {"a", "b"}) {
      bool ok = false;
      testing::RunShell(StrCat("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ", *dir_,
                               "/", name, ".key 2>/dev/null && openssl pkey -in ", *dir_, "/", name,
                               ".key -pubout -out ", *dir_, "/", name, ".pub"),
                        &ok);
      ASSERT_TRUE(ok);
    }
    bool ok = false;
    root_ = new testing::TrustedRootFiles(testing::MakeTrustedRoot(*dir_, "root", &ok));
    ASSERT_TRUE(ok);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete root_;
  }

  static ImportOptions Options(bool with_root) {
    ImportOptions o;
    if (with_root) o.trusted_root_json = ReadAll(root_->json);
    o.read_file = [](const std::string& path, size_t max_bytes) -> absl::StatusOr<std::string> {
      std::string full = path.starts_with('/') ? path : StrCat(*dir_, "/", path);
      if (!std::filesystem::exists(full)) return absl::NotFoundError(StrCat(full, ": no such file"));
      std::string bytes = ReadAll(full);
      if (bytes.size() > max_bytes) return absl::ResourceExhaustedError("too large");
      return bytes;
    };
    return o;
  }
  static bool RootParses() {
    return sigstore::TrustedRoot::Parse(ReadAll(root_->json), "t").ok();
  }

  static absl::StatusOr<ImportedPolicy> Import(std::string_view json, bool with_root = false) {
    return ImportContainersPolicy(json, Options(with_root));
  }
  static std::string ErrorOf(std::string_view json, bool with_root = false) {
    absl::StatusOr<ImportedPolicy> p = Import(json, with_root);
    EXPECT_FALSE(p.ok()) << p->yaml;
    if (p.ok()) return "";
    return std::string(Sv(p.status().message()));
  }
  // Writes the imported files under a fresh directory and loads the policy from there.
  static absl::StatusOr<Policy> Load(const ImportedPolicy& imported) {
    static int n = 0;
    std::string out = StrCat(*dir_, "/out", ++n);
    for (const ImportedFile& f : imported.files) {
      std::filesystem::create_directories(std::filesystem::path(StrCat(out, "/", f.path)).parent_path());
      WriteAll(StrCat(out, "/", f.path), f.contents);
    }
    return Policy::Parse(imported.yaml, out, "imported.yaml");
  }
  static std::string Data(const std::string& file) { return Base64Encode(ReadAll(StrCat(*dir_, "/", file))); }
  static const ScopePolicy& Resolve(const Policy& p, std::string_view ref) {
    absl::StatusOr<Reference> r = Reference::Parse(ref);
    EXPECT_TRUE(r.ok()) << r.status();
    return p.Resolve(*r);
  }

  static std::string* dir_;
  static testing::TrustedRootFiles* root_;
};

std::string* PolicyImportTest::dir_ = nullptr;
testing::TrustedRootFiles* PolicyImportTest::root_ = nullptr;

// Row: default reject / insecureAcceptAnything; docker scopes keep their forms.
TEST_F(PolicyImportTest, DefaultAndPlainScopes) {
  absl::StatusOr<ImportedPolicy> p = Import(R"({
    "default": [{"type": "insecureAcceptAnything"}],
    "transports": {"docker": {
      "registry.example.com/team/app": [{"type": "reject"}],
      "registry.example.com": [{"type": "insecureAcceptAnything"}],
      "*.example.org": [{"type": "reject"}],
      "localhost:5000/x": [{"type": "reject"}]
    }}})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->files.empty());
  absl::StatusOr<Policy> policy = Load(*p);
  ASSERT_TRUE(policy.ok()) << policy.status() << "\n" << p->yaml;
  EXPECT_EQ(policy->default_scope().requirement, Requirement::kInsecureAcceptAnything);
  EXPECT_EQ(Resolve(*policy, "registry.example.com/team/app:1").requirement, Requirement::kReject);
  EXPECT_EQ(Resolve(*policy, "registry.example.com/other").requirement, Requirement::kInsecureAcceptAnything);
  EXPECT_EQ(Resolve(*policy, "cache.example.org/x").requirement, Requirement::kReject);
  EXPECT_EQ(Resolve(*policy, "localhost:5000/x/y").requirement, Requirement::kReject);

  absl::StatusOr<ImportedPolicy> r = Import(R"({"default": [{"type": "reject"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<Policy> rp = Load(*r);
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->default_scope().requirement, Requirement::kReject);
  EXPECT_TRUE(rp->scopes().empty());
}

// The docker transport's own default ("") is what applies to every registry image.
TEST_F(PolicyImportTest, DockerTransportDefault) {
  absl::StatusOr<ImportedPolicy> p = Import(R"({
    "default": [{"type": "insecureAcceptAnything"}],
    "transports": {"docker": {"": [{"type": "reject"}]}}})");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<Policy> policy = Load(*p);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->default_scope().requirement, Requirement::kReject);
}

// Rows keyPath / keyPaths / keyData / keyDatas: keys imported-<n>, signatures [cosign], and
// without Rekor keys transparencyLog: ignore.
TEST_F(PolicyImportTest, Keys) {
  std::string json = StrCat(R"({"default": [{"type": "reject"}], "transports": {"docker": {
    "quay.io/one": [{"type": "sigstoreSigned", "keyPath": "a.pub"}],
    "quay.io/paths": [{"type": "sigstoreSigned", "keyPaths": ["a.pub", ")", *dir_, R"(/b.pub"]}],
    "quay.io/data": [{"type": "sigstoreSigned", "keyData": ")", Data("b.pub"), R"(",
                      "signedIdentity": {"type": "matchRepoDigestOrExact"}}],
    "quay.io/datas": [{"type": "sigstoreSigned", "keyDatas": [")", Data("a.pub"), R"("]}]
  }}})");
  absl::StatusOr<ImportedPolicy> p = Import(json);
  ASSERT_TRUE(p.ok()) << p.status();
  // Two distinct keys, however often they are named.
  ASSERT_EQ(p->files.size(), 2u);
  EXPECT_EQ(p->files[0].path, "keys/imported-1.pub");
  EXPECT_EQ(p->files[1].path, "keys/imported-2.pub");
  absl::StatusOr<PublicKey> a = PublicKey::FromPem(ReadAll(*dir_ + "/a.pub"));
  absl::StatusOr<PublicKey> b = PublicKey::FromPem(ReadAll(*dir_ + "/b.pub"));
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<Policy> policy = Load(*p);
  ASSERT_TRUE(policy.ok()) << policy.status() << "\n" << p->yaml;
  auto ids = [](const ScopePolicy& s) {
    std::vector<std::string> out;
    for (const TrustedKey& k : s.keys) out.push_back(k.key.key_id());
    return out;
  };
  const ScopePolicy& one = Resolve(*policy, "quay.io/one");
  EXPECT_EQ(one.signatures, std::vector<SignatureKind>{SignatureKind::kCosign});
  EXPECT_FALSE(one.require_tlog);
  EXPECT_EQ(one.trusted_root, nullptr);
  EXPECT_EQ(ids(one), std::vector<std::string>{a->key_id()});
  EXPECT_EQ(ids(Resolve(*policy, "quay.io/paths")), (std::vector<std::string>{a->key_id(), b->key_id()}));
  EXPECT_EQ(ids(Resolve(*policy, "quay.io/data")), std::vector<std::string>{b->key_id()});
  EXPECT_EQ(ids(Resolve(*policy, "quay.io/datas")), std::vector<std::string>{a->key_id()});
  EXPECT_EQ(policy->default_scope().requirement, Requirement::kReject);
}

TEST_F(PolicyImportTest, ErrorsNameTheirPath) {
  const std::string s = R"(transports.docker["quay.io/x"][0])";
  auto scope = [](std::string_view req) {
    return StrCat(R"({"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/x": )", req, "}}}");
  };
  // A requirement list with more than one element: all vs any.
  EXPECT_THAT(ErrorOf(scope(R"([{"type": "reject"}, {"type": "insecureAcceptAnything"}])")),
              StartsWith(R"(transports.docker["quay.io/x"]: 2 requirements: containers-policy requires all)"));
  EXPECT_EQ(ErrorOf(scope("[]")), R"(transports.docker["quay.io/x"]: an empty list of requirements)");
  EXPECT_THAT(ErrorOf(R"({"default": [{"type": "reject"}, {"type": "reject"}]})"), StartsWith("default: 2 requirements"));
  // GPG.
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}])")),
            s + ".type: signedBy: GPG signatures cannot be expressed in a layerseal policy");
  EXPECT_EQ(ErrorOf(R"({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}]})"),
            "default[0].type: signedBy: GPG signatures cannot be expressed in a layerseal policy");
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "signedBaseLayer"}])")),
            s + ".type: unknown requirement type \"signedBaseLayer\"");
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "reject", "extra": 1}])")),
            s + ".extra: not supported by layerseal policy import");
  // Other transports.
  for (const char* t : {"atomic", "docker-daemon", "dir", "oci", "containers-storage"}) {
    EXPECT_EQ(ErrorOf(StrCat(R"({"default": [{"type": "reject"}], "transports": {")", t, R"(": {}}})")),
              StrCat("transports.", t, ": only the docker transport can be expressed (layerseal sees registry images)"));
  }
  // Scopes with a tag or digest.
  EXPECT_THAT(ErrorOf(R"({"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/x:latest": [{"type": "reject"}]}}})"),
              StartsWith(R"(transports.docker["quay.io/x:latest"]: a scope with a tag or digest)"));
  EXPECT_THAT(ErrorOf(R"({"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/x@sha256:0123": [{"type": "reject"}]}}})"),
              StartsWith(R"(transports.docker["quay.io/x@sha256:0123"]: a scope with a tag or digest)"));
  EXPECT_THAT(ErrorOf(R"({"default": [{"type": "reject"}], "transports": {"docker": {"library/busybox": [{"type": "reject"}]}}})"),
              StartsWith(R"(transports.docker["library/busybox"]: "library" is not a registry host)"));
  EXPECT_THAT(ErrorOf(R"({"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/a*": [{"type": "reject"}]}}})"),
              StartsWith(R"(transports.docker["quay.io/a*"]: '*' only as the leading)"));
  // pki, signedIdentity.
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "sigstoreSigned", "pki": {"caRootsPath": "/r"}}])")),
            s + ".pki: X.509 PKI signatures are not supported");
  for (const char* t : {"exactReference", "exactRepository", "remapIdentity", "matchExact", "matchRepository"}) {
    EXPECT_THAT(ErrorOf(scope(StrCat(R"([{"type": "sigstoreSigned", "keyPath": "a.pub", "signedIdentity": {"type": ")",
                                     t, R"("}}])"))),
                StartsWith(StrCat(s, ".signedIdentity.type: \"", t, "\" cannot be expressed")));
  }
  // Keys.
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "sigstoreSigned"}])")),
            s + ": give exactly one of keyPath, keyPaths, keyData, keyDatas or fulcio");
  EXPECT_THAT(ErrorOf(scope(R"([{"type": "sigstoreSigned", "keyPath": "a.pub", "keyData": "eA=="}])")),
              StartsWith(s + ".keyData: give only one of keyPath, keyPaths, keyData, keyDatas"));
  EXPECT_THAT(ErrorOf(scope(R"([{"type": "sigstoreSigned", "keyPath": "missing.pub"}])")),
              StartsWith(s + ".keyPath: "));
  EXPECT_THAT(ErrorOf(scope(R"([{"type": "sigstoreSigned", "keyPaths": ["a.pub", "missing.pub"]}])")),
              StartsWith(s + ".keyPaths[1]: "));
  EXPECT_THAT(ErrorOf(scope(R"([{"type": "sigstoreSigned", "keyData": "not base64!"}])")),
              StartsWith(s + ".keyData: not base64"));
  EXPECT_THAT(ErrorOf(scope(StrCat(R"([{"type": "sigstoreSigned", "keyDatas": [")", Base64Encode("junk"), R"("]}])"))),
              StartsWith(s + ".keyDatas[0]: "));
  std::string two = ReadAll(*dir_ + "/a.pub") + ReadAll(*dir_ + "/b.pub");
  EXPECT_EQ(ErrorOf(scope(StrCat(R"([{"type": "sigstoreSigned", "keyData": ")", Base64Encode(two), R"("}])"))),
            s + ".keyData: more than one PEM block: give one key per file");
  // Fulcio and Rekor need --trusted-root.
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "sigstoreSigned", "keyPath": "a.pub", "rekorPublicKeyPath": "a.pub"}])")),
            s + ".rekorPublicKeyPath: needs --trusted-root (its tlogs must hold the Rekor key)");
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "sigstoreSigned", "fulcio": {"caPath": "x", "oidcIssuer": "i", "subjectEmail": "e"},
                               "rekorPublicKeyPath": "a.pub"}])")),
            s + ".fulcio: needs --trusted-root (its certificateAuthorities must hold the Fulcio CA)");
  EXPECT_THAT(ErrorOf(scope(R"([{"type": "sigstoreSigned", "fulcio": {"caPath": "x", "oidcIssuer": "i", "subjectEmail": "e"}}])")),
              StartsWith(s + ".fulcio: needs rekorPublicKeyPath(s) or rekorPublicKeyData(s)"));
  // Top level.
  EXPECT_EQ(ErrorOf(R"({"transports": {}})"), "default: missing");
  EXPECT_EQ(ErrorOf(R"({"default": [{"type": "reject"}], "extra": {}})"), "extra: not supported by layerseal policy import");
  EXPECT_THAT(ErrorOf(R"({"default": [{"type": "reject"}], "default": []})"), HasSubstr("duplicate key"));
  EXPECT_THAT(ErrorOf("[1, 2"), StartsWith("invalid JSON"));
  EXPECT_THAT(ErrorOf(std::string(1000, '[')), StartsWith("invalid JSON"));
}

// Rows fulcio and rekorPublicKey*: need the trusted root (TrustedRoot::Parse, branch i17-formats).
TEST_F(PolicyImportTest, FulcioAndRekor) {
  if (!RootParses()) GTEST_SKIP() << "TrustedRoot::Parse is not built yet";
  const std::string s = R"(transports.docker["quay.io/x"][0])";
  std::string json = StrCat(R"({"default": [{"type": "reject"}], "transports": {"docker": {
    "quay.io/x": [{"type": "sigstoreSigned",
      "fulcio": {"caPath": ")", root_->ca_pem, R"(", "oidcIssuer": "https://token.actions.githubusercontent.com",
                 "subjectEmail": "release@acme.example"},
      "rekorPublicKeyPath": ")", root_->tlog_pub, R"("}],
    "quay.io/y": [{"type": "sigstoreSigned", "keyPath": "a.pub", "rekorPublicKeyData": ")",
                    Base64Encode(ReadAll(root_->tlog_pub)), R"("}]
  }}})");
  absl::StatusOr<ImportedPolicy> p = Import(json, true);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<Policy> policy = Load(*p);
  ASSERT_TRUE(policy.ok()) << policy.status() << "\n" << p->yaml;
  const ScopePolicy& x = Resolve(*policy, "quay.io/x/app");
  ASSERT_EQ(x.identities.size(), 1u);
  EXPECT_TRUE(x.keys.empty());
  EXPECT_TRUE(x.require_tlog);
  EXPECT_NE(x.trusted_root, nullptr);
  EXPECT_TRUE(sigstore::MatchIdentity({"release@acme.example", "https://token.actions.githubusercontent.com"},
                                      x.identities[0]));
  // Exact, not a pattern.
  EXPECT_FALSE(sigstore::MatchIdentity({"release@acme.example.evil", "https://token.actions.githubusercontent.com"},
                                       x.identities[0]));
  const ScopePolicy& y = Resolve(*policy, "quay.io/y");
  EXPECT_EQ(y.keys.size(), 1u);
  EXPECT_TRUE(y.require_tlog);
  EXPECT_EQ(y.trusted_root, x.trusted_root);
  // The root's bytes are written as given.
  bool wrote_root = false;
  for (const ImportedFile& f : p->files) {
    if (f.path == kImportedTrustedRootPath) wrote_root = f.contents == ReadAll(root_->json);
  }
  EXPECT_TRUE(wrote_root);

  // A CA or a Rekor key the root does not hold: refused, naming the field.
  auto scope = [](std::string_view req) {
    return StrCat(R"({"default": [{"type": "reject"}], "transports": {"docker": {"quay.io/x": )", req, "}}}");
  };
  EXPECT_EQ(ErrorOf(scope(StrCat(R"([{"type": "sigstoreSigned", "fulcio": {"caPath": ")", root_->other_ca_pem,
                                 R"(", "oidcIssuer": "i", "subjectEmail": "e"}, "rekorPublicKeyPath": ")",
                                 root_->tlog_pub, R"("}])")),
                    true),
            s + ".fulcio.caPath: certificate 1 is not among the trusted root's certificateAuthorities");
  EXPECT_EQ(ErrorOf(scope(R"([{"type": "sigstoreSigned", "keyPath": "a.pub", "rekorPublicKeyPath": "b.pub"}])"), true),
            s + ".rekorPublicKeyPath: this key is not among the trusted root's tlogs");
  EXPECT_EQ(ErrorOf(scope(StrCat(R"([{"type": "sigstoreSigned", "fulcio": {"caData": ")",
                                 Base64Encode(ReadAll(root_->ca_pem)), R"(", "subjectEmail": "e"}, "rekorPublicKeyPath": ")",
                                 root_->tlog_pub, R"("}])")),
                    true),
            s + ".fulcio: missing oidcIssuer");
  EXPECT_EQ(ErrorOf(scope(StrCat(R"([{"type": "sigstoreSigned", "fulcio": {"caPath": "a.pub", "caData": "", "oidcIssuer": "i",
                                 "subjectEmail": "e"}, "rekorPublicKeyPath": ")", root_->tlog_pub, R"("}])")),
                    true),
            s + ".fulcio: give exactly one of caPath or caData");
}

}  // namespace
}  // namespace layerseal
