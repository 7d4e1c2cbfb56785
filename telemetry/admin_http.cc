#include "telemetry/admin_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <httplib.h>

// cpp-httplib runs a connection in the private virtual Server::process_and_close_socket and
// has no hook that sees the socket before the request is parsed, which a whole-request
// deadline and a per-peer limit need. So an outer Server (no routes) accepts and overrides
// that function, and hands each admitted socket to an inner Server (or SSLServer) that holds
// the routes, calling the inner one's process_and_close_socket through a member pointer. An
// explicit instantiation may name private members ([temp.spec.general]/6); these two
// pointers are the only use of it.
namespace layerseal_httplib_access {
template <typename Tag, typename Tag::type kMember>
struct Expose {
  friend typename Tag::type Exposed(Tag) { return kMember; }
};
struct ProcessSocket {
  using type = bool (httplib::Server::*)(socket_t);
  friend type Exposed(ProcessSocket);
};
struct ListenSocket {
  using type = std::atomic<socket_t> httplib::Server::*;
  friend type Exposed(ListenSocket);
};
template struct Expose<ProcessSocket, &httplib::Server::process_and_close_socket>;
template struct Expose<ListenSocket, &httplib::Server::svr_sock_>;
}  // namespace layerseal_httplib_access

namespace layerseal::telemetry {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kTextPlain[] = "text/plain; charset=utf-8";
constexpr size_t kMaxHostEcho = 100;  // bytes of a refused Host named in the answer

// The connections being served: how many per peer address, and each one's deadline. A
// watchdog thread shuts a connection's socket down when its deadline passes, which ends
// whatever read or write holds its worker thread. Thread-safe.
class ConnectionGuard {
 public:
  explicit ConnectionGuard(int max_per_peer) : max_per_peer_(max_per_peer) {
    watchdog_ = std::thread([this] { Watch(); });
  }
  ~ConnectionGuard() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    watchdog_.join();
  }

  // A connection's id, or 0 if its peer already holds max_per_peer connections. The guard
  // keeps a dup() of `sock` until Release, so the number it shuts down is never reused.
  uint64_t Admit(socket_t sock) {
    std::string peer = PeerOf(sock);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = per_peer_.find(peer);
    if (it != per_peer_.end() && it->second >= max_per_peer_) return 0;
    int copy = fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return 0;  // out of descriptors: refuse rather than serve unguarded
    ++per_peer_[peer];
    uint64_t id = ++last_id_;
    conns_[id] = Conn{copy, Clock::now() + std::chrono::seconds(kAdminHttpRequestDeadlineSeconds),
                      std::move(peer)};
    return id;
  }

  // The request has arrived: it now has until the response deadline.
  void RequestComplete(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    it->second.deadline = Clock::now() + std::chrono::seconds(kAdminHttpResponseDeadlineSeconds);
  }

  void Release(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    close(it->second.fd);
    if (--per_peer_[it->second.peer] <= 0) per_peer_.erase(it->second.peer);
    conns_.erase(it);
  }

 private:
  struct Conn {
    int fd;
    Clock::time_point deadline;
    std::string peer;
  };

  static std::string PeerOf(socket_t sock) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
    char text[INET6_ADDRSTRLEN] = {};
    const void* ip = addr.ss_family == AF_INET6
                         ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr)
                         : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&addr)->sin_addr);
    if (inet_ntop(addr.ss_family, ip, text, sizeof(text)) == nullptr) return "?";
    return text;
  }

  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      wake_.wait_for(lock, std::chrono::milliseconds(100));
      Clock::time_point now = Clock::now();
      for (auto& [id, conn] : conns_) {
        if (conn.deadline <= now) {
          shutdown(conn.fd, SHUT_RDWR);  // ends the worker's read or write
          conn.deadline = Clock::time_point::max();
        }
      }
    }
  }

  const int max_per_peer_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  uint64_t last_id_ = 0;
  std::map<uint64_t, Conn> conns_;
  std::map<std::string, int> per_peer_;
  std::thread watchdog_;
};

