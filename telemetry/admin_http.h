// The admin HTTP endpoint of the agent and the controller: GET /metrics (Prometheus
// text 0.0.4), GET /healthz (liveness: the process answers), GET /readyz (readiness from the
// caller's check), plus the caller's own GET routes (the controller's web page and its JSON,
// controller/web.h). Everything else is 404. Served by Debian's cpp-httplib, which stays out
// of this header: routes see only HttpRequest and HttpResponse.
//
// Meant for loopback or a pod network, never the internet: no TLS, no auth, small limits
// (kAdminHttp* below) so a misbehaving scraper cannot take more than a few threads.
//
// Thread-safety: Start and the destructor from one thread; port() from any. The `ready`
// callback, the routes' handlers and MetricsRegistry::RenderText run on the server's
// threads, concurrently (up to kAdminHttpThreads at once).
// Ownership: the server does not own the registry; it must outlive the server. The
// destructor stops accepting, finishes in-flight requests and joins every thread.
#ifndef LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_
#define LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

// Routes: at most this many, each path at most this long.
inline constexpr size_t kAdminHttpMaxRoutes = 32;
inline constexpr size_t kAdminHttpMaxRoutePathBytes = 128;

// A GET request as a route's handler sees it.
struct HttpRequest {
  std::string path;
  // The query parameters, decoded, in the order given (a name may repeat).
  std::vector<std::pair<std::string, std::string>> query;

  // How many times `name` is in the query, and its last value ("" when absent).
  size_t Count(const std::string& name) const;
  std::string Param(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers (e.g. Content-Security-Policy); every route's answer also carries
  // "X-Content-Type-Options: nosniff".
  std::vector<std::pair<std::string, std::string>> headers;
};

// GET `path` (matched exactly, no query: "/", "/api/events"; letters, digits, '/', '-',
// '_' only) answered by `handler`. A handler that throws answers 500.
struct HttpRoute {
  std::string path;
  std::function<HttpResponse(const HttpRequest&)> handler;
};

struct AdminHttpOptions {
  std::string bind_address = "127.0.0.1";
  int port = 0;  // 0 = an ephemeral port, see AdminHttpServer::port()
  const MetricsRegistry* metrics = nullptr;  // nullptr: /metrics serves an empty body
  std::function<absl::Status()> ready;       // nullptr: always ready
  // More GET routes; a path that is malformed, repeated or one of the built-in ones
  // (/metrics, /healthz, /readyz) makes Start fail with INVALID_ARGUMENT naming it.
  std::vector<HttpRoute> routes;
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
