// Issue 7's "a corrupt policy file" fault, end to end: a real containerd (CRI plugin on,
// temp root) behind the real `layerseal-agent` binary, a real docker-registry on loopback,
// and a CRI client talking to the agent's socket as the kubelet would.
// - A policy that cannot be loaded at start does not stop the agent: with no last-good copy
//   every image is denied (POLICY_UNAVAILABLE, with its event) while other CRI calls pass;
//   with one, that copy is in force. Fixing the file brings the agent back to it.
// - A policy file that goes bad while the agent runs (deleted, emptied, binary, a missing
//   key) leaves the old policy in force, and the failure is reported.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
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
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
namespace fs = std::filesystem;
using nlohmann::json;
using testing::TestImage;

// How long a test waits for the agent to notice a change (it checks every 200 ms); a bound
// on a wait, never an assertion on speed.
constexpr int kMaxPolls = 300;  // x 100 ms

using testing::CriClient;

// Registry, containerd, a key and images, shared by the suite (each test uses its own
// repositories so that verdicts and pulled images never leak between tests).
class PolicyFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
        testing::RegistryServer::Start({});
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {registry_->host()}});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
  }
  static void TearDownTestSuite() {
    delete containerd_;
    delete registry_;
    delete key_;
  }

  void SetUp() override {
    ASSERT_NE(containerd_, nullptr);
    fs::create_directories(dir_.File("etc/keys"));
    fs::create_directories(dir_.File("namespaces"));
    testing::WriteFileOrDie(dir_.File("etc/keys/ci.pub"), key_->public_key().ToPem());
  }
  void TearDown() override { StopAgent(); }

  std::string PolicyPath() const { return dir_.File("etc/policy.yaml"); }
  // The node policy: images under <registry>/ must be signed by `ci`, whose key file is
  // named relative to the policy's directory (`key_path`).
  std::string GoodPolicy(const std::string& key_path = "keys/ci.pub") const {
    return StrCat("version: 1\n"
                  "keys:\n  ci: {path: ", key_path, "}\n"
                  "default: {requirement: reject}\n"
                  "scopes:\n"
                  "  \"", registry_->host(), "\": {requirement: signed, keys: [ci]}\n");
  }
  void WritePolicy(const std::string& text) { testing::WriteFileOrDie(PolicyPath(), text); }

  void StartAgent() {
    std::vector<std::string> args = {
        "--listen", dir_.File("agent.sock"),
        "--runtime-endpoint", containerd_->socket(), "--policy", PolicyPath(),
        "--namespace-policy-dir", dir_.File("namespaces"), "--state-dir", dir_.File("state"),
        "--node-name", "node-fault", "--admin", StrCat("127.0.0.1:", admin_port_),
        "--health-socket", dir_.File("health.sock"), "--plain-http-registry", registry_->host(),
        "--policy-check-interval", "200ms"};
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent =
        testing::AgentProcess::Start(args, {}, admin_port_, dir_.File("agent.log"));
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

  std::string Metrics() { return testing::ScrapeMetrics(admin_port_).value_or(""); }
  // The sample's value; -1 when absent (so a missing gauge never passes for 0).
  double Metric(const std::string& series) {
    return testing::MetricValue(Metrics(), series).value_or(-1);
  }
  // Polls until `done` holds (bounded); returns whether it did.
  static bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < kMaxPolls; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  }

  std::vector<json> Events() {
    std::vector<json> out;
    std::ifstream in(dir_.File("state/events.jsonl"));
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }

  grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::string& service) {
    auto health = grpc::health::v1::Health::NewStub(testing::ConnectCri(dir_.File("health.sock")));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = health->Check(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << service << ": " << s.error_message();
    return resp.status();
  }

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  static Digest Push(const std::string& repo_tag, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::Status pushed = testing::PushTestImage(client, *Reference::Parse(Ref(repo_tag)), image);
    EXPECT_TRUE(pushed.ok()) << pushed;
    return image.digest;
  }
  static TestImage Signed(const std::string& seed) {
    return testing::SealTestImage(testing::MakeBaseImage({.seed = seed}), *key_);
  }
  static TestImage Unsigned(const std::string& seed) { return testing::MakeBaseImage({.seed = seed}); }

  // The pull failed with the agent's own denial for `reason`.
  static void ExpectDenied(const grpc::Status& s, const std::string& ref, const std::string& reason) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN) << ref << ": " << s.error_message();
    EXPECT_EQ(s.error_message().rfind(StrCat("SignatureValidationFailed: layerseal denied ", ref,
                                             ": ", reason, ": "), 0), 0u)
        << s.error_message();
  }

  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static PrivateKey* key_;
  testing::TempDir dir_;
  int admin_port_ = testing::PickFreePort();
  std::unique_ptr<testing::AgentProcess> agent_;
  std::unique_ptr<CriClient> client_;
};

