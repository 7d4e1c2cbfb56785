// PolicyReports (controller/kube/policy_reports.h) over a fake API server behind the
// ApiTransport seam: results from verdict events, the bounds, both APIs' objects checked
// against the real CRD files' schemas (packaging/helm/layerseal/files/crds), and the
// writer's create / replace / conflict / deleted / down paths. A real SQLite EventStore for
// Seed. The real API server: tests/integration/policy_reports_apiserver_test.cc.
#include "controller/kube/policy_reports.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "controller/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/verdict_event.h"
#include "verifier/verdict.h"
#include "yaml-cpp/yaml.h"

namespace layerseal::controller::kube {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kBaseMicros = 1765000000000000;  // 2025-12-06

using testing::VerdictEvent;

// ---------------------------------------------------------------------------------------
// The CRDs' schemas, read from the chart's copies of the upstream files, and a structural
// check of an object against them: every member the object has must be in the schema (the
// API server would prune it silently), types, enums and required members as declared.

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return node.as<std::string>();
    default:
      return nullptr;
  }
}

std::string CrdPath(const std::string& file) {
  std::string dir = file.rfind("openreports", 0) == 0 ? "openreports.io" : "wgpolicyk8s.io";
  return StrCat(LAYERSEAL_SOURCE_DIR, "/packaging/helm/layerseal/files/crds/", dir, "/", file);
}

// The openAPIV3Schema of `version` in the CRD file.
json CrdSchema(const std::string& file, const std::string& version) {
  YAML::Node crd = YAML::LoadFile(CrdPath(file));
  json j = YamlToJson(crd);
  for (const json& v : j["spec"]["versions"]) {
    if (v["name"] == version) return v["schema"]["openAPIV3Schema"];
  }
  ADD_FAILURE() << file << " has no version " << version;
  return json::object();
}

void CheckSchema(const json& schema, const json& value, const std::string& at,
                 std::vector<std::string>* errors) {
  std::string type = schema.value("type", "");
  if (type == "object") {
    if (!value.is_object()) return errors->push_back(at + ": not an object");
    if (at == ".metadata") return;  // the API server's own
    for (const json& name : schema.value("required", json::array())) {
      if (!value.contains(name.get<std::string>())) {
        errors->push_back(StrCat(at, ": required member ", name.get<std::string>(), " missing"));
      }
    }
    for (const auto& [key, member] : value.items()) {
      if (schema.contains("properties") && schema["properties"].contains(key)) {
        CheckSchema(schema["properties"][key], member, at + "." + key, errors);
      } else if (schema.contains("additionalProperties")) {
        CheckSchema(schema["additionalProperties"], member, at + "." + key, errors);
      } else {
        errors->push_back(StrCat(at, ".", key, ": not in the schema (would be pruned)"));
      }
    }
  } else if (type == "array") {
    if (!value.is_array()) return errors->push_back(at + ": not an array");
    for (size_t i = 0; i < value.size(); ++i) {
      CheckSchema(schema["items"], value[i], StrCat(at, "[", i, "]"), errors);
    }
  } else if (type == "string") {
    if (!value.is_string()) return errors->push_back(at + ": not a string");
    if (schema.contains("enum")) {
      bool found = false;
      for (const json& e : schema["enum"]) found = found || e == value;
      if (!found) errors->push_back(StrCat(at, ": ", value.get<std::string>(), " not in enum"));
    }
  } else if (type == "integer") {
    if (!value.is_number_integer()) errors->push_back(at + ": not an integer");
  } else if (type == "boolean") {
    if (!value.is_boolean()) errors->push_back(at + ": not a boolean");
  } else {
    errors->push_back(StrCat(at, ": schema type \"", type, "\" unknown to this check"));
  }
}

std::vector<std::string> SchemaErrors(const json& schema, const json& object) {
  std::vector<std::string> errors;
  CheckSchema(schema, object, "", &errors);
  return errors;
}

// ---------------------------------------------------------------------------------------
// A fake API server for one resource kind: objects by path, resourceVersions, conflicts,
// Status bodies like the real one's; and switches to be down or stuck.

