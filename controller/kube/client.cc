#include "controller/kube/client.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/ascii.h"
#include "base/file.h"
#include "base/retry_after.h"
#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace layerseal::controller::kube {
namespace {

// The most of a non-JSON error body quoted in a message.
constexpr size_t kMaxQuotedKubeBodyBytes = 256;
constexpr char kKubeUserAgent[] = "layerseal-controller";

// ---- small text helpers ------------------------------------------------------------------

std::string_view TrimHttpSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' ||
                        s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// PrintableText ASCII only: what may go into a header or a message unescaped.
std::string PrintableText(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

// A bearer token goes into a header: visible ASCII only, no spaces inside.
absl::Status CheckBearerToken(std::string_view token, std::string_view what) {
  if (token.empty()) return absl::InvalidArgumentError(StrCat(what, ": the token is empty"));
  for (char c : token) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return absl::InvalidArgumentError(
          StrCat(what, ": the token has a character that cannot go into a header"));
    }
  }
  return absl::OkStatus();
}

absl::Status PrefixField(const absl::Status& s, std::string_view field) {
  return absl::Status(s.code(), StrCat(field, ": ", Sv(s.message())));
}

// ---- server URL --------------------------------------------------------------------------

// "https://host[:port][/prefix]" (or http on loopback): the server with no trailing '/'.
absl::StatusOr<std::string> CheckKubeServer(const std::string& server) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("server \"", PrintableText(server, 200), "\": ", why));
  };
  if (server.empty()) return absl::InvalidArgumentError("server: not set");
  std::string_view rest = server;
  bool http = false;
  if (rest.substr(0, 8) == "https://") {
    rest.remove_prefix(8);
  } else if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
    http = true;
  } else {
    return bad("not an https:// URL");
  }
  for (char c : rest) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return bad("has a space or control character");
    if (c == '?' || c == '#') return bad("has a query or fragment");
    if (c == '@') return bad("has user info");
    if (c == '\\') return bad("has a backslash");
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return bad("has no host");
  std::string_view host = authority;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed IPv6 bracket");
    std::string_view after = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!after.empty() && after.front() != ':') return bad("has text after the IPv6 address");
    authority = after;  // the ":port" part, checked below
  } else {
    size_t colon = host.find(':');
    authority = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
    host = host.substr(0, colon);
  }
  if (host.empty()) return bad("has no host");
  if (!authority.empty()) {
    std::string_view port = authority.substr(1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::atoi(std::string(port).c_str()) < 1 || std::atoi(std::string(port).c_str()) > 65535) {
      return bad("has a bad port");
    }
  }
  if (http && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    return bad("http:// is only for loopback (tests); use https://");
  }
  std::string out = server;
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

// ---- token file cache --------------------------------------------------------------------

struct TokenFileStamp {
  ino_t inode = 0;
  off_t size = -1;
  int64_t mtime_ns = -1;
  bool operator==(const TokenFileStamp& o) const {
    return inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
  }
};

absl::StatusOr<TokenFileStamp> TokenStampOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(StrCat("cannot stat \"", path, "\""));
  }
  return TokenFileStamp{st.st_ino, st.st_size,
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileLimited(path, kMaxTokenBytes, "token file");
  if (!bytes.ok()) return bytes.status();
  std::string token(TrimHttpSpace(*bytes));
  if (absl::Status s = CheckBearerToken(token, StrCat("token file \"", path, "\"")); !s.ok()) return s;
  return token;
}

// ---- libcurl -----------------------------------------------------------------------------

void EnsureCurlForKube() {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;
}

struct KubeExchange {
  Response* response = nullptr;
  bool too_large = false;
};

size_t OnKubeHeader(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<KubeExchange*>(user);
  size_t total = size * count;
  std::string_view line = TrimHttpSpace(std::string_view(data, total));
  if (line.substr(0, 5) == "HTTP/") {
    x->response->retry_after.clear();  // a new response (after a 100 Continue)
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    if (AsciiLower(TrimHttpSpace(line.substr(0, colon))) == "retry-after") {
      x->response->retry_after = PrintableText(TrimHttpSpace(line.substr(colon + 1)), 64);
    }
  }
  return total;
}

