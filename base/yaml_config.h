// Reads a YAML configuration file into the syntax-free tree of base/config_table.h. Kept
// apart from layerseal_base (abseil only) in its own target, layerseal_base_yaml, which links
// yaml-cpp.
// Thread-safety: a pure function of the file.
#ifndef LAYERSEAL_BASE_YAML_CONFIG_H_
#define LAYERSEAL_BASE_YAML_CONFIG_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "base/config_table.h"

namespace layerseal {

// The largest configuration file read (base/file.h ReadFileLimited); real ones are a few KiB.
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

// The file at `path` as a ConfigNode tree (a ConfigFileReader). Errors (missing file, larger
// than kMaxConfigFileBytes, bad YAML, nesting deeper than kMaxConfigDepth, a key that is not
// a scalar) are InvalidArgument and name the path. An empty file is a kNull root.
absl::StatusOr<ConfigNode> ReadYamlConfig(const std::string& path);

// The same for YAML text already read; `path` names it in errors.
absl::StatusOr<ConfigNode> ParseYamlConfig(const std::string& text, const std::string& path);

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_YAML_CONFIG_H_
