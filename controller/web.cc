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
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

using telemetry::HttpRequest;
using telemetry::HttpResponse;

constexpr char kJsonType[] = "application/json; charset=utf-8";
constexpr char kNoncePlaceholder[] = "{{NONCE}}";
constexpr int kNonceBytes = 16;

// The page. Everything shown from an event is set with textContent (never innerHTML), so
// an image named "<img src=x onerror=...>" is text. The inline <style> and <script> run
// only because they carry the response's nonce (see the CSP in ServePage).
constexpr char kPage[] = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>layerseal controller</title>
<style nonce="{{NONCE}}">
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #1b1f24; background: #fff; }
header { display: flex; align-items: baseline; gap: 1em; border-bottom: 1px solid #d0d7de; }
h1 { font-size: 1.4em; margin: .6em 0; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
#status { color: #57606a; }
form { display: flex; flex-wrap: wrap; gap: .5em 1em; align-items: end; margin: .5em 0 1em; }
label { display: flex; flex-direction: column; font-size: .85em; color: #57606a; }
input, select { font: inherit; padding: .2em .3em; min-width: 8em; }
button, a.button { font: inherit; padding: .25em .8em; cursor: pointer; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, td.digest { font-family: ui-monospace, monospace; font-size: .92em; }
td.detail { color: #57606a; max-width: 28em; overflow-wrap: anywhere; }
td.image { overflow-wrap: break-word; max-width: 30em; }
td.time, td.node, td.digest, td.verdict, td.reason, td.mode, td.policy-version { white-space: nowrap; }
td a { color: inherit; }
.age { color: #57606a; }
.verdict-allow { color: #116329; font-weight: 600; }
.verdict-deny { color: #cf222e; font-weight: 600; }
.verdict-lost { color: #9a6700; font-weight: 600; }
.stale { color: #9a6700; }
.error { color: #cf222e; font-weight: 600; }
.empty { color: #57606a; font-style: italic; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 0 2em; }
@media (max-width: 1500px) { .columns { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header><h1>layerseal controller</h1><span id="status">loading</span></header>
<div class="columns">
<section>
<h2>Nodes</h2>
<table id="nodes">
<thead><tr><th>node</th><th>last seen</th><th>agent version</th><th>policy version</th><th>spool backlog</th><th>events lost</th><th>events</th><th>denied</th></tr></thead>
<tbody id="nodes-body"></tbody>
</table>
</section>
<section>
<h2>Images</h2>
<table id="images">
<thead><tr><th>image</th><th>last digest</th><th>allowed</th><th>denied</th><th>nodes</th><th>last seen</th></tr></thead>
<tbody id="images-body"></tbody>
</table>
</section>
</div>
<h2>Recent events</h2>
<form id="filters" method="get" action="/">
<label>node<input name="node" id="f-node"></label>
<label>namespace<input name="namespace" id="f-namespace"></label>
<label>pod<input name="pod" id="f-pod"></label>
<label>image<input name="image" id="f-image"></label>
<label>digest<input name="digest" id="f-digest"></label>
<label>verdict<select name="verdict" id="f-verdict"><option value="">any</option><option>ALLOW</option><option>DENY</option></select></label>
<label>reason<input name="reason" id="f-reason"></label>
<label>mode<select name="mode" id="f-mode"><option value="">any</option><option>enforce</option><option>warn</option><option>audit</option></select></label>
<label>since<input name="since" id="f-since" placeholder="1h or RFC 3339"></label>
<label>until<input name="until" id="f-until" placeholder="RFC 3339"></label>
<button type="submit">Filter</button>
<a class="button" href="/">Clear</a>
</form>
<p id="error" class="error" hidden></p>
<table id="events">
<thead><tr><th>time</th><th>node</th><th>namespace/pod</th><th>image</th><th>digest</th><th>verdict</th><th>reason</th><th>mode</th><th>detail</th></tr></thead>
<tbody id="events-body"></tbody>
</table>
<p id="events-empty" class="empty" hidden>No events match.</p>
<p><button id="older" type="button" hidden>Older</button></p>
<script nonce="{{NONCE}}">
"use strict";
const FILTERS = ["node", "namespace", "pod", "image", "digest", "verdict", "reason", "mode", "since", "until"];
const STALE_MS = 5 * 60 * 1000;
const $ = (id) => document.getElementById(id);

// The filter and paging parameters of this page's URL, passed on to /api/events as they are.
function pageQuery() {
  const from = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const name of FILTERS.concat(["page_size"])) {
    const v = from.get(name);
    if (v) out.set(name, v);
  }
  return out;
}

// Also as the fields' default values, so the DOM (and a saved page) says what is shown.
function fillForm(query) {
  for (const name of FILTERS) {
    const el = $("f-" + name);
    const v = query.get(name) || "";
    if (el.tagName === "SELECT") {
      for (const opt of el.options) opt.defaultSelected = opt.value === v;
    } else {
      el.defaultValue = v;
    }
    el.value = v;
  }
}

// Submitting navigates to "/?<only the fields set>", so a filtered view is a link.
$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = new URLSearchParams();
  for (const name of FILTERS) {
    const v = $("f-" + name).value.trim();
    if (v) out.set(name, v);
  }
  const size = new URLSearchParams(location.search).get("page_size");
  if (size) out.set("page_size", size);
  const q = out.toString();
  location.assign(q ? "/?" + q : "/");
});

async function getJson(url) {
  const res = await fetch(url, {headers: {"Accept": "application/json"}});
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error : "HTTP " + res.status;
    throw new Error(url.split("?")[0] + ": " + msg);
  }
  return body || {};
}

function showError(message) {
  const p = $("error");
  p.textContent = message;
  p.hidden = false;
}

function micros(v) { return Number(v || 0); }
function timeText(us) {
  if (!us) return "";
  const d = new Date(us / 1000);
  return isNaN(d) ? "" : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function shortDigest(d) {
  if (!d) return "";
  const i = d.indexOf(":");
  return i >= 0 && d.length > i + 13 ? d.slice(0, i + 13) : d;
}

function ageText(us) {
  const s = Math.round((Date.now() - us / 1000) / 1000);
  if (!us || s < 0) return "";
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

// A cell whose text is `text` (never parsed as HTML).
function cell(row, text, cls, title) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  if (title) td.title = title;
  row.appendChild(td);
  return td;
}

// A cell linking to the events filtered by `name` = `value` (shown as text).
function filterCell(row, name, value, cls) {
  const td = cell(row, "", cls);
  if (!value) return td;
  const a = document.createElement("a");
  a.href = "/?" + new URLSearchParams([[name, value]]).toString();
  a.textContent = value;
  td.appendChild(a);
  return td;
}

// A time cell: the UTC time and, for summaries, how long ago.
function timeCell(row, us, cls, withAge) {
  const td = cell(row, timeText(us), "mono time" + (cls ? " " + cls : ""));
  if (withAge && us) {
    const span = document.createElement("span");
    span.className = "age";
    span.textContent = " (" + ageText(us) + ")";
    td.appendChild(span);
  }
  return td;
}

function eventRow(ev) {
  const v = ev.verdict || {};
  const tr = document.createElement("tr");
  tr.className = "event";
  timeCell(tr, micros(ev.timeUnixMicros), "", false);
  filterCell(tr, "node", ev.node, "node");
  const pod = (ev.podNamespace || "") + (ev.podName ? "/" + ev.podName : "");
  cell(tr, pod, "pod");
  if (ev.kind === "EVENTS_LOST") {
    cell(tr, "", "image");
    cell(tr, "", "digest");
    cell(tr, "LOST " + micros(ev.lostCount), "verdict verdict-lost");
    cell(tr, "EVENTS_LOST", "reason");
    cell(tr, "", "mode");
    cell(tr, "the agent could not keep " + micros(ev.lostCount) + " events", "detail");
    return tr;
  }
  filterCell(tr, "image", ev.image || v.reference, "image");
  cell(tr, shortDigest(v.digest), "digest", v.digest);
  const verdict = v.verdict || "";
  const cls = verdict === "ALLOW" ? "verdict-allow" : verdict === "DENY" ? "verdict-deny" : "";
  cell(tr, verdict, "verdict " + cls, ev.admitted ? "admitted" : "refused");
  cell(tr, v.reason, "reason");
  cell(tr, v.mode, "mode");
  cell(tr, v.detail, "detail");
  return tr;
}

let nextToken = "";
async function loadEvents(token) {
  const q = pageQuery();
  if (token) q.set("page_token", token);
  const page = await getJson("/api/events?" + q.toString());
  const body = $("events-body");
  for (const ev of page.events || []) body.appendChild(eventRow(ev));
  $("events-empty").hidden = body.rows.length > 0;
  nextToken = page.nextPageToken || "";
  $("older").hidden = !nextToken;
}

$("older").addEventListener("click", () => {
  if (nextToken) loadEvents(nextToken).catch((e) => showError(e.message));
});

async function loadImages() {
  const res = await getJson("/api/images");
  const body = $("images-body");
  for (const im of res.images || []) {
    const tr = document.createElement("tr");
    tr.className = "image-summary";
    filterCell(tr, "image", im.image, "image");
    cell(tr, shortDigest(im.lastDigest), "digest", im.lastDigest);
    cell(tr, micros(im.allowed), "num allowed");
    cell(tr, micros(im.denied), "num denied" + (micros(im.denied) > 0 ? " verdict-deny" : ""));
    cell(tr, (im.nodes || []).join(", "), "nodes");
    timeCell(tr, micros(im.lastSeenUnixMicros), "", true);
    body.appendChild(tr);
  }
}

async function loadNodes() {
  const res = await getJson("/api/nodes");
  const body = $("nodes-body");
  for (const n of res.nodes || []) {
    const s = n.status || {};
    const seen = micros(n.lastSeenUnixMicros);
    const tr = document.createElement("tr");
    tr.className = "node-summary";
    filterCell(tr, "node", n.node, "node");
    timeCell(tr, seen, Date.now() - seen / 1000 > STALE_MS ? "stale" : "", true);
    cell(tr, s.agentVersion, "agent-version");
    cell(tr, shortDigest(s.policyVersion), "mono policy-version", s.policyVersion);
    cell(tr, micros(s.spoolBacklog), "num backlog");
    cell(tr, micros(s.eventsLost), "num lost");
    cell(tr, micros(n.events), "num events");
    cell(tr, micros(n.denied), "num denied");
    body.appendChild(tr);
  }
}

async function main() {
  fillForm(new URLSearchParams(location.search));
  const results = await Promise.allSettled([loadEvents(""), loadImages(), loadNodes()]);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) showError(failed.map((r) => r.reason.message).join("; "));
  $("status").textContent = failed.length ? "error" : "as of " + timeText(Date.now() * 1000);
  document.body.dataset.loaded = failed.length ? "error" : "ok";
}
main();
</script>
</body>
</html>
)html";

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
                                               "since",  "until",     "page_size", "page_token"};
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
  std::string body = kPage;
  for (size_t at = body.find(kNoncePlaceholder); at != std::string::npos;
       at = body.find(kNoncePlaceholder, at)) {
    body.replace(at, sizeof(kNoncePlaceholder) - 1, nonce);
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