size_t OnKubeBody(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<KubeExchange*>(user);
  size_t total = size * count;
  if (x->response->body.size() + total > kMaxResponseBytes) {
    x->too_large = true;
    return 0;
  }
  x->response->body.append(data, total);
  return total;
}

bool AllowedKubeMethod(std::string_view m) {
  return m == "GET" || m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE";
}

// An absolute path (and query) with no byte libcurl or a proxy would reinterpret, and no
// "." or ".." segment (names are escaped with EscapePathSegment, which encodes those).
absl::Status CheckKubePath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(StrCat("path \"", PrintableText(path, 200), "\" is not absolute"));
  }
  for (char c : path) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      return absl::InvalidArgumentError(
          StrCat("path \"", PrintableText(path, 200), "\" has a character that must be escaped"));
    }
  }
  std::string_view segments = path.substr(0, path.find('?'));
  size_t start = 1;
  while (start <= segments.size()) {
    size_t end = segments.find('/', start);
    if (end == std::string_view::npos) end = segments.size();
    std::string_view seg = segments.substr(start, end - start);
    if (seg == "." || seg == "..") {
      return absl::InvalidArgumentError(StrCat("path \"", PrintableText(path, 200),
                                               "\" has a '.' or '..' segment"));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

// ---- kubeconfig --------------------------------------------------------------------------

std::string ListField(std::string_view list, size_t i, std::string_view rest) {
  return StrCat(list, "[", i, "].", rest);
}

absl::Status KubeconfigError(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(StrCat(field, ": ", why));
}

// A scalar field as a string; absent: "".
absl::StatusOr<std::string> YamlScalar(const YAML::Node& map, const char* key,
                                        const std::string& field) {
  YAML::Node node = map[key];
  if (!node.IsDefined() || node.IsNull()) return std::string();
  if (!node.IsScalar()) return KubeconfigError(field, "not a string");
  return node.Scalar();
}

absl::StatusOr<bool> YamlBool(const YAML::Node& map, const char* key, const std::string& field) {
  YAML::Node node = map[key];
  if (!node.IsDefined() || node.IsNull()) return false;
  if (!node.IsScalar()) return KubeconfigError(field, "not a boolean");
  const std::string& v = node.Scalar();
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  return KubeconfigError(field, "not a boolean");
}

absl::StatusOr<std::string> YamlBase64(const YAML::Node& map, const char* key,
                                        const std::string& field) {
  absl::StatusOr<std::string> text = YamlScalar(map, key, field);
  if (!text.ok() || text->empty()) return text;
  std::string compact;
  for (char c : *text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact.push_back(c);
  }
  std::string out;
  if (!absl::Base64Unescape(compact, &out) || out.empty()) return KubeconfigError(field, "not valid base64");
  return out;
}

std::string ResolveAgainst(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return (std::filesystem::path(dir) / path).lexically_normal().string();
}

// The entry named `name` of a list of {name, <inner>} maps; its index in *index.
absl::StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* inner,
                                 const std::string& name, size_t* index) {
  YAML::Node entries = root[list];
  if (entries.IsDefined() && !entries.IsNull() && !entries.IsSequence()) {
    return KubeconfigError(list, "not a list");
  }
  if (entries.IsSequence()) {
    for (size_t i = 0; i < entries.size(); ++i) {
      const YAML::Node& entry = entries[i];
      if (!entry.IsMap()) return KubeconfigError(StrCat(list, "[", i, "]"), "not a map");
      absl::StatusOr<std::string> n = YamlScalar(entry, "name", ListField(list, i, "name"));
      if (!n.ok()) return n.status();
      if (*n != name) continue;
      *index = i;
      YAML::Node body = entry[inner];
      if (!body.IsDefined() || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
      if (!body.IsMap()) return KubeconfigError(ListField(list, i, inner), "not a map");
      *index = i;
      return body;
    }
  }
  return KubeconfigError(list, StrCat("no entry named \"", PrintableText(name, 200), "\""));
}

absl::StatusOr<ClientConfig> ParseKubeconfigNode(const YAML::Node& root, const std::string& dir,
                                                 const std::string& context,
                                                 const std::string& source_path) {
  if (!root.IsMap()) return KubeconfigError("kubeconfig", "not a YAML map");
  std::string context_name = context;
  if (context_name.empty()) {
    absl::StatusOr<std::string> current = YamlScalar(root, "current-context", "current-context");
    if (!current.ok()) return current.status();
    if (current->empty()) return KubeconfigError("current-context", "not set, and no context was named");
    context_name = *current;
  }
  size_t ci = 0;
  absl::StatusOr<YAML::Node> ctx = FindNamed(root, "contexts", "context", context_name, &ci);
  if (!ctx.ok()) return ctx.status();
  absl::StatusOr<std::string> cluster_name =
      YamlScalar(*ctx, "cluster", ListField("contexts", ci, "context.cluster"));
  if (!cluster_name.ok()) return cluster_name.status();
  if (cluster_name->empty()) return KubeconfigError(ListField("contexts", ci, "context.cluster"), "not set");
  absl::StatusOr<std::string> user_name =
      YamlScalar(*ctx, "user", ListField("contexts", ci, "context.user"));
  if (!user_name.ok()) return user_name.status();

  ClientConfig config;
  config.source = StrCat("kubeconfig ", source_path, " (context ", context_name, ")");
  size_t k = 0;
  absl::StatusOr<YAML::Node> cluster = FindNamed(root, "clusters", "cluster", *cluster_name, &k);
  if (!cluster.ok()) return cluster.status();
  auto cf = [&](std::string_view name) { return ListField("clusters", k, StrCat("cluster.", name)); };
  for (const char* refused : {"tls-server-name", "proxy-url"}) {
    if ((*cluster)[refused].IsDefined()) return KubeconfigError(cf(refused), "not supported");
  }
  absl::StatusOr<std::string> server = YamlScalar(*cluster, "server", cf("server"));
  if (!server.ok()) return server.status();
  if (server->empty()) return KubeconfigError(cf("server"), "not set");
  absl::StatusOr<std::string> checked = CheckKubeServer(*server);
  if (!checked.ok()) return PrefixField(checked.status(), cf("server"));
  config.server = *checked;
  absl::StatusOr<std::string> ca_file =
      YamlScalar(*cluster, "certificate-authority", cf("certificate-authority"));
  if (!ca_file.ok()) return ca_file.status();
  absl::StatusOr<std::string> ca_data =
      YamlBase64(*cluster, "certificate-authority-data", cf("certificate-authority-data"));
  if (!ca_data.ok()) return ca_data.status();
  absl::StatusOr<bool> insecure =
      YamlBool(*cluster, "insecure-skip-tls-verify", cf("insecure-skip-tls-verify"));
  if (!insecure.ok()) return insecure.status();
  if (!ca_file->empty() && !ca_data->empty()) {
    return KubeconfigError(cf("certificate-authority-data"), "certificate-authority is set too; use one");
  }
  if (*insecure && (!ca_file->empty() || !ca_data->empty())) {
    return KubeconfigError(cf("insecure-skip-tls-verify"), "a certificate authority is set too");
  }
  config.ca_file = ResolveAgainst(dir, *ca_file);
  config.ca_data = *ca_data;
  config.insecure_skip_tls_verify = *insecure;

  if (user_name->empty()) return config;  // anonymous
  size_t u = 0;
  absl::StatusOr<YAML::Node> user = FindNamed(root, "users", "user", *user_name, &u);
  if (!user.ok()) return user.status();
  auto uf = [&](std::string_view name) { return ListField("users", u, StrCat("user.", name)); };
  if ((*user)["exec"].IsDefined()) return KubeconfigError(uf("exec"), "exec plugins are not supported");
  if ((*user)["auth-provider"].IsDefined()) {
    return KubeconfigError(uf("auth-provider"), "auth-provider plugins are not supported");
  }
  for (const char* refused : {"username", "password"}) {
    if ((*user)[refused].IsDefined()) return KubeconfigError(uf(refused), "basic authentication is not supported");
  }
  for (const char* refused : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    if ((*user)[refused].IsDefined()) return KubeconfigError(uf(refused), "impersonation is not supported");
  }
  absl::StatusOr<std::string> token = YamlScalar(*user, "token", uf("token"));
  if (!token.ok()) return token.status();
  absl::StatusOr<std::string> token_file = YamlScalar(*user, "tokenFile", uf("tokenFile"));
  if (!token_file.ok()) return token_file.status();
  if (!token->empty()) {
    if (absl::Status s = CheckBearerToken(*token, uf("token")); !s.ok()) return s;
  }
  config.token = *token;
  config.token_file = ResolveAgainst(dir, *token_file);
  absl::StatusOr<std::string> cert_file =
      YamlScalar(*user, "client-certificate", uf("client-certificate"));
  if (!cert_file.ok()) return cert_file.status();
  absl::StatusOr<std::string> cert_data =
      YamlBase64(*user, "client-certificate-data", uf("client-certificate-data"));
  if (!cert_data.ok()) return cert_data.status();
  absl::StatusOr<std::string> key_file = YamlScalar(*user, "client-key", uf("client-key"));
  if (!key_file.ok()) return key_file.status();
  absl::StatusOr<std::string> key_data =
      YamlBase64(*user, "client-key-data", uf("client-key-data"));
  if (!key_data.ok()) return key_data.status();
  if (!cert_file->empty() && !cert_data->empty()) {
    return KubeconfigError(uf("client-certificate-data"), "client-certificate is set too; use one");
  }
  if (!key_file->empty() && !key_data->empty()) {
    return KubeconfigError(uf("client-key-data"), "client-key is set too; use one");
  }
  bool has_cert = !cert_file->empty() || !cert_data->empty();
  bool has_key = !key_file->empty() || !key_data->empty();
  if (has_cert != has_key) {
    return KubeconfigError(has_cert ? uf("client-key") : uf("client-certificate"),
               "a client certificate needs its key, and a key its certificate");
  }
  config.client_cert_file = ResolveAgainst(dir, *cert_file);
  config.client_cert_data = *cert_data;
  config.client_key_file = ResolveAgainst(dir, *key_file);
  config.client_key_data = *key_data;
  return config;
}

}  // namespace

// ---- configuration sources ---------------------------------------------------------------

absl::StatusOr<ClientConfig> InClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::FailedPreconditionError(
        StrCat("not running in a Pod: ",
               host == nullptr || *host == '\0' ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT",
               " is unset"));
  }
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = StrCat("[", h, "]");
  ClientConfig config;
  absl::StatusOr<std::string> server = CheckKubeServer(StrCat("https://", h, ":", port));
  if (!server.ok()) {
    return PrefixField(server.status(), "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT");
  }
  config.server = *server;
  config.token_file = StrCat(sa_dir, "/token");
  config.ca_file = StrCat(sa_dir, "/ca.crt");
  for (const std::string* file : {&config.token_file, &config.ca_file}) {
    if (access(file->c_str(), R_OK) != 0) {
      return absl::FailedPreconditionError(
          StrCat("in-cluster: cannot read ", *file, " (is the ServiceAccount token mounted?)"));
    }
  }
  config.source = "in-cluster";
  return config;
}

