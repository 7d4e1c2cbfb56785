// rpm's database of installed packages (issue 18).
//
// Read: the sqlite backend (rpm >= 4.16, the default of Fedora >= 33, RHEL/UBI >= 9, openSUSE),
// /var/lib/rpm/rpmdb.sqlite or /usr/lib/sysimage/rpm/rpmdb.sqlite. Its table
// Packages(hnum INTEGER PRIMARY KEY, blob BLOB) holds one rpm header a row. The database is
// opened from the caller's bytes in memory (sqlite3_deserialize, read-only): no file, no
// temporary file, no WAL. rpm leaves the database in WAL mode; only the main file is read
// (an image whose layer kept an un-checkpointed rpmdb.sqlite-wal loses the rows still in
// it, as rpm itself would when the -wal file is dropped).
//
// Not read: the BerkeleyDB (`Packages`, RHEL/CentOS <= 8, UBI 8, SLES 15 before SP3) and
// ndb (`Packages.db`, openSUSE/SLES) backends. ParseRpmDatabase gives
// absl::StatusCode::kUnimplemented, "not available: rpm BerkeleyDB database ...", for
// them, never a guess: IsPackageDbNotAvailable tells that code apart from a damaged file.
//
// Hostile input: the database file is untrusted. It is opened with SQLite's defences for
// untrusted files (SQLITE_DBCONFIG_DEFENSIVE, trusted_schema off, cell_size_check on), the
// Packages table must be a plain table, a progress handler bounds the work of the query,
// and SQLITE_LIMIT_LENGTH bounds any value read. Each header blob is parsed by
// ParseRpmHeaderBlob, which bounds-checks every offset and count it uses.
//
// Thread-safety: pure functions (each call opens its own in-memory connection; SQLite is
// built thread-safe on Debian). Ownership: results own their strings; the input is copied
// once (SQLite's in-memory database needs a writable buffer for its header).
#ifndef LAYERSEAL_VERIFIER_LAYERS_PACKAGES_RPM_H_
#define LAYERSEAL_VERIFIER_LAYERS_PACKAGES_RPM_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/layers/packages_types.h"

namespace layerseal::layers {

// The largest rpmdb.sqlite read (a UBI 9 image's is about 6 MB, a Fedora desktop's 100 MB:
// it also holds file lists); larger is ResourceExhausted naming the source.
inline constexpr size_t kMaxRpmDbBytes = 256u << 20;
// The most rows of the Packages table read; more is ResourceExhausted.
inline constexpr size_t kMaxRpmRows = 100000;
// The largest header blob (rpm's own hdrchkData bound is 256 MiB; a real header with a
// large file list is a few MB).
inline constexpr size_t kMaxRpmHeaderBytes = 64u << 20;
// The most index entries a header may have (rpm's own hdrchkTags bound).
inline constexpr uint32_t kMaxRpmIndexEntries = 0xffff;
// SQLite virtual-machine steps the queries may take, in units of 1000 (progress handler):
// 10^8 steps, far above what scanning kMaxRpmRows rows needs (about ten a row), a bound on
// hostile schema tricks.
inline constexpr int kMaxRpmSqliteProgressCalls = 100000;

// The tags read from each header (rpm's rpmtag.h).
inline constexpr int32_t kRpmTagName = 1000;
inline constexpr int32_t kRpmTagVersion = 1001;
inline constexpr int32_t kRpmTagRelease = 1002;
inline constexpr int32_t kRpmTagEpoch = 1003;
inline constexpr int32_t kRpmTagArch = 1022;

// One header blob as the Packages table stores it: no lead, no magic; int32 big-endian index
// entry count `il`, int32 big-endian data size `dl`, `il` 16-byte entries (tag, type,
// offset, count, each big-endian), then `dl` bytes of data; nothing after. NAME, VERSION,
// RELEASE (STRING, count 1, NUL-terminated inside the data) are required, ARCH (STRING) and
// EPOCH (INT32, count 1) optional; a second entry for one of these tags, a wrong type or
// count, an offset or string outside the data are errors naming the tag. Other tags are not
// looked at beyond their entry. `where` names the blob in errors ("... row hnum=3").
absl::StatusOr<InstalledPackage> ParseRpmHeaderBlob(std::string_view blob,
                                                    std::string_view where = "rpm header");

// Reads every header of an rpmdb.sqlite. `where` names the file in errors.
absl::StatusOr<std::vector<InstalledPackage>> ParseRpmSqlite(
    std::string_view bytes, std::string_view where = "/var/lib/rpm/rpmdb.sqlite");

// The database at `path` (one of the rpm paths of packages.h: rpmdb.sqlite, Packages,
// Packages.db): ParseRpmSqlite for rpmdb.sqlite, kUnimplemented "not available: ..." naming
// the backend (checked against the file's magic, and said when it does not match) otherwise.
absl::StatusOr<std::vector<InstalledPackage>> ParseRpmDatabase(std::string_view path,
                                                               std::string_view bytes);

// True for the "not available" status of the databases this library cannot read
// (kUnimplemented), as opposed to a damaged or hostile file (any other code).
bool IsPackageDbNotAvailable(const absl::Status& s);

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_PACKAGES_RPM_H_
