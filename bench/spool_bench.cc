// What the durable event spool adds to a verdict: EventSpool::Append (write + fdatasync with
// group commit) timed per call while `threads` callers append at once, as concurrent pulls
// do; on the filesystem of --dir (default: a temp dir under $TMPDIR or /tmp; point it at
// /var/lib/layerseal's disk to measure a node). Prints p50/p90/p99 per Append and how many
// appends shared one sync. Two shapes: "burst" (each round, all threads append one event at
// the same instant, as 50 pulls decided together) and "stream" (every thread appends in a
// tight loop: the most contention there can be). A harness with its own main(), not a test:
// nothing is asserted.
//
// Usage: spool_bench [--threads N] [--appends-per-thread N] [--dir DIR]
// Figures: docs/performance.md ("Event spool").
#include <sys/utsname.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "node-agent/spool.h"
#include "tests/support/process.h"

namespace layerseal {
namespace {

struct Args {
  int threads = 50;
  int appends = 200;  // per thread
  std::string dir;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--threads")) a.threads = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--appends-per-thread")) a.appends = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--dir")) a.dir = argv[i + 1];
  }
  return a;
}

// A verdict event of the usual size (a few hundred bytes serialized).
v1::Event SampleEvent(int i) {
  v1::Event e;
  e.set_node("node-bench");
  e.set_kind(v1::Event::VERDICT);
  e.set_time_unix_micros(1'700'000'000'000'000 + i);
  e.set_gate("PullImage");
  e.set_image("registry.example/team/app:1." + std::to_string(i));
  e.set_pod_namespace("team");
  e.set_pod_name("app-7f9c6d5b8-x2x4q");
  e.set_pod_uid("4a1f2e3d-0000-4000-8000-000000000000");
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference(e.image());
  v->set_digest("sha256:" + std::string(64, 'a'));
  v->set_verdict("ALLOW");
  v->set_reason("VERIFIED");
  v->set_key_id("sha256:" + std::string(64, 'b'));
  v->set_policy_version("sha256:" + std::string(64, 'c'));
  v->set_scope("registry.example/team");
  v->set_mode("enforce");
  e.set_admitted(true);
  e.set_agent_version("0.1.0");
  return e;
}

double Percentile(std::vector<double>& v, double p) {
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

int Run(agent::EventSpool& spool, const Args& args, bool burst);

int Main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  testing::TempDir temp;
  std::string dir = args.dir.empty() ? temp.File("spool") : args.dir + "/spool-bench";
  absl::StatusOr<std::unique_ptr<agent::EventSpool>> spool =
      agent::EventSpool::Open({.dir = dir, .max_bytes = 1ull << 30, .node = "node-bench"});
  if (!spool.ok()) {
    fprintf(stderr, "spool_bench: %s\n", std::string(spool.status().message()).c_str());
    return 1;
  }
  utsname u{};
  uname(&u);
  printf("machine: %s %s, %u cpus; spool dir %s\n", u.sysname, u.release,
         std::thread::hardware_concurrency(), dir.c_str());
  for (bool burst : {true, false}) {
    if (int rc = Run(**spool, args, burst); rc != 0) return rc;
  }
  return 0;
}

int Run(agent::EventSpool& spool, const Args& args, bool burst) {
  std::vector<std::vector<double>> per_thread(args.threads);
  std::vector<std::thread> threads;
  std::barrier round(args.threads);
  uint64_t syncs_before = spool.stats().syncs;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < args.threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < args.appends; ++i) {
        if (burst) round.arrive_and_wait();
        v1::Event e = SampleEvent(t * args.appends + i);
        auto t0 = std::chrono::steady_clock::now();
        absl::StatusOr<uint64_t> seq = spool.Append(std::move(e));
        auto t1 = std::chrono::steady_clock::now();
        if (!seq.ok()) {
          fprintf(stderr, "append: %s\n", std::string(seq.status().message()).c_str());
          std::exit(1);
        }
        per_thread[t].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  uint64_t syncs = spool.stats().syncs - syncs_before;
  printf("%s: %d threads x %d appends: %zu appends in %.2f s (%.0f/s), %llu syncs (%.1f appends per sync)\n",
         burst ? "burst" : "stream", args.threads, args.appends, all.size(), seconds,
         all.size() / seconds, static_cast<unsigned long long>(syncs),
         syncs ? static_cast<double>(all.size()) / syncs : 0.0);
  printf("Append latency: p50 %.0f us, p90 %.0f us, p99 %.0f us\n", Percentile(all, 0.50),
         Percentile(all, 0.90), Percentile(all, 0.99));
  return 0;
}

}  // namespace
}  // namespace layerseal

int main(int argc, char** argv) { return layerseal::Main(argc, argv); }
