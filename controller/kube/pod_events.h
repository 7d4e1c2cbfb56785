// Kubernetes Events on the Pod (issue 19): when a gate denies an image for a pod, the
// controller writes a `Warning` Event (core/v1) on that Pod, so `kubectl describe pod` shows
// layerseal's line next to the kubelet's own (ErrImagePull, SignatureValidationFailed).
//
// What makes an Event (PodEventFor):
//   - a VERDICT event with a pod (pod_namespace and pod_name set) whose verdict is DENY;
//   - reason kDeniedReason when the call was refused (admitted false), kWarnReason when the
//     scope's mode let it through (warn: admitted with a DENY verdict), kRevokedReason for gate
//     "Revalidation" (a running container no longer admitted, issue 18); audit-mode verdicts
//     make none (audit is for the controller's records only);
//   - the message names the layerseal reason, the image (and digest), the gate, the node and
//     the scope's policy: "<REASON>: <image>@<digest> denied by layerseal (<gate> on <node>,
//     policy <scope>): <detail>", at most kMaxMessageBytes;
//   - involvedObject: kind Pod, the namespace, name and uid (Event.pod_uid; when empty, the
//     Pod's uid from GET pods/<name>, and the Event is still written without one when the
//     Pod cannot be read).
//
// Deduplication, the way the kubelet's event correlator (client-go tools/record,
// events_cache.go) does it: the key is the involved object (namespace, name, uid), type,
// reason and message (source and reporting fields are this controller's, the same for all).
// An Event whose key was written less than kDedupWindow ago (measured on the monotonic clock
// from the key's last write, so repeats keep it alive) is not created again: the existing
// Event's count is incremented and its lastTimestamp (the gate's time, never moved back) and
// message set by a strategic-merge PATCH. If the PATCH finds it gone (404, e.g. the API
// server's event TTL), a new Event is created. The key cache holds at most kMaxDedupEntries
// keys (least recently used go first). The same layerseal event delivered twice (an agent's
// resend: same node, spool incarnation and seq) is counted once (the last kMaxRememberedIds
// queued ids remembered). An Event name is derived from its content (EventObject), so a
// create retried after a lost answer finds it (409) and counts it as created.
//
// Never blocks ingestion: Offer() only queues (at most kMaxQueuedPodEvents; beyond that the
// event is dropped and counted in layerseal_controller_kube_events_total{result="dropped"}).
// A worker thread writes one Event at a time with DoWithRetry. When the API server cannot be
// reached (transport errors, 429, 5xx, also after DoWithRetry gave up), the worker holds that
// Event and tries it again after `unavailable_backoff` waits until it goes through or Stop():
// an API server that is down delays Events (no loss within the queue bound), it never slows
// the controller's gRPC path. Any other answer (403, 422, ...) is final: the Event is counted
// failed and the next one is written; except 401 and 403 within kPodEventsAuthSettle of the
// API server having been unreachable, which are held too: a restarted API server refuses
// until its RBAC caches are synced (kubernetes/kubernetes#121635). Results are counted in
// layerseal_controller_kube_events_total{result="created"|"patched"|"failed"|"dropped"}.
// Failures are logged at most once per kPodEventsLogInterval per kind (with how many were
// not logged), so a dead API server does not flood the log.
//
// Thread-safety: Offer() and WaitIdle() from any thread (gRPC's); Start/Stop/destructor from
// one. Ownership: borrows the transport, logger, metrics registry and clock (must outlive it;
// logger and metrics may be null).
#ifndef LAYERSEAL_CONTROLLER_KUBE_POD_EVENTS_H_
#define LAYERSEAL_CONTROLLER_KUBE_POD_EVENTS_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "controller/kube/client.h"
#include "layerseal/v1/controller.pb.h"
#include "nlohmann/json.hpp"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::controller::kube {

inline constexpr char kDeniedReason[] = "ImageSignatureDenied";
inline constexpr char kWarnReason[] = "ImageSignatureWarning";
inline constexpr char kRevokedReason[] = "ImageNoLongerAdmitted";
// Event.source.component / reportingController.
inline constexpr char kReportingComponent[] = "layerseal-controller";
inline constexpr char kReportingController[] = "layerseal.dev/controller";

