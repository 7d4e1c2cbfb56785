// The Kubernetes API client's pure parts (controller/kube/client.h, issue 19): kubeconfig and
// in-cluster configuration, StatusFromResponse, EscapePathSegment, the request checks made
// before anything is sent, and DoWithRetry over a scripted ApiTransport. The client against a
// real kube-apiserver: tests/integration/kube_client_apiserver_test.cc.
#include "controller/kube/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace layerseal::controller::kube {
namespace {

using testing::TempDir;
using testing::WriteFileOrDie;

bool Contains(const absl::Status& s, std::string_view text) {
  return Sv(s.message()).find(text) != std::string_view::npos;
}

constexpr char kGoodKubeconfig[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: other
  cluster:
    server: https://other.example:6443
- name: dev-cluster
  cluster:
    server: https://api.example:6443/
    certificate-authority: certs/ca.pem
users:
- name: dev-user
  user:
    tokenFile: secrets/token
    client-certificate: certs/client.pem
    client-key: /abs/client.key
- name: data-user
  user:
    token: abc.def-ghi
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: ignored
- name: data
  context:
    cluster: other
    user: data-user
)";

TEST(KubeconfigTest, CurrentContextWithRelativePaths) {
  absl::StatusOr<ClientConfig> c = ParseKubeconfig(kGoodKubeconfig, "/home/me/.kube", "", "/home/me/.kube/config");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://api.example:6443");
  EXPECT_EQ(c->ca_file, "/home/me/.kube/certs/ca.pem");
  EXPECT_EQ(c->token_file, "/home/me/.kube/secrets/token");
  EXPECT_EQ(c->client_cert_file, "/home/me/.kube/certs/client.pem");
  EXPECT_EQ(c->client_key_file, "/abs/client.key");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->source, "kubeconfig /home/me/.kube/config (context dev)");
}

TEST(KubeconfigTest, NamedContextWithInlineData) {
  absl::StatusOr<ClientConfig> c = ParseKubeconfig(kGoodKubeconfig, "/d", "data");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://other.example:6443");
  EXPECT_EQ(c->token, "abc.def-ghi");
  EXPECT_EQ(c->client_cert_data, "CERT");
  EXPECT_EQ(c->client_key_data, "KEY");
  EXPECT_TRUE(c->ca_file.empty());
  EXPECT_TRUE(c->ca_data.empty());
}

TEST(KubeconfigTest, LoadKubeconfigResolvesAgainstTheFilesDirectory) {
  TempDir dir;
  WriteFileOrDie(dir.File("config"), kGoodKubeconfig);
  absl::StatusOr<ClientConfig> c = LoadKubeconfig(dir.File("config"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ca_file, dir.File("certs/ca.pem"));
  EXPECT_EQ(c->token_file, dir.File("secrets/token"));
}

TEST(KubeconfigTest, MissingContextIsNamed) {
  absl::StatusOr<ClientConfig> c = ParseKubeconfig(kGoodKubeconfig, "/d", "prod");
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  EXPECT_TRUE(Contains(c.status(), "contexts: no entry named \"prod\"")) << c.status();

  absl::StatusOr<ClientConfig> none =
      ParseKubeconfig("clusters: []\ncontexts: []\nusers: []\n", "/d");
  EXPECT_TRUE(absl::IsInvalidArgument(none.status()));
  EXPECT_TRUE(Contains(none.status(), "current-context: not set")) << none.status();

  std::string dangling = R"(current-context: x
contexts: [{name: x, context: {cluster: gone, user: u}}]
clusters: []
)";
  absl::StatusOr<ClientConfig> missing_cluster = ParseKubeconfig(dangling, "/d");
  EXPECT_TRUE(Contains(missing_cluster.status(), "clusters: no entry named \"gone\""))
      << missing_cluster.status();
}

std::string WithUser(const std::string& user_yaml) {
  return StrCat("current-context: c\n"
                "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                "clusters: [{name: k, cluster: {server: 'https://k:443'}}]\n"
                "users:\n- name: u\n  user:\n",
                user_yaml);
}