class FakeApi : public ApiTransport {
 public:
  absl::StatusOr<Response> Do(std::string_view method, std::string_view path, std::string_view body,
                              std::string_view content_type) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    requests_.push_back(StrCat(method, " ", path));
    cv_.wait(lock, [this] { return !stuck_; });
    if (down_) return absl::UnavailableError("connect to https://127.0.0.1:1: refused");
    EXPECT_EQ(content_type, "application/json");
    std::string p(path);
    if (method == "GET") {
      auto it = objects_.find(p);
      if (it == objects_.end()) return NotFound(p, "policyreports");
      return Response{200, it->second.dump(), ""};
    }
    json object = json::parse(body);
    if (method == "POST") {
      std::string ns = object["metadata"]["namespace"];
      if (missing_namespaces_.count(ns) > 0) return NotFound(ns, "namespaces");
      std::string item = StrCat(p, "/", object["metadata"]["name"].get<std::string>());
      if (create_before_next_post_) {  // another writer's POST lands just before ours
        create_before_next_post_ = false;
        json theirs = object;
        theirs["results"] = json::array();
        Store(item, theirs, 201);
      }
      if (objects_.count(item) > 0) return Failure(409, "AlreadyExists", "already exists");
      if (object["metadata"].contains("resourceVersion")) {
        return Failure(400, "BadRequest",
                       "resourceVersion should not be set on objects to be created");
      }
      return Store(item, std::move(object), 201);
    }
    if (method == "PUT") {
      auto it = objects_.find(p);
      if (it == objects_.end()) return NotFound(p, "policyreports");
      if (object["metadata"].value("resourceVersion", "") !=
          it->second["metadata"]["resourceVersion"]) {
        return Failure(409, "Conflict", "the object has been modified");
      }
      if (conflicts_to_inject_ > 0) {  // someone else writes first
        --conflicts_to_inject_;
        BumpLocked(p);
        return Failure(409, "Conflict", "the object has been modified");
      }
      return Store(p, std::move(object), 200);
    }
    return Failure(405, "MethodNotAllowed", "method not allowed");
  }

  json Object(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(path);
    return it == objects_.end() ? json() : it->second;
  }
  void Delete(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_.erase(path);
  }
  // An admin's change: a new resourceVersion, so our next PUT conflicts.
  void Bump(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    BumpLocked(path);
  }
  void SetDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  void SetStuck(bool stuck) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stuck_ = stuck;
    }
    cv_.notify_all();
  }
  void InjectConflicts(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    conflicts_to_inject_ = n;
  }
  void CreateBeforeNextPost() {
    std::lock_guard<std::mutex> lock(mu_);
    create_before_next_post_ = true;
  }
  void MissingNamespace(const std::string& ns) {
    std::lock_guard<std::mutex> lock(mu_);
    missing_namespaces_.insert(ns);
  }
  std::vector<std::string> TakeRequests() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(requests_, {});
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  static Response Failure(long code, const std::string& reason, const std::string& message,
                          json details = json::object()) {
    json status = {{"kind", "Status"},   {"apiVersion", "v1"}, {"status", "Failure"},
                   {"message", message}, {"reason", reason},   {"details", details},
                   {"code", code}};
    return Response{code, status.dump(), ""};
  }
  static Response NotFound(const std::string& name, const std::string& kind) {
    return Failure(404, "NotFound", StrCat(kind, " \"", name, "\" not found"),
                   {{"name", name}, {"kind", kind}});
  }
  Response Store(const std::string& path, json object, long code) {
    object["metadata"]["resourceVersion"] = std::to_string(++version_);
    objects_[path] = object;
    return Response{code, object.dump(), ""};
  }
  void BumpLocked(const std::string& path) {
    auto it = objects_.find(path);
    if (it != objects_.end())
      it->second["metadata"]["resourceVersion"] = std::to_string(++version_);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, json> objects_;
  std::set<std::string> missing_namespaces_;
  std::vector<std::string> requests_;
  int version_ = 100;
  int calls_ = 0;
  int conflicts_to_inject_ = 0;
  bool down_ = false;
  bool stuck_ = false;
  bool create_before_next_post_ = false;
};

constexpr char kWgPath[] = "/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-a/policyreports";
constexpr char kOrPath[] = "/apis/openreports.io/v1alpha1/namespaces/team-a/reports";

PolicyReportsOptions Options(FakeApi* api, telemetry::MetricsRegistry* metrics,
                             ReportApi which = ReportApi::kWgPolicy, size_t max_results = 100) {
  PolicyReportsOptions o;
  o.transport = api;
  o.api = which;
  o.max_results = max_results;
  o.metrics = metrics;
  o.retry.max_attempts = 2;
  o.retry.backoff = BackoffOptions{absl::Milliseconds(1), absl::Milliseconds(5), false};
  o.retry.deadline = absl::Seconds(5);
  return o;
}

// The value of one series in the registry's text, or -1 when absent.
double Metric(const telemetry::MetricsRegistry& metrics, const std::string& series) {
  std::string text = metrics.RenderText();
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// ---------------------------------------------------------------------------------------

TEST(PolicyReportsTest, ParsesTheApiSetting) {
  for (ReportApi api : {ReportApi::kOff, ReportApi::kWgPolicy, ReportApi::kOpenReports}) {
    absl::StatusOr<ReportApi> parsed = ParseReportApi(ReportApiName(api));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, api);
  }
  absl::StatusOr<ReportApi> bad = ParseReportApi("kyverno.io");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("kyverno.io"));
}