testing::RegistryServer* PolicyFaultTest::registry_ = nullptr;
testing::ContainerdServer* PolicyFaultTest::containerd_ = nullptr;
PrivateKey* PolicyFaultTest::key_ = nullptr;

TEST_F(PolicyFaultTest, CorruptPolicyAtStartWithoutACopyDeniesEveryImageUntilFixed) {
  Push("nocopy/app:1", Signed("fault-nocopy"));
  // An image already on the node (pulled behind the agent's back), as for a running pod.
  std::string present_id;
  ASSERT_TRUE(CriClient(containerd_->socket()).Pull(Ref("nocopy/app:1"), &present_id).ok());
  WritePolicy("version: 1\ndefault: {requirement: nonsense\n");  // unparsable
  StartAgent();

  // Up, and every call that is not an image gate passes.
  EXPECT_TRUE(client_->Version().ok());
  std::vector<cri::Image> listed;
  EXPECT_TRUE(client_->ListImages(&listed).ok());
  EXPECT_GE(listed.size(), 1u);
  EXPECT_EQ(Health(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("layerseal.v1.Policy"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Metric("layerseal_policy_loaded"), 0) << Metrics();
  EXPECT_EQ(Metric("layerseal_policy_last_good_in_force"), 0);
  std::string log = AgentLog();
  EXPECT_NE(log.find("cannot load the policy"), std::string::npos) << log;
  EXPECT_NE(log.find(PolicyPath()), std::string::npos) << log;
  EXPECT_NE(log.find("every image is denied until the policy file loads"), std::string::npos) << log;

  // The gates fail closed: the pull, the image already there, a container from it.
  grpc::Status pull = client_->Pull(Ref("nocopy/app:1"));
  ExpectDenied(pull, Ref("nocopy/app:1"), "POLICY_UNAVAILABLE");
  EXPECT_NE(pull.error_message().find("the node policy could not be loaded"), std::string::npos);
  EXPECT_NE(pull.error_message().find("policy.yaml"), std::string::npos) << pull.error_message();
  EXPECT_NE(pull.error_message().find("(no policy in force)"), std::string::npos)
      << pull.error_message();
  grpc::Status status;
  EXPECT_FALSE(client_->Status(present_id, &status).has_value());
  EXPECT_TRUE(status.ok()) << status.error_message();
  grpc::Status create = client_->CreateContainer(present_id);
  EXPECT_EQ(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_NE(create.error_message().find("POLICY_UNAVAILABLE"), std::string::npos);

  // Each denial is an event.
  std::vector<json> events = Events();
  int pulls = 0, creates = 0;
  for (const json& e : events) {
    EXPECT_EQ(e["verdict"], "DENY");
    EXPECT_EQ(e["reason"], "POLICY_UNAVAILABLE");
    pulls += e["gate"] == "PullImage";
    creates += e["gate"] == "CreateContainer";
  }
  EXPECT_EQ(pulls, 1);
  EXPECT_EQ(creates, 1);
  EXPECT_GE(Metric("layerseal_verdicts_total{gate=\"PullImage\",verdict=\"DENY\",reason=\"POLICY_UNAVAILABLE\",mode=\"enforce\"}"), 1);

  // The fault ends: the file is fixed, the agent loads it and judges normally.
  EXPECT_FALSE(fs::exists(dir_.File("state/policy.last-good")));
  WritePolicy(GoodPolicy());
  ASSERT_TRUE(WaitFor([&] { return Metric("layerseal_policy_loaded") == 1; })) << AgentLog();
  grpc::Status again = client_->Pull(Ref("nocopy/app:1"));
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(Events().back()["reason"], "VERIFIED");
  EXPECT_EQ(Health("layerseal.v1.Policy"), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(fs::exists(dir_.File("state/policy.last-good")));
}

TEST_F(PolicyFaultTest, CorruptPolicyAtStartPutsTheLastGoodCopyInForce) {
  Push("copy/app:1", Signed("fault-copy-signed"));
  Push("copy/unsigned:1", Unsigned("fault-copy-unsigned"));
  WritePolicy(GoodPolicy());
  StartAgent();  // writes the last-good copy
  ASSERT_TRUE(fs::exists(dir_.File("state/policy.last-good"))) << AgentLog();
  StopAgent();

  // The policy becomes a binary blob and its key file is gone: the copy carries both.
  static constexpr char kBlob[] = "\x00\xff\xfe garbage \x01\x02\x80";
  WritePolicy(std::string(kBlob, sizeof kBlob - 1));
  fs::remove(dir_.File("etc/keys/ci.pub"));
  fs::remove(dir_.File("agent.log"));
  StartAgent();
  std::string log = AgentLog();
  EXPECT_NE(log.find("cannot load the policy"), std::string::npos) << log;
  EXPECT_NE(log.find("the last-good copy of the policy is in force"), std::string::npos) << log;
  EXPECT_EQ(Metric("layerseal_policy_loaded"), 0) << Metrics();
  EXPECT_EQ(Metric("layerseal_policy_last_good_in_force"), 1);
  EXPECT_EQ(Health("layerseal.v1.Policy"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);

  grpc::Status signed_pull = client_->Pull(Ref("copy/app:1"));
  EXPECT_TRUE(signed_pull.ok()) << signed_pull.error_message() << AgentLog();
  ExpectDenied(client_->Pull(Ref("copy/unsigned:1")), Ref("copy/unsigned:1"), "NOT_SIGNED");
  ExpectDenied(client_->Pull("elsewhere.example/app:1"), "elsewhere.example/app:1",
               "REJECTED_BY_POLICY");
  std::vector<json> events = Events();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[events.size() - 3]["reason"], "VERIFIED");
  EXPECT_EQ(events[events.size() - 2]["reason"], "NOT_SIGNED");
  EXPECT_EQ(events[events.size() - 1]["reason"], "REJECTED_BY_POLICY");

  // The fault ends: a new good policy (that rejects everything) is loaded over the copy.
  testing::WriteFileOrDie(dir_.File("etc/keys/ci.pub"), key_->public_key().ToPem());
  WritePolicy("version: 1\ndefault: {requirement: reject}\n");
  ASSERT_TRUE(WaitFor([&] { return Metric("layerseal_policy_loaded") == 1; })) << AgentLog();
  EXPECT_EQ(Metric("layerseal_policy_last_good_in_force"), 0);
  Push("copy/later:1", Signed("fault-copy-later"));
  ExpectDenied(client_->Pull(Ref("copy/later:1")), Ref("copy/later:1"), "REJECTED_BY_POLICY");
}

TEST_F(PolicyFaultTest, PolicyGoingBadWhileRunningKeepsTheOldPolicyAndIsReported) {
  WritePolicy(GoodPolicy());
  StartAgent();
  const std::string errors = "layerseal_policy_reloads_total{result=\"error\"}";
  struct Fault {
    std::string name;
    std::function<void()> apply;
  };
  std::vector<Fault> faults = {
      {"deleted", [&] { fs::remove(PolicyPath()); }},
      {"truncated", [&] { WritePolicy(""); }},
      {"binary", [&] {
         static constexpr char kElf[] = "\x7f" "ELF\x02\x01\x00\x00\xff\xfe";
         WritePolicy(std::string(kElf, sizeof kElf - 1));
       }},
      {"missing key", [&] { WritePolicy(GoodPolicy("keys/absent.pub")); }},
  };
  int n = 0;
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.name);
    double before = std::max(0.0, Metric(errors));
    f.apply();
    ASSERT_TRUE(WaitFor([&] { return Metric(errors) > before; })) << AgentLog();
    // The old policy is in force: a signed image is verified (not a cached answer: a new
    // repository each time), an unsigned one denied.
    std::string good = StrCat("running/signed-", n, ":1");
    std::string bad = StrCat("running/unsigned-", n, ":1");
    ++n;
    Push(good, Signed(StrCat("fault-running-", good)));
    Push(bad, Unsigned(StrCat("fault-running-", bad)));
    grpc::Status allowed = client_->Pull(Ref(good));
    EXPECT_TRUE(allowed.ok()) << allowed.error_message();
    ExpectDenied(client_->Pull(Ref(bad)), Ref(bad), "NOT_SIGNED");
    EXPECT_EQ(Metric("layerseal_policy_loaded"), 1);
  }
  std::string log = AgentLog();
  EXPECT_NE(log.find("policy reload failed; the previous policies stay in force"), std::string::npos);
  EXPECT_NE(log.find("absent.pub"), std::string::npos) << log;
  EXPECT_EQ(Health("layerseal.v1.Policy"), grpc::health::v1::HealthCheckResponse::SERVING);

  // The fault ends: a good policy again is loaded.
  double ok_before = std::max(0.0, Metric("layerseal_policy_reloads_total{result=\"ok\"}"));
  WritePolicy("version: 1\ndefault: {requirement: reject}\n");
  ASSERT_TRUE(WaitFor([&] {
    return Metric("layerseal_policy_reloads_total{result=\"ok\"}") > ok_before;
  })) << AgentLog();
  Push("running/after:1", Signed("fault-running-after"));
  ExpectDenied(client_->Pull(Ref("running/after:1")), Ref("running/after:1"), "REJECTED_BY_POLICY");
}

}  // namespace
}  // namespace layerseal
