// Continuous-validation sweeps (node-agent/sweep.h) over a fake CRI runtime (the narrow
// seam: what ListImages/ListPodSandbox/ListContainers answer) with the agent's real judge,
// policy set and verdict cache, reading images from a FakeSource: findings reported once,
// the gauges, namespace policies, a key removed, integrity marks, onRevoked: stop, trigger
// coalescing, pacing, and what happens when the runtime cannot be listed.
// The same against real containerd and a real registry: tests/integration/sweep_e2e_test.cc.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "node-agent/config.h"
#include "node-agent/event_log.h"
#include "node-agent/integrity_state.h"
#include "node-agent/judge.h"
#include "node-agent/policy_set.h"
#include "node-agent/sweep.h"
#include "node-agent/verdict_cache.h"
#include "plugin/image_judge.h"
#include "tests/support/agent_unit.h"
#include "tests/support/fake_cri_runtime.h"
#include "tests/support/fake_source.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/metrics_text.h"
#include "verifier/crypto.h"

namespace layerseal::agent {
namespace {

namespace cri = ::runtime::v1;
namespace fs = std::filesystem;
using layerseal::testing::CacheOptions;
using layerseal::testing::DigestOf;
using layerseal::testing::FakeClock;
using layerseal::testing::MetricValue;
using layerseal::testing::Ref;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

class RecordingSink final : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
  }
  std::vector<plugin::VerdictEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<plugin::VerdictEvent> events_;
};

constexpr char kRegistry[] = "registry.test";

