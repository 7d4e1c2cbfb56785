#include "node-agent/call_metrics.h"

#include <string>

#include "absl/status/status.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

// gRPC's codes are absl's, number for number (as in cli/cri.cc).
std::string StatusCodeName(grpc::StatusCode code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? StrCat("CODE_", static_cast<int>(code)) : name;
}

}  // namespace

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
  calls_->WithLabels({m, StatusCodeName(code)}).Increment();
  call_seconds_->WithLabels({m}).Observe(absl::ToDoubleSeconds(elapsed));
}

}  // namespace layerseal::agent