TEST(KubeconfigTest, PluginsAndOtherUnsupportedUsersAreRefusedByName) {
  struct Case {
    std::string user;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {"    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n",
            "users[0].user.exec: exec plugins are not supported"},
           {"    auth-provider: {name: gcp}\n",
            "users[0].user.auth-provider: auth-provider plugins are not supported"},
           {"    username: a\n    password: b\n", "users[0].user.username"},
           {"    token: t\n    as: admin\n", "users[0].user.as: impersonation"},
           {"    client-certificate: c.pem\n", "users[0].user.client-key"},
           {"    client-key-data: S0VZ\n    client-key: k.pem\n    client-certificate: c.pem\n",
            "users[0].user.client-key-data: client-key is set too"},
           {"    token: \"a b\"\n", "users[0].user.token"},
       }) {
    absl::StatusOr<ClientConfig> config = ParseKubeconfig(WithUser(c.user), "/d");
    EXPECT_TRUE(absl::IsInvalidArgument(config.status())) << c.user << config.status();
    EXPECT_TRUE(Contains(config.status(), c.field)) << config.status();
  }
}

std::string WithCluster(const std::string& cluster_yaml) {
  return StrCat("current-context: c\n"
                "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                "users: [{name: u, user: {token: t}}]\n"
                "clusters:\n- name: k\n  cluster:\n",
                cluster_yaml);
}

TEST(KubeconfigTest, BadClustersAreRefusedByField) {
  struct Case {
    std::string cluster;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {"    server: https://k\n    certificate-authority-data: '%%%not base64'\n",
            "clusters[0].cluster.certificate-authority-data: not valid base64"},
           {"    server: https://k\n    certificate-authority-data: Q0E=\n"
            "    certificate-authority: ca.pem\n",
            "clusters[0].cluster.certificate-authority-data: certificate-authority is set too"},
           {"    server: https://k\n    certificate-authority: ca.pem\n"
            "    insecure-skip-tls-verify: true\n",
            "clusters[0].cluster.insecure-skip-tls-verify"},
           {"    server: https://k\n    insecure-skip-tls-verify: maybe\n",
            "clusters[0].cluster.insecure-skip-tls-verify: not a boolean"},
           {"    certificate-authority: ca.pem\n", "clusters[0].cluster.server: not set"},
           {"    server: http://api.example:8080\n", "clusters[0].cluster.server"},
           {"    server: ftp://k\n", "not an https:// URL"},
           {"    server: https://user@k\n", "has user info"},
           {"    server: https://k:99999\n", "has a bad port"},
           {"    server: https://k\n    tls-server-name: other\n",
            "clusters[0].cluster.tls-server-name: not supported"},
           {"    server: [a, b]\n", "clusters[0].cluster.server: not a string"},
       }) {
    absl::StatusOr<ClientConfig> config = ParseKubeconfig(WithCluster(c.cluster), "/d");
    EXPECT_TRUE(absl::IsInvalidArgument(config.status())) << c.cluster << config.status();
    EXPECT_TRUE(Contains(config.status(), c.field)) << config.status();
  }
  absl::StatusOr<ClientConfig> insecure =
      ParseKubeconfig(WithCluster("    server: https://k\n    insecure-skip-tls-verify: true\n"), "/d");
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_TRUE(insecure->insecure_skip_tls_verify);
  absl::StatusOr<ClientConfig> loopback =
      ParseKubeconfig(WithCluster("    server: http://127.0.0.1:8080\n"), "/d");
  EXPECT_TRUE(loopback.ok()) << loopback.status();
}

TEST(KubeconfigTest, NotYamlOrNotAMapIsInvalid) {
  for (std::string_view bad : {"{", "just a string", "- a\n- b\n", "clusters: 7\ncurrent-context: c\n",
                               "current-context: c\ncontexts: [7]\n"}) {
    absl::StatusOr<ClientConfig> c = ParseKubeconfig(bad, "/d");
    EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << bad << c.status();
  }
}

