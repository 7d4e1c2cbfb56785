// The image-integrity rules at the CRI gates, end to end (issue 18): a real containerd (CRI
// plugin, temp root) behind the agent (in-process, for its verdict events), a real
// docker-registry on loopback, and a CRI client speaking to the agent's socket as the
// kubelet does. The images are built at test time with GNU tar: a small "debian" base whose
// layer holds /bin/sh, /etc/passwd and a dpkg status file, and signed images on top of it.
// The policy names the base by reference (resolved to its ChainID through the registry at
// load) and protects /bin/* and /etc/passwd. One registry, one containerd and one agent for
// the whole suite (each test its own repository).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "node-agent/scrub.h"
#include "node-agent/agent.h"
#include "node-agent/config.h"
#include "plugin/image_judge.h"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"
#include "tests/support/tar_layer.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/layers/chain_id.h"
#include "verifier/layers/packages.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using ::testing::HasSubstr;
using testing::CriClient;
using testing::TestImage;

constexpr char kBaseStatus[] =
    "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\n";
constexpr char kHelloStatus[] =
    "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n\n";

// Every verdict event, as the controller client would receive it.
class RecordingSink final : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent& event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  // The last event of `gate` about `image` (as the request named it).
  std::optional<plugin::VerdictEvent> Last(const std::string& gate, const std::string& image) {
    absl::MutexLock lock(&mu_);
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->gate == gate && it->image == image) return *it;
    }
    return std::nullopt;
  }

 private:
  absl::Mutex mu_;
  std::vector<plugin::VerdictEvent> events_ ABSL_GUARDED_BY(mu_);
};

// A layer tar of the files `files` (path relative to the root -> content; a path ending in
// "/" is a directory), made by GNU tar as image builders do.
// Files of the test's layers are executable (the base's /bin/sh).
std::string LayerOf(const std::map<std::string, std::string>& files) {
  std::string tar = testing::GnuTarLayer(files, static_cast<std::filesystem::perms>(0755));
  EXPECT_FALSE(tar.empty()) << "tar failed";
  return tar;
}

