// A registry that misbehaves on purpose, for integration tests of the registry client and the
// verifier (issue 7): a small HTTP/1.1 server on loopback (raw sockets, one thread per
// connection, optional TLS with OpenSSL) that serves the images it was given correctly by
// default, and lets a test script any path with a handler that writes raw bytes, sleeps or
// never finishes. Every request it received is recorded (method, target, headers).
//
// Thread-safety: every public method may be called from any thread while the server runs;
// handlers run on connection threads, several at once. Handlers must return once
// HostileConnection::Write/Sleep report false (the client left or the server is stopping).
// Ownership: the server owns its sockets and threads; the destructor stops and joins them.
// Bounds: a request's head is read up to kMaxRequestHeadBytes and its body up to
// kMaxRequestBodyBytes (larger ones are answered 413 and dropped); at most kMaxConnections
// connections are served at once (the rest are closed unanswered).
#ifndef LAYERSEAL_TESTS_SUPPORT_HOSTILE_REGISTRY_H_
#define LAYERSEAL_TESTS_SUPPORT_HOSTILE_REGISTRY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/images.h"

namespace layerseal::testing {

inline constexpr size_t kMaxRequestHeadBytes = 64 * 1024;
inline constexpr size_t kMaxRequestBodyBytes = 1 << 20;
inline constexpr size_t kMaxConnections = 64;

struct HostileRequest {
  std::string method;
  std::string target;  // path and query, as sent
  std::string path;    // target without the query
  std::map<std::string, std::string> headers;  // lower-case names; the last value wins
  std::string body;
  std::string Header(const std::string& lower_name) const;
};

// The client's connection, for a handler to write to (plain or TLS alike).
class HostileConnection {
 public:
  virtual ~HostileConnection() = default;
  // Writes all of `bytes`; false when the peer closed or the server is stopping.
  virtual bool Write(std::string_view bytes) = 0;
  // Sleeps `d`; false (early) when the server is stopping.
  virtual bool Sleep(absl::Duration d) = 0;
  // A complete response with Content-Length (omitted for HEAD bodies, which are not sent).
  bool Respond(int status, const std::vector<std::string>& headers, std::string_view body,
               bool head = false);
};

using HostileHandler = std::function<void(const HostileRequest&, HostileConnection&)>;

struct HostileOptions {
  // With both set, the server speaks TLS with this certificate chain and key (PEM files).
  std::string cert_file;
  std::string key_file;
  std::string bind_address = "127.0.0.1";  // any 127/8 address works on Linux
};

class HostileRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<HostileRegistry>> Start(HostileOptions options = {});
  ~HostileRegistry();
  HostileRegistry(const HostileRegistry&) = delete;
  HostileRegistry& operator=(const HostileRegistry&) = delete;

  int port() const { return port_; }
  // "address:port", for references and URLs.
  std::string host() const;

  // Serves `image` (its manifest, blobs and index children) under `repository`, its manifest
  // also under `tag` when non-empty.
  void AddImage(const std::string& repository, const std::string& tag, const TestImage& image);
  // Serves `bytes` as blob `digest` of `repository` (e.g. one a client pushed).
  void AddBlob(const std::string& repository, const std::string& digest, std::string bytes);
  // Scripts every request whose path (without query) equals `path`, replacing the default.
  void Handle(const std::string& path, HostileHandler handler);
  // Scripts every request no Handle() path matches (e.g. an authentication check that then
  // calls ServeDefault); null restores the default.
  void HandleOthers(HostileHandler handler);
  // What the server does unscripted: /v2/ is 200, manifests (by tag or digest) with their media
  // type as Content-Type, blobs by digest, anything else 404. Handlers may call it.
  void ServeDefault(const HostileRequest& request, HostileConnection& conn);

  std::vector<HostileRequest> requests() const;
  // Requests whose path equals `path`.
  size_t Count(const std::string& path) const;

 private:
  struct Stored {
    std::string media_type;  // empty for blobs
    std::string bytes;
  };
  explicit HostileRegistry(HostileOptions options) : options_(std::move(options)) {}
  absl::Status Listen();
  void AcceptLoop();
  void Serve(int fd);

  HostileOptions options_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*, null for plain HTTP
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> active_{0};
  std::thread acceptor_;

  mutable std::mutex mu_;
  std::vector<std::thread> workers_;                // guarded by mu_
  std::map<std::string, HostileHandler> handlers_;  // guarded by mu_
  HostileHandler others_;                           // guarded by mu_
  std::map<std::string, Stored> content_;           // "/v2/<repo>/manifests|blobs/<id>"
  std::vector<HostileRequest> seen_;                // guarded by mu_
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_HOSTILE_REGISTRY_H_
