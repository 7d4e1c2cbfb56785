#include "registry/client.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "registry/internal/auth.h"
#include "registry/internal/errors.h"
#include "registry/internal/http.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "base/retry_after.h"
#include "base/str_cat.h"
#include "verifier/manifest.h"

namespace layerseal::registry {
namespace {

using internal::BodySink;
using internal::HttpRequest;
using internal::HttpResponse;
using internal::RegistryErrors;
using internal::StringSink;

constexpr const char* kOctetStreamHeader = "Content-Type: application/octet-stream";
// A Retry-After value quoted in a status message is cut here (it is the registry's text).
constexpr size_t kMaxRetryAfterQuoted = 40;

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// A URL for messages about another origin: its query may be a presigned credential.
std::string Redacted(const std::string& url) {
  size_t q = url.find('?');
  return q == std::string::npos ? url : StrCat(url.substr(0, q), "?<redacted>");
}

// Maps a non-success HTTP answer to a status naming the URL, the status and the registry's
// own explanation.
absl::Status HttpError(std::string_view method, const HttpResponse& r) {
  std::string msg =
      StrCat(method, " ", r.url, ": HTTP ", r.status, RegistryErrors(r.error_body));
  switch (r.status) {
    case 401:
      return absl::UnauthenticatedError(msg);
    case 403:
      return absl::PermissionDeniedError(msg);
    case 404:
      return absl::NotFoundError(msg);
    case 429:
      return absl::UnavailableError(msg);
    default:
      if (r.status >= 500) return absl::UnavailableError(msg);
      return absl::FailedPreconditionError(msg);
  }
}

absl::Status WithContext(const absl::Status& s, std::string_view prefix) {
  return absl::Status(s.code(), StrCat(prefix, ": ", Sv(s.message())));
}

std::string AddQuery(const std::string& url, std::string_view param) {
  return StrCat(url, url.find('?') == std::string::npos ? "?" : "&", param);
}

std::string PullScope(std::string_view repository) {
  return StrCat("repository:", repository, ":pull");
}
std::string PushScope(std::string_view repository) {
  return StrCat("repository:", repository, ":pull,push");
}

// Docker Hub's API host differs from the name in references.
std::string ApiHost(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

// Streams into a file while hashing, for blobs of any size.
class FileSink : public BodySink {
 public:
  FileSink(std::FILE* f, const EVP_MD* md) : file_(f), md_(md), ctx_(EVP_MD_CTX_new()) { Reset(); }
  ~FileSink() override { EVP_MD_CTX_free(ctx_); }
  bool Write(std::string_view chunk) override {
    return std::fwrite(chunk.data(), 1, chunk.size(), file_) == chunk.size() &&
           EVP_DigestUpdate(ctx_, chunk.data(), chunk.size()) == 1;
  }
  void Reset() override {
    std::fflush(file_);
    std::rewind(file_);
    if (ftruncate(fileno(file_), 0) != 0) std::clearerr(file_);
    EVP_DigestInit_ex(ctx_, md_, nullptr);
  }
  std::string HexDigest() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
    return HexEncode(std::string_view(reinterpret_cast<char*>(out), len));
  }

 private:
  std::FILE* file_;
  const EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

const EVP_MD* DigestAlgorithm(const Digest& d) {
  return d.algorithm() == "sha512" ? EVP_sha512() : EVP_sha256();
}

// Checks an optional Docker-Content-Digest answer header against the bytes' digest.
absl::Status CheckContentDigestHeader(const HttpResponse& r, std::string_view bytes,
                                      const Digest* expected) {
  std::string header = r.Header("docker-content-digest");
  if (header.empty()) return absl::OkStatus();
  absl::StatusOr<Digest> d = Digest::Parse(header);
  if (!d.ok()) {
    return absl::DataLossError(
        StrCat(r.url, ": invalid Docker-Content-Digest: ", Sv(d.status().message())));
  }
  bool ok = expected != nullptr ? (*d == *expected || expected->algorithm() != d->algorithm())
                                : d->Matches(bytes);
  if (!ok) {
    return absl::DataLossError(StrCat(r.url, ": Docker-Content-Digest ", d->str(),
                                      " does not match the content"));
  }
  return absl::OkStatus();
}

// One logical request: the registry it belongs to and the token scopes it needs.
struct Call {
  HttpRequest request;
  std::string registry;
  std::vector<std::string> scopes;
};

}  // namespace

class RegistryClient::Impl {
 public:
  explicit Impl(Options o)
      : options_(std::move(o)),
        clock_(options_.clock != nullptr ? *options_.clock : SystemClock()),
        backoff_({options_.initial_backoff, options_.max_backoff}),
        tokens_(clock_) {
    transport_.plain_http = options_.plain_http;
    transport_.ca_file = options_.ca_file;
    transport_.ca_pem = options_.ca_pem;
    transport_.client_cert_file = options_.client_cert_file;
    transport_.client_key_file = options_.client_key_file;
    transport_.skip_verify = options_.skip_verify;
    transport_.timeout = options_.timeout;
    transport_.connect_timeout = options_.connect_timeout;
    transport_.user_agent = options_.user_agent;
    internal::EnsureCurlInitialized();
    transport_.connections = std::make_shared<internal::ConnectionCache>();
    client_deadline_ = clock_.Monotonic() + options_.total_timeout;  // infinite stays so
  }

