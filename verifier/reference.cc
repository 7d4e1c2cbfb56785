#include "verifier/reference.h"

#include "base/str_cat.h"
#include "absl/strings/str_split.h"

namespace layerseal {
namespace {

constexpr size_t kMaxNameLength = 255;  // docker's reference grammar
constexpr size_t kMaxTagLength = 128;

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool ValidComponent(std::string_view c) {
  if (c.empty() || !IsAlnumLower(c.front()) || !IsAlnumLower(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    if (IsAlnumLower(c[i])) continue;
    size_t j = i;
    while (j < c.size() && !IsAlnumLower(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j - 1;
  }
  return true;
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > kMaxTagLength) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_';
    if (!word && (i == 0 || (c != '.' && c != '-'))) return false;
  }
  return true;
}

bool ValidHost(std::string_view h) {
  if (h.empty()) return false;
  std::string_view host = h;
  if (size_t colon = h.rfind(':'); colon != std::string_view::npos && h.front() != '[') {
    std::string_view port = h.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos) {
      return false;
    }
    host = h.substr(0, colon);
  }
  if (host.empty()) return false;
  if (host.front() == '[') return host.find(']') != std::string_view::npos;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status BadReference(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("image reference \"", text.substr(0, 300), "\": ", why));
}

}  // namespace

bool LooksLikeRegistryHost(std::string_view first) {
  return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
         first == "localhost" || (!first.empty() && first.front() == '[');
}

absl::StatusOr<Reference> Reference::Parse(std::string_view text) {
  Reference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    absl::StatusOr<Digest> d = Digest::Parse(rest.substr(at + 1));
    if (!d.ok()) return BadReference(text, Sv(d.status().message()));
    ref.digest = *d;
    rest = rest.substr(0, at);
  }
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos && LooksLikeRegistryHost(rest.substr(0, slash))) {
    ref.registry = std::string(rest.substr(0, slash));
    rest = rest.substr(slash + 1);
    if (!ValidHost(ref.registry)) return BadReference(text, "invalid registry host");
  } else {
    ref.registry = "docker.io";
  }
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(ref.tag)) return BadReference(text, "invalid tag");
  }
  if (rest.empty()) return BadReference(text, "no repository");
  for (absl::string_view c : absl::StrSplit(absl::string_view(rest.data(), rest.size()), '/')) {
    if (!ValidComponent(Sv(c))) {
      return BadReference(text, StrCat("invalid repository component \"", c,
                                    "\" (lowercase letters, digits, separators . _ __ -)"));
    }
  }
  ref.repository = std::string(rest);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = StrCat("library/", ref.repository);
  }
  if (ref.Name().size() > kMaxNameLength) return BadReference(text, "name longer than 255 characters");
  return ref;
}

std::string Reference::Name() const { return StrCat(registry, "/", repository); }

std::string Reference::Identifier() const {
  if (digest) return digest->str();
  return tag.empty() ? "latest" : tag;
}

std::string Reference::ToString() const {
  std::string out = Name();
  if (!tag.empty()) out += StrCat(":", tag);
  if (digest) out += StrCat("@", digest->str());
  if (tag.empty() && !digest) out += StrCat(":latest");
  return out;
}

Reference Reference::WithDigest(const Digest& d) const {
  Reference r = *this;
  r.tag.clear();
  r.digest = d;
  return r;
}

Reference Reference::WithTag(std::string_view t) const {
  Reference r = *this;
  r.tag = std::string(t);
  r.digest.reset();
  return r;
}

}  // namespace layerseal
