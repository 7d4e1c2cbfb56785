#include "registry/hosts_source.h"

#include <utility>

#include "base/file.h"
#include "base/str_cat.h"

namespace layerseal::registry {
namespace {

// Docker Hub's API host differs from the name in references (as in client.cc).
std::string ApiHostOf(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

// The CA files' text, together at most kMaxHostCaBytes (RESOURCE_EXHAUSTED past it).
absl::StatusOr<std::string> ReadCaFiles(const std::vector<std::string>& files) {
  std::string pem;
  for (const std::string& f : files) {
    absl::StatusOr<std::string> text = ReadFileLimited(f, kMaxHostCaBytes, "CA file");
    if (!text.ok()) return text.status();
    pem += *text;
    pem += "\n";
    if (pem.size() > kMaxHostCaBytes) {
      return absl::ResourceExhaustedError(StrCat("CA files over 1 MiB, at ", f));
    }
  }
  return pem;
}

Options HostOptions(const std::string& registry, const RegistryHost& h, const Options& base) {
  Options o = base;
  o.plain_http = h.scheme == "http";
  // The registry itself, as references name it: today's URLs and credential lookup.
  bool itself = h.host == ApiHostOf(registry) && h.api_root == "/v2";
  if (!itself) {
    o.endpoint_host = h.host;
    o.api_root = h.api_root;
  }
  o.skip_verify = h.skip_verify;
  if (!h.clients.empty()) {  // curl takes one client certificate: the first pair
    o.client_cert_file = h.clients.front().first;
    o.client_key_file = h.clients.front().second;
  }
  return o;
}

}  // namespace

HostsSource::HostsSource(const std::string& registry,
                         absl::StatusOr<std::vector<RegistryHost>> configured,
                         const Options& base) {
  if (!configured.ok()) {
    config_error_ = absl::UnavailableError(StrCat("registry hosts of ", registry, ": ",
                                                  configured.status().message()));
    return;
  }
  std::vector<RegistryHost>& hosts = *configured;
  if (hosts.size() > kMaxHostsPerRegistry) hosts.resize(kMaxHostsPerRegistry);
  for (RegistryHost& h : hosts) {
    Options o = HostOptions(registry, h, base);
    absl::Status unusable;
    if (!h.ca_files.empty()) {
      absl::StatusOr<std::string> pem = ReadCaFiles(h.ca_files);
      if (pem.ok()) {
        o.ca_pem = *std::move(pem);
      } else {
        unusable = pem.status();
      }
    }
    hosts_.push_back(Host{.config = std::move(h),
                          .unusable = unusable,
                          .client = std::make_unique<RegistryClient>(std::move(o))});
  }
}

HostsSource::~HostsSource() = default;

template <typename T, typename F>
absl::StatusOr<T> HostsSource::FirstAnswer(unsigned capabilities, std::string_view what, F ask) {
  if (!config_error_.ok()) return config_error_;
  absl::Status first;
  for (Host& h : hosts_) {
    if ((h.config.capabilities & capabilities) != capabilities) continue;
    absl::StatusOr<T> answer =
        h.unusable.ok() ? ask(*h.client)
                        : absl::StatusOr<T>(absl::UnavailableError(
                              StrCat("host ", h.config.host, ": ", h.unusable.message())));
    if (answer.ok()) return answer;
    if (first.ok()) first = answer.status();
  }
  if (first.ok()) {
    return absl::NotFoundError(StrCat("no configured host may be asked for ", what));
  }
  return first;
}

absl::StatusOr<FetchedManifest> HostsSource::FetchManifest(const Reference& ref,
                                                           size_t max_bytes) {
  unsigned caps = ref.digest ? kCapPull : (kCapPull | kCapResolve);
  return FirstAnswer<FetchedManifest>(caps, StrCat("the manifest ", ref.ToString()),
                                      [&](RegistryClient& c) { return c.FetchManifest(ref, max_bytes); });
}

absl::StatusOr<std::string> HostsSource::FetchBlob(const Reference& repo, const Digest& digest,
                                                   size_t max_bytes) {
  return FirstAnswer<std::string>(kCapPull, StrCat("the blob ", digest.str()),
                                  [&](RegistryClient& c) { return c.FetchBlob(repo, digest, max_bytes); });
}

absl::StatusOr<FetchedManifest> HostsSource::FetchReferrers(const Reference& repo,
                                                            const Digest& subject,
                                                            std::string_view artifact_type,
                                                            size_t max_bytes) {
  // A mirror without the API is skipped like any failing host; but when every host failed,
  // a real failure (not "no API here") is what the verifier must see.
  absl::Status worst;
  absl::StatusOr<FetchedManifest> answer = FirstAnswer<FetchedManifest>(
      kCapPull, StrCat("the referrers of ", subject.str()), [&](RegistryClient& c) {
        absl::StatusOr<FetchedManifest> r = c.FetchReferrers(repo, subject, artifact_type, max_bytes);
        if (!r.ok() && r.status().code() != absl::StatusCode::kUnimplemented && worst.ok()) {
          worst = r.status();
        }
        return r;
      });
  if (!answer.ok() && answer.status().code() == absl::StatusCode::kUnimplemented && !worst.ok()) {
    return worst;
  }
  return answer;
}

}  // namespace layerseal::registry
