#include "controller/kube/pod_events.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <list>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "base/utf8.h"

namespace layerseal::controller::kube {
namespace {

constexpr char kPodEventsMetric[] = "layerseal_controller_kube_events_total";
constexpr char kPodEventsRevalidationGate[] = "Revalidation";
constexpr char kPodEventsPatchType[] = "application/strategic-merge-patch+json";
// Parts of a message before the detail are cut to this before the whole is cut to
// kMaxMessageBytes, so one huge part (an image name) cannot push out the others; the detail,
// last, gets what is left.
constexpr size_t kMaxPodEventPartBytes = 384;

std::string PodEventPart(const std::string& s) {
  return TruncateUtf8(ValidUtf8(s, /*one_line=*/true), kMaxPodEventPartBytes);
}

// The image as the message shows it: "<image>@<digest>" unless the image names it already.
std::string PodEventImage(const v1::Event& event) {
  std::string image = !event.image().empty() ? event.image() : event.verdict().reference();
  const std::string& digest = event.verdict().digest();
  if (digest.empty() || image.find(digest) != std::string::npos) return image;
  if (image.empty()) return digest;
  if (image.find('@') != std::string::npos) return StrCat(image, " (", digest, ")");
  return StrCat(image, "@", digest);
}

// metav1.Time: RFC 3339, whole seconds, UTC.
std::string PodEventTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// FNV-1a, 64 bits: the Event name's suffix. Stable across processes (absl::Hash is not), so
// the same spec makes the same name in a retry after a lost answer.
uint64_t PodEventNameHash(std::initializer_list<std::string_view> parts) {
  uint64_t h = 14695981039346656037ull;
  for (std::string_view part : parts) {
    for (char c : part) {
      h ^= static_cast<uint8_t>(c);
      h *= 1099511628211ull;
    }
    h ^= 0xFF;  // a separator no UTF-8 text contains
    h *= 1099511628211ull;
  }
  return h;
}

std::string PodEventDedupKey(const PodEventSpec& spec) {
  std::string key;
  for (const std::string* part : {&spec.namespace_name, &spec.pod_name, &spec.pod_uid,
                                  &spec.type, &spec.reason, &spec.message}) {
    key += *part;
    key += '\xFF';  // never in UTF-8 text
  }
  return key;
}

// "Could not reach the API server" (hold the Event and try again) versus a final answer.
bool PodEventUnreachable(const absl::StatusOr<Response>& r) {
  if (!r.ok()) {
    return r.status().code() == absl::StatusCode::kUnavailable ||
           r.status().code() == absl::StatusCode::kDeadlineExceeded ||
           r.status().code() == absl::StatusCode::kCancelled;
  }
  return r->status == 429 || r->status >= 500;
}

std::string PodEventError(const absl::StatusOr<Response>& r, std::string_view what) {
  if (!r.ok()) return StrCat(what, ": ", Sv(r.status().ToString()));
  return std::string(Sv(StatusFromResponse(*r, what).message()));
}

bool PodEventOk(const absl::StatusOr<Response>& r) {
  return r.ok() && r->status >= 200 && r->status < 300;
}

// At most one line per kPodEventsLogInterval per kind; the next one says how many were not
// written. Not thread-safe: each user guards its own.
class PodEventsLogLimit {
 public:
  // True when a line may be written now; `suppressed` is then how many were held back.
  bool Allow(absl::Duration now, uint64_t* suppressed) {
    if (logged_ && now - last_ < kPodEventsLogInterval) {
      ++suppressed_;
      return false;
    }
    logged_ = true;
    last_ = now;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  bool logged_ = false;
  absl::Duration last_;
  uint64_t suppressed_ = 0;
};

}  // namespace

std::string PodEventMessage(const v1::Event& event, const std::string& reason) {
  const v1::Verdict& v = event.verdict();
  std::string code = v.reason().empty() ? std::string("DENY") : PodEventPart(v.reason());
  std::string what;
  if (reason == kRevokedReason) {
    what = StrCat(PodEventPart(PodEventImage(event)), " of running container ",
                  event.container_name().empty() ? std::string("(unnamed)")
                                                 : PodEventPart(event.container_name()),
                  " is no longer admitted by layerseal");
  } else if (reason == kWarnReason) {
    what = StrCat(PodEventPart(PodEventImage(event)),
                  " would be denied by layerseal, admitted in warn mode");
  } else {
    what = StrCat(PodEventPart(PodEventImage(event)), " denied by layerseal");
  }
  std::string where = PodEventPart(event.gate().empty() ? std::string("gate") : event.gate());
  if (!event.node().empty()) where = StrCat(where, " on ", PodEventPart(event.node()));
  if (!v.scope().empty()) where = StrCat(where, ", policy ", PodEventPart(v.scope()));
  std::string message = StrCat(code, ": ", what, " (", where, ")");
  if (!v.detail().empty()) {
    std::string_view detail = std::string_view(v.detail()).substr(0, 4 * kMaxMessageBytes);
    message = StrCat(message, ": ", ValidUtf8(detail, /*one_line=*/true));
  }
  return TruncateUtf8(message, kMaxMessageBytes);
}

std::optional<PodEventSpec> PodEventFor(const v1::Event& event) {
  if (event.kind() != v1::Event::VERDICT) return std::nullopt;
  if (event.pod_namespace().empty() || event.pod_name().empty()) return std::nullopt;
  if (event.verdict().verdict() != "DENY") return std::nullopt;
  if (event.verdict().mode() == "audit") return std::nullopt;
  PodEventSpec spec;
  if (event.gate() == kPodEventsRevalidationGate) {
    spec.reason = kRevokedReason;
  } else if (event.admitted()) {
    spec.reason = kWarnReason;  // a DENY that went through: the scope's mode let it
  } else {
    spec.reason = kDeniedReason;
  }
  spec.namespace_name = event.pod_namespace();
  spec.pod_name = event.pod_name();
  spec.pod_uid = event.pod_uid();
  spec.message = PodEventMessage(event, spec.reason);
  spec.time = event.time_unix_micros() > 0 ? absl::FromUnixMicros(event.time_unix_micros())
                                           : absl::Now();
  return spec;
}

nlohmann::json EventObject(const PodEventSpec& spec, const std::string& instance) {
  uint64_t h = PodEventNameHash({spec.namespace_name, spec.pod_name, spec.pod_uid, spec.type,
                                 spec.reason, spec.message,
                                 std::to_string(absl::ToUnixMicros(spec.time))});
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  // A DNS subdomain's labels end in an alphanumeric: a cut name must not end in '.' or '-'.
  std::string prefix = spec.pod_name.substr(0, kMaxEventNameBytes - 17);
  while (!prefix.empty() && (prefix.back() == '.' || prefix.back() == '-')) prefix.pop_back();
  nlohmann::json involved = {{"apiVersion", "v1"},
                             {"kind", "Pod"},
                             {"namespace", spec.namespace_name},
                             {"name", spec.pod_name}};
  if (!spec.pod_uid.empty()) involved["uid"] = spec.pod_uid;
  std::string when = PodEventTime(spec.time);
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", StrCat(prefix, ".", hex)}, {"namespace", spec.namespace_name}}},
          {"involvedObject", std::move(involved)},
          {"type", spec.type},
          {"reason", spec.reason},
          {"message", spec.message},
          {"source", {{"component", kReportingComponent}}},
          {"firstTimestamp", when},
          {"lastTimestamp", when},
          {"count", 1},
          {"reportingComponent", kReportingController},
          {"reportingInstance", TruncateUtf8(instance, kMaxReportingInstanceBytes, "")}};
}

class PodEventRecorder::Impl {
 public:
  explicit Impl(PodEventsOptions options) : options_(std::move(options)) {
    if (options_.clock == nullptr) options_.clock = &SystemClock();
    telemetry::MetricsRegistry* metrics = options_.metrics;
    if (metrics == nullptr) {
      own_metrics_ = std::make_unique<telemetry::MetricsRegistry>();
      metrics = own_metrics_.get();
    }
    auto* family = metrics->AddCounter(
        kPodEventsMetric,
        "Kubernetes Events the controller wrote on Pods, by result: created, patched (a repeat "
        "counted on the existing Event), failed (refused by the API server), dropped (queue "
        "full, or still queued at shutdown).",
        {"result"});
    created_ = &family->WithLabels({"created"});
    patched_ = &family->WithLabels({"patched"});
    failed_ = &family->WithLabels({"failed"});
    dropped_ = &family->WithLabels({"dropped"});
  }

