// Kubernetes Events on the Pod (controller/kube/pod_events.h) against a real kube-apiserver
// (tests/support/kube_apiserver.h): the recorder runs over the real Client as the controller's
// ServiceAccount identity, bound to the chart's own ClusterRole
// (packaging/helm/layerseal/files/controller-clusterrole.yaml), and the Events it writes are
// read back as admin: what `kubectl describe pod` shows, deduplication (count and
// lastTimestamp), an Event deleted under it, an API server down then back (no loss within the
// queue bound), and that the identity can do no more than the role grants.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "controller/kube/client.h"
#include "controller/kube/pod_events.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/kube_apiserver.h"
#include "tests/support/metrics_text.h"

namespace layerseal::controller::kube {
namespace {

using nlohmann::json;

const std::string kControllerClusterRole =
    std::string(LAYERSEAL_SOURCE_DIR) + "/packaging/helm/layerseal/files/controller-clusterrole.yaml";
constexpr char kNs[] = "apps";

class PodEventsApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<layerseal::testing::KubeApiServer>> server =
        layerseal::testing::KubeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    ASSERT_TRUE(server_->ApplyYamlFile(kControllerClusterRole).ok());
    ASSERT_TRUE(server_->BindControllerClusterRole("layerseal-controller").ok());
    ASSERT_TRUE(server_->CreateNamespace(kNs).ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ClientConfig config;
    config.server = server_->url();
    config.ca_file = server_->ca_file();
    config.token = server_->controller_token();
    config.source = "test: the controller's ServiceAccount identity";
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(config);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  PodEventsOptions Options() {
    PodEventsOptions o;
    o.transport = client_.get();
    o.metrics = &metrics_;
    o.logger = &logger_;
    o.instance = "layerseal-controller-test";
    o.retry.max_attempts = 3;
    o.retry.backoff = BackoffOptions{absl::Milliseconds(100), absl::Seconds(1), true};
    o.unavailable_backoff = BackoffOptions{absl::Milliseconds(200), absl::Seconds(1), true};
    return o;
  }

  std::string CreatePod(const std::string& name) {
    absl::StatusOr<std::string> uid = server_->CreatePod(kNs, name, "registry.example/team/app:1.0");
    EXPECT_TRUE(uid.ok()) << uid.status();
    return uid.ok() ? *uid : "";
  }

  // The Events on Pod `pod`, as admin reads them (oldest first).
  std::vector<json> EventsOn(const std::string& pod) {
    absl::StatusOr<json> list = server_->Admin("GET", StrCat("/api/v1/namespaces/", kNs, "/events"));
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<json> out;
    if (!list.ok()) return out;
    for (const json& e : (*list)["items"]) {
      if (e["involvedObject"]["name"] == pod) out.push_back(e);
    }
    return out;
  }

  double Count(const std::string& result) {
    return layerseal::testing::MetricValue(
               metrics_.RenderText(),
               StrCat("layerseal_controller_kube_events_total{result=\"", result, "\"}"))
        .value_or(0);
  }

  static layerseal::testing::KubeApiServer* server_;
  std::unique_ptr<Client> client_;
  telemetry::MetricsRegistry metrics_;
  telemetry::Logger logger_{"controller"};
};
layerseal::testing::KubeApiServer* PodEventsApiServerTest::server_ = nullptr;

v1::Event Denied(const std::string& pod, uint64_t seq, int64_t seconds = 1700000000) {
  v1::Event e;
  e.set_node("node-1");
  e.set_seq(seq);
  e.set_spool_incarnation("0123456789abcdef0123456789abcdef");
  e.set_time_unix_micros(seconds * 1'000'000);
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image("registry.example/team/app:1.0");
  e.set_pod_namespace(kNs);
  e.set_pod_name(pod);
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference("registry.example/team/app:1.0");
  v->set_digest("sha256:" + std::string(64, 'b'));
  v->set_verdict("DENY");
  v->set_reason("NO_TRUSTED_SIGNATURE");
  v->set_detail("no seal signed by a trusted key");
  v->set_scope("team-a");
  v->set_mode("enforce");
  return e;
}

TEST_F(PodEventsApiServerTest, ADenialIsAWarningOnThePodCountedOnRepeatsAndPerReason) {
  std::string uid = CreatePod("web-denied");
  PodEventRecorder recorder(Options());
  recorder.Start();
  v1::Event first = Denied("web-denied", 1);  // no uid: the recorder reads the Pod's
  recorder.Offer(first);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(60)));
  std::vector<json> events = EventsOn("web-denied");
  ASSERT_EQ(events.size(), 1u);
  const json e = events[0];
  EXPECT_EQ(e["involvedObject"]["kind"], "Pod");
  EXPECT_EQ(e["involvedObject"]["namespace"], kNs);
  EXPECT_EQ(e["involvedObject"]["uid"], uid);
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], kDeniedReason);
  EXPECT_EQ(e["message"],
            StrCat("NO_TRUSTED_SIGNATURE: registry.example/team/app:1.0@sha256:",
                   std::string(64, 'b'),
                   " denied by layerseal (PullImage on node-1, policy team-a): no seal signed "
                   "by a trusted key"));
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["source"]["component"], kReportingComponent);
  EXPECT_EQ(e["reportingComponent"], kReportingController);
  EXPECT_EQ(e["reportingInstance"], "layerseal-controller-test");
  EXPECT_EQ(e["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(e["lastTimestamp"], "2023-11-14T22:13:20Z");

  // The kubelet pulls again: the same Event, count 2, lastTimestamp moved.
  recorder.Offer(Denied("web-denied", 2, 1700000000 + 75));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(60)));
  events = EventsOn("web-denied");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["metadata"]["name"], e["metadata"]["name"]);
  EXPECT_EQ(events[0]["count"], 2);
  EXPECT_EQ(events[0]["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(events[0]["lastTimestamp"], "2023-11-14T22:14:35Z");

  // Another reason (a warn-mode scope let it through) is an Event of its own.
  v1::Event warn = Denied("web-denied", 3, 1700000000 + 80);
  warn.set_admitted(true);
  warn.mutable_verdict()->set_mode("warn");
  recorder.Offer(warn);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(60)));
  events = EventsOn("web-denied");
  ASSERT_EQ(events.size(), 2u);
  int warnings = 0;
  for (const json& ev : events) {
    if (ev["reason"] == kWarnReason) {
      ++warnings;
      EXPECT_EQ(ev["count"], 1);
      EXPECT_NE(ev["message"].get<std::string>().find("admitted in warn mode"), std::string::npos);
    }
  }
  EXPECT_EQ(warnings, 1);
  EXPECT_EQ(Count("created"), 2);
  EXPECT_EQ(Count("patched"), 1);
  EXPECT_EQ(Count("failed"), 0);
}

