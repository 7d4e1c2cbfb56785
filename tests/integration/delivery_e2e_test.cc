// Event delivery end to end: the real `layerseal-agent` binary reports to the real
// `layerseal-controller` binary over mutual TLS (certificates made with the openssl CLI),
// through its durable spool. The verdicts come from PullImage calls a CRI client makes, as
// the kubelet would; the images are rejected by the node policy, so no registry or runtime
// is involved and every pull is a verdict in a few milliseconds (the runtime endpoint is a
// socket nobody listens on). The faults are real: processes killed with SIGKILL, a controller
// down or restarted, a spool on a full tmpfs. Every test runs with the controller on SQLite
// and on a real PostgreSQL (one server for the suite, a fresh database per test).
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "tests/support/agent_process.h"
#include "tests/support/cri_client.h"
#include "tests/support/metrics_text.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

constexpr char kNode[] = "node-e2e";

// PullImage through the agent's socket, for a pod in namespace "team".
grpc::Status Pull(testing::CriClient& client, const std::string& image) {
  return client.Pull(image, nullptr, "team");
}

// The agent's own denial, as opposed to a call cut off by a killed agent: gRPC reports a
// connection dropped mid-call as UNKNOWN ("Stream removed") too, and such a pull was never
// answered, so its event need not be on disk.
bool IsDenial(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNKNOWN &&
         s.error_message().find("layerseal denied ") != std::string::npos;
}

std::string ReadPem(const std::string& path) { return testing::ReadFileOrDie(path); }

