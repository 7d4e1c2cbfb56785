// The `layerseal` command end to end against a real docker-registry on loopback:
// keygen, sign (OCI, Docker, multi-platform, across repositories and registries),
// verify (text, JSON, exit codes), inspect, and images the registry corrupts.
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using testing::RegistryServer;
using testing::RunResult;
using testing::TempDir;

class CliRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = RegistryServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() { delete server_; }

  // Runs `layerseal args...` with --plain-http added after the subcommand when `plain`.
  RunResult Layerseal(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), LAYERSEAL_BINARY);
    auto r = testing::Run(args, input);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }

  std::string Ref(const std::string& repo_tag) const { return StrCat(server_->host(), "/", repo_tag); }

  // Pushes a fresh base image to `repo_tag` on the test registry.
  void PushBase(const std::string& repo_tag, testing::BaseImageSpec spec = {}) {
    registry::RegistryClient client(server_->ClientOptions());
    auto ref = Reference::Parse(Ref(repo_tag));
    ASSERT_TRUE(ref.ok());
    ASSERT_TRUE(testing::PushTestImage(client, *ref, testing::MakeBaseImage(spec)).ok());
  }

  std::string Keygen(const std::string& algorithm, const std::string& file = "") {
    std::string name = dir_.File(file.empty() ? algorithm : file);
    RunResult r = Layerseal({"keygen", "--algorithm", algorithm, "--out", name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return name;
  }

  static RegistryServer* server_;
  TempDir dir_;
};

RegistryServer* CliRegistryTest::server_;

TEST_F(CliRegistryTest, KeygenWritesPrivateKeyWithMode0600AndPrintsKeyId) {
  std::string name = dir_.File("keyid");
  RunResult made = Layerseal({"keygen", "--out", name});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  struct stat st;
  ASSERT_EQ(stat((name + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // keyId as the spec defines it, computed by openssl.
  auto der = testing::Run({"sh", "-c", "openssl pkey -pubin -in '" + name + ".pub' -outform DER | sha256sum"});
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(made.out, "sha256:" + der->out.substr(0, 64) + "\n");
  RunResult again = Layerseal({"keygen", "--out", name});
  EXPECT_NE(again.exit_code, 0) << "keygen must not overwrite existing keys";
}

// Issue 14 item 8: keygen is all or nothing. An existing .pub used to fail the run after
// the .key was written, and every retry then failed on that orphan key.
TEST_F(CliRegistryTest, KeygenMakesBothFilesOrNeither) {
  auto exists = [](const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  };
  std::string name = dir_.File("pair");
  testing::WriteFileOrDie(name + ".pub", "someone's public key\n");
  RunResult refused = Layerseal({"keygen", "--out", name});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find(name + ".pub exists"), std::string::npos) << refused.err;
  EXPECT_FALSE(exists(name + ".key")) << "a refused keygen left a private key behind";
  EXPECT_EQ(testing::ReadFileOrDie(name + ".pub"), "someone's public key\n");

  ASSERT_EQ(unlink((name + ".pub").c_str()), 0);
  RunResult retried = Layerseal({"keygen", "--out", name});
  ASSERT_EQ(retried.exit_code, 0) << retried.err;
  EXPECT_TRUE(exists(name + ".key") && exists(name + ".pub"));

  std::string other = dir_.File("other");
  testing::WriteFileOrDie(other + ".key", "someone's private key\n", 0600);
  RunResult kept = Layerseal({"keygen", "--algorithm", "ed25519", "--out", other});
  EXPECT_EQ(kept.exit_code, 2);
  EXPECT_NE(kept.err.find(other + ".key exists"), std::string::npos) << kept.err;
  EXPECT_EQ(testing::ReadFileOrDie(other + ".key"), "someone's private key\n");
  EXPECT_FALSE(exists(other + ".pub"));
  // No temporaries left next to the targets.
  auto listing = testing::Run({"ls", "-A", dir_.path()});
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->out.find(".tmp"), std::string::npos) << listing->out;
}

TEST_F(CliRegistryTest, SignThenVerifyEveryAlgorithmAndFamily) {
  int i = 0;
  for (std::string alg : {"ecdsa-p256-sha256", "ed25519", "rsa-pss-sha256", "rsa-pkcs1v15-sha256"}) {
    for (Family family : {Family::kOci, Family::kDocker}) {
      std::string repo = StrCat("algs/app", i++);
      PushBase(repo + ":base", {.family = family, .layers = 2, .seed = repo});
      std::string key = Keygen(alg, StrCat(alg, "-", i));
      RunResult signed_run = Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref(repo + ":base"), Ref(repo + ":signed")});
      ASSERT_EQ(signed_run.exit_code, 0) << signed_run.err;
      std::string digest = signed_run.out.substr(0, signed_run.out.find('\n'));
      EXPECT_EQ(digest.rfind("sha256:", 0), 0u) << signed_run.out;

      RunResult v = Layerseal({"verify", "--plain-http", "--key", key + ".pub", "--output", "json", Ref(repo + ":signed")});
      EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
      auto j = nlohmann::json::parse(v.out);
      EXPECT_EQ(j["verdict"], "ALLOW");
      EXPECT_EQ(j["reason"], "VERIFIED");
      EXPECT_EQ(j["digest"], digest);
      EXPECT_EQ(j["reference"], Ref(repo + ":signed"));
      for (const char* field : {"detail", "keyId", "policyVersion", "durationMs"}) EXPECT_TRUE(j.contains(field)) << field;
    }
  }
}

