#include "controller/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "controller/sql_store.h"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

using sql::Param;

// Prepared statements kept per connection; beyond this (many distinct filter combinations)
// the cache is emptied and refilled.
constexpr size_t kMaxCachedStatements = 128;
// The longest Prune lets waiting Appends go first before it deletes its next chunk anyway.
constexpr absl::Duration kMaxPruneYield = absl::Seconds(1);
// Per connection: page cache, and the most of the file read through mmap.
constexpr int kSqliteCacheKiB = 64 * 1024;
constexpr int64_t kSqliteMmapBytes = int64_t{1} << 30;
// time_ranges buckets: hours of event time (migration 3's SQL says 3600000000 too).
constexpr int64_t kBucketUs = int64_t{3600} * 1'000'000;

// Migration n (1-based) brings the schema from version n-1 to n. Append only: a released
// migration is never edited (databases in the field have run it).
const std::vector<std::vector<const char*>>& SqliteMigrations() {
  static const auto* migrations = new std::vector<std::vector<const char*>>{
      // 1: events and nodes.
      {"CREATE TABLE events ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"  // never reused: the page token and cursor
       " node TEXT NOT NULL, seq INTEGER NOT NULL,"
       " time_us INTEGER NOT NULL, received_us INTEGER NOT NULL, kind INTEGER NOT NULL,"
       " namespace TEXT NOT NULL, pod TEXT NOT NULL, image TEXT NOT NULL,"
       " reference TEXT NOT NULL, digest TEXT NOT NULL, verdict TEXT NOT NULL,"
       " reason TEXT NOT NULL, mode TEXT NOT NULL, body BLOB NOT NULL,"
       " UNIQUE (node, seq))",
       "CREATE INDEX events_received ON events (received_us)",
       "CREATE TABLE nodes (node TEXT PRIMARY KEY, last_seen_us INTEGER NOT NULL,"
       " status BLOB NOT NULL, events INTEGER NOT NULL, denied INTEGER NOT NULL,"
       " last_seq INTEGER NOT NULL)"},
      // 2: an index per filter (an index on a column also orders by rowid, so each serves
      // `col = ? ORDER BY id DESC LIMIT n` without a sort), and the page-token key.
      {"CREATE INDEX events_node ON events (node)",
       "CREATE INDEX events_namespace ON events (namespace)",
       "CREATE INDEX events_pod ON events (pod)", "CREATE INDEX events_image ON events (image)",
       "CREATE INDEX events_reference ON events (reference)",
       "CREATE INDEX events_digest ON events (digest)",
       "CREATE INDEX events_verdict ON events (verdict)",
       "CREATE INDEX events_reason ON events (reason)", "CREATE INDEX events_mode ON events (mode)",
       "CREATE INDEX events_time ON events (time_us)",
       "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
       "INSERT INTO meta (key, value) VALUES ('page_token_key', lower(hex(randomblob(16))))",
       // Fixed planner statistics (rows, rows per value) for a large cluster, instead of
       // whatever ANALYZE would find in a young database: with them SQLite picks the most
       // selective index of a combined filter (namespace over verdict) from the first event.
       "ANALYZE sqlite_schema", "DELETE FROM sqlite_stat1",
       "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', NULL, '1000000'),"
       " ('events', 'sqlite_autoindex_events_1', '1000000 20000 1'),"
       " ('events', 'events_received', '1000000 10'), ('events', 'events_time', '1000000 10'),"
       " ('events', 'events_node', '1000000 20000'),"
       " ('events', 'events_namespace', '1000000 30000'),"
       " ('events', 'events_pod', '1000000 500'), ('events', 'events_image', '1000000 5000'),"
       " ('events', 'events_reference', '1000000 5000'),"
       " ('events', 'events_digest', '1000000 5000'),"
       " ('events', 'events_verdict', '1000000 500000'),"
       " ('events', 'events_reason', '1000000 200000'),"
       " ('events', 'events_mode', '1000000 330000')"},
      // 3: the id span of each hour of event time, so that a time range becomes an id
      // range: scanning ids downwards from the newest in the range finds a page after a few
      // hundred rows, where the time index had to read and sort every entry of the range
      // (p99 56 ms for a day among 1,000,000 events). Events arrive roughly in time order,
      // so an hour's span is narrow; a node with a wrong clock only widens it.
      {"CREATE TABLE time_ranges (bucket INTEGER PRIMARY KEY, min_id INTEGER NOT NULL,"
       " max_id INTEGER NOT NULL)",
       "INSERT INTO time_ranges (bucket, min_id, max_id)"
       " SELECT time_us / 3600000000, MIN(id), MAX(id) FROM events GROUP BY 1",
       "DROP INDEX events_time"},
      // 4: an event's id becomes (node, incarnation, seq) (issue 14.6): an agent that lost
      // its state numbers from 1 again under a new spool incarnation. SQLite cannot change a
      // table's UNIQUE constraint, so the table is rebuilt with the same ids (page tokens,
      // follow cursors and time_ranges stay valid) and its AUTOINCREMENT high-water mark;
      // old rows get the legacy incarnation "". Conflicts (an id stored with other content)
      // go to event_conflicts instead of being dropped as duplicates.
      {"CREATE TABLE events_v4 ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " node TEXT NOT NULL, seq INTEGER NOT NULL,"
       " time_us INTEGER NOT NULL, received_us INTEGER NOT NULL, kind INTEGER NOT NULL,"
       " namespace TEXT NOT NULL, pod TEXT NOT NULL, image TEXT NOT NULL,"
       " reference TEXT NOT NULL, digest TEXT NOT NULL, verdict TEXT NOT NULL,"
       " reason TEXT NOT NULL, mode TEXT NOT NULL, body BLOB NOT NULL,"
       " incarnation TEXT NOT NULL DEFAULT '',"
       " UNIQUE (node, incarnation, seq))",
       "INSERT INTO events_v4 (id, node, seq, time_us, received_us, kind, namespace, pod, image,"
       " reference, digest, verdict, reason, mode, body, incarnation)"
       " SELECT id, node, seq, time_us, received_us, kind, namespace, pod, image, reference,"
       " digest, verdict, reason, mode, body, '' FROM events",
       "DELETE FROM sqlite_sequence WHERE name = 'events_v4'",
       "UPDATE sqlite_sequence SET name = 'events_v4' WHERE name = 'events'",
       "DROP TABLE events",  // and its indexes and sqlite_stat1 rows
       "ALTER TABLE events_v4 RENAME TO events",
       "CREATE INDEX events_received ON events (received_us)",
       "CREATE INDEX events_node ON events (node)",
       "CREATE INDEX events_namespace ON events (namespace)",
       "CREATE INDEX events_pod ON events (pod)", "CREATE INDEX events_image ON events (image)",
       "CREATE INDEX events_reference ON events (reference)",
       "CREATE INDEX events_digest ON events (digest)",
       "CREATE INDEX events_verdict ON events (verdict)",
       "CREATE INDEX events_reason ON events (reason)", "CREATE INDEX events_mode ON events (mode)",
       "DELETE FROM sqlite_stat1 WHERE tbl = 'events'",
       "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', NULL, '1000000'),"
       " ('events', 'sqlite_autoindex_events_1', '1000000 20000 20000 1'),"
       " ('events', 'events_received', '1000000 10'),"
       " ('events', 'events_node', '1000000 20000'),"
       " ('events', 'events_namespace', '1000000 30000'),"
       " ('events', 'events_pod', '1000000 500'), ('events', 'events_image', '1000000 5000'),"
       " ('events', 'events_reference', '1000000 5000'),"
       " ('events', 'events_digest', '1000000 5000'),"
       " ('events', 'events_verdict', '1000000 500000'),"
       " ('events', 'events_reason', '1000000 200000'),"
       " ('events', 'events_mode', '1000000 330000')",
       "CREATE TABLE event_conflicts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " node TEXT NOT NULL, incarnation TEXT NOT NULL, seq INTEGER NOT NULL,"
       " received_us INTEGER NOT NULL, body BLOB NOT NULL)",
       "CREATE INDEX event_conflicts_identity ON event_conflicts (node, incarnation, seq)"},
      // 5: which signature admitted an image (issue 17): the columns the `signer` filter
      // matches, with an index each. Rows stored before are filled from their bodies by
      // BackfillSigners after these statements (kSqliteSignerColumnsMigration); no row is lost.
      {"ALTER TABLE events ADD COLUMN key_id TEXT NOT NULL DEFAULT ''",
       "ALTER TABLE events ADD COLUMN signer_issuer TEXT NOT NULL DEFAULT ''",
       "ALTER TABLE events ADD COLUMN signer_subject TEXT NOT NULL DEFAULT ''",
       "CREATE INDEX events_key_id ON events (key_id)",
       "CREATE INDEX events_signer_issuer ON events (signer_issuer)",
       "CREATE INDEX events_signer_subject ON events (signer_subject)",
       "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES"
       " ('events', 'events_key_id', '1000000 5000'),"
       " ('events', 'events_signer_issuer', '1000000 100000'),"
       " ('events', 'events_signer_subject', '1000000 5000')"},
      // 6: package inventories (issue 18), one row per image digest however many events and
      // nodes reported it; `attachment` is the validated "layerseal.packages/v1" document
      // (zero bytes when only an omission is recorded). No event row changes.
      {"CREATE TABLE image_packages (digest TEXT PRIMARY KEY, attachment BLOB NOT NULL,"
       " packages INTEGER NOT NULL, omitted_bytes INTEGER NOT NULL, node TEXT NOT NULL,"
       " updated_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL)",
       "CREATE INDEX image_packages_last_seen ON image_packages (last_seen_us)"},
  };
  return *migrations;
}

