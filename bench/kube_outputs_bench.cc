// What the Kubernetes outputs (issue 19: Pod Events, PolicyReports) add to the controller's
// ingestion, which they must never slow down (controller/kube/pod_events.h,
// policy_reports.h): Google Benchmark, nothing asserted. Figures in docs/performance.md
// ("Kubernetes outputs").
//
//   BM_IngestBatch/kube:0|1  one ReportEvents batch of 500 events (10% DENY, pods spread
//       over 30 namespaces of 60 pods) through IngestService::Report into a SQLite store on
//       disk, without and with both publishers fed from IngestOptions::on_events. Their
//       transport answers every request at once (201 / 200), so the writer threads run as
//       they would against a fast API server, competing for the same cores.
//   BM_Offer/<what>  the per-event cost on the gRPC thread alone: PodEventRecorder::Offer,
//       PolicyReporter::Offer, both, and the cheapest possible alternative, a copy of the
//       event into a mutex-guarded deque (what any queueing hand-off costs).
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/str_cat.h"
#include "controller/event_store.h"
#include "controller/ingest_service.h"
#include "controller/kube/pod_events.h"
#include "controller/kube/policy_reports.h"
#include "controller/rpc_errors.h"
#include "tests/support/process.h"

namespace layerseal {
namespace {

using controller::kube::ApiTransport;
using controller::kube::Response;

constexpr int kBatch = 500;
constexpr int kNamespaces = 30, kPodsPerNamespace = 60;

// An API server that accepts everything at once: created Events, reports, Pods.
class InstantApi final : public ApiTransport {
 public:
  absl::StatusOr<Response> Do(std::string_view method, std::string_view, std::string_view,
                              std::string_view) override {
    Response r;
    r.status = method == "POST" ? 201 : 200;
    r.body = R"({"metadata":{"resourceVersion":"1"}})";
    return r;
  }
};

v1::Event MakeEvent(uint64_t seq) {
  v1::Event e;
  e.set_kind(v1::Event::VERDICT);
  e.set_node("node-1");
  e.set_seq(seq);
  e.set_time_unix_micros(1'790'000'000'000'000 + static_cast<int64_t>(seq) * 1000);
  e.set_gate("PullImage");
  int ns = static_cast<int>(seq % kNamespaces);
  int pod = static_cast<int>((seq / kNamespaces) % kPodsPerNamespace);
  std::string image = StrCat("registry.example/team-", ns, "/app:", pod % 5);
  e.set_image(image);
  e.set_pod_namespace(StrCat("ns-", ns));
  e.set_pod_name(StrCat("pod-", pod));
  e.set_pod_uid(StrCat("uid-", ns, "-", pod));
  bool deny = seq % 10 == 0;
  e.set_admitted(!deny);
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference(image);
  v->set_digest(StrCat("sha256:", std::string(63, 'a'), pod % 5));
  v->set_verdict(deny ? "DENY" : "ALLOW");
  v->set_reason(deny ? "BAD_SIGNATURE" : "VERIFIED");
  v->set_detail(deny ? "the signature does not verify with key ci" : "");
  v->set_scope("registry.example");
  v->set_mode("enforce");
  return e;
}

struct Publishers {
  InstantApi api;
  telemetry::Logger logger{"bench", [](std::string_view) {}};
  telemetry::MetricsRegistry metrics;
  std::unique_ptr<controller::kube::PodEventRecorder> events;
  std::unique_ptr<controller::kube::PolicyReporter> reports;

  Publishers(bool with_events, bool with_reports) {
    if (with_events) {
      controller::kube::PodEventsOptions o;
      o.transport = &api;
      o.logger = &logger;
      o.metrics = &metrics;
      o.instance = "bench";
      events = std::make_unique<controller::kube::PodEventRecorder>(std::move(o));
      events->Start();
    }
    if (with_reports) {
      controller::kube::PolicyReportsOptions o;
      o.transport = &api;
      o.logger = &logger;
      o.metrics = &metrics;
      o.interval = absl::Seconds(1);
      reports = std::make_unique<controller::kube::PolicyReporter>(std::move(o));
      reports->Start();
    }
  }
};

void BM_IngestBatch(benchmark::State& state) {
  const bool kube = state.range(0) != 0;
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<controller::EventStore>> store =
      controller::OpenEventStore("sqlite://" + dir.File("events.db"));
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  Publishers publishers(kube, kube);
  controller::CallTracker calls;
  controller::IngestOptions options;
  options.store = store->get();
  options.logger = &publishers.logger;
  options.metrics = &publishers.metrics;
  options.calls = &calls;
  options.require_identity = false;
  if (kube) {
    options.on_events = [&publishers](const std::vector<v1::Event>& events) {
      for (const v1::Event& e : events) {
        publishers.events->Offer(e);
        publishers.reports->Offer(e);
      }
    };
  }
  controller::IngestService ingest(std::move(options));
  uint64_t seq = 1;
  for (auto _ : state) {
    state.PauseTiming();
    v1::ReportEventsRequest request;
    request.set_node("node-1");
    for (int i = 0; i < kBatch; ++i) *request.add_events() = MakeEvent(seq++);
    state.ResumeTiming();
    v1::ReportEventsResponse response;
    grpc::Status s = ingest.Report(std::nullopt, request, &response);
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_IngestBatch)->ArgName("kube")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// 0: the floor (a copy into a mutex-guarded deque); 1: PodEventRecorder::Offer;
// 2: PolicyReporter::Offer; 3: both.
void BM_Offer(benchmark::State& state) {
  const int what = static_cast<int>(state.range(0));
  Publishers publishers(what == 1 || what == 3, what == 2 || what == 3);
  std::mutex mu;
  std::deque<v1::Event> floor;
  std::vector<v1::Event> events;
  for (uint64_t i = 1; i <= 10000; ++i) events.push_back(MakeEvent(i));
  size_t next = 0;
  uint64_t seq = 10001;
  for (auto _ : state) {
    v1::Event& e = events[next];
    e.set_seq(seq++);  // a new id each time: no resend shortcut
    if (++next == events.size()) next = 0;
    switch (what) {
      case 0: {
        std::lock_guard<std::mutex> lock(mu);
        floor.push_back(e);
        if (floor.size() > 1000) floor.pop_front();
        break;
      }
      case 1:
        publishers.events->Offer(e);
        break;
      case 2:
        publishers.reports->Offer(e);
        break;
      default:
        publishers.events->Offer(e);
        publishers.reports->Offer(e);
    }
  }
}
BENCHMARK(BM_Offer)->ArgName("what")->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace layerseal

BENCHMARK_MAIN();
