// The README's first command, `bash scripts/demo`, as a smoke test (issue 14 item 11). It
// runs against this build tree's binaries (LAYERSEAL_DEMO_BUILD_DIR: no setup, no build)
// and must exit 0 after telling the whole story, and non-zero when a step fails or a
// verdict is not the one the story expects; either way it removes its temp dir (registry,
// controller and containerd under it) and leaves the machine's /run/containerd alone.
// Labelled release-only (tests/CMakeLists.txt): it runs in scripts/test's release pass,
// not in the sanitizer passes.
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using testing::RunResult;

// The demo pulls, signs and verifies a handful of images; minutes at most on a loaded box.
constexpr absl::Duration kDemoPatience = absl::Minutes(10);

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// What /run/containerd holds (its entries), or "absent".
std::string RunContainerdListing() {
  if (!Exists("/run/containerd")) return "absent";
  auto r = testing::Run({"find", "/run/containerd", "-mindepth", "1", "-maxdepth", "1"});
  return r.ok() ? r->out : "unreadable";
}

// `bash scripts/demo` with the binaries of `build_dir`.
RunResult RunDemo(const std::string& build_dir) {
  auto r = testing::Run({"env", StrCat("LAYERSEAL_DEMO_BUILD_DIR=", build_dir), "bash",
                         StrCat(LAYERSEAL_SOURCE_DIR, "/scripts/demo")},
                        "", kDemoPatience);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{};
}

// The demo's temp dir, as it names it ("storage in /tmp/layerseal-demo.XXXXXX").
std::string DemoTempDir(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("/tmp/layerseal-demo\\.[A-Za-z0-9]+"))) return "";
  return m.str();
}

// A build dir whose `layerseal` is `script` (the agent and controller are the real ones).
void FakeBuildDir(const std::string& dir, const std::string& script) {
  for (const char* sub : {"cli", "node-agent", "controller"}) {
    ASSERT_EQ(mkdir(StrCat(dir, "/", sub).c_str(), 0755), 0) << sub;
  }
  ASSERT_EQ(symlink(LAYERSEAL_AGENT_BINARY, (dir + "/node-agent/layerseal-agent").c_str()), 0);
  ASSERT_EQ(symlink(LAYERSEAL_CONTROLLER_BINARY, (dir + "/controller/layerseal-controller").c_str()),
            0);
  testing::WriteFileOrDie(dir + "/cli/layerseal", script, 0755);
}

class DemoSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (getuid() != 0) GTEST_SKIP() << "the demo needs root (it starts its own containerd)";
    if (std::string(LAYERSEAL_CONTROLLER_BINARY).empty()) {
      GTEST_SKIP() << "layerseal-controller is not built";
    }
    run_containerd_before_ = RunContainerdListing();
  }
  void TearDown() override {
    if (!IsSkipped()) {
      EXPECT_EQ(RunContainerdListing(), run_containerd_before_);
    }
  }
  std::string run_containerd_before_;
};

TEST_F(DemoSmokeTest, ExitsZeroAfterTellingTheStory) {
  RunResult r = RunDemo(LAYERSEAL_BUILD_DIR);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("-- the signed image is allowed\nALLOW "));
  EXPECT_THAT(r.out, HasSubstr("-- an unsigned image is denied\nDENY "));
  EXPECT_THAT(r.out, HasSubstr("-- an image signed by an untrusted key is denied\nDENY "));
  EXPECT_THAT(r.out, HasSubstr("-- a tampered image is denied\nDENY "));
  EXPECT_THAT(r.out, HasSubstr("-- the signed image\npulled, image sha256:"));
  EXPECT_THAT(r.out, HasSubstr("-- a tampered image\nthe kubelet would show: "));
  EXPECT_THAT(r.out, HasSubstr("-- layerseal events (as the security team"));
  std::string tmp = DemoTempDir(r.out);
  ASSERT_FALSE(tmp.empty()) << r.out;
  EXPECT_FALSE(Exists(tmp)) << tmp << " was left behind";
}

TEST_F(DemoSmokeTest, AFailingStepExitsNonZeroAndCleansUp) {
  testing::TempDir build;
  FakeBuildDir(build.path(), "#!/bin/sh\necho 'bogus layerseal' >&2\nexit 3\n");
  RunResult r = RunDemo(build.path());
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("bogus layerseal"));
  std::string tmp = DemoTempDir(r.out);
  ASSERT_FALSE(tmp.empty()) << r.out;
  EXPECT_FALSE(Exists(tmp)) << tmp << " was left behind";
}

// A verdict other than the story's (here every image "allowed") fails the demo.
TEST_F(DemoSmokeTest, AWrongVerdictExitsNonZero) {
  testing::TempDir build;
  FakeBuildDir(build.path(),
               StrCat("#!/bin/sh\n"
                      "if [ \"$1\" = verify ]; then echo 'ALLOW (fake)'; exit 0; fi\n"
                      "exec '", LAYERSEAL_BINARY, "' \"$@\"\n"));
  RunResult r = RunDemo(build.path());
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("demo: expected DENY for "));
  EXPECT_FALSE(Exists(DemoTempDir(r.out)));
}

}  // namespace
}  // namespace layerseal
