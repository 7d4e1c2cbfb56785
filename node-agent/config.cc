#include "node-agent/config.h"

#include <unistd.h>

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "base/flags.h"
#include "base/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace layerseal::agent {
namespace {

using Setter = std::function<absl::Status(AgentConfig&, const std::string&)>;

struct Option {
  std::string key;   // YAML key; "a.b" for a nested one
  std::string flag;  // without "--"
  std::string help;
  Setter set;
  bool repeated = false;
};

Setter Text(std::string AgentConfig::*field) {
  return [field](AgentConfig& c, const std::string& v) {
    c.*field = v;
    return absl::OkStatus();
  };
}

absl::Status SetDuration(absl::Duration* out, const std::string& v) {
  absl::StatusOr<absl::Duration> d = ParsePositiveDuration(v);
  if (!d.ok()) return d.status();
  *out = *d;
  return absl::OkStatus();
}

Setter Duration(std::function<absl::Duration*(AgentConfig&)> field) {
  return [field](AgentConfig& c, const std::string& v) { return SetDuration(field(c), v); };
}

absl::Status SetCount(int64_t* out, const std::string& v, int64_t max) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || n < 1 || n > max) {
    return absl::InvalidArgumentError(StrCat("\"", v, "\" is not a number from 1 to ", max));
  }
  *out = n;
  return absl::OkStatus();
}

// "67108864", "64Mi", "512Ki", "1Gi".
absl::Status SetBytes(uint64_t* out, const std::string& v) {
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
  if (!absl::SimpleAtoi(digits, &n) || n > kMaxSpoolMaxBytes / unit || n * unit < kMinSpoolMaxBytes) {
    return absl::InvalidArgumentError(StrCat("\"", v, "\" is not a size from ", kMinSpoolMaxBytes,
                                             " bytes to 1024Gi (suffix Ki, Mi or Gi optional)"));
  }
  *out = n * unit;
  return absl::OkStatus();
}

