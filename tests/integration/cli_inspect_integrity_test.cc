// `layerseal inspect` against a real docker-registry on loopback (issue 18, helper
// s25-inspect): each layer's diff_id and ChainID (text and JSON), which admins copy into a
// policy's trustedBases, and with --policy the image-integrity rules of the scope (trusted
// bases resolved through the registry, protected paths and packages read from the layers).
// Layers are made by GNU tar and gzip; ChainIDs are checked against python3's hashlib.
#include <map>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "tests/support/tar_layer.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using testing::RegistryServer;
using testing::RunResult;
using testing::TempDir;
using nlohmann::ordered_json;

std::string MustRun(const std::vector<std::string>& argv) {
  absl::StatusOr<RunResult> r = testing::Run(argv);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << argv[0] << ": " << r->err;
  return r->out;
}

using testing::PythonChainIds;

using Tree = std::map<std::string, std::string>;  // relative path -> content

class CliInspectIntegrityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = RegistryServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() { delete server_; }

  RunResult Layerseal(std::vector<std::string> args) {
    args.insert(args.begin(), LAYERSEAL_BINARY);
    auto r = testing::Run(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }
  std::string Ref(const std::string& repo_tag) const { return StrCat(server_->host(), "/", repo_tag); }

  // A gzipped layer of `tree` by GNU tar and gzip: {blob, diff_id}.
  std::pair<std::string, std::string> Layer(const Tree& tree) {
    std::string root = dir_.File(StrCat("root", n_));
    std::string tar = dir_.File(StrCat("layer", n_++, ".tar"));
    MustRun({"mkdir", "-p", root});
    for (const auto& [path, content] : tree) {
      std::string full = root + "/" + path;
      MustRun({"mkdir", "-p", full.substr(0, full.rfind('/'))});
      testing::WriteFileOrDie(full, content, 0755);
    }
    MustRun({"tar", "--format=pax", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
             "--mtime=2024-01-01", "-C", root, "-cf", tar, "."});
    std::string diff_id = StrCat("sha256:", MustRun({"sha256sum", tar}).substr(0, 64));
    MustRun({"gzip", "-n", tar});
    return {testing::ReadFileOrDie(tar + ".gz"), diff_id};
  }

  // Pushes an OCI image of `layers` to `repo_tag`; returns its manifest digest.
  std::string Push(const std::string& repo_tag, const std::vector<std::pair<std::string, std::string>>& layers) {
    testing::TestImage image;
    image.media_type = std::string(kOciManifest);
    ordered_json descs = ordered_json::array(), ids = ordered_json::array();
    for (const auto& [blob, diff_id] : layers) {
      descs.push_back(testing::AddBlob(image, kOciLayerGzip, blob));
      ids.push_back(diff_id);
    }
    ordered_json config = {{"architecture", "amd64"}, {"os", "linux"},
                           {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}};
    ordered_json cdesc = testing::AddBlob(image, kOciConfig, config.dump());
    ordered_json m = {{"schemaVersion", 2}, {"mediaType", kOciManifest}, {"config", cdesc}, {"layers", descs}};
    testing::SetManifest(image, m.dump());
    registry::RegistryClient client(server_->ClientOptions());
    absl::StatusOr<Reference> ref = Reference::Parse(Ref(repo_tag));
    EXPECT_TRUE(ref.ok());
    EXPECT_TRUE(testing::PushTestImage(client, *ref, image).ok());
    return image.digest.str();
  }

  std::string WritePolicy(const std::string& name, const std::string& body) {
    std::string path = dir_.File(name);
    testing::WriteFileOrDie(path, StrCat("version: 1\n", body));
    return path;
  }

  static RegistryServer* server_;
  TempDir dir_;
  int n_ = 0;
};

RegistryServer* CliInspectIntegrityTest::server_;

