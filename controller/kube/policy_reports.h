// PolicyReports (issue 19): the controller keeps one report per namespace from the verdict
// events it stores, in the API the setting kubernetes.policyReports chooses:
//   - "wgpolicyk8s.io": wgpolicyk8s.io/v1alpha2 PolicyReport (Kyverno, Policy Reporter);
//   - "openreports.io": openreports.io/v1alpha1 Report (the successor API);
//   - "off": none (the default outside the Helm chart).
// The CRDs come with the Helm chart (packaging/helm/layerseal/files/crds, copies of the
// upstream files, installed when policyReports.installCRDs is true). The objects written
// match those schemas (the API server validates them; tests/integration/
// policy_reports_apiserver_test.cc writes them to a real one).
//
// The report: name kReportName in each namespace that has results, labelled
// app.kubernetes.io/managed-by=layerseal; openreports.io's also has top-level source
// "layerseal"; no scope (the report covers its namespace). One result per (pod name, image):
// the latest verdict for it (by gate time; the same time: the one offered last) replaces
// the earlier one, an older one is ignored.
//   - source "layerseal"; policy = the scope that judged (Verdict.scope; kNoScopePolicy when
//     the event names none, e.g. POLICY_UNAVAILABLE); rule = the requirement the reason
//     belongs to (RuleForReason); message = "<REASON>: <detail>" (at most
//     kMaxResultMessageBytes);
//   - result (ResultFor): "error" when the verifier could not decide (REGISTRY_ERROR,
//     POLICY_UNAVAILABLE, CONTENT_UNAVAILABLE), whatever the decision: a scope that allows
//     on registry errors admitted an image nobody verified, which is not a pass; otherwise
//     "pass" for ALLOW, "fail" for a DENY that was refused (admitted false), "warn" for a
//     DENY let through by warn or audit mode (admitted true);
//   - resources: the Pod (apiVersion v1, kind Pod, namespace, name, uid when known);
//     properties (strings, each at most kMaxResultFieldBytes): image, digest, gate, node,
//     reason, mode (those the event has);
//   - timestamp {seconds, nanos}: the gate's time; summary: the counts of
//     pass/fail/warn/error/skip (skip always 0).
// Bounded: at most `max_results` results per report (kDefaultMaxResults; 0 means the
// default; clamped to kMaxResultsLimit), and at most kMaxReportBytes of results (etcd keeps
// objects up to 1.5 MiB), and all reports together at most kMaxTotalResultBytes; the oldest
// results (by gate time) are pruned first, and the number pruned is counted in
// layerseal_controller_policy_report_results_pruned_total.
// At most kMaxNamespaces namespaces are tracked; events for more are counted in
// layerseal_controller_policy_report_events_skipped_total and skipped.
//
// Writing: a thread writes each changed ("dirty") namespace's report every `interval`:
// replace (PUT with the resourceVersion of the last write, or read by GET when there is
// none), or create (POST) when there is none; a 409 conflict (someone else changed it, or
// created it first) is read again and retried, at most kMaxConflictRetries times. A report
// deleted by someone is written again at the next change (the PUT's 404 makes a POST). A
// namespace the API server says does not exist is forgotten (its results dropped). An API
// server that is down only delays reports: the namespaces stay dirty and the next round
// writes them (Offer never blocks on it); a transport error (UNAVAILABLE, DEADLINE_EXCEEDED)
// ends the round, an HTTP error for one namespace does not stop the others. Requests go
// through DoWithRetry with `retry` (Stop() cancels its waits). Counted in
// layerseal_controller_policy_reports_writes_total{result="ok"|"failed"} and
// layerseal_controller_policy_report_results{namespace} (a gauge).
//
// At start the controller seeds the reports from the store's newest events (Seed), so a
// restart does not empty them.
//
// Thread-safety: Offer() and Results() from any thread, never blocked by a write in
// progress; SyncNow() from any thread (rounds are serialized); Seed/Start/Stop/destructor
// from one. Ownership: borrows transport, logger and registry (they must outlive it).
#ifndef LAYERSEAL_CONTROLLER_KUBE_POLICY_REPORTS_H_
#define LAYERSEAL_CONTROLLER_KUBE_POLICY_REPORTS_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/event_store.h"
#include "controller/kube/client.h"
#include "layerseal/v1/controller.pb.h"
#include "nlohmann/json.hpp"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::controller::kube {

enum class ReportApi { kOff, kWgPolicy, kOpenReports };
// "off", "wgpolicyk8s.io" or "openreports.io"; anything else: INVALID_ARGUMENT naming it.
absl::StatusOr<ReportApi> ParseReportApi(std::string_view text);
std::string_view ReportApiName(ReportApi api);

