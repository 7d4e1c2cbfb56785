// The controller's event store, one suite run on both backends: SQLite (a file in a temp
// dir, raw SQL through the sqlite3 CLI) and PostgreSQL (a real server started once for the
// suite, a fresh database per test, raw SQL through psql).
#include "controller/event_store.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "tests/support/sqlite_damage.h"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

using ::layerseal::testing::PostgresServer;
using ::layerseal::testing::RunResult;
using ::layerseal::testing::TempDir;

const absl::Time kReceived = absl::FromUnixSeconds(1'800'000'000);

// ------------------------------------------------------------------ backends

// Where a test's stores live and how to reach their tables behind the store's back.
class Backend {
 public:
  virtual ~Backend() = default;
  // The URL of a new, empty store location.
  virtual std::string NewUrl() = 0;
  // Runs raw SQL on the database at `url`; its output.
  virtual absl::StatusOr<std::string> Sql(const std::string& url, const std::string& sql) = 0;
  // The version-1 schema (as the first released controller wrote it) in this dialect.
  virtual std::string SchemaV1() const = 0;
};

class SqliteBackend : public Backend {
 public:
  std::string NewUrl() override { return StrCat("sqlite://", dir_.File(StrCat(++n_, ".db"))); }
  absl::StatusOr<std::string> Sql(const std::string& url, const std::string& sql) override {
    absl::StatusOr<RunResult> r = testing::Run({"sqlite3", url.substr(9), sql});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return absl::InternalError(StrCat("sqlite3: ", r->err));
    return r->out;
  }
  std::string SchemaV1() const override {
    return "CREATE TABLE schema_version (version INTEGER NOT NULL);"
           "INSERT INTO schema_version VALUES (1);"
           "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL,"
           " seq INTEGER NOT NULL, time_us INTEGER NOT NULL, received_us INTEGER NOT NULL,"
           " kind INTEGER NOT NULL, namespace TEXT NOT NULL, pod TEXT NOT NULL,"
           " image TEXT NOT NULL, reference TEXT NOT NULL, digest TEXT NOT NULL,"
           " verdict TEXT NOT NULL, reason TEXT NOT NULL, mode TEXT NOT NULL,"
           " body BLOB NOT NULL, UNIQUE (node, seq));"
           "CREATE INDEX events_received ON events (received_us);"
           "CREATE TABLE nodes (node TEXT PRIMARY KEY, last_seen_us INTEGER NOT NULL,"
           " status BLOB NOT NULL, events INTEGER NOT NULL, denied INTEGER NOT NULL,"
           " last_seq INTEGER NOT NULL);";
  }

 private:
  TempDir dir_;
  int n_ = 0;
};

class PostgresBackend : public Backend {
 public:
  explicit PostgresBackend(PostgresServer* server) : server_(server) {}
  std::string NewUrl() override {
    static int databases = 0;  // one server for the suite: names unique across tests
    std::string db = StrCat("t", ++databases);
    absl::Status s = server_->CreateDatabase(db);
    EXPECT_TRUE(s.ok()) << s;
    return server_->Url(db);
  }
  absl::StatusOr<std::string> Sql(const std::string& url, const std::string& sql) override {
    return server_->Psql(url.substr(url.rfind('/') + 1), sql);
  }
  std::string SchemaV1() const override {
    return "CREATE TABLE schema_version (version INTEGER NOT NULL);"
           "INSERT INTO schema_version VALUES (1);"
           "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, node TEXT NOT NULL,"
           " seq BIGINT NOT NULL, time_us BIGINT NOT NULL, received_us BIGINT NOT NULL,"
           " kind INTEGER NOT NULL, namespace TEXT NOT NULL, pod TEXT NOT NULL,"
           " image TEXT NOT NULL, reference TEXT NOT NULL, digest TEXT NOT NULL,"
           " verdict TEXT NOT NULL, reason TEXT NOT NULL, mode TEXT NOT NULL,"
           " body BYTEA NOT NULL, UNIQUE (node, seq));"
           "CREATE INDEX events_received ON events (received_us);"
           "CREATE TABLE nodes (node TEXT PRIMARY KEY, last_seen_us BIGINT NOT NULL,"
           " status BYTEA NOT NULL, events BIGINT NOT NULL, denied BIGINT NOT NULL,"
           " last_seq BIGINT NOT NULL);";
  }

 private:
  PostgresServer* server_;
};

// ------------------------------------------------------------------ events

v1::Event MakeEvent(const std::string& node, uint64_t seq) {
  v1::Event e;
  e.set_node(node);
  e.set_seq(seq);
  e.set_time_unix_micros(1'700'000'000'000'000 + static_cast<int64_t>(seq) * 1000);
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image("registry.example/app:1");
  e.set_pod_namespace("default");
  e.set_pod_name("pod-a");
  e.set_pod_uid("uid-1");
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference("registry.example/app:1");
  v->set_digest("sha256:aaaa");
  v->set_verdict("ALLOW");
  v->set_reason("VERIFIED");
  v->set_mode("enforce");
  e.set_admitted(true);
  e.set_agent_version("0.1");
  return e;
}

v1::AgentStatus Status(const std::string& policy) {
  v1::AgentStatus s;
  s.set_agent_version("0.1");
  s.set_policy_version(policy);
  s.set_spool_backlog(3);
  s.set_events_lost(1);
  return s;
}

// What the filter means, written plainly: the oracle for the SQL.
bool Matches(const v1::EventFilter& f, const v1::Event& e) {
  auto eq = [](const std::string& want, const std::string& got) {
    return want.empty() || want == got;
  };
  return (!f.has_since_unix_micros() || e.time_unix_micros() >= f.since_unix_micros()) &&
         (!f.has_until_unix_micros() || e.time_unix_micros() < f.until_unix_micros()) &&
         eq(f.node(), e.node()) && eq(f.namespace_(), e.pod_namespace()) &&
         eq(f.pod(), e.pod_name()) &&
         (f.image().empty() || f.image() == e.image() || f.image() == e.verdict().reference()) &&
         eq(f.digest(), e.verdict().digest()) && eq(f.verdict(), e.verdict().verdict()) &&
         eq(f.reason(), e.verdict().reason()) && eq(f.mode(), e.verdict().mode()) &&
         (f.signer().empty() || f.signer() == e.verdict().key_id() ||
          f.signer() == e.verdict().signer_issuer() || f.signer() == e.verdict().signer_subject());
}

// Issue 17: a keyless signer on `e` (issuer, subject, certificate key, Rekor entry).
void SetKeyless(v1::Event& e, const std::string& issuer, const std::string& subject,
                const std::string& key_id) {
  v1::Verdict* v = e.mutable_verdict();
  v->set_key_id(key_id);
  v->set_signer_kind("cosign-keyless");
  v->set_signer_issuer(issuer);
  v->set_signer_subject(subject);
  v->set_rekor_log_index(static_cast<int64_t>(e.seq()) * 1000);
  v->set_rekor_log_id("c0d23d6a");
}

std::string Id(const v1::Event& e) { return StrCat(e.node(), "#", e.seq()); }

// ------------------------------------------------------------------ fixture

class EventStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (GetParam() == "sqlite") {
      backend_ = std::make_unique<SqliteBackend>();
    } else {
      if (server_ == nullptr) {
        absl::StatusOr<std::unique_ptr<PostgresServer>> s = PostgresServer::Start();
        ASSERT_TRUE(s.ok()) << s.status();
        server_ = std::move(*s);
      }
      backend_ = std::make_unique<PostgresBackend>(server_.get());
    }
    url_ = backend_->NewUrl();
    store_ = Open(url_);
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<EventStore> Open(const std::string& url) {
    absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(url);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  AppendResult Append(const std::string& node, const std::vector<v1::Event>& events,
                      absl::Time received = kReceived, EventStore* store = nullptr) {
    absl::StatusOr<AppendResult> r =
        (store ? store : store_.get())->Append(node, Status("p1"), events, received);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AppendResult{-1, -1};
  }

  // Every event matching `filter`, following page tokens.
  std::vector<v1::Event> QueryAll(const v1::EventFilter& filter, int page_size = kMaxPageSize) {
    std::vector<v1::Event> out;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      absl::StatusOr<EventPage> page = store_->Query(filter, page_size, token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      out.insert(out.end(), page->events.begin(), page->events.end());
      token = page->next_page_token;
      if (token.empty()) break;
    }
    return out;
  }

  static std::unique_ptr<PostgresServer> server_;
  std::unique_ptr<Backend> backend_;
  std::string url_;
  std::unique_ptr<EventStore> store_;
};

std::unique_ptr<PostgresServer> EventStoreTest::server_;

TEST_P(EventStoreTest, AppendsAndReadsBackEveryField) {
  v1::Event e = MakeEvent("node-1", 7);
  e.set_cached(true);
  e.set_gate_ms(1.25);
  e.mutable_verdict()->set_detail("all good");
  e.mutable_verdict()->set_key_id("sha256:key");
  e.mutable_verdict()->set_policy_version("sha256:pol");
  e.mutable_verdict()->set_scope("default");
  e.mutable_verdict()->set_duration_ms(0.5);
  v1::Event lost;
  lost.set_node("node-1");
  lost.set_seq(8);
  lost.set_kind(v1::Event::EVENTS_LOST);
  lost.set_lost_count(12);
  AppendResult r = Append("node-1", {e, lost});
  EXPECT_EQ(r.stored, 2);
  EXPECT_EQ(r.duplicates, 0);

  std::vector<v1::Event> got = QueryAll({});
  ASSERT_EQ(got.size(), 2u);
  e.set_received_unix_micros(absl::ToUnixMicros(kReceived));
  lost.set_received_unix_micros(absl::ToUnixMicros(kReceived));
  EXPECT_EQ(got[0].SerializeAsString(), lost.SerializeAsString()) << got[0].DebugString();
  EXPECT_EQ(got[1].SerializeAsString(), e.SerializeAsString()) << got[1].DebugString();
  EXPECT_EQ(store_->Count(), 2);
}

TEST_P(EventStoreTest, DuplicatesAreStoredOnceAndCounted) {
  EXPECT_EQ(Append("n", {MakeEvent("n", 1), MakeEvent("n", 2), MakeEvent("n", 3)}).stored, 3);
  v1::Event changed = MakeEvent("n", 2);
  changed.set_image("other");
  AppendResult r = Append("n", {changed, MakeEvent("n", 3), MakeEvent("n", 4), MakeEvent("n", 4)},
                          kReceived + absl::Seconds(5));
  EXPECT_EQ(r.stored, 1);
  EXPECT_EQ(r.duplicates, 2);
  EXPECT_EQ(r.conflicts, 1) << "same id, other content: not a resend (issue 14.6)";
  EXPECT_EQ(store_->Count(), 4);
  v1::EventFilter f;
  f.set_image("other");
  EXPECT_TRUE(QueryAll(f).empty()) << "the first stored copy is kept";
  // The same seq from another node is another event.
  EXPECT_EQ(Append("m", {MakeEvent("m", 1)}).stored, 1);
}

// Issue 14.6: an agent that lost its state numbers from 1 again under a new incarnation.
TEST_P(EventStoreTest, SameSeqInAnotherIncarnationIsANewEvent) {
  EXPECT_EQ(Append("n", {MakeEvent("n", 1), MakeEvent("n", 2)}).stored, 2);  // legacy ""
  for (const char* incarnation : {"0123456789abcdef0123456789abcdef", "fedcba98765432100123456789abcdef"}) {
    std::vector<v1::Event> batch = {MakeEvent("n", 1), MakeEvent("n", 2)};
    for (v1::Event& e : batch) {
      e.set_spool_incarnation(incarnation);
      e.set_image(StrCat("img-", incarnation));
    }
    AppendResult r = Append("n", batch);
    EXPECT_EQ(r.stored, 2) << incarnation;
    EXPECT_EQ(r.duplicates + r.conflicts, 0) << incarnation;
    r = Append("n", batch);  // a true resend
    EXPECT_EQ(r.stored, 0);
    EXPECT_EQ(r.duplicates, 2);
    EXPECT_EQ(r.conflicts, 0);
  }
  EXPECT_EQ(store_->Count(), 6);
  std::set<std::string> incarnations;
  for (const v1::Event& e : QueryAll({})) incarnations.insert(e.spool_incarnation());
  EXPECT_EQ(incarnations.size(), 3u);
}

TEST_P(EventStoreTest, SameIdWithOtherContentIsAKeptConflictNeverADuplicate) {
  v1::Event first = MakeEvent("n", 1);
  first.set_spool_incarnation("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(Append("n", {first}).stored, 1);
  v1::Event other = first;
  other.set_image("registry.example/other:2");
  AppendResult r = Append("n", {other}, kReceived + absl::Seconds(1));
  EXPECT_EQ(r.stored, 0);
  EXPECT_EQ(r.duplicates, 0) << "never a silent duplicate";
  EXPECT_EQ(r.conflicts, 1);
  EXPECT_EQ(r.conflict_names,
            std::vector<std::string>{"n/0123456789abcdef0123456789abcdef/1"});
  absl::StatusOr<std::string> kept =
      backend_->Sql(url_, "SELECT node, seq, incarnation FROM event_conflicts");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_NE(kept->find("0123456789abcdef0123456789abcdef"), std::string::npos) << *kept;
  // The conflicting copy sent again is a resend of it; the stored event is unchanged.
  r = Append("n", {other}, kReceived + absl::Seconds(2));
  EXPECT_EQ(r.duplicates, 1);
  EXPECT_EQ(r.conflicts, 0);
  std::vector<v1::Event> got = QueryAll({});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].image(), first.image());
  // A legacy agent (no incarnation) too.
  EXPECT_EQ(Append("old", {MakeEvent("old", 5)}).stored, 1);
  v1::Event reused = MakeEvent("old", 5);
  reused.set_time_unix_micros(reused.time_unix_micros() + 1);
  r = Append("old", {reused});
  EXPECT_EQ(r.conflicts, 1);
  EXPECT_EQ(r.conflict_names, std::vector<std::string>{"old/-/5"});
}

TEST_P(EventStoreTest, BatchThatFailsMidwayLeavesNothing) {
  // A trigger behind the store's back makes the third insert fail.
  std::string trigger =
      GetParam() == "sqlite"
          ? "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.pod = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'boom'); END;"
          : "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.pod = 'boom' THEN"
            " RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;"
            " CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION boom();";
  ASSERT_TRUE(backend_->Sql(url_, trigger).ok());
  v1::Event bad = MakeEvent("n", 3);
  bad.set_pod_name("boom");
  absl::StatusOr<AppendResult> r =
      store_->Append("n", Status("p1"), {MakeEvent("n", 1), MakeEvent("n", 2), bad}, kReceived);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(store_->Count(), 0);
  absl::StatusOr<std::vector<v1::NodeSummary>> nodes = store_->Nodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_TRUE(nodes->empty()) << "the node's report is part of the batch";
  // The store is still usable, and the resend without the bad event goes through.
  EXPECT_EQ(Append("n", {MakeEvent("n", 1), MakeEvent("n", 2)}).stored, 2);
}

TEST_P(EventStoreTest, EveryFilterAndCombinations) {
  const std::vector<std::string> nodes = {"node-a", "node-b", "node-c"};
  const std::vector<std::string> nss = {"default", "kube-system", "team"};
  const std::vector<std::string> reasons = {"VERIFIED", "BAD_SIGNATURE", "NO_SIGNATURE"};
  const std::vector<std::string> modes = {"enforce", "warn", "audit"};
  std::vector<v1::Event> all;
  for (int n = 0; n < 3; ++n) {
    std::vector<v1::Event> batch;
    for (uint64_t seq = 1; seq <= 60; ++seq) {
      v1::Event e = MakeEvent(nodes[static_cast<size_t>(n)], seq);
      size_t k = seq + static_cast<size_t>(n);
      e.set_pod_namespace(nss[k % 3]);
      e.set_pod_name(StrCat("pod-", k % 5));
      e.set_image(StrCat("reg/app", k % 4, ":1"));
      e.mutable_verdict()->set_reference(StrCat("reg/ref", k % 7, ":2"));
      e.mutable_verdict()->set_digest(StrCat("sha256:", k % 6));
      e.mutable_verdict()->set_verdict(k % 4 == 0 ? "DENY" : "ALLOW");
      e.mutable_verdict()->set_reason(reasons[k % 3]);
      e.mutable_verdict()->set_mode(modes[(k / 3) % 3]);
      // Issue 17's signers: seal keys, and keyless identities whose issuer equals another
      // event's subject (the filter matches either column).
      if (k % 5 == 1) {
        e.mutable_verdict()->set_key_id(StrCat("sha256:seal", k % 2));
        e.mutable_verdict()->set_signer_kind("seal");
      } else if (k % 5 == 2) {
        SetKeyless(e, "https://issuer.example", StrCat("dev", k % 3, "@team.example"),
                   StrCat("sha256:cert", k));
      } else if (k % 5 == 3) {
        SetKeyless(e, "dev1@team.example", "https://ci.example/job", "sha256:cert-ci");
      }
      batch.push_back(e);
    }
    Append(nodes[static_cast<size_t>(n)], batch);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  // Late arrivals with skewed clocks (times hours before and after the others), stored last.
  std::vector<v1::Event> late;
  for (uint64_t seq = 1; seq <= 12; ++seq) {
    v1::Event e = MakeEvent("node-late", seq);
    int64_t hours = static_cast<int64_t>(seq % 5) - 2;  // -2 .. +2 hours
    e.set_time_unix_micros(MakeEvent("x", 25).time_unix_micros() + hours * 3'600'000'000);
    if (seq % 3 == 0) e.set_time_unix_micros(MakeEvent("x", 25).time_unix_micros());
    late.push_back(e);
  }
  Append("node-late", late);
  all.insert(all.end(), late.begin(), late.end());
  std::vector<v1::EventFilter> filters(27);
  filters[1].set_node("node-b");
  filters[2].set_namespace_("kube-system");
  filters[3].set_pod("pod-3");
  filters[4].set_image("reg/app2:1");  // Event.image
  filters[5].set_image("reg/ref5:2");  // Verdict.reference
  filters[6].set_digest("sha256:4");
  filters[7].set_verdict("DENY");
  filters[8].set_reason("BAD_SIGNATURE");
  filters[9].set_mode("audit");
  filters[10].set_since_unix_micros(MakeEvent("x", 20).time_unix_micros());
  filters[10].set_until_unix_micros(MakeEvent("x", 31).time_unix_micros());
  filters[11].set_namespace_("team");
  filters[11].set_verdict("DENY");
  filters[12].set_node("node-c");
  filters[12].set_reason("VERIFIED");
  filters[12].set_mode("warn");
  filters[12].set_since_unix_micros(MakeEvent("x", 10).time_unix_micros());
  filters[13].set_until_unix_micros(MakeEvent("x", 5).time_unix_micros());
  filters[14].set_node("nobody");
  filters[15].set_image("reg/app1:1");
  filters[15].set_digest("sha256:3");
  filters[15].set_pod("pod-0");
  const int64_t hour = 3'600'000'000;
  filters[16].set_since_unix_micros(MakeEvent("x", 25).time_unix_micros() + hour);  // late only
  filters[17].set_until_unix_micros(MakeEvent("x", 25).time_unix_micros() - hour);  // late only
  filters[18].set_since_unix_micros(MakeEvent("x", 25).time_unix_micros());
  filters[18].set_until_unix_micros(MakeEvent("x", 25).time_unix_micros() + 1);
  filters[19].set_until_unix_micros(0);  // issue 14.10: a bound at the epoch, not "none"
  filters[20].set_since_unix_micros(0);  // every event is at or after the epoch
  filters[21].set_signer("sha256:seal1");            // a key id
  filters[22].set_signer("https://issuer.example");  // an issuer
  filters[23].set_signer("dev1@team.example");       // a subject, and another one's issuer
  filters[24].set_signer("sha256:cert-ci");          // a keyless certificate's key id
  filters[25].set_signer("dev2@team.example");
  filters[25].set_node("node-b");
  filters[25].set_verdict("ALLOW");
  filters[26].set_signer("sha256:seal");  // exact: no prefix match (tests nothing, by design)
  for (size_t i = 0; i < filters.size(); ++i) {
    std::set<std::string> want;
    for (const v1::Event& e : all) {
      if (Matches(filters[i], e)) want.insert(Id(e));
    }
    std::vector<v1::Event> got = QueryAll(filters[i], 7);
    std::set<std::string> got_ids;
    for (const v1::Event& e : got) got_ids.insert(Id(e));
    EXPECT_EQ(got_ids, want) << "filter " << i << ": " << filters[i].ShortDebugString();
    EXPECT_EQ(got.size(), got_ids.size()) << "filter " << i << " repeated an event";
    if (i != 14 && i != 19 && i != 26) {
      EXPECT_FALSE(want.empty()) << "filter " << i << " tests nothing";
    }
  }
  EXPECT_TRUE(QueryAll(filters[19], 7).empty()) << "until the epoch matched events";
  // Newest stored first: the last batch's last event.
  std::vector<v1::Event> newest = QueryAll({});
  ASSERT_EQ(newest.size(), all.size());
  EXPECT_EQ(Id(newest.front()), "node-late#12");
  EXPECT_EQ(Id(newest.back()), "node-a#1");
}

TEST_P(EventStoreTest, PagesHaveNoOverlapOrGapWhileEventsArrive) {
  std::vector<v1::Event> batch;
  for (uint64_t seq = 1; seq <= 250; ++seq) batch.push_back(MakeEvent("n", seq));
  Append("n", batch);
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  uint64_t next_new = 1000;
  do {
    absl::StatusOr<EventPage> page = store_->Query({}, 100, token);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->events.size(), 100u);
    for (const v1::Event& e : page->events) seen.push_back(Id(e));
    token = page->next_page_token;
    ++pages;
    // Newer events arrive between pages; they are not part of this walk.
    Append("n", {MakeEvent("n", next_new++), MakeEvent("n", next_new++)});
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 250u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], StrCat("n#", 250 - i));

  // Page sizes are clamped: 0 is the default, more than the maximum is the maximum.
  absl::StatusOr<EventPage> page = store_->Query({}, 0, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->events.size(), static_cast<size_t>(kDefaultPageSize));
}

TEST_P(EventStoreTest, AfterFollowsNewEventsFromLatestCursor) {
  absl::StatusOr<int64_t> cursor = store_->LatestCursor();
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_EQ(*cursor, 0);
  Append("n", {MakeEvent("n", 1), MakeEvent("n", 2)});
  cursor = store_->LatestCursor();
  ASSERT_TRUE(cursor.ok());
  int64_t c = *cursor;
  EXPECT_GT(c, 0);

  v1::EventFilter deny;
  deny.set_verdict("DENY");
  std::vector<v1::Event> batch;
  for (uint64_t seq = 3; seq <= 12; ++seq) {
    v1::Event e = MakeEvent("n", seq);
    if (seq % 2 == 1) e.mutable_verdict()->set_verdict("DENY");
    batch.push_back(e);
  }
  Append("n", batch);
  absl::StatusOr<std::vector<v1::Event>> got = store_->After(deny, &c, 3);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ(Id((*got)[0]), "n#3");
  EXPECT_EQ(Id((*got)[2]), "n#7");
  got = store_->After(deny, &c, 100);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ(Id((*got)[1]), "n#11");
  // Every event up to the newest was examined, including the non-matching n#12.
  EXPECT_EQ(c, *store_->LatestCursor());
  got = store_->After(deny, &c, 100);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  Append("n", {MakeEvent("n", 13)});
  got = store_->After({}, &c, 100);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(Id((*got)[0]), "n#13");
}

TEST_P(EventStoreTest, NodesSummarizeReportsAndHeartbeats) {
  v1::Event d = MakeEvent("b", 5);
  d.mutable_verdict()->set_verdict("DENY");
  Append("b", {MakeEvent("b", 4), d});
  Append("a", {MakeEvent("a", 1)});
  Append("b", {d}, kReceived + absl::Seconds(1));  // a resend: counted once
  // A heartbeat: no events, a new status.
  ASSERT_TRUE(store_->Append("a", Status("p2"), {}, kReceived + absl::Seconds(9)).ok());
  absl::StatusOr<std::vector<v1::NodeSummary>> nodes = store_->Nodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 2u);
  const v1::NodeSummary& a = (*nodes)[0];
  const v1::NodeSummary& b = (*nodes)[1];
  EXPECT_EQ(a.node(), "a");
  EXPECT_EQ(a.last_seen_unix_micros(), absl::ToUnixMicros(kReceived + absl::Seconds(9)));
  EXPECT_EQ(a.status().policy_version(), "p2");
  EXPECT_EQ(a.status().spool_backlog(), 3u);
  EXPECT_EQ(a.events(), 1u);
  EXPECT_EQ(a.last_seq(), 1u);
  EXPECT_EQ(b.node(), "b");
  EXPECT_EQ(b.events(), 2u);
  EXPECT_EQ(b.denied(), 1u);
  EXPECT_EQ(b.last_seq(), 5u);
  EXPECT_EQ(b.last_seen_unix_micros(), absl::ToUnixMicros(kReceived + absl::Seconds(1)));
}

