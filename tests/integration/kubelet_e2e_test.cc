// The real kubelet in front of the agent (issue 15): the stock kubelet 1.26 of ../shared/bin
// in standalone mode runs static pods through the real `layerseal-agent`, which sits in front
// of a test-owned containerd (CRI plugin, temp root) pulling from a real docker-registry on
// loopback. Pod statuses are read from the kubelet's read-only API (GET /pods), as an
// operator would see them. Images are busybox stand-ins (tests/support/kube_node.h).
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
#include "verifier/seal_layer.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using nlohmann::json;
using testing::TestImage;

// Generous: the machine is shared, and a pod's first start pulls the pause image and its own.
constexpr absl::Duration kPodTimeout = absl::Minutes(4);
constexpr const char* kStrictNamespace = "strict";

class KubeletE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    absl::StatusOr<std::string> kubelet = testing::UnpackSharedProgram("kubelet", dir_->path());
    ASSERT_TRUE(kubelet.ok()) << kubelet.status();
    absl::StatusOr<std::string> crictl = testing::UnpackSharedProgram("crictl", dir_->path());
    ASSERT_TRUE(crictl.ok()) << crictl.status();
    crictl_ = new std::string(*crictl);
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    other_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry = testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    PushImages();
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true,
                                          .plain_http_registries = {registry_->host()},
                                          .sandbox_image = Ref("pause:1")});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
    PrePull(Ref("prepulled/app:1"));
    PrePull(Ref("strict/app:1"));
    WritePolicies();
    StartAgent();
    absl::StatusOr<std::unique_ptr<testing::KubeletServer>> k = testing::KubeletServer::Start(
        {.kubelet_binary = *kubelet, .runtime_endpoint = dir_->File("agent.sock")});
    ASSERT_TRUE(k.ok()) << k.status();
    kubelet_ = k->release();
  }

  static void TearDownTestSuite() {
    delete kubelet_;
    if (containerd_ != nullptr && crictl_ != nullptr) {
      absl::Status removed = testing::RemoveAllPods(*crictl_, containerd_->socket());
      EXPECT_TRUE(removed.ok()) << removed;
    }
    delete agent_;
    delete containerd_;
    delete registry_;
    delete key_;
    delete other_key_;
    delete crictl_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_NE(kubelet_, nullptr) << "the suite's setup failed";
  }

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }

  static void Push(const std::string& repo_tag, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::Status pushed = testing::PushTestImage(client, *Reference::Parse(Ref(repo_tag)), image);
    ASSERT_TRUE(pushed.ok()) << repo_tag << ": " << pushed;
  }
  static TestImage Sleeper(const std::string& seed) {
    return testing::StandInImage(seed, {"/bin/sleep", "2147483647"});
  }
  static TestImage Sign(const TestImage& base, const PrivateKey& key) {
    return testing::SealTestImage(base, key);
  }

  // One image per verdict; the pause image is signed too (containerd pulls it itself, so
  // the agent never judges it: docs/agent.md).
  static void PushImages() {
    Push("pause:1", Sign(Sleeper("kubelet-pause"), *key_));
    Push("signed/app:1", Sign(Sleeper("kubelet-signed"), *key_));
    Push("unsigned/app:1", Sleeper("kubelet-unsigned"));
    Push("untrusted/app:1", Sign(Sleeper("kubelet-untrusted"), *other_key_));
    Push("tampered/app:1", testing::WithLayerSwapped(Sign(Sleeper("kubelet-tampered"), *key_), 1));
    Push("prepulled/app:1", Sleeper("kubelet-prepulled"));
    Push("strict/app:1", Sign(Sleeper("kubelet-strict"), *key_));
  }

  // Pulled straight into containerd's CRI namespace, bypassing the agent.
  static void PrePull(const std::string& ref) {
    absl::StatusOr<testing::RunResult> r =
        testing::Run({*crictl_, "--runtime-endpoint", StrCat("unix://", containerd_->socket()),
                      "--timeout", "120s", "pull", ref}, "", absl::Minutes(3));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << r->err;
  }

  // Node policy: the local registry must be signed by `ci`. Namespace "strict" trusts
  // another key only, so an image admitted for the node is refused for its pods.
  static void WritePolicies() {
    testing::WriteFileOrDie(dir_->File("ci.pub"), key_->public_key().ToPem());
    testing::WriteFileOrDie(dir_->File("other.pub"), other_key_->public_key().ToPem());
    testing::WriteFileOrDie(dir_->File("policy.yaml"),
                            StrCat("version: 1\n"
                                   "keys:\n  ci: {path: ", dir_->File("ci.pub"), "}\n"
                                   "default: {requirement: reject}\n"
                                   "scopes:\n"
                                   "  \"", registry_->host(), "\": {requirement: signed, keys: [ci]}\n"));
    std::filesystem::create_directories(dir_->File("namespaces"));
    testing::WriteFileOrDie(dir_->File(StrCat("namespaces/", kStrictNamespace, ".yaml")),
                            StrCat("version: 1\n"
                                   "keys:\n  other: {path: ", dir_->File("other.pub"), "}\n"
                                   "default: {requirement: signed, keys: [other]}\n"));
  }

  static void StartAgent() {
    int admin_port = testing::PickFreePort();
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
        {"--listen", dir_->File("agent.sock"), "--runtime-endpoint", containerd_->socket(),
         "--policy", dir_->File("policy.yaml"), "--namespace-policy-dir", dir_->File("namespaces"),
         "--state-dir", dir_->File("state"), "--node-name", "layerseal-node", "--admin",
         StrCat("127.0.0.1:", admin_port), "--health-socket", dir_->File("health.sock"),
         "--plain-http-registry", registry_->host()},
        {}, admin_port, dir_->File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = agent->release();
  }
  static void StopAgent() {
    delete agent_;
    agent_ = nullptr;
  }

  // A static pod of one container "c" running `image` (host network: no CNI here).
  static void RunPod(const std::string& name, const std::string& image,
                     const std::string& pull_policy, const std::string& ns = "default") {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"spec",
                 {{"hostNetwork", true},
                  {"terminationGracePeriodSeconds", 1},
                  {"containers",
                   {{{"name", "c"},
                     {"image", image},
                     {"imagePullPolicy", pull_policy},
                     {"command", {"/bin/sleep", "2147483647"}}}}}}}};
    kubelet_->AddStaticPod(name + ".json", pod.dump(2));
  }
  static std::string PodName(const std::string& name) { return StrCat(name, "-", kubelet_->node_name()); }

  // What the kubelet shows for the pod's container: its state (running, waiting,
  // terminated) and, when waiting, the reason and message.
  struct Seen {
    std::string state, reason, message;
    int restarts = 0;
  };
  static Seen Look(const std::string& name, const std::string& ns = "default") {
    Seen seen;
    absl::StatusOr<json> status = kubelet_->ContainerStatus(ns, PodName(name));
    if (!status.ok() || status->is_null()) return seen;
    seen.restarts = status->value("restartCount", 0);
    json states = status->value("state", json::object());
    for (const char* state : {"running", "waiting", "terminated"}) {
      if (!states.contains(state) || !states[state].is_object()) continue;
      seen.state = state;
      seen.reason = states[state].value("reason", "");
      seen.message = states[state].value("message", "");
    }
    return seen;
  }
  static std::string Describe(const Seen& s) {
    return StrCat("state=", s.state, " reason=", s.reason, " message=", s.message);
  }

  // Waits until the pod's container runs with at least `min_restarts` restarts.
  static ::testing::AssertionResult Runs(const std::string& name, int min_restarts = 0) {
    Seen last;
    bool ok = testing::PollUntil(kPodTimeout, [&] {
      last = Look(name);
      return last.state == "running" && last.restarts >= min_restarts;
    });
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << name << " is not running: " << Describe(last)
                                       << "\nagent log:\n" << Tail(agent_ ? agent_->Log() : "")
                                       << "\nkubelet log:\n" << Tail(kubelet_->Log());
  }

  // Waits until the container is waiting with one of `reasons` and a message holding
  // `text` (the kubelet alternates ErrImagePull, with the runtime's message, and
  // ImagePullBackOff, with its own: polled every second until the former is seen).
  static ::testing::AssertionResult WaitsWith(const std::string& name, const std::string& ns,
                                            const std::vector<std::string>& reasons,
                                            const std::string& text) {
    Seen last;
    bool ok = testing::PollUntil(kPodTimeout, [&] {
      last = Look(name, ns);
      if (last.state == "running") return true;  // fails below
      bool reason = std::find(reasons.begin(), reasons.end(), last.reason) != reasons.end();
      return last.state == "waiting" && reason && last.message.find(text) != std::string::npos;
    });
    if (ok && last.state == "waiting") return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << name << ": expected waiting with " << reasons[0]
                                       << " and \"" << text << "\", saw " << Describe(last);
  }

  static std::string Tail(const std::string& log) {
    constexpr size_t kTailBytes = 6000;
    return log.size() <= kTailBytes ? log : log.substr(log.size() - kTailBytes);
  }

  static testing::TempDir* dir_;
  static std::string* crictl_;
  static PrivateKey* key_;
  static PrivateKey* other_key_;
  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static testing::AgentProcess* agent_;
  static testing::KubeletServer* kubelet_;
};

