#include "node-agent/verdict_events.h"

#include <utility>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "node-agent/event_record.h"
#include "verifier/verdict.h"

namespace layerseal::agent {

VerdictEvents::VerdictEvents(VerdictEventsOptions options)
    : options_(std::move(options)), log_(*options_.logger) {
  DefineMetrics();
}

VerdictEvents::~VerdictEvents() {
  sender_.reset();  // no verdicts left to spool: stop sending, then close the spool
  spool_.reset();
}

absl::StatusOr<std::unique_ptr<VerdictEvents>> VerdictEvents::Start(VerdictEventsOptions options) {
  std::unique_ptr<VerdictEvents> fanout(new VerdictEvents(std::move(options)));
  const VerdictEventsOptions& o = fanout->options_;
  absl::StatusOr<std::unique_ptr<EventLog>> events = EventLog::Open(o.node, o.event_log, o.reporter);
  if (!events.ok()) return events.status();
  fanout->events_ = *std::move(events);
  if (absl::Status s = fanout->StartDelivery(); !s.ok()) return s;
  return fanout;
}

void VerdictEvents::DefineMetrics() {
  telemetry::MetricsRegistry& m = *options_.metrics;
  verdicts_ = m.AddCounter("layerseal_verdicts_total",
                           "Gate decisions by gate, verdict, reason and mode.",
                           {"gate", "verdict", "reason", "mode"});
  // Apart from layerseal_verdicts_total, whose labels dashboards and tests already use: the
  // namespace is what an operator filters by (issue 19's dashboard), the mode is not.
  namespace_verdicts_ = m.AddCounter(
      "layerseal_namespace_verdicts_total",
      "Gate decisions about a pod's image by pod namespace, gate, verdict and reason "
      "(PullImage and CreateContainer, and sweeps' Revalidation findings; ImageStatus names "
      "no pod and is not counted here).",
      {"namespace", "gate", "verdict", "reason"});
  cache_lookups_ = m.AddCounter("layerseal_verdict_cache_total",
                                "Gate decisions answered from the verdict cache (hit) "
                                "or by a verification (miss).",
                                {"result"});
  verify_seconds_ = m.AddHistogram("layerseal_verification_seconds",
                                   "Time to verify an image (cache misses).",
                                   telemetry::ExponentialBuckets(0.001, 2, 15));
  m.AddGaugeCallback(
      "layerseal_agent_spool_events", "Events in the spool not yet acknowledged by the controller.",
      [this] { return spool_ ? static_cast<double>(spool_->stats().backlog) : 0; });
  m.AddGaugeCallback(
      "layerseal_agent_spool_bytes", "Bytes of the spool's segment files.",
      [this] { return spool_ ? static_cast<double>(spool_->stats().bytes) : 0; });
  events_lost_ = m.AddCounter("layerseal_agent_events_lost_total",
                              "Events the spool could not keep (full or failing).");
  controller_batches_ = m.AddCounter(
      "layerseal_agent_controller_batches_total",
      "ReportEvents calls to the controller by result (ok, error); heartbeats included.",
      {"result"});
  packages_attachments_ = m.AddCounter(
      "layerseal_agent_packages_attachments_total",
      "Package inventories (issue 18) handed to the spool for the controller by result: "
      "spooled (inside its event), omitted (larger than kMaxEventPackagesBytes: the event "
      "carries only its size), lost (the spool could not keep the event), refused (the "
      "controller stored the event but refused the inventory; the agent logs why).",
      {"result"});
  spool_sync_seconds_ = m.AddHistogram(
      "layerseal_agent_spool_sync_seconds", "Time of one group commit: write and fdatasync.",
      telemetry::ExponentialBuckets(0.00005, 2, 16));
}

// The controller's sender and the spool it reads; none without a controller.
absl::Status VerdictEvents::StartDelivery() {
  const VerdictEventsOptions& o = options_;
  if (o.controller.empty()) return absl::OkStatus();
  // Checked first: with another node's certificate nothing would ever be delivered.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      ControllerCredentials(o.controller_ca, o.controller_cert, o.controller_key, o.node);
  if (!creds.ok()) return creds.status();
  absl::StatusOr<std::unique_ptr<EventSpool>> spool = EventSpool::Open(
      {.dir = o.spool_dir,
       .max_bytes = o.spool_max_bytes,
       .node = o.node,
       .agent_version = o.agent_version,
       .on_sync = [this](absl::Duration d) {
         spool_sync_seconds_->Get().Observe(absl::ToDoubleSeconds(d));
       },
       .on_lost = [this](uint64_t n) {
         events_lost_->Get().Increment(static_cast<double>(n));
       }});
  if (!spool.ok()) return spool.status();
  spool_ = *std::move(spool);
  for (const std::string& cut : spool_->recovered_cuts()) {
    log_.Warn("cut a damaged record off the event spool", {{"cut", cut}});
  }
  absl::StatusOr<std::unique_ptr<EventSender>> sender = EventSender::Start(
      {.target = o.controller,
       .credentials = *creds,
       .tls_server_name = o.controller_server_name,
       .node = o.node,
       .agent_version = o.agent_version,
       .policy_version = o.policy_version,
       .spool = spool_.get(),
       .logger = &log_,
       .on_batch = [this](std::string_view result) {
         controller_batches_->WithLabels({std::string(result)}).Increment();
       },
       .on_packages_refused = [this](uint32_t refused) {
         packages_attachments_->WithLabels({"refused"}).Increment(refused);
       }});
  if (!sender.ok()) return sender.status();
  sender_ = *std::move(sender);
  return absl::OkStatus();
}

void VerdictEvents::Report(const plugin::VerdictEvent& e) {
  const Verdict& v = e.judgement.verdict;
  verdicts_->WithLabels({e.gate, std::string(DecisionName(v.decision)),
                         std::string(ReasonName(v.reason)), std::string(ModeName(v.mode))})
      .Increment();
  if (!e.pod.ns.empty()) {
    namespace_verdicts_
        ->WithLabels({e.pod.ns, e.gate, std::string(DecisionName(v.decision)),
                      std::string(ReasonName(v.reason))})
        .Increment();
  }
  cache_lookups_->WithLabels({e.judgement.cached ? "hit" : "miss"}).Increment();
  // A POLICY_UNAVAILABLE denial ran no verification.
  if (!e.judgement.cached && v.reason != Reason::kPolicyUnavailable) {
    verify_seconds_->Get().Observe(absl::ToDoubleSeconds(v.duration));
  }
  // A denial is a warning, also when warn mode lets it through; audit mode stays quiet.
  bool warn = !v.allowed() && (!e.admitted || v.mode == Mode::kWarn);
  telemetry::Level level = warn ? telemetry::Level::kWarn : telemetry::Level::kInfo;
  nlohmann::json line = EventJson(options_.node, e);  // built once: log and event log
  if (log_.enabled(level)) {
    log_.Log(level, e.admitted ? "image admitted" : "image denied", line);
  }
  events_->Record(e, line);
  if (spool_ != nullptr) Spool(e);
}

uint64_t VerdictEvents::spool_backlog() const { return spool_ ? spool_->stats().backlog : 0; }

// Keeps the event for the controller. A spool that cannot keep it counts it (and reports
// the count to the controller later); the verdict goes on regardless.
void VerdictEvents::Spool(const plugin::VerdictEvent& e) {
  v1::Event record = VerdictEventRecord(e, options_.node, 0, options_.agent_version);
  const bool has_packages = !e.packages_attachment.empty();
  if (record.packages_omitted_bytes() > 0) {
    packages_attachments_->WithLabels({"omitted"}).Increment();
    log_.Warn("package inventory too large for an event: not sent to the controller, which "
              "records only its size",
              {{"image", e.image},
               {"digest", record.verdict().digest()},
               {"bytes", record.packages_omitted_bytes()},
               {"limit", kMaxEventPackagesBytes}});
  }
  absl::StatusOr<uint64_t> seq = spool_->Append(std::move(record));
  if (has_packages && !(seq.ok() && e.packages_attachment.size() > kMaxEventPackagesBytes)) {
    packages_attachments_->WithLabels({seq.ok() ? "spooled" : "lost"}).Increment();
  }
  if (seq.ok()) {
    sender_->Wake();
    if (spool_failing_.exchange(false)) {
      log_.Info("the event spool keeps events again", {{"events_lost", spool_->stats().lost}});
    }
    return;
  }
  if (!spool_failing_.exchange(true)) {  // once per bad spell, not once per event
    log_.Error("the event spool cannot keep events; they are counted as lost",
               {{"error", std::string(Sv(seq.status().message()))}, {"spool", options_.spool_dir}});
  }
}

}  // namespace layerseal::agent
