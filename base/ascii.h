// ASCII case helpers over std::string_view (Debian's abseil 20220623 takes absl::string_view,
// which is not std::string_view). Pure functions; thread-safe.
#ifndef LAYERSEAL_BASE_ASCII_H_
#define LAYERSEAL_BASE_ASCII_H_

#include <string>
#include <string_view>

namespace layerseal {

// `s` with ASCII A-Z lowered, every other byte as it is (no locale): HTTP header names, auth
// schemes, hex digits.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_ASCII_H_
