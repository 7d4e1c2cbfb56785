// The Kubernetes API client (controller/kube/client.h, issue 19) against a real kube-apiserver
// (tests/support/kube_apiserver.h), as the controller's ServiceAccount identity bound to the
// chart's own ClusterRole (packaging/helm/layerseal/files/controller-clusterrole.yaml): the
// kubeconfig the harness writes, tokens (fixed, from a rotated file, wrong), client
// certificates (files and bytes), the CA (right and wrong), RBAC's answers as statuses, and an
// API server that goes away and comes back. One server for the suite.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "controller/kube/client.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/kube_apiserver.h"
#include "tests/support/process.h"

namespace layerseal::controller::kube {
namespace {

using nlohmann::json;

const std::string kClusterRoleFile =
    std::string(LAYERSEAL_SOURCE_DIR) + "/packaging/helm/layerseal/files/controller-clusterrole.yaml";
constexpr char kNamespace[] = "apps";
constexpr char kPod[] = "web";

class KubeClientApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::KubeApiServer>> server = testing::KubeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    ASSERT_TRUE(server_->ApplyYamlFile(kClusterRoleFile).ok());
    ASSERT_TRUE(server_->BindControllerClusterRole("layerseal-controller").ok());
    ASSERT_TRUE(server_->CreateNamespace(kNamespace).ok());
    absl::StatusOr<std::string> uid = server_->CreatePod(kNamespace, kPod, "registry.example/web:1");
    ASSERT_TRUE(uid.ok()) << uid.status();
    pod_uid_ = new std::string(*uid);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete pod_uid_;
  }

  static std::string EventsPath() {
    return StrCat("/api/v1/namespaces/", EscapePathSegment(kNamespace), "/events");
  }
  static std::string EventBody(const std::string& message) {
    return json{{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"generateName", StrCat(kPod, ".")}, {"namespace", kNamespace}}},
                {"involvedObject",
                 {{"kind", "Pod"}, {"namespace", kNamespace}, {"name", kPod}, {"uid", *pod_uid_},
                  {"apiVersion", "v1"}}},
                {"reason", "ImageSignatureDenied"},
                {"message", message},
                {"type", "Warning"},
                {"source", {{"component", "layerseal-controller"}}}}
        .dump();
  }
  // POSTs an Event; the status StatusFromResponse makes of the answer.
  static absl::Status CreateEvent(ApiTransport& client, const std::string& message) {
    absl::StatusOr<Response> r = client.Do("POST", EventsPath(), EventBody(message));
    if (!r.ok()) return r.status();
    return StatusFromResponse(*r, "create event");
  }
  static ClientConfig Base() {
    ClientConfig c;
    c.server = server_->url();
    c.ca_file = server_->ca_file();
    return c;
  }
  static std::unique_ptr<Client> MakeClient(ClientConfig config) {
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(std::move(config));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  static testing::KubeApiServer* server_;
  static std::string* pod_uid_;
};
testing::KubeApiServer* KubeClientApiServerTest::server_ = nullptr;
std::string* KubeClientApiServerTest::pod_uid_ = nullptr;

TEST_F(KubeClientApiServerTest, ControllerKubeconfigCreatesAnEventAndReadsThePod) {
  absl::StatusOr<ClientConfig> config = ResolveClientConfig(server_->ControllerKubeconfig());
  ASSERT_TRUE(config.ok()) << config.status();
  std::unique_ptr<Client> client = MakeClient(*config);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(CreateEvent(*client, "from the kubeconfig").ok());
  absl::StatusOr<Response> pod = client->Do(
      "GET", StrCat("/api/v1/namespaces/", kNamespace, "/pods/", EscapePathSegment(kPod)));
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_TRUE(StatusFromResponse(*pod, "get pod").ok()) << pod->body;
  EXPECT_EQ(json::parse(pod->body)["metadata"]["uid"], *pod_uid_);
  // The Event is there, as the admin sees it.
  absl::StatusOr<json> events = server_->Admin("GET", EventsPath());
  ASSERT_TRUE(events.ok()) << events.status();
  std::string name;
  for (const json& e : (*events)["items"]) {
    if (e.value("message", "") == "from the kubeconfig") name = e["metadata"]["name"];
  }
  ASSERT_FALSE(name.empty());
  // PATCH (merge patch), as the Pod Event publisher counts repeats; DELETE is not granted.
  std::string event_path = StrCat(EventsPath(), "/", EscapePathSegment(name));
  absl::StatusOr<Response> patched =
      client->Do("PATCH", event_path, R"({"count":2,"message":"patched"})",
                 "application/merge-patch+json");
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_TRUE(StatusFromResponse(*patched, "patch event").ok()) << patched->body;
  EXPECT_EQ(json::parse(patched->body)["count"], 2);
  absl::StatusOr<Response> deleted = client->Do("DELETE", event_path);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(absl::IsPermissionDenied(StatusFromResponse(*deleted, "delete event")));
}

