// Notary Project (notation) signatures through the node agent (issue 20 "Proof ... through the
// agent in front of containerd"): the real `layerseal-agent` in front of a real containerd (CRI
// plugin on), a real docker-registry holding runnable stand-in images and their notation
// signatures attached through the referrers fallback tag as notation writes them
// (tests/support/notation_images.h), and a CRI client talking to the agent as the kubelet does.
// The envelopes are the offline fixtures of tests/fixtures/notation/make_fixtures.py, made once
// for the suite over the images it pushes. The node policy's scope for <registry>/notation
// trusts notation signatures only (`signatures: [notation]`, level strict, CRLs for every store).
//
// Cases:
//   - a JWS-signed and a COSE-signed image: PullImage admitted (the image in containerd under
//     the pinned digest, the event naming the notation signer), then a pod sandbox, and a
//     container created and started from it through the agent;
//   - a tampered signature (the payload replaced after signing), an expired one, and an unsigned
//     image: denied at PullImage with the reason in the gRPC error (as the kubelet sees it), the
//     image never in containerd afterwards.
//
// Needs Debian's python3-cryptography and python3-cbor2 (scripts/setup), the openssl CLI, and
// the busybox of the stand-in images.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cosign_images.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/kube_node.h"
#include "tests/support/notation_images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;
using testing::CriClient;
using testing::TestImage;

const std::string kFixturesSrc = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/notation");