TEST_F(CliInspectIntegrityTest, PrintsDiffIdsAndChainIds) {
  auto l0 = Layer({{"bin/sh", "shell"}});
  auto l1 = Layer({{"usr/lib/libacme.so", "acme"}});
  auto l2 = Layer({{"app/run", "app"}});
  Push("chain/app:1", {l0, l1, l2});
  std::vector<std::string> want = PythonChainIds({l0.second, l1.second, l2.second});
  ASSERT_EQ(want.size(), 3u);

  RunResult json = Layerseal({"inspect", "--plain-http", "--output", "json", Ref("chain/app:1")});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json d = nlohmann::json::parse(json.out);
  EXPECT_EQ(d["rootfs"]["status"], "ok");
  EXPECT_EQ(d["rootfs"]["chainId"], want[2]);
  ASSERT_EQ(d["layers"].size(), 3u);
  std::vector<std::string> diff_ids = {l0.second, l1.second, l2.second};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d["layers"][i]["diffId"], diff_ids[i]) << i;
    EXPECT_EQ(d["layers"][i]["chainId"], want[i]) << i;
  }
  EXPECT_FALSE(d.contains("integrity"));

  RunResult text = Layerseal({"inspect", "--plain-http", Ref("chain/app:1")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("chain ids  (for a policy's trustedBases"));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_THAT(text.out, HasSubstr(StrCat("  ", i, "  diff_id ", diff_ids[i], "  chain ", want[i], "\n")));
  }

  // A signed image: the seal layers' diff_ids are in the config too, so they have ChainIDs,
  // and the base's ChainIDs are unchanged by sealing.
  std::string key = dir_.File("k");
  ASSERT_EQ(Layerseal({"keygen", "--out", key}).exit_code, 0);
  RunResult signed_run = Layerseal({"sign", "--plain-http", "--key", key + ".key", Ref("chain/app:1"), Ref("chain/app:signed")});
  ASSERT_EQ(signed_run.exit_code, 0) << signed_run.err;
  RunResult sealed = Layerseal({"inspect", "--plain-http", "--output", "json", Ref("chain/app:signed")});
  ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
  nlohmann::json s = nlohmann::json::parse(sealed.out);
  ASSERT_EQ(s["layers"].size(), 5u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(s["layers"][i]["chainId"], want[i]);
  EXPECT_TRUE(s["layers"][4].contains("chainId"));
  EXPECT_EQ(s["seals"]["status"], "sealed");
}

