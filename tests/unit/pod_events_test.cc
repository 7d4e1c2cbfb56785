// Kubernetes Events on the Pod (controller/kube/pod_events.h) over a fake ApiTransport, the
// narrow seam: which layerseal events make Events, their message and object, the
// kubelet-style deduplication (PATCH of count/lastTimestamp/message within the window, create
// again after it or on 404), resends, the bounded queue, and that neither Offer nor Stop waits
// on a stuck API server. tests/integration/pod_events_apiserver_test.cc does the same against
// a real kube-apiserver.
#include "controller/kube/pod_events.h"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "base/str_cat.h"
#include "base/utf8.h"
#include "gtest/gtest.h"
#include "tests/support/metrics_text.h"

namespace layerseal::controller::kube {
namespace {

using layerseal::testing::MetricValue;

// Time by hand, safe to read from the worker while the test moves it.
class HandClock final : public Clock {
 public:
  absl::Time Wall() const override { return absl::UnixEpoch() + Monotonic(); }
  absl::Duration Monotonic() const override { return absl::Nanoseconds(nanos_.load()); }
  void Advance(absl::Duration d) { nanos_ += absl::ToInt64Nanoseconds(d); }

 private:
  std::atomic<int64_t> nanos_{absl::ToInt64Nanoseconds(absl::Hours(1))};
};

struct Request {
  std::string method, path, body, content_type;
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

// A recording transport with a tiny API server behind it by default: POST and PATCH of
// Events (kept by name), GET of the Pods it was told about. A test may replace the answer
// (`handler`), make calls wait until Release() (Block), or fail them.
class FakeApi final : public ApiTransport {
 public:
  using Handler = std::function<absl::StatusOr<Response>(const Request&)>;

  absl::StatusOr<Response> Do(std::string_view method, std::string_view path,
                              std::string_view body, std::string_view content_type) override {
    Request r{std::string(method), std::string(path), std::string(body), std::string(content_type)};
    Handler handler;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(r);
      ++calls_;
      mu_.Await(absl::Condition(+[](bool* blocked) { return !*blocked; }, &blocked_));
      handler = handler_;
    }
    if (handler) return handler(r);
    return Serve(r);
  }

  absl::StatusOr<Response> Serve(const Request& r) {
    absl::MutexLock lock(&mu_);
    const std::string events = "/api/v1/namespaces/ns/events";
    if (r.method == "POST" && r.path == events) {
      nlohmann::json e = r.Json();
      std::string name = e["metadata"]["name"];
      if (events_.count(name) > 0) {
        return Response{409, R"({"kind":"Status","reason":"AlreadyExists"})"};
      }
      events_[name] = e;
      return Response{201, e.dump()};
    }
    if (r.method == "PATCH" && r.path.rfind(events + "/", 0) == 0) {
      std::string name = r.path.substr(events.size() + 1);
      auto it = events_.find(name);
      if (it == events_.end()) return Response{404, R"({"kind":"Status","reason":"NotFound"})"};
      it->second.merge_patch(r.Json());
      return Response{200, it->second.dump()};
    }
    if (r.method == "GET" && r.path.rfind("/api/v1/namespaces/ns/pods/", 0) == 0) {
      auto it = pods_.find(r.path.substr(std::string("/api/v1/namespaces/ns/pods/").size()));
      if (it == pods_.end()) return Response{404, R"({"kind":"Status","reason":"NotFound"})"};
      return Response{200, nlohmann::json{{"metadata", {{"uid", it->second}}}}.dump()};
    }
    return Response{400, "unexpected request " + r.method + " " + r.path};
  }

