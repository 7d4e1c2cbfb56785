// A thin libcurl wrapper: one HTTP exchange per call, no redirects followed (the caller
// decides, so that credentials never leak to another host), response bodies streamed into a
// sink with a size cap. Private to registry/.
// Thread-safety: Perform() may be called from many threads; each call owns its curl handle.
#ifndef LAYERSEAL_REGISTRY_INTERNAL_HTTP_H_
#define LAYERSEAL_REGISTRY_INTERNAL_HTTP_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace layerseal::registry::internal {

// Receives the body of a 2xx response. Write returns false to abort the transfer (the sink
// keeps its own error). Reset is called before a retried attempt.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual bool Write(std::string_view chunk) = 0;
  virtual void Reset() = 0;
};

// Collects the body into a string.
class StringSink : public BodySink {
 public:
  bool Write(std::string_view chunk) override {
    data.append(chunk);
    return true;
  }
  void Reset() override { data.clear(); }
  std::string data;
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // sent for POST/PUT/PATCH; must outlive the call
  BodySink* sink = nullptr;          // 2xx body goes here; null: discarded
  // Cap on a 2xx body: a larger Content-Length fails before reading, a longer stream is cut
  // off as soon as it passes the cap. 0 means no cap.
  size_t max_bytes = 0;
  // Large streamed transfers: no overall timeout, only the low-speed limit.
  bool streaming = false;
};

struct HttpResponse {
  std::string url;  // the URL this response came from
  long status = 0;
  // Lower-case names; the last value wins for repeated headers except www-authenticate, whose
  // values are joined into `challenges`.
  std::map<std::string, std::string> headers;
  std::vector<std::string> challenges;
  std::string error_body;  // body of a non-2xx response, at most kMaxErrorBodyBytes
  // Set by the client: the response came from another origin than the request's (after a
  // redirect), so it may not ask for the registry's credentials.
  bool foreign = false;

  std::string Header(const std::string& lower_name) const;
};

// Connections, TLS sessions and DNS answers shared by the requests of one client (a libcurl
// share handle), so consecutive requests to a registry reuse a kept-alive connection instead
// of a new TCP connection and TLS handshake each. Thread-safe: libcurl takes the locks this
// object provides. Must outlive every Perform() that uses it.
class ConnectionCache {
 public:
  ConnectionCache();
  ~ConnectionCache();
  ConnectionCache(const ConnectionCache&) = delete;
  ConnectionCache& operator=(const ConnectionCache&) = delete;
  void* share() const { return share_; }  // a CURLSH*

 private:
  void* share_;
};

struct TransportOptions {
  bool plain_http = false;
  std::string ca_file;
  std::string ca_pem;  // more trusted CAs, PEM text
  std::string client_cert_file;
  std::string client_key_file;
  bool skip_verify = false;
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(10);
  std::string user_agent;
  std::shared_ptr<ConnectionCache> connections;  // null: a fresh connection per request
};

// Initialises libcurl once per process.
void EnsureCurlInitialized();

// One exchange. Returns OK for any HTTP status; errors are transport failures:
// DeadlineExceeded (timeout), Unavailable (connect/TLS/reset; `*retryable` says whether a
// retry may help), ResourceExhausted (body over max_bytes), Internal (sink failed).
absl::Status Perform(const TransportOptions& options, const HttpRequest& request,
                     HttpResponse* response, bool* retryable);

// Resolves `location` (absolute or relative) against `base`.
absl::Status ResolveUrl(const std::string& base, const std::string& location, std::string* out);
// "scheme://host:port" with the default port made explicit, for same-origin checks.
absl::Status OriginOf(const std::string& url, std::string* origin);
// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view value);

}  // namespace layerseal::registry::internal

#endif  // LAYERSEAL_REGISTRY_INTERNAL_HTTP_H_