TEST_F(CliRegistryTest, UnsignedAndUntrustedAreDeniedWithExitOne) {
  PushBase("deny/app:base");
  std::string key = Keygen("ed25519");
  std::string other = Keygen("ecdsa-p256-sha256");
  RunResult v = Layerseal({"verify", "--plain-http", "--key", key + ".pub", Ref("deny/app:base")});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.out.find("DENY"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("NOT_SIGNED"), std::string::npos) << v.out;

  ASSERT_EQ(Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("deny/app:base"), Ref("deny/app:signed")}).exit_code, 0);
  RunResult u = Layerseal({"verify", "--plain-http", "--key", other + ".pub", Ref("deny/app:signed")});
  EXPECT_EQ(u.exit_code, 1);
  EXPECT_NE(u.out.find("UNTRUSTED_KEY"), std::string::npos) << u.out;
}

TEST_F(CliRegistryTest, SigningASignedImageIsRefused) {
  PushBase("twice/app:base");
  std::string key = Keygen("ed25519");
  ASSERT_EQ(Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("twice/app:base"), Ref("twice/app:signed")}).exit_code, 0);
  RunResult again = Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("twice/app:signed"), Ref("twice/app:double")});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already sealed"), std::string::npos) << again.err;
}

TEST_F(CliRegistryTest, SignsIntoAnotherRepositoryAndAnotherRegistry) {
  PushBase("src/app:base", {.layers = 3, .seed = "cross"});
  std::string key = Keygen("ecdsa-p256-sha256");
  ASSERT_EQ(Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("src/app:base"), Ref("dst/app:signed")}).exit_code, 0);
  EXPECT_EQ(Layerseal({"verify", "--plain-http", "--key", key + ".pub", Ref("dst/app:signed")}).exit_code, 0);

  auto second = RegistryServer::Start();
  ASSERT_TRUE(second.ok()) << second.status();
  std::string dst = StrCat((*second)->host(), "/copied/app:signed");
  RunResult r = Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("src/app:base"), dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult v = Layerseal({"verify", "--plain-http", "--key", key + ".pub", dst});
  EXPECT_EQ(v.exit_code, 0) << v.out;
}

TEST_F(CliRegistryTest, MultiPlatformImageIsSignedPerPlatform) {
  registry::RegistryClient client(server_->ClientOptions());
  auto amd = testing::MakeBaseImage({.seed = "amd"});
  auto arm = testing::MakeBaseImage({.seed = "arm", .architecture = "arm64"});
  auto index = testing::MakeIndex(Family::kOci, {{{"linux", "amd64", ""}, amd}, {{"linux", "arm64", ""}, arm}});
  ASSERT_TRUE(testing::PushTestImage(client, *Reference::Parse(Ref("multi/app:base")), index).ok());
  std::string key = Keygen("ed25519");
  RunResult s = Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("multi/app:base"), Ref("multi/app:signed")});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  for (std::string platform : {"linux/amd64", "linux/arm64"}) {
    RunResult v = Layerseal({"verify", "--plain-http", "--key", key + ".pub", "--platform", platform, "--output", "json", Ref("multi/app:signed")});
    EXPECT_EQ(v.exit_code, 0) << platform << v.out;
  }
  RunResult missing = Layerseal({"verify", "--plain-http", "--key", key + ".pub", "--platform", "linux/s390x", Ref("multi/app:signed")});
  EXPECT_EQ(missing.exit_code, 1);
  RunResult inspect = Layerseal({"inspect", "--plain-http", "--platform", "linux/arm64", Ref("multi/app:signed")});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("index"), std::string::npos) << inspect.out;
}

