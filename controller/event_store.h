// Where the controller keeps events: one interface, two backends chosen by a URL
// (docs/controller.md): SQLite (the embedded default, WAL) and PostgreSQL (libpq).
// Both version their schema and migrate it forward on open.
//
// Thread-safety: every method may be called concurrently from the gRPC and HTTP threads.
// Ownership: OpenEventStore's caller owns the store; it must outlive every call.
#ifndef LAYERSEAL_CONTROLLER_EVENT_STORE_H_
#define LAYERSEAL_CONTROLLER_EVENT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "layerseal/v1/controller.pb.h"

namespace layerseal::controller {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

struct AppendResult {
  int stored = 0;      // new events
  int duplicates = 0;  // ids (node, incarnation, seq) already stored with the same content
                       // (a resend): skipped, the stored copy kept
  // Ids already stored with different content (e.g. an agent of before the incarnation
  // field that lost its state and numbers from 1 again): each kept in the event_conflicts
  // table, never counted as a duplicate. Their names (sql::IdentityName), at most
  // kMaxConflictNames of them, for the error log.
  int conflicts = 0;
  std::vector<std::string> conflict_names;
};

// A batch names at most this many conflicting ids in AppendResult (the count is exact).
inline constexpr size_t kMaxConflictNames = 20;

struct EventPage {
  std::vector<v1::Event> events;  // newest stored first
  std::string next_page_token;    // "": no more
};

// One image digest's package inventory (issue 18), as the store keeps it: one row per
// digest, however many events and nodes reported it.
struct ImagePackagesRecord {
  std::string digest;      // the image (manifest) digest: the key
  // The "layerseal.packages/v1" document as the agent sent it, validated by the caller
  // (ParsePackagesAttachment) and naming `digest`; "" when only an omission is recorded.
  std::string attachment;
  int64_t packages = 0;       // how many packages `attachment` lists
  int64_t omitted_bytes = 0;  // the agent built an inventory this large but did not send it
  std::string node;           // the node whose report stored this version
  // Set by the store: when this version was stored, and the last report carrying it (or,
  // for an omission, any report about the digest); the controller's clock.
  int64_t updated_us = 0;
  int64_t last_seen_us = 0;
};

// "no package inventory stored for image <digest>": GetPackages' NOT_FOUND message.
std::string NoInventoryMessage(const std::string& digest);

class EventStore {
 public:
  virtual ~EventStore() = default;

  // In one transaction: stores every event of `events` whose id is new (setting its
  // received_unix_micros to `received`), keeps aside those whose id is stored with other
  // content (conflicts), and records `status` and `received` as the node's
  // last report. The caller has validated the batch (all events are for `node`). All or
  // nothing: on error nothing of the batch is stored.
  virtual absl::StatusOr<AppendResult> Append(const std::string& node, const v1::AgentStatus& status,
                                              const std::vector<v1::Event>& events,
                                              absl::Time received) = 0;

  // Events matching `filter`, newest stored first. `page_size` is clamped to
  // [1, kMaxPageSize] (0: kDefaultPageSize). A page token this store did not hand out is
  // INVALID_ARGUMENT.
  virtual absl::StatusOr<EventPage> Query(const v1::EventFilter& filter, int page_size,
                                          const std::string& page_token) = 0;

  // For following: the cursor of the newest stored event (0 when empty), and the events
  // matching `filter` stored after `*cursor`, oldest first, at most `limit`; `*cursor`
  // advances past every event examined, matching or not.
  virtual absl::StatusOr<int64_t> LatestCursor() = 0;
  virtual absl::StatusOr<std::vector<v1::Event>> After(const v1::EventFilter& filter,
                                                       int64_t* cursor, int limit) = 0;

  // One summary per node that ever reported, sorted by node name.
  virtual absl::StatusOr<std::vector<v1::NodeSummary>> Nodes() = 0;
  // VERDICT events grouped by image, most recently seen first, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::ImageSummary>> Images(absl::Time since, int limit) = 0;

  // Package inventories (issue 18), in one transaction: each record's digest is marked seen
  // at `received`; its inventory is stored when the digest has none, or has another one
  // (the newest report wins: the inventory depends on the agent's policy, which names the
  // base); an identical one is not stored again. An omission (attachment "") is recorded
  // only while the digest has no inventory. All or nothing. Idempotent: the caller stores
  // them before the events that carried them, so a failure between the two is repaired by
  // the agent's resend.
  virtual absl::Status PutPackages(const std::vector<ImagePackagesRecord>& records,
                                   absl::Time received) {
    (void)records;
    (void)received;
    return absl::UnimplementedError("this event store keeps no package inventories");
  }
  // The record of `digest`; NOT_FOUND when there is none.
  virtual absl::StatusOr<ImagePackagesRecord> GetPackages(const std::string& digest) {
    return absl::NotFoundError(NoInventoryMessage(digest));
  }
  // Every digest's record without its attachment, most recently seen first, at most
  // `limit` (clamped to [1, kMaxPageSize], 0: kDefaultPageSize).
  virtual absl::StatusOr<std::vector<ImagePackagesRecord>> ListPackages(int limit) {
    (void)limit;
    return std::vector<ImagePackagesRecord>();
  }

  // Deletes events received before `cutoff` (the controller's clock, so a node with a
  // wrong clock can neither keep events forever nor lose them early), and the package
  // inventories last seen before it. Returns how many events.
  virtual absl::StatusOr<int64_t> Prune(absl::Time cutoff) = 0;

  // How many events are stored (the controller's events_stored gauge); -1 on a store error.
  virtual int64_t Count() = 0;

  // The first damage found in the store's own files since open (a call that met a corrupt
  // page or an unparsable row failed DATA_LOSS with this error, naming the file); OK when
  // none. Sticky: damage does not heal while the store is open. Once damaged, Append and
  // Prune fail with it (no more writes into the file; an agent keeps its events). PostgreSQL
  // guards its own files: always OK.
  virtual absl::Status Damage() { return absl::OkStatus(); }
};

struct StoreOptions {
  // Called once, from whichever thread finds it, with the first damage (see Damage()).
  // Must be quick and must not call the store.
  std::function<void(const absl::Status&)> on_damage;
};

// A store that fails every call with `why` (a DATA_LOSS from OpenEventStore): a controller
// runs with it not ready, showing the damage, rather than crash-loop. Damage() is `why`.
std::unique_ptr<EventStore> UnusableStore(absl::Status why);

// "sqlite:///abs/path.db" or "sqlite:relative/path.db" (a bare path is SQLite too), or
// "postgres://user@host:port/db?..." / "postgresql://..." (libpq's URI form). Creates or
// migrates the schema; a schema newer than this binary knows is FAILED_PRECONDITION. A
// SQLite file is checked first (sqlite_store.h: kSqliteFullCheckMaxBytes): damage is
// DATA_LOSS naming the file.
absl::StatusOr<std::unique_ptr<EventStore>> OpenEventStore(const std::string& url,
                                                           StoreOptions options = {});

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_EVENT_STORE_H_
