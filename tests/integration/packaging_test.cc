// Packaging (issue 6, packaging/): the .deb made by cpack from this build tree, the systemd
// units and default configuration in it, the container image definition and the Kubernetes
// manifests. The .deb is built once for the suite (cpack runs the install rules of the
// already-built binaries, about ten seconds), inspected with dpkg-deb, and extracted into a
// temp root whose binaries are run. The manifests are parsed with yaml-cpp and checked
// against the agent's and the controller's own defaults.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "controller/config.h"
#include "gtest/gtest.h"
#include "node-agent/config.h"
#include "tests/support/process.h"
#include "verifier/policy.h"
#include "base/host_port.h"
#include "base/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace layerseal {
namespace {

namespace fs = std::filesystem;
using testing::ReadFileOrDie;
using testing::RunResult;
using testing::TempDir;
using testing::WriteFileOrDie;

const std::string kSource = LAYERSEAL_SOURCE_DIR;
const std::string kPackaging = kSource + "/packaging";
const std::string kKube = kPackaging + "/kubernetes";
// The install layout cmake/Packaging.cmake configured for this build tree.
const std::string kBinDir = LAYERSEAL_PKG_BINDIR;
const std::string kConfDir = LAYERSEAL_PKG_CONFDIR;
const std::string kStateDir = LAYERSEAL_PKG_STATEDIR;
const std::string kUnitDir = LAYERSEAL_PKG_UNITDIR;
const std::string kImage = "ghcr.io/layerseal/layerseal";
// cpack and dpkg-deb on a 100 MB tree; generous, never a timing assertion.
constexpr absl::Duration kToolTimeout = absl::Seconds(300);

RunResult MustRun(const std::vector<std::string>& argv) {
  absl::StatusOr<RunResult> r = testing::Run(argv, "", kToolTimeout);
  EXPECT_TRUE(r.ok()) << argv[0] << ": " << r.status();
  if (!r.ok()) return RunResult{};
  EXPECT_EQ(r->exit_code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ":\n"
                             << r->out << r->err;
  return *r;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Paths under `root`, relative with a leading "/" (directories end with "/").
std::set<std::string> Tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    std::string rel = "/" + fs::relative(e.path(), root).string();
    out.insert(e.is_directory() && !e.is_symlink() ? rel + "/" : rel);
  }
  return out;
}

// A systemd unit: section -> key -> values (a key may repeat).
using Unit = std::map<std::string, std::multimap<std::string, std::string>>;

Unit ParseUnit(const std::string& text) {
  Unit unit;
  std::string section;
  for (const std::string& line : Lines(text)) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      ADD_FAILURE() << "not a key=value line in a unit: " << line;
      continue;
    }
    unit[section].emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return unit;
}

std::string One(const Unit& unit, const std::string& section, const std::string& key) {
  auto s = unit.find(section);
  if (s == unit.end()) return "";
  auto [begin, end] = s->second.equal_range(key);
  if (begin == end || std::next(begin) != end) return "";
  return begin->second;
}

std::vector<YAML::Node> LoadAll(const std::string& path) {
  try {
    return YAML::LoadAllFromFile(path);
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
    return {};
  }
}

// Every document of every manifest kustomization.yaml lists.
std::vector<YAML::Node> Manifests() {
  std::vector<YAML::Node> out;
  YAML::Node kustomization = YAML::LoadFile(kKube + "/kustomization.yaml");
  for (const YAML::Node& file : kustomization["resources"]) {
    for (const YAML::Node& doc : LoadAll(kKube + "/" + file.as<std::string>())) {
      if (doc.IsMap()) out.push_back(doc);
    }
  }
  return out;
}

YAML::Node Find(const std::string& kind, const std::string& name) {
  for (const YAML::Node& doc : Manifests()) {
    if (doc["kind"].as<std::string>() == kind && doc["metadata"]["name"].as<std::string>() == name) {
      return doc;
    }
  }
  ADD_FAILURE() << "no " << kind << " named " << name << " in the manifests";
  return YAML::Node();
}

int PortOf(const std::string& address) {
  absl::StatusOr<HostPort> hp = SplitHostPort(address);
  EXPECT_TRUE(hp.ok()) << address;
  return hp.ok() ? hp->port : -1;
}

absl::StatusOr<agent::ParsedArgs> ParseAgentFile(const std::string& path) {
  return agent::ParseAgentArgs({"--config", path});
}

class PackagingTest : public ::testing::Test {
 protected:
  // One .deb and one `cmake --install` tree for the suite.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    MustRun({LAYERSEAL_CPACK, "-G", "DEB", "--config", LAYERSEAL_BUILD_DIR "/CPackConfig.cmake",
             "-B", dir_->File("out")});
    for (const auto& e : fs::directory_iterator(dir_->File("out"))) {
      if (e.path().extension() == ".deb") deb_ = e.path().string();
    }
    ASSERT_FALSE(deb_.empty()) << "cpack made no .deb in " << dir_->File("out");
    MustRun({"dpkg-deb", "-x", deb_, dir_->File("root")});
    MustRun({"dpkg-deb", "-e", deb_, dir_->File("control")});
    MustRun({"env", "DESTDIR=" + dir_->File("install"), LAYERSEAL_CMAKE, "--install",
             LAYERSEAL_BUILD_DIR, "--strip"});
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (deb_.empty()) GTEST_SKIP() << "no package (see the suite's set-up failure)";
  }
  static std::string Root(const std::string& path) { return dir_->File("root") + path; }

  static TempDir* dir_;
  static std::string deb_;
};
TempDir* PackagingTest::dir_ = nullptr;
std::string PackagingTest::deb_;

