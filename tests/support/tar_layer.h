// A layer tar made by GNU tar, as image builders make them (issue 18 tests): files under a
// temp root, sorted, mtime 0, owner root. Header-only; link layerseal_testsupport.
#ifndef LAYERSEAL_TESTS_SUPPORT_TAR_LAYER_H_
#define LAYERSEAL_TESTS_SUPPORT_TAR_LAYER_H_

#include <filesystem>
#include <map>
#include <string>

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

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_TAR_LAYER_H_
