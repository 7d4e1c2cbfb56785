// A small Kubernetes API client for the controller (issue 19): Pod Events and PolicyReports.
// Written over libcurl and nlohmann-json, the libraries the project already has; no
// client-go, no code generation. It speaks JSON to the REST paths the caller names.
//
// Where the server and credentials come from (ResolveClientConfig):
//   - in a Pod: the ServiceAccount's token and CA under kServiceAccountDir and the
//     KUBERNETES_SERVICE_HOST/PORT environment (InClusterConfig); the token file is re-read
//     when it changes, since projected tokens rotate;
//   - outside: a kubeconfig file (KUBECONFIG, or the controller's kubernetes.kubeconfig):
//     current-context (or a named one), its cluster (server, certificate-authority[-data],
//     insecure-skip-tls-verify) and user (token, tokenFile, client-certificate[-data],
//     client-key[-data]). exec and auth-provider users are refused by name: the controller
//     runs no plugins.
//
// Errors: a transport failure (connect, TLS, timeout) is UNAVAILABLE or DEADLINE_EXCEEDED
// naming the server; an HTTP answer of any status is returned as a Response, and
// StatusFromResponse turns a non-2xx one into a Status carrying the API's own message.
//
// Thread-safety: ApiTransport::Do and Client are safe to call from many threads at once.
// Ownership: a Client owns its configuration; callers own the Client and pass ApiTransport*
// (borrowed) to the publishers, which must not outlive it.
#ifndef LAYERSEAL_CONTROLLER_KUBE_CLIENT_H_
#define LAYERSEAL_CONTROLLER_KUBE_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/backoff.h"

namespace layerseal::controller::kube {

// A response body larger than this is refused (RESOURCE_EXHAUSTED): the controller reads
// single objects (a Pod, an Event, one report), never lists.
inline constexpr size_t kMaxResponseBytes = 8 * 1024 * 1024;
// A request body larger than this is refused before sending (a report is bounded well below).
inline constexpr size_t kMaxRequestBytes = 4 * 1024 * 1024;
// Files the configuration names: kubeconfig, token, CA, client certificate and key.
inline constexpr size_t kMaxKubeconfigBytes = 1024 * 1024;
inline constexpr size_t kMaxTokenBytes = 64 * 1024;
inline constexpr size_t kMaxPemFileBytes = 1024 * 1024;
// One request, connect included; and the connect alone.
inline constexpr absl::Duration kRequestTimeout = absl::Seconds(15);
inline constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ClientConfig {
  std::string server;  // "https://host:port" (http:// only for tests on loopback)
  // The CA that signs the API server's certificate: a PEM file or PEM bytes; neither: the
  // system's roots.
  std::string ca_file;
  std::string ca_data;
  bool insecure_skip_tls_verify = false;  // kubeconfig's; the Client does not log: whoever
                                          // wires it in warns when this is set
  // Bearer token: a file re-read when its modification time changes, or fixed bytes.
  std::string token_file;
  std::string token;
  // Client certificate authentication (kubeconfig users): files or PEM bytes.
  std::string client_cert_file;
  std::string client_cert_data;
  std::string client_key_file;
  std::string client_key_data;
  // Where this came from, for logs: "in-cluster" or "kubeconfig /path (context name)".
  std::string source;
};

// The Pod's own: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (an IPv6 host is
// bracketed), `sa_dir`/token and `sa_dir`/ca.crt. FAILED_PRECONDITION when not in a Pod
// (the variables unset), naming what is missing.
absl::StatusOr<ClientConfig> InClusterConfig(const std::string& sa_dir = kServiceAccountDir);

// A kubeconfig file (YAML). `context` "": its current-context. Relative file paths in it are
// relative to the file's directory, as kubectl reads them. INVALID_ARGUMENT names the field
// (e.g. "users[0].user.exec: exec plugins are not supported").
absl::StatusOr<ClientConfig> LoadKubeconfig(const std::string& path, const std::string& context = "");

// LoadKubeconfig's parser, apart for tests and the fuzz target: `yaml` is the file's bytes
// (at most kMaxKubeconfigBytes), `dir` the directory relative paths are resolved against,
// `source_path` only names the file in `source` and messages. Unsupported settings that
// change who is trusted or who is claimed are refused by name rather than ignored: exec,
// auth-provider, username/password, impersonation (as, as-groups, as-uid, as-user-extra),
// tls-server-name, proxy-url; and certificate-authority together with
// certificate-authority-data, or either with insecure-skip-tls-verify. When a user has both
// token and tokenFile, the file wins (it is re-read), as client-go does.
absl::StatusOr<ClientConfig> ParseKubeconfig(std::string_view yaml, const std::string& dir,
                                             const std::string& context = "",
                                             const std::string& source_path = "kubeconfig");

// The controller's setting kubernetes.kubeconfig: "" → $KUBECONFIG when set (the first
// file of a ':' list), else in-cluster; "in-cluster" → InClusterConfig; anything else → a
// kubeconfig path.
absl::StatusOr<ClientConfig> ResolveClientConfig(const std::string& setting);

struct Response {
  long status = 0;  // the HTTP status
  std::string body;
  std::string retry_after;  // the Retry-After header, if any (429, 503)
};

// The seam the publishers use: one HTTP exchange with the API server. Client is the real one;
// unit tests of the publishers may put a recording fake here (a narrow seam).
class ApiTransport {
 public:
  virtual ~ApiTransport() = default;
  // `path` is absolute ("/api/v1/namespaces/ns/events"); `content_type` is sent when `body`
  // is non-empty (PATCH needs "application/merge-patch+json" or
  // "application/strategic-merge-patch+json").
  virtual absl::StatusOr<Response> Do(std::string_view method, std::string_view path,
                                      std::string_view body = {},
                                      std::string_view content_type = "application/json") = 0;
};

// TLS: with a CA (file or bytes) only that CA is trusted, not the system's roots too (as
// client-go). Client certificate and key files are handed to libcurl by path, so each new
// connection reads them again (rotated files are picked up); PEM bytes go in as
// CURLOPT_SSLCERT_BLOB / CURLOPT_SSLKEY_BLOB (no temp files). Connections, TLS sessions and
// DNS answers are shared between calls. Redirects are not followed; only http and https are
// spoken; the environment's https_proxy / no_proxy apply, as they do for client-go.
// A token file is stat()ed on every call and re-read when its modification time, size or
// inode changed; when a re-read fails the last good token is used (a rotation in progress),
// and with none the call fails UNAUTHENTICATED naming the file.
class Client final : public ApiTransport {
 public:
  // Checks the configuration (server URL well formed: https, or http on loopback only; no
  // user info, query or fragment; the files it names readable now; a client certificate
  // and its key both or neither); errors name the field.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientConfig config);
  ~Client() override;

