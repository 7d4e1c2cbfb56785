#include "registry/hosts.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

// toml++ (Debian's libtomlplusplus-dev), compiled into this file only, without exceptions.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "base/file.h"
#include "base/str_cat.h"

namespace layerseal::registry {
namespace {

namespace fs = std::filesystem;

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("hosts.toml: ", what));
}

std::string AbsPath(const std::string& p, const std::string& base_dir) {
  if (!p.empty() && p[0] == '/') return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// A string, or an array of strings (containerd's makeStringSlice).
absl::StatusOr<std::vector<std::string>> StringList(const toml::node& n, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* s = n.as_string()) {
    out.push_back(s->get());
    return out;
  }
  const toml::array* a = n.as_array();
  if (a == nullptr) return Invalid(StrCat("\"", key, "\" is neither a string nor an array"));
  if (a->size() > kMaxHostFiles) return Invalid(StrCat("\"", key, "\" has too many entries"));
  for (const toml::node& e : *a) {
    const auto* s = e.as_string();
    if (s == nullptr) return Invalid(StrCat("\"", key, "\" holds a value that is no string"));
    out.push_back(s->get());
  }
  return out;
}

absl::Status ParseCapabilities(const toml::node& n, RegistryHost* h) {
  absl::StatusOr<std::vector<std::string>> caps = StringList(n, "capabilities");
  if (!caps.ok()) return caps.status();
  if (caps->empty()) return absl::OkStatus();  // containerd: empty means all
  h->capabilities = 0;
  for (std::string c : *caps) {
    std::transform(c.begin(), c.end(), c.begin(), [](unsigned char x) { return std::tolower(x); });
    if (c == "pull") {
      h->capabilities |= kCapPull;
    } else if (c == "resolve") {
      h->capabilities |= kCapResolve;
    } else if (c == "push") {
      h->capabilities |= kCapPush;
    } else {
      return Invalid(StrCat("unknown capability \"", c, "\""));
    }
  }
  return absl::OkStatus();
}

// client: a path, or a list of paths and [cert, key] pairs.
absl::Status ParseClients(const toml::node& n, const std::string& base_dir, RegistryHost* h) {
  if (const auto* s = n.as_string()) {
    h->clients.emplace_back(AbsPath(s->get(), base_dir), "");
    return absl::OkStatus();
  }
  const toml::array* a = n.as_array();
  if (a == nullptr || a->size() > kMaxHostFiles) return Invalid("\"client\" is not a path or a list");
  for (const toml::node& e : *a) {
    if (const auto* s = e.as_string()) {
      h->clients.emplace_back(AbsPath(s->get(), base_dir), "");
      continue;
    }
    absl::StatusOr<std::vector<std::string>> pair = StringList(e, "client");
    if (!pair.ok()) return pair.status();
    if (pair->size() != 2) return Invalid("a \"client\" pair is not [cert, key]");
    h->clients.emplace_back(AbsPath((*pair)[0], base_dir),
                            (*pair)[1].empty() ? "" : AbsPath((*pair)[1], base_dir));
  }
  return absl::OkStatus();
}

absl::Status ParseHeaders(const toml::node& n, RegistryHost* h) {
  const toml::table* t = n.as_table();
  if (t == nullptr || t->size() > kMaxHostFiles) return Invalid("\"header\" is not a table");
  for (const auto& [key, value] : *t) {
    absl::StatusOr<std::vector<std::string>> values = StringList(value, "header");
    if (!values.ok()) return values.status();
    for (const std::string& v : *values) {
      if (v.find_first_of("\r\n") != std::string::npos || key.str().find_first_of(":\r\n") != std::string_view::npos) {
        return Invalid(StrCat("header \"", key.str(), "\" holds a line break or colon"));
      }
      h->headers.emplace_back(std::string(key.str()), v);
    }
  }
  return absl::OkStatus();
}

// "name", "name:port", "[v6]:port": no user info, path, query or empty port.
bool UsableHost(const std::string& host) {
  if (host.empty() || host.back() == ':') return false;
  return host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789.-_:[]") == std::string::npos;
}