inline constexpr size_t kMaxQueuedPodEvents = 1000;
inline constexpr size_t kMaxDedupEntries = 4096;
inline constexpr size_t kMaxRememberedIds = 16384;
inline constexpr size_t kMaxMessageBytes = 1024;
inline constexpr absl::Duration kDedupWindow = absl::Minutes(10);
inline constexpr absl::Duration kPodEventsLogInterval = absl::Minutes(1);
inline constexpr absl::Duration kPodEventsAuthSettle = absl::Minutes(2);
// Event names are DNS subdomains (at most 253 bytes): "<pod>.<16 hex>", the pod's name cut to
// fit. reportingInstance is at most 128 bytes (the API's limit).
inline constexpr size_t kMaxEventNameBytes = 253;
inline constexpr size_t kMaxReportingInstanceBytes = 128;

// What one layerseal event asks for on its Pod; nullopt when it asks for none (see above).
struct PodEventSpec {
  std::string namespace_name;
  std::string pod_name;
  std::string pod_uid;  // may be empty
  std::string type = "Warning";
  std::string reason;   // kDeniedReason, kWarnReason or kRevokedReason
  std::string message;  // valid UTF-8, one line, at most kMaxMessageBytes
  absl::Time time;      // the gate's time (Event.time_unix_micros; absl::Now() when unset)
};
std::optional<PodEventSpec> PodEventFor(const v1::Event& event);

// The message of PodEventFor (exposed for tests and docs):
//   denied:  "<REASON>: <image>@<digest> denied by layerseal (<gate> on <node>, policy
//             <scope>): <detail>"
//   warn:    "<REASON>: <image>@<digest> would be denied by layerseal, admitted in warn mode
//             (...): <detail>"
//   revoked: "<REASON>: <image>@<digest> of running container <name> is no longer admitted
//             by layerseal (Revalidation on <node>, policy <scope>): <detail>"
// Parts that are empty are left out; the image is the CRI request's (else the verdict's
// reference), "@<digest>" added when it does not already name it. Cut to kMaxMessageBytes at
// a character boundary, ending in "…".
std::string PodEventMessage(const v1::Event& event, const std::string& reason);

// The core/v1 Event object written for `spec` the first time (name "<pod>.<16 hex>", the hex
// a hash of the spec, so the same spec makes the same name; count 1, firstTimestamp =
// lastTimestamp = spec.time, source.component, reportingComponent, reportingInstance =
// `instance`; involvedObject.uid only when spec.pod_uid is set).
nlohmann::json EventObject(const PodEventSpec& spec, const std::string& instance);

struct PodEventsOptions {
  ApiTransport* transport = nullptr;
  telemetry::Logger* logger = nullptr;
  telemetry::MetricsRegistry* metrics = nullptr;
  std::string instance;  // reportingInstance: the controller's Pod name or hostname
  RetryOptions retry;
  // The wait between rounds while the API server cannot be reached (see above).
  BackoffOptions unavailable_backoff{absl::Seconds(1), absl::Seconds(30), /*jitter=*/true};
  // The dedup window and the log rate limit run on clock->Monotonic().
  const Clock* clock = &SystemClock();
};

class PodEventRecorder {
 public:
  explicit PodEventRecorder(PodEventsOptions options);
  ~PodEventRecorder();  // Stop()
  PodEventRecorder(const PodEventRecorder&) = delete;
  PodEventRecorder& operator=(const PodEventRecorder&) = delete;

  void Start();  // the worker thread; once
  // The worker ends after the request in flight (its retries and waits are cancelled; the
  // real Client bounds a request by kRequestTimeout); what is still queued, and an Event held
  // for an unreachable API server, is dropped and counted. Offer() after Stop() drops.
  void Stop();

  // Queues `event` when it asks for a Pod Event (PodEventFor), else does nothing. Never blocks
  // on the API server.
  void Offer(const v1::Event& event);

  // For tests: true once the queue is empty and nothing is being written, within `timeout`.
  bool WaitIdle(absl::Duration timeout);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::controller::kube

#endif  // LAYERSEAL_CONTROLLER_KUBE_POD_EVENTS_H_
