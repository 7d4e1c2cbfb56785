#include "node-agent/policy_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "nlohmann/json.hpp"
#include "verifier/crypto.h"
#include "base/file.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;

// A Kubernetes namespace name: an RFC 1123 DNS label.
bool IsNamespaceName(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// The namespace policy files, sorted. Hidden entries (ConfigMap mounts keep "..data" and
// timestamped directories there) are skipped.
absl::StatusOr<std::vector<fs::path>> NamespaceFiles(const std::string& dir) {
  std::vector<fs::path> files;
  if (dir.empty()) return files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return absl::NotFoundError(StrCat("namespace policy directory ", dir, ": ", ec.message()));
  for (const fs::directory_entry& e : it) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || e.path().extension() != ".yaml") continue;
    if (files.size() == kMaxNamespacePolicies) {
      return absl::ResourceExhaustedError(StrCat("namespace policy directory ", dir,
                                                 " has more than ", kMaxNamespacePolicies,
                                                 " policies"));
    }
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string FileIdentity(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return StrCat(path, ":absent;");
  return StrCat(path, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":",
                st.st_ino, ";");
}

// The directory relative key paths of the policy at `path` resolve against (as
// Policy::LoadFile does it).
std::string PolicyDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// An absolute, lexically normal path for `p` (relative ones against the working directory).
std::string AbsoluteNormal(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p.empty() ? fs::path(".") : fs::path(p), ec);
  if (ec) abs = fs::path(p);
  std::string s = abs.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// `path` as a place under `root`: root + the absolute path.
std::string UnderRoot(const std::string& root, const std::string& absolute) {
  return StrCat(root, absolute);
}

absl::Status WriteSynced(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(StrCat("cannot create ", path, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      return absl::UnavailableError(StrCat("cannot write ", path, ": ", err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(StrCat("cannot sync ", path, ": ", err));
  }
  if (::close(fd) != 0) return absl::UnavailableError(StrCat("cannot close ", path));
  return absl::OkStatus();
}

// Makes a rename in `dir` durable.
void SyncDir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// A last-good copy's string field, or an error naming the copy and the field.
absl::StatusOr<std::string> Field(const nlohmann::json& j, const char* name,
                                  const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return absl::DataLossError(StrCat(where, ": field \"", name, "\" is missing or not a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<std::string> Base64Field(const nlohmann::json& j, const char* name,
                                        const std::string& where) {
  absl::StatusOr<std::string> text = Field(j, name, where);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> bytes = Base64Decode(*text);
  if (!bytes.ok()) {
    return absl::DataLossError(StrCat(where, ": field \"", name, "\" is not base64"));
  }
  return bytes;
}

// A key path from a last-good copy: absolute, normal, no "..", so writing it under the key
// directory cannot escape it.
bool IsSafeKeyPath(const std::string& p) {
  if (p.empty() || p.front() != '/' || p.size() > 4096) return false;
  fs::path path(p);
  if (path.lexically_normal().string() != p) return false;
  for (const fs::path& part : path) {
    if (part == "..") return false;
  }
  return true;
}

constexpr int kLastGoodFormat = 1;

}  // namespace

absl::StatusOr<std::unique_ptr<PolicySet>> PolicySet::Load(std::string node_path,
                                                           std::string namespace_dir) {
  std::unique_ptr<PolicySet> set = Empty(std::move(node_path), std::move(namespace_dir));
  absl::Status loaded = set->Reload();
  if (!loaded.ok()) return loaded;
  return set;
}

std::unique_ptr<PolicySet> PolicySet::Empty(std::string node_path, std::string namespace_dir) {
  return std::unique_ptr<PolicySet>(new PolicySet(std::move(node_path), std::move(namespace_dir)));
}

std::string_view PolicyOriginName(PolicyOrigin o) {
  switch (o) {
    case PolicyOrigin::kNone: return "none";
    case PolicyOrigin::kFiles: return "files";
    case PolicyOrigin::kLastGood: return "last-good";
  }
  return "unknown";
}

absl::StatusOr<PolicySet::Snapshot> PolicySet::Read() const {
  Snapshot s;
  s.origin = PolicyOrigin::kFiles;
  // Read here rather than by Policy::LoadFile: the bytes parsed are the bytes kept for the
  // last-good copy.
  auto load = [&s](const std::string& ns, const std::string& path) -> absl::StatusOr<Policy> {
    absl::StatusOr<std::string> yaml = ReadFileLimited(path, kMaxPolicyBytes, "");
    if (!yaml.ok()) return absl::InvalidArgumentError(StrCat("policy: ", Sv(yaml.status().message())));
    absl::StatusOr<Policy> p = Policy::Parse(*yaml, PolicyDir(path), path);
    if (p.ok()) s.sources.push_back(Source{ns, path, *std::move(yaml)});
    return p;
  };
  absl::StatusOr<Policy> node = load("", node_path_);
  if (!node.ok()) return node.status();
  s.node = std::make_shared<const Policy>(*std::move(node));
  absl::StatusOr<std::vector<fs::path>> files = NamespaceFiles(namespace_dir_);
  if (!files.ok()) return files.status();
  for (const fs::path& file : *files) {
    std::string ns = file.stem().string();
    if (!IsNamespaceName(ns)) {
      return absl::InvalidArgumentError(
          StrCat(file.string(), ": \"", ns, "\" is not a Kubernetes namespace name"));
    }
    absl::StatusOr<Policy> p = load(ns, file.string());
    if (!p.ok()) return p.status();
    s.namespaces.emplace(ns, std::make_shared<const Policy>(*std::move(p)));
  }
  return s;
}

absl::Status PolicySet::Reload() {
  absl::StatusOr<Snapshot> next = Read();
  if (!next.ok()) return next.status();
  absl::MutexLock lock(&mu_);
  current_ = *std::move(next);
  return absl::OkStatus();
}

std::shared_ptr<const Policy> PolicySet::For(std::string_view ns) const {
  absl::MutexLock lock(&mu_);
  if (!ns.empty()) {
    auto it = current_.namespaces.find(ns);
    if (it != current_.namespaces.end()) return it->second;
  }
  return current_.node;
}

std::string PolicySet::version() const {
  absl::MutexLock lock(&mu_);
  return current_.node ? current_.node->version() : "";
}

PolicyOrigin PolicySet::origin() const {
  absl::MutexLock lock(&mu_);
  return current_.origin;
}

std::vector<std::shared_ptr<const Policy>> PolicySet::NamespacePolicies() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const Policy>> out;
  out.reserve(current_.namespaces.size());
  for (const auto& [ns, p] : current_.namespaces) out.push_back(p);
  return out;
}

std::map<std::string, std::string> PolicySet::NamespaceVersions() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::string> out;
  for (const auto& [ns, p] : current_.namespaces) out.emplace(ns, p->version());
  return out;
}

std::string PolicySet::Fingerprint() const {
  std::string f = FileIdentity(node_path_);
  {
    // The key files the policies in force read: a rotated key is a policy change too.
    absl::MutexLock lock(&mu_);
    auto add_keys = [&f](const Policy& p) {
      for (const std::string& k : p.key_files()) f += FileIdentity(k);
      // A certificate added to or removed from a trust store changes its directory's mtime.
      for (const std::string& d : p.trust_store_dirs()) f += FileIdentity(d);
    };
    if (current_.node) add_keys(*current_.node);
    for (const auto& [ns, p] : current_.namespaces) add_keys(*p);
  }
  if (!namespace_dir_.empty()) {
    f += FileIdentity(namespace_dir_);
    absl::StatusOr<std::vector<fs::path>> files = NamespaceFiles(namespace_dir_);
    if (files.ok()) {
      for (const fs::path& p : *files) f += FileIdentity(p.string());
    }
  }
  return f;
}

absl::Status PolicySet::SaveLastGood(const std::string& path) const {
  nlohmann::json policies = nlohmann::json::array();
  {
    absl::MutexLock lock(&mu_);
    if (current_.origin != PolicyOrigin::kFiles) {
      return absl::FailedPreconditionError(
          StrCat("no last-good copy to save: the policies in force came from ",
                 PolicyOriginName(current_.origin)));
    }
    for (const Source& src : current_.sources) {
      const Policy& p = src.ns.empty() ? *current_.node : *current_.namespaces.at(src.ns);
      nlohmann::json keys = nlohmann::json::array();
      for (const std::string& k : p.key_files()) {
        // Read again now: a key replaced since the load would be saved in its new form
        // (the next change of its identity reloads anyway).
        absl::StatusOr<std::string> pem = ReadFileLimited(k, kMaxLastGoodKeyBytes, "policy key");
        if (!pem.ok()) return pem.status();
        keys.push_back({{"path", AbsoluteNormal(k)}, {"pem", Base64Encode(*pem)}});
      }
      policies.push_back({{"namespace", src.ns},
                          {"source", AbsoluteNormal(src.path)},
                          {"yaml", Base64Encode(src.yaml)},
                          {"keys", std::move(keys)}});
    }
  }
  nlohmann::json doc = {{"format", kLastGoodFormat},
                        {"node_policy", AbsoluteNormal(node_path_)},
                        {"policies", std::move(policies)}};
  std::string text = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxLastGoodBytes) {
    return absl::ResourceExhaustedError(StrCat("the last-good policy copy would be ", text.size(),
                                               " bytes; the limit is ", kMaxLastGoodBytes));
  }
  std::string tmp = StrCat(path, ".tmp");
  if (absl::Status s = WriteSynced(tmp, text); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::UnavailableError(StrCat("cannot rename ", tmp, " to ", path, ": ", err));
  }
  SyncDir(PolicyDir(path));
  return absl::OkStatus();
}

absl::Status PolicySet::LoadLastGood(const std::string& path, const std::string& key_dir) {
  absl::StatusOr<std::string> text = ReadFileLimited(path, kMaxLastGoodBytes, "last-good policy copy");
  if (!text.ok()) return text.status();
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::DataLossError(StrCat(path, ": not a last-good policy copy (not JSON)"));
  }
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_number_integer() || *format != kLastGoodFormat) {
    return absl::DataLossError(StrCat(path, ": unknown last-good format"));
  }
  auto list = doc.find("policies");
  if (list == doc.end() || !list->is_array() || list->empty() ||
      list->size() > kMaxNamespacePolicies + 1) {
    return absl::DataLossError(StrCat(path, ": \"policies\" is missing, empty or too long"));
  }
  // The key files first, under a fresh key directory.
  std::error_code ec;
  fs::remove_all(key_dir, ec);
  fs::create_directories(key_dir, ec);
  if (ec) return absl::UnavailableError(StrCat("cannot create ", key_dir, ": ", ec.message()));
  std::string root = AbsoluteNormal(key_dir);
  Snapshot s;
  s.origin = PolicyOrigin::kLastGood;
  for (const nlohmann::json& entry : *list) {
    if (!entry.is_object()) return absl::DataLossError(StrCat(path, ": a policy entry is not an object"));
    absl::StatusOr<std::string> ns = Field(entry, "namespace", path);
    absl::StatusOr<std::string> source = Field(entry, "source", path);
    absl::StatusOr<std::string> yaml = Base64Field(entry, "yaml", path);
    if (!ns.ok()) return ns.status();
    if (!source.ok()) return source.status();
    if (!yaml.ok()) return yaml.status();
    if (!IsSafeKeyPath(*source) || (!ns->empty() && !IsNamespaceName(*ns))) {
      return absl::DataLossError(StrCat(path, ": bad source \"", *source, "\" or namespace \"", *ns, "\""));
    }
    auto keys = entry.find("keys");
    if (keys == entry.end() || !keys->is_array() || keys->size() > kMaxLastGoodKeyFiles) {
      return absl::DataLossError(StrCat(path, ": \"keys\" of ", *source, " is missing or too long"));
    }
    for (const nlohmann::json& k : *keys) {
      if (!k.is_object()) return absl::DataLossError(StrCat(path, ": a key entry is not an object"));
      absl::StatusOr<std::string> kpath = Field(k, "path", path);
      absl::StatusOr<std::string> pem = Base64Field(k, "pem", path);
      if (!kpath.ok()) return kpath.status();
      if (!pem.ok()) return pem.status();
      if (!IsSafeKeyPath(*kpath)) return absl::DataLossError(StrCat(path, ": bad key path \"", *kpath, "\""));
      std::string target = UnderRoot(root, *kpath);
      fs::create_directories(fs::path(target).parent_path(), ec);
      if (ec) return absl::UnavailableError(StrCat("cannot create the directory of ", target, ": ", ec.message()));
      if (absl::Status w = WriteSynced(target, *pem); !w.ok()) return w;
    }
    // The policy's own directory must exist under the root for "../" key paths to resolve.
    std::string base = UnderRoot(root, PolicyDir(*source));
    fs::create_directories(base, ec);
    if (ec) return absl::UnavailableError(StrCat("cannot create ", base, ": ", ec.message()));
    absl::StatusOr<Policy> p =
        Policy::Parse(*yaml, base, StrCat(path, " (last-good copy of ", *source, ")"));
    if (!p.ok()) return p.status();
    auto shared = std::make_shared<const Policy>(*std::move(p));
    if (ns->empty()) {
      s.node = std::move(shared);
    } else {
      s.namespaces.emplace(*ns, std::move(shared));
    }
  }
  if (!s.node) return absl::DataLossError(StrCat(path, ": the copy has no node policy"));
  absl::MutexLock lock(&mu_);
  current_ = std::move(s);
  return absl::OkStatus();
}

}  // namespace layerseal::agent
