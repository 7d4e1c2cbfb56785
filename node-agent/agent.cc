#include "node-agent/agent.h"

#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <filesystem>
#include <thread>

#include <grpcpp/channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "base/clock.h"
#include "node-agent/containerd_images.h"
#include "node-agent/event_log.h"
#include "node-agent/event_record.h"
#include "node-agent/event_sender.h"
#include "node-agent/health.h"
#include "node-agent/judge.h"
#include "node-agent/policy_set.h"
#include "node-agent/spool.h"
#include "node-agent/verdict_cache.h"
#include "plugin/cri_proxy.h"
#include "plugin/image_gates.h"
#include "registry/credentials.h"
#include "telemetry/admin_http.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;

// The health service name whose status follows the runtime connection ("" is the agent).
constexpr char kRuntimeHealthService[] = "layerseal.v1.Runtime";
// SERVING while the configured policy files are in force; NOT_SERVING on the last-good copy
// or with no policy. "" stays SERVING then: the kubelet's other calls still work.
constexpr char kPolicyHealthService[] = "layerseal.v1.Policy";

// The load error as a verdict detail: printable ASCII (a binary policy file can put any
// byte into a parser's message; events are protobuf strings, UTF-8 only), at most
// kMaxPolicyErrorInDetail bytes.
constexpr size_t kMaxPolicyErrorInDetail = 512;
std::string Printable(std::string text) {
  if (text.size() > kMaxPolicyErrorInDetail) text.resize(kMaxPolicyErrorInDetail);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return text;
}

// Judges nothing while no policy is in force: every image is denied (POLICY_UNAVAILABLE),
// so the agent can run (and every other CRI call pass) without a policy, failing closed.
// Once a policy is in force, PolicySet never goes back to none, so `next` always finds one.
// Thread-safety: as ImageJudge. Ownership: borrows everything.
class PolicyGuardJudge final : public plugin::ImageJudge {
 public:
  PolicyGuardJudge(const PolicySet* policies, plugin::ImageJudge* next,
                   std::function<std::string()> why)
      : policies_(policies), next_(next), why_(std::move(why)) {}

  plugin::Judgement Judge(const plugin::JudgeRequest& request) override {
    if (policies_->origin() != PolicyOrigin::kNone) return next_->Judge(request);
    Verdict v;
    v.decision = Decision::kDeny;
    v.reason = Reason::kPolicyUnavailable;
    v.mode = Mode::kEnforce;
    v.reference = request.reference.ToString();
    v.detail = StrCat("the node policy could not be loaded (", Printable(why_()),
                      "); every image is denied until it can be");
    return plugin::Judgement{.verdict = std::move(v), .cached = false};
  }

  std::optional<plugin::Judgement> TryCached(const plugin::JudgeRequest& request) override {
    if (policies_->origin() == PolicyOrigin::kNone) return std::nullopt;  // Judge denies
    return next_->TryCached(request);
  }

 private:
  const PolicySet* const policies_;
  plugin::ImageJudge* const next_;
  const std::function<std::string()> why_;
};

// The mode of a directory the agent creates (state, sockets), whatever the umask: only the
// agent writes there. A directory that exists keeps its mode (the admin's choice).
constexpr fs::perms kCreatedDirMode = fs::perms(0755);

absl::Status MakeDir(const std::string& dir) {
  std::error_code ec;
  bool created = fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(StrCat("cannot create ", dir, ": ", ec.message()));
  if (created) fs::permissions(dir, kCreatedDirMode, ec);
  if (ec) return absl::UnavailableError(StrCat("cannot chmod ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const registry::CredentialStore>> NodeCredentials(
    const AgentConfig& c) {
  if (!c.docker_config.empty()) return registry::DockerConfigCredentials(c.docker_config);
  return registry::DefaultDockerConfigCredentials();
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(StrCat("admin address \"", address, "\" is not host:port"));
  }
  return std::make_pair(address.substr(0, colon), port);
}

}  // namespace

class Agent::Impl final : public plugin::EventSink, public plugin::CallObserver {
 public:
  Impl(AgentConfig config, AgentHooks hooks) : config_(std::move(config)), hooks_(std::move(hooks)) {
    if (hooks_.logger == nullptr) {
      own_logger_ = std::make_unique<telemetry::Logger>("agent");
      hooks_.logger = own_logger_.get();
    }
    if (absl::StatusOr<telemetry::Level> level = telemetry::ParseLevel(config_.log_level); level.ok()) {
      hooks_.logger->set_min_level(*level);
    }
    DefineMetrics();
  }

