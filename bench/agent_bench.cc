// The node agent's overhead, measured against the same real containerd (CRI plugin on, temp
// root) in one run: every figure is taken twice, once on containerd's own socket ("direct")
// and once on the `layerseal-agent` binary's socket in front of it ("agent"). A harness with
// its own main() (not Google Benchmark: the figures are percentiles over single calls and
// process RSS), not a test: nothing is asserted.
//
//   1. unary pass-through latency: RuntimeService/Version (forwarded as bytes) and
//      ImageService/ImageStatus of a pulled, admitted image by tag (a gate: the agent forwards
//      it and reviews containerd's answer against the cached verdict); N sequential calls each after a
//      warm-up, direct and agent interleaved in blocks so that load drifts hit both alike.
//   2. Version throughput with 16 concurrent callers for ~3 s, each thread with its own
//      channel (own connection: local subchannel pool), and again sharing one channel.
//   3. PullImage by tag of an already verified image (verdict cached), direct vs agent; and
//      the agent's tag pull against a direct pull of the repository@digest it forwards.
//   The agent's CPU time (/proc/<pid>/stat) and context switches (all its threads) are read
//   around its blocks and given per call.
//   4. agent VmRSS idle after start, and its maximum (sampled every 10 ms, and VmHWM) during
//      100 concurrent PullImage calls of distinct, pushed, not yet verified signed images.
//   5. the floor: Version and ImageStatus latency and Version throughput through byte_relay
//      (bench/byte_relay.cc, a one-thread byte copier) in place of the agent: what one more
//      user-space hop costs on this machine, whatever the proxy does.
//
// Usage: agent_bench [--calls N] [--pulls N] [--seconds S] [--images N] [--agent BINARY]
// (--agent: another layerseal-agent build, e.g. an older commit's, for a before/after run)
// Figures and how to reproduce them: docs/performance.md ("Node agent").
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "agent_bench: %s\n", what.c_str());
  std::exit(1);
}
void DieIf(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(StrCat(what, ": ", Sv(s.message())));
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// ---------------------------------------------------------------- machine and process

std::string FirstLineWith(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return line;
  }
  return "";
}

std::string AfterColon(const std::string& line) {
  size_t at = line.find(':');
  if (at == std::string::npos) return line;
  size_t start = line.find_first_not_of(" \t", at + 1);
  return start == std::string::npos ? "" : line.substr(start);
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
  std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::printf("machine: nproc=%u, cpu \"%s\", kernel %s %s %s\n",
              std::thread::hardware_concurrency(),
              AfterColon(FirstLineWith("/proc/cpuinfo", "model name")).c_str(), u.sysname,
              u.release, u.machine);
  std::printf("when: %s, load average %s\n", when, LoadAverage().c_str());
}

// VmRSS (or another "Vm*:" line) of `pid` in KiB, -1 when unreadable.
long VmKiB(pid_t pid, const char* field) {
  std::string line = FirstLineWith(StrCat("/proc/", pid, "/status"), field);
  if (line.empty()) return -1;
  return std::atol(AfterColon(line).c_str());
}

// utime + stime of `pid` in microseconds.
double CpuUs(pid_t pid) {
  std::ifstream in(StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  std::vector<std::string> fields;
  size_t pos = close + 2;
  while (pos < stat.size() && fields.size() < 13) {
    size_t end = stat.find(' ', pos);
    fields.push_back(stat.substr(pos, end - pos));
    pos = end == std::string::npos ? stat.size() : end + 1;
  }
  if (fields.size() < 13) return 0;
  double ticks = std::atof(fields[11].c_str()) + std::atof(fields[12].c_str());
  return ticks * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Context switches (voluntary + involuntary) summed over all threads of `pid`.
long ContextSwitches(pid_t pid) {
  long n = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("ctxt_switches:") != std::string::npos) n += std::atol(AfterColon(line).c_str());
    }
  }
  return n;
}

int Threads(pid_t pid) { return std::atoi(AfterColon(FirstLineWith(StrCat("/proc/", pid, "/status"), "Threads:")).c_str()); }

// ---------------------------------------------------------------- CRI client

// The shared test CRI client (tests/support/cri_client.h); pulls get 300 s (the 100
// concurrent pulls of unverified images queue behind the gates' workers).
using testing::CriClient;
const testing::CriClientOptions kClientOptions{.pull_timeout = absl::Seconds(300)};

