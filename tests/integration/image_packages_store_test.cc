// Package inventories in the controller's event store (issue 18), on both backends: SQLite
// (a file in a temp dir, raw SQL through the sqlite3 CLI) and a real PostgreSQL server (one
// for the suite, a database per test, raw SQL through psql). One row per image digest
// however often it is reported; a changed inventory replaces the old one; an omission never
// replaces an inventory; retention prunes them; the migration adds the table to a database
// of the schema before it without touching its events.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "controller/event_store.h"
#include "tests/support/package_inventory.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"

namespace layerseal::controller {
namespace {

using ::layerseal::testing::PostgresServer;
using ::layerseal::testing::RunResult;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);
const std::string kImageA = "sha256:" + std::string(64, 'a');
const std::string kImageB = "sha256:" + std::string(64, 'b');

class ImagePackagesStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    sqlite_ = GetParam() == "sqlite";
    if (sqlite_) {
      url_ = StrCat("sqlite://", dir_.File("events.db"));
    } else {
      if (server_ == nullptr) {
        absl::StatusOr<std::unique_ptr<PostgresServer>> s = PostgresServer::Start();
        ASSERT_TRUE(s.ok()) << s.status();
        server_ = std::move(*s);
      }
      static int databases = 0;
      db_ = StrCat("p", ++databases);
      ASSERT_TRUE(server_->CreateDatabase(db_).ok());
      url_ = server_->Url(db_);
    }
    Open();
  }

  void Open() {
    absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(url_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  absl::StatusOr<std::string> Sql(const std::string& sql) {
    if (!sqlite_) return server_->Psql(db_, sql);
    absl::StatusOr<RunResult> r = testing::Run({"sqlite3", url_.substr(9), sql});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return absl::InternalError(r->err);
    return r->out;
  }
  int Rows(const std::string& where = "") {
    absl::StatusOr<std::string> n = Sql(StrCat("SELECT count(*) FROM image_packages", where));
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? std::stoi(*n) : -1;
  }

  ImagePackagesRecord Inventory(const std::string& digest,
                                const std::vector<std::pair<std::string, std::string>>& pkgs,
                                const std::string& node = "node-a") {
    return {digest, testing::TestAttachment(digest, pkgs), static_cast<int64_t>(pkgs.size()), 0,
            node};
  }
  void Put(const std::vector<ImagePackagesRecord>& records, absl::Time at) {
    absl::Status s = store_->PutPackages(records, at);
    ASSERT_TRUE(s.ok()) << s;
  }

  static std::unique_ptr<PostgresServer> server_;
  testing::TempDir dir_;
  bool sqlite_ = true;
  std::string url_, db_;
  std::unique_ptr<EventStore> store_;
};

std::unique_ptr<PostgresServer> ImagePackagesStoreTest::server_;

TEST_P(ImagePackagesStoreTest, OneRowPerDigestHoweverOftenReported) {
  ImagePackagesRecord a = Inventory(kImageA, {{"curl", "7.88.1-10"}, {"jq", "1.6-2.1"}});
  Put({a}, kT0);
  Put({a, Inventory(kImageB, {{"bash", "5.2"}}, "node-b")}, kT0 + absl::Seconds(5));
  Put({a}, kT0 + absl::Seconds(10));  // a resend, another node's pull of the same image
  EXPECT_EQ(Rows(), 2);
  absl::StatusOr<ImagePackagesRecord> got = store_->GetPackages(kImageA);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->attachment, a.attachment);
  EXPECT_EQ(got->packages, 2);
  EXPECT_EQ(got->node, "node-a");
  EXPECT_EQ(got->updated_us, absl::ToUnixMicros(kT0));  // stored once
  EXPECT_EQ(got->last_seen_us, absl::ToUnixMicros(kT0 + absl::Seconds(10)));
  // A report arriving late (an older receive time) does not move last_seen back.
  Put({a}, kT0);
  EXPECT_EQ(store_->GetPackages(kImageA)->last_seen_us, absl::ToUnixMicros(kT0 + absl::Seconds(10)));

  absl::StatusOr<std::vector<ImagePackagesRecord>> list = store_->ListPackages(0);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_THAT(*list, SizeIs(2));
  EXPECT_EQ((*list)[0].digest, kImageA);  // most recently seen first
  EXPECT_EQ((*list)[0].attachment, "");   // counts only
  EXPECT_EQ((*list)[0].packages, 2);
  EXPECT_EQ((*list)[1].digest, kImageB);
  EXPECT_EQ((*list)[1].node, "node-b");
  EXPECT_THAT(*store_->ListPackages(1), SizeIs(1));

  EXPECT_EQ(store_->GetPackages("sha256:none").status().code(), absl::StatusCode::kNotFound);
  // Reopened (another controller process): all there.
  store_.reset();
  Open();
  EXPECT_EQ(store_->GetPackages(kImageB)->packages, 1);
}

