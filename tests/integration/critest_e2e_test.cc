// critest (cri-tools v1.26.1, the CRI validation suite, from ../shared/bin) through the agent
// (issue 15): the agent must be a faithful CRI runtime. critest runs once straight against a
// test-owned containerd and once through the real `layerseal-agent` in front of another one
// (same config), under a `signed` policy for every image critest pulls; the specs that pass
// must be the same in both runs.
//
// Images. critest pulls registry.k8s.io/e2e-test-images/busybox:1.29-2 and
// gcr.io/k8s-staging-cri-tools/test-image-*; there is no internet, so a local docker-registry
// holds busybox stand-ins (tests/support/kube_node.h) under those paths, signed with the
// test key, and each containerd has mirrors for both hosts pointing at it. The agent has no
// mirrors (it judges the name it is given): it reaches the same registry through
// http_proxy (libcurl's), with plain HTTP for both hosts, so that its verification and
// containerd's pull read the same bytes. Specs that need the real nginx, httpd or
// nonewprivs images, per-user test images, or the digest-pinned image fail in both runs.
// No accept-anything scope is needed: every image critest pulls is a signed stand-in, and
// the pause image is pulled by containerd itself (docs/agent.md).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/images.h"
#include "tests/support/kube_node.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using nlohmann::json;

// One critest run; the full suite (80 specs) takes a few minutes on two busy cores.
constexpr absl::Duration kCritestTimeout = absl::Minutes(20);
constexpr const char* kStagingRepo = "k8s-staging-cri-tools";
constexpr const char* kE2eRepo = "e2e-test-images";

// The images critest 1.26.1 pulls (pkg/validate, pkg/framework), as local paths.
struct StandIn {
  std::string repo_tag;
  std::string seed;  // images with one seed are one image (several tags of it)
};
std::vector<StandIn> StandIns() {
  std::vector<StandIn> v = {{StrCat(kE2eRepo, "/busybox:1.29-2"), "busybox"}};
  for (const char* t : {"test-image-1:latest", "test-image-2:latest", "test-image-3:latest",
                        "test-image-latest:latest", "test-image-tag:test", "test-image-tag:all"}) {
    v.push_back({StrCat(kStagingRepo, "/", t), t});
  }
  for (const char* t : {"1", "2", "3"}) {
    v.push_back({StrCat(kStagingRepo, "/test-image-tags:", t), "test-image-tags"});
  }
  return v;
}

// The names of the specs of a ginkgo JSON report that passed.
std::set<std::string> PassedSpecs(const std::string& report_path) {
  std::set<std::string> passed;
  json report = json::parse(testing::ReadFileOrDie(report_path), nullptr, false);
  if (!report.is_array()) return passed;
  for (const json& suite : report) {
    if (!suite.contains("SpecReports")) continue;
    for (const json& spec : suite["SpecReports"]) {
      if (spec.value("LeafNodeType", "") != "It" || spec.value("State", "") != "passed") continue;
      std::string name;
      for (const json& text : spec.value("ContainerHierarchyTexts", json::array())) {
        name += text.get<std::string>() + " ";
      }
      passed.insert(name + spec.value("LeafNodeText", ""));
    }
  }
  return passed;
}

std::string Difference(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::string out;
  for (const std::string& s : a) {
    if (!b.count(s)) out += "  " + s + "\n";
  }
  return out;
}