inline constexpr char kReportName[] = "layerseal";
inline constexpr size_t kDefaultMaxResults = 1000;
inline constexpr size_t kMaxResultsLimit = 5000;  // the setting's ceiling (etcd's object size)
inline constexpr size_t kMaxNamespaces = 10000;
inline constexpr absl::Duration kDefaultReportInterval = absl::Seconds(30);
// Seed(): at most this many of the store's newest events are read at start.
inline constexpr size_t kMaxSeedEvents = 50000;
// The results of one report, as JSON, at most this many bytes (the oldest pruned first),
// counted as the API server stores them (Go's JSON escapes <, > and &). With the object's
// metadata this stays below etcd's default request limit (1.5 MiB).
inline constexpr size_t kMaxReportBytes = 1024 * 1024;
// All namespaces' results together, counted the same way, at most this many bytes (memory:
// kMaxNamespaces full reports would be 10 GiB); beyond it the oldest result of any namespace
// is pruned first.
inline constexpr size_t kMaxTotalResultBytes = 128 * 1024 * 1024;
// A result's message, and each of its properties and names, at most this many bytes (made
// valid UTF-8 and cut at a character boundary with an ellipsis: base/utf8.h TruncateUtf8).
inline constexpr size_t kMaxResultMessageBytes = 512;
inline constexpr size_t kMaxResultFieldBytes = 512;
// One namespace's write: at most this many 409 conflicts re-read and retried.
inline constexpr int kMaxConflictRetries = 5;
// The policy of a result whose event names no scope.
inline constexpr char kNoScopePolicy[] = "none";

// The rule (requirement) a Verdict.reason belongs to: "signed" (the seal and cosign
// signature reasons, and REGISTRY_ERROR / LIMIT_EXCEEDED met while reading them),
// "unsigned" (INSECURE_ACCEPT_ANYTHING: a scope that admits unsigned images), "policy"
// (REJECTED_BY_POLICY, POLICY_UNAVAILABLE), "integrity" (INTEGRITY_MISMATCH,
// CONTENT_UNAVAILABLE), "trustedBases" (UNTRUSTED_BASE), "protectedPaths" (PROTECTED_PATH);
// "other" for a reason it does not know. Every verifier/verdict.h reason has a rule
// (tests/unit/policy_reports_test.cc loops over them).
std::string_view RuleForReason(std::string_view reason);

// "pass", "fail", "warn" or "error" for a VERDICT event (see above).
std::string_view ResultFor(const v1::Event& event);

// One result as the reporter keeps it (before it becomes JSON).
struct ReportResult {
  std::string pod_name;
  std::string pod_uid;
  std::string image;
  std::string digest;
  std::string policy;  // the scope
  std::string rule;    // the requirement
  std::string result;  // "pass", "fail", "warn", "error"
  std::string message;
  std::string gate;
  std::string node;
  std::string reason;
  std::string mode;  // the scope's mode: "enforce", "warn", "audit"
  absl::Time time;   // the gate's
};

// The result an event makes, with its namespace; nullopt when it makes none (not a
// VERDICT, no pod namespace or pod name).
std::optional<std::pair<std::string, ReportResult>> ReportResultFor(const v1::Event& event);

// The whole report object for `namespace_name` (apiVersion/kind by `api`; kOff is treated
// as kWgPolicy), results newest first (sorted here), with its summary. No resourceVersion.
nlohmann::json ReportObject(ReportApi api, const std::string& namespace_name,
                            const std::vector<ReportResult>& results);

struct PolicyReportsOptions {
  ApiTransport* transport = nullptr;
  ReportApi api = ReportApi::kWgPolicy;
  size_t max_results = kDefaultMaxResults;
  // All reports' results together (kMaxTotalResultBytes; smaller in tests; 0: the default).
  size_t max_total_result_bytes = kMaxTotalResultBytes;
  absl::Duration interval = kDefaultReportInterval;
  telemetry::Logger* logger = nullptr;
  telemetry::MetricsRegistry* metrics = nullptr;
  RetryOptions retry;
};

class PolicyReporter {
 public:
  explicit PolicyReporter(PolicyReportsOptions options);
  ~PolicyReporter();  // Stop()
  PolicyReporter(const PolicyReporter&) = delete;
  PolicyReporter& operator=(const PolicyReporter&) = delete;

  // Reads up to kMaxSeedEvents of the store's newest events (pages of kMaxPageSize) and
  // applies the VERDICT ones as Offer would, newest first (the outcome is the same as
  // oldest first: an older verdict never replaces a newer one, and one older than a full
  // report's oldest is pruned at once; these prunes are not counted). Marks every namespace
  // it fills dirty, so the first round writes them. A store error is returned; what was
  // read before it is kept.
  absl::Status Seed(EventStore& store);
  void Start();  // the writer thread (once)
  // Cancels the retry waits of a round in progress, ends the thread, then one last round
  // with single attempts. Idempotent.
  void Stop();

  // Applies `event` to its namespace's results (ReportResultFor) and marks it dirty. Never
  // blocks on the API server.
  void Offer(const v1::Event& event);

  // Writes every dirty namespace now (the thread's round); returns the first error (others
  // still tried, but a transport error ends the round). For tests and Stop().
  absl::Status SyncNow();

  // For tests: the results kept for a namespace, newest first.
  std::vector<ReportResult> Results(const std::string& namespace_name) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::controller::kube

#endif  // LAYERSEAL_CONTROLLER_KUBE_POLICY_REPORTS_H_