  std::string RepoUrl(const Reference& ref) const {
    if (!options_.endpoint_host.empty()) {
      return StrCat(options_.plain_http ? "http://" : "https://", options_.endpoint_host,
                    options_.api_root, "/", ref.repository);
    }
    return StrCat(options_.plain_http ? "http://" : "https://", ApiHost(ref.registry), "/v2/",
                  ref.repository);
  }
  // The host a call's credentials and tokens belong to: the mirror's, or the registry's.
  std::string Who(const Reference& ref) const {
    return options_.endpoint_host.empty() ? ref.registry : options_.endpoint_host;
  }

  // Sends the call with authentication, redirects and retries; any HTTP status is returned in
  // `r`, errors are transport, limit and authentication failures.
  absl::Status Exchange(Call& call, HttpResponse* r);

  // Expects `status`; anything else becomes an error naming the URL.
  absl::Status ExchangeExpect(Call& call, long status, HttpResponse* r) {
    if (absl::Status s = Exchange(call, r); !s.ok()) return s;
    if (r->status != status) return HttpError(call.request.method, *r);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> StartUpload(const Reference& repo);
  absl::Status PatchChunk(const Reference& repo, std::string* location, size_t offset,
                          std::string_view chunk);
  absl::Status FinishUpload(const Reference& repo, const std::string& location,
                            const Digest& digest, std::string_view body);
  void CancelUpload(const Reference& repo, const std::string& location);

  const Options& options() const { return options_; }

 private:
  std::optional<Credentials> CredentialsFor(const std::string& registry) const {
    if (!options_.credentials) return std::nullopt;
    return options_.credentials->Lookup(registry);
  }
  // When a request started now must be finished (Options::timeout, total_timeout). Every
  // `deadline` here is an instant on clock_.Monotonic().
  absl::Duration RequestDeadline(const HttpRequest& request) const;
  absl::Status PerformWithRetries(const HttpRequest& request, absl::Duration deadline,
                                  HttpResponse* r);
  absl::Status PerformFollowingRedirects(HttpRequest request, const std::string& authorization,
                                         absl::Duration deadline, HttpResponse* r);
  std::string CachedAuthorization(const Call& call);
  absl::StatusOr<std::string> Authorize(const Call& call, const HttpResponse& r,
                                        absl::Duration deadline);
  absl::StatusOr<std::string> FetchToken(const Call& call, const internal::Challenge& c,
                                         absl::Duration deadline);
  absl::Duration RetryWait(int attempt, const HttpResponse* r) const;

  Options options_;
  const Clock& clock_;
  const layerseal::Backoff backoff_;  // only its const Delay(): shared by all requests
  internal::TransportOptions transport_;
  absl::Duration client_deadline_;  // on clock_.Monotonic(); infinite: none
  internal::TokenCache tokens_;
  absl::Mutex mu_;
  // Registries that answered with a Basic challenge: credentials go along up front.
  std::set<std::string> basic_registries_ ABSL_GUARDED_BY(mu_);
};

// The exponential backoff's wait, or what the registry's Retry-After asks for; never more than
// max_backoff.
absl::Duration RegistryClient::Impl::RetryWait(int attempt, const HttpResponse* r) const {
  absl::Duration d = backoff_.Delay(attempt);
  if (r != nullptr) {
    if (std::optional<absl::Duration> asked = ParseRetryAfter(r->Header("retry-after"))) d = *asked;
  }
  return std::min(d, options_.max_backoff);
}

absl::Duration RegistryClient::Impl::RequestDeadline(const HttpRequest& request) const {
  if (request.streaming) return client_deadline_;
  return std::min(clock_.Monotonic() + options_.timeout, client_deadline_);
}

namespace {

// The error for a request whose budget ran out before it could be (re)tried.
absl::Status BudgetSpent(const HttpRequest& request, const absl::Status& last,
                         std::string_view why) {
  return absl::DeadlineExceededError(StrCat(request.method, " ", request.url, ": ", why,
                                            last.ok() ? "" : "; last attempt: ",
                                            last.ok() ? "" : Sv(last.message())));
}

}  // namespace

absl::Status RegistryClient::Impl::PerformWithRetries(const HttpRequest& request,
                                                      absl::Duration deadline,
                                                      HttpResponse* r) {
  int max_retries = std::max(0, options_.max_retries);
  absl::Status last;
  for (int attempt = 0;; ++attempt) {
    absl::Duration left = deadline - clock_.Monotonic();
    if (left <= absl::ZeroDuration()) {
      if (!last.ok() && attempt == 1) return last;  // one attempt that timed out says it all
      return BudgetSpent(request, last, StrCat("the request's time budget is spent after ",
                                               attempt, " attempt(s)"));
    }
    if (attempt > 0 && request.sink != nullptr) request.sink->Reset();
    internal::TransportOptions transport = transport_;
    // Each attempt gets what is left of the request's budget, never more.
    transport.timeout = std::min(transport_.timeout, left);
    transport.connect_timeout = std::min(transport_.connect_timeout, left);
    bool retryable = false;
    absl::Status s = internal::Perform(transport, request, r, &retryable);
    bool again = attempt < max_retries;
    if (!s.ok()) {
      if (!retryable || !again) return s;
      last = s;
      absl::Duration wait = RetryWait(attempt, nullptr);
      if (clock_.Monotonic() + wait >= deadline) return s;
      absl::SleepFor(wait);  // a relative sleep (nanosleep): monotonic
      continue;
    }
    if ((r->status >= 500 || r->status == 429) && again) {
      absl::Duration wait = RetryWait(attempt, r);
      if (clock_.Monotonic() + wait >= deadline) {
        std::string asked = r->Header("retry-after");
        return absl::UnavailableError(StrCat(
            Sv(HttpError(request.method, *r).message()),
            asked.empty() ? "" : StrCat(" (Retry-After: ", asked.substr(0, kMaxRetryAfterQuoted), ")"),
            ": not retried, waiting ", absl::FormatDuration(wait),
            " would exceed the request's time budget"));
      }
      absl::SleepFor(wait);
      continue;
    }
    return absl::OkStatus();
  }
}

// Where a redirect answer points, refusing a downgrade from https to http.
absl::StatusOr<std::string> RedirectTarget(const HttpRequest& request, const HttpResponse& r) {
  std::string next;
  if (absl::Status s = internal::ResolveUrl(request.url, r.Header("location"), &next); !s.ok()) {
    return s;
  }
  if (request.url.rfind("https:", 0) == 0 && next.rfind("https:", 0) != 0) {
    return absl::UnavailableError(StrCat(request.method, " ", r.url,
                                         ": refusing redirect from https to ", Redacted(next)));
  }
  return next;
}

absl::Status RegistryClient::Impl::PerformFollowingRedirects(HttpRequest request,
                                                             const std::string& authorization,
                                                             absl::Duration deadline,
                                                             HttpResponse* r) {
  std::string origin, hop_origin;
  if (absl::Status s = internal::OriginOf(request.url, &origin); !s.ok()) return s;
  const std::vector<std::string> base_headers = request.headers;
  bool send_auth = !authorization.empty();
  bool follow = request.method == "GET" || request.method == "HEAD";
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    bool foreign = hop > 0 && hop_origin != origin;
    // Credentials are for the registry only: never hand them to another origin (S3, CDN).
    if (foreign) send_auth = false;
    request.headers = base_headers;
    if (send_auth) request.headers.push_back(StrCat("Authorization: ", authorization));
    absl::Status s = PerformWithRetries(request, deadline, r);
    r->foreign = foreign;
    if (foreign) {
      r->url = Redacted(request.url);
      s = absl::Status(s.code(), absl::StrReplaceAll(s.message(), {{request.url, r->url}}));
    }
    if (!s.ok()) return s;
    if (!follow || !IsRedirect(r->status) || r->Header("location").empty()) {
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> next = RedirectTarget(request, *r);
    if (!next.ok()) return next.status();
    if (absl::Status s = internal::OriginOf(*next, &hop_origin); !s.ok()) return s;
    request.url = *std::move(next);
  }
  return absl::UnavailableError(StrCat(request.method, " ", r->url, ": more than ",
                                       kMaxRedirects, " redirects"));
}

std::string RegistryClient::Impl::CachedAuthorization(const Call& call) {
  std::optional<Credentials> creds = CredentialsFor(call.registry);
  if (creds && !creds->registry_token.empty()) return StrCat("Bearer ", creds->registry_token);
  {
    absl::MutexLock lock(&mu_);
    if (creds && basic_registries_.count(call.registry) != 0) {
      return internal::BasicAuthorization(creds->username, creds->password);
    }
  }
  std::string key = internal::TokenCache::Key(call.registry, absl::StrJoin(call.scopes, " "));
  if (std::optional<std::string> token = tokens_.Get(key)) {
    return StrCat("Bearer ", *token);
  }
  return "";
}

absl::StatusOr<std::string> RegistryClient::Impl::Authorize(const Call& call,
                                                            const HttpResponse& r,
                                                            absl::Duration deadline) {
  if (r.foreign) {
    // Only the registry itself may ask for its credentials: a host it redirected to (a CDN,
    // or a hostile one) could otherwise name a token realm of its own and collect them.
    return absl::UnauthenticatedError(StrCat(
        "registry ", call.registry, ": ", r.url, ": HTTP 401 from another host after a "
        "redirect; credentials are only sent to the registry's own host"));
  }
  std::vector<internal::Challenge> challenges;
  for (const std::string& header : r.challenges) {
    absl::StatusOr<std::vector<internal::Challenge>> parsed = internal::ParseChallenges(header);
    if (!parsed.ok()) {
      return absl::UnauthenticatedError(StrCat("registry ", call.registry, ": ", r.url,
                                               ": HTTP 401 with ", Sv(parsed.status().message())));
    }
    challenges.insert(challenges.end(), parsed->begin(), parsed->end());
  }
  for (const internal::Challenge& c : challenges) {
    if (c.scheme == "bearer") return FetchToken(call, c, deadline);
  }
  for (const internal::Challenge& c : challenges) {
    if (c.scheme != "basic") continue;
    std::optional<Credentials> creds = CredentialsFor(call.registry);
    if (!creds || creds->username.empty()) {
      return absl::UnauthenticatedError(StrCat("registry ", call.registry,
                                               " requires basic authentication and no "
                                               "credentials are configured for it (", r.url, ")"));
    }
    absl::MutexLock lock(&mu_);
    basic_registries_.insert(call.registry);
    return internal::BasicAuthorization(creds->username, creds->password);
  }
  return absl::UnauthenticatedError(StrCat("registry ", call.registry, ": ", r.url,
                                           ": HTTP 401 without a supported challenge"));
}

namespace {

// The token request for challenge `c`: GET realm?service=...&scope=... with basic credentials
// if any, or docker's OAuth2 refresh-token grant when an identity token is configured.
// `t->request.body` points into `t->form`, so `t` must not move afterwards.
struct TokenRequest {
  HttpRequest request;
  std::string authorization;
  std::string form;
};

void BuildTokenRequest(const internal::Challenge& c, std::vector<std::string> scopes,
                       const std::optional<Credentials>& creds, TokenRequest* t) {
  std::string realm = c.Param("realm");
  std::string query;
  if (!c.Param("service").empty()) {
    query += StrCat("&service=", internal::UrlEncode(c.Param("service")));
  }
  // Without a scope of our own (none today), echo the one the registry asked for.
  if (scopes.empty() && !c.Param("scope").empty()) scopes.push_back(c.Param("scope"));
  for (const std::string& s : scopes) query += StrCat("&scope=", internal::UrlEncode(s));
  t->request.max_bytes = kMaxTokenResponseBytes;
  if (creds && !creds->identity_token.empty()) {
    t->form = StrCat("grant_type=refresh_token&client_id=layerseal&refresh_token=",
                     internal::UrlEncode(creds->identity_token), query);
    t->request.method = "POST";
    t->request.url = realm;
    t->request.body = t->form;
    t->request.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    return;
  }
  t->request.url = query.empty() ? realm : AddQuery(realm, query.substr(1));
  if (creds && !creds->username.empty()) {
    t->authorization = internal::BasicAuthorization(creds->username, creds->password);
  }
}

// A realm must be http(s), and https whenever the registry is: credentials and tokens never
// travel in the clear because of what a registry's challenge says.
absl::Status CheckRealm(const std::string& realm, bool plain_http, const std::string& who) {
  if (realm.rfind("https://", 0) != 0 && realm.rfind("http://", 0) != 0) {
    return absl::UnauthenticatedError(StrCat(who, " is not an http(s) URL"));
  }
  if (!plain_http && realm.rfind("https://", 0) != 0) {
    return absl::UnauthenticatedError(
        StrCat(who, ": refusing a plain-http token realm for an https registry"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RegistryClient::Impl::FetchToken(const Call& call,
                                                             const internal::Challenge& c,
                                                             absl::Duration deadline) {
  std::string who = StrCat("registry ", call.registry, ": token realm \"", c.Param("realm"),
                           "\"");
  if (absl::Status s = CheckRealm(c.Param("realm"), options_.plain_http, who); !s.ok()) return s;
  TokenRequest t;
  StringSink sink;
  BuildTokenRequest(c, call.scopes, CredentialsFor(call.registry), &t);
  t.request.sink = &sink;
  HttpResponse r;
  if (absl::Status s = PerformFollowingRedirects(t.request, t.authorization, deadline, &r);
      !s.ok()) {
    return WithContext(s, who);
  }
  if (r.status == 401 || r.status == 403) {
    return absl::UnauthenticatedError(StrCat(who, " refused a token: ",
                                             Sv(HttpError(t.request.method, r).message())));
  }
  if (r.status != 200) return WithContext(HttpError(t.request.method, r), who);
  absl::StatusOr<internal::Token> token = internal::ParseTokenResponse(sink.data);
  if (!token.ok()) {
    return absl::UnauthenticatedError(StrCat(who, ": ", Sv(token.status().message())));
  }
  std::string key = internal::TokenCache::Key(call.registry, absl::StrJoin(call.scopes, " "));
  tokens_.Put(key, token->value, token->lifetime);
  return StrCat("Bearer ", token->value);
}

absl::Status RegistryClient::Impl::Exchange(Call& call, HttpResponse* r) {
  std::string authorization = CachedAuthorization(call);
  absl::Duration deadline = RequestDeadline(call.request);
  absl::Status s = PerformFollowingRedirects(call.request, authorization, deadline, r);
  if (!s.ok() || r->status != 401) return s;
  // One authorization round per request: a second 401 is final, never a loop.
  absl::StatusOr<std::string> fresh = Authorize(call, *r, deadline);
  if (!fresh.ok()) return fresh.status();
  s = PerformFollowingRedirects(call.request, *fresh, deadline, r);
  if (!s.ok() || r->status != 401) return s;
  return absl::UnauthenticatedError(StrCat("registry ", call.registry,
                                           " rejected the credentials: ",
                                           Sv(HttpError(call.request.method, *r).message())));
}

absl::StatusOr<std::string> RegistryClient::Impl::StartUpload(const Reference& repo) {
  Call call{HttpRequest{"POST", StrCat(RepoUrl(repo), "/blobs/uploads/")}, Who(repo),
            {PushScope(repo.repository)}};
  HttpResponse r;
  if (absl::Status s = ExchangeExpect(call, 202, &r); !s.ok()) return s;
  std::string location;
  if (absl::Status s = internal::ResolveUrl(r.url, r.Header("location"), &location); !s.ok()) {
    return WithContext(s, StrCat("POST ", r.url, ": bad upload Location"));
  }
  return location;
}

absl::Status RegistryClient::Impl::PatchChunk(const Reference& repo, std::string* location,
                                              size_t offset, std::string_view chunk) {
  Call call{HttpRequest{"PATCH", *location}, Who(repo), {PushScope(repo.repository)}};
  call.request.body = chunk;
  call.request.headers = {kOctetStreamHeader,
                          StrCat("Content-Range: ", offset, "-", offset + chunk.size() - 1)};
  HttpResponse r;
  if (absl::Status s = ExchangeExpect(call, 202, &r); !s.ok()) return s;
  return internal::ResolveUrl(r.url, r.Header("location"), location);
}

absl::Status RegistryClient::Impl::FinishUpload(const Reference& repo,
                                                const std::string& location,
                                                const Digest& digest, std::string_view body) {
  Call call{HttpRequest{"PUT", AddQuery(location, StrCat("digest=",
                                                          internal::UrlEncode(digest.str())))},
            Who(repo), {PushScope(repo.repository)}};
  call.request.body = body;
  call.request.headers = {kOctetStreamHeader};
  HttpResponse r;
  if (absl::Status s = ExchangeExpect(call, 201, &r); !s.ok()) return s;
  return CheckContentDigestHeader(r, "", &digest);
}

void RegistryClient::Impl::CancelUpload(const Reference& repo, const std::string& location) {
  // Best effort: an abandoned session expires on the registry anyway.
  Call call{HttpRequest{"DELETE", location}, Who(repo), {PushScope(repo.repository)}};
  HttpResponse r;
  Exchange(call, &r).IgnoreError();
}

RegistryClient::RegistryClient(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
RegistryClient::~RegistryClient() = default;

absl::StatusOr<FetchedManifest> RegistryClient::FetchManifest(const Reference& ref,
                                                              size_t max_bytes) {
  StringSink sink;
  Call call{HttpRequest{"GET", StrCat(impl_->RepoUrl(ref), "/manifests/", ref.Identifier())},
            impl_->Who(ref), {PullScope(ref.repository)}};
  call.request.headers = {StrCat("Accept: ", kManifestAccept)};
  call.request.sink = &sink;
  call.request.max_bytes = max_bytes;
  HttpResponse r;
  if (absl::Status s = impl_->ExchangeExpect(call, 200, &r); !s.ok()) return s;
  if (ref.digest && !ref.digest->Matches(sink.data)) {
    return absl::DataLossError(StrCat(r.url, ": manifest does not match ", ref.digest->str()));
  }
  if (absl::Status s = CheckContentDigestHeader(r, sink.data, nullptr); !s.ok()) return s;
  FetchedManifest m;
  m.digest = Digest::Sha256Of(sink.data);
  m.content_type = r.Header("content-type");
  m.bytes = std::move(sink.data);
  return m;
}

absl::StatusOr<std::string> RegistryClient::FetchBlob(const Reference& repo,
                                                      const Digest& digest, size_t max_bytes) {
  StringSink sink;
  Call call{HttpRequest{"GET", StrCat(impl_->RepoUrl(repo), "/blobs/", digest.str())},
            impl_->Who(repo), {PullScope(repo.repository)}};
  call.request.sink = &sink;
  call.request.max_bytes = max_bytes;
  HttpResponse r;
  if (absl::Status s = impl_->ExchangeExpect(call, 200, &r); !s.ok()) return s;
  if (!digest.Matches(sink.data)) {
    return absl::DataLossError(StrCat(r.url, ": blob does not match ", digest.str()));
  }
  return std::move(sink.data);
}

namespace {

// The target of a `Link: <target>; rel="next"` header value (RFC 8288; several links may be
// joined by commas); empty when there is none.
std::string NextLink(const std::string& header) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t open = header.find('<', pos);
    if (open == std::string::npos) return "";
    size_t close = header.find('>', open);
    if (close == std::string::npos) return "";
    size_t end = header.find('<', close);  // the next link's start, or the end
    std::string params = header.substr(close + 1, end == std::string::npos ? std::string::npos
                                                                           : end - close - 1);
    std::string lower;
    for (char c : params) {
      if (c != ' ' && c != '\t') lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower.find("rel=\"next\"") != std::string::npos || lower.find("rel=next") != std::string::npos) {
      return header.substr(open + 1, close - open - 1);
    }
    if (end == std::string::npos) return "";
    pos = end;
  }
  return "";
}

}  // namespace

absl::StatusOr<FetchedManifest> RegistryClient::FetchReferrers(const Reference& repo,
                                                               const Digest& subject,
                                                               std::string_view artifact_type,
                                                               size_t max_bytes) {
  const std::string base = StrCat(impl_->RepoUrl(repo), "/referrers/", subject.str());
  std::string base_origin;
  if (absl::Status s = internal::OriginOf(base, &base_origin); !s.ok()) return s;
  std::string url = artifact_type.empty()
                        ? base
                        : StrCat(base, "?artifactType=", internal::UrlEncode(artifact_type));
  nlohmann::json merged = nlohmann::json::array();
  for (size_t page = 0; page < kMaxReferrersPages && !url.empty(); ++page) {
    StringSink sink;
    Call call{HttpRequest{"GET", url}, impl_->Who(repo), {PullScope(repo.repository)}};
    call.request.headers = {StrCat("Accept: ", kOciIndex)};
    call.request.sink = &sink;
    call.request.max_bytes = max_bytes;
    HttpResponse r;
    if (absl::Status s = impl_->Exchange(call, &r); !s.ok()) return s;
    if (r.status == 404 && page == 0) {
      return absl::UnimplementedError(StrCat("GET ", r.url, ": HTTP 404", RegistryErrors(r.error_body),
                                             ": the registry has no referrers API"));
    }
    if (r.status != 200) return HttpError("GET", r);
    absl::StatusOr<nlohmann::json> doc = ParseStrictJson(sink.data, max_bytes);
    if (!doc.ok()) {
      return absl::InvalidArgumentError(
          StrCat(r.url, ": referrers answer is not JSON: ", Sv(doc.status().message())));
    }
    if (!doc->is_object() || !doc->contains("manifests") || !(*doc)["manifests"].is_array()) {
      return absl::InvalidArgumentError(
          StrCat(r.url, ": referrers answer is not an image index (no \"manifests\" array)"));
    }
    if (auto mt = doc->find("mediaType");
        mt != doc->end() && (!mt->is_string() || mt->get<std::string>() != kOciIndex)) {
      return absl::InvalidArgumentError(
          StrCat(r.url, ": referrers answer has mediaType ", mt->dump(), ", not ", kOciIndex));
    }
    // OCI-Filters-Applied: artifactType says the registry filtered; the check below is then a
    // no-op, and without it the filter is applied here.
    for (nlohmann::json& d : (*doc)["manifests"]) {
      if (!artifact_type.empty()) {
        auto at = d.is_object() ? d.find("artifactType") : d.end();
        if (at == d.end() || !at->is_string() || at->get<std::string>() != artifact_type) continue;
      }
      if (merged.size() >= kMaxDescriptors) break;
      merged.push_back(std::move(d));
    }
    std::string next = NextLink(r.Header("link"));
    url.clear();
    if (next.empty() || merged.size() >= kMaxDescriptors) break;
    std::string resolved, origin;
    if (!internal::ResolveUrl(r.url, next, &resolved).ok() ||
        !internal::OriginOf(resolved, &origin).ok() || origin != base_origin ||
        resolved.compare(0, base.size(), base) != 0 ||
        (resolved.size() > base.size() && resolved[base.size()] != '?')) {
      return absl::InvalidArgumentError(StrCat(r.url, ": referrers Link \"", next,
                                               "\" leaves ", base));
    }
    url = std::move(resolved);
  }
  nlohmann::json index = {{"schemaVersion", 2}, {"mediaType", std::string(kOciIndex)},
                          {"manifests", std::move(merged)}};
  FetchedManifest m;
  m.bytes = index.dump();
  m.content_type = std::string(kOciIndex);
  m.digest = Digest::Sha256Of(m.bytes);
  return m;
}

absl::Status RegistryClient::FetchBlobToFile(const Reference& repo, const Digest& digest,
                                             const std::string& path) {
  if (digest.empty()) return absl::InvalidArgumentError("FetchBlobToFile: empty digest");
  // Written next to the target and renamed, so `path` never holds unverified bytes.
  std::string partial = StrCat(path, ".partial");
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (f == nullptr) return absl::PermissionDeniedError(StrCat(partial, ": cannot create"));
  FileSink sink(f, DigestAlgorithm(digest));
  Call call{HttpRequest{"GET", StrCat(impl_->RepoUrl(repo), "/blobs/", digest.str())},
            impl_->Who(repo), {PullScope(repo.repository)}};
  call.request.sink = &sink;
  call.request.streaming = true;
  HttpResponse r;
  absl::Status s = impl_->ExchangeExpect(call, 200, &r);
  if (s.ok() && sink.HexDigest() != digest.hex()) {
    s = absl::DataLossError(StrCat(r.url, ": blob does not match ", digest.str()));
  }
  if (std::fclose(f) != 0 && s.ok()) s = absl::DataLossError(StrCat(partial, ": write failed"));
  if (s.ok() && std::rename(partial.c_str(), path.c_str()) != 0) {
    s = absl::InternalError(StrCat("cannot rename ", partial, " to ", path));
  }
  if (!s.ok()) std::remove(partial.c_str());
  return s;
}

absl::StatusOr<bool> RegistryClient::BlobExists(const Reference& repo, const Digest& digest) {
  Call call{HttpRequest{"HEAD", StrCat(impl_->RepoUrl(repo), "/blobs/", digest.str())},
            impl_->Who(repo), {PullScope(repo.repository)}};
  HttpResponse r;
  if (absl::Status s = impl_->Exchange(call, &r); !s.ok()) return s;
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return HttpError("HEAD", r);
}

absl::Status RegistryClient::PushBlob(const Reference& repo, const Digest& digest,
                                      std::string_view bytes) {
  if (!digest.Matches(bytes)) {
    return absl::InvalidArgumentError(StrCat("PushBlob: bytes do not match ", digest.str()));
  }
  absl::StatusOr<std::string> location = impl_->StartUpload(repo);
  if (!location.ok()) return location.status();
  absl::Status s = impl_->FinishUpload(repo, *location, digest, bytes);
  if (!s.ok()) impl_->CancelUpload(repo, *location);
  return s;
}

absl::Status RegistryClient::PushBlobChunked(const Reference& repo, const Digest& digest,
                                             std::string_view bytes, size_t chunk_bytes) {
  if (!digest.Matches(bytes)) {
    return absl::InvalidArgumentError(StrCat("PushBlobChunked: bytes do not match ",
                                             digest.str()));
  }
  if (chunk_bytes == 0) return absl::InvalidArgumentError("PushBlobChunked: chunk_bytes is 0");
  absl::StatusOr<std::string> location = impl_->StartUpload(repo);
  if (!location.ok()) return location.status();
  absl::Status s;
  for (size_t offset = 0; s.ok() && offset < bytes.size(); offset += chunk_bytes) {
    s = impl_->PatchChunk(repo, &*location, offset, bytes.substr(offset, chunk_bytes));
  }
  if (s.ok()) s = impl_->FinishUpload(repo, *location, digest, "");
  if (!s.ok()) impl_->CancelUpload(repo, *location);
  return s;
}

absl::Status RegistryClient::PushBlobFromFile(const Reference& repo, const Digest& digest,
                                              const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open"));
  absl::StatusOr<std::string> location = impl_->StartUpload(repo);
  if (!location.ok()) return location.status();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), DigestAlgorithm(digest), nullptr);
  std::string chunk(kDefaultChunkBytes, '\0');
  absl::Status s;
  size_t offset = 0;
  while (s.ok() && in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), chunk.data(), n);
    s = impl_->PatchChunk(repo, &*location, offset, std::string_view(chunk).substr(0, n));
    offset += n;
  }
  if (s.ok() && in.bad()) s = absl::DataLossError(StrCat(path, ": read error"));
  if (s.ok()) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), out, &len);
    if (HexEncode(std::string_view(reinterpret_cast<char*>(out), len)) != digest.hex()) {
      s = absl::DataLossError(StrCat(path, ": content does not match ", digest.str()));
    }
  }
  if (s.ok()) s = impl_->FinishUpload(repo, *location, digest, "");
  if (!s.ok()) impl_->CancelUpload(repo, *location);
  return s;
}