  void set_handler(Handler h) {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(h);
  }
  void AddPod(const std::string& name, const std::string& uid) {
    absl::MutexLock lock(&mu_);
    pods_[name] = uid;
  }
  void DeleteEvents() {
    absl::MutexLock lock(&mu_);
    events_.clear();
  }
  void Block() {
    absl::MutexLock lock(&mu_);
    blocked_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    blocked_ = false;
  }
  // True once at least `n` calls were made, within a few seconds.
  bool WaitCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  std::vector<Request> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<Request> requests(const std::string& method) {
    std::vector<Request> out;
    for (Request& r : requests()) {
      if (r.method == method) out.push_back(std::move(r));
    }
    return out;
  }
  std::map<std::string, nlohmann::json> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  size_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  Handler handler_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, nlohmann::json> events_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> pods_ ABSL_GUARDED_BY(mu_);
};

v1::Event Denied(uint64_t seq = 1) {
  v1::Event e;
  e.set_node("node-1");
  e.set_seq(seq);
  e.set_spool_incarnation("0123456789abcdef0123456789abcdef");
  e.set_time_unix_micros(absl::ToUnixMicros(absl::FromUnixSeconds(1700000000)));
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image("registry.example/team/app:1.0");
  e.set_pod_namespace("ns");
  e.set_pod_name("web-0");
  e.set_pod_uid("uid-web-0");
  e.set_admitted(false);
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference("registry.example/team/app:1.0");
  v->set_digest("sha256:" + std::string(64, 'a'));
  v->set_verdict("DENY");
  v->set_reason("BAD_SIGNATURE");
  v->set_detail("the seal's signature does not verify with key sha256:k1");
  v->set_scope("team-a");
  v->set_mode("enforce");
  return e;
}

// Options for a recorder over `api`: quick retries so the tests stay short.
PodEventsOptions Options(FakeApi* api, telemetry::MetricsRegistry* metrics,
                         const Clock* clock = &SystemClock()) {
  PodEventsOptions o;
  o.transport = api;
  o.metrics = metrics;
  o.instance = "layerseal-controller-0";
  o.retry.max_attempts = 2;
  o.retry.backoff = BackoffOptions{absl::Milliseconds(1), absl::Milliseconds(10), false};
  o.unavailable_backoff = BackoffOptions{absl::Milliseconds(5), absl::Milliseconds(50), false};
  o.clock = clock;
  return o;
}

double Count(const telemetry::MetricsRegistry& metrics, const std::string& result) {
  return MetricValue(metrics.RenderText(),
                     StrCat("layerseal_controller_kube_events_total{result=\"", result, "\"}"))
      .value_or(0);
}

// --- Which events make Events -------------------------------------------------------------

TEST(PodEventForTest, ARefusedDenyIsImageSignatureDenied) {
  std::optional<PodEventSpec> spec = PodEventFor(Denied());
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->reason, kDeniedReason);
  EXPECT_EQ(spec->type, "Warning");
  EXPECT_EQ(spec->namespace_name, "ns");
  EXPECT_EQ(spec->pod_name, "web-0");
  EXPECT_EQ(spec->pod_uid, "uid-web-0");
  EXPECT_EQ(spec->time, absl::FromUnixSeconds(1700000000));
}

TEST(PodEventForTest, ADenyLetThroughInWarnModeIsAWarning) {
  v1::Event e = Denied();
  e.set_admitted(true);
  e.mutable_verdict()->set_mode("warn");
  std::optional<PodEventSpec> spec = PodEventFor(e);
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->reason, kWarnReason);
  EXPECT_NE(spec->message.find("admitted in warn mode"), std::string::npos) << spec->message;
}

TEST(PodEventForTest, ARevalidationFindingIsNoLongerAdmitted) {
  v1::Event e = Denied();
  e.set_gate("Revalidation");
  e.set_container_id("c0ffee");
  e.set_container_name("app");
  std::optional<PodEventSpec> spec = PodEventFor(e);
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->reason, kRevokedReason);
  EXPECT_NE(spec->message.find("of running container app is no longer admitted"), std::string::npos)
      << spec->message;
}