TEST(KubeconfigTest, HugeFileIsRefusedBeforeParsing) {
  TempDir dir;
  std::string huge = StrCat(kGoodKubeconfig, "# ", std::string(kMaxKubeconfigBytes, 'x'), "\n");
  WriteFileOrDie(dir.File("config"), huge);
  absl::StatusOr<ClientConfig> c = LoadKubeconfig(dir.File("config"));
  EXPECT_TRUE(absl::IsResourceExhausted(c.status())) << c.status();
  EXPECT_TRUE(absl::IsResourceExhausted(ParseKubeconfig(huge, "/d").status()));
  absl::StatusOr<ClientConfig> missing = LoadKubeconfig(dir.File("nope"));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

// Sets or unsets environment variables for one test, restoring them after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

TEST(InClusterConfigTest, ServiceAccountDirAndEnvironment) {
  TempDir sa;
  WriteFileOrDie(sa.File("token"), "tok\n");
  WriteFileOrDie(sa.File("ca.crt"), "-----BEGIN CERTIFICATE-----\n");
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
    absl::StatusOr<ClientConfig> c = InClusterConfig(sa.path());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->server, "https://10.96.0.1:443");
    EXPECT_EQ(c->token_file, sa.File("token"));
    EXPECT_EQ(c->ca_file, sa.File("ca.crt"));
    EXPECT_EQ(c->source, "in-cluster");
  }
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00::1");
    ScopedEnv port("KUBERNETES_SERVICE_PORT", "6443");
    absl::StatusOr<ClientConfig> c = InClusterConfig(sa.path());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->server, "https://[fd00::1]:6443");
  }
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    ScopedEnv port("KUBERNETES_SERVICE_PORT", "https");
    EXPECT_TRUE(absl::IsInvalidArgument(InClusterConfig(sa.path()).status()));
  }
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
    ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
    absl::StatusOr<ClientConfig> c = InClusterConfig(sa.path());
    EXPECT_TRUE(absl::IsFailedPrecondition(c.status()));
    EXPECT_TRUE(Contains(c.status(), "KUBERNETES_SERVICE_HOST is unset")) << c.status();
  }
  {
    ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
    TempDir empty;
    absl::StatusOr<ClientConfig> c = InClusterConfig(empty.path());
    EXPECT_TRUE(absl::IsFailedPrecondition(c.status()));
    EXPECT_TRUE(Contains(c.status(), empty.File("token"))) << c.status();
  }
}

TEST(ResolveClientConfigTest, SettingThenKubeconfigEnvThenInCluster) {
  TempDir dir;
  WriteFileOrDie(dir.File("config"), kGoodKubeconfig);
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  {
    ScopedEnv env("KUBECONFIG", StrCat(":", dir.File("config"), ":", dir.File("second")).c_str());
    absl::StatusOr<ClientConfig> c = ResolveClientConfig("");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->server, "https://api.example:6443");
    // "in-cluster" ignores KUBECONFIG.
    EXPECT_TRUE(absl::IsFailedPrecondition(ResolveClientConfig("in-cluster").status()));
    // A path ignores it too.
    EXPECT_TRUE(absl::IsNotFound(ResolveClientConfig(dir.File("nope")).status()));
  }
  {
    ScopedEnv env("KUBECONFIG", nullptr);
    absl::StatusOr<ClientConfig> c = ResolveClientConfig("");
    EXPECT_TRUE(absl::IsFailedPrecondition(c.status())) << c.status();
  }
}

TEST(ClientCreateTest, ChecksFieldsAndFilesNow) {
  TempDir dir;
  ClientConfig base;
  base.server = "https://127.0.0.1:6443";
  {
    ClientConfig c = base;
    c.token_file = dir.File("missing-token");
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(c);
    EXPECT_TRUE(absl::IsNotFound(client.status())) << client.status();
    EXPECT_TRUE(Contains(client.status(), "token_file")) << client.status();
  }
  {
    ClientConfig c = base;
    c.ca_file = dir.File("missing-ca");
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(c);
    EXPECT_TRUE(Contains(client.status(), "ca_file")) << client.status();
  }
  {
    ClientConfig c = base;
    c.client_cert_data = "CERT";
    EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(c).status()));
  }
  {
    ClientConfig c = base;
    c.server = "https://k8s.example/prefix?x=1";
    EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(c).status()));
  }
  {
    ClientConfig c = base;
    WriteFileOrDie(dir.File("token"), "line1\nline2\n");
    c.token_file = dir.File("token");
    EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(c).status()));
  }
  {
    ClientConfig c = base;
    WriteFileOrDie(dir.File("big-token"), std::string(kMaxTokenBytes + 1, 'a'));
    c.token_file = dir.File("big-token");
    EXPECT_TRUE(absl::IsResourceExhausted(Client::Create(c).status()));
  }
  absl::StatusOr<std::unique_ptr<Client>> ok = Client::Create(base);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->config().server, "https://127.0.0.1:6443");
}

