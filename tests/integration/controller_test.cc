// layerseal-controller as a real process: mutual TLS with certificates made by the openssl
// CLI (tests/support/tls_certs.h), a SQLite database in a temp dir (and PostgreSQL in one
// suite), clients speaking gRPC with client certificates, /metrics read with curl.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "controller/ingest_service.h"
#include "controller/query_service.h"
#include "controller/web.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "telemetry/admin_http.h"
#include "tests/support/metrics_text.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "tests/support/slow_clients.h"
#include "tests/support/sqlite_damage.h"
#include "tests/support/tls_certs.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

using controller::kMaxBatchBytes;
using controller::kMaxBatchEvents;
using controller::kMaxFieldBytes;
using controller::kMaxRejectLogsPerSecond;

// How long a test waits for something that should happen (a port, a stream, a prune)
// before it fails; never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(60);

std::string ControllerBinary() { return LAYERSEAL_CONTROLLER_BINARY; }

// A controller process with its own ports; stopped (SIGTERM) on destruction.
class ControllerProcess {
 public:
  ControllerProcess(const TlsCerts& certs, std::string database, std::string log,
                    std::vector<std::string> extra = {})
      : certs_(certs), database_(std::move(database)), log_(std::move(log)),
        extra_(std::move(extra)), grpc_port_(PickFreePort()), admin_port_(PickFreePort()),
        web_port_(PickFreePort()) {}

  // Starts the process and waits for both ports.
  void Start() {
    std::vector<std::string> argv = {ControllerBinary(),
                                     "--listen", StrCat("127.0.0.1:", grpc_port_),
                                     "--admin", StrCat("127.0.0.1:", admin_port_),
                                     "--web", StrCat("127.0.0.1:", web_port_),
                                     "--tls-cert", certs_.server.cert,
                                     "--tls-key", certs_.server.key,
                                     "--client-ca", certs_.ca.cert,
                                     "--database", database_,
                                     "--log-level", "debug"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(argv, log_);
    ASSERT_TRUE(child.ok()) << child.status();
    child_ = std::move(*child);
    // Until every port answers; a controller that exits (bad config, database) fails at once.
    absl::Time deadline = absl::Now() + kPatience;
    while (!WaitForPort(grpc_port_, absl::Milliseconds(100)) ||
           !WaitForPort(admin_port_, absl::Milliseconds(100)) ||
           !WaitForPort(web_port_, absl::Milliseconds(100))) {
      ASSERT_TRUE(child_->Running()) << "the controller exited:\n" << ReadFileOrDie(log_);
      ASSERT_LT(absl::Now(), deadline) << ReadFileOrDie(log_);
    }
  }
  // SIGTERM; a sanitizer report (leaks are reported at exit) fails the test.
  void Stop() {
    if (child_ == nullptr) return;
    child_->Stop();
    std::string log = ReadFileOrDie(log_);
    EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
  }
  ~ControllerProcess() { Stop(); }
  bool Running() { return child_ != nullptr && child_->Running(); }

  std::string target() const { return StrCat("127.0.0.1:", grpc_port_); }
  int admin_port() const { return admin_port_; }  // /metrics /healthz /readyz
  int web_port() const { return web_port_; }      // the web page and JSON API
  const std::string& log() const { return log_; }

 private:
  const TlsCerts& certs_;
  std::string database_;
  std::string log_;
  std::vector<std::string> extra_;
  int grpc_port_;
  int admin_port_;
  int web_port_;
  std::unique_ptr<Child> child_;
};

// A channel to `target` trusting `certs.ca`, presenting `client` if it has a certificate.
std::shared_ptr<grpc::Channel> Connect(const std::string& target, const TlsCerts& certs,
                                       const CertKey& client, const std::string& ca_path = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrDie(ca_path.empty() ? certs.ca.cert : ca_path);
  if (!client.cert.empty()) {
    options.pem_cert_chain = ReadFileOrDie(client.cert);
    options.pem_private_key = ReadFileOrDie(client.key);
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(options), args);
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = kPatience) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  ctx->set_wait_for_ready(true);  // across a controller restart
  return ctx;
}

// A verdict event; `i` varies the pod and the time.
v1::Event MakeEvent(const std::string& node, uint64_t seq, const std::string& verdict = "ALLOW",
                    const std::string& ns = "default", const std::string& image = "reg/app:1") {
  v1::Event e;
  e.set_node(node);
  e.set_seq(seq);
  e.set_time_unix_micros(absl::ToUnixMicros(absl::Now()) - 1000 + static_cast<int64_t>(seq));
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image(image);
  e.set_pod_namespace(ns);
  e.set_pod_name(StrCat("pod-", seq));
  e.set_pod_uid(StrCat("uid-", seq));
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference(image);
  v->set_digest(StrCat("sha256:", std::string(64, verdict == "ALLOW" ? 'a' : 'd')));
  v->set_verdict(verdict);
  v->set_reason(verdict == "ALLOW" ? "VERIFIED" : "BAD_SIGNATURE");
  v->set_detail("test event");
  v->set_mode("enforce");
  e.set_admitted(verdict == "ALLOW");
  e.set_agent_version("test");
  return e;
}

// Issue 17: the event names a keyless signer and its Rekor entry.
void SetKeyless(v1::Event& e, const std::string& issuer, const std::string& subject,
                int64_t log_index) {
  v1::Verdict* v = e.mutable_verdict();
  v->set_key_id(StrCat("sha256:", std::string(64, 'c')));
  v->set_signer_kind("cosign-keyless");
  v->set_signer_issuer(issuer);
  v->set_signer_subject(subject);
  v->set_rekor_log_index(log_index);
  v->set_rekor_log_id(std::string(64, 'e'));
}

v1::ReportEventsRequest Batch(const std::string& node, uint64_t first_seq, int count,
                              const std::string& verdict = "ALLOW") {
  v1::ReportEventsRequest req;
  req.set_node(node);
  req.mutable_status()->set_agent_version("test");
  for (int i = 0; i < count; ++i) *req.add_events() = MakeEvent(node, first_seq + i, verdict);
  return req;
}

grpc::Status Report(const std::shared_ptr<grpc::Channel>& channel,
                    const v1::ReportEventsRequest& req, v1::ReportEventsResponse* resp = nullptr) {
  v1::ReportEventsResponse ignored;
  auto stub = v1::EventIngest::NewStub(channel);
  return stub->ReportEvents(Context().get(), req, resp == nullptr ? &ignored : resp);
}

// Every event matching `filter`, page by page (page_size 1000).
std::vector<v1::Event> QueryAll(const std::shared_ptr<grpc::Channel>& channel,
                                const v1::EventFilter& filter) {
  auto stub = v1::EventQuery::NewStub(channel);
  std::vector<v1::Event> out;
  v1::QueryEventsRequest req;
  *req.mutable_filter() = filter;
  req.set_page_size(1000);
  for (;;) {
    v1::QueryEventsResponse resp;
    grpc::Status s = stub->QueryEvents(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) return out;
    out.insert(out.end(), resp.events().begin(), resp.events().end());
    if (resp.next_page_token().empty()) return out;
    req.set_page_token(resp.next_page_token());
  }
}

v1::EventFilter NodeFilter(const std::string& node) {
  v1::EventFilter f;
  f.set_node(node);
  return f;
}

// One request with the curl CLI: the HTTP status (0: no HTTP answer), the time curl itself
// measured for it (not counting curl's start), the body and curl's exit code.
struct CurlAnswer {
  int status = 0;
  double seconds = 0;
  std::string body;
  int exit_code = -1;
};
CurlAnswer Curl(const std::vector<std::string>& args, int max_seconds = 10) {
  std::vector<std::string> argv = {"curl", "-s", "--noproxy", "*", "--max-time",
                                   std::to_string(max_seconds), "-w", "\n%{http_code} %{time_total}"};
  argv.insert(argv.end(), args.begin(), args.end());
  CurlAnswer answer;
  absl::StatusOr<RunResult> r = layerseal::testing::Run(argv, "", absl::Seconds(max_seconds + 30));
  if (!r.ok()) return answer;
  answer.exit_code = r->exit_code;
  size_t nl = r->out.rfind('\n');
  if (nl == std::string::npos) return answer;
  answer.body = r->out.substr(0, nl);
  std::istringstream tail(r->out.substr(nl + 1));
  tail >> answer.status >> answer.seconds;
  return answer;
}