  ~Impl() override {
    stop_.Notify();
    if (watcher_.joinable()) watcher_.join();
    admin_.reset();
    proxy_.reset();  // no calls left before the interceptors and the judge go
    health_.reset();
    gates_.reset();
    sender_.reset();  // no verdicts left to spool: stop sending, then close the spool
    spool_.reset();
  }

  absl::Status Start() {
    telemetry::Logger& log = *hooks_.logger;
    if (absl::Status s = MakeDir(config_.state_dir); !s.ok()) return s;
    if (absl::Status s = MakeDir(fs::path(config_.listen).parent_path().string()); !s.ok()) return s;
    LoadPoliciesAtStart();

    cache_ = std::make_unique<VerdictCache>(config_.cache);
    if (absl::Status s = cache_->Load(); !s.ok()) {
      log.Warn("verdicts will not survive a restart", {{"error", std::string(Sv(s.message()))}});
    }
    if (cache_->skipped_lines() > 0) {
      log.Warn("skipped damaged lines in the remembered verdicts",
               {{"path", config_.VerdictsPath()}, {"lines", cache_->skipped_lines()}});
    }
    absl::StatusOr<std::shared_ptr<const registry::CredentialStore>> creds = NodeCredentials(config_);
    if (!creds.ok()) return creds.status();

    JudgeOptions jo{.policies = policies_.get(), .cache = cache_.get()};
    jo.registry.ca_file = config_.ca_file;
    jo.registry.timeout = config_.registry_timeout;
    jo.registry.total_timeout = config_.verify_timeout;  // one client per verification
    jo.registry.credentials = *creds;
    jo.registry.user_agent = StrCat("layerseal-agent/", kAgentVersion);
    jo.plain_http_registries = config_.plain_http_registries;
    jo.registry_hosts_dir = config_.registry_hosts_dir;
    jo.platform = config_.platform;
    judge_ = std::make_unique<CachingJudge>(std::move(jo));
    guard_ = std::make_unique<PolicyGuardJudge>(policies_.get(), judge_.get(),
                                                [this] { return PolicyError(); });

    absl::StatusOr<std::unique_ptr<EventLog>> events =
        EventLog::Open(config_.node_name, config_.EventLogPath(), hooks_.reporter);
    if (!events.ok()) return events.status();
    events_ = *std::move(events);
    if (absl::Status s = StartDelivery(); !s.ok()) return s;

    upstream_ = plugin::CreateUpstreamChannel(config_.runtime_endpoint);
    recorder_ = std::make_unique<ContainerdImageRecorder>(upstream_, hooks_.logger, runtime_tags_);
    gates_ = std::make_unique<plugin::ImageGates>(
        plugin::ImageGatesOptions{.judge = guard_.get(),
                                  .events = this,
                                  .upstream = upstream_,
                                  .recorder = recorder_.get(),
                                  .workers = config_.workers,
                                  .v1alpha2 = config_.v1alpha2,
                                  .after_pull_verdict = hooks_.after_pull_verdict});
    health_ = std::make_unique<HealthInterceptor>(gates_.get());
    UpdateHealth();
    std::vector<std::string> health_sockets;
    if (!config_.health_socket.empty()) {
      if (absl::Status s = MakeDir(fs::path(config_.health_socket).parent_path().string());
          !s.ok()) {
        return s;
      }
      health_sockets.push_back(config_.health_socket);
    }
    absl::StatusOr<std::unique_ptr<plugin::CriProxy>> proxy = plugin::CriProxy::Start(
        {.listen_path = config_.listen,
         .restricted_listen_paths = health_sockets,  // grpc.health.v1 only (issue 14 item 5)
         .restricted_methods = {std::begin(kHealthSocketMethods), std::end(kHealthSocketMethods)},
         .upstream = upstream_,
         .interceptor = health_.get(),
         .observer = this});
    if (!proxy.ok()) return proxy.status();
    proxy_ = *std::move(proxy);
    if (chmod(config_.listen.c_str(), static_cast<mode_t>(config_.listen_mode)) != 0) {
      return absl::UnavailableError(StrCat("cannot chmod ", config_.listen));
    }
    if (!config_.health_socket.empty() && chmod(config_.health_socket.c_str(), kHealthSocketMode) != 0) {
      return absl::UnavailableError(StrCat("cannot chmod ", config_.health_socket));
    }
    if (absl::Status s = StartAdmin(); !s.ok()) return s;
    watcher_ = std::thread([this] { Watch(); });
    log.Info("layerseal-agent started",
             {{"listen", config_.listen}, {"runtime", config_.runtime_endpoint},
              {"node", config_.node_name}, {"policy_version", policies_->version()},
              {"policy_origin", PolicyOriginName(policies_->origin())},
              {"admin_port", admin_port()}, {"remembered_verdicts", cache_->size()},
              {"controller", config_.controller},
              {"spool_backlog", spool_ ? spool_->stats().backlog : 0}});
    return absl::OkStatus();
  }