TEST(ClientDoTest, RequestsAreCheckedBeforeSending) {
  // Port 1 on loopback: nothing listens, so anything that got sent would be UNAVAILABLE.
  ClientConfig c;
  c.server = "http://127.0.0.1:1";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(c);
  ASSERT_TRUE(client.ok()) << client.status();
  Client& k = **client;
  EXPECT_TRUE(absl::IsInvalidArgument(k.Do("GET", "api/v1").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(k.Do("GET", "/api/v1/namespaces/../secrets").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(k.Do("GET", "/api/v1/x y").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(k.Do("GET", "/api/v1/x\r\nHost: evil").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(k.Do("TRACE", "/api/v1").status()));
  EXPECT_TRUE(absl::IsResourceExhausted(
      k.Do("POST", "/api/v1/namespaces/a/events", std::string(kMaxRequestBytes + 1, 'x')).status()));
  absl::StatusOr<Response> refused = k.Do("GET", "/api/v1/namespaces/a/pods/p");
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_TRUE(Contains(refused.status(), "http://127.0.0.1:1/api/v1/namespaces/a/pods/p"))
      << refused.status();
}

// A one-connection-at-a-time HTTP/1.1 server on loopback with canned answers: what the
// client sends (request line, headers, body) is recorded; each answer closes its connection.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::vector<std::string> answers) : answers_(std::move(answers)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedHttpServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return StrCat("http://127.0.0.1:", port_); }
  std::vector<std::string> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (const std::string& answer : answers_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      size_t want = std::string::npos;
      while (request.size() < want) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
        size_t end = request.find("\r\n\r\n");
        if (want == std::string::npos && end != std::string::npos) {
          size_t length = 0;
          size_t at = AsciiLowerCopy(request).find("content-length:");
          if (at != std::string::npos && at < end) length = std::strtoul(request.c_str() + at + 15, nullptr, 10);
          want = end + 4 + length;
        }
      }
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      for (size_t sent = 0; sent < answer.size();) {
        ssize_t n = send(c, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      close(c);
    }
  }
  static std::string AsciiLowerCopy(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  std::vector<std::string> answers_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::string> requests_;
};

std::string Answer(int status, const std::string& body, const std::string& extra_headers = "") {
  return StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: ", body.size(),
                "\r\nConnection: close\r\n", extra_headers, "\r\n", body);
}

TEST(ClientHttpTest, SendsTokenAndContentTypeAndReadsRetryAfter) {
  CannedHttpServer server({Answer(429, R"({"kind":"Status","message":"slow down"})", "Retry-After: 7\r\n"),
                           Answer(200, "{}")});
  ClientConfig c;
  c.server = server.url();
  c.token = "tok.en";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(c);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Response> r = (*client)->Do("PATCH", "/api/v1/namespaces/a/events/e",
                                             R"({"count":2})", "application/merge-patch+json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->retry_after, "7");
  EXPECT_EQ(StatusFromResponse(*r, "patch").message(), "patch: HTTP 429: slow down");
  r = (*client)->Do("GET", "/api/v1/namespaces/a/pods/p");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->retry_after.empty());
  std::vector<std::string> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].substr(0, requests[0].find('\r')), "PATCH /api/v1/namespaces/a/events/e HTTP/1.1");
  EXPECT_NE(requests[0].find("Authorization: Bearer tok.en\r\n"), std::string::npos) << requests[0];
  EXPECT_NE(requests[0].find("Content-Type: application/merge-patch+json\r\n"), std::string::npos);
  EXPECT_NE(requests[0].find("\r\n\r\n{\"count\":2}"), std::string::npos);
  EXPECT_EQ(requests[1].find("Content-Type:"), std::string::npos) << requests[1];
}

TEST(ClientHttpTest, AnswersOverTheCapAreRefused) {
  std::string big(kMaxResponseBytes + 1, 'x');
  // Announced by Content-Length, and not announced (read until the connection closes).
  CannedHttpServer server({Answer(200, big),
                           StrCat("HTTP/1.1 200 X\r\nConnection: close\r\n\r\n", big)});
  ClientConfig c;
  c.server = server.url();
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(c);
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Response> r = (*client)->Do("GET", "/api/v1/namespaces/a/pods/p");
    EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << i << " " << r.status();
  }
}

