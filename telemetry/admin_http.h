// The admin HTTP endpoint of the agent (and later the controller): GET /metrics (Prometheus
// text 0.0.4), GET /healthz (liveness: the process answers), GET /readyz (readiness from the
// caller's check). Everything else is 404. Served by Debian's cpp-httplib.
//
// Meant for loopback or a pod network, never the internet: no TLS, no auth, small limits
// (kAdminHttp* below) so a misbehaving scraper cannot take more than a few threads.
//
// Thread-safety: Start and the destructor from one thread; port() from any. The `ready`
// callback and MetricsRegistry::RenderText run on the server's threads, concurrently.
// Ownership: the server does not own the registry; it must outlive the server. The
// destructor stops accepting, finishes in-flight requests and joins every thread.
#ifndef LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_
#define LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "telemetry/metrics.h"

namespace layerseal::telemetry {

// Worker threads: scrapes and probes are rare and cheap; a slow client holds one at most
// for the timeouts below.
inline constexpr int kAdminHttpThreads = 3;
inline constexpr int kAdminHttpReadTimeoutSeconds = 5;
inline constexpr int kAdminHttpWriteTimeoutSeconds = 5;
inline constexpr int kAdminHttpKeepAliveSeconds = 5;
inline constexpr size_t kAdminHttpKeepAliveMaxRequests = 100;
// Every route is a GET without a body; anything larger is refused with 413.
inline constexpr size_t kAdminHttpMaxPayloadBytes = 64 * 1024;
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct AdminHttpOptions {
  std::string bind_address = "127.0.0.1";
  int port = 0;  // 0 = an ephemeral port, see AdminHttpServer::port()
  const MetricsRegistry* metrics = nullptr;  // nullptr: /metrics serves an empty body
  std::function<absl::Status()> ready;       // nullptr: always ready
};

class AdminHttpServer {
 public:
  // Returns once the socket is listening (connections queue from then on), or an error
  // naming the address if it cannot bind (e.g. the port is in use).
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(AdminHttpOptions options);

  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;
  ~AdminHttpServer();

  // The bound port (the ephemeral one if options.port was 0).
  int port() const { return port_; }

 private:
  struct Impl;
  AdminHttpServer(std::unique_ptr<Impl> impl, int port);

  std::unique_ptr<Impl> impl_;
  const int port_;
};

}  // namespace layerseal::telemetry

#endif  // LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_