class IntegrityE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
        testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {registry_->host()}});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    dir_ = new testing::TempDir();
    sink_ = new RecordingSink();

    // The base: one layer with a shell, a password file and dpkg's database; unsigned (it
    // is only ever named as a base), pushed so that the agent resolves it.
    base_ = new TestImage(testing::MakeBaseImage(
        {.first_layer_tar = LayerOf({{"bin/sh", "the base's shell\n"},
                                     {"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
                                     {"var/lib/dpkg/status", kBaseStatus}})}));
    Push("base/debian:12", *base_);

    testing::WriteFileOrDie(dir_->File("ci.pub"), key_->public_key().ToPem());
    std::string base_ref = StrCat(Ref("base/debian"), "@", base_->digest.str());
    std::string rules = StrCat("trustedBases: [\"", base_ref, "\"], protectedPaths: [\"/bin/*\", /etc/passwd]");
    testing::WriteFileOrDie(
        dir_->File("policy.yaml"),
        StrCat("version: 1\n"
               "keys:\n  ci: {path: ", dir_->File("ci.pub"), "}\n"
               "default: {requirement: reject}\n"
               "scopes:\n"
               "  \"", Ref("rules"), "\": {requirement: signed, keys: [ci], ", rules, "}\n"
               "  \"", Ref("inventory"), "\": {requirement: signed, keys: [ci], ", rules,
               ", packageInventory: true}\n"));
    std::filesystem::create_directories(dir_->File("namespaces"));
    admin_port_ = testing::PickFreePort();
    absl::StatusOr<agent::ParsedArgs> args = agent::ParseAgentArgs(
        {"--listen", dir_->File("agent.sock"), "--runtime-endpoint", containerd_->socket(),
         "--policy", dir_->File("policy.yaml"), "--namespace-policy-dir", dir_->File("namespaces"),
         "--state-dir", dir_->File("state"), "--node-name", "node-integrity",
         "--admin", StrCat("127.0.0.1:", admin_port_), "--plain-http-registry", registry_->host()});
    ASSERT_TRUE(args.ok()) << args.status();
    absl::StatusOr<std::unique_ptr<agent::Agent>> agent =
        agent::Agent::Start(args->config, {.reporter = sink_});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = agent->release();
    client_ = new CriClient(dir_->File("agent.sock"));
  }
  static void TearDownTestSuite() {
    delete client_;
    delete agent_;
    delete sink_;
    delete base_;
    delete dir_;
    delete containerd_;
    delete registry_;
    delete key_;
  }

  void SetUp() override { ASSERT_NE(agent_, nullptr) << "the suite did not start"; }

  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  static Digest Push(const std::string& repo_tag, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::Status pushed = testing::PushTestImage(client, *Reference::Parse(Ref(repo_tag)), image);
    EXPECT_TRUE(pushed.ok()) << pushed;
    return image.digest;
  }
  // The base with `top` added, signed, pushed as `repo_tag`.
  static TestImage OnTheBase(const std::string& repo_tag, const std::map<std::string, std::string>& top) {
    TestImage image = testing::SealTestImage(testing::WithLayerAdded(*base_, LayerOf(top)), *key_);
    Push(repo_tag, image);
    return image;
  }
  // The image as containerd itself knows it (not through the agent).
  static std::optional<cri::Image> InContainerd(const std::string& image) {
    return CriClient(containerd_->socket()).Status(image);
  }
  static std::string Pinned(const std::string& repo, const TestImage& image) {
    return StrCat(Ref(repo), "@", image.digest.str());
  }
  // The digest of the manifest's layer `index`.
  static Digest LayerDigest(const TestImage& image, size_t index) {
    nlohmann::json m = nlohmann::json::parse(image.manifest);
    return *Digest::Parse(m["layers"][index]["digest"].get<std::string>());
  }
  // Where containerd keeps blob `blob` (its content store in the test's root).
  static std::string BlobFile(const Digest& blob) {
    return StrCat(containerd_->dir(), "/root/io.containerd.content.v1.content/blobs/sha256/",
                  blob.hex());
  }

  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static PrivateKey* key_;
  static testing::TempDir* dir_;
  static RecordingSink* sink_;
  static TestImage* base_;
  static agent::Agent* agent_;
  static CriClient* client_;
  static int admin_port_;
};

testing::RegistryServer* IntegrityE2eTest::registry_ = nullptr;
testing::ContainerdServer* IntegrityE2eTest::containerd_ = nullptr;
PrivateKey* IntegrityE2eTest::key_ = nullptr;
testing::TempDir* IntegrityE2eTest::dir_ = nullptr;
RecordingSink* IntegrityE2eTest::sink_ = nullptr;
TestImage* IntegrityE2eTest::base_ = nullptr;
agent::Agent* IntegrityE2eTest::agent_ = nullptr;
CriClient* IntegrityE2eTest::client_ = nullptr;
int IntegrityE2eTest::admin_port_ = 0;