// Every reason of verifier/verdict.h has a rule: a reason added without one fails here.
TEST(PolicyReportsTest, EveryReasonHasARule) {
  for (int i = 0; i < kReasonCount; ++i) {
    std::string_view name = ReasonName(static_cast<Reason>(i));
    EXPECT_NE(RuleForReason(name), "other") << name << " has no rule in RuleForReason";
  }
  EXPECT_EQ(RuleForReason("VERIFIED"), "signed");
  EXPECT_EQ(RuleForReason("BAD_SIGNATURE"), "signed");
  EXPECT_EQ(RuleForReason("UNTRUSTED_IDENTITY"), "signed");
  EXPECT_EQ(RuleForReason("INSECURE_ACCEPT_ANYTHING"), "unsigned");
  EXPECT_EQ(RuleForReason("POLICY_UNAVAILABLE"), "policy");
  EXPECT_EQ(RuleForReason("UNTRUSTED_BASE"), "trustedBases");
  EXPECT_EQ(RuleForReason("PROTECTED_PATH"), "protectedPaths");
  EXPECT_EQ(RuleForReason("INTEGRITY_MISMATCH"), "integrity");
  EXPECT_EQ(RuleForReason("NO_SUCH_REASON"), "other");
  EXPECT_EQ(RuleForReason(""), "other");
}

TEST(PolicyReportsTest, MapsVerdictsToResults) {
  auto result = [](const v1::Event& e) { return ReportResultFor(e)->second.result; };
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros)), "pass");
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "BAD_SIGNATURE", false)),
            "fail");
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "NOT_SIGNED", true, "warn")),
            "warn");
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "NOT_SIGNED", true, "audit")),
            "warn");
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "REGISTRY_ERROR", false)),
            "error");
  // A scope that allows on registry errors admitted an image nobody verified: not a pass.
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros, "ALLOW", "REGISTRY_ERROR", true)),
            "error");
  EXPECT_EQ(result(VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "CONTENT_UNAVAILABLE", false)),
            "error");

  v1::Event unavailable =
      VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "POLICY_UNAVAILABLE", false);
  unavailable.mutable_verdict()->clear_scope();
  auto made = ReportResultFor(unavailable);
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ(made->second.result, "error");
  EXPECT_EQ(made->second.policy, kNoScopePolicy);
  EXPECT_EQ(made->second.rule, "policy");

  auto denied = ReportResultFor(VerdictEvent("team-a", "web-1", "registry.example/team/app:1.0",
                                             kBaseMicros + 7, "DENY", "BAD_SIGNATURE", false));
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->first, "team-a");
  const ReportResult& r = denied->second;
  EXPECT_EQ(r.pod_name, "web-1");
  EXPECT_EQ(r.pod_uid, "uid-web-1");
  EXPECT_EQ(r.image, "registry.example/team/app:1.0");
  EXPECT_EQ(r.policy, "registry.example/team");
  EXPECT_EQ(r.rule, "signed");
  EXPECT_EQ(r.message, "BAD_SIGNATURE: no signature found");
  EXPECT_EQ(r.gate, "PullImage");
  EXPECT_EQ(r.node, "node-1");
  EXPECT_EQ(r.reason, "BAD_SIGNATURE");
  EXPECT_EQ(r.mode, "enforce");
  EXPECT_EQ(r.time, absl::FromUnixMicros(kBaseMicros + 7));
}

TEST(PolicyReportsTest, MakesNoResultWithoutAPodOrVerdict) {
  v1::Event lost = VerdictEvent("ns", "p", "i", kBaseMicros);
  lost.set_kind(v1::Event::EVENTS_LOST);
  EXPECT_FALSE(ReportResultFor(lost).has_value());
  EXPECT_FALSE(ReportResultFor(VerdictEvent("", "p", "i", kBaseMicros)).has_value());
  EXPECT_FALSE(ReportResultFor(VerdictEvent("ns", "", "i", kBaseMicros)).has_value());
  // The image as the request named it, else the verdict's reference.
  v1::Event no_image = VerdictEvent("ns", "p", "", kBaseMicros);
  no_image.mutable_verdict()->set_reference("registry.example/x:1");
  EXPECT_EQ(ReportResultFor(no_image)->second.image, "registry.example/x:1");
}

TEST(PolicyReportsTest, CutsLongFieldsAtACharacterBoundary) {
  v1::Event e = VerdictEvent("ns", "p", "i", kBaseMicros, "DENY", "BAD_SIGNATURE", false);
  std::string detail;
  while (detail.size() < 2 * kMaxResultMessageBytes) detail += "é";  // two bytes each
  e.mutable_verdict()->set_detail("x" + detail);  // odd offset: the cut falls mid-character
  e.set_image(std::string(4096, 'i'));
  e.set_node("node-\xff");  // not UTF-8 (an agent of another build): made valid
  ReportResult r = ReportResultFor(e)->second;
  EXPECT_LE(r.message.size(), kMaxResultMessageBytes);
  EXPECT_GE(r.message.size(), kMaxResultMessageBytes - 4);
  EXPECT_THAT(r.message, ::testing::EndsWith("\xE2\x80\xA6"));  // an ellipsis, no half character
  EXPECT_LE(r.image.size(), kMaxResultFieldBytes);
  EXPECT_EQ(r.node, "node-\xEF\xBF\xBD");
  EXPECT_NO_THROW(json(r.message).dump());  // valid UTF-8: dump throws on invalid
  EXPECT_NO_THROW(ReportObject(ReportApi::kWgPolicy, "ns", {r}).dump());
}

