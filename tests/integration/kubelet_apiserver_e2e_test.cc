// Issue 19's headline, end to end: `kubectl describe pod` shows layerseal's own line next to
// the kubelet's, for a pod the real kubelet ran through the real agent.
//   the stock kubelet 1.26 of ../shared/bin (tests/support/kube_node.h), a static pod whose
//   image is unsigned under a `signed` policy
//     → layerseal-agent (CRI) → containerd (CRI plugin, temp root) → docker-registry;
//   the agent denies the pull and delivers the verdict (mutual TLS) to
//     layerseal-controller (--kube-pod-events, as its ServiceAccount identity bound to the
//     chart's ClusterRole) → kube-apiserver v1.24 + etcd (tests/support/kube_apiserver.h):
//     layerseal's Warning Event ImageSignatureDenied.
//
// The kubelet cannot talk to an API server itself: the only kubelet binary there is
// (../shared/bin/kubelet.xz) is built from KubeEdge's vendored copy of Kubernetes, where
// cmd/kubelet/app/server.go never builds a client from --kubeconfig (UnsecuredDependencies
// leaves KubeClient, EventClient and HeartbeatClient nil, run() has no client-building step,
// buildKubeletClientConfig returns nil): with --kubeconfig it still logs "No api server
// defined - no events will be sent to API server" and "kubeclient not set, assuming
// standalone kubelet". So the test carries the kubelet's two writes to the API server over,
// as the kubelet's own code would make them:
//   - the mirror Pod (kubelet/pod/mirror_client.go CreateMirrorPod): the static pod as the
//     kubelet holds it (its read-only GET /pods: spec, labels, annotations), with annotation
//     kubernetes.io/config.mirror = its kubernetes.io/config.hash (= the static pod's uid);
//   - the kubelet's Events about the pod, each exactly as its recorder recorded it (at --v=3
//     the recorder logs every Event, "Event occurred" with fieldPath, kind, type, reason and
//     message): a core/v1 Event with source.component "kubelet" and involvedObject the
//     pod's reference (client-go tools/reference: kind Pod, namespace, name, the static
//     pod's uid), as client-go's EventSinkImpl posts it.
// Everything else is real, and the kubelet's Event texts and the pod's uid are its own.
// Then the test lists the pod's Events exactly as kubectl describe pod does
// (kubernetes/kubectl pkg/describe/describe.go, PodDescriber.Describe + searchEvents): GET
// the Pod; for a mirror Pod take the uid from its kubernetes.io/config.mirror annotation (not
// the mirror Pod's own uid); list Events in the Pod's namespace with fieldSelector
// involvedObject.name, involvedObject.namespace and involvedObject.uid. The kubelet's Warning
// about the pull and layerseal's ImageSignatureDenied must both be in that one list (which
// holds only when the uid layerseal's Event carries is the one the kubelet's CRI calls gave
// the agent); they are printed the way kubectl's Events table prints them.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/cleanup/cleanup.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "controller/kube/client.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/images.h"
#include "tests/support/kube_apiserver.h"
#include "tests/support/kube_node.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "tests/support/tls_certs.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::ReadFileOrDie;

// How long the test waits for something that should happen; never a measure of speed. The
// kubelet's first pull waits for the pause sandbox to start.
constexpr absl::Duration kKubeletPatience = absl::Minutes(3);
constexpr char kNodeName[] = "layerseal-node";
constexpr char kPodNamespace[] = "default";
constexpr char kMirrorAnnotation[] = "kubernetes.io/config.mirror";
constexpr char kConfigHashAnnotation[] = "kubernetes.io/config.hash";
// The kubelet 1.26's Warning reasons for a failed pull (kubelet/images/image_manager.go and
// kuberuntime: events.FailedToPullImage, ErrImagePull, BackOff).
const std::vector<std::string>& KubeletPullReasons() {
  static const auto* reasons = new std::vector<std::string>{"Failed", "ErrImagePull", "BackOff"};
  return *reasons;
}