TEST_F(PodEventsApiServerTest, AnEventDeletedUnderItIsCreatedAgainAndAMissingPodStillGetsOne) {
  CreatePod("web-deleted");
  PodEventRecorder recorder(Options());
  recorder.Start();
  recorder.Offer(Denied("web-deleted", 1));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(60)));
  std::vector<json> events = EventsOn("web-deleted");
  ASSERT_EQ(events.size(), 1u);
  std::string name = events[0]["metadata"]["name"];
  ASSERT_TRUE(server_->Admin("DELETE", StrCat("/api/v1/namespaces/", kNs, "/events/", name)).ok());
  recorder.Offer(Denied("web-deleted", 2, 1700000000 + 30));  // PATCH: 404, then created
  // No such Pod (deleted before the controller heard): written without a uid.
  recorder.Offer(Denied("ghost", 3));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(60)));
  events = EventsOn("web-deleted");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["count"], 1);
  EXPECT_EQ(events[0]["lastTimestamp"], "2023-11-14T22:13:50Z");
  std::vector<json> ghost = EventsOn("ghost");
  ASSERT_EQ(ghost.size(), 1u);
  EXPECT_FALSE(ghost[0]["involvedObject"].contains("uid")) << ghost[0].dump();
  EXPECT_EQ(Count("created"), 3);
  EXPECT_EQ(Count("failed"), 0);
}

