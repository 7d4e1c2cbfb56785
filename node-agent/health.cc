#include "node-agent/health.h"

#include "grpc/health/v1/health.pb.h"
#include "plugin/message_bytes.h"
#include "base/str_cat.h"

namespace layerseal::agent {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthInterceptor::SetStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  serving_[service] = serving;
}

bool HealthInterceptor::Intercepts(std::string_view method) const {
  return method == kHealthCheck || method == kHealthWatch ||
         (next_ != nullptr && next_->Intercepts(method));
}

// Answers at once (no I/O), so it may run on the proxy's polling thread.
void HealthInterceptor::OnRequest(plugin::InterceptedCall call) {
  if (call.method() == kHealthWatch) {
    return call.Fail(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                  "layerseal-agent: grpc.health.v1 Watch is not served; use Check"));
  }
  if (call.method() != kHealthCheck) return next_->OnRequest(std::move(call));
  HealthCheckRequest request;
  if (!plugin::ParseMessage(call.request(), &request)) {
    return call.Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "layerseal-agent: not a grpc.health.v1.HealthCheckRequest"));
  }
  HealthCheckResponse response;
  {
    absl::MutexLock lock(&mu_);
    auto it = serving_.find(request.service());
    if (it == serving_.end()) {
      return call.Fail(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    StrCat("unknown service \"", request.service(), "\"")));
    }
    response.set_status(it->second ? HealthCheckResponse::SERVING
                                   : HealthCheckResponse::NOT_SERVING);
  }
  call.Reply(plugin::SerializeMessage(response));
}

}  // namespace layerseal::agent
