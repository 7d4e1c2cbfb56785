// Package databases (verifier/layers/packages_dpkg.h, packages_apk.h) and the inventory and
// attachment over a layer stack (verifier/layers/packages.h). Issue 18.
// Fixtures: tests/fixtures/packages (README.md there says where each came from).
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/file.h"
#include "base/str_cat.h"
#include "verifier/layers/packages.h"
#include "verifier/layers/packages_apk.h"
#include "verifier/layers/packages_dpkg.h"
#include "verifier/layers/packages_rpm.h"

namespace layerseal::layers {
namespace {

using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  absl::StatusOr<std::string> b = ReadFileLimited(
      std::string(LAYERSEAL_SOURCE_DIR) + "/tests/fixtures/packages/" + name, 64u << 20, "fixture");
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::string();
}

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

// ---- dpkg

TEST(DpkgStatus, ParsesThisMachinesStanzas) {
  // tests/fixtures/packages/dpkg_status: seven stanzas copied from a Debian 12 machine's
  // /var/lib/dpkg/status, unchanged (multi-line Descriptions, Source with and without a
  // version, an epoch, Architecture all).
  absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseDpkgStatus(Fixture("dpkg_status"));
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  std::map<std::string, InstalledPackage> by;
  for (const InstalledPackage& p : *pkgs) by[p.name] = p;
  ASSERT_EQ(by.size(), 7u);
  EXPECT_EQ(by["bash"].version, "5.2.15-2+b8");
  EXPECT_EQ(by["bash"].arch, "amd64");
  EXPECT_EQ(by["bash"].source, "bash");
  EXPECT_EQ(by["bash"].source_version, "5.2.15-2");
  EXPECT_EQ(by["bash"].ecosystem, Ecosystem::kDeb);
  EXPECT_EQ(by["libc6"].source, "glibc");
  EXPECT_EQ(by["libc6"].source_version, "");
  EXPECT_EQ(by["zlib1g"].version, "1:1.2.13.dfsg-1");
  EXPECT_EQ(by["tzdata"].arch, "all");
  EXPECT_EQ(by["base-files"].source, "");
  for (const auto& [n, p] : by) EXPECT_EQ(p.dpkg_state, "") << n;
}

// The whole of this machine's database against dpkg-query's own reading of it.
TEST(DpkgStatus, AgreesWithDpkgQueryOnThisMachine) {
  auto query = []() -> std::optional<std::multiset<std::string>> {
    FILE* q = popen("dpkg-query -W -f='${Package}|${Version}|${Architecture}|"
                    "${db:Status-Status}\\n' 2>/dev/null", "r");
    if (q == nullptr) return std::nullopt;
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, q)) > 0) out.append(buf, n);
    if (pclose(q) != 0) return std::nullopt;
    std::multiset<std::string> want;
    size_t pos = 0;
    while (pos < out.size()) {
      size_t nl = out.find('\n', pos);
      std::string line = out.substr(pos, nl - pos);
      pos = nl + 1;
      std::string state = line.substr(line.rfind('|') + 1);
      if (state == "not-installed" || state == "config-files") continue;
      want.insert(line.substr(0, line.rfind('|')));
    }
    return want;
  };
  auto parse = []() -> std::optional<std::multiset<std::string>> {
    absl::StatusOr<std::string> status =
        ReadFileLimited("/var/lib/dpkg/status", kMaxDpkgStatusBytes, "");
    if (!status.ok()) return std::nullopt;
    absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseDpkgStatus(*status);
    EXPECT_TRUE(pkgs.ok()) << pkgs.status();
    std::multiset<std::string> got;
    if (pkgs.ok()) {
      for (const InstalledPackage& p : *pkgs) got.insert(StrCat(p.name, "|", p.version, "|", p.arch));
    }
    return got;
  };
  std::optional<std::multiset<std::string>> want = query(), got = parse();
  if (!want || !got) GTEST_SKIP() << "no /var/lib/dpkg/status or dpkg-query on this machine";
  // Another job may be installing packages meanwhile: the two readings are taken again
  // (a few times) before a difference counts.
  for (int i = 0; i < 3 && *want != *got; ++i) {
    want = query();
    got = parse();
    ASSERT_TRUE(want && got);
  }
  EXPECT_EQ(*got, *want);
  EXPECT_GT(got->size(), 50u);
}

