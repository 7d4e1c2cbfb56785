// Retry-After (RFC 9110 section 10.2.3) as a wait, for the HTTP clients that honour it: the
// registry client (registry/client.cc) and the Kubernetes API client (controller/kube/
// client.cc). One parser, so both read the same header the same way.
// Pure function; thread-safe.
#ifndef LAYERSEAL_BASE_RETRY_AFTER_H_
#define LAYERSEAL_BASE_RETRY_AFTER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"

namespace layerseal {

// Delta-seconds beyond this many digits saturate to kMaxRetryAfter (callers cap the wait to
// their own maximum backoff anyway); they are never parsed into an overflow.
inline constexpr size_t kMaxRetryAfterDigits = 9;
inline constexpr absl::Duration kMaxRetryAfter = absl::Seconds(999999999);

// The wait a Retry-After value asks for: delta-seconds only (1*DIGIT, surrounding spaces and
// tabs ignored). nullopt for anything else (empty, a sign, a fraction, trailing text, and the
// HTTP-date form, which is not honoured: the caller's own backoff applies then).
inline std::optional<absl::Duration> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (value.size() > kMaxRetryAfterDigits) return kMaxRetryAfter;
  for (char c : value) seconds = seconds * 10 + (c - '0');
  return absl::Seconds(seconds);
}

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_RETRY_AFTER_H_
