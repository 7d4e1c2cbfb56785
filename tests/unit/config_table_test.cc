// base/config_table.h and base/yaml_config.h: the one binder of configuration files, flags
// and --help that the agent and the controller share (issue 16).
#include "base/config_table.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "base/str_cat.h"
#include "base/yaml_config.h"
#include "tests/support/files.h"

namespace layerseal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

enum class Mode { kGate, kRefuse };

struct TestConfig {
  std::string name = "default";
  bool fast = false;
  absl::Duration ttl = absl::Seconds(5);
  absl::Duration keep = absl::Hours(1);
  int workers = 4;
  std::vector<std::string> hosts;  // repeated
  std::vector<std::string> names;  // comma list
  Mode mode = Mode::kGate;
  std::pair<std::string, int> peer{"localhost", 1};
  struct {
    absl::Duration deny_ttl = absl::Seconds(30);
  } cache;
};

using Table = ConfigTable<TestConfig>;

absl::StatusOr<std::pair<std::string, int>> ParsePeer(const std::string& text) {
  size_t colon = text.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(text.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(StrCat("\"", text, "\" is not host:port"));
  }
  return std::make_pair(text.substr(0, colon), port);
}

const Table& TestTable() {
  static const Table table(
      {.program = "test-program",
       .description = "A program for the test.\n\n",
       .config_help = "YAML file with the keys below",
       .column = 30},
      {
          Table::Row("name", "name", "a name", Table::Text(&TestConfig::name)),
          Table::Row("fast", "fast", "go fast", Table::Bool(&TestConfig::fast), ConfigArity::kSwitch),
          Table::Row("ttl", "ttl", "a positive duration", Table::Duration(&TestConfig::ttl)),
          Table::Row("keep", "keep", "0 or a finite duration",
                     Table::Duration(&TestConfig::keep, {.allow_zero = true, .allow_infinite = false})),
          Table::Row("workers", "workers", "1 to 64", Table::Int(&TestConfig::workers, 1, 64)),
          Table::Row("hosts", "host", "a host (repeat)", Table::Append(&TestConfig::hosts),
                     ConfigArity::kRepeated),
          Table::Row("names", "names", "names (a,b)", Table::List(&TestConfig::names)),
          Table::Row("mode", "mode", "gate or refuse",
                     Table::Enum(&TestConfig::mode, {{"gate", Mode::kGate}, {"refuse", Mode::kRefuse}})),
          Table::Row("peer", "peer", "host:port",
                     Table::Parsed<std::pair<std::string, int>>(&TestConfig::peer, ParsePeer)),
          Table::Row("cache.denyTtl", "cache-deny-ttl", "nested",
                     Table::Duration([](TestConfig& c) { return &c.cache.deny_ttl; })),
          Table::Row("fileOnly", "", "no flag", Table::Text(&TestConfig::name)),
          Table::Removed("http", "http", "REPLACED by web",
                         "replaced by web (the page) and admin (the probes)"),
      });
  return table;
}

// Files in memory: path → YAML text, read through the YAML reader.
struct Files {
  std::map<std::string, std::string> text;
  ConfigFileReader Reader() const {
    return [this](const std::string& path) -> absl::StatusOr<ConfigNode> {
      auto it = text.find(path);
      if (it == text.end()) return absl::InvalidArgumentError(StrCat(path, ": no such file"));
      return ParseYamlConfig(it->second, path);
    };
  }
};

absl::StatusOr<ConfigArgs<TestConfig>> Parse(const std::vector<std::string>& args,
                                             const Files& files = {}) {
  return TestTable().Parse(args, files.Reader());
}

std::string ErrorOf(const std::vector<std::string>& args, const Files& files = {}) {
  absl::StatusOr<ConfigArgs<TestConfig>> p = Parse(args, files);
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(Sv(p.status().message()));
}

