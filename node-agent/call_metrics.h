// The CRI calls through the agent, counted by method and status code and timed by method
// (the proxy's CallObserver). Defines its metrics (docs/agent.md):
// layerseal_cri_calls_total and layerseal_cri_call_seconds.
// Thread-safety: OnCallDone may be called concurrently from any thread. Ownership: borrows
// the metrics registry, which owns the families and must outlive this object.
#ifndef LAYERSEAL_NODE_AGENT_CALL_METRICS_H_
#define LAYERSEAL_NODE_AGENT_CALL_METRICS_H_

#include <string_view>

#include "absl/time/time.h"
#include "plugin/cri_proxy.h"
#include "telemetry/metrics.h"

namespace layerseal::agent {

class CallMetrics final : public plugin::CallObserver {
 public:
  explicit CallMetrics(telemetry::MetricsRegistry& metrics);

  void OnCallDone(std::string_view method, grpc::StatusCode code, absl::Duration elapsed) override;

 private:
  telemetry::Family<telemetry::Counter>* calls_;
  telemetry::Family<telemetry::Histogram>* call_seconds_;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_CALL_METRICS_H_
