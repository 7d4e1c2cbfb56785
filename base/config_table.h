// One configuration binder for every program: a table of rows, each naming a key of the
// configuration file, its flag, its help text and a typed binder that sets a field of the
// program's config struct. From the table come
//   - the file binding: unknown keys are errors naming the file, the line and the key;
//     removed keys are errors naming their replacement; nested mappings give dotted keys
//     ("cache.denyTtl");
//   - the flag binding, by the one flag parser (base/flags.h): "--flag value",
//     "--flag=value", switches ("--insecure"), repeated flags; unknown flags and stray
//     arguments are errors. Flags are applied row by row, in table order;
//   - --config FILE (each applied in order, before every other flag), --help and --version,
//     handled here once;
//   - the --help text.
// A flag overrides the file, the file overrides the struct's defaults.
//
// The file format is not known here (base/ depends on abseil only): a ConfigFileReader turns
// a path into a ConfigNode tree. base/yaml_config.h (target layerseal_base_yaml) reads YAML.
//
// Thread-safety: a ConfigTable is immutable once built; Parse and Usage may run on any
// thread. Setters run on the calling thread, one at a time.
#ifndef LAYERSEAL_BASE_CONFIG_TABLE_H_
#define LAYERSEAL_BASE_CONFIG_TABLE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "base/str_cat.h"

namespace layerseal {

// Mappings nested deeper than this in a configuration file are refused (no table has more
// than two levels; the bound keeps a hostile file from exhausting the stack).
inline constexpr int kMaxConfigDepth = 16;

struct ConfigField;

// A configuration file as a tree, independent of its syntax.
struct ConfigNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  int line = 0;        // 1-based line of the node's key (map fields) or of the node; 0: unknown
  std::string scalar;  // kScalar
  std::vector<ConfigNode> items;                           // kSequence
  std::vector<ConfigField> fields;  // kMap, in file order
};

// One key of a mapping. (Not std::pair<std::string, ConfigNode>: a pair needs ConfigNode
// complete inside ConfigNode's own definition, which clang with libstdc++ refuses.)
struct ConfigField {
  std::string name;
  ConfigNode value;
};

// Reads the file at `path`; errors name the path. An empty file is a kNull root.
using ConfigFileReader = std::function<absl::StatusOr<ConfigNode>(const std::string& path)>;

// How a row's flag and file value are taken.
enum class ConfigArity {
  kOne,       // one value; given again, the last wins
  kRepeated,  // the flag may repeat and the file may hold a list: each value is applied
  kSwitch,    // the flag takes no value and means "true"; the file key takes the value
};

// A row without its setter (the untyped half the binder works on).
struct ConfigRow {
  std::string key;   // file key; "a.b" for b nested in a; "": flag only
  std::string flag;  // without "--"; "": file only. Not config, help or version.
  std::string help;  // one line for --help
  ConfigArity arity = ConfigArity::kOne;
  std::string removed;  // non-empty: the key was removed; setting it fails with this message
};

// The --help text around the rows.
struct ConfigUsage {
  std::string program;      // "layerseal-agent"
  std::string description;  // text after the usage line, ending with a blank line
  std::string config_help;  // help of --config FILE
  size_t column = 35;       // "  --flag (key)" is padded to this width, then one space, help
};

// What Parse found besides the config: --help or --version (then nothing else was checked).
struct ConfigSwitches {
  bool help = false;
  bool version = false;
};

// The untyped binder. `set(row, value)` applies one value to row `rows[row]`; its error is
// prefixed with where the value came from ("FILE:LINE: key: " or "--flag: ").
class ConfigBinder {
 public:
  using Set = std::function<absl::Status(size_t row, const std::string& value)>;

  ConfigBinder(ConfigUsage usage, std::vector<ConfigRow> rows)
      : usage_(std::move(usage)), rows_(std::move(rows)) {}

  // Parses `args` (argv without the program name). Every error is InvalidArgument.
  absl::StatusOr<ConfigSwitches> Bind(const std::vector<std::string>& args, const Set& set,
                                      const ConfigFileReader& read) const;

  std::string Usage() const;
  const std::vector<ConfigRow>& rows() const { return rows_; }

 private:
  absl::Status ApplyFile(const std::string& path, const Set& set, const ConfigFileReader& read) const;
  absl::Status ApplyMap(const ConfigNode& map, const std::string& prefix, const std::string& file,
                        int depth, const Set& set) const;
  absl::Status ApplyValue(size_t row, const ConfigNode& value, const std::string& where,
                          const Set& set) const;

  ConfigUsage usage_;
  std::vector<ConfigRow> rows_;
};

// The parsers behind the typed binders (their messages name the value, not the key: the
// binder prefixes where it came from).
std::vector<std::string> SplitConfigList(const std::string& text);
absl::Status ParseConfigBool(const std::string& text, bool* out);
absl::Status ParseConfigDuration(const std::string& text, bool allow_zero, bool allow_infinite,
                                 absl::Duration* out);
absl::Status ParseConfigInt(const std::string& text, int64_t min, int64_t max, int64_t* out);
// "a", "a or b", "a, b or c".
std::string JoinConfigChoices(const std::vector<std::string>& names);

// The parsed configuration of type C.
template <typename C>
struct ConfigArgs {
  C config;
  bool help = false;
  bool version = false;
};