TEST_F(PodEventsApiServerTest, EventsOfferedWhileTheApiServerIsDownArriveWhenItIsBack) {
  std::vector<std::string> uids;
  for (int i = 0; i < 3; ++i) uids.push_back(CreatePod(StrCat("web-down-", std::to_string(i))));
  PodEventRecorder recorder(Options());
  recorder.Start();
  ASSERT_TRUE(server_->StopApiServer().ok());
  for (int i = 0; i < 3; ++i) {
    v1::Event e = Denied(StrCat("web-down-", std::to_string(i)), 10 + i);
    if (i == 0) e.set_pod_uid(uids[0]);  // the others' uids are read once the server is back
    recorder.Offer(e);
  }
  // A repeat of the first, queued behind it: counted on the same Event.
  v1::Event repeat = Denied("web-down-0", 20, 1700000000 + 5);
  repeat.set_pod_uid(uids[0]);
  recorder.Offer(repeat);
  EXPECT_FALSE(recorder.WaitIdle(absl::Seconds(3)));  // held, not dropped
  absl::Status restarted = server_->RestartApiServer();
  ASSERT_TRUE(restarted.ok()) << restarted;
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(90)));
  for (int i = 0; i < 3; ++i) {
    std::vector<json> events = EventsOn(StrCat("web-down-", std::to_string(i)));
    ASSERT_EQ(events.size(), 1u) << i;
    EXPECT_EQ(events[0]["involvedObject"]["uid"], uids[i]);
    EXPECT_EQ(events[0]["count"], i == 0 ? 2 : 1);
  }
  EXPECT_EQ(Count("created"), 3);
  EXPECT_EQ(Count("patched"), 1);
  EXPECT_EQ(Count("dropped"), 0);
  EXPECT_EQ(Count("failed"), 0);
}

// The role grants events create/patch and pods get; the identity the recorder runs as can do
// nothing else with them (nor with anything else).
TEST_F(PodEventsApiServerTest, TheControllerIdentityCanDoNoMoreThanTheClusterRoleGrants) {
  CreatePod("web-rbac");
  PodEventRecorder recorder(Options());
  recorder.Start();
  recorder.Offer(Denied("web-rbac", 1));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(60)));
  std::vector<json> events = EventsOn("web-rbac");
  ASSERT_EQ(events.size(), 1u);
  std::string event_path =
      StrCat("/api/v1/namespaces/", kNs, "/events/", events[0]["metadata"]["name"].get<std::string>());
  struct Attempt {
    std::string method, path, body;
    long want;
  };
  const std::string pod_path = StrCat("/api/v1/namespaces/", kNs, "/pods/web-rbac");
  std::vector<Attempt> attempts = {
      {"GET", pod_path, "", 200},                                            // granted
      {"PATCH", event_path, R"({"count":5})", 200},                          // granted
      {"GET", event_path, "", 403},                                          // events: no get
      {"GET", StrCat("/api/v1/namespaces/", kNs, "/events"), "", 403},       // nor list
      {"DELETE", event_path, "", 403},                                       // nor delete
      {"GET", StrCat("/api/v1/namespaces/", kNs, "/pods"), "", 403},         // pods: no list
      {"DELETE", pod_path, "", 403},                                         // nor delete
      {"PATCH", pod_path, R"({"metadata":{"labels":{"x":"y"}}})", 403},      // nor patch
      {"GET", StrCat("/api/v1/namespaces/", kNs, "/secrets"), "", 403},
      {"GET", "/api/v1/namespaces", "", 403},
      {"POST", StrCat("/api/v1/namespaces/", kNs, "/pods"),
       R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"evil"},"spec":{"containers":[{"name":"c","image":"x"}]}})",
       403},
  };
  for (const Attempt& a : attempts) {
    absl::StatusOr<Response> r = client_->Do(
        a.method, a.path, a.body,
        a.method == "PATCH" ? "application/strategic-merge-patch+json" : "application/json");
    ASSERT_TRUE(r.ok()) << a.method << " " << a.path << ": " << r.status();
    EXPECT_EQ(r->status, a.want) << a.method << " " << a.path << ": " << r->body;
  }
}

}  // namespace
}  // namespace layerseal::controller::kube
