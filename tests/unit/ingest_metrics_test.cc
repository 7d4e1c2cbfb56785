// The controller's ingest metrics that issue 19's alerts read (controller/ingest_service.h,
// packaging/helm/layerseal/files/monitoring/alerts.yaml): each node's last accepted report
// (LayersealAgentNotReporting) and the rejected-batch reasons, at 0 from the start so that
// the first store error is an increase Prometheus can see (LayersealControllerStoreErrors).
// The store is a real SQLite file in a temp dir, or UnusableStore for the failing one.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "controller/event_store.h"
#include "controller/ingest_service.h"
#include "controller/sqlite_store.h"
#include "gtest/gtest.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::controller {
namespace {

// The value of `series` in `text` (a line "series value"), nullopt when absent.
std::optional<double> SeriesValue(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + series.size() + 2));
}

v1::ReportEventsRequest Heartbeat(const std::string& node) {
  v1::ReportEventsRequest r;
  r.set_node(node);
  r.mutable_status()->set_agent_version("0.1.0");
  return r;
}

class IngestMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/layerseal-ingest-metrics-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<IngestService> Service(EventStore* store) {
    return std::make_unique<IngestService>(IngestOptions{
        .store = store, .logger = &logger_, .metrics = &metrics_, .require_identity = false});
  }

  std::string dir_;
  telemetry::Logger logger_{"test", [](std::string_view) {}};
  telemetry::MetricsRegistry metrics_;
};

TEST_F(IngestMetricsTest, EachNodesLastAcceptedReportIsItsTimestamp) {
  absl::StatusOr<std::unique_ptr<EventStore>> store = OpenSqliteStore(dir_ + "/events.db");
  ASSERT_TRUE(store.ok()) << store.status();
  std::unique_ptr<IngestService> ingest = Service(store->get());
  const std::string kSeries =
      "layerseal_controller_node_last_report_timestamp_seconds{node=\"node-a\"}";
  EXPECT_EQ(SeriesValue(metrics_.RenderText(), kSeries), std::nullopt);

  double before = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  v1::ReportEventsResponse response;
  grpc::Status s = ingest->Report(std::nullopt, Heartbeat("node-a"), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  double after = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  std::optional<double> seen = SeriesValue(metrics_.RenderText(), kSeries);
  ASSERT_TRUE(seen.has_value()) << metrics_.RenderText();
  // The gauge is rendered with enough digits for a Unix time to the second.
  EXPECT_GE(*seen, before - 1);
  EXPECT_LE(*seen, after + 1);
  EXPECT_EQ(SeriesValue(metrics_.RenderText(),
                        "layerseal_controller_node_last_report_timestamp_seconds{node=\"node-b\"}"),
            std::nullopt);

  // A rejected batch is no report: node-b, whose batch names another node's event, has none.
  v1::ReportEventsRequest bad = Heartbeat("node-b");
  bad.add_events()->set_node("node-c");
  EXPECT_FALSE(ingest->Report(std::nullopt, bad, &response).ok());
  EXPECT_EQ(SeriesValue(metrics_.RenderText(),
                        "layerseal_controller_node_last_report_timestamp_seconds{node=\"node-b\"}"),
            std::nullopt);
}

TEST_F(IngestMetricsTest, RejectionReasonsStartAtZeroAndAStoreErrorCounts) {
  std::unique_ptr<EventStore> broken = UnusableStore(absl::DataLossError("test: damaged"));
  std::unique_ptr<IngestService> ingest = Service(broken.get());
  std::string text = metrics_.RenderText();
  for (const char* reason : {kRejectUnauthenticated, kRejectNodeMismatch, kRejectMalformed,
                             kRejectTooLarge, kRejectStoreError, kRejectWrongRole, kRejectNoRole}) {
    EXPECT_EQ(SeriesValue(text, StrCat("layerseal_controller_rejected_batches_total{reason=\"",
                                       reason, "\"}")),
              0)
        << reason << "\n" << text;
  }
  v1::ReportEventsResponse response;
  grpc::Status s = ingest->Report(std::nullopt, Heartbeat("node-a"), &response);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(SeriesValue(metrics_.RenderText(),
                        "layerseal_controller_rejected_batches_total{reason=\"store_error\"}"),
            1);
  EXPECT_EQ(SeriesValue(metrics_.RenderText(),
                        "layerseal_controller_node_last_report_timestamp_seconds{node=\"node-a\"}"),
            std::nullopt);
}

}  // namespace
}  // namespace layerseal::controller
