// A real containerd (Debian's package) in a temp root: its own root, state, and unix socket
// under a temp dir, never /run/containerd. The CRI plugin is off unless asked for.
// Stopped and removed on destruction.
#ifndef LAYERSEAL_TESTS_SUPPORT_CONTAINERD_SERVER_H_
#define LAYERSEAL_TESTS_SUPPORT_CONTAINERD_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace layerseal::testing {

struct ContainerdOptions {
  bool cri = false;  // enable the CRI plugin (native snapshotter)
  // Registries ("HOST:PORT") the CRI plugin pulls from over plain HTTP. When non-empty, the
  // plugin's registry config_path is <dir>/certs.d, holding <host>/hosts.toml for each
  // (server http://<host>, capabilities pull+resolve). Empty (default): no registry config.
  // containerd 1.6.20's CRI plugin already uses plain HTTP for loopback hosts (127.0.0.1,
  // localhost) without any config; this is for registries on other addresses.
  std::vector<std::string> plain_http_registries;
  // Registry host (e.g. "registry.k8s.io") -> a plain-HTTP "HOST:PORT" that the CRI plugin
  // pulls from instead (a mirror in <dir>/certs.d/<host>/hosts.toml), as for critest's images.
  std::map<std::string, std::string> mirrors;
  // The CRI plugin's sandbox_image (the pause image; containerd pulls it itself). Empty:
  // containerd's default, which needs the internet.
  std::string sandbox_image;
  // Pod networks (not host network) for the CRI plugin, as critest needs: the Debian
  // containernetworking-plugins in /usr/lib/cni, a bridge named for this server (removed on
  // destruction) with host-local addresses from a /24 of 10.200.0.0/13 picked from a free
  // port number (state in the temp dir), and loopback. Off: no CNI config, so only
  // hostNetwork pods can start.
  bool pod_network = false;
  // With `cri`, restrict_oom_score_adj is always on: these machines lack CAP_SYS_RESOURCE,
  // and runc cannot start a pod's containers without it. Pods get cgroupfs cgroups (runc's
  // default, SystemdCgroup off), as the kubelet's `cgroupDriver: cgroupfs` expects.
};

class ContainerdServer {
 public:
  static absl::StatusOr<std::unique_ptr<ContainerdServer>> Start(ContainerdOptions options = {});
  ~ContainerdServer();

  const std::string& socket() const { return socket_; }
  // Stops containerd (its state stays); Restart starts it again on the same root and socket.
  void Stop();
  absl::Status Restart();
  const std::string& dir() const { return dir_.path(); }
  // Runs `ctr --address <socket> --namespace layerseal-test args...`.
  absl::StatusOr<RunResult> Ctr(const std::vector<std::string>& args);
  // Runs `ctr --address <socket> --namespace <ns> args...` ("k8s.io": the CRI plugin's images).
  absl::StatusOr<RunResult> CtrIn(const std::string& ns, const std::vector<std::string>& args);

 private:
  ContainerdServer() = default;
  absl::Status Launch();
  TempDir dir_;
  std::string bridge_;  // the pod network's bridge, "" without one
  std::string socket_;
  std::unique_ptr<Child> child_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_CONTAINERD_SERVER_H_
