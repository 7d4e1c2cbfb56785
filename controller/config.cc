#include "controller/config.h"

#include "absl/strings/numbers.h"
#include "base/config_table.h"
#include "base/host_port.h"
#include "base/str_cat.h"
#include "base/yaml_config.h"
#include "telemetry/log.h"

namespace layerseal::controller {
namespace {

using Table = ConfigTable<ControllerConfig>;

const Table& Options() {
  static const Table table(
      {.program = "layerseal-controller",
       .description =
           "The layerseal controller: stores the verdict events node agents report over mutual\n"
           "TLS (a client certificate's common name is its node), answers queries about them\n"
           "(gRPC EventQuery, the web page), exports metrics and prunes old events.\n"
           "SIGTERM or SIGINT stops it gracefully.\n\n",
       .config_help = "YAML file with the keys below (docs/controller.md)",
       .column = 35},
      {
          Table::Row("listen", "listen", "gRPC address, host:port or unix:/path (0.0.0.0:7443)",
                     Table::Text(&ControllerConfig::listen)),
          Table::Row("tlsCert", "tls-cert", "the server's certificate chain (PEM)",
                     Table::Text(&ControllerConfig::tls_cert)),
          Table::Row("tlsKey", "tls-key", "the server certificate's private key (PEM)",
                     Table::Text(&ControllerConfig::tls_key)),
          Table::Row("clientCa", "client-ca", "CA of agents' and clients' certificates (PEM)",
                     Table::Text(&ControllerConfig::client_ca)),
          Table::Row("insecure", "insecure", "DEVELOPMENT ONLY: no TLS, no identities (loopback/unix only)",
                     Table::Bool(&ControllerConfig::insecure), ConfigArity::kSwitch),
          Table::Row("database", "database", "sqlite:///path.db or postgres://... (event_store.h)",
                     Table::Text(&ControllerConfig::database)),
          Table::Row("admin", "admin", "host:port of /metrics /healthz /readyz (127.0.0.1:7081; \"\": off)",
                     Table::Text(&ControllerConfig::admin)),
          Table::Row("web", "web", "host:port of the web page and JSON API (127.0.0.1:7080; \"\": off)",
                     Table::Text(&ControllerConfig::web)),
          Table::Row("webTls", "web-tls", "HTTPS on web: reader client certificates only (tlsCert, clientCa)",
                     Table::Bool(&ControllerConfig::web_tls), ConfigArity::kSwitch),
          Table::Row("allowedHosts", "allowed-hosts",
                     "DNS names allowed in Host besides IPs and localhost (a,b)",
                     Table::List(&ControllerConfig::allowed_hosts)),
          Table::Removed("http", "http", "REPLACED by web (page and API) and admin (metrics and probes)",
                         "replaced by two keys: web (the web page and JSON API, 127.0.0.1:7080 by "
                         "default) and admin (/metrics /healthz /readyz, 127.0.0.1:7081 by default); "
                         "docs/controller.md"),
          Table::Row("retention", "retention", "prune events received longer ago than this (720h; 0: keep)",
                     Table::Duration(&ControllerConfig::retention,
                                     {.allow_zero = true, .allow_infinite = false})),
          Table::Row("pruneInterval", "prune-interval", "how often old events are pruned (1h)",
                     Table::Duration(&ControllerConfig::prune_interval, {.allow_infinite = false})),
          Table::Row("logLevel", "log-level", "debug, info, warn or error",
                     Table::Text(&ControllerConfig::log_level)),
          // issue 19: Kubernetes-native outputs (docs/observability.md)
          Table::Row("kubernetes.podEvents", "kube-pod-events",
                     "Warning Events on Pods whose images a gate denied (false)",
                     Table::Bool(&ControllerConfig::kube_pod_events), ConfigArity::kSwitch),
          Table::Row("kubernetes.policyReports", "kube-policy-reports",
                     "a report per namespace: off, wgpolicyk8s.io or openreports.io (off)",
                     Table::Enum(&ControllerConfig::kube_policy_reports,
                                 {{"off", "off"},
                                  {"wgpolicyk8s.io", "wgpolicyk8s.io"},
                                  {"openreports.io", "openreports.io"}})),
          Table::Row("kubernetes.kubeconfig", "kubeconfig",
                     "kubeconfig file (\"\": $KUBECONFIG, else in-cluster; or in-cluster)",
                     Table::Text(&ControllerConfig::kubeconfig)),
          Table::Row("kubernetes.reportMaxResults", "kube-report-max-results",
                     "results kept per namespace's report, oldest pruned (1000)",
                     Table::Int(&ControllerConfig::kube_report_max_results, 1,
                                kMaxReportResultsSetting)),
          Table::Row("kubernetes.reportInterval", "kube-report-interval",
                     "how often changed reports are written (30s)",
                     Table::Duration(&ControllerConfig::kube_report_interval,
                                     {.allow_infinite = false})),
      });
  return table;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

absl::Status ValidateHttp(const ControllerConfig& c);

}  // namespace

bool IsLoopbackOrUnix(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) return true;
  absl::StatusOr<HostPort> hp = SplitHostPort(listen);
  return hp.ok() && IsLoopbackHost(hp->host);
}

namespace {

// admin and web well formed; web in plain text only on loopback, since the page and its API
// show every event to whoever reaches them.
absl::Status ValidateHttp(const ControllerConfig& c) {
  for (auto [name, value] : {std::pair{"admin", &c.admin}, {"web", &c.web}}) {
    if (value->empty()) continue;
    if (absl::StatusOr<HostPort> hp = SplitHostPort(*value); !hp.ok()) {
      return absl::InvalidArgumentError(StrCat(name, ": ", hp.status().message()));
    }
  }
  if (!c.web.empty() && !c.web_tls && !IsLoopbackOrUnix(c.web)) {
    return absl::InvalidArgumentError(StrCat(
        "web: refused on \"", c.web, "\": the web page and JSON API show every event and "
        "plain HTTP has no client identity; keep web on loopback (kubectl port-forward) or "
        "turn on webTls (reader client certificates)"));
  }
  if (c.web_tls && c.insecure) {
    return absl::InvalidArgumentError("webTls: needs tlsCert, tlsKey and clientCa, not insecure");
  }
  return absl::OkStatus();
}

}  // namespace

bool KubernetesEnabled(const ControllerConfig& c) {
  return c.kube_pod_events || c.kube_policy_reports != "off";
}

absl::Status ValidateConfig(const ControllerConfig& c) {
  if (c.listen.rfind("unix:", 0) != 0) {
    if (absl::StatusOr<HostPort> hp = SplitHostPort(c.listen); !hp.ok()) {
      return absl::InvalidArgumentError(StrCat("listen: ", hp.status().message()));
    }
  } else if (c.listen.size() <= 5) {
    return absl::InvalidArgumentError("listen: \"unix:\" needs a socket path");
  }
  if (absl::Status s = ValidateHttp(c); !s.ok()) return s;
  if (c.insecure) {
    if (!IsLoopbackOrUnix(c.listen)) {
      return absl::InvalidArgumentError(
          StrCat("insecure: refused on listen \"", c.listen,
                 "\": plain-text gRPC without client identities is for development on a "
                 "loopback address or a unix socket only"));
    }
  } else {
    for (auto [name, value] : {std::pair{"tlsCert", &c.tls_cert}, {"tlsKey", &c.tls_key},
                               {"clientCa", &c.client_ca}}) {
      if (value->empty()) {
        return absl::InvalidArgumentError(
            StrCat(name, " is required (mutual TLS; docs/controller.md shows how to make the "
                         "certificates)"));
      }
    }
  }
  if (c.database.empty()) return absl::InvalidArgumentError("database: empty URL");
  if (absl::StatusOr<telemetry::Level> level = telemetry::ParseLevel(c.log_level); !level.ok()) {
    return absl::InvalidArgumentError(StrCat("logLevel: ", level.status().message()));
  }
  if (c.prune_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("pruneInterval must be positive");
  }
  bool known_api = false;
  for (const char* api : kPolicyReportApis) known_api = known_api || c.kube_policy_reports == api;
  if (!known_api) {
    return absl::InvalidArgumentError(StrCat("kubernetes.policyReports: \"", c.kube_policy_reports,
                                             "\" is not off, wgpolicyk8s.io or openreports.io"));
  }
  if (c.kube_report_max_results < 1 || c.kube_report_max_results > kMaxReportResultsSetting) {
    return absl::InvalidArgumentError(StrCat("kubernetes.reportMaxResults must be 1 to ",
                                             kMaxReportResultsSetting));
  }
  if (c.kube_report_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("kubernetes.reportInterval must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedControllerArgs> ParseControllerArgs(const std::vector<std::string>& args) {
  absl::StatusOr<ConfigArgs<ControllerConfig>> parsed = Options().Parse(args, ReadYamlConfig);
  if (!parsed.ok()) return parsed.status();
  ParsedControllerArgs out{
      .config = std::move(parsed->config), .help = parsed->help, .version = parsed->version};
  if (out.help || out.version) return out;
  absl::Status s = ValidateConfig(out.config);
  if (!s.ok()) return s;
  return out;
}

std::string ControllerUsage() { return Options().Usage(); }

}  // namespace layerseal::controller