// Polls `probe` every 50 ms until it holds or `timeout` passes.
bool PollFor(absl::Duration timeout, const std::function<bool()>& probe) {
  absl::Time end = absl::Now() + timeout;
  while (!probe()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "ns");
    ci_ = std::make_unique<PrivateKey>(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    other_ = std::make_unique<PrivateKey>(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    WriteAll(dir_ / "ci.pub", ci_->public_key().ToPem());
    WriteAll(dir_ / "other.pub", other_->public_key().ToPem());
    WriteNodePolicy("ci", "");
    absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(dir_ / "policy.yaml", dir_ / "ns");
    ASSERT_TRUE(set.ok()) << set.status();
    policies_ = *std::move(set);
    cache_ = std::make_unique<VerdictCache>(CacheOptions(clock_));
    judge_ = std::make_unique<CachingJudge>(
        JudgeOptions{.policies = policies_.get(), .cache = cache_.get(), .source = &source_});
    absl::StatusOr<std::unique_ptr<testing::FakeCriRuntime>> runtime =
        testing::FakeCriRuntime::Start(dir_ / "cri.sock");
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    runtime_ = *std::move(runtime);
  }

  // The node policy: registry.test signed by `key`; `extra` is added to that scope's fields
  // (e.g. ", onRevoked: stop").
  void WriteNodePolicy(const std::string& key, const std::string& extra) {
    WriteAll(dir_ / "policy.yaml",
             StrCat("version: 1\nkeys:\n  ci: {path: ", dir_ / "ci.pub", "}\n  other: {path: ",
                    dir_ / "other.pub", "}\ndefault: {requirement: reject}\nscopes:\n  \"", kRegistry,
                    "\": {requirement: signed, keys: [", key, "]", extra, "}\n"));
  }

  SweepOptions Options() {
    return SweepOptions{.runtime = grpc::CreateChannel(StrCat("unix:", dir_ / "cri.sock"),
                                                       grpc::InsecureChannelCredentials()),
                        .judge = judge_.get(),
                        .policies = policies_.get(),
                        .integrity = &integrity_,
                        .events = &sink_,
                        .logger = &logger_,
                        .metrics = &metrics_,
                        .interval = absl::ZeroDuration(),
                        .stop_grace_period = absl::Seconds(7),
                        .verifications_per_second = 1000};
  }

  // An image in the FakeSource (signed by `key`, or unsigned) and as the runtime lists it.
  cri::Image AddImage(const std::string& seed, const PrivateKey* key) {
    testing::TestImage base = testing::MakeBaseImage({.seed = seed});
    testing::TestImage image = key != nullptr ? testing::SealTestImage(base, *key) : base;
    std::string repo = StrCat(kRegistry, "/", seed);
    source_.Add(Ref(StrCat(repo, ":1")), image);
    cri::Image out;
    out.set_id(DigestOf(StrCat("config-", seed)).str());
    out.add_repo_tags(StrCat(repo, ":1"));
    out.add_repo_digests(StrCat(repo, "@", image.digest.str()));
    digests_[seed] = image.digest;
    return out;
  }

  static cri::PodSandbox Pod(const std::string& id, const std::string& ns, const std::string& name) {
    cri::PodSandbox p;
    p.set_id(id);
    p.mutable_metadata()->set_namespace_(ns);
    p.mutable_metadata()->set_name(name);
    p.mutable_metadata()->set_uid(StrCat("uid-", name));
    return p;
  }

  static cri::Container Running(const std::string& id, const std::string& sandbox,
                                const cri::Image& image, const std::string& name = "app") {
    cri::Container c;
    c.set_id(id);
    c.set_pod_sandbox_id(sandbox);
    c.mutable_metadata()->set_name(name);
    c.mutable_image()->set_image(image.id());
    c.set_image_ref(image.id());
    c.set_state(cri::CONTAINER_RUNNING);
    (*c.mutable_labels())["io.kubernetes.container.name"] = name;
    return c;
  }

  double Metric(const std::string& series) {
    return MetricValue(metrics_.RenderText(), series).value_or(-1);
  }

  TempDir dir_;
  FakeClock clock_;
  testing::FakeSource source_;
  std::unique_ptr<PrivateKey> ci_, other_;
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<CachingJudge> judge_;
  std::unique_ptr<testing::FakeCriRuntime> runtime_;
  IntegrityState integrity_;
  RecordingSink sink_;
  telemetry::Logger logger_{"sweep-test"};
  telemetry::MetricsRegistry metrics_;
  std::map<std::string, Digest> digests_;
};

TEST_F(SweepTest, ReportsARunningContainerNoLongerAdmittedOnceAndCountsIt) {
  cri::Image good = AddImage("good", ci_.get());
  cri::Image bad = AddImage("bad", nullptr);
  cri::Image idle = AddImage("idle", nullptr);  // on disk, not running
  runtime_->SetImages({good, bad, idle});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  cri::Container stopped = Running("c-old", "sb-1", bad);
  stopped.set_state(cri::CONTAINER_EXITED);
  runtime_->SetContainers({Running("c-good", "sb-1", good), Running("c-bad", "sb-1", bad, "sidecar"),
                           stopped});
  Sweeper sweeper(Options());

  SweepResult r = sweeper.SweepNow();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.images, 3u);
  EXPECT_EQ(r.images_not_admitted, 2u);
  EXPECT_EQ(r.containers, 2u);
  EXPECT_EQ(r.containers_not_admitted, 1u);
  std::vector<plugin::VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  const plugin::VerdictEvent& e = events[0];
  EXPECT_EQ(e.gate, "Revalidation");
  EXPECT_FALSE(e.admitted);
  EXPECT_EQ(e.container_id, "c-bad");
  EXPECT_EQ(e.container_name, "sidecar");
  EXPECT_EQ(e.pod.ns, "default");
  EXPECT_EQ(e.pod.name, "web");
  EXPECT_EQ(e.pod.uid, "uid-web");
  EXPECT_EQ(e.image, StrCat(kRegistry, "/bad:1"));  // the runtime's name, not its image id
  EXPECT_EQ(e.judgement.verdict.reason, Reason::kNotSigned);
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"NOT_SIGNED\"}"), 1);
  EXPECT_EQ(Metric("layerseal_sweep_images_not_admitted{reason=\"NOT_SIGNED\"}"), 2);
  EXPECT_EQ(Metric("layerseal_sweeps_total{trigger=\"request\",result=\"ok\"}"), 1);

  // The same finding again: counted, not reported again.
  r = sweeper.SweepNow();
  EXPECT_EQ(r.containers_not_admitted, 1u);
  EXPECT_EQ(r.reported, 0u);
  EXPECT_EQ(sink_.events().size(), 1u);
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"NOT_SIGNED\"}"), 1);

  // Gone: the gauge goes to 0, and the container is forgotten (a new finding is reported).
  runtime_->SetContainers({Running("c-good", "sb-1", good)});
  sweeper.SweepNow();
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"NOT_SIGNED\"}"), 0);
  runtime_->SetContainers({Running("c-good", "sb-1", good), Running("c-bad", "sb-1", bad, "sidecar")});
  sweeper.SweepNow();
  EXPECT_EQ(sink_.events().size(), 2u);
}