TEST(ClientHttpTest, TokenFileIsReadAgainWhenItChanges) {
  CannedHttpServer server({Answer(200, "{}"), Answer(200, "{}"), Answer(200, "{}")});
  TempDir dir;
  WriteFileOrDie(dir.File("token"), "first\n");
  ClientConfig c;
  c.server = server.url();
  c.token_file = dir.File("token");
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(c);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Do("GET", "/a").ok());
  WriteFileOrDie(dir.File("token.new"), "second-token\n");
  ASSERT_EQ(std::rename(dir.File("token.new").c_str(), dir.File("token").c_str()), 0);
  ASSERT_TRUE((*client)->Do("GET", "/b").ok());
  std::remove(dir.File("token").c_str());  // missing: the last good token is used
  ASSERT_TRUE((*client)->Do("GET", "/c").ok());
  std::vector<std::string> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_NE(requests[0].find("Bearer first\r\n"), std::string::npos);
  EXPECT_NE(requests[1].find("Bearer second-token\r\n"), std::string::npos);
  EXPECT_NE(requests[2].find("Bearer second-token\r\n"), std::string::npos);
}

TEST(EscapePathSegmentTest, EncodesAllButUnreserved) {
  EXPECT_EQ(EscapePathSegment("web-7d9f.abc_x~"), "web-7d9f.abc_x~");
  EXPECT_EQ(EscapePathSegment("a/b c?d#e%"), "a%2Fb%20c%3Fd%23e%25");
  EXPECT_EQ(EscapePathSegment(".."), "%2E%2E");
  EXPECT_EQ(EscapePathSegment("."), "%2E");
  EXPECT_EQ(EscapePathSegment(std::string("\xff\0", 2)), "%FF%00");
}

