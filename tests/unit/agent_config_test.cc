// The agent's configuration (node-agent/config.h): defaults, the YAML file with nested keys,
// flags over the file, and errors that name the file, line, key or flag.
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node-agent/config.h"
#include "node-agent/verdict_cache.h"
#include "tests/support/agent_unit.h"
#include "tests/support/files.h"

namespace layerseal::agent {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

// ---------------------------------------------------------------------------------------
// ParseAgentArgs

std::string ErrorOf(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs(args);
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(Sv(p.status().message()));
}

TEST(AgentConfigTest, Defaults) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->help);
  EXPECT_FALSE(p->version);
  const AgentConfig& c = p->config;
  EXPECT_EQ(c.listen, "/run/layerseal/layerseal.sock");
  EXPECT_EQ(c.listen_mode, 0660);
  EXPECT_EQ(c.runtime_endpoint, "/run/containerd/containerd.sock");
  EXPECT_EQ(c.policy, "/etc/layerseal/policy.yaml");
  EXPECT_EQ(c.namespace_policy_dir, "");
  EXPECT_EQ(c.state_dir, "/var/lib/layerseal");
  EXPECT_EQ(c.EventLogPath(), "/var/lib/layerseal/events.jsonl");
  EXPECT_EQ(c.cache.persist_path, "/var/lib/layerseal/verdicts.jsonl");
  EXPECT_EQ(c.admin_address, "127.0.0.1:9464");
  EXPECT_EQ(c.workers, 16);
  EXPECT_EQ(c.registry_timeout, absl::Seconds(30));
  EXPECT_EQ(c.verify_timeout, absl::Seconds(60));
  EXPECT_TRUE(c.plain_http_registries.empty());
  EXPECT_EQ(c.cache.max_entries, 10000u);
  EXPECT_EQ(c.cache.allow_ttl, absl::Hours(24));
  EXPECT_EQ(c.cache.deny_ttl, kDefaultDenyTtl);
  EXPECT_EQ(c.cache.error_ttl, absl::Seconds(5));
  EXPECT_EQ(c.cache.resolve_ttl, absl::Seconds(10));
  EXPECT_FALSE(c.node_name.empty()) << "defaults to the host name";
}

TEST(AgentConfigTest, AdminAllowedHostsRepeat) {
  EXPECT_TRUE(ParseAgentArgs({})->config.admin_allowed_hosts.empty());
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs(
      {"--admin-allowed-host", "agent.example", "--admin-allowed-host", "node-1.example"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.admin_allowed_hosts,
            (std::vector<std::string>{"agent.example", "node-1.example"}));
}

TEST(AgentConfigTest, EventLogDash) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({"--event-log", "-"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.EventLogPath(), "");
}

TEST(AgentConfigTest, ConfigFileWithNestedKeys) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file,
           "listen: /tmp/ls.sock\n"
           "listenMode: 0600\n"
           "runtimeEndpoint: unix:///run/crio/crio.sock\n"
           "stateDir: /srv/layerseal\n"
           "nodeName: node-7\n"
           "workers: 4\n"
           "registry:\n"
           "  plainHttp:\n"
           "    - 127.0.0.1:5000\n"
           "    - localhost:5001\n"
           "  timeout: 3s\n"
           "  verifyTimeout: 20s\n"
           "cache:\n"
           "  denyTtl: 45s\n"
           "  maxEntries: 50\n");
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({"--config", file});
  ASSERT_TRUE(p.ok()) << p.status();
  const AgentConfig& c = p->config;
  EXPECT_EQ(c.listen, "/tmp/ls.sock");
  EXPECT_EQ(c.listen_mode, 0600);
  EXPECT_EQ(c.runtime_endpoint, "/run/crio/crio.sock");
  EXPECT_EQ(c.node_name, "node-7");
  EXPECT_EQ(c.workers, 4);
  EXPECT_THAT(c.plain_http_registries, UnorderedElementsAre("127.0.0.1:5000", "localhost:5001"));
  EXPECT_EQ(c.registry_timeout, absl::Seconds(3));
  EXPECT_EQ(c.verify_timeout, absl::Seconds(20));
  EXPECT_EQ(c.cache.deny_ttl, absl::Seconds(45));
  EXPECT_EQ(c.cache.max_entries, 50u);
  EXPECT_EQ(c.cache.allow_ttl, absl::Hours(24)) << "keys not in the file keep their defaults";
  EXPECT_EQ(c.cache.persist_path, "/srv/layerseal/verdicts.jsonl");
  EXPECT_EQ(c.EventLogPath(), "/srv/layerseal/events.jsonl");
}

TEST(AgentConfigTest, FlagOverridesFile) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file,
           "listen: /tmp/from-file.sock\n"
           "registry:\n"
           "  plainHttp: [127.0.0.1:5000]\n"
           "cache:\n"
           "  denyTtl: 45s\n");
  // Flags given before --config still win over the file.
  absl::StatusOr<ParsedArgs> p =
      ParseAgentArgs({"--cache-deny-ttl=7s", "--config", file, "--listen", "/tmp/from-flag.sock",
                      "--plain-http-registry", "127.0.0.1:6000"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.cache.deny_ttl, absl::Seconds(7));
  EXPECT_EQ(p->config.listen, "/tmp/from-flag.sock");
  EXPECT_THAT(p->config.plain_http_registries, Contains("127.0.0.1:6000"));
}