  absl::Status ReloadPolicies() { return ReloadPolicyFiles(/*retry=*/false); }

  // EventSink: count, log, then the event log (and the reporter behind it).
  void Report(const plugin::VerdictEvent& e) override {
    const Verdict& v = e.judgement.verdict;
    verdicts_->WithLabels({e.gate, std::string(DecisionName(v.decision)),
                           std::string(ReasonName(v.reason)), std::string(ModeName(v.mode))})
        .Increment();
    cache_lookups_->WithLabels({e.judgement.cached ? "hit" : "miss"}).Increment();
    // A POLICY_UNAVAILABLE denial ran no verification.
    if (!e.judgement.cached && v.reason != Reason::kPolicyUnavailable) {
      verify_seconds_->Get().Observe(absl::ToDoubleSeconds(v.duration));
    }
    // A denial is a warning, also when warn mode lets it through; audit mode stays quiet.
    bool warn = !v.allowed() && (!e.admitted || v.mode == Mode::kWarn);
    telemetry::Level level = warn ? telemetry::Level::kWarn : telemetry::Level::kInfo;
    nlohmann::json line = EventJson(config_.node_name, e);  // built once: log and event log
    if (hooks_.logger->enabled(level)) {
      hooks_.logger->Log(level, e.admitted ? "image admitted" : "image denied", line);
    }
    events_->Record(e, line);
    if (spool_ != nullptr) Spool(e);
  }

  // CallObserver: every CRI call.
  void OnCallDone(std::string_view method, grpc::StatusCode code, absl::Duration elapsed) override {
    std::string m(method);
    calls_->WithLabels({m, StatusCodeName(code)}).Increment();
    call_seconds_->WithLabels({m}).Observe(absl::ToDoubleSeconds(elapsed));
  }

  int admin_port() const { return admin_ ? admin_->port() : 0; }

  telemetry::MetricsRegistry metrics_;
  std::unique_ptr<CachingJudge> judge_;

 private:
  // gRPC's codes are absl's, number for number (as in cli/cri.cc).
  static std::string StatusCodeName(grpc::StatusCode code) {
    std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
    return name.empty() ? StrCat("CODE_", static_cast<int>(code)) : name;
  }