// containerd's parseHostConfig: the server URL ("https://" added when it has no scheme),
// the API root ("/v2" appended unless override_path), and the settings.
absl::StatusOr<RegistryHost> ParseHost(std::string server, const toml::table& t,
                                       const std::string& base_dir) {
  RegistryHost h;
  bool override_path = t["override_path"].value_or(false);
  if (!server.empty()) {
    if (server.rfind("http", 0) != 0) server = StrCat("https://", server);
    size_t sep = server.find("://");
    if (sep == std::string::npos) return Invalid(StrCat("server \"", server, "\" is no URL"));
    h.scheme = server.substr(0, sep);
    if (h.scheme != "http" && h.scheme != "https") {
      return Invalid(StrCat("server \"", server, "\": scheme is not http or https"));
    }
    std::string rest = server.substr(sep + 3);
    size_t slash = rest.find('/');
    h.host = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    if (!UsableHost(h.host)) {
      return Invalid(StrCat("server \"", server, "\" has no usable host"));
    }
    path = fs::path(path).lexically_normal().string();
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path.empty() || path == "/") {
      path = override_path ? "" : "/v2";
    } else if (!override_path && (path.size() < 3 || path.substr(path.size() - 3) != "/v2")) {
      path += "/v2";
    }
    h.api_root = path;
  }
  if (const toml::node* n = t.get("capabilities")) {
    if (absl::Status s = ParseCapabilities(*n, &h); !s.ok()) return s;
  }
  if (const toml::node* n = t.get("ca")) {
    absl::StatusOr<std::vector<std::string>> cas = StringList(*n, "ca");
    if (!cas.ok()) return cas.status();
    for (const std::string& c : *cas) h.ca_files.push_back(AbsPath(c, base_dir));
  }
  if (const toml::node* n = t.get("client")) {
    if (absl::Status s = ParseClients(*n, base_dir, &h); !s.ok()) return s;
  }
  if (const toml::node* n = t.get("skip_verify")) {
    const auto* b = n->as_boolean();
    if (b == nullptr) return Invalid("\"skip_verify\" is not a boolean");
    h.skip_verify = b->get();
    h.skip_verify_set = true;
  }
  if (const toml::node* n = t.get("header")) {
    if (absl::Status s = ParseHeaders(*n, &h); !s.ok()) return s;
  }
  return h;
}

bool IsLocalhost(const std::string& registry) {
  std::string host = registry;
  if (!host.empty() && host[0] == '[') {
    host = host.substr(1, host.find(']') == std::string::npos ? 0 : host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// containerd's default for the last entry when `server` is absent (or nothing configured).
void CompleteServer(const std::string& registry, RegistryHost* h) {
  if (!h->host.empty()) return;
  h->host = registry == "docker.io" ? "registry-1.docker.io" : registry;
  h->scheme = "https";
  if (IsLocalhost(registry)) {
    h->scheme = "http";
    h->skip_verify = true;
    h->skip_verify_set = true;
  }
  h->api_root = "/v2";
  h->capabilities = kCapPull | kCapResolve | kCapPush;
}

// Docker's certificate file layout in `dir`, for the registry itself (containerd's
// loadCertFiles).
absl::StatusOr<std::vector<RegistryHost>> CertFiles(const std::string& dir) {
  RegistryHost h;
  std::error_code ec;
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_directory()) names.push_back(e.path().filename().string());
  }
  if (ec) return absl::UnavailableError(StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    auto ends = [&](std::string_view suffix) {
      return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".crt")) h.ca_files.push_back(StrCat(dir, "/", name));
    if (ends(".cert")) {
      std::string key = StrCat(dir, "/", name.substr(0, name.size() - 5), ".key");
      h.clients.emplace_back(StrCat(dir, "/", name), fs::exists(key) ? key : "");
    }
  }
  return std::vector<RegistryHost>{std::move(h)};
}

// containerd's hostPaths: "host_port_" (for a host with a port), "host:port", "_default".
std::vector<std::string> HostDirs(const std::string& root, const std::string& registry) {
  std::vector<std::string> dirs;
  size_t colon = registry.rfind(':');
  if (colon != std::string::npos && colon > 0) {
    dirs.push_back(StrCat(root, "/", registry.substr(0, colon), "_", registry.substr(colon + 1), "_"));
  }
  dirs.push_back(StrCat(root, "/", registry));
  dirs.push_back(StrCat(root, "/_default"));
  return dirs;
}

}  // namespace