std::string Metrics(int http_port) {
  std::optional<std::string> text = layerseal::testing::ScrapeMetrics(http_port);
  EXPECT_TRUE(text.has_value());
  return text.value_or("");
}

// The value of the sample `series` (name plus labels, as rendered), or -1 if absent.
double MetricValue(const std::string& text, const std::string& series) {
  return layerseal::testing::MetricValue(text, series).value_or(-1);
}

TEST(TlsCertsTest, ChainsVerifyWithOpenssl) {
  TempDir dir;
  absl::StatusOr<TlsCerts> c = MakeTlsCerts(dir.path(), {"node-a", "node-b"});
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<RunResult> v = layerseal::testing::Run({"openssl", "verify", "-CAfile", c->ca.cert, c->server.cert,
                                     c->client["node-a"].cert, c->client["node-b"].cert});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->exit_code, 0) << v->out << v->err;
  v = layerseal::testing::Run({"openssl", "verify", "-CAfile", c->ca.cert, c->other_client.cert});
  EXPECT_NE(v->exit_code, 0);
  v = layerseal::testing::Run({"openssl", "verify", "-CAfile", c->other_ca.cert, c->other_client.cert});
  EXPECT_EQ(v->exit_code, 0) << v->err;
  v = layerseal::testing::Run({"openssl", "x509", "-in", c->client["node-b"].cert, "-noout", "-subject"});
  EXPECT_NE(v->out.find("CN = node-b"), std::string::npos) << v->out;
  v = layerseal::testing::Run({"openssl", "x509", "-in", c->server.cert, "-noout", "-ext", "subjectAltName"});
  EXPECT_NE(v->out.find("IP Address:127.0.0.1"), std::string::npos) << v->out;
}

// ---- One controller on SQLite for the suite ----

class ControllerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir_->path(), {"node-a", "node-b", "node-c", "node-d", "node-s"}, {"reader"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    // Signed by the right CA, but with no role: no organization, and both organizations.
    ASSERT_TRUE(AddClientCert(*certs, "node-e").ok());
    ASSERT_TRUE(AddClientCert(*certs, "node-both", false,
                              StrCat(kNodeOrganization, "/O=", kReaderOrganization))
                    .ok());
    certs_ = new TlsCerts(*certs);
    controller_ = new ControllerProcess(*certs_, StrCat("sqlite://", dir_->File("events.db")),
                                        dir_->File("controller.log"));
    controller_->Start();
  }
  static void TearDownTestSuite() {
    delete controller_;
    delete certs_;
    delete dir_;
  }
  void TearDown() override {
    // A sanitizer report or a crash anywhere in the controller fails the test that caused it.
    std::string log = ReadFileOrDie(controller_->log());
    EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
    EXPECT_TRUE(controller_->Running()) << log;
  }

  static std::shared_ptr<grpc::Channel> As(const std::string& node) {
    return Connect(controller_->target(), *certs_, certs_->client.at(node));
  }

  static TempDir* dir_;
  static TlsCerts* certs_;
  static ControllerProcess* controller_;
};

TempDir* ControllerTest::dir_ = nullptr;
TlsCerts* ControllerTest::certs_ = nullptr;
ControllerProcess* ControllerTest::controller_ = nullptr;

TEST_F(ControllerTest, BatchIsStoredAndReadBack) {
  auto channel = As("node-a");
  v1::ReportEventsResponse resp;
  grpc::Status s = Report(channel, Batch("node-a", 1, 3), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.stored(), 3u);
  EXPECT_EQ(resp.duplicates(), 0u);

  std::vector<v1::Event> events = QueryAll(As("reader"), NodeFilter("node-a"));
  ASSERT_GE(events.size(), 3u);
  std::set<uint64_t> seqs;
  for (const v1::Event& e : events) {
    seqs.insert(e.seq());
    EXPECT_GT(e.received_unix_micros(), 0);
    EXPECT_EQ(e.node(), "node-a");
  }
  EXPECT_TRUE(seqs.count(1) && seqs.count(2) && seqs.count(3));
  const v1::Event* third = nullptr;
  for (const v1::Event& e : events) {
    if (e.seq() == 3) third = &e;
  }
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->pod_name(), "pod-3");
  EXPECT_EQ(third->verdict().reason(), "VERIFIED");
  EXPECT_EQ(third->verdict().digest(), MakeEvent("node-a", 3).verdict().digest());
}

TEST_F(ControllerTest, ResentBatchIsCountedAsDuplicatesAndStoredOnce) {
  auto channel = As("node-a");
  v1::ReportEventsRequest batch = Batch("node-a", 101, 4);
  ASSERT_TRUE(Report(channel, batch).ok());
  double before = MetricValue(Metrics(controller_->admin_port()), "layerseal_controller_duplicate_events_total");
  v1::ReportEventsResponse resp;
  grpc::Status s = Report(channel, batch, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.stored(), 0u);
  EXPECT_EQ(resp.duplicates(), 4u);
  std::string metrics = Metrics(controller_->admin_port());
  EXPECT_EQ(MetricValue(metrics, "layerseal_controller_duplicate_events_total"), before + 4);

  int copies = 0;
  for (const v1::Event& e : QueryAll(As("reader"), NodeFilter("node-a"))) copies += e.seq() == 102;
  EXPECT_EQ(copies, 1);
}

// Issue 14.6: the same id with other content is never taken for a resend in silence.
TEST_F(ControllerTest, SameIdWithOtherContentIsAConflictCountedAndLogged) {
  auto channel = As("node-a");
  v1::ReportEventsRequest batch = Batch("node-a", 150, 1);
  batch.mutable_events(0)->set_spool_incarnation("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(Report(channel, batch).ok());
  batch.mutable_events(0)->set_image("reg/other:2");  // same id, other event
  v1::ReportEventsResponse resp;
  ASSERT_TRUE(Report(channel, batch, &resp).ok());
  EXPECT_EQ(resp.stored(), 0u);
  EXPECT_EQ(resp.duplicates(), 0u);
  EXPECT_EQ(resp.conflicts(), 1u);
  EXPECT_EQ(MetricValue(Metrics(controller_->admin_port()),
                        "layerseal_controller_event_conflicts_total{node=\"node-a\"}"),
            1);
  std::string log = ReadFileOrDie(controller_->log());
  EXPECT_NE(log.find("node-a/00112233445566778899aabbccddeeff/150"), std::string::npos) << log;
}

TEST_F(ControllerTest, NodeSpoofingIsRejectedAndCounted) {
  auto channel = As("node-a");
  double before = MetricValue(Metrics(controller_->admin_port()),
                              "layerseal_controller_rejected_batches_total{reason=\"node_mismatch\"}");
  // The certificate says node-a; the request says node-b.
  grpc::Status s = Report(channel, Batch("node-b", 1, 2));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("\"node-a\""), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("\"node-b\""), std::string::npos) << s.error_message();
  // The request says node-a, but its second event names node-b.
  v1::ReportEventsRequest mixed = Batch("node-a", 201, 3);
  mixed.mutable_events(1)->set_node("node-b");
  s = Report(channel, mixed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("events[1].node"), std::string::npos) << s.error_message();

  EXPECT_TRUE(QueryAll(As("reader"), NodeFilter("node-b")).empty());
  for (const v1::Event& e : QueryAll(As("reader"), NodeFilter("node-a"))) {
    EXPECT_LT(e.seq(), 201u) << "an event of the rejected batch was stored";
  }
  std::string metrics = Metrics(controller_->admin_port());
  EXPECT_EQ(MetricValue(metrics, "layerseal_controller_rejected_batches_total{reason=\"node_mismatch\"}"),
            std::max(before, 0.0) + 2);
}

