#include "tests/support/registry_server.h"

#include <curl/curl.h>

#include <random>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";
constexpr int kStartAttempts = 4;
constexpr absl::Duration kRegistryStartTimeout = absl::Seconds(20);

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

absl::Status RunOk(const std::vector<std::string>& argv, std::string* out = nullptr) {
  absl::StatusOr<RunResult> r = Run(argv, "", absl::Seconds(60));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(StrCat(argv[0], " ", argv.size() > 1 ? argv[1] : "",
                                      " failed (exit ", r->exit_code, "): ", r->err));
  }
  if (out != nullptr) *out = r->out;
  return absl::OkStatus();
}

// A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl.
absl::Status MakeCertificates(const TempDir& dir) {
  const std::string ca_key = dir.File("ca.key"), ca = dir.File("ca.pem");
  const std::string key = dir.File("server.key"), csr = dir.File("server.csr");
  WriteFileOrDie(dir.File("server.ext"),
                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                 "basicConstraints=critical,CA:FALSE\n"
                 "keyUsage=critical,digitalSignature\n"
                 "extendedKeyUsage=serverAuth\n");
  if (absl::Status s = RunOk({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
                              "-out", ca, "-days", "2", "-subj", "/CN=layerseal test CA",
                              "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                              "keyUsage=critical,keyCertSign,cRLSign"});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = RunOk({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                              csr, "-subj", "/CN=localhost"});
      !s.ok()) {
    return s;
  }
  return RunOk({"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                "-set_serial", StrCat("0x", RandomHex(8)), "-days", "2", "-out",
                dir.File("server.pem"), "-extfile", dir.File("server.ext")});
}

std::string ConfigYaml(const TempDir& dir, int port, const RegistryServerOptions& o) {
  std::string yaml = StrCat(
      "version: 0.1\n"
      "log:\n"
      "  level: ", o.log_requests ? "info" : "warn", "\n"
      "  accesslog:\n"
      "    disabled: true\n"
      "storage:\n"
      "  filesystem:\n"
      "    rootdirectory: ", dir.File("storage"), "\n"
      "  delete:\n"
      "    enabled: true\n"
      "  maintenance:\n"
      "    uploadpurging:\n"
      "      enabled: false\n"
      "http:\n"
      "  addr: 127.0.0.1:", port, "\n"
      "  secret: ", RandomHex(16), "\n");
  if (o.tls) {
    yaml += StrCat("  tls:\n"
                   "    certificate: ", dir.File("server.pem"), "\n"
                   "    key: ", dir.File("server.key"), "\n");
  }
  if (!o.token_realm.empty()) {
    yaml += StrCat("auth:\n"
                   "  token:\n"
                   "    realm: ", o.token_realm, "\n"
                   "    service: ", kTokenService, "\n"
                   "    issuer: ", kTokenIssuer, "\n"
                   "    rootcertbundle: ", dir.File("ca.pem"), "\n");
  } else if (o.basic_auth) {
    yaml += StrCat("auth:\n"
                   "  htpasswd:\n"
                   "    realm: layerseal-test\n"
                   "    path: ", dir.File("htpasswd"), "\n");
  }
  return yaml;
}

// GET /v2/ answers (200, or 401 when auth is on).
bool Answers(const std::string& url, const std::string& ca_file) {
  CURL* c = curl_easy_init();
  if (c == nullptr) return false;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // loopback only, whatever the environment says
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status == 200 || status == 401;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryServer>> RegistryServer::Start(
    RegistryServerOptions options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<RegistryServer> server(new RegistryServer());
  server->options_ = options;
  const TempDir& dir = server->dir_;
  if (options.tls || !options.token_realm.empty()) {
    if (absl::Status s = MakeCertificates(dir); !s.ok()) return s;
    server->ca_cert_ = dir.File("ca.pem");
    server->ca_key_ = dir.File("ca.key");
  }
  if (options.tls) server->ca_file_ = server->ca_cert_;
  if (options.basic_auth) {
    std::string line;
    if (absl::Status s = RunOk({"htpasswd", "-Bbn", options.username, options.password}, &line);
        !s.ok()) {
      return s;
    }
    WriteFileOrDie(dir.File("htpasswd"), line, 0600);
  }
  const std::string log = dir.File("registry.log");
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    int port = PickFreePort();
    WriteFileOrDie(dir.File("config.yml"), ConfigYaml(dir, port, options));
    absl::StatusOr<std::unique_ptr<Child>> child =
        // An empty environment: REGISTRY_* variables would override the generated config.
        Child::Spawn({"/usr/bin/env", "-i", StrCat("HOME=", dir.path()), kRegistryBinary,
                      "serve", dir.File("config.yml")},
                     log);
    if (!child.ok()) return child.status();
    std::string url = StrCat(options.tls ? "https" : "http", "://127.0.0.1:", port, "/v2/");
    absl::Time deadline = absl::Now() + kRegistryStartTimeout;
    while (absl::Now() < deadline && (*child)->Running() && !Answers(url, server->ca_file_)) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    if ((*child)->Running() && Answers(url, server->ca_file_)) {
      server->port_ = port;
      server->host_ = StrCat("127.0.0.1:", port);
      server->child_ = *std::move(child);
      return server;
    }
    // Most likely the port was taken in the meantime: try another one.
    (*child)->Stop();
  }
  return absl::UnavailableError(StrCat("docker-registry did not start; log:\n",
                                       ReadFileOrDie(log)));
}

RegistryServer::~RegistryServer() {
  if (child_) child_->Stop();
}

registry::Options RegistryServer::ClientOptions() const {
  registry::Options o;
  o.plain_http = !options_.tls;
  o.ca_file = ca_file_;
  o.timeout = absl::Seconds(30);
  o.connect_timeout = absl::Seconds(5);
  o.max_retries = 2;
  o.initial_backoff = absl::Milliseconds(50);
  o.max_backoff = absl::Milliseconds(500);
  if (options_.basic_auth) {
    registry::Credentials c;
    c.username = options_.username;
    c.password = options_.password;
    o.credentials = registry::StaticCredentials(host_, c);
  }
  return o;
}

}  // namespace layerseal::testing
