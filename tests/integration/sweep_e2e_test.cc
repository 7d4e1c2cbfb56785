// Continuous validation end to end (issue 18, node-agent/sweep.h): the real `layerseal-agent`
// in front of a real containerd (CRI plugin, temp root) pulling from a real docker-registry
// on loopback. A signed busybox stand-in is pulled, its pod sandbox (host network) and
// container created and started through the agent; then the key that signed it is removed
// from the policy. The reload's sweep must report the running container (event log and
// metric) within seconds, stop it where the scope says `onRevoked: stop`, and a new
// CreateContainer of the image is refused.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/kube_node.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;

// How long a sweep's findings may take to show after the policy file changes: the agent
// checks the files every 200 ms here; the rest is one sweep on a loaded machine.
constexpr absl::Duration kFindingTimeout = absl::Seconds(20);

class SweepE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    other_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry = testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    Push("pause:1", testing::SealTestImage(Sleeper("sweep-pause"), *key_));
    Push("sweep/app:1", testing::SealTestImage(Sleeper("sweep-app"), *key_));
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true,
                                          .plain_http_registries = {registry_->host()},
                                          .sandbox_image = Ref("pause:1")});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
  }
  static void TearDownTestSuite() {
    delete containerd_;
    delete registry_;
    delete key_;
    delete other_key_;
  }

  void SetUp() override {
    ASSERT_NE(containerd_, nullptr) << "the suite's setup failed";
    testing::WriteFileOrDie(dir_.File("ci.pub"), key_->public_key().ToPem());
    testing::WriteFileOrDie(dir_.File("other.pub"), other_key_->public_key().ToPem());
    std::filesystem::create_directories(dir_.File("namespaces"));
  }
  void TearDown() override {
    testing::CriClient direct(containerd_->socket());
    for (const std::string& id : sandboxes_) {
      grpc::Status s = direct.RemovePodSandbox(id);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    if (agent_ != nullptr) {
      agent_->Stop();
      EXPECT_EQ(AgentLog().find("Sanitizer"), std::string::npos) << AgentLog();
      EXPECT_EQ(AgentLog().find("runtime error:"), std::string::npos) << AgentLog();
    }
  }

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  static testing::TestImage Sleeper(const std::string& seed) {
    return testing::StandInImage(seed, {"/bin/sleep", "2147483647"});
  }
  static void Push(const std::string& repo_tag, const testing::TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::Status pushed = testing::PushTestImage(client, *Reference::Parse(Ref(repo_tag)), image);
    ASSERT_TRUE(pushed.ok()) << repo_tag << ": " << pushed;
  }

  // A policy file: the local registry signed by `key` (ci or other), with `extra` fields.
  std::string Policy(const std::string& key, const std::string& extra = "") {
    return StrCat("version: 1\nkeys:\n  ci: {path: ", dir_.File("ci.pub"), "}\n  other: {path: ",
                  dir_.File("other.pub"), "}\ndefault: {requirement: reject}\nscopes:\n  \"",
                  registry_->host(), "\": {requirement: signed, keys: [", key, "]", extra, "}\n");
  }
  // Replaces `path` at once (rename), so the agent's watch never reads half a file.
  void Replace(const std::string& path, const std::string& text) {
    testing::WriteFileOrDie(path + ".new", text);
    std::filesystem::rename(path + ".new", path);
  }

  void StartAgent() {
    admin_port_ = testing::PickFreePort();
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
        {"--listen", dir_.File("agent.sock"), "--runtime-endpoint", containerd_->socket(),
         "--policy", dir_.File("policy.yaml"), "--namespace-policy-dir", dir_.File("namespaces"),
         "--state-dir", dir_.File("state"), "--node-name", "node-sweep", "--admin",
         StrCat("127.0.0.1:", admin_port_), "--health-socket", dir_.File("health.sock"), "--plain-http-registry",
         registry_->host(), "--policy-check-interval", "200ms", "--sweep-stop-grace-period", "2s"},
        {}, admin_port_, dir_.File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    client_ = std::make_unique<testing::CriClient>(dir_.File("agent.sock"));
  }
  std::string AgentLog() { return testing::ReadFileOrDie(dir_.File("agent.log")); }
  double Metric(const std::string& series) {
    std::optional<std::string> text = testing::ScrapeMetrics(admin_port_);
    return text ? testing::MetricValue(*text, series).value_or(0) : -1;
  }
  std::vector<json> Revalidations() {
    std::vector<json> out;
    std::ifstream in(dir_.File("state/events.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
      json e = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (e.is_object() && e.value("gate", "") == "Revalidation") out.push_back(e);
    }
    return out;
  }

  // Pulls the app through the agent, and runs it in a new host-network pod of namespace
  // `ns`: sandbox, CreateContainer and StartContainer all through the agent.
  struct RunningPod {
    std::string sandbox_id, container_id, image_ref;
    cri::PodSandboxConfig config;
  };
  RunningPod RunApp(const std::string& ns, const std::string& pod) {
    RunningPod p;
    grpc::Status pulled = client_->Pull(Ref("sweep/app:1"), &p.image_ref, ns);
    EXPECT_TRUE(pulled.ok()) << pulled.error_message() << AgentLog();
    p.config = testing::CriClient::HostNetworkPod(ns, pod, StrCat("uid-", pod));
    grpc::Status ran = client_->RunPodSandbox(p.config, &p.sandbox_id);
    EXPECT_TRUE(ran.ok()) << ran.error_message();
    if (!p.sandbox_id.empty()) sandboxes_.push_back(p.sandbox_id);
    grpc::Status created = client_->CreateContainerIn(p.sandbox_id, p.config, p.image_ref, "app",
                                                      &p.container_id);
    EXPECT_TRUE(created.ok()) << created.error_message() << AgentLog();
    grpc::Status started = client_->StartContainer(p.container_id);
    EXPECT_TRUE(started.ok()) << started.error_message();
    return p;
  }
  // The container's state as containerd itself lists it (CONTAINER_UNKNOWN when absent).
  cri::ContainerState StateOf(const std::string& container_id) {
    testing::CriClient direct(containerd_->socket());
    std::vector<cri::Container> all;
    EXPECT_TRUE(direct.ListContainers(&all).ok());
    for (const cri::Container& c : all) {
      if (c.id() == container_id) return c.state();
    }
    return cri::CONTAINER_UNKNOWN;
  }

  static PrivateKey* key_;
  static PrivateKey* other_key_;
  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  testing::TempDir dir_;
  int admin_port_ = 0;
  std::unique_ptr<testing::AgentProcess> agent_;
  std::unique_ptr<testing::CriClient> client_;
  std::vector<std::string> sandboxes_;
};

PrivateKey* SweepE2eTest::key_ = nullptr;
PrivateKey* SweepE2eTest::other_key_ = nullptr;
testing::RegistryServer* SweepE2eTest::registry_ = nullptr;
testing::ContainerdServer* SweepE2eTest::containerd_ = nullptr;

TEST_F(SweepE2eTest, AKeyRemovedReportsTheRunningContainerAndRefusesNewOnes) {
  testing::WriteFileOrDie(dir_.File("policy.yaml"), Policy("ci"));
  StartAgent();
  RunningPod pod = RunApp("default", "web");
  ASSERT_FALSE(pod.container_id.empty());
  ASSERT_EQ(StateOf(pod.container_id), cri::CONTAINER_RUNNING);
  EXPECT_TRUE(Revalidations().empty());

  // The key that signed the image leaves the policy (another key is trusted instead).
  Replace(dir_.File("policy.yaml"), Policy("other"));
  std::vector<json> found;
  ASSERT_TRUE(testing::PollUntil(kFindingTimeout, [&] {
    found = Revalidations();
    return !found.empty();
  })) << AgentLog();
  ASSERT_EQ(found.size(), 1u);
  const json& e = found[0];
  EXPECT_EQ(e["container"]["id"], pod.container_id);
  EXPECT_EQ(e["container"]["name"], "app");
  EXPECT_EQ(e["pod"]["namespace"], "default");
  EXPECT_EQ(e["pod"]["name"], "web");
  EXPECT_EQ(e["verdict"], "DENY");
  EXPECT_EQ(e["reason"], "UNTRUSTED_KEY") << e.dump();
  EXPECT_FALSE(e["admitted"].get<bool>());
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"UNTRUSTED_KEY\"}"), 1);
  EXPECT_EQ(Metric("layerseal_sweep_images_not_admitted{reason=\"UNTRUSTED_KEY\"}"), 2)  // app, pause
      << "the pause image, pulled by containerd itself, is judged too";
  // onRevoked: report (the default): still running.
  EXPECT_EQ(StateOf(pod.container_id), cri::CONTAINER_RUNNING);

  // A new container of the image in that pod is refused.
  std::string second;
  grpc::Status refused = client_->CreateContainerIn(pod.sandbox_id, pod.config, pod.image_ref,
                                                    "again", &second);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("UNTRUSTED_KEY"), std::string::npos) << refused.error_message();
  // And the image is hidden from ImageStatus.
  EXPECT_FALSE(client_->Status(pod.image_ref).has_value());
}

