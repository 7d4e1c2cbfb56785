// The Helm chart (issue 19, packaging/helm/layerseal), rendered and linted by tests/helm/render
// (a Helm 3 renderer in Go over Debian's Sprig, yaml.v2 and gojsonschema: Helm itself is not
// in Debian; tests/helm/render/main.go says what it does not cover) with the default values
// and with several value sets, and checked object by object: against the kustomize manifests
// of packaging/kubernetes (the same containers, flags, ports, probes and volumes), against the
// agent's, the controller's and the policy's own parsers, and against values.schema.json,
// which must refuse wrong values naming the field. Also the chart archive the build makes, the
// certificate hook Job's script against a real kube-apiserver (tests/support/kube_apiserver.h,
// one server, in one test) and a stand-in, and, when a Helm 3 binary is there ($LAYERSEAL_HELM
// or helm on the PATH), Helm's own lint and template output.
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "controller/config.h"
#include "controller/identity.h"
#include "gtest/gtest.h"
#include "node-agent/config.h"
#include "tests/support/kube_apiserver.h"
#include "tests/support/process.h"
#include "tests/support/trusted_root_files.h"
#include "verifier/policy.h"
#include "yaml-cpp/yaml.h"

namespace layerseal {
namespace {

namespace fs = std::filesystem;
using testing::ReadFileOrDie;
using testing::RunResult;
using testing::TempDir;
using testing::WriteFileOrDie;

const std::string kSource = LAYERSEAL_SOURCE_DIR;
const std::string kChart = kSource + "/packaging/helm/layerseal";
const std::string kKube = kSource + "/packaging/kubernetes";
const std::string kImage = "ghcr.io/layerseal/layerseal";
// Rendering takes well under a second; generous for a loaded machine, never a timing check.
constexpr absl::Duration kRenderTimeout = absl::Seconds(120);

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs the renderer on the chart as release "layerseal" in namespace "layerseal" (the names
// the kustomize manifests use) with `args` (-f FILE, --set K=V, ...).
RunResult RenderRaw(std::vector<std::string> args, const std::string& chart = kChart) {
  std::vector<std::string> argv = {LAYERSEAL_HELM_RENDER, "--name", "layerseal", "--namespace",
                                   "layerseal"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(chart);
  absl::StatusOr<RunResult> r = testing::Run(argv, "", kRenderTimeout);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{.exit_code = -1};
}

// The rendered objects; a failure to render fails the test.
std::vector<YAML::Node> Render(std::vector<std::string> args = {}) {
  RunResult r = RenderRaw(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<YAML::Node> out;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(r.out)) {
      if (doc.IsMap()) out.push_back(doc);
    }
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << e.what() << "\n" << r.out;
  }
  return out;
}

YAML::Node Find(const std::vector<YAML::Node>& objects, const std::string& kind,
                const std::string& name) {
  for (const YAML::Node& o : objects) {
    if (o["kind"].as<std::string>() == kind && o["metadata"]["name"].as<std::string>() == name) {
      return o;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);  // false, unlike YAML::Node() (null)
}

std::multiset<std::string> Kinds(const std::vector<YAML::Node>& objects) {
  std::multiset<std::string> kinds;
  for (const YAML::Node& o : objects) kinds.insert(o["kind"].as<std::string>());
  return kinds;
}

// Every document of every manifest kustomization.yaml lists.
std::vector<YAML::Node> Manifests() {
  std::vector<YAML::Node> out;
  YAML::Node kustomization = YAML::LoadFile(kKube + "/kustomization.yaml");
  for (const YAML::Node& file : kustomization["resources"]) {
    for (const YAML::Node& doc : YAML::LoadAllFromFile(kKube + "/" + file.as<std::string>())) {
      if (doc.IsMap()) out.push_back(doc);
    }
  }
  return out;
}

std::string Emit(const YAML::Node& node) {
  YAML::Emitter e;
  e << node;
  return e.c_str();
}

// A node as canonical text: maps with sorted keys, so that two equal trees compare equal.
std::string Canonical(const YAML::Node& node) {
  if (node.IsMap()) {
    std::map<std::string, std::string> sorted;
    for (const auto& kv : node) sorted[kv.first.as<std::string>()] = Canonical(kv.second);
    std::string out = "{";
    for (const auto& [k, v] : sorted) out += k + ":" + v + ",";
    return out + "}";
  }
  if (node.IsSequence()) {
    std::string out = "[";
    for (const YAML::Node& item : node) out += Canonical(item) + ",";
    return out + "]";
  }
  if (node.IsScalar()) return node.Scalar();
  return "~";
}

std::vector<std::string> Strings(const YAML::Node& seq) {
  std::vector<std::string> out;
  for (const YAML::Node& s : seq) out.push_back(s.as<std::string>());
  return out;
}

// The named entries of a list (volumes, volumeMounts) without `drop`, canonical.
std::map<std::string, std::string> ByName(const YAML::Node& seq,
                                          const std::set<std::string>& drop = {}) {
  std::map<std::string, std::string> out;
  for (const YAML::Node& item : seq) {
    std::string name = item["name"].as<std::string>();
    if (!drop.count(name)) out[name] = Canonical(item);
  }
  return out;
}

YAML::Node PodSpec(const YAML::Node& workload) { return workload["spec"]["template"]["spec"]; }

// The documents of the renderer's output as text (re-emitting parsed YAML would lose quoting:
// an annotation "-10" would become a number).
std::vector<std::string> RawDocuments(const std::string& out) {
  std::vector<std::string> docs;
  size_t at = out.find("---\n");
  while (at != std::string::npos) {
    size_t next = out.find("\n---\n", at + 1);
    docs.push_back(out.substr(at, next == std::string::npos ? next : next - at));
    at = next == std::string::npos ? next : next + 1;
  }
  return docs;
}

// ---- lint and the chart's own files ------------------------------------------------------

TEST(HelmChartTest, LintPassesWithTheDefaultsAndEveryValueSet) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"--set", "controller.webTls=true,controller.persistence.enabled=false"},
           {"--set", "controller.kubernetes.podEvents=false"},
           {"--set", "controller.kubernetes.policyReports.api=openreports.io"},
           {"--set", "certificates.mode=generate"},
           {"--set", "monitoring.podMonitor.enabled=true,monitoring.agentScrape.enabled=true,"
                     "monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true"},
           {"--set", "controller.enabled=false"},
           {"--set", "agent.installer.enabled=false"},
       }) {
    std::vector<std::string> lint = args;
    lint.insert(lint.begin(), "--lint");
    RunResult r = RenderRaw(lint);
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r.out << r.err;
    EXPECT_TRUE(Contains(r.out, "lint: ok")) << r.out;
  }
}

