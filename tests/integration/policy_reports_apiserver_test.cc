// PolicyReports against a real kube-apiserver (v1.24, tests/support/kube_apiserver.h): the
// chart's CRD files and ClusterRole applied as they are, the reporter running over the real
// Client as the controller's ServiceAccount identity bound to that role, for both APIs. The
// API server validates every object against the CRD schema (and prunes what the schema does
// not have): the test reads back what it stored and compares it with what the reporter meant
// to write. Also pruning at a small max_results, a newer verdict replacing a result, a report
// deleted by an admin written again, a namespace that does not exist, and the API server down
// then back.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "controller/kube/client.h"
#include "controller/kube/policy_reports.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/kube_apiserver.h"
#include "tests/support/verdict_event.h"

namespace layerseal::controller::kube {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr int64_t kBaseMicros = 1765000000000000;

std::string ChartFile(const std::string& path) {
  return StrCat(LAYERSEAL_SOURCE_DIR, "/packaging/helm/layerseal/files/", path);
}

using testing::VerdictEvent;

class PolicyReportsApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::KubeApiServer>> started =
        testing::KubeApiServer::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = started->release();
    for (const char* crd : {"crds/wgpolicyk8s.io/wgpolicyk8s.io_policyreports.yaml",
                            "crds/wgpolicyk8s.io/wgpolicyk8s.io_clusterpolicyreports.yaml",
                            "crds/openreports.io/openreports.io_reports.yaml",
                            "crds/openreports.io/openreports.io_clusterreports.yaml",
                            "controller-clusterrole.yaml"}) {
      absl::Status applied = server_->ApplyYamlFile(ChartFile(crd));
      ASSERT_TRUE(applied.ok()) << crd << ": " << applied;
    }
    absl::Status bound = server_->BindControllerClusterRole("layerseal-controller");
    ASSERT_TRUE(bound.ok()) << bound;
    for (const char* ns : {"team-a", "team-b", "team-c", "team-d"}) {
      absl::Status made = server_->CreateNamespace(ns);
      ASSERT_TRUE(made.ok()) << made;
    }
    absl::StatusOr<ClientConfig> config = LoadKubeconfig(server_->ControllerKubeconfig());
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(*config);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = client->release();
  }

  static void TearDownTestSuite() {
    delete client_;
    client_ = nullptr;
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the API server did not start";
    ASSERT_NE(client_, nullptr);
  }

  static PolicyReportsOptions Options(ReportApi api, size_t max_results) {
    PolicyReportsOptions o;
    o.transport = client_;
    o.api = api;
    o.max_results = max_results;
    o.retry.max_attempts = 2;
    o.retry.backoff = BackoffOptions{absl::Milliseconds(50), absl::Milliseconds(200), true};
    o.retry.deadline = absl::Seconds(20);
    return o;
  }

  static std::string ItemPath(ReportApi api, const std::string& ns) {
    return api == ReportApi::kOpenReports
               ? StrCat("/apis/openreports.io/v1alpha1/namespaces/", ns, "/reports/layerseal")
               : StrCat("/apis/wgpolicyk8s.io/v1alpha2/namespaces/", ns,
                        "/policyreports/layerseal");
  }

  // The report as the API server stores it (read as admin); null when there is none.
  static json Stored(ReportApi api, const std::string& ns) {
    absl::StatusOr<json> got = server_->Admin("GET", ItemPath(api, ns));
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
      return json();
    }
    return *got;
  }

  // What the API server kept is exactly what the reporter wrote: nothing pruned by the
  // schema, nothing refused.
  static void ExpectStoredAsWritten(ReportApi api, const std::string& ns,
                                    const PolicyReporter& reporter) {
    json stored = Stored(api, ns);
    ASSERT_TRUE(stored.is_object()) << "no report in " << ns;
    json meant = ReportObject(api, ns, reporter.Results(ns));
    EXPECT_EQ(stored["apiVersion"], meant["apiVersion"]);
    EXPECT_EQ(stored["kind"], meant["kind"]);
    EXPECT_EQ(stored["metadata"]["labels"], meant["metadata"]["labels"]);
    EXPECT_EQ(stored["results"], meant["results"]);
    EXPECT_EQ(stored["summary"], meant["summary"]);
    EXPECT_EQ(stored.value("source", json()), meant.value("source", json()));
  }

  static testing::KubeApiServer* server_;
  static Client* client_;
};