// What kubectl describe pod lists under "Events:" for Pod `ns`/`name`, or an error. With
// `mirror_uid` false, the Pod's own uid is used even for a mirror Pod (what a describer that
// ignored the annotation would list).
absl::StatusOr<std::vector<json>> DescribePodEvents(testing::KubeApiServer& api, const std::string& ns,
                                                    const std::string& name, bool mirror_uid = true) {
  absl::StatusOr<json> pod = api.Admin("GET", StrCat("/api/v1/namespaces/", ns, "/pods/", name));
  if (!pod.ok()) return pod.status();
  json metadata = pod->value("metadata", json::object());
  std::string uid = metadata.value("uid", "");
  json annotations = metadata.value("annotations", json::object());
  if (mirror_uid && annotations.is_object() && annotations.contains(kMirrorAnnotation)) {
    uid = annotations[kMirrorAnnotation].get<std::string>();
  }
  // client-go's GetFieldSelector: a fields.Set, whose String() sorts the keys.
  std::string selector = StrCat("involvedObject.name=", name, ",involvedObject.namespace=", ns,
                                ",involvedObject.uid=", uid);
  absl::StatusOr<json> list = api.Admin(
      "GET", StrCat("/api/v1/namespaces/", ns, "/events?fieldSelector=", controller::kube::EscapePathSegment(selector)));
  if (!list.ok()) return list.status();
  std::vector<json> events;
  for (const json& e : list->value("items", json::array())) events.push_back(e);
  // kubectl's event.SortableEvents: by lastTimestamp (eventTime when that is unset).
  auto when = [](const json& e) {
    std::string t = e.value("lastTimestamp", json()).is_string() ? e["lastTimestamp"].get<std::string>() : "";
    return t.empty() && e.value("eventTime", json()).is_string() ? e["eventTime"].get<std::string>() : t;
  };
  std::stable_sort(events.begin(), events.end(),
                   [&](const json& a, const json& b) { return when(a) < when(b); });
  return events;
}

// One row of kubectl's Events table: Type, Reason, Age (here the count), From, Message.
std::string EventsTableRow(const json& e) {
  std::string from = e.value("source", json::object()).value("component", "");
  if (from.empty()) from = e.value("reportingComponent", "");
  int count = e.value("count", 1);
  return StrCat("  ", e.value("type", ""), "\t", e.value("reason", ""), "\t",
                count > 1 ? StrCat("x", count) : std::string("x1"), "\t", from, "\t",
                e.value("message", ""));
}


// One Event the kubelet's recorder recorded, from its "Event occurred" log line (client-go
// tools/record StartStructuredLogging: klog InfoS with Go-quoted values).
struct RecordedEvent {
  std::map<std::string, std::string> fields;  // object, fieldPath, kind, apiVersion, type, reason, message
  int count = 1;
};

// The key="value" pairs after `"Event occurred"` on one klog line; values unquoted (\" \\ \n
// \t undone). Empty when the line is not such a record.
std::map<std::string, std::string> ParseEventLine(const std::string& line) {
  std::map<std::string, std::string> fields;
  size_t at = line.find("\"Event occurred\"");
  if (at == std::string::npos) return fields;
  size_t i = at + 16;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t eq = line.find('=', i);
    if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
    std::string key = line.substr(i, eq - i), value;
    size_t j = eq + 2;
    for (; j < line.size() && line[j] != '"'; ++j) {
      if (line[j] == '\\' && j + 1 < line.size()) {
        char c = line[++j];
        value.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c);
      } else {
        value.push_back(line[j]);
      }
    }
    fields[key] = value;
    i = j + 1;
  }
  return fields;
}

// The Events the kubelet recorded about Pod `ns`/`name`, repeats counted (the kubelet's
// correlator would count them on one Event), in the order first recorded.
std::vector<RecordedEvent> RecordedPodEvents(const std::string& log, const std::string& ns,
                                             const std::string& name) {
  std::vector<RecordedEvent> events;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    std::map<std::string, std::string> f = ParseEventLine(line);
    if (f["object"] != StrCat(ns, "/", name) || f["kind"] != "Pod") continue;
    auto same = [&](const RecordedEvent& e) {
      return e.fields.at("type") == f["type"] && e.fields.at("reason") == f["reason"] &&
             e.fields.at("message") == f["message"] && e.fields.at("fieldPath") == f["fieldPath"];
    };
    auto it = std::find_if(events.begin(), events.end(), same);
    if (it != events.end()) {
      ++it->count;
    } else {
      events.push_back({.fields = f});
    }
  }
  return events;
}

