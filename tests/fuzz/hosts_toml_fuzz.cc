// Fuzzes containerd's hosts.toml reader (registry/hosts.h ParseHostsToml): a file an admin
// writes, parsed with toml++ and then checked field by field.
#include <string>

#include "registry/hosts.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace registry = layerseal::registry;
  absl::StatusOr<std::vector<registry::RegistryHost>> hosts =
      registry::ParseHostsToml(layerseal::fuzz::AsView(data, size), "/etc/containerd/certs.d/x");
  if (!hosts.ok()) return 0;
  FUZZ_CHECK(!hosts->empty());  // the server entry is always last
  FUZZ_CHECK(hosts->size() <= registry::kMaxHostsPerRegistry);
  for (size_t i = 0; i < hosts->size(); ++i) {
    const registry::RegistryHost& h = (*hosts)[i];
    FUZZ_CHECK(h.scheme == "http" || h.scheme == "https");
    FUZZ_CHECK(i + 1 == hosts->size() || !h.host.empty());  // every mirror names a host
    for (const std::string& ca : h.ca_files) FUZZ_CHECK(!ca.empty() && ca[0] == '/');
    for (const auto& [name, value] : h.headers) {
      FUZZ_CHECK(value.find('\n') == std::string::npos && name.find(':') == std::string::npos);
    }
  }
  return 0;
}
