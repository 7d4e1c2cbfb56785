// An ImageSource that reads one registry through its hosts (registry/hosts.h), in the order
// and with the capabilities containerd 1.6 uses (remotes/docker/resolver.go): a manifest by
// tag from the hosts that may pull AND resolve, a manifest by digest and blobs from the
// hosts that may pull; on any error the next host is tried, and when none answers the first
// error is returned (so the verifier's reason is the first host's). Whatever host answers,
// every byte is checked against its digest as with one registry (registry/client.h).
//
// Each host gets its own RegistryClient, made from `base` with the host's scheme, API root,
// CA files, client certificate and skip_verify. Credentials: `base.credentials` looked up
// by the host's name ("mirror:5000"); the registry itself (the last host, when it is the
// registry named in references) keeps today's lookup by the reference's registry. So the
// kubelet's pull secret for a registry (StaticCredentials of that registry) never goes to a
// mirror. [header] entries are not sent.
//
// Thread-safety: as RegistryClient (every host's client may be used concurrently).
#ifndef LAYERSEAL_REGISTRY_HOSTS_SOURCE_H_
#define LAYERSEAL_REGISTRY_HOSTS_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/client.h"
#include "registry/hosts.h"
#include "verifier/image_source.h"

namespace layerseal::registry {

inline constexpr size_t kMaxHostCaBytes = 1 << 20;  // all of one host's `ca` files

class HostsSource final : public ImageSource {
 public:
  // `registry`: the registry references name ("docker.io", "reg:5000"); `hosts`: HostsFor's
  // answer for it (at most kMaxHostsPerRegistry). A host whose CA files cannot be read is
  // kept and fails when tried. An error (HostsFor's) is every request's answer.
  HostsSource(const std::string& registry, absl::StatusOr<std::vector<RegistryHost>> hosts,
              const Options& base);
  ~HostsSource() override;

  absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref, size_t max_bytes) override;
  absl::StatusOr<std::string> FetchBlob(const Reference& repo, const Digest& digest,
                                        size_t max_bytes) override;
  // From the hosts that may pull, in order; Unimplemented only when none has the API.
  absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo, const Digest& subject,
                                                 std::string_view artifact_type,
                                                 size_t max_bytes) override;

 private:
  struct Host {
    RegistryHost config;
    absl::Status unusable;  // why this host cannot be asked (e.g. an unreadable CA file)
    std::unique_ptr<RegistryClient> client;
  };
  template <typename T, typename F>
  absl::StatusOr<T> FirstAnswer(unsigned capabilities, std::string_view what, F ask);

  std::vector<Host> hosts_;
  absl::Status config_error_;  // the hosts configuration could not be read
};

}  // namespace layerseal::registry

#endif  // LAYERSEAL_REGISTRY_HOSTS_SOURCE_H_
