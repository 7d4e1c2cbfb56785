#include "registry/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "base/file.h"
#include "base/str_cat.h"

namespace layerseal::registry {
namespace {

// config.json is small; a larger file is not a docker config.
constexpr size_t kMaxDockerConfigBytes = 4 << 20;

// "https://host/v1/", "http://host", "host" -> "host"; Docker Hub's aliases -> "docker.io".
std::string NormalizeRegistry(std::string_view key) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (key.substr(0, scheme.size()) == scheme) key.remove_prefix(scheme.size());
  }
  key = key.substr(0, key.find('/'));
  std::string host(key);
  if (host == "index.docker.io" || host == "registry-1.docker.io") return "docker.io";
  return host;
}

class StaticStore : public CredentialStore {
 public:
  StaticStore(std::string registry, Credentials c)
      : registry_(NormalizeRegistry(registry)), creds_(std::move(c)) {}
  std::optional<Credentials> Lookup(std::string_view registry) const override {
    if (!registry_.empty() && NormalizeRegistry(registry) != registry_) return std::nullopt;
    return creds_;
  }

 private:
  std::string registry_;
  Credentials creds_;
};

class MapStore : public CredentialStore {
 public:
  explicit MapStore(std::map<std::string, Credentials> entries) : entries_(std::move(entries)) {}
  std::optional<Credentials> Lookup(std::string_view registry) const override {
    auto it = entries_.find(NormalizeRegistry(registry));
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, Credentials> entries_;
};

class ChainStore : public CredentialStore {
 public:
  ChainStore(std::shared_ptr<const CredentialStore> a, std::shared_ptr<const CredentialStore> b)
      : first_(std::move(a)), second_(std::move(b)) {}
  std::optional<Credentials> Lookup(std::string_view registry) const override {
    if (first_) {
      if (auto c = first_->Lookup(registry)) return c;
    }
    return second_ ? second_->Lookup(registry) : std::nullopt;
  }

 private:
  std::shared_ptr<const CredentialStore> first_, second_;
};

std::string StringField(const nlohmann::json& entry, const char* name) {
  auto it = entry.find(name);
  return it != entry.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::Status BadEntry(const std::string& path, const std::string& key, std::string_view why) {
  return absl::InvalidArgumentError(StrCat(path, ": auths[\"", key, "\"]: ", why));
}

absl::StatusOr<Credentials> ParseEntry(const std::string& path, const std::string& key,
                                       const nlohmann::json& entry) {
  if (!entry.is_object()) return BadEntry(path, key, "not an object");
  Credentials c;
  c.username = StringField(entry, "username");
  c.password = StringField(entry, "password");
  c.identity_token = StringField(entry, "identitytoken");
  c.registry_token = StringField(entry, "registrytoken");
  std::string auth = StringField(entry, "auth");
  if (!auth.empty()) {
    std::string plain;
    if (!absl::Base64Unescape(auth, &plain)) return BadEntry(path, key, "\"auth\" is not base64");
    size_t colon = plain.find(':');
    if (colon == std::string::npos) {
      return BadEntry(path, key, "\"auth\" does not decode to user:password");
    }
    c.username = plain.substr(0, colon);
    c.password = plain.substr(colon + 1);
  }
  return c;
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

std::shared_ptr<const CredentialStore> StaticCredentials(std::string registry, Credentials c) {
  return std::make_shared<StaticStore>(std::move(registry), std::move(c));
}

absl::StatusOr<std::shared_ptr<const CredentialStore>> DockerConfigCredentials(
    const std::string& path) {
  absl::StatusOr<std::string> data = ReadFileLimited(path, kMaxDockerConfigBytes, "docker config");
  if (!data.ok()) return data.status();
  nlohmann::json j = nlohmann::json::parse(*data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(StrCat(path, ": not valid JSON"));
  if (!j.is_object()) return absl::InvalidArgumentError(StrCat(path, ": not a JSON object"));
  std::map<std::string, Credentials> entries;
  auto auths = j.find("auths");
  if (auths != j.end()) {
    if (!auths->is_object()) {
      return absl::InvalidArgumentError(StrCat(path, ": \"auths\" is not an object"));
    }
    for (const auto& [key, entry] : auths->items()) {
      absl::StatusOr<Credentials> c = ParseEntry(path, key, entry);
      if (!c.ok()) return c.status();
      // docker writes empty entries for registries whose secrets live in a helper.
      if (c->username.empty() && c->password.empty() && c->identity_token.empty() &&
          c->registry_token.empty()) {
        continue;
      }
      entries[NormalizeRegistry(key)] = *std::move(c);
    }
  }
  return std::shared_ptr<const CredentialStore>(std::make_shared<MapStore>(std::move(entries)));
}

absl::StatusOr<std::shared_ptr<const CredentialStore>> DefaultDockerConfigCredentials() {
  std::string path;
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && dir[0] != '\0') {
    path = StrCat(dir, "/config.json");
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    path = StrCat(home, "/.docker/config.json");
  }
  if (path.empty() || !FileExists(path)) {
    return std::shared_ptr<const CredentialStore>(
        std::make_shared<MapStore>(std::map<std::string, Credentials>{}));
  }
  return DockerConfigCredentials(path);
}

std::shared_ptr<const CredentialStore> ChainCredentials(
    std::shared_ptr<const CredentialStore> first, std::shared_ptr<const CredentialStore> second) {
  return std::make_shared<ChainStore>(std::move(first), std::move(second));
}

}  // namespace layerseal::registry
