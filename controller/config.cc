#include "controller/config.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/numbers.h"
#include "telemetry/log.h"
#include "base/host_port.h"
#include "base/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace layerseal::controller {
namespace {

using Setter = std::function<absl::Status(ControllerConfig&, const std::string&)>;

struct Option {
  std::string key;   // YAML key
  std::string flag;  // without "--"
  std::string help;
  Setter set;
  bool is_switch = false;  // a flag without a value means "true"
};

Setter Text(std::string ControllerConfig::*field) {
  return [field](ControllerConfig& c, const std::string& v) {
    c.*field = v;
    return absl::OkStatus();
  };
}

// `allow_zero`: "0" (or "0s") is accepted as zero.
Setter Duration(absl::Duration ControllerConfig::*field, bool allow_zero) {
  return [field, allow_zero](ControllerConfig& c, const std::string& v) {
    absl::Duration d;
    if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration() ||
        (d == absl::ZeroDuration() && !allow_zero) || d == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(StrCat("\"", v, "\" is not a ",
                                               allow_zero ? "" : "positive ",
                                               "duration such as 30s, 15m, 720h"));
    }
    c.*field = d;
    return absl::OkStatus();
  };
}

// "a,b,c": names separated by commas (spaces around them ignored); "" : none.
Setter List(std::vector<std::string> ControllerConfig::*field) {
  return [field](ControllerConfig& c, const std::string& v) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = std::min(v.find(',', start), v.size());
      std::string item = v.substr(start, comma - start);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) out.push_back(item);
      start = comma + 1;
    }
    c.*field = std::move(out);
    return absl::OkStatus();
  };
}

// A key that was replaced: setting it fails, naming the new keys.
Setter Replaced(std::string message) {
  return [message](ControllerConfig&, const std::string&) {
    return absl::InvalidArgumentError(message);
  };
}

Setter Bool(bool ControllerConfig::*field) {
  return [field](ControllerConfig& c, const std::string& v) {
    if (v == "true") {
      c.*field = true;
    } else if (v == "false") {
      c.*field = false;
    } else {
      return absl::InvalidArgumentError(StrCat("\"", v, "\" is not true or false"));
    }
    return absl::OkStatus();
  };
}

const std::vector<Option>& Options() {
  static const std::vector<Option> options = {
      {"listen", "listen", "gRPC address, host:port or unix:/path (0.0.0.0:7443)",
       Text(&ControllerConfig::listen)},
      {"tlsCert", "tls-cert", "the server's certificate chain (PEM)",
       Text(&ControllerConfig::tls_cert)},
      {"tlsKey", "tls-key", "the server certificate's private key (PEM)",
       Text(&ControllerConfig::tls_key)},
      {"clientCa", "client-ca", "CA of agents' and clients' certificates (PEM)",
       Text(&ControllerConfig::client_ca)},
      {"insecure", "insecure", "DEVELOPMENT ONLY: no TLS, no identities (loopback/unix only)",
       Bool(&ControllerConfig::insecure), true},
      {"database", "database", "sqlite:///path.db or postgres://... (event_store.h)",
       Text(&ControllerConfig::database)},
      {"admin", "admin", "host:port of /metrics /healthz /readyz (127.0.0.1:7081; \"\": off)",
       Text(&ControllerConfig::admin)},
      {"web", "web", "host:port of the web page and JSON API (127.0.0.1:7080; \"\": off)",
       Text(&ControllerConfig::web)},
      {"webTls", "web-tls", "HTTPS on web: reader client certificates only (tlsCert, clientCa)",
       Bool(&ControllerConfig::web_tls), true},
      {"allowedHosts", "allowed-hosts", "DNS names allowed in Host besides IPs and localhost (a,b)",
       List(&ControllerConfig::allowed_hosts)},
      {"http", "http", "REPLACED by web (page and API) and admin (metrics and probes)",
       Replaced("replaced by two keys: web (the web page and JSON API, 127.0.0.1:7080 by "
                "default) and admin (/metrics /healthz /readyz, 127.0.0.1:7081 by default); "
                "docs/controller.md")},
      {"retention", "retention", "prune events received longer ago than this (720h; 0: keep)",
       Duration(&ControllerConfig::retention, true)},
      {"pruneInterval", "prune-interval", "how often old events are pruned (1h)",
       Duration(&ControllerConfig::prune_interval, false)},
      {"logLevel", "log-level", "debug, info, warn or error", Text(&ControllerConfig::log_level)},
  };
  return options;
}

