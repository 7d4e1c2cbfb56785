#include "verifier/policy.h"

#include <fnmatch.h>

#include <filesystem>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <sstream>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/strings/escaping.h"
#include "verifier/digest.h"
#include "verifier/sigstore/trusted_root.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "re2/re2.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace layerseal {

namespace policy_internal {

// A scope string, parsed once at load. Every scope but a host wildcard is a list of
// '/'-separated segments matched against the leading segments of "registry/repository".
struct ScopePattern {
  bool host_wildcard = false;
  std::string suffix;                 // host wildcard: ".example.org" (with any ":port")
  std::vector<std::string> segments;  // otherwise: the host, then the path segments
  std::vector<bool> literal;          // per segment: true when it has no '*'
  std::vector<size_t> fixed;          // per segment: how many characters are not '*'
  bool exact = false;                 // `exact: true`: the whole name, not a prefix of it
};

}  // namespace policy_internal

using policy_internal::ScopePattern;

std::string_view RequirementName(Requirement r) {
  switch (r) {
    case Requirement::kSigned: return "signed";
    case Requirement::kReject: return "reject";
    case Requirement::kInsecureAcceptAnything: return "insecureAcceptAnything";
  }
  return "reject";
}

std::string_view SignatureKindName(SignatureKind k) {
  switch (k) {
    case SignatureKind::kSeal: return "seal";
    case SignatureKind::kCosign: return "cosign";
    case SignatureKind::kNotation: return "notation";
  }
  return "unknown";
}

bool ScopePolicy::Accepts(SignatureKind k) const {
  for (SignatureKind s : signatures) {
    if (s == k) return true;
  }
  return false;
}

const TrustedKey* ScopePolicy::FindKey(std::string_view key_id) const {
  for (const TrustedKey& k : keys) {
    if (k.key.key_id() == key_id) return &k;
  }
  return nullptr;
}

namespace {

constexpr size_t kMaxKeyNameLength = 64;
constexpr size_t kMaxQuotedLength = 100;  // of a name echoed in an error message

// `s` quoted and escaped for a one-line message, cut if long (names can be any YAML text).
std::string Quote(std::string_view s) {
  std::string_view cut = s.substr(0, kMaxQuotedLength);
  std::string escaped = absl::CEscape(absl::string_view(cut.data(), cut.size()));
  return StrCat("\"", escaped, s.size() > cut.size() ? "\"..." : "\"");
}

absl::Status Bad(std::string_view why) { return absl::InvalidArgumentError(std::string(why)); }

// ---- Scope strings ----

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

absl::Status CheckPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return Bad(StrCat("bad port ", Quote(port)));
  for (char c : port) {
    if (!IsDigit(c)) return Bad(StrCat("bad port ", Quote(port)));
  }
  return absl::OkStatus();
}

// "[v6]" or "[v6]:port", lowercase hex.
absl::Status CheckBracketHost(std::string_view h) {
  size_t close = h.find(']');
  if (close == std::string_view::npos || close == 1) return Bad(StrCat("bad host ", Quote(h)));
  for (char c : h.substr(1, close - 1)) {
    if (!(IsDigit(c) || (c >= 'a' && c <= 'f') || c == ':')) {
      return Bad(StrCat("bad IPv6 host ", Quote(h), " (lowercase hex and ':')"));
    }
  }
  std::string_view rest = h.substr(close + 1);
  if (rest.empty()) return absl::OkStatus();
  if (rest.front() != ':') return Bad(StrCat("bad host ", Quote(h)));
  return CheckPort(rest.substr(1));
}

