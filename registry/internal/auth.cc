#include "registry/internal/auth.h"

#include <cctype>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "base/ascii.h"
#include "base/str_cat.h"

namespace layerseal::registry::internal {
namespace {

// RFC 7230 tchar.
bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}


// A cursor over the header with the small grammar of RFC 7235.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  size_t pos() const { return pos_; }
  void Seek(size_t pos) { pos_ = pos; }
  void Skip() { ++pos_; }
  void SkipSpaces() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t')) ++pos_;
  }
  std::string_view Token() {
    size_t start = pos_;
    while (!AtEnd() && IsTokenChar(Peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // After the opening quote: reads to the closing one, resolving backslash escapes.
  absl::StatusOr<std::string> Quoted() {
    std::string out;
    while (!AtEnd()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (AtEnd()) break;
        c = text_[pos_++];
      }
      out.push_back(c);
    }
    return absl::InvalidArgumentError("WWW-Authenticate: unterminated quoted string");
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

absl::Status Malformed(const Scanner& s, std::string_view why) {
  return absl::InvalidArgumentError(
      StrCat("WWW-Authenticate: ", why, " at offset ", s.pos()));
}

absl::StatusOr<std::string> ParamValue(Scanner& s) {
  if (s.Peek() == '"') {
    s.Skip();
    return s.Quoted();
  }
  std::string_view token = s.Token();
  if (token.empty()) return Malformed(s, "parameter without a value");
  return std::string(token);
}

// Reads "name=value" pairs into `c` until the next challenge's scheme or the end.
absl::Status ParseParams(Scanner& s, Challenge& c) {
  while (true) {
    s.SkipSpaces();
    while (s.Peek() == ',') {
      s.Skip();
      s.SkipSpaces();
    }
    if (s.AtEnd()) return absl::OkStatus();
    size_t start = s.pos();
    std::string name = AsciiLower(s.Token());
    if (name.empty()) return Malformed(s, "unexpected character");
    s.SkipSpaces();
    if (s.Peek() != '=') {
      s.Seek(start);  // a bare token: the next challenge's scheme
      return absl::OkStatus();
    }
    s.Skip();
    s.SkipSpaces();
    absl::StatusOr<std::string> value = ParamValue(s);
    if (!value.ok()) return value.status();
    if (!c.params.emplace(name, *std::move(value)).second) {
      return Malformed(s, StrCat("duplicate parameter \"", name, "\""));
    }
    s.SkipSpaces();
    if (!s.AtEnd() && s.Peek() != ',') return Malformed(s, "expected ',' between parameters");
  }
}

}  // namespace

std::string Challenge::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

absl::StatusOr<std::vector<Challenge>> ParseChallenges(std::string_view header) {
  if (header.size() > kMaxChallengeBytes) {
    return absl::InvalidArgumentError("WWW-Authenticate: header too long");
  }
  Scanner s(header);
  std::vector<Challenge> out;
  while (true) {
    s.SkipSpaces();
    while (s.Peek() == ',') {
      s.Skip();
      s.SkipSpaces();
    }
    if (s.AtEnd()) break;
    Challenge c;
    c.scheme = AsciiLower(s.Token());
    if (c.scheme.empty()) return Malformed(s, "expected an auth scheme");
    if (!s.AtEnd() && s.Peek() != ' ' && s.Peek() != ',') {
      return Malformed(s, "unexpected character after the scheme");
    }
    if (absl::Status st = ParseParams(s, c); !st.ok()) return st;
    out.push_back(std::move(c));
  }
  if (out.empty()) return absl::InvalidArgumentError("WWW-Authenticate: empty header");
  return out;
}

absl::StatusOr<Token> ParseTokenResponse(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("token response: not a JSON object");
  Token t;
  for (const char* field : {"token", "access_token"}) {
    auto it = j.find(field);
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      t.value = it->get<std::string>();
      break;
    }
  }
  if (t.value.empty()) {
    return absl::InvalidArgumentError("token response: no \"token\" or \"access_token\"");
  }
  auto exp = j.find("expires_in");
  if (exp != j.end() && exp->is_number() && exp->get<double>() > 0) {
    t.lifetime = absl::Seconds(exp->get<double>());
  }
  return t;
}

std::string BasicAuthorization(std::string_view username, std::string_view password) {
  std::string plain = StrCat(username, ":", password);
  return StrCat("Basic ", absl::Base64Escape(plain));
}

std::string TokenCache::Key(std::string_view registry, std::string_view scope) {
  return StrCat(registry, "\n", scope);
}

std::optional<std::string> TokenCache::Get(const std::string& key) const {
  absl::Duration now = clock_.Monotonic();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || now + kTokenExpirySlack >= it->second.expires) return std::nullopt;
  return it->second.token;
}

void TokenCache::Put(const std::string& key, std::string token, absl::Duration lifetime) {
  absl::Duration now = clock_.Monotonic();
  absl::MutexLock lock(&mu_);
  // Drop expired entries so the cache stays as small as the set of live scopes.
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
  }
  entries_[key] = Entry{std::move(token), now + lifetime};
}

size_t TokenCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace layerseal::registry::internal