const Option* FindByKey(const std::string& key) {
  for (const Option& o : Options()) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

const Option* FindByFlag(const std::string& flag) {
  for (const Option& o : Options()) {
    if (o.flag == flag) return &o;
  }
  return nullptr;
}

absl::Status Wrap(const absl::Status& s, const std::string& where) {
  if (s.ok()) return s;
  return absl::InvalidArgumentError(StrCat(where, ": ", s.message()));
}

absl::Status ApplyFile(ControllerConfig& c, const std::string& path) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsNull()) return absl::OkStatus();
    if (!root.IsMap()) return absl::InvalidArgumentError(StrCat(path, ": the file must be a mapping"));
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      std::string where = StrCat(path, ":", kv.first.Mark().line + 1, ": ", key);
      const Option* option = FindByKey(key);
      if (option == nullptr) return absl::InvalidArgumentError(StrCat(where, ": unknown key"));
      if (kv.second.IsNull()) continue;
      if (!kv.second.IsScalar()) return absl::InvalidArgumentError(StrCat(where, ": expected one value"));
      absl::Status s = Wrap(option->set(c, kv.second.as<std::string>()), where);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
}

// One "--name[=value]" or "--name value" flag, in order.
struct Flag {
  std::string name;
  std::optional<std::string> value;
};

absl::StatusOr<std::vector<Flag>> SplitFlags(const std::vector<std::string>& args) {
  std::vector<Flag> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return absl::InvalidArgumentError(StrCat("unexpected argument \"", a, "\""));
    }
    Flag f;
    size_t eq = a.find('=');
    f.name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (eq != std::string::npos) f.value = a.substr(eq + 1);
    bool takes_value = f.name == "config";
    if (const Option* o = FindByFlag(f.name)) {
      takes_value = !o->is_switch;
    } else if (f.name != "config" && f.name != "help" && f.name != "version") {
      return absl::InvalidArgumentError(StrCat("unknown flag --", f.name));
    }
    if (takes_value && !f.value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(StrCat("--", f.name, " needs a value"));
      f.value = args[++i];
    }
    out.push_back(std::move(f));
  }
  return out;
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
  return absl::OkStatus();
}

absl::StatusOr<ParsedControllerArgs> ParseControllerArgs(const std::vector<std::string>& args) {
  absl::StatusOr<std::vector<Flag>> flags = SplitFlags(args);
  if (!flags.ok()) return flags.status();
  ParsedControllerArgs out;
  for (const Flag& f : *flags) {
    out.help |= f.name == "help";
    out.version |= f.name == "version";
  }
  if (out.help || out.version) return out;
  for (const Flag& f : *flags) {
    if (f.name != "config") continue;
    absl::Status s = ApplyFile(out.config, *f.value);
    if (!s.ok()) return s;
  }
  for (const Flag& f : *flags) {
    const Option* o = FindByFlag(f.name);
    if (o == nullptr) continue;
    absl::Status s = Wrap(o->set(out.config, f.value.value_or("true")), "--" + f.name);
    if (!s.ok()) return s;
  }
  absl::Status s = ValidateConfig(out.config);
  if (!s.ok()) return s;
  return out;
}

std::string ControllerUsage() {
  std::string text =
      "usage: layerseal-controller [--config FILE] [flags]\n\n"
      "The layerseal controller: stores the verdict events node agents report over mutual\n"
      "TLS (a client certificate's common name is its node), answers queries about them\n"
      "(gRPC EventQuery, the web page), exports metrics and prunes old events.\n"
      "SIGTERM or SIGINT stops it gracefully.\n\n"
      "  --config FILE                     YAML file with the keys below (docs/controller.md)\n";
  for (const Option& o : Options()) {
    std::string left = StrCat("  --", o.flag, " (", o.key, ")");
    if (left.size() < 35) left.resize(35, ' ');
    text += StrCat(left, " ", o.help, "\n");
  }
  text += "  --version                         print the version and exit\n";
  return text;
}

}  // namespace layerseal::controller