TEST(HelmChartTest, ChartVersionIsTheProjectsAndTheArchiveHasHelmsLayout) {
  YAML::Node chart = YAML::LoadFile(kChart + "/Chart.yaml");
  EXPECT_EQ(chart["apiVersion"].as<std::string>(), "v2");
  EXPECT_EQ(chart["name"].as<std::string>(), "layerseal");
  EXPECT_EQ(chart["version"].as<std::string>(), LAYERSEAL_VERSION);
  EXPECT_EQ(chart["appVersion"].as<std::string>(), LAYERSEAL_VERSION);
  EXPECT_EQ(controller::kControllerVersion, LAYERSEAL_VERSION);

  const std::string archive = LAYERSEAL_CHART_ARCHIVE;
  EXPECT_EQ(fs::path(archive).filename().string(), StrCat("layerseal-", LAYERSEAL_VERSION, ".tgz"));
  absl::StatusOr<RunResult> list = testing::Run({"tar", "tzf", archive}, "", kRenderTimeout);
  ASSERT_TRUE(list.ok() && list->exit_code == 0) << archive;
  std::set<std::string> entries;
  std::istringstream lines(list->out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    EXPECT_EQ(line.rfind("layerseal/", 0), 0u) << "outside the chart's top directory: " << line;
    entries.insert(line);
  }
  for (const char* file :
       {"layerseal/Chart.yaml", "layerseal/values.yaml", "layerseal/values.schema.json",
        "layerseal/templates/_helpers.tpl", "layerseal/templates/NOTES.txt",
        "layerseal/files/controller-clusterrole.yaml"}) {
    EXPECT_TRUE(entries.count(file)) << file << " is not in " << archive;
  }
  // The archive is the chart as it is: it renders like the source directory.
  TempDir t;
  ASSERT_EQ(testing::Run({"tar", "xzf", archive, "-C", t.path()}, "", kRenderTimeout)->exit_code, 0);
  RunResult from_archive = RenderRaw({}, t.File("layerseal"));
  RunResult from_source = RenderRaw({});
  EXPECT_EQ(from_archive.exit_code, 0) << from_archive.err;
  EXPECT_EQ(from_archive.out, from_source.out);
}

// ---- the default objects are the kustomize manifests' -------------------------------------

TEST(HelmChartTest, DefaultObjectsAreTheKustomizeManifests) {
  std::vector<YAML::Node> chart = Render();
  std::vector<YAML::Node> kustomize = Manifests();
  // Every object of the manifests but the Namespace (Helm's convention: the release's
  // namespace, made with --create-namespace) is in the chart under the same kind and name.
  for (const YAML::Node& k : kustomize) {
    std::string kind = k["kind"].as<std::string>(), name = k["metadata"]["name"].as<std::string>();
    if (kind == "Namespace") continue;
    YAML::Node c = Find(chart, kind, name);
    ASSERT_TRUE(c) << "no " << kind << " " << name << " in the chart";
    EXPECT_EQ(c["apiVersion"].as<std::string>(), k["apiVersion"].as<std::string>()) << name;
    EXPECT_EQ(c["metadata"]["namespace"].as<std::string>(), "layerseal") << kind << " " << name;
  }
  EXPECT_FALSE(Find(chart, "Namespace", "layerseal"));

  for (const auto& [kind, name] : std::vector<std::pair<std::string, std::string>>{
           {"Deployment", "layerseal-controller"}, {"DaemonSet", "layerseal-agent-installer"}}) {
    SCOPED_TRACE(kind);
    YAML::Node cpod = PodSpec(Find(chart, kind, name)), kpod = PodSpec(Find(kustomize, kind, name));
    ASSERT_TRUE(cpod && kpod);
    for (const char* field : {"serviceAccountName", "hostPID", "hostNetwork", "dnsPolicy",
                              "priorityClassName", "tolerations", "securityContext",
                              "terminationGracePeriodSeconds"}) {
      EXPECT_EQ(Canonical(cpod[field]), Canonical(kpod[field])) << field;
    }
    ASSERT_EQ(cpod["containers"].size(), 1u);
    ASSERT_EQ(kpod["containers"].size(), 1u);
    YAML::Node cc = cpod["containers"][0], kc = kpod["containers"][0];
    for (const char* field : {"name", "image", "imagePullPolicy", "command", "env", "ports",
                              "readinessProbe", "livenessProbe", "resources",
                              "securityContext"}) {
      EXPECT_EQ(Canonical(cc[field]), Canonical(kc[field])) << field;
    }
    // The chart's additions: the controller's configuration file (its kubernetes.* keys).
    std::vector<std::string> cargs = Strings(cc["args"]);
    std::erase(cargs, "--config=/etc/layerseal/config/controller.yaml");
    EXPECT_EQ(cargs, Strings(kc["args"]));
    const std::set<std::string> added =
        kind == "Deployment" ? std::set<std::string>{"config"} : std::set<std::string>{};
    EXPECT_EQ(ByName(cc["volumeMounts"], added), ByName(kc["volumeMounts"]));
    EXPECT_EQ(ByName(cpod["volumes"], added), ByName(kpod["volumes"]));
    EXPECT_EQ(Canonical(Find(chart, kind, name)["spec"]["strategy"]),
              Canonical(Find(kustomize, kind, name)["spec"]["strategy"]));
    EXPECT_EQ(Canonical(Find(chart, kind, name)["spec"]["updateStrategy"]),
              Canonical(Find(kustomize, kind, name)["spec"]["updateStrategy"]));
  }
  // The installer mounts the ConfigMap by the same items.
  EXPECT_EQ(ByName(PodSpec(Find(chart, "DaemonSet", "layerseal-agent-installer"))["volumes"]),
            ByName(PodSpec(Find(kustomize, "DaemonSet", "layerseal-agent-installer"))["volumes"]));

  // Service, PVC and NetworkPolicy specs: the same but for the selectors' labels.
  auto without_selectors = [](YAML::Node spec) {
    YAML::Node copy = YAML::Clone(spec);
    copy.remove("selector");
    copy.remove("podSelector");
    return Canonical(copy);
  };
  for (const char* kind : {"Service", "NetworkPolicy"}) {
    EXPECT_EQ(without_selectors(Find(chart, kind, "layerseal-controller")["spec"]),
              without_selectors(Find(kustomize, kind, "layerseal-controller")["spec"]))
        << kind;
  }
  EXPECT_EQ(Canonical(Find(chart, "PersistentVolumeClaim", "layerseal-controller-data")["spec"]),
            Canonical(Find(kustomize, "PersistentVolumeClaim", "layerseal-controller-data")["spec"]));

  // The agent's files: the same configuration and policy once parsed.
  TempDir t;
  auto write_config = [&](const std::vector<YAML::Node>& objects, const std::string& prefix) {
    YAML::Node data = Find(objects, "ConfigMap", "layerseal-agent-config")["data"];
    WriteFileOrDie(t.File(prefix + "agent.yaml"), data["agent.yaml"].as<std::string>());
    WriteFileOrDie(t.File(prefix + "policy.yaml"), data["policy.yaml"].as<std::string>());
  };
  write_config(chart, "chart-");
  write_config(kustomize, "kustomize-");
  absl::StatusOr<agent::ParsedArgs> ca = agent::ParseAgentArgs({"--config", t.File("chart-agent.yaml")});
  absl::StatusOr<agent::ParsedArgs> ka =
      agent::ParseAgentArgs({"--config", t.File("kustomize-agent.yaml")});
  ASSERT_TRUE(ca.ok()) << ca.status();
  ASSERT_TRUE(ka.ok()) << ka.status();
  EXPECT_EQ(ca->config.listen, ka->config.listen);
  EXPECT_EQ(ca->config.runtime_endpoint, ka->config.runtime_endpoint);
  EXPECT_EQ(ca->config.policy, ka->config.policy);
  EXPECT_EQ(ca->config.state_dir, ka->config.state_dir);
  EXPECT_EQ(ca->config.admin_address, ka->config.admin_address);
  EXPECT_EQ(ca->config.controller, ka->config.controller);
  EXPECT_EQ(ca->config.controller_ca, ka->config.controller_ca);
  EXPECT_EQ(ca->config.controller_cert, ka->config.controller_cert);
  EXPECT_EQ(ca->config.controller_key, ka->config.controller_key);
  EXPECT_EQ(ca->config.controller_server_name, ka->config.controller_server_name);
  absl::StatusOr<Policy> cp = Policy::LoadFile(t.File("chart-policy.yaml"));
  absl::StatusOr<Policy> kp = Policy::LoadFile(t.File("kustomize-policy.yaml"));
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE(kp.ok()) << kp.status();
  EXPECT_EQ(cp->default_scope().mode, Mode::kAudit);
  EXPECT_EQ(cp->default_scope().mode, kp->default_scope().mode);
  EXPECT_EQ(cp->default_scope().requirement, kp->default_scope().requirement);
  EXPECT_EQ(cp->default_scope().allow_on_registry_error, kp->default_scope().allow_on_registry_error);
}