  void DefineMetrics() {
    verdicts_ = metrics_.AddCounter("layerseal_verdicts_total",
                                    "Gate decisions by gate, verdict, reason and mode.",
                                    {"gate", "verdict", "reason", "mode"});
    cache_lookups_ = metrics_.AddCounter("layerseal_verdict_cache_total",
                                         "Gate decisions answered from the verdict cache (hit) "
                                         "or by a verification (miss).",
                                         {"result"});
    verify_seconds_ = metrics_.AddHistogram("layerseal_verification_seconds",
                                            "Time to verify an image (cache misses).",
                                            telemetry::ExponentialBuckets(0.001, 2, 15));
    calls_ = metrics_.AddCounter("layerseal_cri_calls_total",
                                 "CRI calls through the agent by method and status code.",
                                 {"method", "code"});
    call_seconds_ = metrics_.AddHistogram("layerseal_cri_call_seconds",
                                          "CRI call latency through the agent by method.",
                                          telemetry::ExponentialBuckets(0.00005, 2, 20), {"method"});
    runtime_tags_ = metrics_.AddCounter(
        "layerseal_runtime_tags_total",
        "Verified pulls of a tag whose image was named by the tag in the runtime (named), "
        "could not be (error), or the runtime has no containerd images API (unsupported).",
        {"result"});
    policy_reloads_ = metrics_.AddCounter("layerseal_policy_reloads_total",
                                          "Policy reloads by result (ok, error).", {"result"});
    metrics_.AddGaugeCallback(
        "layerseal_policy_loaded",
        "1 when the configured policy files are in force; 0 on the last-good copy or with no "
        "policy (every image denied).",
        [this] { return Origin() == PolicyOrigin::kFiles ? 1.0 : 0.0; });
    metrics_.AddGaugeCallback(
        "layerseal_policy_last_good_in_force",
        "1 when the configured policy could not be loaded and its last-good copy is in force.",
        [this] { return Origin() == PolicyOrigin::kLastGood ? 1.0 : 0.0; });
    metrics_.AddGaugeCallback("layerseal_runtime_connected",
                              "1 when the connection to the runtime is ready.",
                              [this] { return RuntimeReady() ? 1.0 : 0.0; });
    metrics_.AddGaugeCallback("layerseal_verdict_cache_entries", "Verdicts in the cache.",
                              [this] { return cache_ ? static_cast<double>(cache_->size()) : 0; });
    metrics_.AddGaugeCallback(
        "layerseal_agent_spool_events", "Events in the spool not yet acknowledged by the controller.",
        [this] { return spool_ ? static_cast<double>(spool_->stats().backlog) : 0; });
    metrics_.AddGaugeCallback(
        "layerseal_agent_spool_bytes", "Bytes of the spool's segment files.",
        [this] { return spool_ ? static_cast<double>(spool_->stats().bytes) : 0; });
    events_lost_ = metrics_.AddCounter("layerseal_agent_events_lost_total",
                                       "Events the spool could not keep (full or failing).");
    controller_batches_ = metrics_.AddCounter(
        "layerseal_agent_controller_batches_total",
        "ReportEvents calls to the controller by result (ok, error); heartbeats included.",
        {"result"});
    spool_sync_seconds_ = metrics_.AddHistogram(
        "layerseal_agent_spool_sync_seconds", "Time of one group commit: write and fdatasync.",
        telemetry::ExponentialBuckets(0.00005, 2, 16));
  }

  // The controller's sender and the spool it reads; none without a controller.
  absl::Status StartDelivery() {
    if (config_.controller.empty()) return absl::OkStatus();
    // Checked first: with another node's certificate nothing would ever be delivered.
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = ControllerCredentials(
        config_.controller_ca, config_.controller_cert, config_.controller_key, config_.node_name);
    if (!creds.ok()) return creds.status();
    absl::StatusOr<std::unique_ptr<EventSpool>> spool = EventSpool::Open(
        {.dir = config_.SpoolDir(),
         .max_bytes = config_.spool_max_bytes,
         .node = config_.node_name,
         .agent_version = std::string(kAgentVersion),
         .on_sync = [this](absl::Duration d) {
           spool_sync_seconds_->Get().Observe(absl::ToDoubleSeconds(d));
         },
         .on_lost = [this](uint64_t n) {
           events_lost_->Get().Increment(static_cast<double>(n));
         }});
    if (!spool.ok()) return spool.status();
    spool_ = *std::move(spool);
    for (const std::string& cut : spool_->recovered_cuts()) {
      hooks_.logger->Warn("cut a damaged record off the event spool", {{"cut", cut}});
    }
    absl::StatusOr<std::unique_ptr<EventSender>> sender = EventSender::Start(
        {.target = config_.controller,
         .credentials = *creds,
         .tls_server_name = config_.controller_server_name,
         .node = config_.node_name,
         .agent_version = std::string(kAgentVersion),
         .policy_version = [this] { return policies_->version(); },
         .spool = spool_.get(),
         .logger = hooks_.logger,
         .on_batch = [this](std::string_view result) {
           controller_batches_->WithLabels({std::string(result)}).Increment();
         }});
    if (!sender.ok()) return sender.status();
    sender_ = *std::move(sender);
    return absl::OkStatus();
  }

  // Keeps the event for the controller. A spool that cannot keep it counts it (and reports
  // the count to the controller later); the verdict goes on regardless.
  void Spool(const plugin::VerdictEvent& e) {
    absl::StatusOr<uint64_t> seq = spool_->Append(
        VerdictEventRecord(e, config_.node_name, 0, std::string(kAgentVersion)));
    if (seq.ok()) {
      sender_->Wake();
      if (spool_failing_.exchange(false)) {
        hooks_.logger->Info("the event spool keeps events again",
                            {{"events_lost", spool_->stats().lost}});
      }
      return;
    }
    if (!spool_failing_.exchange(true)) {  // once per bad spell, not once per event
      hooks_.logger->Error("the event spool cannot keep events; they are counted as lost",
                           {{"error", std::string(Sv(seq.status().message()))},
                            {"spool", config_.SpoolDir()}});
    }
  }

