#include "node-agent/call_metrics.h"

#include <string>

#include "base/status_code.h"

namespace layerseal::agent {

CallMetrics::CallMetrics(telemetry::MetricsRegistry& metrics)
    : calls_(metrics.AddCounter("layerseal_cri_calls_total",
                                "CRI calls through the agent by method and status code.",
                                {"method", "code"})),
      call_seconds_(metrics.AddHistogram("layerseal_cri_call_seconds",
                                         "CRI call latency through the agent by method.",
                                         telemetry::ExponentialBuckets(0.00005, 2, 20),
                                         {"method"})) {}

void CallMetrics::OnCallDone(std::string_view method, grpc::StatusCode code,
                             absl::Duration elapsed) {
  std::string m(method);
  calls_->WithLabels({m, StatusCodeName(static_cast<int>(code))}).Increment();
  call_seconds_->WithLabels({m}).Observe(absl::ToDoubleSeconds(elapsed));
}

}  // namespace layerseal::agent