// ---------------------------------------------------------------- statistics

struct Summary {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

Summary Summarize(std::vector<double> us) {
  Summary s;
  s.n = us.size();
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(i, us.size() - 1)];
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.max = us.back();
  double sum = 0;
  for (double v : us) sum += v;
  s.mean = sum / static_cast<double>(us.size());
  return s;
}

struct LatencyResult {
  std::string name;
  Summary direct, agent;
  double agent_cpu_us_per_call = 0;
  double agent_switches_per_call = 0;
  int errors = 0;
};

// `calls` sequential calls of `call_direct` and of `call_agent` each, after `warmup` of
// each, interleaved in blocks of `block`; the agent's CPU time is read around its blocks.
LatencyResult MeasureLatency(const std::string& name, int calls, int warmup, int block,
                             const std::function<bool()>& call_direct,
                             const std::function<bool()>& call_agent, pid_t agent_pid) {
  LatencyResult r;
  r.name = name;
  for (int i = 0; i < warmup; ++i) {
    r.errors += !call_direct();
    r.errors += !call_agent();
  }
  std::vector<double> direct, agent;
  double agent_cpu = 0;
  long agent_switches = 0;
  for (int done = 0; done < calls; done += block) {
    int n = std::min(block, calls - done);
    for (int i = 0; i < n; ++i) {
      Clock::time_point t0 = Clock::now();
      r.errors += !call_direct();
      direct.push_back(Us(Clock::now() - t0));
    }
    double cpu0 = CpuUs(agent_pid);
    long switches0 = ContextSwitches(agent_pid);
    for (int i = 0; i < n; ++i) {
      Clock::time_point t0 = Clock::now();
      r.errors += !call_agent();
      agent.push_back(Us(Clock::now() - t0));
    }
    agent_cpu += CpuUs(agent_pid) - cpu0;
    agent_switches += ContextSwitches(agent_pid) - switches0;
  }
  r.direct = Summarize(std::move(direct));
  r.agent = Summarize(std::move(agent));
  r.agent_cpu_us_per_call = agent_cpu / std::max(calls, 1);
  r.agent_switches_per_call = static_cast<double>(agent_switches) / std::max(calls, 1);
  return r;
}

// Version calls/s with `threads` callers for `seconds`; each caller on its own channel
// (`own_channels`) or all on one.
struct Throughput {
  double calls_per_s = 0;
  long errors = 0;
  double agent_cpu_share = 0;  // agent CPU seconds per wall second (agent runs only)
};

Throughput MeasureThroughput(const std::string& socket, int threads, double seconds,
                             bool own_channels, pid_t agent_pid) {
  std::vector<std::unique_ptr<CriClient>> clients;
  std::shared_ptr<grpc::Channel> shared = own_channels ? nullptr : testing::ConnectCri(socket);
  for (int i = 0; i < threads; ++i) {
    clients.push_back(std::make_unique<CriClient>(
        own_channels ? testing::ConnectCri(socket, true) : shared, kClientOptions));
    for (int w = 0; w < 50; ++w) clients.back()->Version();  // connect and warm up
  }
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0}, errors{0};
  std::vector<std::thread> pool;
  double cpu0 = agent_pid > 0 ? CpuUs(agent_pid) : 0;
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      long n = 0, e = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        e += !clients[i]->Version().ok();
        ++n;
      }
      calls += n;
      errors += e;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& t : pool) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  Throughput t;
  t.calls_per_s = static_cast<double>(calls.load()) / wall;
  t.errors = errors.load();
  if (agent_pid > 0) t.agent_cpu_share = (CpuUs(agent_pid) - cpu0) / 1e6 / wall;
  return t;
}

// ---------------------------------------------------------------- the run

struct Args {
  int calls = 2000;
  int pulls = 200;
  double seconds = 3;
  int distinct_images = 100;
  std::string agent = LAYERSEAL_AGENT_BINARY;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) Die(StrCat("missing value after ", flag));
    if (flag == "--calls") {
      a.calls = std::atoi(argv[++i]);
    } else if (flag == "--pulls") {
      a.pulls = std::atoi(argv[++i]);
    } else if (flag == "--seconds") {
      a.seconds = std::atof(argv[++i]);
    } else if (flag == "--images") {
      a.distinct_images = std::atoi(argv[++i]);
    } else if (flag == "--agent") {
      a.agent = argv[++i];
    } else {
      Die(StrCat("unknown flag ", flag,
                 " (known: --calls N --pulls N --seconds S --images N --agent BINARY)"));
    }
  }
  return a;
}