TEST(PodEventForTest, AuditAllowNoPodAndLostEventsMakeNone) {
  v1::Event audit = Denied();
  audit.set_admitted(true);
  audit.mutable_verdict()->set_mode("audit");
  EXPECT_FALSE(PodEventFor(audit).has_value());
  v1::Event revalidation_audit = audit;
  revalidation_audit.set_gate("Revalidation");
  EXPECT_FALSE(PodEventFor(revalidation_audit).has_value());

  v1::Event allow = Denied();
  allow.set_admitted(true);
  allow.mutable_verdict()->set_verdict("ALLOW");
  allow.mutable_verdict()->set_reason("VERIFIED");
  EXPECT_FALSE(PodEventFor(allow).has_value());

  v1::Event no_pod = Denied();  // ImageStatus asks without a pod
  no_pod.clear_pod_name();
  no_pod.clear_pod_namespace();
  EXPECT_FALSE(PodEventFor(no_pod).has_value());
  v1::Event no_namespace = Denied();
  no_namespace.clear_pod_namespace();
  EXPECT_FALSE(PodEventFor(no_namespace).has_value());

  v1::Event lost;
  lost.set_kind(v1::Event::EVENTS_LOST);
  lost.set_lost_count(3);
  lost.set_pod_namespace("ns");
  lost.set_pod_name("web-0");
  EXPECT_FALSE(PodEventFor(lost).has_value());
}

// --- Message and object -------------------------------------------------------------------

TEST(PodEventMessageTest, NamesReasonImageDigestGateNodeScopeAndDetail) {
  std::optional<PodEventSpec> spec = PodEventFor(Denied());
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->message,
            StrCat("BAD_SIGNATURE: registry.example/team/app:1.0@sha256:", std::string(64, 'a'),
                   " denied by layerseal (PullImage on node-1, policy team-a): the seal's "
                   "signature does not verify with key sha256:k1"));
}

TEST(PodEventMessageTest, ADigestTheImageNamesAlreadyIsNotRepeated) {
  v1::Event e = Denied();
  e.set_image("registry.example/team/app@sha256:" + std::string(64, 'a'));
  std::string m = PodEventFor(e)->message;
  EXPECT_NE(m.find("app@sha256:" + std::string(64, 'a') + " denied"), std::string::npos) << m;
  EXPECT_EQ(m.find("@sha256", m.find("@sha256") + 1), std::string::npos) << m;
  e.clear_image();  // the verdict's reference instead
  m = PodEventFor(e)->message;
  EXPECT_NE(m.find("registry.example/team/app:1.0@sha256:"), std::string::npos) << m;
}

TEST(PodEventMessageTest, IsOneLineBoundedAndCutAtACharacterBoundary) {
  v1::Event e = Denied();
  // 3-byte characters, so a cut at a fixed byte count would land inside one.
  std::string detail = "line one\nline two\t";
  for (int i = 0; i < 2000; ++i) detail += "\xE2\x82\xAC";  // €
  e.mutable_verdict()->set_detail(detail);
  std::string m = PodEventFor(e)->message;
  EXPECT_LE(m.size(), kMaxMessageBytes);
  EXPECT_GT(m.size(), kMaxMessageBytes - 8);
  EXPECT_EQ(m, ValidUtf8(m));  // valid UTF-8
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_EQ(m.find('\t'), std::string::npos);
  EXPECT_EQ(m.substr(m.size() - 3), "\xE2\x80\xA6");  // ends in …
  // A huge image name does not push the reason, gate and node out.
  v1::Event big = Denied();
  big.set_image("registry.example/" + std::string(5000, 'x'));
  std::string bm = PodEventFor(big)->message;
  EXPECT_LE(bm.size(), kMaxMessageBytes);
  EXPECT_EQ(bm.rfind("BAD_SIGNATURE: ", 0), 0u);
  EXPECT_NE(bm.find("(PullImage on node-1, policy team-a)"), std::string::npos) << bm;
}

