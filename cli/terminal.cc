#include "cli/terminal.h"

#include <cstdint>
#include <cstdio>

namespace layerseal::cli {
namespace {

// The code points a terminal may act on rather than show (besides C0, DEL and C1).
bool IsFormatting(uint32_t cp) {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
         cp == 0x200F || cp == 0x061C || cp == 0x2028 || cp == 0x2029;
}

// The length of the valid UTF-8 sequence at the start of `s` and its code point, or 0 when
// it is not valid UTF-8 (RFC 3629: shortest form, no surrogates, at most U+10FFFF).
size_t DecodeUtf8(std::string_view s, uint32_t* cp) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = byte(0);
  size_t len = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3
             : (b0 & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || len > s.size()) return 0;
  uint32_t v = len == 1 ? b0 : len == 2 ? (b0 & 0x1Fu) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
  for (size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (byte(i) & 0x3Fu);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMinForLength[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

void AppendEscape(std::string& out, const char* format, uint32_t value) {
  char buf[16];  // "\\u" and up to 8 hex digits of a 32-bit value, and the NUL
  std::snprintf(buf, sizeof buf, format, static_cast<unsigned>(value));
  out += buf;
}

// C1 controls and the formatting code points: what a terminal may act on, beyond ASCII.
bool IsUnsafeNonAscii(uint32_t cp) { return (cp >= 0x80 && cp <= 0x9F) || IsFormatting(cp); }

}  // namespace

std::string TerminalSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(text, &cp);
    if (len == 0) {
      AppendEscape(out, "\\x%02x", static_cast<unsigned char>(text[0]));
      len = 1;
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x20 || cp == 0x7F) {
      AppendEscape(out, "\\x%02x", cp);
    } else if (IsUnsafeNonAscii(cp)) {
      AppendEscape(out, "\\u%04x", cp);
    } else {
      out.append(text.substr(0, len));
    }
    text.remove_prefix(len);
  }
  return out;
}

std::string JsonTerminalSafe(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  while (!json.empty()) {
    uint32_t cp = 0;
    size_t len = DecodeUtf8(json, &cp);
    if (len == 0) len = 1;  // not UTF-8: kept (the printers never write it)
    if (len > 1 && IsUnsafeNonAscii(cp)) {
      AppendEscape(out, "\\u%04x", cp);
    } else {
      out.append(json.substr(0, len));
    }
    json.remove_prefix(len);
  }
  return out;
}

}  // namespace layerseal::cli
