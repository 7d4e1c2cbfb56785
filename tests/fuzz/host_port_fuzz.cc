// Fuzzes the host:port parser (base/host_port.h SplitHostPort): listen, admin and web
// addresses from config files and flags.
#include <string>

#include "base/host_port.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<layerseal::HostPort> hp = layerseal::SplitHostPort(in);
  absl::StatusOr<layerseal::HostPort> nonzero =
      layerseal::SplitHostPort(in, layerseal::PortZero::kRefused);
  if (!hp.ok()) {
    FUZZ_CHECK(!nonzero.ok());
    return 0;
  }
  FUZZ_CHECK(!hp->host.empty());
  FUZZ_CHECK(hp->host.find_first_of("[]") == std::string::npos);
  FUZZ_CHECK(hp->port >= 0 && hp->port <= 65535);
  FUZZ_CHECK(nonzero.ok() == (hp->port != 0));
  // Joining gives an address that parses to the same (not always the same text: "h:080").
  absl::StatusOr<layerseal::HostPort> again =
      layerseal::SplitHostPort(layerseal::JoinHostPort(hp->host, hp->port));
  FUZZ_CHECK(again.ok() && again->host == hp->host && again->port == hp->port);
  return 0;
}
