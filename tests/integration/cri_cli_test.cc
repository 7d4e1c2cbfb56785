// `layerseal cri` end to end: the real binary against a real containerd (CRI plugin on)
// pulling from a real docker-registry on loopback over plain HTTP; and against a small
// in-process ImageService for what containerd ignores (the pod metadata and credentials a
// pull carries, a runtime's error message passed on verbatim).
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using nlohmann::json;
using testing::RunResult;

RunResult Layerseal(std::vector<std::string> args) {
  args.insert(args.begin(), LAYERSEAL_BINARY);
  absl::StatusOr<RunResult> r = testing::Run(args, "", absl::Seconds(180));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{};
}

bool Contains(const json& array, const std::string& value) {
  if (!array.is_array()) return false;
  for (const json& v : array) {
    if (v == value) return true;
  }
  return false;
}

class CriCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
        testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    registry::RegistryClient client(registry_->ClientOptions());
    image_ = new testing::TestImage(testing::MakeBaseImage({.seed = "cri-cli"}));
    absl::StatusOr<Reference> ref = Reference::Parse(Ref("cri/app:1.0"));
    ASSERT_TRUE(ref.ok()) << ref.status();
    absl::Status pushed = testing::PushTestImage(client, *ref, *image_);
    ASSERT_TRUE(pushed.ok()) << pushed;

    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> server =
        testing::ContainerdServer::Start(
            {.cri = true, .plain_http_registries = {registry_->host()}});
    ASSERT_TRUE(server.ok()) << server.status();
    containerd_ = server->release();
  }
  static void TearDownTestSuite() {
    delete containerd_;
    delete image_;
    delete registry_;
  }
  void SetUp() override { ASSERT_NE(containerd_, nullptr); }

  static std::string Ref(const std::string& repo_tag) {
    return StrCat(registry_->host(), "/", repo_tag);
  }
  static std::string Endpoint() { return StrCat("unix://", containerd_->socket()); }

  // `layerseal cri <command> --endpoint unix://<containerd> args...`
  static RunResult Cri(const std::string& command, std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"cri", command, "--endpoint", Endpoint()});
    return Layerseal(args);
  }

  static json ImagesJson() {
    RunResult r = Cri("images", {"--output", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? json::object() : j;
  }

  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static testing::TestImage* image_;
};

testing::RegistryServer* CriCliTest::registry_ = nullptr;
testing::ContainerdServer* CriCliTest::containerd_ = nullptr;
testing::TestImage* CriCliTest::image_ = nullptr;

TEST_F(CriCliTest, VersionShowsContainerd) {
  RunResult r = Cri("version");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("RuntimeName:        containerd\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RuntimeApiVersion:  v1\n"), std::string::npos) << r.out;
  // A plain path is an endpoint too.
  RunResult plain = Layerseal({"cri", "version", "--endpoint", containerd_->socket()});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, r.out);
}

