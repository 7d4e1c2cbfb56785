// The controller's event storage (issue 5): ingestion rate and filtered query latency.
// A harness with its own main() (not Google Benchmark: the figures are percentiles over
// single calls), not a test: nothing is asserted.
//
//   1. SQLite ingestion: a fresh database file (on the disk under $TMPDIR, so fsync is real)
//      filled to --events events (default 1,000,000) through EventStore::Append in batches
//      of 500 events of one node each, as agents send them; events/s for the first 100,000
//      and for the whole fill, and the per-batch latency.
//   2. Filtered queries on that database: --queries first pages (page size 100) per filter
//      kind with random values (node; namespace+verdict; digest; image; pod; reason; mode;
//      time ranges; a second page by token); p50/p99/max latency. Also Nodes() and Images().
//   3. Prune of the first day's events while another thread keeps appending (unless
//      --no-prune): Prune's time and the Appends' latency meanwhile.
//   4. PostgreSQL (unless --no-postgres): a real server (tests/support/postgres_server, fsync
//      on) filled with --pg-events events the same way, then the same queries.
//
// The data: 50 nodes running 36 pods each, in 30 namespaces of 60 pods, 200 images (one
// digest each; a pod runs one image), 10% DENY
// spread over 5 reasons, modes 90% enforce / 7% warn / 3% audit, event times spread over
// 7 days in arrival order.
//
// Usage: controller_bench [--events N] [--queries N] [--pg-events N] [--no-postgres] [--no-prune]
//                         [--db PATH (keep the SQLite database; filled only when short)]
// Figures and how to reproduce them: docs/performance.md ("Controller storage").
#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "controller/event_store.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using Clock = std::chrono::steady_clock;
using controller::EventStore;

constexpr int kBatch = 500;
constexpr int kNodes = 50, kNamespaces = 30, kPodsPerNamespace = 60, kImages = 200;
constexpr int kPodsPerNode = kNamespaces * kPodsPerNamespace / kNodes;  // 36
constexpr int64_t kStartUs = 1'790'000'000'000'000;                     // Sep 2026
constexpr int64_t kSpanUs = int64_t{7} * 24 * 3600 * 1'000'000;
const char* const kDenyReasons[] = {"BAD_SIGNATURE", "NO_SIGNATURE", "UNTRUSTED_KEY",
                                    "DIGEST_MISMATCH", "POLICY_DENIED"};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "controller_bench: %s\n", what.c_str());
  std::exit(1);
}
void DieIf(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(StrCat(what, ": ", Sv(s.message())));
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time of the calling thread (SQLite does its work in the caller's thread).
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return StrCat(a, " ", b, " ", c);
}

void PrintMachine() {
  utsname u{};
  uname(&u);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::printf("machine: nproc=%u, cpu \"%s\", kernel %s %s\n", std::thread::hardware_concurrency(),
              model.c_str(), u.sysname, u.release);
  std::printf("when: %s, load average %s\n", when, LoadAverage().c_str());
}

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};
Percentiles Of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return {at(0.50), at(0.99), v.back()};
}

// ---------------------------------------------------------------- data

std::string Hex64(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out;
  for (int i = 0; i < 4; ++i) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    out += buf;
  }
  return out;
}

std::string NodeName(int n) { return StrCat("node-", n < 10 ? "0" : "", n); }
std::string Namespace(int n) { return StrCat("ns-", n < 10 ? "0" : "", n); }
std::string PodName(int ns, int p) { return StrCat(Namespace(ns), "-app-", p, "-7f9c6d5b4-x2k8q"); }
std::string ImageName(int i) {
  return StrCat("registry.example.com/team-", i % kNamespaces, "/service-", i, ":v1.", i % 7);
}
std::string ImageDigest(int i) { return StrCat("sha256:", Hex64(static_cast<uint64_t>(i) + 1)); }

class Generator {
 public:
  // `seq_base`: the first seq of every node is seq_base + 1 (a second generator over the
  // same store must not repeat the first one's ids).
  explicit Generator(int64_t total, uint64_t seq_base = 0)
      : total_(total), seqs_(kNodes, seq_base) {}

  // The next batch: kBatch events of one node (round robin), times in arrival order.
  std::vector<v1::Event> Batch(std::string& node) {
    int n = static_cast<int>(batches_++ % kNodes);
    node = NodeName(n);
    std::vector<v1::Event> out;
    out.reserve(kBatch);
    for (int i = 0; i < kBatch; ++i) out.push_back(Event(n));
    return out;
  }
  int64_t last_time_us() const { return last_time_us_; }

