#include "telemetry/admin_http.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
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

}  // namespace

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
