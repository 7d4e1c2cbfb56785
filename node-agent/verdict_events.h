// The fan-out of every gate decision (a plugin::VerdictEvent): counted in the metrics,
// written to the agent's log (a denial as a warning, also when warn mode admits it; audit
// mode stays quiet), appended to the event log (and handed on to the reporter behind it),
// and kept in the durable spool for the controller, whose sender it wakes. Without a
// controller there is neither spool nor sender.
// Defines and updates its metrics (docs/agent.md): layerseal_verdicts_total,
// layerseal_namespace_verdicts_total (decisions with a pod, by its namespace),
// layerseal_verdict_cache_total, layerseal_verification_seconds, and for the delivery
// layerseal_agent_spool_events, layerseal_agent_spool_bytes, layerseal_agent_events_lost_total,
// layerseal_agent_spool_sync_seconds, layerseal_agent_controller_batches_total, and for
// package inventories (issue 18) layerseal_agent_packages_attachments_total{result}.
//
// Thread-safety: Report may be called concurrently from any number of threads (the gates'
// workers); the accessors too.
// Ownership: owns the event log, the spool and the sender (the destructor stops the sender
// before it closes the spool); borrows the logger, the metrics registry and the reporter,
// which must outlive it. No Report may be in progress when it is destroyed.
#ifndef LAYERSEAL_NODE_AGENT_VERDICT_EVENTS_H_
#define LAYERSEAL_NODE_AGENT_VERDICT_EVENTS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "node-agent/event_log.h"
#include "node-agent/event_sender.h"
#include "node-agent/spool.h"
#include "plugin/image_judge.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::agent {

struct VerdictEventsOptions {
  std::string node;           // the node's name, in every event
  std::string agent_version;  // in every spooled event and batch
  std::string event_log;      // the event log's path; "" : no file
  plugin::EventSink* reporter = nullptr;  // receives every event after the event log; may be null

  // Delivery to the controller; controller "" : none (no spool, no sender).
  std::string controller;              // host:port
  std::string controller_ca;           // "" : the system's roots
  std::string controller_cert;         // client certificate; its common name must be `node`
  std::string controller_key;
  std::string controller_server_name;  // "" : the host of `controller`
  std::string spool_dir;
  uint64_t spool_max_bytes = kDefaultSpoolMaxBytes;
  std::function<std::string()> policy_version;  // the node policy's version, for heartbeats

  telemetry::Logger* logger = nullptr;            // required
  telemetry::MetricsRegistry* metrics = nullptr;  // required
};

class VerdictEvents final : public plugin::EventSink {
 public:
  // Defines the metrics, opens the event log and, with a controller, checks its credentials,
  // opens the spool (logging each damaged record it cut off) and starts the sender.
  static absl::StatusOr<std::unique_ptr<VerdictEvents>> Start(VerdictEventsOptions options);
  ~VerdictEvents() override;

  // Counts, logs, writes the event log (and the reporter behind it), then spools. A spool
  // that cannot keep the event counts it as lost (and logs once per bad spell); the verdict
  // is not affected.
  void Report(const plugin::VerdictEvent& event) override;

  // Events in the spool not yet acknowledged; 0 without a controller.
  uint64_t spool_backlog() const;

 private:
  explicit VerdictEvents(VerdictEventsOptions options);
  void DefineMetrics();
  absl::Status StartDelivery();
  void Spool(const plugin::VerdictEvent& event);

  const VerdictEventsOptions options_;
  telemetry::Logger& log_;
  telemetry::Family<telemetry::Counter>* verdicts_ = nullptr;
  telemetry::Family<telemetry::Counter>* namespace_verdicts_ = nullptr;
  telemetry::Family<telemetry::Counter>* cache_lookups_ = nullptr;
  telemetry::Family<telemetry::Histogram>* verify_seconds_ = nullptr;
  telemetry::Family<telemetry::Counter>* events_lost_ = nullptr;
  telemetry::Family<telemetry::Counter>* controller_batches_ = nullptr;
  telemetry::Family<telemetry::Histogram>* spool_sync_seconds_ = nullptr;
  telemetry::Family<telemetry::Counter>* packages_attachments_ = nullptr;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<EventSpool> spool_;     // set by Start only
  std::unique_ptr<EventSender> sender_;   // set by Start only; borrows spool_
  std::atomic<bool> spool_failing_{false};
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_VERDICT_EVENTS_H_
