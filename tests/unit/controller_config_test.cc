// The controller's configuration keys for the Kubernetes outputs (issue 19): YAML and flags,
// defaults, and the values refused by name.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/str_cat.h"
#include "controller/config.h"
#include "tests/support/process.h"

namespace layerseal::controller {
namespace {

std::vector<std::string> Insecure(std::vector<std::string> more) {
  std::vector<std::string> args = {"--insecure", "--listen", "127.0.0.1:0"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(ControllerKubernetesConfig, OffByDefault) {
  absl::StatusOr<ParsedControllerArgs> parsed = ParseControllerArgs(Insecure({}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->config.kube_pod_events);
  EXPECT_EQ(parsed->config.kube_policy_reports, "off");
  EXPECT_EQ(parsed->config.kubeconfig, "");
  EXPECT_EQ(parsed->config.kube_report_max_results, 1000);
  EXPECT_EQ(parsed->config.kube_report_interval, absl::Seconds(30));
  EXPECT_FALSE(KubernetesEnabled(parsed->config));
}

TEST(ControllerKubernetesConfig, ReadFromYaml) {
  testing::TempDir dir;
  std::string file = dir.path() + "/controller.yaml";
  testing::WriteFileOrDie(file,
                              "insecure: true\n"
                              "listen: 127.0.0.1:0\n"
                              "kubernetes:\n"
                              "  podEvents: true\n"
                              "  policyReports: openreports.io\n"
                              "  kubeconfig: /etc/kube/config\n"
                              "  reportMaxResults: 250\n"
                              "  reportInterval: 5s\n");
  absl::StatusOr<ParsedControllerArgs> parsed = ParseControllerArgs({"--config", file});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.kube_pod_events);
  EXPECT_EQ(parsed->config.kube_policy_reports, "openreports.io");
  EXPECT_EQ(parsed->config.kubeconfig, "/etc/kube/config");
  EXPECT_EQ(parsed->config.kube_report_max_results, 250);
  EXPECT_EQ(parsed->config.kube_report_interval, absl::Seconds(5));
  EXPECT_TRUE(KubernetesEnabled(parsed->config));
}

TEST(ControllerKubernetesConfig, FlagsOverride) {
  absl::StatusOr<ParsedControllerArgs> parsed = ParseControllerArgs(
      Insecure({"--kube-policy-reports", "wgpolicyk8s.io", "--kubeconfig", "in-cluster"}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->config.kube_pod_events);
  EXPECT_EQ(parsed->config.kube_policy_reports, "wgpolicyk8s.io");
  EXPECT_TRUE(KubernetesEnabled(parsed->config));
}

TEST(ControllerKubernetesConfig, BadValuesNamed) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {{"--kube-policy-reports", "kyverno"}, "kyverno"},
           {{"--kube-report-max-results", "0"}, "kube-report-max-results"},
           {{"--kube-report-max-results", "5001"}, "kube-report-max-results"},
           {{"--kube-report-interval", "0s"}, "kube-report-interval"},
           {{"--kube-report-interval", "soon"}, "kube-report-interval"},
       }) {
    absl::StatusOr<ParsedControllerArgs> parsed = ParseControllerArgs(Insecure(c.args));
    ASSERT_FALSE(parsed.ok()) << c.args[0] << " " << c.args[1];
    EXPECT_NE(std::string(parsed.status().message()).find(c.names), std::string::npos)
        << parsed.status();
  }
}

TEST(ControllerKubernetesConfig, ValidateRefusesWhatCodeBuiltConfigsGetWrong) {
  ControllerConfig config;
  config.insecure = true;
  config.listen = "127.0.0.1:0";
  ASSERT_TRUE(ValidateConfig(config).ok());
  config.kube_policy_reports = "PolicyReport";
  EXPECT_NE(std::string(ValidateConfig(config).message()).find("kubernetes.policyReports"),
            std::string::npos);
  config.kube_policy_reports = "off";
  config.kube_report_interval = absl::ZeroDuration();
  EXPECT_NE(std::string(ValidateConfig(config).message()).find("kubernetes.reportInterval"),
            std::string::npos);
}

}  // namespace
}  // namespace layerseal::controller
