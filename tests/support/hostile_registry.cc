#include "tests/support/hostile_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/time/clock.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

// Socket reads and writes wake up this often to notice that the server is stopping.
constexpr int kPollMillis = 50;
// A client that sends no complete request in this long is dropped.
constexpr absl::Duration kRequestReadTimeout = absl::Seconds(30);

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(0, 1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) s.pop_back();
  return s;
}

const char* StatusText(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    default: return "Hostile";
  }
}

// One client connection: plain or TLS, reads and writes that give up when the server stops.
class Connection : public HostileConnection {
 public:
  Connection(int fd, SSL* ssl, const std::atomic<bool>* stopping)
      : fd_(fd), ssl_(ssl), stopping_(stopping) {}

  bool Write(std::string_view bytes) override {
    while (!bytes.empty()) {
      if (*stopping_) return false;
      if (!WaitFor(POLLOUT)) continue;  // a client that reads slowly is waited for
      long n = ssl_ != nullptr ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                               : send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (ssl_ == nullptr && (errno == EAGAIN || errno == EINTR)) continue;
        if (ssl_ != nullptr && SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_WANT_WRITE) {
          continue;
        }
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool Sleep(absl::Duration d) override {
    absl::Time until = absl::Now() + d;
    while (absl::Now() < until) {
      if (*stopping_) return false;
      absl::SleepFor(std::min(absl::Milliseconds(kPollMillis), until - absl::Now()));
    }
    return !*stopping_;
  }

  // Up to `max` bytes; 0 on end of stream, -1 on error or stop, -2 when nothing came yet.
  long Read(char* buf, size_t max) {
    if (*stopping_) return -1;
    if ((ssl_ == nullptr || SSL_pending(ssl_) == 0) && !WaitFor(POLLIN)) return -2;
    if (ssl_ != nullptr) {
      int n = SSL_read(ssl_, buf, static_cast<int>(max));
      if (n > 0) return n;
      int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_READ) return -2;
      return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    ssize_t n = recv(fd_, buf, max, 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? -2 : -1;
    return n;
  }

 private:
  bool WaitFor(short events) {
    pollfd p{fd_, events, 0};
    int rc = poll(&p, 1, kPollMillis);
    return rc > 0;  // readiness, an error or a hang-up; the next call reports which
  }

  int fd_;
  SSL* ssl_;
  const std::atomic<bool>* stopping_;
};

// Reads one request; false when the client sent none, or one over the caps (then answered 413).
bool ReadRequest(Connection& conn, HostileRequest* req) {
  std::string data;
  char buf[8192];
  absl::Time deadline = absl::Now() + kRequestReadTimeout;
  size_t end;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    if (data.size() > kMaxRequestHeadBytes || absl::Now() > deadline) return false;
    long n = conn.Read(buf, sizeof buf);
    if (n == -2) continue;
    if (n <= 0) return false;
    data.append(buf, static_cast<size_t>(n));
  }
  std::string head = data.substr(0, end);
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  req->method = request_line.substr(0, sp1);
  req->target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  req->path = req->target.substr(0, req->target.find('?'));
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    req->headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  size_t want = std::strtoul(req->Header("content-length").c_str(), nullptr, 10);
  if (want > kMaxRequestBodyBytes) {
    conn.Respond(413, {}, "request body over the test server's cap\n");
    return false;
  }
  req->body = data.substr(end + 4);
  while (req->body.size() < want) {
    if (absl::Now() > deadline) return false;
    long n = conn.Read(buf, sizeof buf);
    if (n == -2) continue;
    if (n <= 0) return false;
    req->body.append(buf, static_cast<size_t>(n));
  }
  req->body.resize(want);
  return true;
}

// "/v2/<repo>/manifests/<id>" or "/v2/<repo>/blobs/<id>": the key of content_.
std::string ContentKey(const std::string& repository, const char* kind, const std::string& id) {
  return StrCat("/v2/", repository, "/", kind, "/", id);
}

}  // namespace

std::string HostileRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

bool HostileConnection::Respond(int status, const std::vector<std::string>& headers,
                                std::string_view body, bool head) {
  std::string out = StrCat("HTTP/1.1 ", status, " ", StatusText(status), "\r\nConnection: close\r\n");
  for (const std::string& h : headers) out += StrCat(h, "\r\n");
  out += StrCat("Content-Length: ", body.size(), "\r\n\r\n");
  if (!head) out.append(body);
  return Write(out);
}

absl::StatusOr<std::unique_ptr<HostileRegistry>> HostileRegistry::Start(HostileOptions options) {
  std::unique_ptr<HostileRegistry> server(new HostileRegistry(std::move(options)));
  if (absl::Status s = server->Listen(); !s.ok()) return s;
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

absl::Status HostileRegistry::Listen() {
  if (!options_.cert_file.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr ||
        SSL_CTX_use_certificate_chain_file(ctx, options_.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ctx != nullptr) SSL_CTX_free(ctx);
      return absl::InvalidArgumentError(StrCat("hostile registry: cannot load ",
                                               options_.cert_file, " / ", options_.key_file));
    }
    ssl_ctx_ = ctx;
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, options_.bind_address.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(StrCat("hostile registry: bad address ",
                                             options_.bind_address));
  }
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::UnavailableError(StrCat("hostile registry: cannot listen on ",
                                         options_.bind_address, ": ", std::strerror(errno)));
  }
  port_ = ntohs(addr.sin_port);
  return absl::OkStatus();
}

