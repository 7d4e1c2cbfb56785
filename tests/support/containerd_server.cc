#include "tests/support/containerd_server.h"

#include <sys/stat.h>

#include "absl/time/clock.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

constexpr absl::Duration kContainerdStartTimeout = absl::Seconds(30);
constexpr const char* kCniPluginDir = "/usr/lib/cni";  // Debian's containernetworking-plugins
constexpr int kPodSubnets = 8 * 256;                    // the /24s of 10.200.0.0/13

std::string ConfigToml(const TempDir& dir, const ContainerdOptions& options) {
  std::string toml = StrCat(
      "version = 2\n"
      "root = \"", dir.File("root"), "\"\n"
      "state = \"", dir.File("state"), "\"\n");
  if (!options.cri) toml += "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";
  toml += StrCat(
      "[grpc]\n"
      "  address = \"", dir.File("containerd.sock"), "\"\n"
      "[ttrpc]\n"
      "  address = \"", dir.File("containerd.sock.ttrpc"), "\"\n"
      "[debug]\n"
      "  address = \"\"\n"
      "[metrics]\n"
      "  address = \"\"\n");
  if (options.cri) {
    toml += "[plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n";
    if (!options.sandbox_image.empty()) {
      toml += StrCat("  sandbox_image = \"", options.sandbox_image, "\"\n");
    }
    toml += "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"native\"\n";
    if (options.pod_network) {
      toml += StrCat("[plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
                     "  bin_dir = \"", kCniPluginDir, "\"\n"
                     "  conf_dir = \"", dir.File("cni"), "\"\n");
    }
  }
  if (!options.plain_http_registries.empty() || !options.mirrors.empty()) {
    toml += StrCat("[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
                   "  config_path = \"", dir.File("certs.d"), "\"\n");
  }
  return toml;
}

// containerd's hosts directory (docs/hosts.md): <config_path>/<host>/hosts.toml.
void WritePlainHttpHosts(const TempDir& dir, const std::vector<std::string>& hosts) {
  if (hosts.empty()) return;
  mkdir(dir.File("certs.d").c_str(), 0755);
  for (const std::string& host : hosts) {
    std::string host_dir = dir.File(StrCat("certs.d/", host));
    mkdir(host_dir.c_str(), 0755);
    WriteFileOrDie(host_dir + "/hosts.toml",
                   StrCat("server = \"http://", host, "\"\n"
                          "\n"
                          "[host.\"http://", host, "\"]\n"
                          "  capabilities = [\"pull\", \"resolve\"]\n"
                          "  skip_verify = true\n"));
  }
}

// A mirror: pulls of `host`'s images go to plain-HTTP `mirror` ("HOST:PORT") first.
void WriteMirrorHosts(const TempDir& dir, const std::map<std::string, std::string>& mirrors) {
  if (mirrors.empty()) return;
  mkdir(dir.File("certs.d").c_str(), 0755);
  for (const auto& [host, mirror] : mirrors) {
    std::string host_dir = dir.File(StrCat("certs.d/", host));
    mkdir(host_dir.c_str(), 0755);
    WriteFileOrDie(host_dir + "/hosts.toml",
                   StrCat("server = \"https://", host, "\"\n"
                          "\n"
                          "[host.\"http://", mirror, "\"]\n"
                          "  capabilities = [\"pull\", \"resolve\"]\n"
                          "  skip_verify = true\n"));
  }
}

// A bridge network with its own name and /24 (both from a free port number, so that
// servers running at once differ), and loopback.
std::string WritePodNetwork(const TempDir& dir) {
  int n = PickFreePort();
  std::string bridge = StrCat("lstest", n);
  int subnet = n % kPodSubnets;
  mkdir(dir.File("cni").c_str(), 0755);
  WriteFileOrDie(dir.File("cni/10-layerseal-test.conflist"),
                 StrCat("{\"cniVersion\": \"0.4.0\", \"name\": \"", bridge, "\", \"plugins\": [\n"
                        "  {\"type\": \"bridge\", \"bridge\": \"", bridge, "\", \"isGateway\": true,"
                        " \"ipMasq\": false, \"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": \"10.",
                        200 + subnet / 256, ".", subnet % 256, ".0/24\"}]], \"dataDir\": \"",
                        dir.File("cni-ipam"), "\"}},\n"
                        "  {\"type\": \"loopback\"}]}\n"));
  return bridge;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ContainerdServer>> ContainerdServer::Start(ContainerdOptions options) {
  std::unique_ptr<ContainerdServer> server(new ContainerdServer());
  const TempDir& dir = server->dir_;
  server->socket_ = dir.File("containerd.sock");
  WriteFileOrDie(dir.File("config.toml"), ConfigToml(dir, options));
  WritePlainHttpHosts(dir, options.plain_http_registries);
  WriteMirrorHosts(dir, options.mirrors);
  if (options.cri && options.pod_network) server->bridge_ = WritePodNetwork(dir);
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

absl::Status ContainerdServer::Launch() {
  absl::StatusOr<std::unique_ptr<Child>> child =
      Child::Spawn({"containerd", "--config", dir_.File("config.toml"), "--log-level", "warn"},
                   dir_.File("containerd.log"));
  if (!child.ok()) return child.status();
  child_ = *std::move(child);
  absl::Time deadline = absl::Now() + kContainerdStartTimeout;
  while (absl::Now() < deadline) {
    struct stat st;
    if (stat(socket_.c_str(), &st) == 0) {
      absl::StatusOr<RunResult> version = Ctr({"version"});
      if (version.ok() && version->exit_code == 0) return absl::OkStatus();
    }
    if (!child_->Running()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(StrCat("containerd did not start; log:\n",
                                       ReadFileOrDie(dir_.File("containerd.log"))));
}

void ContainerdServer::Stop() {
  if (child_) child_->Stop();
  child_.reset();
}

absl::Status ContainerdServer::Restart() {
  Stop();
  return Launch();
}

ContainerdServer::~ContainerdServer() {
  if (child_) child_->Stop();
  if (!bridge_.empty()) (void)Run({"ip", "link", "delete", bridge_}, "", absl::Seconds(30));
  // Snapshots of the native snapshotter are plain directories; nothing stays mounted.
}

absl::StatusOr<RunResult> ContainerdServer::Ctr(const std::vector<std::string>& args) {
  return CtrIn("layerseal-test", args);
}

absl::StatusOr<RunResult> ContainerdServer::CtrIn(const std::string& ns,
                                                   const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ctr", "--address", socket_, "--namespace", ns};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, "", absl::Seconds(120));
}

}  // namespace layerseal::testing