std::string Python() { return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

// The suite's images: each a stand-in image of its own, signed by one fixture (or none), in
// <registry>/notation/<name>:1.
struct NotationCase {
  const char* name;
  const char* fixture;  // "" for unsigned
};
const NotationCase kCases[] = {
    {"jws", "jws-good"},          {"cose", "cose-good"},       {"tampered", "jws-tampered"},
    {"tampered-cose", "cose-tampered"}, {"expired", "cose-expired"}, {"unsigned", ""},
};

class NotationAgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setup_error_ = SetUpSuite(); }
  static std::string SetUpSuite() {
    dir_ = new testing::TempDir();
    auto registry = testing::RegistryServer::Start();
    if (!registry.ok()) return StrCat("registry: ", registry.status().ToString());
    registry_ = registry->release();
    registry::RegistryClient client(registry_->ClientOptions());
    // The pause image containerd pulls itself (not through the agent).
    absl::Status pushed = testing::PushTestImage(client, *Reference::Parse(Ref("pause:1")),
                                                 testing::StandInImage("notation-pause", {"/bin/sleep", "2147483647"}));
    if (!pushed.ok()) return StrCat("push pause: ", pushed.ToString());
    auto containerd = testing::ContainerdServer::Start(
        {.cri = true, .plain_http_registries = {registry_->host()}, .sandbox_image = Ref("pause:1")});
    if (!containerd.ok()) return StrCat("containerd: ", containerd.status().ToString());
    containerd_ = containerd->release();

    // The images, then the fixtures over them (one run of the script), then the signatures.
    out_ = dir_->File("fixtures");
    std::vector<std::string> argv = {Python(), kFixturesSrc + "/make_fixtures.py", "--out", out_,
                                     "--cases", "good,tampered,expired"};
    for (const NotationCase& c : kCases) {
      TestImage image = testing::StandInImage(StrCat("notation-agent-", c.name), {"/bin/sleep", "2147483647"});
      const testing::CosignSubject s = testing::SubjectOf(image);
      argv.insert(argv.end(), {"--target", StrCat(c.name, "=", s.media_type, ",", s.digest.str(), ",", s.size)});
      pushed = testing::PushTestImage(client, *Reference::Parse(Ref(StrCat("notation/", c.name, ":1"))), image);
      if (!pushed.ok()) return StrCat("push ", c.name, ": ", pushed.ToString());
      images_.emplace(c.name, std::move(image));
    }
    absl::StatusOr<testing::RunResult> made = testing::Run(argv, "", absl::Minutes(2));
    if (!made.ok() || made->exit_code != 0) {
      return StrCat("make_fixtures.py failed: ", made.ok() ? made->out + made->err : made.status().ToString());
    }
    for (const NotationCase& c : kCases) {
      if (*c.fixture == '\0') continue;
      absl::StatusOr<testing::NotationEnvelope> envelope = testing::LoadNotationFixture(out_, c.name, c.fixture);
      if (!envelope.ok()) return envelope.status().ToString();
      const TestImage& image = images_.at(c.name);
      absl::Status attached = testing::AttachNotationSignature(
          client, *Reference::Parse(Ref(StrCat("notation/", c.name, ":1"))), image.digest,
          testing::MakeNotationSignature(testing::SubjectOf(image), *envelope));
      if (!attached.ok()) return StrCat("attach the signature of ", c.name, ": ", attached.ToString());
    }

    // The node policy (next to the trust stores: its paths are relative to it).
    json index = json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
    identity_ = index["identity"].get<std::string>();
    testing::WriteFileOrDie(
        out_ + "/policy.yaml",
        StrCat("version: 1\n"
               "trustStores:\n"
               "  acme: {type: ca, path: truststore/x509/ca/acme, crl: crl/acme.crl}\n"
               "  acme-tsa: {type: tsa, path: truststore/x509/tsa/acme-tsa, crl: crl/acme-tsa.crl}\n"
               "default: {requirement: reject}\n"
               "scopes:\n"
               "  \"", Ref("pause"), "\": {requirement: signed, signatures: [notation], notation: {level: skip}}\n"
               "  \"", Ref("notation"), "\":\n"
               "    requirement: signed\n"
               "    signatures: [notation]\n"
               "    notation:\n"
               "      level: strict\n"
               "      trustStores: [acme, acme-tsa]\n"
               "      trustedIdentities: [\"", identity_, "\"]\n"));

    std::filesystem::create_directories(dir_->File("namespaces"));
    const int admin_port = testing::PickFreePort();
    auto agent = testing::AgentProcess::Start(
        {"--listen", dir_->File("agent.sock"), "--runtime-endpoint", containerd_->socket(), "--policy",
         out_ + "/policy.yaml", "--namespace-policy-dir", dir_->File("namespaces"), "--state-dir",
         dir_->File("state"), "--node-name", "node-notation", "--admin", StrCat("127.0.0.1:", admin_port),
         "--plain-http-registry", registry_->host()},
        {}, admin_port, dir_->File("agent.log"));
    if (!agent.ok()) return StrCat("agent: ", agent.status().ToString());
    agent_ = agent->release();
    return "";
  }
  static void TearDownTestSuite() {
    if (agent_ != nullptr) {
      agent_->Stop();
      std::string log = agent_->Log();
      EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
      EXPECT_EQ(log.find("runtime error:"), std::string::npos) << log;
    }
    delete agent_;
    delete containerd_;
    delete registry_;
    delete dir_;
    agent_ = nullptr;
    containerd_ = nullptr;
    registry_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    client_ = std::make_unique<CriClient>(dir_->File("agent.sock"));
  }
  void TearDown() override {
    CriClient direct(containerd_->socket());
    for (const std::string& id : sandboxes_) {
      grpc::Status s = direct.RemovePodSandbox(id);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  }

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  static std::string RefOf(const std::string& name) { return Ref(StrCat("notation/", name, ":1")); }
  static std::string AgentLog() { return agent_ == nullptr ? "" : agent_->Log(); }
  static std::optional<cri::Image> InContainerd(const std::string& image) {
    return CriClient(containerd_->socket()).Status(image);
  }
  static json Meta(const std::string& name, const std::string& fixture) {
    return json::parse(testing::ReadFileOrDie(StrCat(out_, "/", name, "/", fixture, ".json")));
  }

  // The last event of `gate` about digest `digest` asked for as `image` (when not empty).
  static std::optional<json> EventFor(const std::string& gate, const Digest& digest, const std::string& image = "") {
    std::ifstream in(dir_->File("state/events.jsonl"));
    std::optional<json> found;
    std::string line;
    while (std::getline(in, line)) {
      json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("gate", "") == gate && e.value("digest", "") == digest.str() &&
          (image.empty() || e.value("image", "") == image)) {
        found = e;
      }
    }
    return found;
  }

  // PullImage admitted, the image in containerd under the pinned digest, the event naming the
  // notation signer; then a pod, and a container created and started through the agent.
  void ExpectPulledAndRun(const std::string& name, const std::string& fixture) {
    SCOPED_TRACE(name);
    const TestImage& image = images_.at(name);
    std::string id;
    grpc::Status s = client_->Pull(RefOf(name), &id);
    ASSERT_TRUE(s.ok()) << s.error_message() << AgentLog();
    std::optional<cri::Image> stored = InContainerd(id);
    ASSERT_TRUE(stored.has_value());
    ASSERT_GT(stored->repo_digests_size(), 0);
    EXPECT_EQ(stored->repo_digests(0), StrCat(Ref(StrCat("notation/", name)), "@", image.digest.str()));

    std::optional<json> e = EventFor("PullImage", image.digest, RefOf(name));
    ASSERT_TRUE(e.has_value()) << AgentLog();
    EXPECT_EQ((*e)["verdict"], "ALLOW") << e->dump();
    EXPECT_EQ((*e)["reason"], "VERIFIED") << e->dump();
    EXPECT_EQ((*e)["admitted"], true);
    EXPECT_EQ((*e)["node"], "node-notation");
    EXPECT_EQ((*e)["signer_kind"], "notation") << e->dump();
    EXPECT_NE((*e).value("signer_subject", "").find("CN=signer"), std::string::npos) << e->dump();
    EXPECT_EQ((*e)["key_id"], StrCat("sha256:", Meta(name, fixture)["leafThumbprint"].get<std::string>())) << e->dump();

    cri::PodSandboxConfig config = CriClient::HostNetworkPod("default", StrCat("pod-", name), StrCat("uid-", name));
    std::string sandbox_id, container_id;
    grpc::Status ran = client_->RunPodSandbox(config, &sandbox_id);
    ASSERT_TRUE(ran.ok()) << ran.error_message();
    sandboxes_.push_back(sandbox_id);
    grpc::Status created = client_->CreateContainerIn(sandbox_id, config, id, "app", &container_id);
    ASSERT_TRUE(created.ok()) << created.error_message() << AgentLog();
    grpc::Status started = client_->StartContainer(container_id);
    EXPECT_TRUE(started.ok()) << started.error_message();
    std::vector<cri::Container> all;
    ASSERT_TRUE(CriClient(containerd_->socket()).ListContainers(&all).ok());
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const cri::Container& c) {
      return c.id() == container_id && c.state() == cri::CONTAINER_RUNNING;
    })) << "container " << container_id << " not running in containerd";
    std::optional<json> gate = EventFor("CreateContainer", image.digest);
    ASSERT_TRUE(gate.has_value()) << AgentLog();
    EXPECT_EQ((*gate)["verdict"], "ALLOW") << gate->dump();
  }

  // PullImage denied with one of `reasons`, as the kubelet sees it; never in containerd.
  void ExpectPullDenied(const std::string& name, const std::vector<std::string>& reasons) {
    SCOPED_TRACE(name);
    const std::string ref = RefOf(name);
    grpc::Status s = client_->Pull(ref);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN) << s.error_message();
    const std::string prefix = StrCat("SignatureValidationFailed: layerseal denied ", ref, ": ");
    ASSERT_EQ(s.error_message().rfind(prefix, 0), 0u) << s.error_message();
    const std::string reason =
        s.error_message().substr(prefix.size(), s.error_message().find(':', prefix.size()) - prefix.size());
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), reason), reasons.end()) << s.error_message();
    EXPECT_FALSE(InContainerd(ref).has_value());
    EXPECT_FALSE(InContainerd(StrCat(Ref(StrCat("notation/", name)), "@", images_.at(name).digest.str())).has_value());

    std::optional<json> e = EventFor("PullImage", images_.at(name).digest, ref);
    ASSERT_TRUE(e.has_value()) << AgentLog();
    EXPECT_EQ((*e)["verdict"], "DENY");
    EXPECT_EQ((*e)["reason"], reason);
    EXPECT_EQ((*e)["admitted"], false);
    EXPECT_EQ((*e)["signer_kind"], "") << "nothing admitted it";
    EXPECT_FALSE((*e).value("detail", "").empty());
  }

  static testing::TempDir* dir_;
  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static testing::AgentProcess* agent_;
  static std::string out_;
  static std::string setup_error_;
  static std::string identity_;
  static std::map<std::string, TestImage> images_;
  std::unique_ptr<CriClient> client_;
  std::vector<std::string> sandboxes_;
};