TEST(PolicyReportsTest, LatestVerdictPerPodAndImageReplaces) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr));
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros, "DENY", "NOT_SIGNED", false));
  reporter.Offer(VerdictEvent("team-a", "web", "sidecar:2", kBaseMicros + 1));
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros + 2));  // replaces the DENY
  // An older verdict delivered late (an agent's resend) does not replace the newer one.
  reporter.Offer(
      VerdictEvent("team-a", "web", "app:1", kBaseMicros + 1, "DENY", "NOT_SIGNED", false));
  reporter.Offer(VerdictEvent("team-b", "web", "app:1", kBaseMicros));
  std::vector<ReportResult> results = reporter.Results("team-a");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].image, "app:1");  // newest first
  EXPECT_EQ(results[0].result, "pass");
  EXPECT_EQ(results[0].time, absl::FromUnixMicros(kBaseMicros + 2));
  EXPECT_EQ(results[1].image, "sidecar:2");
  EXPECT_EQ(reporter.Results("team-b").size(), 1u);
  EXPECT_TRUE(reporter.Results("team-c").empty());
}

TEST(PolicyReportsTest, PrunesTheOldestAtTheBound) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PolicyReporter reporter(Options(&api, &metrics, ReportApi::kWgPolicy, /*max_results=*/3));
  for (int i = 0; i < 5; ++i) {
    reporter.Offer(VerdictEvent("team-a", StrCat("pod-", i), "app:1", kBaseMicros + i * 1000));
  }
  std::vector<std::string> pods;
  for (const ReportResult& r : reporter.Results("team-a")) pods.push_back(r.pod_name);
  EXPECT_THAT(pods, ElementsAre("pod-4", "pod-3", "pod-2"));
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_results_pruned_total"), 2);
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_results{namespace=\"team-a\"}"), 3);
  // Older than every result of a full report: pruned at once.
  reporter.Offer(VerdictEvent("team-a", "pod-old", "app:1", kBaseMicros - 1));
  EXPECT_EQ(reporter.Results("team-a").back().pod_name, "pod-2");
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_results_pruned_total"), 3);
  // A newer verdict for a kept key replaces it, pruning nothing.
  reporter.Offer(VerdictEvent("team-a", "pod-2", "app:1", kBaseMicros + 9000));
  pods.clear();
  for (const ReportResult& r : reporter.Results("team-a")) pods.push_back(r.pod_name);
  EXPECT_THAT(pods, ElementsAre("pod-2", "pod-4", "pod-3"));
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_results_pruned_total"), 3);
}

TEST(PolicyReportsTest, KeepsAReportWithinItsBytes) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr, ReportApi::kWgPolicy, kMaxResultsLimit));
  for (int i = 0; i < 2000; ++i) {
    v1::Event e = VerdictEvent("team-a", StrCat("pod-", i), std::string(600, 'i'), kBaseMicros + i,
                               "DENY", "BAD_SIGNATURE", false);
    e.mutable_verdict()->set_detail(std::string(600, '\x01'));  // escaped as \u0001: 6x
    reporter.Offer(e);
  }
  std::vector<ReportResult> results = reporter.Results("team-a");
  EXPECT_LT(results.size(), 2000u);
  EXPECT_GT(results.size(), 100u);
  EXPECT_EQ(results.front().pod_name, "pod-1999");
  json object = ReportObject(ReportApi::kWgPolicy, "team-a", results);
  EXPECT_LE(object["results"].dump().size(), kMaxReportBytes);
}

// Counted as the API server stores them: Go's JSON writes each '<', '>' and '&' as \u003c.
TEST(PolicyReportsTest, CountsBytesAsGoEscapesThem) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr, ReportApi::kWgPolicy, kMaxResultsLimit));
  for (int i = 0; i < 2000; ++i) {
    v1::Event e = VerdictEvent("team-a", StrCat("pod-", i), "app:1", kBaseMicros + i, "DENY",
                               "BAD_SIGNATURE", false);
    e.mutable_verdict()->set_detail(std::string(600, '<'));
    reporter.Offer(e);
  }
  std::string dumped =
      ReportObject(ReportApi::kWgPolicy, "team-a", reporter.Results("team-a"))["results"].dump();
  size_t go_bytes =
      dumped.size() + 5 * static_cast<size_t>(std::count(dumped.begin(), dumped.end(), '<'));
  EXPECT_LE(go_bytes, kMaxReportBytes);
  EXPECT_GT(go_bytes, kMaxReportBytes - 8 * 1024);  // and not far below it
}