TEST_F(CliRegistryTest, InspectShowsSealsAndKeyId) {
  PushBase("inspect/app:base");
  std::string key = Keygen("ecdsa-p256-sha256");
  ASSERT_EQ(Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("inspect/app:base"), Ref("inspect/app:signed")}).exit_code, 0);
  RunResult r = Layerseal({"inspect", "--plain-http", "--output", "json", Ref("inspect/app:signed")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["seals"]["status"], "sealed");
  EXPECT_EQ(j["seals"]["algorithm"], "ecdsa-p256-sha256");
  EXPECT_EQ(j["seals"]["manifestDigestMatches"], true);
  EXPECT_EQ(j["layers"].back()["seal"], "signature");
  RunResult unsigned_image = Layerseal({"inspect", "--plain-http", Ref("inspect/app:base")});
  EXPECT_EQ(unsigned_image.exit_code, 0);
  EXPECT_NE(unsigned_image.out.find("not signed"), std::string::npos) << unsigned_image.out;
}

TEST_F(CliRegistryTest, RegistryServingCorruptSealIsDenied) {
  PushBase("corrupt/app:base");
  std::string key = Keygen("ed25519");
  ASSERT_EQ(Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("corrupt/app:base"), Ref("corrupt/app:signed")}).exit_code, 0);
  RunResult inspect = Layerseal({"inspect", "--plain-http", "--output", "json", Ref("corrupt/app:signed")});
  auto j = nlohmann::json::parse(inspect.out);
  auto seal = Digest::Parse(j["layers"].back()["digest"].get<std::string>());
  ASSERT_TRUE(seal.ok());
  // Same length, other bytes: the registry serves them under the old digest.
  std::string path = testing::RegistryBlobPath(server_->dir(), *seal);
  ASSERT_FALSE(path.empty());
  std::string bytes = testing::ReadFileOrDie(path);
  bytes[bytes.size() / 2] ^= 0x55;
  testing::WriteFileOrDie(path, bytes);
  RunResult v = Layerseal({"verify", "--plain-http", "--key", key + ".pub", Ref("corrupt/app:signed")});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.out.find("MALFORMED_SEAL"), std::string::npos) << v.out;
}

TEST_F(CliRegistryTest, UnreachableRegistryIsRegistryError) {
  std::string key = Keygen("ed25519");
  int port = testing::PickFreePort();
  RunResult v = Layerseal({"verify", "--plain-http", "--timeout", "3s", "--key", key + ".pub", StrCat("127.0.0.1:", port, "/none/app:1")});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.out.find("REGISTRY_ERROR"), std::string::npos) << v.out;
}

TEST_F(CliRegistryTest, VerifyUnderAPolicyFile) {
  PushBase("policy/app:base");
  PushBase("policy/other:base", {.seed = "other"});
  std::string key = Keygen("ecdsa-p256-sha256", "policy-key");
  ASSERT_EQ(Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("policy/app:base"), Ref("policy/app:signed")}).exit_code, 0);
  std::string policy = dir_.File("policy.yaml");
  testing::WriteFileOrDie(policy, StrCat("version: 1\n"
                                         "keys:\n  ci: {path: policy-key.pub}\n"
                                         "default: {requirement: reject}\n"
                                         "scopes:\n"
                                         "  \"", server_->host(), "/policy/app\": {requirement: signed, keys: [ci]}\n"
                                         "  \"", server_->host(), "/policy/other\": {requirement: signed, keys: [ci], mode: audit}\n"));
  RunResult ok = Layerseal({"verify", "--plain-http", "--policy", policy, "--output", "json", Ref("policy/app:signed")});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["scope"], server_->host() + "/policy/app");
  EXPECT_EQ(j["policyVersion"], Digest::Sha256Of(testing::ReadFileOrDie(policy)).str());

  RunResult rejected = Layerseal({"verify", "--plain-http", "--policy", policy, Ref("unlisted/app:1")});
  EXPECT_EQ(rejected.exit_code, 1);
  EXPECT_NE(rejected.out.find("REJECTED_BY_POLICY"), std::string::npos) << rejected.out;

  RunResult audit = Layerseal({"verify", "--plain-http", "--policy", policy, "--output", "json", Ref("policy/other:base")});
  EXPECT_EQ(audit.exit_code, 1) << "verify reports the verification verdict, whatever the mode";
  EXPECT_EQ(nlohmann::json::parse(audit.out)["mode"], "audit");

  testing::WriteFileOrDie(policy, "version: 1\ndefault: {requirement: signed, keys: [nokey]}\n");
  RunResult bad = Layerseal({"verify", "--plain-http", "--policy", policy, Ref("policy/app:signed")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("policy.yaml:2"), std::string::npos) << bad.err;
}

