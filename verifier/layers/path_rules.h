// Path rules over image layers (issue 18, docs/design/continuous-validation-plan.md
// section 3): globs, and the protected-path judgement of the layers above a trusted base.
//
// Globs are absolute ("/bin/*", "/etc/passwd", "/usr/**/lib*.so"). Components:
//   *      any run of characters within one component, a leading '.' included (a protected
//          "/bin/*" covers "/bin/.hidden");
//   ?      one character;
//   [...]  one character of a set: ranges "a-z", negation "[!...]" or "[^...]", a ']' right
//          after the '[' (or "[!") is literal;
//   \c     the character c itself;
//   **     alone as a component: any number of components, none included.
// Patterns and paths are matched component by component on normalized absolute paths
// (tar_reader.h): "//", "." and ".." components in a pattern are errors.
//
// An entry of a layer above the base violates a protected pattern when (section 3):
//   - its path matches, whatever its type ("added or replaced");
//   - it is a hard link whose target matches ("hard link to a protected path": the link
//     shares the protected file's inode);
//   - it is a whiteout ".wh.<name>" whose target matches, or whose target is an ancestor of
//     what the pattern can match ("whiteout": deleting /bin deletes /bin/sh);
//   - it is an opaque marker ".wh..wh..opq" in a directory that is an ancestor of what the
//     pattern can match ("opaque directory"); a whiteout with an empty name counts as one;
//   - it is not a directory and its path is an ancestor of what the pattern can match
//     ("non-directory over a protected directory": /bin replaced by a symlink redirects
//     /bin/sh).
// Other ".wh..wh." names (aufs metadata) are ignored, as containerd ignores them.
//
// Thread-safety: Glob and ProtectedPaths are immutable after Parse and safe to share;
// ProtectedPathJudge is not thread-safe. Ownership: the judge borrows its ProtectedPaths.
#ifndef LAYERSEAL_VERIFIER_LAYERS_PATH_RULES_H_
#define LAYERSEAL_VERIFIER_LAYERS_PATH_RULES_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/digest.h"
#include "verifier/layers/tar_reader.h"

namespace layerseal::layers {

// Longest glob pattern, in bytes.
inline constexpr size_t kMaxGlobBytes = 1024;
// Most patterns in one protected-path list.
inline constexpr size_t kMaxProtectedPatterns = 1024;

class Glob {
 public:
  // InvalidArgument naming the pattern and what is wrong (not absolute, an unterminated
  // '[', a trailing '\', an empty, "." or ".." component, longer than kMaxGlobBytes).
  static absl::StatusOr<Glob> Parse(std::string_view pattern);

  // `path` is normalized and absolute ("/", "/a/b"). Time: O(pattern components x path
  // components x component length^2) at worst; no backtracking blow-up.
  bool Matches(std::string_view path) const;
  // True when some path strictly below `dir` could match (`dir` is an ancestor of a match).
  bool MayMatchBelow(std::string_view dir) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::vector<std::string> components_;  // "**" stands for any number of components
};

class ProtectedPaths {
 public:
  // Every pattern must parse; at most kMaxProtectedPatterns.
  static absl::StatusOr<ProtectedPaths> Parse(const std::vector<std::string>& patterns);

  struct Hit {
    std::string pattern;
    std::string_view rule;  // "added or replaced", "whiteout", ... (see the file comment)
  };
  // The first pattern (in list order) that `entry` violates, with the rule.
  std::optional<Hit> Check(const TarEntry& entry) const;

  const std::vector<Glob>& globs() const { return globs_; }

 private:
  std::vector<Glob> globs_;
};

struct PathViolation {
  size_t layer_index = 0;
  Digest layer_digest;
  std::string entry_path;  // as reported by the tar reader: "/bin/.wh.sh"
  std::string pattern;
  std::string rule;
  // For a PROTECTED_PATH verdict's detail, e.g.
  //   layer 2 (sha256:...): "/bin/sh" added or replaced, protected by "/bin/*"
  std::string Detail() const;
};

// Judges the entries of one layer after another: a TarVisitor to give each layer's
// LayerStream (BeginLayer first). Keeps the first violation; skips every entry's content.
class ProtectedPathJudge : public TarVisitor {
 public:
  // Layers with index < first_checked_layer (the trusted base: k + 1 for a base L0..Lk)
  // are not judged.
  ProtectedPathJudge(const ProtectedPaths* rules, size_t first_checked_layer)
      : rules_(rules), first_checked_(first_checked_layer) {}

  void BeginLayer(size_t index, Digest digest);
  absl::StatusOr<Action> OnEntry(const TarEntry& entry) override;

  // The first violation over every layer judged so far, in layer then archive order.
  const std::optional<PathViolation>& violation() const { return violation_; }

 private:
  const ProtectedPaths* rules_;
  size_t first_checked_;
  size_t layer_index_ = 0;
  Digest layer_digest_;
  std::optional<PathViolation> violation_;
};

// One layer's entries, for judging a stack held in memory (tests, the CLI).
struct LayerEntries {
  Digest digest;
  std::vector<TarEntry> entries;
};

// The first violation in layers[first_checked_layer..], or nullopt.
std::optional<PathViolation> JudgeProtectedPaths(const ProtectedPaths& rules, size_t first_checked_layer,
                                                 const std::vector<LayerEntries>& layers);

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_PATH_RULES_H_
