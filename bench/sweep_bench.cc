// What a continuous-validation sweep (node-agent/sweep.h, issue 18) costs on a busy node:
// 500 images and 1,000 running containers (250 pods in 10 namespaces, two of which have
// their own policy), every verdict already cached, so a sweep should send no registry
// request at all. The runtime is an in-process fake CRI server (tests/support/
// fake_cri_runtime.h) serving those lists over a unix socket, as containerd would.
//
//   BM_ListOnly           the cheapest alternative: the sweep's three CRI list calls alone
//   BM_SweepCached        a whole sweep, every verdict an ALLOW in the cache
//   BM_SweepCachedDenials a whole sweep after a key was revoked: every verdict a cached DENY,
//                         every container a finding (reported once, by the first sweep)
//
// Counters: registry_requests (reads of the ImageSource behind the judge: must be 0),
// judged_uncached, and process_cpu_ms (the whole process per sweep, the fake runtime's
// serving included; the benchmark's own CPU column is the sweeping thread's).
// Figures: docs/performance.md ("Continuous-validation sweeps").
#include <sys/resource.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "benchmark/benchmark.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "node-agent/judge.h"
#include "node-agent/policy_set.h"
#include "node-agent/sweep.h"
#include "node-agent/verdict_cache.h"
#include "tests/support/fake_cri_runtime.h"
#include "tests/support/fake_source.h"
#include "tests/support/process.h"
#include "verifier/crypto.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

namespace cri = ::runtime::v1;

constexpr int kImages = 500;
constexpr int kContainers = 1000;
constexpr int kPods = 250;
constexpr int kNamespaces = 10;
constexpr int kNamespacesWithPolicy = 2;

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class CountingSink final : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent&) override { ++events; }
  std::atomic<uint64_t> events{0};
};

// The node: policies, a verdict cache filled for every image under every policy in use, the
// fake runtime listing them, and a sweeper.
class Node {
 public:
  explicit Node(bool deny) {
    namespace fs = std::filesystem;
    PrivateKey key = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    testing::WriteFileOrDie(dir_.File("ci.pub"), key.public_key().ToPem());
    std::string policy = StrCat("version: 1\nkeys:\n  ci: {path: ", dir_.File("ci.pub"),
                                "}\ndefault: {requirement: signed, keys: [ci]}\n");
    testing::WriteFileOrDie(dir_.File("policy.yaml"), policy);
    fs::create_directories(dir_.File("ns"));
    for (int n = 0; n < kNamespacesWithPolicy; ++n) {
      testing::WriteFileOrDie(dir_.File(StrCat("ns/ns-", n, ".yaml")),
                              StrCat(policy, "# namespace ", n, "\n"));  // its own version
    }
    logger_.set_min_level(telemetry::Level::kWarn);
    policies_ = *PolicySet::Load(dir_.File("policy.yaml"), dir_.File("ns"));
    VerdictCacheOptions co;
    co.max_entries = 100000;
    cache_ = std::make_unique<VerdictCache>(co);
    judge_ = std::make_unique<CachingJudge>(
        JudgeOptions{.policies = policies_.get(), .cache = cache_.get(), .source = &source_});

    std::vector<std::shared_ptr<const Policy>> in_use = {policies_->node()};
    for (int n = 0; n < kNamespacesWithPolicy; ++n) in_use.push_back(policies_->For(StrCat("ns-", n)));
    std::vector<cri::Image> images;
    for (int i = 0; i < kImages; ++i) {
      Digest d = Digest::Sha256Of(StrCat("image-", i));
      std::string repo = StrCat("registry.bench/team-", i % 20, "/app-", i);
      cri::Image image;
      image.set_id(Digest::Sha256Of(StrCat("config-", i)).str());
      image.add_repo_tags(StrCat(repo, ":1.", i));
      image.add_repo_digests(StrCat(repo, "@", d.str()));
      image.set_size(50'000'000);
      images.push_back(image);
      Reference pinned = *Reference::Parse(image.repo_digests(0));
      for (const std::shared_ptr<const Policy>& p : in_use) {
        Verdict v;
        v.decision = deny ? Decision::kDeny : Decision::kAllow;
        v.reason = deny ? Reason::kUntrustedKey : Reason::kVerified;
        v.detail = deny ? "signed by sha256:..., which this scope does not trust" : "signed by ci";
        v.reference = pinned.ToString();
        v.manifest_digest = d;
        v.policy_version = p->version();
        v.scope = "default";
        cache_->Put(pinned, p->trust_version(), v);
      }
    }
    std::vector<cri::PodSandbox> pods;
    for (int p = 0; p < kPods; ++p) {
      cri::PodSandbox pod;
      pod.set_id(StrCat("sandbox-", p));
      pod.mutable_metadata()->set_namespace_(StrCat("ns-", p % kNamespaces));
      pod.mutable_metadata()->set_name(StrCat("pod-", p));
      pod.mutable_metadata()->set_uid(StrCat("uid-", p));
      pods.push_back(pod);
    }
    std::vector<cri::Container> containers;
    for (int c = 0; c < kContainers; ++c) {
      const cri::Image& image = images[c % kImages];
      cri::Container container;
      container.set_id(std::string(Digest::Sha256Of(StrCat("container-", c)).hex()));
      container.set_pod_sandbox_id(StrCat("sandbox-", c % kPods));
      container.mutable_metadata()->set_name(StrCat("c-", c));
      container.mutable_image()->set_image(image.id());
      container.set_image_ref(image.id());
      container.set_state(cri::CONTAINER_RUNNING);
      (*container.mutable_labels())["io.kubernetes.container.name"] = StrCat("c-", c);
      (*container.mutable_labels())["io.kubernetes.pod.namespace"] = StrCat("ns-", (c % kPods) % kNamespaces);
      containers.push_back(container);
    }
    runtime_ = *testing::FakeCriRuntime::Start(dir_.File("cri.sock"));
    runtime_->SetImages(std::move(images));
    runtime_->SetPods(std::move(pods));
    runtime_->SetContainers(std::move(containers));
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(StrCat("unix:", dir_.File("cri.sock")),
                                         grpc::InsecureChannelCredentials(), args);
    sweeper_ = std::make_unique<Sweeper>(SweepOptions{.runtime = channel_,
                                                      .judge = judge_.get(),
                                                      .policies = policies_.get(),
                                                      .events = &sink_,
                                                      .logger = &logger_,
                                                      .metrics = &metrics_,
                                                      .interval = absl::ZeroDuration()});
  }

