// rpm's package database (verifier/layers/packages_rpm.h): header blobs, the sqlite backend
// read in memory, the backends that are "not available". Issue 18.
// Fixture: tests/fixtures/packages/rpmdb.sqlite and rpmdb.expected, made by
// tests/fixtures/packages/make_rpmdb.sh with Debian's rpm 4.18. When rpm and rpmbuild are
// installed, the differential test makes a database afresh with that script and compares
// with `rpm -qa`; otherwise it is skipped with a message (the committed fixture test always
// runs).
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/file.h"
#include "base/str_cat.h"
#include "verifier/layers/packages_rpm.h"

namespace layerseal::layers {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

std::string FixtureDir() { return std::string(LAYERSEAL_SOURCE_DIR) + "/tests/fixtures/packages"; }

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> b = ReadFileLimited(path, kMaxRpmDbBytes, "fixture");
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::string();
}

// "name|epoch|version|release|arch" lines, sorted: the form make_rpmdb.sh writes rpm -qa in.
std::string Lines(const std::vector<InstalledPackage>& pkgs) {
  std::multiset<std::string> lines;
  for (const InstalledPackage& p : pkgs) {
    std::string vr = p.rpm_version_release;
    size_t dash = vr.rfind('-');
    lines.insert(StrCat(p.name, "|", p.rpm_epoch ? StrCat(*p.rpm_epoch) : "", "|",
                        vr.substr(0, dash), "|", vr.substr(dash + 1), "|", p.arch, "\n"));
  }
  std::string out;
  for (const std::string& l : lines) out += l;
  return out;
}

// ---- header blobs, built by hand

void Be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

struct Entry {
  uint32_t tag, type, offset, count;
};

std::string Header(const std::vector<Entry>& entries, const std::string& data) {
  std::string out;
  Be32(out, static_cast<uint32_t>(entries.size()));
  Be32(out, static_cast<uint32_t>(data.size()));
  for (const Entry& e : entries) {
    Be32(out, e.tag);
    Be32(out, e.type);
    Be32(out, e.offset);
    Be32(out, e.count);
  }
  return out + data;
}

// NAME "bash" at 0, VERSION "5.1" at 5, RELEASE "2.el9" at 9, ARCH "x86_64" at 15, EPOCH 3 at 24.
const std::string kData = std::string("bash\0" "5.1\0" "2.el9\0" "x86_64\0" "\0\0", 24) +
                          std::string("\0\0\0\3", 4);

std::vector<Entry> Entries() {
  return {{63, 7, 0, 16},  // a region tag, as rpm writes first: not read
          {1000, 6, 0, 1}, {1001, 6, 5, 1}, {1002, 6, 9, 1}, {1022, 6, 15, 1}, {1003, 4, 24, 1}};
}

TEST(RpmHeader, ReadsTheFiveTags) {
  absl::StatusOr<InstalledPackage> p = ParseRpmHeaderBlob(Header(Entries(), kData));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "bash");
  EXPECT_EQ(p->version, "3:5.1-2.el9");
  EXPECT_EQ(p->rpm_version_release, "5.1-2.el9");
  EXPECT_EQ(p->rpm_epoch, 3u);
  EXPECT_EQ(p->arch, "x86_64");
  EXPECT_EQ(p->ecosystem, Ecosystem::kRpm);

  // gpg-pubkey headers have no ARCH and no EPOCH.
  std::vector<Entry> e = Entries();
  e.pop_back();
  e.pop_back();
  absl::StatusOr<InstalledPackage> q = ParseRpmHeaderBlob(Header(e, kData));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->version, "5.1-2.el9");
  EXPECT_EQ(q->arch, "");
  EXPECT_FALSE(q->rpm_epoch.has_value());
}