  ~Impl() { Stop(); }

  void Start() {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
    worker_ = std::thread([this] { Run(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cancel_.Notify();
    stop_signal_.Notify();
    if (worker_.joinable()) worker_.join();
    size_t left;
    {
      absl::MutexLock lock(&mu_);
      left = queue_.size();
      queue_.clear();
    }
    if (left > 0) {
      dropped_->Increment(static_cast<double>(left));
      Log(telemetry::Level::kWarn, "pod events: stopping with Events not written",
          {{"dropped", left}});
    }
  }

  void Offer(const v1::Event& event) {
    std::optional<PodEventSpec> spec = PodEventFor(event);
    if (!spec.has_value()) return;
    std::string id = StrCat(event.node(), "\n", event.spool_incarnation(), "\n",
                            std::to_string(event.seq()));
    uint64_t suppressed = 0;
    bool log_drop = false;
    {
      absl::MutexLock lock(&mu_);
      if (remembered_.contains(id)) return;  // a resend: counted once
      if (stopping_ || queue_.size() >= kMaxQueuedPodEvents) {
        dropped_->Increment();
        log_drop = drop_log_.Allow(options_.clock->Monotonic(), &suppressed);
      } else {
        Remember(std::move(id));
        queue_.push_back(std::move(*spec));
        return;
      }
    }
    if (log_drop) {
      Log(telemetry::Level::kWarn, "pod events: queue full, Event dropped",
          {{"namespace", event.pod_namespace()}, {"pod", event.pod_name()},
           {"queued_max", kMaxQueuedPodEvents}, {"not_logged", suppressed}});
    }
  }

  bool WaitIdle(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    // Await with a timeout on abseil 20220623 sleeps on the wall clock; a short bounded
    // test helper only.
    return mu_.AwaitWithTimeout(absl::Condition(this, &Impl::IdleLocked), timeout);
  }

 private:
  // An Event being written: the spec, and whether its Pod's uid was asked for already.
  struct Pending {
    PodEventSpec spec;
    bool uid_resolved = false;
  };
  struct DedupEntry {
    std::string key;
    std::string name;        // the Event's metadata.name
    int64_t count = 0;
    absl::Time last_time;    // its lastTimestamp
    absl::Duration written;  // monotonic: the last create or patch
  };
  enum class Outcome { kDone, kUnreachable };

  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !busy_; }
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  void Remember(std::string id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    remembered_.insert(id);
    remembered_order_.push_back(std::move(id));
    while (remembered_order_.size() > kMaxRememberedIds) {
      remembered_.erase(remembered_order_.front());
      remembered_order_.pop_front();
    }
  }

  void Run() {
    for (;;) {
      Pending pending;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &Impl::HasWorkLocked));
        if (stopping_) return;
        pending.spec = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
      WriteHolding(pending);
      absl::MutexLock lock(&mu_);
      busy_ = false;
    }
  }