// Signed, but not built on the trusted base: denied from its config before the pull, so
// containerd never fetches it.
TEST_F(IntegrityE2eTest, AnImageOnAnUntrustedBaseIsDeniedBeforeThePull) {
  TestImage image = testing::SealTestImage(testing::MakeBaseImage({.seed = "integrity-untrusted"}), *key_);
  Push("rules/untrusted:1", image);
  grpc::Status s = client_->Pull(Ref("rules/untrusted:1"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(s.error_message(), ::testing::StartsWith("SignatureValidationFailed: layerseal denied "));
  EXPECT_THAT(s.error_message(), HasSubstr("UNTRUSTED_BASE"));
  EXPECT_FALSE(InContainerd(Pinned("rules/untrusted", image)).has_value());
  EXPECT_FALSE(InContainerd(Ref("rules/untrusted:1")).has_value());
  std::optional<plugin::VerdictEvent> e = sink_->Last("PullImage", Ref("rules/untrusted:1"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->judgement.verdict.reason, Reason::kUntrustedBase);
  EXPECT_FALSE(e->admitted);
}

// On the trusted base, but the top layer replaces /bin/sh: pulled, judged on containerd's
// own content, denied naming the layer and the path, and removed from containerd.
TEST_F(IntegrityE2eTest, ATopLayerReplacingAProtectedPathIsDeniedAndRemoved) {
  TestImage image = OnTheBase("rules/shell:1", {{"bin/sh", "#!/evil\n"}});
  grpc::Status s = client_->Pull(Ref("rules/shell:1"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("PROTECTED_PATH"));
  EXPECT_THAT(s.error_message(), HasSubstr("/bin/sh"));
  EXPECT_THAT(s.error_message(), HasSubstr("layer 1 ")) << "the layer above the base";
  EXPECT_FALSE(InContainerd(Pinned("rules/shell", image)).has_value()) << "the denied image stayed";
  // Denied again without reading anything (the result is remembered); still not there.
  grpc::Status again = client_->Pull(Ref("rules/shell:1"));
  EXPECT_THAT(again.error_message(), HasSubstr("PROTECTED_PATH"));
  EXPECT_FALSE(InContainerd(Pinned("rules/shell", image)).has_value());
}

TEST_F(IntegrityE2eTest, AWhiteoutOfAProtectedPathIsDenied) {
  TestImage image = OnTheBase("rules/whiteout:1", {{"etc/.wh.passwd", ""}});
  grpc::Status s = client_->Pull(Ref("rules/whiteout:1"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("PROTECTED_PATH"));
  EXPECT_THAT(s.error_message(), HasSubstr("/etc/"));
  EXPECT_FALSE(InContainerd(Pinned("rules/whiteout", image)).has_value());
}

// Follows the rules: pulled and shown; a container can be created from it (the call reaches
// containerd, which has no such sandbox); an image pulled behind the agent's back that breaks
// the rules is hidden and refused once the agent has judged containerd's content.
TEST_F(IntegrityE2eTest, AnImageThatFollowsTheRulesIsAdmitted) {
  TestImage image = OnTheBase("rules/app:1", {{"app/hello", "hello\n"}});
  std::string id;
  grpc::Status s = client_->Pull(Ref("rules/app:1"), &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::optional<cri::Image> stored = InContainerd(id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->repo_digests(0), Pinned("rules/app", image));
  EXPECT_TRUE(client_->Status(Ref("rules/app:1")).has_value());
  grpc::Status created = client_->CreateContainer(id, "default");
  EXPECT_NE(created.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << created.error_message();
  EXPECT_EQ(created.error_message().find("layerseal"), std::string::npos) << created.error_message();
  std::optional<plugin::VerdictEvent> e = sink_->Last("PullImage", Ref("rules/app:1"));
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->admitted);
  EXPECT_EQ(e->judgement.verdict.reason, Reason::kVerified);
  EXPECT_TRUE(e->packages_attachment.empty()) << "the scope asks for no inventory";
}

TEST_F(IntegrityE2eTest, AnImagePulledBehindTheAgentsBackIsJudgedOnItsContent) {
  TestImage image = OnTheBase("rules/bypass:1", {{"bin/ls", "not ls\n"}});
  std::string id;
  ASSERT_TRUE(CriClient(containerd_->socket()).Pull(Ref("rules/bypass:1"), &id).ok());
  EXPECT_FALSE(client_->Status(id).has_value()) << "shown although it replaces /bin/ls";
  grpc::Status create = client_->CreateContainer(id, "default");
  EXPECT_EQ(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_THAT(create.error_message(), HasSubstr("PROTECTED_PATH"));
  EXPECT_THAT(create.error_message(), HasSubstr("/bin/ls"));
}

// packageInventory: the PullImage event carries the layerseal.packages/v1 attachment with
// the package the top layer's dpkg database added.
TEST_F(IntegrityE2eTest, ThePullEventCarriesThePackagesTheTopLayerAdded) {
  TestImage image = OnTheBase(
      "inventory/hello:1", {{"var/lib/dpkg/status", StrCat(kBaseStatus, kHelloStatus)}});
  grpc::Status s = client_->Pull(Ref("inventory/hello:1"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::optional<plugin::VerdictEvent> e = sink_->Last("PullImage", Ref("inventory/hello:1"));
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->admitted);
  ASSERT_FALSE(e->packages_attachment.empty());
  absl::StatusOr<layers::PackageInventory> inventory =
      layers::ParsePackagesAttachment(e->packages_attachment);
  ASSERT_TRUE(inventory.ok()) << inventory.status() << "\n" << e->packages_attachment;
  EXPECT_EQ(inventory->image, image.digest.str());
  ASSERT_EQ(inventory->packages.size(), 1u) << e->packages_attachment;
  EXPECT_EQ(inventory->packages[0].package.name, "hello");
  EXPECT_EQ(inventory->packages[0].package.version, "2.10-3");
  EXPECT_EQ(inventory->packages[0].layer_index, 1u);
}

// Layers containerd no longer has (discard_unpacked_layers, or gone): the rules that need
// them fail closed (CONTENT_UNAVAILABLE), while the base rule still judges the config.
TEST_F(IntegrityE2eTest, LayersTheRuntimeNoLongerHasFailClosed) {
  TestImage image = OnTheBase("rules/gone:1", {{"app/gone", "gone\n"}});
  TestImage untrusted =
      testing::SealTestImage(testing::MakeBaseImage({.seed = "integrity-gone-untrusted"}), *key_);
  Push("rules/gone-untrusted:1", untrusted);
  CriClient direct(containerd_->socket());
  std::string id, untrusted_id;
  ASSERT_TRUE(direct.Pull(Ref("rules/gone:1"), &id).ok());
  ASSERT_TRUE(direct.Pull(Ref("rules/gone-untrusted:1"), &untrusted_id).ok());
  ASSERT_TRUE(std::filesystem::remove(BlobFile(LayerDigest(image, 1))));
  ASSERT_TRUE(std::filesystem::remove(BlobFile(LayerDigest(untrusted, 0))));

  EXPECT_FALSE(client_->Status(id).has_value());
  grpc::Status create = client_->CreateContainer(id, "default");
  EXPECT_EQ(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_THAT(create.error_message(), HasSubstr("CONTENT_UNAVAILABLE"));
  grpc::Status untrusted_create = client_->CreateContainer(untrusted_id, "default");
  EXPECT_THAT(untrusted_create.error_message(), HasSubstr("UNTRUSTED_BASE"));
}

// The scrub finds a layer changed on disk: the admitted image is hidden and refused
// (INTEGRITY_MISMATCH). Pulled again, the bytes are judged again after the pull: still
// corrupt, the image is removed, so the next pull fetches fresh blobs and is admitted.
TEST_F(IntegrityE2eTest, ACorruptImageIsRefusedAndAPullAfterItsRemovalHeals) {
  TestImage image = OnTheBase("rules/corrupt:1", {{"app/data", "the real data\n"}});
  std::string id;
  ASSERT_TRUE(client_->Pull(Ref("rules/corrupt:1"), &id).ok());
  ASSERT_TRUE(client_->Status(id).has_value());
  const std::string file = BlobFile(LayerDigest(image, 1));
  std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  testing::WriteFileOrDie(file, "not the layer that was pulled");
  agent::ScrubReport report = agent_->scrubber().ScrubImage(image.digest);
  ASSERT_EQ(report.mismatches, 1u) << report.ToJson();

  EXPECT_FALSE(client_->Status(id).has_value()) << "a corrupt image is shown";
  grpc::Status create = client_->CreateContainer(id, "default");
  EXPECT_EQ(create.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << create.error_message();
  EXPECT_THAT(create.error_message(), HasSubstr("INTEGRITY_MISMATCH"));

  grpc::Status again = client_->Pull(Ref("rules/corrupt:1"));
  EXPECT_THAT(again.error_message(), HasSubstr("INTEGRITY_MISMATCH"));
  EXPECT_FALSE(InContainerd(Pinned("rules/corrupt", image)).has_value());
  std::string fresh_id;
  grpc::Status healed = client_->Pull(Ref("rules/corrupt:1"), &fresh_id);
  ASSERT_TRUE(healed.ok()) << healed.error_message();
  EXPECT_TRUE(client_->Status(fresh_id).has_value());
  EXPECT_TRUE(client_->CreateContainer(fresh_id, "default").error_message().find("layerseal") ==
              std::string::npos);
}

}  // namespace
}  // namespace layerseal
