// "host:port" addresses of the listeners people configure (the agent's and the controller's
// admin and web addresses, the controller's gRPC listen address). One parser, shared by the
// agent and the controller (issue 16: there were two, drifted apart).
// Thread-safety: pure functions. Ownership: returns its own copies.
#ifndef LAYERSEAL_BASE_HOST_PORT_H_
#define LAYERSEAL_BASE_HOST_PORT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerseal {

// Addresses longer than this are refused (a host name is at most 253 bytes).
inline constexpr size_t kMaxHostPortBytes = 512;

struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "localhost"
  int port = 0;
};

// Whether port 0 ("any free port, chosen by the kernel") is accepted.
enum class PortZero { kAllowed, kRefused };

// Splits "host:port", "[v6]:port". The host is not empty; an IPv6 host is written in brackets
// (returned without them) and an unbracketed host has no ':'. The port is decimal digits only,
// 1..65535, or 0 when `zero` allows it. Errors are INVALID_ARGUMENT and quote the address.
absl::StatusOr<HostPort> SplitHostPort(std::string_view address,
                                       PortZero zero = PortZero::kAllowed);

// The inverse: "host:port", with brackets around an IPv6 host.
std::string JoinHostPort(std::string_view host, int port);

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_HOST_PORT_H_
