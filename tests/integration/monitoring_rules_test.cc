// Issue 19's alerts and dashboard against the metrics the binaries really export: the real
// `layerseal-controller` and `layerseal-agent` (in front of a real containerd pulling from a
// real docker-registry, the agent reporting to the controller over mutual TLS, as
// delivery_e2e_test and sweep_e2e_test start them) make allow and deny verdicts, Revalidation
// findings and a container stopped by `onRevoked: stop`; Debian's Prometheus scrapes both on
// loopback with the labels the chart's PodMonitor and ScrapeConfig give them
// (job="layerseal-controller", job="layerseal-agent" with node=<node>) and loads
// packaging/helm/layerseal/files/monitoring/alerts.yaml as its rule file. Then:
//   - promtool checks the rule file and runs its unit tests (alerts_test.yaml);
//   - every alert's expression and every dashboard query (dashboard.json, its variables
//     substituted as Grafana would) is run through Prometheus's query API and must succeed,
//     and every metric name it uses must have series in Prometheus and be in a binary's
//     /metrics (equality label matchers too: a misspelt label value is as silent as a
//     misspelt name). A name the binaries do not export fails the test;
//   - of the alerts, exactly the sweep's fire: the node is otherwise healthy;
//   - docs/observability.md lists every metric either binary exports.
// Everything starts once for the suite (about 30 s). Regenerate docs/images/prometheus-alerts.png
// from the source root (one line):
//   LAYERSEAL_PROMETHEUS_SCREENSHOT=$PWD/docs/images/prometheus-alerts.png
//     build/tests/monitoring_rules_test --gtest_filter='*Screenshot*'
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/kube_node.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "tests/support/tls_certs.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;
using ::testing::IsEmpty;

constexpr char kNode[] = "node-monitoring";
constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr char kChromium[] = "/usr/bin/chromium";
// Waits on a loaded machine: the sweep's findings, deliveries, Prometheus's scrapes.
constexpr absl::Duration kSettleTimeout = absl::Seconds(45);

std::string MonitoringDir() {
  return StrCat(LAYERSEAL_SOURCE_DIR, "/packaging/helm/layerseal/files/monitoring");
}

// The alerts Prometheus should show for the suite's node: the sweep's findings, nothing else.
const std::set<std::string>& ExpectedAlerts() {
  static const std::set<std::string> kExpected = {"LayersealSweepFoundRevokedContainers",
                                                  "LayersealSweepFoundRevokedImages"};
  return kExpected;
}

class MonitoringRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    other_key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
    StartServers();
    if (::testing::Test::HasFatalFailure()) return;
    MakeVerdicts();
    if (::testing::Test::HasFatalFailure()) return;
    StartPrometheus();
    if (::testing::Test::HasFatalFailure()) return;
    ready_ = true;
  }
  static void TearDownTestSuite() {
    prometheus_.reset();
    if (containerd_ != nullptr) {
      testing::CriClient direct(containerd_->socket());
      for (const std::string& id : *sandboxes_) direct.RemovePodSandbox(id);
    }
    client_.reset();
    agent_.reset();
    controller_.reset();
    delete containerd_;
    delete registry_;
    delete key_;
    delete other_key_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's setup failed"; }

  // --- setup ---
  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  static void Push(const std::string& repo_tag, const std::string& seed) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::Status pushed = testing::PushTestImage(
        client, *Reference::Parse(Ref(repo_tag)),
        testing::SealTestImage(testing::StandInImage(seed, {"/bin/sleep", "2147483647"}), *key_));
    ASSERT_TRUE(pushed.ok()) << repo_tag << ": " << pushed;
  }
  // The local registry signed by `key` (ci or other); anything else is rejected.
  static std::string Policy(const std::string& key, const std::string& extra = "") {
    return StrCat("version: 1\nkeys:\n  ci: {path: ", dir_->File("ci.pub"), "}\n  other: {path: ",
                  dir_->File("other.pub"), "}\ndefault: {requirement: reject}\nscopes:\n  \"",
                  registry_->host(), "\": {requirement: signed, keys: [", key, "]", extra, "}\n");
  }
  static void Replace(const std::string& path, const std::string& text) {
    testing::WriteFileOrDie(path + ".new", text);
    std::filesystem::rename(path + ".new", path);
  }

  static void StartServers() {
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry = testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    Push("pause:1", "monitoring-pause");
    Push("monitoring/app:1", "monitoring-app");
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true,
                                          .plain_http_registries = {registry_->host()},
                                          .sandbox_image = Ref("pause:1")});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();

    absl::StatusOr<testing::TlsCerts> certs = testing::MakeTlsCerts(dir_->path(), {kNode});
    ASSERT_TRUE(certs.ok()) << certs.status();
    controller_grpc_ = testing::PickFreePort();
    controller_admin_ = testing::PickFreePort();
    absl::StatusOr<std::unique_ptr<testing::Child>> controller = testing::Child::Spawn(
        {LAYERSEAL_CONTROLLER_BINARY, "--listen", StrCat("127.0.0.1:", controller_grpc_),
         "--tls-cert", certs->server.cert, "--tls-key", certs->server.key, "--client-ca",
         certs->ca.cert, "--database", StrCat("sqlite://", dir_->File("events.db")), "--admin",
         StrCat("127.0.0.1:", controller_admin_), "--web", ""},
        dir_->File("controller.log"));
    ASSERT_TRUE(controller.ok()) << controller.status();
    controller_ = *std::move(controller);
    ASSERT_TRUE(testing::WaitForPort(controller_admin_, absl::Seconds(20)))
        << testing::ReadFileOrDie(dir_->File("controller.log"));

    // The node policy reports revoked containers; namespace "team"'s stops them.
    testing::WriteFileOrDie(dir_->File("ci.pub"), key_->public_key().ToPem());
    testing::WriteFileOrDie(dir_->File("other.pub"), other_key_->public_key().ToPem());
    std::filesystem::create_directories(dir_->File("namespaces"));
    testing::WriteFileOrDie(dir_->File("policy.yaml"), Policy("ci"));
    testing::WriteFileOrDie(dir_->File("namespaces/team.yaml"), Policy("ci", ", onRevoked: stop"));
    agent_admin_ = testing::PickFreePort();
    const testing::CertKey& client = certs->client.at(kNode);
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
        {"--listen", dir_->File("agent.sock"), "--runtime-endpoint", containerd_->socket(),
         "--policy", dir_->File("policy.yaml"), "--namespace-policy-dir", dir_->File("namespaces"),
         "--state-dir", dir_->File("state"), "--node-name", kNode, "--admin",
         StrCat("127.0.0.1:", agent_admin_), "--health-socket", "", "--plain-http-registry",
         registry_->host(), "--policy-check-interval", "200ms", "--sweep-stop-grace-period", "2s",
         "--controller", StrCat("127.0.0.1:", controller_grpc_), "--controller-ca", certs->ca.cert,
         "--controller-cert", client.cert, "--controller-key", client.key},
        {}, agent_admin_, dir_->File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    client_ = std::make_unique<testing::CriClient>(dir_->File("agent.sock"));
  }

  // Pulls the app and runs it in a new host-network pod of namespace `ns`, through the agent.
  static void RunApp(const std::string& ns, const std::string& pod) {
    std::string image_ref, sandbox_id, container_id;
    grpc::Status pulled = client_->Pull(Ref("monitoring/app:1"), &image_ref, ns);
    ASSERT_TRUE(pulled.ok()) << pulled.error_message() << AgentLog();
    cri::PodSandboxConfig config = testing::CriClient::HostNetworkPod(ns, pod, StrCat("uid-", pod));
    grpc::Status ran = client_->RunPodSandbox(config, &sandbox_id);
    ASSERT_TRUE(ran.ok()) << ran.error_message();
    sandboxes_->push_back(sandbox_id);
    grpc::Status created = client_->CreateContainerIn(sandbox_id, config, image_ref, "app", &container_id);
    ASSERT_TRUE(created.ok()) << created.error_message() << AgentLog();
    grpc::Status started = client_->StartContainer(container_id);
    ASSERT_TRUE(started.ok()) << started.error_message();
  }

  // Verdicts of both kinds in two namespaces, then a key change whose sweep finds the
  // running containers: reported in "default", stopped in "team".
  static void MakeVerdicts() {
    RunApp("default", "web");
    if (::testing::Test::HasFatalFailure()) return;
    RunApp("team", "locked");
    if (::testing::Test::HasFatalFailure()) return;
    grpc::Status denied = client_->Pull("elsewhere.example/unsigned:1", nullptr, "team");
    ASSERT_NE(denied.error_message().find("layerseal denied"), std::string::npos)
        << denied.error_message();
    Replace(dir_->File("policy.yaml"), Policy("other"));
    Replace(dir_->File("namespaces/team.yaml"), Policy("other", ", onRevoked: stop"));
    ASSERT_TRUE(testing::PollUntil(kSettleTimeout, [] {
      std::optional<std::string> text = testing::ScrapeMetrics(agent_admin_);
      return text &&
             testing::MetricValue(*text, "layerseal_sweep_containers_not_admitted{namespace=\"default\","
                                         "reason=\"UNTRUSTED_KEY\"}") == 1 &&
             testing::MetricValue(*text, "layerseal_sweep_containers_stopped_total{result=\"ok\"}") == 1;
    })) << AgentLog();
    // Every event delivered: the spool is empty and the controller has stored events.
    ASSERT_TRUE(testing::PollUntil(kSettleTimeout, [] {
      std::optional<std::string> agent = testing::ScrapeMetrics(agent_admin_);
      std::optional<std::string> controller = testing::ScrapeMetrics(controller_admin_);
      return agent && controller &&
             testing::MetricValue(*agent, "layerseal_agent_spool_events") == 0 &&
             testing::MetricValue(*controller, "layerseal_controller_events_stored").value_or(0) >= 5;
    })) << AgentLog() << testing::ReadFileOrDie(dir_->File("controller.log"));
  }

  // Prometheus on loopback with the chart's job names and labels, the rule file as it is in
  // the chart, a scrape and an evaluation every second.
  static void StartPrometheus() {
    prometheus_port_ = testing::PickFreePort();
    std::string config = StrCat(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        "rule_files: ['", MonitoringDir(), "/alerts.yaml']\n"
        "scrape_configs:\n"
        "  - job_name: layerseal-controller\n"
        "    static_configs: [{targets: ['127.0.0.1:", controller_admin_, "']}]\n"
        "  - job_name: layerseal-agent\n"
        "    static_configs: [{targets: ['127.0.0.1:", agent_admin_, "'], labels: {node: ", kNode,
        "}}]\n");
    testing::WriteFileOrDie(dir_->File("prometheus.yml"), config);
    absl::StatusOr<std::unique_ptr<testing::Child>> prometheus = testing::Child::Spawn(
        {kPrometheus, StrCat("--config.file=", dir_->File("prometheus.yml")),
         StrCat("--storage.tsdb.path=", dir_->File("prometheus-data")),
         StrCat("--web.listen-address=127.0.0.1:", prometheus_port_)},
        dir_->File("prometheus.log"));
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = *std::move(prometheus);
    ASSERT_TRUE(testing::WaitForPort(prometheus_port_, absl::Seconds(30))) << PrometheusLog();
    // Both targets up for a few scrapes (rate() needs two samples), and the rules evaluated.
    ASSERT_TRUE(testing::PollUntil(kSettleTimeout, [] {
      json r = Api("/api/v1/query",
                   {{"query", "count_over_time(up[1m]) >= 4 and up == 1"}});
      return r.value("status", "") == "success" && r["data"]["result"].size() == 2;
    })) << PrometheusLog();
  }

  // --- reading ---
  static std::string AgentLog() { return testing::ReadFileOrDie(dir_->File("agent.log")); }
  static std::string PrometheusLog() { return testing::ReadFileOrDie(dir_->File("prometheus.log")); }

  // GET of Prometheus's HTTP API `path` with URL-encoded `params` (curl, an independent
  // client), parsed; {"status": "curl failed"} when it cannot be fetched.
  static json Api(const std::string& path, const std::vector<std::pair<std::string, std::string>>& params) {
    std::vector<std::string> argv = {"curl", "-s", "-G"};
    for (const auto& [k, v] : params) {
      argv.push_back("--data-urlencode");
      argv.push_back(StrCat(k, "=", v));
    }
    argv.push_back(StrCat("http://127.0.0.1:", prometheus_port_, path));
    absl::StatusOr<testing::RunResult> r = testing::Run(argv, "", absl::Seconds(20));
    if (!r.ok() || r->exit_code != 0) return json{{"status", "curl failed"}};
    json j = json::parse(r->out, nullptr, /*allow_exceptions=*/false);
    return j.is_object() ? j : json{{"status", "not JSON"}, {"body", r->out}};
  }

  // Runs `query` (an instant query); returns what is wrong with it: "" when it succeeded.
  static std::string QueryError(const std::string& query) {
    json r = Api("/api/v1/query", {{"query", query}});
    if (r.value("status", "") == "success") return "";
    return StrCat("query failed: ", r.dump(), "\n  in: ", query);
  }

  // The metric names `expr` uses: layerseal's own, and Prometheus's `up`.
  static std::set<std::string> MetricNames(const std::string& expr) {
    std::set<std::string> names;
    std::regex name_re("\\b(layerseal_[a-zA-Z0-9_:]+|up(?=\\s*\\{))");
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name_re); it != std::sregex_iterator();
         ++it) {
      names.insert((*it)[1]);
    }
    return names;
  }

  // What is wrong with the names in `expr`, one line each: a name without series in
  // Prometheus, a layerseal name neither binary's /metrics has (histograms by their _bucket,
  // _sum and _count), an equality matcher name{label="value"} that selects nothing.
  static std::vector<std::string> NameProblems(const std::string& expr) {
    std::vector<std::string> problems;
    std::string exported = StrCat(testing::ScrapeMetrics(agent_admin_).value_or(""), "\n",
                                  testing::ScrapeMetrics(controller_admin_).value_or(""));
    for (const std::string& name : MetricNames(expr)) {
      json r = Api("/api/v1/series", {{"match[]", name}, {"start", StrCat(absl::ToUnixSeconds(absl::Now()) - 600)}});
      if (r.value("status", "") != "success" || r["data"].empty()) {
        problems.push_back(StrCat(name, ": no series in Prometheus (", r.dump(), ")"));
      }
      if (name != "up" && exported.find(StrCat("\n", name, " ")) == std::string::npos &&
          exported.find(StrCat("\n", name, "{")) == std::string::npos) {
        problems.push_back(StrCat(name, ": not in the agent's or the controller's /metrics"));
      }
    }
    std::regex selector_re("\\b(layerseal_[a-zA-Z0-9_:]+|up)\\s*\\{([^}]*)\\}");
    std::regex matcher_re("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*\"([^\"]*)\"");
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), selector_re);
         it != std::sregex_iterator(); ++it) {
      std::string name = (*it)[1], inner = (*it)[2];
      for (auto m = std::sregex_iterator(inner.begin(), inner.end(), matcher_re);
           m != std::sregex_iterator(); ++m) {
        if ((*m)[2] != "=") continue;
        std::string selector = StrCat(name, "{", (*m)[1].str(), "=\"", (*m)[3].str(), "\"}");
        json r = Api("/api/v1/series", {{"match[]", selector}, {"start", StrCat(absl::ToUnixSeconds(absl::Now()) - 600)}});
        if (r.value("status", "") != "success" || r["data"].empty()) {
          problems.push_back(StrCat(selector, ": selects no series"));
        }
      }
    }
    return problems;
  }

  // A dashboard query as Grafana sends it with every node and namespace selected.
  static std::string Substitute(std::string expr) {
    const std::vector<std::pair<std::string, std::string>> vars = {
        {"$__rate_interval", "1m"}, {"$__interval", "15s"}, {"$__range", "5m"},
        {"${node}", ".*"},          {"$node", ".*"},        {"${namespace}", ".*"},
        {"$namespace", ".*"}};
    for (const auto& [var, value] : vars) {
      for (size_t at = expr.find(var); at != std::string::npos; at = expr.find(var, at + value.size())) {
        expr.replace(at, var.size(), value);
      }
    }
    return expr;
  }

  static json Dashboard() {
    std::ifstream in(MonitoringDir() + "/dashboard.json");
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  static testing::TempDir* dir_;
  static PrivateKey* key_;
  static PrivateKey* other_key_;
  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
  static std::unique_ptr<testing::Child> controller_;
  static std::unique_ptr<testing::AgentProcess> agent_;
  static std::unique_ptr<testing::CriClient> client_;
  static std::unique_ptr<testing::Child> prometheus_;
  static std::vector<std::string>* sandboxes_;
  static int controller_grpc_, controller_admin_, agent_admin_, prometheus_port_;
  static bool ready_;
};

