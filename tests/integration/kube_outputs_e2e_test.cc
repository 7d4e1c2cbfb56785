// Issue 19's proof through every real part: a denial at a node becomes a Warning Event on the
// Pod and a PolicyReport result in a real Kubernetes API server.
//   docker-registry (loopback) ← containerd (CRI, temp root) ← layerseal-agent ← CRI calls
//   made as the kubelet makes them (PullImage with the pod's sandbox metadata);
//   the agent → layerseal-controller (SQLite, mutual TLS) → kube-apiserver v1.24 + etcd,
//   the controller authenticated as its ServiceAccount identity and authorized only by the
//   chart's ClusterRole (packaging/helm/layerseal/files/controller-clusterrole.yaml).
// Checked: the Event (involvedObject, reason, message) and its deduplication (a second denial
// of the same pod and image raises count to 2 on the same Event), the report (pass for the
// signed image's pod, fail for the unsigned one's), and that an API server that is down
// delays Events without holding back ingestion: the controller stores the denial at once and
// the Event appears once the API server is back.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/kube_apiserver.h"
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

// How long the test waits for something that should happen; never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(90);
constexpr char kNamespace[] = "team-a";

// The first Event in `ns` about Pod `pod` with `reason`, or null.
json FindEvent(testing::KubeApiServer& api, const std::string& ns, const std::string& pod,
               const std::string& reason) {
  absl::StatusOr<json> list = api.Admin(
      "GET", StrCat("/api/v1/namespaces/", ns, "/events?fieldSelector=involvedObject.name%3D", pod));
  if (!list.ok()) return nullptr;
  for (const json& e : list->value("items", json::array())) {
    if (e.value("reason", "") == reason) return e;
  }
  return nullptr;
}