// ---- labels, selectors, names ------------------------------------------------------------

TEST(HelmChartTest, EveryObjectHasTheStandardLabelsAndSelectorsMatchThePods) {
  // Every optional object too: generated certificates, CRDs, the monitoring objects.
  std::vector<YAML::Node> objects = Render(
      {"--set", "controller.webTls=true,commonLabels.team=security,certificates.mode=generate,"
                "controller.kubernetes.policyReports.api=openreports.io,"
                "controller.kubernetes.policyReports.installCRDs=true,"
                "monitoring.podMonitor.enabled=true,monitoring.agentScrape.enabled=true,"
                "monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true"});
  for (const char* kind : {"Job", "CustomResourceDefinition", "PodMonitor", "PrometheusRule"}) {
    EXPECT_TRUE(Kinds(objects).count(kind)) << kind;
  }
  ASSERT_FALSE(objects.empty());
  for (const YAML::Node& o : objects) {
    std::string what = StrCat(o["kind"].as<std::string>(), " ", o["metadata"]["name"].as<std::string>());
    YAML::Node labels = o["metadata"]["labels"];
    ASSERT_TRUE(labels) << what;
    EXPECT_EQ(labels["helm.sh/chart"].as<std::string>(), StrCat("layerseal-", LAYERSEAL_VERSION)) << what;
    EXPECT_EQ(labels["app.kubernetes.io/managed-by"].as<std::string>(), "Helm") << what;
    EXPECT_EQ(labels["app.kubernetes.io/instance"].as<std::string>(), "layerseal") << what;
    EXPECT_EQ(labels["app.kubernetes.io/part-of"].as<std::string>(), "layerseal") << what;
    EXPECT_EQ(labels["app.kubernetes.io/version"].as<std::string>(), LAYERSEAL_VERSION) << what;
    EXPECT_TRUE(labels["app.kubernetes.io/name"]) << what;
    EXPECT_EQ(labels["team"].as<std::string>(), "security") << what;
    std::string kind = o["kind"].as<std::string>();
    if (kind == "ClusterRole" || kind == "ClusterRoleBinding" || kind == "CustomResourceDefinition") {
      EXPECT_FALSE(o["metadata"]["namespace"]) << what;
    } else {
      EXPECT_EQ(o["metadata"]["namespace"].as<std::string>(), "layerseal") << what;
    }
  }
  // Workloads: the selector picks the pod template's labels, and only this release's.
  for (const auto& [kind, name] : std::vector<std::pair<std::string, std::string>>{
           {"Deployment", "layerseal-controller"}, {"DaemonSet", "layerseal-agent-installer"}}) {
    YAML::Node w = Find(objects, kind, name);
    ASSERT_TRUE(w) << kind;
    YAML::Node pod_labels = w["spec"]["template"]["metadata"]["labels"];
    YAML::Node selector = w["spec"]["selector"]["matchLabels"];
    EXPECT_EQ(selector["app.kubernetes.io/instance"].as<std::string>(), "layerseal");
    EXPECT_EQ(selector["app.kubernetes.io/name"].as<std::string>(), name);
    for (const auto& kv : selector) {
      EXPECT_EQ(pod_labels[kv.first.as<std::string>()].as<std::string>(), kv.second.as<std::string>())
          << kind << " " << kv.first;
    }
    // No value that changes across upgrades (chart version) in an immutable selector.
    EXPECT_FALSE(selector["helm.sh/chart"]) << kind;
    EXPECT_FALSE(selector["app.kubernetes.io/version"]) << kind;
  }
  YAML::Node pod_labels =
      Find(objects, "Deployment", "layerseal-controller")["spec"]["template"]["metadata"]["labels"];
  for (const YAML::Node& selector :
       {Find(objects, "Service", "layerseal-controller")["spec"]["selector"],
        Find(objects, "NetworkPolicy", "layerseal-controller")["spec"]["podSelector"]["matchLabels"]}) {
    ASSERT_TRUE(selector);
    for (const auto& kv : selector) {
      EXPECT_EQ(pod_labels[kv.first.as<std::string>()].as<std::string>(), kv.second.as<std::string>());
    }
  }
  // webTls: the web port is served on the pod address and let in.
  YAML::Node c = PodSpec(Find(objects, "Deployment", "layerseal-controller"))["containers"][0];
  std::vector<std::string> args = Strings(c["args"]);
  EXPECT_TRUE(std::count(args.begin(), args.end(), "--web-tls"));
  EXPECT_TRUE(std::count(args.begin(), args.end(), "--web=0.0.0.0:7080"));
  EXPECT_TRUE(Contains(Emit(Find(objects, "Service", "layerseal-controller")), "name: web"));
  EXPECT_TRUE(Contains(Emit(Find(objects, "NetworkPolicy", "layerseal-controller")), "port: 7080"));
}

TEST(HelmChartTest, AnotherReleaseNameAndNamespaceNameEverything) {
  RunResult r = RenderRaw({"--name", "edge", "--namespace", "sec"});
  // The later --name/--namespace win (as in helm's flag parsing).
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<YAML::Node> objects = YAML::LoadAll(r.out);
  YAML::Node d;
  for (const YAML::Node& o : objects) {
    if (o.IsMap() && o["kind"].as<std::string>() == "Deployment") d = o;
  }
  ASSERT_TRUE(d);
  EXPECT_EQ(d["metadata"]["name"].as<std::string>(), "edge-layerseal-controller");
  EXPECT_EQ(d["metadata"]["namespace"].as<std::string>(), "sec");
  std::vector<std::string> args = Strings(d["spec"]["template"]["spec"]["containers"][0]["args"]);
  EXPECT_TRUE(std::count(args.begin(), args.end(),
                         "--allowed-hosts=edge-layerseal-controller,edge-layerseal-controller.sec,"
                         "edge-layerseal-controller.sec.svc,"
                         "edge-layerseal-controller.sec.svc.cluster.local"))
      << absl::StrJoin(args, " ");
  EXPECT_TRUE(Contains(r.out, "controller: edge-layerseal-controller.sec.svc:7443"));
  EXPECT_TRUE(Contains(r.out, "controllerServerName: edge-layerseal-controller.sec.svc"));
}

// ---- the installer ----------------------------------------------------------------------