TEST(PodEventMessageTest, InvalidUtf8BecomesReplacementCharacters) {
  v1::Event e = Denied();
  e.mutable_verdict()->set_detail(std::string("bad \xFF\xC0 bytes"));
  std::string m = PodEventFor(e)->message;
  EXPECT_EQ(m, ValidUtf8(m));
  EXPECT_NE(m.find("bad \xEF\xBF\xBD\xEF\xBF\xBD bytes"), std::string::npos) << m;
}

TEST(EventObjectTest, ACoreV1WarningOnThePod) {
  PodEventSpec spec = *PodEventFor(Denied());
  nlohmann::json o = EventObject(spec, "controller-7");
  EXPECT_EQ(o["apiVersion"], "v1");
  EXPECT_EQ(o["kind"], "Event");
  EXPECT_EQ(o["metadata"]["namespace"], "ns");
  std::string name = o["metadata"]["name"];
  ASSERT_EQ(name.size(), std::string("web-0.").size() + 16) << name;
  EXPECT_EQ(name.rfind("web-0.", 0), 0u) << name;
  EXPECT_EQ(name.find_first_not_of("0123456789abcdef", 6), std::string::npos) << name;
  EXPECT_EQ(o["involvedObject"],
            (nlohmann::json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"namespace", "ns"},
                            {"name", "web-0"}, {"uid", "uid-web-0"}}));
  EXPECT_EQ(o["type"], "Warning");
  EXPECT_EQ(o["reason"], kDeniedReason);
  EXPECT_EQ(o["message"], spec.message);
  EXPECT_EQ(o["count"], 1);
  EXPECT_EQ(o["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(o["lastTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(o["source"], (nlohmann::json{{"component", kReportingComponent}}));
  EXPECT_EQ(o["reportingComponent"], kReportingController);
  EXPECT_EQ(o["reportingInstance"], "controller-7");
  // The same spec makes the same name (a retried create finds its Event); another time does not.
  EXPECT_EQ(EventObject(spec, "x")["metadata"]["name"], name);
  spec.time += absl::Seconds(1);
  EXPECT_NE(EventObject(spec, "x")["metadata"]["name"], name);
}

TEST(EventObjectTest, NoUidWhenUnknownAndNamesWithinTheApisLimits) {
  PodEventSpec spec = *PodEventFor(Denied());
  spec.pod_uid.clear();
  spec.pod_name = std::string(253, 'p');  // the longest Pod name
  nlohmann::json o = EventObject(spec, std::string(300, 'i'));
  EXPECT_FALSE(o["involvedObject"].contains("uid"));
  EXPECT_EQ(o["involvedObject"]["name"], spec.pod_name);
  EXPECT_LE(o["metadata"]["name"].get<std::string>().size(), kMaxEventNameBytes);
  EXPECT_EQ(o["reportingInstance"].get<std::string>().size(), kMaxReportingInstanceBytes);
  // Cut where the Pod's name has a '-' or '.': the name stays a DNS subdomain (no "-." or "..").
  spec.pod_name = std::string(234, 'p') + "-.x" + std::string(16, 'q');
  std::string name = EventObject(spec, "i")["metadata"]["name"];
  EXPECT_EQ(name.substr(0, 235), std::string(234, 'p') + ".");
  EXPECT_EQ(name.size(), 235u + 16);
}

// --- The recorder -------------------------------------------------------------------------

TEST(PodEventRecorderTest, WritesOneEventAndNothingForEventsThatAskForNone) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  v1::Event allow = Denied(1);
  allow.mutable_verdict()->set_verdict("ALLOW");
  recorder.Offer(allow);
  recorder.Offer(Denied(2));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  std::vector<Request> all = api.requests();
  ASSERT_EQ(all.size(), 1u);  // the uid was in the event: no GET
  EXPECT_EQ(all[0].method, "POST");
  EXPECT_EQ(all[0].path, "/api/v1/namespaces/ns/events");
  EXPECT_EQ(all[0].content_type, "application/json");
  EXPECT_EQ(all[0].Json(), EventObject(*PodEventFor(Denied(2)), "layerseal-controller-0"));
  EXPECT_EQ(Count(metrics, "created"), 1);
}