TEST_F(CriCliTest, PullListInspectRemove) {
  const std::string ref = Ref("cri/app:1.0");
  const std::string repo_digest = StrCat(Ref("cri/app"), "@", image_->digest.str());

  RunResult pull = Cri("pull", {ref});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  ASSERT_EQ(pull.out.size(), 72u) << pull.out;  // "sha256:<64 hex>\n"
  ASSERT_EQ(pull.out.rfind("sha256:", 0), 0u) << pull.out;
  const std::string image_id = pull.out.substr(0, 71);

  // The runtime's own view agrees (the CRI plugin's images live in namespace k8s.io).
  absl::StatusOr<RunResult> ctr = containerd_->CtrIn("k8s.io", {"images", "ls", "-q"});
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  EXPECT_NE(ctr->out.find(ref), std::string::npos) << ctr->out;

  json listed = ImagesJson();
  ASSERT_TRUE(listed.contains("images")) << listed.dump();
  const json* found = nullptr;
  for (const json& image : listed["images"]) {
    if (image.value("id", "") == image_id) found = &image;
  }
  ASSERT_NE(found, nullptr) << listed.dump();
  EXPECT_TRUE(Contains((*found)["repoTags"], ref)) << found->dump();
  EXPECT_TRUE(Contains((*found)["repoDigests"], repo_digest)) << found->dump();

  RunResult table = Cri("images");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("IMAGE ID", 0), 0u) << table.out;
  EXPECT_NE(table.out.find(image_id.substr(7, 13) + "   " + ref), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(repo_digest), std::string::npos) << table.out;

  RunResult inspect = Cri("inspecti", {ref});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  json status = json::parse(inspect.out, nullptr, false);
  ASSERT_FALSE(status.is_discarded()) << inspect.out;
  EXPECT_EQ(status["image"]["id"], image_id) << inspect.out;
  EXPECT_TRUE(Contains(status["image"]["repoDigests"], repo_digest)) << inspect.out;
  // Verbose: containerd's "info" is JSON, shown as JSON rather than as a string.
  ASSERT_TRUE(status.contains("info")) << inspect.out;
  EXPECT_TRUE(status["info"]["info"].is_object()) << inspect.out;
  // By digest too.
  RunResult by_digest = Cri("inspecti", {repo_digest});
  EXPECT_EQ(by_digest.exit_code, 0) << by_digest.err;

  RunResult rmi = Cri("rmi", {ref});
  ASSERT_EQ(rmi.exit_code, 0) << rmi.err;
  EXPECT_NE(rmi.out.find(image_id), std::string::npos) << rmi.out;
  RunResult gone = Cri("inspecti", {ref});
  EXPECT_EQ(gone.exit_code, 1) << gone.out;
  EXPECT_NE(gone.err.find("image not found"), std::string::npos) << gone.err;
  for (const json& image : ImagesJson().value("images", json::array())) {
    EXPECT_NE(image.value("id", ""), image_id) << "still listed after rmi";
  }
  RunResult again = Cri("rmi", {ref});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("image not found"), std::string::npos) << again.err;
}

