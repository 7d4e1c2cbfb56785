#include "node-agent/config.h"

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "base/config_table.h"
#include "base/str_cat.h"
#include "base/yaml_config.h"

namespace layerseal::agent {
namespace {

using Table = ConfigTable<AgentConfig>;

// "67108864", "64Mi", "512Ki", "1Gi" within [min, max].
absl::Status SetBytesIn(uint64_t* out, const std::string& v, uint64_t min, uint64_t max) {
  std::string digits = v;
  uint64_t unit = 1;
  for (const auto& [suffix, scale] : {std::pair<std::string, uint64_t>{"Ki", 1ull << 10},
                                      {"Mi", 1ull << 20}, {"Gi", 1ull << 30}}) {
    if (v.size() > suffix.size() && v.compare(v.size() - suffix.size(), suffix.size(), suffix) == 0) {
      digits = v.substr(0, v.size() - suffix.size());
      unit = scale;
    }
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n > max / unit || n * unit < min) {
    return absl::InvalidArgumentError(StrCat("\"", v, "\" is not a size from ", min, " bytes to ",
                                             max >> 30, "Gi (suffix Ki, Mi or Gi optional)"));
  }
  *out = n * unit;
  return absl::OkStatus();
}

// A duration from `min` to `max`, or 0 ("0" turns periodic sweeps off; a grace period of 0
// kills at once).
absl::Status SetSweepDuration(absl::Duration* out, const std::string& v, absl::Duration min,
                              absl::Duration max) {
  absl::Duration d;
  if (absl::Status s = ParseConfigDuration(v, /*allow_zero=*/true, /*allow_infinite=*/false, &d);
      !s.ok()) {
    return s;
  }
  if (d != absl::ZeroDuration() && (d < min || d > max)) {
    return absl::InvalidArgumentError(StrCat("\"", v, "\" is not 0 or a duration from ",
                                             absl::FormatDuration(min), " to ",
                                             absl::FormatDuration(max)));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status SetBytes(uint64_t* out, const std::string& v) {
  return SetBytesIn(out, v, kMinSpoolMaxBytes, kMaxSpoolMaxBytes);
}

const Table& Options() {
  static const Table table(
      {.program = "layerseal-agent",
       .description =
           "The layerseal node agent: a CRI proxy between the kubelet and the container runtime\n"
           "that lets only images admitted by the node's signature policy onto the node.\n"
           "Point the kubelet's --container-runtime-endpoint (or --image-service-endpoint) at\n"
           "--listen. SIGHUP, or a change to a policy file, reloads the policies.\n\n",
       .config_help = "YAML file with the keys below (docs/agent.md)",
       .column = 46},
      {
          Table::Row("listen", "listen", "unix socket the kubelet connects to",
                     Table::Text(&AgentConfig::listen)),
          Table::Row("listenMode", "listen-mode", "octal mode of that socket (0660)",
                     [](AgentConfig& c, const std::string& v) {
                       char* end = nullptr;
                       long mode = strtol(v.c_str(), &end, 8);
                       if (v.empty() || *end != '\0' || mode < 0 || mode > 0777) {
                         return absl::InvalidArgumentError(StrCat("\"", v, "\" is not an octal file mode"));
                       }
                       c.listen_mode = static_cast<int>(mode);
                       return absl::OkStatus();
                     }),
          Table::Row("runtimeEndpoint", "runtime-endpoint", "the runtime's CRI socket (unix:// optional)",
                     [](AgentConfig& c, const std::string& v) {
                       c.runtime_endpoint = v.rfind("unix://", 0) == 0 ? v.substr(7) : v;
                       return absl::OkStatus();
                     }),
          Table::Row("policy", "policy", "the node policy file", Table::Text(&AgentConfig::policy)),
          Table::Row("namespacePolicyDir", "namespace-policy-dir", "directory of <namespace>.yaml policies",
                     Table::Text(&AgentConfig::namespace_policy_dir)),
          Table::Row("stateDir", "state-dir", "remembered verdicts and the default event log",
                     Table::Text(&AgentConfig::state_dir)),
          Table::Row("eventLog", "event-log", "JSON-lines event log (\"-\": none)",
                     Table::Text(&AgentConfig::event_log)),
          Table::Row("nodeName", "node-name", "this node's name in events (default: host name)",
                     Table::Text(&AgentConfig::node_name)),
          Table::Row("admin", "admin", "host:port for /metrics /healthz /readyz (\"\": off)",
                     Table::Text(&AgentConfig::admin_address)),
          Table::Row("adminAllowedHosts", "admin-allowed-host",
                     "DNS name allowed in admin's Host besides IPs and localhost (repeat)",
                     Table::Append(&AgentConfig::admin_allowed_hosts), ConfigArity::kRepeated),
          Table::Row("healthSocket", "health-socket", "unix socket for grpc.health.v1 (\"\": off)",
                     Table::Text(&AgentConfig::health_socket)),
          Table::Row("policyCheckInterval", "policy-check-interval", "how often policy files are checked",
                     Table::Duration(&AgentConfig::policy_check_interval)),
          Table::Row("workers", "workers", "threads judging images",
                     Table::Int(&AgentConfig::workers, 1, 256)),
          Table::Row("logLevel", "log-level", "debug, info, warn or error",
                     Table::Text(&AgentConfig::log_level)),
          Table::Removed("proxyEngine", "proxy-engine", "REMOVED: the proxy has one engine (completion queue)",
                         "removed: the CRI proxy has one engine now (the completion-queue one, which "
                         "was the default); delete this setting (docs/agent.md)"),
          Table::Row("v1alpha2", "v1alpha2", "CRI runtime.v1alpha2 calls: gate (default) or refuse",
                     Table::Enum(&AgentConfig::v1alpha2, {{"gate", plugin::V1alpha2Mode::kGate},
                                                          {"refuse", plugin::V1alpha2Mode::kRefuse}})),
          Table::Row("platform", "platform", "os/arch[/variant] chosen from indexes",
                     Table::Parsed<Platform>(&AgentConfig::platform, Platform::Parse)),
          Table::Row("registry.caFile", "ca-file", "extra CA bundle for registries",
                     Table::Text(&AgentConfig::ca_file)),
          Table::Row("registry.plainHttp", "plain-http-registry",
                     "host:port spoken to over plain HTTP (repeat)",
                     [](AgentConfig& c, const std::string& v) {
                       c.plain_http_registries.insert(v);
                       return absl::OkStatus();
                     },
                     ConfigArity::kRepeated),
          Table::Row("registry.hostsDir", "registry-hosts-dir",
                     "containerd's registry config_path (hosts.toml directories): read registries "
                     "through the same mirrors",
                     Table::Text(&AgentConfig::registry_hosts_dir)),
          Table::Row("registry.dockerConfig", "docker-config", "the node's registry credentials (config.json)",
                     Table::Text(&AgentConfig::docker_config)),
          Table::Row("registry.timeout", "registry-timeout", "budget for one registry exchange",
                     Table::Duration(&AgentConfig::registry_timeout)),
          Table::Row("registry.verifyTimeout", "verify-timeout",
                     "deadline for one verification's registry traffic",
                     Table::Duration(&AgentConfig::verify_timeout)),
          Table::Row("controller", "controller", "host:port of the controller (\"\": no delivery, no spool)",
                     Table::Text(&AgentConfig::controller)),
          Table::Row("controllerCa", "controller-ca", "CA bundle for the controller (default: system roots)",
                     Table::Text(&AgentConfig::controller_ca)),
          Table::Row("controllerCert", "controller-cert", "client certificate, common name = node name",
                     Table::Text(&AgentConfig::controller_cert)),
          Table::Row("controllerKey", "controller-key", "its private key",
                     Table::Text(&AgentConfig::controller_key)),
          Table::Row("controllerServerName", "controller-server-name", "TLS name expected of the controller",
                     Table::Text(&AgentConfig::controller_server_name)),
          Table::Row("spoolDir", "spool-dir", "events not yet delivered (default <stateDir>/spool)",
                     Table::Text(&AgentConfig::spool_dir)),
          Table::Row("spoolMaxBytes", "spool-max-bytes", "bound of the spool (64Mi)",
                     [](AgentConfig& c, const std::string& v) { return SetBytes(&c.spool_max_bytes, v); }),
          // issue 18 (s25-scrub): the integrity scrub's read rate (node-agent/scrub.h).
          Table::Row("scrub.bytesPerSecond", "scrub-bytes-per-second",
                     "integrity scrub's read rate from the content store (32Mi, at least 4Mi)",
                     [](AgentConfig& c, const std::string& v) {
                       return SetBytesIn(&c.scrub_bytes_per_second, v, kMinScrubBytesPerSecond,
                                         kMaxScrubBytesPerSecond);
                     }),
          Table::Row("scrub.interval", "scrub-interval",
                     "time between automatic whole-node scrubs, run after a periodic sweep (24h; 0: only when asked)",
                     [](AgentConfig& c, const std::string& v) {
                       return SetSweepDuration(&c.scrub_interval, v, kMinSweepInterval,
                                               absl::InfiniteDuration());
                     }),
          Table::Row("scrub.onPull", "scrub-on-pull",
                     "re-hash every pulled image before PullImage answers (false)",
                     Table::Bool(&AgentConfig::scrub_on_pull)),
          Table::Row("cache.maxEntries", "cache-max-entries", "verdicts kept in memory",
                     Table::Int<size_t>([](AgentConfig& c) { return &c.cache.max_entries; }, 1, 10'000'000)),
          Table::Row("cache.allowTtl", "cache-allow-ttl", "how long an ALLOW verdict is reused",
                     Table::Duration([](AgentConfig& c) { return &c.cache.allow_ttl; })),
          Table::Row("cache.denyTtl", "cache-deny-ttl", "how long a DENY verdict is reused",
                     Table::Duration([](AgentConfig& c) { return &c.cache.deny_ttl; })),
          Table::Row("cache.referrerDenyTtl", "cache-referrer-deny-ttl",
                     "how long a DENY is reused under a scope accepting cosign or notation "
                     "signatures, which can be attached without a new digest (30s)",
                     Table::Duration([](AgentConfig& c) { return &c.cache.referrer_deny_ttl; })),
          Table::Row("cache.errorTtl", "cache-error-ttl", "how long a registry error is reused",
                     Table::Duration([](AgentConfig& c) { return &c.cache.error_ttl; })),
          Table::Row("cache.resolveTtl", "cache-resolve-ttl", "how long a tag's digest is reused",
                     Table::Duration([](AgentConfig& c) { return &c.cache.resolve_ttl; })),
          Table::Row("sweep.interval", "sweep-interval",
                     "time between periodic sweeps of images and running containers (1h; 0: none)",
                     [](AgentConfig& c, const std::string& v) {
                       return SetSweepDuration(&c.sweep_interval, v, kMinSweepInterval,
                                               absl::InfiniteDuration());
                     }),
          Table::Row("sweep.stopGracePeriod", "sweep-stop-grace-period",
                     "grace period of a container stopped by onRevoked: stop (30s)",
                     [](AgentConfig& c, const std::string& v) {
                       return SetSweepDuration(&c.sweep_stop_grace_period, v, absl::ZeroDuration(),
                                               kMaxStopGracePeriod);
                     }),
          Table::Row("sweep.concurrency", "sweep-concurrency",
                     "a sweep's threads judging images not cached (2)",
                     Table::Int(&AgentConfig::sweep_concurrency, 1, kMaxSweepConcurrency)),
          Table::Row("sweep.verificationsPerSecond", "sweep-verifications-per-second",
                     "a sweep's judgements not cached per second (10)",
                     Table::Int(&AgentConfig::sweep_verifications_per_second, 1,
                                static_cast<int64_t>(kMaxSweepVerificationsPerSecond))),
      });
  return table;
}

}  // namespace

std::string AgentConfig::EventLogPath() const {
  if (event_log == "-") return "";
  return event_log.empty() ? state_dir + "/events.jsonl" : event_log;
}

std::string AgentConfig::VerdictsPath() const { return state_dir + "/verdicts.jsonl"; }

std::string AgentConfig::SpoolDir() const {
  return spool_dir.empty() ? state_dir + "/spool" : spool_dir;
}

absl::StatusOr<ParsedArgs> ParseAgentArgs(const std::vector<std::string>& args) {
  absl::StatusOr<ConfigArgs<AgentConfig>> parsed = Options().Parse(args, ReadYamlConfig);
  if (!parsed.ok()) return parsed.status();
  ParsedArgs out{.config = std::move(parsed->config), .help = parsed->help, .version = parsed->version};
  if (out.help || out.version) return out;
  AgentConfig& c = out.config;
  if (c.node_name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    c.node_name = host;
  }
  c.cache.persist_path = c.VerdictsPath();
  return out;
}

std::string AgentUsage() { return Options().Usage(); }

}  // namespace layerseal::agent