TEST_F(SweepTest, CachedVerdictsCostNoRegistryTrafficAndAKeyRemovedIsJudgedAgain) {
  cri::Image a = AddImage("app-a", ci_.get());
  cri::Image b = AddImage("app-b", ci_.get());
  runtime_->SetImages({a, b});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  runtime_->SetContainers({Running("c-a", "sb-1", a), Running("c-b", "sb-1", b)});
  Sweeper sweeper(Options());
  sweeper.Start();

  SweepResult first = sweeper.SweepNow();
  ASSERT_TRUE(first.status.ok()) << first.status;
  EXPECT_EQ(first.containers_not_admitted, 0u);
  EXPECT_EQ(first.images_not_admitted, 0u);
  uint64_t verifications = judge_->verifications();
  size_t requests = source_.Requests().size();
  EXPECT_GT(verifications, 0u);  // nothing was cached yet

  SweepResult second = sweeper.SweepNow();
  EXPECT_EQ(second.judged_uncached, 0u);
  EXPECT_EQ(judge_->verifications(), verifications);
  EXPECT_EQ(source_.Requests().size(), requests) << "a cached verdict read the registry";

  // The key is removed from the scope (another one trusted instead) and reloaded: the trust
  // version changes, so PolicyChanged triggers a sweep that judges again and reports.
  sweeper.PolicyChanged();  // nothing changed: no sweep
  WriteNodePolicy("other", "");
  ASSERT_TRUE(policies_->Reload().ok());
  uint64_t before = sweeper.sweeps();
  sweeper.PolicyChanged();
  ASSERT_TRUE(PollFor(absl::Seconds(30), [&] { return sweeper.sweeps() > before; }));
  SweepResult after = sweeper.last_result();
  EXPECT_EQ(after.trigger, SweepTrigger::kPolicy);
  EXPECT_EQ(after.containers_not_admitted, 2u);
  EXPECT_GT(judge_->verifications(), verifications);
  std::vector<plugin::VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kUntrustedKey);
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"UNTRUSTED_KEY\"}"), 2);
  EXPECT_EQ(Metric("layerseal_sweeps_total{trigger=\"policy\",result=\"ok\"}"), 1);
  sweeper.Stop();
  EXPECT_EQ(sweeper.sweeps(), before + 1) << "PolicyChanged without a change swept";
}

TEST_F(SweepTest, ContainersAreJudgedUnderTheirPodsNamespacePolicy) {
  WriteAll(dir_ / "ns/strict.yaml",
           StrCat("version: 1\nkeys:\n  other: {path: ", dir_ / "other.pub",
                  "}\ndefault: {requirement: signed, keys: [other]}\n"));
  ASSERT_TRUE(policies_->Reload().ok());
  cri::Image app = AddImage("app", ci_.get());
  runtime_->SetImages({app});
  runtime_->SetPods({Pod("sb-default", "default", "web"), Pod("sb-strict", "strict", "locked")});
  // A container whose sandbox the list does not show: the kubelet's labels name the pod.
  cri::Container orphan = Running("c-orphan", "sb-gone", app);
  (*orphan.mutable_labels())["io.kubernetes.pod.namespace"] = "strict";
  (*orphan.mutable_labels())["io.kubernetes.pod.name"] = "gone";
  runtime_->SetContainers({Running("c-1", "sb-default", app), Running("c-2", "sb-strict", app), orphan});
  Sweeper sweeper(Options());

  SweepResult r = sweeper.SweepNow();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.images_not_admitted, 0u);  // the node policy admits it
  EXPECT_EQ(r.containers_not_admitted, 2u);
  std::set<std::string> reported;
  for (const plugin::VerdictEvent& e : sink_.events()) {
    EXPECT_EQ(e.pod.ns, "strict");
    EXPECT_EQ(e.judgement.verdict.reason, Reason::kUntrustedKey);
    reported.insert(StrCat(e.container_id, "/", e.pod.name));
  }
  EXPECT_EQ(reported, (std::set<std::string>{"c-2/locked", "c-orphan/gone"}));
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"strict\",reason=\"UNTRUSTED_KEY\"}"), 2);
}

