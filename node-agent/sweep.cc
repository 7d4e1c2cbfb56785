#include "node-agent/sweep.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <optional>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "base/clock.h"
#include "base/str_cat.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

namespace cri = ::runtime::v1;

// The kubelet's labels on every container it creates (pkg/kubelet/types/labels.go).
constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";

constexpr char kRevalidationGate[] = "Revalidation";

// Lowers the calling thread's CPU priority (Linux: setpriority on a thread id affects that
// thread only). Best effort: a failure leaves the priority as it was.
void LowerSweepThreadPriority() {
  pid_t tid = gettid();
  errno = 0;
  int now = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (errno != 0) return;
  setpriority(PRIO_PROCESS, static_cast<id_t>(tid), std::min(now + kSweepNice, 19));
}

std::unique_ptr<grpc::ClientContext> SweepContext(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return ctx;
}

absl::Status FromGrpc(const grpc::Status& s, std::string_view call) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(StrCat("runtime ", call, ": ", s.error_message(), " (code ",
                                       static_cast<int>(s.error_code()), ")"));
}

// The verdict for an image the runtime holds that cannot be judged by digest (as the gates'
// CreateContainer says of it).
plugin::Judgement SweepUnjudgeable(std::string reference, std::string detail) {
  plugin::Judgement j;
  j.verdict.decision = Decision::kDeny;
  j.verdict.reason = Reason::kNotSigned;
  j.verdict.reference = std::move(reference);
  j.verdict.detail = std::move(detail);
  return j;
}

bool LooksLikeImageId(const std::string& s) {
  return s.rfind("sha256:", 0) == 0 && s.find('/') == std::string::npos;
}

}  // namespace

std::string_view SweepTriggerName(SweepTrigger t) {
  switch (t) {
    case SweepTrigger::kPolicy:
      return "policy";
    case SweepTrigger::kPeriodic:
      return "periodic";
    case SweepTrigger::kRequest:
      return "request";
  }
  return "unknown";
}

// What the runtime holds and runs, as one sweep listed it.
struct Sweeper::Listing {
  std::vector<cri::Image> images;
  std::map<std::string, size_t> by_name;  // image id, repository digest, tag -> images index
  std::map<std::string, cri::PodSandboxMetadata> pods;  // sandbox id -> its metadata
  std::vector<cri::Container> containers;               // running ones

  std::optional<size_t> Find(const std::string& name) const {
    auto it = by_name.find(name);
    if (it == by_name.end()) return std::nullopt;
    return it->second;
  }
};

// One question of a sweep: is image `image` (an index into the listing, or none) admitted
// under `policy` (the pod's; null: any policy in force, as ImageStatus asks)?
struct Sweeper::Finding {
  std::optional<size_t> image;
  std::string unknown_image;  // when `image` is none: the runtime's name for it
  std::shared_ptr<const Policy> policy;
  plugin::PodRef pod;
  // The answer.
  bool done = false;
  bool admitted = false;
  plugin::Judgement judgement;
  std::optional<plugin::JudgeRequest> admitted_by;  // the request whose verdict admitted it
};

// Judges findings: from memory on the sweep's thread, the rest on at most `concurrency`
// threads of its own at most `rate` per second. Borrows the sweeper.
class Sweeper::Judging {
 public:
  Judging(Sweeper* sweeper, const Listing* listing) : s_(sweeper), listing_(listing) {}

  // Answers `f` from cached verdicts alone; false when a verdict is not in memory.
  bool FromMemory(Finding& f) { return Answer(f, /*cached_only=*/true); }