TEST_P(EventStoreTest, ImagesGroupVerdictEvents) {
  auto ev = [](const std::string& node, uint64_t seq, const std::string& image,
               const std::string& digest, const std::string& verdict) {
    v1::Event e = MakeEvent(node, seq);
    e.set_image(image);
    e.mutable_verdict()->set_digest(digest);
    e.mutable_verdict()->set_verdict(verdict);
    return e;
  };
  v1::Event lost = MakeEvent("n1", 9);
  lost.set_kind(v1::Event::EVENTS_LOST);
  lost.set_image("lost-image");
  Append("n1",
         {ev("n1", 1, "img-a", "sha256:a1", "ALLOW"), ev("n1", 2, "img-b", "sha256:b", "DENY"),
          ev("n1", 3, "img-a", "sha256:a2", "DENY"), lost});
  Append("n2",
         {ev("n2", 1, "img-a", "sha256:a3", "ALLOW"), ev("n2", 2, "img-c", "sha256:c", "ALLOW")});
  absl::StatusOr<std::vector<v1::ImageSummary>> images = store_->Images(absl::InfinitePast(), 10);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 3u);  // not the EVENTS_LOST one
  // Most recently seen first: n1#3 (img-a) and n2#2 (img-c) are the latest by time.
  EXPECT_EQ((*images)[0].image(), "img-a");
  EXPECT_EQ((*images)[0].last_digest(), "sha256:a2");
  EXPECT_EQ((*images)[0].allowed(), 2u);
  EXPECT_EQ((*images)[0].denied(), 1u);
  EXPECT_EQ((*images)[0].last_seen_unix_micros(), MakeEvent("n", 3).time_unix_micros());
  EXPECT_EQ(std::vector<std::string>((*images)[0].nodes().begin(), (*images)[0].nodes().end()),
            (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ((*images)[1].image(), "img-b");
  EXPECT_EQ((*images)[2].image(), "img-c");

  images = store_->Images(absl::FromUnixMicros(MakeEvent("n", 2).time_unix_micros()), 1);
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].image(), "img-a");
  EXPECT_EQ((*images)[0].allowed(), 0u) << "only events since the time count";
  EXPECT_EQ((*images)[0].denied(), 1u);
}

