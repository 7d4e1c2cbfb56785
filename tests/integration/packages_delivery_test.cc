// Package inventories from the agent to the controller, end to end (issue 18): the agent's
// own delivery code (VerdictEvents: the event record, the durable spool, the sender over
// mutual TLS) in this process, the real layerseal-controller binary (SQLite) as a child,
// and `layerseal events images --packages` (the CLI binary) reading what arrived. A gate's
// VerdictEvent with an attachment shows up at the controller per image digest; a second
// report of the same image is not stored twice; a bad attachment is refused by name (the
// agent logs and counts it, the event is stored, the inventory stored before stays); one
// over kMaxEventPackagesBytes is not sent, and the controller and CLI say so.
//
// The gate that builds the inventory at PullImage is helper s25-pullcheck's; this test
// starts where it hands the attachment over (plugin::VerdictEvent::packages_attachment).
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "node-agent/event_record.h"
#include "node-agent/verdict_events.h"
#include "tests/support/metrics_text.h"
#include "tests/support/package_inventory.h"
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testing::ReadFileOrDie;
using testing::RunResult;

// How long the test waits for something that should happen; never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(60);
const std::string kImageA = "sha256:" + std::string(64, 'a');
const std::string kImageB = "sha256:" + std::string(64, 'b');
const std::string kImageC = "sha256:" + std::string(64, 'c');

class PackagesDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(LAYERSEAL_CONTROLLER_BINARY).empty()) GTEST_SKIP() << "no controller";
    auto certs = testing::MakeTlsCerts(dir_.path(), {"node-a"}, {"ops-alice"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *std::move(certs);
    port_ = testing::PickFreePort();
    log_ = dir_.File("controller.log");
    auto child = testing::Child::Spawn(
        {LAYERSEAL_CONTROLLER_BINARY, "--listen", StrCat("127.0.0.1:", port_), "--admin",
         StrCat("127.0.0.1:", testing::PickFreePort()), "--web", "", "--tls-cert",
         certs_.server.cert, "--tls-key", certs_.server.key, "--client-ca", certs_.ca.cert,
         "--database", "sqlite:" + dir_.File("events.db")},
        log_);
    ASSERT_TRUE(child.ok()) << child.status();
    controller_ = *std::move(child);
    absl::Time deadline = absl::Now() + kPatience;
    while (!testing::WaitForPort(port_, absl::Milliseconds(100))) {
      ASSERT_TRUE(controller_->Running()) << ReadFileOrDie(log_);
      ASSERT_LT(absl::Now(), deadline) << ReadFileOrDie(log_);
    }
    logger_ = std::make_unique<telemetry::Logger>("agent", [this](std::string_view line) {
      absl::MutexLock lock(&agent_log_mu_);
      agent_log_.append(line).append("\n");
    });
    const testing::CertKey& node = certs_.client.at("node-a");
    auto events = agent::VerdictEvents::Start({.node = "node-a",
                                               .agent_version = "test",
                                               .controller = StrCat("127.0.0.1:", port_),
                                               .controller_ca = certs_.ca.cert,
                                               .controller_cert = node.cert,
                                               .controller_key = node.key,
                                               .spool_dir = dir_.File("spool"),
                                               .logger = logger_.get(),
                                               .metrics = &metrics_});
    ASSERT_TRUE(events.ok()) << events.status();
    events_ = *std::move(events);
  }

  // A PullImage ALLOW of `digest` as a gate hands it to the event sink.
  void Pull(const std::string& digest, const std::string& image, std::string attachment) {
    plugin::VerdictEvent e;
    e.gate = "PullImage";
    e.image = image;
    e.judgement.verdict.decision = Decision::kAllow;
    e.judgement.verdict.reason = Reason::kVerified;
    e.judgement.verdict.manifest_digest = *Digest::Parse(digest);
    e.judgement.verdict.reference = image;
    e.admitted = true;
    e.time = absl::Now();
    e.packages_attachment = std::move(attachment);
    events_->Report(e);
  }

  RunResult Cli(std::vector<std::string> args) {
    const testing::CertKey& me = certs_.client.at("ops-alice");
    std::vector<std::string> argv = {LAYERSEAL_BINARY, "events", "--controller",
                                     StrCat("127.0.0.1:", port_), "--ca", certs_.ca.cert,
                                     "--cert", me.cert, "--key", me.key};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RunResult> r = testing::Run(argv, "", kPatience);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }

  // Waits until every spooled event is acknowledged by the controller.
  void Delivered() {
    absl::Time deadline = absl::Now() + kPatience;
    while (events_->spool_backlog() > 0) {
      ASSERT_LT(absl::Now(), deadline) << AgentLog() << ReadFileOrDie(log_);
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // The --packages JSON line of `digest`, or null.
  json Inventory(const std::string& digest) {
    RunResult r = Cli({"images", "--packages", "--output", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (absl::string_view piece : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      std::string line(piece);
      json j = json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << line;
      if (!j.is_discarded() && j.value("digest", "") == digest) return j;
    }
    return nullptr;
  }

  std::string AgentLog() {
    absl::MutexLock lock(&agent_log_mu_);
    return agent_log_;
  }

  double AgentMetric(const std::string& series) {
    return testing::MetricValue(metrics_.RenderText(), series).value_or(0);
  }

  std::string SqliteCount(const std::string& sql) {
    absl::StatusOr<RunResult> r = testing::Run({"sqlite3", dir_.File("events.db"), sql});
    EXPECT_TRUE(r.ok() && r->exit_code == 0);
    return r.ok() ? std::string(absl::StripAsciiWhitespace(r->out)) : "";
  }

  testing::TempDir dir_;
  testing::TlsCerts certs_;
  int port_ = 0;
  std::string log_;
  absl::Mutex agent_log_mu_;
  std::string agent_log_ ABSL_GUARDED_BY(agent_log_mu_);
  std::unique_ptr<testing::Child> controller_;
  telemetry::MetricsRegistry metrics_;
  std::unique_ptr<telemetry::Logger> logger_;
  std::unique_ptr<agent::VerdictEvents> events_;
};

TEST_F(PackagesDeliveryTest, InventoryArrivesOncePerDigestAndTheCliShowsIt) {
  std::string a = testing::TestAttachment(kImageA, {{"curl", "7.88.1-10+deb12u5"},
                                                    {"libcurl4", "7.88.1-10+deb12u5"}});
  Pull(kImageA, "registry.example/app:1", a);
  Pull(kImageA, "registry.example/app:1", a);  // another pull of the same image
  Delivered();
  EXPECT_EQ(AgentMetric("layerseal_agent_packages_attachments_total{result=\"spooled\"}"), 2);

  json inv = Inventory(kImageA);
  ASSERT_FALSE(inv.is_null()) << ReadFileOrDie(log_);
  EXPECT_EQ(inv["packageCount"], "2");
  EXPECT_EQ(inv["node"], "node-a");
  EXPECT_EQ(inv["baseLayers"], 1);
  EXPECT_EQ(inv["layers"], 3);
  EXPECT_EQ(inv["distro"], "debian 12");
  ASSERT_EQ(inv["packages"].size(), 2u);
  const json& curl = inv["packages"][0];
  EXPECT_EQ(curl["name"], "curl");
  EXPECT_EQ(curl["version"], "7.88.1-10+deb12u5");
  EXPECT_EQ(curl["arch"], "amd64");
  EXPECT_EQ(curl["layerIndex"], 2);
  EXPECT_EQ(curl["layerDigest"], testing::TestLayerDigest('2'));
  EXPECT_EQ(curl["purl"], "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12");
  EXPECT_EQ(curl["change"], "added");

  // One row for the digest, two events; the events were stored without the attachment.
  EXPECT_EQ(SqliteCount("SELECT count(*) FROM image_packages"), "1");
  EXPECT_EQ(SqliteCount("SELECT count(*) FROM events"), "2");
  EXPECT_EQ(SqliteCount("SELECT max(length(body)) < 1000 FROM events"), "1");

  RunResult table = Cli({"images", "--packages"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("IMAGE " + kImageA + " (registry.example/app:1)"));
  EXPECT_THAT(table.out, HasSubstr("2 package(s) above the base (1 of 3 layers), debian 12"));
  EXPECT_THAT(table.out, HasSubstr("NAME"));
  EXPECT_THAT(table.out, HasSubstr("PURL"));
  EXPECT_THAT(table.out, HasSubstr("libcurl4"));
  EXPECT_THAT(table.out, HasSubstr("2 sha256:222222222222"));
  EXPECT_THAT(table.out,
              HasSubstr("pkg:deb/debian/libcurl4@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12"));
  // The plain summary counts them.
  RunResult images = Cli({"images"});
  ASSERT_EQ(images.exit_code, 0) << images.err;
  EXPECT_THAT(images.out, HasSubstr("PACKAGES"));
  RunResult images_json = Cli({"images", "--output", "json"});
  EXPECT_THAT(images_json.out, HasSubstr("\"hasPackages\":true"));
  EXPECT_THAT(images_json.out, HasSubstr("\"packages\":\"2\""));
  // --packages is for images only.
  EXPECT_EQ(Cli({"nodes", "--packages"}).exit_code, 2);
}

TEST_F(PackagesDeliveryTest, BadInventoryIsRefusedByNameAndNothingStoredIsLost) {
  std::string a = testing::TestAttachment(kImageA, {{"curl", "7.88.1-10"}});
  Pull(kImageA, "registry.example/app:1", a);
  Delivered();
  ASSERT_FALSE(Inventory(kImageA).is_null());
  std::string broken = a;
  broken.replace(broken.find("\"name\":\"curl\""), 13, "\"name\":\"cu rl\"");
  Pull(kImageA, "registry.example/app:1", broken);
  // The inventory of another image on this image's event.
  Pull(kImageB, "registry.example/other:1",
       testing::TestAttachment(kImageC, {{"bash", "5.2.15-2+b2"}}));
  Delivered();
  absl::Time deadline = absl::Now() + kPatience;
  while (AgentMetric("layerseal_agent_packages_attachments_total{result=\"refused\"}") < 2) {
    ASSERT_LT(absl::Now(), deadline) << metrics_.RenderText();
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::string agent_log = AgentLog();
  EXPECT_THAT(agent_log, HasSubstr("the controller refused package inventories"));
  EXPECT_THAT(agent_log, HasSubstr("packages[0]: name has byte 32"));
  EXPECT_THAT(agent_log, HasSubstr("is for image \\\"" + kImageC));
  EXPECT_THAT(ReadFileOrDie(log_), HasSubstr("package inventories refused"));
  // The events are stored; the inventory stored before is what the controller shows.
  EXPECT_EQ(SqliteCount("SELECT count(*) FROM events"), "3");
  json inv = Inventory(kImageA);
  ASSERT_FALSE(inv.is_null());
  EXPECT_EQ(inv["packages"][0]["name"], "curl");
  EXPECT_TRUE(Inventory(kImageB).is_null());
  EXPECT_TRUE(Inventory(kImageC).is_null());
}

TEST_F(PackagesDeliveryTest, InventoryOverTheEventLimitIsNotSentAndSaidSo) {
  // Valid JSON is not needed: the agent does not send it at all.
  Pull(kImageC, "registry.example/huge:1", std::string(agent::kMaxEventPackagesBytes + 1, ' '));
  Delivered();
  EXPECT_EQ(AgentMetric("layerseal_agent_packages_attachments_total{result=\"omitted\"}"), 1);
  EXPECT_THAT(AgentLog(), HasSubstr("package inventory too large for an event"));
  json inv = Inventory(kImageC);
  ASSERT_FALSE(inv.is_null());
  EXPECT_EQ(inv["omittedBytes"], StrCat(agent::kMaxEventPackagesBytes + 1));
  RunResult table = Cli({"images", "--packages"});
  EXPECT_THAT(table.out, HasSubstr("no inventory: the agent on node-a built one of 3145729 bytes"));
  EXPECT_THAT(table.out, Not(HasSubstr("NAME")));
}

}  // namespace
}  // namespace layerseal