// The migration after whose statements BackfillSigners runs (in the same transaction).
constexpr size_t kSqliteSignerColumnsMigration = 5;

absl::StatusCode CodeOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

// One connection and its prepared statements. Used by one thread at a time.
class Conn {
 public:
  Conn(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~Conn() {
    ClearCache();
    sqlite3_close_v2(db_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  static absl::StatusOr<std::unique_ptr<Conn>> Open(const std::string& path, bool writer) {
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    auto conn = std::make_unique<Conn>(db, path);  // closes `db` even when open failed
    if (rc != SQLITE_OK) return conn->Error(rc, "open");
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, kSqliteBusyTimeoutMs);
    // FULL: an acknowledged batch must survive power loss, because the agent deletes it
    // from its spool as soon as we answer OK. In WAL mode that is one fsync per commit.
    if (absl::Status s = conn->Exec("PRAGMA synchronous = FULL"); !s.ok()) return s;
    // A page cache that holds the hot index pages (SQLite's default is 2 MB), and reads
    // through a memory map instead of a pread per page.
    for (const std::string& pragma : {StrCat("PRAGMA cache_size = -", kSqliteCacheKiB),
                                      StrCat("PRAGMA mmap_size = ", kSqliteMmapBytes)}) {
      if (absl::Status s = conn->Exec(pragma); !s.ok()) return s;
    }
    if (writer) {
      // Checkpoint every ~40 MB of WAL rather than 4 MB: one batch of 500 events dirties
      // more than 4 MB of index pages, which then were written back (and fsynced) at
      // every commit. The WAL file is truncated back to this size after a checkpoint.
      for (const char* pragma :
           {"PRAGMA wal_autocheckpoint = 10000", "PRAGMA journal_size_limit = 67108864"}) {
        if (absl::Status s = conn->Exec(pragma); !s.ok()) return s;
      }
    }
    return conn;
  }

  absl::Status Error(int rc, const std::string& what) const {
    const char* msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return absl::Status(CodeOf(rc), StrCat("sqlite ", path_, ": ", what, ": ", msg));
  }

  absl::Status Exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err != nullptr ? err : "";
    sqlite3_free(err);
    if (rc == SQLITE_OK) return absl::OkStatus();
    return absl::Status(CodeOf(rc), StrCat("sqlite ", path_, ": ", sql, ": ", msg));
  }

  absl::StatusOr<sqlite3_stmt*> Prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCachedStatements) ClearCache();
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error(rc, StrCat("prepare ", sql));
    cache_.emplace(sql, stmt);
    return stmt;
  }

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }

  sqlite3* db_;
  std::string path_;
  std::map<std::string, sqlite3_stmt*> cache_;
};

