#include "controller/postgres_store.h"

#include <endian.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "controller/sql_store.h"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

using sql::Param;

// Advisory lock keys (arbitrary, fixed): one serializes migrations between controllers
// opening the same database, the other serializes Appends (see Append).
constexpr int64_t kMigrateLock = 0x6c736d6967;  // "lsmig"
constexpr int64_t kAppendLock = 0x6c73617070;   // "lsapp"

// Migration n (1-based) brings the schema from version n-1 to n; as in sqlite_store.cc,
// in PostgreSQL's types. Append only.
const std::vector<std::vector<const char*>>& PostgresMigrations() {
  static const auto* migrations = new std::vector<std::vector<const char*>>{
      // 1: events and nodes.
      {"CREATE TABLE events ("
       " id BIGSERIAL PRIMARY KEY,"  // the page token and follow cursor
       " node TEXT NOT NULL, seq BIGINT NOT NULL,"
       " time_us BIGINT NOT NULL, received_us BIGINT NOT NULL, kind INTEGER NOT NULL,"
       " namespace TEXT NOT NULL, pod TEXT NOT NULL, image TEXT NOT NULL,"
       " reference TEXT NOT NULL, digest TEXT NOT NULL, verdict TEXT NOT NULL,"
       " reason TEXT NOT NULL, mode TEXT NOT NULL, body BYTEA NOT NULL,"
       " UNIQUE (node, seq))",
       "CREATE INDEX events_received ON events (received_us)",
       "CREATE TABLE nodes (node TEXT PRIMARY KEY, last_seen_us BIGINT NOT NULL,"
       " status BYTEA NOT NULL, events BIGINT NOT NULL, denied BIGINT NOT NULL,"
       " last_seq BIGINT NOT NULL)"},
      // 2: an index per filter, each ending in id so that `col = $1 ORDER BY id DESC
      // LIMIT n` reads the index backwards without a sort; the page-token key.
      {"CREATE INDEX events_node ON events (node, id)",
       "CREATE INDEX events_namespace ON events (namespace, id)",
       "CREATE INDEX events_pod ON events (pod, id)",
       "CREATE INDEX events_image ON events (image, id)",
       "CREATE INDEX events_reference ON events (reference, id)",
       "CREATE INDEX events_digest ON events (digest, id)",
       "CREATE INDEX events_verdict ON events (verdict, id)",
       "CREATE INDEX events_reason ON events (reason, id)",
       "CREATE INDEX events_mode ON events (mode, id)",
       "CREATE INDEX events_time ON events (time_us)",
       "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
       "INSERT INTO meta (key, value) VALUES"
       " ('page_token_key', md5(random()::text || clock_timestamp()::text))"},
      // 3: an event's id becomes (node, incarnation, seq) (issue 14.6; sqlite_store.cc's
      // migration 4); old rows get the legacy incarnation "". Conflicts (an id stored with
      // other content) go to event_conflicts instead of being dropped as duplicates.
      {"ALTER TABLE events ADD COLUMN incarnation TEXT NOT NULL DEFAULT ''",
       "ALTER TABLE events DROP CONSTRAINT events_node_seq_key",
       "ALTER TABLE events ADD CONSTRAINT events_identity UNIQUE (node, incarnation, seq)",
       "CREATE TABLE event_conflicts (id BIGSERIAL PRIMARY KEY,"
       " node TEXT NOT NULL, incarnation TEXT NOT NULL, seq BIGINT NOT NULL,"
       " received_us BIGINT NOT NULL, body BYTEA NOT NULL)",
       "CREATE INDEX event_conflicts_identity ON event_conflicts (node, incarnation, seq)"},
      // 4: which signature admitted an image (issue 17; sqlite_store.cc's migration 5): the
      // columns the `signer` filter matches, with an index each. Rows stored before are
      // filled from their bodies by BackfillSigners after these statements; none is lost.
      {"ALTER TABLE events ADD COLUMN key_id TEXT NOT NULL DEFAULT ''",
       "ALTER TABLE events ADD COLUMN signer_issuer TEXT NOT NULL DEFAULT ''",
       "ALTER TABLE events ADD COLUMN signer_subject TEXT NOT NULL DEFAULT ''",
       "CREATE INDEX events_key_id ON events (key_id, id)",
       "CREATE INDEX events_signer_issuer ON events (signer_issuer, id)",
       "CREATE INDEX events_signer_subject ON events (signer_subject, id)"},
      // 5: package inventories (issue 18; sqlite_store.cc's migration 6), one row per image
      // digest. No event row changes.
      {"CREATE TABLE image_packages (digest TEXT PRIMARY KEY, attachment BYTEA NOT NULL,"
       " packages BIGINT NOT NULL, omitted_bytes BIGINT NOT NULL, node TEXT NOT NULL,"
       " updated_us BIGINT NOT NULL, last_seen_us BIGINT NOT NULL)",
       "CREATE INDEX image_packages_last_seen ON image_packages (last_seen_us)"},
  };
  return *migrations;
}