  bool RuntimeReady() const {
    return upstream_ && upstream_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
  }

  void UpdateHealth() {
    health_->SetStatus("", true);
    health_->SetStatus(kRuntimeHealthService, RuntimeReady());
    health_->SetStatus(kPolicyHealthService, Origin() == PolicyOrigin::kFiles);
  }

  PolicyOrigin Origin() const {
    return policies_ ? policies_->origin() : PolicyOrigin::kNone;
  }

  std::string LastGoodPath() const { return StrCat(config_.state_dir, "/policy.last-good"); }
  std::string LastGoodKeyDir() const { return StrCat(config_.state_dir, "/policy.last-good.keys"); }

  // Why no policy is in force (for POLICY_UNAVAILABLE details).
  std::string PolicyError() const {
    absl::MutexLock lock(&policy_error_mu_);
    return policy_error_;
  }
  void SetPolicyError(std::string error) {
    absl::MutexLock lock(&policy_error_mu_);
    policy_error_ = std::move(error);
  }

  // A policy that cannot be loaded does not stop the agent (a crash-looping agent fails
  // every CRI call, not only pulls): the last-good copy is used, else every image is denied
  // until the files load (Watch retries them).
  void LoadPoliciesAtStart() {
    telemetry::Logger& log = *hooks_.logger;
    absl::MutexLock lock(&reload_mu_);
    policies_ = PolicySet::Empty(config_.policy, config_.namespace_policy_dir);
    absl::Status s = policies_->Reload();
    policy_fingerprint_ = policies_->Fingerprint();
    if (s.ok()) {
      SaveLastGood();
      return;
    }
    std::string error(Sv(s.message()));
    last_policy_error_ = error;
    SetPolicyError(error);
    log.Error("cannot load the policy", {{"policy", config_.policy},
                                         {"namespace_policy_dir", config_.namespace_policy_dir},
                                         {"error", error}});
    absl::Status copy = policies_->LoadLastGood(LastGoodPath(), LastGoodKeyDir());
    if (copy.ok()) {
      log.Error("the last-good copy of the policy is in force until the policy file loads",
                {{"policy", config_.policy}, {"last_good", LastGoodPath()},
                 {"policy_version", policies_->version()},
                 {"namespaces", policies_->NamespaceVersions()}});
      return;
    }
    log.Error("no usable last-good policy copy; every image is denied until the policy file loads",
              {{"policy", config_.policy}, {"last_good", LastGoodPath()},
               {"last_good_error", std::string(Sv(copy.message()))}});
  }

  void SaveLastGood() {
    if (absl::Status s = policies_->SaveLastGood(LastGoodPath()); !s.ok()) {
      hooks_.logger->Warn("cannot save the last-good copy of the policy",
                          {{"last_good", LastGoodPath()}, {"error", std::string(Sv(s.message()))}});
    }
  }

  // `retry`: a periodic attempt while the files are not in force; the same error again is
  // neither logged nor counted (it would be every policy_check_interval).
  absl::Status ReloadPolicyFiles(bool retry) {
    absl::MutexLock lock(&reload_mu_);
    PolicyOrigin was = policies_->origin();
    std::string before = policies_->version();
    absl::Status s = policies_->Reload();
    policy_fingerprint_ = policies_->Fingerprint();
    if (!s.ok()) {
      std::string error(Sv(s.message()));
      if (retry && error == last_policy_error_) return s;
      last_policy_error_ = error;
      if (was == PolicyOrigin::kNone) SetPolicyError(error);
      policy_reloads_->WithLabels({"error"}).Increment();
      hooks_.logger->Error(
          was == PolicyOrigin::kNone
              ? "policy reload failed; every image is still denied"
              : (was == PolicyOrigin::kLastGood
                     ? "policy reload failed; the last-good copy stays in force"
                     : "policy reload failed; the previous policies stay in force"),
          {{"policy", config_.policy}, {"error", error}, {"policy_version", before},
           {"policy_origin", PolicyOriginName(was)}});
      return s;
    }
    last_policy_error_.clear();
    SetPolicyError("");
    if (health_) health_->SetStatus(kPolicyHealthService, true);
    policy_reloads_->WithLabels({"ok"}).Increment();
    hooks_.logger->Info("policies reloaded", {{"previous_version", before},
                                              {"previous_origin", PolicyOriginName(was)},
                                              {"policy_version", policies_->version()},
                                              {"namespaces", policies_->NamespaceVersions()}});
    SaveLastGood();
    return absl::OkStatus();
  }

