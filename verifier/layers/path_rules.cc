#include "verifier/layers/path_rules.h"

#include "base/str_cat.h"
#include "verifier/layers/quoted.h"

namespace layerseal::layers {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

// "/a/b" -> {"a", "b"}; "/" -> {}.
std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

// The end of the bracket expression starting at pat[p] == '[' (the index of its ']'), or
// npos when it is unterminated.
size_t BracketEnd(std::string_view pat, size_t p) {
  size_t i = p + 1;
  if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) ++i;
  if (i < pat.size() && pat[i] == ']') ++i;  // a literal ']' first
  while (i < pat.size() && pat[i] != ']') {
    if (pat[i] == '\\') ++i;
    ++i;
  }
  return i < pat.size() ? i : std::string_view::npos;
}

bool BracketMatches(std::string_view set, char c) {  // `set` is between '[' and ']'
  bool negate = false;
  size_t i = 0;
  if (i < set.size() && (set[i] == '!' || set[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  while (i < set.size()) {
    char lo = set[i];
    if (lo == '\\' && i + 1 < set.size()) lo = set[++i];
    else if (lo == ']' && !first) break;
    first = false;
    ++i;
    char hi = lo;
    if (i + 1 < set.size() && set[i] == '-') {
      hi = set[i + 1];
      if (hi == '\\' && i + 2 < set.size()) {
        hi = set[i + 2];
        ++i;
      }
      i += 2;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= static_cast<unsigned char>(lo) && u <= static_cast<unsigned char>(hi)) found = true;
  }
  return found != negate;
}

// Matches one pattern character (not '*') at pat[p] against c; sets `next` past it.
bool MatchOne(std::string_view pat, size_t p, char c, size_t& next) {
  switch (pat[p]) {
    case '?':
      next = p + 1;
      return true;
    case '[': {
      size_t end = BracketEnd(pat, p);  // validated at Parse
      next = end + 1;
      return BracketMatches(pat.substr(p + 1, end - p - 1), c);
    }
    case '\\':
      next = p + 2;
      return p + 1 < pat.size() && pat[p + 1] == c;
    default:
      next = p + 1;
      return pat[p] == c;
  }
}

// One component against one glob component: '*' backtracks to the last star only, so the
// time is O(|pat| x |s|).
bool MatchComponent(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0;
  size_t star_p = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (p < pat.size()) {
      if (pat[p] == '*') {
        star_p = p++;
        star_i = i;
        continue;
      }
      size_t next = 0;
      if (MatchOne(pat, p, s[i], next)) {
        p = next;
        ++i;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    i = ++star_i;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

absl::Status CheckComponent(std::string_view pattern, std::string_view comp) {
  for (size_t p = 0; p < comp.size(); ++p) {
    if (comp[p] == '\\') {
      if (p + 1 >= comp.size()) {
        return absl::InvalidArgumentError(StrCat("glob ", Quoted(pattern), ": a trailing '\\'"));
      }
      ++p;
    } else if (comp[p] == '[') {
      size_t end = BracketEnd(comp, p);
      if (end == std::string_view::npos) {
        return absl::InvalidArgumentError(StrCat("glob ", Quoted(pattern), ": an unterminated '['"));
      }
      p = end;
    }
  }
  return absl::OkStatus();
}

std::string_view LastComponent(std::string_view path) { return path.substr(path.rfind('/') + 1); }

std::string_view ParentDir(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

std::string Join(std::string_view dir, std::string_view name) {
  return dir == "/" ? StrCat("/", name) : StrCat(dir, "/", name);
}

}  // namespace

absl::StatusOr<Glob> Glob::Parse(std::string_view pattern) {
  if (pattern.size() > kMaxGlobBytes) {
    return absl::InvalidArgumentError(
        StrCat("glob of ", pattern.size(), " bytes is longer than the limit of ", kMaxGlobBytes));
  }
  if (pattern.empty() || pattern[0] != '/') {
    return absl::InvalidArgumentError(StrCat("glob ", Quoted(pattern), " is not absolute (it must start with '/')"));
  }
  Glob g;
  g.pattern_ = std::string(pattern);
  if (pattern == "/") return g;  // the root itself
  std::string_view rest = pattern.substr(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // "/etc/" is "/etc"
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t slash = rest.find('/', pos);
    if (slash == std::string_view::npos) slash = rest.size();
    std::string_view comp = rest.substr(pos, slash - pos);
    if (comp.empty() || comp == "." || comp == "..") {
      return absl::InvalidArgumentError(
          StrCat("glob ", Quoted(pattern), " has an empty, \".\" or \"..\" component"));
    }
    if (absl::Status s = CheckComponent(pattern, comp); !s.ok()) return s;
    // Consecutive "**" are one.
    if (!(comp == "**" && !g.components_.empty() && g.components_.back() == "**")) {
      g.components_.emplace_back(comp);
    }
    pos = slash + 1;
  }
  return g;
}

bool Glob::Matches(std::string_view path) const {
  std::vector<std::string_view> s = Components(path);
  const size_t P = components_.size(), C = s.size();
  // can[i][j]: components_[i..] match s[j..]; filled from the end.
  std::vector<char> can((P + 1) * (C + 1), 0);
  auto at = [&](size_t i, size_t j) -> char& { return can[i * (C + 1) + j]; };
  at(P, C) = 1;
  for (size_t i = P; i-- > 0;) {
    for (size_t j = C + 1; j-- > 0;) {
      if (components_[i] == "**") {
        at(i, j) = at(i + 1, j) || (j < C && at(i, j + 1));
      } else {
        at(i, j) = j < C && at(i + 1, j + 1) && MatchComponent(components_[i], s[j]);
      }
    }
  }
  return at(0, 0) != 0;
}

bool Glob::MayMatchBelow(std::string_view dir) const {
  std::vector<std::string_view> d = Components(dir);
  const size_t P = components_.size();
  // The pattern positions reachable after consuming all of `dir` (an NFA over components).
  std::vector<char> states(P + 1, 0), next(P + 1, 0);
  auto close = [&](std::vector<char>& st) {
    for (size_t i = 0; i < P; ++i) {
      if (st[i] && components_[i] == "**") st[i + 1] = 1;
    }
  };
  states[0] = 1;
  close(states);
  for (std::string_view comp : d) {
    std::fill(next.begin(), next.end(), 0);
    for (size_t i = 0; i < P; ++i) {
      if (!states[i]) continue;
      if (components_[i] == "**") {
        next[i] = 1;
      } else if (MatchComponent(components_[i], comp)) {
        next[i + 1] = 1;
      }
    }
    close(next);
    states.swap(next);
  }
  // Something below `dir` can match when a reachable position still has components left.
  for (size_t i = 0; i < P; ++i) {
    if (states[i]) return true;
  }
  return false;
}

absl::StatusOr<ProtectedPaths> ProtectedPaths::Parse(const std::vector<std::string>& patterns) {
  if (patterns.size() > kMaxProtectedPatterns) {
    return absl::InvalidArgumentError(StrCat(patterns.size(), " protected path patterns, more than the limit of ",
                                             kMaxProtectedPatterns));
  }
  ProtectedPaths out;
  for (const std::string& p : patterns) {
    absl::StatusOr<Glob> g = Glob::Parse(p);
    if (!g.ok()) return g.status();
    out.globs_.push_back(std::move(*g));
  }
  return out;
}

std::optional<ProtectedPaths::Hit> ProtectedPaths::Check(const TarEntry& entry) const {
  std::string_view path = entry.path;
  std::string_view base = LastComponent(path);
  if (path != "/" && base.substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    std::string_view dir = ParentDir(path);
    bool opaque = base == kOpaqueMarker || base == kWhiteoutPrefix;
    if (!opaque && base.substr(0, kWhiteoutMetaPrefix.size()) == kWhiteoutMetaPrefix) {
      return std::nullopt;  // aufs metadata, ignored by containerd
    }
    if (opaque) {
      for (const Glob& g : globs_) {
        if (g.MayMatchBelow(dir)) return Hit{g.pattern(), "opaque directory"};
      }
      return std::nullopt;
    }
    std::string target = Join(dir, base.substr(kWhiteoutPrefix.size()));
    for (const Glob& g : globs_) {
      if (g.Matches(target) || g.MayMatchBelow(target)) return Hit{g.pattern(), "whiteout"};
    }
    return std::nullopt;
  }
  for (const Glob& g : globs_) {
    if (g.Matches(path)) return Hit{g.pattern(), "added or replaced"};
    if (entry.type == TarEntryType::kHardLink && g.Matches(entry.linkname)) {
      return Hit{g.pattern(), "hard link to a protected path"};
    }
    if (entry.type != TarEntryType::kDirectory && g.MayMatchBelow(path)) {
      return Hit{g.pattern(), "non-directory over a protected directory"};
    }
  }
  return std::nullopt;
}

std::string PathViolation::Detail() const {
  return StrCat("layer ", layer_index, " (", layer_digest.str(), "): ", Quoted(entry_path), " ", rule,
                ", protected by ", Quoted(pattern));
}

void ProtectedPathJudge::BeginLayer(size_t index, Digest digest) {
  layer_index_ = index;
  layer_digest_ = std::move(digest);
}

absl::StatusOr<TarVisitor::Action> ProtectedPathJudge::OnEntry(const TarEntry& entry) {
  if (violation_.has_value() || layer_index_ < first_checked_) return Action::Skip();
  if (std::optional<ProtectedPaths::Hit> hit = rules_->Check(entry)) {
    violation_ = PathViolation{layer_index_, layer_digest_, entry.path, hit->pattern, std::string(hit->rule)};
  }
  return Action::Skip();
}

std::optional<PathViolation> JudgeProtectedPaths(const ProtectedPaths& rules, size_t first_checked_layer,
                                                 const std::vector<LayerEntries>& layers) {
  ProtectedPathJudge judge(&rules, first_checked_layer);
  for (size_t i = first_checked_layer; i < layers.size(); ++i) {
    judge.BeginLayer(i, layers[i].digest);
    for (const TarEntry& e : layers[i].entries) {
      (void)judge.OnEntry(e);
      if (judge.violation().has_value()) return judge.violation();
    }
  }
  return std::nullopt;
}

}  // namespace layerseal::layers
