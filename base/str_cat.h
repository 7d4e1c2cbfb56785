// String concatenation that accepts std::string_view. Debian 12's abseil is built with
// ABSL_OPTION_USE_STD_STRING_VIEW=0, so absl::StrCat and absl::string_view do not accept
// std::string_view; every component uses this instead of absl::StrCat / absl::StrFormat.
// Thread-safety: pure functions.
#ifndef LAYERSEAL_BASE_STR_CAT_H_
#define LAYERSEAL_BASE_STR_CAT_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace layerseal {

// absl::string_view (e.g. absl::Status::message()) as a std::string_view.
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

namespace str_internal {
inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
void Append(std::string& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out.append(v ? "true" : "false");
  } else {
    out.append(std::to_string(v));
  }
}
}  // namespace str_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (str_internal::Append(out, args), ...);
  return out;
}

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_STR_CAT_H_
