#include "base/host_port.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

constexpr int kMaxPort = 65535;

absl::Status NotHostPort(std::string_view address, std::string_view why) {
  std::string_view cut = address.substr(0, kMaxHostPortBytes);
  return absl::InvalidArgumentError(
      StrCat("\"", Sv(absl::CEscape(absl::string_view(cut.data(), cut.size()))),
             address.size() > cut.size() ? "\"..." : "\"", " is not host:port: ", why));
}

// Decimal digits only (no sign, no spaces), at most 5 of them.
bool ParsePort(std::string_view text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *port = value;
  return true;
}

}  // namespace

absl::StatusOr<HostPort> SplitHostPort(std::string_view address, PortZero zero) {
  if (address.size() > kMaxHostPortBytes) return NotHostPort(address, "too long");
  HostPort out;
  std::string_view rest;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos) return NotHostPort(address, "no ']' after the IPv6 host");
    out.host = std::string(address.substr(1, close - 1));
    rest = address.substr(close + 1);
    if (out.host.find_first_of("[]") != std::string::npos) {
      return NotHostPort(address, "stray bracket in the host");
    }
    if (rest.empty() || rest.front() != ':') return NotHostPort(address, "no \":port\" after \"]\"");
  } else {
    size_t colon = address.find(':');
    if (colon == std::string_view::npos) return NotHostPort(address, "no \":port\"");
    if (address.find(':', colon + 1) != std::string_view::npos) {
      return NotHostPort(address, "an IPv6 host needs brackets, as in [::1]:7081");
    }
    out.host = std::string(address.substr(0, colon));
    rest = address.substr(colon);
    if (out.host.find_first_of("[]") != std::string::npos) {
      return NotHostPort(address, "stray bracket in the host");
    }
  }
  if (out.host.empty()) return NotHostPort(address, "empty host");
  if (!ParsePort(rest.substr(1), &out.port) || out.port > kMaxPort) {
    return NotHostPort(address, StrCat("the port is not a number from ",
                                       zero == PortZero::kAllowed ? 0 : 1, " to ", kMaxPort));
  }
  if (out.port == 0 && zero == PortZero::kRefused) {
    return NotHostPort(address, "port 0 is not allowed here");
  }
  return out;
}

std::string JoinHostPort(std::string_view host, int port) {
  bool v6 = host.find(':') != std::string_view::npos;
  return v6 ? StrCat("[", host, "]:", port) : StrCat(host, ":", port);
}

}  // namespace layerseal