TEST(HelmChartTest, InstallerIsNodeCriticalAndToleratesEveryTaint) {
  std::vector<YAML::Node> objects = Render();
  YAML::Node pod = PodSpec(Find(objects, "DaemonSet", "layerseal-agent-installer"));
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod["priorityClassName"].as<std::string>(), "system-node-critical");
  bool all = false;
  for (const YAML::Node& t : pod["tolerations"]) {
    if (t["operator"].as<std::string>() == "Exists" && !t["key"] && !t["effect"]) all = true;
  }
  EXPECT_TRUE(all);
  EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>());
  YAML::Node c = pod["containers"][0];
  EXPECT_EQ(c["image"].as<std::string>(), StrCat(kImage, ":", LAYERSEAL_VERSION));
  EXPECT_TRUE(c["securityContext"]["privileged"].as<bool>());
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  // The agent's admin port moved: the probe and the installer's health check follow it.
  objects = Render({"--set", "agent.config.admin=0.0.0.0:9555"});
  c = PodSpec(Find(objects, "DaemonSet", "layerseal-agent-installer"))["containers"][0];
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"].as<int>(), 9555);
  EXPECT_TRUE(Contains(Emit(c["env"]), "HEALTH_PORT")) << Emit(c["env"]);
  EXPECT_TRUE(Contains(Emit(c["env"]), "9555")) << Emit(c["env"]);
  // Another image tag and a CRI-O socket directory.
  objects = Render({"--set", "image.tag=0.2.0-rc.1,agent.installer.runtimeSocketDir=/var/run/crio"});
  pod = PodSpec(Find(objects, "DaemonSet", "layerseal-agent-installer"));
  EXPECT_EQ(pod["containers"][0]["image"].as<std::string>(), kImage + ":0.2.0-rc.1");
  EXPECT_TRUE(Contains(Emit(pod), "/host/var/run/crio")) << Emit(pod);
}

// agent.trustedKeys and agent.trustedRoots: the policy the nodes get names them, the installer
// (packaging/docker/install-host-agent on a fake host) writes the roots beside the policy,
// and the policy loads from there with the verifier's own parser.
TEST(HelmChartTest, TrustedKeysAndRootsReachThePolicyOnTheHost) {
  TempDir t;
  bool ok = false;
  testing::TrustedRootFiles root = testing::MakeTrustedRoot(t.path(), "pg", &ok);
  ASSERT_TRUE(ok);
  std::string pub = testing::RunShell(
      StrCat("openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout"), &ok);
  ASSERT_TRUE(ok && Contains(pub, "BEGIN PUBLIC KEY"));
  YAML::Node values;
  values["agent"]["trustedKeys"]["ci"]["pem"] = pub;
  values["agent"]["trustedKeys"]["ci"]["algorithm"] = "ecdsa-p256-sha256";
  values["agent"]["trustedRoots"]["public-good"] = ReadFileOrDie(root.json);
  values["agent"]["policy"]["version"] = 1;
  values["agent"]["policy"]["mode"] = "enforce";
  values["agent"]["policy"]["default"]["requirement"] = "reject";
  YAML::Node scope;
  scope["requirement"] = "signed";
  scope["keys"].push_back("ci");
  values["agent"]["policy"]["scopes"]["registry.example.com/team"] = scope;
  WriteFileOrDie(t.File("values.yaml"), Emit(values));
  std::vector<YAML::Node> objects = Render({"-f", t.File("values.yaml")});
  YAML::Node cm = Find(objects, "ConfigMap", "layerseal-agent-config");
  ASSERT_TRUE(cm);

  // The ConfigMap as the kubelet mounts it in the installer pod (the volume's items).
  const std::string config = t.File("config"), host = t.File("host"), share = t.File("share");
  YAML::Node pod = PodSpec(Find(objects, "DaemonSet", "layerseal-agent-installer"));
  int items = 0;
  for (const YAML::Node& v : pod["volumes"]) {
    if (!v["configMap"]) continue;
    for (const YAML::Node& item : v["configMap"]["items"]) {
      std::string key = item["key"].as<std::string>();
      ASSERT_TRUE(cm["data"][key]) << key;
      fs::path p = fs::path(config) / item["path"].as<std::string>();
      fs::create_directories(p.parent_path());
      WriteFileOrDie(p.string(), cm["data"][key].as<std::string>());
      ++items;
    }
  }
  EXPECT_EQ(items, 3);
  fs::create_directories(host);
  fs::create_directories(share);
  WriteFileOrDie(share + "/layerseal-agent.service",
                 "[Service]\nExecStart=/usr/bin/layerseal-agent\n");
  RunResult staged = *testing::Run(
      {"env", "STAGE_ONLY=1", "HOSTCTL=true", "HOST=" + host, "CONFIG=" + config,
       "CERTS=" + t.File("certs"), "SHARE=" + share, "AGENT=" LAYERSEAL_AGENT_BINARY,
       "NODE_NAME=node-1", "TMPDIR=" + t.path(), "bash",
       kSource + "/packaging/docker/install-host-agent"},
      "", kRenderTimeout);
  ASSERT_EQ(staged.exit_code, 0) << staged.out << staged.err;
  const std::string policy_file = host + "/etc/layerseal/policy.yaml";
  EXPECT_TRUE(fs::exists(host + "/etc/layerseal/trusted-roots/public-good.json")) << staged.out;
  absl::StatusOr<Policy> policy = Policy::LoadFile(policy_file);
  ASSERT_TRUE(policy.ok()) << policy.status() << "\n" << ReadFileOrDie(policy_file);
  EXPECT_EQ(policy->default_scope().mode, Mode::kEnforce);
  bool root_watched = false;
  for (const std::string& f : policy->key_files()) {
    if (Contains(f, "trusted-roots/public-good.json")) root_watched = true;
  }
  EXPECT_TRUE(root_watched);
  // The agent's own parser takes the agent.yaml the installer wrote (nodeName added).
  absl::StatusOr<agent::ParsedArgs> parsed =
      agent::ParseAgentArgs({"--config", host + "/etc/layerseal/agent.yaml"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.node_name, "node-1");
}

// ---- the controller ---------------------------------------------------------------------

// The controller's flags and configuration file parse with the controller's own parser.
absl::StatusOr<controller::ParsedControllerArgs> ParseController(const std::vector<YAML::Node>& objects,
                                                                 const TempDir& t) {
  YAML::Node c = PodSpec(Find(objects, "Deployment", "layerseal-controller"))["containers"][0];
  YAML::Node cm = Find(objects, "ConfigMap", "layerseal-controller-config");
  EXPECT_TRUE(c && cm);
  if (!c || !cm) return absl::NotFoundError("no controller");
  WriteFileOrDie(t.File("controller.yaml"), cm["data"]["controller.yaml"].as<std::string>());
  std::vector<std::string> args;
  for (std::string a : Strings(c["args"])) {
    if (a == "--config=/etc/layerseal/config/controller.yaml") a = "--config=" + t.File("controller.yaml");
    args.push_back(a);
  }
  return controller::ParseControllerArgs(args);
}

// Whether this build's controller has the kubernetes.* keys (added with issue 19's
// controller wiring); the configuration file carries them.
bool ControllerHasKubernetesKeys() {
  return Contains(controller::ControllerUsage(), "kubernetes.podEvents");
}

TEST(HelmChartTest, ControllerConfigurationParsesWithTheControllersParser) {
  for (std::string api : {"off", "wgpolicyk8s.io", "openreports.io"}) {
    SCOPED_TRACE(api);
    std::vector<YAML::Node> objects = Render(
        {"--set", StrCat("controller.kubernetes.policyReports.api=", api,
                         ",controller.kubernetes.policyReports.maxResults=250",
                         ",controller.kubernetes.policyReports.interval=1m30s")});
    YAML::Node cm = Find(objects, "ConfigMap", "layerseal-controller-config");
    ASSERT_TRUE(cm);
    YAML::Node file = YAML::Load(cm["data"]["controller.yaml"].as<std::string>());
    EXPECT_EQ(file["kubernetes"]["policyReports"].as<std::string>(), api);
    EXPECT_TRUE(file["kubernetes"]["podEvents"].as<bool>());
    EXPECT_EQ(file["kubernetes"]["reportMaxResults"].as<int>(), 250);
    EXPECT_EQ(file["kubernetes"]["reportInterval"].as<std::string>(), "1m30s");
    TempDir t;
    absl::StatusOr<controller::ParsedControllerArgs> parsed = ParseController(objects, t);
    if (!ControllerHasKubernetesKeys()) {
      // Until the controller reads kubernetes.*, it refuses the file for exactly that key.
      ASSERT_FALSE(parsed.ok());
      EXPECT_TRUE(Contains(std::string(parsed.status().message()), "kubernetes")) << parsed.status();
      continue;
    }
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->config.listen, "0.0.0.0:7443");
    EXPECT_EQ(parsed->config.admin, "0.0.0.0:7081");
    EXPECT_TRUE(controller::IsLoopbackOrUnix(parsed->config.web));
  }
  if (!ControllerHasKubernetesKeys()) {
    GTEST_SKIP() << "this controller has no kubernetes.* keys yet: the file's other keys were "
                    "not parsed";
  }
}

