#include "node-agent/agent.h"

#include <sys/stat.h>

#include <functional>
#include <filesystem>

#include <grpcpp/channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "base/host_port.h"
#include "node-agent/call_metrics.h"
#include "node-agent/containerd_content.h"
#include "node-agent/containerd_images.h"
#include "node-agent/health.h"
#include "node-agent/integrity_state.h"
#include "node-agent/judge.h"
#include "node-agent/policy_lifecycle.h"
#include "node-agent/policy_set.h"
#include "node-agent/pull_check.h"
#include "node-agent/trusted_bases.h"
#include "node-agent/scrub.h"
#include "node-agent/sweep.h"
#include "node-agent/verdict_cache.h"
#include "node-agent/verdict_events.h"
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

}  // namespace

class Agent::Impl final {
 public:
  Impl(AgentConfig config, AgentHooks hooks) : config_(std::move(config)), hooks_(std::move(hooks)) {
    if (hooks_.logger == nullptr) {
      own_logger_ = std::make_unique<telemetry::Logger>("agent");
      hooks_.logger = own_logger_.get();
    }
    if (absl::StatusOr<telemetry::Level> level = telemetry::ParseLevel(config_.log_level); level.ok()) {
      hooks_.logger->set_min_level(*level);
    }
    metrics_.AddGaugeCallback("layerseal_runtime_connected",
                              "1 when the connection to the runtime is ready.",
                              [this] { return RuntimeReady() ? 1.0 : 0.0; });
  }

  ~Impl() {
    if (policy_) policy_->StopWatching();  // its hooks touch health_ and sweeper_
    sweeper_.reset();  // its judgements and events use the judge and events_
    admin_.reset();
    scrubber_.reset();  // stops a background scrub: it reports to events_, marks integrity_
    proxy_.reset();  // no calls left before the interceptors and the judge go
    health_.reset();
    gates_.reset();
    events_.reset();  // no verdicts left to spool: stop sending, then close the spool
  }