// All namespaces together are bounded too: the oldest result anywhere is pruned first.
TEST(PolicyReportsTest, KeepsAllReportsWithinTheirTotalBytes) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PolicyReportsOptions options = Options(&api, &metrics);
  options.max_total_result_bytes = 20 * 1024;
  PolicyReporter reporter(options);
  for (int i = 0; i < 200; ++i) {  // one result in each of 200 namespaces, oldest first
    reporter.Offer(VerdictEvent(StrCat("ns-", i), "web", "app:1", kBaseMicros + i));
  }
  size_t kept = 0;
  for (int i = 0; i < 200; ++i) kept += reporter.Results(StrCat("ns-", i)).size();
  EXPECT_LT(kept, 200u);
  EXPECT_GT(kept, 10u);
  EXPECT_TRUE(reporter.Results("ns-0").empty());     // the oldest went
  EXPECT_EQ(reporter.Results("ns-199").size(), 1u);  // the newest stayed
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_results_pruned_total"),
            static_cast<double>(200 - kept));
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_results{namespace=\"ns-0\"}"), 0);
  // A namespace emptied by the total bound is written empty: its old results are gone.
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_EQ(
      api.Object("/apis/wgpolicyk8s.io/v1alpha2/namespaces/ns-0/policyreports/layerseal")["results"]
          .size(),
      0u);
}

TEST(PolicyReportsTest, CountsAndSkipsNamespacesBeyondTheLimit) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PolicyReporter reporter(Options(&api, &metrics));
  for (size_t i = 0; i < kMaxNamespaces + 2; ++i) {
    reporter.Offer(VerdictEvent(StrCat("ns-", i), "web", "app:1", kBaseMicros));
  }
  EXPECT_EQ(reporter.Results(StrCat("ns-", kMaxNamespaces - 1)).size(), 1u);
  EXPECT_TRUE(reporter.Results(StrCat("ns-", kMaxNamespaces)).empty());
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_report_events_skipped_total"), 2);
  // A namespace already tracked still takes new results.
  reporter.Offer(VerdictEvent("ns-0", "web", "app:2", kBaseMicros));
  EXPECT_EQ(reporter.Results("ns-0").size(), 2u);
}

std::vector<ReportResult> FourResults() {
  std::vector<ReportResult> results;
  for (const v1::Event& e : {
           VerdictEvent("team-a", "a", "app:1", kBaseMicros + 1'500'000),
           VerdictEvent("team-a", "b", "app:1", kBaseMicros + 2, "DENY", "BAD_SIGNATURE", false),
           VerdictEvent("team-a", "c", "app:1", kBaseMicros + 3, "DENY", "NOT_SIGNED", true,
                        "warn"),
           VerdictEvent("team-a", "d", "app:1", kBaseMicros + 4, "DENY", "REGISTRY_ERROR", false),
       }) {
    results.push_back(ReportResultFor(e)->second);
  }
  return results;
}

TEST(PolicyReportsTest, WgPolicyReportMatchesItsCrd) {
  json object = ReportObject(ReportApi::kWgPolicy, "team-a", FourResults());
  EXPECT_EQ(object["apiVersion"], "wgpolicyk8s.io/v1alpha2");
  EXPECT_EQ(object["kind"], "PolicyReport");
  EXPECT_EQ(object["metadata"]["name"], kReportName);
  EXPECT_EQ(object["metadata"]["namespace"], "team-a");
  EXPECT_EQ(object["metadata"]["labels"]["app.kubernetes.io/managed-by"], "layerseal");
  EXPECT_FALSE(object.contains("source"));  // not in v1alpha2's schema
  EXPECT_EQ(object["summary"],
            json({{"pass", 1}, {"fail", 1}, {"warn", 1}, {"error", 1}, {"skip", 0}}));
  ASSERT_EQ(object["results"].size(), 4u);
  const json& first = object["results"][0];  // newest first: pod a
  EXPECT_EQ(first["source"], "layerseal");
  EXPECT_EQ(first["policy"], "registry.example/team");
  EXPECT_EQ(first["rule"], "signed");
  EXPECT_EQ(first["result"], "pass");
  EXPECT_EQ(first["message"], "VERIFIED");
  EXPECT_EQ(first["timestamp"],
            json({{"seconds", kBaseMicros / 1000000 + 1}, {"nanos", 500000000}}));
  EXPECT_EQ(first["resources"], json::array({{{"apiVersion", "v1"},
                                              {"kind", "Pod"},
                                              {"namespace", "team-a"},
                                              {"name", "a"},
                                              {"uid", "uid-a"}}}));
  EXPECT_EQ(first["properties"]["image"], "app:1");
  EXPECT_EQ(first["properties"]["gate"], "PullImage");
  EXPECT_EQ(first["properties"]["node"], "node-1");
  EXPECT_EQ(first["properties"]["reason"], "VERIFIED");
  EXPECT_EQ(first["properties"]["mode"], "enforce");
  EXPECT_EQ(object["results"][1]["result"], "error");    // pod d, the next newest
  for (const char* version : {"v1alpha2", "v1beta1"}) {  // served, and the storage version
    EXPECT_THAT(SchemaErrors(CrdSchema("wgpolicyk8s.io_policyreports.yaml", version), object),
                ::testing::IsEmpty())
        << version;
  }
}

