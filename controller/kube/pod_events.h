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
// Deduplication, the way the kubelet's event correlator does it: an Event with the same
// involved object, reason and message as one written less than kDedupWindow ago is not
// created again; the existing Event's count is incremented and its lastTimestamp moved
// (PATCH, strategic merge). If the PATCH finds it gone (404, e.g. the API server's event TTL),
// a new Event is created. The key cache holds at most kMaxDedupEntries keys (least recently
// used go first). The same layerseal event delivered twice (an agent's resend: same node,
// spool incarnation and seq) is counted once (kMaxRememberedIds ids remembered).
//
// Never blocks ingestion: Offer() only queues (at most kMaxQueuedPodEvents; beyond that the
// event is dropped and counted in layerseal_controller_kube_events_total{result="dropped"}).
// A worker thread writes with DoWithRetry; an API server that is down delays Events, it never
// slows the controller's gRPC path. Results are counted in
// layerseal_controller_kube_events_total{result="created"|"patched"|"failed"|"dropped"}.
//
// Thread-safety: Offer() from any thread (gRPC's); Start/Stop/destructor from one.
// Ownership: borrows the transport, logger and metrics registry (must outlive it).
#ifndef LAYERSEAL_CONTROLLER_KUBE_POD_EVENTS_H_
#define LAYERSEAL_CONTROLLER_KUBE_POD_EVENTS_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
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

// What one layerseal event asks for on its Pod; nullopt when it asks for none (see above).
struct PodEventSpec {
  std::string namespace_name;
  std::string pod_name;
  std::string pod_uid;  // may be empty
  std::string type = "Warning";
  std::string reason;   // kDeniedReason, kWarnReason or kRevokedReason
  std::string message;
  absl::Time time;      // the gate's time (Event.time_unix_micros)
};
std::optional<PodEventSpec> PodEventFor(const v1::Event& event);

// The core/v1 Event object written for `spec` the first time (name "<pod>.<16 hex>", count 1,
// firstTimestamp = lastTimestamp = spec.time, source.component, reportingComponent,
// reportingInstance = `instance`).
nlohmann::json EventObject(const PodEventSpec& spec, const std::string& instance);

struct PodEventsOptions {
  ApiTransport* transport = nullptr;
  telemetry::Logger* logger = nullptr;
  telemetry::MetricsRegistry* metrics = nullptr;
  std::string instance;  // reportingInstance: the controller's Pod name or hostname
  RetryOptions retry;
  std::function<absl::Time()> now = [] { return absl::Now(); };  // for the dedup window
};

class PodEventRecorder {
 public:
  explicit PodEventRecorder(PodEventsOptions options);
  ~PodEventRecorder();  // Stop()
  PodEventRecorder(const PodEventRecorder&) = delete;
  PodEventRecorder& operator=(const PodEventRecorder&) = delete;

  void Start();  // the worker thread
  // The worker ends after the request in flight (its retries are cancelled); what is still
  // queued is dropped and counted.
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