TEST_P(EventStoreTest, PruneDeletesEventsReceivedBeforeCutoff) {
  constexpr int kOld = 6000;  // more than one delete chunk
  std::vector<v1::Event> old_batch;
  for (int i = 1; i <= kOld; ++i) old_batch.push_back(MakeEvent("n", static_cast<uint64_t>(i)));
  Append("n", old_batch, kReceived);
  Append("n", {MakeEvent("n", 100000)}, kReceived + absl::Hours(48));
  absl::StatusOr<int64_t> pruned = store_->Prune(kReceived + absl::Hours(24));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, kOld);
  EXPECT_EQ(store_->Count(), 1);
  pruned = store_->Prune(kReceived + absl::Hours(24));
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 0);
  std::vector<v1::Event> left = QueryAll({});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq(), 100000u);

  // Appends while a Prune runs in another thread: both complete, nothing else is lost.
  Append("n", old_batch, kReceived);
  std::thread pruner([&] {
    absl::StatusOr<int64_t> n = store_->Prune(kReceived + absl::Hours(24));
    EXPECT_EQ(n.value_or(-1), kOld) << n.status();
  });
  for (uint64_t seq = 200000; seq < 200020; ++seq) {
    Append("m", {MakeEvent("m", seq)}, kReceived + absl::Hours(48));
  }
  pruner.join();
  EXPECT_EQ(store_->Count(), 21);
}

