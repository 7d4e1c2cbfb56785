// A layer tar made by GNU tar, as image builders make them (issue 18 tests): files under a
// temp root, sorted, mtime 0, owner root. Header-only; link layerseal_testsupport.
#ifndef LAYERSEAL_TESTS_SUPPORT_TAR_LAYER_H_
#define LAYERSEAL_TESTS_SUPPORT_TAR_LAYER_H_

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace layerseal::testing {

// `files`: path relative to the root -> content; a path ending in "/" is a directory.
// Files get `mode`. "" when tar fails (the test then fails on the image it builds).
inline std::string GnuTarLayer(const std::map<std::string, std::string>& files,
                               std::filesystem::perms mode = static_cast<std::filesystem::perms>(0644)) {
  TempDir dir;
  std::string root = dir.File("root");
  std::filesystem::create_directories(root);
  for (const auto& [path, content] : files) {
    std::filesystem::path p = std::filesystem::path(root) / path;
    if (!path.empty() && path.back() == '/') {
      std::filesystem::create_directories(p);
      continue;
    }
    std::filesystem::create_directories(p.parent_path());
    WriteFileOrDie(p.string(), content, static_cast<int>(mode));
  }
  absl::StatusOr<RunResult> tar =
      Run({"tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C",
           root, "-cf", "-", "."});
  return tar.ok() && tar->exit_code == 0 ? tar->out : "";
}

// Every prefix's ChainID of `diff_ids`, computed independently of verifier/layers/chain_id.h
// by python3's hashlib (OCI image spec, config.md "Layer ChainID"). Empty when python3 fails.
inline std::vector<std::string> PythonChainIds(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> argv = {
      "python3", "-c",
      "import hashlib, sys\n"
      "c = None\n"
      "for d in sys.argv[1:]:\n"
      "    c = d if c is None else 'sha256:' + hashlib.sha256((c + ' ' + d).encode()).hexdigest()\n"
      "    print(c)\n"};
  argv.insert(argv.end(), diff_ids.begin(), diff_ids.end());
  absl::StatusOr<RunResult> r = Run(argv);
  if (!r.ok() || r->exit_code != 0) return {};
  std::vector<std::string> lines;
  const std::string& out = r->out;
  for (size_t start = 0; start < out.size();) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    lines.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_TAR_LAYER_H_