TEST(HelmChartTest, RbacIsTheClusterRoleFileAndOnlyWhenTheControllerUsesTheApi) {
  YAML::Node file = YAML::LoadFile(kChart + "/files/controller-clusterrole.yaml");
  std::vector<YAML::Node> objects = Render();  // podEvents: true by default
  YAML::Node role = Find(objects, "ClusterRole", "layerseal-controller");
  YAML::Node binding = Find(objects, "ClusterRoleBinding", "layerseal-controller");
  ASSERT_TRUE(role && binding);
  EXPECT_EQ(Canonical(role["rules"]), Canonical(file["rules"]));
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(), "layerseal-controller");
  EXPECT_EQ(binding["roleRef"]["kind"].as<std::string>(), "ClusterRole");
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(binding["subjects"][0]["kind"].as<std::string>(), "ServiceAccount");
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), "layerseal-controller");
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), "layerseal");
  YAML::Node pod = PodSpec(Find(objects, "Deployment", "layerseal-controller"));
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), "layerseal-controller");
  EXPECT_TRUE(pod["automountServiceAccountToken"].as<bool>()) << "the API token";
  EXPECT_TRUE(Find(objects, "ServiceAccount", "layerseal-controller"));

  // Reports only: the same role.
  objects = Render({"--set", "controller.kubernetes.podEvents=false,"
                             "controller.kubernetes.policyReports.api=openreports.io"});
  EXPECT_TRUE(Find(objects, "ClusterRole", "layerseal-controller"));
  // Neither: no role, no binding, no token (the kustomize manifests' least privilege).
  objects = Render({"--set", "controller.kubernetes.podEvents=false"});
  EXPECT_FALSE(Find(objects, "ClusterRole", "layerseal-controller"));
  EXPECT_FALSE(Find(objects, "ClusterRoleBinding", "layerseal-controller"));
  EXPECT_FALSE(PodSpec(Find(objects, "Deployment", "layerseal-controller"))["automountServiceAccountToken"]
                   .as<bool>());
}

// The CRDs of files/crds/ (one per file, in any subdirectory) whose group is `api`.
std::set<std::string> CrdFilesOfGroup(const std::string& api) {
  std::set<std::string> names;
  if (!fs::exists(kChart + "/files/crds")) return names;
  for (const auto& e : fs::recursive_directory_iterator(kChart + "/files/crds")) {
    if (e.path().extension() != ".yaml") continue;
    YAML::Node crd = YAML::LoadFile(e.path().string());
    if (crd["spec"]["group"].as<std::string>() == api) names.insert(crd["metadata"]["name"].as<std::string>());
  }
  return names;
}

TEST(HelmChartTest, CrdsOnlyWhenAskedAndOnlyOfTheChosenApi) {
  for (std::string api : {"off", "wgpolicyk8s.io", "openreports.io"}) {
    for (bool install : {false, true}) {
      SCOPED_TRACE(StrCat(api, install ? " installCRDs" : ""));
      std::vector<std::string> args = {
          "--set", StrCat("controller.kubernetes.policyReports.api=", api,
                          ",controller.kubernetes.policyReports.installCRDs=", install ? "true" : "false")};
      std::set<std::string> want = install && api != "off" ? CrdFilesOfGroup(api) : std::set<std::string>{};
      if (install && api != "off" && want.empty()) {
        // files/crds/ has no CRD of this group: the chart says so instead of installing none.
        RunResult r = RenderRaw(args);
        EXPECT_NE(r.exit_code, 0);
        EXPECT_TRUE(Contains(r.err, "controller.kubernetes.policyReports.installCRDs")) << r.err;
        continue;
      }
      std::set<std::string> got;
      for (const YAML::Node& o : Render(args)) {
        if (o["kind"].as<std::string>() != "CustomResourceDefinition") continue;
        got.insert(o["metadata"]["name"].as<std::string>());
        EXPECT_EQ(o["spec"]["group"].as<std::string>(), api);
        EXPECT_EQ(o["metadata"]["annotations"]["helm.sh/resource-policy"].as<std::string>(), "keep");
      }
      EXPECT_EQ(got, want);
    }
  }
}

TEST(HelmChartTest, CertificatesFromExistingSecretsByNameOrDefault) {
  auto secrets = [](const std::vector<YAML::Node>& objects) {
    std::map<std::string, std::string> out;  // workload -> secret
    for (const char* kind : {"Deployment", "DaemonSet"}) {
      for (const YAML::Node& o : objects) {
        if (o["kind"].as<std::string>() != kind) continue;
        for (const YAML::Node& v : PodSpec(o)["volumes"]) {
          if (v["secret"]) out[kind] = v["secret"]["secretName"].as<std::string>();
        }
      }
    }
    return out;
  };
  std::vector<YAML::Node> objects = Render();
  EXPECT_EQ(secrets(objects), (std::map<std::string, std::string>{
                                  {"Deployment", "layerseal-controller-tls"},
                                  {"DaemonSet", "layerseal-agent-certs"}}));
  EXPECT_EQ(Kinds(objects).count("Secret"), 0u) << "existing Secrets are not made";
  EXPECT_EQ(Kinds(objects).count("Job"), 0u);
  objects = Render({"--set", "certificates.controllerSecret=my-tls,certificates.agentSecret=my-nodes"});
  EXPECT_EQ(secrets(objects), (std::map<std::string, std::string>{{"Deployment", "my-tls"},
                                                                  {"DaemonSet", "my-nodes"}}));
}