TEST(ConfigTableTest, DefaultsStayWithoutFileOrFlags) {
  absl::StatusOr<ConfigArgs<TestConfig>> p = Parse({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.name, "default");
  EXPECT_EQ(p->config.ttl, absl::Seconds(5));
  EXPECT_FALSE(p->help);
  EXPECT_FALSE(p->version);
}

TEST(ConfigTableTest, UnknownKeyNamesFileLineAndKey) {
  Files f{{{"c.yaml", "name: x\ncache:\n  denyTTL: 5s\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, f), HasSubstr("c.yaml:3: cache.denyTTL: unknown key"));
  Files top{{{"c.yaml", "name: x\n\nretension: 1h\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, top), HasSubstr("c.yaml:3: retension: unknown key"));
}

TEST(ConfigTableTest, RemovedKeyNamesItsReplacement) {
  Files f{{{"c.yaml", "name: x\nhttp: 127.0.0.1:80\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, f),
              HasSubstr("c.yaml:2: http: replaced by web (the page) and admin (the probes)"));
  EXPECT_THAT(ErrorOf({"--http", "127.0.0.1:80"}), HasSubstr("--http: replaced by web"));
}

TEST(ConfigTableTest, WrongTypeNamesKeyAndValue) {
  Files f{{{"c.yaml", "ttl: 1s\nworkers: many\n"}}};
  std::string e = ErrorOf({"--config", "c.yaml"}, f);
  EXPECT_THAT(e, HasSubstr("c.yaml:2: workers"));
  EXPECT_THAT(e, HasSubstr("\"many\" is not a number from 1 to 64"));

  e = ErrorOf({"--ttl", "soon"});
  EXPECT_THAT(e, HasSubstr("--ttl"));
  EXPECT_THAT(e, HasSubstr("soon"));
  EXPECT_THAT(ErrorOf({"--ttl", "0s"}), HasSubstr("--ttl"));
  EXPECT_THAT(ErrorOf({"--mode", "pass"}), HasSubstr("--mode: \"pass\" is not gate or refuse"));
  EXPECT_THAT(ErrorOf({"--peer", "nowhere"}), HasSubstr("--peer: \"nowhere\" is not host:port"));
  EXPECT_THAT(ErrorOf({"--workers", "65"}), HasSubstr("--workers"));

  Files b{{{"c.yaml", "fast: yes\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, b), HasSubstr("c.yaml:1: fast: \"yes\" is not true or false"));
  Files list{{{"c.yaml", "name: [a, b]\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, list), HasSubstr("c.yaml:1: name: expected one value"));
  Files map{{{"c.yaml", "name:\n  first: a\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, map), HasSubstr("c.yaml:1: name: expected one value"));
  Files nested{{{"c.yaml", "hosts: [[a]]\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, nested), HasSubstr("c.yaml:1: hosts: expected a list"));
  Files root{{{"c.yaml", "just text\n"}}};
  EXPECT_THAT(ErrorOf({"--config", "c.yaml"}, root), HasSubstr("c.yaml: the file must be a mapping"));
}

TEST(ConfigTableTest, FlagOverridesFile) {
  Files f{{{"c.yaml", "name: from-file\nworkers: 8\nhosts: [a.example]\ncache:\n  denyTtl: 45s\n"}}};
  // Flags before --config still win over the file.
  absl::StatusOr<ConfigArgs<TestConfig>> p =
      Parse({"--cache-deny-ttl=7s", "--config", "c.yaml", "--name", "from-flag", "--host", "b.example"}, f);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.name, "from-flag");
  EXPECT_EQ(p->config.cache.deny_ttl, absl::Seconds(7));
  EXPECT_EQ(p->config.workers, 8) << "keys only in the file keep the file's value";
  EXPECT_THAT(p->config.hosts, ElementsAre("a.example", "b.example"));
  EXPECT_EQ(p->config.ttl, absl::Seconds(5)) << "keys in neither keep their defaults";
}

TEST(ConfigTableTest, ConfigFilesApplyInOrder) {
  Files f{{{"a.yaml", "name: a\nworkers: 2\n"}, {"b.yaml", "name: b\n"}}};
  absl::StatusOr<ConfigArgs<TestConfig>> p = Parse({"--config", "a.yaml", "--config", "b.yaml"}, f);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.name, "b");
  EXPECT_EQ(p->config.workers, 2);
}

TEST(ConfigTableTest, TypedBinders) {
  Files f{{{"c.yaml",
            "fast: true\nkeep: 0\nnames: \" x , y,,z \"\nmode: refuse\npeer: db:5432\n"
            "hosts: one.example\nfileOnly: from-file-only\nttl:\n"}}};
  absl::StatusOr<ConfigArgs<TestConfig>> p = Parse({"--config", "c.yaml"}, f);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->config.fast);
  EXPECT_EQ(p->config.keep, absl::ZeroDuration());
  EXPECT_THAT(p->config.names, ElementsAre("x", "y", "z"));
  EXPECT_EQ(p->config.mode, Mode::kRefuse);
  EXPECT_EQ(p->config.peer, std::make_pair(std::string("db"), 5432));
  EXPECT_THAT(p->config.hosts, ElementsAre("one.example"));
  EXPECT_EQ(p->config.name, "from-file-only");
  EXPECT_EQ(p->config.ttl, absl::Seconds(5)) << "a key without a value keeps the default";

  p = Parse({"--fast", "--names", ""});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->config.fast);
  EXPECT_TRUE(p->config.names.empty());
  EXPECT_THAT(ErrorOf({"--keep", "inf"}), HasSubstr("--keep: \"inf\" is not a finite duration"));
  EXPECT_THAT(ErrorOf({"--fast=false"}), HasSubstr("--fast takes no value"));
  EXPECT_THAT(ErrorOf({"--file-only", "x"}), HasSubstr("unknown flag --file-only"));
}

TEST(ConfigTableTest, HelpAndVersionCheckNothingElse) {
  absl::StatusOr<ConfigArgs<TestConfig>> p = Parse({"--ttl", "soon", "stray", "--help"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->help);
  p = Parse({"--version", "--config", "absent.yaml"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->version);
  EXPECT_THAT(ErrorOf({"--help=yes"}), HasSubstr("--help takes no value"));
  EXPECT_THAT(ErrorOf({"--no-such-flag", "--help"}), HasSubstr("unknown flag --no-such-flag"));
  EXPECT_THAT(ErrorOf({"stray"}), HasSubstr("unexpected argument \"stray\""));
  EXPECT_THAT(ErrorOf({"--config"}), HasSubstr("--config needs a value"));
  EXPECT_THAT(ErrorOf({"--config", "absent.yaml"}), HasSubstr("absent.yaml"));
}

TEST(ConfigTableTest, UsageListsEveryKey) {
  std::string usage = TestTable().Usage();
  EXPECT_EQ(usage.rfind("usage: test-program [--config FILE] [flags]\n\nA program for the test.\n\n", 0), 0u)
      << usage;
  // Help text starts one space after column 30 on every line.
  EXPECT_THAT(usage, HasSubstr(StrCat("\n  --config FILE", std::string(16, ' '), "YAML file with the keys below\n")));
  EXPECT_THAT(usage, HasSubstr(StrCat("\n  --version", std::string(20, ' '), "print the version and exit\n")));
  EXPECT_THAT(usage, HasSubstr(StrCat("\n  (fileOnly)", std::string(19, ' '), "no flag\n")));
  for (const ConfigRow& r : TestTable().rows()) {
    std::string left = r.flag.empty() ? StrCat("  (", r.key, ")") : StrCat("  --", r.flag, " (", r.key, ")");
    left.resize(std::max<size_t>(left.size(), 30), ' ');
    EXPECT_THAT(usage, HasSubstr(StrCat("\n", left, " ", r.help, "\n"))) << r.key;
  }
}

TEST(YamlConfigTest, DeepNestingIsRefusedNotRecursedInto) {
  std::string text;
  for (int i = 0; i < 10'000; ++i) text += "[";
  absl::StatusOr<ConfigNode> deep = ParseYamlConfig(StrCat("a: ", text), "deep.yaml");
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(std::string(Sv(deep.status().message())), HasSubstr("deep.yaml"));

  std::string maps;
  for (int i = 0; i < kMaxConfigDepth + 2; ++i) maps += std::string(2 * i, ' ') + "k:\n";
  deep = ParseYamlConfig(maps, "maps.yaml");
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(std::string(Sv(deep.status().message())), HasSubstr("nested too deeply"));
}

TEST(YamlConfigTest, KeysMustBeNames) {
  absl::StatusOr<ConfigNode> n = ParseYamlConfig("? [a, b]\n: c\n", "k.yaml");
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(std::string(Sv(n.status().message())), HasSubstr("k.yaml:1: a key must be a name"));
}

TEST(YamlConfigTest, ReadsAFileAndNamesAMissingOne) {
  std::string dir = StrCat(std::filesystem::temp_directory_path().string(), "/config_table_test.",
                           getpid());
  std::filesystem::create_directories(dir);
  testing::WriteAll(dir + "/c.yaml", "name: on-disk\ncache:\n  denyTtl: 9s\n");
  absl::StatusOr<ConfigArgs<TestConfig>> p =
      TestTable().Parse({"--config", dir + "/c.yaml"}, ReadYamlConfig);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.name, "on-disk");
  EXPECT_EQ(p->config.cache.deny_ttl, absl::Seconds(9));
  absl::StatusOr<ConfigNode> missing = ReadYamlConfig(dir + "/absent.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Sv(missing.status().message())), HasSubstr(dir + "/absent.yaml"));
  // Over the limit: refused, named, never parsed (a file at the limit is read).
  testing::WriteAll(dir + "/big.yaml", "name: x\n" + std::string(kMaxConfigFileBytes, '#'));
  absl::StatusOr<ConfigNode> big = ReadYamlConfig(dir + "/big.yaml");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Sv(big.status().message())),
              HasSubstr(StrCat(dir, "/big.yaml\" is larger than ", kMaxConfigFileBytes)));
  testing::WriteAll(dir + "/full.yaml", "name: x\n" + std::string(kMaxConfigFileBytes - 8, '#'));
  EXPECT_TRUE(ReadYamlConfig(dir + "/full.yaml").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace layerseal