// A cached statement bound to parameters for one use; reset when it goes out of scope.
class Stmt {
 public:
  static absl::StatusOr<Stmt> Make(Conn& conn, const std::string& sql,
                                   const std::vector<Param>& params) {
    absl::StatusOr<sqlite3_stmt*> stmt = conn.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    Stmt s(conn, *stmt, sql);
    for (size_t i = 0; i < params.size(); ++i) {
      int n = static_cast<int>(i + 1), rc;
      if (params[i].is_int) {
        rc = sqlite3_bind_int64(*stmt, n, params[i].i);
      } else {
        const std::string& t = params[i].s;
        rc = params[i].is_blob
                 ? sqlite3_bind_blob64(*stmt, n, t.data(), t.size(), SQLITE_TRANSIENT)
                 : sqlite3_bind_text64(*stmt, n, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return conn.Error(rc, StrCat("bind ", n, " of ", sql));
    }
    return s;
  }
  Stmt(Stmt&& other) noexcept : conn_(other.conn_), stmt_(other.stmt_), sql_(other.sql_) {
    other.stmt_ = nullptr;
  }
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // True for a row, false when done.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return conn_->Error(rc, StrCat("step ", sql_));
  }
  absl::Status Run() {
    absl::StatusOr<bool> row;
    do {
      row = Step();
    } while (row.ok() && *row);
    return row.status();
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p != nullptr ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : "";
  }
  absl::StatusOr<v1::Event> Event(int id_col, int body_col) const {
    absl::StatusOr<v1::Event> event =
        sql::ParseBody(sqlite3_column_blob(stmt_, body_col),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, body_col)), Int(id_col));
    if (event.ok()) return event;
    return absl::DataLossError(
        StrCat("sqlite ", conn_->path(), ": ", Sv(event.status().message())));
  }

 private:
  Stmt(Conn& conn, sqlite3_stmt* stmt, const std::string& sql)
      : conn_(&conn), stmt_(stmt), sql_(sql) {}
  Conn* conn_;
  sqlite3_stmt* stmt_;
  std::string sql_;
};

// One value of a single-row query (0 when it returns no row or NULL).
absl::StatusOr<int64_t> QueryInt(Conn& conn, const std::string& sql,
                                 const std::vector<Param>& params = {}) {
  absl::StatusOr<Stmt> stmt = Stmt::Make(conn, sql, params);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->Int(0) : 0;
}

// Runs `body` in a transaction on `conn` (BEGIN IMMEDIATE for writers: take the write lock
// up front rather than fail upgrading a read lock); rolls back when it fails.
template <typename F>
absl::Status InTransaction(Conn& conn, const char* begin, F body) {
  if (absl::Status s = conn.Exec(begin); !s.ok()) return s;
  absl::Status s = body();
  if (s.ok()) s = conn.Exec("COMMIT");
  // Some errors (SQLITE_FULL, IOERR) have rolled back already: then this fails, harmlessly.
  if (!s.ok() && sqlite3_get_autocommit(conn.db()) == 0) (void)conn.Exec("ROLLBACK");
  return s;
}