testing::KubeApiServer* PolicyReportsApiServerTest::server_ = nullptr;
Client* PolicyReportsApiServerTest::client_ = nullptr;

// Both APIs: created, pruned at max_results, a newer verdict replacing one, an admin's change
// (409) replaced, a report deleted by an admin written again at the next change.
TEST_F(PolicyReportsApiServerTest, WritesPrunesReplacesAndRecreatesBothApis) {
  struct Case {
    ReportApi api;
    std::string ns;
  };
  for (const Case& c :
       {Case{ReportApi::kWgPolicy, "team-a"}, Case{ReportApi::kOpenReports, "team-b"}}) {
    SCOPED_TRACE(std::string(ReportApiName(c.api)));
    PolicyReporter reporter(Options(c.api, /*max_results=*/3));
    reporter.Offer(VerdictEvent(c.ns, "web-0", "registry.example/team/app:1", kBaseMicros, "DENY",
                                "NOT_SIGNED", false));
    reporter.Offer(VerdictEvent(c.ns, "web-1", "registry.example/team/app:1", kBaseMicros + 1,
                                "DENY", "BAD_SIGNATURE", true));
    reporter.Offer(VerdictEvent(c.ns, "web-2", "registry.example/team/app:1", kBaseMicros + 2,
                                "DENY", "REGISTRY_ERROR", false));
    reporter.Offer(VerdictEvent(c.ns, "web-3", "registry.example/team/app:1", kBaseMicros + 3));
    reporter.Offer(VerdictEvent(c.ns, "web-4", "registry.example/team/app:1", kBaseMicros + 4));
    absl::Status synced = reporter.SyncNow();
    ASSERT_TRUE(synced.ok()) << synced;
    json stored = Stored(c.api, c.ns);
    ASSERT_TRUE(stored.is_object());
    ASSERT_EQ(stored["results"].size(), 3u);  // web-0 and web-1 pruned
    EXPECT_EQ(stored["results"][0]["resources"][0]["name"], "web-4");
    EXPECT_EQ(stored["results"][2]["resources"][0]["name"], "web-2");
    EXPECT_EQ(stored["results"][2]["result"], "error");
    EXPECT_EQ(stored["summary"]["pass"], 2);
    EXPECT_EQ(stored["summary"]["error"], 1);
    ExpectStoredAsWritten(c.api, c.ns, reporter);

    // A newer verdict for web-2 replaces its result (a PUT over the resourceVersion).
    reporter.Offer(VerdictEvent(c.ns, "web-2", "registry.example/team/app:1", kBaseMicros + 5,
                                "DENY", "BAD_SIGNATURE", false));
    synced = reporter.SyncNow();
    ASSERT_TRUE(synced.ok()) << synced;
    stored = Stored(c.api, c.ns);
    ASSERT_EQ(stored["results"].size(), 3u);
    EXPECT_EQ(stored["results"][0]["resources"][0]["name"], "web-2");
    EXPECT_EQ(stored["results"][0]["result"], "fail");
    EXPECT_EQ(stored["summary"]["fail"], 1);
    EXPECT_EQ(stored["summary"]["error"], 0);
    ExpectStoredAsWritten(c.api, c.ns, reporter);

    // An admin's change in between: our PUT conflicts (409), is read again and replaces it.
    json changed = stored;
    changed["metadata"]["labels"]["edited"] = "by-admin";
    ASSERT_TRUE(server_->Admin("PUT", ItemPath(c.api, c.ns), changed).ok());
    reporter.Offer(VerdictEvent(c.ns, "web-5", "registry.example/team/app:1", kBaseMicros + 6));
    synced = reporter.SyncNow();
    ASSERT_TRUE(synced.ok()) << synced;
    ExpectStoredAsWritten(c.api, c.ns, reporter);

    // Deleted by an admin: written again at the next change.
    ASSERT_TRUE(server_->Admin("DELETE", ItemPath(c.api, c.ns)).ok());
    ASSERT_TRUE(reporter.SyncNow().ok());
    EXPECT_TRUE(Stored(c.api, c.ns).is_null());  // no change yet: not written
    reporter.Offer(VerdictEvent(c.ns, "web-6", "registry.example/team/app:1", kBaseMicros + 7));
    synced = reporter.SyncNow();
    ASSERT_TRUE(synced.ok()) << synced;
    ExpectStoredAsWritten(c.api, c.ns, reporter);
    EXPECT_EQ(Stored(c.api, c.ns)["results"][0]["resources"][0]["name"], "web-6");
  }
}

