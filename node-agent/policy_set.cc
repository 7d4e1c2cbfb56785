#include "node-agent/policy_set.h"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>
#include <vector>

#include "verifier/str_cat.h"

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

}  // namespace

absl::StatusOr<std::unique_ptr<PolicySet>> PolicySet::Load(std::string node_path,
                                                           std::string namespace_dir) {
  std::unique_ptr<PolicySet> set(new PolicySet(std::move(node_path), std::move(namespace_dir)));
  absl::Status loaded = set->Reload();
  if (!loaded.ok()) return loaded;
  return set;
}

absl::StatusOr<PolicySet::Snapshot> PolicySet::Read() const {
  Snapshot s;
  absl::StatusOr<Policy> node = Policy::LoadFile(node_path_);
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
    absl::StatusOr<Policy> p = Policy::LoadFile(file.string());
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

}  // namespace layerseal::agent