TEST_F(CliInspectIntegrityTest, PolicyJudgesBaseAndProtectedPaths) {
  auto base = Layer({{"bin/sh", "the shell"}, {"etc/passwd", "root:x:0:0::/root:/bin/sh\n"},
                     {"var/lib/dpkg/status",
                      "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n"}});
  std::string base_digest = Push("integrity/base:1", {base});
  auto app = Layer({{"app/run", "app"},
                    {"var/lib/dpkg/status",
                     "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n\n"
                     "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1\n"}});
  auto evil = Layer({{"bin/sh", "not the shell"}});
  auto other_base = Layer({{"bin/sh", "another shell"}});
  Push("integrity/app:good", {base, app});
  Push("integrity/app:evil", {base, app, evil});
  Push("integrity/app:elsewhere", {other_base, app});
  // The base by reference with its digest, resolved through the registry.
  std::string policy = WritePolicy("policy.yaml", StrCat(
      "default:\n"
      "  requirement: insecureAcceptAnything\n"
      "  trustedBases:\n"
      "    - {name: acme-base, ref: ", Ref("integrity/base"), "@", base_digest, "}\n"
      "  protectedPaths: [\"/bin/*\", /etc/passwd]\n"
      "  packageInventory: true\n"));

  RunResult good = Layerseal({"inspect", "--plain-http", "--policy", policy, "--output", "json", Ref("integrity/app:good")});
  ASSERT_EQ(good.exit_code, 0) << good.out << good.err;
  nlohmann::json g = nlohmann::json::parse(good.out)["integrity"];
  EXPECT_EQ(g["decision"], "ALLOW");
  EXPECT_EQ(g["scope"], "default");
  EXPECT_EQ(g["base"], "acme-base");
  EXPECT_EQ(g["baseLayers"], 1);
  ASSERT_TRUE(g.contains("packages")) << g.dump();
  ASSERT_EQ(g["packages"]["packages"].size(), 1u) << g.dump();
  EXPECT_EQ(g["packages"]["packages"][0]["name"], "curl");
  EXPECT_EQ(g["packages"]["packages"][0]["layer_index"], 1);

  RunResult evil_run = Layerseal({"inspect", "--plain-http", "--policy", policy, Ref("integrity/app:evil")});
  EXPECT_EQ(evil_run.exit_code, 1) << evil_run.out << evil_run.err;
  EXPECT_THAT(evil_run.out, HasSubstr(StrCat("integrity  DENY PROTECTED_PATH (scope default): layer 2 (",
                                             Digest::Sha256Of(evil.first).str(),
                                             "): \"/bin/sh\" added or replaced, protected by \"/bin/*\"")));

  RunResult elsewhere = Layerseal({"inspect", "--plain-http", "--policy", policy, "--output", "json",
                                   Ref("integrity/app:elsewhere")});
  EXPECT_EQ(elsewhere.exit_code, 1) << elsewhere.err;
  nlohmann::json e = nlohmann::json::parse(elsewhere.out)["integrity"];
  EXPECT_EQ(e["reason"], "UNTRUSTED_BASE");
  EXPECT_THAT(e["detail"].get<std::string>(), HasSubstr("acme-base = sha256:"));

  // A base reference that does not resolve matches nothing: every image is denied.
  std::string missing = WritePolicy("missing.yaml", StrCat(
      "default:\n  requirement: insecureAcceptAnything\n  trustedBases: [", Ref("integrity/nothing"),
      "@sha256:", std::string(64, '0'), "]\n"));
  RunResult unresolved = Layerseal({"inspect", "--plain-http", "--policy", missing, "--output", "json",
                                    Ref("integrity/app:good")});
  EXPECT_EQ(unresolved.exit_code, 1);
  nlohmann::json u = nlohmann::json::parse(unresolved.out)["integrity"];
  EXPECT_EQ(u["reason"], "UNTRUSTED_BASE");
  EXPECT_THAT(u["detail"].get<std::string>(), HasSubstr("(unresolved: trusted base "));
}

TEST_F(CliInspectIntegrityTest, PolicyFindsACorruptLayerInTheRegistry) {
  auto base = Layer({{"bin/sh", "shell"}});
  auto app = Layer({{"app/run", std::string(5000, 'a')}});
  Push("corrupt/app:1", {base, app});
  std::string data = testing::RegistryBlobPath(server_->dir(), Digest::Sha256Of(app.first));
  ASSERT_FALSE(data.empty());
  std::string bytes = testing::ReadFileOrDie(data);
  bytes[bytes.size() / 2] ^= 0x01;
  testing::WriteFileOrDie(data, bytes);
  // The base is trusted (by its ChainID, its one diff_id), so layer 1 is the one judged.
  std::string policy = WritePolicy("paths.yaml", StrCat(
      "default: {requirement: insecureAcceptAnything, protectedPaths: [/bin/*], trustedBases: [",
      base.second, "]}\n"));
  RunResult r = Layerseal({"inspect", "--plain-http", "--policy", policy, "--output", "json", Ref("corrupt/app:1")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  nlohmann::json g = nlohmann::json::parse(r.out)["integrity"];
  EXPECT_EQ(g["reason"], "INTEGRITY_MISMATCH") << g.dump();
  EXPECT_THAT(g["detail"].get<std::string>(), HasSubstr(StrCat("layer 1 (", Digest::Sha256Of(app.first).str(), ")")));
}

}  // namespace
}  // namespace layerseal