TEST(RpmHeader, HostileHeadersAreErrorsNamingTheTag) {
  auto with = [](size_t i, Entry e) {
    std::vector<Entry> v = Entries();
    v[i] = e;
    return Header(v, kData);
  };
  std::string good = Header(Entries(), kData);
  struct Case {
    std::string blob, want;
  } cases[] = {
      {"", "header of 0 bytes is truncated"},
      {good.substr(0, good.size() - 1), "index (6 entries) and data size (28) say"},
      {good + "x", "say 132"},
      {Header({}, kData), "index entry count 0"},
      {std::string("\x00\x01\x00\x00\x00\x00\x00\x00", 8), "index entry count 65536"},
      {std::string("\x00\x00\x00\x01\x7f\x00\x00\x00", 8), "data size 2130706432 exceeds"},
      {with(1, {1000, 6, 29, 1}), "offset 29 outside the data"},
      {with(1, {1000, 6, 0xffffffffu, 1}), "offset -1 outside the data"},
      {with(1, {1000, 6, 28, 1}), "NAME (1000) at offset 28 has no NUL terminator"},
      {with(4, {1022, 6, 26, 1}), "ARCH (1022) is empty"},
      {with(1, {1000, 8, 0, 1}), "NAME (1000) has type 8 count 1, not a STRING"},
      {with(1, {1000, 6, 0, 2}), "NAME (1000) has type 6 count 2"},
      {with(1, {1000, 12, 0, 1}), "unknown type 12"},
      {with(0, {1001, 6, 0, 1}), "VERSION (1001) appears twice"},
      {with(1, {1, 6, 0, 1}), "no NAME (1000)"},
      {with(5, {1003, 4, 25, 1}), "EPOCH (1003) at offset 25 runs past the data"},
      {with(5, {1003, 6, 24, 1}), "EPOCH (1003) has type 6 count 1, not an INT32"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<InstalledPackage> r = ParseRpmHeaderBlob(c.blob, "hdr");
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.want));
    EXPECT_THAT(Msg(r.status()), HasSubstr("hdr: "));
  }
}

// ---- the sqlite backend

TEST(RpmSqlite, ReadsTheCommittedFixture) {
  std::string db = ReadOrDie(FixtureDir() + "/rpmdb.sqlite");
  ASSERT_EQ(static_cast<unsigned char>(db[18]), 2) << "rpm wrote the fixture in WAL mode";
  absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseRpmSqlite(db);
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  EXPECT_EQ(Lines(*pkgs), ReadOrDie(FixtureDir() + "/rpmdb.expected"));
  absl::StatusOr<std::vector<InstalledPackage>> same =
      ParseRpmDatabase("/usr/lib/sysimage/rpm/rpmdb.sqlite", db);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, *pkgs);
}