// A stand-in for the API server's few calls that generate-certs makes (plain HTTP on
// loopback; the Job uses HTTPS with the ServiceAccount's CA): Secrets by name, POST of a
// Secret (kept in memory and written to DIR/<name>.json), and a NodeList.
constexpr char kFakeApiServer[] = R"PY(
import json, sys, http.server
port, out, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
secrets = {}
nodes = {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [
  {"metadata": {"name": n, "uid": "u-" + n, "labels": {"kubernetes.io/hostname": n}},
   "status": {"images": [{"names": ["registry.example.com/x@sha256:00"]}]}}
  for n in ("node-a", "node-b.example")]}
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def authorized(self):
        if self.headers.get("Authorization") != "Bearer " + token:
            self.reply(401, {"kind": "Status", "code": 401})
            return False
        return True
    def do_GET(self):
        if not self.authorized(): return
        if self.path == "/api/v1/nodes?pretty=false": return self.reply(200, nodes)
        name = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/api/v1/namespaces/layerseal/secrets/") and name in secrets:
            return self.reply(200, secrets[name])
        self.reply(404, {"kind": "Status", "code": 404})
    def do_POST(self):
        if not self.authorized(): return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = body["metadata"]["name"]
        if self.path != "/api/v1/namespaces/layerseal/secrets" or name in secrets:
            return self.reply(409, {"kind": "Status", "code": 409})
        secrets[name] = body
        with open(out + "/" + name + ".json", "w") as f: json.dump(body, f)
        self.reply(201, body)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
)PY";

std::map<std::string, std::string> SecretData(const std::string& json_file) {
  std::map<std::string, std::string> out;
  YAML::Node secret = YAML::LoadFile(json_file);  // JSON is YAML
  for (const auto& kv : secret["data"]) {
    std::string bytes;
    EXPECT_TRUE(absl::Base64Unescape(kv.second.as<std::string>(), &bytes));
    out[kv.first.as<std::string>()] = bytes;
  }
  return out;
}

// certificates.mode=generate: the hook Job's script (packaging/docker/generate-certs, with
// scripts/make-certs) run with the Job's environment as rendered, against the fake API: it
// makes the two Secrets with a controller certificate for the Service's names and one node
// certificate per listed node that the controller's identity parser takes as that node, then
// leaves existing Secrets alone.
TEST(HelmChartTest, GeneratedCertificatesHookJobMakesSecretsTheControllerAccepts) {
  std::vector<YAML::Node> objects = Render({"--set", "certificates.mode=generate"});
  YAML::Node job = Find(objects, "Job", "layerseal-certificates");
  ASSERT_TRUE(job);
  EXPECT_EQ(job["metadata"]["annotations"]["helm.sh/hook"].as<std::string>(), "pre-install");
  EXPECT_TRUE(Find(objects, "ClusterRole", "layerseal-certificates")) << "nodes are listed";
  YAML::Node c = PodSpec(job)["containers"][0];
  EXPECT_EQ(c["image"].as<std::string>(), StrCat(kImage, ":", LAYERSEAL_VERSION));
  const std::string script = c["command"][0].as<std::string>();
  std::string dockerfile = ReadFileOrDie(kSource + "/packaging/docker/Dockerfile");
  EXPECT_TRUE(Contains(dockerfile, "COPY packaging/docker/generate-certs scripts/make-certs /opt/layerseal/"));
  EXPECT_EQ(script, "/opt/layerseal/generate-certs");
  EXPECT_TRUE(std::regex_search(dockerfile, std::regex(R"(apt-get install[^\n]*(\\\n[^\n]*)*\bopenssl curl\b)")));
  std::vector<std::string> env = {"env"};
  for (const YAML::Node& e : c["env"]) {
    env.push_back(StrCat(e["name"].as<std::string>(), "=", e["value"].as<std::string>()));
  }

  TempDir t;
  WriteFileOrDie(t.File("fake_api.py"), kFakeApiServer);
  fs::create_directories(t.File("sa"));
  fs::create_directories(t.File("posted"));
  WriteFileOrDie(t.File("sa/token"), "test-token");
  WriteFileOrDie(t.File("sa/namespace"), "layerseal");
  WriteFileOrDie(t.File("sa/ca.crt"), "");
  int port = testing::PickFreePort();
  absl::StatusOr<std::unique_ptr<testing::Child>> api = testing::Child::Spawn(
      {"python3", t.File("fake_api.py"), StrCat(port), t.File("posted"), "test-token"}, t.File("api.log"));
  ASSERT_TRUE(api.ok()) << api.status();
  ASSERT_TRUE(testing::WaitForPort(port, absl::Seconds(60))) << ReadFileOrDie(t.File("api.log"));
  env.insert(env.end(), {StrCat("API_URL=http://127.0.0.1:", port), "SA_DIR=" + t.File("sa"),
                         "MAKE_CERTS=" + kSource + "/scripts/make-certs", "TMPDIR=" + t.path(),
                         "bash", kSource + "/packaging/docker/generate-certs"});
  RunResult first = *testing::Run(env, "", kRenderTimeout);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;

  std::map<std::string, std::string> tls = SecretData(t.File("posted/layerseal-controller-tls.json"));
  std::map<std::string, std::string> nodes = SecretData(t.File("posted/layerseal-agent-certs.json"));
  std::set<std::string> tls_keys, node_keys;
  for (const auto& kv : tls) tls_keys.insert(kv.first);
  for (const auto& kv : nodes) node_keys.insert(kv.first);
  EXPECT_EQ(tls_keys, (std::set<std::string>{"tls.crt", "tls.key", "ca.crt"}));
  EXPECT_EQ(node_keys, (std::set<std::string>{"ca.crt", "node-a.crt", "node-a.key",
                                              "node-b.example.crt", "node-b.example.key"}));
  EXPECT_EQ(tls["ca.crt"], nodes["ca.crt"]) << "one CA";
  for (const auto& [name, pem] : std::vector<std::pair<std::string, std::string>>{
           {"server", tls["tls.crt"]}, {"node-a", nodes["node-a.crt"]}, {"ca", tls["ca.crt"]}}) {
    WriteFileOrDie(t.File(name + ".pem"), pem);
  }
  RunResult verify = *testing::Run({"openssl", "verify", "-CAfile", t.File("ca.pem"),
                                    t.File("server.pem"), t.File("node-a.pem")});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  RunResult sans = *testing::Run({"openssl", "x509", "-in", t.File("server.pem"), "-noout", "-ext",
                                  "subjectAltName"});
  for (const char* name : {"layerseal-controller.layerseal.svc",
                           "layerseal-controller.layerseal.svc.cluster.local"}) {
    EXPECT_TRUE(Contains(sans.out, StrCat("DNS:", name))) << sans.out;
  }
  absl::StatusOr<controller::PeerIdentity> node = controller::IdentityFromPem(nodes["node-a.crt"]);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->role, controller::Role::kNode);
  EXPECT_EQ(node->common_name, "node-a");
  EXPECT_TRUE(Contains(first.err, "the CA key is not kept")) << first.err;
  EXPECT_FALSE(Contains(ReadFileOrDie(t.File("posted/layerseal-agent-certs.json")), "ca.key"));

  // Run again (a reinstall): the Secrets exist and are left alone.
  RunResult second = *testing::Run(env, "", kRenderTimeout);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(Contains(second.err, "left alone")) << second.err;
  // A wrong token: the Job fails and says so.
  WriteFileOrDie(t.File("sa/token"), "wrong");
  RunResult denied = *testing::Run(env, "", kRenderTimeout);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_TRUE(Contains(denied.err, "HTTP 401")) << denied.err;
}

// One real API server for the suite; the ServiceAccount identity whose token it accepts is
// the certificate Job's (layerseal/layerseal-certificates).
class HelmApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::KubeApiServer>> started = testing::KubeApiServer::Start(
        {.service_account_namespace = "layerseal", .service_account_name = "layerseal-certificates"});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = started->release();
    ASSERT_TRUE(server_->CreateNamespace("layerseal").ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << "the API server did not start"; }
  static testing::KubeApiServer* server_;
};
testing::KubeApiServer* HelmApiServerTest::server_ = nullptr;