TEST(PolicyReportsTest, OpenReportsReportMatchesItsCrd) {
  json object = ReportObject(ReportApi::kOpenReports, "team-a", FourResults());
  EXPECT_EQ(object["apiVersion"], "openreports.io/v1alpha1");
  EXPECT_EQ(object["kind"], "Report");
  EXPECT_EQ(object["source"], "layerseal");
  EXPECT_EQ(object["summary"]["fail"], 1);
  EXPECT_THAT(SchemaErrors(CrdSchema("openreports.io_reports.yaml", "v1alpha1"), object),
              ::testing::IsEmpty());
  // The check itself finds what the API server would prune or refuse.
  object["results"][0]["status"] = "pass";
  object["results"][1]["result"] = "denied";
  object["results"][2].erase("policy");
  EXPECT_EQ(SchemaErrors(CrdSchema("openreports.io_reports.yaml", "v1alpha1"), object).size(), 3u);
}

TEST(PolicyReportsTest, EmptyReportMatchesItsCrd) {
  json object = ReportObject(ReportApi::kWgPolicy, "team-a", {});
  EXPECT_EQ(object["results"], json::array());
  EXPECT_THAT(SchemaErrors(CrdSchema("wgpolicyk8s.io_policyreports.yaml", "v1alpha2"), object),
              ::testing::IsEmpty());
}

TEST(PolicyReportsTest, CreatesThenReplaces) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PolicyReporter reporter(Options(&api, &metrics));
  ASSERT_TRUE(reporter.SyncNow().ok());  // nothing dirty: no request
  EXPECT_EQ(api.calls(), 0);

  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros, "DENY", "NOT_SIGNED", false));
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_THAT(api.TakeRequests(),
              ElementsAre(StrCat("GET ", kWgPath, "/layerseal"), StrCat("POST ", kWgPath)));
  json stored = api.Object(StrCat(kWgPath, "/layerseal"));
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["summary"]["fail"], 1);

  ASSERT_TRUE(reporter.SyncNow().ok());  // clean now: nothing written
  EXPECT_TRUE(api.TakeRequests().empty());

  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros + 1));
  ASSERT_TRUE(reporter.SyncNow().ok());
  // The resourceVersion of the last write: no GET needed.
  EXPECT_THAT(api.TakeRequests(), ElementsAre(StrCat("PUT ", kWgPath, "/layerseal")));
  stored = api.Object(StrCat(kWgPath, "/layerseal"));
  EXPECT_EQ(stored["summary"]["fail"], 0);
  EXPECT_EQ(stored["summary"]["pass"], 1);
  ASSERT_EQ(stored["results"].size(), 1u);
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_reports_writes_total{result=\"ok\"}"), 2);

  // The same event again (a resend) changes nothing: no write.
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros + 1));
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_TRUE(api.TakeRequests().empty());
}

TEST(PolicyReportsTest, WritesTheOpenReportsApi) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr, ReportApi::kOpenReports));
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  ASSERT_TRUE(reporter.SyncNow().ok());
  json stored = api.Object(StrCat(kOrPath, "/layerseal"));
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["kind"], "Report");
  EXPECT_EQ(stored["source"], "layerseal");
}

TEST(PolicyReportsTest, OffWritesNothing) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr, ReportApi::kOff));
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  EXPECT_TRUE(reporter.SyncNow().ok());
  EXPECT_EQ(api.calls(), 0);
}

TEST(PolicyReportsTest, RereadsAndRetriesOnConflict) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr));
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  ASSERT_TRUE(reporter.SyncNow().ok());
  api.TakeRequests();

  // Someone changed the report since our write: our PUT conflicts, we read and replace.
  api.Bump(StrCat(kWgPath, "/layerseal"));
  reporter.Offer(VerdictEvent("team-a", "web", "app:2", kBaseMicros + 1));
  ASSERT_TRUE(reporter.SyncNow().ok());
  std::string item = StrCat(kWgPath, "/layerseal");
  EXPECT_THAT(api.TakeRequests(), ElementsAre("PUT " + item, "GET " + item, "PUT " + item));
  EXPECT_EQ(api.Object(item)["results"].size(), 2u);

  // Someone writes between our read and our write, twice in a row: still written.
  api.InjectConflicts(2);
  reporter.Offer(VerdictEvent("team-a", "web", "app:3", kBaseMicros + 2));
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_EQ(api.Object(item)["results"].size(), 3u);

  // Forever: given up after kMaxConflictRetries, the namespace stays dirty.
  api.InjectConflicts(1000);
  reporter.Offer(VerdictEvent("team-a", "web", "app:4", kBaseMicros + 3));
  absl::Status s = reporter.SyncNow();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  api.InjectConflicts(0);
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_EQ(api.Object(item)["results"].size(), 4u);
}