const std::vector<Option>& Options() {
  static const std::vector<Option> options = {
      {"listen", "listen", "unix socket the kubelet connects to", Text(&AgentConfig::listen)},
      {"listenMode", "listen-mode", "octal mode of that socket (0660)",
       [](AgentConfig& c, const std::string& v) {
         char* end = nullptr;
         long mode = strtol(v.c_str(), &end, 8);
         if (v.empty() || *end != '\0' || mode < 0 || mode > 0777) {
           return absl::InvalidArgumentError(StrCat("\"", v, "\" is not an octal file mode"));
         }
         c.listen_mode = static_cast<int>(mode);
         return absl::OkStatus();
       }},
      {"runtimeEndpoint", "runtime-endpoint", "the runtime's CRI socket (unix:// optional)",
       [](AgentConfig& c, const std::string& v) {
         c.runtime_endpoint = v.rfind("unix://", 0) == 0 ? v.substr(7) : v;
         return absl::OkStatus();
       }},
      {"policy", "policy", "the node policy file", Text(&AgentConfig::policy)},
      {"namespacePolicyDir", "namespace-policy-dir", "directory of <namespace>.yaml policies",
       Text(&AgentConfig::namespace_policy_dir)},
      {"stateDir", "state-dir", "remembered verdicts and the default event log",
       Text(&AgentConfig::state_dir)},
      {"eventLog", "event-log", "JSON-lines event log (\"-\": none)", Text(&AgentConfig::event_log)},
      {"nodeName", "node-name", "this node's name in events (default: host name)",
       Text(&AgentConfig::node_name)},
      {"admin", "admin", "host:port for /metrics /healthz /readyz (\"\": off)",
       Text(&AgentConfig::admin_address)},
      {"adminAllowedHosts", "admin-allowed-host",
       "DNS name allowed in admin's Host besides IPs and localhost (repeat)",
       [](AgentConfig& c, const std::string& v) {
         c.admin_allowed_hosts.push_back(v);
         return absl::OkStatus();
       },
       true},
      {"healthSocket", "health-socket", "unix socket for grpc.health.v1 (\"\": off)",
       Text(&AgentConfig::health_socket)},
      {"policyCheckInterval", "policy-check-interval", "how often policy files are checked",
       Duration([](AgentConfig& c) { return &c.policy_check_interval; })},
      {"workers", "workers", "threads judging images",
       [](AgentConfig& c, const std::string& v) {
         int64_t n = 0;
         absl::Status s = SetCount(&n, v, 256);
         c.workers = static_cast<int>(n);
         return s;
       }},
      {"logLevel", "log-level", "debug, info, warn or error", Text(&AgentConfig::log_level)},
      // Removed (issue 16): the proxy has one engine. Setting it fails, as the controller's
      // removed keys do (controller/config.cc Replaced), so a stale config is noticed.
      {"proxyEngine", "proxy-engine", "REMOVED: the proxy has one engine (completion queue)",
       [](AgentConfig&, const std::string&) {
         return absl::InvalidArgumentError(
             "removed: the CRI proxy has one engine now (the completion-queue one, which was "
             "the default); delete this setting (docs/agent.md)");
       }},
      {"v1alpha2", "v1alpha2", "CRI runtime.v1alpha2 calls: gate (default) or refuse",
       [](AgentConfig& c, const std::string& v) {
         if (v == "gate") {
           c.v1alpha2 = plugin::V1alpha2Mode::kGate;
         } else if (v == "refuse") {
           c.v1alpha2 = plugin::V1alpha2Mode::kRefuse;
         } else {
           return absl::InvalidArgumentError(StrCat("\"", v, "\" is not gate or refuse"));
         }
         return absl::OkStatus();
       }},
      {"platform", "platform", "os/arch[/variant] chosen from indexes",
       [](AgentConfig& c, const std::string& v) {
         absl::StatusOr<Platform> p = Platform::Parse(v);
         if (!p.ok()) return p.status();
         c.platform = *p;
         return absl::OkStatus();
       }},
      {"registry.caFile", "ca-file", "extra CA bundle for registries", Text(&AgentConfig::ca_file)},
      {"registry.plainHttp", "plain-http-registry", "host:port spoken to over plain HTTP (repeat)",
       [](AgentConfig& c, const std::string& v) {
         c.plain_http_registries.insert(v);
         return absl::OkStatus();
       },
       true},
      {"registry.hostsDir", "registry-hosts-dir",
       "containerd's registry config_path (hosts.toml directories): read registries through "
       "the same mirrors", Text(&AgentConfig::registry_hosts_dir)},
      {"registry.dockerConfig", "docker-config", "the node's registry credentials (config.json)",
       Text(&AgentConfig::docker_config)},
      {"registry.timeout", "registry-timeout", "budget for one registry exchange",
       Duration([](AgentConfig& c) { return &c.registry_timeout; })},
      {"registry.verifyTimeout", "verify-timeout", "deadline for one verification's registry traffic",
       Duration([](AgentConfig& c) { return &c.verify_timeout; })},
      {"controller", "controller", "host:port of the controller (\"\": no delivery, no spool)",
       Text(&AgentConfig::controller)},
      {"controllerCa", "controller-ca", "CA bundle for the controller (default: system roots)",
       Text(&AgentConfig::controller_ca)},
      {"controllerCert", "controller-cert", "client certificate, common name = node name",
       Text(&AgentConfig::controller_cert)},
      {"controllerKey", "controller-key", "its private key", Text(&AgentConfig::controller_key)},
      {"controllerServerName", "controller-server-name", "TLS name expected of the controller",
       Text(&AgentConfig::controller_server_name)},
      {"spoolDir", "spool-dir", "events not yet delivered (default <stateDir>/spool)",
       Text(&AgentConfig::spool_dir)},
      {"spoolMaxBytes", "spool-max-bytes", "bound of the spool (64Mi)",
       [](AgentConfig& c, const std::string& v) { return SetBytes(&c.spool_max_bytes, v); }},
      {"cache.maxEntries", "cache-max-entries", "verdicts kept in memory",
       [](AgentConfig& c, const std::string& v) {
         int64_t n = 0;
         absl::Status s = SetCount(&n, v, 10'000'000);
         c.cache.max_entries = static_cast<size_t>(n);
         return s;
       }},
      {"cache.allowTtl", "cache-allow-ttl", "how long an ALLOW verdict is reused",
       Duration([](AgentConfig& c) { return &c.cache.allow_ttl; })},
      {"cache.denyTtl", "cache-deny-ttl", "how long a DENY verdict is reused",
       Duration([](AgentConfig& c) { return &c.cache.deny_ttl; })},
      {"cache.errorTtl", "cache-error-ttl", "how long a registry error is reused",
       Duration([](AgentConfig& c) { return &c.cache.error_ttl; })},
      {"cache.resolveTtl", "cache-resolve-ttl", "how long a tag's digest is reused",
       Duration([](AgentConfig& c) { return &c.cache.resolve_ttl; })},
  };
  return options;
}