// The typed table over a config struct C (default-constructible; its defaults are the
// program's). Build it once (a function-local static) and call Parse for each argv.
template <typename C>
class ConfigTable {
 public:
  using Setter = std::function<absl::Status(C&, const std::string&)>;
  template <typename T>
  using Field = std::function<T*(C&)>;  // the field a binder sets (nested fields too)

  struct Entry {
    ConfigRow row;
    Setter set;
  };

  ConfigTable(ConfigUsage usage, std::vector<Entry> entries)
      : binder_(std::move(usage), RowsOf(entries)) {
    for (Entry& e : entries) setters_.push_back(std::move(e.set));
  }

  absl::StatusOr<ConfigArgs<C>> Parse(const std::vector<std::string>& args,
                                      const ConfigFileReader& read) const {
    ConfigArgs<C> out;
    absl::StatusOr<ConfigSwitches> s = binder_.Bind(
        args, [&](size_t row, const std::string& v) { return setters_[row](out.config, v); }, read);
    if (!s.ok()) return s.status();
    out.help = s->help;
    out.version = s->version;
    return out;
  }

  std::string Usage() const { return binder_.Usage(); }
  const std::vector<ConfigRow>& rows() const { return binder_.rows(); }

  // ---- Rows ----
  static Entry Row(std::string key, std::string flag, std::string help, Setter set,
                   ConfigArity arity = ConfigArity::kOne) {
    return {{std::move(key), std::move(flag), std::move(help), arity, ""}, std::move(set)};
  }
  // A key that was replaced: setting it in the file or by flag fails with `message`, which
  // should name the replacement. It is still listed by --help.
  static Entry Removed(std::string key, std::string flag, std::string help, std::string message) {
    return {{std::move(key), std::move(flag), std::move(help), ConfigArity::kOne, std::move(message)},
            [](C&, const std::string&) { return absl::OkStatus(); }};
  }

  // ---- Typed binders ----
  template <typename T>
  static Field<T> Member(T C::*m) {
    return [m](C& c) { return &(c.*m); };
  }

  // Any value: the text as given.
  static Setter Text(std::string C::*m) { return Text(Member(m)); }
  static Setter Text(Field<std::string> f) {
    return [f](C& c, const std::string& v) {
      *f(c) = v;
      return absl::OkStatus();
    };
  }
  // Each value appended (for kRepeated rows).
  static Setter Append(std::vector<std::string> C::*m) {
    return [m](C& c, const std::string& v) {
      (c.*m).push_back(v);
      return absl::OkStatus();
    };
  }
  // "a,b,c": names separated by commas, spaces around them ignored; "": none. Replaces.
  static Setter List(std::vector<std::string> C::*m) {
    return [m](C& c, const std::string& v) {
      c.*m = SplitConfigList(v);
      return absl::OkStatus();
    };
  }
  // "true" or "false".
  static Setter Bool(bool C::*m) {
    return [m](C& c, const std::string& v) { return ParseConfigBool(v, &(c.*m)); };
  }
  // ParsePositiveDuration ("30s", "500ms", "2m"); `rule` may also allow 0 or refuse "inf".
  struct DurationRule {
    bool allow_zero = false;      // "0" (or "0s") accepted
    bool allow_infinite = true;   // "inf" accepted
  };
  static Setter Duration(absl::Duration C::*m, DurationRule rule = {}) {
    return Duration(Member(m), rule);
  }
  static Setter Duration(Field<absl::Duration> f, DurationRule rule = {}) {
    return [f, rule](C& c, const std::string& v) {
      return ParseConfigDuration(v, rule.allow_zero, rule.allow_infinite, f(c));
    };
  }
  // A whole number from `min` to `max`.
  template <typename T>
  static Setter Int(T C::*m, int64_t min, int64_t max) {
    return Int(Field<T>(Member(m)), min, max);
  }
  template <typename T>
  static Setter Int(Field<T> f, int64_t min, int64_t max) {
    return [f, min, max](C& c, const std::string& v) {
      int64_t n = 0;
      if (absl::Status s = ParseConfigInt(v, min, max, &n); !s.ok()) return s;
      *f(c) = static_cast<T>(n);
      return absl::OkStatus();
    };
  }
  // One name of `names` ("gate", "refuse"); anything else: "\"x\" is not gate or refuse".
  template <typename E>
  static Setter Enum(E C::*m, std::vector<std::pair<std::string, E>> names) {
    return [m, names](C& c, const std::string& v) {
      std::vector<std::string> known;
      for (const auto& [name, value] : names) {
        if (name == v) {
          c.*m = value;
          return absl::OkStatus();
        }
        known.push_back(name);
      }
      return absl::InvalidArgumentError(StrCat("\"", v, "\" is not ", JoinConfigChoices(known)));
    };
  }
  // Any other type through its parser (host:port, a platform, ...).
  template <typename T>
  static Setter Parsed(T C::*m, std::function<absl::StatusOr<T>(const std::string&)> parse) {
    return [m, parse](C& c, const std::string& v) {
      absl::StatusOr<T> t = parse(v);
      if (!t.ok()) return t.status();
      c.*m = *std::move(t);
      return absl::OkStatus();
    };
  }

 private:
  static std::vector<ConfigRow> RowsOf(const std::vector<Entry>& entries) {
    std::vector<ConfigRow> rows;
    for (const Entry& e : entries) rows.push_back(e.row);
    return rows;
  }

  ConfigBinder binder_;
  std::vector<Setter> setters_;
};

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_CONFIG_TABLE_H_