HostileRegistry::~HostileRegistry() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::string HostileRegistry::host() const { return StrCat(options_.bind_address, ":", port_); }

void HostileRegistry::AddImage(const std::string& repository, const std::string& tag,
                               const TestImage& image) {
  std::lock_guard<std::mutex> lock(mu_);
  Stored manifest{image.media_type, image.manifest};
  content_[ContentKey(repository, "manifests", image.digest.str())] = manifest;
  if (!tag.empty()) content_[ContentKey(repository, "manifests", tag)] = manifest;
  for (const auto& [digest, child] : image.children) {
    content_[ContentKey(repository, "manifests", digest)] = Stored{child.media_type, child.bytes};
  }
  for (const auto& [digest, bytes] : image.blobs) {
    content_[ContentKey(repository, "blobs", digest)] = Stored{"", bytes};
  }
}

void HostileRegistry::AddBlob(const std::string& repository, const std::string& digest,
                              std::string bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  content_[ContentKey(repository, "blobs", digest)] = Stored{"", std::move(bytes)};
}

void HostileRegistry::Handle(const std::string& path, HostileHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_[path] = std::move(handler);
}

void HostileRegistry::HandleOthers(HostileHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  others_ = std::move(handler);
}

void HostileRegistry::ServeDefault(const HostileRequest& request, HostileConnection& conn) {
  bool head = request.method == "HEAD";
  if (request.path == "/v2/" || request.path == "/v2") {
    conn.Respond(200, {"Content-Type: application/json"}, "{}", head);
    return;
  }
  Stored found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = content_.find(request.path);
    if (it == content_.end()) {
      conn.Respond(404, {"Content-Type: application/json"},
                   R"({"errors":[{"code":"NOT_FOUND","message":"hostile registry has no such path"}]})",
                   head);
      return;
    }
    found = it->second;
  }
  std::vector<std::string> headers = {
      StrCat("Content-Type: ", found.media_type.empty() ? "application/octet-stream"
                                                        : found.media_type),
      StrCat("Docker-Content-Digest: ", Digest::Sha256Of(found.bytes).str())};
  conn.Respond(200, headers, found.bytes, head);
}

std::vector<HostileRequest> HostileRegistry::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

size_t HostileRegistry::Count(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const HostileRequest& r : seen_) n += r.path == path ? 1 : 0;
  return n;
}

void HostileRegistry::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMillis) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    if (active_ >= kMaxConnections) {
      close(fd);
      continue;
    }
    ++active_;
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back([this, fd] {
      Serve(fd);
      close(fd);
      --active_;
    });
  }
}

void HostileRegistry::Serve(int fd) {
  SSL* ssl = nullptr;
  if (ssl_ctx_ != nullptr) {
    ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(ssl, fd);
    // Non-blocking handshake: retried until done, refused, or the server stops.
    absl::Time deadline = absl::Now() + kRequestReadTimeout;
    while (true) {
      int rc = SSL_accept(ssl);
      if (rc == 1) break;
      int e = SSL_get_error(ssl, rc);
      if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || stopping_ ||
          absl::Now() > deadline) {
        SSL_free(ssl);
        ERR_clear_error();
        return;
      }
      pollfd p{fd, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      poll(&p, 1, kPollMillis);
    }
  }
  Connection conn(fd, ssl, &stopping_);
  HostileRequest request;
  if (ReadRequest(conn, &request)) {
    HostileHandler handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(request);
      auto it = handlers_.find(request.path);
      handler = it != handlers_.end() ? it->second : others_;
    }
    if (handler) {
      handler(request, conn);
    } else {
      ServeDefault(request, conn);
    }
  }
  if (ssl != nullptr) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
  } else {
    shutdown(fd, SHUT_WR);
  }
}

}  // namespace layerseal::testing