// Fills the signer columns of the rows stored before migration 5 from their bodies (an
// agent newer than the controller may have sent the fields before it knew them: the body
// kept them), kSignerBackfillChunk rows a round, ids ascending.
absl::Status BackfillSigners(Conn& conn) {
  int64_t after = 0;
  for (;;) {
    std::vector<std::pair<int64_t, sql::SignerColumns>> found;
    int rows = 0;
    {
      absl::StatusOr<Stmt> select =
          Stmt::Make(conn, "SELECT id, body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                     {after, sql::kSignerBackfillChunk});
      if (!select.ok()) return select.status();
      for (;;) {
        absl::StatusOr<bool> row = select->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        ++rows;
        after = select->Int(0);
        std::string body = select->Text(1);
        sql::SignerColumns c = sql::SignerColumnsOf(body.data(), body.size());
        if (!c.empty()) found.emplace_back(after, std::move(c));
      }
    }
    for (const auto& [id, c] : found) {
      absl::StatusOr<Stmt> update = Stmt::Make(
          conn,
          "UPDATE events SET key_id = ?1, signer_issuer = ?2, signer_subject = ?3 WHERE id = ?4",
          {c.key_id, c.signer_issuer, c.signer_subject, id});
      if (!update.ok()) return update.status();
      if (absl::Status s = update->Run(); !s.ok()) return s;
    }
    if (rows < sql::kSignerBackfillChunk) return absl::OkStatus();
  }
}

absl::Status Migrate(Conn& conn) {
  return InTransaction(conn, "BEGIN IMMEDIATE", [&]() -> absl::Status {
    if (absl::Status s =
            conn.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<int64_t> version = QueryInt(conn, "SELECT MAX(version) FROM schema_version");
    if (!version.ok()) return version.status();
    const auto& migrations = SqliteMigrations();
    if (*version > static_cast<int64_t>(migrations.size())) {
      return absl::FailedPreconditionError(StrCat("sqlite ", conn.path(), ": schema version ",
                                                  *version,
                                                  " is newer than this controller knows (",
                                                  migrations.size(), "): upgrade the controller"));
    }
    for (size_t v = static_cast<size_t>(*version); v < migrations.size(); ++v) {
      for (const char* statement : migrations[v]) {
        if (absl::Status s = conn.Exec(statement); !s.ok()) {
          return absl::Status(s.code(), StrCat("migration ", v + 1, ": ", Sv(s.message())));
        }
      }
      if (v + 1 == kSqliteSignerColumnsMigration) {
        if (absl::Status s = BackfillSigners(conn); !s.ok()) {
          return absl::Status(s.code(), StrCat("migration ", v + 1, ": ", Sv(s.message())));
        }
      }
    }
    if (absl::Status s = conn.Exec("DELETE FROM schema_version"); !s.ok()) return s;
    absl::StatusOr<Stmt> set = Stmt::Make(conn, "INSERT INTO schema_version (version) VALUES (?1)",
                                          {static_cast<int64_t>(migrations.size())});
    if (!set.ok()) return set.status();
    return set->Run();
  });
}

// Checks the whole file (kSqliteFullCheckMaxBytes picks the pragma): DATA_LOSS naming the
// file and the first kSqliteCheckMaxErrors problems found.
absl::Status CheckFile(Conn& conn) {
  std::error_code ec;
  uint64_t bytes = std::filesystem::file_size(conn.path(), ec);  // 0 when new
  std::string pragma = bytes <= kSqliteFullCheckMaxBytes ? "integrity_check" : "quick_check";
  absl::StatusOr<Stmt> stmt =
      Stmt::Make(conn, StrCat("PRAGMA ", pragma, "(", kSqliteCheckMaxErrors, ")"), {});
  if (!stmt.ok()) return stmt.status();
  std::vector<std::string> found;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    found.push_back(stmt->Text(0));
  }
  if (found.size() == 1 && found[0] == "ok") return absl::OkStatus();
  std::string list;
  for (const std::string& f : found) list += StrCat(list.empty() ? "" : "; ", f);
  return absl::DataLossError(StrCat("sqlite ", conn.path(), ": the file is damaged (PRAGMA ",
                                    pragma, " on open found: ", list,
                                    "); restore it from a backup or move it aside"));
}

template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& r) {
  return r.status();
}

class SqliteStore : public EventStore {
 public:
  SqliteStore(std::string path, std::unique_ptr<Conn> writer, std::string token_key,
              StoreOptions options)
      : path_(std::move(path)),
        token_key_(std::move(token_key)),
        options_(std::move(options)),
        writer_(std::move(writer)) {}

  absl::StatusOr<AppendResult> Append(const std::string& node, const v1::AgentStatus& status,
                                      const std::vector<v1::Event>& events,
                                      absl::Time received) override;
  absl::StatusOr<EventPage> Query(const v1::EventFilter& filter, int page_size,
                                  const std::string& page_token) override;
  absl::StatusOr<int64_t> LatestCursor() override;
  absl::StatusOr<std::vector<v1::Event>> After(const v1::EventFilter& filter, int64_t* cursor,
                                               int limit) override;
  absl::StatusOr<std::vector<v1::NodeSummary>> Nodes() override;
  absl::StatusOr<std::vector<v1::ImageSummary>> Images(absl::Time since, int limit) override;
  absl::Status PutPackages(const std::vector<ImagePackagesRecord>& records,
                           absl::Time received) override;
  absl::StatusOr<ImagePackagesRecord> GetPackages(const std::string& digest) override;
  absl::StatusOr<std::vector<ImagePackagesRecord>> ListPackages(int limit) override;
  absl::StatusOr<int64_t> Prune(absl::Time cutoff) override;
  int64_t Count() override;
  absl::Status Damage() override;