TEST_P(ImagePackagesStoreTest, ChangedInventoryReplacesAndOmissionNeverDoes) {
  Put({Inventory(kImageA, {{"curl", "7.88.1-10"}})}, kT0);
  ImagePackagesRecord changed = Inventory(kImageA, {{"curl", "7.88.1-10+deb12u5"}}, "node-c");
  Put({changed}, kT0 + absl::Seconds(1));
  absl::StatusOr<ImagePackagesRecord> got = store_->GetPackages(kImageA);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->attachment, changed.attachment);
  EXPECT_EQ(got->node, "node-c");
  EXPECT_EQ(got->updated_us, absl::ToUnixMicros(kT0 + absl::Seconds(1)));

  // An agent that could not send its (too large) inventory: the one stored stays.
  Put({{kImageA, "", 0, 5 << 20, "node-d"}}, kT0 + absl::Seconds(2));
  got = store_->GetPackages(kImageA);
  EXPECT_EQ(got->attachment, changed.attachment);
  EXPECT_EQ(got->omitted_bytes, 0);
  EXPECT_EQ(got->last_seen_us, absl::ToUnixMicros(kT0 + absl::Seconds(2)));

  // Where there is none, the omission is recorded (and a later inventory replaces it).
  Put({{kImageB, "", 0, 5 << 20, "node-d"}}, kT0);
  got = store_->GetPackages(kImageB);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->attachment, "");
  EXPECT_EQ(got->omitted_bytes, 5 << 20);
  ImagePackagesRecord b = Inventory(kImageB, {{"bash", "5.2"}});
  Put({b}, kT0 + absl::Seconds(3));
  got = store_->GetPackages(kImageB);
  EXPECT_EQ(got->attachment, b.attachment);
  EXPECT_EQ(got->omitted_bytes, 0);
  EXPECT_EQ(Rows(), 2);
}

TEST_P(ImagePackagesStoreTest, ImageSummariesCountThePackagesOfTheLastDigest) {
  v1::Event e;
  e.set_node("node-a");
  e.set_seq(1);
  e.set_time_unix_micros(absl::ToUnixMicros(kT0));
  e.set_kind(v1::Event::VERDICT);
  e.set_image("registry.example/app:1");
  e.mutable_verdict()->set_digest(kImageA);
  e.mutable_verdict()->set_verdict("ALLOW");
  v1::Event other = e;
  other.set_seq(2);
  other.set_image("registry.example/other:1");
  other.mutable_verdict()->set_digest(kImageB);
  ASSERT_TRUE(store_->Append("node-a", {}, {e, other}, kT0).ok());
  Put({Inventory(kImageA, {{"curl", "1"}, {"jq", "2"}, {"git", "3"}})}, kT0);
  absl::StatusOr<std::vector<v1::ImageSummary>> images = store_->Images(absl::InfinitePast(), 10);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_THAT(*images, SizeIs(2));
  for (const v1::ImageSummary& im : *images) {
    if (im.last_digest() == kImageA) {
      EXPECT_TRUE(im.has_packages());
      EXPECT_EQ(im.packages(), 3u);
    } else {
      EXPECT_FALSE(im.has_packages());
    }
  }
}

TEST_P(ImagePackagesStoreTest, PruneDeletesInventoriesNotSeenSinceTheCutoff) {
  Put({Inventory(kImageA, {{"curl", "1"}})}, kT0);
  Put({Inventory(kImageB, {{"bash", "1"}})}, kT0 + absl::Hours(2));
  ASSERT_TRUE(store_->Prune(kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(store_->GetPackages(kImageA).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetPackages(kImageB).ok());
}

// The migration (SQLite 6, PostgreSQL 5) on a database of the schema before it: this
// binary's schema taken back (the table dropped, the version set back), with events in it.
TEST_P(ImagePackagesStoreTest, MigrationAddsTheTableAndKeepsEveryEvent) {
  std::vector<v1::Event> events;
  for (uint64_t seq = 1; seq <= 50; ++seq) {
    v1::Event e;
    e.set_node("node-a");
    e.set_seq(seq);
    e.set_time_unix_micros(absl::ToUnixMicros(kT0) + static_cast<int64_t>(seq));
    e.set_kind(v1::Event::VERDICT);
    e.mutable_verdict()->set_digest(kImageA);
    events.push_back(e);
  }
  ASSERT_EQ(store_->Append("node-a", {}, events, kT0)->stored, 50);
  store_.reset();
  absl::StatusOr<std::string> r =
      Sql(StrCat("DROP TABLE image_packages; UPDATE schema_version SET version = ",
                 sqlite_ ? 5 : 4, ";"));
  ASSERT_TRUE(r.ok()) << r.status();
  Open();
  r = Sql("SELECT version FROM schema_version");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->substr(0, 1), sqlite_ ? "6" : "5");
  EXPECT_EQ(store_->Count(), 50);
  EXPECT_EQ(Rows(), 0);
  Put({Inventory(kImageA, {{"curl", "1"}})}, kT0);
  EXPECT_EQ(store_->GetPackages(kImageA)->packages, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, ImagePackagesStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace layerseal::controller