TEST(PodEventRecorderTest, TheSameKeyTwiceIsOnePostAndOnePatchWithCountTwo) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  recorder.Offer(Denied(1));
  v1::Event again = Denied(2);
  again.set_time_unix_micros(again.time_unix_micros() + 90'000'000);  // 90 s later
  recorder.Offer(again);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  ASSERT_EQ(api.requests("POST").size(), 1u);
  std::vector<Request> patches = api.requests("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  std::string name = api.requests("POST")[0].Json()["metadata"]["name"];
  EXPECT_EQ(patches[0].path, "/api/v1/namespaces/ns/events/" + name);
  EXPECT_EQ(patches[0].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(patches[0].Json(),
            (nlohmann::json{{"count", 2},
                            {"lastTimestamp", "2023-11-14T22:14:50Z"},
                            {"message", PodEventFor(again)->message}}));
  nlohmann::json stored = api.events().at(name);
  EXPECT_EQ(stored["count"], 2);
  EXPECT_EQ(stored["firstTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(stored["lastTimestamp"], "2023-11-14T22:14:50Z");
  EXPECT_EQ(Count(metrics, "created"), 1);
  EXPECT_EQ(Count(metrics, "patched"), 1);

  // A third repeat counts 3; a different reason on the same Pod is an Event of its own.
  recorder.Offer(Denied(3));
  v1::Event warn = Denied(4);
  warn.set_admitted(true);
  warn.mutable_verdict()->set_mode("warn");
  recorder.Offer(warn);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.events().at(name)["count"], 3);
  // Never moved back by a repeat that the gate timed earlier.
  EXPECT_EQ(api.events().at(name)["lastTimestamp"], "2023-11-14T22:14:50Z");
  EXPECT_EQ(api.events().size(), 2u);
  EXPECT_EQ(api.requests("POST").size(), 2u);
}

TEST(PodEventRecorderTest, AfterTheWindowARepeatIsANewEvent) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  HandClock clock;
  PodEventRecorder recorder(Options(&api, &metrics, &clock));
  recorder.Start();
  recorder.Offer(Denied(1));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  clock.Advance(kDedupWindow - absl::Seconds(1));
  recorder.Offer(Denied(2));  // inside: counted, and the window starts again from here
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests("PATCH").size(), 1u);
  clock.Advance(kDedupWindow - absl::Seconds(1));
  recorder.Offer(Denied(3));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests("PATCH").size(), 2u);
  clock.Advance(kDedupWindow);
  v1::Event later = Denied(4);
  later.set_time_unix_micros(later.time_unix_micros() + 3600'000'000LL);
  recorder.Offer(later);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests("PATCH").size(), 2u);
  ASSERT_EQ(api.requests("POST").size(), 2u);
  EXPECT_EQ(api.events().size(), 2u);
  EXPECT_EQ(api.requests("POST")[1].Json()["count"], 1);
  EXPECT_EQ(Count(metrics, "created"), 2);
}

TEST(PodEventRecorderTest, APatchThatFindsTheEventGoneCreatesItAgain) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  recorder.Offer(Denied(1));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  api.DeleteEvents();  // the API server's event TTL
  v1::Event again = Denied(2);
  again.set_time_unix_micros(again.time_unix_micros() + 1'000'000);
  recorder.Offer(again);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  std::vector<Request> all = api.requests();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].method, "PATCH");
  EXPECT_EQ(all[2].method, "POST");
  EXPECT_EQ(all[2].Json()["count"], 1);
  ASSERT_EQ(api.events().size(), 1u);
  // And the next repeat counts on the new one.
  recorder.Offer(Denied(3));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.events().begin()->second["count"], 2);
  EXPECT_EQ(Count(metrics, "created"), 2);
  EXPECT_EQ(Count(metrics, "patched"), 1);
  EXPECT_EQ(Count(metrics, "failed"), 0);
}

