#include "registry/internal/http.h"


#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "registry/client.h"
#include "base/file.h"
#include "base/ascii.h"
#include "base/str_cat.h"

namespace layerseal::registry::internal {
namespace {

// State shared by the libcurl callbacks of one transfer.
struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  size_t received = 0;
  bool too_large = false;
  bool sink_failed = false;
  bool error_body_cut = false;  // a long error body was abandoned on purpose
};

bool IsSuccess(long status) { return status >= 200 && status < 300; }


std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                        s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// "HTTP/1.1 200 OK" -> 200; 0 when unparseable.
long ParseStatusLine(std::string_view line) {
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return 0;
  return std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
}

// True when the headers just completed announce a 2xx body over the cap.
bool AnnouncesTooLarge(const Transfer& t) {
  if (t.request->max_bytes == 0 || !IsSuccess(t.response->status)) return false;
  std::string length = t.response->Header("content-length");
  if (length.empty()) return false;
  char* end = nullptr;
  unsigned long long n = std::strtoull(length.c_str(), &end, 10);
  return end != nullptr && *end == '\0' && n > t.request->max_bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t total = size * count;
  std::string_view line = Trim(std::string_view(data, total));
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (e.g. after "100 Continue"): forget the previous one's headers.
    t->response->headers.clear();
    t->response->challenges.clear();
    t->response->status = ParseStatusLine(line);
  } else if (line.empty()) {
    if (AnnouncesTooLarge(*t)) {
      t->too_large = true;
      return 0;  // aborts before any body byte is read
    }
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = AsciiLower(Trim(line.substr(0, colon)));
    std::string value(Trim(line.substr(colon + 1)));
    if (name == "www-authenticate") t->response->challenges.push_back(value);
    t->response->headers[name] = std::move(value);
  }
  return total;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t total = size * count;
  std::string_view chunk(data, total);
  if (!IsSuccess(t->response->status)) {
    // Error bodies are only for messages: keep a bounded prefix and stop reading there.
    std::string& body = t->response->error_body;
    size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, body.size());
    body.append(chunk.substr(0, room));
    if (chunk.size() <= room) return total;
    t->error_body_cut = true;
    return 0;
  }
  t->received += total;
  if (t->request->max_bytes != 0 && t->received > t->request->max_bytes) {
    t->too_large = true;
    return 0;
  }
  if (t->request->sink != nullptr && !t->request->sink->Write(chunk)) {
    t->sink_failed = true;
    return 0;
  }
  return total;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

bool HasHeader(const std::vector<std::string>& headers, std::string_view lower_name) {
  for (const std::string& h : headers) {
    if (AsciiLower(std::string_view(h).substr(0, h.find(':'))) == lower_name) return true;
  }
  return false;
}

curl_slist* BuildHeaders(const HttpRequest& request) {
  curl_slist* list = nullptr;
  for (const std::string& h : request.headers) list = curl_slist_append(list, h.c_str());
  // No "Expect: 100-continue" round trip; registries answer uploads directly.
  list = curl_slist_append(list, "Expect:");
  bool has_body = request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  if (has_body && !HasHeader(request.headers, "content-type")) {
    // libcurl would otherwise label the body application/x-www-form-urlencoded.
    list = curl_slist_append(list, "Content-Type: application/octet-stream");
  }
  return list;
}

void SetMethod(CURL* c, const HttpRequest& request) {
  const std::string& m = request.method;
  if (m == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (m == "POST" || m == "PUT" || m == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    if (m != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  }
}

// A CA bundle's text ("" when unreadable or over the limit: TLS then fails, naming the
// server; never a bundle cut short).
constexpr size_t kMaxCaFileBytes = 4 << 20;
std::string ReadCaFile(const std::string& path) {
  return ReadFileLimited(path, kMaxCaFileBytes, "CA file").value_or("");
}

void SetTls(CURL* c, const TransportOptions& options) {
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options.skip_verify ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options.skip_verify ? 0L : 2L);
  if (!options.client_cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, options.client_cert_file.c_str());
    const std::string& key =
        options.client_key_file.empty() ? options.client_cert_file : options.client_key_file;
    curl_easy_setopt(c, CURLOPT_SSLKEY, key.c_str());
  }
  if (options.ca_file.empty() && options.ca_pem.empty()) return;
  // CAINFO replaces the default bundle; keeping the default CA directory too means the extra
  // CAs add to the system's trust instead of replacing it.
  if (!options.ca_pem.empty()) {
    // ca_file and ca_pem together: the file's certificates are read into the blob.
    std::string pem = options.ca_pem;
    if (!options.ca_file.empty()) pem += ReadCaFile(options.ca_file);
    curl_blob blob{pem.data(), pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  } else {
    curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  }
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  const char* capath = info != nullptr && info->capath != nullptr ? info->capath : "/etc/ssl/certs";
  curl_easy_setopt(c, CURLOPT_CAPATH, capath);
}

void SetTimeouts(CURL* c, const TransportOptions& options, bool streaming) {
  long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(options.timeout));
  long connect_ms = static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, connect_ms));
  if (!streaming) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, std::max(1L, timeout_ms));
  // A stalled peer (under 1 KiB/s for a whole timeout period) is a failure even when the
  // transfer has no overall deadline.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, timeout_ms / 1000));
}

