#include "base/yaml_config.h"

#include "base/file.h"
#include "base/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace layerseal {
namespace {

// `line`: where the node's key is (map fields), else the node's own line.
absl::StatusOr<ConfigNode> Convert(const YAML::Node& node, int line, int depth,
                                   const std::string& path) {
  if (depth > kMaxConfigDepth) {
    return absl::InvalidArgumentError(StrCat(path, ":", line, ": nested too deeply"));
  }
  ConfigNode out;
  out.line = line;
  if (node.IsScalar()) {
    out.kind = ConfigNode::Kind::kScalar;
    out.scalar = node.Scalar();
  } else if (node.IsSequence()) {
    out.kind = ConfigNode::Kind::kSequence;
    for (const YAML::Node& item : node) {
      absl::StatusOr<ConfigNode> c = Convert(item, item.Mark().line + 1, depth + 1, path);
      if (!c.ok()) return c.status();
      out.items.push_back(*std::move(c));
    }
  } else if (node.IsMap()) {
    out.kind = ConfigNode::Kind::kMap;
    for (const auto& kv : node) {
      int key_line = kv.first.Mark().line + 1;
      if (!kv.first.IsScalar()) {
        return absl::InvalidArgumentError(StrCat(path, ":", key_line, ": a key must be a name"));
      }
      absl::StatusOr<ConfigNode> c = Convert(kv.second, key_line, depth + 1, path);
      if (!c.ok()) return c.status();
      out.fields.push_back(ConfigField{kv.first.Scalar(), *std::move(c)});
    }
  }
  return out;  // null or undefined: kNull
}

}  // namespace

absl::StatusOr<ConfigNode> ReadYamlConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileLimited(path, kMaxConfigFileBytes, "configuration file");
  // A configuration the program cannot use is a bad argument, whatever the reason (the
  // reader's message names the path and says whether it is missing or too large).
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  return ParseYamlConfig(*text, path);
}

absl::StatusOr<ConfigNode> ParseYamlConfig(const std::string& text, const std::string& path) {
  try {
    return Convert(YAML::Load(text), 1, 0, path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
}

}  // namespace layerseal