testing::TempDir* KubeletE2eTest::dir_ = nullptr;
std::string* KubeletE2eTest::crictl_ = nullptr;
PrivateKey* KubeletE2eTest::key_ = nullptr;
PrivateKey* KubeletE2eTest::other_key_ = nullptr;
testing::RegistryServer* KubeletE2eTest::registry_ = nullptr;
testing::ContainerdServer* KubeletE2eTest::containerd_ = nullptr;
testing::AgentProcess* KubeletE2eTest::agent_ = nullptr;
testing::KubeletServer* KubeletE2eTest::kubelet_ = nullptr;

// Every pod at once (the kubelet works on them in parallel): the signed one runs; the others
// never start, and the kubelet shows layerseal's reason. Kubelet 1.26 does not know the
// SignatureValidationFailed prefix (1.28+ does): its reason is ErrImagePull, with
// layerseal's whole text in the message.
TEST_F(KubeletE2eTest, SignedPodsRunAndTheOthersShowLayersealsReason) {
  RunPod("signed", Ref("signed/app:1"), "IfNotPresent");
  RunPod("unsigned", Ref("unsigned/app:1"), "IfNotPresent");
  RunPod("untrusted", Ref("untrusted/app:1"), "Always");
  RunPod("tampered", Ref("tampered/app:1"), "IfNotPresent");
  // Pre-pulled behind the agent's back: the agent hides it from ImageStatus, so the kubelet
  // pulls it through the gate (IfNotPresent) or reports it absent (Never).
  RunPod("prepulled", Ref("prepulled/app:1"), "IfNotPresent");
  RunPod("prepulled-never", Ref("prepulled/app:1"), "Never");
  // Admitted for the node (ImageStatus shows it), refused for this namespace's pods by the
  // CreateContainer gate.
  RunPod("strict", Ref("strict/app:1"), "Never", kStrictNamespace);

  EXPECT_TRUE(Runs("signed"));
  const std::vector<std::string> kPullReasons = {"ErrImagePull"};
  EXPECT_TRUE(WaitsWith("unsigned", "default", kPullReasons,
                        StrCat("layerseal denied ", Ref("unsigned/app:1"), ": NOT_SIGNED: ")));
  EXPECT_TRUE(WaitsWith("untrusted", "default", kPullReasons,
                        StrCat("layerseal denied ", Ref("untrusted/app:1"), ": UNTRUSTED_KEY: ")));
  EXPECT_TRUE(WaitsWith("tampered", "default", kPullReasons,
                        StrCat("layerseal denied ", Ref("tampered/app:1"), ": INTEGRITY_MISMATCH: ")));
  EXPECT_TRUE(WaitsWith("prepulled", "default", kPullReasons,
                        StrCat("layerseal denied ", Ref("prepulled/app:1"), ": NOT_SIGNED: ")));
  EXPECT_TRUE(WaitsWith("prepulled-never", "default", {"ErrImageNeverPull"}, Ref("prepulled/app:1")));
  EXPECT_TRUE(WaitsWith("strict", kStrictNamespace, {"CreateContainerError"}, "layerseal denied"));
  EXPECT_TRUE(WaitsWith("strict", kStrictNamespace, {"CreateContainerError"}, "UNTRUSTED_KEY"));
}

