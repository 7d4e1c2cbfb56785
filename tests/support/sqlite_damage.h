// Damaging a SQLite file on purpose (issue 14.7 tests): finding a page a table uses and
// overwriting it with zeros, behind the back of whatever has the file open.
//
// Thread-safety: plain functions. They run the sqlite3 CLI (its dbstat table).
#ifndef LAYERSEAL_TESTS_SUPPORT_SQLITE_DAMAGE_H_
#define LAYERSEAL_TESTS_SUPPORT_SQLITE_DAMAGE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace layerseal::testing {

// The number (1-based) of the middle leaf page of table or index `name` in the database
// file at `path` (read from its dbstat virtual table). NOT_FOUND when it has no leaf page.
absl::StatusOr<int64_t> MiddleLeafPage(const std::string& path, const std::string& name);

// Overwrites page `page` (1-based, of the file's page size) of `path` with zeros, in place.
absl::Status ZeroSqlitePage(const std::string& path, int64_t page);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_SQLITE_DAMAGE_H_