testing::TempDir* MonitoringRulesTest::dir_ = nullptr;
PrivateKey* MonitoringRulesTest::key_ = nullptr;
PrivateKey* MonitoringRulesTest::other_key_ = nullptr;
testing::RegistryServer* MonitoringRulesTest::registry_ = nullptr;
testing::ContainerdServer* MonitoringRulesTest::containerd_ = nullptr;
std::unique_ptr<testing::Child> MonitoringRulesTest::controller_;
std::unique_ptr<testing::AgentProcess> MonitoringRulesTest::agent_;
std::unique_ptr<testing::CriClient> MonitoringRulesTest::client_;
std::unique_ptr<testing::Child> MonitoringRulesTest::prometheus_;
std::vector<std::string>* MonitoringRulesTest::sandboxes_ = new std::vector<std::string>;
int MonitoringRulesTest::controller_grpc_ = 0;
int MonitoringRulesTest::controller_admin_ = 0;
int MonitoringRulesTest::agent_admin_ = 0;
int MonitoringRulesTest::prometheus_port_ = 0;
bool MonitoringRulesTest::ready_ = false;

TEST_F(MonitoringRulesTest, PromtoolChecksTheRuleFileAndRunsItsUnitTests) {
  absl::StatusOr<testing::RunResult> check =
      testing::Run({kPromtool, "check", "rules", MonitoringDir() + "/alerts.yaml"});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->exit_code, 0) << check->out << check->err;
  absl::StatusOr<testing::RunResult> unit =
      testing::Run({kPromtool, "test", "rules", MonitoringDir() + "/alerts_test.yaml"});
  ASSERT_TRUE(unit.ok()) << unit.status();
  EXPECT_EQ(unit->exit_code, 0) << unit->out << unit->err;
}