// Issue 15 item 1: after a verified pull and a running pod, the agent restarts and the
// registry goes away. The pod's container can still restart, and a new static pod with the
// same image starts: the agent's remembered verdict and the image in containerd suffice.
// Last in the suite: it stops the registry.
TEST_F(KubeletE2eTest, AfterAnAgentRestartWithTheRegistryDownTheImageStillRuns) {
  const std::string image = Ref("signed/app:1");  // Ref needs the registry, stopped below
  RunPod("keeper", image, "IfNotPresent");
  ASSERT_TRUE(Runs("keeper"));
  StopAgent();
  StartAgent();
  delete registry_;
  registry_ = nullptr;

  // The container dies (stopped in containerd, behind the kubelet); the kubelet restarts it.
  absl::StatusOr<testing::RunResult> ids = testing::Run(
      {*crictl_, "--runtime-endpoint", StrCat("unix://", containerd_->socket()), "ps", "-q",
       "--label", StrCat("io.kubernetes.pod.name=", PodName("keeper"))});
  ASSERT_TRUE(ids.ok() && ids->exit_code == 0 && !ids->out.empty()) << (ids.ok() ? ids->err : "");
  std::string id = ids->out.substr(0, ids->out.find('\n'));
  absl::StatusOr<testing::RunResult> stop = testing::Run(
      {*crictl_, "--runtime-endpoint", StrCat("unix://", containerd_->socket()), "stop", id});
  ASSERT_TRUE(stop.ok() && stop->exit_code == 0) << (stop.ok() ? stop->err : "");
  EXPECT_TRUE(Runs("keeper", 1));

  RunPod("keeper-again", image, "IfNotPresent");
  EXPECT_TRUE(Runs("keeper-again"));
}

}  // namespace
}  // namespace layerseal
