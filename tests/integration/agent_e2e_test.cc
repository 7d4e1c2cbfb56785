// The node agent end to end: a real containerd (CRI plugin on, temp root) behind the real
// `layerseal-agent` binary, a real docker-registry on loopback, and a CRI client talking to
// the agent's socket as the kubelet would. One test (the moved tag) runs the agent
// in-process, for its test seam.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "node-agent/agent.h"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/seal_layer.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;
using testing::TestImage;

// What the kubelet makes of a PullImage error, written from its Go code (see docs/agent.md):
// k8s.io/cri-client remote_image.go PullImage keeps only the message of a codes.Unknown
// status (other codes keep the "rpc error: code = ... desc = ..." form); then
// pkg/kubelet/images/image_manager.go evalCRIPullErr tests the message's prefix against
// crierrors.ErrRegistryUnavailable and crierrors.ErrSignatureValidationFailed, and
// everything else is ErrImagePull.
std::string KubeletPullErrorReason(const grpc::Status& s) {
  std::string err = s.error_code() == grpc::StatusCode::UNKNOWN
                        ? s.error_message()
                        : StrCat("rpc error: code = ", static_cast<int>(s.error_code()),
                                 " desc = ", s.error_message());
  if (err.rfind("RegistryUnavailable", 0) == 0) return "RegistryUnavailable";
  if (err.rfind("SignatureValidationFailed", 0) == 0) return "SignatureValidationFailed";
  return "ErrImagePull";
}

using testing::CriClient;

// Registry, containerd, keys and images, shared by the suite (each test uses its own
// repositories so that verdicts and pulled images never leak between tests).
class AgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
        testing::RegistryServer::Start({.log_requests = true});
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {registry_->host()}});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    other_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
  }
  static void TearDownTestSuite() {
    delete containerd_;
    delete registry_;
    delete key_;
    delete other_key_;
  }

  void SetUp() override {
    ASSERT_NE(containerd_, nullptr);
    testing::WriteFileOrDie(dir_.File("ci.pub"), key_->public_key().ToPem());
    WritePolicy(StrCat("    \"", registry_->host(), "/audit\": {requirement: signed, keys: [ci], mode: audit}\n"));
  }
  void TearDown() override { StopAgent(); }

  // The node policy: images under <registry>/ must be signed by `ci`; `extra_scopes` are
  // added lines under "scopes:".
  void WritePolicy(const std::string& extra_scopes, const std::string& path = "") {
    testing::WriteFileOrDie(path.empty() ? dir_.File("policy.yaml") : path,
                            StrCat("version: 1\n"
                                   "keys:\n  ci: {path: ", dir_.File("ci.pub"), "}\n"
                                   "default: {requirement: reject}\n"
                                   "scopes:\n"
                                   "    \"", registry_->host(), "\": {requirement: signed, keys: [ci]}\n",
                                   extra_scopes));
  }

  std::vector<std::string> AgentArgs() {
    return {LAYERSEAL_AGENT_BINARY, "--listen", dir_.File("agent.sock"),
            "--runtime-endpoint", containerd_->socket(), "--policy", dir_.File("policy.yaml"),
            "--namespace-policy-dir", dir_.File("namespaces"), "--state-dir", dir_.File("state"),
            "--node-name", "node-e2e", "--admin", StrCat("127.0.0.1:", admin_port_),
            "--health-socket", health_socket_, "--plain-http-registry", registry_->host(),
            "--policy-check-interval", "200ms"};
  }
  std::vector<std::string> AgentArgsWithExtras() {
    std::vector<std::string> args = AgentArgs();
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    return args;
  }

  void StartAgent(const std::vector<std::string>& extra_args = {}) {
    std::filesystem::create_directories(dir_.File("namespaces"));
    std::vector<std::string> args = AgentArgsWithExtras();
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
        {args.begin() + 1, args.end()}, {}, admin_port_, dir_.File("agent.log"));  // [0]: binary
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    client_ = std::make_unique<CriClient>(dir_.File("agent.sock"));
  }
  void StopAgent() {
    client_.reset();
    if (!agent_) return;
    agent_->Stop();
    agent_.reset();
    // Under the sanitizer build the agent is instrumented too: a report fails the test.
    EXPECT_EQ(AgentLog().find("Sanitizer"), std::string::npos) << AgentLog();
    EXPECT_EQ(AgentLog().find("runtime error:"), std::string::npos) << AgentLog();
  }
  std::string AgentLog() { return testing::ReadFileOrDie(dir_.File("agent.log")); }

  // The agent's /metrics, through curl (an independent HTTP client).
  std::string Metrics() {
    std::optional<std::string> text = testing::ScrapeMetrics(admin_port_);
    EXPECT_TRUE(text.has_value());
    return text.value_or("");
  }
  double Metric(const std::string& series) { return testing::MetricValue(Metrics(), series).value_or(0); }

  std::vector<json> Events() {
    std::vector<json> out;
    std::ifstream in(dir_.File("state/events.jsonl"));
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }

  // Requests the agent (not containerd) sent to the registry so far. The registry logs a
  // request just after answering it: read until the count holds still for 300 ms.
  static int AgentRegistryRequests() {
    int n = CountAgentRequests();
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      int again = CountAgentRequests();
      if (again == n) return n;
      n = again;
    }
  }
  static int CountAgentRequests() {
    std::ifstream in(registry_->log_file());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      n += line.find("response completed") != std::string::npos &&
           line.find("useragent=layerseal-agent") != std::string::npos;
    }
    return n;
  }

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }

  // Pushes `image` as <registry>/<repo_tag> and returns its manifest digest.
  static Digest Push(const std::string& repo_tag, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::Status pushed = testing::PushTestImage(client, *Reference::Parse(Ref(repo_tag)), image);
    EXPECT_TRUE(pushed.ok()) << pushed;
    return image.digest;
  }
  static TestImage Signed(const std::string& seed, const PrivateKey& key) {
    return testing::SealTestImage(testing::MakeBaseImage({.seed = seed}), key);
  }

  // The image as containerd itself knows it (not through the agent).
  static std::optional<cri::Image> InContainerd(const std::string& image) {
    return CriClient(containerd_->socket()).Status(image);
  }
  // InContainerd once containerd's CRI plugin has caught up with its image events (it
  // learns a name created through the images API a moment later).
  static std::optional<cri::Image> WaitInContainerd(const std::string& image) {
    for (int i = 0; i < 100; ++i) {
      if (std::optional<cri::Image> found = InContainerd(image)) return found;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }
  // The repo_tags of image `id` in ListImages through the agent (what `crictl images` shows).
  std::vector<std::string> RepoTagsThroughAgent(const std::string& id) {
    std::vector<cri::Image> images;
    EXPECT_TRUE(CriClient(dir_.File("agent.sock")).ListImages(&images).ok());
    for (const cri::Image& image : images) {
      if (image.id() == id) return {image.repo_tags().begin(), image.repo_tags().end()};
    }
    return {};
  }

  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static PrivateKey* key_;
  static PrivateKey* other_key_;
  testing::TempDir dir_;
  std::string health_socket_ = dir_.File("health.sock");
  int admin_port_ = testing::PickFreePort();
  std::unique_ptr<testing::AgentProcess> agent_;
  std::unique_ptr<CriClient> client_;
  std::vector<std::string> extra_args_;  // more agent flags, for StartAgent
};

