#include "telemetry/admin_http.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <utility>

#include <httplib.h>

namespace layerseal::telemetry {
namespace {

std::string HostPort(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// cpp-httplib's default sets SO_REUSEPORT, which would let a second process bind the same
// port and silently share (or steal) the scrapes. SO_REUSEADDR only allows a quick restart
// over TIME_WAIT connections; CLOEXEC keeps the socket out of child processes.
void SetSocketOptions(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  fcntl(sock, F_SETFD, FD_CLOEXEC);
}

constexpr const char* kBuiltinPaths[] = {"/metrics", "/healthz", "/readyz"};

// cpp-httplib takes a route's path as a regular expression; only characters that mean
// themselves in one are allowed, so a path matches exactly itself.
absl::Status CheckRoutePath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.size() > kAdminHttpMaxRoutePathBytes) {
    return absl::InvalidArgumentError("admin http: route path \"" + path.substr(0, 200) +
                                      "\" must start with '/' and be at most " +
                                      std::to_string(kAdminHttpMaxRoutePathBytes) + " bytes");
  }
  for (char c : path) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '-' || c == '_';
    if (!ok) {
      return absl::InvalidArgumentError("admin http: route path \"" + path +
                                        "\" may hold only letters, digits, '/', '-' and '_'");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRoutes(const std::vector<HttpRoute>& routes) {
  if (routes.size() > kAdminHttpMaxRoutes) {
    return absl::InvalidArgumentError("admin http: " + std::to_string(routes.size()) +
                                      " routes, at most " + std::to_string(kAdminHttpMaxRoutes));
  }
  std::set<std::string> seen(std::begin(kBuiltinPaths), std::end(kBuiltinPaths));
  for (const HttpRoute& route : routes) {
    if (absl::Status s = CheckRoutePath(route.path); !s.ok()) return s;
    if (!route.handler) {
      return absl::InvalidArgumentError("admin http: route " + route.path + " has no handler");
    }
    if (!seen.insert(route.path).second) {
      return absl::InvalidArgumentError("admin http: route " + route.path +
                                        " is served twice (or is built in)");
    }
  }
  return absl::OkStatus();
}

void Serve(const HttpRoute& route, const httplib::Request& req, httplib::Response& res) {
  HttpRequest request;
  request.path = req.path;
  // httplib keeps parameters in a multimap (sorted by name, in order within one name).
  for (const auto& [name, value] : req.params) request.query.emplace_back(name, value);
  HttpResponse response = route.handler(request);
  res.status = response.status;
  res.set_header("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : response.headers) res.set_header(name, value);
  res.set_content(response.body, response.content_type);
}

}  // namespace

size_t HttpRequest::Count(const std::string& name) const {
  size_t n = 0;
  for (const auto& [key, value] : query) n += key == name ? 1 : 0;
  return n;
}

std::string HttpRequest::Param(const std::string& name) const {
  std::string out;
  for (const auto& [key, value] : query) {
    if (key == name) out = value;
  }
  return out;
}

struct AdminHttpServer::Impl {
  explicit Impl(AdminHttpOptions o) : options(std::move(o)) {}

  void Configure();
  void ServeMetrics(httplib::Response& res) const;
  void ServeReady(httplib::Response& res) const;

  const AdminHttpOptions options;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
};

void AdminHttpServer::Impl::Configure() {
  server.new_task_queue = [] { return new httplib::ThreadPool(kAdminHttpThreads); };
  server.set_socket_options(SetSocketOptions);
  server.set_read_timeout(kAdminHttpReadTimeoutSeconds, 0);
  server.set_write_timeout(kAdminHttpWriteTimeoutSeconds, 0);
  server.set_keep_alive_timeout(kAdminHttpKeepAliveSeconds);
  server.set_keep_alive_max_count(kAdminHttpKeepAliveMaxRequests);
  server.set_payload_max_length(kAdminHttpMaxPayloadBytes);

  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    ServeMetrics(res);
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    ServeReady(res);
  });
  for (const HttpRoute& route : options.routes) {
    const HttpRoute* r = &route;  // options (and so the route) live as long as the server
    server.Get(route.path, [r](const httplib::Request& req, httplib::Response& res) {
      Serve(*r, req, res);
    });
  }
  // cpp-httplib answers errors (404, 413, ...) with an empty body; say what happened. The
  // handler also sees our own 503, whose body is kept.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content(res.status == 404 ? "not found\n" : "error " + std::to_string(res.status) + "\n",
                    "text/plain; charset=utf-8");
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content("internal error\n", "text/plain; charset=utf-8");
      });
}

void AdminHttpServer::Impl::ServeMetrics(httplib::Response& res) const {
  std::string body = options.metrics != nullptr ? options.metrics->RenderText() : "";
  res.set_content(std::move(body), kMetricsContentType);
}

void AdminHttpServer::Impl::ServeReady(httplib::Response& res) const {
  absl::Status status = options.ready ? options.ready() : absl::OkStatus();
  if (status.ok()) {
    res.set_content("ready\n", "text/plain; charset=utf-8");
    return;
  }
  res.status = 503;
  std::string message(status.message().data(), status.message().size());
  if (message.empty()) message = "not ready";
  res.set_content(message + "\n", "text/plain; charset=utf-8");
}

absl::StatusOr<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(AdminHttpOptions options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError("admin http: port " + std::to_string(options.port) +
                                      " is not in 0..65535");
  }
  if (absl::Status s = CheckRoutes(options.routes); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->Configure();
  const std::string& host = impl->options.bind_address;

  // Bind (and listen) here, so errors are returned and connections queue from now on.
  errno = 0;
  int port = impl->options.port;
  bool bound = port == 0 ? (port = impl->server.bind_to_any_port(host)) > 0
                         : impl->server.bind_to_port(host, port);
  if (!bound) {
    int err = errno;
    return absl::UnavailableError(
        "admin http: cannot listen on " + HostPort(host, impl->options.port) + ": " +
        (err != 0 ? std::strerror(err) : "address not available or in use"));
  }

  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    p->server.listen_after_bind();
    p->listen_returned.store(true);
  });
  // stop() is a no-op until the accept loop has started, so wait for it (a thread start,
  // microseconds); otherwise a server destroyed right after Start would never stop.
  while (!impl->server.is_running() && !impl->listen_returned.load()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (!impl->server.is_running()) {  // the accept loop ended at once
    impl->thread.join();
    return absl::InternalError("admin http: accept loop on " + HostPort(host, port) +
                               " ended at once");
  }
  return std::unique_ptr<AdminHttpServer>(new AdminHttpServer(std::move(impl), port));
}

AdminHttpServer::AdminHttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

AdminHttpServer::~AdminHttpServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace layerseal::telemetry
