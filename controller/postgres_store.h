// The event store for clusters that outgrow one SQLite file: PostgreSQL through libpq
// (docs/controller.md). Same schema and migrations as SQLite, in PostgreSQL's types.
//
// A small bounded pool of connections; every statement is parameterized (PQexecParams).
// A broken connection is re-established on its next use (and the call retried once); while
// the server is unreachable calls fail UNAVAILABLE after at most the connect timeout.
//
// Thread-safety: every method may be called concurrently (a connection is used by one
// thread at a time). Ownership: owns its connections; closes them on destruction.
#ifndef LAYERSEAL_CONTROLLER_POSTGRES_STORE_H_
#define LAYERSEAL_CONTROLLER_POSTGRES_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/event_store.h"

namespace layerseal::controller {

// Connections opened at most; a call beyond them waits for one to be free.
inline constexpr int kMaxPostgresConnections = 4;
// libpq's connect_timeout unless the URL sets its own.
inline constexpr int kPostgresConnectTimeoutSeconds = 5;
// Rows per INSERT statement of an Append (14 parameters each; PostgreSQL allows 65535).
inline constexpr int kPostgresInsertRows = 250;

// `url`: libpq's URI form, "postgres://user@host:port/db?..." or "postgresql://...".
absl::StatusOr<std::unique_ptr<EventStore>> OpenPostgresStore(const std::string& url);

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_POSTGRES_STORE_H_