  // Answers every finding not done yet, in parallel; false when the sweeper stopped first.
  bool Rest(std::vector<Finding*> rest) {
    if (rest.empty()) return true;
    std::atomic<size_t> next{0};
    auto work = [&] {
      LowerSweepThreadPriority();
      for (size_t i = next++; i < rest.size(); i = next++) {
        if (!Pace()) return;
        Answer(*rest[i], /*cached_only=*/false);
      }
    };
    int n = std::clamp(s_->options_.concurrency, 1, kMaxSweepConcurrency);
    n = static_cast<int>(std::min<size_t>(static_cast<size_t>(n), rest.size()));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back(work);
    for (std::thread& t : threads) t.join();
    return !s_->Stopping();
  }

  size_t uncached() const { return uncached_.load(); }

 private:
  // Waits for the next judgement's turn at `verifications_per_second`; false when stopping.
  bool Pace() {
    double rate = std::clamp(s_->options_.verifications_per_second, 0.001,
                             kMaxSweepVerificationsPerSecond);
    absl::Duration wait;
    {
      std::lock_guard<std::mutex> lock(pace_mu_);
      absl::Duration now = SystemClock().Monotonic();
      if (next_turn_ < now) next_turn_ = now;
      wait = next_turn_ - now;
      next_turn_ += absl::Seconds(1 / rate);
    }
    std::unique_lock<std::mutex> lock(s_->mu_);
    if (wait > absl::ZeroDuration()) {
      s_->wake_.wait_for(lock, absl::ToChronoNanoseconds(wait), [this] { return s_->stopping_; });
    }
    return !s_->stopping_;
  }

  // An image the runtime holds is admitted when one of its repository digests is (as the
  // gates' JudgeStoredImage): the admitting judgement, else the first denial.
  bool Answer(Finding& f, bool cached_only) {
    if (!f.image) {
      f.judgement = SweepUnjudgeable(
          f.unknown_image,
          StrCat("the runtime no longer lists image ", f.unknown_image,
                 " of this container, so its seals cannot be checked"));
      f.admitted = false;
      f.done = true;
      return true;
    }
    const cri::Image& image = listing_->images[*f.image];
    std::optional<plugin::Judgement> first_denial;
    for (const std::string& repo_digest : image.repo_digests()) {
      absl::StatusOr<Reference> ref = Reference::Parse(repo_digest);
      if (!ref.ok() || !ref->digest) continue;
      plugin::JudgeRequest request{.reference = *ref, .pod = f.pod, .any_policy = f.policy == nullptr};
      std::optional<plugin::Judgement> j = s_->options_.judge->TryCached(request);
      if (!j) {
        if (cached_only) return false;
        uncached_.fetch_add(1);
        j = s_->options_.judge->Judge(request);
      }
      if (j->verdict.admits()) {
        f.admitted = true;
        f.judgement = *std::move(j);
        f.admitted_by = std::move(request);
        f.done = true;
        return true;
      }
      if (!first_denial) first_denial = std::move(j);
    }
    f.admitted = false;
    f.judgement = first_denial ? *std::move(first_denial)
                               : SweepUnjudgeable(image.id(),
                                                  StrCat("the runtime has no repository digest for image ",
                                                         image.id(), " (imported, not pulled), so its "
                                                         "seals cannot be checked"));
    f.done = true;
    return true;
  }

  Sweeper* const s_;
  const Listing* const listing_;
  std::atomic<size_t> uncached_{0};
  std::mutex pace_mu_;
  absl::Duration next_turn_;
};

Sweeper::Sweeper(SweepOptions options) : options_(std::move(options)), log_(*options_.logger) {
  telemetry::MetricsRegistry& m = *options_.metrics;
  sweeps_total_ = m.AddCounter("layerseal_sweeps_total",
                               "Continuous-validation sweeps by trigger (policy, periodic, request) "
                               "and result (ok, error).",
                               {"trigger", "result"});
  sweep_seconds_ = m.AddHistogram("layerseal_sweep_seconds", "Wall-clock time of one sweep.",
                                  telemetry::ExponentialBuckets(0.01, 2, 14));
  containers_not_admitted_ = m.AddGauge(
      "layerseal_sweep_containers_not_admitted",
      "Running containers whose image the policy now in force would not admit, by pod "
      "namespace and reason, as of the last sweep.",
      {"namespace", "reason"});
  images_not_admitted_ = m.AddGauge(
      "layerseal_sweep_images_not_admitted",
      "Images on the node no policy in force admits, by reason, as of the last sweep.",
      {"reason"});
  stopped_total_ = m.AddCounter(
      "layerseal_sweep_containers_stopped_total",
      "Containers a sweep stopped (onRevoked: stop), by result (ok, error).", {"result"});
}

