#include "verifier/layers/packages_rpm.h"

#include <sqlite3.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "base/str_cat.h"

namespace layerseal::layers {
namespace {

constexpr uint32_t kRpmTypeInt32 = 4;
constexpr uint32_t kRpmTypeString = 6;
constexpr uint32_t kRpmTypeMax = 9;  // RPM_I18NSTRING_TYPE, the last type rpm knows

uint32_t Be32(std::string_view b, size_t at) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

std::string_view TagName(int32_t tag) {
  switch (tag) {
    case kRpmTagName: return "NAME (1000)";
    case kRpmTagVersion: return "VERSION (1001)";
    case kRpmTagRelease: return "RELEASE (1002)";
    case kRpmTagEpoch: return "EPOCH (1003)";
    case kRpmTagArch: return "ARCH (1022)";
    default: return "tag";
  }
}

struct Entry {
  uint32_t type = 0;
  uint32_t offset = 0;
  uint32_t count = 0;
};

absl::Status Bad(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

// The NUL-terminated string an entry points at, inside `data`.
absl::StatusOr<std::string> StringAt(const Entry& e, std::string_view data, int32_t tag,
                                     std::string_view where) {
  if (e.type != kRpmTypeString || e.count != 1) {
    return Bad(where, StrCat(TagName(tag), " has type ", e.type, " count ", e.count,
                             ", not a STRING (6) of count 1"));
  }
  size_t nul = data.find('\0', e.offset);  // offset <= data.size() was checked
  if (nul == std::string_view::npos) {
    return Bad(where, StrCat(TagName(tag), " at offset ", e.offset,
                             " has no NUL terminator inside the data"));
  }
  std::string value(data.substr(e.offset, nul - e.offset));
  if (absl::Status s = CheckPackageField(where, TagName(tag), value); !s.ok()) return s;
  return value;
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};
using Db = std::unique_ptr<sqlite3, SqliteCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

int CountProgress(void* arg) {
  int* calls = static_cast<int*>(arg);
  return ++*calls > kMaxRpmSqliteProgressCalls ? 1 : 0;
}

absl::Status SqlError(sqlite3* db, std::string_view where, std::string_view doing) {
  return absl::InvalidArgumentError(
      StrCat(where, ": ", doing, ": ", sqlite3_errmsg(db)));
}

absl::StatusOr<Stmt> Prepare(sqlite3* db, const char* sql, std::string_view where) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return SqlError(db, where, StrCat("preparing \"", sql, "\""));
  }
  return Stmt(raw);
}

// Opens `bytes` as a read-only in-memory database with SQLite's defences for untrusted files.
absl::StatusOr<Db> OpenInMemory(std::string_view bytes, std::string_view where, int* progress) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK || raw == nullptr) {
    return absl::InternalError(StrCat(where, ": cannot open an in-memory SQLite connection"));
  }
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_VIEW, 0, nullptr);
  sqlite3_limit(raw, SQLITE_LIMIT_LENGTH, static_cast<int>(kMaxRpmHeaderBytes));
  sqlite3_progress_handler(raw, 1000, CountProgress, progress);
  auto* copy = static_cast<unsigned char*>(sqlite3_malloc64(bytes.size()));
  if (copy == nullptr) {
    return absl::ResourceExhaustedError(StrCat(where, ": no memory for ", bytes.size(), " bytes"));
  }
  std::memcpy(copy, bytes.data(), bytes.size());
  // rpm leaves its database in WAL mode (file format versions 2 at offsets 18 and 19); the
  // in-memory VFS has no WAL, so the copy says "rollback journal" (1), which is what SQLite
  // reads the main file as when no -wal file is present.
  if (copy[18] == 2) copy[18] = 1;
  if (copy[19] == 2) copy[19] = 1;
  rc = sqlite3_deserialize(raw, "main", copy, static_cast<sqlite3_int64>(bytes.size()),
                           static_cast<sqlite3_int64>(bytes.size()),
                           SQLITE_DESERIALIZE_READONLY | SQLITE_DESERIALIZE_FREEONCLOSE);
  if (rc != SQLITE_OK) return SqlError(raw, where, "loading the database");
  if (sqlite3_exec(raw, "PRAGMA cell_size_check=ON; PRAGMA temp_store=MEMORY;", nullptr,
                   nullptr, nullptr) != SQLITE_OK) {
    return SqlError(raw, where, "setting pragmas");
  }
  return db;
}

