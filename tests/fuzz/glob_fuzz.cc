// Fuzzes globs (verifier/layers/path_rules.h). Input: "pattern\npath". Invariants: a pattern
// that parses matches promptly; when it matches a path, every ancestor of that path is one it
// "may match below"; a pattern without metacharacters matches itself.
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/path_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [pattern, raw_path] = layerseal::fuzz::SplitFirstLine(layerseal::fuzz::AsView(data, size));
  absl::StatusOr<layerseal::layers::Glob> glob = layerseal::layers::Glob::Parse(pattern);
  if (!glob.ok()) return 0;
  // Normalize the path as the tar reader would (components, absolute).
  std::vector<std::string> comps;
  size_t pos = 0;
  while (pos <= raw_path.size()) {
    size_t slash = raw_path.find('/', pos);
    if (slash == std::string_view::npos) slash = raw_path.size();
    std::string_view c = raw_path.substr(pos, slash - pos);
    if (!c.empty() && c != "." && c != "..") comps.emplace_back(c);
    pos = slash + 1;
  }
  std::string path(1, '/');
  for (const std::string& c : comps) {
    if (path.size() > 1) path.push_back('/');
    path.append(c);
  }
  if (glob->Matches(path)) {
    std::string prefix = "/";
    FUZZ_CHECK(comps.empty() || glob->MayMatchBelow(prefix));
    for (size_t i = 0; i + 1 < comps.size(); ++i) {
      if (prefix != "/") prefix.push_back('/');
      prefix.append(comps[i]);
      FUZZ_CHECK(glob->MayMatchBelow(prefix));
    }
  }
  if (pattern.find_first_of("*?[\\") == std::string_view::npos) {
    std::string self(pattern);
    while (self.size() > 1 && self.back() == '/') self.pop_back();
    FUZZ_CHECK(glob->Matches(self));
  }
  return 0;
}