// The same Job script against a real kube-apiserver (tests/support/kube_apiserver.h) as the
// Job's own ServiceAccount, holding exactly the hook's RBAC as rendered: HTTPS with the
// ServiceAccount's CA file, the API server's own NodeList JSON, the Secrets created, existing
// ones left alone, and nothing readable beyond the two Secrets.
TEST_F(HelmApiServerTest, CertificateJobMakesTheSecretsWithItsOwnRbac) {
  std::vector<YAML::Node> objects = Render({"--set", "certificates.mode=generate"});
  YAML::Node job = Find(objects, "Job", "layerseal-certificates");
  ASSERT_TRUE(job);
  TempDir t;
  // The hook's RBAC documents as rendered (their text: re-emitting would lose quoting).
  RunResult rendered = RenderRaw({"--set", "certificates.mode=generate"});
  std::string rbac;
  for (const std::string& doc : RawDocuments(rendered.out)) {
    YAML::Node o = YAML::Load(doc);
    std::string kind = o["kind"].as<std::string>();
    if ((kind == "Role" || kind == "RoleBinding" || kind == "ClusterRole" ||
         kind == "ClusterRoleBinding") &&
        o["metadata"]["name"].as<std::string>() == "layerseal-certificates") {
      rbac += doc + "\n";
    }
  }
  WriteFileOrDie(t.File("rbac.yaml"), rbac);
  testing::KubeApiServer& api = *server_;
  absl::Status applied = api.ApplyYamlFile(t.File("rbac.yaml"));
  ASSERT_TRUE(applied.ok()) << applied << "\n" << rbac;
  for (const char* node : {"node-a", "node-b"}) {
    absl::StatusOr<nlohmann::json> made = api.Admin(
        "POST", "/api/v1/nodes",
        {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", node}}}});
    ASSERT_TRUE(made.ok()) << made.status();
  }
  // RBAC takes effect through the API server's caches: wait until the identity may list nodes.
  bool allowed = false;
  for (int i = 0; i < 300 && !allowed; ++i) {
    absl::StatusOr<testing::KubeApiServer::Answer> a =
        api.Request(api.controller_token(), "GET", "/api/v1/nodes");
    allowed = a.ok() && a->status == 200;
    if (!allowed) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(allowed) << "the hook's ClusterRole never let the Job's identity list nodes";

  fs::create_directories(t.File("sa"));
  WriteFileOrDie(t.File("sa/token"), api.controller_token());
  WriteFileOrDie(t.File("sa/namespace"), "layerseal");
  WriteFileOrDie(t.File("sa/ca.crt"), ReadFileOrDie(api.ca_file()));
  std::vector<std::string> env = {"env"};
  for (const YAML::Node& e : PodSpec(job)["containers"][0]["env"]) {
    env.push_back(StrCat(e["name"].as<std::string>(), "=", e["value"].as<std::string>()));
  }
  env.insert(env.end(), {"API_URL=" + api.url(), "SA_DIR=" + t.File("sa"),
                         "MAKE_CERTS=" + kSource + "/scripts/make-certs", "TMPDIR=" + t.path(),
                         "bash", kSource + "/packaging/docker/generate-certs"});
  RunResult first = *testing::Run(env, "", kRenderTimeout);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_TRUE(Contains(first.err, "2 node certificates (node-a node-b)")) << first.err;

  absl::StatusOr<nlohmann::json> nodes =
      api.Admin("GET", "/api/v1/namespaces/layerseal/secrets/layerseal-agent-certs");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  std::set<std::string> keys;
  for (const auto& [key, value] : (*nodes)["data"].items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"ca.crt", "node-a.crt", "node-a.key", "node-b.crt",
                                         "node-b.key"}));
  std::string pem;
  ASSERT_TRUE(absl::Base64Unescape((*nodes)["data"]["node-b.crt"].get<std::string>(), &pem));
  absl::StatusOr<controller::PeerIdentity> node = controller::IdentityFromPem(pem);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->role, controller::Role::kNode);
  EXPECT_EQ(node->common_name, "node-b");
  absl::StatusOr<nlohmann::json> tls =
      api.Admin("GET", "/api/v1/namespaces/layerseal/secrets/layerseal-controller-tls");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ((*tls)["data"]["ca.crt"], (*nodes)["data"]["ca.crt"]);

  RunResult second = *testing::Run(env, "", kRenderTimeout);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(Contains(second.err, "left alone")) << second.err;
  // Least privilege: the Job's identity reads no other Secret and lists none.
  for (const std::string& path : {std::string("/api/v1/namespaces/layerseal/secrets/other"),
                                  std::string("/api/v1/namespaces/layerseal/secrets"),
                                  std::string("/api/v1/namespaces/default/secrets/x")}) {
    absl::StatusOr<testing::KubeApiServer::Answer> a = api.Request(api.controller_token(), "GET", path);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->status, 403) << path;
  }
}