TEST_F(MonitoringRulesTest, EveryAlertRunsOnSeriesTheBinariesExport) {
  // The rules as Prometheus loaded them from the chart's file: as many as the file has.
  std::string file = testing::ReadFileOrDie(MonitoringDir() + "/alerts.yaml");
  size_t in_file = 0;
  for (size_t at = file.find("- alert: "); at != std::string::npos; at = file.find("- alert: ", at + 1)) {
    ++in_file;
  }
  json rules;
  ASSERT_TRUE(testing::PollUntil(kSettleTimeout, [&] {
    rules = Api("/api/v1/rules", {{"type", "alert"}});
    if (rules.value("status", "") != "success") return false;
    for (const json& group : rules["data"]["groups"]) {
      for (const json& rule : group["rules"]) {
        if (rule.value("lastEvaluation", "").rfind("0001-", 0) == 0) return false;  // not yet
      }
    }
    return true;
  })) << rules.dump() << PrometheusLog();
  size_t loaded = 0;
  for (const json& group : rules["data"]["groups"]) {
    for (const json& rule : group["rules"]) {
      ++loaded;
      std::string name = rule.value("name", "");
      std::string query = rule.value("query", "");
      SCOPED_TRACE(name);
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
      EXPECT_EQ(QueryError(query), "");
      EXPECT_THAT(NameProblems(query), IsEmpty()) << query;
      EXPECT_FALSE(MetricNames(query).empty()) << query;
    }
  }
  EXPECT_EQ(loaded, in_file);
  EXPECT_GE(loaded, 10u);
}