// The connection the calling worker thread serves, for the inner server's handlers.
thread_local ConnectionGuard* tl_guard = nullptr;
thread_local uint64_t tl_conn = 0;

// cpp-httplib's accept loop gives each accepted connection to its TaskQueue right after
// accept(). This queue runs it there and then, on the accept thread, where OuterServer
// admits it (a map look-up, never blocking) and queues it for a WorkerPool, or closes it.
class InlineQueue : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

// `threads` workers; at most kAdminHttpMaxQueuedConnections jobs wait for one. Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  // False (and `job` dropped) when the queue is full.
  bool TrySubmit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_ || jobs_.size() >= kAdminHttpMaxQueuedConnections) return false;
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
  }

  // Runs what is queued, then joins the workers. Idempotent.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [this] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  bool done_ = false;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
};

void CloseUnanswered(socket_t sock) {
  shutdown(sock, SHUT_RDWR);
  close(sock);
}

// Accepts; admits each connection on the accept thread (ConnectionGuard: per-peer limit,
// deadline from now on) and queues it for a worker, which hands it to `inner`.
class OuterServer : public httplib::Server {
 public:
  OuterServer(httplib::Server* inner, ConnectionGuard* guard, int threads)
      : inner_(inner), guard_(guard), pool_(threads) {
    new_task_queue = [] { return new InlineQueue; };
  }
  // After stop(): connections still queued are closed unanswered; joins the workers.
  void StopWorkers() {
    stopping_.store(true);
    pool_.Stop();
  }

 private:
  bool process_and_close_socket(socket_t sock) override {  // on the accept thread
    uint64_t id = stopping_.load() ? 0 : guard_->Admit(sock);
    if (id != 0 && pool_.TrySubmit([this, sock, id] { Serve(sock, id); })) return true;
    if (id != 0) guard_->Release(id);
    CloseUnanswered(sock);  // over the per-peer limit or the queue's, or stopping
    return false;
  }

  void Serve(socket_t sock, uint64_t id) {  // on a worker
    if (stopping_.load()) {
      CloseUnanswered(sock);
    } else {
      tl_guard = guard_;
      tl_conn = id;
      (inner_->*Exposed(layerseal_httplib_access::ProcessSocket{}))(sock);  // closes sock
      tl_guard = nullptr;
      tl_conn = 0;
    }
    guard_->Release(id);
  }

  httplib::Server* const inner_;
  ConnectionGuard* const guard_;
  std::atomic<bool> stopping_{false};
  WorkerPool pool_;  // last: destroyed (joined) first
};