TEST_F(KubeClientApiServerTest, WrongTokenIsUnauthenticatedAndForbiddenIsPermissionDenied) {
  ClientConfig wrong = Base();
  wrong.token = "not-the-token";
  std::unique_ptr<Client> stranger = MakeClient(wrong);
  ASSERT_NE(stranger, nullptr);
  absl::Status s = CreateEvent(*stranger, "x");
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;

  ClientConfig right = Base();
  right.token = server_->controller_token();
  std::unique_ptr<Client> controller = MakeClient(right);
  ASSERT_NE(controller, nullptr);
  absl::StatusOr<Response> secrets = controller->Do("GET", "/api/v1/namespaces/apps/secrets");
  ASSERT_TRUE(secrets.ok()) << secrets.status();
  absl::Status forbidden = StatusFromResponse(*secrets, "list secrets");
  EXPECT_TRUE(absl::IsPermissionDenied(forbidden)) << forbidden;
  // The API's own message, naming who was refused.
  EXPECT_NE(forbidden.message().find(server_->controller_user()), absl::string_view::npos)
      << forbidden;
  absl::StatusOr<Response> missing = controller->Do("GET", "/api/v1/namespaces/apps/pods/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(StatusFromResponse(*missing, "get pod")));
}

TEST_F(KubeClientApiServerTest, ClientCertificatesFromFilesAndBytes) {
  absl::StatusOr<testing::CertKey> cert = server_->ControllerClientCert();
  ASSERT_TRUE(cert.ok()) << cert.status();
  ClientConfig files = Base();
  files.client_cert_file = cert->cert;
  files.client_key_file = cert->key;
  std::unique_ptr<Client> by_file = MakeClient(files);
  ASSERT_NE(by_file, nullptr);
  absl::Status s = CreateEvent(*by_file, "client certificate file");
  EXPECT_TRUE(s.ok()) << s;

  ClientConfig data = Base();
  data.ca_file.clear();
  data.ca_data = testing::ReadFileOrDie(server_->ca_file());
  data.client_cert_data = testing::ReadFileOrDie(cert->cert);
  data.client_key_data = testing::ReadFileOrDie(cert->key);
  std::unique_ptr<Client> by_data = MakeClient(data);
  ASSERT_NE(by_data, nullptr);
  s = CreateEvent(*by_data, "client certificate data");
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(KubeClientApiServerTest, AnUnrelatedCaIsRefusedAndInsecureSkipsTheCheck) {
  testing::TempDir dir;
  absl::StatusOr<testing::RunResult> ca =
      testing::Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir.File("ca.key"), "-out",
                    dir.File("ca.pem"), "-days", "1", "-subj", "/CN=unrelated"});
  ASSERT_TRUE(ca.ok() && ca->exit_code == 0);
  ClientConfig wrong_ca = Base();
  wrong_ca.ca_file = dir.File("ca.pem");
  wrong_ca.token = server_->controller_token();
  std::unique_ptr<Client> client = MakeClient(wrong_ca);
  ASSERT_NE(client, nullptr);
  absl::Status s = CreateEvent(*client, "x");
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find(server_->url()), absl::string_view::npos) << s;

  ClientConfig insecure = Base();
  insecure.ca_file.clear();
  insecure.insecure_skip_tls_verify = true;
  insecure.token = server_->controller_token();
  client = MakeClient(insecure);
  ASSERT_NE(client, nullptr);
  s = CreateEvent(*client, "insecure");
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(KubeClientApiServerTest, RotatedTokenFileIsPickedUp) {
  testing::TempDir dir;
  std::string token_file = dir.File("token");
  testing::WriteFileOrDie(token_file, server_->controller_token() + "\n");
  ClientConfig config = Base();
  config.token_file = token_file;
  std::unique_ptr<Client> client = MakeClient(config);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(CreateEvent(*client, "first token").ok());
  // Replaced as the kubelet does it (a new file renamed in): a token the server refuses...
  testing::WriteFileOrDie(dir.File("token.new"), "revoked-token\n");
  std::filesystem::rename(dir.File("token.new"), token_file);
  EXPECT_TRUE(absl::IsUnauthenticated(CreateEvent(*client, "revoked")));
  // ...then the good one again.
  testing::WriteFileOrDie(dir.File("token.new"), server_->controller_token());
  std::filesystem::rename(dir.File("token.new"), token_file);
  absl::Status s = CreateEvent(*client, "rotated back");
  EXPECT_TRUE(s.ok()) << s;
  // Gone for a moment (a rotation in progress): the last good token is used.
  std::filesystem::remove(token_file);
  s = CreateEvent(*client, "file missing");
  EXPECT_TRUE(s.ok()) << s;
}

// Last: it restarts the server.
TEST_F(KubeClientApiServerTest, ZzApiServerDownIsUnavailableThenRetrySucceedsWhenBack) {
  absl::StatusOr<ClientConfig> config = LoadKubeconfig(server_->ControllerKubeconfig());
  ASSERT_TRUE(config.ok()) << config.status();
  std::unique_ptr<Client> client = MakeClient(*config);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(CreateEvent(*client, "before").ok());  // a pooled connection now exists

  ASSERT_TRUE(server_->StopApiServer().ok());
  absl::Time start = absl::Now();
  absl::StatusOr<Response> down = client->Do("POST", EventsPath(), EventBody("while down"));
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  // Quickly: a refused connection, not a timeout (generous bound for a loaded machine).
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));

  RetryOptions retry;
  retry.max_attempts = 1000;
  retry.backoff = BackoffOptions{absl::Milliseconds(200), absl::Seconds(1), true};
  retry.deadline = absl::Minutes(3);
  absl::StatusOr<Response> after = absl::UnknownError("not run");
  std::thread retrier([&] {
    after = DoWithRetry(*client, "POST", EventsPath(), EventBody("after restart"),
                        "application/json", retry);
  });
  absl::Status restarted = server_->RestartApiServer();
  retrier.join();
  ASSERT_TRUE(restarted.ok()) << restarted;
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(StatusFromResponse(*after, "create event").ok()) << after->status << after->body;
}

}  // namespace
}  // namespace layerseal::controller::kube
