// The agent's configuration: a YAML file (docs/agent.md) and flags; a flag overrides the
// file, the file overrides the defaults, which suit a containerd node (the table of keys is in
// config.cc, bound by base/config_table.h, as the controller's). Unknown keys and
// flags are errors naming them.
#ifndef LAYERSEAL_NODE_AGENT_CONFIG_H_
#define LAYERSEAL_NODE_AGENT_CONFIG_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node-agent/scrub.h"
#include "node-agent/spool.h"
#include "node-agent/sweep.h"
#include "node-agent/verdict_cache.h"
#include "plugin/image_gates.h"
#include "verifier/manifest.h"

namespace layerseal::agent {

// The smallest spool worth having: room for a few hundred events.
inline constexpr uint64_t kMinSpoolMaxBytes = 64 << 10;
inline constexpr uint64_t kMaxSpoolMaxBytes = 1ull << 40;

struct AgentConfig {
  std::string listen = "/run/layerseal/layerseal.sock";  // the kubelet's endpoint
  int listen_mode = 0660;
  std::string runtime_endpoint = "/run/containerd/containerd.sock";
  std::string policy = "/etc/layerseal/policy.yaml";
  std::string namespace_policy_dir;  // "" : node policy only
  std::string state_dir = "/var/lib/layerseal";
  std::string event_log;             // "" : <state_dir>/events.jsonl; "-" : none
  std::string node_name;             // "" : the host name
  std::string admin_address = "127.0.0.1:9464";  // HTTP: /metrics /healthz /readyz; "" : off
  // DNS names the admin endpoint answers in the Host header besides IP literals and
  // localhost (others: 421, against DNS rebinding; telemetry/admin_http.h).
  std::vector<std::string> admin_allowed_hosts;
  std::string health_socket = "/run/layerseal/health.sock";  // grpc.health.v1; "" : off
  absl::Duration policy_check_interval = absl::Seconds(2);
  int workers = 16;
  // CRI runtime.v1alpha2 (kubelets before 1.26 may use it): gated as v1, or refused.
  plugin::V1alpha2Mode v1alpha2 = plugin::V1alpha2Mode::kGate;
  std::string log_level = "info";
  Platform platform = Platform::Host();
  // Registry access for verification.
  std::string ca_file;
  std::set<std::string> plain_http_registries;
  // containerd's registry config_path (e.g. /etc/containerd/certs.d): registries are read
  // through the mirrors of its hosts.toml files, like the runtime (registry/hosts.h).
  // "": each registry directly.
  std::string registry_hosts_dir;
  std::string docker_config;  // "" : $DOCKER_CONFIG or ~/.docker/config.json if present
  absl::Duration registry_timeout = absl::Seconds(30);
  // Deadline for all registry traffic of one verification (registry::Options::total_timeout):
  // a registry that answers every request just inside registry_timeout cannot hold a pull
  // for many times that.
  absl::Duration verify_timeout = absl::Seconds(60);
  VerdictCacheOptions cache;  // persist_path is set from state_dir
  // Continuous validation (node-agent/sweep.h, docs/continuous-validation.md).
  absl::Duration sweep_interval = kDefaultSweepInterval;  // 0: no periodic sweeps
  absl::Duration sweep_stop_grace_period = kDefaultStopGracePeriod;  // onRevoked: stop
  int sweep_concurrency = kDefaultSweepConcurrency;
  int sweep_verifications_per_second = static_cast<int>(kDefaultSweepVerificationsPerSecond);
  // Delivery to the controller (docs/agent.md). controller "": none, and no spool either.
  std::string controller;              // host:port of layerseal-controller's EventIngest
  std::string controller_ca;           // "" : the system's roots
  std::string controller_cert;         // client certificate; its common name is node_name
  std::string controller_key;
  std::string controller_server_name;  // "" : the host of `controller`
  std::string spool_dir;               // "" : <state_dir>/spool
  uint64_t spool_max_bytes = kDefaultSpoolMaxBytes;
  // The integrity scrub's compressed bytes per second (issue 18, node-agent/scrub.h).
  uint64_t scrub_bytes_per_second = kDefaultScrubBytesPerSecond;
  // How often the agent starts a whole-node scrub after a periodic sweep; 0: only when asked.
  absl::Duration scrub_interval = kDefaultScrubInterval;
  // Re-hash every pulled image's blobs and layers before PullImage answers, even when no
  // integrity rule reads the layers (containerd already checks digests as it ingests and
  // unpacks; this checks what it stored). Off by default: it costs a re-read per pull.
  bool scrub_on_pull = false;

  std::string EventLogPath() const;
  std::string VerdictsPath() const;
  std::string SpoolDir() const;
};

// Parses `args` (argv without the program name). --config FILE is read first.
// `help` is set (and nothing else checked) for --help; `version` for --version.
struct ParsedArgs {
  AgentConfig config;
  bool help = false;
  bool version = false;
};
absl::StatusOr<ParsedArgs> ParseAgentArgs(const std::vector<std::string>& args);

// The --help text.
std::string AgentUsage();

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_CONFIG_H_