// "host" or "host:port". Lowercase only: matching lowercases the reference's registry, so an
// uppercase scope could never match, and would silently do nothing.
absl::Status CheckHost(std::string_view h) {
  if (!h.empty() && h.front() == '[') return CheckBracketHost(h);
  std::string_view host = h;
  if (size_t colon = h.rfind(':'); colon != std::string_view::npos) {
    if (absl::Status s = CheckPort(h.substr(colon + 1)); !s.ok()) return s;
    host = h.substr(0, colon);
  }
  if (host.empty() || host.front() == '.' || host.front() == '-' || host.back() == '.') {
    return Bad(StrCat("bad host ", Quote(h)));
  }
  for (char c : host) {
    if (IsUpper(c)) return Bad(StrCat("host ", Quote(h), " has uppercase letters: write it lowercase"));
    if (!(IsLower(c) || IsDigit(c) || c == '.' || c == '-')) {
      return Bad(StrCat("host ", Quote(h), " has an invalid character ", Quote(std::string_view(&c, 1))));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPathSegment(std::string_view seg) {
  for (char c : seg) {
    if (IsLower(c) || IsDigit(c) || c == '.' || c == '_' || c == '-' || c == '*') continue;
    if (IsUpper(c)) return Bad(StrCat("repository segment ", Quote(seg), " has uppercase letters"));
    if (c == ':' || c == '@') return Bad("a scope names repositories, not tags or digests");
    return Bad(StrCat("repository segment ", Quote(seg), " has an invalid character ",
                      Quote(std::string_view(&c, 1)), " ('*' is the only wildcard)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ScopePattern> ParseHostWildcard(std::string_view scope) {
  std::string_view host = scope.substr(2);
  if (host.find('/') != std::string_view::npos) {
    return Bad("a host wildcard (\"*.example.org\") takes no path");
  }
  if (host.find('*') != std::string_view::npos) return Bad("'*' may appear once, as \"*.\"");
  if (absl::Status s = CheckHost(host); !s.ok()) return s;
  ScopePattern p;
  p.host_wildcard = true;
  p.suffix = std::string(scope.substr(1));
  return p;
}

absl::StatusOr<ScopePattern> ParseScopePattern(std::string_view scope) {
  if (scope.empty()) return Bad("empty scope");
  if (scope.size() > kMaxScopeLength) return Bad(StrCat("longer than ", kMaxScopeLength, " bytes"));
  if (scope == "*") return Bad("\"*\" would match everything: that is what default is for");
  if (scope.starts_with("*.")) return ParseHostWildcard(scope);
  std::vector<std::string_view> segments = Split(scope, '/');
  for (std::string_view seg : segments) {
    if (seg.empty()) return Bad("empty path segment (no leading, trailing or double '/')");
  }
  std::string_view host = segments.front();
  if (host.find('*') != std::string_view::npos) {
    return Bad("'*' in a host only as the leading \"*.\" of a host-only scope (\"*.example.org\")");
  }
  if (absl::Status s = CheckHost(host); !s.ok()) return s;
  if (!LooksLikeRegistryHost(host)) {
    return Bad(StrCat(Quote(host), " is not a registry host; a scope starts with one ",
                      "(docker.io/library/nginx, not nginx)"));
  }
  ScopePattern p;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) {
      if (absl::Status s = CheckPathSegment(segments[i]); !s.ok()) return s;
    }
    p.segments.emplace_back(segments[i]);
    p.literal.push_back(segments[i].find('*') == std::string_view::npos);
    p.fixed.push_back(segments[i].size() - std::count(segments[i].begin(), segments[i].end(), '*'));
  }
  return p;
}

// Whether some string matches both patterns, '*' being the only wildcard: reachability in
// the product of the two patterns' automata. can[i][j]: a[i:] and b[j:] share a match.
bool GlobsOverlap(std::string_view a, std::string_view b) {
  // Cheap rejection first (the load-time check runs on every pair of same-rank scopes): the
  // fixed text before the first '*' and after the last must agree.
  size_t head = std::min(a.find('*'), b.find('*'));
  head = std::min({head, a.size(), b.size()});
  if (a.substr(0, head) != b.substr(0, head)) return false;
  size_t a_tail = a.size() - std::min(a.size(), a.rfind('*') + 1);
  size_t b_tail = b.size() - std::min(b.size(), b.rfind('*') + 1);
  size_t tail = std::min(a_tail, b_tail);
  if (a.substr(a.size() - tail) != b.substr(b.size() - tail)) return false;
  std::vector<std::vector<char>> can(a.size() + 1, std::vector<char>(b.size() + 1, 0));
  for (size_t i = a.size() + 1; i-- > 0;) {
    for (size_t j = b.size() + 1; j-- > 0;) {
      bool a_end = i == a.size(), b_end = j == b.size();
      bool v;
      if (a_end && b_end) {
        v = true;
      } else if (!a_end && a[i] == '*') {
        v = can[i + 1][j] || (!b_end && can[i][j + 1]);
      } else if (!b_end && b[j] == '*') {
        v = can[i][j + 1] || (!a_end && can[i + 1][j]);
      } else {
        v = !a_end && !b_end && a[i] == b[j] && can[i + 1][j + 1];
      }
      can[i][j] = v;
    }
  }
  return can[0][0];
}

bool SegmentMatches(const std::string& pattern, bool literal, std::string_view segment) {
  if (literal) return pattern == segment;
  std::string s(segment);
  return fnmatch(pattern.c_str(), s.c_str(), FNM_PATHNAME) == 0;
}

// How specific a matching scope is; the larger wins. A scope naming a host beats a host
// wildcard; then more segments win; at equal length a literal segment beats a glob, and then
// a glob with more fixed characters beats one with fewer, comparing segments left to right.
// An exact name is always first: any other match has fewer segments or a glob.
struct Rank {
  int tier = 0;               // 2: names a host; 1: host wildcard
  size_t length = 0;          // segments (tier 2), or the wildcard's suffix length (tier 1)
  std::vector<bool> literal;  // tier 2: which segments are literal
  std::vector<size_t> fixed;  // tier 2: fixed characters per segment
  bool operator<(const Rank& o) const {
    return std::tie(tier, length, literal, fixed) < std::tie(o.tier, o.length, o.literal, o.fixed);
  }
};

// `name`: the lowercased registry, then the repository's segments.
std::optional<Rank> Match(const ScopePattern& p, const std::vector<std::string_view>& name) {
  if (p.host_wildcard) {
    std::string_view registry = name.front();
    if (registry.size() <= p.suffix.size() || !registry.ends_with(p.suffix)) return std::nullopt;
    return Rank{1, p.suffix.size(), {}, {}};
  }
  if (p.segments.size() > name.size()) return std::nullopt;
  if (p.exact && p.segments.size() != name.size()) return std::nullopt;
  for (size_t i = 0; i < p.segments.size(); ++i) {
    if (!SegmentMatches(p.segments[i], p.literal[i], name[i])) return std::nullopt;
  }
  return Rank{2, p.segments.size(), p.literal, p.fixed};
}

// Two scopes of the same rank that can match one name would make the winner depend on file
// order: such a pair is refused at load.
bool Ambiguous(const ScopePattern& a, const ScopePattern& b) {
  if (a.host_wildcard || b.host_wildcard || a.literal != b.literal || a.fixed != b.fixed) {
    return false;
  }
  bool glob = false;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    glob = glob || !a.literal[i];
    bool overlap = a.literal[i] ? a.segments[i] == b.segments[i] : GlobsOverlap(a.segments[i], b.segments[i]);
    if (!overlap) return false;
  }
  return glob;  // two equal literal scopes are a duplicate key, reported as such
}

// ---- Files ----

std::string JoinPath(std::string_view dir, std::string_view path) {
  if (path.starts_with('/') || dir.empty()) return std::string(path);
  if (dir.ends_with('/')) return StrCat(dir, path);
  return StrCat(dir, "/", path);
}

// ---- YAML ----

// One YAML node and where it is: `path` names it in messages (scopes["x"].keys[1]) and
// `line` (1-based) is where it starts; for a map entry, the key's line, because yaml-cpp
// marks an empty value on the line after its key.
struct Item {
  std::string name;  // the map key, for map entries
  std::string path;
  int line = 1;
  YAML::Node node;
};

// yaml-cpp's lines are 0-based, and some nodes have no mark at all.
int LineOf(const YAML::Mark& mark, int fallback) { return mark.is_null() ? fallback : mark.line + 1; }

std::string_view KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a string";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "an undefined node";
  }
}

const Item* Find(const std::vector<Item>& items, std::string_view name) {
  for (const Item& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

struct Parsed {
  std::vector<std::string> key_files;  // every key file read, in file order
  std::vector<std::shared_ptr<const notation::TrustStore>> trust_stores;  // in file order
  std::vector<std::string> trust_store_dirs;
  ScopePolicy default_scope;
  std::vector<ScopePolicy> scopes;
  std::vector<std::shared_ptr<const ScopePattern>> patterns;
};

// Walks the YAML tree strictly: every field known, every map key once, every value typed.
// Single use; not thread-safe.
class Parser {
 public:
  Parser(std::string_view source, std::string_view base_dir)
      : source_(source), base_dir_(base_dir) {}

  absl::StatusOr<Parsed> Run(const YAML::Node& root);

 private:
  // Map entries are either fixed fields (`default.mode`) or names (`keys["ci"]`).
  enum class Keys { kFields, kNames };

  absl::Status Error(const Item& at, std::string_view message) const;
  // The entries of a map in file order; duplicate keys and, for kFields, unknown fields are
  // errors.
  absl::StatusOr<std::vector<Item>> Entries(const Item& map, Keys kind,
                                            std::initializer_list<std::string_view> fields = {}) const;
  absl::StatusOr<std::string> Scalar(const Item& item) const;
  absl::StatusOr<std::string> OneOf(const Item& item,
                                    std::initializer_list<std::string_view> allowed) const;
  absl::Status ParseVersion(const std::vector<Item>& top, const Item& doc) const;
  absl::Status ParseDefaults(const std::vector<Item>& top);
  absl::Status ParseMode(const Item* item, Mode& mode) const;
  absl::Status ParseOnRegistryError(const Item* item, bool& allow) const;
  absl::Status ParseKeys(const Item& keys);
  absl::Status ParseKey(const Item& item);
  absl::StatusOr<PublicKey> LoadKey(const Item* path, const Item* pem) const;
  absl::Status PinAlgorithm(const Item& item, TrustedKey& key) const;
  absl::Status ParseTrustedRoots(const Item& roots);
  absl::Status ParseTrustedRoot(const Item& item);
  absl::Status ParseIdentities(const Item& identities);
  absl::Status ParseIdentity(const Item& item);
  // `pattern`: the scope's parsed name; null for default.
  absl::StatusOr<ScopePolicy> ParseScope(const Item& item, std::string name,
                                         const ScopePattern* pattern) const;
  absl::Status ParseExact(const Item& item, const ScopePattern* pattern, ScopePolicy& scope) const;
  // Issue 20 (s27-policy): Notary Project trust stores and a scope's `notation` member.
  absl::Status ParseTrustStores(const Item& stores);
  absl::Status ParseTrustStore(const Item& item);
  absl::Status ParseNotation(const Item& item, ScopePolicy& scope) const;
  absl::Status ParseNotationStores(const Item& item, notation::NotationTrust& trust) const;
  absl::Status ParseNotationIdentities(const Item& item, notation::NotationTrust& trust) const;
  absl::Status ParseScopeKeys(const Item& item, ScopePolicy& scope) const;
  absl::Status ParseSigstoreFields(const std::vector<Item>& fields, const Item& item,
                                   ScopePolicy& scope) const;
  absl::Status ParseSignatureKinds(const Item& item, ScopePolicy& scope) const;
  absl::Status ParseScopeIdentities(const Item& item, ScopePolicy& scope) const;
  absl::Status ParseSignatureRepository(const Item& item, ScopePolicy& scope) const;
  // Issue 18 (s25-inspect): trustedBases, protectedPaths, packageInventory, onRevoked.
  absl::Status ParseIntegrityFields(const std::vector<Item>& fields, ScopePolicy& scope) const;
  absl::Status ParseTrustedBases(const Item& item, ScopePolicy& scope) const;
  absl::StatusOr<TrustedBase> ParseTrustedBase(const Item& element) const;
  absl::StatusOr<TrustedBase> TrustedBaseFromText(const Item& at, const std::string& text,
                                                  bool chain_id_only, bool ref_only) const;
  absl::Status ParseProtectedPaths(const Item& item, ScopePolicy& scope) const;
  absl::StatusOr<bool> Boolean(const Item& item) const;
  // The elements of a list of names, each a string (for the scope lists).
  absl::StatusOr<std::vector<std::pair<Item, std::string>>> NameList(const Item& item,
                                                                     std::string_view what) const;
  absl::Status ParseScopes(const Item& scopes, Parsed& out) const;

  std::string source_;
  std::string base_dir_;
  Mode mode_ = Mode::kEnforce;
  bool allow_on_registry_error_ = false;
  std::map<std::string, TrustedKey, std::less<>> keys_;
  std::map<std::string, std::shared_ptr<const sigstore::TrustedRoot>, std::less<>> roots_;
  std::map<std::string, sigstore::IdentityPattern, std::less<>> identities_;
  std::map<std::string, std::shared_ptr<const notation::TrustStore>, std::less<>> stores_;
  std::vector<std::shared_ptr<const notation::TrustStore>> store_order_;  // in file order
  std::vector<std::string> store_dirs_;
  mutable std::vector<std::string> key_files_;
  int regexp_program_size_ = 0;  // over every identity regexp, for kMaxPolicyRegexpProgramSize
};

absl::Status Parser::Error(const Item& at, std::string_view message) const {
  std::string where = at.path.empty() ? "" : StrCat(at.path, ": ");
  return absl::InvalidArgumentError(StrCat(source_, ":", at.line, ": ", where, message));
}

std::string Expected(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) out = out.empty() ? std::string(n) : StrCat(out, ", ", n);
  return out;
}

absl::StatusOr<std::vector<Item>> Parser::Entries(const Item& map, Keys kind,
                                                  std::initializer_list<std::string_view> fields) const {
  if (!map.node.IsMap()) return Error(map, StrCat("expected a map, got ", KindName(map.node)));
  std::vector<Item> items;
  std::map<std::string, int, std::less<>> first_line;  // a 1 MiB map can hold 50k names
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    Item item;
    item.line = LineOf(it->first.Mark(), map.line);
    item.node = it->second;
    if (!it->first.IsScalar()) return Error(Item{"", map.path, item.line, {}}, "a map key is a string");
    item.name = it->first.Scalar();
    if (kind == Keys::kNames) {
      item.path = StrCat(map.path, "[", Quote(item.name), "]");
    } else {
      item.path = map.path.empty() ? item.name : StrCat(map.path, ".", item.name);
    }
    if (kind == Keys::kFields &&
        std::find(fields.begin(), fields.end(), item.name) == fields.end()) {
      return Error(item, StrCat("unknown field (expected one of: ", Expected(fields), ")"));
    }
    // yaml-cpp keeps both entries of a duplicate key and looks up the first: refuse instead.
    auto [first, inserted] = first_line.emplace(item.name, item.line);
    if (!inserted) return Error(item, StrCat("duplicate key (first on line ", first->second, ")"));
    items.push_back(std::move(item));
  }
  return items;
}

absl::StatusOr<std::string> Parser::Scalar(const Item& item) const {
  if (item.node.IsScalar()) return item.node.Scalar();
  return Error(item, StrCat("expected a string, got ", KindName(item.node)));
}

absl::StatusOr<std::string> Parser::OneOf(const Item& item,
                                          std::initializer_list<std::string_view> allowed) const {
  absl::StatusOr<std::string> s = Scalar(item);
  if (!s.ok()) return s;
  if (std::find(allowed.begin(), allowed.end(), *s) != allowed.end()) return s;
  return Error(item, StrCat("unknown value ", Quote(*s), " (expected one of: ", Expected(allowed), ")"));
}

absl::Status Parser::ParseVersion(const std::vector<Item>& top, const Item& doc) const {
  const Item* v = Find(top, "version");
  if (v == nullptr) return Error(doc, "missing field \"version\" (the policy format version: 1)");
  // A plain 1: a quoted "1" is a string in YAML, and a future version must not look alike.
  if (!v->node.IsScalar() || v->node.Tag() != "?" || v->node.Scalar() != "1") {
    std::string got = v->node.IsScalar() ? Quote(v->node.Scalar()) : std::string(KindName(v->node));
    return Error(*v, StrCat("unsupported policy version ", got, " (this agent reads version 1)"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseMode(const Item* item, Mode& mode) const {
  if (item == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> s = OneOf(*item, {"enforce", "warn", "audit"});
  if (!s.ok()) return s.status();
  mode = *s == "enforce" ? Mode::kEnforce : *s == "warn" ? Mode::kWarn : Mode::kAudit;
  return absl::OkStatus();
}

absl::Status Parser::ParseOnRegistryError(const Item* item, bool& allow) const {
  if (item == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> s = OneOf(*item, {"deny", "allow"});
  if (!s.ok()) return s.status();
  allow = *s == "allow";
  return absl::OkStatus();
}

absl::Status Parser::ParseDefaults(const std::vector<Item>& top) {
  if (absl::Status s = ParseMode(Find(top, "mode"), mode_); !s.ok()) return s;
  return ParseOnRegistryError(Find(top, "onRegistryError"), allow_on_registry_error_);
}

absl::Status Parser::ParseKeys(const Item& keys) {
  absl::StatusOr<std::vector<Item>> items = Entries(keys, Keys::kNames);
  if (!items.ok()) return items.status();
  if (items->size() > kMaxPolicyKeys) return Error(keys, StrCat("more than ", kMaxPolicyKeys, " keys"));
  for (const Item& item : *items) {
    if (absl::Status s = ParseKey(item); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool ValidKeyName(std::string_view name) {
  if (name.empty() || name.size() > kMaxKeyNameLength) return false;
  for (char c : name) {
    if (!(IsLower(c) || IsUpper(c) || IsDigit(c) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

absl::Status Parser::ParseKey(const Item& item) {
  if (!ValidKeyName(item.name)) {
    return Error(item, StrCat("a key name is 1 to ", kMaxKeyNameLength, " of A-Z a-z 0-9 . _ -"));
  }
  absl::StatusOr<std::vector<Item>> fields = Entries(item, Keys::kFields, {"path", "pem", "algorithm"});
  if (!fields.ok()) return fields.status();
  const Item* path = Find(*fields, "path");
  const Item* pem = Find(*fields, "pem");
  if ((path == nullptr) == (pem == nullptr)) return Error(item, "give exactly one of path or pem");
  absl::StatusOr<PublicKey> key = LoadKey(path, pem);
  if (!key.ok()) return key.status();
  TrustedKey trusted{item.name, *std::move(key), std::nullopt};
  if (const Item* alg = Find(*fields, "algorithm")) {
    if (absl::Status s = PinAlgorithm(*alg, trusted); !s.ok()) return s;
  }
  // One key under two names would make a scope's pin depend on which name it lists first.
  for (const auto& [name, other] : keys_) {
    if (other.key.key_id() == trusted.key.key_id()) {
      return Error(item, StrCat("the same public key as keys[", Quote(name), "] (",
                                trusted.key.key_id(), ")"));
    }
  }
  keys_.emplace(item.name, std::move(trusted));
  return absl::OkStatus();
}

absl::StatusOr<PublicKey> Parser::LoadKey(const Item* path, const Item* pem) const {
  const Item& at = path != nullptr ? *path : *pem;
  absl::StatusOr<std::string> text = Scalar(at);
  if (!text.ok()) return text.status();
  std::string file;
  if (path != nullptr) {
    if (text->empty()) return Error(at, "empty path");
    file = JoinPath(base_dir_, *text);
    key_files_.push_back(file);
    text = ReadFileLimited(file, kMaxPemBytes, "");
    if (!text.ok()) return Error(at, Sv(text.status().message()));
  }
  absl::StatusOr<PublicKey> key = PublicKey::FromPem(*text);
  if (!key.ok()) {
    std::string what = file.empty() ? "" : StrCat(Quote(file), ": ");
    return Error(at, StrCat(what, Sv(key.status().message())));
  }
  return key;
}

absl::Status Parser::PinAlgorithm(const Item& item, TrustedKey& key) const {
  absl::StatusOr<std::string> name = Scalar(item);
  if (!name.ok()) return name.status();
  absl::StatusOr<Algorithm> a = ParseAlgorithm(*name);
  if (!a.ok()) return Error(item, Sv(a.status().message()));
  if (!key.key.Fits(*a)) {
    std::string fits;
    for (Algorithm f : key.key.algorithms()) fits = StrCat(fits, fits.empty() ? "" : ", ", AlgorithmName(f));
    return Error(item, StrCat(*name, " does not fit this key (it fits: ", fits, ")"));
  }
  key.algorithm = *a;
  return absl::OkStatus();
}

absl::Status Parser::ParseTrustedRoots(const Item& roots) {
  absl::StatusOr<std::vector<Item>> items = Entries(roots, Keys::kNames);
  if (!items.ok()) return items.status();
  if (items->size() > kMaxPolicyTrustedRoots) {
    return Error(roots, StrCat("more than ", kMaxPolicyTrustedRoots, " trusted roots"));
  }
  for (const Item& item : *items) {
    if (absl::Status s = ParseTrustedRoot(item); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseTrustedRoot(const Item& item) {
  if (!ValidKeyName(item.name)) {
    return Error(item, StrCat("a trusted root name is 1 to ", kMaxKeyNameLength, " of A-Z a-z 0-9 . _ -"));
  }
  absl::StatusOr<std::vector<Item>> fields = Entries(item, Keys::kFields, {"path"});
  if (!fields.ok()) return fields.status();
  const Item* path = Find(*fields, "path");
  if (path == nullptr) return Error(item, "missing field \"path\" (a trusted_root.json)");
  absl::StatusOr<std::string> text = Scalar(*path);
  if (!text.ok()) return text.status();
  if (text->empty()) return Error(*path, "empty path");
  std::string file = JoinPath(base_dir_, *text);
  key_files_.push_back(file);
  // Read here, not by TrustedRoot::LoadFile, so that the size limit and a missing file are
  // reported the way key files are.
  absl::StatusOr<std::string> bytes = ReadFileLimited(file, sigstore::kMaxTrustedRootBytes, "");
  if (!bytes.ok()) return Error(*path, Sv(bytes.status().message()));
  absl::StatusOr<sigstore::TrustedRoot> root = sigstore::TrustedRoot::Parse(*bytes, file);
  if (!root.ok()) return Error(*path, Sv(root.status().message()));
  roots_.emplace(item.name, std::make_shared<const sigstore::TrustedRoot>(*std::move(root)));
  return absl::OkStatus();
}

absl::Status Parser::ParseIdentities(const Item& identities) {
  absl::StatusOr<std::vector<Item>> items = Entries(identities, Keys::kNames);
  if (!items.ok()) return items.status();
  if (items->size() > kMaxPolicyIdentities) {
    return Error(identities, StrCat("more than ", kMaxPolicyIdentities, " identities"));
  }
  for (const Item& item : *items) {
    if (absl::Status s = ParseIdentity(item); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseIdentity(const Item& item) {
  if (!ValidKeyName(item.name)) {
    return Error(item, StrCat("an identity name is 1 to ", kMaxKeyNameLength, " of A-Z a-z 0-9 . _ -"));
  }
  absl::StatusOr<std::vector<Item>> fields =
      Entries(item, Keys::kFields, {"issuer", "issuerRegExp", "subject", "subjectRegExp"});
  if (!fields.ok()) return fields.status();
  std::optional<std::string> values[4];
  const char* names[4] = {"issuer", "issuerRegExp", "subject", "subjectRegExp"};
  for (int i = 0; i < 4; ++i) {
    if (const Item* f = Find(*fields, names[i])) {
      absl::StatusOr<std::string> v = Scalar(*f);
      if (!v.ok()) return v.status();
      values[i] = *std::move(v);
    }
  }
  absl::StatusOr<sigstore::IdentityPattern> pattern = sigstore::MakeIdentityPattern(
      item.name, values[0], values[1], values[2], values[3]);
  if (!pattern.ok()) {
    // The message starts with the field it is about ("subjectRegExp: ..."): point at it.
    std::string_view message = Sv(pattern.status().message());
    for (const Item& f : *fields) {
      std::string prefix = StrCat(f.name, ": ");
      if (message.starts_with(prefix)) return Error(f, message.substr(prefix.size()));
    }
    return Error(item, message);
  }
  for (const auto& re : {pattern->issuer_re, pattern->subject_re}) {
    if (re != nullptr) regexp_program_size_ += re->ProgramSize();
  }
  if (regexp_program_size_ > kMaxPolicyRegexpProgramSize) {
    return Error(item, StrCat("the identities' regular expressions together compile to more than ",
                              kMaxPolicyRegexpProgramSize, " RE2 instructions; simplify them"));
  }
  identities_.emplace(item.name, *std::move(pattern));
  return absl::OkStatus();
}

// ---- Image-integrity rules and continuous validation (issue 18, s25-inspect) ----

// The scope fields that judge an image's content (docs/policy.md "Image-integrity rules").
constexpr std::string_view kIntegrityFields[] = {"trustedBases", "protectedPaths",
                                                 "packageInventory"};

absl::StatusOr<bool> Parser::Boolean(const Item& item) const {
  // The plain words true and false only: a quoted "true" is a string, and YAML 1.1's
  // yes/no/on/off read differently in different tools.
  if (item.node.IsScalar() && item.node.Tag() == "?" &&
      (item.node.Scalar() == "true" || item.node.Scalar() == "false")) {
    return item.node.Scalar() == "true";
  }
  std::string got = item.node.IsScalar() ? Quote(item.node.Scalar()) : std::string(KindName(item.node));
  return Error(item, StrCat("expected true or false, got ", got));
}

absl::StatusOr<TrustedBase> Parser::TrustedBaseFromText(const Item& at, const std::string& text,
                                                        bool chain_id_only, bool ref_only) const {
  TrustedBase base;
  base.name = text;
  bool looks_like_digest = text.starts_with("sha256:") || text.starts_with("sha512:");
  if (chain_id_only || (!ref_only && looks_like_digest)) {
    absl::StatusOr<Digest> d = Digest::Parse(text);
    if (!d.ok()) {
      return Error(at, StrCat("not a ChainID: ", Sv(d.status().message())));
    }
    if (d->algorithm() != "sha256") {
      return Error(at, StrCat("a ChainID is sha256:<64 hex> (layerseal inspect prints them), not ",
                              Quote(text)));
    }
    base.chain_id = *d;
    return base;
  }
  absl::StatusOr<Reference> ref = Reference::Parse(text);
  if (!ref.ok()) {
    return Error(at, StrCat("neither a ChainID (sha256:<64 hex>) nor an image reference: ",
                            Sv(ref.status().message())));
  }
  if (!ref->digest.has_value()) {
    return Error(at, StrCat(Quote(text), " has no digest: a trusted base is pinned "
                            "(debian:12@sha256:<manifest digest>, or its ChainID), since a tag "
                            "can move and the base with it"));
  }
  base.reference = *std::move(ref);
  // Policy::ResolveTrustedBases replaces this with the ChainID; until then it matches nothing.
  base.unresolved = "not resolved yet (references resolve when the agent loads the policy)";
  return base;
}

absl::StatusOr<TrustedBase> Parser::ParseTrustedBase(const Item& element) const {
  if (element.node.IsScalar()) {
    absl::StatusOr<std::string> text = Scalar(element);
    if (!text.ok()) return text.status();
    return TrustedBaseFromText(element, *text, false, false);
  }
  if (!element.node.IsMap()) {
    return Error(element, StrCat("expected a ChainID, a reference with a digest, or a map "
                                 "{name, chainId | ref}, got ", KindName(element.node)));
  }
  absl::StatusOr<std::vector<Item>> fields =
      Entries(element, Keys::kFields, {"name", "chainId", "ref"});
  if (!fields.ok()) return fields.status();
  const Item* chain = Find(*fields, "chainId");
  const Item* ref = Find(*fields, "ref");
  if ((chain == nullptr) == (ref == nullptr)) {
    return Error(element, "give exactly one of chainId or ref");
  }
  const Item& value = chain != nullptr ? *chain : *ref;
  absl::StatusOr<std::string> text = Scalar(value);
  if (!text.ok()) return text.status();
  absl::StatusOr<TrustedBase> base =
      TrustedBaseFromText(value, *text, chain != nullptr, ref != nullptr);
  if (!base.ok()) return base.status();
  if (const Item* name = Find(*fields, "name")) {
    absl::StatusOr<std::string> label = Scalar(*name);
    if (!label.ok()) return label.status();
    if (!ValidKeyName(*label)) {
      return Error(*name, StrCat("a trusted base name is 1 to ", kMaxKeyNameLength,
                                 " of A-Z a-z 0-9 . _ -"));
    }
    base->name = *label;
  }
  return base;
}

absl::Status Parser::ParseTrustedBases(const Item& item, ScopePolicy& scope) const {
  if (!item.node.IsSequence()) {
    return Error(item, StrCat("expected a list of trusted bases, got ", KindName(item.node)));
  }
  if (item.node.size() == 0) {
    return Error(item, "an empty list (no image could be admitted; use requirement: reject)");
  }
  if (item.node.size() > kMaxTrustedBases) {
    return Error(item, StrCat("more than ", kMaxTrustedBases, " trusted bases"));
  }
  std::vector<int> lines;
  for (size_t i = 0; i < item.node.size(); ++i) {
    YAML::Node n = item.node[i];
    Item element{"", StrCat(item.path, "[", i, "]"), LineOf(n.Mark(), item.line), n};
    absl::StatusOr<TrustedBase> base = ParseTrustedBase(element);
    if (!base.ok()) return base.status();
    for (size_t j = 0; j < scope.integrity.trusted_bases.size(); ++j) {
      const TrustedBase& prev = scope.integrity.trusted_bases[j];
      bool same = prev.name == base->name ||
                  (prev.chain_id && base->chain_id && *prev.chain_id == *base->chain_id) ||
                  (prev.reference && base->reference &&
                   prev.reference->ToString() == base->reference->ToString());
      if (same) {
        return Error(element, StrCat("the same base as ", item.path, "[", j, "] (line ",
                                     lines[j], ")"));
      }
    }
    lines.push_back(element.line);
    scope.integrity.trusted_bases.push_back(*std::move(base));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseProtectedPaths(const Item& item, ScopePolicy& scope) const {
  absl::StatusOr<std::vector<std::pair<Item, std::string>>> patterns =
      NameList(item, "path globs (/bin/*, /etc/passwd)");
  if (!patterns.ok()) return patterns.status();
  if (patterns->size() > layers::kMaxProtectedPatterns) {
    return Error(item, StrCat("more than ", layers::kMaxProtectedPatterns, " protected paths"));
  }
  std::vector<std::string> texts;
  for (const auto& [element, pattern] : *patterns) {
    // One by one first, so that an error names the pattern's own line.
    absl::StatusOr<layers::Glob> glob = layers::Glob::Parse(pattern);
    if (!glob.ok()) return Error(element, Sv(glob.status().message()));
    texts.push_back(pattern);
  }
  absl::StatusOr<layers::ProtectedPaths> paths = layers::ProtectedPaths::Parse(texts);
  if (!paths.ok()) return Error(item, Sv(paths.status().message()));
  scope.integrity.protected_path_patterns = std::move(texts);
  scope.integrity.protected_paths =
      std::make_shared<const layers::ProtectedPaths>(*std::move(paths));
  return absl::OkStatus();
}

absl::Status Parser::ParseIntegrityFields(const std::vector<Item>& fields,
                                          ScopePolicy& scope) const {
  if (const Item* on_revoked = Find(fields, "onRevoked")) {
    absl::StatusOr<std::string> v = OneOf(*on_revoked, {"report", "stop"});
    if (!v.ok()) return v.status();
    scope.on_revoked = *v == "stop" ? OnRevoked::kStop : OnRevoked::kReport;
  }
  if (scope.requirement == Requirement::kReject) {
    for (std::string_view field : kIntegrityFields) {
      if (const Item* f = Find(fields, field)) {
        return Error(*f, StrCat(field, " applies only to requirement signed or "
                                       "insecureAcceptAnything, not reject (a rejected image "
                                       "is never judged further)"));
      }
    }
    return absl::OkStatus();
  }
  if (const Item* bases = Find(fields, "trustedBases")) {
    if (absl::Status s = ParseTrustedBases(*bases, scope); !s.ok()) return s;
  }
  if (const Item* paths = Find(fields, "protectedPaths")) {
    if (absl::Status s = ParseProtectedPaths(*paths, scope); !s.ok()) return s;
  }
  if (const Item* packages = Find(fields, "packageInventory")) {
    absl::StatusOr<bool> b = Boolean(*packages);
    if (!b.ok()) return b.status();
    scope.integrity.packages = *b;
  }
  return absl::OkStatus();
}

// The scope fields that apply only to requirement signed.
constexpr std::string_view kSignedOnlyFields[] = {"keys", "signatures", "identities", "trustedRoot",
                                                  "transparencyLog", "signatureRepository",
                                                  "notation"};

absl::StatusOr<ScopePolicy> Parser::ParseScope(const Item& item, std::string name,
                                               const ScopePattern* pattern) const {
  absl::StatusOr<std::vector<Item>> fields =
      Entries(item, Keys::kFields,
              {"requirement", "keys", "mode", "onRegistryError", "signatures", "identities",
               "trustedRoot", "transparencyLog", "signatureRepository",
               // issue 18 (s25-inspect)
               "trustedBases", "protectedPaths", "packageInventory", "onRevoked",
               // issue 20 (s27-policy)
               "notation", "exact"});
  if (!fields.ok()) return fields.status();
  ScopePolicy scope;
  scope.scope = std::move(name);
  if (const Item* exact = Find(*fields, "exact")) {
    if (absl::Status es = ParseExact(*exact, pattern, scope); !es.ok()) return es;
  }
  scope.mode = mode_;
  scope.allow_on_registry_error = allow_on_registry_error_;
  const Item* req = Find(*fields, "requirement");
  if (req == nullptr) {
    return Error(item, "missing field \"requirement\" (signed, reject or insecureAcceptAnything)");
  }
  absl::StatusOr<std::string> r = OneOf(*req, {"signed", "reject", "insecureAcceptAnything"});
  if (!r.ok()) return r.status();
  scope.requirement = *r == "signed"   ? Requirement::kSigned
                      : *r == "reject" ? Requirement::kReject
                                       : Requirement::kInsecureAcceptAnything;
  if (absl::Status s = ParseMode(Find(*fields, "mode"), scope.mode); !s.ok()) return s;
  absl::Status s = ParseOnRegistryError(Find(*fields, "onRegistryError"), scope.allow_on_registry_error);
  if (!s.ok()) return s;
  if (absl::Status is = ParseIntegrityFields(*fields, scope); !is.ok()) return is;
  if (scope.requirement != Requirement::kSigned) {
    for (std::string_view field : kSignedOnlyFields) {
      if (const Item* f = Find(*fields, field)) {
        return Error(*f, StrCat(field, field == "keys" ? " apply" : " applies",
                                " only to requirement signed, not ", *r));
      }
    }
    return scope;
  }
  if (const Item* kinds = Find(*fields, "signatures")) {
    if (absl::Status ks = ParseSignatureKinds(*kinds, scope); !ks.ok()) return ks;
  }
  const Item* keys = Find(*fields, "keys");
  if (keys != nullptr) {
    if (absl::Status ks = ParseScopeKeys(*keys, scope); !ks.ok()) return ks;
  }
  if (absl::Status ss = ParseSigstoreFields(*fields, item, scope); !ss.ok()) return ss;
  bool notation = scope.Accepts(SignatureKind::kNotation);
  const Item* notation_item = Find(*fields, "notation");
  if (notation_item != nullptr && !notation) {
    return Error(*notation_item, "notation applies only to notation signatures: add notation to signatures");
  }
  if (keys == nullptr) {
    if (scope.Accepts(SignatureKind::kSeal)) {
      return Error(item, "requirement signed needs keys (names from the top-level keys)");
    }
    if (scope.Accepts(SignatureKind::kCosign) && scope.identities.empty()) {
      return Error(item, "requirement signed needs keys or identities (names from the top-level "
                         "keys and identities)");
    }
  } else if (!scope.Accepts(SignatureKind::kSeal) && !scope.Accepts(SignatureKind::kCosign)) {
    return Error(*keys, "keys apply only to seal and cosign signatures (notation signatures are "
                        "trusted through trustStores and trustedIdentities)");
  }
  if (notation_item == nullptr && notation) {
    return Error(*Find(*fields, "signatures"),
                 "notation signatures need the scope's notation member (level, trustStores, "
                 "trustedIdentities)");
  }
  if (notation_item != nullptr) {
    if (absl::Status ns = ParseNotation(*notation_item, scope); !ns.ok()) return ns;
  }
  return scope;
}

absl::Status Parser::ParseExact(const Item& item, const ScopePattern* pattern,
                                ScopePolicy& scope) const {
  absl::StatusOr<bool> exact = Boolean(item);
  if (!exact.ok()) return exact.status();
  if (!*exact) return absl::OkStatus();
  if (pattern == nullptr) {
    return Error(item, "exact applies only to a repository scope (default matches what no scope does)");
  }
  bool literal = std::find(pattern->literal.begin(), pattern->literal.end(), false) ==
                 pattern->literal.end();
  if (pattern->host_wildcard || pattern->segments.size() < 2 || !literal) {
    return Error(item, "exact applies only to a repository scope without '*' "
                       "(registry.example.com/app), not to a registry or a wildcard");
  }
  scope.exact = true;
  return absl::OkStatus();
}

// ---- Notary Project trust stores and the scope's notation member (issue 20, s27-policy) ----

absl::Status Parser::ParseTrustStores(const Item& stores) {
  absl::StatusOr<std::vector<Item>> items = Entries(stores, Keys::kNames);
  if (!items.ok()) return items.status();
  if (items->size() > notation::kMaxTrustStores) {
    return Error(stores, StrCat("more than ", notation::kMaxTrustStores, " trust stores"));
  }
  for (const Item& item : *items) {
    if (absl::Status s = ParseTrustStore(item); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseTrustStore(const Item& item) {
  if (!ValidKeyName(item.name)) {
    return Error(item, StrCat("a trust store name is 1 to ", kMaxKeyNameLength, " of A-Z a-z 0-9 . _ -"));
  }
  absl::StatusOr<std::vector<Item>> fields = Entries(item, Keys::kFields, {"type", "path", "crl"});
  if (!fields.ok()) return fields.status();
  const Item* type_item = Find(*fields, "type");
  if (type_item == nullptr) return Error(item, "missing field \"type\" (ca, signingAuthority or tsa)");
  absl::StatusOr<std::string> type_name = Scalar(*type_item);
  if (!type_name.ok()) return type_name.status();
  absl::StatusOr<notation::StoreType> type = notation::ParseStoreType(*type_name);
  if (!type.ok()) return Error(*type_item, Sv(type.status().message()));
  const Item* path = Find(*fields, "path");
  if (path == nullptr) {
    return Error(item, "missing field \"path\" (a directory of PEM/DER certificates, e.g. "
                       "truststore/x509/ca/acme)");
  }
  absl::StatusOr<std::string> dir_text = Scalar(*path);
  if (!dir_text.ok()) return dir_text.status();
  if (dir_text->empty()) return Error(*path, "empty path");
  std::string dir = JoinPath(base_dir_, *dir_text);
  std::string crl_file;
  const Item* crl = Find(*fields, "crl");
  if (crl != nullptr) {
    absl::StatusOr<std::string> crl_text = Scalar(*crl);
    if (!crl_text.ok()) return crl_text.status();
    if (crl_text->empty()) return Error(*crl, "empty path");
    crl_file = JoinPath(base_dir_, *crl_text);
  }
  absl::StatusOr<notation::TrustStore> store =
      notation::LoadTrustStore(item.name, *type, dir, crl_file);
  if (!store.ok()) {
    // Point at the field whose file is wrong: the CRL's when the message names it.
    std::string_view message = Sv(store.status().message());
    bool about_crl = crl != nullptr && message.find(crl_file) != std::string_view::npos;
    return Error(about_crl ? *crl : *path, message);
  }
  for (const std::string& f : store->files) key_files_.push_back(f);
  if (!crl_file.empty()) key_files_.push_back(crl_file);
  store_dirs_.push_back(dir);
  auto shared = std::make_shared<const notation::TrustStore>(*std::move(store));
  store_order_.push_back(shared);
  stores_.emplace(item.name, std::move(shared));
  return absl::OkStatus();
}

absl::Status Parser::ParseNotation(const Item& item, ScopePolicy& scope) const {
  absl::StatusOr<std::vector<Item>> fields =
      Entries(item, Keys::kFields,
              {"level", "override", "verifyTimestamp", "trustStores", "trustedIdentities"});
  if (!fields.ok()) return fields.status();
  notation::NotationTrust trust;
  const Item* level_item = Find(*fields, "level");
  if (level_item == nullptr) {
    return Error(item, "missing field \"level\" (strict, permissive, audit or skip)");
  }
  absl::StatusOr<std::string> level_name =
      OneOf(*level_item, {"strict", "permissive", "audit", "skip"});
  if (!level_name.ok()) return level_name.status();
  absl::StatusOr<notation::Level> level = notation::ParseLevel(*level_name);
  if (!level.ok()) return Error(*level_item, Sv(level.status().message()));
  trust.level = *level;
  bool skip = trust.level == notation::Level::kSkip;
  trust.actions = notation::ActionsFor(trust.level);
  if (const Item* override_item = Find(*fields, "override")) {
    if (skip) {
      return Error(*override_item, "override does not apply to level skip (nothing is verified)");
    }
    absl::StatusOr<std::vector<Item>> entries = Entries(*override_item, Keys::kNames);
    if (!entries.ok()) return entries.status();
    std::vector<std::pair<std::string, std::string>> overrides;
    for (const Item& entry : *entries) {
      absl::StatusOr<std::string> action = Scalar(entry);
      if (!action.ok()) return action.status();
      // One at a time first, so that an error names the entry's own line.
      absl::StatusOr<notation::Actions> one =
          notation::ApplyOverrides(trust.level, {{entry.name, *action}});
      if (!one.ok()) return Error(entry, Sv(one.status().message()));
      overrides.emplace_back(entry.name, *std::move(action));
    }
    absl::StatusOr<notation::Actions> actions = notation::ApplyOverrides(trust.level, overrides);
    if (!actions.ok()) return Error(*override_item, Sv(actions.status().message()));
    trust.actions = *actions;
  }
  if (const Item* ts = Find(*fields, "verifyTimestamp")) {
    absl::StatusOr<std::string> v = OneOf(*ts, {"always", "afterCertExpiry"});
    if (!v.ok()) return v.status();
    trust.verify_timestamp = *v == "always" ? notation::VerifyTimestamp::kAlways
                                            : notation::VerifyTimestamp::kAfterCertExpiry;
  }
  const Item* stores = Find(*fields, "trustStores");
  const Item* ids = Find(*fields, "trustedIdentities");
  if (skip) {
    for (const Item* f : {stores, ids}) {
      if (f != nullptr) {
        return Error(*f, StrCat(f->name, " does not apply to level skip (nothing is verified; "
                                         "the scope admits images without a signature)"));
      }
    }
  } else {
    if (stores == nullptr) {
      return Error(item, "missing field \"trustStores\" (names from the top-level trustStores, "
                         "at least one of type ca or signingAuthority)");
    }
    if (ids == nullptr) {
      return Error(item, "missing field \"trustedIdentities\" (\"x509.subject: C=.., ST=.., "
                         "O=..\" entries, or [\"*\"])");
    }
    if (absl::Status s = ParseNotationStores(*stores, trust); !s.ok()) return s;
    if (absl::Status s = ParseNotationIdentities(*ids, trust); !s.ok()) return s;
  }
  scope.notation = std::make_shared<const notation::NotationTrust>(std::move(trust));
  return absl::OkStatus();
}

absl::Status Parser::ParseNotationStores(const Item& item, notation::NotationTrust& trust) const {
  absl::StatusOr<std::vector<std::pair<Item, std::string>>> names =
      NameList(item, "trust store names");
  if (!names.ok()) return names.status();
  bool signing_roots = false;
  std::set<std::string> thumbprints;
  for (const auto& [element, name] : *names) {
    auto found = stores_.find(name);
    if (found == stores_.end()) {
      return Error(element, StrCat("unknown trust store ", Quote(name),
                                   " (names from the top-level trustStores)"));
    }
    const notation::TrustStore& store = *found->second;
    trust.stores.push_back(found->second);
    if (store.type == notation::StoreType::kTsa) continue;
    signing_roots = true;
    for (const std::string& t : store.thumbprints) {
      if (thumbprints.insert(t).second) trust.trusted_thumbprints.push_back(t);
    }
  }
  if (!signing_roots) {
    return Error(item, "no trust store of type ca or signingAuthority (a tsa store only vouches "
                       "for timestamps, never for the signer)");
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseNotationIdentities(const Item& item,
                                             notation::NotationTrust& trust) const {
  absl::StatusOr<std::vector<std::pair<Item, std::string>>> texts =
      NameList(item, "trusted identities (\"x509.subject: C=.., ST=.., O=..\" or \"*\")");
  if (!texts.ok()) return texts.status();
  if (texts->size() > notation::kMaxTrustedIdentities) {
    return Error(item, StrCat("more than ", notation::kMaxTrustedIdentities, " trusted identities"));
  }
  std::vector<std::string> all;
  for (const auto& [element, text] : *texts) {
    // One by one first, so that an error names the entry's own line.
    absl::StatusOr<notation::TrustedIdentity> id = notation::ParseTrustedIdentity(text);
    if (!id.ok()) return Error(element, Sv(id.status().message()));
    all.push_back(text);
  }
  absl::StatusOr<std::vector<notation::TrustedIdentity>> parsed =
      notation::ParseTrustedIdentities(all);
  if (!parsed.ok()) return Error(item, Sv(parsed.status().message()));
  trust.identities = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status Parser::ParseSigstoreFields(const std::vector<Item>& fields, const Item& item,
                                         ScopePolicy& scope) const {
  bool cosign = scope.Accepts(SignatureKind::kCosign);
  for (std::string_view field : {"identities", "trustedRoot", "transparencyLog", "signatureRepository"}) {
    const Item* f = Find(fields, field);
    if (f != nullptr && !cosign) {
      return Error(*f, StrCat(field, " applies only to cosign signatures: add cosign to signatures"));
    }
  }
  if (const Item* ids = Find(fields, "identities")) {
    if (absl::Status s = ParseScopeIdentities(*ids, scope); !s.ok()) return s;
  }
  const Item* tlog = Find(fields, "transparencyLog");
  if (tlog != nullptr) {
    absl::StatusOr<std::string> t = OneOf(*tlog, {"require", "ignore"});
    if (!t.ok()) return t.status();
    scope.require_tlog = *t == "require";
    if (!scope.require_tlog && !scope.identities.empty()) {
      return Error(*tlog, "ignore is not allowed with identities: a keyless signature needs a "
                          "transparency log entry or timestamp for its certificate's time");
    }
  }
  if (const Item* root = Find(fields, "trustedRoot")) {
    absl::StatusOr<std::string> name = Scalar(*root);
    if (!name.ok()) return name.status();
    auto found = roots_.find(*name);
    if (found == roots_.end()) {
      return Error(*root, StrCat("unknown trusted root ", Quote(*name),
                                 " (names from the top-level trustedRoots)"));
    }
    scope.trusted_root = found->second;
    scope.trusted_root_name = found->first;
  } else if (!scope.identities.empty()) {
    return Error(item, "identities need a trustedRoot (its Fulcio CAs issue the certificates)");
  } else if (cosign && scope.require_tlog) {
    return Error(item, "cosign signatures with transparencyLog: require (the default) need a "
                       "trustedRoot (its tlogs verify the log entries); or set transparencyLog: "
                       "ignore for key-based cosign signatures");
  }
  if (const Item* repo = Find(fields, "signatureRepository")) {
    if (absl::Status s = ParseSignatureRepository(*repo, scope); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<Item, std::string>>> Parser::NameList(
    const Item& item, std::string_view what) const {
  if (!item.node.IsSequence()) {
    return Error(item, StrCat("expected a list of ", what, ", got ", KindName(item.node)));
  }
  if (item.node.size() == 0) return Error(item, StrCat("an empty list (give at least one of ", what, ")"));
  std::vector<std::pair<Item, std::string>> out;
  for (size_t i = 0; i < item.node.size(); ++i) {
    YAML::Node n = item.node[i];
    Item element{"", StrCat(item.path, "[", i, "]"), LineOf(n.Mark(), item.line), n};
    absl::StatusOr<std::string> name = Scalar(element);
    if (!name.ok()) return name.status();
    for (const auto& [prev, prev_name] : out) {
      if (prev_name == *name) return Error(element, StrCat(Quote(*name), " is listed twice"));
    }
    out.emplace_back(std::move(element), *std::move(name));
  }
  return out;
}

absl::Status Parser::ParseSignatureKinds(const Item& item, ScopePolicy& scope) const {
  absl::StatusOr<std::vector<std::pair<Item, std::string>>> names =
      NameList(item, "seal, cosign, notation");
  if (!names.ok()) return names.status();
  scope.signatures.clear();
  for (const auto& [element, name] : *names) {
    absl::StatusOr<std::string> kind = OneOf(element, {"seal", "cosign", "notation"});
    if (!kind.ok()) return kind.status();
    scope.signatures.push_back(*kind == "seal"     ? SignatureKind::kSeal
                               : *kind == "cosign" ? SignatureKind::kCosign
                                                   : SignatureKind::kNotation);
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseScopeIdentities(const Item& item, ScopePolicy& scope) const {
  absl::StatusOr<std::vector<std::pair<Item, std::string>>> names =
      NameList(item, "identity names");
  if (!names.ok()) return names.status();
  for (const auto& [element, name] : *names) {
    auto found = identities_.find(name);
    if (found == identities_.end()) {
      return Error(element, StrCat("unknown identity ", Quote(name),
                                   " (names from the top-level identities)"));
    }
    scope.identities.push_back(found->second);
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseSignatureRepository(const Item& item, ScopePolicy& scope) const {
  absl::StatusOr<std::string> text = Scalar(item);
  if (!text.ok()) return text.status();
  if (text->find('*') != std::string::npos) return Error(item, "a repository name takes no '*'");
  absl::StatusOr<ScopePattern> pattern = ParseScopePattern(*text);
  if (!pattern.ok()) return Error(item, Sv(pattern.status().message()));
  if (pattern->segments.size() < 2) {
    return Error(item, "a repository name is a registry host then a path (ghcr.io/acme/signatures)");
  }
  absl::StatusOr<Reference> ref = Reference::Parse(*text);
  if (!ref.ok()) return Error(item, Sv(ref.status().message()));
  if (ref->Name() != *text) {
    return Error(item, StrCat("not a canonical repository name (it reads as ", Quote(ref->Name()), ")"));
  }
  ref->tag.clear();
  ref->digest.reset();
  scope.signature_repository = *std::move(ref);
  return absl::OkStatus();
}

absl::Status Parser::ParseScopeKeys(const Item& item, ScopePolicy& scope) const {
  if (!item.node.IsSequence()) return Error(item, StrCat("expected a list of key names, got ", KindName(item.node)));
  if (item.node.size() == 0) return Error(item, "requirement signed needs at least one key");
  for (size_t i = 0; i < item.node.size(); ++i) {
    YAML::Node n = item.node[i];
    Item element{"", StrCat(item.path, "[", i, "]"), LineOf(n.Mark(), item.line), n};
    absl::StatusOr<std::string> name = Scalar(element);
    if (!name.ok()) return name.status();
    auto found = keys_.find(*name);
    if (found == keys_.end()) return Error(element, StrCat("unknown key ", Quote(*name)));
    if (scope.FindKey(found->second.key.key_id()) != nullptr) {
      return Error(element, StrCat("key ", Quote(*name), " is listed twice"));
    }
    scope.keys.push_back(found->second);
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseScopes(const Item& scopes, Parsed& out) const {
  absl::StatusOr<std::vector<Item>> items = Entries(scopes, Keys::kNames);
  if (!items.ok()) return items.status();
  if (items->size() > kMaxPolicyScopes) return Error(scopes, StrCat("more than ", kMaxPolicyScopes, " scopes"));
  for (const Item& item : *items) {
    absl::StatusOr<ScopePattern> pattern = ParseScopePattern(item.name);
    if (!pattern.ok()) return Error(item, Sv(pattern.status().message()));
    for (size_t i = 0; i < out.patterns.size(); ++i) {
      if (Ambiguous(*out.patterns[i], *pattern)) {
        return Error(item, StrCat("as specific as scopes[", Quote(out.scopes[i].scope), "] (line ",
                                  (*items)[i].line, ") and both can match the same repository; ",
                                  "make one of them more specific"));
      }
    }
    absl::StatusOr<ScopePolicy> scope = ParseScope(item, item.name, &*pattern);
    if (!scope.ok()) return scope.status();
    pattern->exact = scope->exact;
    out.scopes.push_back(*std::move(scope));
    out.patterns.push_back(std::make_shared<const ScopePattern>(*std::move(pattern)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Parsed> Parser::Run(const YAML::Node& root) {
  Item doc{"", "", 1, root};
  if (root.IsNull()) return Error(doc, "the policy is empty");
  absl::StatusOr<std::vector<Item>> top = Entries(
      doc, Keys::kFields,
      {"version", "mode", "onRegistryError", "keys", "trustedRoots", "identities", "trustStores",
       "default", "scopes"});
  if (!top.ok()) return top.status();
  if (absl::Status s = ParseVersion(*top, doc); !s.ok()) return s;
  if (absl::Status s = ParseDefaults(*top); !s.ok()) return s;
  if (const Item* keys = Find(*top, "keys")) {
    if (absl::Status s = ParseKeys(*keys); !s.ok()) return s;
  }
  if (const Item* roots = Find(*top, "trustedRoots")) {
    if (absl::Status s = ParseTrustedRoots(*roots); !s.ok()) return s;
  }
  if (const Item* identities = Find(*top, "identities")) {
    if (absl::Status s = ParseIdentities(*identities); !s.ok()) return s;
  }
  if (const Item* stores = Find(*top, "trustStores")) {
    if (absl::Status s = ParseTrustStores(*stores); !s.ok()) return s;
  }
  const Item* def = Find(*top, "default");
  if (def == nullptr) return Error(doc, "missing field \"default\" (what applies when no scope matches)");
  Parsed out;
  out.key_files = key_files_;
  out.trust_stores = store_order_;
  out.trust_store_dirs = store_dirs_;
  absl::StatusOr<ScopePolicy> d = ParseScope(*def, "default", nullptr);
  if (!d.ok()) return d.status();
  out.default_scope = *std::move(d);
  if (const Item* scopes = Find(*top, "scopes")) {
    if (absl::Status s = ParseScopes(*scopes, out); !s.ok()) return s;
  }
  return out;
}

// Counts the documents of a YAML stream, at most kMaxCounted, and keeps where the second
// one's root node begins (the mark YAML::LoadAll would give that node).
class DocumentCounter final : public YAML::EventHandler {
 public:
  static constexpr int kMaxCounted = 2;
  int documents = 0;
  YAML::Mark second_root = YAML::Mark::null_mark();

  void OnDocumentStart(const YAML::Mark&) override { ++documents; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Saw(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnMapEnd() override {}

 private:
  void Saw(const YAML::Mark& mark) {
    if (documents == 2 && second_root.is_null()) second_root = mark;
  }
};

// yaml-cpp reports errors by exception: none may leave here.
absl::StatusOr<Parsed> ParseYaml(std::string_view yaml, std::string_view base_dir,
                                 std::string_view source) {
  try {
    // Not YAML::LoadAll: yaml-cpp 0.7's never returns on some malformed streams (a stray ','
    // at the top level yields empty documents forever, growing memory; tests/fuzz found it).
    // A policy is one document, so counting two is enough to refuse, and it always ends.
    std::istringstream stream{std::string(yaml)};
    YAML::Parser counter_parser(stream);
    DocumentCounter counter;
    while (counter.documents < DocumentCounter::kMaxCounted &&
           counter_parser.HandleNextDocument(counter)) {
    }
    if (counter.documents == 0) return Bad(StrCat(source, ":1: the policy is empty"));
    if (counter.documents > 1) {
      return Bad(StrCat(source, ":", LineOf(counter.second_root, 1), ": a policy is one YAML document, this is a second"));
    }
    return Parser(source, base_dir).Run(YAML::Load(std::string(yaml)));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's depth guard reports "bad file", which would send the reader looking elsewhere.
    return Bad(StrCat(source, ":", LineOf(e.mark, 1), ": invalid YAML: nested too deeply"));
  } catch (const YAML::Exception& e) {
    return Bad(StrCat(source, ":", LineOf(e.mark, 1), ": invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return Bad(StrCat(source, ": cannot parse the policy: ", e.what()));
  }
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status ValidateScope(std::string_view scope) {
  return ParseScopePattern(scope).status();
}

absl::StatusOr<Policy> Policy::Parse(std::string_view yaml, std::string_view base_dir,
                                     std::string_view source_name) {
  if (yaml.size() > kMaxPolicyBytes) {
    return Bad(StrCat(source_name, ": the policy is ", yaml.size(), " bytes; the limit is ",
                      kMaxPolicyBytes));
  }
  absl::StatusOr<Parsed> parsed = ParseYaml(yaml, base_dir, source_name);
  if (!parsed.ok()) return parsed.status();
  Policy p;
  p.version_ = Digest::Sha256Of(yaml).str();
  p.key_files_ = std::move(parsed->key_files);
  p.trust_stores_ = std::move(parsed->trust_stores);
  p.trust_store_dirs_ = std::move(parsed->trust_store_dirs);
  p.default_ = std::move(parsed->default_scope);
  p.scopes_ = std::move(parsed->scopes);
  p.patterns_ = std::move(parsed->patterns);
  p.SetTrustVersion();
  return p;
}

void Policy::SetTrustVersion() {
  std::string text = version_;
  auto add = [&text](const ScopePolicy& scope) {
    for (const TrustedKey& k : scope.keys) text += StrCat("|", k.key.key_id());
    // A trusted_root.json replaced under the same path keeps version(), like a key file.
    if (scope.trusted_root != nullptr) {
      text += StrCat("|root:", scope.trusted_root_name, "=", scope.trusted_root->sha256());
    }
    // Trusted bases written as references resolve at load, so the same bytes can mean other
    // ChainIDs (issue 18). Only scopes with rules add to the text: policies without them
    // keep their trust version, and the agent's cached verdicts with it.
    if (!scope.integrity.empty()) {
      text += StrCat("|integrity:", scope.scope, "=", scope.integrity.Fingerprint());
    }
  };
  add(default_);
  for (const ScopePolicy& scope : scopes_) add(scope);
  // Notary Project trust stores (issue 20): certificates and CRLs replaced under the same
  // paths keep version(). Every store, used or not, in file order.
  for (const auto& store : trust_stores_) {
    std::string certs;
    for (const std::string& der : store->certs_der) certs += Digest::Sha256Of(der).str();
    std::string crls;
    for (const std::string& der : store->crls_der) crls += Digest::Sha256Of(der).str();
    text += StrCat("|store:", store->name, "=", notation::StoreTypeName(store->type), ":",
                   Digest::Sha256Of(certs).str(), ":crl:", Digest::Sha256Of(crls).str());
  }
  trust_version_ = Digest::Sha256Of(text).str();
}

size_t Policy::ResolveTrustedBases(
    const std::function<absl::StatusOr<Digest>(const Reference&)>& resolve) {
  std::map<std::string, absl::StatusOr<Digest>> resolved;  // by the reference's text
  size_t failed = 0;
  auto resolve_scope = [&](ScopePolicy& scope) {
    for (TrustedBase& base : scope.integrity.trusted_bases) {
      if (!base.reference.has_value()) continue;
      std::string key = base.reference->ToString();
      auto it = resolved.find(key);
      if (it == resolved.end()) it = resolved.emplace(key, resolve(*base.reference)).first;
      if (it->second.ok()) {
        base.chain_id = *it->second;
        base.unresolved.clear();
      } else {
        base.chain_id.reset();
        base.unresolved = std::string(Sv(it->second.status().message()));
        if (base.unresolved.empty()) base.unresolved = "could not be resolved";
        ++failed;
      }
    }
  };
  resolve_scope(default_);
  for (ScopePolicy& scope : scopes_) resolve_scope(scope);
  SetTrustVersion();
  return failed;
}

absl::StatusOr<Policy> Policy::LoadFile(const std::string& path) {
  // NOT_FOUND when missing, RESOURCE_EXHAUSTED when too large (base/file.h).
  absl::StatusOr<std::string> yaml = ReadFileLimited(path, kMaxPolicyBytes, "");
  if (!yaml.ok()) {
    return absl::Status(yaml.status().code(), StrCat("policy: ", Sv(yaml.status().message())));
  }
  return Parse(*yaml, Dirname(path), path);
}

Policy Policy::TrustingKeys(std::vector<PublicKey> keys) {
  Policy p;
  p.default_.scope = "default";
  p.default_.requirement = Requirement::kSigned;
  p.default_.mode = Mode::kEnforce;
  std::string ids;
  for (PublicKey& k : keys) {
    ids += k.key_id();
    std::string name = k.key_id();
    p.default_.keys.push_back(TrustedKey{std::move(name), std::move(k), std::nullopt});
  }
  p.version_ = Digest::Sha256Of(ids).str();
  p.SetTrustVersion();
  return p;
}

const ScopePolicy& Policy::Resolve(const Reference& ref) const {
  // Registries are host names, which compare without case; scopes are lowercase (checked).
  std::string registry = ref.registry;
  for (char& c : registry) {
    if (IsUpper(c)) c = static_cast<char>(c - 'A' + 'a');
  }
  std::vector<std::string_view> name = {registry};
  if (!ref.repository.empty()) {
    for (std::string_view seg : Split(ref.repository, '/')) name.push_back(seg);
  }
  const ScopePolicy* best = &default_;
  std::optional<Rank> best_rank;
  for (size_t i = 0; i < scopes_.size() && i < patterns_.size(); ++i) {
    std::optional<Rank> rank = Match(*patterns_[i], name);
    if (rank && (!best_rank || *best_rank < *rank)) {
      best = &scopes_[i];
      best_rank = std::move(rank);
    }
  }
  return *best;
}

}  // namespace layerseal