bool IsPortSuffix(const std::string& s) {  // ":" and 1..5 digits
  if (s.size() < 2 || s.size() > 6 || s[0] != ':') return false;
  return std::all_of(s.begin() + 1, s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

absl::Status CheckAllowedHosts(const std::vector<std::string>& hosts) {
  if (hosts.size() > kAdminHttpMaxAllowedHosts) {
    return absl::InvalidArgumentError("admin http: more than " +
                                      std::to_string(kAdminHttpMaxAllowedHosts) + " allowed hosts");
  }
  for (const std::string& h : hosts) {
    bool ok = !h.empty() && h.size() <= 253 && std::all_of(h.begin(), h.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    });
    if (!ok) {
      return absl::InvalidArgumentError("admin http: allowed host \"" + h.substr(0, 200) +
                                        "\" must be a DNS name without port");
    }
  }
  return absl::OkStatus();
}

// The client certificate of a TLS request as PEM ("" when none).
std::string PeerCertificatePem(const httplib::Request& req) {
  if (req.ssl == nullptr) return "";
  X509* cert = SSL_get1_peer_certificate(req.ssl);
  if (cert == nullptr) return "";
  std::string pem;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (PEM_write_bio_X509(bio, cert) == 1) {
      char* data = nullptr;
      long n = BIO_get_mem_data(bio, &data);
      if (n > 0) pem.assign(data, static_cast<size_t>(n));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return pem;
}

void Refuse(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(message + "\n", kTextPlain);
}

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

bool AdminHttpHostAllowed(const std::string& host, const std::vector<std::string>& allowed) {
  if (!host.empty() && host[0] == '[') {
    size_t end = host.find(']');
    if (end == std::string::npos) return false;
    std::string rest = host.substr(end + 1);
    in6_addr v6{};
    return (rest.empty() || IsPortSuffix(rest)) &&
           inet_pton(AF_INET6, host.substr(1, end - 1).c_str(), &v6) == 1;
  }
  std::string name = host;
  if (size_t colon = name.find(':'); colon != std::string::npos) {
    if (!IsPortSuffix(name.substr(colon))) return false;
    name.resize(colon);
  }
  if (name.empty()) return false;
  in_addr v4{};
  if (inet_pton(AF_INET, name.c_str(), &v4) == 1) return true;
  name = Lower(name);
  if (name == "localhost") return true;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& a) { return Lower(a) == name; });
}

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

  absl::Status Create();  // the inner and outer servers, configured
  void Configure();
  httplib::Server::HandlerResponse Screen(const httplib::Request& req, httplib::Response& res);
  void ServeMetrics(httplib::Response& res) const;
  void ServeReady(httplib::Response& res) const;

  const AdminHttpOptions options;
  std::unique_ptr<ConnectionGuard> guard;
  std::unique_ptr<httplib::Server> inner;  // routes; Server or SSLServer
  std::unique_ptr<OuterServer> server;     // accepts; see OuterServer
  std::thread thread;
  std::atomic<bool> listen_returned{false};
};

absl::Status AdminHttpServer::Impl::Create() {
  if (options.tls) {
    const AdminHttpTls& tls = *options.tls;
    auto ssl = std::make_unique<httplib::SSLServer>(
        tls.cert_file.c_str(), tls.key_file.c_str(), tls.client_ca_file.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError("admin http: cannot load the TLS files " + tls.cert_file +
                                        ", " + tls.key_file + ", " + tls.client_ca_file);
    }
    SSL_CTX_set_min_proto_version(ssl->ssl_context(), TLS1_2_VERSION);
    inner = std::move(ssl);
  } else {
    inner = std::make_unique<httplib::Server>();
  }
  guard = std::make_unique<ConnectionGuard>(options.max_connections_per_peer);
  server = std::make_unique<OuterServer>(inner.get(), guard.get(), options.threads);
  Configure();
  return absl::OkStatus();
}

void AdminHttpServer::Impl::Configure() {
  server->set_socket_options(SetSocketOptions);
  for (httplib::Server* s : {static_cast<httplib::Server*>(server.get()), inner.get()}) {
    s->set_read_timeout(kAdminHttpReadTimeoutSeconds, 0);
    s->set_write_timeout(kAdminHttpWriteTimeoutSeconds, 0);
  }
  inner->set_keep_alive_max_count(1);  // one request per connection, so the deadlines bound it
  inner->set_payload_max_length(kAdminHttpMaxPayloadBytes);
  inner->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return Screen(req, res); });

  if (options.builtin_routes) {
    inner->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      ServeMetrics(res);
    });
    inner->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", kTextPlain);
    });
    inner->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      ServeReady(res);
    });
  }
  for (const HttpRoute& route : options.routes) {
    const HttpRoute* r = &route;  // options (and so the route) live as long as the server
    inner->Get(route.path, [r](const httplib::Request& req, httplib::Response& res) {
      Serve(*r, req, res);
    });
  }
  // cpp-httplib answers errors (404, 413, ...) with an empty body; say what happened. The
  // handler also sees our own 503, 4xx, whose body is kept.
  inner->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content(res.status == 404 ? "not found\n" : "error " + std::to_string(res.status) + "\n",
                    kTextPlain);
  });
  inner->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content("internal error\n", kTextPlain);
      });
}

