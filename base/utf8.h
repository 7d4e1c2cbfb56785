// UTF-8 helpers for text that leaves the process in a format that requires valid UTF-8 (JSON
// for the Kubernetes API, where nlohmann-json throws on invalid bytes) and has a size bound
// (an Event's message). Pure functions over std::string_view; thread-safe.
#ifndef LAYERSEAL_BASE_UTF8_H_
#define LAYERSEAL_BASE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace layerseal {

// U+FFFD, what an invalid sequence becomes.
inline constexpr char kUtf8Replacement[] = "\xEF\xBF\xBD";

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or 0 when it is
// not one (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut
// short): RFC 3629's table.
inline size_t Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  uint8_t c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;   // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;   // beyond U+10FFFF
    return 4;
  }
  return 0;
}

// `s` as valid UTF-8: each byte that does not start a well-formed sequence becomes U+FFFD.
// With `one_line`, ASCII control characters (newlines, tabs, ESC, DEL) become spaces, so the
// text stays one line wherever it is shown (kubectl describe, a terminal).
inline std::string ValidUtf8(std::string_view s, bool one_line = false) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    size_t n = Utf8SequenceLength(s);
    if (n == 0) {
      out += kUtf8Replacement;
      s.remove_prefix(1);
      continue;
    }
    if (one_line && n == 1 && (static_cast<uint8_t>(s[0]) < 0x20 || s[0] == 0x7F)) {
      out += ' ';
    } else {
      out.append(s.data(), n);
    }
    s.remove_prefix(n);
  }
  return out;
}

// Valid UTF-8 `s` cut to at most `max_bytes`, never inside a character; when cut, it ends in
// `ellipsis` (which counts towards the bound; dropped if even it does not fit). Invalid
// input is made valid first (ValidUtf8).
inline std::string TruncateUtf8(std::string_view s, size_t max_bytes,
                                std::string_view ellipsis = "\xE2\x80\xA6" /* … */) {
  std::string valid = ValidUtf8(s);
  if (valid.size() <= max_bytes) return valid;
  if (ellipsis.size() > max_bytes) ellipsis = {};
  size_t keep = max_bytes - ellipsis.size();
  // Back up to the start of a character: continuation bytes are 10xxxxxx.
  while (keep > 0 && (static_cast<uint8_t>(valid[keep]) & 0xC0) == 0x80) --keep;
  valid.resize(keep);
  valid.append(ellipsis);
  return valid;
}

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_UTF8_H_