TEST_F(SweepTest, AnImageTheListDoesNotNameIsFoundThroughContainerStatus) {
  cri::Image app = AddImage("app", ci_.get());
  cri::Image unsigned_image = AddImage("plain", nullptr);
  runtime_->SetImages({app, unsigned_image});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  cri::Container c = Running("c-1", "sb-1", unsigned_image);
  c.set_image_ref("sha256:unknown");
  c.mutable_image()->set_image("sha256:unknown");
  cri::ContainerStatus status;
  status.set_id("c-1");
  status.set_image_ref(unsigned_image.repo_digests(0));  // containerd's ContainerStatus form
  runtime_->SetContainerStatus("c-1", status);
  // And one the runtime no longer has at all: not admitted (its seals cannot be checked).
  cri::Container gone = Running("c-2", "sb-1", app);
  gone.set_image_ref("sha256:removed");
  gone.mutable_image()->set_image("sha256:removed");
  runtime_->SetContainers({c, gone});
  Sweeper sweeper(Options());

  SweepResult r = sweeper.SweepNow();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(runtime_->calls("ContainerStatus"), 2);
  EXPECT_EQ(r.containers_not_admitted, 2u);
  std::map<std::string, plugin::VerdictEvent> by_id;
  for (const plugin::VerdictEvent& e : sink_.events()) by_id[e.container_id] = e;
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id["c-1"].judgement.verdict.reason, Reason::kNotSigned);
  EXPECT_EQ(by_id["c-1"].image, StrCat(kRegistry, "/plain:1"));
  EXPECT_EQ(by_id["c-2"].judgement.verdict.reason, Reason::kNotSigned);
  EXPECT_NE(by_id["c-2"].judgement.verdict.detail.find("no longer lists image sha256:removed"),
            std::string::npos)
      << by_id["c-2"].judgement.verdict.detail;
}

TEST_F(SweepTest, ACorruptImageIsNotAdmitted) {
  cri::Image app = AddImage("app", ci_.get());
  runtime_->SetImages({app});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  runtime_->SetContainers({Running("c-1", "sb-1", app)});
  Sweeper sweeper(Options());
  ASSERT_EQ(sweeper.SweepNow().containers_not_admitted, 0u);

  ASSERT_TRUE(integrity_.MarkCorrupt(digests_["app"], "blob sha256:ab... hashes to sha256:cd...", absl::Now()));
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.containers_not_admitted, 1u);
  EXPECT_EQ(r.images_not_admitted, 1u);
  std::vector<plugin::VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kIntegrityMismatch);
  EXPECT_NE(events[0].judgement.verdict.detail.find("hashes to sha256:cd"), std::string::npos);
  EXPECT_EQ(Metric("layerseal_sweep_images_not_admitted{reason=\"INTEGRITY_MISMATCH\"}"), 1);
}