TEST(DpkgStatus, StatesDecideWhatIsKept) {
  std::string s =
      "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n"
      "Package: b\nStatus: hold ok installed\nVersion: 2\nArchitecture: amd64\n\n"
      "Package: c\nStatus: install reinstreq half-installed\nVersion: 3\nArchitecture: amd64\n\n"
      "Package: d\nStatus: install ok unpacked\nVersion: 4\nArchitecture: amd64\n\n"
      "Package: e\nStatus: deinstall ok config-files\nVersion: 5\nArchitecture: amd64\n\n"
      "Package: f\nStatus: purge ok not-installed\n\n"
      "Package: g\nStatus: install ok triggers-pending\nVersion: 7\nArchitecture: all\n";
  absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseDpkgStatus(s);
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  std::vector<std::string> got;
  for (const InstalledPackage& p : *pkgs) got.push_back(StrCat(p.name, ":", p.dpkg_state));
  EXPECT_THAT(got, ::testing::ElementsAre("a:", "b:", "c:half-installed", "d:unpacked",
                                          "g:triggers-pending"));
}

TEST(DpkgStatus, BlankLinesOfSpacesAndMissingFinalNewline) {
  std::string s =
      "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n"
      "Description: x\n long\n .\n more\n \t \n\n\n"
      "package: b\nSTATUS: install ok installed\nversion:2\nArchitecture:   arm64  ";
  absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseDpkgStatus(s);
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  ASSERT_EQ(pkgs->size(), 2u);
  EXPECT_EQ((*pkgs)[1].version, "2");
  EXPECT_EQ((*pkgs)[1].arch, "arm64");
  EXPECT_TRUE(ParseDpkgStatus("").ok());
}

TEST(DpkgStatus, ErrorsNameLineAndField) {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"Package: a\nPackage: b\n", "line 2: field \"Package\" appears twice"},
      {" continued\n", "line 1: continuation line before any field"},
      {"Package: a\nno colon here\n", "line 2: not a \"Field: value\" line"},
      {"Package: a\nStatus: install ok installed\nVersion: 1\n", "no Architecture field"},
      {"Package: a\nStatus: install ok\nVersion: 1\nArchitecture: x\n",
       "line 2: Status \"install ok\" is not three words"},
      {"Package: a\nStatus: install ok sideways\n", "unknown state \"sideways\""},
      {"Package: a\nVersion: 1\nArchitecture: x\n", "(Package a): no Status field"},
      {"Package: a\nStatus: install ok installed\nVersion: 1 2\nArchitecture: x\n",
       "line 3: Version has byte 32"},
      {"Package: a\nStatus: install ok installed\nVersion:\n 1\nArchitecture: x\n",
       "line 4: field continues over lines"},
      {"Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: x\nSource: s (1\n",
       "line 5: Source is not"},
      {std::string("Package: a\0", 11), "NUL byte at offset 10"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<InstalledPackage>> r = ParseDpkgStatus(c.in, "/x/status");
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.want)) << c.in;
    EXPECT_THAT(Msg(r.status()), HasSubstr("/x/status")) << c.in;
  }
  EXPECT_EQ(ParseDpkgStatus(std::string(kMaxDpkgStatusBytes + 1, '\n')).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(DpkgStatusD, OneStanzaAFile) {
  std::string one = "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n"
                    "Source: openssl\nStatus: install ok installed\n\n";
  absl::StatusOr<std::vector<InstalledPackage>> r =
      ParseDpkgStatusD(one, "/var/lib/dpkg/status.d/libssl3");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "libssl3");
  EXPECT_EQ((*r)[0].source, "openssl");
  EXPECT_THAT(Msg(ParseDpkgStatusD(one + one, "f").status()), HasSubstr("2 stanzas"));
  EXPECT_THAT(Msg(ParseDpkgStatusD("\n\n", "f").status()), HasSubstr("0 stanzas"));
  absl::StatusOr<std::vector<InstalledPackage>> gone =
      ParseDpkgStatusD("Package: x\nStatus: purge ok not-installed\n", "f");
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->empty());
}