testing::RegistryServer* AgentE2eTest::registry_ = nullptr;
testing::ContainerdServer* AgentE2eTest::containerd_ = nullptr;
PrivateKey* AgentE2eTest::key_ = nullptr;
PrivateKey* AgentE2eTest::other_key_ = nullptr;

TEST_F(AgentE2eTest, SignedImageIsPulledByTheVerifiedDigest) {
  Digest digest = Push("signed/app:1.0", Signed("e2e-signed", *key_));
  StartAgent();
  std::string image_ref;
  grpc::Status s = client_->Pull(Ref("signed/app:1.0"), &image_ref);
  ASSERT_TRUE(s.ok()) << s.error_message() << AgentLog();
  EXPECT_FALSE(image_ref.empty());

  std::optional<cri::Image> stored = InContainerd(image_ref);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->repo_digests(0), StrCat(Ref("signed/app"), "@", digest.str()));
  // The kubelet asks by tag next time: the agent finds the image pulled by digest.
  std::optional<cri::Image> by_tag = client_->Status(Ref("signed/app:1.0"));
  ASSERT_TRUE(by_tag.has_value());
  EXPECT_EQ(by_tag->id(), image_ref);

  std::vector<json> events = Events();
  ASSERT_FALSE(events.empty());
  const json& e = events.front();
  EXPECT_EQ(e["gate"], "PullImage");
  EXPECT_EQ(e["verdict"], "ALLOW");
  EXPECT_EQ(e["reason"], "VERIFIED");
  EXPECT_EQ(e["digest"], digest.str());
  EXPECT_EQ(e["node"], "node-e2e");
  EXPECT_EQ(e["pod"]["namespace"], "default");
  EXPECT_EQ(e["pod"]["uid"], "uid-1");
  EXPECT_EQ(e["key_id"], key_->public_key().key_id());
  EXPECT_NE(Metrics().find("layerseal_verdicts_total{gate=\"PullImage\",verdict=\"ALLOW\",reason=\"VERIFIED\",mode=\"enforce\"} 1"),
            std::string::npos) << Metrics();
}

TEST_F(AgentE2eTest, ATagWhosePinnedImageIsGoneIsAskedForItself) {
  Push("fallback/app:1", Signed("e2e-fallback-signed", *key_));
  StartAgent();
  std::string pinned_id;
  ASSERT_TRUE(client_->Pull(Ref("fallback/app:1"), &pinned_id).ok()) << AgentLog();
  ASSERT_TRUE(client_->Status(Ref("fallback/app:1")).has_value());  // via the pinned digest

  // Behind the agent's back: the pinned image goes, and the tag now names an unsigned image
  // that containerd pulls by the tag itself.
  CriClient direct(containerd_->socket());
  ASSERT_TRUE(direct.Remove(pinned_id).ok());
  Push("fallback/app:1", testing::MakeBaseImage({.seed = "e2e-fallback-unsigned"}));
  std::string tag_id;
  ASSERT_TRUE(direct.Pull(Ref("fallback/app:1"), &tag_id).ok());
  ASSERT_TRUE(InContainerd(Ref("fallback/app:1")).has_value());

  // The agent asks for the digest first, finds nothing, then asks for the tag and judges
  // what containerd holds under it.
  EXPECT_FALSE(client_->Status(Ref("fallback/app:1")).has_value());
  std::vector<json> events = Events();
  ASSERT_FALSE(events.empty());
  const json& e = events.back();
  EXPECT_EQ(e["gate"], "ImageStatus");
  EXPECT_EQ(e["image"], Ref("fallback/app:1"));
  EXPECT_EQ(e["verdict"], "DENY");
  EXPECT_EQ(e["reason"], "NOT_SIGNED");
}