// Writes (or re-counts) the kubelet's recorded Event `e` about the static pod with uid `uid`
// as client-go's EventSinkImpl would: a core/v1 Event, source the kubelet on `node`.
absl::Status PostKubeletEvent(testing::KubeApiServer& api, const RecordedEvent& e, size_t index,
                              const std::string& ns, const std::string& pod, const std::string& uid,
                              const std::string& node) {
  const std::string name = StrCat(pod, ".kubelet-", index);
  const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject",
                 {{"kind", "Pod"},
                  {"namespace", ns},
                  {"name", pod},
                  {"uid", uid},
                  {"apiVersion", "v1"},
                  {"fieldPath", e.fields.at("fieldPath")}}},
                {"reason", e.fields.at("reason")},
                {"message", e.fields.at("message")},
                {"type", e.fields.at("type")},
                {"source", {{"component", "kubelet"}, {"host", node}}},
                {"firstTimestamp", now},
                {"lastTimestamp", now},
                {"count", e.count}};
  absl::StatusOr<json> created = api.Admin("POST", StrCat("/api/v1/namespaces/", ns, "/events"), event);
  if (created.ok() || !absl::IsAlreadyExists(created.status())) return created.status();
  absl::StatusOr<json> old = api.Admin("GET", StrCat("/api/v1/namespaces/", ns, "/events/", name));
  if (!old.ok()) return old.status();
  if (old->value("count", 0) == e.count) return absl::OkStatus();
  event["metadata"] = (*old)["metadata"];
  event["firstTimestamp"] = (*old)["firstTimestamp"];
  return api.Admin("PUT", StrCat("/api/v1/namespaces/", ns, "/events/", name), event).status();
}

