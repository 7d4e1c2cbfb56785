// The embedded event store: one SQLite file in WAL mode (docs/controller.md).
//
// One writer connection (Append, Prune) and a small pool of read-only connections
// (Query, After, Nodes, Images): in WAL mode readers see the last committed state and
// never wait behind a write transaction.
//
// Thread-safety: every method may be called concurrently (the writer and each reader are
// used by one thread at a time, under the store's mutexes).
// Ownership: owns its connections; closes them on destruction.
#ifndef LAYERSEAL_CONTROLLER_SQLITE_STORE_H_
#define LAYERSEAL_CONTROLLER_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/event_store.h"

namespace layerseal::controller {

// Read connections opened at most; a query beyond them waits for one to be free.
inline constexpr int kMaxSqliteReaders = 4;
// How long a statement waits for a lock another process holds before failing UNAVAILABLE.
inline constexpr int kSqliteBusyTimeoutMs = 5000;

// The check of the file on open: PRAGMA integrity_check (pages, and every index against its
// table) for files up to this size, PRAGMA quick_check (pages only, some 10x faster) above
// it; both read the whole file once. Measured (docs/controller.md): 100,000 events, 106 MB,
// integrity_check 3.1-3.5 s, quick_check 0.3 s; so up to about 9 s here, linear above.
inline constexpr uint64_t kSqliteFullCheckMaxBytes = 256ull << 20;
// The check stops after this many problems (it names them in its error).
inline constexpr int kSqliteCheckMaxErrors = 10;

// Opens (creating if missing) the database file at `path`, checks it (above; damage is
// DATA_LOSS naming the file and what the check found) and migrates its schema. Afterwards
// any call that meets a damaged page or row fails DATA_LOSS naming the file, and the store
// remembers it (Damage(), options.on_damage).
absl::StatusOr<std::unique_ptr<EventStore>> OpenSqliteStore(const std::string& path,
                                                            StoreOptions options = {});

// The path of a "sqlite:///abs", "sqlite:rel" or bare-path URL; INVALID_ARGUMENT if empty
// or "sqlite://host/...".
absl::StatusOr<std::string> SqlitePathFromUrl(const std::string& url);

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_SQLITE_STORE_H_