  absl::StatusOr<Response> Do(std::string_view method, std::string_view path,
                              std::string_view body = {},
                              std::string_view content_type = "application/json") override;

  const ClientConfig& config() const;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct RetryOptions {
  int max_attempts = 5;
  BackoffOptions backoff{absl::Milliseconds(200), absl::Seconds(10), /*jitter=*/true};
  // No attempt starts after this much time since the first.
  absl::Duration deadline = absl::Seconds(60);
};

// `transport->Do` until it is not worth retrying: retried are transport errors (UNAVAILABLE,
// DEADLINE_EXCEEDED) and HTTP 429, 500, 502, 503 and 504 (a Retry-After of seconds is honoured,
// capped at the backoff's max). Returns the last Response or error. Waits on `cancel` (when
// given), so a stopping controller is never held by a retry loop: then CANCELLED.
absl::StatusOr<Response> DoWithRetry(ApiTransport& transport, std::string_view method,
                                     std::string_view path, std::string_view body = {},
                                     std::string_view content_type = "application/json",
                                     const RetryOptions& options = {},
                                     const absl::Notification* cancel = nullptr);

// OK for 2xx; otherwise a Status whose code follows the HTTP status (404 NOT_FOUND, 409
// ALREADY_EXISTS or ABORTED for a conflict, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 422
// INVALID_ARGUMENT, 429 RESOURCE_EXHAUSTED, 5xx UNAVAILABLE) and whose message is
// "`what`: HTTP n: <the API's Status message, or the body's first bytes>".
absl::Status StatusFromResponse(const Response& response, std::string_view what);

// Path segments and query values, percent-encoded for the API's URLs.
std::string EscapePathSegment(std::string_view segment);

}  // namespace layerseal::controller::kube

#endif  // LAYERSEAL_CONTROLLER_KUBE_CLIENT_H_