TEST_F(MonitoringRulesTest, EveryDashboardQueryRunsOnSeriesTheBinariesExport) {
  json dashboard = Dashboard();
  ASSERT_TRUE(dashboard.is_object()) << "dashboard.json does not parse";
  size_t queries = 0;
  for (const json& panel : dashboard["panels"]) {
    EXPECT_TRUE(panel.value("type", "") == "row" || panel["datasource"]["uid"] == "${datasource}")
        << panel.dump();
    if (!panel.contains("targets")) continue;
    for (const json& target : panel["targets"]) {
      ++queries;
      std::string expr = Substitute(target.value("expr", ""));
      SCOPED_TRACE(StrCat(panel.value("title", ""), ": ", expr));
      EXPECT_EQ(target["datasource"]["uid"], "${datasource}");
      EXPECT_EQ(QueryError(expr), "");
      EXPECT_THAT(NameProblems(expr), IsEmpty());
      EXPECT_FALSE(MetricNames(expr).empty());
    }
  }
  EXPECT_GE(queries, 20u);
  // The variables: the data source, and node and namespace from label_values(metric, label),
  // which must list the suite's node and namespaces.
  std::map<std::string, std::string> wanted = {{"node", kNode}, {"namespace", "team"}};
  std::set<std::string> seen;
  for (const json& var : dashboard["templating"]["list"]) {
    std::string name = var.value("name", "");
    seen.insert(name);
    if (name == "datasource") {
      EXPECT_EQ(var["type"], "datasource");
      EXPECT_EQ(var["query"], "prometheus");
      continue;
    }
    std::string query = var["query"].value("query", "");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(query, m, std::regex("label_values\\((\\w+), *(\\w+)\\)"))) << query;
    EXPECT_THAT(NameProblems(m[1].str()), IsEmpty());
    json values = Api(StrCat("/api/v1/label/", m[2].str(), "/values"), {{"match[]", m[1].str()}});
    ASSERT_EQ(values.value("status", ""), "success") << values.dump();
    EXPECT_THAT(values["data"].get<std::vector<std::string>>(), ::testing::Contains(wanted[name]))
        << name;
  }
  EXPECT_EQ(seen, (std::set<std::string>{"datasource", "node", "namespace"}));
}