TEST(KubeletApiserverE2eTest, DescribePodShowsLayersealsEventNextToTheKubelets) {
  const absl::Time test_start = absl::Now();
  testing::TempDir dir;
  absl::StatusOr<std::string> kubelet_binary = testing::UnpackSharedProgram("kubelet", dir.path());
  ASSERT_TRUE(kubelet_binary.ok()) << kubelet_binary.status();
  absl::StatusOr<std::string> crictl = testing::UnpackSharedProgram("crictl", dir.path());
  ASSERT_TRUE(crictl.ok()) << crictl.status();

  // The API server; the controller's RBAC as the chart's.
  absl::StatusOr<std::unique_ptr<testing::KubeApiServer>> api = testing::KubeApiServer::Start();
  ASSERT_TRUE(api.ok()) << api.status();
  testing::KubeApiServer& k8s = **api;
  absl::Status role = k8s.ApplyYamlFile(
      StrCat(LAYERSEAL_SOURCE_DIR, "/packaging/helm/layerseal/files/controller-clusterrole.yaml"));
  ASSERT_TRUE(role.ok()) << role;
  ASSERT_TRUE(k8s.BindControllerClusterRole("layerseal-controller").ok());

  // The registry: a runnable pause image (containerd pulls it itself, the agent never judges
  // it) and the pod's image, not signed.
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry = testing::RegistryServer::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  const std::string host = (*registry)->host();
  const std::string pause = StrCat(host, "/pause:1"), image = StrCat(host, "/team/unsigned:1");
  registry::RegistryClient push_client((*registry)->ClientOptions());
  ASSERT_TRUE(testing::PushTestImage(push_client, *Reference::Parse(pause),
                                     testing::StandInImage("apiserver-pause", {"/bin/sleep", "2147483647"}))
                  .ok());
  ASSERT_TRUE(testing::PushTestImage(push_client, *Reference::Parse(image),
                                     testing::MakeBaseImage({.seed = "kubelet-apiserver-unsigned"}))
                  .ok());
  PrivateKey key = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  testing::WriteFileOrDie(dir.File("ci.pub"), key.public_key().ToPem());
  testing::WriteFileOrDie(dir.File("policy.yaml"),
                          StrCat("version: 1\n"
                                 "keys:\n  ci: {path: ", dir.File("ci.pub"), "}\n"
                                 "default: {requirement: signed, keys: [ci]}\n"));

  absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd = testing::ContainerdServer::Start(
      {.cri = true, .plain_http_registries = {host}, .sandbox_image = pause});
  ASSERT_TRUE(containerd.ok()) << containerd.status();
  // After the kubelet (declared below, destroyed first), before containerd: no pod outlives
  // the test.
  absl::Cleanup remove_pods = [&] {
    absl::Status removed = testing::RemoveAllPods(*crictl, (*containerd)->socket());
    EXPECT_TRUE(removed.ok()) << removed;
  };

  // The controller, as its ServiceAccount, and the agent delivering to it.
  absl::StatusOr<testing::TlsCerts> certs = testing::MakeTlsCerts(dir.path(), {kNodeName}, {});
  ASSERT_TRUE(certs.ok()) << certs.status();
  int grpc_port = testing::PickFreePort();
  absl::StatusOr<std::unique_ptr<testing::Child>> controller = testing::Child::Spawn(
      {LAYERSEAL_CONTROLLER_BINARY, "--listen", StrCat("127.0.0.1:", grpc_port), "--tls-cert",
       certs->server.cert, "--tls-key", certs->server.key, "--client-ca", certs->ca.cert,
       "--database", "sqlite:" + dir.File("events.db"), "--admin",
       StrCat("127.0.0.1:", testing::PickFreePort()), "--web", "", "--kube-pod-events",
       "--kubeconfig", k8s.ControllerKubeconfig()},
      dir.File("controller.log"));
  ASSERT_TRUE(controller.ok()) << controller.status();
  ASSERT_TRUE(testing::WaitForPort(grpc_port, absl::Seconds(30)))
      << ReadFileOrDie(dir.File("controller.log"));
  int admin_port = testing::PickFreePort();
  const testing::CertKey& node = certs->client.at(kNodeName);
  absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
      {"--listen", dir.File("agent.sock"), "--runtime-endpoint", (*containerd)->socket(),
       "--policy", dir.File("policy.yaml"), "--state-dir", dir.File("state"), "--node-name",
       kNodeName, "--admin", StrCat("127.0.0.1:", admin_port), "--health-socket", "",
       "--plain-http-registry", host, "--controller", StrCat("127.0.0.1:", grpc_port),
       "--controller-ca", certs->ca.cert, "--controller-cert", node.cert, "--controller-key",
       node.key},
      {}, admin_port, dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();

  // The kubelet in front of the agent, logging the Events it records; one static pod with
  // the unsigned image.
  absl::StatusOr<std::unique_ptr<testing::KubeletServer>> kubelet = testing::KubeletServer::Start(
      {.kubelet_binary = *kubelet_binary,
       .runtime_endpoint = dir.File("agent.sock"),
       .node_name = kNodeName,
       .log_verbosity = 3});
  ASSERT_TRUE(kubelet.ok()) << kubelet.status();
  auto logs = [&] {
    constexpr size_t kTail = 8000;
    auto tail = [](const std::string& s) { return s.size() <= kTail ? s : s.substr(s.size() - kTail); };
    return StrCat("\n--- agent\n", tail((*agent)->Log()), "\n--- controller\n",
                  tail(ReadFileOrDie(dir.File("controller.log"))), "\n--- kubelet\n",
                  tail((*kubelet)->Log()), "\n--- kube-apiserver\n", tail(k8s.Log()));
  };
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "unsigned"}, {"namespace", kPodNamespace}}},
              {"spec",
               {{"hostNetwork", true},
                {"terminationGracePeriodSeconds", 1},
                {"containers",
                 {{{"name", "c"},
                   {"image", image},
                   {"imagePullPolicy", "IfNotPresent"},
                   {"command", {"/bin/sleep", "2147483647"}}}}}}}};
  (*kubelet)->AddStaticPod("unsigned.json", pod.dump(2));
  const std::string pod_name = StrCat("unsigned-", kNodeName);

  // The static pod as the kubelet holds it; its mirror Pod, as the kubelet would create it.
  json static_pod;
  bool seen = testing::PollUntil(kKubeletPatience, [&] {
    absl::StatusOr<json> pods = (*kubelet)->Pods();
    if (!pods.ok()) return false;
    for (const json& p : pods->value("items", json::array())) {
      if (p["metadata"].value("name", "") == pod_name) static_pod = p;
    }
    return !static_pod.is_null();
  });
  ASSERT_TRUE(seen) << "the kubelet does not show " << pod_name << logs();
  const json& annotations = static_pod["metadata"]["annotations"];
  ASSERT_TRUE(annotations.contains(kConfigHashAnnotation)) << static_pod.dump(2);
  const std::string static_uid = annotations[kConfigHashAnnotation];
  EXPECT_EQ(static_pod["metadata"].value("uid", ""), static_uid);
  json mirror = {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"metadata",
                  {{"name", pod_name},
                   {"namespace", kPodNamespace},
                   {"annotations", annotations}}},
                 {"spec", static_pod["spec"]}};
  mirror["metadata"]["annotations"][kMirrorAnnotation] = static_uid;
  mirror["spec"]["nodeName"] = kNodeName;
  absl::StatusOr<json> created =
      k8s.Admin("POST", StrCat("/api/v1/namespaces/", kPodNamespace, "/pods"), mirror);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_NE((*created)["metadata"].value("uid", ""), static_uid) << "the mirror Pod has its own uid";

  // kubectl describe pod's Events: the kubelet's Warning about the pull and layerseal's.
  std::vector<json> events;
  json kubelet_event, layerseal_event;
  bool both = testing::PollUntil(kKubeletPatience, [&] {
    std::vector<RecordedEvent> recorded = RecordedPodEvents((*kubelet)->Log(), kPodNamespace, pod_name);
    for (size_t i = 0; i < recorded.size(); ++i) {
      absl::Status posted =
          PostKubeletEvent(k8s, recorded[i], i, kPodNamespace, pod_name, static_uid, kNodeName);
      if (!posted.ok()) ADD_FAILURE() << "relaying the kubelet's Event: " << posted;
    }
    absl::StatusOr<std::vector<json>> listed = DescribePodEvents(k8s, kPodNamespace, pod_name);
    if (!listed.ok()) return false;
    events = *listed;
    kubelet_event = layerseal_event = nullptr;
    for (const json& e : events) {
      const std::string reason = e.value("reason", "");
      const std::string from = e.value("source", json::object()).value("component", "");
      const auto& pull = KubeletPullReasons();
      // The line that names the image (Failed: "Failed to pull image ...", or BackOff).
      if (from == "kubelet" && e.value("type", "") == "Warning" &&
          std::find(pull.begin(), pull.end(), reason) != pull.end() &&
          e.value("message", "").find(image) != std::string::npos && kubelet_event.is_null()) {
        kubelet_event = e;
      }
      if (reason == "ImageSignatureDenied") layerseal_event = e;
    }
    return !kubelet_event.is_null() && !layerseal_event.is_null();
  });
  std::string table = "Events:\n  Type\tReason\tCount\tFrom\tMessage\n  ----\t------\t-----\t----\t-------\n";
  for (const json& e : events) table += EventsTableRow(e) + "\n";
  std::cout << "kubectl describe pod " << pod_name << " (namespace " << kPodNamespace << ", events by uid "
            << static_uid << "):\n" << table << std::flush;
  ASSERT_TRUE(both) << "describe pod lacks " << (kubelet_event.is_null() ? "the kubelet's pull failure " : "")
                    << (layerseal_event.is_null() ? "layerseal's ImageSignatureDenied" : "") << "\n"
                    << table << logs();

  // The two lines, for the same pod (the static pod's uid, as the kubelet writes it).
  for (const json* e : {&kubelet_event, &layerseal_event}) {
    EXPECT_EQ((*e)["involvedObject"].value("kind", ""), "Pod") << e->dump(2);
    EXPECT_EQ((*e)["involvedObject"].value("name", ""), pod_name) << e->dump(2);
    EXPECT_EQ((*e)["involvedObject"].value("uid", ""), static_uid) << e->dump(2);
  }
  EXPECT_EQ(layerseal_event.value("type", ""), "Warning");
  EXPECT_THAT(layerseal_event.value("message", ""), HasSubstr("NOT_SIGNED"));
  EXPECT_THAT(layerseal_event.value("message", ""), HasSubstr(image));
  EXPECT_THAT(layerseal_event.value("message", ""), HasSubstr(kNodeName));
  EXPECT_THAT(kubelet_event.value("message", ""), HasSubstr(image));
  EXPECT_THAT(kubelet_event.value("message", ""), HasSubstr("layerseal denied"));
  // The annotation matters: by the mirror Pod's own uid, neither line would be listed.
  absl::StatusOr<std::vector<json>> by_own_uid =
      DescribePodEvents(k8s, kPodNamespace, pod_name, /*mirror_uid=*/false);
  ASSERT_TRUE(by_own_uid.ok()) << by_own_uid.status();
  EXPECT_TRUE(by_own_uid->empty()) << by_own_uid->size() << " Events carry the mirror Pod's own uid";
  std::cout << "the kubelet's line:  " << EventsTableRow(kubelet_event) << "\n"
            << "layerseal's line:    " << EventsTableRow(layerseal_event) << "\n"
            << "wall time " << absl::FormatDuration(absl::Now() - test_start) << std::endl;
}

}  // namespace
}  // namespace layerseal