Sweeper::~Sweeper() { Stop(); }

void Sweeper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  trust_state_ = TrustState();
  thread_ = std::thread([this] { Loop(); });
}

void Sweeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Sweeper::Stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

void Sweeper::Trigger(SweepTrigger why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_ && pending_why_ == SweepTrigger::kPolicy) why = SweepTrigger::kPolicy;
    pending_ = true;
    pending_why_ = why;
  }
  wake_.notify_all();
}

// The node policy's and every namespace policy's trust version, and every scope's
// integrity rules: what a verdict or an integrity result is keyed by.
std::string Sweeper::TrustState() const {
  std::string out;
  auto add = [&out](std::string_view ns, const std::shared_ptr<const Policy>& p) {
    if (p == nullptr) return;
    out += StrCat(ns, "=", p->trust_version());
    auto rules = [&out](const ScopePolicy& scope) {
      if (!scope.integrity.empty()) out += StrCat(",", scope.integrity.Fingerprint());
    };
    rules(p->default_scope());
    for (const ScopePolicy& scope : p->scopes()) rules(scope);
    out += ";";
  };
  add("", options_.policies->node());
  for (const auto& [ns, version] : options_.policies->NamespaceVersions()) {
    add(ns, options_.policies->For(ns));
  }
  return out;
}

void Sweeper::PolicyChanged() {
  std::string now = TrustState();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now == trust_state_) return;
    trust_state_ = std::move(now);
  }
  Trigger(SweepTrigger::kPolicy);
}

uint64_t Sweeper::sweeps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sweeps_;
}

SweepResult Sweeper::last_result() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

void Sweeper::Loop() {
  LowerSweepThreadPriority();
  absl::Duration last_end = SystemClock().Monotonic();
  for (;;) {
    SweepTrigger why = SweepTrigger::kPeriodic;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [this] { return stopping_ || pending_; };
      if (options_.interval > absl::ZeroDuration()) {
        absl::Duration left = last_end + options_.interval - SystemClock().Monotonic();
        // Monotonic: a wall clock stepped back does not stall the periodic sweep.
        wake_.wait_for(lock, absl::ToChronoNanoseconds(std::max(left, absl::ZeroDuration())),
                       ready);
      } else {
        wake_.wait(lock, ready);
      }
      if (stopping_) return;
      if (pending_) why = pending_why_;
      pending_ = false;
    }
    SweepNow(why);
    last_end = SystemClock().Monotonic();
  }
}

SweepResult Sweeper::SweepNow(SweepTrigger why) {
  std::lock_guard<std::mutex> one_at_a_time(sweep_mu_);
  SweepResult r = Sweep(why);
  sweeps_total_->WithLabels({std::string(SweepTriggerName(why)), r.status.ok() ? "ok" : "error"})
      .Increment();
  if (r.status.ok()) sweep_seconds_->Get().Observe(absl::ToDoubleSeconds(r.wall));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++sweeps_;
    last_ = r;
  }
  if (options_.after_sweep) options_.after_sweep(r);
  return r;
}

