// The admin HTTP endpoint of the agent and the controller: GET /metrics (Prometheus
// text 0.0.4), GET /healthz (liveness: the process answers), GET /readyz (readiness from the
// caller's check), plus the caller's own GET routes (the controller's web page and its JSON,
// controller/web.h). Everything else is 404. Served by Debian's cpp-httplib, which stays out
// of this header: routes see only HttpRequest and HttpResponse.
//
// Meant for loopback or a pod network, never the internet. Every request, on every route:
//  - must name an allowed Host (AdminHttpHostAllowed): an IP literal, localhost or one of
//    options.allowed_hosts; others get 421, so a web page that rebinds its own DNS name to
//    this address (DNS rebinding) cannot read anything. HTTP/1.1 without Host gets 400.
//  - must not carry a body (413): every route is a GET.
//  - must arrive whole (request line and headers, and the TLS handshake with options.tls)
//    within kAdminHttpRequestDeadlineSeconds, and be answered within
//    kAdminHttpResponseDeadlineSeconds more; a watchdog shuts the connection down otherwise.
//    One request per connection (no keep-alive), so a connection lives at most that long.
//  - one peer address holds at most options.max_connections_per_peer connections at once
//    (served or waiting for a worker), and at most kAdminHttpMaxQueuedConnections wait;
//    more are closed unanswered at accept. So a few slow clients cannot hold every worker
//    thread, and a flood cannot pile up sockets.
// With options.tls the server speaks only HTTPS, asks for a client certificate signed by
// tls->client_ca_file (none or a bad one: the handshake fails), and options.tls->authorize
// decides per request from the certificate (not OK: 403).
// Probes that must never starve belong on a server of their own (the controller runs its
// web page on a second AdminHttpServer with builtin_routes = false).
//
// Thread-safety: Start and the destructor from one thread; port() from any. The `ready`
// callback, the routes' handlers and MetricsRegistry::RenderText run on the server's
// threads, concurrently (up to options.threads at once); so does tls->authorize.
// Ownership: the server does not own the registry; it must outlive the server. The
// destructor stops accepting, closes queued connections unanswered, lets in-flight
// requests finish (within the deadlines above) and joins every thread.
#ifndef LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_
#define LAYERSEAL_TELEMETRY_ADMIN_HTTP_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "telemetry/metrics.h"

namespace layerseal::telemetry {

// Worker threads: scrapes and probes are rare and cheap; a slow client holds one at most
// for the deadlines below, and one peer at most kAdminHttpMaxConnectionsPerPeer of them.
// A peer's count drops when its connection is closed, a moment after the client has its
// answer: 3 rather than 2 leaves a sequential client (kubelet, Prometheus) room for that.
inline constexpr int kAdminHttpThreads = 6;
inline constexpr int kAdminHttpMaxConnectionsPerPeer = 3;
inline constexpr int kAdminHttpMaxThreads = 64;
// Admitted connections waiting for a worker; more are closed unanswered.
inline constexpr size_t kAdminHttpMaxQueuedConnections = 64;
// From accept (waiting for a free worker counts) to the end of the request's headers (and
// TLS handshake), then to the end of the answer.
inline constexpr int kAdminHttpRequestDeadlineSeconds = 10;
inline constexpr int kAdminHttpResponseDeadlineSeconds = 30;
// options.allowed_hosts: at most this many names.
inline constexpr size_t kAdminHttpMaxAllowedHosts = 64;
inline constexpr int kAdminHttpReadTimeoutSeconds = 5;
inline constexpr int kAdminHttpWriteTimeoutSeconds = 5;
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

// HTTPS with client certificates (PEM files, read at Start).
struct AdminHttpTls {
  std::string cert_file;       // the server's certificate chain
  std::string key_file;        // its private key
  std::string client_ca_file;  // the CA a client certificate must chain to
  // Called per request with the verified client certificate (PEM); not OK answers 403 with
  // the status's message. Runs on the server's threads. nullptr: any verified client.
  std::function<absl::Status(const std::string& client_cert_pem)> authorize;
};

// True when `host` (a Host header's value, port allowed: "127.0.0.1:7080", "[::1]",
// "localhost:80") is an IPv4 or [IPv6] literal, "localhost" or, ignoring case, one of
// `allowed` (names without a port). Pure.
bool AdminHttpHostAllowed(const std::string& host, const std::vector<std::string>& allowed);

struct AdminHttpOptions {
  std::string bind_address = "127.0.0.1";
  int port = 0;  // 0 = an ephemeral port, see AdminHttpServer::port()
  const MetricsRegistry* metrics = nullptr;  // nullptr: /metrics serves an empty body
  std::function<absl::Status()> ready;       // nullptr: always ready
  // More GET routes; a path that is malformed, repeated or one of the built-in ones
  // (/metrics, /healthz, /readyz) makes Start fail with INVALID_ARGUMENT naming it.
  std::vector<HttpRoute> routes;
  // false: serve only `routes` (no /metrics /healthz /readyz).
  bool builtin_routes = true;
  // DNS names clients may use in Host besides IP literals and localhost (e.g. a Service
  // name); each a name without port, at most kAdminHttpMaxAllowedHosts of them.
  std::vector<std::string> allowed_hosts;
  int threads = kAdminHttpThreads;  // 1..kAdminHttpMaxThreads
  int max_connections_per_peer = kAdminHttpMaxConnectionsPerPeer;  // 1..threads
  std::optional<AdminHttpTls> tls;  // unset: plain HTTP
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