// ---- apk

TEST(ApkInstalled, ParsesTheDocumentedFormat) {
  // tests/fixtures/packages/apk_installed: written by hand from Alpine's documented format
  // (wiki.alpinelinux.org/wiki/Apk_spec and apk-tools' database.c), three records of an
  // Alpine 3.19 image's packages with file lists; the checksums are made up.
  absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParseApkInstalled(Fixture("apk_installed"));
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  ASSERT_EQ(pkgs->size(), 3u);
  EXPECT_EQ((*pkgs)[0].name, "musl");
  EXPECT_EQ((*pkgs)[0].version, "1.2.4_git20230717-r4");
  EXPECT_EQ((*pkgs)[0].arch, "x86_64");
  EXPECT_EQ((*pkgs)[0].source, "musl");
  EXPECT_EQ((*pkgs)[0].ecosystem, Ecosystem::kApk);
  EXPECT_EQ((*pkgs)[1].name, "busybox");
  EXPECT_EQ((*pkgs)[2].name, "ca-certificates-bundle");
  EXPECT_EQ((*pkgs)[2].source, "ca-certificates");
}

TEST(ApkInstalled, Errors) {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"P:a\nP:b\nV:1\n", "line 2: a second P: line"},
      {"P:a\nnot a line\n", "line 2: not a \"X:value\" line"},
      {"V:1\nA:x\n", "record at line 1: no P: (name) line"},
      {"P:a\nA:x\n\nP:b\nV:1\n", "(P:a): no V: (version) line"},
      {"P:a b\nV:1\n", "line 1: P (name) has byte 32"},
      {"P:\nV:1\n", "line 1: P (name) is empty"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<InstalledPackage>> r = ParseApkInstalled(c.in);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.want)) << c.in;
    EXPECT_THAT(Msg(r.status()), HasSubstr("/lib/apk/db/installed")) << c.in;
  }
  absl::StatusOr<std::vector<InstalledPackage>> noarch = ParseApkInstalled("P:a\nV:1\n");
  ASSERT_TRUE(noarch.ok());
  EXPECT_EQ((*noarch)[0].arch, "");
}

// ---- paths

TEST(PackageDbPaths, WhichPathsAreDatabases) {
  EXPECT_EQ(PackageDbAt("/var/lib/dpkg/status"), PackageDbKind::kDpkgStatus);
  EXPECT_EQ(PackageDbAt("/var/lib/dpkg/status.d/libc6"), PackageDbKind::kDpkgStatusD);
  EXPECT_EQ(PackageDbAt("/var/lib/dpkg/status.d/libc6.md5sums"), std::nullopt);
  EXPECT_EQ(PackageDbAt("/var/lib/dpkg/status.d/a/b"), std::nullopt);
  EXPECT_EQ(PackageDbAt("/var/lib/dpkg/status.d"), std::nullopt);
  EXPECT_EQ(PackageDbAt("/var/lib/dpkg/status-old"), std::nullopt);
  EXPECT_EQ(PackageDbAt("/lib/apk/db/installed"), PackageDbKind::kApkInstalled);
  EXPECT_EQ(PackageDbAt("/usr/lib/apk/db/installed"), PackageDbKind::kApkInstalled);
  EXPECT_EQ(PackageDbAt("/var/lib/rpm/rpmdb.sqlite"), PackageDbKind::kRpmSqlite);
  EXPECT_EQ(PackageDbAt("/usr/lib/sysimage/rpm/rpmdb.sqlite"), PackageDbKind::kRpmSqlite);
  EXPECT_EQ(PackageDbAt("/var/lib/rpm/Packages"), PackageDbKind::kRpmBerkeleyDb);
  EXPECT_EQ(PackageDbAt("/usr/lib/sysimage/rpm/Packages.db"), PackageDbKind::kRpmNdb);
  EXPECT_EQ(PackageDbAt("/var/lib/rpm/rpmdb.sqlite-wal"), std::nullopt);
  EXPECT_EQ(PackageDbAt("/var/lib/rpmx/rpmdb.sqlite"), std::nullopt);
  EXPECT_EQ(PackageDbAt("/etc/passwd"), std::nullopt);

  for (const char* p : {"/", "/var", "/var/lib", "/var/lib/dpkg", "/var/lib/dpkg/status",
                        "/var/lib/dpkg/status.d", "/var/lib/dpkg/status.d/libc6", "/lib",
                        "/lib/apk", "/usr", "/usr/lib/sysimage", "/var/lib/rpm/Packages"}) {
    EXPECT_TRUE(DeletionAffectsPackageDbs(p)) << p;
  }
  for (const char* p : {"/etc", "/var/lib/dpkg/info", "/var/li", "/var/lib/rpm-state", "var"}) {
    EXPECT_FALSE(DeletionAffectsPackageDbs(p)) << p;
  }
}