// The migration after whose statements BackfillSigners runs (in the same transaction).
constexpr size_t kPostgresSignerColumnsMigration = 4;

// A result, cleared on destruction. Results are requested in binary format.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  Result(Result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  Result& operator=(Result&&) = delete;
  ~Result() { PQclear(r_); }

  PGresult* raw() const { return r_; }
  int rows() const { return PQntuples(r_); }
  int64_t affected() const { return std::atoll(PQcmdTuples(r_)); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string Bytes(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  // A binary smallint, integer or bigint; 0 for NULL.
  int64_t Int(int row, int col) const {
    if (null(row, col)) return 0;
    const char* p = PQgetvalue(r_, row, col);
    switch (PQgetlength(r_, row, col)) {
      case 2: {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return static_cast<int16_t>(be16toh(v));
      }
      case 4: {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return static_cast<int32_t>(be32toh(v));
      }
      case 8: {
        uint64_t v;
        std::memcpy(&v, p, 8);
        return static_cast<int64_t>(be64toh(v));
      }
      default:
        return 0;
    }
  }

 private:
  PGresult* r_;
};

absl::StatusCode CodeOf(PGconn* conn, const char* sqlstate) {
  if (PQstatus(conn) == CONNECTION_BAD) return absl::StatusCode::kUnavailable;
  std::string state = sqlstate != nullptr ? sqlstate : "";
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
    return absl::StatusCode::kUnavailable;  // connection exception, server shutting down
  }
  if (state.rfind("53", 0) == 0) return absl::StatusCode::kResourceExhausted;
  if (state.rfind("22", 0) == 0) return absl::StatusCode::kInvalidArgument;  // data exception
  if (state.rfind("40", 0) == 0) return absl::StatusCode::kAborted;
  return absl::StatusCode::kInternal;
}

// "host:port/db" of a connection: names the server in errors without the URL's password.
std::string Where(PGconn* conn) {
  auto s = [](const char* p) { return std::string(p != nullptr ? p : "?"); };
  return StrCat(s(PQhost(conn)), ":", s(PQport(conn)), "/", s(PQdb(conn)));
}

std::string FirstLine(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// Runs one parameterized statement; integers go as text, blobs as binary, results come
// back binary.
absl::StatusOr<Result> Exec(PGconn* conn, const std::string& sql,
                            const std::vector<Param>& params = {}) {
  std::vector<std::string> ints(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (p.is_int) {
      ints[i] = std::to_string(p.i);
      values[i] = ints[i].c_str();
    } else {
      // libpq reads text parameters up to their NUL, and PostgreSQL text cannot hold one.
      if (!p.is_blob && p.s.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(
            StrCat("postgres ", Where(conn), ": parameter ", i + 1, " holds a NUL byte"));
      }
      values[i] = p.s.c_str();
      lengths[i] = static_cast<int>(p.s.size());
      formats[i] = p.is_blob ? 1 : 0;
    }
  }
  Result r(PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                        lengths.data(), formats.data(), /*resultFormat=*/1));
  ExecStatusType st = PQresultStatus(r.raw());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  const char* state = PQresultErrorField(r.raw(), PG_DIAG_SQLSTATE);
  std::string msg =
      FirstLine(r.raw() != nullptr ? PQresultErrorMessage(r.raw()) : PQerrorMessage(conn));
  if (msg.empty()) msg = FirstLine(PQerrorMessage(conn));
  return absl::Status(CodeOf(conn, state),
                      StrCat("postgres ", Where(conn), ": ", sql.substr(0, 80), ": ", msg));
}