absl::StatusOr<ClientConfig> ParseKubeconfig(std::string_view yaml, const std::string& dir,
                                             const std::string& context,
                                             const std::string& source_path) {
  if (yaml.size() > kMaxKubeconfigBytes) {
    return absl::ResourceExhaustedError(
        StrCat(source_path, " is larger than ", kMaxKubeconfigBytes, " bytes"));
  }
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    absl::StatusOr<ClientConfig> config = ParseKubeconfigNode(root, dir, context, source_path);
    if (!config.ok()) return PrefixField(config.status(), source_path);
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(source_path, ": line ", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<ClientConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  absl::StatusOr<std::string> bytes = ReadFileLimited(path, kMaxKubeconfigBytes, "kubeconfig");
  if (!bytes.ok()) return bytes.status();
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return ParseKubeconfig(*bytes, dir, context, path);
}

absl::StatusOr<ClientConfig> ResolveClientConfig(const std::string& setting) {
  if (setting == "in-cluster") return InClusterConfig();
  if (!setting.empty()) return LoadKubeconfig(setting);
  const char* env = std::getenv("KUBECONFIG");
  std::string list = env != nullptr ? env : "";
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) return LoadKubeconfig(list.substr(start, end - start));
    start = end + 1;
  }
  return InClusterConfig();
}