TEST_P(EventStoreTest, ReopenKeepsEverything) {
  std::vector<v1::Event> batch;
  for (uint64_t seq = 1; seq <= 30; ++seq) batch.push_back(MakeEvent("n", seq));
  Append("n", batch);
  absl::StatusOr<EventPage> page = store_->Query({}, 10, "");
  ASSERT_TRUE(page.ok());
  store_.reset();
  store_ = Open(url_);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->Count(), 30);
  absl::StatusOr<EventPage> next = store_->Query({}, 10, page->next_page_token);
  ASSERT_TRUE(next.ok()) << "a page token survives a restart: " << next.status();
  ASSERT_EQ(next->events.size(), 10u);
  EXPECT_EQ(next->events[0].seq(), 20u);
  absl::StatusOr<std::vector<v1::NodeSummary>> nodes = store_->Nodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].events(), 30u);
  EXPECT_EQ(Append("n", batch).duplicates, 30);
}

TEST_P(EventStoreTest, ForeignAndGarbageTokensAreInvalidArgument) {
  std::vector<v1::Event> batch;
  for (uint64_t seq = 1; seq <= 5; ++seq) batch.push_back(MakeEvent("n", seq));
  Append("n", batch);
  absl::StatusOr<EventPage> page = store_->Query({}, 2, "");
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->next_page_token.empty());
  const std::string token = page->next_page_token;

  std::string flipped = token;
  flipped[5] = flipped[5] == '0' ? '1' : '0';
  for (const std::string& bad :
       {std::string("garbage"), std::string(100000, 'x'), std::string("c1"), flipped,
        token.substr(0, token.size() - 1), token + "0", std::string("\0\xff", 2)}) {
    absl::StatusOr<EventPage> r = store_->Query({}, 2, bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad.substr(0, 40);
  }
  v1::EventFilter other;
  other.set_node("n");
  EXPECT_EQ(store_->Query(other, 2, token).status().code(), absl::StatusCode::kInvalidArgument)
      << "a token is for the filter it was made for";

  std::unique_ptr<EventStore> second = Open(backend_->NewUrl());
  ASSERT_NE(second, nullptr);
  Append("n", batch, kReceived, second.get());
  EXPECT_EQ(second->Query({}, 2, token).status().code(), absl::StatusCode::kInvalidArgument)
      << "another store's token";
  EXPECT_TRUE(store_->Query({}, 2, token).ok());
}

