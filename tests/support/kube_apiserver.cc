#include "tests/support/kube_apiserver.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "tests/support/kube_node.h"
#include "tests/support/shared_dir.h"
#include "verifier/digest.h"
#include "yaml-cpp/yaml.h"

namespace layerseal::testing {
namespace {

using nlohmann::json;

constexpr absl::Duration kEtcdStartTimeout = absl::Seconds(30);
constexpr absl::Duration kApiServerStartTimeout = absl::Seconds(90);
constexpr absl::Duration kEstablishTimeout = absl::Seconds(30);
constexpr absl::Duration kDiscoveryTimeout = absl::Seconds(15);
constexpr long kHarnessRequestTimeoutMs = 30000;
constexpr size_t kHarnessMaxBodyBytes = 64 << 20;

// Only what the controller and its tests use; apiregistration is required by the server.
constexpr char kRuntimeConfig[] =
    "api/all=false,api/v1=true,apiregistration.k8s.io/v1=true,"
    "rbac.authorization.k8s.io/v1=true,apiextensions.k8s.io/v1=true,events.k8s.io/v1=true,"
    "authorization.k8s.io/v1=true,authentication.k8s.io/v1=true";
// Every default admission plugin but NamespaceLifecycle: with no controller-manager, the
// ServiceAccount plugin would refuse Pods, and the rest need API groups that are off.
constexpr char kDisabledAdmission[] =
    "ServiceAccount,LimitRanger,TaintNodesByCondition,PodSecurity,Priority,"
    "DefaultTolerationSeconds,DefaultStorageClass,StorageObjectInUseProtection,"
    "PersistentVolumeClaimResize,RuntimeClass,CertificateApproval,CertificateSigning,"
    "CertificateSubjectRestriction,DefaultIngressClass,MutatingAdmissionWebhook,"
    "ValidatingAdmissionWebhook,ResourceQuota";

bool InPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string file = StrCat(dirs.substr(start, end - start), "/", program);
    if (access(file.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

std::string RandomToken() {
  std::random_device random;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(kHex[random() % 16]);
  return out;
}

absl::Status RunChecked(const std::vector<std::string>& argv) {
  absl::StatusOr<RunResult> r = Run(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(StrCat(argv[0], " exited ", r->exit_code, ": ", r->err));
  }
  return absl::OkStatus();
}

// `n` loopback ports free a moment ago, all different (PickFreePort may hand one out twice).
std::vector<int> DistinctFreePorts(size_t n) {
  std::set<int> ports;
  while (ports.size() < n) ports.insert(PickFreePort());
  return std::vector<int>(ports.begin(), ports.end());
}

// The binary, decompressed once per build dir: keyed by the .xz's SHA-256 so that a new
// binary in ../shared is picked up; written beside and renamed in, so that test processes
// starting at once never run a half-written file.
absl::StatusOr<std::string> CachedApiServerBinary() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::string xz = StrCat(SharedDir(), "/", kKubeApiserverXz);
  if (!std::filesystem::exists(xz)) {
    return absl::FailedPreconditionError(
        StrCat(xz, " is missing: the API-server suites need ../shared/bin beside the source "
                   "tree (or LAYERSEAL_SHARED_DIR)"));
  }
  Digest digest = Digest::Sha256Of(ReadFileOrDie(xz));
  std::string dir = StrCat(LAYERSEAL_BUILD_DIR, "/kube-apiserver/", digest.hex().substr(0, 16));
  std::string binary = dir + "/kube-apiserver";
  if (access(binary.c_str(), X_OK) == 0) return binary;
  std::filesystem::create_directories(dir);
  std::string staging = StrCat(dir, "/unpack-", getpid());
  std::filesystem::create_directories(staging);
  absl::StatusOr<std::string> unpacked = UnpackSharedProgram("kube-apiserver", staging);
  if (!unpacked.ok()) return unpacked.status();
  std::error_code ec;
  std::filesystem::rename(*unpacked, binary, ec);
  std::filesystem::remove_all(staging);
  if (ec) return absl::InternalError(StrCat("rename to ", binary, ": ", ec.message()));
  return binary;
}

// YAML → JSON as the API server reads manifests: quoted scalars are strings; plain ones are
// null, booleans, integers or floats when they look like one (YAML 1.2 core schema).
json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const YAML::Node& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& text = node.Scalar();
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return text;
  if (text == "null" || text == "~" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (!text.empty() && text.find_first_not_of("-+0123456789") == std::string::npos) {
    json number = json::parse(text[0] == '+' ? text.substr(1) : text, nullptr, false);
    if (!number.is_discarded() && number.is_number()) return number;
  }
  if (!text.empty() && text.find_first_not_of("-+0123456789.eE") == std::string::npos) {
    json number = json::parse(text, nullptr, false);
    if (!number.is_discarded() && number.is_number()) return number;
  }
  return text;
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kHarnessMaxBodyBytes) return 0;
  body->append(data, size * count);
  return size * count;
}

std::string ApiMessage(const std::string& body) {
  json status = json::parse(body, nullptr, false);
  if (status.is_object() && status.contains("message") && status["message"].is_string()) {
    return status["message"].get<std::string>();
  }
  return body.substr(0, 512);
}

}  // namespace

// A TCP forwarder on 127.0.0.1:front to 127.0.0.1:back, listening only between Open() and
// Close(); a thread accepts, a thread per connection relays both ways.
class FrontDoor {
 public:
  FrontDoor(int front_port, int back_port) : front_port_(front_port), back_port_(back_port) {}
  ~FrontDoor() { Close(); }