 private:
  // Remembers `s` when it is DATA_LOSS (a damaged page or row); the first one is reported
  // to options_.on_damage.
  void NoteDamage(const absl::Status& s);
  // Runs `f(Conn&)` on a free read connection, opening one if fewer than the maximum are.
  template <typename F>
  auto WithReader(F f) -> decltype(f(std::declval<Conn&>()));
  absl::Status AppendLocked(const std::string& node, const v1::AgentStatus& status,
                            const std::vector<v1::Event>& events, int64_t received_us,
                            AppendResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // For an event whose id is stored already: a duplicate when the stored copy (or a kept
  // conflict) has the same content, else kept in event_conflicts and counted a conflict.
  absl::Status SortOutExisting(const v1::Event& event, const sql::EventRow& row,
                               AppendResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Deletes up to kPruneChunk events received before `cutoff_us`; how many.
  absl::StatusOr<int64_t> PruneChunkLocked(int64_t cutoff_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const std::string path_;
  const std::string token_key_;
  const StoreOptions options_;

  absl::Mutex damage_mu_;
  absl::Status damage_ ABSL_GUARDED_BY(damage_mu_);

  absl::Mutex write_mu_;
  std::unique_ptr<Conn> writer_ ABSL_GUARDED_BY(write_mu_);
  std::atomic<int> appends_waiting_{0};  // Appends blocked on write_mu_: Prune lets them first

  absl::Mutex read_mu_;
  std::vector<std::unique_ptr<Conn>> idle_readers_ ABSL_GUARDED_BY(read_mu_);
  int readers_open_ ABSL_GUARDED_BY(read_mu_) = 0;
};

template <typename F>
auto SqliteStore::WithReader(F f) -> decltype(f(std::declval<Conn&>())) {
  std::unique_ptr<Conn> conn;
  {
    absl::MutexLock lock(&read_mu_);
    read_mu_.Await(absl::Condition(
        +[](SqliteStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->read_mu_) {
          return !s->idle_readers_.empty() || s->readers_open_ < kMaxSqliteReaders;
        },
        this));
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    } else {
      ++readers_open_;
    }
  }
  if (conn == nullptr) {
    absl::StatusOr<std::unique_ptr<Conn>> opened = Conn::Open(path_, /*writer=*/false);
    if (!opened.ok()) {
      absl::MutexLock lock(&read_mu_);
      --readers_open_;
      return opened.status();
    }
    conn = std::move(*opened);
  }
  auto result = f(*conn);
  NoteDamage(StatusOf(result));
  absl::MutexLock lock(&read_mu_);
  idle_readers_.push_back(std::move(conn));
  return result;
}

void SqliteStore::NoteDamage(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kDataLoss) return;
  {
    absl::MutexLock lock(&damage_mu_);
    if (!damage_.ok()) return;
    damage_ = s;
  }
  if (options_.on_damage) options_.on_damage(s);
}

absl::Status SqliteStore::Damage() {
  absl::MutexLock lock(&damage_mu_);
  return damage_;
}

absl::StatusOr<AppendResult> SqliteStore::Append(const std::string& node,
                                                 const v1::AgentStatus& status,
                                                 const std::vector<v1::Event>& events,
                                                 absl::Time received) {
  // Writing on into a damaged file could spread the damage, and an OK would make the agent
  // drop events: refuse, the agent keeps them.
  if (absl::Status damage = Damage(); !damage.ok()) return damage;
  AppendResult result;
  ++appends_waiting_;
  absl::MutexLock lock(&write_mu_);
  --appends_waiting_;
  absl::Status s = InTransaction(*writer_, "BEGIN IMMEDIATE", [&] {
    result = AppendResult();
    return AppendLocked(node, status, events, absl::ToUnixMicros(received), result);
  });
  NoteDamage(s);
  if (!s.ok()) return s;
  return result;
}

absl::Status SqliteStore::AppendLocked(const std::string& node, const v1::AgentStatus& status,
                                       const std::vector<v1::Event>& events, int64_t received_us,
                                       AppendResult& result) {
  static const std::string insert = [] {
    std::string values;
    for (int c = 1; c <= sql::kEventColumnCount; ++c) {
      values += StrCat(c == 1 ? "" : ", ", sql::Placeholder(sql::Dialect::kSqlite, c));
    }
    return StrCat("INSERT INTO events (", sql::kEventColumns, ") VALUES (", values,
                  ") ON CONFLICT (node, incarnation, seq) DO NOTHING");
  }();
  int64_t denied = 0, last_seq = 0;
  std::map<int64_t, std::pair<int64_t, int64_t>> spans;  // bucket -> (min id, max id)
  for (const v1::Event& event : events) {
    sql::EventRow row = sql::ToRow(event, received_us);
    absl::StatusOr<Stmt> stmt = Stmt::Make(*writer_, insert, sql::RowParams(row));
    if (!stmt.ok()) return stmt.status();
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    if (sqlite3_changes(writer_->db()) == 1) {
      ++result.stored;
      if (row.verdict == "DENY") ++denied;
      int64_t id = sqlite3_last_insert_rowid(writer_->db());
      auto [it, added] = spans.try_emplace(row.time_us / kBucketUs, id, id);
      if (!added) it->second.second = id;  // ids only grow within a transaction
    } else if (absl::Status s = SortOutExisting(event, row, result); !s.ok()) {
      return s;
    }
    last_seq = std::max(last_seq, row.seq);
  }
  for (const auto& [bucket, span] : spans) {
    absl::StatusOr<Stmt> stmt =
        Stmt::Make(*writer_,
                   "INSERT INTO time_ranges (bucket, min_id, max_id) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (bucket) DO UPDATE SET min_id = MIN(min_id, excluded.min_id),"
                   " max_id = MAX(max_id, excluded.max_id)",
                   {bucket, span.first, span.second});
    if (!stmt.ok()) return stmt.status();
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
  }
  absl::StatusOr<Stmt> upsert =
      Stmt::Make(*writer_,
                 "INSERT INTO nodes (node, last_seen_us, status, events, denied, last_seq)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (node) DO UPDATE SET"
                 " last_seen_us = excluded.last_seen_us, status = excluded.status,"
                 " events = events + excluded.events, denied = denied + excluded.denied,"
                 " last_seq = MAX(last_seq, excluded.last_seq)",
                 {node, received_us, Param::Blob(status.SerializeAsString()),
                  static_cast<int64_t>(result.stored), denied, last_seq});
  if (!upsert.ok()) return upsert.status();
  return upsert->Run();
}

// Whether any of the rows of `stmt` (column 0: a body) holds `event`; false when none.
absl::StatusOr<bool> AnySame(Stmt& stmt, const v1::Event& event) {
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok() || !*row) return row;
    if (sql::SameContent(stmt.Text(0), event)) return true;
  }
}