// ---- package URLs

TEST(PackageUrl, FollowsThePurlSpec) {
  InstalledPackage bash{Ecosystem::kDeb, "bash", "5.2.15-2+b2", "amd64"};
  EXPECT_EQ(PackageUrl(bash, Distro{"debian", ""}), "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64");
  EXPECT_EQ(PackageUrl(bash, Distro{"debian", "12"}),
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12");
  EXPECT_EQ(PackageUrl(bash, std::nullopt), "pkg:deb/bash@5.2.15-2%2Bb2?arch=amd64");
  InstalledPackage zlib{Ecosystem::kDeb, "zlib1g", "1:1.2.13.dfsg-1", "amd64"};
  EXPECT_EQ(PackageUrl(zlib, std::nullopt), "pkg:deb/zlib1g@1:1.2.13.dfsg-1?arch=amd64");
  InstalledPackage cxx{Ecosystem::kDeb, "libstdc++6", "12~rc1", ""};
  EXPECT_EQ(PackageUrl(cxx, std::nullopt), "pkg:deb/libstdc%2B%2B6@12~rc1");
  InstalledPackage apk{Ecosystem::kApk, "musl", "1.2.4_git20230717-r4", "x86_64"};
  EXPECT_EQ(PackageUrl(apk, Distro{"alpine", "3.19.1"}),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1");
  InstalledPackage rpm{Ecosystem::kRpm, "Curl", "1:7.50.3-1.fc25", "i386"};
  rpm.rpm_epoch = 1;
  rpm.rpm_version_release = "7.50.3-1.fc25";
  EXPECT_EQ(PackageUrl(rpm, Distro{"fedora", "25"}),
            "pkg:rpm/fedora/Curl@7.50.3-1.fc25?arch=i386&distro=fedora-25&epoch=1");
}

TEST(OsRelease, IdAndVersionId) {
  absl::StatusOr<Distro> d = ParseOsRelease(
      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
      "VERSION_ID=\"12\"\nID=debian\n");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, "debian");
  EXPECT_EQ(d->version_id, "12");
  absl::StatusOr<std::string> mine = ReadFileLimited("/etc/os-release", 1 << 16, "");
  if (mine.ok()) {
    EXPECT_TRUE(ParseOsRelease(*mine).ok());
  }
  EXPECT_THAT(Msg(ParseOsRelease("NAME=x\n").status()), HasSubstr("ID missing"));
  EXPECT_THAT(Msg(ParseOsRelease("ID=\"a/b\"\n").status()), HasSubstr("not a lower-case token"));
}

// ---- inventory

std::string Stanza(const std::string& name, const std::string& version,
                   const std::string& arch = "amd64") {
  return StrCat("Package: ", name, "\nStatus: install ok installed\nVersion: ", version,
                "\nArchitecture: ", arch, "\n\n");
}

PackageDbChange Write(std::string path, std::string bytes) {
  return {PackageDbChange::Op::kWrite, std::move(path), std::move(bytes)};
}
PackageDbChange Delete(std::string path) { return {PackageDbChange::Op::kDelete, std::move(path), ""}; }

std::vector<std::string> Summary(const PackageInventory& inv) {
  std::vector<std::string> out;
  for (const InventoryPackage& p : inv.packages) {
    out.push_back(StrCat(p.layer_index, " ", EcosystemName(p.package.ecosystem), " ",
                         p.package.name, " ", p.package.version,
                         p.changed ? StrCat(" (was ", p.previous_version, ")") : ""));
  }
  return out;
}

TEST(PackageInventory, AttributesEachPackageToTheLayerThatIntroducedIt) {
  const std::string status = "/var/lib/dpkg/status";
  std::vector<LayerPackageDbs> stack = {
      {"sha256:l0", {Write(status, Stanza("base-files", "12.4") + Stanza("bash", "5.2.15-2"))}},
      {"sha256:l1", {}},  // a layer that touched no database
      {"sha256:l2", {Write(status, Stanza("base-files", "12.4") + Stanza("bash", "5.2.15-2+b2") +
                                       Stanza("curl", "7.88.1-10"))}},
      {"sha256:l3", {Write(status, Stanza("base-files", "12.4") + Stanza("bash", "5.2.15-2+b2") +
                                       Stanza("curl", "7.88.1-10") + Stanza("jq", "1.6-2.1")),
                     Write("/var/lib/dpkg/status.d/distroless-extra", Stanza("tzdata", "2024a", "all"))}},
  };
  absl::StatusOr<PackageInventory> inv =
      BuildPackageInventory("sha256:img", stack, 1, Distro{"debian", "12"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_THAT(Summary(*inv), ::testing::ElementsAre("2 deb bash 5.2.15-2+b2 (was 5.2.15-2)",
                                                    "2 deb curl 7.88.1-10", "3 deb jq 1.6-2.1",
                                                    "3 deb tzdata 2024a"));
  EXPECT_EQ(inv->packages[0].layer_digest, "sha256:l2");
  EXPECT_EQ(inv->packages[1].purl, "pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12");
  EXPECT_EQ(inv->image, "sha256:img");
  EXPECT_EQ(inv->layers, 4u);

  // With no base every layer counts; with the whole stack as base nothing does.
  absl::StatusOr<PackageInventory> all = BuildPackageInventory("i", stack, 0, std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->packages.size(), 5u);
  EXPECT_EQ(all->packages[0].package.name, "base-files");
  absl::StatusOr<PackageInventory> none = BuildPackageInventory("i", stack, 4, std::nullopt);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->packages.empty());
  EXPECT_EQ(BuildPackageInventory("i", stack, 5, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PackageInventory, WhiteoutsAndReinstalls) {
  const std::string d = "/var/lib/dpkg/status.d/";
  std::vector<LayerPackageDbs> stack = {
      {"l0", {Write(d + "libc6", Stanza("libc6", "2.36")), Write(d + "libssl3", Stanza("libssl3", "3.0.11"))}},
      // the whole status.d is whited out (or made opaque), and libc6 written back unchanged
      {"l1", {Write(d + "libc6", Stanza("libc6", "2.36")), Delete("/var/lib/dpkg/status.d")}},
      // libssl3 comes back: it was gone after l1, so l2 introduced it
      {"l2", {Write(d + "libssl3", Stanza("libssl3", "3.0.11"))}},
      {"l3", {Write("/lib/apk/db/installed", "P:musl\nV:1.2.4-r4\nA:x86_64\n")}},
      {"l4", {Delete("/lib")}},  // apk's database is gone again
  };
  absl::StatusOr<PackageInventory> inv = BuildPackageInventory("i", stack, 1, std::nullopt);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_THAT(Summary(*inv), ::testing::ElementsAre("2 deb libssl3 3.0.11"));
}

TEST(PackageInventory, ThreeEcosystemsAndTheRpmFixture) {
  std::vector<LayerPackageDbs> stack = {
      {"l0", {}},
      {"l1", {Write("/var/lib/rpm/rpmdb.sqlite", Fixture("rpmdb.sqlite")),
              Write("/lib/apk/db/installed", Fixture("apk_installed"))}},
  };
  absl::StatusOr<PackageInventory> inv = BuildPackageInventory("i", stack, 1, std::nullopt);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_THAT(Summary(*inv),
              ::testing::ElementsAre("1 apk busybox 1.36.1-r15",
                                     "1 apk ca-certificates-bundle 20230506-r0",
                                     "1 apk musl 1.2.4_git20230717-r4",
                                     "1 rpm layerseal-hello 1.0-1", "1 rpm layerseal-tool 2:3.4.5-6.fc39",
                                     "1 rpm libls++ 12.2.1-4.el9"));
  EXPECT_EQ(inv->packages[4].purl, "pkg:rpm/layerseal-tool@3.4.5-6.fc39?arch=x86_64&epoch=2");
  EXPECT_EQ(inv->packages[5].purl, "pkg:rpm/libls%2B%2B@12.2.1-4.el9?arch=aarch64");
}

TEST(PackageInventory, UnavailableAndBrokenDatabases) {
  std::string bdb(4096, '\0');
  bdb[12] = 0x61; bdb[13] = 0x15; bdb[14] = 0x06;  // hash magic, little-endian
  std::vector<LayerPackageDbs> stack = {
      {"l0", {Write("/var/lib/rpm/Packages", bdb)}},
      {"l1", {Write("/var/lib/dpkg/status", Stanza("a", "1"))}},
  };
  absl::StatusOr<PackageInventory> inv = BuildPackageInventory("i", stack, 1, std::nullopt);
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->unavailable.size(), 1u);
  EXPECT_EQ(inv->unavailable[0].path, "/var/lib/rpm/Packages");
  EXPECT_EQ(inv->unavailable[0].layer_index, 0u);
  EXPECT_THAT(inv->unavailable[0].reason, HasSubstr("not available: rpm BerkeleyDB database"));
  EXPECT_EQ(inv->packages.size(), 1u);

  stack.push_back({"sha256:bad", {Write("/var/lib/dpkg/status", "Package: a\nPackage: b\n")}});
  absl::Status s = BuildPackageInventory("i", stack, 1, std::nullopt).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("layer 2 (sha256:bad): /var/lib/dpkg/status line 2"));

  std::vector<LayerPackageDbs> wrong = {{"l0", {Write("/etc/passwd", "root")}}};
  EXPECT_THAT(Msg(BuildPackageInventory("i", wrong, 0, std::nullopt).status()),
              HasSubstr("\"/etc/passwd\" is not a package database path"));
}

// ---- the attachment

TEST(PackagesAttachment, RoundTripsAndReads) {
  std::vector<LayerPackageDbs> stack = {
      {"sha256:l0", {Write("/var/lib/dpkg/status", Fixture("dpkg_status")),
                     Write("/var/lib/rpm/Packages.db", "RpmP....")}},
      {"sha256:l1", {Write("/var/lib/dpkg/status",
                           Fixture("dpkg_status") +
                               "Package: half\nStatus: install reinstreq half-installed\n"
                               "Version: 1\nArchitecture: amd64\nSource: src (0.9)\n\n")}},
      {"sha256:l2", {Write("/usr/lib/sysimage/rpm/rpmdb.sqlite", Fixture("rpmdb.sqlite"))}},
  };
  absl::StatusOr<PackageInventory> inv =
      BuildPackageInventory("sha256:image", stack, 1, Distro{"debian", "12"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->packages.size(), 4u);
  absl::StatusOr<std::string> serialized = SerializePackagesAttachment(*inv);
  ASSERT_TRUE(serialized.ok()) << serialized.status();
  std::string json = *serialized;
  EXPECT_THAT(json, HasSubstr("{\"format\":\"layerseal.packages/v1\",\"image\":\"sha256:image\""));
  EXPECT_THAT(json, HasSubstr("\"state\":\"half-installed\""));
  EXPECT_THAT(json, HasSubstr("\"source_version\":\"0.9\""));
  EXPECT_THAT(json, HasSubstr("\"unavailable\":[{\"path\":\"/var/lib/rpm/Packages.db\""));
  absl::StatusOr<PackageInventory> back = ParsePackagesAttachment(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *inv);

  // Unknown members are ignored: the format grows by optional members.
  std::string grown = json;
  grown.insert(1, "\"future\":{\"x\":[1,2]},");
  grown.insert(grown.find("\"name\":\"half\""), "\"vulnerabilities\":[],");
  absl::StatusOr<PackageInventory> g = ParsePackagesAttachment(grown);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(*g, *inv);
}

TEST(PackagesAttachment, Errors) {
  const std::string pkg =
      "{\"name\":\"a\",\"version\":\"1\",\"ecosystem\":\"deb\",\"purl\":\"pkg:deb/a@1\","
      "\"layer_index\":1,\"layer_digest\":\"d\",\"change\":\"added\"}";
  auto doc = [](const std::string& pkgs, const std::string& extra = "") {
    return StrCat("{\"format\":\"layerseal.packages/v1\",\"image\":\"i\",\"base_layers\":1,"
                  "\"layers\":2,\"packages\":[", pkgs, "]", extra, "}");
  };
  ASSERT_TRUE(ParsePackagesAttachment(doc(pkg)).ok()) << ParsePackagesAttachment(doc(pkg)).status();
  struct Case {
    std::string in, want;
  } cases[] = {
      {"[]", "not a JSON object"},
      {"{\"format\":\"layerseal.packages/v2\"}", "format: \"layerseal.packages/v2\" is not"},
      {doc(pkg, ",\"image\":\"j\""), "duplicate key \"image\""},
      {doc(pkg + "," + pkg.substr(0, pkg.size() - 1) + ",\"change\":\"gone\"}"),
       "duplicate key"},
      {doc("{\"name\":\"a\"}"), "packages[0].ecosystem: missing"},
      {doc(std::string(pkg).replace(pkg.find("\"deb\","), 6, "\"npm\",")),
       "packages[0].ecosystem: \"npm\" is not deb, apk or rpm"},
      {doc(std::string(pkg).replace(pkg.find("\"layer_index\":1"), 15, "\"layer_index\":0")),
       "packages[0].layer_index: 0 is not a layer above the base"},
      {doc(std::string(pkg).replace(pkg.find("\"layer_index\":1"), 15, "\"layer_index\":-1")),
       "packages[0].layer_index: not a non-negative integer"},
      {doc(std::string(pkg).replace(pkg.find("pkg:deb/"), 8, "pkg:rpm/")),
       "packages[0].purl: does not start with \"pkg:deb/\""},
      {doc(std::string(pkg).replace(pkg.find("\"version\":\"1\""), 13, "\"version\":\"1 2\"")),
       "version has byte 32"},
      {doc(pkg, ",\"unavailable\":[{\"path\":\"p\"}]"), "unavailable[0].layer_digest: missing"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<PackageInventory> r = ParsePackagesAttachment(c.in);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.want)) << c.in;
  }
  // One package over the limit is refused before any element is read (so empty objects
  // stand for packages: a document of real ones took minutes to parse under ASan -O0).
  std::string many;
  many.reserve(3 * (kMaxPackages + 1));
  for (size_t i = 0; i <= kMaxPackages; ++i) many += i ? ",{}" : "{}";
  absl::Status over = ParsePackagesAttachment(doc(many)).status();
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted) << over;
  EXPECT_THAT(Msg(over), HasSubstr("exceed the limit"));
  PackageInventory big;
  big.packages.resize(kMaxPackages + 1);
  EXPECT_EQ(SerializePackagesAttachment(big).status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace layerseal::layers