TEST(PolicyReportsTest, CreatedBySomeoneElseFirstIsReplaced) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr));
  // Another writer makes it between our GET (404) and our POST: 409, read again, PUT.
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  api.CreateBeforeNextPost();
  ASSERT_TRUE(reporter.SyncNow().ok());
  std::string item = StrCat(kWgPath, "/layerseal");
  EXPECT_THAT(api.TakeRequests(),
              ElementsAre("GET " + item, StrCat("POST ", kWgPath), "GET " + item, "PUT " + item));
  ASSERT_EQ(api.Object(item)["results"].size(), 1u);
  EXPECT_EQ(api.Object(item)["results"][0]["resources"][0]["name"], "web");
}

TEST(PolicyReportsTest, ReportDeletedIsWrittenAgainAtTheNextChange) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr));
  std::string item = StrCat(kWgPath, "/layerseal");
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  ASSERT_TRUE(reporter.SyncNow().ok());
  api.Delete(item);
  ASSERT_TRUE(reporter.SyncNow().ok());  // no change: not written
  EXPECT_TRUE(api.Object(item).is_null());
  api.TakeRequests();
  reporter.Offer(VerdictEvent("team-a", "web", "app:2", kBaseMicros + 1));
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_THAT(api.TakeRequests(),
              ElementsAre("PUT " + item, "GET " + item, StrCat("POST ", kWgPath)));
  EXPECT_EQ(api.Object(item)["results"].size(), 2u);
}

TEST(PolicyReportsTest, ForgetsANamespaceThatDoesNotExist) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PolicyReporter reporter(Options(&api, &metrics));
  api.MissingNamespace("gone");
  reporter.Offer(VerdictEvent("gone", "web", "app:1", kBaseMicros));
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  absl::Status s = reporter.SyncNow();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_TRUE(reporter.Results("gone").empty());
  EXPECT_TRUE(api.Object(StrCat(kWgPath, "/layerseal")).is_object());  // the other one written
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_reports_writes_total{result=\"failed\"}"),
            1);
  api.TakeRequests();
  EXPECT_TRUE(reporter.SyncNow().ok());  // not retried
  EXPECT_TRUE(api.TakeRequests().empty());
}

TEST(PolicyReportsTest, ApiServerDownKeepsNamespacesDirtyThenWrites) {
  FakeApi api;
  telemetry::MetricsRegistry metrics;
  PolicyReporter reporter(Options(&api, &metrics));
  api.SetDown(true);
  reporter.Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  reporter.Offer(VerdictEvent("team-b", "web", "app:1", kBaseMicros));
  absl::Status s = reporter.SyncNow();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("team-a"));
  // The round ended at the first transport error: team-b was not tried (2 attempts of one GET).
  EXPECT_EQ(api.TakeRequests().size(), 2u);
  EXPECT_EQ(Metric(metrics, "layerseal_controller_policy_reports_writes_total{result=\"failed\"}"),
            1);
  EXPECT_EQ(reporter.Results("team-a").size(), 1u);
  EXPECT_FALSE(reporter.SyncNow().ok());  // still down, still dirty

  api.SetDown(false);
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_TRUE(api.Object(StrCat(kWgPath, "/layerseal")).is_object());
  EXPECT_TRUE(api.Object("/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-b/policyreports/layerseal")
                  .is_object());
}

TEST(PolicyReportsTest, OfferNeverBlocksWhileTheTransportIsStuck) {
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr));
  reporter.Offer(VerdictEvent("team-a", "web", "app:0", kBaseMicros));
  api.SetStuck(true);
  std::thread round([&] { EXPECT_TRUE(reporter.SyncNow().ok()); });
  while (api.calls() == 0) absl::SleepFor(absl::Milliseconds(1));  // the round is in Do
  std::atomic<bool> offered{false};
  std::thread offers([&] {
    for (int i = 1; i <= 1000; ++i) {
      reporter.Offer(VerdictEvent("team-a", "web", StrCat("app:", i), kBaseMicros + i));
    }
    EXPECT_EQ(reporter.Results("team-a").size(), 100u);  // max_results
    offered = true;
  });
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!offered && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(offered) << "Offer blocked behind a stuck API request";
  api.SetStuck(false);
  offers.join();
  round.join();
  // What was offered during the round is written by the next one.
  ASSERT_TRUE(reporter.SyncNow().ok());
  json stored = api.Object(StrCat(kWgPath, "/layerseal"));
  ASSERT_EQ(stored["results"].size(), 100u);
  EXPECT_EQ(stored["results"][0]["properties"]["image"], "app:1000");
}

