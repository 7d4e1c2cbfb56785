// Continuous validation (issue 18, docs/continuous-validation.md "Sweeps"): the agent judges
// again, under the policies now in force, every image the runtime holds and every container
// it runs, when the policy in force changes and periodically.
//
// A sweep:
//   - lists the runtime's images (ListImages), pod sandboxes (ListPodSandbox) and running
//     containers (ListContainers), through the agent's upstream channel;
//   - judges each image as ImageStatus does (admitted under some policy in force), and each
//     running container's image as CreateContainer does (under its pod's namespace policy),
//     through the same ImageJudge the gates use: a cached verdict costs no registry traffic;
//     a verdict made under another trust_version (a key removed, a policy changed) is not
//     found, so the image is verified again;
//   - adds what the agent learned about the image's bytes (IntegrityState, or the gates'
//     integrity seam through `integrity_check`): a corrupt image, or a DENY of the scope's
//     integrity rules, is not admitted either;
//   - reports each running container no longer admitted as a VerdictEvent (gate
//     "Revalidation", not admitted, with its pod and container), once per (container,
//     reason, trust version) rather than once per sweep; with the scope's `onRevoked: stop`
//     it first stops the container (StopContainer with the grace period) and the event's
//     detail says so;
//   - sets the gauges of running containers and of images not admitted, by reason.
// Images are never removed (they are hidden by ImageStatus and refused by CreateContainer).
//
// Triggers: a change of the trust versions in force (a reload that adds or changes a
// namespace policy, removes a key, replaces a key file or a trusted root: PolicyChanged),
// every `interval`, and a request (SweepNow). Not the agent's start: the verdicts it
// remembers are those it made, and the first periodic sweep comes within `interval`.
// Triggers coalesce: a trigger while a sweep runs means one more sweep after it, however
// many triggers came. No sweep runs while no policy is in force (every image would be
// POLICY_UNAVAILABLE).
//
// Load: sweeps run on the sweeper's own thread (at a lower CPU priority, nice +kSweepNice)
// and never on the CRI proxy's threads or the gates' workers. Cached verdicts are read
// inline (ImageJudge::TryCached); judgements that may need the registry run on at most
// `concurrency` threads of the sweep's own, at most `verifications_per_second`. The runtime
// is asked three list calls per sweep, a ContainerStatus only for a container whose image
// the image list does not name, and a StopContainer per container stopped.
//
// Defines and updates its metrics (docs/agent.md): layerseal_sweeps_total,
// layerseal_sweep_seconds, layerseal_sweep_containers_not_admitted,
// layerseal_sweep_images_not_admitted, layerseal_sweep_containers_stopped_total.
//
// Thread-safety: Trigger, PolicyChanged and the accessors may be called from any thread;
// SweepNow too (sweeps are serialized). Ownership: borrows everything in SweepOptions but
// the channel (shared); they must outlive the sweeper. The destructor stops and joins the
// thread (a sweep in progress finishes its current judgement and stops).
#ifndef LAYERSEAL_NODE_AGENT_SWEEP_H_
#define LAYERSEAL_NODE_AGENT_SWEEP_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "node-agent/integrity_state.h"
#include "node-agent/policy_set.h"
#include "plugin/image_judge.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace layerseal::agent {

inline constexpr absl::Duration kDefaultSweepInterval = absl::Hours(1);
// The shortest periodic interval the configuration accepts (0 turns periodic sweeps off).
inline constexpr absl::Duration kMinSweepInterval = absl::Seconds(1);
inline constexpr absl::Duration kDefaultStopGracePeriod = absl::Seconds(30);
inline constexpr absl::Duration kMaxStopGracePeriod = absl::Hours(1);
inline constexpr int kDefaultSweepConcurrency = 2;
inline constexpr int kMaxSweepConcurrency = 16;
// Judgements a sweep lets reach the registry per second (cached ones are not counted).
inline constexpr double kDefaultSweepVerificationsPerSecond = 10;
inline constexpr double kMaxSweepVerificationsPerSecond = 1000;
// Deadline of each list call of a sweep and of a ContainerStatus; StopContainer gets the
// grace period on top.
inline constexpr absl::Duration kSweepCallTimeout = absl::Seconds(30);
// The nice value added to the sweep's threads (Linux: per thread), so that a sweep's CPU
// yields to the CRI path's.
inline constexpr int kSweepNice = 10;
// Containers whose report is remembered (so it is not repeated); one entry per running
// container not admitted, forgotten when it no longer runs.
inline constexpr size_t kMaxRememberedFindings = 65536;

// Why a sweep ran: the label of layerseal_sweeps_total.
enum class SweepTrigger { kPolicy, kPeriodic, kRequest };
std::string_view SweepTriggerName(SweepTrigger t);  // "policy", "periodic", "request"