// The Packages table must be an ordinary table (not a view or a virtual table).
absl::Status CheckPackagesTable(sqlite3* db, std::string_view where) {
  absl::StatusOr<Stmt> st = Prepare(
      db, "SELECT type, sql FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE", where);
  if (!st.ok()) return st.status();
  int rows = 0;
  int rc;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    ++rows;
    const char* type = reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 0));
    const char* sql = reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 1));
    std::string_view t = type ? type : "", q = sql ? sql : "";
    if (t != "table" || q.size() < 12 || sqlite3_strnicmp(q.data(), "CREATE TABLE", 12) != 0) {
      return Bad(where, StrCat("\"Packages\" is a ", t, ", not an ordinary table"));
    }
  }
  if (rc != SQLITE_DONE) return SqlError(db, where, "reading the schema");
  if (rows != 1) return Bad(where, "no \"Packages\" table: not an rpm sqlite database");
  return absl::OkStatus();
}

bool HasPrefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

absl::StatusOr<InstalledPackage> ParseRpmHeaderBlob(std::string_view blob,
                                                    std::string_view where) {
  if (blob.size() < 8) return Bad(where, StrCat("header of ", blob.size(), " bytes is truncated"));
  if (blob.size() > kMaxRpmHeaderBytes + 8 + 16ull * kMaxRpmIndexEntries) {
    return absl::ResourceExhaustedError(StrCat(where, ": header of ", blob.size(),
                                               " bytes exceeds the limit"));
  }
  uint32_t il = Be32(blob, 0), dl = Be32(blob, 4);
  if (il == 0 || il > kMaxRpmIndexEntries) {
    return Bad(where, StrCat("index entry count ", il, " is not in 1..", kMaxRpmIndexEntries));
  }
  if (dl > kMaxRpmHeaderBytes) {
    return Bad(where, StrCat("data size ", dl, " exceeds the limit of ", kMaxRpmHeaderBytes));
  }
  uint64_t want = 8 + 16ull * il + dl;
  if (blob.size() != want) {
    return Bad(where, StrCat("header is ", blob.size(), " bytes, its index (", il,
                             " entries) and data size (", dl, ") say ", want));
  }
  std::string_view data = blob.substr(8 + 16ull * il);
  std::optional<Entry> name, version, release, epoch, arch;
  for (uint32_t i = 0; i < il; ++i) {
    size_t at = 8 + 16ull * i;
    int32_t tag = static_cast<int32_t>(Be32(blob, at));
    Entry e{Be32(blob, at + 4), Be32(blob, at + 8), Be32(blob, at + 12)};
    if (e.type > kRpmTypeMax) {
      return Bad(where, StrCat("index entry ", i, " (tag ", tag, ") has unknown type ", e.type));
    }
    if (e.offset > dl) {  // also a negative int32 offset, read unsigned
      return Bad(where, StrCat("index entry ", i, " (tag ", tag, ") has offset ",
                               static_cast<int32_t>(e.offset), " outside the data (", dl,
                               " bytes)"));
    }
    std::optional<Entry>* slot = nullptr;
    switch (tag) {
      case kRpmTagName: slot = &name; break;
      case kRpmTagVersion: slot = &version; break;
      case kRpmTagRelease: slot = &release; break;
      case kRpmTagEpoch: slot = &epoch; break;
      case kRpmTagArch: slot = &arch; break;
      default: break;
    }
    if (slot == nullptr) continue;
    if (slot->has_value()) return Bad(where, StrCat(TagName(tag), " appears twice"));
    *slot = e;
  }
  for (auto [e, tag] : {std::pair{&name, kRpmTagName}, std::pair{&version, kRpmTagVersion},
                        std::pair{&release, kRpmTagRelease}}) {
    if (!e->has_value()) return Bad(where, StrCat("no ", TagName(tag)));
  }
  InstalledPackage p;
  p.ecosystem = Ecosystem::kRpm;
  absl::StatusOr<std::string> n = StringAt(*name, data, kRpmTagName, where);
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> v = StringAt(*version, data, kRpmTagVersion, where);
  if (!v.ok()) return v.status();
  absl::StatusOr<std::string> r = StringAt(*release, data, kRpmTagRelease, where);
  if (!r.ok()) return r.status();
  if (arch) {
    absl::StatusOr<std::string> a = StringAt(*arch, data, kRpmTagArch, where);
    if (!a.ok()) return a.status();
    p.arch = std::move(*a);
  }
  if (epoch) {
    if (epoch->type != kRpmTypeInt32 || epoch->count != 1) {
      return Bad(where, StrCat(TagName(kRpmTagEpoch), " has type ", epoch->type, " count ",
                               epoch->count, ", not an INT32 (4) of count 1"));
    }
    if (static_cast<uint64_t>(epoch->offset) + 4 > dl) {
      return Bad(where, StrCat(TagName(kRpmTagEpoch), " at offset ", epoch->offset,
                               " runs past the data (", dl, " bytes)"));
    }
    p.rpm_epoch = Be32(data, epoch->offset);
  }
  p.name = std::move(*n);
  p.rpm_version_release = StrCat(*v, "-", *r);
  p.version = p.rpm_epoch ? StrCat(*p.rpm_epoch, ":", p.rpm_version_release)
                          : p.rpm_version_release;
  if (absl::Status s = CheckPackageField(where, "version", p.version); !s.ok()) return s;
  return p;
}