 private:
  v1::Event Event(int n) {
    v1::Event e;
    e.set_node(NodeName(n));
    e.set_seq(++seqs_[static_cast<size_t>(n)]);
    last_time_us_ = kStartUs + made_++ * kSpanUs / total_;
    e.set_time_unix_micros(last_time_us_);
    e.set_kind(v1::Event::VERDICT);
    static const char* const kGates[] = {"PullImage", "ImageStatus", "CreateContainer"};
    e.set_gate(kGates[rng_() % 3]);
    // Pods are scheduled: each node runs its own share of the cluster's pods, and a pod
    // runs one image. (A node's batch therefore names ~36 pods, not 500 random ones.)
    int pod_index = n * kPodsPerNode + static_cast<int>(rng_() % kPodsPerNode);
    int ns = pod_index % kNamespaces;
    int pod = pod_index / kNamespaces;
    int image = (pod_index * 7) % kImages;
    e.set_image(ImageName(image));
    e.set_pod_namespace(Namespace(ns));
    e.set_pod_name(PodName(ns, pod));
    e.set_pod_uid(Hex64(rng_()).substr(0, 36));
    v1::Verdict* v = e.mutable_verdict();
    v->set_reference(ImageName(image));
    v->set_digest(ImageDigest(image));
    bool deny = rng_() % 10 == 0;
    v->set_verdict(deny ? "DENY" : "ALLOW");
    v->set_reason(deny ? kDenyReasons[rng_() % 5] : "VERIFIED");
    v->set_detail(deny ? "signature by key sha256:... does not verify" : "");
    v->set_key_id(StrCat("sha256:", Hex64(7)));
    v->set_policy_version(StrCat("sha256:", Hex64(11)));
    v->set_scope(StrCat("namespace/", Namespace(ns)));
    unsigned m = static_cast<unsigned>(rng_() % 100);
    v->set_mode(m < 90 ? "enforce" : m < 97 ? "warn" : "audit");
    v->set_duration_ms(static_cast<double>(rng_() % 5000) / 100.0);
    e.set_admitted(!deny || m >= 90);
    e.set_cached(rng_() % 2 == 0);
    e.set_gate_ms(static_cast<double>(rng_() % 1000) / 100.0);
    e.set_agent_version("0.5.0");
    return e;
  }

  int64_t total_;
  int64_t made_ = 0;
  int64_t batches_ = 0;
  int64_t last_time_us_ = 0;
  std::vector<uint64_t> seqs_;
  std::mt19937_64 rng_{42};
};

// ---------------------------------------------------------------- ingestion

