"use strict";
const FILTERS = ["node", "namespace", "pod", "image", "digest", "verdict", "reason", "mode", "signer", "since", "until"];
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

// Which signature admitted the image (issue 17): "seal" or "cosign-key" and the key's short
// id, or a keyless subject and its issuer; each links to the events filtered by that signer
// (the filter matches key id, issuer or subject). Then the Rekor log index, when there was
// an entry. The title holds the full key id and log id.
function signerCell(row, v) {
  const td = cell(row, "", "signer");
  const kind = v.signerKind || "";
  if (!kind) return td;
  const text = (t) => td.appendChild(document.createTextNode(t));
  const link = (value, shown) => {
    if (!value) return;
    const a = document.createElement("a");
    a.href = "/?" + new URLSearchParams([["signer", value]]).toString();
    a.textContent = shown;
    td.appendChild(a);
  };
  if (kind === "cosign-keyless") {
    link(v.signerSubject, v.signerSubject);
    text(" (");
    link(v.signerIssuer, v.signerIssuer);
    text(")");
  } else {
    text(kind + " ");
    link(v.keyId, shortDigest(v.keyId));
  }
  const title = [];
  if (v.keyId) title.push("key " + v.keyId);
  if (v.rekorLogIndex !== undefined) {
    text(" rekor #" + v.rekorLogIndex);
    title.push("rekor log " + (v.rekorLogId || "?") + " index " + v.rekorLogIndex);
  }
  td.title = title.join("; ");
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
    cell(tr, "", "signer");
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
  signerCell(tr, v);
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
    // The package inventory stored for the last digest (issue 18); "" when there is none.
    cell(tr, im.hasPackages ? micros(im.packages) : "", "num packages");
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