// The API server takes the chart's objects of the groups it serves (this one serves core v1,
// RBAC and CRDs; not apps or networking): it validates each on create.
TEST_F(HelmApiServerTest, ServedKindsAreAcceptedByTheApiServer) {
  testing::KubeApiServer& api = *server_;
  TempDir t;
  RunResult all = RenderRaw({"--set", "controller.webTls=true,commonLabels.team=security,"
                                      "controller.kubernetes.policyReports.api=wgpolicyk8s.io,"
                                      "controller.kubernetes.policyReports.installCRDs=true,"
                                      "monitoring.dashboard.enabled=true"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  std::string served;
  std::multiset<std::string> kinds;
  for (const std::string& doc : RawDocuments(all.out)) {
    YAML::Node o = YAML::Load(doc);
    std::string version = o["apiVersion"].as<std::string>();
    if (version == "v1" || version == "rbac.authorization.k8s.io/v1" ||
        version == "apiextensions.k8s.io/v1") {
      served += doc + "\n";
      kinds.insert(o["kind"].as<std::string>());
    }
  }
  for (const char* kind : {"ServiceAccount", "ConfigMap", "Service", "PersistentVolumeClaim",
                           "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}) {
    EXPECT_TRUE(kinds.count(kind)) << kind;
  }
  WriteFileOrDie(t.File("served.yaml"), served);
  absl::Status created = api.ApplyYamlFile(t.File("served.yaml"));
  EXPECT_TRUE(created.ok()) << created;
  absl::StatusOr<nlohmann::json> service =
      api.Admin("GET", "/api/v1/namespaces/layerseal/services/layerseal-controller");
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ((*service)["spec"]["ports"].size(), 3u) << "grpc, admin and web (webTls)";
}

// NOTES.txt (printed by helm install): the next steps, with this release's names.
TEST(HelmChartTest, NotesNameTheNextStepsForThisRelease) {
  RunResult r = RenderRaw({"--show-notes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string notes = r.out.substr(r.out.find("NOTES:"));
  EXPECT_TRUE(Contains(notes, "kubectl label namespace layerseal pod-security.kubernetes.io/enforce=privileged")) << notes;
  EXPECT_TRUE(Contains(notes, "rollout status ds/layerseal-agent-installer")) << notes;
  EXPECT_TRUE(Contains(notes, "port-forward deploy/layerseal-controller 7080")) << notes;
  EXPECT_TRUE(Contains(notes, "layerseal-controller-tls")) << notes;
  EXPECT_FALSE(Contains(notes, "WARNING")) << notes;
  // Reports to an API the cluster does not serve, without installCRDs: a warning; with the
  // API served (.Capabilities.APIVersions), none.
  RunResult missing = RenderRaw({"--show-notes", "--set", "controller.kubernetes.policyReports.api=wgpolicyk8s.io"});
  EXPECT_TRUE(Contains(missing.out, "WARNING: PolicyReports go to wgpolicyk8s.io/v1alpha2")) << missing.out;
  RunResult served = RenderRaw({"--show-notes", "--api-versions", "wgpolicyk8s.io/v1alpha2", "--set",
                                "controller.kubernetes.policyReports.api=wgpolicyk8s.io"});
  EXPECT_FALSE(Contains(served.out, "WARNING")) << served.out;
}

// ---- monitoring values (templates/monitoring-*.yaml use them) --------------------------------

TEST(HelmChartTest, MonitoringValuesAreAcceptedAndChecked) {
  RunResult on = RenderRaw(
      {"--set", "monitoring.podMonitor.enabled=true,monitoring.podMonitor.interval=15s,"
                "monitoring.podMonitor.labels.release=prom,monitoring.agentScrape.enabled=true,"
                "monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true"});
  EXPECT_EQ(on.exit_code, 0) << on.err;
  RunResult bad = RenderRaw({"--set", "monitoring.podMonitor.interval=soon"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(Contains(bad.err, "monitoring.podMonitor.interval")) << bad.err;
}

// ---- wrong values fail, naming the field ---------------------------------------------------

TEST(HelmChartTest, SchemaRefusesWrongValuesNamingTheField) {
  struct Case {
    std::string set, field, why;
  };
  for (const Case& c : std::vector<Case>{
           {"controller.replicas=two", "controller.replicas", "Invalid type"},
           {"controller.kubernetes.podEvents=yes", "controller.kubernetes.podEvents", "Invalid type"},
           {"controller.bogus=1", "controller", "Additional property bogus"},
           {"agent.installer.tolerance=1", "agent.installer", "Additional property tolerance"},
           {"nope=1", "(root)", "Additional property nope"},
           {"controller.kubernetes.policyReports.api=kyverno", "controller.kubernetes.policyReports.api",
            "must be one of"},
           {"image.pullPolicy=Sometimes", "image.pullPolicy", "must be one of"},
           {"certificates.mode=vault", "certificates.mode", "must be one of"},
           {"controller.kubernetes.policyReports.interval=30 s",
            "controller.kubernetes.policyReports.interval", "Does not match pattern"},
           {"controller.retention=1d", "controller.retention", "Does not match pattern"},
           {"controller.kubernetes.policyReports.maxResults=0",
            "controller.kubernetes.policyReports.maxResults", "greater than or equal to 1"},
           {"controller.kubernetes.policyReports.maxResults=5001",
            "controller.kubernetes.policyReports.maxResults", "less than or equal to 5000"},
           {"controller.logLevel=verbose", "controller.logLevel", "must be one of"},
           {"agent.policy.version=2", "agent.policy.version", "must be one of"},
       }) {
    RunResult r = RenderRaw({"--set", c.set});
    EXPECT_EQ(r.exit_code, 1) << c.set;
    EXPECT_TRUE(Contains(r.err, "- " + c.field + ": ")) << c.set << ": " << r.err;
    EXPECT_TRUE(Contains(r.err, c.why)) << c.set << ": " << r.err;
  }
  // A template rule the schema cannot say: more than one SQLite replica.
  RunResult r = RenderRaw({"--set", "controller.replicas=2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "controller.replicas")) << r.err;
  RunResult pg = RenderRaw({"--set", "controller.replicas=2,controller.database=postgres://db/layerseal"});
  EXPECT_EQ(pg.exit_code, 0) << pg.err;
}

// ---- a real Helm, when there is one -------------------------------------------------------

// The helm binary named by $LAYERSEAL_HELM, else `helm` on the PATH; "" when neither runs.
std::string RealHelm() {
  const char* env = getenv("LAYERSEAL_HELM");
  std::string helm = env != nullptr && *env != '\0' ? env : "helm";
  absl::StatusOr<RunResult> v = testing::Run({helm, "version", "--short"}, "", kRenderTimeout);
  if (!v.ok() || v->exit_code != 0 || v->out.rfind("v3.", 0) != 0) return "";
  return helm;
}

// Object key -> canonical object, for comparing two renderings whatever their order.
std::map<std::string, std::string> ObjectsByKey(const std::string& yaml) {
  std::map<std::string, std::string> out;
  for (const YAML::Node& o : YAML::LoadAll(yaml)) {
    if (!o.IsMap()) continue;
    out[StrCat(o["kind"].as<std::string>(), "/", o["metadata"]["name"].as<std::string>())] = Canonical(o);
  }
  return out;
}

// Helm's own `lint` and `template` agree with tests/helm/render on every value set.
TEST(HelmChartTest, RealHelmLintsAndRendersTheSameObjects) {
  std::string helm = RealHelm();
  if (helm.empty()) GTEST_SKIP() << "no Helm 3 (helm on the PATH or $LAYERSEAL_HELM)";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"--set", "controller.webTls=true,controller.persistence.enabled=false,commonLabels.a=b"},
           {"--set", "controller.kubernetes.podEvents=false"},
           {"--set", "controller.kubernetes.policyReports.api=wgpolicyk8s.io"},
           {"--set", "certificates.mode=generate,certificates.generate.nodes={n1,n2}"},
           {"--set", "certificates.mode=generate"},
           {"--set", "monitoring.podMonitor.enabled=true,monitoring.agentScrape.enabled=true,"
                     "monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true"},
           {"--set", "agent.installer.enabled=false,fullnameOverride=ls"},
       }) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    std::vector<std::string> lint = {helm, "lint", kChart, "--namespace", "layerseal"};
    lint.insert(lint.end(), args.begin(), args.end());
    RunResult l = *testing::Run(lint, "", kRenderTimeout);
    EXPECT_EQ(l.exit_code, 0) << l.out << l.err;
    std::vector<std::string> tmpl = {helm, "template", "layerseal", kChart, "--namespace", "layerseal"};
    tmpl.insert(tmpl.end(), args.begin(), args.end());
    RunResult h = *testing::Run(tmpl, "", kRenderTimeout);
    ASSERT_EQ(h.exit_code, 0) << h.err;
    RunResult r = RenderRaw(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, std::string> want = ObjectsByKey(h.out), got = ObjectsByKey(r.out);
    EXPECT_FALSE(want.empty());
    for (const auto& [key, object] : want) EXPECT_EQ(got[key], object) << key;
    for (const auto& [key, object] : got) EXPECT_TRUE(want.count(key)) << key << " only in the renderer's";
  }
  // The schema errors are Helm's too.
  RunResult bad = *testing::Run({helm, "template", "x", kChart, "--set", "controller.replicas=two"}, "",
                                kRenderTimeout);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(Contains(bad.err, "- controller.replicas: Invalid type")) << bad.err;
  // And the archive the build makes is a chart Helm installs from.
  RunResult archive = *testing::Run({helm, "lint", LAYERSEAL_CHART_ARCHIVE}, "", kRenderTimeout);
  EXPECT_EQ(archive.exit_code, 0) << archive.out << archive.err;
}

}  // namespace
}  // namespace layerseal