TEST_F(PackagingTest, ControlNamesThePackageItsVersionAndItsLibraries) {
  std::string info = MustRun({"dpkg-deb", "--info", deb_}).out;
  EXPECT_TRUE(Contains(info, "Package: layerseal\n")) << info;
  EXPECT_TRUE(Contains(info, StrCat("Version: ", LAYERSEAL_VERSION, "\n"))) << info;
  EXPECT_TRUE(std::regex_search(info, std::regex("Maintainer: .+<.+@.+>"))) << info;
  // dpkg-shlibdeps (or the fallback list) names the libraries the binaries link.
  std::string depends = MustRun({"dpkg-deb", "--field", deb_, "Depends"}).out;
  for (const char* lib : {"libgrpc++1.51 ", "libssl3 ", "libyaml-cpp0.7 ", "libsqlite3-0 ",
                          "libpq5 "}) {
    EXPECT_TRUE(Contains(depends, lib)) << "no " << lib << "in Depends: " << depends;
  }
  EXPECT_EQ(fs::path(deb_).filename().string(),
            StrCat("layerseal_", LAYERSEAL_VERSION, "_amd64.deb"));
}

TEST_F(PackagingTest, ContentsAreTheBinariesUnitsConfigurationAndStateDir) {
  std::string contents = MustRun({"dpkg-deb", "--contents", deb_}).out;
  for (const std::string& path :
       {kBinDir + "/layerseal", kBinDir + "/layerseal-agent", kBinDir + "/layerseal-controller",
        kUnitDir + "/layerseal-agent.service", kUnitDir + "/layerseal-controller.service",
        kConfDir + "/agent.yaml", kConfDir + "/policy.yaml", kConfDir + "/controller.yaml",
        kStateDir + "/"}) {
    EXPECT_TRUE(Contains(contents, " ." + path + "\n")) << "no " << path << " in\n" << contents;
  }
  if (std::string(LAYERSEAL_PKG_PREFIX) == "/usr") {  // the layout the .deb promises
    EXPECT_EQ(kBinDir, "/usr/bin");
    EXPECT_EQ(kUnitDir, "/lib/systemd/system");
    EXPECT_EQ(kConfDir, "/etc/layerseal");
    EXPECT_EQ(kStateDir, "/var/lib/layerseal");
  }
  // Key files may be named in the configuration: not world-readable; nor is the state.
  for (const std::string& path : {kConfDir + "/agent.yaml", kConfDir + "/controller.yaml",
                                  kConfDir + "/policy.yaml", kStateDir}) {
    struct stat st {};
    ASSERT_EQ(stat(Root(path).c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 07, 0u) << path << " is world-accessible";
  }
  std::vector<std::string> conffiles = Lines(ReadFileOrDie(dir_->File("control/conffiles")));
  std::sort(conffiles.begin(), conffiles.end());
  EXPECT_EQ(conffiles, (std::vector<std::string>{kConfDir + "/agent.yaml",
                                                  kConfDir + "/controller.yaml",
                                                  kConfDir + "/policy.yaml"}));
}

// cmake --install and the .deb install the same files and directories.
TEST_F(PackagingTest, CmakeInstallMakesTheSameTreeAsThePackage) {
  std::set<std::string> deb = Tree(dir_->File("root"));
  std::set<std::string> installed = Tree(dir_->File("install"));
  EXPECT_EQ(deb, installed);
  EXPECT_FALSE(deb.empty());
}

TEST_F(PackagingTest, ExtractedBinariesRun) {
  EXPECT_EQ(MustRun({Root(kBinDir + "/layerseal-agent"), "--version"}).out,
            StrCat("layerseal-agent ", LAYERSEAL_VERSION, "\n"));
  EXPECT_EQ(MustRun({Root(kBinDir + "/layerseal-controller"), "--version"}).out,
            StrCat("layerseal-controller ", LAYERSEAL_VERSION, "\n"));
  EXPECT_TRUE(Contains(MustRun({Root(kBinDir + "/layerseal"), "--version"}).out,
                       LAYERSEAL_VERSION));
}

// Installing never puts the agent in the kubelet's path: the scripts neither enable nor
// start anything; they only reload systemd and restart what already runs (an upgrade).
TEST_F(PackagingTest, MaintainerScriptsNeverEnableOrStartTheAgent) {
  const std::set<std::string> allowed = {"daemon-reload", "try-restart", "is-active",
                                         "disable"};
  std::regex systemctl(R"(systemctl\s+(--\S+\s+)*(\S+))");
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    std::string path = dir_->File(StrCat("control/", script));
    std::string text = ReadFileOrDie(path);
    MustRun({"sh", "-n", path});
    EXPECT_EQ(text.rfind("#!/bin/sh\n", 0), 0u) << script;
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_NE(st.st_mode & 0111, 0u) << script << " is not executable";
    int calls = 0;
    std::string heredoc_end;  // a here-document is text shown to the operator, not commands
    for (const std::string& line : Lines(text)) {
      if (!heredoc_end.empty()) {
        if (line == heredoc_end) heredoc_end.clear();
        continue;
      }
      std::smatch heredoc;
      if (std::regex_search(line, heredoc, std::regex(R"(<<-?'?(\w+)'?)"))) heredoc_end = heredoc[1];
      if (std::regex_search(line, std::regex(R"(^\s*#)"))) continue;
      EXPECT_FALSE(std::regex_search(line, std::regex(R"(\bdeb-systemd-invoke\b|\binvoke-rc\.d\b)")))
          << script << ": " << line;
      for (std::sregex_iterator m(line.begin(), line.end(), systemctl), end; m != end; ++m) {
        ++calls;
        EXPECT_TRUE(allowed.count((*m)[2].str())) << script << " runs: " << line;
      }
    }
    if (std::string(script) == "postinst") {
      EXPECT_GT(calls, 0) << "postinst reloads systemd";
    }
  }
  // The prerm's disable is for "remove" only, never for "upgrade".
  EXPECT_TRUE(Contains(ReadFileOrDie(dir_->File("control/prerm")), "[ \"$1\" = \"remove\" ]"));
}