absl::Status Sweeper::List(Listing* out) {
  auto images_stub = cri::ImageService::NewStub(options_.runtime);
  auto runtime_stub = cri::RuntimeService::NewStub(options_.runtime);
  cri::ListImagesResponse images;
  grpc::Status s = images_stub->ListImages(SweepContext(options_.call_timeout).get(),
                                           cri::ListImagesRequest(), &images);
  if (!s.ok()) return FromGrpc(s, "ListImages");
  cri::ListPodSandboxResponse pods;
  s = runtime_stub->ListPodSandbox(SweepContext(options_.call_timeout).get(),
                                   cri::ListPodSandboxRequest(), &pods);
  if (!s.ok()) return FromGrpc(s, "ListPodSandbox");
  cri::ListContainersRequest running;
  running.mutable_filter()->mutable_state()->set_state(cri::CONTAINER_RUNNING);
  cri::ListContainersResponse containers;
  s = runtime_stub->ListContainers(SweepContext(options_.call_timeout).get(), running, &containers);
  if (!s.ok()) return FromGrpc(s, "ListContainers");

  out->images.assign(images.images().begin(), images.images().end());
  for (size_t i = 0; i < out->images.size(); ++i) {
    const cri::Image& image = out->images[i];
    out->by_name.emplace(image.id(), i);
    for (const std::string& d : image.repo_digests()) out->by_name.emplace(d, i);
    for (const std::string& t : image.repo_tags()) out->by_name.emplace(t, i);
  }
  for (const cri::PodSandbox& pod : pods.items()) out->pods[pod.id()] = pod.metadata();
  for (const cri::Container& c : containers.containers()) {
    // A runtime that ignores the filter: only running containers count.
    if (c.state() == cri::CONTAINER_RUNNING) out->containers.push_back(c);
  }
  return absl::OkStatus();
}