// Every EventQuery method, called on `channel` (FollowEvents until its status): the status
// of each, by method name.
std::map<std::string, grpc::Status> CallEveryQueryMethod(const std::shared_ptr<grpc::Channel>& channel,
                                                         const std::string& node) {
  auto stub = v1::EventQuery::NewStub(channel);
  std::map<std::string, grpc::Status> out;
  v1::QueryEventsRequest query;
  *query.mutable_filter() = NodeFilter(node);  // its own events
  v1::QueryEventsResponse events;
  out["QueryEvents"] = stub->QueryEvents(Context().get(), query, &events);
  EXPECT_EQ(events.events_size(), 0);
  v1::ListNodesResponse nodes;
  out["ListNodes"] = stub->ListNodes(Context().get(), v1::ListNodesRequest(), &nodes);
  EXPECT_EQ(nodes.nodes_size(), 0);
  v1::ListImagesResponse images;
  out["ListImages"] = stub->ListImages(Context().get(), v1::ListImagesRequest(), &images);
  EXPECT_EQ(images.images_size(), 0);
  // Issue 18's package inventories.
  v1::GetImagePackagesRequest get_packages;
  get_packages.set_digest("sha256:" + std::string(64, 'a'));
  v1::ImagePackages packages;
  out["GetImagePackages"] = stub->GetImagePackages(Context().get(), get_packages, &packages);
  EXPECT_EQ(packages.packages_size(), 0);
  v1::ListImagePackagesResponse inventories;
  out["ListImagePackages"] =
      stub->ListImagePackages(Context().get(), v1::ListImagePackagesRequest(), &inventories);
  EXPECT_EQ(inventories.images_size(), 0);
  v1::FollowEventsRequest follow;
  *follow.mutable_filter() = NodeFilter(node);
  auto ctx = Context();
  std::unique_ptr<grpc::ClientReader<v1::Event>> stream = stub->FollowEvents(ctx.get(), follow);
  v1::Event e;
  EXPECT_FALSE(stream->Read(&e)) << "a refused follower got an event";
  out["FollowEvents"] = stream->Finish();
  return out;
}

// Issue 14 item 4: a node's certificate reads nothing, not even its own node's events.
TEST_F(ControllerTest, NodeCertificateCannotCallAnyQueryMethod) {
  ASSERT_TRUE(Report(As("node-a"), Batch("node-a", 7001, 1, "DENY")).ok());
  double before = MetricValue(Metrics(controller_->admin_port()),
                              "layerseal_controller_refused_queries_total{role=\"node\"}");
  std::map<std::string, grpc::Status> got = CallEveryQueryMethod(As("node-a"), "node-a");
  ASSERT_EQ(got.size(), 6u);
  for (const auto& [method, s] : got) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << s.error_message();
    for (const char* part : {method.c_str(), "a node's", "CN=node-a", "O=[layerseal:nodes]",
                             "O=layerseal:readers"}) {
      EXPECT_NE(s.error_message().find(part), std::string::npos) << part << " in " << s.error_message();
    }
  }
  EXPECT_EQ(MetricValue(Metrics(controller_->admin_port()),
                        "layerseal_controller_refused_queries_total{role=\"node\"}"),
            std::max(before, 0.0) + 6);
  // The reader sees the event the node reported.
  std::vector<v1::Event> seen = QueryAll(As("reader"), NodeFilter("node-a"));
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const v1::Event& e) { return e.seq() == 7001; }));
}

// Issue 14 item 4: a reader's certificate reports nothing (it would be stored as a node
// named after the reader).
TEST_F(ControllerTest, ReaderCertificateCannotReportEvents) {
  double before = MetricValue(Metrics(controller_->admin_port()),
                              "layerseal_controller_rejected_batches_total{reason=\"wrong_role\"}");
  grpc::Status s = Report(As("reader"), Batch("reader", 1, 2));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  for (const char* part : {"ReportEvents", "a reader's", "CN=reader", "O=layerseal:nodes"}) {
    EXPECT_NE(s.error_message().find(part), std::string::npos) << part << " in " << s.error_message();
  }
  EXPECT_TRUE(QueryAll(As("reader"), NodeFilter("reader")).empty());
  v1::ListNodesResponse nodes;
  ASSERT_TRUE(v1::EventQuery::NewStub(As("reader"))
                  ->ListNodes(Context().get(), v1::ListNodesRequest(), &nodes)
                  .ok());
  for (const v1::NodeSummary& n : nodes.nodes()) EXPECT_NE(n.node(), "reader");
  EXPECT_EQ(MetricValue(Metrics(controller_->admin_port()),
                        "layerseal_controller_rejected_batches_total{reason=\"wrong_role\"}"),
            std::max(before, 0.0) + 1);
}