TEST(PodEventRecorderTest, AResentEventIsCountedOnce) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  recorder.Offer(Denied(7));
  recorder.Offer(Denied(7));  // the agent's resend: same node, incarnation and seq
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  recorder.Offer(Denied(7));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests().size(), 1u);
  EXPECT_EQ(api.events().begin()->second["count"], 1);
  // Another incarnation's seq 7 is another event.
  v1::Event other = Denied(7);
  other.set_spool_incarnation("ffffffffffffffffffffffffffffffff");
  recorder.Offer(other);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.events().begin()->second["count"], 2);
}

TEST(PodEventRecorderTest, TheUidComesFromThePodElseTheEventIsWrittenWithoutOne) {
  FakeApi api;
  api.AddPod("web-0", "uid-from-api");
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  v1::Event no_uid = Denied(1);
  no_uid.clear_pod_uid();
  recorder.Offer(no_uid);
  v1::Event gone = Denied(2);
  gone.clear_pod_uid();
  gone.set_pod_name("gone-1");
  recorder.Offer(gone);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  std::vector<Request> all = api.requests();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].method, "GET");
  EXPECT_EQ(all[0].path, "/api/v1/namespaces/ns/pods/web-0");
  EXPECT_EQ(all[1].Json()["involvedObject"]["uid"], "uid-from-api");
  EXPECT_EQ(all[2].path, "/api/v1/namespaces/ns/pods/gone-1");  // 404
  EXPECT_EQ(all[3].method, "POST");
  EXPECT_FALSE(all[3].Json()["involvedObject"].contains("uid"));
  EXPECT_EQ(all[3].Json()["involvedObject"]["name"], "gone-1");
  EXPECT_EQ(Count(metrics, "created"), 2);
}

TEST(PodEventRecorderTest, ARefusalIsFinalCountedAndLoggedOncePerInterval) {
  FakeApi api;
  api.set_handler([](const Request&) -> absl::StatusOr<Response> {
    return Response{403, R"({"kind":"Status","message":"events is forbidden"})"};
  });
  std::vector<std::string> lines;
  absl::Mutex lines_mu;
  telemetry::Logger logger("controller", [&](std::string_view line) {
    absl::MutexLock lock(&lines_mu);
    lines.emplace_back(line);
  });
  telemetry::MetricsRegistry metrics;
  PodEventsOptions options = Options(&api, &metrics);
  options.logger = &logger;
  PodEventRecorder recorder(options);
  recorder.Start();
  for (uint64_t i = 1; i <= 20; ++i) {
    v1::Event e = Denied(i);
    e.set_pod_name(StrCat("pod-", std::to_string(i)));
    recorder.Offer(e);
  }
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests().size(), 20u);  // 403 is not retried, and each is tried once
  EXPECT_EQ(Count(metrics, "failed"), 20);
  absl::MutexLock lock(&lines_mu);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("refused"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("403"), std::string::npos) << lines[0];
}

TEST(PodEventRecorderTest, ACreateWhoseAnswerWasLostIsFoundByName) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  int posts = 0;
  api.set_handler([&](const Request& r) -> absl::StatusOr<Response> {
    absl::StatusOr<Response> served = api.Serve(r);
    if (r.method == "POST" && ++posts == 1) return absl::UnavailableError("answer lost");
    return served;
  });
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  recorder.Offer(Denied(1));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  recorder.Offer(Denied(2));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests("POST").size(), 2u);  // the second found it: 409
  ASSERT_EQ(api.events().size(), 1u);
  EXPECT_EQ(api.events().begin()->second["count"], 2);
  EXPECT_EQ(Count(metrics, "created"), 1);
  EXPECT_EQ(Count(metrics, "failed"), 0);
}