TEST_P(EventStoreTest, MigratesAnOldSchemaAndRefusesANewerOne) {
  // A database the version-1 controller wrote, with one event in it.
  std::string old_url = backend_->NewUrl();
  v1::Event e = MakeEvent("old", 1);
  e.set_received_unix_micros(42);
  e.mutable_verdict()->set_key_id("sha256:oldkey");  // stored in the body only, then
  std::string hex;
  for (unsigned char c : e.SerializeAsString())
    hex += StrCat("0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
  std::string body =
      GetParam() == "sqlite" ? StrCat("X'", hex, "'") : StrCat("'\\x", hex, "'::bytea");
  ASSERT_TRUE(backend_->Sql(old_url, backend_->SchemaV1()).ok());
  absl::StatusOr<std::string> ins = backend_->Sql(
      old_url,
      StrCat("INSERT INTO events (node, seq, time_us, received_us, kind, namespace, pod, image,"
             " reference, digest, verdict, reason, mode, body) VALUES ('old', 1, ",
             e.time_unix_micros(),
             ", 42, 1, 'default', 'pod-a', 'registry.example/app:1',"
             " 'registry.example/app:1', 'sha256:aaaa', 'ALLOW', 'VERIFIED', 'enforce', ",
             body, ")"));
  ASSERT_TRUE(ins.ok()) << ins.status();
  std::unique_ptr<EventStore> migrated = Open(old_url);
  ASSERT_NE(migrated, nullptr);
  v1::EventFilter f;
  f.set_digest("sha256:aaaa");
  absl::StatusOr<EventPage> page = migrated->Query(f, 10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].SerializeAsString(), e.SerializeAsString());
  v1::EventFilter when;  // the time index of the old rows (SQLite: their hour's id span)
  when.set_since_unix_micros(e.time_unix_micros());
  when.set_until_unix_micros(e.time_unix_micros() + 1);
  page = migrated->Query(when, 10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].seq(), 1u);
  v1::EventFilter signer;  // issue 17: the signer columns were filled from the body
  signer.set_signer("sha256:oldkey");
  page = migrated->Query(signer, 10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].SerializeAsString(), e.SerializeAsString());
  EXPECT_EQ(
      Append("old", {MakeEvent("old", 1), MakeEvent("old", 2)}, kReceived, migrated.get()).stored,
      1);
  migrated.reset();
  absl::StatusOr<std::string> version =
      backend_->Sql(old_url, "SELECT version FROM schema_version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->substr(0, 1), GetParam() == "sqlite" ? "6" : "5");  // issue 18: image_packages

  // An empty database (created, never written) is migrated from nothing: SetUp did that.
  EXPECT_EQ(store_->Count(), 0);

  // A newer controller's database is refused, not damaged.
  store_.reset();
  ASSERT_TRUE(backend_->Sql(url_, "UPDATE schema_version SET version = 99").ok());
  absl::StatusOr<std::unique_ptr<EventStore>> newer = OpenEventStore(url_);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition) << newer.status();
  version = backend_->Sql(url_, "SELECT version FROM schema_version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->substr(0, 2), "99");
}