  absl::Status StartAdmin() {
    if (config_.admin_address.empty()) return absl::OkStatus();
    absl::StatusOr<std::pair<std::string, int>> hp = SplitHostPort(config_.admin_address);
    if (!hp.ok()) return hp.status();
    absl::StatusOr<std::unique_ptr<telemetry::AdminHttpServer>> admin =
        telemetry::AdminHttpServer::Start({.bind_address = hp->first,
                                           .port = hp->second,
                                           .metrics = &metrics_,
                                           .ready = [this]() -> absl::Status {
                                             if (RuntimeReady()) return absl::OkStatus();
                                             return absl::UnavailableError(
                                                 "the runtime is not reachable");
                                           },
                                           .allowed_hosts = config_.admin_allowed_hosts});
    if (!admin.ok()) return admin.status();
    admin_ = *std::move(admin);
    return absl::OkStatus();
  }

  // Reloads the policies when their files change; refreshes the health status.
  void Watch() {
    while (!stop_.WaitFor(config_.policy_check_interval)) {  // monotonic: see clock.h
      UpdateHealth();
      if (policies_->origin() != PolicyOrigin::kFiles) {
        // Not every fault changes the file's identity (a key file that appears again):
        // until the files are in force, try them every time.
        ReloadPolicyFiles(/*retry=*/true).IgnoreError();
        continue;
      }
      std::string now;
      {
        absl::MutexLock lock(&reload_mu_);
        now = policies_->Fingerprint();
        if (now == policy_fingerprint_) continue;
      }
      hooks_.logger->Info("policy files changed", {{"policy", config_.policy}});
      ReloadPolicies().IgnoreError();
    }
  }

  AgentConfig config_;
  AgentHooks hooks_;
  std::unique_ptr<telemetry::Logger> own_logger_;
  telemetry::Family<telemetry::Counter>* verdicts_ = nullptr;
  telemetry::Family<telemetry::Counter>* cache_lookups_ = nullptr;
  telemetry::Family<telemetry::Histogram>* verify_seconds_ = nullptr;
  telemetry::Family<telemetry::Counter>* calls_ = nullptr;
  telemetry::Family<telemetry::Histogram>* call_seconds_ = nullptr;
  telemetry::Family<telemetry::Counter>* policy_reloads_ = nullptr;
  telemetry::Family<telemetry::Counter>* runtime_tags_ = nullptr;
  telemetry::Family<telemetry::Counter>* events_lost_ = nullptr;
  telemetry::Family<telemetry::Counter>* controller_batches_ = nullptr;
  telemetry::Family<telemetry::Histogram>* spool_sync_seconds_ = nullptr;

  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<PolicyGuardJudge> guard_;  // in front of judge_
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<EventSpool> spool_;
  std::unique_ptr<EventSender> sender_;
  std::atomic<bool> spool_failing_{false};
  std::shared_ptr<grpc::Channel> upstream_;
  std::unique_ptr<ContainerdImageRecorder> recorder_;  // before gates_: they borrow it
  std::unique_ptr<plugin::ImageGates> gates_;
  std::unique_ptr<plugin::CriProxy> proxy_;
  std::unique_ptr<HealthInterceptor> health_;
  std::unique_ptr<telemetry::AdminHttpServer> admin_;
  absl::Mutex reload_mu_;
  std::string policy_fingerprint_ ABSL_GUARDED_BY(reload_mu_);
  std::string last_policy_error_ ABSL_GUARDED_BY(reload_mu_);  // the last one logged
  mutable absl::Mutex policy_error_mu_;
  std::string policy_error_ ABSL_GUARDED_BY(policy_error_mu_);  // "" while a policy is in force
  MonotonicSignal stop_;
  std::thread watcher_;
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentConfig config, AgentHooks hooks) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(hooks));
  if (absl::Status s = impl->Start(); !s.ok()) return s;
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

absl::Status Agent::ReloadPolicies() { return impl_->ReloadPolicies(); }
const telemetry::MetricsRegistry& Agent::metrics() const { return impl_->metrics_; }
uint64_t Agent::verifications() const { return impl_->judge_ ? impl_->judge_->verifications() : 0; }
int Agent::admin_port() const { return impl_->admin_port(); }

}  // namespace layerseal::agent