// The check itself: a misspelt metric name, a label value no series has, and a name that only
// Prometheus knows are each reported.
TEST_F(MonitoringRulesTest, TheNameCheckCatchesWhatTheBinariesDoNotExport) {
  EXPECT_THAT(NameProblems("rate(layerseal_verdicts_totl[5m]) > 0"),
              ::testing::Contains(::testing::HasSubstr("layerseal_verdicts_totl: no series")));
  EXPECT_THAT(NameProblems("sum(layerseal_verdicts_total{verdict=\"DENIED\"})"),
              ::testing::Contains(::testing::HasSubstr("verdict=\"DENIED\"}: selects no series")));
  EXPECT_THAT(NameProblems("layerseal_verdicts_total{gate!=\"x\"}"), IsEmpty());
  EXPECT_EQ(MetricNames("up{job=\"a\"} == 0 and on() layerseal_x_total"),
            (std::set<std::string>{"up", "layerseal_x_total"}));
}

// docs/observability.md's tables list every metric the two binaries export (as `name`).
TEST_F(MonitoringRulesTest, EveryExportedMetricIsInTheDocs) {
  std::string docs = testing::ReadFileOrDie(StrCat(LAYERSEAL_SOURCE_DIR, "/docs/observability.md"));
  size_t families = 0;
  for (int port : {agent_admin_, controller_admin_}) {
    std::optional<std::string> text = testing::ScrapeMetrics(port);
    ASSERT_TRUE(text.has_value()) << port;
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      std::smatch m;
      if (!std::regex_match(line, m, std::regex("# TYPE (\\S+) \\S+"))) continue;
      ++families;
      EXPECT_NE(docs.find(StrCat("| `", m[1].str(), "` |")), std::string::npos)
          << m[1] << " is not in docs/observability.md";
    }
  }
  EXPECT_GE(families, 30u);
}

