// cosign signatures through the node agent (issue 17 "Proof: images in a real registry ...
// through the agent in front of real containerd"): the real `layerseal-agent` binary in front
// of a real containerd (CRI plugin on), a real docker-registry holding the images and their
// cosign signatures in the forms cosign writes them (tests/support/cosign_images.h), and a CRI
// client talking to the agent as the kubelet does. The node policy's scope trusts cosign
// signatures only (`signatures: [cosign]`): a key, and a keyless identity with a trusted root.
// The signatures are the offline fixtures of tests/fixtures/sigstore/make_fixtures.mjs, made
// once for the suite over the images it pushes.
//
// Cases: a key-signed image (legacy .sig) and a keyless one (v0.3 bundle through the
// referrers fallback tag, Rekor v1) are admitted by PullImage, land in containerd, and their
// events name the signer; a bundle by the wrong identity and a tampered one are denied with
// their reasons; an image pulled into containerd behind the agent's back passes the
// CreateContainer gate when cosign-signed (keyless legacy .sig with certificate and SET) and
// is refused when unsigned.
//
// One registry, one containerd and one agent for the whole suite: each test uses its own
// repositories and images, so verdicts never leak between tests.
//
// Needs Node >= 20.17 and tests/fixtures/sigstore/node_modules (scripts/setup installs it).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
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
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;
using testing::CriClient;
using testing::TestImage;

const std::string kFixturesSrc = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/sigstore");

// The suite's images: each signed (or not) by one fixture and pushed to its own repository.
struct CosignCase {
  const char* name;     // the fixtures' image name, and the seed of its bytes
  const char* repo;     // <registry>/<repo>:1
  const char* fixture;  // the fixture signing it; "" for none
  bool legacy;          // the legacy .sig tag (else a v0.3 bundle through the fallback tag)
};
const CosignCase kCases[] = {
    {"key", "cosign/key", "legacy-key", true},
    {"keyless", "cosign/keyless", "bundle-v03-dsse", false},
    {"wrong-identity", "cosign/wrong-identity", "wrong-identity", false},
    {"tampered", "cosign/tampered", "tampered-dsse-signature", false},
    {"prepulled", "cosign/prepulled", "legacy-keyless", true},
    {"unsigned", "cosign/unsigned", "", false},
};

class CosignAgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setup_error_ = SetUpSuite(); }
  static std::string SetUpSuite() {
    dir_ = new testing::TempDir();
    if (!std::filesystem::exists(kFixturesSrc + "/node_modules/@sigstore/sign")) {
      return StrCat(kFixturesSrc, "/node_modules is missing: run scripts/setup (npm ci)");
    }
    auto registry = testing::RegistryServer::Start();
    if (!registry.ok()) return StrCat("registry: ", registry.status().ToString());
    registry_ = registry->release();
    auto containerd = testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {registry_->host()}});
    if (!containerd.ok()) return StrCat("containerd: ", containerd.status().ToString());
    containerd_ = containerd->release();

    // The images, and the fixtures made over the signed ones (one run of the script).
    out_ = dir_->File("fixtures");
    std::vector<std::string> argv = {"node", kFixturesSrc + "/make_fixtures.mjs", "--out", out_};
    for (const CosignCase& c : kCases) {
      TestImage image = testing::MakeBaseImage({.seed = StrCat("cosign-agent-", c.name)});
      if (*c.fixture != '\0') {
        std::string file = dir_->File(StrCat(c.name, ".manifest"));
        testing::WriteFileOrDie(file, image.manifest);
        argv.insert(argv.end(), {"--image", StrCat(c.name, "=", image.digest.str(), ":", file)});
      }
      images_.emplace(c.name, std::move(image));
    }
    absl::StatusOr<testing::RunResult> made = testing::Run(argv, "", absl::Minutes(5));
    if (!made.ok() || made->exit_code != 0) {
      return StrCat("make_fixtures.mjs failed: ", made.ok() ? made->err : made.status().ToString());
    }

    // Each image and its signature, in the registry.
    registry::RegistryClient client(registry_->ClientOptions());
    for (const CosignCase& c : kCases) {
      const TestImage& image = images_.at(c.name);
      absl::StatusOr<Reference> repo = Reference::Parse(Ref(StrCat(c.repo, ":1")));
      if (!repo.ok()) return repo.status().ToString();
      absl::Status pushed = testing::PushTestImage(client, *repo, image);
      if (!pushed.ok()) return StrCat("push ", c.repo, ": ", pushed.ToString());
      if (*c.fixture == '\0') continue;
      const std::string fixture_dir = StrCat(out_, "/", c.name, "/", c.fixture);
      if (c.legacy) {
        absl::StatusOr<testing::CosignSigLayer> layer = testing::LoadFixtureSigLayer(fixture_dir);
        if (!layer.ok()) return layer.status().ToString();
        pushed = testing::PushLegacySig(client, *repo, image.digest, testing::MakeLegacySig({*layer}));
      } else {
        TestImage referrer = testing::MakeBundleReferrer(testing::SubjectOf(image),
                                                         testing::ReadFileOrDie(fixture_dir + "/bundle.json"));
        pushed = testing::PushFallbackIndex(client, *repo, image.digest, testing::MakeFallbackIndex({referrer}));
      }
      if (!pushed.ok()) return StrCat("push the signature of ", c.repo, ": ", pushed.ToString());
    }

    // The node policy: everything in the registry must carry a cosign signature by the key
    // or by the CI identity (keyless, under the fixtures' trusted root).
    json index = json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
    issuer_ = index["issuer"].get<std::string>();
    identity_ = index["identity"].get<std::string>();
    testing::WriteFileOrDie(
        dir_->File("policy.yaml"),
        StrCat("version: 1\n"
               "keys:\n  cosign: {path: ", out_, "/cosign.pub}\n"
               "trustedRoots:\n  test: {path: ", out_, "/trusted_root.json}\n"
               "identities:\n  ci: {issuer: \"", issuer_, "\", subject: \"", identity_, "\"}\n"
               "default: {requirement: reject}\n"
               "scopes:\n"
               "  \"", registry_->host(), "\": {requirement: signed, signatures: [cosign], keys: [cosign], "
               "identities: [ci], trustedRoot: test}\n"));

    std::filesystem::create_directories(dir_->File("namespaces"));
    const int admin_port = testing::PickFreePort();
    auto agent = testing::AgentProcess::Start(
        {"--listen", dir_->File("agent.sock"), "--runtime-endpoint", containerd_->socket(),
         "--policy", dir_->File("policy.yaml"), "--namespace-policy-dir", dir_->File("namespaces"),
         "--state-dir", dir_->File("state"), "--node-name", "node-cosign",
         "--admin", StrCat("127.0.0.1:", admin_port), "--plain-http-registry", registry_->host()},
        {}, admin_port, dir_->File("agent.log"));
    if (!agent.ok()) return StrCat("agent: ", agent.status().ToString());
    agent_ = agent->release();
    return "";
  }
  static void TearDownTestSuite() {
    if (agent_ != nullptr) {
      agent_->Stop();
      // Under the sanitizer build the agent is instrumented too: a report fails the suite.
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

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  static const TestImage& Image(const std::string& name) { return images_.at(name); }
  static std::string AgentLog() { return agent_ == nullptr ? "" : agent_->Log(); }

  // The image as containerd itself knows it (not through the agent).
  static std::optional<cri::Image> InContainerd(const std::string& image) {
    return CriClient(containerd_->socket()).Status(image);
  }

  // The last event of `gate` about an image of digest `digest` (the agent writes the event
  // before it answers the call).
  static std::optional<json> EventFor(const std::string& gate, const Digest& digest) {
    std::ifstream in(dir_->File("state/events.jsonl"));
    std::optional<json> found;
    std::string line;
    while (std::getline(in, line)) {
      json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("gate", "") == gate && e.value("digest", "") == digest.str()) found = e;
    }
    return found;
  }

  // The Rekor log index of a fixture's entry: the bundle's first tlog entry, or a legacy
  // signature's SET payload.
  static int64_t LogIndexOf(const std::string& image, const std::string& fixture, bool legacy) {
    const std::string dir = StrCat(out_, "/", image, "/", fixture);
    if (legacy) {
      json annotations = json::parse(testing::ReadFileOrDie(dir + "/annotations.json"));
      json set = json::parse(annotations["dev.sigstore.cosign/bundle"].get<std::string>());
      return set["Payload"]["logIndex"].get<int64_t>();
    }
    json bundle = json::parse(testing::ReadFileOrDie(dir + "/bundle.json"));
    return std::stoll(bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"].get<std::string>());
  }

  // PullImage through the agent is denied with `reasons` (one of them), as the kubelet sees
  // it, and the image never reaches containerd; the event says the same.
  void ExpectPullDenied(const std::string& name, const std::string& repo, const std::vector<std::string>& reasons) {
    SCOPED_TRACE(repo);
    const std::string ref = Ref(StrCat(repo, ":1"));
    grpc::Status s = client_->Pull(ref);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN) << s.error_message();
    const std::string prefix = StrCat("SignatureValidationFailed: layerseal denied ", ref, ": ");
    ASSERT_EQ(s.error_message().rfind(prefix, 0), 0u) << s.error_message();
    const std::string reason = s.error_message().substr(prefix.size(), s.error_message().find(':', prefix.size()) - prefix.size());
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), reason), reasons.end()) << s.error_message();
    EXPECT_FALSE(InContainerd(ref).has_value());
    EXPECT_FALSE(InContainerd(StrCat(Ref(repo), "@", Image(name).digest.str())).has_value());

    std::optional<json> e = EventFor("PullImage", Image(name).digest);
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
  static std::string issuer_, identity_;  // the fixtures' keyless signer
  static std::map<std::string, TestImage> images_;
  std::unique_ptr<CriClient> client_;
};