// ---- the client --------------------------------------------------------------------------

class Client::Impl {
 public:
  explicit Impl(ClientConfig config) : config_(std::move(config)) {
    EnsureCurlForKube();
    share_ = curl_share_init();
    if (share_ != nullptr) {
      curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &Impl::Lock);
      curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &Impl::Unlock);
      curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
  }
  ~Impl() {
    if (share_ != nullptr) curl_share_cleanup(share_);
  }

  absl::Status Check() {
    absl::StatusOr<std::string> server = CheckKubeServer(config_.server);
    if (!server.ok()) return server.status();
    config_.server = *server;
    if (!config_.ca_file.empty() && !config_.ca_data.empty()) {
      return absl::InvalidArgumentError("ca_file and ca_data are both set; use one");
    }
    if (config_.insecure_skip_tls_verify && (!config_.ca_file.empty() || !config_.ca_data.empty())) {
      return absl::InvalidArgumentError("insecure_skip_tls_verify with a CA set");
    }
    if (!config_.ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadFileLimited(config_.ca_file, kMaxPemFileBytes, "CA file");
      if (!ca.ok()) return PrefixField(ca.status(), "ca_file");
    }
    bool has_cert = !config_.client_cert_file.empty() || !config_.client_cert_data.empty();
    bool has_key = !config_.client_key_file.empty() || !config_.client_key_data.empty();
    if (has_cert != has_key) {
      return absl::InvalidArgumentError(
          "a client certificate needs its key, and a key its certificate");
    }
    if (!config_.client_cert_file.empty() && !config_.client_cert_data.empty()) {
      return absl::InvalidArgumentError("client_cert_file and client_cert_data are both set");
    }
    if (!config_.client_key_file.empty() && !config_.client_key_data.empty()) {
      return absl::InvalidArgumentError("client_key_file and client_key_data are both set");
    }
    for (auto [file, field] : {std::pair{&config_.client_cert_file, "client_cert_file"},
                               std::pair{&config_.client_key_file, "client_key_file"}}) {
      if (file->empty()) continue;
      absl::StatusOr<std::string> pem = ReadFileLimited(*file, kMaxPemFileBytes, "");
      if (!pem.ok()) return PrefixField(pem.status(), field);
    }
    if (!config_.token_file.empty()) {
      absl::StatusOr<std::string> token = ReadTokenFile(config_.token_file);
      if (!token.ok()) return PrefixField(token.status(), "token_file");
    } else if (!config_.token.empty()) {
      if (absl::Status s = CheckBearerToken(config_.token, "token"); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // The bearer token for this call ("" : none).
  absl::StatusOr<std::string> Token() {
    if (config_.token_file.empty()) return config_.token;
    absl::StatusOr<TokenFileStamp> stamp = TokenStampOf(config_.token_file);
    absl::MutexLock lock(&token_mu_);
    if (stamp.ok() && have_token_ && *stamp == token_stamp_) return token_;
    absl::StatusOr<std::string> token = ReadTokenFile(config_.token_file);
    if (token.ok() && stamp.ok()) {
      token_ = *token;
      token_stamp_ = *stamp;
      have_token_ = true;
      return token_;
    }
    if (have_token_) return token_;  // a rotation in progress: the last good one
    return absl::UnauthenticatedError(
        StrCat("no token: ", Sv((token.ok() ? stamp.status() : token.status()).message())));
  }

  absl::StatusOr<Response> Do(std::string_view method, std::string_view path,
                              std::string_view body, std::string_view content_type) {
    if (!AllowedKubeMethod(method)) {
      return absl::InvalidArgumentError(StrCat("method \"", PrintableText(method, 20), "\" not supported"));
    }
    if (absl::Status s = CheckKubePath(path); !s.ok()) return s;
    if (body.size() > kMaxRequestBytes) {
      return absl::ResourceExhaustedError(StrCat(method, " ", path, ": the body (", body.size(),
                                                 " bytes) is over ", kMaxRequestBytes));
    }
    for (char c : content_type) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        return absl::InvalidArgumentError("content type has a control character");
      }
    }
    absl::StatusOr<std::string> token = Token();
    if (!token.ok()) return token.status();

    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
    CURL* c = curl.get();
    std::string url = StrCat(config_.server, path);
    curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (!token->empty()) {
      headers = curl_slist_append(headers, StrCat("Authorization: Bearer ", *token).c_str());
    }
    if (!body.empty()) {
      headers = curl_slist_append(headers, StrCat("Content-Type: ", content_type).c_str());
    }
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
    std::string method_text(method);
    std::string body_text(body);

    Response response;
    KubeExchange exchange{&response};
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, kKubeUserAgent);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(kRequestTimeout)));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(kConnectTimeout)));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBytes));
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnKubeHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &exchange);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnKubeBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &exchange);
    if (share_ != nullptr) curl_easy_setopt(c, CURLOPT_SHARE, share_);
    if (method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_text.c_str());
      if (method != "DELETE" || !body.empty()) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_text.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_text.size()));
      }
    }
    SetTls(c);

    CURLcode rc = curl_easy_perform(c);
    if (exchange.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return absl::ResourceExhaustedError(StrCat(method, " ", url, ": the answer is larger than ",
                                                 kMaxResponseBytes, " bytes"));
    }
    if (rc != CURLE_OK) {
      std::string what = StrCat(method, " ", url, ": ", curl_easy_strerror(rc));
      if (error[0] != '\0') what += StrCat(" (", PrintableText(error, CURL_ERROR_SIZE), ")");
      if (rc == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(what);
      return absl::UnavailableError(what);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

  const ClientConfig& config() const { return config_; }

 private:
  void SetTls(CURL* c) {
    if (config_.insecure_skip_tls_verify) {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (!config_.ca_data.empty()) {
      curl_blob blob{const_cast<char*>(config_.ca_data.data()), config_.ca_data.size(),
                     CURL_BLOB_COPY};
      curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
      curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);  // only this CA, not the system's too
    } else if (!config_.ca_file.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_file.c_str());
      curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
    }
    if (!config_.client_cert_data.empty()) {
      curl_blob cert{const_cast<char*>(config_.client_cert_data.data()),
                     config_.client_cert_data.size(), CURL_BLOB_COPY};
      curl_blob key{const_cast<char*>(config_.client_key_data.data()),
                    config_.client_key_data.size(), CURL_BLOB_COPY};
      curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
      if (!config_.client_key_data.empty()) {
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
      } else {
        curl_easy_setopt(c, CURLOPT_SSLKEY, config_.client_key_file.c_str());
      }
      curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!config_.client_cert_file.empty()) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
      curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
      if (!config_.client_key_data.empty()) {
        curl_blob key{const_cast<char*>(config_.client_key_data.data()),
                      config_.client_key_data.size(), CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
      } else {
        curl_easy_setopt(c, CURLOPT_SSLKEY, config_.client_key_file.c_str());
      }
      curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Impl*>(user)->share_mu_[Slot(data)].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Impl*>(user)->share_mu_[Slot(data)].unlock();
  }
  static size_t Slot(curl_lock_data data) {
    size_t i = static_cast<size_t>(data);
    return i < CURL_LOCK_DATA_LAST ? i : 0;
  }

  ClientConfig config_;
  CURLSH* share_ = nullptr;
  std::mutex share_mu_[CURL_LOCK_DATA_LAST];
  absl::Mutex token_mu_;
  bool have_token_ ABSL_GUARDED_BY(token_mu_) = false;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  TokenFileStamp token_stamp_ ABSL_GUARDED_BY(token_mu_);
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientConfig config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  if (absl::Status s = impl->Check(); !s.ok()) return s;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

absl::StatusOr<Response> Client::Do(std::string_view method, std::string_view path,
                                    std::string_view body, std::string_view content_type) {
  return impl_->Do(method, path, body, content_type);
}

const ClientConfig& Client::config() const { return impl_->config(); }

// ---- retries and statuses ----------------------------------------------------------------

namespace {

bool RetryableKubeStatus(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace

absl::StatusOr<Response> DoWithRetry(ApiTransport& transport, std::string_view method,
                                     std::string_view path, std::string_view body,
                                     std::string_view content_type, const RetryOptions& options,
                                     const absl::Notification* cancel) {
  Backoff backoff(options.backoff);
  const auto start = std::chrono::steady_clock::now();
  const int attempts = std::max(1, options.max_attempts);
  for (int attempt = 1;; ++attempt) {
    if (cancel != nullptr && cancel->HasBeenNotified()) {
      return absl::CancelledError(StrCat(method, " ", path, ": cancelled"));
    }
    absl::StatusOr<Response> r = transport.Do(method, path, body, content_type);
    bool retry = r.ok() ? RetryableKubeStatus(r->status)
                        : (absl::IsUnavailable(r.status()) || absl::IsDeadlineExceeded(r.status()));
    if (!retry || attempt >= attempts) return r;
    absl::Duration wait = backoff.Next();
    if (r.ok()) {
      if (std::optional<absl::Duration> asked = ParseRetryAfter(r->retry_after)) {
        wait = std::min(*asked, options.backoff.max);
      }
    }
    absl::Duration elapsed = absl::FromChrono(std::chrono::steady_clock::now() - start);
    if (elapsed + wait > options.deadline) return r;
    if (cancel != nullptr) {
      if (cancel->WaitForNotificationWithTimeout(wait)) {
        return absl::CancelledError(StrCat(method, " ", path, ": cancelled"));
      }
    } else {
      absl::SleepFor(wait);
    }
  }
}

absl::Status StatusFromResponse(const Response& response, std::string_view what) {
  long s = response.status;
  if (s >= 200 && s < 300) return absl::OkStatus();
  std::string message;
  std::string reason;
  nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_object()) {
    if (auto m = parsed.find("message"); m != parsed.end() && m->is_string()) {
      message = PrintableText(m->get<std::string>(), 1024);
    }
    if (auto r = parsed.find("reason"); r != parsed.end() && r->is_string()) {
      reason = r->get<std::string>();
    }
  }
  if (message.empty()) message = PrintableText(TrimHttpSpace(response.body), kMaxQuotedKubeBodyBytes);
  std::string text = StrCat(what, ": HTTP ", s, message.empty() ? "" : ": ", message);
  absl::StatusCode code = absl::StatusCode::kUnknown;
  if (s == 400 || s == 415 || s == 422) {
    code = absl::StatusCode::kInvalidArgument;
  } else if (s == 401) {
    code = absl::StatusCode::kUnauthenticated;
  } else if (s == 403) {
    code = absl::StatusCode::kPermissionDenied;
  } else if (s == 404) {
    code = absl::StatusCode::kNotFound;
  } else if (s == 409) {
    code = reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists : absl::StatusCode::kAborted;
  } else if (s == 410) {
    code = absl::StatusCode::kAborted;  // a resourceVersion too old: read again
  } else if (s == 413 || s == 429) {
    code = absl::StatusCode::kResourceExhausted;
  } else if (s == 405) {
    code = absl::StatusCode::kUnimplemented;
  } else if (s >= 500 && s < 600) {
    code = absl::StatusCode::kUnavailable;
  } else if (s >= 400 && s < 500) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  return absl::Status(code, text);
}

std::string EscapePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  if (segment == "." || segment == "..") {
    for (size_t i = 0; i < segment.size(); ++i) out += "%2E";
    return out;
  }
  for (char c : segment) {
    unsigned char u = static_cast<unsigned char>(c);
    bool unreserved = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace layerseal::controller::kube
