// Where registry credentials come from: flags, docker's config.json, or (later) a CRI
// AuthConfig. Thread-safety: implementations are immutable after construction.
#ifndef LAYERSEAL_REGISTRY_CREDENTIALS_H_
#define LAYERSEAL_REGISTRY_CREDENTIALS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerseal::registry {

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // OAuth2 refresh token (docker "identitytoken"), optional
  std::string registry_token;  // a bearer token to send as is, optional
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // Credentials for `registry` ("host[:port]"), or nullopt for anonymous.
  virtual std::optional<Credentials> Lookup(std::string_view registry) const = 0;
};

// The same credentials for one registry (or every registry when `registry` is empty).
std::shared_ptr<const CredentialStore> StaticCredentials(std::string registry, Credentials c);

// docker's config.json: "auths" entries with base64 "auth" (user:password) or
// username/password, and "identitytoken". Keys may be "host", "https://host" or
// "https://host/v1/". Errors name the file and the entry.
absl::StatusOr<std::shared_ptr<const CredentialStore>> DockerConfigCredentials(
    const std::string& path);
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json; empty store when neither exists.
absl::StatusOr<std::shared_ptr<const CredentialStore>> DefaultDockerConfigCredentials();

// First store with an answer wins.
std::shared_ptr<const CredentialStore> ChainCredentials(
    std::shared_ptr<const CredentialStore> first, std::shared_ptr<const CredentialStore> second);

}  // namespace layerseal::registry

#endif  // LAYERSEAL_REGISTRY_CREDENTIALS_H_
