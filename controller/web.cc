#include "controller/web.h"

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/time_bound.h"
#include "controller/web_page.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

using telemetry::HttpRequest;
using telemetry::HttpResponse;

constexpr char kJsonType[] = "application/json; charset=utf-8";
constexpr int kNonceBytes = 16;


HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = kJsonType;
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

HttpResponse JsonError(int status, const std::string& message, const std::string& parameter) {
  nlohmann::json j = {{"error", message}};
  if (!parameter.empty()) j["parameter"] = parameter;
  return Json(status, j.dump());
}

HttpResponse BadParameter(const std::string& parameter, const std::string& message) {
  return JsonError(400, StrCat("parameter ", parameter, ": ", message), parameter);
}

HttpResponse StoreError(const absl::Status& status) {
  // A damaged store file is the server's fault, not a passing outage: 500.
  int code = status.code() == absl::StatusCode::kDataLoss ? 500 : 503;
  return JsonError(code, StrCat("event store: ", Sv(status.message())), "");
}

HttpResponse ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // a count of 0 is shown, not missing
  std::string out;
  auto s = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!s.ok()) return JsonError(500, "cannot render the answer as JSON", "");
  return Json(200, std::move(out));
}

// A parameter problem: which parameter, what was wrong.
struct ParamError {
  std::string parameter;
  std::string message;
};

// Unknown or repeated parameters and over-long values are refused before any is used.
std::optional<ParamError> CheckQuery(const HttpRequest& req, const std::set<std::string>& known) {
  for (const auto& [name, value] : req.query) {
    if (known.count(name) == 0) return ParamError{name, "unknown parameter"};
    if (req.Count(name) > 1) return ParamError{name, "given more than once"};
    if (value.size() > kMaxWebParamBytes) {
      return ParamError{name, StrCat("longer than ", kMaxWebParamBytes, " bytes")};
    }
  }
  return std::nullopt;
}

// An absent (or empty) parameter leaves `*out` as it is: no bound, which differs from a
// bound at the epoch.
std::optional<ParamError> ParseTimeInto(const HttpRequest& req, const std::string& name,
                                        absl::Time now, std::optional<int64_t>* out) {
  std::string text = req.Param(name);
  if (text.empty()) return std::nullopt;
  absl::StatusOr<int64_t> t = ParseTimeBound(text, now);
  if (!t.ok()) return ParamError{name, std::string(Sv(t.status().message()))};
  *out = *t;
  return std::nullopt;
}

// "" or an integer in [1, max].
std::optional<ParamError> ParseCount(const HttpRequest& req, const std::string& name, int max,
                                     int* out) {
  std::string text = req.Param(name);
  if (text.empty()) return std::nullopt;
  int n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 1 || n > max) {
    return ParamError{name, StrCat("\"", text, "\" is not a number from 1 to ", max)};
  }
  *out = n;
  return std::nullopt;
}

std::optional<ParamError> ParseFilter(const HttpRequest& req, v1::EventFilter* f) {
  f->set_node(req.Param("node"));
  f->set_namespace_(req.Param("namespace"));
  f->set_pod(req.Param("pod"));
  f->set_image(req.Param("image"));
  f->set_digest(req.Param("digest"));
  f->set_reason(req.Param("reason"));
  f->set_verdict(req.Param("verdict"));
  if (!f->verdict().empty() && f->verdict() != "ALLOW" && f->verdict() != "DENY") {
    return ParamError{"verdict", StrCat("\"", f->verdict(), "\" is not ALLOW or DENY")};
  }
  f->set_signer(req.Param("signer"));
  f->set_mode(req.Param("mode"));
  if (!f->mode().empty() && f->mode() != "enforce" && f->mode() != "warn" && f->mode() != "audit") {
    return ParamError{"mode", StrCat("\"", f->mode(), "\" is not enforce, warn or audit")};
  }
  absl::Time now = absl::Now();
  std::optional<int64_t> since, until;
  if (auto e = ParseTimeInto(req, "since", now, &since)) return e;
  if (auto e = ParseTimeInto(req, "until", now, &until)) return e;
  if (since && until && *until <= *since) return ParamError{"until", "is not after since"};
  if (since) f->set_since_unix_micros(*since);
  if (until) f->set_until_unix_micros(*until);
  return std::nullopt;
}

