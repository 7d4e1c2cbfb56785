#include "verifier/sigstore/json.h"

#include <cctype>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/manifest.h"

namespace layerseal::sigstore {

// "logIndex" -> "log_index", "x509CertificateChain" -> "x509_certificate_chain".
std::string SnakeCase(std::string_view camel) {
  std::string out;
  out.reserve(camel.size() + 4);
  for (char c : camel) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

// RFC 3339 times are short; a longer string is not one (and is not worth parsing).
constexpr size_t kMaxTimeChars = 64;
// An int64 has at most 19 digits and a sign.
constexpr size_t kMaxInt64Chars = 20;


// At most `max` bytes of `s`, cut at a UTF-8 character boundary, with "..." when cut.
std::string Clip(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return StrCat(s.substr(0, n), "...");
}

}  // namespace

absl::Status PathError(std::string_view path, std::string_view what) {
  // Paths and messages quote the input (member names, values): keep them short.
  return absl::InvalidArgumentError(StrCat(Clip(path, kMaxJsonErrorChars), ": ", Clip(what, kMaxJsonErrorChars)));
}

std::string JoinPath(std::string_view parent, std::string_view member) {
  if (parent.empty()) return std::string(member);
  return StrCat(parent, ".", member);
}

absl::StatusOr<std::string> ProtoBytes(const nlohmann::json& j, std::string_view path) {
  if (!j.is_string()) return PathError(path, StrCat("must be a base64 string, not ", j.type_name()));
  // Go's decoder (which protojson uses) skips '\r' and '\n' anywhere, and the conformance
  // corpus has a line-wrapped timestamp (rekor2-timestamp-with-incorrect-time_fail); any other
  // whitespace is an error.
  std::string text;
  for (char c : j.get_ref<const std::string&>()) {
    if (c != '\r' && c != '\n') text.push_back(c);
  }
  // protojson: the URL alphabet when '-' or '_' appears, the standard one otherwise; padding
  // optional. Mixing the alphabets is an error (Go's decoder refuses it too).
  bool url = text.find_first_of("-_") != std::string::npos;
  if (url) {
    if (text.find_first_of("+/") != std::string::npos) {
      return PathError(path, "invalid base64: mixes the standard and URL alphabets");
    }
    for (char& c : text) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
  }
  if (text.size() % 4 != 0) {
    if (text.find('=') != std::string::npos || text.size() % 4 == 1) {
      return PathError(path, StrCat("invalid base64: length ", text.size(), " with bad padding"));
    }
    text.append(4 - text.size() % 4, '=');
  }
  absl::StatusOr<std::string> out = Base64Decode(text);
  if (!out.ok()) return PathError(path, StrCat("invalid ", Sv(out.status().message())));
  return out;
}

absl::StatusOr<int64_t> ProtoInt64(const nlohmann::json& j, std::string_view path) {
  if (j.is_number_integer()) {
    if (j.is_number_unsigned() &&
        j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return PathError(path, StrCat("integer ", j.dump(), " does not fit an int64"));
    }
    return j.get<int64_t>();
  }
  if (!j.is_string()) {
    return PathError(path, StrCat("must be an integer or a decimal string, not ", j.type_name()));
  }
  const std::string& s = j.get_ref<const std::string&>();
  size_t start = !s.empty() && s[0] == '-' ? 1 : 0;
  if (s.size() == start || s.size() > kMaxInt64Chars) {
    return PathError(path, "must be a decimal int64 string");
  }
  for (size_t i = start; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return PathError(path, "must be a decimal int64 string");
  }
  // Accumulate negatively so that INT64_MIN fits; overflow is an error, not a wrap.
  int64_t v = 0;
  for (size_t i = start; i < s.size(); ++i) {
    int d = s[i] - '0';
    if (v < (std::numeric_limits<int64_t>::min() + d) / 10) {
      return PathError(path, "decimal string does not fit an int64");
    }
    v = v * 10 - d;
  }
  if (start == 0) {
    if (v == std::numeric_limits<int64_t>::min()) {
      return PathError(path, "decimal string does not fit an int64");
    }
    v = -v;
  }
  return v;
}

absl::StatusOr<absl::Time> ProtoTime(const nlohmann::json& j, std::string_view path) {
  if (!j.is_string()) return PathError(path, StrCat("must be an RFC 3339 string, not ", j.type_name()));
  const std::string& s = j.get_ref<const std::string&>();
  if (s.size() > kMaxTimeChars) return PathError(path, "is too long for an RFC 3339 time");
  // absl's RFC3339_full needs the 'T' separator and an offset ("Z" or "+hh:mm").
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
    return PathError(path, StrCat("\"", s, "\" is not an RFC 3339 time: ", err));
  }
  return t;
}

absl::Status CheckFields(const nlohmann::json& j, std::string_view path,
                         std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) {
    return PathError(path.empty() ? "document" : path, StrCat("must be an object, not ", j.type_name()));
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    bool known = false;
    for (std::string_view a : allowed) {
      if (key == a) {
        known = true;
        break;
      }
      std::string snake = SnakeCase(a);
      if (key == snake) {
        // Both spellings of one field: protojson refuses that as a duplicate, so do we.
        if (snake != a && j.contains(std::string(a))) {
          return PathError(JoinPath(path, a), StrCat("given twice (also as \"", snake, "\")"));
        }
        known = true;
        break;
      }
    }
    if (!known) return PathError(JoinPath(path, key), "unknown member");
  }
  return absl::OkStatus();
}

const nlohmann::json* Member(const nlohmann::json& j, std::string_view name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(std::string(name));
  if (it == j.end()) {
    std::string snake = SnakeCase(name);
    if (snake != name) it = j.find(snake);
  }
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<nlohmann::json> ParseJsonDocument(std::string_view bytes, size_t max_bytes,
                                                 std::string_view what) {
  absl::StatusOr<nlohmann::json> doc = ParseStrictJson(bytes, max_bytes);
  if (doc.ok()) return doc;
  // The parser's message quotes raw input bytes, which need not be UTF-8: keep ASCII only.
  std::string msg(Sv(doc.status().message()));
  for (char& c : msg) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  return absl::Status(doc.status().code(), StrCat(what, ": ", Clip(msg, kMaxJsonErrorChars)));
}

absl::StatusOr<const nlohmann::json*> RequiredMember(const nlohmann::json& obj,
                                                     std::string_view path, std::string_view name) {
  const nlohmann::json* m = Member(obj, name);
  if (m == nullptr) return PathError(JoinPath(path, name), "missing");
  return m;
}

absl::StatusOr<std::string> StringMember(const nlohmann::json& obj, std::string_view path,
                                         std::string_view name, bool required) {
  const nlohmann::json* m = Member(obj, name);
  if (m == nullptr) {
    if (required) return PathError(JoinPath(path, name), "missing");
    return std::string();
  }
  if (!m->is_string()) {
    return PathError(JoinPath(path, name), StrCat("must be a string, not ", m->type_name()));
  }
  if (required && m->get_ref<const std::string&>().empty()) {
    return PathError(JoinPath(path, name), "is empty");
  }
  return m->get<std::string>();
}

}  // namespace layerseal::sigstore