// Issue 14 item 4: a certificate the CA signed without a layerseal organization, or with
// both, has no role: refused on both services, and the message says which O= to use.
TEST_F(ControllerTest, CertificateWithoutRoleIsRefusedEverywhere) {
  std::string metrics = Metrics(controller_->admin_port());
  double rejected = MetricValue(metrics, "layerseal_controller_rejected_batches_total{reason=\"no_role\"}");
  double refused = MetricValue(metrics, "layerseal_controller_refused_queries_total{role=\"none\"}");
  for (const std::string node : {"node-e", "node-both"}) {
    grpc::Status s = Report(As(node), Batch(node, 1, 1));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    for (const std::string& part : {StrCat("CN=", node), std::string("has no layerseal role"),
                                    std::string("O=layerseal:nodes")}) {
      EXPECT_NE(s.error_message().find(part), std::string::npos) << part << " in " << s.error_message();
    }
    EXPECT_TRUE(QueryAll(As("reader"), NodeFilter(node)).empty());
    for (const auto& [method, qs] : CallEveryQueryMethod(As(node), node)) {
      EXPECT_EQ(qs.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << qs.error_message();
      EXPECT_NE(qs.error_message().find("O=layerseal:readers"), std::string::npos) << qs.error_message();
    }
  }
  metrics = Metrics(controller_->admin_port());
  EXPECT_EQ(MetricValue(metrics, "layerseal_controller_rejected_batches_total{reason=\"no_role\"}"),
            std::max(rejected, 0.0) + 2);
  EXPECT_EQ(MetricValue(metrics, "layerseal_controller_refused_queries_total{role=\"none\"}"),
            std::max(refused, 0.0) + 12);
}

// An agent retrying a rejected batch, or a hostile one, cannot flood the controller's log:
// at most kMaxRejectLogsPerSecond lines a second, every rejection still counted, and the
// lines say how many they left out.
TEST_F(ControllerTest, RejectionsAreLoggedAtABoundedRateAndAllCounted) {
  auto channel = As("node-c");
  auto count_lines = [] {
    std::string log = ReadFileOrDie(controller_->log());
    size_t n = 0;
    for (size_t at = log.find("batch rejected"); at != std::string::npos;
         at = log.find("batch rejected", at + 1)) {
      ++n;
    }
    return n;
  };
  const char kSeries[] = "layerseal_controller_rejected_batches_total{reason=\"node_mismatch\"}";
  double before = std::max(MetricValue(Metrics(controller_->admin_port()), kSeries), 0.0);
  // The limiter counts per wall-clock second, and the tests before this one (wrong roles,
  // spoofed nodes) may have used up the current second's lines: start in a fresh second, or
  // 200 quick rejections inside a spent one log nothing (seen once on an idle machine).
  absl::SleepFor(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 1) - absl::Now() +
                 absl::Milliseconds(10));
  size_t lines_before = count_lines();
  constexpr int kBatches = 200;
  absl::Time start = absl::Now();
  for (int i = 0; i < kBatches; ++i) {
    ASSERT_EQ(Report(channel, Batch("node-d", 1, 1)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // Seconds the rejections may have spanned (whole seconds started, plus the one in progress).
  int64_t seconds = absl::ToInt64Seconds(absl::Now() - start) + 2;
  EXPECT_EQ(MetricValue(Metrics(controller_->admin_port()), kSeries), before + kBatches);
  size_t lines = count_lines() - lines_before;
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, static_cast<size_t>(seconds * kMaxRejectLogsPerSecond)) << seconds << " s";
  if (lines < static_cast<size_t>(kBatches)) {
    // Left-out rejections are reported by the next line logged (the next second's first).
    ASSERT_EQ(Report(channel, Batch("node-d", 1, 1)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    absl::SleepFor(absl::Seconds(1.1));
    ASSERT_EQ(Report(channel, Batch("node-d", 1, 1)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(ReadFileOrDie(controller_->log()).find("rejections_not_logged"), std::string::npos);
  }
}

TEST_F(ControllerTest, ClientWithoutCertificateCannotConnect) {
  auto channel = Connect(controller_->target(), *certs_, CertKey{});
  v1::ReportEventsResponse resp;
  auto stub = v1::EventIngest::NewStub(channel);
  grpc::ClientContext ctx;  // no wait_for_ready: the handshake failure is the answer
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  grpc::Status s = stub->ReportEvents(&ctx, Batch("node-a", 301, 1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  auto query = v1::EventQuery::NewStub(channel);
  grpc::ClientContext qctx;
  qctx.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  v1::QueryEventsResponse qresp;
  EXPECT_FALSE(query->QueryEvents(&qctx, v1::QueryEventsRequest(), &qresp).ok());
  EXPECT_TRUE(QueryAll(As("reader"), v1::EventFilter()).size() > 0);
  for (const v1::Event& e : QueryAll(As("reader"), NodeFilter("node-a"))) {
    EXPECT_NE(e.seq(), 301u);
  }
}

TEST_F(ControllerTest, ClientCertificateFromAnotherCaCannotConnect) {
  // Its CN is node-a, as a genuine one: only the CA tells them apart.
  ASSERT_EQ(certs_->other_client_cn, "node-a");
  auto channel = Connect(controller_->target(), *certs_, certs_->other_client);
  auto stub = v1::EventIngest::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  v1::ReportEventsResponse resp;
  grpc::Status s = stub->ReportEvents(&ctx, Batch("node-a", 401, 1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  for (const v1::Event& e : QueryAll(As("reader"), NodeFilter("node-a"))) {
    EXPECT_NE(e.seq(), 401u);
  }
}

TEST_F(ControllerTest, ServerCertificateFromAnotherCaIsNotTrusted) {
  // The agent's side of mutual TLS: it refuses a controller its CA did not sign.
  auto channel = Connect(controller_->target(), *certs_, certs_->client.at("node-a"),
                         certs_->other_ca.cert);
  auto stub = v1::EventIngest::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  v1::ReportEventsResponse resp;
  EXPECT_EQ(stub->ReportEvents(&ctx, Batch("node-a", 402, 1), &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

struct Malformed {
  std::string name;
  std::function<void(v1::ReportEventsRequest&)> spoil;
  grpc::StatusCode code;
  std::string message;  // a part of the error message
};

TEST_F(ControllerTest, MalformedBatchesGetClearErrorsAndStoreNothing) {
  auto channel = As("node-b");
  ASSERT_TRUE(Report(channel, Batch("node-b", 1, 5)).ok());
  std::vector<v1::Event> before = QueryAll(As("reader"), NodeFilter("node-b"));
  ASSERT_EQ(before.size(), 5u);

  std::vector<Malformed> cases = {
      {"seq 0", [](v1::ReportEventsRequest& r) { r.mutable_events(2)->set_seq(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "events[2].seq"},
      {"unknown kind",
       [](v1::ReportEventsRequest& r) { r.mutable_events(1)->set_kind(static_cast<v1::Event::Kind>(7)); },
       grpc::StatusCode::INVALID_ARGUMENT, "events[1].kind"},
      {"kind unspecified",
       [](v1::ReportEventsRequest& r) { r.mutable_events(0)->set_kind(v1::Event::KIND_UNSPECIFIED); },
       grpc::StatusCode::INVALID_ARGUMENT, "events[0].kind"},
      {"oversized detail",
       [](v1::ReportEventsRequest& r) {
         r.mutable_events(3)->mutable_verdict()->set_detail(std::string(kMaxFieldBytes + 1, 'x'));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[3].verdict.detail is 4097 bytes"},
      {"oversized signer subject",  // issue 17's fields are bounded like the others
       [](v1::ReportEventsRequest& r) {
         SetKeyless(*r.mutable_events(1), "https://issuer.example", std::string(1025, 's'), 1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "events[1].verdict.signer_subject is 1025 bytes"},
      {"oversized image",
       [](v1::ReportEventsRequest& r) { r.mutable_events(4)->set_image(std::string(1025, 'i')); },
       grpc::StatusCode::INVALID_ARGUMENT, "events[4].image"},
      {"too many events",
       [](v1::ReportEventsRequest& r) {
         for (int i = r.events_size(); i <= kMaxBatchEvents; ++i) {
           *r.add_events() = MakeEvent("node-b", 1000 + i);
         }
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "more than the limit of 1000"},
      {"more than 4 MiB",
       [](v1::ReportEventsRequest& r) {
         for (int i = 0; i < 900; ++i) {
           v1::Event e = MakeEvent("node-b", 2000 + i);
           e.mutable_verdict()->set_detail(std::string(kMaxFieldBytes, 'd'));
           e.set_image(std::string(1000, 'i'));
           *r.add_events() = e;
         }
         ASSERT_GT(r.ByteSizeLong(), kMaxBatchBytes);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.name);
    // New events (seq 500..504) that would be stored were the batch valid.
    v1::ReportEventsRequest req = Batch("node-b", 500, 5);
    c.spoil(req);
    grpc::Status s = Report(channel, req);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_NE(s.error_message().find(c.message), std::string::npos) << s.error_message();
    std::vector<v1::Event> after = QueryAll(As("reader"), NodeFilter("node-b"));
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].SerializeAsString(), before[i].SerializeAsString());
    }
  }
  std::string metrics = Metrics(controller_->admin_port());
  EXPECT_GE(MetricValue(metrics, "layerseal_controller_rejected_batches_total{reason=\"malformed\"}"), 5);
  EXPECT_GE(MetricValue(metrics, "layerseal_controller_rejected_batches_total{reason=\"too_large\"}"), 1);
}

TEST_F(ControllerTest, FiltersAndPagination) {
  auto channel = As("node-c");
  // 30 events: seq 1..30; every third a DENY; namespaces alternate; two images.
  v1::ReportEventsRequest req;
  req.set_node("node-c");
  for (int i = 1; i <= 30; ++i) {
    *req.add_events() = MakeEvent("node-c", i, i % 3 == 0 ? "DENY" : "ALLOW",
                                  i % 2 == 0 ? "team-even" : "team-odd",
                                  i <= 10 ? "reg/one:1" : "reg/two:2");
  }
  ASSERT_TRUE(Report(channel, req).ok());

  auto count = [&](std::function<void(v1::EventFilter&)> set) {
    v1::EventFilter f = NodeFilter("node-c");
    set(f);
    return QueryAll(As("reader"), f).size();
  };
  EXPECT_EQ(count([](v1::EventFilter&) {}), 30u);
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_verdict("DENY"); }), 10u);
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_reason("BAD_SIGNATURE"); }), 10u);
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_namespace_("team-even"); }), 15u);
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_image("reg/one:1"); }), 10u);
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_pod("pod-7"); }), 1u);
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_mode("warn"); }), 0u);
  EXPECT_EQ(count([](v1::EventFilter& f) {
              f.set_digest(StrCat("sha256:", std::string(64, 'd')));
              f.set_namespace_("team-odd");
            }),
            5u);  // DENY and odd: 3, 9, 15, 21, 27
  int64_t t10 = req.events(9).time_unix_micros();
  int64_t t20 = req.events(19).time_unix_micros();
  EXPECT_EQ(count([&](v1::EventFilter& f) {
              f.set_since_unix_micros(t10);
              f.set_until_unix_micros(t20);
            }),
            10u);  // seq 10..19
  EXPECT_EQ(count([](v1::EventFilter& f) { f.set_node("node-none"); }), 0u);

  // Pages of 7: 7, 7, 7, 7, 2; each event once; newest first throughout.
  auto stub = v1::EventQuery::NewStub(As("reader"));
  v1::QueryEventsRequest page_req;
  *page_req.mutable_filter() = NodeFilter("node-c");
  page_req.set_page_size(7);
  std::vector<uint64_t> seqs;
  int pages = 0;
  for (;;) {
    v1::QueryEventsResponse resp;
    grpc::Status s = stub->QueryEvents(Context().get(), page_req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ++pages;
    EXPECT_LE(resp.events_size(), 7);
    for (const v1::Event& e : resp.events()) seqs.push_back(e.seq());
    if (resp.next_page_token().empty()) break;
    page_req.set_page_token(resp.next_page_token());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 5);
  ASSERT_EQ(seqs.size(), 30u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], 30 - i);

  // Bad requests are named.
  v1::QueryEventsRequest bad;
  bad.set_page_token("not-a-token");
  v1::QueryEventsResponse resp;
  grpc::Status s = stub->QueryEvents(Context().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  bad = v1::QueryEventsRequest();
  bad.mutable_filter()->set_verdict("MAYBE");
  s = stub->QueryEvents(Context().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("filter.verdict"), std::string::npos) << s.error_message();
  bad = v1::QueryEventsRequest();
  bad.mutable_filter()->set_since_unix_micros(t20);
  bad.mutable_filter()->set_until_unix_micros(t10);
  s = stub->QueryEvents(Context().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Issue 17: an agent's events say which signature admitted each image; the controller keeps
// the fields and QueryEvents and FollowEvents filter by signer: the key id, the keyless
// issuer or the keyless subject, exactly.
TEST_F(ControllerTest, SignerFieldsAreKeptAndFiltered) {
  const std::string seal_key = StrCat("sha256:", std::string(64, '5'));
  v1::ReportEventsRequest req = Batch("node-s", 1, 4);
  v1::Verdict* sealed = req.mutable_events(0)->mutable_verdict();
  sealed->set_key_id(seal_key);
  sealed->set_signer_kind("seal");
  SetKeyless(*req.mutable_events(1), "https://accounts.example", "ci@team.example", 0);
  v1::Verdict* untrusted = req.mutable_events(2)->mutable_verdict();
  untrusted->set_verdict("DENY");
  untrusted->set_reason("UNTRUSTED_KEY");
  untrusted->set_key_id(seal_key);  // found, not trusted: no signer_kind
  // events(3): no signer at all.
  ASSERT_TRUE(Report(As("node-s"), req).ok());

  auto query = [&](const std::string& signer, const std::string& verdict = "") {
    v1::EventFilter f = NodeFilter("node-s");
    f.set_signer(signer);
    f.set_verdict(verdict);
    return QueryAll(As("reader"), f);
  };
  std::vector<v1::Event> by_key = query(seal_key);
  ASSERT_EQ(by_key.size(), 2u);
  EXPECT_EQ(by_key[0].seq(), 3u);
  EXPECT_EQ(by_key[1].seq(), 1u);
  EXPECT_EQ(by_key[1].verdict().signer_kind(), "seal");
  EXPECT_FALSE(by_key[1].verdict().has_rekor_log_index());
  ASSERT_EQ(query(seal_key, "ALLOW").size(), 1u);
  for (const std::string& who : std::vector<std::string>{
           "https://accounts.example", "ci@team.example", StrCat("sha256:", std::string(64, 'c'))}) {
    std::vector<v1::Event> keyless = query(who);
    ASSERT_EQ(keyless.size(), 1u) << who;
    const v1::Verdict& v = keyless[0].verdict();
    EXPECT_EQ(v.SerializeAsString(), req.events(1).verdict().SerializeAsString());
    ASSERT_TRUE(v.has_rekor_log_index());  // index 0 is an entry, not "none"
    EXPECT_EQ(v.rekor_log_index(), 0);
  }
  EXPECT_TRUE(query("ci@team").empty());
  EXPECT_EQ(query("").size(), 4u);

  // FollowEvents: only new events of the signer.
  auto stub = v1::EventQuery::NewStub(As("reader"));
  v1::FollowEventsRequest follow;
  follow.mutable_filter()->set_signer("ci@team.example");
  auto ctx = Context();
  std::unique_ptr<grpc::ClientReader<v1::Event>> stream = stub->FollowEvents(ctx.get(), follow);
  stream->WaitForInitialMetadata();
  v1::ReportEventsRequest more = Batch("node-s", 5, 2);
  SetKeyless(*more.mutable_events(0), "https://accounts.example", "other@team.example", 7);
  SetKeyless(*more.mutable_events(1), "https://other.example", "ci@team.example", 8);
  ASSERT_TRUE(Report(As("node-s"), more).ok());
  v1::Event e;
  ASSERT_TRUE(stream->Read(&e));
  EXPECT_EQ(e.seq(), 6u);
  EXPECT_EQ(e.verdict().rekor_log_index(), 8);
  ctx->TryCancel();
  while (stream->Read(&e)) {
  }

  // An oversized signer filter is refused, named.
  v1::QueryEventsRequest bad;
  bad.mutable_filter()->set_signer(std::string(100'000, 's'));
  v1::QueryEventsResponse resp;
  grpc::Status s = stub->QueryEvents(Context().get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("filter.signer"), std::string::npos) << s.error_message();
}

TEST_F(ControllerTest, NodesAndImages) {
  auto channel = As("node-c");
  ASSERT_TRUE(Report(channel, Batch("node-c", 1001, 2, "DENY")).ok());
  auto stub = v1::EventQuery::NewStub(As("reader"));
  v1::ListNodesResponse nodes;
  ASSERT_TRUE(stub->ListNodes(Context().get(), v1::ListNodesRequest(), &nodes).ok());
  const v1::NodeSummary* c = nullptr;
  for (const v1::NodeSummary& n : nodes.nodes()) {
    if (n.node() == "node-c") c = &n;
  }
  ASSERT_NE(c, nullptr);
  EXPECT_GE(c->denied(), 2u);
  EXPECT_GE(c->last_seq(), 1002u);
  EXPECT_EQ(c->status().agent_version(), "test");

  v1::ListImagesResponse images;
  ASSERT_TRUE(stub->ListImages(Context().get(), v1::ListImagesRequest(), &images).ok());
  bool found = false;
  for (const v1::ImageSummary& i : images.images()) found |= i.image() == "reg/app:1";
  EXPECT_TRUE(found);
}

TEST_F(ControllerTest, FollowEventsStreamsNewMatchingEventsOnly) {
  auto reader = As("reader");
  auto agent = As("node-d");
  ASSERT_TRUE(Report(agent, Batch("node-d", 1, 1, "DENY")).ok());  // before: not streamed

  auto stub = v1::EventQuery::NewStub(reader);
  v1::FollowEventsRequest req;
  req.mutable_filter()->set_node("node-d");
  req.mutable_filter()->set_verdict("DENY");
  auto ctx = Context();
  std::unique_ptr<grpc::ClientReader<v1::Event>> stream = stub->FollowEvents(ctx.get(), req);
  stream->WaitForInitialMetadata();  // the server has its starting point

  ASSERT_TRUE(Report(agent, Batch("node-d", 2, 1, "ALLOW")).ok());  // filtered out
  ASSERT_TRUE(Report(As("node-c"), Batch("node-c", 2001, 1, "DENY")).ok());  // other node
  ASSERT_TRUE(Report(agent, Batch("node-d", 3, 2, "DENY")).ok());
  v1::Event e;
  ASSERT_TRUE(stream->Read(&e));
  EXPECT_EQ(e.node(), "node-d");
  EXPECT_EQ(e.seq(), 3u);
  ASSERT_TRUE(stream->Read(&e));
  EXPECT_EQ(e.seq(), 4u);
  ASSERT_TRUE(Report(agent, Batch("node-d", 5, 1, "ALLOW")).ok());
  ASSERT_TRUE(Report(agent, Batch("node-d", 6, 1, "DENY")).ok());
  ASSERT_TRUE(stream->Read(&e));
  EXPECT_EQ(e.seq(), 6u);
  EXPECT_EQ(e.verdict().verdict(), "DENY");
  ctx->TryCancel();
  while (stream->Read(&e)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // A bad filter is refused at once.
  v1::FollowEventsRequest bad;
  bad.mutable_filter()->set_mode("sometimes");
  auto bad_ctx = Context();
  auto bad_stream = stub->FollowEvents(bad_ctx.get(), bad);
  while (bad_stream->Read(&e)) {
  }
  EXPECT_EQ(bad_stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControllerTest, FollowersBeyondTheLimitAreRefused) {
  // Streams of earlier tests end within a poll interval of their cancellation.
  absl::Time deadline = absl::Now() + kPatience;
  while (MetricValue(Metrics(controller_->admin_port()), "layerseal_controller_followers") != 0) {
    ASSERT_LT(absl::Now(), deadline);
    absl::SleepFor(absl::Milliseconds(50));
  }
  auto stub = v1::EventQuery::NewStub(As("reader"));
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::Event>>> streams;
  for (int i = 0; i < controller::kMaxFollowers; ++i) {
    contexts.push_back(Context());
    streams.push_back(stub->FollowEvents(contexts.back().get(), v1::FollowEventsRequest()));
    streams.back()->WaitForInitialMetadata();  // sent once the stream holds its slot
  }
  EXPECT_EQ(MetricValue(Metrics(controller_->admin_port()), "layerseal_controller_followers"),
            controller::kMaxFollowers);
  auto ctx = Context();
  auto refused = stub->FollowEvents(ctx.get(), v1::FollowEventsRequest());
  v1::Event e;
  EXPECT_FALSE(refused->Read(&e));
  grpc::Status s = refused->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find("kMaxFollowers"), std::string::npos) << s.error_message();
  for (size_t i = 0; i < streams.size(); ++i) {
    contexts[i]->TryCancel();
    while (streams[i]->Read(&e)) {
    }
    streams[i]->Finish();
  }
}

TEST_F(ControllerTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(As("reader"));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = health->Check(Context().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  absl::StatusOr<RunResult> ready =
      layerseal::testing::Run({"curl", "-sf", StrCat("http://127.0.0.1:", controller_->admin_port(), "/readyz")});
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->exit_code, 0) << ready->out << ready->err;
}

TEST_F(ControllerTest, WebPageIsServedOnTheWebPort) {
  ASSERT_TRUE(Report(As("node-a"), Batch("node-a", 4001, 1, "DENY")).ok());
  std::string base = StrCat("http://127.0.0.1:", controller_->web_port());
  absl::StatusOr<RunResult> page = layerseal::testing::Run({"curl", "-sf", base + "/"});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->exit_code, 0) << page->err;
  EXPECT_NE(page->out.find("<html"), std::string::npos);
  absl::StatusOr<RunResult> events =
      layerseal::testing::Run({"curl", "-sf", base + "/api/events?node=node-a&verdict=DENY"});
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->exit_code, 0) << events->err;
  EXPECT_NE(events->out.find("\"4001\""), std::string::npos) << events->out;  // uint64 as JSON string
}

// Issue 14 item 1 (DNS rebinding): a page on evil.example that rebinds its name to the
// controller's address sends "Host: evil.example"; neither listener answers it.
TEST_F(ControllerTest, WebAndAdminRefuseAForeignHost) {
  std::string web = StrCat("http://127.0.0.1:", controller_->web_port());
  std::string admin = StrCat("http://127.0.0.1:", controller_->admin_port());
  for (const std::string& url : {web + "/", web + "/api/events", admin + "/metrics",
                                 admin + "/readyz"}) {
    CurlAnswer evil = Curl({"-H", "Host: evil.example", url});
    EXPECT_EQ(evil.status, 421) << url;
    EXPECT_NE(evil.body.find("\"evil.example\" is not served here"), std::string::npos)
        << url << ": " << evil.body;
    EXPECT_EQ(Curl({"-H", "Host: localhost", url}).status, 200) << url;
  }
  // The web listener serves no probes, the admin listener no events.
  EXPECT_EQ(Curl({web + "/healthz"}).status, 404);
  EXPECT_EQ(Curl({admin + "/api/events"}).status, 404);
}

// Issue 14 item 2: slow clients fill every thread of the web listener (from four addresses,
// so the per-peer limit does not save it), yet /healthz and /readyz on the admin listener
// answer within a second each; past the request deadline the web listener has closed them
// and serves again.
TEST_F(ControllerTest, SlowWebClientsCannotStarveTheProbes) {
  constexpr int kPerPeer = controller::kWebHttpMaxConnectionsPerPeer;
  constexpr int kSeconds = telemetry::kAdminHttpRequestDeadlineSeconds + 20;  // drip bound
  std::vector<std::unique_ptr<layerseal::testing::SlowClients>> slow;
  for (const char* peer : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    slow.push_back(std::make_unique<layerseal::testing::SlowClients>(
        peer, controller_->web_port(), kPerPeer, kSeconds));
    for (int fd : slow.back()->fds()) ASSERT_GE(fd, 0);
  }
  absl::SleepFor(absl::Seconds(2));  // they now hold every web thread
  std::string web = StrCat("http://127.0.0.1:", controller_->web_port(), "/");
  EXPECT_EQ(Curl({web}, 2).status, 0) << "the web listener should be full";
  for (int i = 0; i < 3; ++i) {
    for (const char* path : {"/healthz", "/readyz"}) {
      CurlAnswer probe = Curl({StrCat("http://127.0.0.1:", controller_->admin_port(), path)});
      EXPECT_EQ(probe.status, 200) << path;
      EXPECT_LT(probe.seconds, 1.0) << path << " while the web listener is full";
    }
  }
  auto by = std::chrono::seconds(telemetry::kAdminHttpRequestDeadlineSeconds + 5);
  for (const auto& clients : slow) {
    for (int fd : clients->fds()) {
      EXPECT_TRUE(layerseal::testing::ClosedWithin(
          fd, std::chrono::duration_cast<std::chrono::milliseconds>(by)));
    }
  }
  slow.clear();
  EXPECT_EQ(Curl({web}).status, 200);
}

TEST_F(ControllerTest, MetricsCountBatchesEventsAndLag) {
  auto channel = As("node-a");
  v1::ReportEventsRequest batch = Batch("node-a", 3001, 2);
  // The oldest event of the batch is an hour old: the node lags about an hour.
  batch.mutable_events(0)->set_time_unix_micros(absl::ToUnixMicros(absl::Now() - absl::Hours(1)));
  std::string before = Metrics(controller_->admin_port());
  ASSERT_TRUE(Report(channel, batch).ok());
  std::string after = Metrics(controller_->admin_port());
  EXPECT_EQ(MetricValue(after, "layerseal_controller_events_received_total"),
            MetricValue(before, "layerseal_controller_events_received_total") + 2);
  EXPECT_EQ(MetricValue(after, "layerseal_controller_batches_total"),
            MetricValue(before, "layerseal_controller_batches_total") + 1);
  EXPECT_EQ(MetricValue(after, "layerseal_controller_events_stored"),
            MetricValue(before, "layerseal_controller_events_stored") + 2);
  double lag = MetricValue(after, "layerseal_controller_node_lag_seconds{node=\"node-a\"}");
  EXPECT_GE(lag, 3600);
  EXPECT_LT(lag, 2 * 3600);
  EXPECT_GE(MetricValue(after, "layerseal_controller_ingest_seconds_count"), 1);
}

// ---- Processes of their own: restart, retention, configuration ----

class ControllerLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir_.path(), {"node-a"}, {"reader"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  TempDir dir_;
  TlsCerts certs_;
};

TEST_F(ControllerLifecycleTest, RestartKeepsDataAndClientsReconnect) {
  ControllerProcess controller(certs_, StrCat("sqlite:", dir_.File("events.db")),
                               dir_.File("controller.log"));
  ASSERT_NO_FATAL_FAILURE(controller.Start());
  auto agent = Connect(controller.target(), certs_, certs_.client.at("node-a"));
  v1::ReportEventsRequest all = Batch("node-a", 1, 15);
  v1::ReportEventsRequest first = all, again = all;  // 1..10, then 6..15 (5 resent as they were)
  first.mutable_events()->DeleteSubrange(10, 5);
  again.mutable_events()->DeleteSubrange(0, 5);
  ASSERT_TRUE(Report(agent, first).ok());

  // A follower is connected when the controller stops.
  auto reader = Connect(controller.target(), certs_, certs_.client.at("reader"));
  auto query = v1::EventQuery::NewStub(reader);
  auto ctx = Context();
  v1::FollowEventsRequest follow;
  auto stream = query->FollowEvents(ctx.get(), follow);
  stream->WaitForInitialMetadata();

  controller.Stop();  // SIGTERM
  v1::Event e;
  while (stream->Read(&e)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
  std::string log = ReadFileOrDie(controller.log());
  EXPECT_NE(log.find("\"controller stopped\""), std::string::npos) << log;

  ASSERT_NO_FATAL_FAILURE(controller.Start());  // same port, same database
  // The same channels: gRPC reconnects (the calls wait for ready).
  std::vector<v1::Event> events = QueryAll(reader, NodeFilter("node-a"));
  EXPECT_EQ(events.size(), 10u);
  v1::ReportEventsResponse resp;
  ASSERT_TRUE(Report(agent, again, &resp).ok());
  EXPECT_EQ(resp.stored(), 5u);
  EXPECT_EQ(resp.duplicates(), 5u);
  EXPECT_EQ(QueryAll(reader, NodeFilter("node-a")).size(), 15u);
  std::string metrics = Metrics(controller.admin_port());
  EXPECT_EQ(MetricValue(metrics, "layerseal_controller_events_stored"), 15);
}

// Issue 14.7: a damaged SQLite file is never silent: found while running or at start, the
// controller is not ready, says so in a metric and names the file in its log and errors.
TEST_F(ControllerLifecycleTest, DamagedSqliteFileMakesItNotReadyAndIsNamed) {
  std::string db = dir_.File("events.db");
  auto ready_code = [](int port) {
    absl::StatusOr<RunResult> r = layerseal::testing::Run(
        {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         StrCat("http://127.0.0.1:", port, "/readyz")});
    return r.ok() ? r->out : "curl failed";
  };
  {
    ControllerProcess controller(certs_, StrCat("sqlite:", db), dir_.File("controller-1.log"));
    ASSERT_NO_FATAL_FAILURE(controller.Start());
    auto agent = Connect(controller.target(), certs_, certs_.client.at("node-a"));
    for (int first = 1; first <= 3000; first += 500) {
      ASSERT_TRUE(Report(agent, Batch("node-a", static_cast<uint64_t>(first), 500)).ok());
    }
  }  // stopped: the WAL is checkpointed into the file

  // Damage while running: a zeroed page of the events table.
  ControllerProcess running(certs_, StrCat("sqlite:", db), dir_.File("controller-2.log"));
  ASSERT_NO_FATAL_FAILURE(running.Start());
  EXPECT_EQ(ready_code(running.admin_port()), "200");
  EXPECT_EQ(MetricValue(Metrics(running.admin_port()), "layerseal_controller_store_damaged"), 0);
  absl::StatusOr<int64_t> page = layerseal::testing::MiddleLeafPage(db, "events");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_TRUE(layerseal::testing::ZeroSqlitePage(db, *page).ok());
  auto stub = v1::EventQuery::NewStub(
      Connect(running.target(), certs_, certs_.client.at("reader")));
  v1::QueryEventsRequest req;
  req.set_page_size(1000);
  grpc::Status queried;
  size_t got = 0;
  do {
    v1::QueryEventsResponse resp;
    queried = stub->QueryEvents(Context().get(), req, &resp);
    got += static_cast<size_t>(resp.events_size());
    req.set_page_token(resp.next_page_token());
  } while (queried.ok() && !req.page_token().empty());
  ASSERT_FALSE(queried.ok()) << "returned " << got << " of 3000 events, no error";
  EXPECT_EQ(queried.error_code(), grpc::StatusCode::DATA_LOSS) << queried.error_message();
  EXPECT_NE(queried.error_message().find(db), std::string::npos) << queried.error_message();
  EXPECT_EQ(ready_code(running.admin_port()), "503");
  EXPECT_EQ(MetricValue(Metrics(running.admin_port()), "layerseal_controller_store_damaged"), 1);
  std::string log = ReadFileOrDie(running.log());
  EXPECT_NE(log.find("the event store is damaged"), std::string::npos) << log;
  EXPECT_NE(log.find(db), std::string::npos) << log;
  running.Stop();

  // Damage found at start (the open check), then a zeroed header page: up, never ready.
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      ASSERT_TRUE(layerseal::testing::ZeroSqlitePage(db, 1).ok());
    }
    std::string log_path = dir_.File(StrCat("controller-start-", round, ".log"));
    ControllerProcess starting(certs_, StrCat("sqlite:", db), log_path);
    ASSERT_NO_FATAL_FAILURE(starting.Start());
    EXPECT_EQ(ready_code(starting.admin_port()), "503") << round;
    EXPECT_EQ(MetricValue(Metrics(starting.admin_port()), "layerseal_controller_store_damaged"), 1)
        << round;
    log = ReadFileOrDie(log_path);
    EXPECT_NE(log.find("the event store is damaged"), std::string::npos) << log;
    EXPECT_NE(log.find(db), std::string::npos) << log;
    // An agent's batch is refused (it keeps the events), not acknowledged into the damage.
    auto agent = Connect(starting.target(), certs_, certs_.client.at("node-a"));
    grpc::Status reported = Report(agent, Batch("node-a", 5000, 1));
    EXPECT_EQ(reported.error_code(), grpc::StatusCode::DATA_LOSS) << reported.error_message();
  }
}

TEST_F(ControllerLifecycleTest, RetentionPrunesOldEvents) {
  ControllerProcess controller(certs_, StrCat("sqlite:", dir_.File("events.db")),
                               dir_.File("controller.log"),
                               {"--retention", "1s", "--prune-interval", "100ms"});
  ASSERT_NO_FATAL_FAILURE(controller.Start());
  auto agent = Connect(controller.target(), certs_, certs_.client.at("node-a"));
  v1::ReportEventsResponse resp;
  ASSERT_TRUE(Report(agent, Batch("node-a", 1, 3), &resp).ok());
  EXPECT_EQ(resp.stored(), 3u);
  absl::Time deadline = absl::Now() + kPatience;
  std::string metrics;
  while (absl::Now() < deadline) {
    metrics = Metrics(controller.admin_port());
    if (MetricValue(metrics, "layerseal_controller_pruned_events_total") >= 3) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(MetricValue(metrics, "layerseal_controller_pruned_events_total"), 3) << metrics;
  EXPECT_TRUE(QueryAll(Connect(controller.target(), certs_, certs_.client.at("reader")),
                       NodeFilter("node-a"))
                  .empty());
  std::string log = ReadFileOrDie(controller.log());
  EXPECT_NE(log.find("\"pruned old events\""), std::string::npos) << log;
}

TEST_F(ControllerLifecycleTest, BadConfigurationIsRefusedWithItsName) {
  std::string config = dir_.File("controller.yaml");
  WriteFileOrDie(config, "listen: 127.0.0.1:0\nretension: 1h\n");
  absl::StatusOr<RunResult> r = layerseal::testing::Run({ControllerBinary(), "--config", config});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("retension: unknown key"), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--listen", "0.0.0.0:7443", "--insecure"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("insecure: refused"), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--http", "127.0.0.1:7080"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("replaced by two keys: web"), std::string::npos) << r->err;

  // The web page and API in plain HTTP beyond loopback: refused (issue 14 item 3).
  r = layerseal::testing::Run({ControllerBinary(), "--tls-cert", certs_.server.cert, "--tls-key",
                               certs_.server.key, "--client-ca", certs_.ca.cert, "--web",
                               "0.0.0.0:7080"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("web: refused on \"0.0.0.0:7080\""), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--retain", "1h"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("unknown flag --retain"), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("tlsCert is required"), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--tls-cert", dir_.File("missing.pem"), "--tls-key", certs_.server.key,
           "--client-ca", certs_.ca.cert, "--database", StrCat("sqlite:", dir_.File("x.db")),
           "--listen", "127.0.0.1:0", "--admin", "", "--web", ""});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("missing.pem"), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--insecure", "--listen", "127.0.0.1:0",
                               "--log-level", "loud"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("logLevel"), std::string::npos) << r->err;

  r = layerseal::testing::Run({ControllerBinary(), "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_NE(r->out.find("--client-ca"), std::string::npos);
}

// Issue 14 item 3: with webTls the web page and API speak only HTTPS and answer only a
// client certificate from the client CA with the reader role.
TEST_F(ControllerLifecycleTest, WebTlsServesReadersOnly) {
  absl::StatusOr<CertKey> reader = AddClientCert(certs_, "alice", false, "layerseal:readers");
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<CertKey> node = AddClientCert(certs_, "node-z", false, "layerseal:nodes");
  ASSERT_TRUE(node.ok()) << node.status();
  absl::StatusOr<CertKey> stranger = AddClientCert(certs_, "eve", true, "layerseal:readers");
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  ControllerProcess controller(certs_, StrCat("sqlite:", dir_.File("events.db")),
                               dir_.File("controller.log"), {"--web-tls"});
  ASSERT_NO_FATAL_FAILURE(controller.Start());
  std::string url = StrCat("https://127.0.0.1:", controller.web_port(), "/api/events");
  auto as = [&](const CertKey& who) {
    return std::vector<std::string>{"--cacert", certs_.ca.cert, "--cert", who.cert, "--key",
                                    who.key, url};
  };
  CurlAnswer anonymous = Curl({"--cacert", certs_.ca.cert, url});
  EXPECT_EQ(anonymous.status, 0) << "no client certificate: no handshake";
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_EQ(Curl(as(*stranger)).status, 0) << "a certificate from another CA";
  CurlAnswer as_node = Curl(as(*node));
  EXPECT_EQ(as_node.status, 403);
  EXPECT_NE(as_node.body.find("readers"), std::string::npos) << as_node.body;
  CurlAnswer as_reader = Curl(as(*reader));
  EXPECT_EQ(as_reader.status, 200) << as_reader.body;
  EXPECT_FALSE(as_reader.body.empty());
  std::vector<std::string> rebound = as(*reader);
  rebound.insert(rebound.begin(), {"-H", "Host: evil.example"});
  EXPECT_EQ(Curl(rebound).status, 421);
  // Plain HTTP to the HTTPS port gets no HTTP answer.
  CurlAnswer plain = Curl({StrCat("http://127.0.0.1:", controller.web_port(), "/api/events")});
  EXPECT_EQ(plain.status, 0) << plain.body;
  EXPECT_EQ(plain.body.find("{"), std::string::npos) << plain.body;
}

TEST_F(ControllerLifecycleTest, InsecureModeOnLoopbackForDevelopment) {
  int port = PickFreePort();
  std::unique_ptr<Child> child;
  {
    absl::StatusOr<std::unique_ptr<Child>> c = Child::Spawn(
        {ControllerBinary(), "--insecure", "--listen", StrCat("127.0.0.1:", port), "--admin", "", "--web", "",
         "--database", StrCat("sqlite:", dir_.File("dev.db"))},
        dir_.File("dev.log"));
    ASSERT_TRUE(c.ok()) << c.status();
    child = std::move(*c);
  }
  ASSERT_TRUE(WaitForPort(port, kPatience)) << ReadFileOrDie(dir_.File("dev.log"));
  auto channel = grpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  v1::ReportEventsResponse resp;
  grpc::Status s = Report(channel, Batch("laptop", 1, 1), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.stored(), 1u);
  EXPECT_NE(ReadFileOrDie(dir_.File("dev.log")).find("INSECURE MODE"), std::string::npos);
}

// admin and web on the IPv6 loopback, written "[::1]:port" (the brackets are not part of the
// host: before base/host_port.h the controller tried to bind "[::1]" and could not start).
TEST_F(ControllerLifecycleTest, AdminAndWebListenOnBracketedIpv6Loopback) {
  int admin = PickFreePort();
  int web = PickFreePort();
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(
      {ControllerBinary(), "--insecure", "--listen", StrCat("127.0.0.1:", PickFreePort()),
       "--admin", StrCat("[::1]:", admin), "--web", StrCat("[::1]:", web), "--database",
       StrCat("sqlite:", dir_.File("v6.db"))},
      dir_.File("v6.log"));
  ASSERT_TRUE(child.ok()) << child.status();
  for (int port : {admin, web}) {
    std::string url = StrCat("http://[::1]:", port, port == admin ? "/healthz" : "/");
    absl::Time deadline = absl::Now() + kPatience;
    for (;;) {
      absl::StatusOr<RunResult> r =
          layerseal::testing::Run({"curl", "-gsf", "-o", "/dev/null", url}, "", absl::Seconds(10));
      if (r.ok() && r->exit_code == 0) break;
      ASSERT_TRUE((*child)->Running()) << "the controller exited:\n" << ReadFileOrDie(dir_.File("v6.log"));
      ASSERT_LT(absl::Now(), deadline) << url << "\n" << ReadFileOrDie(dir_.File("v6.log"));
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
}

// ---- PostgreSQL ----

TEST(ControllerPostgresTest, StoresQueriesAndSurvivesARestart) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> pg = PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("layerseal").ok());
  TempDir dir;
  absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir.path(), {"node-a"}, {"reader"});
  ASSERT_TRUE(certs.ok()) << certs.status();
  ControllerProcess controller(*certs, (*pg)->Url("layerseal"), dir.File("controller.log"));
  ASSERT_NO_FATAL_FAILURE(controller.Start());
  auto channel = Connect(controller.target(), *certs, certs->client.at("node-a"));
  v1::ReportEventsResponse resp;
  v1::ReportEventsRequest batch = Batch("node-a", 1, 5, "DENY");
  SetKeyless(*batch.mutable_events(2), "https://accounts.example", "ci@team.example", 42);
  grpc::Status s = Report(channel, batch, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message() << ReadFileOrDie(controller.log());
  EXPECT_EQ(resp.stored(), 5u);
  ASSERT_TRUE(Report(channel, batch, &resp).ok());  // resent as it was
  EXPECT_EQ(resp.duplicates(), 5u);
  v1::ReportEventsRequest spoiled = Batch("node-a", 6, 3);
  spoiled.mutable_events(2)->set_seq(0);
  EXPECT_EQ(Report(channel, spoiled).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  controller.Stop();
  ASSERT_NO_FATAL_FAILURE(controller.Start());
  v1::EventFilter f = NodeFilter("node-a");
  f.set_verdict("DENY");
  std::vector<v1::Event> events =
      QueryAll(Connect(controller.target(), *certs, certs->client.at("reader")), f);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.front().seq(), 5u);
  // Issue 17's signer filter against PostgreSQL, through the controller.
  v1::EventFilter signer;
  signer.set_signer("ci@team.example");
  events = QueryAll(Connect(controller.target(), *certs, certs->client.at("reader")), signer);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq(), 3u);
  EXPECT_EQ(events[0].verdict().rekor_log_index(), 42);
}

}  // namespace
}  // namespace layerseal::testing