// Issue 17's migration (SQLite 5, PostgreSQL 4) on a database of the schema before it,
// made by taking this binary's schema back to that version (the columns and indexes it
// added dropped, the version set back), with events in it: a seal ALLOW, keyless events
// whose bodies carry the signer fields (an agent newer than the controller sent them), and
// a heap of events without any. Every event is kept, byte for byte, and the filter finds
// the signers of the old rows.
TEST_P(EventStoreTest, SignerMigrationKeepsEveryEventAndFillsTheColumns) {
  constexpr int kPlain = 2500;  // more than two backfill rounds (kSignerBackfillChunk)
  std::vector<v1::Event> events;
  for (uint64_t seq = 1; seq <= kPlain; ++seq) events.push_back(MakeEvent("prev", seq));
  v1::Event seal = MakeEvent("prev", kPlain + 1);
  seal.mutable_verdict()->set_key_id("sha256:sealkey");
  seal.mutable_verdict()->set_signer_kind("seal");
  v1::Event keyless = MakeEvent("prev", kPlain + 2);
  SetKeyless(keyless, "https://accounts.example", "ci@team.example", "sha256:certkey");
  v1::Event deny = MakeEvent("prev", 7);  // a DENY that found the seal key, among the first
  deny.mutable_verdict()->set_verdict("DENY");
  deny.mutable_verdict()->set_reason("UNTRUSTED_KEY");
  deny.mutable_verdict()->set_key_id("sha256:sealkey");
  events[6] = deny;
  events.push_back(seal);
  events.push_back(keyless);
  std::string url = backend_->NewUrl();
  {
    std::unique_ptr<EventStore> store = Open(url);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(Append("prev", events, kReceived, store.get()).stored, kPlain + 2);
  }
  const bool sqlite = GetParam() == "sqlite";
  std::string back =
      sqlite ? "DROP TABLE image_packages;"  // issue 18's migration 6, after this one
               " DROP INDEX events_key_id; DROP INDEX events_signer_issuer;"
               " DROP INDEX events_signer_subject;"
               " DELETE FROM sqlite_stat1 WHERE idx LIKE 'events_key_id' OR idx LIKE 'events_signer%';"
               " ALTER TABLE events DROP COLUMN key_id;"
               " ALTER TABLE events DROP COLUMN signer_issuer;"
               " ALTER TABLE events DROP COLUMN signer_subject;"
               " UPDATE schema_version SET version = 4;"
             : "DROP TABLE image_packages;"  // issue 18's migration 5, after this one
               " ALTER TABLE events DROP COLUMN key_id, DROP COLUMN signer_issuer,"
               " DROP COLUMN signer_subject; UPDATE schema_version SET version = 3;";
  absl::StatusOr<std::string> r = backend_->Sql(url, back);
  ASSERT_TRUE(r.ok()) << r.status();
  r = backend_->Sql(url, "SELECT count(*) FROM events");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::stoi(*r), kPlain + 2);

  std::unique_ptr<EventStore> migrated = Open(url);
  ASSERT_NE(migrated, nullptr);
  r = backend_->Sql(url, "SELECT version FROM schema_version");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->substr(0, 1), sqlite ? "6" : "5");
  EXPECT_EQ(migrated->Count(), kPlain + 2);
  store_ = std::move(migrated);  // QueryAll reads store_
  std::vector<v1::Event> all = QueryAll({});
  ASSERT_EQ(all.size(), events.size());
  for (size_t i = 0; i < all.size(); ++i) {  // newest stored first
    v1::Event want = events[events.size() - 1 - i];
    want.set_received_unix_micros(absl::ToUnixMicros(kReceived));
    ASSERT_EQ(all[i].SerializeAsString(), want.SerializeAsString()) << i;
  }
  auto ids = [&](const std::string& who, const std::string& verdict = "") {
    v1::EventFilter f;
    f.set_signer(who);
    f.set_verdict(verdict);
    std::vector<uint64_t> out;
    for (const v1::Event& e : QueryAll(f)) out.push_back(e.seq());
    return out;
  };
  EXPECT_EQ(ids("sha256:sealkey"), (std::vector<uint64_t>{kPlain + 1, 7}));
  EXPECT_EQ(ids("sha256:sealkey", "ALLOW"), (std::vector<uint64_t>{kPlain + 1}));
  EXPECT_EQ(ids("https://accounts.example"), (std::vector<uint64_t>{kPlain + 2}));
  EXPECT_EQ(ids("ci@team.example"), (std::vector<uint64_t>{kPlain + 2}));
  EXPECT_EQ(ids("sha256:certkey"), (std::vector<uint64_t>{kPlain + 2}));
  EXPECT_TRUE(ids("").size() == all.size());
  // New events after the migration are indexed as they are stored.
  v1::Event later = MakeEvent("prev", kPlain + 3);
  SetKeyless(later, "https://accounts.example", "other@team.example", "sha256:k2");
  EXPECT_EQ(Append("prev", {later}, kReceived, store_.get()).stored, 1);
  EXPECT_EQ(ids("https://accounts.example"), (std::vector<uint64_t>{kPlain + 3, kPlain + 2}));
  EXPECT_EQ(ids("other@team.example"), (std::vector<uint64_t>{kPlain + 3}));
}