TEST_F(AgentE2eTest, DeniedImagesNeverReachContainerd) {
  Push("deny/unsigned:1", testing::MakeBaseImage({.seed = "e2e-unsigned"}));
  Push("deny/untrusted:1", Signed("e2e-untrusted", *other_key_));
  // A base layer swapped for another after signing.
  Push("deny/tampered:1", testing::WithLayerSwapped(Signed("e2e-tampered", *key_), 0));
  StartAgent();

  struct Case {
    std::string ref, reason;
  };
  for (const Case& c : {Case{Ref("deny/unsigned:1"), "NOT_SIGNED"},
                        Case{Ref("deny/untrusted:1"), "UNTRUSTED_KEY"},
                        Case{Ref("deny/tampered:1"), "INTEGRITY_MISMATCH"},
                        Case{"elsewhere.example/app:1", "REJECTED_BY_POLICY"}}) {
    grpc::Status s = client_->Pull(c.ref);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN) << c.ref;
    EXPECT_EQ(s.error_message().rfind(StrCat("SignatureValidationFailed: layerseal denied ", c.ref,
                                             ": ", c.reason, ": "), 0), 0u)
        << s.error_message();
    EXPECT_NE(s.error_message().find("(policy sha256:"), std::string::npos);
    EXPECT_EQ(KubeletPullErrorReason(s), "SignatureValidationFailed");
    EXPECT_FALSE(InContainerd(c.ref).has_value()) << c.ref;
  }
  std::vector<json> events = Events();
  ASSERT_EQ(events.size(), 4u);
  for (const json& e : events) EXPECT_EQ(e["verdict"], "DENY");
}