absl::Status SqliteStore::SortOutExisting(const v1::Event& event, const sql::EventRow& row,
                                          AppendResult& result) {
  std::vector<Param> id = {row.node, row.incarnation, row.seq};
  for (const char* table : {"events", "event_conflicts"}) {
    absl::StatusOr<Stmt> stmt = Stmt::Make(
        *writer_,
        StrCat("SELECT body FROM ", table, " WHERE node = ?1 AND incarnation = ?2 AND seq = ?3"),
        id);
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> same = AnySame(*stmt, event);
    if (!same.ok()) return same.status();
    if (*same) {
      ++result.duplicates;
      return absl::OkStatus();
    }
  }
  absl::StatusOr<Stmt> keep = Stmt::Make(
      *writer_,
      "INSERT INTO event_conflicts (node, incarnation, seq, received_us, body)"
      " VALUES (?1, ?2, ?3, ?4, ?5)",
      {row.node, row.incarnation, row.seq, row.received_us, Param::Blob(row.body)});
  if (!keep.ok()) return keep.status();
  if (absl::Status s = keep->Run(); !s.ok()) return s;
  ++result.conflicts;
  if (result.conflict_names.size() < kMaxConflictNames) {
    result.conflict_names.push_back(sql::IdentityName(event));
  }
  return absl::OkStatus();
}

