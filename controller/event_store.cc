#include "controller/event_store.h"

#include "absl/status/status.h"
#include "controller/postgres_store.h"
#include "controller/sqlite_store.h"
#include "verifier/str_cat.h"

namespace layerseal::controller {

absl::StatusOr<std::unique_ptr<EventStore>> OpenEventStore(const std::string& url) {
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return OpenPostgresStore(url);
  }
  size_t scheme_end = url.find("://");
  if (scheme_end != std::string::npos && url.rfind("sqlite://", 0) != 0) {
    return absl::InvalidArgumentError(
        StrCat("store URL ", url.substr(0, scheme_end),
               "://...: unknown scheme (sqlite:, postgres:// or postgresql://)"));
  }
  absl::StatusOr<std::string> path = SqlitePathFromUrl(url);
  if (!path.ok()) return path.status();
  return OpenSqliteStore(*path);
}

}  // namespace layerseal::controller
