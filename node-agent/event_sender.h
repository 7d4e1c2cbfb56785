// Delivery of the spool's events (spool.h) to the controller: a background thread sends the
// oldest unacknowledged events in batches with EventIngest.ReportEvents (controller.proto)
// and acknowledges them in the spool once the controller has answered OK. Delivery is at
// least once; the controller stores each (node, spool incarnation, seq) once (an id it has
// with other content it keeps aside as a conflict and still answers OK: nothing is lost).
//
// Failures never drop events: the sender backs off exponentially with jitter (kMinBackoff to
// kMaxBackoff, base/backoff.h) and tries again; PERMISSION_DENIED and INVALID_ARGUMENT (a
// wrong certificate or a batch the controller refuses) are logged as errors and retried at
// kMaxBackoff, since only an operator can fix them. With nothing to send, an empty batch every kHeartbeatInterval
// carries the agent's status. Appending never waits on the sender: the sender only reads
// the spool, in its own thread.
//
// Thread-safety: Wake may be called from any thread. Ownership: the sender owns its thread and
// channel; the spool and logger are borrowed and must outlive it. The destructor cancels an
// RPC in flight and joins the thread.
#ifndef LAYERSEAL_NODE_AGENT_EVENT_SENDER_H_
#define LAYERSEAL_NODE_AGENT_EVENT_SENDER_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "node-agent/spool.h"
#include "telemetry/log.h"

namespace layerseal::agent {

inline constexpr size_t kMaxBatchEvents = 500;
inline constexpr size_t kMaxBatchBytes = 1 << 20;
inline constexpr absl::Duration kReportDeadline = absl::Seconds(10);
inline constexpr absl::Duration kHeartbeatInterval = absl::Seconds(10);
inline constexpr absl::Duration kMinBackoff = absl::Milliseconds(500);
inline constexpr absl::Duration kMaxBackoff = absl::Seconds(30);

struct EventSenderOptions {
  std::string target;  // "host:port", or "unix:/path" (tests)
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string tls_server_name;  // "": the target's host name
  std::string node;
  std::string agent_version;
  std::function<std::string()> policy_version;  // the node policy's version; may be empty
  EventSpool* spool = nullptr;                  // borrowed
  telemetry::Logger* logger = nullptr;          // borrowed; nullptr: no logging
  // Called after each ReportEvents with "ok" or "error" (a metric); on the sender's thread.
  std::function<void(std::string_view result)> on_batch;
  // Called with the number of package inventories the controller refused in a batch it
  // stored (ReportEventsResponse.packages_refused; a metric); on the sender's thread. The
  // sender logs the controller's reasons as an error.
  std::function<void(uint32_t refused)> on_packages_refused;
  // Tests shorten these.
  absl::Duration deadline = kReportDeadline;
  absl::Duration heartbeat = kHeartbeatInterval;
  absl::Duration min_backoff = kMinBackoff;
  absl::Duration max_backoff = kMaxBackoff;
};

class EventSender {
 public:
  static absl::StatusOr<std::unique_ptr<EventSender>> Start(EventSenderOptions options);
  ~EventSender();
  EventSender(const EventSender&) = delete;
  EventSender& operator=(const EventSender&) = delete;

  // New events are in the spool: send them now rather than at the next heartbeat. Cheap;
  // does not wait for anything but a short lock.
  void Wake();

 private:
  explicit EventSender(EventSenderOptions options);
  void Run();
  // Sends one batch (empty: a heartbeat). CANCELLED once stopping.
  grpc::Status Send(const std::vector<v1::Event>& events, v1::ReportEventsResponse* response);
  void ReportRefusedPackages(const v1::ReportEventsResponse& response);
  void OnFailure(const grpc::Status& status, size_t events, absl::Duration retry_in);
  // Waits `d`, or less when stopping (or woken, if `wakeable`). False once stopping.
  bool Wait(absl::Duration d, bool wakeable);

  const EventSenderOptions options_;
  std::unique_ptr<v1::EventIngest::Stub> stub_;
  uint64_t failures_ = 0;  // consecutive; sender thread only

  // std:: rather than absl:: here because waits must run on the monotonic clock: Debian's
  // abseil waits until a CLOCK_REALTIME deadline, so a wall clock stepped back by an hour
  // would hold every retry and heartbeat back an hour (base/clock.h).
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                      // guarded by mu_
  bool woken_ = false;                         // guarded by mu_
  grpc::ClientContext* in_flight_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

// Mutual-TLS credentials for the controller from PEM files (`ca` "": the system's roots).
// The client certificate's common name must equal `node`: the controller takes events only
// for the node its certificate names, so any other name is an error naming both.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ControllerCredentials(
    const std::string& ca, const std::string& cert, const std::string& key,
    const std::string& node);

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_EVENT_SENDER_H_