absl::StatusOr<EventPage> SqliteStore::Query(const v1::EventFilter& filter, int page_size,
                                             const std::string& page_token) {
  int size = sql::ClampPageSize(page_size);
  std::vector<Param> params;
  std::string where = sql::WhereClause(filter, sql::Dialect::kSqlite, params);
  if (!page_token.empty()) {
    absl::StatusOr<int64_t> before = sql::ParsePageToken(token_key_, filter, page_token);
    if (!before.ok()) return before.status();
    params.push_back(*before);
    where += StrCat(where.empty() ? "" : " AND ", "id < ?", params.size());
  }
  // A time range: only ids within the span of its hours (set below, from time_ranges).
  bool timed = filter.has_since_unix_micros() || filter.has_until_unix_micros();
  size_t span_at = params.size();
  if (timed) {
    params.push_back(int64_t{0});
    params.push_back(int64_t{0});
    where +=
        StrCat(where.empty() ? "" : " AND ", "id >= ?", span_at + 1, " AND id <= ?", span_at + 2);
  }
  params.push_back(static_cast<int64_t>(size) + 1);  // one more: is there a next page?
  // Ids first, then rows: the inner query reads only index entries when one index covers
  // the filter (an index holds the rowid).
  std::string sql = StrCat("SELECT id, body FROM events WHERE id IN (SELECT id FROM events",
                           where.empty() ? "" : " WHERE ", where, " ORDER BY id DESC LIMIT ?",
                           params.size(), ") ORDER BY id DESC");
  return WithReader([&](Conn& conn) -> absl::StatusOr<EventPage> {
    EventPage page;
    absl::Status s = InTransaction(conn, "BEGIN", [&]() -> absl::Status {
      if (timed) {
        int64_t since = filter.since_unix_micros(), until = filter.until_unix_micros();
        absl::StatusOr<Stmt> span = Stmt::Make(
            conn,
            "SELECT MIN(min_id), MAX(max_id) FROM time_ranges WHERE bucket >= ?1 AND bucket <= ?2",
            {filter.has_since_unix_micros() ? since / kBucketUs : INT64_MIN,
             filter.has_until_unix_micros() ? (until - 1) / kBucketUs : INT64_MAX});
        if (!span.ok()) return span.status();
        absl::StatusOr<bool> row = span->Step();
        if (!row.ok()) return row.status();
        params[span_at] = *row ? span->Int(0) : 0;  // NULL (no such hour): 0, no id
        params[span_at + 1] = *row ? span->Int(1) : 0;
      }
      absl::StatusOr<Stmt> stmt = Stmt::Make(conn, sql, params);
      if (!stmt.ok()) return stmt.status();
      int64_t last_id = 0;
      for (;;) {
        absl::StatusOr<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (static_cast<int>(page.events.size()) == size) {
          page.next_page_token = sql::MakePageToken(token_key_, filter, last_id);
          break;
        }
        absl::StatusOr<v1::Event> event = stmt->Event(0, 1);
        if (!event.ok()) return event.status();
        page.events.push_back(std::move(*event));
        last_id = stmt->Int(0);
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return page;
  });
}

absl::StatusOr<int64_t> SqliteStore::LatestCursor() {
  return WithReader([](Conn& conn) { return QueryInt(conn, "SELECT MAX(id) FROM events"); });
}

absl::StatusOr<std::vector<v1::Event>> SqliteStore::After(const v1::EventFilter& filter,
                                                          int64_t* cursor, int limit) {
  limit = sql::ClampPageSize(limit);
  std::vector<Param> params;
  std::string where = sql::WhereClause(filter, sql::Dialect::kSqlite, params);
  params.push_back(*cursor);
  params.push_back(0);  // the newest id, set below
  params.push_back(static_cast<int64_t>(limit));
  size_t n = params.size();
  std::string sql =
      StrCat("SELECT id, body FROM events WHERE ", where, where.empty() ? "" : " AND ", "id > ?",
             n - 2, " AND id <= ?", n - 1, " ORDER BY id LIMIT ?", n);
  return WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<v1::Event>> {
    std::vector<v1::Event> out;
    int64_t next = *cursor;
    absl::Status s = InTransaction(conn, "BEGIN", [&]() -> absl::Status {
      // One snapshot: the newest id and the rows up to it.
      absl::StatusOr<int64_t> newest = QueryInt(conn, "SELECT MAX(id) FROM events");
      if (!newest.ok()) return newest.status();
      params[n - 2] = *newest;
      absl::StatusOr<Stmt> stmt = Stmt::Make(conn, sql, params);
      if (!stmt.ok()) return stmt.status();
      for (;;) {
        absl::StatusOr<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        absl::StatusOr<v1::Event> event = stmt->Event(0, 1);
        if (!event.ok()) return event.status();
        out.push_back(std::move(*event));
        next = stmt->Int(0);
      }
      // Fewer than `limit` matched: every row up to the newest was examined.
      if (static_cast<int>(out.size()) < limit) next = std::max(next, *newest);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    *cursor = next;
    return out;
  });
}

absl::StatusOr<std::vector<v1::NodeSummary>> SqliteStore::Nodes() {
  return WithReader([this](Conn& conn) -> absl::StatusOr<std::vector<v1::NodeSummary>> {
    absl::StatusOr<Stmt> stmt = Stmt::Make(
        conn,
        "SELECT node, last_seen_us, status, events, denied, last_seq FROM nodes ORDER BY node", {});
    if (!stmt.ok()) return stmt.status();
    std::vector<v1::NodeSummary> out;
    for (;;) {
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      v1::NodeSummary n;
      n.set_node(stmt->Text(0));
      n.set_last_seen_unix_micros(stmt->Int(1));
      if (!n.mutable_status()->ParseFromString(stmt->Text(2))) {
        return absl::DataLossError(
            StrCat("sqlite ", path_, ": nodes row ", n.node(), ": status does not parse"));
      }
      n.set_events(static_cast<uint64_t>(stmt->Int(3)));
      n.set_denied(static_cast<uint64_t>(stmt->Int(4)));
      n.set_last_seq(static_cast<uint64_t>(stmt->Int(5)));
      out.push_back(std::move(n));
    }
    return out;
  });
}

absl::StatusOr<std::vector<v1::ImageSummary>> SqliteStore::Images(absl::Time since, int limit) {
  limit = sql::ClampPageSize(limit);
  int64_t since_us = since == absl::InfinitePast() ? 0 : absl::ToUnixMicros(since);
  return WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<v1::ImageSummary>> {
    std::vector<v1::ImageSummary> out;
    absl::Status s = InTransaction(conn, "BEGIN", [&]() -> absl::Status {
      // Since a time: only the ids of its hours and later (time_ranges), not every row.
      int64_t min_id = 0, max_id = INT64_MAX;
      if (since_us != 0) {
        absl::StatusOr<Stmt> span =
            Stmt::Make(conn, "SELECT MIN(min_id), MAX(max_id) FROM time_ranges WHERE bucket >= ?1",
                       {since_us / kBucketUs});
        if (!span.ok()) return span.status();
        absl::StatusOr<bool> row = span->Step();
        if (!row.ok()) return row.status();
        min_id = *row ? span->Int(0) : 0;
        max_id = *row ? span->Int(1) : 0;
      }
      // `digest` next to the one max(): SQLite takes it from the row with the max time.
      absl::StatusOr<Stmt> stmt = Stmt::Make(
          conn,
          "SELECT image, node, SUM(verdict = 'ALLOW'), SUM(verdict = 'DENY'), MAX(time_us),"
          " digest FROM events WHERE kind = ?1 AND +time_us >= ?2 AND id >= ?3 AND id <= ?4"
          " GROUP BY image, node",
          {static_cast<int64_t>(v1::Event::VERDICT), since_us, min_id, max_id});
      if (!stmt.ok()) return stmt.status();
      std::vector<sql::ImageNodeCounts> rows;
      for (;;) {
        absl::StatusOr<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        rows.push_back({stmt->Text(0), stmt->Text(1), stmt->Int(2), stmt->Int(3), stmt->Int(4),
                        stmt->Text(5)});
      }
      out = sql::MergeImageCounts(rows, limit);
      for (v1::ImageSummary& image : out) {  // the inventory of the last digest (issue 18)
        if (image.last_digest().empty()) continue;
        absl::StatusOr<Stmt> inv =
            Stmt::Make(conn, sql::PackageCountSql(sql::Dialect::kSqlite), {image.last_digest()});
        if (!inv.ok()) return inv.status();
        absl::StatusOr<bool> row = inv->Step();
        if (!row.ok()) return row.status();
        if (*row) {
          image.set_has_packages(true);
          image.set_packages(static_cast<uint64_t>(inv->Int(0)));
        }
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  });
}

absl::Status SqliteStore::PutPackages(const std::vector<ImagePackagesRecord>& records,
                                      absl::Time received) {
  if (records.empty()) return absl::OkStatus();
  if (absl::Status damage = Damage(); !damage.ok()) return damage;  // no writes, as Append
  const int64_t received_us = absl::ToUnixMicros(received);
  ++appends_waiting_;
  absl::MutexLock lock(&write_mu_);
  --appends_waiting_;
  absl::Status s = InTransaction(*writer_, "BEGIN IMMEDIATE", [&]() -> absl::Status {
    for (const ImagePackagesRecord& r : records) {
      for (const sql::Statement& st : sql::PutPackagesStatements(sql::Dialect::kSqlite, r,
                                                                 received_us)) {
        absl::StatusOr<Stmt> stmt = Stmt::Make(*writer_, st.sql, st.params);
        if (!stmt.ok()) return stmt.status();
        if (absl::Status run = stmt->Run(); !run.ok()) return run;
      }
    }
    return absl::OkStatus();
  });
  NoteDamage(s);
  return s;
}

absl::StatusOr<ImagePackagesRecord> SqliteStore::GetPackages(const std::string& digest) {
  return WithReader([&](Conn& conn) -> absl::StatusOr<ImagePackagesRecord> {
    absl::StatusOr<Stmt> stmt =
        Stmt::Make(conn, sql::GetPackagesSql(sql::Dialect::kSqlite), {digest});
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::NotFoundError(NoInventoryMessage(digest));
    return ImagePackagesRecord{stmt->Text(0), stmt->Text(1), stmt->Int(2), stmt->Int(3),
                               stmt->Text(4), stmt->Int(5),  stmt->Int(6)};
  });
}

absl::StatusOr<std::vector<ImagePackagesRecord>> SqliteStore::ListPackages(int limit) {
  limit = sql::ClampPageSize(limit);
  return WithReader([&](Conn& conn) -> absl::StatusOr<std::vector<ImagePackagesRecord>> {
    absl::StatusOr<Stmt> stmt = Stmt::Make(conn, sql::ListPackagesSql(sql::Dialect::kSqlite),
                                           {static_cast<int64_t>(limit)});
    if (!stmt.ok()) return stmt.status();
    std::vector<ImagePackagesRecord> out;
    for (;;) {
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.push_back({stmt->Text(0), "", stmt->Int(2), stmt->Int(3), stmt->Text(4), stmt->Int(5),
                     stmt->Int(6)});
    }
    return out;
  });
}

absl::StatusOr<int64_t> SqliteStore::Prune(absl::Time cutoff) {
  if (absl::Status damage = Damage(); !damage.ok()) return damage;  // no writes, as Append
  int64_t total = 0;
  for (;;) {
    // One chunk per transaction, and between chunks waiting Appends go first (up to
    // kMaxPruneYield, so that a steady stream of them cannot hold retention off forever):
    // an Append waits for at most one chunk. (A mutex is no queue: without this the
    // pruning thread took the lock back at once and an Append waited for the whole Prune,
    // 5 s for a day of 1,000,000 events.)
    write_mu_.LockWhenWithTimeout(
        absl::Condition(
            +[](std::atomic<int>* waiting) { return waiting->load() == 0; }, &appends_waiting_),
        kMaxPruneYield);
    absl::StatusOr<int64_t> deleted = PruneChunkLocked(absl::ToUnixMicros(cutoff));
    write_mu_.Unlock();
    NoteDamage(deleted.status());
    if (!deleted.ok()) return deleted.status();
    total += *deleted;
    if (*deleted < sql::kPruneChunk) return total;
  }
}

absl::StatusOr<int64_t> SqliteStore::PruneChunkLocked(int64_t cutoff_us) {
  int64_t deleted = 0;
  absl::Status s = InTransaction(*writer_, "BEGIN IMMEDIATE", [&]() -> absl::Status {
    absl::StatusOr<Stmt> stmt =
        Stmt::Make(*writer_,
                   "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_us < ?1"
                   " ORDER BY received_us LIMIT ?2)",
                   {cutoff_us, static_cast<int64_t>(sql::kPruneChunk)});
    if (!stmt.ok()) return stmt.status();
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    deleted = sqlite3_changes(writer_->db());
    // Kept conflicts age out like events (a few rows: no chunking), and so do package
    // inventories no report has mentioned since the cutoff (one row per image digest).
    for (const char* sql : {"DELETE FROM event_conflicts WHERE received_us < ?1",
                            "DELETE FROM image_packages WHERE last_seen_us < ?1"}) {
      absl::StatusOr<Stmt> stmt = Stmt::Make(*writer_, sql, {cutoff_us});
      if (!stmt.ok()) return stmt.status();
      if (absl::Status run = stmt->Run(); !run.ok()) return run;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return deleted;
}

int64_t SqliteStore::Count() {
  absl::StatusOr<int64_t> n =
      WithReader([](Conn& conn) { return QueryInt(conn, "SELECT COUNT(*) FROM events"); });
  return n.ok() ? *n : -1;
}

}  // namespace

absl::StatusOr<std::string> SqlitePathFromUrl(const std::string& url) {
  std::string path = url;
  if (url.rfind("sqlite://", 0) == 0) {
    path = url.substr(9);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          StrCat("store URL ", url, ": use sqlite:///absolute/path or sqlite:relative/path"));
    }
  } else if (url.rfind("sqlite:", 0) == 0) {
    path = url.substr(7);
  }
  if (path.empty()) return absl::InvalidArgumentError(StrCat("store URL ", url, ": no path"));
  return path;
}

absl::StatusOr<std::unique_ptr<EventStore>> OpenSqliteStore(const std::string& path,
                                                            StoreOptions options) {
  absl::StatusOr<std::unique_ptr<Conn>> writer = Conn::Open(path, /*writer=*/true);
  if (!writer.ok()) return writer.status();
  Conn& w = **writer;
  absl::StatusOr<Stmt> wal = Stmt::Make(w, "PRAGMA journal_mode = WAL", {});
  if (!wal.ok()) return wal.status();
  absl::StatusOr<bool> row = wal->Step();
  if (!row.ok()) return row.status();
  if (!*row || wal->Text(0) != "wal") {
    return absl::FailedPreconditionError(StrCat("sqlite ", path, ": cannot switch to WAL mode"));
  }
  (void)wal->Run();
  if (absl::Status s = CheckFile(w); !s.ok()) return s;
  if (absl::Status s = Migrate(w); !s.ok()) return s;
  absl::StatusOr<Stmt> key =
      Stmt::Make(w, "SELECT value FROM meta WHERE key = 'page_token_key'", {});
  if (!key.ok()) return key.status();
  row = key->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::DataLossError(StrCat("sqlite ", path, ": no page_token_key in meta"));
  std::string token_key = key->Text(0);
  return std::make_unique<SqliteStore>(path, std::move(*writer), std::move(token_key),
                                       std::move(options));
}

}  // namespace layerseal::controller
