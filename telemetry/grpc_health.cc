#include "telemetry/grpc_health.h"

#include <unistd.h>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "verifier/str_cat.h"

namespace layerseal::telemetry {

using grpc::health::v1::HealthCheckResponse;

void HealthService::SetStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  serving_[service] = serving;
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const grpc::health::v1::HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::MutexLock lock(&mu_);
  auto it = serving_.find(request->service());
  if (it == serving_.end()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 StrCat("unknown service \"", request->service(), "\"")));
    return reactor;
  }
  response->set_status(it->second ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& path,
                                                                 HealthService* service) {
  unlink(path.c_str());
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(StrCat("unix:", path), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound == 0) {
    return absl::UnavailableError(StrCat("cannot listen on unix:", path));
  }
  return server;
}

}  // namespace layerseal::telemetry