class DeliveryE2eTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }

  void SetUp() override {
    if (GetParam() == "sqlite") {
      database_ = StrCat("sqlite://", dir_.File("events.db"));
    } else {
      if (postgres_ == nullptr) {
        absl::StatusOr<std::unique_ptr<testing::PostgresServer>> pg = testing::PostgresServer::Start();
        ASSERT_TRUE(pg.ok()) << pg.status();
        postgres_ = pg->release();
      }
      std::string db = StrCat("delivery", ++databases_);
      absl::Status created = postgres_->CreateDatabase(db);
      ASSERT_TRUE(created.ok()) << created;
      database_ = postgres_->Url(db);
    }
    absl::StatusOr<testing::TlsCerts> certs = testing::MakeTlsCerts(dir_.path(), {kNode}, {"reader"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    testing::WriteFileOrDie(dir_.File("policy.yaml"),
                            "version: 1\nkeys: {}\ndefault: {requirement: reject}\n");
  }
  void TearDown() override {
    StopAgent();
    StopController();
  }

  // --- the controller ---
  void StartController() {
    absl::StatusOr<std::unique_ptr<testing::Child>> child = testing::Child::Spawn(
        {LAYERSEAL_CONTROLLER_BINARY, "--listen", StrCat("127.0.0.1:", grpc_port_),
         "--tls-cert", certs_.server.cert, "--tls-key", certs_.server.key,
         "--client-ca", certs_.ca.cert, "--database", database_,
         "--admin", StrCat("127.0.0.1:", http_port_), "--web", ""},
        dir_.File("controller.log"));
    ASSERT_TRUE(child.ok()) << child.status();
    controller_ = *std::move(child);
    ASSERT_TRUE(testing::WaitForPort(grpc_port_, absl::Seconds(20))) << Log("controller.log");
    ASSERT_TRUE(testing::WaitForPort(http_port_, absl::Seconds(20))) << Log("controller.log");
  }
  void StopController() {
    if (!controller_) return;
    controller_->Stop();
    controller_.reset();
    ExpectNoSanitizerReport("controller.log");
  }
  void KillController() {
    if (!controller_) return;
    kill(controller_->pid(), SIGKILL);
    controller_.reset();
  }

  // --- the agent ---
  // Its flags (after the binary's path).
  std::vector<std::string> AgentArgs(const testing::CertKey& client) {
    return {"--listen", dir_.File("agent.sock"),
            "--runtime-endpoint", dir_.File("no-runtime.sock"), "--policy", dir_.File("policy.yaml"),
            "--state-dir", dir_.File("state"), "--spool-dir", spool_dir_,
            "--node-name", kNode, "--admin", StrCat("127.0.0.1:", admin_port_),
            "--health-socket", "", "--log-level", "warn",
            "--controller", StrCat("127.0.0.1:", grpc_port_), "--controller-ca", certs_.ca.cert,
            "--controller-cert", client.cert, "--controller-key", client.key};
  }
  void StartAgent() { StartAgentAs(certs_.client.at(kNode)); }
  void StartAgentAs(const testing::CertKey& client) {
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent =
        testing::AgentProcess::Start(AgentArgs(client), {}, admin_port_, dir_.File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    client_ = std::make_unique<testing::CriClient>(
        dir_.File("agent.sock"), testing::CriClientOptions{.pull_timeout = absl::Seconds(30)});
  }
  void StopAgent() {
    client_.reset();
    if (!agent_) return;
    agent_->Stop();
    agent_.reset();
    ExpectNoSanitizerReport("agent.log");
  }
  void KillAgent() {
    kill(agent_->pid(), SIGKILL);
    agent_.reset();
  }

  // Denied pulls of distinct images ("<prefix>-<i>"), each one verdict and one event.
  // Returns the images whose pull was answered (with the expected denial).
  std::vector<std::string> PullDenied(const std::string& prefix, int n) {
    std::vector<std::string> answered;
    for (int i = 0; i < n; ++i) {
      std::string image = StrCat("elsewhere.example/", prefix, "-", i, ":1");
      grpc::Status s = Pull(*client_, image);
      if (IsDenial(s)) answered.push_back(image);
    }
    return answered;
  }

  // --- reading the controller ---
  std::unique_ptr<v1::EventQuery::Stub> QueryStub() {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadPem(certs_.ca.cert);
    tls.pem_private_key = ReadPem(certs_.client.at("reader").key);
    tls.pem_cert_chain = ReadPem(certs_.client.at("reader").cert);
    return v1::EventQuery::NewStub(
        grpc::CreateChannel(StrCat("127.0.0.1:", grpc_port_), grpc::SslCredentials(tls)));
  }
  // Every stored event of kNode, by page.
  std::vector<v1::Event> StoredEvents() {
    std::unique_ptr<v1::EventQuery::Stub> stub = QueryStub();
    std::vector<v1::Event> out;
    v1::QueryEventsRequest req;
    req.mutable_filter()->set_node(kNode);
    req.set_page_size(1000);
    for (;;) {
      v1::QueryEventsResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status s = stub->QueryEvents(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) return out;
      out.insert(out.end(), resp.events().begin(), resp.events().end());
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
  }
  // Polls until at least `n` events of kNode are stored (or 60 s pass); returns them.
  std::vector<v1::Event> AwaitStored(size_t n) {
    std::vector<v1::Event> events;
    for (int i = 0; i < 600; ++i) {
      events = StoredEvents();
      if (events.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return events;
  }
  // Verdict events by image; fails the test on a seq or image stored twice (one incarnation).
  std::map<std::string, v1::Event> ByImage(const std::vector<v1::Event>& events) {
    std::map<std::string, v1::Event> out;
    std::set<uint64_t> seqs;
    for (const v1::Event& e : events) {
      EXPECT_TRUE(seqs.insert(e.seq()).second) << "seq stored twice: " << e.seq();
      if (e.kind() != v1::Event::VERDICT) continue;
      EXPECT_TRUE(out.emplace(e.image(), e).second) << "event stored twice: " << e.image();
    }
    return out;
  }

  double AgentMetric(const std::string& series) { return Metric(admin_port_, series); }
  double ControllerMetric(const std::string& series) { return Metric(http_port_, series); }
  // -1 when /metrics cannot be read, 0 when the series is absent.
  static double Metric(int port, const std::string& series) {
    std::optional<std::string> text = testing::ScrapeMetrics(port);
    if (!text) return -1;
    return testing::MetricValue(*text, series).value_or(0);
  }
  // Polls an agent metric until it equals `want` (or 60 s pass); returns the last value.
  double AwaitAgentMetric(const std::string& series, double want) {
    double v = -1;
    for (int i = 0; i < 600 && (v = AgentMetric(series)) != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return v;
  }

  std::string Log(const std::string& name) {
    return std::filesystem::exists(dir_.File(name)) ? testing::ReadFileOrDie(dir_.File(name)) : "";
  }
  void ExpectNoSanitizerReport(const std::string& name) {
    std::string log = Log(name);
    EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << name << ":\n" << log;
    EXPECT_EQ(log.find("runtime error:"), std::string::npos) << name << ":\n" << log;
  }

  static testing::PostgresServer* postgres_;
  static int databases_;
  testing::TempDir dir_;
  std::string database_;
  testing::TlsCerts certs_;
  std::string spool_dir_ = dir_.File("spool");
  int grpc_port_ = testing::PickFreePort();
  int http_port_ = testing::PickFreePort();
  int admin_port_ = testing::PickFreePort();
  std::unique_ptr<testing::Child> controller_;
  std::unique_ptr<testing::AgentProcess> agent_;
  std::unique_ptr<testing::CriClient> client_;
};

testing::PostgresServer* DeliveryE2eTest::postgres_ = nullptr;
int DeliveryE2eTest::databases_ = 0;

TEST_P(DeliveryE2eTest, EveryVerdictArrivesOnceWithItsFields) {
  StartController();
  StartAgent();
  // Concurrent pulls: their events share syncs (group commit) and batches.
  std::vector<std::thread> pullers;
  std::atomic<int> answered = 0;
  for (int t = 0; t < 10; ++t) {
    pullers.emplace_back([&, t] { answered += PullDenied(StrCat("many", t), 10).size(); });
  }
  for (std::thread& t : pullers) t.join();
  ASSERT_EQ(answered, 100);

  std::vector<v1::Event> events = AwaitStored(100);
  std::map<std::string, v1::Event> by_image = ByImage(events);
  ASSERT_EQ(by_image.size(), 100u);
  const v1::Event& e = by_image.at("elsewhere.example/many3-7:1");
  EXPECT_EQ(e.node(), kNode);
  EXPECT_EQ(e.gate(), "PullImage");
  EXPECT_EQ(e.pod_namespace(), "team");
  EXPECT_EQ(e.pod_name(), "pod-1");
  EXPECT_EQ(e.verdict().verdict(), "DENY");
  EXPECT_EQ(e.verdict().reason(), "REJECTED_BY_POLICY");
  EXPECT_FALSE(e.admitted());
  EXPECT_GT(e.received_unix_micros(), 0);
  // Numbered 1..100 without a gap.
  std::set<uint64_t> seqs;
  for (const v1::Event& x : events) seqs.insert(x.seq());
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), 100u);
  EXPECT_EQ(AwaitAgentMetric("layerseal_agent_spool_events", 0), 0);
}

TEST_P(DeliveryE2eTest, ControllerDownThenUpEveryEventArrivesOnce) {
  StartAgent();  // no controller yet: pulls are judged as usual
  std::vector<std::string> before = PullDenied("down", 30);
  ASSERT_EQ(before.size(), 30u);
  EXPECT_EQ(AgentMetric("layerseal_agent_spool_events"), 30);
  StartController();
  std::map<std::string, v1::Event> stored = ByImage(AwaitStored(30));
  for (const std::string& image : before) EXPECT_EQ(stored.count(image), 1u) << image;
  EXPECT_EQ(AwaitAgentMetric("layerseal_agent_spool_events", 0), 0);
  EXPECT_EQ(StoredEvents().size(), 30u);
}

TEST_P(DeliveryE2eTest, AgentKilledMidStreamLosesNothingAndDoublesNothing) {
  StartController();
  std::set<std::string> answered;
  for (int round = 0; round < 3; ++round) {
    StartAgent();
    // Pull from a thread and kill the agent while pulls (and so appends and batches) are
    // under way. A pull that got its answer had its event on disk before the answer.
    std::atomic<bool> stop = false;
    std::vector<std::string> got;
    std::thread puller([&] {
      for (int i = 0; !stop && i < 2000; ++i) {
        std::string image = StrCat("elsewhere.example/kill", round, "-", i, ":1");
        if (IsDenial(Pull(*client_, image))) got.push_back(image);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + 300 * round));
    KillAgent();
    stop = true;
    puller.join();
    client_.reset();
    answered.insert(got.begin(), got.end());
  }
  ASSERT_GT(answered.size(), 10u);
  StartAgent();  // picks up what the killed agents left in the spool
  // Read the controller only once the spool is empty: every event was then acknowledged, so
  // stored. (A listing taken before could miss the last batch in flight.)
  ASSERT_EQ(AwaitAgentMetric("layerseal_agent_spool_events", 0), 0);
  std::map<std::string, v1::Event> stored = ByImage(StoredEvents());
  for (const std::string& image : answered) EXPECT_EQ(stored.count(image), 1u) << image;
}

// Issue 14.6: an agent whose state is lost (reinstall, new disk) comes back under the same
// node name and numbers its events from 1 again. Its spool takes a new incarnation, so the
// controller stores each new event instead of taking it for a resend of the old ones.
TEST_P(DeliveryE2eTest, AgentWithWipedStateStartsANewIncarnationAndEveryEventIsStored) {
  StartController();
  StartAgent();
  std::vector<std::string> images = PullDenied("before-wipe", 10);
  ASSERT_EQ(images.size(), 10u);
  ASSERT_EQ(AwaitAgentMetric("layerseal_agent_spool_events", 0), 0);
  StopAgent();
  std::filesystem::remove_all(dir_.File("state"));
  std::filesystem::remove_all(spool_dir_);
  StartAgent();
  std::vector<std::string> after = PullDenied("after-wipe", 10);
  ASSERT_EQ(after.size(), 10u);
  ASSERT_EQ(AwaitAgentMetric("layerseal_agent_spool_events", 0), 0);  // acknowledged
  images.insert(images.end(), after.begin(), after.end());

  std::map<std::string, int> stored;  // image -> times stored
  std::set<std::string> incarnations;
  for (const v1::Event& e : StoredEvents()) {
    if (e.kind() != v1::Event::VERDICT) continue;
    ++stored[e.image()];
    incarnations.insert(e.spool_incarnation());
  }
  for (const std::string& image : images) EXPECT_EQ(stored[image], 1) << image;
  EXPECT_EQ(stored.size(), 20u);
  EXPECT_EQ(incarnations.size(), 2u);  // one per state directory
}

TEST_P(DeliveryE2eTest, ControllerRestartedMidStreamEveryEventArrivesOnce) {
  StartController();
  StartAgent();
  std::atomic<bool> stop = false;
  std::vector<std::string> answered;
  std::thread puller([&] {
    for (int i = 0; !stop; ++i) {
      std::string image = StrCat("elsewhere.example/restart-", i, ":1");
      if (IsDenial(Pull(*client_, image))) answered.push_back(image);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  StopController();  // graceful
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  StartController();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  KillController();  // and not graceful
  StartController();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  puller.join();
  ASSERT_GT(answered.size(), 20u);
  std::map<std::string, v1::Event> stored = ByImage(AwaitStored(answered.size()));
  for (const std::string& image : answered) EXPECT_EQ(stored.count(image), 1u) << image;
  EXPECT_EQ(stored.size(), answered.size());
}

TEST_P(DeliveryE2eTest, AgentWithACertificateFromAnotherCaIsRejectedAndKeepsItsEvents) {
  StartController();
  StartAgentAs(certs_.other_client);
  ASSERT_EQ(PullDenied("untrusted", 5).size(), 5u);
  // Heartbeats and batches fail the handshake: nothing stored, everything kept.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(StoredEvents().size(), 0u);
  EXPECT_EQ(AgentMetric("layerseal_agent_spool_events"), 5);
  // The same spool under the genuine certificate: delivered.
  StopAgent();
  StartAgent();
  EXPECT_EQ(ByImage(AwaitStored(5)).size(), 5u);
}

TEST_P(DeliveryE2eTest, AgentRefusesACertificateForAnotherNode) {
  absl::StatusOr<testing::CertKey> other = testing::AddClientCert(certs_, "node-other", false, testing::kNodeOrganization);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<std::string> argv = {LAYERSEAL_AGENT_BINARY};
  for (std::string& arg : AgentArgs(*other)) argv.push_back(std::move(arg));
  absl::StatusOr<testing::RunResult> r = testing::Run(argv, "", absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(r->err.find("node-other"), std::string::npos) << r->err;
}

TEST_P(DeliveryE2eTest, FullSpoolDiskIsCountedReportedAndTheAgentKeepsJudging) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  std::filesystem::create_directories(spool_dir_);
  ASSERT_EQ(mount("tmpfs", spool_dir_.c_str(), "tmpfs", 0, "size=64k"), 0) << strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{spool_dir_};

  StartAgent();  // no controller: the spool fills up
  std::vector<std::string> answered = PullDenied("full", 400);
  EXPECT_EQ(answered.size(), 400u) << "every pull still gets its verdict";
  double lost = AgentMetric("layerseal_agent_events_lost_total");
  EXPECT_GT(lost, 0) << Log("agent.log");

  // The controller comes: the backlog drains, space comes back, and the loss is reported.
  StartController();
  EXPECT_EQ(AwaitAgentMetric("layerseal_agent_spool_events", 0), 0);
  ASSERT_EQ(PullDenied("after", 1).size(), 1u);
  std::vector<v1::Event> events;
  uint64_t reported_lost = 0;
  for (int i = 0; i < 600 && reported_lost == 0; ++i) {
    events = StoredEvents();
    for (const v1::Event& e : events) {
      if (e.kind() == v1::Event::EVENTS_LOST) reported_lost += e.lost_count();
    }
    if (reported_lost == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(reported_lost, static_cast<uint64_t>(lost));
  std::map<std::string, v1::Event> by_image = ByImage(events);
  EXPECT_EQ(by_image.size() + reported_lost, 401u) << "every verdict stored or counted as lost";
}

INSTANTIATE_TEST_SUITE_P(Stores, DeliveryE2eTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace layerseal