TEST_F(CriCliTest, InspectiOfAnAbsentImageExits1) {
  RunResult r = Cri("inspecti", {Ref("cri/never:1.0")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, StrCat("layerseal cri inspecti: image not found: ", Ref("cri/never:1.0"), "\n"));
}

TEST_F(CriCliTest, PullOfAMissingTagExits1WithTheGrpcCodeAndMessage) {
  const std::string ref = Ref("cri/app:no-such-tag");
  RunResult r = Cri("pull", {ref});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("layerseal cri pull: NOT_FOUND: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(ref), std::string::npos) << r.err;  // containerd's message names it
  std::cout << "containerd on a missing tag: " << r.err;
}

TEST_F(CriCliTest, AnUnreachableEndpointExits1Unavailable) {
  RunResult r = Layerseal({"cri", "version", "--endpoint", "unix:///nonexistent/cri.sock"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("layerseal cri version: UNAVAILABLE: ", 0), 0u) << r.err;
}

TEST(CriCliUsageTest, UsageErrorsExit2) {
  const std::vector<std::vector<std::string>> cases = {
      {"cri"},
      {"cri", "frobnicate"},
      {"cri", "pull"},
      {"cri", "pull", "a:1", "b:1"},
      {"cri", "pull", "--pod", "p", "a:1"},
      {"cri", "pull", "--creds", "nocolon", "--endpoint", "/nonexistent", "a:1"},
      {"cri", "images", "--output", "yaml"},
      {"cri", "images", "extra"},
      {"cri", "inspecti"},
      {"cri", "rmi"},
      {"cri", "version", "--endpoint", "http://127.0.0.1:1"},
      {"cri", "version", "--timeout", "soon"},
      {"cri", "version", "--bogus"},
  };
  for (const auto& args : cases) {
    RunResult r = Layerseal(args);
    std::string joined;
    for (const std::string& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("Usage: layerseal cri"), std::string::npos) << joined << "\n" << r.err;
  }
}

TEST(CriCliUsageTest, HelpExits0OnEveryCommand) {
  for (std::string command : {"version", "pull", "images", "inspecti", "rmi"}) {
    RunResult r = Layerseal({"cri", command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.out.find("Usage: layerseal cri " + command), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--endpoint"), std::string::npos) << r.out;
  }
  RunResult top = Layerseal({"--help"});
  EXPECT_NE(top.out.find("  cri "), std::string::npos) << top.out;
}

// ---------------------------------------------------------------------------------------
// An in-process ImageService that records the PullImageRequest it gets and answers with a
// chosen status: what containerd would not show.
class RecordingImageService final : public runtime::v1::ImageService::Service {
 public:
  grpc::Status PullImage(grpc::ServerContext* ctx, const runtime::v1::PullImageRequest* request,
                         runtime::v1::PullImageResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = *request;
    deadline_left_ = ctx->deadline() - std::chrono::system_clock::now();
    if (!answer_.ok()) return answer_;
    response->set_image_ref("sha256:" + std::string(64, 'a'));
    return grpc::Status::OK;
  }
  void Answer(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_ = std::move(status);
  }
  runtime::v1::PullImageRequest last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  std::chrono::system_clock::duration deadline_left() {
    std::lock_guard<std::mutex> lock(mu_);
    return deadline_left_;
  }

 private:
  std::mutex mu_;
  grpc::Status answer_;
  runtime::v1::PullImageRequest last_;
  std::chrono::system_clock::duration deadline_left_{};
};

class CriCliFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(StrCat("unix:", dir_.File("cri.sock")),
                             grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
  }
  RunResult Pull(std::vector<std::string> args) {
    args.insert(args.begin(), {"cri", "pull", "--endpoint", dir_.File("cri.sock")});
    return Layerseal(args);
  }

  testing::TempDir dir_;
  RecordingImageService service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(CriCliFakeTest, PodFlagsAndCredsReachTheRequest) {
  RunResult r = Pull({"--namespace", "payments", "--pod", "api-7f9", "--pod-uid", "u-123",
                      "--creds", "alice:pa:ss", "reg.example/app:1.0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "sha256:" + std::string(64, 'a') + "\n");
  runtime::v1::PullImageRequest got = service_.last();
  EXPECT_EQ(got.image().image(), "reg.example/app:1.0");
  ASSERT_TRUE(got.has_sandbox_config());
  EXPECT_EQ(got.sandbox_config().metadata().namespace_(), "payments");
  EXPECT_EQ(got.sandbox_config().metadata().name(), "api-7f9");
  EXPECT_EQ(got.sandbox_config().metadata().uid(), "u-123");
  EXPECT_EQ(got.auth().username(), "alice");
  EXPECT_EQ(got.auth().password(), "pa:ss");
  // Default pull deadline: 2 minutes.
  EXPECT_GT(service_.deadline_left(), std::chrono::seconds(100));
  EXPECT_LE(service_.deadline_left(), std::chrono::seconds(120));
}

TEST_F(CriCliFakeTest, WithoutPodFlagsThereIsNoSandboxConfigAndTimeoutApplies) {
  RunResult r = Pull({"--timeout", "7s", "reg.example/app:1.0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  runtime::v1::PullImageRequest got = service_.last();
  EXPECT_FALSE(got.has_sandbox_config());
  EXPECT_FALSE(got.has_auth());
  EXPECT_LE(service_.deadline_left(), std::chrono::seconds(7));
  EXPECT_GT(service_.deadline_left(), std::chrono::seconds(4));
}

TEST_F(CriCliFakeTest, TheRuntimesErrorIsPrintedVerbatim) {
  const std::string message =
      "layerseal: image reg.example/app:1.0 denied by policy \"prod\": no valid signature "
      "(keyId sha256:ab…); see `layerseal verify`";
  service_.Answer(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message));
  RunResult r = Pull({"--namespace", "prod", "reg.example/app:1.0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "layerseal cri pull: PERMISSION_DENIED: " + message + "\n");
}

}  // namespace
}  // namespace layerseal
