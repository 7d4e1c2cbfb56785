// The controller's web page and the JSON routes it reads, served on the controller's admin
// HTTP server (telemetry/admin_http.h) next to /metrics, /healthz and /readyz:
//
//   GET /             one self-contained HTML page (styles and script inline, allowed by a
//                     per-response CSP nonce; nothing loaded from elsewhere): a filter form
//                     mirrored in the URL query, the recent events with "older" paging, a
//                     summary per image and one per node. Edited as controller/web/page.{html,
//                     css,js}, assembled into one document at build time (web_page.h).
//   GET /api/events   QueryEventsResponse as proto3 JSON. Parameters (each at most once):
//                     node namespace pod image digest reason (exact match), verdict (ALLOW,
//                     DENY), mode (enforce, warn, audit), since until (RFC 3339, or a
//                     duration back from now: 15m, 2h, 7d), page_size (1..1000),
//                     page_token (from next_page_token).
//   GET /api/nodes    ListNodesResponse as proto3 JSON; no parameters.
//   GET /api/images   ListImagesResponse as proto3 JSON; since, limit (1..1000).
//
// Errors are JSON {"error": "...", "parameter": "<name>"}: 400 for a bad or unknown
// parameter (named), 503 when the store fails.
//
// Thread-safety: the handlers run concurrently on the HTTP server's threads; they only call
// the store, which is safe for that (event_store.h).
// Ownership: the routes keep `store`, which must outlive the server that serves them.
#ifndef LAYERSEAL_CONTROLLER_WEB_H_
#define LAYERSEAL_CONTROLLER_WEB_H_

#include <cstddef>
#include <vector>

#include "controller/event_store.h"
#include "telemetry/admin_http.h"

namespace layerseal::controller {

// A filter value longer than this is refused (400): names, references and digests are
// far shorter.
inline constexpr size_t kMaxWebParamBytes = 1024;
// /api/images answers at most this many images (the `limit` parameter may ask for fewer).
inline constexpr int kMaxWebImages = 1000;

std::vector<telemetry::HttpRoute> WebRoutes(EventStore* store);

// The web listener's threads and how many one peer address may hold at once: a browser
// opens up to six connections to one host (the page loads three JSON routes in parallel),
// and behind kubectl port-forward every client is the same peer.
inline constexpr int kWebHttpThreads = 8;
inline constexpr int kWebHttpMaxConnectionsPerPeer = 6;

// The web listener as the controller runs it: WebRoutes(store) only (no /metrics or probes),
// kWebHttp* limits, plain HTTP on 127.0.0.1 and an ephemeral port; the caller sets the
// address, TLS and allowed hosts. `store` must outlive the server.
telemetry::AdminHttpOptions WebHttpOptions(EventStore* store);

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_WEB_H_
