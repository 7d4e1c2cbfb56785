// Real Kubernetes clients in front of the agent (issue 15): the stock programs of
// ../shared/bin (kubelet, crictl, critest; see its README.md), busybox stand-in images that
// can run, the agent as a child process, and a standalone kubelet with static pods.
// Everything listens on loopback or unix sockets under temp dirs.
// Thread-safety: none of these objects may be used from two threads at once.
#ifndef LAYERSEAL_TESTS_SUPPORT_KUBE_NODE_H_
#define LAYERSEAL_TESTS_SUPPORT_KUBE_NODE_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/support/agent_process.h"
#include "tests/support/images.h"
#include "tests/support/process.h"

namespace layerseal::testing {

// The directory of the stock programs: LAYERSEAL_SOURCE_DIR/../shared/bin (CI clones the
// repository with shared/ beside it), or $LAYERSEAL_SHARED_DIR/bin when that is set (a
// checkout elsewhere, e.g. a git worktree).
std::string SharedBinDir();

// Decompresses SharedBinDir()/<name>.xz into `dest_dir`/<name> (executable) and returns that
// path. NotFound, naming the missing file, when ../shared/bin lacks it: the suites fail then
// rather than skip, since CI has the programs.
absl::StatusOr<std::string> UnpackSharedProgram(const std::string& name, const std::string& dest_dir);

// An uncompressed tar of a busybox root filesystem: the host's static /bin/busybox (0755)
// with every applet it lists as a symlink in bin/, etc/passwd and etc/group (root, nobody),
// and empty tmp/, proc/, sys/, dev/. Deterministic (mtime 0, uid 0). Built once per process
// with the system `tar`.
const std::string& BusyboxRootfsTar();

// A runnable stand-in image: BusyboxRootfsTar() plus a small layer varied by `seed` (so that
// images differ), with the given Entrypoint and Cmd.
TestImage StandInImage(const std::string& seed, const std::vector<std::string>& entrypoint,
                       const std::vector<std::string>& cmd = {});

struct KubeletOptions {
  std::string kubelet_binary;     // from UnpackSharedProgram("kubelet", ...)
  std::string runtime_endpoint;   // unix socket path the kubelet talks CRI to (the agent's)
  std::string node_name = "layerseal-node";
  // klog verbosity (--v). At 3 the kubelet logs every Event it records ("Event occurred",
  // with object, fieldPath, kind, type, reason and message): what it would send to an API
  // server, which this kubelet has none of (see ../shared/bin/README.md).
  int log_verbosity = 2;
};

// A kubelet in standalone mode (no API server): static pods from manifests_dir(), pod and
// container statuses from its read-only port. Stopping it leaves the pods' containers
// running in the runtime: the caller removes them (RemoveAllPods with crictl).
class KubeletServer {
 public:
  static absl::StatusOr<std::unique_ptr<KubeletServer>> Start(KubeletOptions options);
  // Stops the kubelet, unmounts its root dir (which the kubelet bind-mounts onto itself),
  // and removes what it wrote outside its root dir
  // (/var/lib/kubelet/device-plugins, /var/log/pods): each path's topmost directory that was
  // missing when this kubelet started (none when another kubelet made them first).
  ~KubeletServer();

  // Writes <manifests_dir>/<file_name> (a pod manifest, YAML or JSON) for the kubelet to run.
  void AddStaticPod(const std::string& file_name, const std::string& manifest);
  // GET http://127.0.0.1:<readOnlyPort>/pods: the PodList (statuses of static pods included).
  absl::StatusOr<nlohmann::json> Pods();
  // The status of the first container of the pod named `pod_name` (a static pod is named
  // <name>-<node name>) in namespace `ns`; null JSON when absent.
  absl::StatusOr<nlohmann::json> ContainerStatus(const std::string& ns, const std::string& pod_name);
  const std::string& node_name() const { return options_.node_name; }
  std::string Log() const;

 private:
  KubeletServer() = default;
  absl::Status Launch();
  KubeletOptions options_;
  TempDir dir_;
  int read_only_port_ = 0;
  std::set<std::string> created_fixed_paths_;
  std::unique_ptr<Child> child_;
};

// Removes every pod sandbox (and its containers) of the CRI runtime at `socket` with crictl
// (`rmp --force --all`), so that no container outlives its test.
absl::Status RemoveAllPods(const std::string& crictl_binary, const std::string& socket);

// Polls `probe` every second until it returns true or `timeout` passes; returns its last value.
bool PollUntil(absl::Duration timeout, const std::function<bool()>& probe);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_KUBE_NODE_H_
