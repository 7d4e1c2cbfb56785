// node-agent/config.h: keys removed from the agent's configuration fail with a message that
// says what to do, in the config file as on the command line (as the controller's removed
// keys do), so a stale configuration is noticed instead of silently doing something else.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "node-agent/config.h"
#include "tests/support/files.h"

namespace layerseal::agent {
namespace {

std::string ErrorOf(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs(args);
  EXPECT_FALSE(p.ok()) << "accepted";
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(Sv(p.status().message()));
}

// Issue 16: the proxy has one engine; both old values, and any other, are refused.
TEST(AgentConfigRemovedKeysTest, ProxyEngineFlagIsAnErrorNamingWhatToDo) {
  for (const char* value : {"callback", "completion-queue", "other"}) {
    std::string error = ErrorOf({"--proxy-engine", value});
    EXPECT_NE(error.find("--proxy-engine"), std::string::npos) << error;
    EXPECT_NE(error.find("one engine"), std::string::npos) << error;
    EXPECT_NE(error.find("delete this setting"), std::string::npos) << error;
  }
}

TEST(AgentConfigRemovedKeysTest, ProxyEngineKeyInTheFileIsAnErrorWithItsLine) {
  char dir_template[] = "/tmp/layerseal-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = StrCat(dir_template, "/agent.yaml");
  testing::WriteAll(path, "workers: 4\nproxyEngine: completion-queue\n");
  std::string error = ErrorOf({"--config", path});
  EXPECT_NE(error.find(StrCat(path, ":2: proxyEngine")), std::string::npos) << error;
  EXPECT_NE(error.find("one engine"), std::string::npos) << error;
  unlink(path.c_str());
  rmdir(dir_template);
}

TEST(AgentConfigRemovedKeysTest, UsageSaysTheKeyIsRemoved) {
  const std::string usage = AgentUsage();
  size_t line = usage.find("--proxy-engine (proxyEngine)");
  ASSERT_NE(line, std::string::npos) << usage;
  std::string text = usage.substr(line, usage.find('\n', line) - line);
  EXPECT_NE(text.find("REMOVED"), std::string::npos) << text;
}

}  // namespace
}  // namespace layerseal::agent
