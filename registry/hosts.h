// containerd's registry host configuration (its `config_path` directories of hosts.toml
// files), read the way containerd 1.6 reads them (remotes/docker/config/hosts.go at v1.6.20),
// so the agent reaches a registry through the same mirrors, in the same order, with the
// same TLS settings as the runtime:
//
//   <root>/<host>_<port>_/, else <root>/<host[:port]>/, else <root>/_default/, else no
//   configuration (the registry itself). In a hosts.toml: each [host."scheme://mirror[/path]"] table, in
//   the file's order, then the `server` (the registry itself when `server` is absent:
//   containerd 1.6 always keeps it last). capabilities (pull, resolve, push; all when
//   absent), ca (a path or a list), client (a path, a list, or a list of [cert, key] pairs),
//   skip_verify, override_path, [header]; relative paths are relative to the hosts.toml.
//   A directory without hosts.toml, or whose hosts.toml containerd cannot parse, falls back
//   (like containerd) to Docker's certificate files in that directory (*.crt CAs,
//   *.cert/*.key client pairs) for the registry itself. containerd 1.6.20 cannot parse a
//   hosts.toml without any [host."..."] table: such a file falls back the same way.
//
// Thread-safety: plain functions and values.
#ifndef LAYERSEAL_REGISTRY_HOSTS_H_
#define LAYERSEAL_REGISTRY_HOSTS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace layerseal::registry {

inline constexpr size_t kMaxHostsTomlBytes = 64 * 1024;
inline constexpr size_t kMaxHostsPerRegistry = 32;  // mirrors plus the server
inline constexpr size_t kMaxHostFiles = 16;          // ca files, client pairs, headers each

enum HostCapability : unsigned { kCapPull = 1, kCapResolve = 2, kCapPush = 4 };

struct RegistryHost {
  std::string scheme = "https";  // "https" or "http"
  std::string host;              // "mirror.example:5000"; empty: the registry itself
  std::string api_root = "/v2";  // the path the distribution API lives under
  unsigned capabilities = kCapPull | kCapResolve | kCapPush;
  std::vector<std::string> ca_files;                          // absolute paths
  std::vector<std::pair<std::string, std::string>> clients;   // cert, key ("": in the cert file)
  bool skip_verify = false;
  bool skip_verify_set = false;  // given in the file (containerd: loopback defaults to true)
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers

  bool can(HostCapability c) const { return (capabilities & c) != 0; }
};

// Parses one hosts.toml: the [host.*] entries in file order, then the server entry (host
// empty when `server` is absent). `base_dir` resolves relative paths. InvalidArgument names
// what is wrong (containerd would then fall back to the certificate files: HostsFor does).
absl::StatusOr<std::vector<RegistryHost>> ParseHostsToml(std::string_view text,
                                                         const std::string& base_dir);

// The hosts to try for `registry` ("host[:port]", e.g. a Reference's registry) under the
// config directory `root`, in order, the registry itself last, each complete (scheme, host,
// api_root): what containerd 1.6's ConfigureHosts(HostDirFromRoot(root)) gives. `root`
// empty or without a matching directory: the registry itself only. Errors: a hosts.toml or
// directory that cannot be read (not: one that does not exist).
absl::StatusOr<std::vector<RegistryHost>> HostsFor(const std::string& root,
                                                   const std::string& registry);

}  // namespace layerseal::registry

#endif  // LAYERSEAL_REGISTRY_HOSTS_H_
