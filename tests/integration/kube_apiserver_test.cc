// The real kube-apiserver harness (tests/support/kube_apiserver.h, issue 19): etcd and the
// stock kube-apiserver start, the chart's own controller ClusterRole
// (packaging/helm/layerseal/files/controller-clusterrole.yaml) applies, and RBAC then lets the
// controller's ServiceAccount identity do exactly what that role grants: create Events, and
// nothing like listing Secrets.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/kube_apiserver.h"
#include "tests/support/process.h"

namespace layerseal {
namespace {

using nlohmann::json;

const std::string kClusterRoleFile =
    std::string(LAYERSEAL_SOURCE_DIR) + "/packaging/helm/layerseal/files/controller-clusterrole.yaml";

class KubeApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::KubeApiServer>> server = testing::KubeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    // Measured, not asserted: how long the API server took to be ready (docs, the report).
    std::printf("kube-apiserver ready in %s\n",
                absl::FormatDuration(server_->last_start_time()).c_str());
    ASSERT_TRUE(server_->ApplyYamlFile(kClusterRoleFile).ok());
    ASSERT_TRUE(server_->BindControllerClusterRole("layerseal-controller").ok());
    ASSERT_TRUE(server_->CreateNamespace("apps").ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static testing::KubeApiServer* server_;
};
testing::KubeApiServer* KubeApiServerTest::server_ = nullptr;

json EventFor(const std::string& ns, const std::string& pod, const std::string& uid) {
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", pod + "."}, {"namespace", ns}}},
          {"involvedObject",
           {{"kind", "Pod"}, {"namespace", ns}, {"name", pod}, {"uid", uid}, {"apiVersion", "v1"}}},
          {"reason", "ImageSignatureDenied"},
          {"message", "harness check"},
          {"type", "Warning"},
          {"source", {{"component", "layerseal-controller"}}}};
}

TEST_F(KubeApiServerTest, AdminSeesTheDefaultNamespaceAndTheAppliedRole) {
  absl::StatusOr<json> ns = server_->Admin("GET", "/api/v1/namespaces/default");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ((*ns)["metadata"]["name"], "default");
  absl::StatusOr<json> role =
      server_->Admin("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/layerseal-controller");
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ((*role)["rules"].size(), 4u);
  // Applying again replaces rather than failing.
  EXPECT_TRUE(server_->ApplyYamlFile(kClusterRoleFile).ok());
  // Admin errors carry the status and the API's message.
  absl::StatusOr<json> missing = server_->Admin("GET", "/api/v1/namespaces/no-such-ns");
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find("not found"), absl::string_view::npos);
}

TEST_F(KubeApiServerTest, ControllerIdentityMayCreateEventsButNotListSecrets) {
  absl::StatusOr<std::string> uid = server_->CreatePod("apps", "web", "registry.example/web:1");
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_FALSE(uid->empty());
  absl::StatusOr<testing::KubeApiServer::Answer> created =
      server_->Request(server_->controller_token(), "POST", "/api/v1/namespaces/apps/events",
                       EventFor("apps", "web", *uid).dump());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status, 201) << created->body;

  absl::StatusOr<testing::KubeApiServer::Answer> secrets =
      server_->Request(server_->controller_token(), "GET", "/api/v1/namespaces/apps/secrets");
  ASSERT_TRUE(secrets.ok()) << secrets.status();
  EXPECT_EQ(secrets->status, 403) << secrets->body;
  EXPECT_NE(secrets->body.find(server_->controller_user()), std::string::npos) << secrets->body;

  // The Pod's get is granted, its deletion not.
  absl::StatusOr<testing::KubeApiServer::Answer> pod =
      server_->Request(server_->controller_token(), "GET", "/api/v1/namespaces/apps/pods/web");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->status, 200);
  absl::StatusOr<testing::KubeApiServer::Answer> del =
      server_->Request(server_->controller_token(), "DELETE", "/api/v1/namespaces/apps/pods/web");
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(del->status, 403);
}

// A multi-document file: a CRD, then an object of its kind (found by discovery once the CRD
// is Established), with quoted and plain scalars converted as the API server reads them.
TEST_F(KubeApiServerTest, ApplyYamlFileWaitsForCrdsThenCreatesTheirObjects) {
  testing::TempDir dir;
  testing::WriteFileOrDie(dir.File("crd.yaml"), R"(---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                label: {type: string}
                enabled: {type: boolean}
---
# an empty document is skipped
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: apps}
spec: {size: 3, label: "42", enabled: true}
)");
  absl::Status applied = server_->ApplyYamlFile(dir.File("crd.yaml"));
  ASSERT_TRUE(applied.ok()) << applied;
  absl::StatusOr<json> widget = server_->Admin("GET", "/apis/example.com/v1/namespaces/apps/widgets/w1");
  ASSERT_TRUE(widget.ok()) << widget.status();
  EXPECT_EQ((*widget)["spec"]["size"], 3);
  EXPECT_EQ((*widget)["spec"]["label"], "42");
  EXPECT_EQ((*widget)["spec"]["enabled"], true);
}

TEST_F(KubeApiServerTest, UnknownTokenIsUnauthenticated) {
  absl::StatusOr<testing::KubeApiServer::Answer> answer =
      server_->Request("not-a-token", "GET", "/api/v1/namespaces/default");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 401);
}

}  // namespace
}  // namespace layerseal