// Runs `body` between BEGIN (`begin`) and COMMIT; rolls back when it fails.
template <typename F>
absl::Status InTransaction(PGconn* conn, const char* begin, F body) {
  if (absl::StatusOr<Result> r = Exec(conn, begin); !r.ok()) return r.status();
  absl::Status s = body();
  if (s.ok()) s = Exec(conn, "COMMIT").status();
  if (!s.ok() && PQstatus(conn) == CONNECTION_OK) (void)Exec(conn, "ROLLBACK");
  return s;
}

absl::StatusOr<int64_t> QueryInt(PGconn* conn, const std::string& sql,
                                 const std::vector<Param>& params = {}) {
  absl::StatusOr<Result> r = Exec(conn, sql, params);
  if (!r.ok()) return r.status();
  return r->rows() > 0 ? r->Int(0, 0) : 0;
}

// Fills the signer columns of the rows stored before migration 4 from their bodies (an
// agent newer than the controller may have sent the fields before it knew them: the body
// kept them), kSignerBackfillChunk rows a round, ids ascending.
absl::Status BackfillSigners(PGconn* conn) {
  int64_t after = 0;
  for (;;) {
    absl::StatusOr<Result> rows =
        Exec(conn, "SELECT id, body FROM events WHERE id > $1 ORDER BY id LIMIT $2",
             {after, sql::kSignerBackfillChunk});
    if (!rows.ok()) return rows.status();
    // One UPDATE a round, from a VALUES list of the rows that have a signer.
    std::vector<Param> params;
    std::string values;
    for (int i = 0; i < rows->rows(); ++i) {
      after = rows->Int(i, 0);
      std::string body = rows->Bytes(i, 1);
      sql::SignerColumns c = sql::SignerColumnsOf(body.data(), body.size());
      if (c.empty()) continue;
      size_t n = params.size();
      values += StrCat(values.empty() ? "" : ", ", "($", n + 1, "::bigint, $", n + 2, ", $", n + 3,
                       ", $", n + 4, ")");
      params.insert(params.end(), {after, c.key_id, c.signer_issuer, c.signer_subject});
    }
    if (!values.empty()) {
      absl::StatusOr<Result> update = Exec(
          conn, StrCat("UPDATE events AS e SET key_id = v.k, signer_issuer = v.i,"
                       " signer_subject = v.s FROM (VALUES ",
                       values, ") AS v (id, k, i, s) WHERE e.id = v.id"),
          params);
      if (!update.ok()) return update.status();
    }
    if (rows->rows() < sql::kSignerBackfillChunk) return absl::OkStatus();
  }
}

absl::Status Migrate(PGconn* conn) {
  return InTransaction(conn, "BEGIN", [&]() -> absl::Status {
    for (const char* sql :
         {"SELECT pg_advisory_xact_lock($1)",
          "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"}) {
      std::vector<Param> params;
      if (std::strchr(sql, '$') != nullptr) params.push_back(kMigrateLock);
      if (absl::StatusOr<Result> r = Exec(conn, sql, params); !r.ok()) return r.status();
    }
    absl::StatusOr<int64_t> version = QueryInt(conn, "SELECT MAX(version) FROM schema_version");
    if (!version.ok()) return version.status();
    const auto& migrations = PostgresMigrations();
    if (*version > static_cast<int64_t>(migrations.size())) {
      return absl::FailedPreconditionError(StrCat("postgres ", Where(conn), ": schema version ",
                                                  *version,
                                                  " is newer than this controller knows (",
                                                  migrations.size(), "): upgrade the controller"));
    }
    for (size_t v = static_cast<size_t>(*version); v < migrations.size(); ++v) {
      for (const char* statement : migrations[v]) {
        if (absl::StatusOr<Result> r = Exec(conn, statement); !r.ok()) {
          return absl::Status(r.status().code(),
                              StrCat("migration ", v + 1, ": ", Sv(r.status().message())));
        }
      }
      if (v + 1 == kPostgresSignerColumnsMigration) {
        if (absl::Status s = BackfillSigners(conn); !s.ok()) {
          return absl::Status(s.code(), StrCat("migration ", v + 1, ": ", Sv(s.message())));
        }
      }
    }
    if (absl::StatusOr<Result> r = Exec(conn, "DELETE FROM schema_version"); !r.ok()) {
      return r.status();
    }
    return Exec(conn, "INSERT INTO schema_version (version) VALUES ($1)",
                {static_cast<int64_t>(migrations.size())})
        .status();
  });
}