  Sweeper& sweeper() { return *sweeper_; }
  size_t registry_requests() const { return source_.Requests().size(); }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  uint64_t events() const { return sink_.events.load(); }

 private:
  testing::TempDir dir_;
  testing::FakeSource source_;  // empty: any read would be a registry request
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<CachingJudge> judge_;
  std::unique_ptr<testing::FakeCriRuntime> runtime_;
  std::shared_ptr<grpc::Channel> channel_;
  CountingSink sink_;
  // Sweep lines at info would be written to stderr every iteration: warnings and above only.
  telemetry::Logger logger_{"sweep-bench"};
  telemetry::MetricsRegistry metrics_;
  std::unique_ptr<Sweeper> sweeper_;
};

void BM_ListOnly(benchmark::State& state) {
  Node node(/*deny=*/false);
  auto images = cri::ImageService::NewStub(node.channel());
  auto runtime = cri::RuntimeService::NewStub(node.channel());
  double cpu0 = ProcessCpuSeconds();
  size_t listed = 0;
  for (auto _ : state) {
    grpc::ClientContext c1, c2, c3;
    cri::ListImagesResponse li;
    cri::ListPodSandboxResponse lp;
    cri::ListContainersResponse lc;
    cri::ListContainersRequest running;
    running.mutable_filter()->mutable_state()->set_state(cri::CONTAINER_RUNNING);
    if (!images->ListImages(&c1, cri::ListImagesRequest(), &li).ok() ||
        !runtime->ListPodSandbox(&c2, cri::ListPodSandboxRequest(), &lp).ok() ||
        !runtime->ListContainers(&c3, running, &lc).ok()) {
      state.SkipWithError("a list call failed");
      return;
    }
    listed = static_cast<size_t>(li.images_size() + lc.containers_size());
  }
  state.counters["process_cpu_ms"] =
      (ProcessCpuSeconds() - cpu0) * 1000 / static_cast<double>(state.iterations());
  state.counters["listed"] = static_cast<double>(listed);
}

void RunSweeps(benchmark::State& state, bool deny) {
  Node node(deny);
  SweepResult warm = node.sweeper().SweepNow();  // the first sweep reports the findings
  if (!warm.status.ok()) {
    state.SkipWithError(std::string(warm.status.message()).c_str());
    return;
  }
  double cpu0 = ProcessCpuSeconds();
  SweepResult r;
  for (auto _ : state) r = node.sweeper().SweepNow();
  state.counters["process_cpu_ms"] =
      (ProcessCpuSeconds() - cpu0) * 1000 / static_cast<double>(state.iterations());
  state.counters["images"] = static_cast<double>(r.images);
  state.counters["containers"] = static_cast<double>(r.containers);
  state.counters["not_admitted"] = static_cast<double>(r.containers_not_admitted);
  state.counters["judged_uncached"] = static_cast<double>(r.judged_uncached);
  state.counters["registry_requests"] = static_cast<double>(node.registry_requests());
  state.counters["events"] = static_cast<double>(node.events());
}

void BM_SweepCached(benchmark::State& state) { RunSweeps(state, /*deny=*/false); }
void BM_SweepCachedDenials(benchmark::State& state) { RunSweeps(state, /*deny=*/true); }

BENCHMARK(BM_ListOnly)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SweepCached)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SweepCachedDenials)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace layerseal::agent

BENCHMARK_MAIN();