TEST_F(SweepTest, AnIntegrityCheckSeamReplacesTheIntegrityState) {
  cri::Image app = AddImage("app", ci_.get());
  runtime_->SetImages({app});
  runtime_->SetPods({Pod("sb-1", "team", "web")});
  runtime_->SetContainers({Running("c-1", "sb-1", app)});
  SweepOptions o = Options();
  std::vector<plugin::JudgeRequest> asked;
  o.integrity_check = [&asked](const plugin::JudgeRequest& request, const Verdict& admitted) {
    asked.push_back(request);
    if (request.any_policy) return admitted;  // the image itself: left admitted
    Verdict v = admitted;
    v.decision = Decision::kDeny;
    v.reason = Reason::kProtectedPath;
    v.detail = "layer 1 replaces /bin/sh";
    return v;
  };
  Sweeper sweeper(o);
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.images_not_admitted, 0u);
  EXPECT_EQ(r.containers_not_admitted, 1u);
  ASSERT_EQ(asked.size(), 2u);  // the container (pod policy) and the image (any policy)
  EXPECT_EQ(asked[0].pod.ns, "team");
  EXPECT_EQ(asked[0].reference.ToString(), app.repo_digests(0));
  ASSERT_EQ(sink_.events().size(), 1u);
  EXPECT_EQ(sink_.events()[0].judgement.verdict.reason, Reason::kProtectedPath);
}

TEST_F(SweepTest, OnRevokedStopStopsTheContainerWithTheGracePeriodAndSaysSo) {
  cri::Image app = AddImage("app", ci_.get());
  cri::Image kept = AddImage("kept", ci_.get());
  runtime_->SetImages({app, kept});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  runtime_->SetContainers({Running("c-1", "sb-1", app)});
  Sweeper sweeper(Options());
  ASSERT_EQ(sweeper.SweepNow().containers_not_admitted, 0u);

  WriteNodePolicy("other", ", onRevoked: stop");
  ASSERT_TRUE(policies_->Reload().ok());
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.containers_not_admitted, 1u);
  EXPECT_EQ(r.stopped, 1u);
  std::vector<cri::StopContainerRequest> stops = runtime_->stops();
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].container_id(), "c-1");
  EXPECT_EQ(stops[0].timeout(), 7);  // Options(): stop_grace_period 7 s
  std::vector<plugin::VerdictEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].judgement.verdict.reason, Reason::kUntrustedKey);
  EXPECT_NE(events[0].judgement.verdict.detail.find("onRevoked: stop: the container was stopped"),
            std::string::npos)
      << events[0].judgement.verdict.detail;
  EXPECT_EQ(Metric("layerseal_sweep_containers_stopped_total{result=\"ok\"}"), 1);
  // Stopped: no longer running, no longer counted.
  r = sweeper.SweepNow();
  EXPECT_EQ(r.containers, 0u);
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"UNTRUSTED_KEY\"}"), 0);
}

TEST_F(SweepTest, AStopThatFailsIsReportedAndTriedAgain) {
  cri::Image app = AddImage("app", ci_.get());
  runtime_->SetImages({app});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  runtime_->SetContainers({Running("c-1", "sb-1", app)});
  WriteNodePolicy("other", ", onRevoked: stop");
  ASSERT_TRUE(policies_->Reload().ok());
  runtime_->FailCalls("StopContainer", grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stuck"));
  Sweeper sweeper(Options());
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.stop_failures, 1u);
  ASSERT_EQ(sink_.events().size(), 1u);
  EXPECT_NE(sink_.events()[0].judgement.verdict.detail.find("stopping the container failed: stuck"),
            std::string::npos);
  EXPECT_EQ(Metric("layerseal_sweep_containers_stopped_total{result=\"error\"}"), 1);

  runtime_->FailCalls("StopContainer", grpc::Status::OK);
  r = sweeper.SweepNow();
  EXPECT_EQ(r.stopped, 1u);
  EXPECT_EQ(runtime_->calls("StopContainer"), 2);
  EXPECT_EQ(sink_.events().size(), 2u);
}

TEST_F(SweepTest, OnRevokedReportIsTheDefaultAndStopsNothing) {
  cri::Image app = AddImage("app", ci_.get());
  runtime_->SetImages({app});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  runtime_->SetContainers({Running("c-1", "sb-1", app)});
  WriteNodePolicy("other", "");
  ASSERT_TRUE(policies_->Reload().ok());
  Sweeper sweeper(Options());
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.containers_not_admitted, 1u);
  EXPECT_EQ(r.stopped, 0u);
  EXPECT_EQ(runtime_->calls("StopContainer"), 0);
}