TEST_F(AgentE2eTest, AuditModeAdmitsAndRecordsTheDenial) {
  Push("audit/unsigned:1", testing::MakeBaseImage({.seed = "e2e-audit"}));
  StartAgent();
  grpc::Status s = client_->Pull(Ref("audit/unsigned:1"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<json> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["verdict"], "DENY");
  EXPECT_EQ(events[0]["reason"], "NOT_SIGNED");
  EXPECT_EQ(events[0]["mode"], "audit");
  EXPECT_EQ(events[0]["admitted"], true);
}

TEST_F(AgentE2eTest, ImagesThatBypassedTheAgentAreHiddenUntilVerified) {
  Push("bypass/unsigned:1", testing::MakeBaseImage({.seed = "e2e-bypass-unsigned"}));
  Digest signed_digest = Push("bypass/signed:1", Signed("e2e-bypass-signed", *key_));
  CriClient direct(containerd_->socket());
  std::string unsigned_id, signed_id;
  ASSERT_TRUE(direct.Pull(Ref("bypass/unsigned:1"), &unsigned_id).ok());
  ASSERT_TRUE(direct.Pull(Ref("bypass/signed:1"), &signed_id).ok());
  StartAgent();

  // Pulled behind the agent's back: the unsigned image is absent to the kubelet, and no
  // container may be made from it.
  EXPECT_FALSE(client_->Status(Ref("bypass/unsigned:1")).has_value());
  EXPECT_FALSE(client_->Status(unsigned_id).has_value());
  grpc::Status create = client_->CreateContainer(unsigned_id, "default");
  EXPECT_EQ(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_NE(create.error_message().find("NOT_SIGNED"), std::string::npos) << create.error_message();
  // The signed one is verified in place by its repository digest and shown.
  std::optional<cri::Image> shown = client_->Status(signed_id);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown->repo_digests(0), StrCat(Ref("bypass/signed"), "@", signed_digest.str()));
  // CreateContainer of an admitted image reaches containerd (which has no such sandbox).
  grpc::Status created = client_->CreateContainer(signed_id, "default");
  EXPECT_NE(created.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << created.error_message();
  EXPECT_EQ(created.error_message().find("layerseal"), std::string::npos) << created.error_message();
}

TEST_F(AgentE2eTest, NamespacePolicyAppliesToThePodAtHand) {
  Push("ns/app:1", Signed("e2e-ns", *key_));
  // Namespace "strict" trusts another key only.
  testing::WriteFileOrDie(dir_.File("other.pub"), other_key_->public_key().ToPem());
  std::filesystem::create_directories(dir_.File("namespaces"));
  testing::WriteFileOrDie(dir_.File("namespaces/strict.yaml"),
                          StrCat("version: 1\nkeys:\n  other: {path: ", dir_.File("other.pub"), "}\n"
                                 "default: {requirement: signed, keys: [other]}\n"));
  StartAgent();
  std::string id;
  ASSERT_TRUE(client_->Pull(Ref("ns/app:1"), &id, "default").ok());
  grpc::Status strict_pull = client_->Pull(Ref("ns/app:1"), nullptr, "strict");
  EXPECT_EQ(KubeletPullErrorReason(strict_pull), "SignatureValidationFailed");
  EXPECT_NE(strict_pull.error_message().find("UNTRUSTED_KEY"), std::string::npos);
  // Already on the node thanks to "default": still no container for a "strict" pod.
  grpc::Status strict_create = client_->CreateContainer(id, "strict");
  EXPECT_EQ(strict_create.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(strict_create.error_message().find("UNTRUSTED_KEY"), std::string::npos);
  grpc::Status default_create = client_->CreateContainer(id, "default");
  EXPECT_NE(default_create.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// Issue 15.3: containerd 1.6 still serves CRI runtime.v1alpha2, which kubelets before 1.26
// fall back to. Through the agent it is gated exactly as v1.
TEST_F(AgentE2eTest, V1alpha2IsGatedAsV1) {
  ASSERT_TRUE(CriClient(containerd_->socket(), {.api = "v1alpha2"}).Version().ok())
      << "this containerd does not serve runtime.v1alpha2: the test proves nothing";
  Push("alpha/unsigned:1", testing::MakeBaseImage({.seed = "e2e-alpha-unsigned"}));
  Digest digest = Push("alpha/signed:1", Signed("e2e-alpha-signed", *key_));
  Push("alpha/bypass:1", testing::MakeBaseImage({.seed = "e2e-alpha-bypass"}));
  StartAgent();
  CriClient alpha(dir_.File("agent.sock"), {.api = "v1alpha2"});
  ASSERT_TRUE(alpha.Version().ok());

  grpc::Status denied = alpha.Pull(Ref("alpha/unsigned:1"));
  EXPECT_EQ(KubeletPullErrorReason(denied), "SignatureValidationFailed") << denied.error_message();
  EXPECT_NE(denied.error_message().find("NOT_SIGNED"), std::string::npos);
  EXPECT_FALSE(InContainerd(Ref("alpha/unsigned:1")).has_value());

  std::string id;
  ASSERT_TRUE(alpha.Pull(Ref("alpha/signed:1"), &id).ok()) << AgentLog();
  std::optional<cri::Image> stored = InContainerd(id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->repo_digests(0), StrCat(Ref("alpha/signed"), "@", digest.str()));
  EXPECT_TRUE(alpha.Status(Ref("alpha/signed:1")).has_value());

  // Pulled behind the agent's back: hidden, and no container from it.
  std::string bypass_id;
  ASSERT_TRUE(CriClient(containerd_->socket()).Pull(Ref("alpha/bypass:1"), &bypass_id).ok());
  EXPECT_FALSE(alpha.Status(bypass_id).has_value());
  grpc::Status create = alpha.CreateContainer(bypass_id, "default");
  EXPECT_EQ(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_NE(create.error_message().find("NOT_SIGNED"), std::string::npos) << create.error_message();
  grpc::Status admitted = alpha.CreateContainer(id, "default");  // reaches containerd: no sandbox
  EXPECT_EQ(admitted.error_message().find("layerseal"), std::string::npos) << admitted.error_message();
}

// v1alpha2: refuse: every v1alpha2 call is UNIMPLEMENTED with the reason; v1 works.
TEST_F(AgentE2eTest, V1alpha2RefusedWhenConfigured) {
  Push("alpha-refused/unsigned:1", testing::MakeBaseImage({.seed = "e2e-alpha-refused"}));
  StartAgent({"--v1alpha2", "refuse"});
  CriClient alpha(dir_.File("agent.sock"), {.api = "v1alpha2"});
  grpc::Status version = alpha.Version();
  EXPECT_EQ(version.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(version.error_message().find("v1alpha2: refuse"), std::string::npos) << version.error_message();
  EXPECT_EQ(alpha.Pull(Ref("alpha-refused/unsigned:1")).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_FALSE(InContainerd(Ref("alpha-refused/unsigned:1")).has_value());
  EXPECT_TRUE(client_->Version().ok());
}

// Issue 15.4: an image only a namespace policy admits. ImageStatus has no pod: the image is
// present because a policy in force admits it (so the kubelet does not pull it at every
// container start), no DENY is recorded for it, and CreateContainer still applies the pod's
// own policy.
TEST_F(AgentE2eTest, AnImageOnlyANamespacePolicyAdmitsIsPresentAndNotRecordedAsDenied) {
  Push("team/app:1", Signed("e2e-team-only", *other_key_));  // the node policy trusts `ci` only
  testing::WriteFileOrDie(dir_.File("other.pub"), other_key_->public_key().ToPem());
  std::filesystem::create_directories(dir_.File("namespaces"));
  testing::WriteFileOrDie(dir_.File("namespaces/team.yaml"),
                          StrCat("version: 1\nkeys:\n  other: {path: ", dir_.File("other.pub"), "}\n"
                                 "default: {requirement: signed, keys: [other]}\n"));
  StartAgent();
  std::string id;
  ASSERT_TRUE(client_->Pull(Ref("team/app:1"), &id, "team").ok()) << AgentLog();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(client_->Status(Ref("team/app:1")).has_value()) << i;
    EXPECT_TRUE(client_->Status(id).has_value()) << i;
  }
  grpc::Status team_create = client_->CreateContainer(id, "team");
  EXPECT_EQ(team_create.error_message().find("layerseal"), std::string::npos) << team_create.error_message();
  grpc::Status default_create = client_->CreateContainer(id, "default");
  EXPECT_EQ(default_create.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(default_create.error_message().find("UNTRUSTED_KEY"), std::string::npos);
  for (const json& e : Events()) {
    EXPECT_FALSE(e["gate"] == "ImageStatus" && e["verdict"] == "DENY") << e.dump();
  }
}

TEST_F(AgentE2eTest, PolicyReloadsOnChangeAndKeepsTheOldPolicyWhenTheNewOneIsBad) {
  Push("reload/app:1", Signed("e2e-reload", *key_));
  StartAgent();
  ASSERT_TRUE(client_->Pull(Ref("reload/app:1")).ok());

  // A broken policy: reported, and the old one stays in force.
  testing::WriteFileOrDie(dir_.File("policy.yaml"), "version: 1\ndefault: {requirement: nonsense}\n");
  kill(agent_->pid(), SIGHUP);
  for (int i = 0; i < 100 && Metric("layerseal_policy_reloads_total{result=\"error\"}") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(Metric("layerseal_policy_reloads_total{result=\"error\"}"), 1) << AgentLog();
  EXPECT_TRUE(client_->Pull(Ref("reload/app:1")).ok());

  // A good new policy that rejects the registry: picked up from the file change alone.
  testing::WriteFileOrDie(dir_.File("policy.yaml"), "version: 1\ndefault: {requirement: reject}\n");
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {
    s = client_->Pull(Ref("reload/app:1"));
    if (!s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(s.error_message().find("REJECTED_BY_POLICY"), std::string::npos) << s.error_message();
  EXPECT_GE(Metric("layerseal_policy_reloads_total{result=\"ok\"}"), 1);
  EXPECT_TRUE(client_->Version().ok());  // the same connection still works
}

TEST_F(AgentE2eTest, ConcurrentPullsOfOneImageVerifyOnce) {
  Push("many/app:1", Signed("e2e-many", *key_));
  StartAgent();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&] { ok += client_->Pull(Ref("many/app:1")).ok(); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 50) << AgentLog();
  EXPECT_EQ(Metric("layerseal_verdict_cache_total{result=\"miss\"}"), 1);
  EXPECT_EQ(Metric("layerseal_verdict_cache_total{result=\"hit\"}"), 49);
}

TEST_F(AgentE2eTest, RepeatedDeniedPullsDoNotHitTheRegistryAgain) {
  Push("storm/unsigned:1", testing::MakeBaseImage({.seed = "e2e-storm"}));
  StartAgent();
  ASSERT_FALSE(client_->Pull(Ref("storm/unsigned:1")).ok());
  int after_first = AgentRegistryRequests();
  EXPECT_GT(after_first, 0);
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(client_->Pull(Ref("storm/unsigned:1")).ok());
  EXPECT_EQ(AgentRegistryRequests(), after_first);
}

TEST_F(AgentE2eTest, AdmittedImagesAreRememberedAcrossRestarts) {
  Push("restart/app:1", Signed("e2e-restart", *key_));
  StartAgent();
  std::string id;
  ASSERT_TRUE(client_->Pull(Ref("restart/app:1"), &id).ok());
  StopAgent();
  int before = AgentRegistryRequests();
  StartAgent();
  EXPECT_TRUE(client_->Status(id).has_value());  // no registry round trip needed
  EXPECT_EQ(AgentRegistryRequests(), before);
  EXPECT_EQ(Metric("layerseal_verdict_cache_total{result=\"miss\"}"), 0);
}

TEST_F(AgentE2eTest, HealthAndReadiness) {
  StartAgent();
  // Ready once the connection to the runtime is up (the first probe starts connecting).
  absl::StatusOr<testing::RunResult> ready;
  for (int i = 0; i < 50; ++i) {
    ready = testing::Run({"curl", "-s", StrCat("http://127.0.0.1:", admin_port_, "/readyz")}, "",
                         absl::Seconds(10));
    if (ready.ok() && ready->out == "ready\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->out, "ready\n");
  EXPECT_NE(Metrics().find("layerseal_runtime_connected 1"), std::string::npos);
  // DNS rebinding (issue 14 item 1): a foreign name in Host is refused on every route.
  for (const char* path : {"/metrics", "/readyz"}) {
    absl::StatusOr<testing::RunResult> rebound = testing::Run(
        {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example",
         StrCat("http://127.0.0.1:", admin_port_, path)},
        "", absl::Seconds(10));
    ASSERT_TRUE(rebound.ok());
    EXPECT_EQ(rebound->out, "421") << path;
  }
  // grpc.health.v1 on the health socket.
  auto health = grpc::health::v1::Health::NewStub(testing::ConnectCri(dir_.File("health.sock")));
  auto check = [&](const std::string& service, grpc::health::v1::HealthCheckResponse* out) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return health->Check(&ctx, req, out);
  };
  grpc::health::v1::HealthCheckResponse agent_health, runtime_health, unknown;
  ASSERT_TRUE(check("", &agent_health).ok());
  EXPECT_EQ(agent_health.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(check("layerseal.v1.Runtime", &runtime_health).ok());
  EXPECT_EQ(check("no.such.Service", &unknown).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(client_->Version().ok());
  EXPECT_NE(Metrics().find("layerseal_cri_calls_total{method=\"/runtime.v1.RuntimeService/Version\",code=\"OK\"} 1"),
            std::string::npos) << Metrics();
}

// Issue 14 item 5: the health socket serves grpc.health.v1 and nothing else (it used to be
// one more listener of the CRI proxy: any CRI call made there reached the runtime), and its
// mode (and that of the directory the agent makes for it) does not come from the umask.
TEST_F(AgentE2eTest, HealthSocketServesOnlyHealthWithAnExplicitMode) {
  Digest digest = Push("healthsock/app:1", Signed("e2e-healthsock", *key_));
  // The agent pulls repo@digest: look for the image under both names.
  auto in_containerd = [&] {
    return InContainerd(Ref("healthsock/app:1")).has_value() ||
           InContainerd(StrCat(Ref("healthsock/app"), "@", digest.str())).has_value();
  };
  health_socket_ = dir_.File("run/layerseal/health.sock");  // the agent makes run/layerseal
  mode_t umask_before = umask(0);
  StartAgent();
  umask(umask_before);
  struct stat st {};
  ASSERT_EQ(stat(health_socket_.c_str(), &st), 0) << AgentLog();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u) << std::oct << (st.st_mode & 07777);
  ASSERT_EQ(stat(dir_.File("run/layerseal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << std::oct << (st.st_mode & 07777);

  // CRI calls on the health socket: UNIMPLEMENTED, answered by the agent, never forwarded.
  CriClient on_health(health_socket_);
  int registry_before = AgentRegistryRequests();
  grpc::Status version = on_health.Version();
  EXPECT_EQ(version.error_code(), grpc::StatusCode::UNIMPLEMENTED) << version.error_message();
  grpc::Status pull = on_health.Pull(Ref("healthsock/app:1"));
  EXPECT_EQ(pull.error_code(), grpc::StatusCode::UNIMPLEMENTED) << pull.error_message();
  EXPECT_FALSE(in_containerd()) << "the pull reached containerd";
  EXPECT_EQ(AgentRegistryRequests(), registry_before) << "the pull was verified";
  EXPECT_EQ(Metric("layerseal_cri_calls_total{method=\"/runtime.v1.RuntimeService/Version\",code=\"OK\"}"), 0);
  EXPECT_EQ(Metric("layerseal_cri_calls_total{method=\"/runtime.v1.ImageService/PullImage\",code=\"OK\"}"), 0);

  // Health still answers there: Check as before, Watch not served.
  auto health = grpc::health::v1::Health::NewStub(testing::ConnectCri(health_socket_));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status check = health->Check(&ctx, req, &resp);
  ASSERT_TRUE(check.ok()) << check.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto watch = health->Watch(&watch_ctx, req);
  EXPECT_FALSE(watch->Read(&resp));
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);

  // The CRI socket is unchanged: the same pull through it reaches containerd.
  EXPECT_TRUE(client_->Version().ok());
  ASSERT_TRUE(client_->Pull(Ref("healthsock/app:1")).ok());
  EXPECT_TRUE(in_containerd());
}

TEST_F(AgentE2eTest, ReplacingAKeyFileDropsVerdictsMadeWithTheOldKey) {
  Push("rotate/app:1", Signed("e2e-rotate", *key_));
  StartAgent();
  ASSERT_TRUE(client_->Pull(Ref("rotate/app:1")).ok());
  // Same path, same policy bytes (so the same policy version), another key.
  testing::WriteFileOrDie(dir_.File("ci.pub"), other_key_->public_key().ToPem());
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {
    s = client_->Pull(Ref("rotate/app:1"));
    if (!s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(s.error_message().find("UNTRUSTED_KEY"), std::string::npos) << s.error_message();
}

TEST_F(AgentE2eTest, RuntimeRestartGivesCleanUnavailableThenRecovers) {
  Push("outage/app:1", Signed("e2e-outage", *key_));
  StartAgent();
  ASSERT_TRUE(client_->Version().ok());
  containerd_->Stop();
  grpc::Status version = client_->Version();
  EXPECT_EQ(version.error_code(), grpc::StatusCode::UNAVAILABLE) << version.error_message();
  grpc::Status status;
  client_->Status(Ref("outage/app:1"), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  grpc::Status pull = client_->Pull(Ref("outage/app:1"));
  EXPECT_EQ(pull.error_code(), grpc::StatusCode::UNAVAILABLE) << pull.error_message();
  EXPECT_NE(Metrics().find("layerseal_runtime_connected 0"), std::string::npos);

  ASSERT_TRUE(containerd_->Restart().ok());
  grpc::Status again;
  for (int i = 0; i < 50; ++i) {
    again = client_->Version();
    if (again.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_TRUE(client_->Pull(Ref("outage/app:1")).ok());
}

TEST_F(AgentE2eTest, AClientConnectedAcrossAnAgentRestartCarriesOn) {
  StartAgent();
  CriClient kubelet(dir_.File("agent.sock"));  // one channel, kept across the restart
  ASSERT_TRUE(kubelet.Version().ok());
  agent_->Stop();
  EXPECT_EQ(kubelet.Version().error_code(), grpc::StatusCode::UNAVAILABLE);
  StopAgent();
  StartAgent();
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {  // gRPC reconnects with backoff
    s = kubelet.Version();
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// Thousands of image names in containerd (one `ctr import` of an OCI layout whose index
// names 100 distinct small images sharing one layer, 10 names each: containerd stores each
// name with an fsync, so more distinct images would cost minutes): ListImages through the
// agent lists the same images and names as direct. (Messages up to 20 MiB are covered by
// cri_proxy_test against a fake runtime.)
TEST_F(AgentE2eTest, ListImagesWithThousandsOfImagesPassesUnchanged) {
  constexpr int kImages = 100;
  constexpr int kNamesPerImage = 10;
  TestImage base = testing::MakeBaseImage({.seed = "e2e-many-images"});
  const std::string layout = dir_.File("layout");
  std::filesystem::create_directories(layout + "/blobs/sha256");
  auto write_blob = [&](const std::string& bytes) {
    Digest d = Digest::Sha256Of(bytes);
    testing::WriteFileOrDie(StrCat(layout, "/blobs/sha256/", d.str().substr(7)), bytes);
    return d;
  };
  for (const auto& [digest, bytes] : base.blobs) write_blob(bytes);
  json manifest = json::parse(base.manifest);
  json config = json::parse(base.blobs.at(manifest["config"]["digest"].get<std::string>()));
  json index = {{"schemaVersion", 2}, {"manifests", json::array()}};
  for (int i = 0; i < kImages; ++i) {
    config["config"]["Labels"]["n"] = std::to_string(i);  // a distinct image id each
    std::string config_bytes = config.dump();
    manifest["config"]["digest"] = write_blob(config_bytes).str();
    manifest["config"]["size"] = config_bytes.size();
    std::string manifest_bytes = manifest.dump();
    Digest manifest_digest = write_blob(manifest_bytes);
    for (int n = 0; n < kNamesPerImage; ++n) {
      index["manifests"].push_back(
          {{"mediaType", base.media_type},
           {"digest", manifest_digest.str()},
           {"size", manifest_bytes.size()},
           {"annotations", {{"io.containerd.image.name", StrCat("many.example/img", i, ":", n)}}}});
    }
  }
  testing::WriteFileOrDie(layout + "/index.json", index.dump());
  testing::WriteFileOrDie(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  absl::StatusOr<testing::RunResult> tar =
      testing::Run({"tar", "-C", layout, "-cf", dir_.File("layout.tar"), "."}, "", absl::Seconds(60));
  ASSERT_TRUE(tar.ok() && tar->exit_code == 0);
  absl::StatusOr<testing::RunResult> imported =
      containerd_->CtrIn("k8s.io", {"images", "import", "--no-unpack", dir_.File("layout.tar")});
  ASSERT_TRUE(imported.ok() && imported->exit_code == 0) << (imported.ok() ? imported->err : "");
  StartAgent();

  auto list = [](const std::string& socket) {
    std::vector<cri::Image> images;
    grpc::Status s = CriClient(socket).ListImages(&images);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::set<std::string> names;  // image id and name: containerd's order is not stable
    for (const cri::Image& image : images) {
      for (const std::string& tag : image.repo_tags()) names.insert(StrCat(image.id(), " ", tag));
    }
    return names;
  };
  // containerd's CRI plugin learns imported images from events, a moment after the import,
  // and not all at once: wait until its list has them all and holds still between two reads.
  std::set<std::string> direct, previous;
  for (int i = 0; i < 300 && (direct.size() < static_cast<size_t>(kImages * kNamesPerImage) ||
                              direct != previous);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    previous = std::move(direct);
    direct = list(containerd_->socket());
  }
  std::set<std::string> through = list(dir_.File("agent.sock"));
  EXPECT_GE(through.size(), static_cast<size_t>(kImages * kNamesPerImage));
  EXPECT_EQ(through, direct);
}

// Issue 15 item 1: the agent pulls repository@digest, and names the image by the tag in
// containerd (images API) after the verified pull. An agent restart then loses nothing:
// with the registry gone, the tag is still on the node and a container may be made of it;
// `crictl images` shows the tag; RemoveImage(tag) removes it. A tag the registry moved to
// an unsigned image is never named.
TEST_F(AgentE2eTest, VerifiedTagsLiveInTheRuntimeAcrossAgentRestartsWithoutTheRegistry) {
  // A registry of this test's own, stopped halfway (the suite's registry stays up).
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> own = testing::RegistryServer::Start();
  ASSERT_TRUE(own.ok()) << own.status();
  const std::string host = (*own)->host();
  const std::string tag = StrCat(host, "/tagged/app:1.0");
  registry::RegistryClient pusher((*own)->ClientOptions());
  TestImage signed_image = Signed("e2e-tagged", *key_);
  ASSERT_TRUE(testing::PushTestImage(pusher, *Reference::Parse(tag), signed_image).ok());
  WritePolicy(StrCat("    \"", host, "\": {requirement: signed, keys: [ci]}\n"));
  extra_args_ = {"--plain-http-registry", host};
  StartAgent();
  std::string id;
  ASSERT_TRUE(client_->Pull(tag, &id).ok()) << AgentLog();
  const std::string pinned = StrCat(host, "/tagged/app@", signed_image.digest.str());

  // containerd's CRI plugin knows the tag as soon as the pull is answered (it learns it
  // from an image event, and the agent waits for that before answering): no waiting here.
  std::optional<cri::Image> in_containerd = InContainerd(tag);
  ASSERT_TRUE(in_containerd.has_value()) << AgentLog();
  EXPECT_EQ(in_containerd->id(), id);
  EXPECT_EQ(RepoTagsThroughAgent(id), std::vector<std::string>{tag});
  ASSERT_EQ(in_containerd->repo_digests_size(), 1);
  EXPECT_EQ(in_containerd->repo_digests(0), pinned);
  EXPECT_EQ(Metric("layerseal_runtime_tags_total{result=\"named\"}"), 1) << AgentLog();

  // Agent restart (its memory of tags is gone) and registry down.
  StopAgent();
  own->reset();
  StartAgent();
  std::optional<cri::Image> status = client_->Status(tag);
  ASSERT_TRUE(status.has_value()) << AgentLog();
  EXPECT_EQ(status->id(), id);
  grpc::Status create = client_->CreateContainer(tag, "default");
  EXPECT_NE(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_EQ(create.error_message().find("layerseal"), std::string::npos) << create.error_message();

  // RemoveImage by the tag removes the image from containerd.
  ASSERT_TRUE(client_->Remove(tag).ok());
  EXPECT_FALSE(InContainerd(tag).has_value());
  EXPECT_FALSE(InContainerd(pinned).has_value());
}

TEST_F(AgentE2eTest, ATagMovedToAnUnsignedImageIsNeverNamedInTheRuntime) {
  const std::string tag = Ref("moved-tag/app:1");
  Push("moved-tag/app:1", Signed("e2e-moved-tag", *key_));
  StartAgent();
  std::string id;
  ASSERT_TRUE(client_->Pull(tag, &id).ok()) << AgentLog();
  ASSERT_TRUE(WaitInContainerd(tag).has_value());
  // The registry's tag moves to an unsigned image: the pull is denied, and containerd's tag
  // still names the verified image.
  Push("moved-tag/app:1", testing::MakeBaseImage({.seed = "e2e-moved-tag-unsigned"}));
  StopAgent();  // forgets the tag's resolution (cached briefly, cache.resolveTtl)
  StartAgent();
  grpc::Status denied = client_->Pull(tag);
  EXPECT_NE(denied.error_message().find("NOT_SIGNED"), std::string::npos) << denied.error_message();
  std::optional<cri::Image> still = InContainerd(tag);
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->id(), id);
  EXPECT_EQ(Metric("layerseal_runtime_tags_total{result=\"named\"}"), 0);  // since the restart
}

// Issue 15 item 2: a node whose containerd pulls through a mirror (config_path hosts.toml).
// The reference names a registry that serves nothing (a loopback port nobody listens on);
// the mirrors, in order: another dead port, then the suite's registry. The agent, given the
// same hosts directory, verifies through the mirror: signed is admitted (and containerd
// pulls it through the same mirror), unsigned is NOT_SIGNED, not REGISTRY_ERROR.
TEST_F(AgentE2eTest, RegistriesAreReadThroughContainerdsMirrors) {
  const std::string upstream = StrCat("127.0.0.1:", testing::PickFreePort());
  const std::string dead_mirror = StrCat("127.0.0.1:", testing::PickFreePort());
  const std::string hosts_dir = containerd_->dir() + "/certs.d";
  std::filesystem::create_directories(StrCat(hosts_dir, "/", upstream));
  testing::WriteFileOrDie(StrCat(hosts_dir, "/", upstream, "/hosts.toml"),
                          StrCat("server = \"http://", upstream, "\"\n\n"
                                 "[host.\"http://", dead_mirror, "\"]\n"
                                 "  capabilities = [\"pull\", \"resolve\"]\n\n"
                                 "[host.\"http://", registry_->host(), "\"]\n"
                                 "  capabilities = [\"pull\", \"resolve\"]\n"));
  Digest signed_digest = Push("mirrored/signed:1", Signed("e2e-mirrored", *key_));
  Push("mirrored/unsigned:1", testing::MakeBaseImage({.seed = "e2e-mirrored-unsigned"}));
  WritePolicy(StrCat("    \"", upstream, "\": {requirement: signed, keys: [ci]}\n"));
  extra_args_ = {"--registry-hosts-dir", hosts_dir};
  StartAgent();
  int before = AgentRegistryRequests();

  const std::string signed_ref = StrCat(upstream, "/mirrored/signed:1");
  std::string id;
  grpc::Status pulled = client_->Pull(signed_ref, &id);
  ASSERT_TRUE(pulled.ok()) << pulled.error_message() << AgentLog();
  EXPECT_GT(AgentRegistryRequests(), before);  // the agent read the mirror
  std::optional<cri::Image> stored = InContainerd(id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->repo_digests(0), StrCat(upstream, "/mirrored/signed@", signed_digest.str()));

  grpc::Status denied = client_->Pull(StrCat(upstream, "/mirrored/unsigned:1"));
  EXPECT_EQ(KubeletPullErrorReason(denied), "SignatureValidationFailed") << denied.error_message();
  EXPECT_NE(denied.error_message().find("NOT_SIGNED"), std::string::npos) << denied.error_message();
  EXPECT_EQ(denied.error_message().find("REGISTRY_ERROR"), std::string::npos);
}

// In-process (the only test here that is): the tag moves to an unsigned image after the
// verdict and before the runtime pulls.
TEST_F(AgentE2eTest, TagMovedAfterTheVerdictBringsNothingUnverified) {
  Digest signed_digest = Push("moved/app:1", Signed("e2e-moved", *key_));
  TestImage evil = testing::MakeBaseImage({.seed = "e2e-moved-evil"});
  std::filesystem::create_directories(dir_.File("namespaces"));
  std::vector<std::string> argv = AgentArgs();
  absl::StatusOr<agent::ParsedArgs> args =
      agent::ParseAgentArgs(std::vector<std::string>(argv.begin() + 1, argv.end()));
  ASSERT_TRUE(args.ok()) << args.status();
  std::atomic<int> moved{0};
  absl::StatusOr<std::unique_ptr<agent::Agent>> agent = agent::Agent::Start(
      args->config, {.after_pull_verdict = [&](const Verdict&) {
                       Push("moved/app:1", evil);
                       ++moved;
                     }});
  ASSERT_TRUE(agent.ok()) << agent.status();
  CriClient client(dir_.File("agent.sock"));
  std::string id;
  grpc::Status s = client.Pull(Ref("moved/app:1"), &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(moved.load(), 1);
  std::optional<cri::Image> stored = InContainerd(id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->repo_digests(0), StrCat(Ref("moved/app"), "@", signed_digest.str()));
  // The unsigned image the tag now names is not on the node.
  EXPECT_FALSE(InContainerd(StrCat(Ref("moved/app"), "@", evil.digest.str())).has_value());
  agent->reset();
}

}  // namespace
}  // namespace layerseal