HttpResponse ServeEvents(EventStore* store, const HttpRequest& req) {
  static const std::set<std::string> kKnown = {"node",   "namespace", "pod",   "image",
                                               "digest", "verdict",   "reason", "mode",
                                               "since",  "until",     "page_size", "page_token",
                                               "signer"};
  if (auto e = CheckQuery(req, kKnown)) return BadParameter(e->parameter, e->message);
  v1::EventFilter filter;
  if (auto e = ParseFilter(req, &filter)) return BadParameter(e->parameter, e->message);
  int page_size = kDefaultPageSize;
  if (auto e = ParseCount(req, "page_size", kMaxPageSize, &page_size)) {
    return BadParameter(e->parameter, e->message);
  }
  absl::StatusOr<EventPage> page = store->Query(filter, page_size, req.Param("page_token"));
  if (!page.ok()) {
    // The store's only INVALID_ARGUMENT is a page token it did not hand out.
    if (absl::IsInvalidArgument(page.status())) {
      return BadParameter("page_token", std::string(Sv(page.status().message())));
    }
    return StoreError(page.status());
  }
  v1::QueryEventsResponse response;
  for (v1::Event& ev : page->events) *response.add_events() = std::move(ev);
  response.set_next_page_token(page->next_page_token);
  return ProtoJson(response);
}

HttpResponse ServeNodes(EventStore* store, const HttpRequest& req) {
  if (auto e = CheckQuery(req, {})) return BadParameter(e->parameter, e->message);
  absl::StatusOr<std::vector<v1::NodeSummary>> nodes = store->Nodes();
  if (!nodes.ok()) return StoreError(nodes.status());
  v1::ListNodesResponse response;
  for (v1::NodeSummary& n : *nodes) *response.add_nodes() = std::move(n);
  return ProtoJson(response);
}

HttpResponse ServeImages(EventStore* store, const HttpRequest& req) {
  if (auto e = CheckQuery(req, {"since", "limit"})) return BadParameter(e->parameter, e->message);
  std::optional<int64_t> since;
  if (auto e = ParseTimeInto(req, "since", absl::Now(), &since)) {
    return BadParameter(e->parameter, e->message);
  }
  int limit = kDefaultPageSize;
  if (auto e = ParseCount(req, "limit", kMaxWebImages, &limit)) {
    return BadParameter(e->parameter, e->message);
  }
  absl::StatusOr<std::vector<v1::ImageSummary>> images =
      store->Images(since ? absl::FromUnixMicros(*since) : absl::InfinitePast(), limit);
  if (!images.ok()) return StoreError(images.status());
  v1::ListImagesResponse response;
  for (v1::ImageSummary& im : *images) *response.add_images() = std::move(im);
  return ProtoJson(response);
}

// 128 random bits as hex: a new CSP nonce for every page served.
std::string NewNonce() {
  std::random_device random;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < kNonceBytes; ++i) {
    unsigned byte = random() & 0xff;
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
  return out;
}

HttpResponse ServePage(const HttpRequest&) {
  // The page's filter parameters are read by its script, not here: the page itself is the
  // same for every query.
  std::string nonce = NewNonce();
  std::string body(WebPageTemplate());
  for (size_t at = body.find(kWebPageNoncePlaceholder); at != std::string::npos;
       at = body.find(kWebPageNoncePlaceholder, at)) {
    body.replace(at, kWebPageNoncePlaceholder.size(), nonce);
  }
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  r.headers = {
      {"Content-Security-Policy",
       StrCat("default-src 'none'; script-src 'nonce-", nonce, "'; style-src 'nonce-", nonce,
              "'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'self'; "
              "frame-ancestors 'none'")},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cache-Control", "no-store"},
  };
  return r;
}

}  // namespace

std::vector<telemetry::HttpRoute> WebRoutes(EventStore* store) {
  return {
      {"/", ServePage},
      {"/api/events", [store](const HttpRequest& req) { return ServeEvents(store, req); }},
      {"/api/nodes", [store](const HttpRequest& req) { return ServeNodes(store, req); }},
      {"/api/images", [store](const HttpRequest& req) { return ServeImages(store, req); }},
  };
}

telemetry::AdminHttpOptions WebHttpOptions(EventStore* store) {
  telemetry::AdminHttpOptions options;
  options.routes = WebRoutes(store);
  options.builtin_routes = false;
  options.threads = kWebHttpThreads;
  options.max_connections_per_peer = kWebHttpMaxConnectionsPerPeer;
  return options;
}

}  // namespace layerseal::controller