testing::TempDir* CosignAgentE2eTest::dir_ = nullptr;
testing::RegistryServer* CosignAgentE2eTest::registry_ = nullptr;
testing::ContainerdServer* CosignAgentE2eTest::containerd_ = nullptr;
testing::AgentProcess* CosignAgentE2eTest::agent_ = nullptr;
std::string CosignAgentE2eTest::out_;
std::string CosignAgentE2eTest::setup_error_;
std::string CosignAgentE2eTest::issuer_;
std::string CosignAgentE2eTest::identity_;
std::map<std::string, TestImage> CosignAgentE2eTest::images_;

TEST_F(CosignAgentE2eTest, KeySignedLegacySigIsPulledAndTheEventNamesTheKey) {
  const TestImage& image = Image("key");
  std::string id;
  grpc::Status s = client_->Pull(Ref("cosign/key:1"), &id);
  ASSERT_TRUE(s.ok()) << s.error_message() << AgentLog();
  std::optional<cri::Image> stored = InContainerd(id);
  ASSERT_TRUE(stored.has_value());
  ASSERT_GT(stored->repo_digests_size(), 0);
  EXPECT_EQ(stored->repo_digests(0), StrCat(Ref("cosign/key"), "@", image.digest.str()));

  absl::StatusOr<PublicKey> key = PublicKey::FromPem(testing::ReadFileOrDie(out_ + "/cosign.pub"));
  ASSERT_TRUE(key.ok()) << key.status();
  std::optional<json> e = EventFor("PullImage", image.digest);
  ASSERT_TRUE(e.has_value()) << AgentLog();
  EXPECT_EQ((*e)["verdict"], "ALLOW");
  EXPECT_EQ((*e)["reason"], "VERIFIED");
  EXPECT_EQ((*e)["node"], "node-cosign");
  EXPECT_EQ((*e)["signer_kind"], "cosign-key");
  EXPECT_EQ((*e)["key_id"], key->key_id());
  EXPECT_EQ((*e)["signer_issuer"], "");
  EXPECT_EQ((*e)["signer_subject"], "");
  // The legacy signature carries its Rekor SET: the entry's index.
  EXPECT_EQ((*e).value("rekor_log_index", int64_t{-1}), LogIndexOf("key", "legacy-key", true)) << e->dump();
}