TEST(PodEventRecorderTest, AnUnreachableApiServerDelaysEventsWithoutLosingThem) {
  FakeApi api;
  std::atomic<bool> down{true};
  api.set_handler([&](const Request& r) -> absl::StatusOr<Response> {
    if (down) return absl::UnavailableError("connect to https://127.0.0.1:1: refused");
    return api.Serve(r);
  });
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  for (uint64_t i = 1; i <= 5; ++i) {
    v1::Event e = Denied(i);
    e.set_pod_name(StrCat("pod-", std::to_string(i)));
    recorder.Offer(e);
  }
  // Well past DoWithRetry's two attempts: the worker holds the first Event.
  ASSERT_TRUE(api.WaitCalls(10));
  EXPECT_FALSE(recorder.WaitIdle(absl::Milliseconds(10)));
  down = false;
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.events().size(), 5u);
  EXPECT_EQ(Count(metrics, "created"), 5);
  EXPECT_EQ(Count(metrics, "failed"), 0);
  EXPECT_EQ(Count(metrics, "dropped"), 0);
}

// A restarted API server refuses (403) until its RBAC caches are synced: right after being
// unreachable that is held like no answer; long after, a 403 is final.
TEST(PodEventRecorderTest, ARefusalRightAfterTheServerWasUnreachableIsHeld) {
  FakeApi api;
  HandClock clock;
  std::atomic<int> calls{0};
  std::atomic<bool> forbid{false};
  api.set_handler([&](const Request& r) -> absl::StatusOr<Response> {
    int n = ++calls;
    if (n <= 3) return absl::UnavailableError("connect refused");
    if (n <= 5 || forbid) {
      return Response{403, R"({"kind":"Status","message":"events is forbidden"})"};
    }
    return api.Serve(r);
  });
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics, &clock));
  recorder.Start();
  recorder.Offer(Denied(1));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(calls.load(), 6);
  EXPECT_EQ(Count(metrics, "created"), 1);
  EXPECT_EQ(Count(metrics, "failed"), 0);
  clock.Advance(kPodEventsAuthSettle);
  forbid = true;
  v1::Event other = Denied(2);
  other.set_pod_name("other");
  recorder.Offer(other);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(calls.load(), 7);
  EXPECT_EQ(Count(metrics, "failed"), 1);
}

// Errors that are not HTTP answers nor unreachability (the Client refusing an oversized
// answer) fail the Event; they never crash the worker.
TEST(PodEventRecorderTest, AClientErrorFailsTheEvent) {
  FakeApi api;
  api.set_handler([](const Request&) -> absl::StatusOr<Response> {
    return absl::ResourceExhaustedError("answer larger than kMaxResponseBytes");
  });
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  v1::Event no_uid = Denied(1);  // GET fails this way: written without a uid, then POST fails
  no_uid.clear_pod_uid();
  recorder.Offer(no_uid);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(api.requests().size(), 2u);
  EXPECT_EQ(Count(metrics, "failed"), 1);
  // And a PATCH failing this way: the POST goes through first.
  api.set_handler(nullptr);
  recorder.Offer(Denied(2));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  api.set_handler([](const Request&) -> absl::StatusOr<Response> {
    return absl::ResourceExhaustedError("answer larger than kMaxResponseBytes");
  });
  recorder.Offer(Denied(3));
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(Count(metrics, "created"), 1);
  EXPECT_EQ(Count(metrics, "failed"), 2);
}

TEST(PodEventRecorderTest, OfferNeverWaitsOnAStuckApiServerAndAFullQueueDrops) {
  FakeApi api;
  api.Block();  // every call waits until Release()
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  recorder.Offer(Denied(1));
  ASSERT_TRUE(api.WaitCalls(1));  // the worker is stuck in that call
  absl::Duration start = SystemClock().Monotonic();
  for (uint64_t i = 2; i < 2 + kMaxQueuedPodEvents + 5; ++i) recorder.Offer(Denied(i));
  // 1005 Offers while the transport is stuck: they queued or dropped, never waited. (The
  // bound is generous for a loaded machine; a blocking Offer would never return at all.)
  EXPECT_LT(SystemClock().Monotonic() - start, absl::Seconds(5));
  EXPECT_EQ(Count(metrics, "dropped"), 5);
  api.Release();
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(30)));
  // One POST, then every queued repeat a PATCH of the same Event.
  EXPECT_EQ(api.requests("POST").size(), 1u);
  EXPECT_EQ(api.events().begin()->second["count"], 1 + kMaxQueuedPodEvents);
  EXPECT_EQ(Count(metrics, "dropped"), 5);
}