// Of the alerts, only the sweep's are active: the revoked containers (the one in namespace
// default that the node policy reports, and the one in team that was stopped, until the next
// sweep sees it gone) and the images; nothing else fires on a healthy node and controller.
TEST_F(MonitoringRulesTest, OnlyTheSweepsAlertsFireAndNameTheRevokedContainer) {
  json alerts;
  std::set<std::string> active;
  ASSERT_TRUE(testing::PollUntil(kSettleTimeout, [&] {
    alerts = Api("/api/v1/alerts", {});
    active.clear();
    for (const json& a : alerts["data"]["alerts"]) {
      if (a.value("state", "") == "firing") active.insert(a["labels"].value("alertname", ""));
    }
    return active == ExpectedAlerts();
  })) << alerts.dump(1);
  std::set<std::string> namespaces;
  for (const json& a : alerts["data"]["alerts"]) {
    if (a["labels"].value("alertname", "") != "LayersealSweepFoundRevokedContainers") continue;
    std::string ns = a["labels"].value("namespace", "");
    namespaces.insert(ns);
    EXPECT_EQ(a["labels"].value("node", ""), kNode);
    EXPECT_EQ(a["labels"].value("reason", ""), "UNTRUSTED_KEY");
    EXPECT_EQ(a["labels"].value("severity", ""), "warning");
    EXPECT_EQ(a["annotations"].value("summary", ""),
              StrCat("1 running containers in ", ns, " on ", kNode,
                     " would no longer be admitted (UNTRUSTED_KEY)"));
  }
  EXPECT_TRUE(namespaces.count("default")) << alerts.dump(1);
  // And none pending either (the rest need more time, but their conditions are false).
  for (const json& a : alerts["data"]["alerts"]) {
    EXPECT_TRUE(ExpectedAlerts().count(a["labels"].value("alertname", ""))) << a.dump();
  }
}

// Prometheus's alerts page (Debian's build serves the classic UI) in headless chromium: it
// lists the firing sweep alert; its picture goes to docs/images/prometheus-alerts.png when
// $LAYERSEAL_PROMETHEUS_SCREENSHOT names it, else to a temp file; either way a PNG.
TEST_F(MonitoringRulesTest, Screenshot) {
  if (access(kChromium, X_OK) != 0) GTEST_SKIP() << "no " << kChromium;
  const std::string url = StrCat("http://127.0.0.1:", prometheus_port_, "/classic/alerts");
  auto chromium = [&](const std::string& action) {
    testing::TempDir profile;
    absl::StatusOr<testing::RunResult> r = testing::Run(
        {kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-proxy-server", "--user-data-dir=" + profile.path(),
         "--virtual-time-budget=5000", "--hide-scrollbars", "--window-size=1280,900", action, url},
        "", absl::Seconds(120));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return std::string();
    EXPECT_EQ(r->exit_code, 0) << r->err;
    return r->out;
  };
  std::string dom = chromium("--dump-dom");
  EXPECT_THAT(dom, ::testing::HasSubstr("LayersealSweepFoundRevokedContainers"));
  EXPECT_THAT(dom, ::testing::HasSubstr("LayersealAgentNotReporting"));
  testing::TempDir tmp;
  const char* env = std::getenv("LAYERSEAL_PROMETHEUS_SCREENSHOT");
  std::string out = env != nullptr && *env != '\0' ? env : tmp.File("prometheus-alerts.png");
  chromium("--screenshot=" + out);
  std::string png = testing::ReadFileOrDie(out);
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
}  // namespace layerseal
