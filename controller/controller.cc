#include "controller/controller.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <utility>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "controller/identity.h"
#include "controller/ingest_service.h"
#include "controller/kube/client.h"
#include "controller/kube/pod_events.h"
#include "controller/kube/policy_reports.h"
#include "controller/query_service.h"
#include "controller/web.h"
#include "telemetry/admin_http.h"
#include "base/file.h"
#include "base/host_port.h"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

// A PEM file, read whole (base/file.h: NOT_FOUND when missing, RESOURCE_EXHAUSTED when over
// the limit); the error names the config key and the file. Certificates and keys are a few KiB.
constexpr size_t kMaxPemBytes = 1024 * 1024;

absl::StatusOr<std::string> ReadPem(const char* what, const std::string& path) {
  absl::StatusOr<std::string> data = ReadFileLimited(path, kMaxPemBytes, what);
  if (!data.ok()) return data.status();
  if (data->find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(StrCat(what, ": ", path, " is not PEM"));
  }
  return data;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ControllerConfig& c) {
  if (c.insecure) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPem("tlsCert", c.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("tlsKey", c.tls_key);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca = ReadPem("clientCa", c.client_ca);
  if (!ca.ok()) return ca.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = *ca;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace

class Controller::Impl {
 public:
  Impl(ControllerConfig config, ControllerHooks hooks) : config_(std::move(config)) {
    logger_ = hooks.logger;
    if (logger_ == nullptr) {
      own_logger_ = std::make_unique<telemetry::Logger>("controller");
      logger_ = own_logger_.get();
    }
    if (absl::StatusOr<telemetry::Level> level = telemetry::ParseLevel(config_.log_level);
        level.ok()) {
      logger_->set_min_level(*level);
    }
  }

  ~Impl() { Stop(); }

  absl::Status Start() {
    absl::Status s = ValidateConfig(config_);
    if (!s.ok()) return s;
    s = OpenStore();
    if (!s.ok()) return s;
    DefineMetrics();
    s = StartKubernetes();
    if (!s.ok()) return s;
    s = StartGrpc();
    if (!s.ok()) return s;
    s = StartAdmin();
    if (!s.ok()) return s;
    s = StartWeb();
    if (!s.ok()) return s;
    if (!metrics_.status().ok()) return metrics_.status();
    if (config_.retention > absl::ZeroDuration()) retention_ = std::thread([this] { RetentionLoop(); });
    logger_->Info("controller started",
                  {{"version", std::string(kControllerVersion)},
                   {"listen", config_.listen},
                   {"grpc_port", grpc_port_},
                   {"admin_port", admin_port()},
                   {"web_port", web_port()},
                   {"web_tls", config_.web_tls},
                   {"tls", !config_.insecure},
                   {"retention_seconds", absl::ToInt64Seconds(config_.retention)}});
    return absl::OkStatus();
  }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (server_ != nullptr) {
      logger_->Info("controller stopping", {{"grace_seconds", absl::ToInt64Seconds(kShutdownGrace)}});
      if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
        health->SetServingStatus(false);
      }
    }
    signal_.Stop();  // followers return
    if (server_ != nullptr) {
      if (!calls_.StopAndWait(absl::Now() + kShutdownGrace)) {
        logger_->Warn("calls still running after the grace period are cancelled");
      }
      // Nothing left to finish: cancel at once rather than wait for idle clients to leave.
      server_->Shutdown(absl::ToChronoTime(absl::Now() + kGoawayGrace));
      server_->Wait();
    }
    // No batch is being stored any more: the publishers get what was offered, then end.
    pod_events_.reset();
    reports_.reset();
    kube_.reset();
    stop_.Notify();
    if (retention_.joinable()) retention_.join();
    web_.reset();  // its routes read the store
    admin_.reset();  // its readiness check too
    server_.reset();
    ingest_.reset();
    query_.reset();
    if (store_ != nullptr) logger_->Info("controller stopped");
    store_.reset();
  }

  // Opens the event store. A damaged file (DATA_LOSS) does not stop the start: the
  // controller runs not ready, with the damage in /readyz, the log and
  // layerseal_controller_store_damaged, every store call failing with it.
  absl::Status OpenStore() {
    StoreOptions options;
    options.on_damage = [this](const absl::Status& why) { LogDamage(why); };
    absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(config_.database, options);
    if (store.ok()) {
      store_ = std::move(*store);
      return absl::OkStatus();
    }
    if (store.status().code() != absl::StatusCode::kDataLoss) {
      return absl::Status(store.status().code(),
                          StrCat("database ", config_.database, ": ", store.status().message()));
    }
    LogDamage(store.status());
    store_ = UnusableStore(store.status());
    return absl::OkStatus();
  }

  void LogDamage(const absl::Status& why) {
    logger_->Error("the event store is damaged: not ready, storing nothing until it is repaired",
                   {{"database", config_.database},
                    {"error", std::string(Sv(why.message()))}});
  }

  int grpc_port() const { return grpc_port_; }
  int admin_port() const { return admin_ == nullptr ? 0 : admin_->port(); }
  int web_port() const { return web_ == nullptr ? 0 : web_->port(); }
  EventStore* store() { return store_.get(); }
  const telemetry::MetricsRegistry& metrics() const { return metrics_; }

  absl::StatusOr<int64_t> PruneNow() {
    absl::Time cutoff = absl::Now() - config_.retention;
    absl::StatusOr<int64_t> pruned = store_->Prune(cutoff);
    if (!pruned.ok()) {
      logger_->Warn("pruning failed", {{"error", std::string(Sv(pruned.status().message()))}});
      return pruned;
    }
    pruned_->Get().Increment(static_cast<double>(*pruned));
    // Recounted here, not only tracked: another controller may share a PostgreSQL database.
    stored_->Get().Set(static_cast<double>(store_->Count()));
    if (*pruned > 0) {
      logger_->Info("pruned old events", {{"events", *pruned}, {"cutoff", absl::FormatTime(cutoff)}});
    }
    return pruned;
  }

 private:
  void DefineMetrics() {
    stored_ = metrics_.AddGauge("layerseal_controller_events_stored", "Events in the store");
    pruned_ = metrics_.AddCounter("layerseal_controller_pruned_events_total",
                                  "Events deleted by retention");
    stored_->Get().Set(static_cast<double>(store_->Count()));
    metrics_.AddGaugeCallback("layerseal_controller_store_damaged",
                              "1 when the event store found its file damaged (the log and "
                              "/readyz name it), else 0",
                              [this] { return store_ == nullptr || store_->Damage().ok() ? 0.0 : 1.0; });
  }

  absl::Status StartGrpc() {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = Credentials(config_);
    if (!creds.ok()) return creds.status();
    if (config_.insecure) {
      logger_->Warn(
          "INSECURE MODE: plain-text gRPC without client certificates and so without roles; "
          "any local client may report events for any node and read every event. For "
          "development only, never in a cluster.",
          {{"listen", config_.listen}});
    }
    telemetry::Gauge* stored = &stored_->Get();
    IngestOptions ingest;
    ingest.store = store_.get();
    ingest.logger = logger_;
    ingest.metrics = &metrics_;
    ingest.calls = &calls_;
    ingest.require_identity = !config_.insecure;
    ingest.on_stored = [this] { signal_.Notify(); };
    ingest.on_count = [stored](int n) { stored->Add(n); };
    if (pod_events_ != nullptr || reports_ != nullptr) {
      ingest.on_events = [this](const std::vector<v1::Event>& events) {
        for (const v1::Event& event : events) {
          if (pod_events_ != nullptr) pod_events_->Offer(event);
          if (reports_ != nullptr) reports_->Offer(event);
        }
      };
    }
    ingest_ = std::make_unique<IngestService>(std::move(ingest));
    query_ = std::make_unique<QueryService>(store_.get(), &signal_, &calls_, &metrics_,
                                            /*require_reader=*/!config_.insecure);

    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.listen, *creds, &grpc_port_);
    builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxBatchBytes));
    grpc::ResourceQuota quota("layerseal-controller");
    quota.SetMaxThreads(kMaxGrpcThreads);
    builder.SetResourceQuota(quota);
    builder.RegisterService(ingest_.get());
    builder.RegisterService(query_.get());
    server_ = builder.BuildAndStart();
    bool unix_socket = config_.listen.rfind("unix:", 0) == 0;
    if (server_ == nullptr || (!unix_socket && grpc_port_ == 0)) {
      return absl::UnavailableError(StrCat("listen: cannot serve gRPC on ", config_.listen,
                                           " (address in use or not local?)"));
    }
    if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
      health->SetServingStatus(true);
    }
    return absl::OkStatus();
  }

  // Pod Events and PolicyReports (issue 19), when either is on: the API server's client from
  // kubernetes.kubeconfig / $KUBECONFIG / the ServiceAccount. A configuration that cannot be
  // read stops the start (the operator asked for it); an API server that does not answer
  // does not: the publishers retry, and ingestion never waits for them.
  absl::Status StartKubernetes() {
    if (!KubernetesEnabled(config_)) return absl::OkStatus();
    absl::StatusOr<kube::ClientConfig> client_config = kube::ResolveClientConfig(config_.kubeconfig);
    if (!client_config.ok()) {
      return absl::Status(client_config.status().code(),
                          StrCat("kubernetes: ", client_config.status().message()));
    }
    if (client_config->insecure_skip_tls_verify) {
      logger_->Warn("kubernetes: insecure-skip-tls-verify: the API server's certificate is not checked",
                    {{"source", client_config->source}});
    }
    absl::StatusOr<std::unique_ptr<kube::Client>> client = kube::Client::Create(*client_config);
    if (!client.ok()) {
      return absl::Status(client.status().code(),
                          StrCat("kubernetes: ", client.status().message()));
    }
    kube_ = std::move(*client);
    if (config_.kube_pod_events) {
      kube::PodEventsOptions options;
      options.transport = kube_.get();
      options.logger = logger_;
      options.metrics = &metrics_;
      options.instance = InstanceName();
      pod_events_ = std::make_unique<kube::PodEventRecorder>(std::move(options));
      pod_events_->Start();
    }
    if (config_.kube_policy_reports != "off") {
      absl::StatusOr<kube::ReportApi> api = kube::ParseReportApi(config_.kube_policy_reports);
      if (!api.ok()) return api.status();
      kube::PolicyReportsOptions options;
      options.transport = kube_.get();
      options.api = *api;
      options.max_results = static_cast<size_t>(config_.kube_report_max_results);
      options.interval = config_.kube_report_interval;
      options.logger = logger_;
      options.metrics = &metrics_;
      reports_ = std::make_unique<kube::PolicyReporter>(std::move(options));
      // Reports survive a restart: they are rebuilt from the newest stored events.
      if (absl::Status seeded = reports_->Seed(*store_); !seeded.ok()) {
        logger_->Warn("kubernetes: policy reports not seeded from the store; they fill as events arrive",
                      {{"error", std::string(Sv(seeded.message()))}});
      }
      reports_->Start();
    }
    logger_->Info("kubernetes outputs on",
                  {{"source", client_config->source},
                   {"server", client_config->server},
                   {"pod_events", config_.kube_pod_events},
                   {"policy_reports", config_.kube_policy_reports}});
    return absl::OkStatus();
  }

  // reportingInstance of the Events: the Pod's name (the chart sets POD_NAME), else the host's.
  static std::string InstanceName() {
    if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') return host;
    return "layerseal-controller";
  }

  // /metrics /healthz /readyz on config.admin: its own listener and threads, so that no web
  // client can keep the kubelet's probes from being answered.
  absl::Status StartAdmin() {
    if (config_.admin.empty()) return absl::OkStatus();
    absl::StatusOr<HostPort> hp = SplitHostPort(config_.admin);
    if (!hp.ok()) return hp.status();
    telemetry::AdminHttpOptions options;
    options.bind_address = hp->host;
    options.port = hp->port;
    options.metrics = &metrics_;
    options.allowed_hosts = config_.allowed_hosts;
    options.ready = [this]() -> absl::Status {
      if (stopping_.load()) return absl::UnavailableError("stopping");
      if (absl::Status damage = store_->Damage(); !damage.ok()) {
        return absl::UnavailableError(StrCat("event store damaged: ", Sv(damage.message())));
      }
      absl::StatusOr<int64_t> cursor = store_->LatestCursor();
      if (!cursor.ok()) {
        return absl::UnavailableError(StrCat("event store: ", cursor.status().message()));
      }
      return absl::OkStatus();
    };
    return StartHttpServer("admin", config_.admin, std::move(options), admin_);
  }

  // The web page and its JSON API (web.h) on config.web; with web_tls, HTTPS for readers.
  absl::Status StartWeb() {
    if (config_.web.empty()) return absl::OkStatus();
    absl::StatusOr<HostPort> hp = SplitHostPort(config_.web);
    if (!hp.ok()) return hp.status();
    telemetry::AdminHttpOptions options = WebHttpOptions(store_.get());
    options.bind_address = hp->host;
    options.port = hp->port;
    options.allowed_hosts = config_.allowed_hosts;
    if (config_.web_tls) {
      options.tls = telemetry::AdminHttpTls{config_.tls_cert, config_.tls_key, config_.client_ca,
                                            AuthorizeWebReader};
    }
    return StartHttpServer("web", config_.web, std::move(options), web_);
  }

  // The web page's HTTPS clients: a verified certificate with the reader role.
  static absl::Status AuthorizeWebReader(const std::string& pem) {
    absl::StatusOr<PeerIdentity> identity = IdentityFromPem(pem);
    if (!identity.ok()) return identity.status();
    if (identity->role == Role::kReader) return absl::OkStatus();
    return absl::PermissionDeniedError(StrCat(
        "the web page is for readers (certificate Organization ", kReaderOrganization,
        "); this certificate (", DescribeCertificateSubject(pem), ") has role ",
        RoleName(identity->role)));
  }

  absl::Status StartHttpServer(const char* key, const std::string& address,
                               telemetry::AdminHttpOptions options,
                               std::unique_ptr<telemetry::AdminHttpServer>& out) {
    absl::StatusOr<std::unique_ptr<telemetry::AdminHttpServer>> server =
        telemetry::AdminHttpServer::Start(std::move(options));
    if (!server.ok()) {
      return absl::Status(server.status().code(),
                          StrCat(key, " ", address, ": ", server.status().message()));
    }
    out = std::move(*server);
    return absl::OkStatus();
  }

  void RetentionLoop() {
    do {
      PruneNow().IgnoreError();  // logged; tried again next interval
    } while (!stop_.WaitForNotificationWithTimeout(config_.prune_interval));
  }

  const ControllerConfig config_;
  std::unique_ptr<telemetry::Logger> own_logger_;
  telemetry::Logger* logger_ = nullptr;
  telemetry::MetricsRegistry metrics_;
  telemetry::Family<telemetry::Gauge>* stored_ = nullptr;
  telemetry::Family<telemetry::Counter>* pruned_ = nullptr;
  std::unique_ptr<EventStore> store_;
  EventSignal signal_;
  CallTracker calls_;
  std::unique_ptr<kube::Client> kube_;  // issue 19: the publishers' API server
  std::unique_ptr<kube::PodEventRecorder> pod_events_;
  std::unique_ptr<kube::PolicyReporter> reports_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<grpc::Server> server_;
  int grpc_port_ = 0;
  std::unique_ptr<telemetry::AdminHttpServer> admin_;
  std::unique_ptr<telemetry::AdminHttpServer> web_;
  std::thread retention_;
  absl::Notification stop_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
};

absl::StatusOr<std::unique_ptr<Controller>> Controller::Start(const ControllerConfig& config,
                                                              ControllerHooks hooks) {
  auto impl = std::make_unique<Impl>(config, hooks);
  absl::Status s = impl->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<Controller>(new Controller(std::move(impl)));
}

Controller::Controller(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Controller::~Controller() = default;
int Controller::grpc_port() const { return impl_->grpc_port(); }
int Controller::admin_port() const { return impl_->admin_port(); }
int Controller::web_port() const { return impl_->web_port(); }
EventStore* Controller::store() { return impl_->store(); }
const telemetry::MetricsRegistry& Controller::metrics() const { return impl_->metrics(); }
absl::StatusOr<int64_t> Controller::PruneNow() { return impl_->PruneNow(); }

}  // namespace layerseal::controller