absl::StatusOr<std::vector<RegistryHost>> ParseHostsToml(std::string_view text,
                                                         const std::string& base_dir) {
  if (text.size() > kMaxHostsTomlBytes) return Invalid("larger than 64 KiB");
  // Debian's toml++ 3.3 classifies some non-ASCII characters through a table with holes
  // (is_non_ascii_horizontal_whitespace reaches TOML_UNREACHABLE for e.g. U+00E9, U+3041,
  // U+FEFA: undefined behaviour, found by hosts_toml_fuzz). Everything a hosts.toml names
  // (URLs, host names, paths, capabilities) is ASCII, so any other byte is refused before
  // toml++ sees it, comments included.
  for (size_t i = 0; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) >= 0x80) {
      return Invalid(StrCat("byte ", i, " is not ASCII (only ASCII is read, comments included: "
                            "write host names in punycode)"));
    }
  }
  toml::parse_result parsed = toml::parse(text);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return Invalid(StrCat("line ", e.source().begin.line, ": ", e.description()));
  }
  const toml::table& root = parsed.table();
  std::vector<std::pair<uint32_t, std::string>> order;  // (line, mirror URL)
  // containerd 1.6.20 (getSortedHosts) refuses a file without a [host."..."] table, and
  // then falls back to the certificate files: so does HostsFor.
  const toml::table* hosts = root["host"].as_table();
  if (hosts == nullptr) return Invalid("no [host.\"...\"] table (containerd 1.6 ignores the file)");
  if (hosts->size() + 1 > kMaxHostsPerRegistry) return Invalid("too many hosts");
  for (const auto& [key, value] : *hosts) {
    if (!value.is_table()) return Invalid(StrCat("host \"", key.str(), "\" is not a table"));
    order.emplace_back(value.source().begin.line, std::string(key.str()));
  }
  std::stable_sort(order.begin(), order.end());  // containerd: by the table's line
  std::vector<RegistryHost> out;
  for (const auto& [line, url] : order) {
    // ParseHost reads "" as the registry itself (the implicit server); a mirror must name one.
    if (url.empty()) return Invalid(StrCat("line ", line, ": host \"\" names no mirror"));
    absl::StatusOr<RegistryHost> h = ParseHost(url, *(*hosts)[url].as_table(), base_dir);
    if (!h.ok()) return h.status();
    out.push_back(*std::move(h));
  }
  const toml::node* server = root.get("server");
  if (server != nullptr && !server->is_string()) return Invalid("\"server\" is not a string");
  absl::StatusOr<RegistryHost> last =
      ParseHost(server != nullptr ? server->as_string()->get() : "", root, base_dir);
  if (!last.ok()) return last.status();
  out.push_back(*std::move(last));
  return out;
}

absl::StatusOr<std::vector<RegistryHost>> HostsFor(const std::string& root,
                                                   const std::string& registry) {
  std::vector<RegistryHost> hosts(1);  // nothing configured: the registry itself
  if (!root.empty() && registry.find('/') == std::string::npos && registry != ".." &&
      registry != ".") {
    for (const std::string& dir : HostDirs(root, registry)) {
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) continue;
      std::string file = StrCat(dir, "/hosts.toml");
      // Like containerd: a hosts.toml that is absent, empty, unreadable, too large or does
      // not parse falls back to the cert files.
      absl::StatusOr<std::string> text = ReadFileLimited(file, kMaxHostsTomlBytes, "hosts.toml");
      bool has_text = text.ok() && !text->empty();
      absl::StatusOr<std::vector<RegistryHost>> parsed =
          has_text ? ParseHostsToml(*text, dir) : CertFiles(dir);
      if (!parsed.ok() && has_text) parsed = CertFiles(dir);
      if (!parsed.ok()) return parsed.status();
      hosts = *std::move(parsed);
      break;
    }
  }
  CompleteServer(registry, &hosts.back());
  return hosts;
}

}  // namespace layerseal::registry