TEST(PolicyReportsTest, WriterThreadWritesEveryIntervalAndStopWritesTheRest) {
  FakeApi api;
  PolicyReportsOptions options = Options(&api, nullptr);
  options.interval = absl::Milliseconds(20);
  auto reporter = std::make_unique<PolicyReporter>(options);
  reporter->Start();
  reporter->Offer(VerdictEvent("team-a", "web", "app:1", kBaseMicros));
  std::string item = StrCat(kWgPath, "/layerseal");
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (api.Object(item).is_null() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(api.Object(item).is_object());
  reporter->Stop();
  reporter->Stop();  // idempotent

  // A long interval: what is offered before Stop is written by Stop's last round.
  options.interval = absl::Hours(1);
  reporter = std::make_unique<PolicyReporter>(options);
  reporter->Start();
  reporter->Offer(VerdictEvent("team-a", "web", "app:2", kBaseMicros + 1));
  reporter->Offer(VerdictEvent("team-a", "web", "app:3", kBaseMicros + 2));
  reporter.reset();                                   // the destructor stops
  EXPECT_EQ(api.Object(item)["results"].size(), 2u);  // a new reporter: its own results only
}

TEST(PolicyReportsTest, SeedsFromTheEventStore) {
  layerseal::testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<EventStore>> store =
      OpenEventStore("sqlite://" + dir.File("events.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<v1::Event> events;
  uint64_t seq = 0;
  auto add = [&](v1::Event e) {
    e.set_seq(++seq);
    events.push_back(std::move(e));
  };
  add(VerdictEvent("team-a", "web", "app:1", kBaseMicros, "DENY", "NOT_SIGNED", false));
  add(VerdictEvent("team-a", "web", "app:1", kBaseMicros + 5));  // the newer: pass
  add(VerdictEvent("team-a", "db", "db:1", kBaseMicros + 1));
  add(VerdictEvent("team-b", "web", "app:1", kBaseMicros + 2, "DENY", "BAD_SIGNATURE", false));
  v1::Event lost;
  lost.set_kind(v1::Event::EVENTS_LOST);
  lost.set_node("node-1");
  lost.set_time_unix_micros(kBaseMicros);
  lost.set_lost_count(3);
  add(lost);
  add(VerdictEvent("", "", "app:1", kBaseMicros));  // no pod: no result
  absl::StatusOr<AppendResult> appended =
      (*store)->Append("node-1", v1::AgentStatus(), events, absl::Now());
  ASSERT_TRUE(appended.ok()) << appended.status();
  ASSERT_EQ(appended->stored, 6);

  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr));
  ASSERT_TRUE(reporter.Seed(**store).ok());
  std::vector<ReportResult> a = reporter.Results("team-a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].pod_name, "web");
  EXPECT_EQ(a[0].result, "pass");
  EXPECT_EQ(a[1].pod_name, "db");
  ASSERT_EQ(reporter.Results("team-b").size(), 1u);
  EXPECT_EQ(reporter.Results("team-b")[0].result, "fail");
  // Seeded namespaces are dirty: the first round writes them.
  ASSERT_TRUE(reporter.SyncNow().ok());
  EXPECT_EQ(api.Object(StrCat(kWgPath, "/layerseal"))["results"].size(), 2u);
}

TEST(PolicyReportsTest, SeedKeepsTheNewestAtTheBound) {
  layerseal::testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<EventStore>> store =
      OpenEventStore("sqlite://" + dir.File("events.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<v1::Event> events;
  for (int i = 0; i < 2500; ++i) {  // more than one page of kMaxPageSize
    v1::Event e = VerdictEvent("team-a", StrCat("pod-", i % 1500), "app:1", kBaseMicros + i);
    e.set_seq(i + 1);
    events.push_back(e);
  }
  ASSERT_TRUE((*store)->Append("node-1", v1::AgentStatus(), events, absl::Now()).ok());
  FakeApi api;
  PolicyReporter reporter(Options(&api, nullptr, ReportApi::kWgPolicy, /*max_results=*/100));
  ASSERT_TRUE(reporter.Seed(**store).ok());
  std::vector<ReportResult> results = reporter.Results("team-a");
  ASSERT_EQ(results.size(), 100u);
  // The newest 100 (pod-999 ... pod-900 at times 2400 ... 2499, as Offer in order would keep).
  EXPECT_EQ(results.front().time, absl::FromUnixMicros(kBaseMicros + 2499));
  EXPECT_EQ(results.front().pod_name, "pod-999");
  EXPECT_EQ(results.back().time, absl::FromUnixMicros(kBaseMicros + 2400));
}

}  // namespace
}  // namespace layerseal::controller::kube
