// What the SQLite and PostgreSQL event stores share: the row an event becomes, the WHERE
// clause a filter becomes, page tokens, and the merge of per-(image, node) counts into
// image summaries. No database calls here.
//
// Thread-safety: pure functions and plain values.
#ifndef LAYERSEAL_CONTROLLER_SQL_STORE_H_
#define LAYERSEAL_CONTROLLER_SQL_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/event_store.h"
#include "layerseal/v1/controller.pb.h"

namespace layerseal::controller::sql {

// Schema versions: each backend keeps its own ordered list of migrations (SQL dialects
// differ); the version is the number applied, and a database claiming a newer version than
// the list is long is refused.

// Prune deletes at most this many events per transaction, so that an Append waits at
// most one chunk's delete.
inline constexpr int kPruneChunk = 5000;

// One bound value of a statement: an integer, text or bytes. (Not a std::variant: g++ 12
// warns maybe-uninitialized on braced lists of them.)
struct Param {
  Param(int64_t v) : is_int(true), i(v) {}   // NOLINT: implicit on purpose
  Param(int v) : is_int(true), i(v) {}       // NOLINT
  Param(std::string v) : s(std::move(v)) {}  // NOLINT
  Param(const char* v) : s(v) {}             // NOLINT
  static Param Blob(std::string v) {
    Param p(std::move(v));
    p.is_blob = true;
    return p;
  }
  bool is_int = false;
  bool is_blob = false;  // bytes (a serialized message), not UTF-8 text
  int64_t i = 0;
  std::string s;
};

// The filterable columns of one event, as stored.
struct EventRow {
  std::string node;
  std::string incarnation;  // Event.spool_incarnation ("": a legacy agent)
  int64_t seq = 0;  // uint64 bit-cast: SQL integers are signed
  int64_t time_us = 0;
  int64_t received_us = 0;
  int64_t kind = 0;
  std::string ns, pod, image, reference, digest, verdict, reason, mode;
  // Which signature admitted the image (issue 17): Verdict.key_id, signer_issuer and
  // signer_subject, the three values the `signer` filter matches.
  std::string key_id, signer_issuer, signer_subject;
  std::string body;  // the whole serialized v1::Event (received_unix_micros set)
};

// `event` with received_unix_micros set to `received_us`, as a row.
EventRow ToRow(const v1::Event& event, int64_t received_us);

// The columns of `ToRow` in this order (for INSERT statements).
inline constexpr const char* kEventColumns =
    "node, seq, time_us, received_us, kind, namespace, pod, image, reference, digest, "
    "verdict, reason, mode, body, incarnation, key_id, signer_issuer, signer_subject";
inline constexpr int kEventColumnCount = 18;
std::vector<Param> RowParams(const EventRow& row);

// "?n" (SQLite) or "$n" (PostgreSQL) for the n-th (1-based) statement parameter.
enum class Dialect { kSqlite, kPostgres };
std::string Placeholder(Dialect dialect, int n);
// The conditions of `filter` joined by AND ("" when it sets nothing); their values are
// appended to `params`, numbered after those already there.
// For SQLite the time conditions are written `+time_us` (no index on time_us: the caller
// bounds ids instead, see sqlite_store.cc). `signer` matches an event whose key_id,
// signer_issuer or signer_subject equals it (one parameter, three indexed columns).
std::string WhereClause(const v1::EventFilter& filter, Dialect dialect, std::vector<Param>& params);

// Page tokens: "c1" + the hex id the next page starts below + a hex MAC of (store key,
// filter, id). A token is valid only with the store (its random key) and filter it was
// made for; anything else is INVALID_ARGUMENT.
std::string MakePageToken(const std::string& store_key, const v1::EventFilter& filter,
                          int64_t before_id);
absl::StatusOr<int64_t> ParsePageToken(const std::string& store_key, const v1::EventFilter& filter,
                                       const std::string& token);

// page_size clamped to [1, kMaxPageSize], 0 meaning kDefaultPageSize.
int ClampPageSize(int page_size);

// Image summaries from rows of (image, node, allowed, denied, last_seen_us) grouped by
// image and node: most recently seen first, at most `limit` (last_digest left empty).
struct ImageNodeCounts {
  std::string image, node;
  int64_t allowed = 0, denied = 0, last_seen_us = 0;
  std::string last_digest;  // of the event seen last ("": the caller fills it in)
};
std::vector<v1::ImageSummary> MergeImageCounts(const std::vector<ImageNodeCounts>& rows, int limit);

// Whether a stored body (`stored_body`, as ToRow made it) holds the same event as
// `incoming` apart from received_unix_micros: a resend. False (a conflict) also when the
// stored body does not parse. Fields are compared, not bytes.
bool SameContent(const std::string& stored_body, const v1::Event& incoming);

// The name of an event's id in logs and errors: "node/incarnation/seq" ("-" for the legacy
// incarnation).
std::string IdentityName(const v1::Event& event);

// The signer columns of a stored body, for the migration that added them (rows stored
// before it have them ""): ToRow's key_id, signer_issuer and signer_subject. A body that
// does not parse, or an event without a verdict, gives "" for all three.
struct SignerColumns {
  std::string key_id, signer_issuer, signer_subject;
  bool empty() const { return key_id.empty() && signer_issuer.empty() && signer_subject.empty(); }
};
SignerColumns SignerColumnsOf(const void* body, size_t size);

// Rows whose signer columns the migration fills per statement round (both backends).
inline constexpr int kSignerBackfillChunk = 1000;

// ------------------------------------------------------------ package inventories (issue 18)

// One statement with its parameters.
struct Statement {
  std::string sql;
  std::vector<Param> params;
};

// What EventStore::PutPackages runs for one record, in order, in its transaction: an upsert
// that marks the digest seen (inserting the record when the digest is new), then an update
// that replaces another inventory (or, for an omission, an omission while no inventory is
// stored). Safe to repeat.
std::vector<Statement> PutPackagesStatements(Dialect dialect, const ImagePackagesRecord& record,
                                             int64_t received_us);

// The columns of an ImagePackagesRecord in its field order, from image_packages.
inline constexpr const char* kSelectPackages =
    "SELECT digest, attachment, packages, omitted_bytes, node, updated_us, last_seen_us"
    " FROM image_packages";
// The record of the digest in parameter 1, by the dialect's placeholder.
std::string GetPackagesSql(Dialect dialect);
// Every record (column 1, the attachment, left out: 0), most recently seen first, at most
// parameter 1 of them.
std::string ListPackagesSql(Dialect dialect);
// The package count of the digest in parameter 1 when an inventory (not an omission) is
// stored; no row otherwise.
std::string PackageCountSql(Dialect dialect);

// The body column back into an event; DATA_LOSS names the id when it does not parse.
absl::StatusOr<v1::Event> ParseBody(const void* data, size_t size, int64_t id);

}  // namespace layerseal::controller::sql

#endif  // LAYERSEAL_CONTROLLER_SQL_STORE_H_