  absl::Status Start() {
    telemetry::Logger& log = *hooks_.logger;
    if (absl::Status s = MakeDir(config_.state_dir); !s.ok()) return s;
    if (absl::Status s = MakeDir(fs::path(config_.listen).parent_path().string()); !s.ok()) return s;
    policy_ = std::make_unique<PolicyLifecycle>(PolicyLifecycleOptions{
        .policy = config_.policy,
        .namespace_policy_dir = config_.namespace_policy_dir,
        .state_dir = config_.state_dir,
        .check_interval = config_.policy_check_interval,
        .logger = hooks_.logger,
        .metrics = &metrics_,
        .on_files_in_force = [this] {
          if (health_) health_->SetStatus(kPolicyHealthService, true);
          if (bases_) bases_->Wake();  // new trusted bases to resolve
          if (sweeper_) sweeper_->PolicyChanged();  // a sweep when the trust changed
        },
        .on_tick = [this] {
          UpdateHealth();
          if (bases_) bases_->Wake();  // failed resolutions past their retry time
        }});

    cache_ = std::make_unique<VerdictCache>(config_.cache);
    cache_->AddMetrics(metrics_);
    if (absl::Status s = cache_->Load(); !s.ok()) {
      log.Warn("verdicts will not survive a restart", {{"error", std::string(Sv(s.message()))}});
    }
    if (cache_->skipped_lines() > 0) {
      log.Warn("skipped damaged lines in the remembered verdicts",
               {{"path", config_.VerdictsPath()}, {"lines", cache_->skipped_lines()}});
    }
    absl::StatusOr<std::shared_ptr<const registry::CredentialStore>> creds = NodeCredentials(config_);
    if (!creds.ok()) return creds.status();

    JudgeOptions jo{.policies = policy_->policies(), .cache = cache_.get()};
    jo.registry.ca_file = config_.ca_file;
    jo.registry.timeout = config_.registry_timeout;
    jo.registry.total_timeout = config_.verify_timeout;  // one client per verification
    jo.registry.credentials = *creds;
    jo.registry.user_agent = StrCat("layerseal-agent/", kAgentVersion);
    jo.plain_http_registries = config_.plain_http_registries;
    jo.registry_hosts_dir = config_.registry_hosts_dir;
    jo.platform = config_.platform;
    judge_ = std::make_unique<CachingJudge>(std::move(jo));
    guard_ = policy_->GuardJudge(judge_.get());

    absl::StatusOr<std::unique_ptr<VerdictEvents>> events = VerdictEvents::Start(
        {.node = config_.node_name,
         .agent_version = std::string(kAgentVersion),
         .event_log = config_.EventLogPath(),
         .reporter = hooks_.reporter,
         .controller = config_.controller,
         .controller_ca = config_.controller_ca,
         .controller_cert = config_.controller_cert,
         .controller_key = config_.controller_key,
         .controller_server_name = config_.controller_server_name,
         .spool_dir = config_.SpoolDir(),
         .spool_max_bytes = config_.spool_max_bytes,
         .policy_version = [this] { return policy_->version(); },
         .logger = hooks_.logger,
         .metrics = &metrics_});
    if (!events.ok()) return events.status();
    events_ = *std::move(events);

    upstream_ = plugin::CreateUpstreamChannel(config_.runtime_endpoint);
    // Issue 18: the integrity scrub (on demand through the admin endpoint; sweeps call it).
    absl::StatusOr<std::unique_ptr<Scrubber>> scrubber =
        Scrubber::Create({.runtime = upstream_,
                          .platform = config_.platform,
                          .bytes_per_second = config_.scrub_bytes_per_second,
                          .state = &integrity_,
                          .events = events_.get(),
                          .logger = hooks_.logger,
                          .metrics = &metrics_});
    if (!scrubber.ok()) return scrubber.status();
    scrubber_ = *std::move(scrubber);
    recorder_ = std::make_unique<ContainerdImageRecorder>(upstream_, hooks_.logger,
                                                          AddRuntimeTagsMetric(metrics_));
    StartIntegrity();
    gates_ = std::make_unique<plugin::ImageGates>(
        plugin::ImageGatesOptions{.judge = guard_.get(),
                                  .events = events_.get(),
                                  .upstream = upstream_,
                                  .recorder = recorder_.get(),
                                  .integrity = pull_check_.get(),
                                  .workers = config_.workers,
                                  .v1alpha2 = config_.v1alpha2,
                                  .after_pull_verdict = hooks_.after_pull_verdict});
    sweeper_ = std::make_unique<Sweeper>(
        SweepOptions{.runtime = upstream_,
                     .judge = guard_.get(),
                     .policies = policy_->policies(),
                     .integrity = &integrity_,
                     // The gates' integrity judgement from memory (rules results under the
                     // fingerprint of the bases as resolved, corruption marks); an image whose
                     // rules were never judged keeps its signature verdict here.
                     .integrity_check =
                         [this](const plugin::JudgeRequest& request, const Verdict& admitted) {
                           std::optional<plugin::IntegrityResult> known =
                               pull_check_->TryKnown(request, admitted);
                           return known ? known->verdict : admitted;
                         },
                     .events = events_.get(),
                     .logger = hooks_.logger,
                     .metrics = &metrics_,
                     .interval = config_.sweep_interval,
                     .stop_grace_period = config_.sweep_stop_grace_period,
                     .concurrency = config_.sweep_concurrency,
                     .verifications_per_second =
                         static_cast<double>(config_.sweep_verifications_per_second),
                     // The integrity scrub during sweeps (issue 18): after a periodic sweep
                     // once scrub.interval has passed since the last automatic scrub began,
                     // in the background on the scrubber's thread (a full scrub takes
                     // minutes; a policy sweep must not wait behind it). Its corruption marks
                     // are read by the next sweep. Runs on the sweep's thread only.
                     .after_sweep =
                         [this](const SweepResult& r) {
                           if (r.trigger != SweepTrigger::kPeriodic || !r.status.ok() ||
                               config_.scrub_interval == absl::ZeroDuration()) {
                             return;
                           }
                           absl::Time now = absl::Now();
                           if (last_auto_scrub_ != absl::InfinitePast() &&
                               now - last_auto_scrub_ < config_.scrub_interval) {
                             return;
                           }
                           if (scrubber_->Start().has_value()) last_auto_scrub_ = now;
                         }});
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
         .observer = &call_metrics_});
    if (!proxy.ok()) return proxy.status();
    proxy_ = *std::move(proxy);
    if (chmod(config_.listen.c_str(), static_cast<mode_t>(config_.listen_mode)) != 0) {
      return absl::UnavailableError(StrCat("cannot chmod ", config_.listen));
    }
    if (!config_.health_socket.empty() && chmod(config_.health_socket.c_str(), kHealthSocketMode) != 0) {
      return absl::UnavailableError(StrCat("cannot chmod ", config_.health_socket));
    }
    if (absl::Status s = StartAdmin(); !s.ok()) return s;
    sweeper_->Start();
    policy_->StartWatching();
    log.Info("layerseal-agent started",
             {{"listen", config_.listen}, {"runtime", config_.runtime_endpoint},
              {"node", config_.node_name}, {"policy_version", policy_->version()},
              {"policy_origin", PolicyOriginName(policy_->origin())},
              {"admin_port", admin_port()}, {"remembered_verdicts", cache_->size()},
              {"controller", config_.controller},
              {"spool_backlog", events_->spool_backlog()}});
    return absl::OkStatus();
  }

  absl::Status ReloadPolicies() { return policy_->Reload(); }

  int admin_port() const { return admin_ ? admin_->port() : 0; }

  telemetry::MetricsRegistry metrics_;
  // Issue 18: what the pull check and the scrub learned of images' content; the judge reads it.
  IntegrityState integrity_;
  std::unique_ptr<Scrubber> scrubber_;  // after events_ is made; destroyed before it
  // When the last automatic scrub began (after_sweep, on the sweep's thread only).
  absl::Time last_auto_scrub_ = absl::InfinitePast();
  std::unique_ptr<CachingJudge> judge_;

 private:
  // The image-integrity rules (issue 18): results by image and rules, trusted bases by
  // reference (resolved through the registry as the judge reads it, node credentials),
  // content from containerd's store on the runtime socket.
  void StartIntegrity() {
    content_ = std::make_unique<ContainerdContent>(upstream_);
    PolicySet* policies = policy_->policies();
    bases_ = std::make_unique<TrustedBaseResolver>(TrustedBaseResolverOptions{
        .source_for = [this](const Reference& ref) { return judge_->OpenSource(ref, std::nullopt); },
        .platform = config_.platform,
        .policies = [policies] {
          std::vector<std::shared_ptr<const Policy>> all = policies->NamespacePolicies();
          all.push_back(policies->node());
          return all;
        },
        .logger = hooks_.logger,
        .metrics = &metrics_});
    bases_->Wake();
    pull_check_ = std::make_unique<PullCheck>(PullCheckOptions{
        .policies = policies,
        .state = &integrity_,
        .bases = bases_.get(),
        .content = content_.get(),
        .source_for = [this](const Reference& ref,
                             const std::optional<registry::Credentials>& credentials) {
          return judge_->OpenSource(ref, credentials);
        },
        .platform = config_.platform,
        .scrub_on_pull = config_.scrub_on_pull,
        .logger = hooks_.logger,
        .metrics = &metrics_});
  }

  bool RuntimeReady() const {
    return upstream_ && upstream_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
  }

  void UpdateHealth() {
    health_->SetStatus("", true);
    health_->SetStatus(kRuntimeHealthService, RuntimeReady());
    health_->SetStatus(kPolicyHealthService, policy_->origin() == PolicyOrigin::kFiles);
  }

  absl::Status StartAdmin() {
    if (config_.admin_address.empty()) return absl::OkStatus();
    absl::StatusOr<HostPort> hp = SplitHostPort(config_.admin_address);
    if (!hp.ok()) return absl::InvalidArgumentError(StrCat("admin: ", Sv(hp.status().message())));
    absl::StatusOr<std::unique_ptr<telemetry::AdminHttpServer>> admin =
        telemetry::AdminHttpServer::Start({.bind_address = hp->host,
                                           .port = hp->port,
                                           .metrics = &metrics_,
                                           .ready = [this]() -> absl::Status {
                                             if (RuntimeReady()) return absl::OkStatus();
                                             return absl::UnavailableError(
                                                 "the runtime is not reachable");
                                           },
                                           .routes = {ScrubAdminRoute(scrubber_.get())},
                                           .allowed_hosts = config_.admin_allowed_hosts});
    if (!admin.ok()) return admin.status();
    admin_ = *std::move(admin);
    return absl::OkStatus();
  }

  AgentConfig config_;
  AgentHooks hooks_;
  std::unique_ptr<telemetry::Logger> own_logger_;
  CallMetrics call_metrics_{metrics_};

  std::unique_ptr<PolicyLifecycle> policy_;
  std::unique_ptr<plugin::ImageJudge> guard_;  // in front of judge_
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<VerdictEvents> events_;
  std::shared_ptr<grpc::Channel> upstream_;
  std::unique_ptr<ContainerdImageRecorder> recorder_;  // before gates_: they borrow it
  // The image-integrity rules (StartIntegrity), before gates_: they borrow pull_check_.
  std::unique_ptr<ContainerdContent> content_;
  std::unique_ptr<TrustedBaseResolver> bases_;
  std::unique_ptr<PullCheck> pull_check_;
  std::unique_ptr<plugin::ImageGates> gates_;
  std::unique_ptr<Sweeper> sweeper_;  // borrows guard_, events_, policy_, pull_check_, scrubber_
  std::unique_ptr<plugin::CriProxy> proxy_;
  std::unique_ptr<HealthInterceptor> health_;
  std::unique_ptr<telemetry::AdminHttpServer> admin_;
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
Scrubber& Agent::scrubber() { return *impl_->scrubber_; }
const IntegrityState& Agent::integrity() const { return impl_->integrity_; }

}  // namespace layerseal::agent