void Fill(EventStore& store, int64_t total, const char* label) {
  Generator gen(total);
  v1::AgentStatus status;
  status.set_agent_version("0.5.0");
  std::vector<double> batch_ms;
  double first_100k_ms = 0, total_ms = 0, cpu_ms = 0;
  int64_t stored = 0;
  int64_t next_report = 100'000;
  while (stored < total) {
    std::string node;
    std::vector<v1::Event> batch = gen.Batch(node);
    absl::Time received = absl::FromUnixMicros(gen.last_time_us()) + absl::Seconds(1);
    double cpu0 = ThreadCpuMs();
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<controller::AppendResult> r = store.Append(node, status, batch, received);
    double ms = Ms(Clock::now() - t0);
    cpu_ms += ThreadCpuMs() - cpu0;
    DieIf(r.status(), "Append");
    if (r->stored != kBatch) Die(StrCat("Append stored ", r->stored, " of ", kBatch));
    batch_ms.push_back(ms);
    total_ms += ms;
    stored += kBatch;
    if (stored == 100'000) first_100k_ms = total_ms;
    if (stored >= next_report) {
      std::fprintf(stderr, "  %s: %lld events, %.0f events/s so far, load %s\n", label,
                   static_cast<long long>(stored), stored / (total_ms / 1000),
                   LoadAverage().c_str());
      next_report += 100'000;
    }
  }
  Percentiles p = Of(batch_ms);
  std::printf(
      "%s ingestion, batches of %d: first 100000 events %.0f events/s; all %lld events "
      "%.0f events/s; per batch p50 %.1f ms, p99 %.1f ms, max %.1f ms; CPU of the appending "
      "thread %.1f us per event (%.0f events per CPU second)\n",
      label, kBatch, first_100k_ms > 0 ? 100'000 / (first_100k_ms / 1000) : 0.0,
      static_cast<long long>(stored), stored / (total_ms / 1000), p.p50, p.p99, p.max,
      cpu_ms * 1000 / static_cast<double>(stored), static_cast<double>(stored) / (cpu_ms / 1000));
}

// ---------------------------------------------------------------- prune

// Prunes the first day of events (received times follow event times) in one thread while
// this thread appends batches, as ingestion goes on during retention: how long Prune takes
// and how long an Append waits behind its chunks.
void PruneWhileAppending(EventStore& store, int64_t total) {
  absl::Time cutoff = absl::FromUnixMicros(kStartUs + int64_t{24} * 3600 * 1'000'000);
  std::atomic<bool> done{false};
  absl::StatusOr<int64_t> pruned = 0;
  double prune_ms = 0;
  std::thread pruner([&] {
    Clock::time_point t0 = Clock::now();
    pruned = store.Prune(cutoff);
    prune_ms = Ms(Clock::now() - t0);
    done = true;
  });
  Generator gen(total, /*seq_base=*/uint64_t{1} << 40);
  v1::AgentStatus status;
  std::vector<double> batch_ms;
  while (!done) {
    std::string node;
    std::vector<v1::Event> batch = gen.Batch(node);
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<controller::AppendResult> r =
        store.Append(node, status, batch, absl::FromUnixMicros(kStartUs + kSpanUs));
    batch_ms.push_back(Ms(Clock::now() - t0));
    DieIf(r.status(), "Append during Prune");
  }
  pruner.join();
  DieIf(pruned.status(), "Prune");
  Percentiles p = Of(batch_ms);
  std::printf(
      "Prune of the first day: %lld events in %.0f ms (chunks of %d); meanwhile %zu "
      "Appends of %d: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      static_cast<long long>(*pruned), prune_ms, 5000, batch_ms.size(), kBatch, p.p50, p.p99,
      p.max);
}

// ---------------------------------------------------------------- queries

struct QueryKind {
  std::string name;
  std::function<v1::EventFilter(std::mt19937_64&)> make;
  bool second_page = false;
};

std::vector<QueryKind> QueryKinds(int64_t total) {
  int64_t span = kSpanUs * total / std::max<int64_t>(total, 1);
  auto window = [span](std::mt19937_64& r, int64_t width) {
    int64_t start = kStartUs + static_cast<int64_t>(r() % static_cast<uint64_t>(span - width));
    v1::EventFilter f;
    f.set_since_unix_micros(start);
    f.set_until_unix_micros(start + width);
    return f;
  };
  const int64_t hour = int64_t{3600} * 1'000'000;
  return {
      {"no filter (newest)", [](std::mt19937_64&) { return v1::EventFilter(); }},
      {"node",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_node(NodeName(static_cast<int>(r() % kNodes)));
         return f;
       }},
      {"node, second page",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_node(NodeName(static_cast<int>(r() % kNodes)));
         return f;
       },
       true},
      {"namespace + verdict=DENY",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_namespace_(Namespace(static_cast<int>(r() % kNamespaces)));
         f.set_verdict("DENY");
         return f;
       }},
      {"digest",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_digest(ImageDigest(static_cast<int>(r() % kImages)));
         return f;
       }},
      {"image (image or reference)",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_image(ImageName(static_cast<int>(r() % kImages)));
         return f;
       }},
      {"pod",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_pod(PodName(static_cast<int>(r() % kNamespaces),
                           static_cast<int>(r() % kPodsPerNamespace)));
         return f;
       }},
      {"reason (one DENY reason)",
       [](std::mt19937_64& r) {
         v1::EventFilter f;
         f.set_reason(kDenyReasons[r() % 5]);
         return f;
       }},
      {"mode=audit",
       [](std::mt19937_64&) {
         v1::EventFilter f;
         f.set_mode("audit");
         return f;
       }},
      {"time range: 1 hour", [=](std::mt19937_64& r) { return window(r, hour); }},
      {"time range: 1 day", [=](std::mt19937_64& r) { return window(r, 24 * hour); }},
      {"time range 1 day + node + verdict=DENY",
       [=](std::mt19937_64& r) {
         v1::EventFilter f = window(r, 24 * hour);
         f.set_node(NodeName(static_cast<int>(r() % kNodes)));
         f.set_verdict("DENY");
         return f;
       }},
  };
}

