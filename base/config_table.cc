#include "base/config_table.h"

#include <algorithm>
#include <optional>

#include "absl/strings/numbers.h"

namespace layerseal {
namespace {

absl::Status Wrap(const absl::Status& s, const std::string& where) {
  if (s.ok()) return s;
  return absl::InvalidArgumentError(StrCat(where, ": ", s.message()));
}

std::optional<size_t> Find(const std::vector<ConfigRow>& rows, std::string ConfigRow::*field,
                           const std::string& name) {
  if (name.empty()) return std::nullopt;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].*field == name) return i;
  }
  return std::nullopt;
}

// True when some key is nested under `prefix` ("cache" for "cache.denyTtl").
bool IsGroup(const std::vector<ConfigRow>& rows, const std::string& prefix) {
  return std::any_of(rows.begin(), rows.end(),
                     [&](const ConfigRow& r) { return r.key.rfind(prefix + ".", 0) == 0; });
}

}  // namespace

absl::StatusOr<ConfigSwitches> ConfigBinder::Bind(const std::vector<std::string>& args,
                                                  const Set& set,
                                                  const ConfigFileReader& read) const {
  FlagSpec spec{.values = {"config"}, .switches = {"help", "version"}};
  for (const ConfigRow& r : rows_) {
    if (r.flag.empty()) continue;
    (r.arity == ConfigArity::kSwitch ? spec.switches : spec.values).insert(r.flag);
  }
  absl::StatusOr<Flags> flags = Flags::Parse(args, spec);
  if (!flags.ok()) return flags.status();
  ConfigSwitches out{.help = flags->Has("help"), .version = flags->Has("version")};
  if (out.help || out.version) return out;
  if (!flags->positional().empty()) {
    return absl::InvalidArgumentError(StrCat("unexpected argument \"", flags->positional()[0], "\""));
  }
  for (const std::string& file : flags->GetAll("config")) {
    if (absl::Status s = ApplyFile(file, set, read); !s.ok()) return s;
  }
  for (size_t i = 0; i < rows_.size(); ++i) {
    const ConfigRow& r = rows_[i];
    if (r.flag.empty() || !flags->Has(r.flag)) continue;
    std::vector<std::string> values = flags->GetAll(r.flag);
    if (r.arity == ConfigArity::kSwitch) values = {"true"};
    for (const std::string& v : values) {
      absl::Status s = r.removed.empty() ? set(i, v) : absl::InvalidArgumentError(r.removed);
      if (!s.ok()) return Wrap(s, "--" + r.flag);
    }
  }
  return out;
}

absl::Status ConfigBinder::ApplyFile(const std::string& path, const Set& set,
                                     const ConfigFileReader& read) const {
  if (!read) return absl::InvalidArgumentError(StrCat(path, ": this program reads no config file"));
  absl::StatusOr<ConfigNode> root = read(path);
  if (!root.ok()) return absl::InvalidArgumentError(root.status().message());
  if (root->kind == ConfigNode::Kind::kNull) return absl::OkStatus();
  return ApplyMap(*root, "", path, 0, set);
}

absl::Status ConfigBinder::ApplyMap(const ConfigNode& map, const std::string& prefix,
                                    const std::string& file, int depth, const Set& set) const {
  if (map.kind != ConfigNode::Kind::kMap) {
    return absl::InvalidArgumentError(
        StrCat(file, ": ", prefix.empty() ? "the file" : prefix, " must be a mapping"));
  }
  if (depth >= kMaxConfigDepth) {
    return absl::InvalidArgumentError(StrCat(file, ":", map.line, ": ", prefix, " nested too deeply"));
  }
  for (const auto& [name, value] : map.fields) {
    std::string key = prefix.empty() ? name : StrCat(prefix, ".", name);
    std::string where = StrCat(file, ":", value.line, ": ", key);
    std::optional<size_t> row = Find(rows_, &ConfigRow::key, key);
    if (row) {
      if (absl::Status s = ApplyValue(*row, value, where, set); !s.ok()) return s;
    } else if (value.kind == ConfigNode::Kind::kMap && IsGroup(rows_, key)) {
      if (absl::Status s = ApplyMap(value, key, file, depth + 1, set); !s.ok()) return s;
    } else {
      return absl::InvalidArgumentError(StrCat(where, ": unknown key"));
    }
  }
  return absl::OkStatus();
}

absl::Status ConfigBinder::ApplyValue(size_t row, const ConfigNode& value, const std::string& where,
                                      const Set& set) const {
  const ConfigRow& r = rows_[row];
  if (!r.removed.empty()) return Wrap(absl::InvalidArgumentError(r.removed), where);
  switch (value.kind) {
    case ConfigNode::Kind::kNull:
      return absl::OkStatus();  // "key:" with nothing: the default stays
    case ConfigNode::Kind::kScalar:
      return Wrap(set(row, value.scalar), where);
    case ConfigNode::Kind::kSequence:
      if (r.arity != ConfigArity::kRepeated) {
        return absl::InvalidArgumentError(StrCat(where, ": expected one value"));
      }
      for (const ConfigNode& item : value.items) {
        if (item.kind != ConfigNode::Kind::kScalar) {
          return absl::InvalidArgumentError(StrCat(where, ": expected a list of values"));
        }
        if (absl::Status s = Wrap(set(row, item.scalar), where); !s.ok()) return s;
      }
      return absl::OkStatus();
    case ConfigNode::Kind::kMap:
      break;
  }
  return absl::InvalidArgumentError(StrCat(where, ": expected one value"));
}

std::string ConfigBinder::Usage() const {
  auto line = [this](std::string left, const std::string& help) {
    if (left.size() < usage_.column) left.resize(usage_.column, ' ');
    return StrCat(left, " ", help, "\n");
  };
  std::string text = StrCat("usage: ", usage_.program, " [--config FILE] [flags]\n\n",
                            usage_.description, line("  --config FILE", usage_.config_help));
  for (const ConfigRow& r : rows_) {
    std::string left = r.flag.empty() ? StrCat("  (", r.key, ")")
                       : r.key.empty() ? StrCat("  --", r.flag)
                                       : StrCat("  --", r.flag, " (", r.key, ")");
    text += line(left, r.help);
  }
  return text + line("  --version", "print the version and exit");
}

std::vector<std::string> SplitConfigList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

absl::Status ParseConfigBool(const std::string& text, bool* out) {
  if (text != "true" && text != "false") {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not true or false"));
  }
  *out = text == "true";
  return absl::OkStatus();
}

absl::Status ParseConfigDuration(const std::string& text, bool allow_zero, bool allow_infinite,
                                 absl::Duration* out) {
  absl::Duration zero;
  if (allow_zero && absl::ParseDuration(text, &zero) && zero == absl::ZeroDuration()) {
    *out = zero;
    return absl::OkStatus();
  }
  absl::StatusOr<absl::Duration> d = ParsePositiveDuration(text);
  if (!d.ok()) return d.status();
  if (!allow_infinite && *d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not a finite duration"));
  }
  *out = *d;
  return absl::OkStatus();
}

absl::Status ParseConfigInt(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not a number from ", min, " to ", max));
  }
  *out = n;
  return absl::OkStatus();
}

std::string JoinConfigChoices(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace layerseal
