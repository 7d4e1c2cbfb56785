// A real Kubernetes API server for tests (issue 19): Debian's etcd and the stock
// kube-apiserver v1.24 of ../shared/bin (kube-apiserver.xz, decompressed once per build into
// the build dir), both on 127.0.0.1 at free ports, their data and certificates in a temp
// dir. Never touches anything of the machine's own.
//
// Authentication is by static tokens (--token-auth-file): an admin token (system:masters)
// for the test's own setup and checks, and a token for the controller's ServiceAccount
// identity (user system:serviceaccount:<ns>:<sa>, groups system:serviceaccounts,
// system:serviceaccounts:<ns>, system:authenticated), which has only what RBAC grants it.
// Authorization is RBAC. Starting takes a few seconds (etcd, then /readyz and the default
// namespace): start one per test suite. To start fast, the server serves only the API groups
// the controller and its tests use (core v1, rbac, apiextensions, events.k8s.io,
// authentication, authorization, and apiregistration, which it cannot run without), with
// priority-and-fairness and the endpoint reconciler off and only the NamespaceLifecycle
// admission plugin (no controller-manager runs, so e.g. the ServiceAccount plugin would refuse
// every Pod): about 3.5 s to a ready server on an idle machine, instead of 8.
//
// The kube-apiserver binary is decompressed once into the build dir
// (LAYERSEAL_BUILD_DIR/kube-apiserver/<sha256 of the .xz>/kube-apiserver) and reused by every
// later start, from any test process.
//
// Thread-safety: not thread-safe; one thread drives it.
// Ownership: owns the temp dir and both processes; stops them and removes the dir on
// destruction.
#ifndef LAYERSEAL_TESTS_SUPPORT_KUBE_APISERVER_H_
#define LAYERSEAL_TESTS_SUPPORT_KUBE_APISERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"

namespace layerseal::testing {

// ../shared/bin/kube-apiserver.xz, relative to the source tree (tests/support/shared_dir.h).
inline constexpr char kKubeApiserverXz[] = "bin/kube-apiserver.xz";

class KubeApiServer {
 public:
  struct Options {
    std::string service_account_namespace = "layerseal";
    std::string service_account_name = "layerseal-controller";
  };
  // FAILED_PRECONDITION (the test should GTEST_SKIP only if the caller decides so; CI has
  // everything) when etcd or the kube-apiserver binary is missing.
  static absl::StatusOr<std::unique_ptr<KubeApiServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<KubeApiServer>> Start() { return Start(Options()); }
  ~KubeApiServer();
  KubeApiServer(const KubeApiServer&) = delete;
  KubeApiServer& operator=(const KubeApiServer&) = delete;

  // The API server process only (etcd keeps running): for "down, then back" tests.
  absl::Status StopApiServer();
  absl::Status RestartApiServer();  // same port, same data

  std::string url() const;          // "https://127.0.0.1:<port>"
  int port() const { return port_; }
  std::string ca_file() const;      // the CA of the API server's serving certificate
  std::string admin_token() const;
  std::string controller_token() const;  // the ServiceAccount identity's token
  std::string controller_user() const;   // "system:serviceaccount:<ns>:<sa>"
  // A kubeconfig file for the controller identity (server, CA, token), made on first call.
  std::string ControllerKubeconfig();

  // A client certificate (signed by the API server's client CA) for the same controller
  // identity: CN the user, O its two ServiceAccount groups. Made on first call.
  absl::StatusOr<CertKey> ControllerClientCert();

  // One HTTPS request with bearer `token` ("" : none, anonymous); any HTTP status is an
  // answer, a transport failure an error. For checks of what an identity may do.
  struct Answer {
    long status = 0;
    std::string body;
  };
  absl::StatusOr<Answer> Request(const std::string& token, const std::string& method,
                                 const std::string& path, const std::string& body = "",
                                 const std::string& content_type = "application/json");

  // As admin: one request (JSON body); returns the parsed answer, or an error naming the
  // status and the API's message (404 NOT_FOUND, 409 ALREADY_EXISTS, 403 PERMISSION_DENIED,
  // others INTERNAL). For setup (namespaces, Pods, CRDs, RBAC) and checks.
  absl::StatusOr<nlohmann::json> Admin(const std::string& method, const std::string& path,
                                       const nlohmann::json& body = nullptr);
  // Applies a multi-document YAML file (Namespaces, CRDs, ClusterRoles, bindings, ...) as
  // admin, creating each object (or replacing one that exists); CRDs are waited for until
  // Established.
  absl::Status ApplyYamlFile(const std::string& path);
  // A Pod object with one container (never scheduled: there is no kubelet), for Events to
  // point at; returns its uid.
  absl::StatusOr<std::string> CreatePod(const std::string& ns, const std::string& name,
                                        const std::string& image);
  absl::Status CreateNamespace(const std::string& ns);  // OK when it exists already
  // Binds the ClusterRole `cluster_role` to the controller identity (a ClusterRoleBinding
  // named after the role); replaces one that exists.
  absl::Status BindControllerClusterRole(const std::string& cluster_role);

  // The API server's log (for failure messages), and how long the last start or restart
  // took from spawning the process to /readyz plus the default namespace.
  std::string Log() const;
  absl::Duration last_start_time() const { return last_start_time_; }

 private:
  KubeApiServer() = default;
  absl::Status Launch();
  absl::Status Apply(nlohmann::json object);

  Options options_;
  std::string binary_;
  TlsCerts certs_;
  std::string admin_token_;
  std::string controller_token_;
  std::unique_ptr<CertKey> controller_cert_;
  absl::Duration last_start_time_;
  int port_ = 0;
  int etcd_port_ = 0;
  TempDir dir_;
  std::unique_ptr<Child> etcd_;
  std::unique_ptr<Child> apiserver_;
  std::string kubeconfig_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_KUBE_APISERVER_H_