// A new connection; UNAVAILABLE (naming the server) when it cannot be made.
absl::StatusOr<PGconn*> Connect(const std::string& url) {
  // Our defaults first: a value in the URL itself comes later and wins. Keepalives and
  // tcp_user_timeout bound how long a call waits on a server that vanished without closing
  // the connection (a host gone, a network cut); a closed port fails at once.
  std::string timeout = std::to_string(kPostgresConnectTimeoutSeconds);
  const char* keys[] = {"connect_timeout",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* values[] = {timeout.c_str(), "10", "5", "3", "15000", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  // Not to stderr: "relation ... already exists, skipping" on every open is noise.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(
        StrCat("postgres ", Where(conn), ": connect: ", FirstLine(PQerrorMessage(conn))));
    PQfinish(conn);
    return s;
  }
  return conn;
}

class PostgresStore : public EventStore {
 public:
  PostgresStore(std::string url, PGconn* first, std::string token_key)
      : url_(std::move(url)), token_key_(std::move(token_key)) {
    idle_.push_back(first);
    open_ = 1;
  }
  ~PostgresStore() override {
    for (PGconn* c : idle_) PQfinish(c);
  }

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

 private:
  // Runs `f(PGconn*)` -> absl::Status on a pooled connection. A connection found broken is
  // reset first; when `f` fails because the connection broke (a server restart), it is reset
  // and `f` runs once more: every `f` here is safe to repeat (Append is idempotent).
  template <typename F>
  absl::Status WithConn(F f);
  absl::StatusOr<PGconn*> Acquire();
  void Release(PGconn* conn);
  absl::Status AppendTx(PGconn* conn, const std::string& node, const v1::AgentStatus& status,
                        const std::vector<v1::Event>& events, int64_t received_us,
                        AppendResult& result);
  // For an event whose id is stored already (in AppendTx's transaction): a duplicate when
  // the stored copy (or a kept conflict) has the same content, else kept in
  // event_conflicts and counted a conflict.
  absl::Status SortOutExisting(PGconn* conn, const v1::Event& event, int64_t received_us,
                               AppendResult& result);
  absl::StatusOr<std::vector<v1::Event>> Events(const Result& r);

  const std::string url_;
  const std::string token_key_;
  absl::Mutex mu_;
  std::vector<PGconn*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<PGconn*> PostgresStore::Acquire() {
  PGconn* conn = nullptr;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](PostgresStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
          return !s->idle_.empty() || s->open_ < kMaxPostgresConnections;
        },
        this));
    if (!idle_.empty()) {
      conn = idle_.back();
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (conn == nullptr) {
    absl::StatusOr<PGconn*> made = Connect(url_);
    if (!made.ok()) {
      absl::MutexLock lock(&mu_);
      --open_;
      return made.status();
    }
    return *made;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    PQreset(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
      absl::Status s = absl::UnavailableError(
          StrCat("postgres ", Where(conn), ": reconnect: ", FirstLine(PQerrorMessage(conn))));
      Release(conn);  // kept (broken) for the next try
      return s;
    }
  }
  return conn;
}

void PostgresStore::Release(PGconn* conn) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(conn);
}

template <typename F>
absl::Status PostgresStore::WithConn(F f) {
  absl::StatusOr<PGconn*> conn = Acquire();
  if (!conn.ok()) return conn.status();
  absl::Status s = f(*conn);
  if (!s.ok() && PQstatus(*conn) == CONNECTION_BAD) {
    PQreset(*conn);
    if (PQstatus(*conn) == CONNECTION_OK) s = f(*conn);
  }
  Release(*conn);
  return s;
}