  // Writes one Event, holding it while the API server cannot be reached.
  void WriteHolding(Pending& pending) {
    Backoff backoff(options_.unavailable_backoff);
    while (WriteOnce(pending) == Outcome::kUnreachable) {
      if (cancel_.HasBeenNotified() || stop_signal_.WaitFor(backoff.Next())) {
        dropped_->Increment();
        return;
      }
    }
  }

  absl::StatusOr<Response> Call(std::string_view method, const std::string& path,
                                std::string_view body = {},
                                std::string_view content_type = "application/json") {
    return DoWithRetry(*options_.transport, method, path, body, content_type, options_.retry,
                       &cancel_);
  }

  Outcome WriteOnce(Pending& pending) {
    PodEventSpec& spec = pending.spec;
    if (!spec.pod_uid.empty()) pending.uid_resolved = true;
    const std::string ns_path =
        StrCat("/api/v1/namespaces/", EscapePathSegment(spec.namespace_name));
    if (!pending.uid_resolved) {
      absl::StatusOr<Response> got =
          Call("GET", StrCat(ns_path, "/pods/", EscapePathSegment(spec.pod_name)));
      if (ShouldHold(got)) return Hold(spec, "reading the Pod", got);
      pending.uid_resolved = true;
      if (PodEventOk(got)) {
        nlohmann::json pod = nlohmann::json::parse(got->body, nullptr, /*allow_exceptions=*/false);
        if (pod.is_object() && pod["metadata"].is_object() && pod["metadata"]["uid"].is_string()) {
          spec.pod_uid = pod["metadata"]["uid"].get<std::string>();
        }
      } else if (!got.ok() || got->status != 404) {
        // Written without a uid all the same: the Event still names the Pod.
        LogLimited(uid_log_, telemetry::Level::kWarn, "pod events: cannot read the Pod's uid",
                   spec, PodEventError(got, "GET pod"));
      }
    }
    std::string key = PodEventDedupKey(spec);
    absl::Duration now = options_.clock->Monotonic();
    auto it = dedup_index_.find(key);
    if (it != dedup_index_.end() && now - it->second->written >= kDedupWindow) {
      dedup_list_.erase(it->second);
      dedup_index_.erase(it);
      it = dedup_index_.end();
    }
    if (it != dedup_index_.end()) {
      DedupEntry& entry = *it->second;
      absl::Time last = std::max(entry.last_time, spec.time);
      nlohmann::json patch = {{"count", entry.count + 1},
                              {"lastTimestamp", PodEventTime(last)},
                              {"message", spec.message}};
      absl::StatusOr<Response> patched =
          Call("PATCH", StrCat(ns_path, "/events/", EscapePathSegment(entry.name)),
               patch.dump(), kPodEventsPatchType);
      if (ShouldHold(patched)) return Hold(spec, "counting a repeated Event", patched);
      if (PodEventOk(patched)) {
        entry.count += 1;
        entry.last_time = last;
        entry.written = options_.clock->Monotonic();
        dedup_list_.splice(dedup_list_.begin(), dedup_list_, it->second);
        patched_->Increment();
        return Outcome::kDone;
      }
      dedup_list_.erase(it->second);
      dedup_index_.erase(it);
      if (!patched.ok() || patched->status != 404) {
        return Failed(spec, PodEventError(patched, "PATCH event"));
      }
      // Gone (the API server's event TTL, or deleted): created again below.
    }
    nlohmann::json object = EventObject(spec, options_.instance);
    std::string name = object["metadata"]["name"].get<std::string>();
    absl::StatusOr<Response> made = Call(
        "POST", StrCat(ns_path, "/events"),
        object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (ShouldHold(made)) return Hold(spec, "creating an Event", made);
    // 409: an Event of this very name exists, i.e. an earlier try whose answer was lost.
    if (!PodEventOk(made) && (!made.ok() || made->status != 409)) {
      return Failed(spec, PodEventError(made, "POST event"));
    }
    dedup_list_.push_front(DedupEntry{key, name, 1, spec.time, options_.clock->Monotonic()});
    dedup_index_[key] = dedup_list_.begin();
    while (dedup_list_.size() > kMaxDedupEntries) {
      dedup_index_.erase(dedup_list_.back().key);
      dedup_list_.pop_back();
    }
    created_->Increment();
    return Outcome::kDone;
  }

  // Unreachable (transport error, 429, 5xx), or refused as 401/403 within
  // kPodEventsAuthSettle of having been unreachable: a restarted API server answers 403 until
  // its RBAC caches are synced (kubernetes/kubernetes#121635), which is no answer yet.
  bool ShouldHold(const absl::StatusOr<Response>& r) {
    absl::Duration now = options_.clock->Monotonic();
    if (PodEventUnreachable(r)) {
      seen_unreachable_ = true;
      last_unreachable_ = now;
      return true;
    }
    return r.ok() && (r->status == 401 || r->status == 403) && seen_unreachable_ &&
           now - last_unreachable_ < kPodEventsAuthSettle;
  }

  Outcome Hold(const PodEventSpec& spec, std::string_view doing,
                      const absl::StatusOr<Response>& r) {
    if (!cancel_.HasBeenNotified()) {
      LogLimited(unreachable_log_, telemetry::Level::kWarn,
                 "pod events: API server unreachable, holding the Event and trying again", spec,
                 PodEventError(r, doing));
    }
    return Outcome::kUnreachable;
  }

  Outcome Failed(const PodEventSpec& spec, const std::string& error) {
    failed_->Increment();
    LogLimited(failed_log_, telemetry::Level::kError, "pod events: the API server refused an Event",
               spec, error);
    return Outcome::kDone;
  }

  void LogLimited(PodEventsLogLimit& limit, telemetry::Level level, std::string_view msg,
                  const PodEventSpec& spec, const std::string& error) {
    uint64_t suppressed = 0;
    if (!limit.Allow(options_.clock->Monotonic(), &suppressed)) return;
    Log(level, msg,
        {{"namespace", spec.namespace_name}, {"pod", spec.pod_name}, {"reason", spec.reason},
         {"error", error}, {"not_logged", suppressed}});
  }

  void Log(telemetry::Level level, std::string_view msg, nlohmann::json fields) {
    if (options_.logger != nullptr) options_.logger->Log(level, msg, std::move(fields));
  }

  PodEventsOptions options_;
  std::unique_ptr<telemetry::MetricsRegistry> own_metrics_;  // when options_.metrics is null
  telemetry::Counter* created_;
  telemetry::Counter* patched_;
  telemetry::Counter* failed_;
  telemetry::Counter* dropped_;

  absl::Mutex mu_;
  std::deque<PodEventSpec> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> remembered_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> remembered_order_ ABSL_GUARDED_BY(mu_);
  PodEventsLogLimit drop_log_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;

  absl::Notification cancel_;     // DoWithRetry's
  MonotonicSignal stop_signal_;   // the waits between rounds
  std::thread worker_;

  // The worker's own.
  std::list<DedupEntry> dedup_list_;  // most recently written first
  absl::flat_hash_map<std::string, std::list<DedupEntry>::iterator> dedup_index_;
  PodEventsLogLimit unreachable_log_;
  bool seen_unreachable_ = false;
  absl::Duration last_unreachable_;  // monotonic
  PodEventsLogLimit failed_log_;
  PodEventsLogLimit uid_log_;
};

PodEventRecorder::PodEventRecorder(PodEventsOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
PodEventRecorder::~PodEventRecorder() { Stop(); }
void PodEventRecorder::Start() { impl_->Start(); }
void PodEventRecorder::Stop() { impl_->Stop(); }
void PodEventRecorder::Offer(const v1::Event& event) { impl_->Offer(event); }
bool PodEventRecorder::WaitIdle(absl::Duration timeout) { return impl_->WaitIdle(timeout); }

}  // namespace layerseal::controller::kube
