// The controller's configuration: a YAML file (docs/controller.md) and flags; a flag
// overrides the file, the file overrides the defaults (the table of keys is in config.cc,
// bound by base/config_table.h, as the agent's). Unknown keys and flags are errors
// naming them.
// Thread-safety: plain data and pure functions.
#ifndef LAYERSEAL_CONTROLLER_CONFIG_H_
#define LAYERSEAL_CONTROLLER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace layerseal::controller {

inline constexpr std::string_view kControllerVersion = "0.1.0";

struct ControllerConfig {
  // gRPC (EventIngest, EventQuery, grpc.health.v1): "host:port" or "unix:/path".
  std::string listen = "0.0.0.0:7443";
  std::string tls_cert;   // the server's certificate chain (PEM)
  std::string tls_key;    // its private key (PEM)
  std::string client_ca;  // the CA that signs agents' and clients' certificates (PEM)
  // Plain-text gRPC, no client identity: for development on loopback or a unix socket only
  // (refused elsewhere). Any client may then report events for any node.
  bool insecure = false;
  std::string database = "sqlite:///var/lib/layerseal/controller.db";  // event_store.h URL
  // Two HTTP listeners, so no client of the web page can starve the probes (each has its
  // own threads). "": off.
  std::string admin = "127.0.0.1:7081";  // /metrics /healthz /readyz, plain HTTP
  // The web page and its JSON API (every stored event). Plain HTTP only on loopback (reach
  // it with kubectl port-forward or ssh -L); elsewhere web_tls is required.
  std::string web = "127.0.0.1:7080";
  // HTTPS on `web` with tls_cert/tls_key; a client certificate signed by client_ca with the
  // reader role (controller/identity.h) is required, others are refused (403).
  bool web_tls = false;
  // DNS names clients may put in the Host header of either listener, besides IP literals and
  // localhost (telemetry/admin_http.h): e.g. a Service name. Anything else gets 421.
  std::vector<std::string> allowed_hosts;
  absl::Duration retention = absl::Hours(720);  // prune events older than this; 0: keep all
  absl::Duration prune_interval = absl::Hours(1);
  std::string log_level = "info";
  // Kubernetes-native outputs (issue 19, docs/observability.md): Warning Events on the Pods
  // whose images a gate denied (controller/kube/pod_events.h), and one PolicyReport per
  // namespace (controller/kube/policy_reports.h): "off", "wgpolicyk8s.io" or "openreports.io".
  // Either one on needs the API server: `kubeconfig` names a kubeconfig file; "" takes
  // $KUBECONFIG, else the Pod's ServiceAccount (in-cluster); "in-cluster" forces that.
  bool kube_pod_events = false;
  std::string kube_policy_reports = "off";
  std::string kubeconfig;
  int64_t kube_report_max_results = 1000;           // per namespace's report; oldest pruned
  absl::Duration kube_report_interval = absl::Seconds(30);  // how often changed reports are written
};

// The values of kubernetes.policyReports.
inline constexpr const char* kPolicyReportApis[] = {"off", "wgpolicyk8s.io", "openreports.io"};
// kubernetes.reportMaxResults: at most this (etcd's object size bounds a report).
inline constexpr int64_t kMaxReportResultsSetting = 5000;

// True when the controller talks to the Kubernetes API (Pod Events or PolicyReports on).
bool KubernetesEnabled(const ControllerConfig& config);

// The rules across fields: TLS files unless insecure, insecure only on loopback or a unix
// socket, addresses well formed, web on loopback unless web_tls (which needs the TLS files). ParseControllerArgs calls it; Controller::Start does too
// (for configs built in code).
absl::Status ValidateConfig(const ControllerConfig& config);

// True for "unix:...", "localhost:port", "127.x.y.z:port" and "[::1]:port".
bool IsLoopbackOrUnix(const std::string& listen);

struct ParsedControllerArgs {
  ControllerConfig config;
  bool help = false;     // --help: nothing else was checked
  bool version = false;  // --version: likewise
};

// Parses `args` (argv without the program name). --config FILE is applied first.
absl::StatusOr<ParsedControllerArgs> ParseControllerArgs(const std::vector<std::string>& args);

// The --help text.
std::string ControllerUsage();

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_CONFIG_H_