absl::StatusOr<std::vector<v1::Event>> PostgresStore::Events(const Result& r) {
  std::vector<v1::Event> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    std::string body = r.Bytes(i, 1);
    absl::StatusOr<v1::Event> e = sql::ParseBody(body.data(), body.size(), r.Int(i, 0));
    if (!e.ok()) return e.status();
    out.push_back(std::move(*e));
  }
  return out;
}

absl::StatusOr<AppendResult> PostgresStore::Append(const std::string& node,
                                                   const v1::AgentStatus& status,
                                                   const std::vector<v1::Event>& events,
                                                   absl::Time received) {
  AppendResult result;
  absl::Status s = WithConn([&](PGconn* conn) {
    result = AppendResult();
    return InTransaction(conn, "BEGIN", [&] {
      return AppendTx(conn, node, status, events, absl::ToUnixMicros(received), result);
    });
  });
  if (!s.ok()) return s;
  return result;
}

absl::Status PostgresStore::AppendTx(PGconn* conn, const std::string& node,
                                     const v1::AgentStatus& status,
                                     const std::vector<v1::Event>& events, int64_t received_us,
                                     AppendResult& result) {
  // Appends one at a time: ids are taken under this lock and it is held to commit, so ids
  // become visible in increasing order and a follower's cursor never passes an id that
  // commits later.
  if (absl::StatusOr<Result> r = Exec(conn, "SELECT pg_advisory_xact_lock($1)", {kAppendLock});
      !r.ok()) {
    return r.status();
  }
  int64_t denied = 0, last_seq = 0;
  for (size_t start = 0; start < events.size(); start += kPostgresInsertRows) {
    size_t end = std::min(events.size(), start + kPostgresInsertRows);
    std::vector<Param> params;
    std::string sql = StrCat("INSERT INTO events (", sql::kEventColumns, ") VALUES ");
    for (size_t i = start; i < end; ++i) {
      sql::EventRow row = sql::ToRow(events[i], received_us);
      last_seq = std::max(last_seq, row.seq);
      sql += i == start ? "(" : ", (";
      for (int c = 0; c < sql::kEventColumnCount; ++c) {
        sql += StrCat(
            c == 0 ? "" : ", ",
            sql::Placeholder(sql::Dialect::kPostgres, static_cast<int>(params.size()) + c + 1));
      }
      sql += ")";
      std::vector<Param> row_params = sql::RowParams(row);
      params.insert(params.end(), std::make_move_iterator(row_params.begin()),
                    std::make_move_iterator(row_params.end()));
    }
    sql += " ON CONFLICT (node, incarnation, seq) DO NOTHING RETURNING verdict, incarnation, seq";
    absl::StatusOr<Result> r = Exec(conn, sql, params);
    if (!r.ok()) return r.status();
    result.stored += r->rows();
    std::set<std::pair<std::string, int64_t>> inserted;
    for (int i = 0; i < r->rows(); ++i) {
      denied += r->Bytes(i, 0) == "DENY";
      inserted.emplace(r->Bytes(i, 1), r->Int(i, 2));
    }
    for (size_t i = start; i < end; ++i) {
      // Each inserted id once; the rest (also a second copy within the batch) were there.
      if (inserted.erase({events[i].spool_incarnation(), static_cast<int64_t>(events[i].seq())})) {
        continue;
      }
      if (absl::Status s = SortOutExisting(conn, events[i], received_us, result); !s.ok()) {
        return s;
      }
    }
  }
  return Exec(conn,
              "INSERT INTO nodes (node, last_seen_us, status, events, denied, last_seq)"
              " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node) DO UPDATE SET"
              " last_seen_us = excluded.last_seen_us, status = excluded.status,"
              " events = nodes.events + excluded.events,"
              " denied = nodes.denied + excluded.denied,"
              " last_seq = GREATEST(nodes.last_seq, excluded.last_seq)",
              {node, received_us, Param::Blob(status.SerializeAsString()),
               static_cast<int64_t>(result.stored), denied, last_seq})
      .status();
}

