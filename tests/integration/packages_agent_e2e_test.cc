// Issue 18's proof "a package added in the top layer shows up at the controller", through
// every real part: a docker-registry on loopback, containerd (CRI plugin, temp root), the
// layerseal-agent binary in front of it with a policy asking for the package inventory and
// delivering to the layerseal-controller binary (SQLite) over mutual TLS, and the layerseal
// CLI reading it back. The images are built at test time with GNU tar: a "debian" base whose
// layer holds dpkg's status and os-release, and a signed image whose top layer adds a
// package to dpkg's status.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "tests/support/tar_layer.h"
#include "tests/support/tls_certs.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::ReadFileOrDie;
using testing::RunResult;

// How long the test waits for something that should happen; never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(90);
constexpr char kBaseStatus[] =
    "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\n"
    "Version: 12.4+deb12u5\n\n";
constexpr char kHelloStatus[] =
    "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n\n";

TEST(PackagesAgentE2eTest, APackageAddedInTheTopLayerShowsUpAtTheController) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
      testing::RegistryServer::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  const std::string host = (*registry)->host();
  absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
      testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {host}});
  ASSERT_TRUE(containerd.ok()) << containerd.status();
  auto push = [&](const std::string& repo_tag, const testing::TestImage& image) {
    registry::RegistryClient client((*registry)->ClientOptions());
    absl::Status pushed =
        testing::PushTestImage(client, *Reference::Parse(StrCat(host, "/", repo_tag)), image);
    ASSERT_TRUE(pushed.ok()) << pushed;
  };

  // The base (unsigned: only ever named as a base), and the signed image on it.
  testing::TestImage base = testing::MakeBaseImage(
      {.first_layer_tar = testing::GnuTarLayer(
           {{"var/lib/dpkg/status", kBaseStatus},
            {"etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"
                               "VERSION_ID=\"12\"\n"}})});
  push("base/debian:12", base);
  PrivateKey key = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  testing::TestImage image = testing::SealTestImage(
      testing::WithLayerAdded(
          base, testing::GnuTarLayer({{"var/lib/dpkg/status", StrCat(kBaseStatus, kHelloStatus)},
                                      {"usr/bin/hello", "hello\n"}})),
      key);
  push("inventory/hello:1", image);
  testing::WriteFileOrDie(dir.File("ci.pub"), key.public_key().ToPem());
  testing::WriteFileOrDie(
      dir.File("policy.yaml"),
      StrCat("version: 1\n"
             "keys:\n  ci: {path: ", dir.File("ci.pub"), "}\n"
             "default: {requirement: reject}\n"
             "scopes:\n"
             "  \"", host, "/inventory\": {requirement: signed, keys: [ci], trustedBases: [\"",
             host, "/base/debian@", base.digest.str(), "\"], packageInventory: true}\n"));

  // The controller, and the agent delivering to it.
  absl::StatusOr<testing::TlsCerts> certs =
      testing::MakeTlsCerts(dir.path(), {"node-inv"}, {"ops-alice"});
  ASSERT_TRUE(certs.ok()) << certs.status();
  int grpc_port = testing::PickFreePort();
  absl::StatusOr<std::unique_ptr<testing::Child>> controller = testing::Child::Spawn(
      {LAYERSEAL_CONTROLLER_BINARY, "--listen", StrCat("127.0.0.1:", grpc_port), "--tls-cert",
       certs->server.cert, "--tls-key", certs->server.key, "--client-ca", certs->ca.cert,
       "--database", "sqlite:" + dir.File("events.db"), "--admin",
       StrCat("127.0.0.1:", testing::PickFreePort()), "--web", ""},
      dir.File("controller.log"));
  ASSERT_TRUE(controller.ok()) << controller.status();
  ASSERT_TRUE(testing::WaitForPort(grpc_port, absl::Seconds(30)))
      << ReadFileOrDie(dir.File("controller.log"));
  int admin_port = testing::PickFreePort();
  const testing::CertKey& node = certs->client.at("node-inv");
  absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
      {"--listen", dir.File("agent.sock"), "--runtime-endpoint", (*containerd)->socket(),
       "--policy", dir.File("policy.yaml"), "--state-dir", dir.File("state"), "--node-name",
       "node-inv", "--admin", StrCat("127.0.0.1:", admin_port), "--health-socket", "",
       "--plain-http-registry", host, "--controller", StrCat("127.0.0.1:", grpc_port),
       "--controller-ca", certs->ca.cert, "--controller-cert", node.cert, "--controller-key",
       node.key},
      {}, admin_port, dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();

  testing::CriClient cri(dir.File("agent.sock"),
                         testing::CriClientOptions{.pull_timeout = absl::Seconds(60)});
  grpc::Status pulled = cri.Pull(StrCat(host, "/inventory/hello:1"));
  ASSERT_TRUE(pulled.ok()) << pulled.error_message() << "\n" << (*agent)->Log();

  const testing::CertKey& me = certs->client.at("ops-alice");
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {LAYERSEAL_BINARY, "events", "--controller",
                                     StrCat("127.0.0.1:", grpc_port), "--ca", certs->ca.cert,
                                     "--cert", me.cert, "--key", me.key};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RunResult> r = testing::Run(argv, "", kPatience);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  };
  json inventory;
  absl::Time deadline = absl::Now() + kPatience;
  while (inventory.is_null()) {
    RunResult r = cli({"images", "--packages", "--output", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      json j = json::parse(std::string(line), nullptr, false);
      if (!j.is_discarded() && j.value("digest", "") == image.digest.str()) inventory = j;
    }
    if (!inventory.is_null()) break;
    ASSERT_LT(absl::Now(), deadline) << "no inventory at the controller\n"
                                     << (*agent)->Log() << ReadFileOrDie(dir.File("controller.log"));
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_EQ(inventory["node"], "node-inv");
  EXPECT_EQ(inventory["packageCount"], "1") << inventory.dump();
  EXPECT_EQ(inventory["baseLayers"], 1);
  const size_t layers = testing::DiffIds(image).size();  // the base's, the top, the seal's
  EXPECT_EQ(inventory["layers"], layers);
  EXPECT_EQ(inventory["distro"], "debian 12");
  ASSERT_EQ(inventory["packages"].size(), 1u) << inventory.dump();
  const json& hello = inventory["packages"][0];
  EXPECT_EQ(hello["name"], "hello");
  EXPECT_EQ(hello["version"], "2.10-3");
  EXPECT_EQ(hello["arch"], "amd64");
  EXPECT_EQ(hello["layerIndex"], 1);
  EXPECT_EQ(hello["change"], "added");
  EXPECT_EQ(hello["purl"], "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12");

  RunResult table = cli({"images", "--packages"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr(StrCat("IMAGE ", image.digest.str(), " (", host,
                                          "/inventory/hello:1)")));
  EXPECT_THAT(table.out, HasSubstr(StrCat("1 package(s) above the base (1 of ", layers,
                                          " layers), debian 12; reported by node-inv")));
  EXPECT_THAT(table.out, HasSubstr("hello"));
  EXPECT_THAT(table.out, HasSubstr("2.10-3"));
  // Pulled again: still one inventory for the digest.
  ASSERT_TRUE(cri.Pull(StrCat(host, "/inventory/hello:1")).ok());
  absl::StatusOr<RunResult> rows = testing::Run(
      {"sqlite3", dir.File("events.db"), "SELECT count(*) FROM image_packages"});
  ASSERT_TRUE(rows.ok() && rows->exit_code == 0);
  EXPECT_EQ(rows->out, "1\n");
}

}  // namespace
}  // namespace layerseal
