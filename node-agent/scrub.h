// The integrity scrub (issue 18, docs/continuous-validation.md "Integrity scrub"): for each
// image on the node (the runtime's ListImages, by repo digest), read every blob back from
// containerd's content store (containerd_blob_reader.h, under a lease) and hash it again:
// the manifest and config against their digests, every layer blob against its descriptor
// (digest and size), and every layer's decompressed bytes against the config's diff_id.
// containerd does not re-hash what it serves, so bytes changed on disk after the pull are
// found only this way.
//
// A mismatch:
//   - marks the image corrupt in IntegrityState (by the digest the runtime lists and, for an
//     index, by the platform manifest's digest too), so the judge no longer admits it;
//   - is a verdict event, gate "Scrub": DENY, INTEGRITY_MISMATCH, detail naming the blob,
//     what it should hash to and what went wrong, the image as "<repo>@<digest>";
//   - counts in layerseal_scrub_mismatches_total and is a finding in the report.
// A blob containerd does not have (garbage-collected, `discard_unpacked_layers`) or a
// runtime without the content service (CRI-O) is "not available": counted and reported, no
// event, no mark, and never a denial or a pass of the signature checks. Other errors (the
// runtime unreachable, a manifest that does not parse) are "errors" in the report.
//
// Bounds: one image at a time and one blob at a time; the compressed bytes read pass a
// token bucket of `bytes_per_second` (default kDefaultScrubBytesPerSecond); findings kept in a
// report are at most kMaxScrubFindings (the counts stay exact). A scrub runs on the caller's
// thread (a sweep) or on the scrubber's own thread (Start, for the admin endpoint), never
// on the CRI path's threads; two scrubs never run at once (a second waits for the first).
//
// Thread-safety: every method may be called concurrently. Ownership: borrows the state,
// the event sink, the logger and the metrics registry, which must outlive the scrubber; shares
// the runtime channel. The destructor stops a background scrub (at the next chunk) and joins it;
// a ScrubAll or ScrubImage on another thread must have returned before it is destroyed.
#ifndef LAYERSEAL_NODE_AGENT_SCRUB_H_
#define LAYERSEAL_NODE_AGENT_SCRUB_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/token_bucket.h"
#include "node-agent/integrity_state.h"
#include "plugin/image_judge.h"
#include "telemetry/admin_http.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "verifier/digest.h"
#include "verifier/image_integrity.h"
#include "verifier/manifest.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace layerseal::agent {

class ContainerdContent;

// Compressed bytes per second read from the content store: a third to 40% of one core for
// gzip layers (docs/performance.md "Integrity scrub"); 20 GiB of images in about 11 minutes.
inline constexpr uint64_t kDefaultScrubBytesPerSecond = uint64_t{32} << 20;
// The least rate accepted: containerd_content.h gives a Read kMinReadBytesPerSecond before
// its deadline, so a slower scrub would time out on large layers.
// How often the agent scrubs every image on its own: after the first periodic sweep once this
// long has passed since the last automatic scrub began (AgentConfig::scrub_interval; 0: never,
// only when asked). A day: a full scrub of a 20 GiB node takes ~11 minutes of a third of a
// core at the default rate (docs/performance.md), so hourly would cost ~6% of a core.
inline constexpr absl::Duration kDefaultScrubInterval = absl::Hours(24);
inline constexpr uint64_t kMinScrubBytesPerSecond = uint64_t{4} << 20;
// The most accepted (the config's bound for any byte size).
inline constexpr uint64_t kMaxScrubBytesPerSecond = uint64_t{1} << 40;
// Findings (mismatches, not available, errors) a report lists; the counts go on.
inline constexpr size_t kMaxScrubFindings = 1000;
// Most images one scrub looks at (ListImages of a very full node).
inline constexpr size_t kMaxScrubImages = 100000;
// Deadline of the ListImages call.
inline constexpr absl::Duration kScrubListTimeout = absl::Seconds(30);
// The gate name of a scrub's verdict events.
inline constexpr std::string_view kScrubGate = "Scrub";

struct ScrubFinding {
  enum class Kind { kMismatch, kNotAvailable, kError };
  Kind kind = Kind::kError;
  std::string image;   // "<repo>@<digest>" as the runtime lists it (or the digest alone)
  std::string blob;    // the blob's digest, "" when the error is not about one blob
  std::string detail;  // what was wrong
};
std::string_view ScrubFindingKindName(ScrubFinding::Kind kind);  // "mismatch", ...

struct ScrubReport {
  absl::Time started;
  absl::Duration elapsed;
  uint64_t images = 0;         // images looked at
  uint64_t blobs = 0;          // blobs read whole and hashed (manifests, configs, layers)
  uint64_t bytes = 0;          // bytes read from the content store
  uint64_t mismatches = 0;     // images with a blob that does not hash as it should
  uint64_t not_available = 0;  // blobs (or images) the runtime does not have
  uint64_t errors = 0;         // images that could not be checked for another reason
  bool stopped = false;        // the scrubber was destroyed mid-scrub: counts are partial
  std::vector<ScrubFinding> findings;  // at most kMaxScrubFindings
  size_t findings_dropped = 0;