// Before any route: the request is complete (no body allowed), names an allowed Host and,
// with TLS, comes from an authorized client.
httplib::Server::HandlerResponse AdminHttpServer::Impl::Screen(const httplib::Request& req,
                                                              httplib::Response& res) {
  using R = httplib::Server::HandlerResponse;
  if (tl_guard != nullptr) tl_guard->RequestComplete(tl_conn);
  if (!req.has_header("Host")) {
    if (req.version == "HTTP/1.0") return R::Unhandled;  // no Host in 1.0; no browser sends it
    Refuse(res, 400, "bad request: no Host header");
    return R::Handled;
  }
  std::string host = req.get_header_value("Host");
  if (!AdminHttpHostAllowed(host, options.allowed_hosts)) {
    Refuse(res, 421, "misdirected request: host \"" + host.substr(0, kMaxHostEcho) +
                         "\" is not served here (see allowed hosts)");
    return R::Handled;
  }
  if (req.has_header("Transfer-Encoding") ||
      (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0")) {
    Refuse(res, 413, "payload too large: requests carry no body");
    return R::Handled;
  }
  if (options.tls && options.tls->authorize) {
    absl::Status allowed = options.tls->authorize(PeerCertificatePem(req));
    if (!allowed.ok()) {
      Refuse(res, 403, "forbidden: " + std::string(allowed.message().data(), allowed.message().size()));
      return R::Handled;
    }
  }
  return R::Unhandled;
}

void AdminHttpServer::Impl::ServeMetrics(httplib::Response& res) const {
  std::string body = options.metrics != nullptr ? options.metrics->RenderText() : "";
  res.set_content(std::move(body), kMetricsContentType);
}

void AdminHttpServer::Impl::ServeReady(httplib::Response& res) const {
  absl::Status status = options.ready ? options.ready() : absl::OkStatus();
  if (status.ok()) {
    res.set_content("ready\n", kTextPlain);
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
  if (absl::Status s = CheckAllowedHosts(options.allowed_hosts); !s.ok()) return s;
  if (options.threads < 1 || options.threads > kAdminHttpMaxThreads ||
      options.max_connections_per_peer < 1 || options.max_connections_per_peer > options.threads) {
    return absl::InvalidArgumentError("admin http: threads must be 1.." +
                                      std::to_string(kAdminHttpMaxThreads) +
                                      " and max_connections_per_peer 1..threads");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Create(); !s.ok()) return s;
  const std::string& host = impl->options.bind_address;

  // Bind (and listen) here, so errors are returned and connections queue from now on.
  errno = 0;
  int port = impl->options.port;
  bool bound = port == 0 ? (port = impl->server->bind_to_any_port(host)) > 0
                         : impl->server->bind_to_port(host, port);
  if (!bound) {
    int err = errno;
    return absl::UnavailableError(
        "admin http: cannot listen on " + HostPort(host, impl->options.port) + ": " +
        (err != 0 ? std::strerror(err) : "address not available or in use"));
  }

  // The inner server never listens; its request loop runs while its listening socket is
  // valid, so it gets the outer one's.
  auto listen_socket = Exposed(layerseal_httplib_access::ListenSocket{});
  ((*impl->inner).*listen_socket).store(((*impl->server).*listen_socket).load());
  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    p->server->listen_after_bind();
    p->listen_returned.store(true);
  });
  // stop() is a no-op until the accept loop has started, so wait for it (a thread start,
  // microseconds); otherwise a server destroyed right after Start would never stop.
  while (!impl->server->is_running() && !impl->listen_returned.load()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (!impl->server->is_running()) {  // the accept loop ended at once
    impl->thread.join();
    return absl::InternalError("admin http: accept loop on " + HostPort(host, port) +
                               " ended at once");
  }
  return std::unique_ptr<AdminHttpServer>(new AdminHttpServer(std::move(impl), port));
}

AdminHttpServer::AdminHttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

AdminHttpServer::~AdminHttpServer() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->server->StopWorkers();
}

}  // namespace layerseal::telemetry