  absl::Status Open() {
    Close();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(StrCat("socket: ", strerror(errno)));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = Loopback(front_port_);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 64) != 0) {
      std::string error = strerror(errno);
      close(fd);
      return absl::UnavailableError(StrCat("front door 127.0.0.1:", front_port_, ": ", error));
    }
    closing_ = false;
    listen_fd_ = fd;
    acceptor_ = std::thread([this] { AcceptLoop(); });
    return absl::OkStatus();
  }

  // Stops listening and cuts every relayed connection.
  void Close() {
    if (listen_fd_ < 0) return;
    closing_ = true;
    acceptor_.join();
    close(listen_fd_);
    listen_fd_ = -1;
    std::map<int, std::thread> relays;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
      relays.swap(relays_);
      finished_.clear();
    }
    for (auto& [id, t] : relays) t.join();
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    return addr;
  }

  // Joins the relay threads that have ended (one per connection: the harness's own requests
  // open a connection each, so they would pile up over a long suite).
  void ReapFinished() {
    std::vector<std::thread> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int id : finished_) {
        auto it = relays_.find(id);
        if (it == relays_.end()) continue;
        done.push_back(std::move(it->second));
        relays_.erase(it);
      }
      finished_.clear();
    }
    for (std::thread& t : done) t.join();
  }

  void AcceptLoop() {
    while (!closing_) {
      ReapFinished();
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      int backend = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr = Loopback(back_port_);
      if (backend < 0 || connect(backend, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (backend >= 0) close(backend);
        close(client);
        continue;
      }
      int one = 1;  // no Nagle delay on top of the peers' own
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.insert(client);
      open_fds_.insert(backend);
      int id = next_relay_id_++;
      relays_.emplace(id, std::thread([this, id, client, backend] { Relay(id, client, backend); }));
    }
  }

  void Relay(int id, int a, int b) {
    char buffer[64 * 1024];
    bool a_open = true, b_open = true;  // still reading from each side
    while (a_open || b_open) {
      pollfd fds[2] = {{a, static_cast<short>(a_open ? POLLIN : 0), 0},
                       {b, static_cast<short>(b_open ? POLLIN : 0), 0}};
      if (poll(fds, 2, 1000) < 0 && errno != EINTR) break;
      bool failed = false;
      for (int i = 0; i < 2 && !failed; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        int from = i == 0 ? a : b;
        int to = i == 0 ? b : a;
        ssize_t n = read(from, buffer, sizeof buffer);
        if (n <= 0) {
          (i == 0 ? a_open : b_open) = false;
          shutdown(to, SHUT_WR);
          if (n < 0) failed = true;
          continue;
        }
        for (ssize_t sent = 0; sent < n && !failed;) {
          ssize_t w = send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
          if (w <= 0) failed = true;
          else sent += w;
        }
      }
      if (failed) break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.erase(a);
    open_fds_.erase(b);
    close(a);
    close(b);
    finished_.push_back(id);
  }

  const int front_port_;
  const int back_port_;
  int listen_fd_ = -1;
  std::atomic<bool> closing_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::set<int> open_fds_;
  std::map<int, std::thread> relays_;  // by id; guarded by mu_
  std::vector<int> finished_;          // relays that ended, to join; guarded by mu_
  int next_relay_id_ = 0;              // the acceptor's only
};

KubeApiServer::KubeApiServer() = default;

absl::StatusOr<std::unique_ptr<KubeApiServer>> KubeApiServer::Start(Options options) {
  if (!InPath("etcd")) {
    return absl::FailedPreconditionError(
        "etcd is not installed: the API-server suites need Debian's etcd-server (scripts/setup)");
  }
  absl::StatusOr<std::string> binary = CachedApiServerBinary();
  if (!binary.ok()) return binary.status();
  std::unique_ptr<KubeApiServer> server(new KubeApiServer());
  server->options_ = std::move(options);
  server->binary_ = *binary;
  const std::string& dir = server->dir_.path();

  std::filesystem::create_directories(server->dir_.File("certs"));
  absl::StatusOr<TlsCerts> certs = MakeTlsCerts(server->dir_.File("certs"), {}, {});
  if (!certs.ok()) return certs.status();
  server->certs_ = *certs;
  // The ServiceAccount token signing key (EC P-256: quicker to make than RSA, and served).
  if (absl::Status s = RunChecked({"openssl", "ecparam", "-name", "prime256v1", "-genkey",
                                   "-noout", "-out", dir + "/sa.key"});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = RunChecked({"openssl", "ec", "-in", dir + "/sa.key", "-pubout", "-out",
                                   dir + "/sa.pub"});
      !s.ok()) {
    return s;
  }
  server->admin_token_ = RandomToken();
  server->controller_token_ = RandomToken();
  const std::string& ns = server->options_.service_account_namespace;
  WriteFileOrDie(dir + "/tokens.csv",
                 StrCat(server->admin_token_, ",admin,admin-uid,system:masters\n",
                        server->controller_token_, ",", server->controller_user(),
                        ",controller-uid,\"system:serviceaccounts,system:serviceaccounts:", ns,
                        "\"\n"),
                 0600);

  std::vector<int> ports = DistinctFreePorts(4);
  server->etcd_port_ = ports[0];
  int peer_port = ports[1];
  std::string client_url = StrCat("http://127.0.0.1:", server->etcd_port_);
  std::string peer_url = StrCat("http://127.0.0.1:", peer_port);
  absl::StatusOr<std::unique_ptr<Child>> etcd = Child::Spawn(
      {"etcd", "--name", "default", "--data-dir", dir + "/etcd", "--listen-client-urls",
       client_url, "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
       "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
       StrCat("default=", peer_url)},
      dir + "/etcd.log");
  if (!etcd.ok()) return etcd.status();
  server->etcd_ = *std::move(etcd);
  if (!WaitForPort(server->etcd_port_, kEtcdStartTimeout) || !server->etcd_->Running()) {
    return absl::UnavailableError(
        StrCat("etcd did not start; log:\n", ReadFileOrDie(dir + "/etcd.log")));
  }
  server->port_ = ports[2];
  server->backend_port_ = ports[3];
  server->front_ = std::make_unique<FrontDoor>(server->port_, server->backend_port_);
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

absl::Status KubeApiServer::Launch() {
  const std::string& dir = dir_.path();
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(
      {binary_, "--etcd-servers", StrCat("http://127.0.0.1:", etcd_port_), "--bind-address",
       "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port",
       std::to_string(backend_port_), "--tls-cert-file", certs_.server.cert, "--tls-private-key-file",
       certs_.server.key, "--client-ca-file", certs_.ca.cert, "--service-account-issuer",
       "https://kubernetes.default.svc", "--service-account-key-file", dir + "/sa.pub",
       "--service-account-signing-key-file", dir + "/sa.key", "--token-auth-file",
       dir + "/tokens.csv", "--authorization-mode", "RBAC", "--runtime-config", kRuntimeConfig,
       "--disable-admission-plugins", kDisabledAdmission, "--enable-priority-and-fairness=false",
       "--endpoint-reconciler-type", "none", "--profiling=false",
       "--service-cluster-ip-range", "10.0.0.0/24"},
      dir + "/kube-apiserver.log");
  if (!child.ok()) return child.status();
  apiserver_ = *std::move(child);
  absl::Time deadline = absl::Now() + kApiServerStartTimeout;
  bool ready = false;
  while (absl::Now() < deadline && apiserver_->Running()) {
    absl::StatusOr<Answer> readyz =
        RequestTo(backend_port_, admin_token_, "GET", "/readyz", "", "");
    if (readyz.ok() && readyz->status == 200) {
      absl::StatusOr<Answer> ns =
          RequestTo(backend_port_, admin_token_, "GET", "/api/v1/namespaces/default", "", "");
      if (ns.ok() && ns->status == 200) {
        ready = true;
        break;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!ready) {
    return absl::UnavailableError(StrCat(
        "kube-apiserver did not become ready within ", absl::FormatDuration(kApiServerStartTimeout),
        apiserver_->Running() ? "" : " (it exited)", "; log:\n", Log()));
  }
  last_start_time_ = absl::Now() - start;
  return front_->Open();
}

KubeApiServer::~KubeApiServer() {
  if (front_) front_->Close();
  if (apiserver_) apiserver_->Stop();
  if (etcd_) etcd_->Stop();
}

absl::Status KubeApiServer::StopApiServer() {
  front_->Close();
  if (apiserver_) apiserver_->Stop();
  apiserver_.reset();
  return absl::OkStatus();
}

absl::Status KubeApiServer::RestartApiServer() {
  if (absl::Status s = StopApiServer(); !s.ok()) return s;
  return Launch();
}

std::string KubeApiServer::url() const { return StrCat("https://127.0.0.1:", port_); }
std::string KubeApiServer::ca_file() const { return certs_.ca.cert; }
std::string KubeApiServer::admin_token() const { return admin_token_; }
std::string KubeApiServer::controller_token() const { return controller_token_; }
std::string KubeApiServer::controller_user() const {
  return StrCat("system:serviceaccount:", options_.service_account_namespace, ":",
                options_.service_account_name);
}

std::string KubeApiServer::Log() const {
  std::string log = ReadFileOrDie(dir_.File("kube-apiserver.log"));
  constexpr size_t kTail = 16 * 1024;
  return log.size() > kTail ? "..." + log.substr(log.size() - kTail) : log;
}

std::string KubeApiServer::ControllerKubeconfig() {
  if (!kubeconfig_.empty()) return kubeconfig_;
  kubeconfig_ = dir_.File("controller.kubeconfig");
  WriteFileOrDie(kubeconfig_,
                 StrCat("apiVersion: v1\n"
                        "kind: Config\n"
                        "clusters:\n"
                        "- name: test\n"
                        "  cluster:\n"
                        "    server: ", url(), "\n"
                        "    certificate-authority: ", ca_file(), "\n"
                        "users:\n"
                        "- name: controller\n"
                        "  user:\n"
                        "    token: ", controller_token_, "\n"
                        "contexts:\n"
                        "- name: controller\n"
                        "  context:\n"
                        "    cluster: test\n"
                        "    user: controller\n"
                        "current-context: controller\n"),
                 0600);
  return kubeconfig_;
}

absl::StatusOr<CertKey> KubeApiServer::ControllerClientCert() {
  if (controller_cert_) return *controller_cert_;
  absl::StatusOr<CertKey> cert = AddClientCert(
      certs_, controller_user(), false,
      StrCat("system:serviceaccounts/O=system:serviceaccounts:",
             options_.service_account_namespace));
  if (!cert.ok()) return cert.status();
  controller_cert_ = std::make_unique<CertKey>(*cert);
  return *cert;
}

absl::StatusOr<KubeApiServer::Answer> KubeApiServer::Request(const std::string& token,
                                                              const std::string& method,
                                                              const std::string& path,
                                                              const std::string& body,
                                                              const std::string& content_type) {
  return RequestTo(port_, token, method, path, body, content_type);
}

absl::StatusOr<KubeApiServer::Answer> KubeApiServer::RequestTo(int port, const std::string& token,
                                                                const std::string& method,
                                                                const std::string& path,
                                                                const std::string& body,
                                                                const std::string& content_type) {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) return absl::InternalError("curl_global_init failed");
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  CURL* c = curl.get();
  std::string url_text = StrCat("https://127.0.0.1:", port, path);
  Answer answer;
  curl_slist* headers = nullptr;
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (!body.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, url_text.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca_file().c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kHarnessRequestTimeoutMs);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        StrCat(method, " ", url_text, ": ", curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

absl::StatusOr<json> KubeApiServer::Admin(const std::string& method, const std::string& path,
                                          const json& body) {
  absl::StatusOr<Answer> answer =
      Request(admin_token_, method, path, body.is_null() ? "" : body.dump(),
              method == "PATCH" ? "application/merge-patch+json" : "application/json");
  if (!answer.ok()) return answer.status();
  if (answer->status < 200 || answer->status >= 300) {
    std::string what = StrCat(method, " ", path, ": HTTP ", answer->status, ": ",
                              ApiMessage(answer->body));
    switch (answer->status) {
      case 404: return absl::NotFoundError(what);
      case 409: return absl::AlreadyExistsError(what);
      case 403: return absl::PermissionDeniedError(what);
      default: return absl::InternalError(what);
    }
  }
  json parsed = json::parse(answer->body, nullptr, false);
  if (parsed.is_discarded()) {
    return absl::InternalError(StrCat(method, " ", path, ": the answer is not JSON"));
  }
  return parsed;
}

// Creates `object` (or replaces the one that exists), finding its resource by discovery.
absl::Status KubeApiServer::Apply(json object) {
  std::string api_version = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  json metadata = object.value("metadata", json::object());
  std::string name = metadata.value("name", "");
  if (api_version.empty() || kind.empty() || name.empty()) {
    return absl::InvalidArgumentError("an object without apiVersion, kind or metadata.name");
  }
  std::string base = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  // Discovery: the plural and the scope. A CRD's group appears a moment after it is
  // Established, hence the retries.
  std::string plural;
  bool namespaced = false;
  absl::Time deadline = absl::Now() + kDiscoveryTimeout;
  while (plural.empty()) {
    absl::StatusOr<json> resources = Admin("GET", base);
    if (resources.ok() && resources->contains("resources")) {
      for (const json& r : (*resources)["resources"]) {
        if (r.value("kind", "") == kind && r.value("name", "").find('/') == std::string::npos) {
          plural = r.value("name", "");
          namespaced = r.value("namespaced", false);
        }
      }
    }
    if (!plural.empty()) break;
    if (absl::Now() >= deadline) {
      return absl::NotFoundError(StrCat("no resource of kind ", kind, " in ", api_version));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::string collection = base;
  if (namespaced) {
    std::string ns = metadata.value("namespace", "default");
    collection += "/namespaces/" + ns;
  }
  collection += "/" + plural;
  absl::StatusOr<json> created = Admin("POST", collection, object);
  if (absl::IsAlreadyExists(created.status())) {
    absl::StatusOr<json> existing = Admin("GET", collection + "/" + name);
    if (!existing.ok()) return existing.status();
    object["metadata"]["resourceVersion"] = (*existing)["metadata"]["resourceVersion"];
    created = Admin("PUT", collection + "/" + name, object);
  }
  if (!created.ok()) return created.status();
  if (kind != "CustomResourceDefinition") return absl::OkStatus();
  absl::Time established_by = absl::Now() + kEstablishTimeout;
  for (;;) {
    absl::StatusOr<json> crd = Admin("GET", collection + "/" + name);
    if (crd.ok()) {
      for (const json& c : crd->value("status", json::object()).value("conditions", json::array())) {
        if (c.value("type", "") == "Established" && c.value("status", "") == "True") {
          return absl::OkStatus();
        }
      }
    }
    if (absl::Now() >= established_by) {
      return absl::DeadlineExceededError(StrCat("CRD ", name, " not Established within ",
                                                absl::FormatDuration(kEstablishTimeout)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status KubeApiServer::ApplyYamlFile(const std::string& path) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAllFromFile(path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!docs[i].IsDefined() || docs[i].IsNull()) continue;
    json object;
    try {
      object = YamlToJson(docs[i]);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(StrCat(path, " document ", i, ": ", e.what()));
    }
    if (absl::Status s = Apply(std::move(object)); !s.ok()) {
      return absl::Status(s.code(), StrCat(path, " document ", i, ": ", Sv(s.message())));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> KubeApiServer::CreatePod(const std::string& ns, const std::string& name,
                                                     const std::string& image) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"containers", json::array({{{"name", "main"}, {"image", image}}})}}}};
  absl::StatusOr<json> created = Admin("POST", StrCat("/api/v1/namespaces/", ns, "/pods"), pod);
  if (!created.ok()) return created.status();
  return (*created)["metadata"].value("uid", "");
}

absl::Status KubeApiServer::CreateNamespace(const std::string& ns) {
  absl::StatusOr<json> created =
      Admin("POST", "/api/v1/namespaces",
            {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (absl::IsAlreadyExists(created.status())) return absl::OkStatus();
  return created.status();
}

absl::Status KubeApiServer::BindControllerClusterRole(const std::string& cluster_role) {
  json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "ClusterRoleBinding"},
      {"metadata", {{"name", cluster_role}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", cluster_role}}},
      {"subjects", json::array({{{"kind", "ServiceAccount"},
                                 {"name", options_.service_account_name},
                                 {"namespace", options_.service_account_namespace}}})}};
  return Apply(std::move(binding));
}

}  // namespace layerseal::testing