absl::Status PostgresStore::SortOutExisting(PGconn* conn, const v1::Event& event,
                                            int64_t received_us, AppendResult& result) {
  sql::EventRow row = sql::ToRow(event, received_us);
  absl::StatusOr<Result> r = Exec(conn,
                                  "SELECT body FROM events WHERE node = $1 AND incarnation = $2"
                                  " AND seq = $3 UNION ALL SELECT body FROM event_conflicts"
                                  " WHERE node = $1 AND incarnation = $2 AND seq = $3",
                                  {row.node, row.incarnation, row.seq});
  if (!r.ok()) return r.status();
  for (int i = 0; i < r->rows(); ++i) {
    if (sql::SameContent(r->Bytes(i, 0), event)) {
      ++result.duplicates;
      return absl::OkStatus();
    }
  }
  absl::StatusOr<Result> kept =
      Exec(conn,
           "INSERT INTO event_conflicts (node, incarnation, seq, received_us, body)"
           " VALUES ($1, $2, $3, $4, $5)",
           {row.node, row.incarnation, row.seq, row.received_us, Param::Blob(row.body)});
  if (!kept.ok()) return kept.status();
  ++result.conflicts;
  if (result.conflict_names.size() < kMaxConflictNames) {
    result.conflict_names.push_back(sql::IdentityName(event));
  }
  return absl::OkStatus();
}

