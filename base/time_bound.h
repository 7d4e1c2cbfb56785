// The time bounds people type for event filters, in `layerseal events --since/--until` and in
// the web page's since/until parameters: RFC 3339 ("2026-11-23T13:00:00Z"), or a duration
// back from now ("15m", "2h", "7d"). Shared by the CLI and the controller (base/).
#ifndef LAYERSEAL_BASE_TIME_BOUND_H_
#define LAYERSEAL_BASE_TIME_BOUND_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "base/str_cat.h"

namespace layerseal {

// Days are ours ("7d"): absl::ParseDuration stops at hours. A hundred years is plenty.
inline constexpr int64_t kMaxTimeBoundDays = 36500;

// Microseconds since the Unix epoch, or INVALID_ARGUMENT quoting `text` and both forms.
inline absl::StatusOr<int64_t> ParseTimeBound(const std::string& text, absl::Time now) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return absl::ToUnixMicros(t);
  absl::Duration d;
  int64_t days = 0;
  if (text.size() > 1 && text.back() == 'd' &&
      absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days > 0 &&
      days <= kMaxTimeBoundDays) {
    d = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() ||
             d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is neither RFC 3339 ",
                                             "(2026-11-23T13:00:00Z) nor a duration back from ",
                                             "now (15m, 2h, 7d)"));
  }
  return absl::ToUnixMicros(now - d);
}

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_TIME_BOUND_H_