// What one sweep saw and did.
struct SweepResult {
  absl::Status status;  // OK, or why the runtime could not be listed (nothing was judged)
  SweepTrigger trigger = SweepTrigger::kRequest;
  size_t images = 0;
  size_t images_not_admitted = 0;
  size_t containers = 0;  // running
  size_t containers_not_admitted = 0;
  size_t reported = 0;        // Revalidation events sent (new findings)
  size_t stopped = 0;         // containers stopped (onRevoked: stop)
  size_t stop_failures = 0;
  size_t judged_uncached = 0;  // judgements that were not answered from memory
  absl::Duration wall;
};

struct SweepOptions {
  std::shared_ptr<grpc::Channel> runtime;  // the runtime's CRI socket (runtime.v1); required
  plugin::ImageJudge* judge = nullptr;     // the gates' judge (behind the policy guard); required
  PolicySet* policies = nullptr;           // for each scope's onRevoked and integrity rules; required
  const IntegrityState* integrity = nullptr;  // optional: no integrity facts without it
  // Optional, and when set used instead of `integrity`: the verdict that stands for an
  // image a signature verdict admitted, given the judged request (repository@digest, with
  // the pod or any_policy) and that verdict: it unchanged, or the integrity DENY that
  // replaces it. For the gates' seam (plugin/pulled_image_check.h TryKnown or Check), so a
  // sweep applies exactly the gates' integrity judgement. Called on the sweeping thread
  // once per admitted (image, pod policy); may block (it is not paced).
  std::function<Verdict(const plugin::JudgeRequest& request, const Verdict& admitted)>
      integrity_check;
  plugin::EventSink* events = nullptr;        // optional
  telemetry::Logger* logger = nullptr;            // required
  telemetry::MetricsRegistry* metrics = nullptr;  // required
  absl::Duration interval = kDefaultSweepInterval;  // ZeroDuration(): no periodic sweeps
  absl::Duration stop_grace_period = kDefaultStopGracePeriod;
  int concurrency = kDefaultSweepConcurrency;
  double verifications_per_second = kDefaultSweepVerificationsPerSecond;
  absl::Duration call_timeout = kSweepCallTimeout;
  // Called after every sweep (any result), on the thread that swept; it must not block long
  // (a trigger waits behind it). For what runs beside sweeps, e.g. starting the integrity
  // scrub in the background after a periodic sweep (node-agent/scrub.h), whose corruption
  // marks the next sweep reads.
  std::function<void(const SweepResult&)> after_sweep;
};

class Sweeper {
 public:
  // Checks the options and defines the metrics; no thread yet (Start).
  explicit Sweeper(SweepOptions options);
  ~Sweeper();  // Stop()
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // Records the trust versions in force (PolicyChanged compares with them) and starts the
  // sweeper's thread, which sweeps on triggers and every `interval`. At most once.
  void Start();
  // Stops and joins the thread; a sweep in progress stops after its current judgement.
  // Idempotent.
  void Stop();

  // Asks for a sweep: at once when none runs, else one more after the current one
  // (coalesced with every other trigger until it starts).
  void Trigger(SweepTrigger why);
  // Triggers a sweep (kPolicy) when the trust versions in force (node and every namespace)
  // differ from those of the previous call: the hook for every successful policy reload.
  void PolicyChanged();

  // Runs one sweep on the calling thread (serialized with the thread's): for tests and
  // benches, and the admin's "sweep now".
  SweepResult SweepNow(SweepTrigger why = SweepTrigger::kRequest);

  // Sweeps finished (any result) since the start.
  uint64_t sweeps() const;
  SweepResult last_result() const;

 private:
  struct Finding;
  struct Listing;
  class Judging;
  void Loop();
  std::string TrustState() const;
  SweepResult Sweep(SweepTrigger why);
  absl::Status List(Listing* out);
  void UpdateGauges(const std::map<std::vector<std::string>, double>& containers,
                    const std::map<std::vector<std::string>, double>& images);
  bool Stopping() const;

  const SweepOptions options_;
  telemetry::Logger& log_;
  telemetry::Family<telemetry::Counter>* sweeps_total_ = nullptr;
  telemetry::Family<telemetry::Histogram>* sweep_seconds_ = nullptr;
  telemetry::Family<telemetry::Gauge>* containers_not_admitted_ = nullptr;
  telemetry::Family<telemetry::Gauge>* images_not_admitted_ = nullptr;
  telemetry::Family<telemetry::Counter>* stopped_total_ = nullptr;

  std::mutex sweep_mu_;  // one sweep at a time; guards what a sweep keeps between sweeps
  // container id -> "<reason>|<trust version>" of the finding last reported for it.
  std::map<std::string, std::string> reported_;
  std::set<std::vector<std::string>> container_series_;  // gauge series set so far
  std::set<std::vector<std::string>> image_series_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool pending_ = false;
  SweepTrigger pending_why_ = SweepTrigger::kPeriodic;
  bool stopping_ = false;
  bool started_ = false;
  std::string trust_state_;
  uint64_t sweeps_ = 0;
  SweepResult last_;
  std::thread thread_;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_SWEEP_H_