SweepResult Sweeper::Sweep(SweepTrigger why) {
  SweepResult r;
  r.trigger = why;
  absl::Duration start = SystemClock().Monotonic();
  if (options_.policies->origin() == PolicyOrigin::kNone) {
    r.status = absl::FailedPreconditionError("no policy in force: nothing is swept");
    return r;
  }
  Listing listing;
  r.status = List(&listing);
  if (!r.status.ok()) {
    log_.Warn("sweep: cannot list the runtime's images and containers",
              {{"trigger", std::string(SweepTriggerName(why))},
               {"error", std::string(Sv(r.status.message()))}});
    return r;
  }
  auto runtime_stub = cri::RuntimeService::NewStub(options_.runtime);

  // One finding per image (any policy), and one per distinct (image, pod policy) of the
  // running containers.
  std::vector<Finding> image_findings(listing.images.size());
  for (size_t i = 0; i < listing.images.size(); ++i) image_findings[i].image = i;
  struct RunningContainer {
    const cri::Container* container;
    plugin::PodRef pod;
    std::string name;
    std::string image_name;  // for the event
    size_t finding;          // into container_findings
  };
  std::vector<RunningContainer> running;
  std::vector<Finding> container_findings;
  std::map<std::pair<std::string, std::string>, size_t> finding_of;  // (image, trust version)
  container_findings.reserve(listing.containers.size());
  for (const cri::Container& c : listing.containers) {
    RunningContainer rc{.container = &c};
    auto pod = listing.pods.find(c.pod_sandbox_id());
    if (pod != listing.pods.end()) {
      rc.pod = plugin::PodRef{.ns = pod->second.namespace_(), .name = pod->second.name(),
                              .uid = pod->second.uid()};
    } else {  // a sandbox listed after the container was: the kubelet's labels say the same
      auto label = [&c](const char* key) {
        auto it = c.labels().find(key);
        return it == c.labels().end() ? std::string() : it->second;
      };
      rc.pod = plugin::PodRef{.ns = label(kPodNamespaceLabel), .name = label(kPodNameLabel),
                              .uid = label(kPodUidLabel)};
    }
    auto name_label = c.labels().find(kContainerNameLabel);
    rc.name = name_label != c.labels().end() ? name_label->second : c.metadata().name();
    // containerd names the image by its id (image_ref); other runtimes by a digest.
    std::optional<size_t> image;
    for (const std::string& name : {c.image_ref(), c.image_id(), c.image().image()}) {
      if (!name.empty() && !image) image = listing.Find(name);
    }
    std::string ref_name = c.image_ref().empty() ? c.image().image() : c.image_ref();
    if (!image) {  // ContainerStatus names the image by repository digest (containerd)
      cri::ContainerStatusRequest req;
      req.set_container_id(c.id());
      cri::ContainerStatusResponse status;
      if (runtime_stub->ContainerStatus(SweepContext(options_.call_timeout).get(), req, &status).ok()) {
        image = listing.Find(status.status().image_ref());
        if (!status.status().image_ref().empty()) ref_name = status.status().image_ref();
      }
    }
    std::shared_ptr<const Policy> policy = options_.policies->For(rc.pod.ns);
    if (policy == nullptr) continue;  // no policy in force any more: Sweep checked above
    std::string key = image ? listing.images[*image].id() : StrCat("?", ref_name);
    auto [it, inserted] = finding_of.try_emplace({key, policy->trust_version()},
                                                 container_findings.size());
    if (inserted) {
      Finding f;
      f.image = image;
      f.unknown_image = ref_name;
      f.policy = policy;
      f.pod = rc.pod;
      container_findings.push_back(std::move(f));
    }
    rc.finding = it->second;
    rc.image_name = c.image().image();
    if (image && (rc.image_name.empty() || LooksLikeImageId(rc.image_name))) {
      const cri::Image& im = listing.images[*image];
      if (!im.repo_tags().empty()) {
        rc.image_name = im.repo_tags(0);
      } else if (!im.repo_digests().empty()) {
        rc.image_name = im.repo_digests(0);
      }
    }
    if (rc.image_name.empty()) rc.image_name = ref_name;
    running.push_back(std::move(rc));
  }

  // Cached verdicts first, inline; the rest paced, in parallel.
  Judging judging(this, &listing);
  std::vector<Finding*> rest;
  for (std::vector<Finding>* findings : {&container_findings, &image_findings}) {
    for (Finding& f : *findings) {
      if (!judging.FromMemory(f)) rest.push_back(&f);
    }
  }
  if (!judging.Rest(std::move(rest))) {
    r.status = absl::CancelledError("the agent is stopping");
    return r;
  }
  r.judged_uncached = judging.uncached();

  // What the agent learned of the bytes: a corrupt image is admitted by no policy; a scope's
  // integrity rules judged this image (IntegrityState, keyed by their fingerprint).
  auto integrity = [this, &listing](Finding& f) {
    if (!f.admitted || !f.image) return;
    if (options_.integrity_check && f.admitted_by) {
      Verdict stands = options_.integrity_check(*f.admitted_by, f.judgement.verdict);
      if (!stands.admits()) {
        f.admitted = false;
        f.judgement.verdict = std::move(stands);
      }
      return;
    }
    if (options_.integrity == nullptr) return;
    const cri::Image& image = listing.images[*f.image];
    std::vector<Digest> digests;
    if (f.judgement.verdict.manifest_digest) digests.push_back(*f.judgement.verdict.manifest_digest);
    std::optional<Reference> ref;
    for (const std::string& d : image.repo_digests()) {
      absl::StatusOr<Reference> parsed = Reference::Parse(d);
      if (!parsed.ok() || !parsed->digest) continue;
      if (!ref) ref = *parsed;
      digests.push_back(*parsed->digest);
    }
    for (const Digest& d : digests) {
      if (std::optional<IntegrityState::Corruption> bad = options_.integrity->Corrupt(d)) {
        f.admitted = false;
        f.judgement.verdict.decision = Decision::kDeny;
        f.judgement.verdict.reason = Reason::kIntegrityMismatch;
        f.judgement.verdict.mode = Mode::kEnforce;
        f.judgement.verdict.detail = StrCat("the image's content on the node no longer matches "
                                            "its digests: ", bad->detail);
        return;
      }
    }
    if (f.policy == nullptr || !ref) return;
    const IntegrityRules& rules = f.policy->Resolve(*ref).integrity;
    if (rules.empty()) return;
    std::string fingerprint = rules.Fingerprint();
    for (const Digest& d : digests) {
      std::optional<Verdict> v = options_.integrity->Lookup(d, fingerprint);
      if (v && !v->admits()) {
        f.admitted = false;
        f.judgement.verdict = *std::move(v);
        return;
      }
    }
  };
  for (Finding& f : container_findings) integrity(f);
  for (Finding& f : image_findings) integrity(f);

  std::map<std::vector<std::string>, double> image_counts;
  r.images = image_findings.size();
  for (const Finding& f : image_findings) {
    if (f.admitted) continue;
    ++r.images_not_admitted;
    image_counts[{std::string(ReasonName(f.judgement.verdict.reason))}] += 1;
  }

  // Running containers no longer admitted: counted, reported once per finding, stopped
  // where the scope says so.
  std::map<std::vector<std::string>, double> container_counts;
  std::map<std::string, std::string> still_reported;
  struct ToReport {
    const RunningContainer* rc;
    const Finding* f;
    std::string key;
    bool stop = false;
    bool stopped = false;
    std::string stop_error;
  };
  std::vector<ToReport> to_report;
  r.containers = running.size();
  for (const RunningContainer& rc : running) {
    const Finding& f = container_findings[rc.finding];
    if (f.admitted) continue;
    ++r.containers_not_admitted;
    const Verdict& v = f.judgement.verdict;
    container_counts[{rc.pod.ns, std::string(ReasonName(v.reason))}] += 1;
    std::string key = StrCat(ReasonName(v.reason), "|", f.policy->trust_version());
    const std::string& id = rc.container->id();
    auto known = reported_.find(id);
    if (known != reported_.end() && known->second == key) {
      still_reported[id] = key;
      continue;
    }
    ToReport t{.rc = &rc, .f = &f, .key = key};
    if (f.image) {
      absl::StatusOr<Reference> ref = Reference::Parse(listing.images[*f.image].repo_digests().empty()
                                                           ? std::string()
                                                           : listing.images[*f.image].repo_digests(0));
      const ScopePolicy& scope = ref.ok() ? f.policy->Resolve(*ref) : f.policy->default_scope();
      t.stop = scope.on_revoked == OnRevoked::kStop;
    } else {
      t.stop = f.policy->default_scope().on_revoked == OnRevoked::kStop;
    }
    to_report.push_back(std::move(t));
  }

  // Stops, in parallel (each may take the grace period).
  {
    std::atomic<size_t> next{0};
    auto work = [&] {
      LowerSweepThreadPriority();
      for (size_t i = next++; i < to_report.size(); i = next++) {
        ToReport& t = to_report[i];
        if (!t.stop) continue;
        cri::StopContainerRequest req;
        req.set_container_id(t.rc->container->id());
        req.set_timeout(absl::ToInt64Seconds(options_.stop_grace_period));
        cri::StopContainerResponse resp;
        grpc::Status s = runtime_stub->StopContainer(
            SweepContext(options_.stop_grace_period + options_.call_timeout).get(), req, &resp);
        t.stopped = s.ok();
        if (!s.ok()) t.stop_error = StrCat(s.error_message(), " (code ", static_cast<int>(s.error_code()), ")");
      }
    };
    size_t stops = static_cast<size_t>(std::count_if(to_report.begin(), to_report.end(),
                                                     [](const ToReport& t) { return t.stop; }));
    int n = static_cast<int>(std::min<size_t>(
        static_cast<size_t>(std::clamp(options_.concurrency, 1, kMaxSweepConcurrency)), stops));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back(work);
    for (std::thread& t : threads) t.join();
  }

  for (ToReport& t : to_report) {
    const RunningContainer& rc = *t.rc;
    plugin::Judgement j = t.f->judgement;
    std::string action = "report";
    if (t.stop && t.stopped) {
      action = "stopped";
      j.verdict.detail += StrCat(j.verdict.detail.empty() ? "" : "; ",
                                 "onRevoked: stop: the container was stopped (grace period ",
                                 absl::FormatDuration(options_.stop_grace_period), ")");
      stopped_total_->WithLabels({"ok"}).Increment();
      ++r.stopped;
    } else if (t.stop) {
      action = "stop-failed";
      j.verdict.detail += StrCat(j.verdict.detail.empty() ? "" : "; ",
                                 "onRevoked: stop: stopping the container failed: ", t.stop_error);
      stopped_total_->WithLabels({"error"}).Increment();
      ++r.stop_failures;
    }
    // A failed stop is tried (and reported) again by the next sweep.
    if (!t.stop || t.stopped) still_reported[rc.container->id()] = t.key;
    telemetry::Level level = t.stop && !t.stopped ? telemetry::Level::kError : telemetry::Level::kWarn;
    log_.Log(level,
             t.stopped ? "sweep: stopped a running container the policy no longer admits"
                       : "sweep: a running container's image is no longer admitted",
             {{"container_id", rc.container->id()}, {"container", rc.name},
              {"namespace", rc.pod.ns}, {"pod", rc.pod.name}, {"image", rc.image_name},
              {"reason", std::string(ReasonName(j.verdict.reason))},
              {"detail", j.verdict.detail}, {"action", action},
              {"policy_version", j.verdict.policy_version}});
    ++r.reported;
    if (options_.events != nullptr) {
      absl::Time now = absl::Now();
      options_.events->Report(plugin::VerdictEvent{.gate = kRevalidationGate,
                                                   .image = rc.image_name,
                                                   .pod = rc.pod,
                                                   .judgement = j,
                                                   .admitted = false,
                                                   .gate_time = absl::ZeroDuration(),
                                                   .time = now,
                                                   .container_id = rc.container->id(),
                                                   .container_name = rc.name});
    }
  }
  // Containers no longer running (or admitted again) are forgotten: a later finding about
  // them is new. Beyond the bound, the findings not remembered are reported again by the
  // next sweep (repeated events, never lost ones).
  while (still_reported.size() > kMaxRememberedFindings) still_reported.erase(std::prev(still_reported.end()));
  reported_ = std::move(still_reported);

  UpdateGauges(container_counts, image_counts);
  r.wall = SystemClock().Monotonic() - start;
  log_.Info("sweep done",
            {{"trigger", std::string(SweepTriggerName(why))}, {"images", r.images},
             {"images_not_admitted", r.images_not_admitted}, {"containers", r.containers},
             {"containers_not_admitted", r.containers_not_admitted}, {"reported", r.reported},
             {"stopped", r.stopped}, {"judged_uncached", r.judged_uncached},
             {"seconds", absl::ToDoubleSeconds(r.wall)}});
  return r;
}

// Sets this sweep's counts, and 0 in every series an earlier sweep set that this one has
// not (a gauge's series are never removed).
void Sweeper::UpdateGauges(const std::map<std::vector<std::string>, double>& containers,
                           const std::map<std::vector<std::string>, double>& images) {
  auto update = [](telemetry::Family<telemetry::Gauge>* family,
                   std::set<std::vector<std::string>>& series,
                   const std::map<std::vector<std::string>, double>& counts) {
    for (const std::vector<std::string>& labels : series) {
      if (counts.count(labels) == 0) family->WithLabels(labels).Set(0);
    }
    for (const auto& [labels, n] : counts) {
      family->WithLabels(labels).Set(n);
      series.insert(labels);
    }
  };
  update(containers_not_admitted_, container_series_, containers);
  update(images_not_admitted_, image_series_, images);
}

}  // namespace layerseal::agent