absl::StatusOr<EventPage> PostgresStore::Query(const v1::EventFilter& filter, int page_size,
                                               const std::string& page_token) {
  int size = sql::ClampPageSize(page_size);
  std::vector<Param> params;
  std::string where = sql::WhereClause(filter, sql::Dialect::kPostgres, params);
  if (!page_token.empty()) {
    absl::StatusOr<int64_t> before = sql::ParsePageToken(token_key_, filter, page_token);
    if (!before.ok()) return before.status();
    params.push_back(*before);
    where += StrCat(where.empty() ? "" : " AND ", "id < $", params.size());
  }
  params.push_back(static_cast<int64_t>(size) + 1);  // one more: is there a next page?
  std::string sql = StrCat("SELECT id, body FROM events", where.empty() ? "" : " WHERE ", where,
                           " ORDER BY id DESC LIMIT $", params.size());
  EventPage page;
  absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
    absl::StatusOr<Result> r = Exec(conn, sql, params);
    if (!r.ok()) return r.status();
    absl::StatusOr<std::vector<v1::Event>> events = Events(*r);
    if (!events.ok()) return events.status();
    page.events = std::move(*events);
    page.next_page_token.clear();
    if (static_cast<int>(page.events.size()) > size) {
      page.events.resize(static_cast<size_t>(size));
      page.next_page_token = sql::MakePageToken(token_key_, filter, r->Int(size - 1, 0));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<int64_t> PostgresStore::LatestCursor() {
  int64_t latest = 0;
  absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
    absl::StatusOr<int64_t> v = QueryInt(conn, "SELECT MAX(id) FROM events");
    if (!v.ok()) return v.status();
    latest = *v;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return latest;
}

absl::StatusOr<std::vector<v1::Event>> PostgresStore::After(const v1::EventFilter& filter,
                                                            int64_t* cursor, int limit) {
  limit = sql::ClampPageSize(limit);
  std::vector<Param> params;
  std::string where = sql::WhereClause(filter, sql::Dialect::kPostgres, params);
  params.push_back(*cursor);
  params.push_back(int64_t{0});  // the newest id, set below
  params.push_back(static_cast<int64_t>(limit));
  size_t n = params.size();
  std::string sql =
      StrCat("SELECT id, body FROM events WHERE ", where, where.empty() ? "" : " AND ", "id > $",
             n - 2, " AND id <= $", n - 1, " ORDER BY id LIMIT $", n);
  std::vector<v1::Event> out;
  int64_t next = *cursor;
  absl::Status s = WithConn([&](PGconn* conn) {
    // One snapshot: the newest id and the rows up to it.
    return InTransaction(
        conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&]() -> absl::Status {
          absl::StatusOr<int64_t> newest = QueryInt(conn, "SELECT MAX(id) FROM events");
          if (!newest.ok()) return newest.status();
          params[n - 2] = *newest;
          absl::StatusOr<Result> r = Exec(conn, sql, params);
          if (!r.ok()) return r.status();
          absl::StatusOr<std::vector<v1::Event>> events = Events(*r);
          if (!events.ok()) return events.status();
          out = std::move(*events);
          next = *cursor;
          if (r->rows() > 0) next = r->Int(r->rows() - 1, 0);
          // Fewer than `limit` matched: every row up to the newest was seen.
          if (r->rows() < limit) next = std::max(next, *newest);
          return absl::OkStatus();
        });
  });
  if (!s.ok()) return s;
  *cursor = next;
  return out;
}

absl::StatusOr<std::vector<v1::NodeSummary>> PostgresStore::Nodes() {
  std::vector<v1::NodeSummary> out;
  absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
    absl::StatusOr<Result> r = Exec(
        conn,
        "SELECT node, last_seen_us, status, events, denied, last_seq FROM nodes ORDER BY node");
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) {
      v1::NodeSummary n;
      n.set_node(r->Bytes(i, 0));
      n.set_last_seen_unix_micros(r->Int(i, 1));
      if (!n.mutable_status()->ParseFromString(r->Bytes(i, 2))) {
        return absl::DataLossError(
            StrCat("postgres ", Where(conn), ": nodes row ", n.node(), ": status does not parse"));
      }
      n.set_events(static_cast<uint64_t>(r->Int(i, 3)));
      n.set_denied(static_cast<uint64_t>(r->Int(i, 4)));
      n.set_last_seq(static_cast<uint64_t>(r->Int(i, 5)));
      out.push_back(std::move(n));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::ImageSummary>> PostgresStore::Images(absl::Time since, int limit) {
  limit = sql::ClampPageSize(limit);
  int64_t since_us = since == absl::InfinitePast() ? 0 : absl::ToUnixMicros(since);
  const int64_t verdict_kind = v1::Event::VERDICT;
  std::vector<v1::ImageSummary> out;
  absl::Status s = WithConn([&](PGconn* conn) {
    return InTransaction(
        conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&]() -> absl::Status {
          absl::StatusOr<Result> r =
              Exec(conn,
                   "SELECT image, node, SUM(CASE WHEN verdict = 'ALLOW' THEN 1 ELSE 0 END)::bigint,"
                   " SUM(CASE WHEN verdict = 'DENY' THEN 1 ELSE 0 END)::bigint, MAX(time_us)"
                   " FROM events WHERE kind = $1 AND time_us >= $2 GROUP BY image, node",
                   {verdict_kind, since_us});
          if (!r.ok()) return r.status();
          std::vector<sql::ImageNodeCounts> rows;
          for (int i = 0; i < r->rows(); ++i) {
            rows.push_back(
                {r->Bytes(i, 0), r->Bytes(i, 1), r->Int(i, 2), r->Int(i, 3), r->Int(i, 4)});
          }
          out = sql::MergeImageCounts(rows, limit);
          for (v1::ImageSummary& image : out) {
            absl::StatusOr<Result> last =
                Exec(conn,
                     "SELECT digest FROM events WHERE image = $1 AND kind = $2 AND time_us >= $3"
                     " ORDER BY time_us DESC, id DESC LIMIT 1",
                     {image.image(), verdict_kind, since_us});
            if (!last.ok()) return last.status();
            if (last->rows() > 0) image.set_last_digest(last->Bytes(0, 0));
            if (image.last_digest().empty()) continue;
            absl::StatusOr<Result> inv = Exec(conn, sql::PackageCountSql(sql::Dialect::kPostgres),
                                              {image.last_digest()});
            if (!inv.ok()) return inv.status();
            if (inv->rows() > 0) {  // the inventory of the last digest (issue 18)
              image.set_has_packages(true);
              image.set_packages(static_cast<uint64_t>(inv->Int(0, 0)));
            }
          }
          return absl::OkStatus();
        });
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> PostgresStore::Prune(absl::Time cutoff) {
  int64_t cutoff_us = absl::ToUnixMicros(cutoff);
  int64_t total = 0;
  for (;;) {
    // One chunk per statement (its own transaction), so no lock is held for long.
    int64_t deleted = 0;
    absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
      absl::StatusOr<Result> r =
          Exec(conn,
               "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_us < $1"
               " ORDER BY received_us LIMIT $2)",
               {cutoff_us, static_cast<int64_t>(sql::kPruneChunk)});
      if (!r.ok()) return r.status();
      deleted = r->affected();
      // Kept conflicts age out like events (a few rows: no chunking), and so do package
      // inventories no report has mentioned since the cutoff (one row per image digest).
      if (absl::StatusOr<Result> c =
              Exec(conn, "DELETE FROM event_conflicts WHERE received_us < $1", {cutoff_us});
          !c.ok()) {
        return c.status();
      }
      return Exec(conn, "DELETE FROM image_packages WHERE last_seen_us < $1", {cutoff_us})
          .status();
    });
    if (!s.ok()) return s;
    total += deleted;
    if (deleted < sql::kPruneChunk) return total;
  }
}

absl::Status PostgresStore::PutPackages(const std::vector<ImagePackagesRecord>& records,
                                        absl::Time received) {
  if (records.empty()) return absl::OkStatus();
  const int64_t received_us = absl::ToUnixMicros(received);
  return WithConn([&](PGconn* conn) {
    return InTransaction(conn, "BEGIN", [&]() -> absl::Status {
      for (const ImagePackagesRecord& r : records) {
        for (const sql::Statement& st :
             sql::PutPackagesStatements(sql::Dialect::kPostgres, r, received_us)) {
          if (absl::StatusOr<Result> res = Exec(conn, st.sql, st.params); !res.ok()) {
            return res.status();
          }
        }
      }
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<ImagePackagesRecord> PostgresStore::GetPackages(const std::string& digest) {
  ImagePackagesRecord out;
  bool found = false;
  absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
    absl::StatusOr<Result> r = Exec(conn, sql::GetPackagesSql(sql::Dialect::kPostgres), {digest});
    if (!r.ok()) return r.status();
    found = r->rows() > 0;
    if (found) {
      out = {r->Bytes(0, 0), r->Bytes(0, 1), r->Int(0, 2), r->Int(0, 3),
             r->Bytes(0, 4), r->Int(0, 5),   r->Int(0, 6)};
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return absl::NotFoundError(NoInventoryMessage(digest));
  return out;
}

absl::StatusOr<std::vector<ImagePackagesRecord>> PostgresStore::ListPackages(int limit) {
  limit = sql::ClampPageSize(limit);
  std::vector<ImagePackagesRecord> out;
  absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
    out.clear();
    absl::StatusOr<Result> r = Exec(conn, sql::ListPackagesSql(sql::Dialect::kPostgres),
                                    {static_cast<int64_t>(limit)});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back({r->Bytes(i, 0), "", r->Int(i, 2), r->Int(i, 3), r->Bytes(i, 4), r->Int(i, 5),
                     r->Int(i, 6)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

int64_t PostgresStore::Count() {
  int64_t n = -1;
  absl::Status s = WithConn([&](PGconn* conn) -> absl::Status {
    absl::StatusOr<int64_t> v = QueryInt(conn, "SELECT COUNT(*) FROM events");
    if (!v.ok()) return v.status();
    n = *v;
    return absl::OkStatus();
  });
  return s.ok() ? n : -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventStore>> OpenPostgresStore(const std::string& url) {
  absl::StatusOr<PGconn*> conn = Connect(url);
  if (!conn.ok()) return conn.status();
  absl::Status s = Migrate(*conn);
  absl::StatusOr<Result> key =
      s.ok() ? Exec(*conn, "SELECT value FROM meta WHERE key = 'page_token_key'")
             : absl::StatusOr<Result>(s);
  if (key.ok() && key->rows() != 1) {
    key = absl::DataLossError(StrCat("postgres ", Where(*conn), ": no page_token_key in meta"));
  }
  if (!key.ok()) {
    PQfinish(*conn);
    return key.status();
  }
  return std::make_unique<PostgresStore>(url, *conn, key->Bytes(0, 0));
}

}  // namespace layerseal::controller