TEST_F(CliRegistryTest, EveryCommandHasHelpAndUsageErrorsExitTwo) {
  for (std::string cmd : {"keygen", "sign", "verify", "inspect"}) {
    RunResult h = Layerseal({cmd, "--help"});
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.out.find("Usage: layerseal " + cmd), std::string::npos) << h.out;
    EXPECT_EQ(Layerseal({cmd, "--no-such-flag"}).exit_code, 2) << cmd;
  }
  EXPECT_EQ(Layerseal({"--help"}).exit_code, 0);
  EXPECT_EQ(Layerseal({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Layerseal({"verify", "--key", "x.pub", "--policy", "p.yaml", "r/a:1"}).exit_code, 2);
  EXPECT_EQ(Layerseal({"verify", "--key", "/nonexistent.pub", "127.0.0.1:1/a:1"}).exit_code, 2);
}

}  // namespace
}  // namespace layerseal

namespace layerseal {
namespace {

// The same commands against a registry with TLS (a CA made for the test) and htpasswd auth.
class CliTlsAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = testing::RegistryServer::Start({.tls = true, .basic_auth = true});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() { delete server_; }

  testing::RunResult Layerseal(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), LAYERSEAL_BINARY);
    auto r = testing::Run(args, input);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::RunResult{};
  }
  std::string Ref(const std::string& repo_tag) const { return StrCat(server_->host(), "/", repo_tag); }

  static testing::RegistryServer* server_;
  testing::TempDir dir_;
};

testing::RegistryServer* CliTlsAuthTest::server_;

TEST_F(CliTlsAuthTest, SignsAndVerifiesWithCaFileAndPasswordFromStdin) {
  registry::RegistryClient client(server_->ClientOptions());
  ASSERT_TRUE(testing::PushTestImage(client, *Reference::Parse(Ref("tls/app:base")), testing::MakeBaseImage({})).ok());
  std::string key = dir_.File("k");
  ASSERT_EQ(Layerseal({"keygen", "--out", key}).exit_code, 0);
  const std::string user = server_->options().username;
  const std::string pass = server_->options().password + "\n";
  auto s = Layerseal({"sign", "--ca-file", server_->ca_file(), "--username", user, "--password-stdin",
                      "--key", key + ".key", Ref("tls/app:base"), Ref("tls/app:signed")}, pass);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto v = Layerseal({"verify", "--ca-file", server_->ca_file(), "--username", user, "--password-stdin",
                      "--key", key + ".pub", Ref("tls/app:signed")}, pass);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;

  // Without the CA, TLS verification fails: never silently downgraded.
  auto no_ca = Layerseal({"verify", "--username", user, "--password-stdin", "--key", key + ".pub", Ref("tls/app:signed")}, pass);
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_NE(no_ca.out.find("REGISTRY_ERROR"), std::string::npos) << no_ca.out;
  EXPECT_NE(no_ca.out.find("certificate"), std::string::npos) << no_ca.out;

  auto wrong = Layerseal({"verify", "--ca-file", server_->ca_file(), "--username", user, "--password-stdin",
                          "--key", key + ".pub", Ref("tls/app:signed")}, "wrong-password\n");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.out.find("REGISTRY_ERROR"), std::string::npos) << wrong.out;

  auto anonymous = Layerseal({"verify", "--ca-file", server_->ca_file(), "--key", key + ".pub", Ref("tls/app:signed")});
  EXPECT_EQ(anonymous.exit_code, 1);
}

}  // namespace
}  // namespace layerseal