// The rpm_sqlite fuzz seeds: one fixture row copied by the sqlite3 CLI into a database of
// 512-byte pages, in rollback-journal mode and with the header saying WAL.
TEST(RpmSqlite, ReadsTheFuzzSeeds) {
  for (const char* seed : {"one_package_512b_pages", "one_package_wal"}) {
    absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseRpmSqlite(
        ReadOrDie(StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fuzz/corpus/rpm_sqlite/", seed)));
    ASSERT_TRUE(pkgs.ok()) << seed << ": " << pkgs.status();
    ASSERT_EQ(pkgs->size(), 1u) << seed;
    EXPECT_EQ((*pkgs)[0].name, "layerseal-hello") << seed;
    EXPECT_EQ((*pkgs)[0].version, "1.0-1") << seed;
  }
}

bool Have(const char* tool) {
  return std::system(StrCat("command -v ", tool, " >/dev/null 2>&1").c_str()) == 0;
}

TEST(RpmSqlite, AgreesWithRpmOnAFreshDatabase) {
  if (!Have("rpm") || !Have("rpmbuild")) {
    GTEST_SKIP() << "rpm and rpmbuild are not installed (apt-get install rpm): the "
                    "differential test against `rpm -qa` is skipped; the committed fixture "
                    "test still ran";
  }
  char tmpl[] = "/tmp/layerseal-rpmdb-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string cmd = StrCat("bash '", FixtureDir(), "/make_rpmdb.sh' '", dir, "' >'", dir,
                           "/log' 2>&1");
  int rc = std::system(cmd.c_str());
  std::string log = ReadOrDie(dir + "/log");
  ASSERT_EQ(rc, 0) << log;
  absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseRpmSqlite(ReadOrDie(dir + "/rpmdb.sqlite"));
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  EXPECT_EQ(Lines(*pkgs), ReadOrDie(dir + "/rpmdb.expected"));
  std::filesystem::remove_all(dir);
}

// A database made with SQLite here (schema given), as bytes.
std::string MakeDb(const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_int64 size = 0;
  unsigned char* bytes = sqlite3_serialize(db, "main", &size, 0);
  std::string out(reinterpret_cast<char*>(bytes), static_cast<size_t>(size));
  sqlite3_free(bytes);
  sqlite3_close(db);
  return out;
}

TEST(RpmSqlite, HostileAndWrongDatabases) {
  std::string header_hex;
  for (unsigned char c : Header(Entries(), kData)) header_hex += StrCat("0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
  const std::string table = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);";
  // The shape rpm writes, made here: reads.
  absl::StatusOr<std::vector<InstalledPackage>> ok =
      ParseRpmSqlite(MakeDb(table + "INSERT INTO Packages (blob) VALUES (x'" + header_hex + "');"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].name, "bash");

  struct Case {
    std::string db, want;
  } cases[] = {
      {"", "not an SQLite database"},
      {std::string(200, 'x'), "not an SQLite database"},
      {MakeDb("CREATE TABLE Other (a);"), "no \"Packages\" table"},
      {MakeDb("CREATE TABLE t (hnum, blob); CREATE VIEW Packages AS SELECT * FROM t;"),
       "\"Packages\" is a view"},
      {MakeDb(table + "INSERT INTO Packages (blob) VALUES ('text');"), "row hnum=1: blob is not a BLOB"},
      {MakeDb(table + "INSERT INTO Packages (hnum, blob) VALUES (7, x'00');"),
       "row hnum=7: header of 1 bytes is truncated"},
      {MakeDb("CREATE TABLE Packages (a, b);"), "no such column: hnum"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<InstalledPackage>> r = ParseRpmSqlite(c.db, "/var/lib/rpm/rpmdb.sqlite");
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.want));
    EXPECT_THAT(Msg(r.status()), HasSubstr("/var/lib/rpm/rpmdb.sqlite"));
    EXPECT_FALSE(IsPackageDbNotAvailable(r.status()));
  }
  // A damaged copy of the real fixture: an error, never a crash.
  std::string db = ReadOrDie(FixtureDir() + "/rpmdb.sqlite");
  for (size_t at = 100; at < db.size(); at += 509) {
    std::string bad = db;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    (void)ParseRpmSqlite(bad);
  }
  EXPECT_FALSE(ParseRpmSqlite(db.substr(0, db.size() / 2)).ok());
}

TEST(RpmDatabase, OtherBackendsAreNotAvailable) {
  std::string bdb(4096, '\0');
  bdb[12] = 0x00; bdb[13] = 0x06; bdb[14] = 0x15; bdb[15] = 0x61;  // hash magic, big-endian
  absl::Status s = ParseRpmDatabase("/var/lib/rpm/Packages", bdb).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(IsPackageDbNotAvailable(s));
  EXPECT_THAT(Msg(s), HasSubstr("not available: rpm BerkeleyDB database /var/lib/rpm/Packages;"));
  absl::Status n = ParseRpmDatabase("/usr/lib/sysimage/rpm/Packages.db", "RpmP\x01").status();
  EXPECT_TRUE(IsPackageDbNotAvailable(n));
  EXPECT_THAT(Msg(n), HasSubstr("not available: rpm ndb database /usr/lib/sysimage/rpm/Packages.db;"));
  absl::Status odd = ParseRpmDatabase("/var/lib/rpm/Packages", "hello").status();
  EXPECT_TRUE(IsPackageDbNotAvailable(odd));
  EXPECT_THAT(Msg(odd), HasSubstr("does not start like one either"));
  EXPECT_EQ(ParseRpmDatabase("/var/lib/rpm/other", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace layerseal::layers