TEST_P(EventStoreTest, ConcurrentAppendsAndQueries) {
  constexpr int kThreads = 4, kBatches = 20, kPerBatch = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string node = StrCat("node-", t);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<v1::Event> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          batch.push_back(MakeEvent(node, static_cast<uint64_t>(b * kPerBatch + i + 1)));
        }
        absl::StatusOr<AppendResult> r = store_->Append(node, Status("p"), batch, kReceived);
        EXPECT_TRUE(r.ok()) << r.status();
        v1::EventFilter f;
        f.set_node(node);
        absl::StatusOr<EventPage> page = store_->Query(f, 10, "");
        EXPECT_TRUE(page.ok()) << page.status();
        if (page.ok() && !page->events.empty()) {
          EXPECT_EQ(page->events[0].node(), node);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(store_->Count(), kThreads * kBatches * kPerBatch);
}

INSTANTIATE_TEST_SUITE_P(Backends, EventStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// ------------------------------------------------------------------ backend specifics

TEST(EventStoreUrlTest, SqliteUrlsAndBadFiles) {
  TempDir dir;
  for (const std::string& url : {StrCat("sqlite://", dir.File("a.db")), dir.File("b.db"),
                                 StrCat("sqlite:", dir.File("c.db"))}) {
    absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(url);
    EXPECT_TRUE(store.ok()) << url << ": " << store.status();
  }
  EXPECT_TRUE(std::filesystem::exists(dir.File("a.db")));
  EXPECT_TRUE(std::filesystem::exists(dir.File("c.db")));
  // A relative path is relative to the working directory.
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  absl::StatusOr<std::unique_ptr<EventStore>> rel = OpenEventStore("sqlite:rel.db");
  ASSERT_EQ(chdir(cwd), 0);
  EXPECT_TRUE(rel.ok()) << rel.status();
  EXPECT_TRUE(std::filesystem::exists(dir.File("rel.db")));

  EXPECT_EQ(OpenEventStore("sqlite://host/x.db").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenEventStore("sqlite:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenEventStore("mysql://db/x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(OpenEventStore(dir.File("no/such/dir/x.db")).ok());
  testing::WriteFileOrDie(dir.File("junk.db"), std::string(8192, 'j'));
  absl::StatusOr<std::unique_ptr<EventStore>> junk = OpenEventStore(dir.File("junk.db"));
  EXPECT_EQ(junk.status().code(), absl::StatusCode::kDataLoss) << junk.status();
}

// Issue 14.7: a damaged SQLite file is never silent.
class SqliteDamageTest : public ::testing::Test {
 protected:
  static constexpr int kEvents = 3000;

  // A store file holding kEvents events, closed (so checkpointed into the file).
  void SetUp() override {
    std::unique_ptr<EventStore> store = OpenOrFail(StoreOptions{});
    ASSERT_NE(store, nullptr);
    for (int first = 1; first <= kEvents; first += 500) {
      std::vector<v1::Event> batch;
      for (int seq = first; seq < first + 500; ++seq) batch.push_back(MakeEvent("n", seq));
      absl::StatusOr<AppendResult> r = store->Append("n", Status("p1"), batch, kReceived);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  std::unique_ptr<EventStore> OpenOrFail(StoreOptions options) {
    absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(path_, std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Every event, page by page; the first error.
  static absl::Status QueryAll(EventStore& store, size_t* got) {
    std::string token;
    *got = 0;
    do {
      absl::StatusOr<EventPage> page = store.Query({}, kMaxPageSize, token);
      if (!page.ok()) return page.status();
      *got += page->events.size();
      token = page->next_page_token;
    } while (!token.empty());
    return absl::OkStatus();
  }

  void ExpectNamesTheFile(const absl::Status& s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(std::string(Sv(s.message())).find(path_), std::string::npos) << s;
  }

  TempDir dir_;
  std::string path_ = dir_.File("events.db");
};

TEST_F(SqliteDamageTest, ZeroedTablePageFailsTheOpenCheck) {
  absl::StatusOr<int64_t> page = testing::MiddleLeafPage(path_, "events");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_TRUE(testing::ZeroSqlitePage(path_, *page).ok());
  absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(path_);
  ASSERT_FALSE(store.ok()) << "a damaged file opened as if whole";
  ExpectNamesTheFile(store.status());
  EXPECT_NE(std::string(Sv(store.status().message())).find("integrity_check"), std::string::npos)
      << store.status();
}

TEST_F(SqliteDamageTest, ZeroedHeaderPageFailsTheOpen) {
  ASSERT_TRUE(testing::ZeroSqlitePage(path_, 1).ok());
  absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(path_);
  ASSERT_FALSE(store.ok());
  ExpectNamesTheFile(store.status());
}

TEST_F(SqliteDamageTest, DamageWhileOpenFailsQueriesLoudlyAndIsRemembered) {
  int reported = 0;
  absl::Status first_report;
  StoreOptions options;
  options.on_damage = [&](const absl::Status& s) {
    ++reported;
    first_report = s;
  };
  std::unique_ptr<EventStore> store = OpenOrFail(options);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Damage().ok());
  absl::StatusOr<int64_t> page = testing::MiddleLeafPage(path_, "events");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_TRUE(testing::ZeroSqlitePage(path_, *page).ok());

  size_t got = 0;
  absl::Status queried = QueryAll(*store, &got);
  ASSERT_FALSE(queried.ok()) << "returned " << got << " of " << kEvents << " events, no error";
  ExpectNamesTheFile(queried);
  ExpectNamesTheFile(store->Damage());
  EXPECT_EQ(reported, 1);
  ExpectNamesTheFile(first_report);
  // Damaged: nothing more is written (an agent keeps its events), and it stays reported.
  absl::StatusOr<AppendResult> appended =
      store->Append("n", Status("p1"), {MakeEvent("n", kEvents + 1)}, kReceived);
  ASSERT_FALSE(appended.ok());
  ExpectNamesTheFile(appended.status());
  ExpectNamesTheFile(store->Prune(kReceived + absl::Hours(1)).status());
  EXPECT_TRUE(QueryAll(*store, &got).code() == absl::StatusCode::kDataLoss);
  EXPECT_EQ(reported, 1);
}

TEST(PostgresStoreTest, StoppedServerIsUnavailableThenRecovers) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  PostgresServer& pg = **server;
  ASSERT_TRUE(pg.CreateDatabase("events").ok());
  absl::StatusOr<std::unique_ptr<EventStore>> store = OpenEventStore(pg.Url("events"));
  ASSERT_TRUE(store.ok()) << store.status();
  EventStore& s = **store;
  // Several pooled connections, all of which the restart below breaks.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      v1::Event e = MakeEvent("n", static_cast<uint64_t>(t + 1));
      EXPECT_TRUE(s.Append("n", Status("p"), {e}, kReceived).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(s.Count(), 4);

  ASSERT_TRUE(pg.Stop().ok());
  absl::StatusOr<AppendResult> down = s.Append("n", Status("p"), {MakeEvent("n", 10)}, kReceived);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_NE(std::string(down.status().message()).find("127.0.0.1"), std::string::npos)
      << "the error names the server: " << down.status();
  EXPECT_EQ(s.Query({}, 10, "").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.Nodes().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(OpenEventStore(pg.Url("events")).status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(pg.Restart().ok());
  for (uint64_t seq = 10; seq < 20; ++seq) {  // more calls than pooled connections
    absl::StatusOr<AppendResult> up = s.Append("n", Status("p"), {MakeEvent("n", seq)}, kReceived);
    ASSERT_TRUE(up.ok()) << up.status();
    EXPECT_EQ(up->stored, 1);
  }
  absl::StatusOr<EventPage> page = s.Query({}, 100, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->events.size(), 14u) << "nothing of the failed batch, everything after";
}

}  // namespace
}  // namespace layerseal::controller