TEST(PodEventRecorderTest, StopIsPromptWhileTheApiServerIsDown) {
  FakeApi api;
  api.set_handler([](const Request&) -> absl::StatusOr<Response> {
    return absl::UnavailableError("connect refused");
  });
  telemetry::MetricsRegistry metrics;
  PodEventsOptions options = Options(&api, &metrics);
  // Long waits: a Stop that waited them out would take minutes.
  options.retry.max_attempts = 100;
  options.retry.backoff = BackoffOptions{absl::Seconds(30), absl::Seconds(60), false};
  options.retry.deadline = absl::Minutes(10);
  options.unavailable_backoff = BackoffOptions{absl::Minutes(5), absl::Minutes(5), false};
  PodEventRecorder recorder(options);
  recorder.Start();
  recorder.Offer(Denied(1));
  recorder.Offer(Denied(2));
  recorder.Offer(Denied(3));
  ASSERT_TRUE(api.WaitCalls(1));
  absl::Duration start = SystemClock().Monotonic();
  recorder.Stop();
  EXPECT_LT(SystemClock().Monotonic() - start, absl::Seconds(10));
  EXPECT_EQ(Count(metrics, "dropped"), 3);  // the held one and the two queued
  recorder.Offer(Denied(4));                // after Stop: dropped
  EXPECT_EQ(Count(metrics, "dropped"), 4);
}

TEST(PodEventRecorderTest, StopEndsAfterTheRequestInFlightAndSendsNoMore) {
  FakeApi api;
  api.Block();
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  recorder.Offer(Denied(1));
  v1::Event other = Denied(2);
  other.set_pod_name("other");
  recorder.Offer(other);
  ASSERT_TRUE(api.WaitCalls(1));
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(200));
    api.Release();
  });
  recorder.Stop();  // waits for the call in flight (the real Client bounds it), no longer
  release.join();
  EXPECT_EQ(api.requests().size(), 1u);
  EXPECT_EQ(Count(metrics, "created"), 1);
  EXPECT_EQ(Count(metrics, "dropped"), 1);
}

TEST(PodEventRecorderTest, TheDedupCacheIsBounded) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PodEventRecorder recorder(Options(&api, &metrics));
  recorder.Start();
  // kMaxDedupEntries + 1 distinct keys; the first is then the least recently used, gone.
  uint64_t seq = 0;
  for (size_t i = 0; i <= kMaxDedupEntries; ++i) {
    v1::Event e = Denied(++seq);
    e.set_pod_name(StrCat("pod-", std::to_string(i)));
    recorder.Offer(e);
    if (i % 500 == 0) {
      ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(30)));
    }
  }
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(30)));
  v1::Event first = Denied(++seq);
  first.set_pod_name("pod-0");
  first.set_time_unix_micros(first.time_unix_micros() + 1'000'000);
  v1::Event last = Denied(++seq);
  last.set_pod_name(StrCat("pod-", std::to_string(kMaxDedupEntries)));
  recorder.Offer(first);
  recorder.Offer(last);
  ASSERT_TRUE(recorder.WaitIdle(absl::Seconds(30)));
  EXPECT_EQ(api.requests("POST").size(), kMaxDedupEntries + 2);  // pod-0 again: created
  EXPECT_EQ(api.requests("PATCH").size(), 1u);                   // the newest: counted
}

}  // namespace
}  // namespace layerseal::controller::kube