TEST_F(SweepTest, TriggersDuringASweepCoalesceIntoOneMoreSweep) {
  cri::Image app = AddImage("app", ci_.get());
  runtime_->SetImages({app});
  Sweeper sweeper(Options());
  sweeper.Start();
  runtime_->Hold("ListImages");
  sweeper.Trigger(SweepTrigger::kRequest);
  ASSERT_TRUE(PollFor(absl::Seconds(30), [&] { return runtime_->calls("ListImages") == 1; }));
  for (int i = 0; i < 5; ++i) sweeper.Trigger(SweepTrigger::kRequest);
  runtime_->Release();
  ASSERT_TRUE(PollFor(absl::Seconds(30), [&] { return sweeper.sweeps() == 2; }));
  absl::SleepFor(absl::Seconds(1));  // a third sweep would have started by now
  EXPECT_EQ(sweeper.sweeps(), 2u);
  EXPECT_EQ(runtime_->calls("ListImages"), 2);
}

TEST_F(SweepTest, AfterSweepSeesEveryResult) {
  cri::Image bad = AddImage("bad", nullptr);
  runtime_->SetImages({bad});
  SweepOptions o = Options();
  std::vector<SweepResult> seen;
  o.after_sweep = [&seen](const SweepResult& r) { seen.push_back(r); };
  Sweeper sweeper(o);
  sweeper.SweepNow();
  runtime_->FailCalls("ListImages", grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  sweeper.SweepNow(SweepTrigger::kPeriodic);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].status.ok());
  EXPECT_EQ(seen[0].images_not_admitted, 1u);
  EXPECT_FALSE(seen[1].status.ok());
  EXPECT_EQ(seen[1].trigger, SweepTrigger::kPeriodic);
}

TEST_F(SweepTest, JudgementsNotCachedArePaced) {
  std::vector<cri::Image> images;
  for (int i = 0; i < 4; ++i) images.push_back(AddImage(StrCat("paced-", i), ci_.get()));
  runtime_->SetImages(images);
  SweepOptions o = Options();
  o.concurrency = 4;
  o.verifications_per_second = 2;  // 4 judgements: the last one starts >= 1.5 s after the first
  Sweeper sweeper(o);
  absl::Time start = absl::Now();
  SweepResult r = sweeper.SweepNow();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.judged_uncached, 4u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1400));
  // Cached now: no pacing at all (a lower bound only would be timing-sensitive; count instead).
  EXPECT_EQ(sweeper.SweepNow().judged_uncached, 0u);
}

TEST_F(SweepTest, ARuntimeThatCannotBeListedLeavesTheGaugesAsTheyWere) {
  cri::Image bad = AddImage("bad", nullptr);
  runtime_->SetImages({bad});
  runtime_->SetPods({Pod("sb-1", "default", "web")});
  runtime_->SetContainers({Running("c-1", "sb-1", bad)});
  Sweeper sweeper(Options());
  ASSERT_EQ(sweeper.SweepNow().containers_not_admitted, 1u);
  runtime_->FailCalls("ListContainers", grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(r.status.message()).find("ListContainers"), std::string::npos) << r.status;
  EXPECT_EQ(Metric("layerseal_sweeps_total{trigger=\"request\",result=\"error\"}"), 1);
  EXPECT_EQ(Metric("layerseal_sweep_containers_not_admitted{namespace=\"default\",reason=\"NOT_SIGNED\"}"), 1);
}

// The event log's line for a sweep's finding names the container; other events have no
// `container` member (docs/agent.md, "Events").
TEST(SweepEventJsonTest, ARevalidationEventNamesTheContainer) {
  plugin::VerdictEvent e{.gate = "Revalidation",
                         .image = "registry.test/app:1",
                         .pod = {.ns = "default", .name = "web", .uid = "uid-web"},
                         .container_id = "c0ffee",
                         .container_name = "app"};
  nlohmann::json j = EventJson("node-1", e);
  EXPECT_EQ(j["gate"], "Revalidation");
  EXPECT_EQ(j["container"]["id"], "c0ffee");
  EXPECT_EQ(j["container"]["name"], "app");
  e.gate = "PullImage";
  e.container_id.clear();
  e.container_name.clear();
  EXPECT_FALSE(EventJson("node-1", e).contains("container"));
}