class CritestE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> critest = testing::UnpackSharedProgram("critest", dir_.path());
    ASSERT_TRUE(critest.ok()) << critest.status();
    critest_ = *critest;
    absl::StatusOr<std::string> crictl = testing::UnpackSharedProgram("crictl", dir_.path());
    ASSERT_TRUE(crictl.ok()) << crictl.status();
    crictl_ = *crictl;
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry = testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    Push("pause:1", testing::StandInImage("critest-pause", {"/bin/sleep", "2147483647"}));
    for (const StandIn& s : StandIns()) {
      Push(s.repo_tag, testing::StandInImage(StrCat("critest-", s.seed), {}, {"sh"}));
    }
    WritePolicy();
  }

  void TearDown() override {
    agent_.reset();
    for (auto& containerd : containerds_) {
      absl::Status removed = testing::RemoveAllPods(crictl_, containerd->socket());
      EXPECT_TRUE(removed.ok()) << removed;
    }
  }

  // Signed with the test key, as `layerseal sign` would.
  void Push(const std::string& repo_tag, const testing::TestImage& base) {
    registry::RegistryClient client(registry_->ClientOptions());
    Reference ref = *Reference::Parse(StrCat(registry_->host(), "/", repo_tag));
    absl::Status pushed = testing::PushTestImage(client, ref, testing::SealTestImage(base, key_));
    ASSERT_TRUE(pushed.ok()) << repo_tag << ": " << pushed;
  }

  void WritePolicy() {
    testing::WriteFileOrDie(dir_.File("ci.pub"), key_.public_key().ToPem());
    testing::WriteFileOrDie(dir_.File("policy.yaml"),
                            StrCat("version: 1\n"
                                   "keys:\n  ci: {path: ", dir_.File("ci.pub"), "}\n"
                                   "default: {requirement: reject}\n"
                                   "scopes:\n"
                                   "  \"gcr.io/", kStagingRepo, "\": {requirement: signed, keys: [ci]}\n"
                                   "  \"registry.k8s.io/", kE2eRepo, "\": {requirement: signed, keys: [ci]}\n"));
  }

  // A containerd whose pause image and critest's registries are the local registry.
  testing::ContainerdServer* StartContainerd() {
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start(
            {.cri = true,
             .plain_http_registries = {registry_->host()},
             .mirrors = {{"gcr.io", registry_->host()}, {"registry.k8s.io", registry_->host()}},
             .sandbox_image = StrCat(registry_->host(), "/pause:1"),
             .pod_network = true});
    EXPECT_TRUE(containerd.ok()) << containerd.status();
    if (!containerd.ok()) return nullptr;
    containerds_.push_back(*std::move(containerd));
    return containerds_.back().get();
  }

  void StartAgent(const testing::ContainerdServer& containerd) {
    int admin_port = testing::PickFreePort();
    std::string proxy = StrCat("http://", registry_->host());
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
        {"--listen", dir_.File("agent.sock"), "--runtime-endpoint", containerd.socket(), "--policy",
         dir_.File("policy.yaml"), "--state-dir", dir_.File("state"), "--node-name", "critest-node",
         "--admin", StrCat("127.0.0.1:", admin_port), "--health-socket", dir_.File("health.sock"),
         "--plain-http-registry", "gcr.io", "--plain-http-registry", "registry.k8s.io"},
        {StrCat("http_proxy=", proxy), "no_proxy=localhost,127.0.0.1"}, admin_port,
        dir_.File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
  }

  // Runs the whole suite against `endpoint` (a unix socket path) and returns the passed specs.
  std::set<std::string> RunCritest(const std::string& name, const std::string& endpoint) {
    std::string report = dir_.File(StrCat("critest-", name, ".json"));
    absl::Time start = absl::Now();
    absl::StatusOr<testing::RunResult> r = testing::Run(
        {critest_, "--runtime-endpoint", StrCat("unix://", endpoint), "--image-endpoint",
         StrCat("unix://", endpoint), "--ginkgo.no-color", "--ginkgo.json-report", report,
         "--ginkgo.timeout", "18m"},
        "", kCritestTimeout);
    EXPECT_TRUE(r.ok()) << r.status();
    testing::WriteFileOrDie(dir_.File(StrCat("critest-", name, ".log")), r.ok() ? r->out + r->err : "");
    std::set<std::string> passed = PassedSpecs(report);
    std::cerr << "critest " << name << ": " << passed.size() << " specs passed in "
              << absl::FormatDuration(absl::Now() - start) << "\n";
    return passed;
  }

  // The end of a run's output: ginkgo's summary of the failures.
  std::string Summary(const std::string& name) {
    constexpr size_t kSummaryBytes = 8000;
    std::string out = testing::ReadFileOrDie(dir_.File(StrCat("critest-", name, ".log")));
    return out.size() <= kSummaryBytes ? out : out.substr(out.size() - kSummaryBytes);
  }

  testing::TempDir dir_;
  std::string critest_;
  std::string crictl_;
  PrivateKey key_ = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  std::unique_ptr<testing::RegistryServer> registry_;
  std::vector<std::unique_ptr<testing::ContainerdServer>> containerds_;
  std::unique_ptr<testing::AgentProcess> agent_;
};

TEST_F(CritestE2eTest, ThroughTheAgentTheSameSpecsPassAsStraightAgainstContainerd) {
  testing::ContainerdServer* direct = StartContainerd();
  ASSERT_NE(direct, nullptr);
  std::set<std::string> direct_passed = RunCritest("direct", direct->socket());
  ASSERT_FALSE(direct_passed.empty()) << Summary("direct");

  testing::ContainerdServer* behind = StartContainerd();
  ASSERT_NE(behind, nullptr);
  StartAgent(*behind);
  std::set<std::string> agent_passed = RunCritest("agent", dir_.File("agent.sock"));
  // Every spec, "listImage should get exactly 3 image" too: the agent answers a pull of a
  // tag only once the CRI plugin lists the tag (ContainerdImageRecorder::AwaitVisible).
  EXPECT_EQ(direct_passed, agent_passed)
      << "passed straight against containerd only:\n" << Difference(direct_passed, agent_passed)
      << "passed through the agent only:\n" << Difference(agent_passed, direct_passed)
      << "critest through the agent:\n" << Summary("agent");
}

}  // namespace
}  // namespace layerseal