absl::Status Wrap(const absl::Status& s, const std::string& where) {
  if (s.ok()) return s;
  return absl::InvalidArgumentError(StrCat(where, ": ", s.message()));
}

absl::Status ApplyNode(AgentConfig& c, const YAML::Node& node, const std::string& prefix,
                       const std::string& file) {
  if (!node.IsMap()) return absl::InvalidArgumentError(StrCat(file, ": ", prefix.empty() ? "the file" : prefix, " must be a mapping"));
  for (const auto& kv : node) {
    std::string key = prefix + kv.first.as<std::string>();
    std::string where = StrCat(file, ":", kv.first.Mark().line + 1, ": ", key);
    if (kv.second.IsMap()) {
      absl::Status s = ApplyNode(c, kv.second, key + ".", file);
      if (!s.ok()) return s;
      continue;
    }
    const Option* option = nullptr;
    for (const Option& o : Options()) {
      if (o.key == key) option = &o;
    }
    if (option == nullptr) return absl::InvalidArgumentError(StrCat(where, ": unknown key"));
    if (kv.second.IsSequence()) {
      if (!option->repeated) return absl::InvalidArgumentError(StrCat(where, ": expected one value"));
      for (const YAML::Node& item : kv.second) {
        absl::Status s = Wrap(option->set(c, item.as<std::string>()), where);
        if (!s.ok()) return s;
      }
    } else if (kv.second.IsScalar()) {
      absl::Status s = Wrap(option->set(c, kv.second.as<std::string>()), where);
      if (!s.ok()) return s;
    } else if (!kv.second.IsNull()) {
      return absl::InvalidArgumentError(StrCat(where, ": expected a value"));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyFile(AgentConfig& c, const std::string& path) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsNull()) return absl::OkStatus();
    return ApplyNode(c, root, "", path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
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
  FlagSpec spec{.values = {"config"}, .switches = {"help", "version"}};
  for (const Option& o : Options()) spec.values.insert(o.flag);
  absl::StatusOr<Flags> flags = Flags::Parse(args, spec);
  if (!flags.ok()) return flags.status();
  ParsedArgs out;
  out.help = flags->Has("help");
  out.version = flags->Has("version");
  if (out.help || out.version) return out;
  if (!flags->positional().empty()) {
    return absl::InvalidArgumentError(StrCat("unexpected argument \"", flags->positional()[0], "\""));
  }
  if (std::optional<std::string> file = flags->Get("config")) {
    absl::Status s = ApplyFile(out.config, *file);
    if (!s.ok()) return s;
  }
  for (const Option& o : Options()) {
    for (const std::string& v : flags->GetAll(o.flag)) {
      absl::Status s = Wrap(o.set(out.config, v), "--" + o.flag);
      if (!s.ok()) return s;
    }
  }
  AgentConfig& c = out.config;
  if (c.node_name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    c.node_name = host;
  }
  c.cache.persist_path = c.VerdictsPath();
  return out;
}

std::string AgentUsage() {
  std::string text =
      "usage: layerseal-agent [--config FILE] [flags]\n\n"
      "The layerseal node agent: a CRI proxy between the kubelet and the container runtime\n"
      "that lets only images admitted by the node's signature policy onto the node.\n"
      "Point the kubelet's --container-runtime-endpoint (or --image-service-endpoint) at\n"
      "--listen. SIGHUP, or a change to a policy file, reloads the policies.\n\n"
      "  --config FILE              YAML file with the keys below (docs/agent.md)\n";
  for (const Option& o : Options()) {
    std::string left = StrCat("  --", o.flag, " (", o.key, ")");
    if (left.size() < 46) left.resize(46, ' ');
    text += StrCat(left, " ", o.help, "\n");
  }
  text += "  --version                  print the version and exit\n";
  return text;
}

}  // namespace layerseal::agent