void RunQueries(EventStore& store, int64_t total, int queries, const char* label) {
  std::mt19937_64 rng(7);
  std::printf("%s queries over %lld events, page size 100, %d random values each:\n", label,
              static_cast<long long>(total), queries);
  std::printf("  %-40s %9s %9s %9s %8s\n", "filter", "p50 ms", "p99 ms", "max ms", "rows");
  for (const QueryKind& kind : QueryKinds(total)) {
    std::vector<double> ms;
    int64_t rows = 0;
    for (int i = 0; i < queries; ++i) {
      v1::EventFilter f = kind.make(rng);
      std::string token;
      if (kind.second_page) {
        absl::StatusOr<controller::EventPage> first = store.Query(f, 100, "");
        DieIf(first.status(), "Query");
        token = first->next_page_token;
      }
      Clock::time_point t0 = Clock::now();
      absl::StatusOr<controller::EventPage> page = store.Query(f, 100, token);
      ms.push_back(Ms(Clock::now() - t0));
      DieIf(page.status(), StrCat("Query ", kind.name));
      rows += static_cast<int64_t>(page->events.size());
    }
    Percentiles p = Of(ms);
    std::printf("  %-40s %9.2f %9.2f %9.2f %8.1f\n", kind.name.c_str(), p.p50, p.p99, p.max,
                static_cast<double>(rows) / queries);
  }
  Clock::time_point t0 = Clock::now();
  absl::StatusOr<std::vector<v1::NodeSummary>> nodes = store.Nodes();
  double nodes_ms = Ms(Clock::now() - t0);
  DieIf(nodes.status(), "Nodes");
  t0 = Clock::now();
  absl::StatusOr<std::vector<v1::ImageSummary>> images = store.Images(absl::InfinitePast(), 100);
  double images_ms = Ms(Clock::now() - t0);
  DieIf(images.status(), "Images");
  t0 = Clock::now();
  absl::StatusOr<std::vector<v1::ImageSummary>> images_day =
      store.Images(absl::FromUnixMicros(kStartUs + kSpanUs - int64_t{24} * 3600 * 1'000'000), 100);
  double images_day_ms = Ms(Clock::now() - t0);
  DieIf(images_day.status(), "Images");
  std::printf(
      "  Nodes(): %.1f ms (%zu nodes); Images(all, 100): %.0f ms; Images(last day, 100): "
      "%.0f ms\n",
      nodes_ms, nodes->size(), images_ms, images_day_ms);
}

int Main(int argc, char** argv) {
  int64_t events = 1'000'000, pg_events = 100'000;
  int queries = 200;
  bool postgres = true;
  bool prune = true;
  std::string db_path;  // keep the SQLite database here (filled only if it has fewer events)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(StrCat(a, " needs a value"));
      return argv[++i];
    };
    if (a == "--events") {
      events = std::atoll(value().c_str());
    } else if (a == "--pg-events") {
      pg_events = std::atoll(value().c_str());
    } else if (a == "--queries") {
      queries = std::atoi(value().c_str());
    } else if (a == "--db") {
      db_path = value();
    } else if (a == "--no-prune") {
      prune = false;
    } else if (a == "--no-postgres") {
      postgres = false;
    } else {
      Die(StrCat("unknown argument ", a));
    }
  }
  events = std::max<int64_t>(kBatch, events / kBatch * kBatch);
  pg_events = std::max<int64_t>(kBatch, pg_events / kBatch * kBatch);
  PrintMachine();
  absl::StatusOr<testing::RunResult> version = testing::Run({"sqlite3", "--version"});
  std::printf("sqlite3 --version: %s", version.ok() ? version->out.c_str() : "?\n");

  {
    testing::TempDir dir;
    std::string path = db_path.empty() ? dir.File("events.db") : db_path;
    absl::StatusOr<std::unique_ptr<EventStore>> store = controller::OpenEventStore(path);
    DieIf(store.status(), "open SQLite");
    if ((*store)->Count() < events) Fill(**store, events, "SQLite");
    std::ifstream db(path, std::ios::binary | std::ios::ate);
    std::printf("SQLite file: %.0f MB\n", static_cast<double>(db.tellg()) / 1e6);
    RunQueries(**store, events, queries, "SQLite");
    if (prune) PruneWhileAppending(**store, events);
  }
  if (postgres) {
    testing::PostgresServer::Options options;
    options.fsync = true;  // as deployed: a committed batch is on disk
    absl::StatusOr<std::unique_ptr<testing::PostgresServer>> server =
        testing::PostgresServer::Start(options);
    DieIf(server.status(), "start PostgreSQL");
    DieIf((*server)->CreateDatabase("bench"), "create database");
    absl::StatusOr<std::unique_ptr<EventStore>> store =
        controller::OpenEventStore((*server)->Url("bench"));
    DieIf(store.status(), "open PostgreSQL");
    Fill(**store, pg_events, "PostgreSQL");
    DieIf((*server)->Psql("bench", "ANALYZE events").status(), "ANALYZE");
    RunQueries(**store, pg_events, queries, "PostgreSQL");
  }
  return 0;
}

}  // namespace
}  // namespace layerseal

int main(int argc, char** argv) { return layerseal::Main(argc, argv); }