absl::StatusOr<bool> RegistryClient::MountBlob(const Reference& repo, const Digest& digest,
                                               std::string_view from_repository) {
  std::string url = StrCat(impl_->RepoUrl(repo), "/blobs/uploads/?mount=",
                           internal::UrlEncode(digest.str()),
                           "&from=", internal::UrlEncode(from_repository));
  Call call{HttpRequest{"POST", url}, impl_->Who(repo),
            {PushScope(repo.repository), PullScope(from_repository)}};
  HttpResponse r;
  if (absl::Status s = impl_->Exchange(call, &r); !s.ok()) return s;
  if (r.status == 201) return true;
  if (r.status != 202) return HttpError("POST", r);
  // The registry opened an upload session instead; the caller uploads with its own.
  std::string location;
  if (internal::ResolveUrl(r.url, r.Header("location"), &location).ok()) {
    impl_->CancelUpload(repo, location);
  }
  return false;
}

absl::StatusOr<Digest> RegistryClient::PutManifest(const Reference& ref,
                                                   std::string_view media_type,
                                                   std::string_view bytes) {
  if (ref.digest && !ref.digest->Matches(bytes)) {
    return absl::InvalidArgumentError(StrCat("PutManifest ", ref.ToString(),
                                             ": bytes do not match the reference's digest"));
  }
  Call call{HttpRequest{"PUT", StrCat(impl_->RepoUrl(ref), "/manifests/", ref.Identifier())},
            impl_->Who(ref), {PushScope(ref.repository)}};
  call.request.body = bytes;
  call.request.headers = {StrCat("Content-Type: ", media_type)};
  HttpResponse r;
  if (absl::Status s = impl_->ExchangeExpect(call, 201, &r); !s.ok()) return s;
  if (absl::Status s = CheckContentDigestHeader(r, bytes, nullptr); !s.ok()) return s;
  return ref.digest ? *ref.digest : Digest::Sha256Of(bytes);
}

}  // namespace layerseal::registry