testing::TempDir* NotationAgentE2eTest::dir_ = nullptr;
testing::RegistryServer* NotationAgentE2eTest::registry_ = nullptr;
testing::ContainerdServer* NotationAgentE2eTest::containerd_ = nullptr;
testing::AgentProcess* NotationAgentE2eTest::agent_ = nullptr;
std::string NotationAgentE2eTest::out_;
std::string NotationAgentE2eTest::setup_error_;
std::string NotationAgentE2eTest::identity_;
std::map<std::string, TestImage> NotationAgentE2eTest::images_;

TEST_F(NotationAgentE2eTest, JwsSignedImageIsPulledAndRuns) { ExpectPulledAndRun("jws", "jws-good"); }

TEST_F(NotationAgentE2eTest, CoseSignedImageIsPulledAndRuns) { ExpectPulledAndRun("cose", "cose-good"); }

TEST_F(NotationAgentE2eTest, TamperedSignaturesAreDeniedAtPullImage) {
  ExpectPullDenied("tampered", {"BAD_SIGNATURE"});
  ExpectPullDenied("tampered-cose", {"BAD_SIGNATURE"});
}

TEST_F(NotationAgentE2eTest, ExpiredAndUnsignedAreDeniedAtPullImage) {
  ExpectPullDenied("expired", {"SIGNATURE_EXPIRED"});
  ExpectPullDenied("unsigned", {"NOT_SIGNED"});
}

}  // namespace
}  // namespace layerseal
