// PolicyReports (issue 19): the controller keeps one report per namespace from the verdict
// events it stores, in the API the setting kubernetes.policyReports chooses:
//   - "wgpolicyk8s.io": wgpolicyk8s.io/v1alpha2 PolicyReport (Kyverno, Policy Reporter);
//   - "openreports.io": openreports.io/v1alpha1 Report (the successor API);
//   - "off": none (the default outside the Helm chart).
// The CRDs come with the Helm chart (packaging/helm/layerseal/files/crds, installed when
// policyReports.installCRDs is true).
//
// The report: name kReportName in each namespace that has results, labelled
// app.kubernetes.io/managed-by=layerseal. One result per (pod, image): the latest verdict
// for it replaces the earlier one.
//   - source "layerseal"; policy = the scope that judged (Verdict.scope); rule = the
//     requirement the reason belongs to (RuleForReason: "signed" for the signature reasons,
//     "trustedBases", "protectedPaths", "integrity" for issue 18's, "policy" for a policy that
//     could not be applied, "unsigned" for a scope that admits unsigned images); message =
//     the reason and detail;
//   - result: "pass" for ALLOW, "fail" for a DENY that was refused, "warn" for a DENY let
//     through by warn mode (audit too), "error" when the verifier could not decide;
//   - resources: the Pod (apiVersion v1, kind Pod, namespace, name, uid); properties: image,
//     digest, gate, node, reason;
//   - timestamp: the gate's time; summary: the counts of pass/fail/warn/error/skip.
// Bounded: at most `max_results` results per report (kDefaultMaxResults); the oldest
// results (by gate time) are pruned first, and the number pruned is counted.
// At most kMaxNamespaces namespaces are tracked; events for more are counted and skipped.
//
// Writing: a thread writes each changed ("dirty") namespace's report every `interval`: GET,
// then create (POST) or replace (PUT with the resourceVersion read; a 409 conflict is read
// again and retried). A report deleted by someone is written again at the next change. An
// API server that is down only delays reports: the namespaces stay dirty and the next round
// writes them (Offer never blocks). Counted in
// layerseal_controller_policy_reports_writes_total{result="ok"|"failed"} and
// layerseal_controller_policy_report_results{namespace} (a gauge).
//
// At start the controller seeds the reports from the store's newest events (Seed), so a
// restart does not empty them.
//
// Thread-safety: Offer() from any thread; the rest from one. Ownership: borrows transport,
// logger and registry.
#ifndef LAYERSEAL_CONTROLLER_KUBE_POLICY_REPORTS_H_
#define LAYERSEAL_CONTROLLER_KUBE_POLICY_REPORTS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
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

// The rule (requirement) a Verdict.reason belongs to; "other" for a reason it does not know.
std::string_view RuleForReason(std::string_view reason);

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
  absl::Time time;
};

// The result an event makes; nullopt when it makes none (not a VERDICT, no pod namespace).
std::optional<std::pair<std::string, ReportResult>> ReportResultFor(const v1::Event& event);

// The whole report object for `namespace_name` (apiVersion/kind by `api`), results newest
// first, with its summary.
nlohmann::json ReportObject(ReportApi api, const std::string& namespace_name,
                            const std::vector<ReportResult>& results);

struct PolicyReportsOptions {
  ApiTransport* transport = nullptr;
  ReportApi api = ReportApi::kWgPolicy;
  size_t max_results = kDefaultMaxResults;
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

  // Reads up to kMaxSeedEvents of the store's newest VERDICT events (oldest applied first).
  absl::Status Seed(EventStore& store);
  void Start();  // the writer thread
  void Stop();   // one last bounded round, then the thread ends

  // Applies `event` to its namespace's results (ReportResultFor) and marks it dirty. Never
  // blocks on the API server.
  void Offer(const v1::Event& event);

  // Writes every dirty namespace now (the thread's round); the first error, others still
  // tried. For tests and Stop().
  absl::Status SyncNow();

  // For tests: the results kept for a namespace, newest first.
  std::vector<ReportResult> Results(const std::string& namespace_name) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::controller::kube

#endif  // LAYERSEAL_CONTROLLER_KUBE_POLICY_REPORTS_H_