TEST_F(CosignAgentE2eTest, KeylessBundleThroughTheFallbackTagIsPulledAndTheEventNamesTheIdentity) {
  const TestImage& image = Image("keyless");
  std::string id;
  grpc::Status s = client_->Pull(Ref("cosign/keyless:1"), &id);
  ASSERT_TRUE(s.ok()) << s.error_message() << AgentLog();
  std::optional<cri::Image> stored = InContainerd(id);
  ASSERT_TRUE(stored.has_value());
  ASSERT_GT(stored->repo_digests_size(), 0);
  EXPECT_EQ(stored->repo_digests(0), StrCat(Ref("cosign/keyless"), "@", image.digest.str()));

  std::optional<json> e = EventFor("PullImage", image.digest);
  ASSERT_TRUE(e.has_value()) << AgentLog();
  EXPECT_EQ((*e)["verdict"], "ALLOW");
  EXPECT_EQ((*e)["reason"], "VERIFIED");
  EXPECT_EQ((*e)["signer_kind"], "cosign-keyless");
  EXPECT_EQ((*e)["signer_issuer"], issuer_);
  EXPECT_EQ((*e)["signer_subject"], identity_);
  ASSERT_TRUE(e->contains("rekor_log_index")) << e->dump();
  EXPECT_EQ((*e)["rekor_log_index"].get<int64_t>(), LogIndexOf("keyless", "bundle-v03-dsse", false));
  EXPECT_FALSE((*e).value("rekor_log_id", "").empty()) << e->dump();
}

TEST_F(CosignAgentE2eTest, WrongIdentityAndTamperedSignaturesAreDenied) {
  // A valid keyless bundle, by an identity the policy does not trust.
  ExpectPullDenied("wrong-identity", "cosign/wrong-identity", {"UNTRUSTED_IDENTITY"});
  // The DSSE signature altered after logging: the log entry no longer matches it (or, checked
  // first, the signature is bad).
  ExpectPullDenied("tampered", "cosign/tampered", {"TLOG_MISMATCH", "BAD_SIGNATURE"});
}

TEST_F(CosignAgentE2eTest, PrePulledImagesPassTheCreateContainerGateOnlyWhenCosignSigned) {
  // Pulled into containerd directly, behind the agent's back.
  CriClient direct(containerd_->socket());
  std::string signed_id, unsigned_id;
  ASSERT_TRUE(direct.Pull(Ref("cosign/prepulled:1"), &signed_id).ok());
  ASSERT_TRUE(direct.Pull(Ref("cosign/unsigned:1"), &unsigned_id).ok());

  // The cosign-signed one (keyless legacy .sig with certificate, chain and SET) is verified in
  // place by its repository digest: CreateContainer reaches containerd (which has no such
  // sandbox, so it fails there, not at the gate).
  grpc::Status created = client_->CreateContainer(signed_id, "default");
  EXPECT_NE(created.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << created.error_message() << AgentLog();
  EXPECT_EQ(created.error_message().find("layerseal"), std::string::npos) << created.error_message();
  std::optional<json> e = EventFor("CreateContainer", Image("prepulled").digest);
  ASSERT_TRUE(e.has_value()) << AgentLog();
  EXPECT_EQ((*e)["verdict"], "ALLOW");
  EXPECT_EQ((*e)["signer_kind"], "cosign-keyless");
  EXPECT_EQ((*e)["signer_issuer"], issuer_);
  EXPECT_EQ((*e)["signer_subject"], identity_);
  EXPECT_EQ((*e).value("rekor_log_index", int64_t{-1}), LogIndexOf("prepulled", "legacy-keyless", true)) << e->dump();

  // The unsigned one: no container from it.
  grpc::Status refused = client_->CreateContainer(unsigned_id, "default");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("NOT_SIGNED"), std::string::npos) << refused.error_message();
  e = EventFor("CreateContainer", Image("unsigned").digest);
  ASSERT_TRUE(e.has_value()) << AgentLog();
  EXPECT_EQ((*e)["verdict"], "DENY");
  EXPECT_EQ((*e)["reason"], "NOT_SIGNED");
  EXPECT_EQ((*e)["admitted"], false);
}

}  // namespace
}  // namespace layerseal