TEST(SweepConfigTest, TheScrubScheduleKeysHaveDefaultsAndBounds) {
  absl::StatusOr<ParsedArgs> defaults = ParseAgentArgs({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->config.scrub_interval, absl::Hours(24));
  EXPECT_FALSE(defaults->config.scrub_on_pull);
  absl::StatusOr<ParsedArgs> set =
      ParseAgentArgs({"--scrub-interval", "0", "--scrub-on-pull", "true"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->config.scrub_interval, absl::ZeroDuration());
  EXPECT_TRUE(set->config.scrub_on_pull);
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--scrub-interval", "500ms"}, {"--scrub-interval", "-1h"}, {"--scrub-on-pull", "yes"}}) {
    absl::StatusOr<ParsedArgs> r = ParseAgentArgs(bad);
    EXPECT_FALSE(r.ok()) << bad[0] << " " << bad[1];
    if (!r.ok()) {
      EXPECT_NE(std::string(r.status().message()).find(bad[0].substr(2)), std::string::npos)
          << r.status();
    }
  }
}

TEST(SweepConfigTest, TheSweepKeysHaveDefaultsAndBounds) {
  absl::StatusOr<ParsedArgs> defaults = ParseAgentArgs({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->config.sweep_interval, absl::Hours(1));
  EXPECT_EQ(defaults->config.sweep_stop_grace_period, absl::Seconds(30));
  EXPECT_EQ(defaults->config.sweep_concurrency, 2);
  EXPECT_EQ(defaults->config.sweep_verifications_per_second, 10);

  absl::StatusOr<ParsedArgs> set = ParseAgentArgs(
      {"--sweep-interval", "0", "--sweep-stop-grace-period", "0", "--sweep-concurrency", "4",
       "--sweep-verifications-per-second", "100"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->config.sweep_interval, absl::ZeroDuration());
  EXPECT_EQ(set->config.sweep_stop_grace_period, absl::ZeroDuration());
  EXPECT_EQ(set->config.sweep_concurrency, 4);
  EXPECT_EQ(set->config.sweep_verifications_per_second, 100);

  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--sweep-interval", "500ms"},
                                             {"--sweep-interval", "-1h"},
                                             {"--sweep-stop-grace-period", "2h"},
                                             {"--sweep-concurrency", "0"},
                                             {"--sweep-concurrency", "17"},
                                             {"--sweep-verifications-per-second", "0"}}) {
    absl::StatusOr<ParsedArgs> r = ParseAgentArgs(bad);
    EXPECT_FALSE(r.ok()) << bad[0] << " " << bad[1];
    if (!r.ok()) {
      EXPECT_NE(std::string(r.status().message()).find(bad[0].substr(2)), std::string::npos)
          << r.status();
    }
  }
}

TEST(SweepNoPolicyTest, NothingIsSweptWhileNoPolicyIsInForce) {
  TempDir dir;
  std::unique_ptr<PolicySet> policies = PolicySet::Empty(dir / "missing.yaml", "");
  absl::StatusOr<std::unique_ptr<testing::FakeCriRuntime>> runtime =
      testing::FakeCriRuntime::Start(dir / "cri.sock");
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  CachingJudge judge(JudgeOptions{.policies = policies.get(), .cache = &cache});
  telemetry::Logger logger("sweep-test");
  telemetry::MetricsRegistry metrics;
  Sweeper sweeper(SweepOptions{
      .runtime = grpc::CreateChannel(StrCat("unix:", dir / "cri.sock"), grpc::InsecureChannelCredentials()),
      .judge = &judge,
      .policies = policies.get(),
      .logger = &logger,
      .metrics = &metrics,
      .interval = absl::ZeroDuration()});
  SweepResult r = sweeper.SweepNow();
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*runtime)->calls("ListImages"), 0);
}

}  // namespace
}  // namespace layerseal::agent
