// EventIngest: agents report batches of verdict events (controller.proto). Only a node's
// certificate (O=layerseal:nodes, controller/identity.h) may call it, PERMISSION_DENIED
// otherwise; the node is the certificate's common name, and a batch is accepted only for
// that node. A batch is validated completely (limits below, every event's node, seq and
// kind, every string's length) before anything of it is stored, so a malformed or oversized
// batch leaves the store untouched; a valid one is stored in one transaction (at least once
// delivery: ids already stored count as duplicates). Package inventories the events carry
// are validated and stored per image digest first (TakePackages below).
//
// Thread-safety: ReportEvents runs concurrently on gRPC's threads; the store and the
// metrics are safe for that. Ownership: borrows the store, the logger and the registry,
// which must outlive the service.
#ifndef LAYERSEAL_CONTROLLER_INGEST_SERVICE_H_
#define LAYERSEAL_CONTROLLER_INGEST_SERVICE_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "controller/event_store.h"
#include "controller/rpc_errors.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::controller {

// Events in one batch (agents send at most this many; RESOURCE_EXHAUSTED beyond).
inline constexpr int kMaxBatchEvents = 1000;
// Serialized bytes of one ReportEventsRequest; also the gRPC server's max receive size.
inline constexpr size_t kMaxBatchBytes = 4 * 1024 * 1024;
// Verdict.detail: a human-readable explanation, the only long string.
inline constexpr size_t kMaxFieldBytes = 4096;
// Every other string of an event or a status (names, references, digests, versions).
inline constexpr size_t kMaxShortFieldBytes = 1024;
// Event.spool_incarnation: an agent writes 32 hex digits ("" before the field existed).
inline constexpr size_t kMaxIncarnationBytes = 64;

// Package inventories (issue 18): ReportEventsResponse.packages_errors names at most this
// many refused attachments of a batch (packages_refused counts them all).
inline constexpr size_t kMaxPackagesErrors = 10;

// The label values of layerseal_controller_rejected_batches_total{reason}.
inline constexpr char kRejectUnauthenticated[] = "unauthenticated";
inline constexpr char kRejectNodeMismatch[] = "node_mismatch";
inline constexpr char kRejectMalformed[] = "malformed";
inline constexpr char kRejectTooLarge[] = "too_large";
inline constexpr char kRejectStoreError[] = "store_error";
inline constexpr char kRejectWrongRole[] = "wrong_role";  // a reader's certificate
inline constexpr char kRejectNoRole[] = "no_role";        // a certificate with no role

// A misbehaving agent retries its rejected batch, and a hostile one can send bad batches as
// fast as it likes: at most this many "batch rejected" lines are logged a second. The rest
// are counted by the metric as usual, and the next line logged says how many it left out.
inline constexpr int kMaxRejectLogsPerSecond = 5;

// Checks a batch for `request.node()`: limits, then every event in order. OK, or
// RESOURCE_EXHAUSTED (too many events or bytes), PERMISSION_DENIED (an event for another
// node) or INVALID_ARGUMENT, naming the first bad event's index and field.
absl::Status ValidateBatch(const v1::ReportEventsRequest& request);

// A batch's package attachments (Event.packages_attachment, issue 18), sorted out before
// its events are stored: each is validated strictly (verifier/layers/packages.h
// ParsePackagesAttachment; a VERDICT event's, naming the event's Verdict.digest as its
// "image") and taken off its event, which is stored without it. Valid ones become one
// record per digest (the batch's last for a digest wins); omissions
// (Event.packages_omitted_bytes) become records without an attachment. A refused one is
// counted and named ("events[i] (node/incarnation/seq): why"); its event is still stored:
// a bad inventory must not hold back the node's verdict events (the agent cannot repair it
// by resending).
struct PackagesIntake {
  std::vector<ImagePackagesRecord> records;
  int accepted = 0;  // valid attachments (before the per-digest merge)
  int omitted = 0;
  int refused = 0;
  std::vector<std::string> errors;  // at most kMaxPackagesErrors
};
PackagesIntake TakePackages(const std::string& node, std::vector<v1::Event>& events);

struct IngestOptions {
  EventStore* store = nullptr;
  telemetry::Logger* logger = nullptr;
  telemetry::MetricsRegistry* metrics = nullptr;
  CallTracker* calls = nullptr;  // in-flight batches, for a graceful stop
  // false only with `insecure: true` (no certificates, no roles): the request's node is
  // believed.
  bool require_identity = true;
  // Called after a batch stored at least one new event (wakes followers).
  std::function<void()> on_stored;
  // Called with the number of new events stored (the events_stored gauge).
  std::function<void(int)> on_count;
  // Called after a batch stored at least one new event, with the batch's events (the
  // Kubernetes publishers, issue 19: they only queue, and count an event id once, so a
  // resent event in a mixed batch is harmless). Must not block.
  std::function<void(const std::vector<v1::Event>&)> on_events;
};

class IngestService final : public v1::EventIngest::Service {
 public:
  explicit IngestService(IngestOptions options);

  grpc::Status ReportEvents(grpc::ServerContext* context, const v1::ReportEventsRequest* request,
                            v1::ReportEventsResponse* response) override;

  // The work of ReportEvents for a caller whose certificate names `cert_node` (nullopt:
  // no certificate, accepted only without require_identity).
  grpc::Status Report(const std::optional<std::string>& cert_node,
                      const v1::ReportEventsRequest& request, v1::ReportEventsResponse* response);

 private:
  grpc::Status Reject(const char* reason, const std::string& node, grpc::Status status);
  // Sets the node's lag and last-report gauges for an accepted batch.
  void RecordLag(const v1::ReportEventsRequest& request, absl::Time received);
  // Fills the response's packages_* fields, counts, and logs the refused ones.
  void ReportPackages(const std::string& node, const PackagesIntake& packages,
                      v1::ReportEventsResponse* response);
  // Counts a batch's conflicts (per node) and logs an error naming node and ids.
  void ReportConflicts(const std::string& node, const AppendResult& stored);

  const IngestOptions options_;
  absl::Mutex log_mu_;
  absl::Time log_second_ ABSL_GUARDED_BY(log_mu_);  // the second being counted
  int logged_this_second_ ABSL_GUARDED_BY(log_mu_) = 0;
  int64_t not_logged_ ABSL_GUARDED_BY(log_mu_) = 0;  // since the last line logged
  telemetry::Family<telemetry::Counter>* received_;
  telemetry::Family<telemetry::Counter>* duplicates_;
  telemetry::Family<telemetry::Counter>* conflicts_;
  telemetry::Family<telemetry::Counter>* rejected_;
  telemetry::Family<telemetry::Counter>* batches_;
  telemetry::Family<telemetry::Gauge>* lag_;
  telemetry::Family<telemetry::Gauge>* last_report_;
  telemetry::Family<telemetry::Histogram>* latency_;
  telemetry::Family<telemetry::Counter>* packages_;
};

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_INGEST_SERVICE_H_