bool IsTlsVerifyError(CURLcode rc) {
  return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
         rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_ISSUER_ERROR ||
         rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

absl::Status TransportError(const HttpRequest& request, CURLcode rc, const char* detail,
                            bool* retryable) {
  std::string what = StrCat(request.method, " ", request.url, ": ", curl_easy_strerror(rc));
  if (detail[0] != '\0') what += StrCat(" (", detail, ")");
  *retryable = false;
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    *retryable = true;
    return absl::DeadlineExceededError(what);
  }
  if (IsTlsVerifyError(rc)) return absl::UnavailableError(StrCat("TLS: ", what));
  if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
    return absl::InvalidArgumentError(what);
  }
  *retryable = true;
  return absl::UnavailableError(what);
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

namespace {

// libcurl calls these around every use of shared data; one mutex per kind of data.
std::mutex share_locks[CURL_LOCK_DATA_LAST];

void LockShare(CURL*, curl_lock_data data, curl_lock_access, void*) { share_locks[data].lock(); }
void UnlockShare(CURL*, curl_lock_data data, void*) { share_locks[data].unlock(); }

}  // namespace

ConnectionCache::ConnectionCache() {
  EnsureCurlInitialized();
  CURLSH* sh = curl_share_init();
  if (sh != nullptr) {
    curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, LockShare);
    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, UnlockShare);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  share_ = sh;  // null only when libcurl is out of memory: requests then run unshared
}

ConnectionCache::~ConnectionCache() {
  if (share_ != nullptr) curl_share_cleanup(static_cast<CURLSH*>(share_));
}

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::Status Perform(const TransportOptions& options, const HttpRequest& request,
                     HttpResponse* response, bool* retryable) {
  EnsureCurlInitialized();
  *response = HttpResponse();
  response->url = request.url;
  *retryable = false;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  std::unique_ptr<curl_slist, SlistDeleter> headers(BuildHeaders(request));
  Transfer transfer{&request, response};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  if (options.connections && options.connections->share() != nullptr) {
    curl_easy_setopt(c, CURLOPT_SHARE, static_cast<CURLSH*>(options.connections->share()));
  }
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, options.plain_http ? "http,https" : "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  SetMethod(c, request);
  SetTls(c, options);
  SetTimeouts(c, options, request.streaming);

  CURLcode rc = curl_easy_perform(c);
  if (transfer.too_large) {
    return absl::ResourceExhaustedError(StrCat(request.method, " ", request.url,
                                               ": response larger than the limit of ",
                                               request.max_bytes, " bytes"));
  }
  if (transfer.sink_failed) {
    return absl::InternalError(StrCat(request.method, " ", request.url,
                                      ": could not store the response body"));
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && transfer.error_body_cut)) {
    return TransportError(request, rc, errbuf, retryable);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response->status);
  return absl::OkStatus();
}

absl::Status ResolveUrl(const std::string& base, const std::string& location, std::string* out) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        StrCat("cannot resolve location \"", location, "\" against ", base));
  }
  char* text = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &text, 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(StrCat("cannot resolve location \"", location, "\""));
  }
  *out = text;
  curl_free(text);
  return absl::OkStatus();
}

absl::Status OriginOf(const std::string& url, std::string* origin) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(StrCat("invalid URL ", url));
  }
  std::string parts[3];
  const CURLUPart which[3] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
  for (int i = 0; i < 3; ++i) {
    char* text = nullptr;
    if (curl_url_get(u.get(), which[i], &text, CURLU_DEFAULT_PORT) != CURLUE_OK) {
      return absl::InvalidArgumentError(StrCat("invalid URL ", url));
    }
    parts[i] = AsciiLower(text);
    curl_free(text);
  }
  *origin = StrCat(parts[0], "://", parts[1], ":", parts[2]);
  return absl::OkStatus();
}

std::string UrlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace layerseal::registry::internal
