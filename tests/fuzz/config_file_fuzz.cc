// Fuzzes the configuration binder (base/config_table.h) over its YAML reader
// (base/yaml_config.h): a file an admin writes, turned into a tree and bound row by row with
// every kind of typed binder.
#include <string>
#include <vector>

#include "base/config_table.h"
#include "base/yaml_config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Config {
  std::string text;
  bool on = false;
  absl::Duration ttl = absl::Seconds(1);
  absl::Duration keep = absl::Hours(1);
  int count = 1;
  std::vector<std::string> repeated;
  std::vector<std::string> list;
  int mode = 0;
  struct {
    absl::Duration ttl = absl::Seconds(1);
  } nested;
};

using Table = layerseal::ConfigTable<Config>;

const Table& TheTable() {
  static const Table table(
      {.program = "fuzz", .description = "", .config_help = "", .column = 30},
      {
          Table::Row("text", "text", "", Table::Text(&Config::text)),
          Table::Row("on", "on", "", Table::Bool(&Config::on), layerseal::ConfigArity::kSwitch),
          Table::Row("ttl", "ttl", "", Table::Duration(&Config::ttl)),
          Table::Row("keep", "keep", "",
                     Table::Duration(&Config::keep, {.allow_zero = true, .allow_infinite = false})),
          Table::Row("count", "count", "", Table::Int(&Config::count, 1, 256)),
          Table::Row("repeated", "repeated", "", Table::Append(&Config::repeated),
                     layerseal::ConfigArity::kRepeated),
          Table::Row("list", "list", "", Table::List(&Config::list)),
          Table::Row("mode", "mode", "", Table::Enum(&Config::mode, {{"a", 1}, {"b", 2}})),
          Table::Row("a.b.ttl", "nested-ttl", "",
                     Table::Duration([](Config& c) { return &c.nested.ttl; })),
          Table::Removed("old", "old", "", "replaced by text"),
      });
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(layerseal::fuzz::AsView(data, size));
  const std::string path = "/etc/fuzz.yaml";
  absl::StatusOr<layerseal::ConfigArgs<Config>> parsed = TheTable().Parse(
      {"--config", path},
      [&](const std::string& p) { return layerseal::ParseYamlConfig(text, p); });
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(parsed.status().message().substr(0, path.size()) == path);  // names the file
    return 0;
  }
  const Config& c = parsed->config;
  FUZZ_CHECK(c.count >= 1 && c.count <= 256);
  FUZZ_CHECK(c.ttl > absl::ZeroDuration());
  FUZZ_CHECK(c.keep >= absl::ZeroDuration() && c.keep != absl::InfiniteDuration());
  FUZZ_CHECK(c.mode == 0 || c.mode == 1 || c.mode == 2);
  for (const std::string& item : c.list) FUZZ_CHECK(!item.empty() && item.find(',') == std::string::npos);
  return 0;
}