// Polls `probe` until it returns non-null, up to kPatience.
json WaitFor(const std::function<json()>& probe) {
  absl::Time deadline = absl::Now() + kPatience;
  while (absl::Now() < deadline) {
    json j = probe();
    if (!j.is_null()) return j;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return nullptr;
}

TEST(KubeOutputsE2eTest, ADenialBecomesAPodEventAndAReportResult) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<testing::KubeApiServer>> api = testing::KubeApiServer::Start();
  ASSERT_TRUE(api.ok()) << api.status();
  testing::KubeApiServer& k8s = **api;
  // The chart's ClusterRole, bound to the controller's identity; the reports' CRD.
  ASSERT_TRUE(k8s.ApplyYamlFile(StrCat(LAYERSEAL_SOURCE_DIR,
                                       "/packaging/helm/layerseal/files/controller-clusterrole.yaml"))
                  .ok());
  ASSERT_TRUE(k8s.Admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                        {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                         {"kind", "ClusterRoleBinding"},
                         {"metadata", {{"name", "layerseal-controller"}}},
                         {"roleRef",
                          {{"apiGroup", "rbac.authorization.k8s.io"},
                           {"kind", "ClusterRole"},
                           {"name", "layerseal-controller"}}},
                         {"subjects",
                          {{{"kind", "User"},
                            {"apiGroup", "rbac.authorization.k8s.io"},
                            {"name", k8s.controller_user()}}}}})
                  .ok());
  absl::Status crd = k8s.ApplyYamlFile(
      StrCat(LAYERSEAL_SOURCE_DIR, "/packaging/helm/layerseal/files/crds/wgpolicyk8s.io_policyreports.yaml"));
  ASSERT_TRUE(crd.ok()) << crd;
  ASSERT_TRUE(k8s.CreateNamespace(kNamespace).ok());

  // Images: one signed with the key the policy trusts, one not signed at all.
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
      testing::RegistryServer::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  const std::string host = (*registry)->host();
  absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
      testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {host}});
  ASSERT_TRUE(containerd.ok()) << containerd.status();
  PrivateKey key = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  testing::TestImage unsigned_image = testing::MakeBaseImage({.seed = "unsigned"});
  testing::TestImage signed_image = testing::SealTestImage(testing::MakeBaseImage({.seed = "signed"}), key);
  registry::RegistryClient push_client((*registry)->ClientOptions());
  const std::string good = StrCat(host, "/team/web:1"), bad = StrCat(host, "/team/evil:1");
  ASSERT_TRUE(testing::PushTestImage(push_client, *Reference::Parse(good), signed_image).ok());
  ASSERT_TRUE(testing::PushTestImage(push_client, *Reference::Parse(bad), unsigned_image).ok());
  testing::WriteFileOrDie(dir.File("ci.pub"), key.public_key().ToPem());
  testing::WriteFileOrDie(dir.File("policy.yaml"),
                          StrCat("version: 1\n"
                                 "keys:\n  ci: {path: ", dir.File("ci.pub"), "}\n"
                                 "default: {requirement: signed, keys: [ci]}\n"));

  // Pods for the Events to point at (there is no kubelet: they are never scheduled).
  absl::StatusOr<std::string> web_uid = k8s.CreatePod(kNamespace, "web", good);
  absl::StatusOr<std::string> evil_uid = k8s.CreatePod(kNamespace, "evil", bad);
  absl::StatusOr<std::string> evil2_uid = k8s.CreatePod(kNamespace, "evil-2", bad);
  ASSERT_TRUE(web_uid.ok() && evil_uid.ok() && evil2_uid.ok());

  // The controller, as its ServiceAccount, and the agent delivering to it.
  absl::StatusOr<testing::TlsCerts> certs =
      testing::MakeTlsCerts(dir.path(), {"node-k"}, {"ops-bob"});
  ASSERT_TRUE(certs.ok()) << certs.status();
  int grpc_port = testing::PickFreePort();
  absl::StatusOr<std::unique_ptr<testing::Child>> controller = testing::Child::Spawn(
      {LAYERSEAL_CONTROLLER_BINARY, "--listen", StrCat("127.0.0.1:", grpc_port), "--tls-cert",
       certs->server.cert, "--tls-key", certs->server.key, "--client-ca", certs->ca.cert,
       "--database", "sqlite:" + dir.File("events.db"), "--admin",
       StrCat("127.0.0.1:", testing::PickFreePort()), "--web", "", "--kube-pod-events",
       "--kube-policy-reports", "wgpolicyk8s.io", "--kube-report-interval", "1s",
       "--kubeconfig", k8s.ControllerKubeconfig()},
      dir.File("controller.log"));
  ASSERT_TRUE(controller.ok()) << controller.status();
  ASSERT_TRUE(testing::WaitForPort(grpc_port, absl::Seconds(30)))
      << ReadFileOrDie(dir.File("controller.log"));
  int admin_port = testing::PickFreePort();
  const testing::CertKey& node = certs->client.at("node-k");
  absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent = testing::AgentProcess::Start(
      {"--listen", dir.File("agent.sock"), "--runtime-endpoint", (*containerd)->socket(),
       "--policy", dir.File("policy.yaml"), "--state-dir", dir.File("state"), "--node-name",
       "node-k", "--admin", StrCat("127.0.0.1:", admin_port), "--health-socket", "",
       "--plain-http-registry", host, "--controller", StrCat("127.0.0.1:", grpc_port),
       "--controller-ca", certs->ca.cert, "--controller-cert", node.cert, "--controller-key",
       node.key},
      {}, admin_port, dir.File("agent.log"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto logs = [&] {
    return StrCat("--- agent\n", (*agent)->Log(), "--- controller\n",
                  ReadFileOrDie(dir.File("controller.log")));
  };

  testing::CriClient cri(dir.File("agent.sock"),
                         testing::CriClientOptions{.pull_timeout = absl::Seconds(60)});
  grpc::Status pulled = cri.PullForPod(good, kNamespace, "web", *web_uid);
  ASSERT_TRUE(pulled.ok()) << pulled.error_message() << logs();
  grpc::Status denied = cri.PullForPod(bad, kNamespace, "evil", *evil_uid);
  ASSERT_FALSE(denied.ok()) << logs();

  // The Event on the Pod.
  json event = WaitFor([&] { return FindEvent(k8s, kNamespace, "evil", "ImageSignatureDenied"); });
  ASSERT_FALSE(event.is_null()) << "no Event on pod evil\n" << logs();
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["involvedObject"]["kind"], "Pod");
  EXPECT_EQ(event["involvedObject"]["uid"], *evil_uid);
  EXPECT_THAT(event.value("message", ""), HasSubstr(bad));
  EXPECT_THAT(event.value("message", ""), HasSubstr("node-k"));
  EXPECT_EQ(event.value("count", 0), 1);
  EXPECT_TRUE(FindEvent(k8s, kNamespace, "web", "ImageSignatureDenied").is_null());

  // The same denial again: the same Event, counted.
  ASSERT_FALSE(cri.PullForPod(bad, kNamespace, "evil", *evil_uid).ok());
  json counted = WaitFor([&]() -> json {
    json e = FindEvent(k8s, kNamespace, "evil", "ImageSignatureDenied");
    return !e.is_null() && e.value("count", 0) >= 2 ? e : json();
  });
  ASSERT_FALSE(counted.is_null()) << "the repeat was not counted\n" << logs();
  EXPECT_EQ(counted["metadata"]["name"], event["metadata"]["name"]);

  // The report: pass for web, fail for evil.
  json report = WaitFor([&]() -> json {
    absl::StatusOr<json> r = k8s.Admin(
        "GET", StrCat("/apis/wgpolicyk8s.io/v1alpha2/namespaces/", kNamespace, "/policyreports/layerseal"));
    if (!r.ok()) return nullptr;
    bool pass = false, fail = false;
    for (const json& result : r->value("results", json::array())) {
      for (const json& res : result.value("resources", json::array())) {
        if (res.value("name", "") == "web" && result.value("result", "") == "pass") pass = true;
        if (res.value("name", "") == "evil" && result.value("result", "") == "fail") fail = true;
      }
    }
    return pass && fail ? *r : json();
  });
  ASSERT_FALSE(report.is_null()) << "no report with both results\n" << logs();
  EXPECT_EQ(report["summary"].value("pass", 0), 1) << report.dump(2);
  EXPECT_EQ(report["summary"].value("fail", 0), 1) << report.dump(2);

  // The API server goes down: ingestion goes on (the denial is stored), the Event waits.
  ASSERT_TRUE(k8s.StopApiServer().ok());
  ASSERT_FALSE(cri.PullForPod(bad, kNamespace, "evil-2", *evil2_uid).ok());
  const testing::CertKey& reader = certs->client.at("ops-bob");
  json stored = WaitFor([&]() -> json {
    absl::StatusOr<testing::RunResult> r = testing::Run(
        {LAYERSEAL_BINARY, "events", "--controller", StrCat("127.0.0.1:", grpc_port), "--ca",
         certs->ca.cert, "--cert", reader.cert, "--key", reader.key, "--pod", "evil-2",
         "--output", "json"},
        "", kPatience);
    if (!r.ok() || r->exit_code != 0 || r->out.find("evil-2") == std::string::npos) return nullptr;
    return r->out;
  });
  ASSERT_FALSE(stored.is_null()) << "the controller did not store the denial while the API "
                                    "server was down\n" << logs();
  ASSERT_TRUE(k8s.RestartApiServer().ok());
  json late = WaitFor([&] { return FindEvent(k8s, kNamespace, "evil-2", "ImageSignatureDenied"); });
  EXPECT_FALSE(late.is_null()) << "the Event written while the API server was down never came\n"
                               << logs();
}

}  // namespace
}  // namespace layerseal