// The largest report the default bound allows is within what the API server and etcd take.
TEST_F(PolicyReportsApiServerTest, AFullReportIsAccepted) {
  PolicyReporter reporter(Options(ReportApi::kWgPolicy, kDefaultMaxResults));
  for (size_t i = 0; i < kDefaultMaxResults + 10; ++i) {
    v1::Event e =
        VerdictEvent("team-c", StrCat("pod-", i), "registry.example/team/app:1",
                     kBaseMicros + static_cast<int64_t>(i), "DENY", "BAD_SIGNATURE", false);
    e.mutable_verdict()->set_detail(std::string(300, 'd'));
    reporter.Offer(e);
  }
  absl::Status synced = reporter.SyncNow();
  ASSERT_TRUE(synced.ok()) << synced;
  json stored = Stored(ReportApi::kWgPolicy, "team-c");
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["results"].size(), kDefaultMaxResults);
  EXPECT_EQ(stored["summary"]["fail"], static_cast<int>(kDefaultMaxResults));
}

// A report at its byte bound, of characters Go's JSON escapes (<, >, &: six bytes each in
// etcd), is within what the API server and etcd (default request limit 1.5 MiB) take.
TEST_F(PolicyReportsApiServerTest, AReportAtItsByteBoundIsAccepted) {
  PolicyReporter reporter(Options(ReportApi::kWgPolicy, kMaxResultsLimit));
  for (int i = 0; i < 3000; ++i) {
    v1::Event e = VerdictEvent("team-c", StrCat("big-", i), std::string(400, 'i'), kBaseMicros + i,
                               "DENY", "BAD_SIGNATURE", false);
    e.mutable_verdict()->set_detail(std::string(600, i % 2 == 0 ? '<' : '&'));
    reporter.Offer(e);
  }
  size_t kept = reporter.Results("team-c").size();
  EXPECT_LT(kept, 3000u);  // pruned by bytes, not by count
  absl::Status synced = reporter.SyncNow();
  ASSERT_TRUE(synced.ok()) << synced;
  json stored = Stored(ReportApi::kWgPolicy, "team-c");
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["results"].size(), kept);
}

// The real API server's answer for a namespace that does not exist makes the reporter
// forget it; the other namespaces are still written.
TEST_F(PolicyReportsApiServerTest, ForgetsANamespaceThatDoesNotExist) {
  PolicyReporter reporter(Options(ReportApi::kWgPolicy, 10));
  reporter.Offer(VerdictEvent("no-such-namespace", "web", "app:1", kBaseMicros));
  reporter.Offer(VerdictEvent("team-d", "web", "app:1", kBaseMicros));
  absl::Status synced = reporter.SyncNow();
  EXPECT_EQ(synced.code(), absl::StatusCode::kNotFound) << synced;
  EXPECT_TRUE(reporter.Results("no-such-namespace").empty());
  EXPECT_TRUE(Stored(ReportApi::kWgPolicy, "team-d").is_object());
  EXPECT_TRUE(reporter.SyncNow().ok());
}

// Last: it stops and starts the API server.
TEST_F(PolicyReportsApiServerTest, ZApiServerDownThenBack) {
  PolicyReporter reporter(Options(ReportApi::kOpenReports, 10));
  ASSERT_TRUE(server_->StopApiServer().ok());
  reporter.Offer(VerdictEvent("team-d", "web", "app:1", kBaseMicros, "DENY", "NOT_SIGNED", false));
  absl::Status down = reporter.SyncNow();
  EXPECT_TRUE(down.code() == absl::StatusCode::kUnavailable ||
              down.code() == absl::StatusCode::kDeadlineExceeded)
      << down;
  EXPECT_EQ(reporter.Results("team-d").size(), 1u);  // kept, still dirty
  absl::Status restarted = server_->RestartApiServer();
  ASSERT_TRUE(restarted.ok()) << restarted;
  absl::Status synced = reporter.SyncNow();
  ASSERT_TRUE(synced.ok()) << synced;
  ExpectStoredAsWritten(ReportApi::kOpenReports, "team-d", reporter);
}

}  // namespace
}  // namespace layerseal::controller::kube