// A namespace policy with `onRevoked: stop` loses the key: its pod's container is stopped
// (StopContainer, grace period 2 s here; busybox sleep as PID 1 ignores SIGTERM, so it is
// killed when the grace period ends), the event says so; the node policy's pods are left be.
TEST_F(SweepE2eTest, OnRevokedStopStopsTheContainerOfTheNamespaceWhosePolicyChanged) {
  testing::WriteFileOrDie(dir_.File("policy.yaml"), Policy("ci"));
  testing::WriteFileOrDie(dir_.File("namespaces/strict.yaml"), Policy("ci", ", onRevoked: stop"));
  StartAgent();
  RunningPod strict = RunApp("strict", "locked");
  RunningPod other = RunApp("default", "web");
  ASSERT_EQ(StateOf(strict.container_id), cri::CONTAINER_RUNNING);
  ASSERT_EQ(StateOf(other.container_id), cri::CONTAINER_RUNNING);

  Replace(dir_.File("namespaces/strict.yaml"), Policy("other", ", onRevoked: stop"));
  ASSERT_TRUE(testing::PollUntil(kFindingTimeout, [&] {
    return StateOf(strict.container_id) == cri::CONTAINER_EXITED;
  })) << AgentLog();
  std::vector<json> found;
  ASSERT_TRUE(testing::PollUntil(kFindingTimeout, [&] {
    found = Revalidations();
    return !found.empty();
  })) << AgentLog();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["container"]["id"], strict.container_id);
  EXPECT_EQ(found[0]["pod"]["namespace"], "strict");
  EXPECT_EQ(found[0]["reason"], "UNTRUSTED_KEY");
  EXPECT_NE(found[0]["detail"].get<std::string>().find("onRevoked: stop: the container was stopped"),
            std::string::npos)
      << found[0].dump();
  EXPECT_EQ(Metric("layerseal_sweep_containers_stopped_total{result=\"ok\"}"), 1);
  EXPECT_NE(AgentLog().find("stopped a running container the policy no longer admits"), std::string::npos);
  EXPECT_EQ(StateOf(other.container_id), cri::CONTAINER_RUNNING);
}

}  // namespace
}  // namespace layerseal