void PrintLatencyRow(const LatencyResult& r) {
  std::printf("| %-28s | %6zu | %9.1f | %9.1f | %9.1f | %9.1f | %+9.1f | %+9.1f | %8.1f | %5.1f | %d |\n",
              r.name.c_str(), r.direct.n, r.direct.p50, r.direct.p99, r.agent.p50, r.agent.p99,
              r.agent.p50 - r.direct.p50, r.agent.p99 - r.direct.p99, r.agent_cpu_us_per_call,
              r.agent_switches_per_call, r.errors);
}

// `proxy` names what stands in front of containerd in the second half of each row.
void PrintLatencyTable(const std::string& title, const std::string& proxy,
                       const std::vector<LatencyResult>& rows) {
  std::printf("%s:\n\n", title.c_str());
  std::printf("| %-28s | %6s | direct p50 | direct p99 | %s p50 | %s p99 | added p50 | added p99 | "
              "%s CPU/call | %s ctx switches/call | errors |\n",
              "call", "N", proxy.c_str(), proxy.c_str(), proxy.c_str(), proxy.c_str());
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const LatencyResult& r : rows) PrintLatencyRow(r);
  std::printf("\n");
  for (const LatencyResult& r : rows) {
    std::printf("%s: direct p90 %.1f max %.1f mean %.1f; %s p90 %.1f max %.1f mean %.1f\n",
                r.name.c_str(), r.direct.p90, r.direct.max, r.direct.mean, proxy.c_str(),
                r.agent.p90, r.agent.max, r.agent.mean);
  }
  std::printf("\n");
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  PrintMachine();
  std::printf("agent binary: %s\n", args.agent.c_str());
  std::fflush(stdout);

  // Servers, key, policy.
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry = testing::RegistryServer::Start();
  DieIf(registry.status(), "docker-registry");
  const std::string host = (*registry)->host();
  absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
      testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {host}});
  DieIf(containerd.status(), "containerd");
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  DieIf(key.status(), "key");
  testing::TempDir dir;
  testing::WriteFileOrDie(dir.File("ci.pub"), key->public_key().ToPem());
  testing::WriteFileOrDie(dir.File("policy.yaml"),
                          StrCat("version: 1\n"
                                 "keys:\n  ci: {path: ", dir.File("ci.pub"), "}\n"
                                 "default: {requirement: reject}\n"
                                 "scopes:\n"
                                 "    \"", host, "\": {requirement: signed, keys: [ci]}\n"));
  std::filesystem::create_directories(dir.File("namespaces"));

  // Images: one for the unary and pull figures, `distinct_images` for the concurrent pulls.
  auto ref = [&](const std::string& repo_tag) { return StrCat(host, "/", repo_tag); };
  registry::RegistryClient pusher((*registry)->ClientOptions());
  auto push = [&](const std::string& repo_tag, const std::string& seed) {
    testing::TestImage image = testing::SealTestImage(testing::MakeBaseImage({.seed = seed}), *key);
    DieIf(testing::PushTestImage(pusher, *Reference::Parse(ref(repo_tag)), image),
          StrCat("push ", repo_tag));
    return image.digest;
  };
  Clock::time_point push_start = Clock::now();
  const Digest app_digest = push("bench/app:1", "agent-bench-app");
  for (int i = 0; i < args.distinct_images; ++i) {
    push(StrCat("bench/many-", i, ":1"), StrCat("agent-bench-many-", i));
  }
  std::printf("pushed %d signed images in %.1f s\n", args.distinct_images + 1,
              std::chrono::duration<double>(Clock::now() - push_start).count());

  // The agent, with the e2e test's flags.
  const int admin_port = testing::PickFreePort();
  std::vector<std::string> agent_argv = {
      args.agent, "--listen", dir.File("agent.sock"),
      "--runtime-endpoint", (*containerd)->socket(), "--policy", dir.File("policy.yaml"),
      "--namespace-policy-dir", dir.File("namespaces"), "--state-dir", dir.File("state"),
      "--node-name", "node-bench", "--admin", StrCat("127.0.0.1:", admin_port),
      "--health-socket", dir.File("health.sock"), "--plain-http-registry", host,
      "--policy-check-interval", "200ms"};
  absl::StatusOr<std::unique_ptr<testing::Child>> agent_child =
      testing::Child::Spawn(agent_argv, dir.File("agent.log"));
  DieIf(agent_child.status(), "layerseal-agent");
  const pid_t agent = (*agent_child)->pid();
  if (!testing::WaitForPort(admin_port, absl::Seconds(20))) {
    Die(StrCat("the agent did not start; its log:\n", testing::ReadFileOrDie(dir.File("agent.log"))));
  }
  absl::StatusOr<std::unique_ptr<testing::Child>> relay_child = testing::Child::Spawn(
      {BYTE_RELAY_BINARY, dir.File("relay.sock"), (*containerd)->socket()},
      dir.File("relay.log"));
  DieIf(relay_child.status(), "byte_relay");
  const pid_t relay = (*relay_child)->pid();
  CriClient via_agent(dir.File("agent.sock"), kClientOptions);
  CriClient direct((*containerd)->socket(), kClientOptions);
  CriClient via_relay(dir.File("relay.sock"), kClientOptions);
  for (CriClient* proxy : {&via_relay, &via_agent}) {  // until each answers
    for (int i = 0; i < 100 && !proxy->Version().ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long idle_rss_start = VmKiB(agent, "VmRSS:");
  std::printf("agent pid %d: VmRSS %.1f MiB idle after start (%d threads)\n", agent,
              idle_rss_start / 1024.0, Threads(agent));

  // The image, admitted: first through the agent (verified, verdict cached; the runtime
  // stores it as repository@digest), then directly by tag (so containerd knows the tag too
  // and ImageStatus(tag) is answered by containerd on both paths).
  const std::string app = ref("bench/app:1");
  std::string image_ref;
  grpc::Status first = via_agent.Pull(app, &image_ref);
  if (!first.ok()) Die(StrCat("first pull through the agent: ", first.error_message()));
  grpc::Status first_direct = direct.Pull(app);
  if (!first_direct.ok()) Die(StrCat("first direct pull: ", first_direct.error_message()));
  grpc::Status status;
  bool found_direct = direct.Status(app, &status).has_value();
  bool found_agent = via_agent.Status(app, &status).has_value();
  if (!found_direct || !found_agent) Die("ImageStatus(tag) does not find the pulled image");
  std::printf("image %s pulled (%s)\n\n", app.c_str(), image_ref.c_str());
  std::fflush(stdout);

  // 1 and 3: latency.
  std::vector<LatencyResult> latency;
  latency.push_back(MeasureLatency(
      "RuntimeService/Version", args.calls, 200, 100, [&] { return direct.Version().ok(); },
      [&] { return via_agent.Version().ok(); }, agent));
  auto status_call = [&](CriClient& c) {
    grpc::Status s;
    return c.Status(app, &s).has_value();
  };
  latency.push_back(MeasureLatency(
      "ImageService/ImageStatus(tag)", args.calls, 200, 100, [&] { return status_call(direct); },
      [&] { return status_call(via_agent); }, agent));
  latency.push_back(MeasureLatency(
      "ImageService/PullImage(tag)", args.pulls, 10, 20, [&] { return direct.Pull(app).ok(); },
      [&] { return via_agent.Pull(app).ok(); }, agent));
  // The agent pulls what it judged by repository@digest; containerd then skips resolving the
  // tag. This row compares the agent's tag pull with a direct pull of that pinned reference.
  const std::string pinned = StrCat(ref("bench/app"), "@", app_digest.str());
  latency.push_back(MeasureLatency(
      "PullImage: direct by digest", args.pulls, 10, 20, [&] { return direct.Pull(pinned).ok(); },
      [&] { return via_agent.Pull(app).ok(); }, agent));

  PrintLatencyTable("Latency, sequential calls on one connection each (µs; added = agent - direct)",
                    "agent", latency);

  // 5: the floor, the same unary calls through the byte relay.
  std::vector<LatencyResult> floor;
  floor.push_back(MeasureLatency(
      "RuntimeService/Version", args.calls, 200, 100, [&] { return direct.Version().ok(); },
      [&] { return via_relay.Version().ok(); }, relay));
  floor.push_back(MeasureLatency(
      "ImageService/ImageStatus(tag)", args.calls, 200, 100, [&] { return status_call(direct); },
      [&] { return status_call(via_relay); }, relay));
  PrintLatencyTable("The floor: byte_relay in place of the agent (µs; added = relay - direct)",
                    "relay", floor);

  // 2: throughput.
  constexpr int kCallers = 16;
  std::printf("Version throughput, %d concurrent callers, %.1f s each:\n\n", kCallers, args.seconds);
  std::printf("| channels | direct calls/s | agent calls/s | agent/direct | agent CPU (cores) | errors |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (bool own : {true, false}) {
    Throughput d = MeasureThroughput((*containerd)->socket(), kCallers, args.seconds, own, 0);
    Throughput a = MeasureThroughput(dir.File("agent.sock"), kCallers, args.seconds, own, agent);
    Throughput r = MeasureThroughput(dir.File("relay.sock"), kCallers, args.seconds, own, relay);
    const char* channels = own ? "one per caller" : "one shared";
    std::printf("| %s | %.0f | %.0f | %.2f | %.2f | %ld |\n", channels, d.calls_per_s,
                a.calls_per_s, a.calls_per_s / d.calls_per_s, a.agent_cpu_share,
                d.errors + a.errors);
    std::printf("| %s, byte_relay in place of the agent | %.0f | %.0f | %.2f | %.2f | %ld |\n",
                channels, d.calls_per_s, r.calls_per_s, r.calls_per_s / d.calls_per_s,
                r.agent_cpu_share, r.errors);
    std::fflush(stdout);
  }
  std::printf("\n");

  // 4: memory during concurrent pulls of distinct (unverified) images.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long idle_rss_before = VmKiB(agent, "VmRSS:");
  std::atomic<bool> sampling{true};
  long max_rss = idle_rss_before;
  std::thread sampler([&] {
    while (sampling.load()) {
      max_rss = std::max(max_rss, VmKiB(agent, "VmRSS:"));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  CriClient kubelet(dir.File("agent.sock"), kClientOptions);  // one connection, as the kubelet has
  std::atomic<int> pulled_ok{0};
  std::vector<std::string> failures;
  absl::Mutex failures_mu;
  std::vector<std::thread> pullers;
  Clock::time_point pulls_start = Clock::now();
  for (int i = 0; i < args.distinct_images; ++i) {
    pullers.emplace_back([&, i] {
      grpc::Status s = kubelet.Pull(ref(StrCat("bench/many-", i, ":1")));
      if (s.ok()) {
        ++pulled_ok;
      } else {
        absl::MutexLock lock(&failures_mu);
        failures.push_back(s.error_message());
      }
    });
  }
  for (std::thread& t : pullers) t.join();
  double pulls_s = std::chrono::duration<double>(Clock::now() - pulls_start).count();
  sampling = false;
  sampler.join();
  const long hwm = VmKiB(agent, "VmHWM:");
  const int threads_after = Threads(agent);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long rss_after = VmKiB(agent, "VmRSS:");

  std::printf("Agent memory (MiB):\n\n");
  std::printf("| idle after start | idle before pulls | max VmRSS during %d concurrent pulls (10 ms samples) | VmHWM | 2 s after | pulls ok | wall s |\n",
              args.distinct_images);
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf("| %.1f | %.1f | %.1f | %.1f | %.1f | %d/%d | %.2f |\n", idle_rss_start / 1024.0,
              idle_rss_before / 1024.0, max_rss / 1024.0, hwm / 1024.0, rss_after / 1024.0,
              pulled_ok.load(), args.distinct_images, pulls_s);
  std::printf("agent threads after the pulls: %d\n", threads_after);
  for (size_t i = 0; i < failures.size() && i < 5; ++i) {
    std::printf("pull failure: %s\n", failures[i].c_str());
  }
  std::printf("\nload average at the end: %s\n", LoadAverage().c_str());
  return 0;
}

}  // namespace
}  // namespace layerseal

int main(int argc, char** argv) { return layerseal::Main(argc, argv); }