absl::StatusOr<std::vector<InstalledPackage>> ParseRpmSqlite(std::string_view bytes,
                                                             std::string_view where) {
  if (bytes.size() > kMaxRpmDbBytes) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", bytes.size(),
                                               " bytes exceed the limit of ", kMaxRpmDbBytes));
  }
  static constexpr std::string_view kMagic("SQLite format 3\0", 16);
  if (bytes.size() < 100 || !HasPrefix(bytes, kMagic)) {
    return Bad(where, "not an SQLite database (no \"SQLite format 3\" header)");
  }
  int progress = 0;
  absl::StatusOr<Db> db = OpenInMemory(bytes, where, &progress);
  if (!db.ok()) return db.status();
  if (absl::Status s = CheckPackagesTable(db->get(), where); !s.ok()) return s;
  absl::StatusOr<Stmt> st = Prepare(db->get(), "SELECT hnum, blob FROM Packages", where);
  if (!st.ok()) return st.status();
  std::vector<InstalledPackage> out;
  int rc;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    if (out.size() >= kMaxRpmRows) {
      return absl::ResourceExhaustedError(StrCat(where, ": more than ", kMaxRpmRows,
                                                 " rows in Packages"));
    }
    sqlite3_int64 hnum = sqlite3_column_int64(st->get(), 0);
    std::string row = StrCat(where, " row hnum=", hnum);
    if (sqlite3_column_type(st->get(), 1) != SQLITE_BLOB) {
      return Bad(row, "blob is not a BLOB");
    }
    const void* b = sqlite3_column_blob(st->get(), 1);
    int n = sqlite3_column_bytes(st->get(), 1);
    std::string_view blob = b == nullptr ? std::string_view()
                                         : std::string_view(static_cast<const char*>(b),
                                                            static_cast<size_t>(n));
    absl::StatusOr<InstalledPackage> p = ParseRpmHeaderBlob(blob, row);
    if (!p.ok()) return p.status();
    out.push_back(std::move(*p));
  }
  if (rc != SQLITE_DONE) {
    if (progress > kMaxRpmSqliteProgressCalls) {
      return absl::ResourceExhaustedError(StrCat(where, ": reading Packages took more than ",
                                                 kMaxRpmSqliteProgressCalls,
                                                 "000 SQLite steps"));
    }
    return SqlError(db->get(), where, "reading Packages");
  }
  return out;
}

absl::StatusOr<std::vector<InstalledPackage>> ParseRpmDatabase(std::string_view path,
                                                               std::string_view bytes) {
  std::string_view base = Basename(path);
  if (base == "rpmdb.sqlite") return ParseRpmSqlite(bytes, path);
  std::string_view format;
  bool magic = false;
  if (base == "Packages") {
    format = "BerkeleyDB";
    // A Berkeley DB hash (0x061561) or btree (0x053162) metadata page, either byte order.
    if (bytes.size() >= 16) {
      uint32_t be = Be32(bytes, 12);
      uint32_t le = ((be & 0xff) << 24) | ((be & 0xff00) << 8) | ((be >> 8) & 0xff00) | (be >> 24);
      magic = be == 0x061561 || le == 0x061561 || be == 0x053162 || le == 0x053162;
    }
  } else if (base == "Packages.db") {
    format = "ndb";
    magic = HasPrefix(bytes, "RpmP");
  } else {
    return absl::InvalidArgumentError(StrCat(path, ": not an rpm database path"));
  }
  return absl::UnimplementedError(
      StrCat("not available: rpm ", format, " database ", path,
             magic ? "" : " (its content does not start like one either)",
             "; only the sqlite backend (rpmdb.sqlite) is read"));
}

bool IsPackageDbNotAvailable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnimplemented;
}

}  // namespace layerseal::layers