  // {"started": RFC 3339, "elapsedSeconds", "images", "blobs", "bytes", "mismatches",
  //  "notAvailable", "errors", "stopped", "findings": [{"kind", "image", "blob", "detail"}],
  //  "findingsDropped"}
  std::string ToJson() const;
};

struct ScrubberOptions {
  // The runtime's socket: CRI ImageService (ListImages) and containerd's content and leases
  // services (namespace k8s.io).
  std::shared_ptr<grpc::Channel> runtime;
  Platform platform = Platform::Host();  // an index is scrubbed for this platform
  uint64_t bytes_per_second = kDefaultScrubBytesPerSecond;  // >= kMinScrubBytesPerSecond
  IntegrityState* state = nullptr;        // required
  plugin::EventSink* events = nullptr;    // nullptr: no events
  telemetry::Logger* logger = nullptr;    // required
  telemetry::MetricsRegistry* metrics = nullptr;  // nullptr: no metrics
  const Clock* clock = &SystemClock();
};

class Scrubber {
 public:
  // InvalidArgument for a rate below kMinScrubBytesPerSecond or a missing required option.
  static absl::StatusOr<std::unique_ptr<Scrubber>> Create(ScrubberOptions options);
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Every image the runtime lists, on the caller's thread (a sweep's). Blocks while another
  // scrub runs.
  ScrubReport ScrubAll();
  // One image, by the digest the runtime lists it under (a manifest or an index), on the
  // caller's thread (after a pull). `name`: how to name it in findings and events ("" : the
  // digest).
  ScrubReport ScrubImage(const Digest& digest, std::string_view name = "");

  // On the scrubber's own thread (the admin endpoint, `layerseal cri scrub`): every image, or
  // the one `image` names. Returns the run's number (status().runs reaches it when the run
  // has finished); nullopt when a background scrub is running already.
  std::optional<uint64_t> Start(std::optional<Digest> image = std::nullopt);
  struct Status {
    bool running = false;
    uint64_t runs = 0;                // background scrubs finished
    std::optional<ScrubReport> last;  // the last background scrub's report
  };
  Status status() const;

 private:
  explicit Scrubber(ScrubberOptions options);
  struct Target {
    Digest digest;
    std::string name;  // "<repo>@<digest>"
  };
  // The images to scrub; `no_digest` gets the ids of images listed without a repo digest
  // (imported, never pulled: nothing to check them against).
  absl::StatusOr<std::vector<Target>> ListTargets(std::vector<std::string>* no_digest);
  ScrubReport Run(const std::optional<std::vector<Target>>& targets);
  void ScrubOne(const Target& target, ScrubReport& report);
  void Finding(ScrubReport& report, ScrubFinding finding);
  void Mismatch(const Target& target, std::optional<Digest> manifest, const std::string& blob,
                const std::string& detail, ScrubReport& report);
  // After a layer failed: "the bytes on disk hash to D (expected E); " from a second read
  // (so the normal path hashes the blob once), "" if that read fails too.
  std::string OnDisk(BlobReader& reader, const Descriptor& layer);
  // Waits for the rate's tokens; false once the scrubber is stopping.
  bool Throttle(uint64_t bytes);

  ScrubberOptions options_;
  std::unique_ptr<ContainerdContent> content_;
  TokenBucket bucket_;
  MonotonicSignal stopping_;
  std::atomic<bool> stop_{false};
  absl::Mutex run_mu_;  // one scrub at a time
  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t runs_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<ScrubReport> last_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  // Metrics (null without a registry).
  telemetry::Counter* images_total_ = nullptr;
  telemetry::Counter* bytes_total_ = nullptr;
  telemetry::Counter* mismatches_total_ = nullptr;
  telemetry::Counter* not_available_total_ = nullptr;
  telemetry::Counter* errors_total_ = nullptr;
  telemetry::Counter* runs_total_ = nullptr;
};

// The admin endpoint's route GET /scrub (docs/agent.md "Integrity scrub"):
//   /scrub                     200 {"running", "runs", "last": ScrubReport::ToJson or null}
//   /scrub?start=1             a background scrub of every image: 202 {"started": true, "run": N};
//   /scrub?start=1&image=D     ... of the image the runtime lists under digest D;
//                              409 {"started": false, ...} while one runs; 400 for a bad query.
// Borrows the scrubber, which must outlive the admin server.
telemetry::HttpRoute ScrubAdminRoute(Scrubber* scrubber);
inline constexpr char kScrubAdminPath[] = "/scrub";

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_SCRUB_H_