TEST_F(PackagingTest, AgentUnitRestartsAlwaysAndComesBeforeTheKubelet) {
  std::string text = ReadFileOrDie(Root(kUnitDir + "/layerseal-agent.service"));
  Unit unit = ParseUnit(text);
  EXPECT_EQ(One(unit, "Service", "ExecStart"),
            StrCat(kBinDir, "/layerseal-agent --config ", kConfDir, "/agent.yaml"));
  EXPECT_TRUE(fs::exists(Root(kBinDir + "/layerseal-agent")));
  EXPECT_EQ(One(unit, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID");
  EXPECT_EQ(One(unit, "Service", "Type"), "simple");
  EXPECT_EQ(One(unit, "Service", "Restart"), "always");
  EXPECT_EQ(One(unit, "Service", "RestartSec"), "1");
  EXPECT_EQ(One(unit, "Unit", "StartLimitIntervalSec"), "0");  // never gives up
  EXPECT_EQ(One(unit, "Service", "RuntimeDirectory"), "layerseal");
  EXPECT_EQ(One(unit, "Service", "NoNewPrivileges"), "yes");
  EXPECT_EQ(One(unit, "Service", "ProtectSystem"), "full");  // /run and /var stay writable
  std::string after = One(unit, "Unit", "After");
  EXPECT_TRUE(Contains(after, "containerd.service") && Contains(after, "crio.service")) << after;
  EXPECT_TRUE(Contains(One(unit, "Unit", "Before"), "kubelet.service"));
  EXPECT_TRUE(Contains(One(unit, "Install", "WantedBy"), "multi-user.target"));
  // The socket the kubelet dials is in the RuntimeDirectory; the state dir is not read-only.
  agent::AgentConfig defaults;
  EXPECT_EQ(fs::path(defaults.listen).parent_path().string(), "/run/layerseal");
  EXPECT_EQ(fs::path(defaults.health_socket).parent_path().string(), "/run/layerseal");
  EXPECT_FALSE(Contains(text, "ReadOnlyPaths=" + kStateDir));
  EXPECT_FALSE(Contains(text, "ProtectSystem=strict"));
}

TEST_F(PackagingTest, ControllerUnitHandsItsTlsFilesAsCredentials) {
  Unit unit = ParseUnit(ReadFileOrDie(Root(kUnitDir + "/layerseal-controller.service")));
  EXPECT_EQ(One(unit, "Service", "ExecStart"),
            StrCat(kBinDir, "/layerseal-controller --config ", kConfDir, "/controller.yaml"));
  EXPECT_EQ(One(unit, "Service", "DynamicUser"), "yes");
  absl::StatusOr<controller::ParsedControllerArgs> parsed =
      controller::ParseControllerArgs({"--config", Root(kConfDir + "/controller.yaml")});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::string credentials = "/run/credentials/layerseal-controller.service/";
  std::set<std::string> loaded;
  auto [begin, end] = unit["Service"].equal_range("LoadCredential");
  for (auto it = begin; it != end; ++it) loaded.insert(it->second.substr(0, it->second.find(':')));
  EXPECT_EQ(loaded, (std::set<std::string>{"tls.crt", "tls.key", "ca.crt"}));
  EXPECT_EQ(parsed->config.tls_cert, credentials + "tls.crt");
  EXPECT_EQ(parsed->config.tls_key, credentials + "tls.key");
  EXPECT_EQ(parsed->config.client_ca, credentials + "ca.crt");
  // The web page and API on loopback in plain HTTP (issue 14 item 3).
  EXPECT_TRUE(controller::IsLoopbackOrUnix(parsed->config.web)) << parsed->config.web;
  EXPECT_FALSE(parsed->config.web_tls);
  // The database is in the unit's StateDirectory, which the dynamic user owns.
  EXPECT_EQ(parsed->config.database,
            StrCat("sqlite:///var/lib/", One(unit, "Service", "StateDirectory"), "/controller.db"));
}

TEST_F(PackagingTest, UnitsPassSystemdAnalyzeVerify) {
  absl::StatusOr<RunResult> probe = testing::Run({"systemd-analyze", "--version"});
  if (!probe.ok() || probe->exit_code != 0) GTEST_SKIP() << "no systemd-analyze";
  // ExecStart must name an existing file: verify the units as the extracted root has them.
  TempDir units;
  for (const char* name : {"layerseal-agent.service", "layerseal-controller.service"}) {
    std::string text = ReadFileOrDie(Root(kUnitDir + "/" + name));
    text = std::regex_replace(text, std::regex("ExecStart=" + kBinDir), "ExecStart=" + Root(kBinDir));
    WriteFileOrDie(units.File(name), text);
  }
  RunResult r = MustRun({"systemd-analyze", "verify", "--man=no",
                         units.File("layerseal-agent.service"),
                         units.File("layerseal-controller.service")});
  // Warnings about units that do not exist on this machine (kubelet, crio) are expected;
  // anything about our own files is not.
  for (const std::string& line : Lines(r.err)) {
    EXPECT_FALSE(Contains(line, "layerseal-")) << line;
  }
}

TEST_F(PackagingTest, DefaultAgentConfigParsesWithTheAgentsParser) {
  std::string path = Root(kConfDir + "/agent.yaml");
  absl::StatusOr<agent::ParsedArgs> parsed = ParseAgentFile(path);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const agent::AgentConfig& c = parsed->config;
  agent::AgentConfig defaults;
  EXPECT_EQ(c.listen, "/run/layerseal/layerseal.sock");
  EXPECT_EQ(c.listen, defaults.listen);
  EXPECT_EQ(c.runtime_endpoint, defaults.runtime_endpoint);
  EXPECT_EQ(c.policy, kConfDir + "/policy.yaml");
  EXPECT_EQ(c.state_dir, kStateDir);
  EXPECT_EQ(c.admin_address, defaults.admin_address);
  EXPECT_EQ(c.health_socket, defaults.health_socket);
  EXPECT_TRUE(c.controller.empty()) << "delivery is off until certificates are in place";

  // Every key shown commented out is a real key with a valid example value.
  std::string text = ReadFileOrDie(path);
  std::string uncommented =
      std::regex_replace(text, std::regex(R"((^|\n)(\s*)# ([a-z][A-Za-z]*: \S))"), "$1$2$3");
  ASSERT_NE(uncommented, text);
  WriteFileOrDie(dir_->File("agent-all-keys.yaml"), uncommented);
  parsed = ParseAgentFile(dir_->File("agent-all-keys.yaml"));
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << uncommented;
  EXPECT_EQ(parsed->config.controller, "layerseal-controller.layerseal.svc:7443");
  EXPECT_EQ(parsed->config.controller_cert, kConfDir + "/controller/tls.crt");
  EXPECT_EQ(parsed->config.node_name, "worker-1");
  EXPECT_EQ(parsed->config.plain_http_registries, (std::set<std::string>{"registry.local:5000"}));
}

void ExpectAuditPolicy(const std::string& path) {
  absl::StatusOr<Policy> policy = Policy::LoadFile(path);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->default_scope().mode, Mode::kAudit) << path;
  for (const ScopePolicy& scope : policy->scopes()) {
    EXPECT_EQ(scope.mode, Mode::kAudit) << path << ": " << scope.scope;
  }
}

TEST_F(PackagingTest, DefaultPolicyParsesAndNeverBlocks) {
  ExpectAuditPolicy(Root(kConfDir + "/policy.yaml"));
}

// ---- the container image ------------------------------------------------------------------

std::string Dockerfile() { return ReadFileOrDie(kPackaging + "/docker/Dockerfile"); }

// The Dockerfile's instructions, continuation lines joined, comments dropped.
std::vector<std::string> Instructions() {
  std::vector<std::string> out;
  std::string current;
  for (const std::string& raw : Lines(Dockerfile())) {
    if (current.empty() && (raw.empty() || raw[0] == '#')) continue;
    std::string line = raw;
    bool more = !line.empty() && line.back() == '\\';
    if (more) line.pop_back();
    current += line + " ";
    if (!more) {
      out.push_back(current);
      current.clear();
    }
  }
  return out;
}

TEST(DockerfileTest, BuildsOnDebian12AndRunsOnSlimWithTheThreeBinaries) {
  std::vector<std::string> ins = Instructions();
  std::vector<std::string> from;
  for (const std::string& i : ins) {
    if (i.rfind("FROM ", 0) == 0) from.push_back(i);
  }
  ASSERT_EQ(from.size(), 2u);
  EXPECT_TRUE(Contains(from[0], "FROM debian:12 AS build")) << from[0];
  EXPECT_TRUE(Contains(from[1], "FROM debian:12-slim")) << from[1];
  std::string text = Dockerfile();
  size_t runtime = text.find("FROM debian:12-slim");
  std::string build_stage = text.substr(0, runtime), runtime_stage = text.substr(runtime);
  EXPECT_TRUE(Contains(build_stage, "bash scripts/setup"));
  EXPECT_TRUE(fs::exists(kSource + "/scripts/setup"));
  EXPECT_FALSE(Contains(runtime_stage, "scripts/setup")) << "the runtime gets libraries only";
  EXPECT_FALSE(Contains(runtime_stage, "-dev ")) << "no development packages at runtime";
  for (const char* bin : {"layerseal", "layerseal-agent", "layerseal-controller"}) {
    EXPECT_TRUE(std::regex_search(runtime_stage,
                                  std::regex(StrCat(R"(COPY --from=build [^\n]*/usr/bin/)", bin,
                                                    R"( [^\n]*/usr/bin/\n)"))))
        << "the runtime stage does not copy " << bin;
  }
  // The last USER is not root, and it is set before the entrypoint.
  std::string user, entrypoint;
  for (const std::string& i : ins) {
    if (i.rfind("USER ", 0) == 0) user = i.substr(5);
    if (i.rfind("ENTRYPOINT ", 0) == 0) {
      entrypoint = i.substr(11);
      EXPECT_FALSE(user.empty()) << "ENTRYPOINT before USER";
    }
  }
  EXPECT_FALSE(user.empty());
  EXPECT_NE(user.rfind("0", 0), 0u) << user;
  EXPECT_NE(user.rfind("root", 0), 0u) << user;
  EXPECT_TRUE(Contains(entrypoint, "[\"/usr/bin/layerseal-controller\"]")) << entrypoint;
  EXPECT_TRUE(Contains(text, StrCat("docker build -t ", kImage, ":", LAYERSEAL_VERSION)));
  EXPECT_TRUE(Contains(text, StrCat("org.opencontainers.image.version=\"", LAYERSEAL_VERSION, "\"")));
}

// The runtime stage installs every library the .deb depends on (dpkg-shlibdeps' list), and
// so does the list cmake/Packaging.cmake falls back to without dpkg-shlibdeps.
TEST_F(PackagingTest, DockerRuntimeStageHasEveryLibraryThePackageNeeds) {
  std::string depends = MustRun({"dpkg-deb", "--field", deb_, "Depends"}).out;
  std::string text = Dockerfile();
  std::string runtime_stage = text.substr(text.find("FROM debian:12-slim"));
  std::string cmake = ReadFileOrDie(kSource + "/cmake/Packaging.cmake");
  std::smatch fallback_match;
  ASSERT_TRUE(std::regex_search(cmake, fallback_match,
                                std::regex(R"re(CPACK_DEBIAN_PACKAGE_DEPENDS\s+"([^"]*)")re")));
  std::string fallback = ", " + fallback_match[1].str() + ",";
  std::regex name(R"((^|,\s*)([a-z0-9][a-z0-9.+-]*))");
  int checked = 0;
  for (std::sregex_iterator m(depends.begin(), depends.end(), name), end; m != end; ++m) {
    std::string package = (*m)[2].str();
    // In every Debian image; sanitizer runtimes only in sanitizer builds.
    if (package == "libc6" || package.rfind("libasan", 0) == 0 ||
        package.rfind("libubsan", 0) == 0) {
      continue;
    }
    ++checked;
    EXPECT_TRUE(std::regex_search(runtime_stage, std::regex("\\s" + std::regex_replace(
        package, std::regex(R"([.+])"), R"(\$&)") + "\\s")))
        << package << " (Depends: " << depends << ") is not installed in the runtime stage";
    EXPECT_TRUE(Contains(fallback, ", " + package + ","))
        << package << " is missing from the Depends of cmake/Packaging.cmake without dpkg-shlibdeps";
  }
  EXPECT_GT(checked, 5);
}

TEST(DockerfileTest, InstallerScriptIsCopiedAndIsValidBash) {
  std::string script = kPackaging + "/docker/install-host-agent";
  absl::StatusOr<RunResult> r = testing::Run({"bash", "-n", script});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_TRUE(Contains(Dockerfile(),
                       "COPY packaging/docker/install-host-agent /opt/layerseal/install-host-agent"));
  std::string text = ReadFileOrDie(script);
  // The binary is replaced by rename (never rewritten in place under the running agent), and
  // a restart that is not healthy is rolled back.
  EXPECT_TRUE(Contains(text, "mv -f \"$dest.new\" \"$dest\""));
  EXPECT_TRUE(Contains(text, "rollback"));
  EXPECT_TRUE(Contains(text, "nsenter --target 1"));
}

// The installer script on a temp dir as the host (STAGE_ONLY: no systemctl): the agent and
// its libraries are staged, run through the staged loader with no library of the image, the
// unit points at them, the node's files land where agent.yaml looks, and a second round with
// nothing new changes nothing.
TEST_F(PackagingTest, InstallerStagesARunnableAgentOnAFakeHost) {
  TempDir t;
  const std::string host = t.File("host"), share = t.File("share"), config = t.File("config"),
                    certs = t.File("certs");
  for (const std::string& d : {host, share, config, certs}) fs::create_directories(d);
  // The image's /opt/layerseal/share: the .deb's unit and defaults (Dockerfile).
  fs::copy_file(Root(kUnitDir + "/layerseal-agent.service"), share + "/layerseal-agent.service");
  fs::copy_file(Root(kConfDir + "/agent.yaml"), share + "/agent.yaml");
  fs::copy_file(Root(kConfDir + "/policy.yaml"), share + "/policy.yaml");
  YAML::Node configmap = Find("ConfigMap", "layerseal-agent-config");
  ASSERT_TRUE(configmap);
  for (const char* key : {"agent.yaml", "policy.yaml"}) {
    WriteFileOrDie(config + "/" + key, configmap["data"][key].as<std::string>());
  }
  WriteFileOrDie(certs + "/ca.crt", "ca\n");
  WriteFileOrDie(certs + "/node-1.crt", "cert of node-1\n");
  WriteFileOrDie(certs + "/node-1.key", "key of node-1\n", 0600);
  WriteFileOrDie(certs + "/node-2.key", "key of node-2\n", 0600);
  auto install = [&](const std::string& agent) {
    return MustRun({"env", "STAGE_ONLY=1", "HOST=" + host, "CONFIG=" + config, "CERTS=" + certs,
                    "SHARE=" + share, "AGENT=" + agent, "NODE_NAME=node-1", "TMPDIR=" + t.path(),
                    "bash", kPackaging + "/docker/install-host-agent"});
  };
  RunResult first = install(LAYERSEAL_AGENT_BINARY);
  EXPECT_TRUE(Contains(first.out, "staged releases/")) << first.out << first.err;

  // The unit's ExecStart, with the host's paths under the temp dir, runs the staged agent.
  Unit unit = ParseUnit(ReadFileOrDie(host + "/etc/systemd/system/layerseal-agent.service"));
  EXPECT_EQ(One(unit, "Service", "Restart"), "always");
  std::string exec = One(unit, "Service", "ExecStart");
  ASSERT_EQ(exec.rfind("/opt/layerseal/current/lib/ld.so --library-path /opt/layerseal/current/lib "
                       "/opt/layerseal/current/bin/layerseal-agent --config ", 0), 0u) << exec;
  std::vector<std::string> argv;
  std::istringstream words(std::regex_replace(exec, std::regex("/opt/layerseal"), host + "/opt/layerseal"));
  for (std::string w; words >> w && w != "--config";) argv.push_back(w);
  argv.push_back("--version");
  EXPECT_EQ(MustRun(argv).out, StrCat("layerseal-agent ", LAYERSEAL_VERSION, "\n"));
  ASSERT_EQ(argv.size(), 5u);
  // The loader names where each library comes from: all staged.
  std::vector<std::string> list = {argv[0], "--list", argv[1], argv[2], argv[3]};
  for (const std::string& line : Lines(MustRun(list).out)) {
    if (Contains(line, "=>")) {
      EXPECT_TRUE(Contains(line, "=> " + host + "/opt/layerseal/")) << line;
    }
  }

  // The node's own certificate, where the ConfigMap's agent.yaml looks for it.
  // The ConfigMap's agent.yaml, plus the node name the certificate's common name must match.
  EXPECT_EQ(ReadFileOrDie(host + "/etc/layerseal/agent.yaml")
                .rfind(configmap["data"]["agent.yaml"].as<std::string>(), 0), 0u);
  absl::StatusOr<agent::ParsedArgs> parsed = ParseAgentFile(host + "/etc/layerseal/agent.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.node_name, "node-1");
  EXPECT_EQ(ReadFileOrDie(host + parsed->config.controller_cert), "cert of node-1\n");
  EXPECT_EQ(ReadFileOrDie(host + parsed->config.controller_key), "key of node-1\n");
  EXPECT_EQ(ReadFileOrDie(host + parsed->config.controller_ca), "ca\n");
  struct stat st {};
  ASSERT_EQ(stat((host + parsed->config.controller_key).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ExpectAuditPolicy(host + "/etc/layerseal/policy.yaml");

  EXPECT_FALSE(Contains(first.out, "ERROR")) << first.out;

  // Nothing new: nothing staged or installed again.
  RunResult second = install(LAYERSEAL_AGENT_BINARY);
  EXPECT_FALSE(Contains(second.out, "staged") || Contains(second.out, "installed")) << second.out;

  // A node the Secret has no certificate for: the agent could not start, and the log says so.
  fs::remove(certs + "/node-1.key");
  fs::remove(host + parsed->config.controller_key);
  RunResult missing = install(LAYERSEAL_AGENT_BINARY);
  EXPECT_TRUE(Contains(missing.out, "ERROR: agent.yaml's controllerKey is " +
                                        parsed->config.controller_key))
      << missing.out;

  // A new agent binary: a new release, current switched by rename, the old one remembered.
  std::string old_release = fs::read_symlink(host + "/opt/layerseal/current").string();
  std::string newer = t.File("layerseal-agent");
  fs::copy_file(LAYERSEAL_AGENT_BINARY, newer);
  fs::permissions(newer, fs::perms::owner_all);
  { std::ofstream(newer, std::ios::app) << '\0'; }  // other bytes, the same program
  install(newer);
  std::string new_release = fs::read_symlink(host + "/opt/layerseal/current").string();
  EXPECT_NE(new_release, old_release);
  EXPECT_EQ(ReadFileOrDie(host + "/opt/layerseal/previous"), old_release + "\n");
  EXPECT_TRUE(fs::exists(host + "/opt/layerseal/" + old_release + "/bin/layerseal-agent"));
}

// A round whose agent does not answer /healthz (nothing listens on the port; systemctl is a
// no-op) puts back exactly what it changed, and the same inputs are not tried again.
TEST_F(PackagingTest, InstallerRollsBackAnUnhealthyAgentAndDoesNotRetryIt) {
  TempDir t;
  const std::string host = t.File("host"), share = t.File("share"), config = t.File("config"),
                    certs = t.File("certs");
  for (const std::string& d : {host, share, config, certs}) fs::create_directories(d);
  fs::copy_file(Root(kUnitDir + "/layerseal-agent.service"), share + "/layerseal-agent.service");
  fs::copy_file(Root(kConfDir + "/agent.yaml"), share + "/agent.yaml");
  fs::copy_file(Root(kConfDir + "/policy.yaml"), share + "/policy.yaml");
  WriteFileOrDie(config + "/agent.yaml", "logLevel: info\n");
  auto round = [&](const std::string& agent, bool stage_only) {
    return MustRun({"env", stage_only ? "STAGE_ONLY=1" : "ONCE=1", "HOSTCTL=true",
                    "HEALTH_WAIT=1", StrCat("HEALTH_PORT=", testing::PickFreePort()),
                    "HOST=" + host, "CONFIG=" + config, "CERTS=" + certs, "SHARE=" + share,
                    "AGENT=" + agent, "NODE_NAME=node-1", "TMPDIR=" + t.path(), "bash",
                    kPackaging + "/docker/install-host-agent"});
  };
  round(LAYERSEAL_AGENT_BINARY, true);  // the state that worked
  const std::string good_yaml = ReadFileOrDie(host + "/etc/layerseal/agent.yaml");
  const std::string good_release = fs::read_symlink(host + "/opt/layerseal/current").string();

  // A new binary and a new agent.yaml, and the agent does not come up: both are put back.
  std::string newer = t.File("layerseal-agent");
  fs::copy_file(LAYERSEAL_AGENT_BINARY, newer);
  fs::permissions(newer, fs::perms::owner_all);
  { std::ofstream(newer, std::ios::app) << '\0'; }
  WriteFileOrDie(config + "/agent.yaml", "logLevel: debug\n");
  RunResult bad = round(newer, false);
  EXPECT_TRUE(Contains(bad.out, "restarting layerseal-agent.service")) << bad.out;
  EXPECT_TRUE(Contains(bad.out, "putting the previous files back")) << bad.out;
  EXPECT_EQ(ReadFileOrDie(host + "/etc/layerseal/agent.yaml"), good_yaml);
  EXPECT_EQ(fs::read_symlink(host + "/opt/layerseal/current").string(), good_release);

  // The same inputs again: not installed, no restart.
  RunResult again = round(newer, false);
  EXPECT_TRUE(Contains(again.out, "not retrying")) << again.out;
  EXPECT_FALSE(Contains(again.out, "restarting")) << again.out;
  EXPECT_EQ(ReadFileOrDie(host + "/etc/layerseal/agent.yaml"), good_yaml);

  // A new ConfigMap is tried (and, still unhealthy, rolled back again).
  WriteFileOrDie(config + "/agent.yaml", "logLevel: warn\n");
  RunResult changed = round(newer, false);
  EXPECT_TRUE(Contains(changed.out, "restarting layerseal-agent.service")) << changed.out;
  EXPECT_EQ(ReadFileOrDie(host + "/etc/layerseal/agent.yaml"), good_yaml);
}

// ---- the Kubernetes manifests -------------------------------------------------------------

TEST(KubernetesTest, KustomizationListsEveryManifestAndEveryKindIsThere) {
  YAML::Node kustomization = YAML::LoadFile(kKube + "/kustomization.yaml");
  std::set<std::string> listed, present;
  for (const YAML::Node& f : kustomization["resources"]) listed.insert(f.as<std::string>());
  for (const auto& e : fs::directory_iterator(kKube)) {
    std::string name = e.path().filename().string();
    if (e.path().extension() == ".yaml" && name != "kustomization.yaml") present.insert(name);
  }
  EXPECT_EQ(listed, present);
  std::multiset<std::string> kinds;
  for (const YAML::Node& doc : Manifests()) {
    kinds.insert(doc["kind"].as<std::string>());
    ASSERT_TRUE(doc["apiVersion"].IsScalar());
    if (doc["kind"].as<std::string>() != "Namespace") {
      EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(), "layerseal");
    }
  }
  for (const char* kind : {"Namespace", "ConfigMap", "PersistentVolumeClaim", "Deployment",
                           "Service", "DaemonSet", "NetworkPolicy"}) {
    EXPECT_EQ(kinds.count(kind), 1u) << kind;
  }
  EXPECT_EQ(kinds.count("ServiceAccount"), 2u);
  // Least privilege: no pod talks to the Kubernetes API, so no role grants it anything.
  for (const char* kind : {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}) {
    EXPECT_EQ(kinds.count(kind), 0u) << kind;
  }
  EXPECT_EQ(kustomization["images"][0]["name"].as<std::string>(), kImage);
  EXPECT_EQ(kustomization["images"][0]["newTag"].as<std::string>(), LAYERSEAL_VERSION);
}

TEST(KubernetesTest, EveryContainerRunsTheImageTheDockerfileBuilds) {
  int containers = 0;
  for (const YAML::Node& doc : Manifests()) {
    if (!doc["spec"] || !doc["spec"]["template"]) continue;
    YAML::Node spec = doc["spec"]["template"]["spec"];
    for (const YAML::Node& c : spec["containers"]) {
      ++containers;
      EXPECT_EQ(c["image"].as<std::string>(), StrCat(kImage, ":", LAYERSEAL_VERSION));
    }
    EXPECT_FALSE(spec["automountServiceAccountToken"].as<bool>());
    std::string sa = spec["serviceAccountName"].as<std::string>();
    Find("ServiceAccount", sa);
  }
  EXPECT_EQ(containers, 2);
}

std::map<std::string, int> ContainerPorts(const YAML::Node& container) {
  std::map<std::string, int> out;
  for (const YAML::Node& p : container["ports"]) {
    out[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  }
  return out;
}

TEST(KubernetesTest, ControllerPortsProbesAndTlsMatchTheController) {
  YAML::Node deployment = Find("Deployment", "layerseal-controller");
  ASSERT_TRUE(deployment);
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 1);
  YAML::Node pod = deployment["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_NE(pod["securityContext"]["runAsUser"].as<int>(), 0);
  YAML::Node c = pod["containers"][0];
  EXPECT_TRUE(c["resources"]["requests"]["memory"]);
  EXPECT_TRUE(c["resources"]["limits"]["memory"]);
  EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>());

  // The arguments are the controller's own flags, and they parse.
  std::vector<std::string> args;
  for (const YAML::Node& a : c["args"]) args.push_back(a.as<std::string>());
  absl::StatusOr<controller::ParsedControllerArgs> parsed = controller::ParseControllerArgs(args);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  controller::ControllerConfig defaults;
  int grpc_port = PortOf(defaults.listen), admin_port = PortOf(defaults.admin),
      web_port = PortOf(defaults.web);
  EXPECT_EQ(grpc_port, 7443);
  EXPECT_EQ(admin_port, 7081);
  EXPECT_EQ(web_port, 7080);
  EXPECT_EQ(parsed->config.listen, StrCat("0.0.0.0:", grpc_port));
  EXPECT_EQ(parsed->config.admin, StrCat("0.0.0.0:", admin_port)) << "probes need the pod address";
  // Issue 14 item 3: the web page and API (every event, no client identity over plain HTTP)
  // stay on the pod's loopback.
  EXPECT_EQ(parsed->config.web, StrCat("127.0.0.1:", web_port));
  EXPECT_FALSE(parsed->config.web_tls);
  EXPECT_TRUE(controller::IsLoopbackOrUnix(parsed->config.web));
  for (const char* host : {"layerseal-controller", "layerseal-controller.layerseal.svc"}) {
    EXPECT_TRUE(std::count(parsed->config.allowed_hosts.begin(),
                           parsed->config.allowed_hosts.end(), host)) << host;
  }

  std::map<std::string, int> ports = ContainerPorts(c);
  EXPECT_EQ(ports, (std::map<std::string, int>{{"grpc", grpc_port}, {"admin", admin_port}}));
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    EXPECT_EQ(ports[c[probe]["httpGet"]["port"].as<std::string>()], admin_port) << probe;
  }

  // The TLS Secret: mounted where the flags look, with the keys certificates.md documents.
  std::string mount;
  for (const YAML::Node& m : c["volumeMounts"]) {
    if (m["name"].as<std::string>() == "tls") mount = m["mountPath"].as<std::string>();
  }
  EXPECT_EQ(mount, "/etc/layerseal/tls");
  EXPECT_EQ(parsed->config.tls_cert, mount + "/tls.crt");
  EXPECT_EQ(parsed->config.tls_key, mount + "/tls.key");
  EXPECT_EQ(parsed->config.client_ca, mount + "/ca.crt");
  std::string certificates = ReadFileOrDie(kKube + "/certificates.md");
  bool found = false;
  for (const YAML::Node& v : pod["volumes"]) {
    if (v["name"].as<std::string>() != "tls") continue;
    found = true;
    std::string secret = v["secret"]["secretName"].as<std::string>();
    EXPECT_TRUE(Contains(certificates, "## `" + secret + "`"));
    EXPECT_TRUE(Contains(certificates, "secret generic " + secret));
    std::set<std::string> keys;
    for (const YAML::Node& item : v["secret"]["items"]) {
      keys.insert(item["key"].as<std::string>());
      EXPECT_TRUE(Contains(certificates, "--from-file=" + item["key"].as<std::string>() + "="))
          << item["key"];
    }
    EXPECT_EQ(keys, (std::set<std::string>{"tls.crt", "tls.key", "ca.crt"}));
  }
  EXPECT_TRUE(found);

  // The Service: the same two ports, to the named container ports, selecting the pod.
  YAML::Node service = Find("Service", "layerseal-controller");
  ASSERT_TRUE(service);
  std::map<std::string, int> service_ports;
  for (const YAML::Node& p : service["spec"]["ports"]) {
    service_ports[p["targetPort"].as<std::string>()] = p["port"].as<int>();
  }
  EXPECT_EQ(service_ports, ports);
  for (const auto& [name, port] : service_ports) EXPECT_NE(port, web_port) << name;
  for (const auto& kv : service["spec"]["selector"]) {
    EXPECT_EQ(deployment["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()]
                  .as<std::string>(),
              kv.second.as<std::string>());
  }
}

// Issue 14 item 3: only the gRPC and admin ports take connections from other pods.
TEST(KubernetesTest, NetworkPolicyLetsInOnlyGrpcAndAdmin) {
  YAML::Node policy = Find("NetworkPolicy", "layerseal-controller");
  ASSERT_TRUE(policy);
  YAML::Node deployment = Find("Deployment", "layerseal-controller");
  for (const auto& kv : policy["spec"]["podSelector"]["matchLabels"]) {
    EXPECT_EQ(deployment["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()]
                  .as<std::string>(),
              kv.second.as<std::string>());
  }
  std::set<std::string> types;
  for (const YAML::Node& t : policy["spec"]["policyTypes"]) types.insert(t.as<std::string>());
  EXPECT_EQ(types, (std::set<std::string>{"Ingress"}));
  std::set<int> allowed;
  for (const YAML::Node& rule : policy["spec"]["ingress"]) {
    for (const YAML::Node& p : rule["ports"]) allowed.insert(p["port"].as<int>());
    EXPECT_FALSE(rule["ports"].IsNull() || !rule["ports"]) << "a rule without ports opens all";
  }
  controller::ControllerConfig defaults;
  EXPECT_EQ(allowed, (std::set<int>{PortOf(defaults.listen), PortOf(defaults.admin)}));
}

TEST(KubernetesTest, InstallerRunsOnEveryNodeAndMountsWhatTheHostAgentUses) {
  YAML::Node ds = Find("DaemonSet", "layerseal-agent-installer");
  ASSERT_TRUE(ds);
  YAML::Node pod = ds["spec"]["template"]["spec"];
  // Tolerates every taint: one toleration with operator Exists and no key or effect.
  bool all = false;
  for (const YAML::Node& t : pod["tolerations"]) {
    if (t["operator"].as<std::string>() == "Exists" && !t["key"] && !t["effect"]) all = true;
  }
  EXPECT_TRUE(all);
  EXPECT_TRUE(pod["hostPID"].as<bool>()) << "systemctl runs in PID 1's namespaces";
  YAML::Node c = pod["containers"][0];
  EXPECT_TRUE(c["securityContext"]["privileged"].as<bool>());
  EXPECT_TRUE(Contains(Dockerfile(), c["command"][0].as<std::string>()));

  std::map<std::string, std::string> host_paths;  // volume -> host path
  for (const YAML::Node& v : pod["volumes"]) {
    if (v["hostPath"]) host_paths[v["name"].as<std::string>()] = v["hostPath"]["path"].as<std::string>();
  }
  std::set<std::string> mounted;  // host paths mounted at /host<path>
  for (const YAML::Node& m : c["volumeMounts"]) {
    auto it = host_paths.find(m["name"].as<std::string>());
    if (it == host_paths.end()) continue;
    EXPECT_EQ(m["mountPath"].as<std::string>(), "/host" + it->second);
    mounted.insert(it->second);
  }
  agent::AgentConfig defaults;
  for (const std::string& path :
       {fs::path(defaults.listen).parent_path().string(), defaults.state_dir,
        fs::path(defaults.policy).parent_path().string(),
        fs::path(defaults.runtime_endpoint).parent_path().string(), std::string("/opt/layerseal"),
        std::string("/etc/systemd/system")}) {
    EXPECT_TRUE(mounted.count(path)) << path << " is not mounted from the host";
  }

  // Ready only when the HOST agent answers /healthz on its admin address.
  YAML::Node probe = c["readinessProbe"]["httpGet"];
  EXPECT_EQ(StrCat(probe["host"].as<std::string>(), ":", probe["port"].as<int>()),
            defaults.admin_address);
  EXPECT_EQ(probe["path"].as<std::string>(), "/healthz");

  // The ConfigMap it copies: the keys it mounts exist, the agent and policy files parse.
  YAML::Node config = Find("ConfigMap", "layerseal-agent-config");
  ASSERT_TRUE(config);
  TempDir dir;
  for (const YAML::Node& v : pod["volumes"]) {
    if (v["configMap"]) {
      EXPECT_EQ(v["configMap"]["name"].as<std::string>(), "layerseal-agent-config");
      for (const YAML::Node& item : v["configMap"]["items"]) {
        std::string key = item["key"].as<std::string>();
        ASSERT_TRUE(config["data"][key]) << key;
        WriteFileOrDie(dir.File(key), config["data"][key].as<std::string>());
      }
    }
    if (v["secret"]) {
      std::string secret = v["secret"]["secretName"].as<std::string>();
      std::string certificates = ReadFileOrDie(kKube + "/certificates.md");
      EXPECT_TRUE(Contains(certificates, "## `" + secret + "`"));
      EXPECT_TRUE(Contains(certificates, "secret generic " + secret));
    }
  }
  absl::StatusOr<agent::ParsedArgs> parsed = ParseAgentFile(dir.File("agent.yaml"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.listen, defaults.listen);
  EXPECT_EQ(parsed->config.admin_address, defaults.admin_address);
  // The installer writes the node's certificate where the agent's config looks for it.
  std::string script = ReadFileOrDie(kPackaging + "/docker/install-host-agent");
  for (const std::string& file : {parsed->config.controller_ca, parsed->config.controller_cert,
                                  parsed->config.controller_key}) {
    EXPECT_TRUE(Contains(script, "\"$HOST" + file + "\"")) << file;
  }
  ExpectAuditPolicy(dir.File("policy.yaml"));
}

}  // namespace
}  // namespace layerseal
