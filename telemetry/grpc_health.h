// grpc.health.v1.Health (Check) on a gRPC server of its own: "" is the process itself,
// other names are parts of it (e.g. the runtime connection). Watch answers UNIMPLEMENTED
// (probes and grpc_health_probe use Check).
// Thread-safety: SetStatus and the served calls may run concurrently.
#ifndef LAYERSEAL_TELEMETRY_GRPC_HEALTH_H_
#define LAYERSEAL_TELEMETRY_GRPC_HEALTH_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace layerseal::telemetry {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  void SetStatus(const std::string& service, bool serving);

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;

 private:
  absl::Mutex mu_;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
};

// A server answering only `service` on unix socket `path` (a stale socket file is replaced).
// `service` is borrowed and must outlive the server.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& path,
                                                                 HealthService* service);

}  // namespace layerseal::telemetry

#endif  // LAYERSEAL_TELEMETRY_GRPC_HEALTH_H_
