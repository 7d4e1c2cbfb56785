#include "tests/support/kube_node.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "tests/support/shared_dir.h"

namespace layerseal::testing {
namespace {

constexpr absl::Duration kUnpackTimeout = absl::Seconds(120);
constexpr absl::Duration kKubeletStartTimeout = absl::Seconds(60);
constexpr absl::Duration kCrictlTimeout = absl::Seconds(120);
constexpr absl::Duration kHttpTimeout = absl::Seconds(20);
// Written by the kubelet whatever --root-dir says (see ../shared/bin/README.md).
constexpr const char* kKubeletFixedPaths[] = {"/var/lib/kubelet/device-plugins", "/var/log/pods"};

absl::Status RunOk(const std::vector<std::string>& argv, absl::Duration timeout) {
  absl::StatusOr<RunResult> r = Run(argv, "", timeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(StrCat(argv[0], " exited ", r->exit_code, ": ", r->err, r->out));
  }
  return absl::OkStatus();
}

std::string BuildBusyboxRootfsTar() {
  TempDir dir;
  std::string root = dir.File("rootfs");
  for (const char* d : {"", "/bin", "/etc", "/tmp", "/proc", "/sys", "/dev"}) {
    mkdir((root + d).c_str(), 0755);
  }
  chmod((root + "/tmp").c_str(), 01777);
  WriteFileOrDie(root + "/bin/busybox", ReadFileOrDie("/bin/busybox"), 0755);
  absl::StatusOr<RunResult> list = Run({"/bin/busybox", "--list"});
  if (list.ok()) {
    std::istringstream names(list->out);
    for (std::string name; std::getline(names, name);) {
      if (!name.empty() && name != "busybox") symlink("busybox", (root + "/bin/" + name).c_str());
    }
  }
  WriteFileOrDie(root + "/etc/passwd",
                 "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  WriteFileOrDie(root + "/etc/group", "root:x:0:\nnogroup:x:65534:\n");
  absl::StatusOr<RunResult> tar =
      Run({"tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
           "--format=ustar", "-C", root, "-cf", "-", "."});
  if (!tar.ok() || tar->exit_code != 0) {
    std::fprintf(stderr, "tar of the busybox rootfs failed: %s\n",
                 tar.ok() ? tar->err.c_str() : tar.status().ToString().c_str());
    std::abort();
  }
  return tar->out;
}

}  // namespace

std::string SharedBinDir() { return SharedDir() + "/bin"; }

absl::StatusOr<std::string> UnpackSharedProgram(const std::string& name, const std::string& dest_dir) {
  std::string xz = StrCat(SharedBinDir(), "/", name, ".xz");
  if (!std::filesystem::exists(xz)) {
    return absl::NotFoundError(StrCat(xz, " is missing: the real-client suites need the stock ",
                                      name, " from ../shared/bin beside the source tree"));
  }
  std::string out = StrCat(dest_dir, "/", name);
  if (absl::Status s = RunOk({"sh", "-c", "xz -dc \"$1\" > \"$2\" && chmod 0755 \"$2\"", "sh", xz, out},
                             kUnpackTimeout);
      !s.ok()) {
    return s;
  }
  return out;
}

const std::string& BusyboxRootfsTar() {
  static const std::string* tar = new std::string(BuildBusyboxRootfsTar());
  return *tar;
}

TestImage StandInImage(const std::string& seed, const std::vector<std::string>& entrypoint,
                       const std::vector<std::string>& cmd) {
  return MakeBaseImage({.layers = 2, .seed = seed, .first_layer_tar = BusyboxRootfsTar(),
                        .entrypoint = entrypoint, .cmd = cmd});
}

absl::StatusOr<std::unique_ptr<KubeletServer>> KubeletServer::Start(KubeletOptions options) {
  std::unique_ptr<KubeletServer> server(new KubeletServer());
  server->options_ = std::move(options);
  for (const char* path : kKubeletFixedPaths) {
    // The topmost missing directory of the path (e.g. /var/lib/kubelet) is what gets created.
    std::filesystem::path missing;
    for (std::filesystem::path p = path; !p.empty() && p != p.root_path(); p = p.parent_path()) {
      if (std::filesystem::exists(p)) break;
      missing = p;
    }
    if (!missing.empty()) server->created_fixed_paths_.insert(missing.string());
  }
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

absl::Status KubeletServer::Launch() {
  std::filesystem::create_directories(dir_.File("manifests"));
  read_only_port_ = PickFreePort();
  int port = PickFreePort();
  WriteFileOrDie(dir_.File("config.yaml"),
                 StrCat("apiVersion: kubelet.config.k8s.io/v1beta1\n"
                        "kind: KubeletConfiguration\n"
                        "staticPodPath: ", dir_.File("manifests"), "\n"
                        "fileCheckFrequency: 2s\n"
                        "failSwapOn: false\n"
                        "cgroupDriver: cgroupfs\n"
                        "address: 127.0.0.1\n"
                        "port: ", port, "\n"
                        "readOnlyPort: ", read_only_port_, "\n"
                        "healthzPort: 0\n"
                        "authentication:\n  anonymous: {enabled: true}\n  webhook: {enabled: false}\n"
                        "authorization: {mode: AlwaysAllow}\n"
                        "imageGCHighThresholdPercent: 100\n"
                        "evictionHard: {}\n"));
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(
      {options_.kubelet_binary, "--config", dir_.File("config.yaml"),
       StrCat("--container-runtime-endpoint=unix://", options_.runtime_endpoint),
       "--root-dir", dir_.File("root"), "--hostname-override", options_.node_name,
       StrCat("--v=", options_.log_verbosity)},
      dir_.File("kubelet.log"));
  if (!child.ok()) return child.status();
  child_ = *std::move(child);
  bool up = PollUntil(kKubeletStartTimeout, [&] { return Pods().ok() || !child_->Running(); });
  if (!up || !child_->Running()) {
    return absl::UnavailableError(StrCat("the kubelet did not start; log:\n", Log()));
  }
  return absl::OkStatus();
}

KubeletServer::~KubeletServer() {
  if (child_) child_->Stop();
  // The kubelet bind-mounts its root dir onto itself (a shared mount); the temp dir can
  // only be removed once that is gone.
  (void)Run({"umount", "--recursive", "--lazy", dir_.File("root")}, "", kCrictlTimeout);
  for (const std::string& path : created_fixed_paths_) {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
}

void KubeletServer::AddStaticPod(const std::string& file_name, const std::string& manifest) {
  // Written beside, then renamed in: the kubelet never reads half a manifest.
  std::string tmp = dir_.File(file_name + ".tmp");
  WriteFileOrDie(tmp, manifest);
  std::filesystem::rename(tmp, dir_.File("manifests/" + file_name));
}

absl::StatusOr<nlohmann::json> KubeletServer::Pods() {
  absl::StatusOr<RunResult> r =
      Run({"curl", "-sf", StrCat("http://127.0.0.1:", read_only_port_, "/pods")}, "", kHttpTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return absl::UnavailableError(StrCat("GET /pods: curl exit ", r->exit_code));
  nlohmann::json pods = nlohmann::json::parse(r->out, nullptr, false);
  if (pods.is_discarded()) return absl::InternalError("GET /pods: not JSON");
  return pods;
}

absl::StatusOr<nlohmann::json> KubeletServer::ContainerStatus(const std::string& ns,
                                                             const std::string& pod_name) {
  absl::StatusOr<nlohmann::json> pods = Pods();
  if (!pods.ok()) return pods.status();
  using nlohmann::json;
  if (!pods->is_object()) return json();
  const json items = pods->value("items", json::array());
  if (!items.is_array()) return json();
  for (const json& pod : items) {
    if (!pod.is_object()) continue;
    json metadata = pod.value("metadata", json::object());
    if (metadata.value("name", "") != pod_name || metadata.value("namespace", "") != ns) continue;
    json statuses = pod.value("status", json::object()).value("containerStatuses", json::array());
    if (statuses.is_array() && !statuses.empty()) return statuses[0];
  }
  return nlohmann::json();
}

std::string KubeletServer::Log() const { return ReadFileOrDie(dir_.File("kubelet.log")); }

absl::Status RemoveAllPods(const std::string& crictl_binary, const std::string& socket) {
  return RunOk({crictl_binary, "--runtime-endpoint", StrCat("unix://", socket), "--timeout", "60s",
                "rmp", "--force", "--all"},
               kCrictlTimeout);
}

bool PollUntil(absl::Duration timeout, const std::function<bool()>& probe) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (probe()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Seconds(1));
  }
}

}  // namespace layerseal::testing