TEST(AgentConfigTest, UnknownKeyNamesFileLineAndKey) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file,
           "listen: /tmp/ls.sock\n"
           "cache:\n"
           "  denyTTL: 5s\n");
  std::string e = ErrorOf({"--config", file});
  EXPECT_THAT(e, HasSubstr(StrCat(file, ":3")));
  EXPECT_THAT(e, HasSubstr("cache.denyTTL"));
  EXPECT_THAT(e, HasSubstr("unknown key"));
}

TEST(AgentConfigTest, BadValueInFileNamesFileLineAndKey) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file, "cache:\n  allowTtl: 1h\n  errorTtl: forever\n");
  std::string e = ErrorOf({"--config", file});
  EXPECT_THAT(e, HasSubstr(StrCat(file, ":3")));
  EXPECT_THAT(e, HasSubstr("cache.errorTtl"));
  EXPECT_THAT(e, HasSubstr("forever"));
}

TEST(AgentConfigTest, ListWhereOneValueExpected) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file, "listen: [a, b]\n");
  std::string e = ErrorOf({"--config", file});
  EXPECT_THAT(e, HasSubstr(StrCat(file, ":1")));
  EXPECT_THAT(e, HasSubstr("listen"));
}

TEST(AgentConfigTest, MissingConfigFileFails) {
  TempDir dir;
  std::string e = ErrorOf({"--config", dir / "absent.yaml"});
  EXPECT_THAT(e, HasSubstr("absent.yaml"));
}

TEST(AgentConfigTest, V1alpha2GateOrRefuse) {
  absl::StatusOr<ParsedArgs> d = ParseAgentArgs({});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->config.v1alpha2, plugin::V1alpha2Mode::kGate);
  absl::StatusOr<ParsedArgs> r = ParseAgentArgs({"--v1alpha2", "refuse"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.v1alpha2, plugin::V1alpha2Mode::kRefuse);
  EXPECT_THAT(ErrorOf({"--v1alpha2", "pass"}), HasSubstr("is not gate or refuse"));
}

TEST(AgentConfigTest, UnknownFlagFails) {
  EXPECT_THAT(ErrorOf({"--no-such-flag", "x"}), HasSubstr("--no-such-flag"));
  EXPECT_THAT(ErrorOf({"stray"}), HasSubstr("stray"));
}

TEST(AgentConfigTest, BadDurationNamesTheFlag) {
  std::string e = ErrorOf({"--cache-deny-ttl", "soon"});
  EXPECT_THAT(e, HasSubstr("--cache-deny-ttl"));
  EXPECT_THAT(e, HasSubstr("soon"));
  EXPECT_THAT(ErrorOf({"--registry-timeout=0s"}), HasSubstr("--registry-timeout"));
  EXPECT_THAT(ErrorOf({"--cache-error-ttl=-5s"}), HasSubstr("--cache-error-ttl"));
}

TEST(AgentConfigTest, BadOctalListenModeNamesTheFlag) {
  for (const char* bad : {"0999", "0660x", "01777", "rw-rw----", ""}) {
    std::string e = ErrorOf({"--listen-mode", bad});
    EXPECT_THAT(e, HasSubstr("--listen-mode")) << bad;
  }
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({"--listen-mode=0640"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.listen_mode, 0640);
}

TEST(AgentConfigTest, BadCountsNameTheFlag) {
  EXPECT_THAT(ErrorOf({"--workers", "0"}), HasSubstr("--workers"));
  EXPECT_THAT(ErrorOf({"--workers", "many"}), HasSubstr("--workers"));
  EXPECT_THAT(ErrorOf({"--cache-max-entries", "-1"}), HasSubstr("--cache-max-entries"));
}

TEST(AgentConfigTest, HelpAndVersion) {
  absl::StatusOr<ParsedArgs> help = ParseAgentArgs({"--help"});
  ASSERT_TRUE(help.ok()) << help.status();
  EXPECT_TRUE(help->help);
  EXPECT_FALSE(help->version);
  // Nothing else is checked with --help.
  absl::StatusOr<ParsedArgs> help2 = ParseAgentArgs({"--cache-deny-ttl", "soon", "--help"});
  ASSERT_TRUE(help2.ok()) << help2.status();
  EXPECT_TRUE(help2->help);

  absl::StatusOr<ParsedArgs> version = ParseAgentArgs({"--version"});
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_TRUE(version->version);
  EXPECT_FALSE(version->help);

  EXPECT_FALSE(ParseAgentArgs({"--help=yes"}).ok());

  std::string usage = AgentUsage();
  for (const char* flag : {"--config", "--listen-mode", "--cache-deny-ttl", "--plain-http-registry",
                           "--version", "(cache.denyTtl)", "(registry.plainHttp)"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace layerseal::agent