TEST(StatusFromResponseTest, CodesFollowTheHttpStatusAndCarryTheApiMessage) {
  EXPECT_TRUE(StatusFromResponse({200, "{}", ""}, "x").ok());
  EXPECT_TRUE(StatusFromResponse({201, "", ""}, "x").ok());
  std::string not_found =
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"web\" not found","reason":"NotFound","code":404})";
  absl::Status s = StatusFromResponse({404, not_found, ""}, "get pod apps/web");
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_EQ(s.message(), "get pod apps/web: HTTP 404: pods \"web\" not found");
  EXPECT_TRUE(absl::IsAlreadyExists(StatusFromResponse(
      {409, R"({"kind":"Status","reason":"AlreadyExists","message":"exists"})", ""}, "x")));
  EXPECT_TRUE(absl::IsAborted(StatusFromResponse(
      {409, R"({"kind":"Status","reason":"Conflict","message":"the object has been modified"})", ""},
      "x")));
  EXPECT_TRUE(absl::IsUnauthenticated(StatusFromResponse({401, "", ""}, "x")));
  EXPECT_TRUE(absl::IsPermissionDenied(StatusFromResponse({403, "{}", ""}, "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(StatusFromResponse({422, "{}", ""}, "x")));
  EXPECT_TRUE(absl::IsResourceExhausted(StatusFromResponse({429, "", "1"}, "x")));
  for (long code : {500L, 502L, 503L, 504L}) {
    EXPECT_TRUE(absl::IsUnavailable(StatusFromResponse({code, "", ""}, "x"))) << code;
  }
  // Not JSON: the body's first bytes, made printable.
  absl::Status text = StatusFromResponse({502, StrCat("bad\x01gateway ", std::string(1000, 'z')), ""}, "x");
  EXPECT_TRUE(Contains(text, "x: HTTP 502: bad?gateway zzz")) << text;
  EXPECT_LT(text.message().size(), 400u);
  // JSON whose message is not a string, or a list: the body.
  EXPECT_TRUE(Contains(StatusFromResponse({400, R"({"message": 7})", ""}, "x"), "HTTP 400: {\"message\": 7}"));
}

// A scripted transport: answers in order; records when each call came.
class ScriptedTransport : public ApiTransport {
 public:
  void Add(absl::StatusOr<Response> r) { script_.push_back(std::move(r)); }
  absl::StatusOr<Response> Do(std::string_view method, std::string_view path, std::string_view body,
                              std::string_view content_type) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(StrCat(method, " ", path, " ", body, " ", content_type));
    if (script_.empty()) return absl::InternalError("script exhausted");
    absl::StatusOr<Response> r = script_.front();
    script_.pop_front();
    return r;
  }
  size_t calls() {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }
  std::string call(size_t i) {
    absl::MutexLock lock(&mu_);
    return calls_.at(i);
  }

 private:
  absl::Mutex mu_;
  std::deque<absl::StatusOr<Response>> script_;
  std::vector<std::string> calls_;
};

RetryOptions Fast() {
  RetryOptions o;
  o.backoff = BackoffOptions{absl::Milliseconds(1), absl::Milliseconds(20), false};
  return o;
}

TEST(DoWithRetryTest, ServiceUnavailableThenOk) {
  ScriptedTransport t;
  t.Add(Response{503, "", ""});
  t.Add(absl::UnavailableError("connection refused"));
  t.Add(Response{200, "{}", ""});
  absl::StatusOr<Response> r =
      DoWithRetry(t, "POST", "/api/v1/namespaces/a/events", "{}", "application/json", Fast());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(t.calls(), 3u);
  EXPECT_EQ(t.call(2), "POST /api/v1/namespaces/a/events {} application/json");
}

TEST(DoWithRetryTest, TooManyRequestsHonoursRetryAfterCappedAtMax) {
  ScriptedTransport t;
  t.Add(Response{429, "", "1"});
  t.Add(Response{200, "", ""});
  RetryOptions o = Fast();
  o.backoff.max = absl::Seconds(10);
  absl::Time start = absl::Now();
  absl::StatusOr<Response> r = DoWithRetry(t, "GET", "/x", {}, "application/json", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // The backoff alone would have waited 1 ms: the server's second was honoured.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));

  // An hour asked for is capped at the backoff's max (20 ms here): no test waits an hour.
  ScriptedTransport capped;
  capped.Add(Response{429, "", "3600"});
  capped.Add(Response{200, "", ""});
  start = absl::Now();
  r = DoWithRetry(capped, "GET", "/x", {}, "application/json", Fast());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

TEST(DoWithRetryTest, ClientErrorsAreNotRetried) {
  for (long code : {400L, 401L, 403L, 404L, 409L, 422L}) {
    ScriptedTransport t;
    t.Add(Response{code, "{}", ""});
    t.Add(Response{200, "", ""});
    absl::StatusOr<Response> r = DoWithRetry(t, "GET", "/x", {}, "application/json", Fast());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, code);
    EXPECT_EQ(t.calls(), 1u) << code;
  }
  ScriptedTransport invalid;
  invalid.Add(absl::InvalidArgumentError("bad path"));
  EXPECT_TRUE(absl::IsInvalidArgument(DoWithRetry(invalid, "GET", "/x", {}, "a", Fast()).status()));
  EXPECT_EQ(invalid.calls(), 1u);
}

TEST(DoWithRetryTest, GivesUpAfterMaxAttemptsOrTheDeadline) {
  ScriptedTransport t;
  for (int i = 0; i < 10; ++i) t.Add(Response{503, "", ""});
  RetryOptions o = Fast();
  o.max_attempts = 3;
  absl::StatusOr<Response> r = DoWithRetry(t, "GET", "/x", {}, "application/json", o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(t.calls(), 3u);

  ScriptedTransport slow;
  for (int i = 0; i < 10; ++i) slow.Add(absl::DeadlineExceededError("timeout"));
  RetryOptions d;
  d.backoff = BackoffOptions{absl::Seconds(5), absl::Seconds(5), false};
  d.deadline = absl::Seconds(1);  // the first wait already passes it: one attempt only
  EXPECT_TRUE(absl::IsDeadlineExceeded(DoWithRetry(slow, "GET", "/x", {}, "a", d).status()));
  EXPECT_EQ(slow.calls(), 1u);
}

TEST(DoWithRetryTest, CancelStopsTheWait) {
  ScriptedTransport t;
  for (int i = 0; i < 5; ++i) t.Add(Response{503, "", ""});
  RetryOptions o;
  o.backoff = BackoffOptions{absl::Seconds(60), absl::Seconds(60), false};
  o.deadline = absl::Minutes(10);
  absl::Notification cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancel.Notify();
  });
  absl::Time start = absl::Now();
  absl::StatusOr<Response> r = DoWithRetry(t, "GET", "/x", {}, "a", o, &cancel);
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(t.calls(), 1u);
  // Already cancelled: no call at all.
  EXPECT_TRUE(absl::IsCancelled(DoWithRetry(t, "GET", "/x", {}, "a", o, &cancel).status()));
  EXPECT_EQ(t.calls(), 1u);
}

}  // namespace
}  // namespace layerseal::controller::kube
