// Seal layer tars and gzip of verifier/seal_layer.h: deterministic writers, and readers that
// reject every hostile archive shape (hand-crafted headers) and gzip bombs.
#include "verifier/seal_layer.h"

#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;

constexpr size_t kBlock = 512;
const std::string kPath(kSealManifestPath);

// A ustar header with every field as layerseal writes it; tests then break one thing.
struct Header {
  std::string name = kPath;
  std::string prefix;
  char type = '0';
  std::string size;  // the raw 12-byte size field; empty: octal of the content size
  std::string magic = std::string("ustar\0", 6);
  std::string version = "00";
  bool fix_checksum = true;
};

void PutField(std::string& block, size_t offset, size_t len, std::string_view value) {
  std::memcpy(block.data() + offset, value.data(), std::min(len, value.size()));
}

std::string Octal(size_t width, unsigned long long v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%0*llo", static_cast<int>(width - 1), v);
  return std::string(buf) + std::string(1, '\0');
}

std::string Checksummed(std::string block) {
  std::memset(block.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : block) sum += c;
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%06o", sum);
  std::memcpy(block.data() + 148, buf, 7);
  return block;
}

std::string HeaderBlock(const Header& h, size_t content_size) {
  std::string block(kBlock, '\0');
  PutField(block, 0, 100, h.name);
  PutField(block, 100, 8, Octal(8, 0644));
  PutField(block, 108, 8, Octal(8, 0));
  PutField(block, 116, 8, Octal(8, 0));
  PutField(block, 124, 12, h.size.empty() ? Octal(12, content_size) : h.size);
  PutField(block, 136, 12, Octal(12, 0));
  block[156] = h.type;
  PutField(block, 257, 6, h.magic);
  PutField(block, 263, 2, h.version);
  PutField(block, 345, 155, h.prefix);
  return h.fix_checksum ? Checksummed(block) : block;
}

std::string Padded(std::string s) {
  s.resize((s.size() + kBlock - 1) / kBlock * kBlock, '\0');
  return s;
}

std::string Tar(const Header& h, const std::string& content, size_t end_blocks = 2) {
  return HeaderBlock(h, content.size()) + Padded(content) + std::string(end_blocks * kBlock, '\0');
}

absl::Status ReadStatus(const std::string& tar, std::string_view path = kPath) {
  return ReadSingleFileTar(tar, path).status();
}

void ExpectRejected(const std::string& tar, const std::string& why, std::string_view path = kPath) {
  absl::Status s = ReadStatus(tar, path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << why;
  EXPECT_THAT(std::string(s.message()), HasSubstr(why));
}

// ---- writer ----

TEST(MakeSingleFileTarTest, WritesAStrictUstarEntry) {
  std::string tar = MakeSingleFileTar(kPath, "hello");
  ASSERT_EQ(tar.size(), 4 * kBlock);
  std::string_view h(tar.data(), kBlock);
  EXPECT_EQ(h.substr(0, kPath.size() + 1), kPath + std::string(1, '\0'));
  EXPECT_EQ(h.substr(100, 8), Octal(8, 0644));
  EXPECT_EQ(h.substr(108, 16), Octal(8, 0) + Octal(8, 0));
  EXPECT_EQ(h.substr(124, 12), Octal(12, 5));
  EXPECT_EQ(h.substr(136, 12), Octal(12, 0));
  EXPECT_EQ(h[156], '0');
  EXPECT_EQ(h.substr(257, 8), std::string("ustar\0" "00", 8));
  EXPECT_EQ(h.substr(265, 64), std::string(64, '\0'));  // uname, gname
  EXPECT_EQ(Checksummed(std::string(h)), h);
  EXPECT_EQ(tar.substr(kBlock, 5), "hello");
  EXPECT_EQ(tar.substr(kBlock + 5), std::string(3 * kBlock - 5, '\0'));
}

TEST(MakeSingleFileTarTest, RoundTripsAnyContentSize) {
  for (size_t n : {0, 1, 511, 512, 513, 4096, 100000}) {
    std::string content(n, 'x');
    for (size_t i = 0; i < n; ++i) content[i] = static_cast<char>(i * 7);
    std::string tar = MakeSingleFileTar(kPath, content);
    EXPECT_EQ(tar.size(), kBlock + Padded(content).size() + 2 * kBlock) << n;
    absl::StatusOr<std::string> back = ReadSingleFileTar(tar, kPath);
    ASSERT_TRUE(back.ok()) << n << ": " << back.status();
    EXPECT_EQ(*back, content);
  }
}

TEST(MakeSingleFileTarTest, LongPathsUseThePrefixField) {
  std::string dir(120, 'd');
  std::string path = dir + "/" + std::string(90, 'f');
  std::string tar = MakeSingleFileTar(path, "x");
  ASSERT_FALSE(tar.empty());
  EXPECT_EQ(tar.substr(345, 120), dir);
  EXPECT_EQ(*ReadSingleFileTar(tar, path), "x");
  EXPECT_EQ(MakeSingleFileTar(std::string(101, 'a'), "x"), "");  // no '/' to split at
  EXPECT_EQ(MakeSingleFileTar("", "x"), "");
}

// GNU tar, an independent reader, sees one regular file with our content and metadata.
TEST(MakeSingleFileTarTest, GnuTarReadsIt) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "seal_test.XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  std::ofstream(tmpl + "/a.tar", std::ios::binary) << MakeSingleFileTar(kPath, "content\n");
  std::string cmd = "cd '" + tmpl + "' && tar --numeric-owner -tvf a.tar > list.txt && tar -xOf a.tar > out.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::stringstream list, out;
  list << std::ifstream(tmpl + "/list.txt").rdbuf();
  out << std::ifstream(tmpl + "/out.txt").rdbuf();
  std::filesystem::remove_all(tmpl);
  EXPECT_THAT(list.str(), HasSubstr("-rw-r--r-- 0/0"));
  EXPECT_THAT(list.str(), HasSubstr("1970-01-01"));
  EXPECT_THAT(list.str(), HasSubstr(kPath));
  EXPECT_EQ(out.str(), "content\n");
}

// ---- reader: hostile archives ----

TEST(ReadSingleFileTarTest, CraftedValidArchiveIsAccepted) {
  EXPECT_EQ(*ReadSingleFileTar(Tar(Header{}, "abc"), kPath), "abc");
  Header old_style;
  old_style.type = '\0';  // pre-POSIX regular file
  EXPECT_EQ(*ReadSingleFileTar(Tar(old_style, "abc"), kPath), "abc");
  EXPECT_EQ(*ReadSingleFileTar(Tar(Header{}, "abc", 18), kPath), "abc");  // record padding
  Header split;
  split.prefix = ".layerseal";
  split.name = "manifest.json";
  EXPECT_EQ(*ReadSingleFileTar(Tar(split, "abc"), kPath), "abc");
}

TEST(ReadSingleFileTarTest, RejectsBadChecksumAndNonUstarMagic) {
  Header bad_sum;
  bad_sum.fix_checksum = false;
  ExpectRejected(Tar(bad_sum, "abc"), "checksum");
  std::string tar = Tar(Header{}, "abc");
  tar[10] ^= 1;
  ExpectRejected(tar, "checksum");
  Header gnu;
  gnu.magic = std::string("ustar ", 6);
  gnu.version = std::string(" \0", 2);
  ExpectRejected(Tar(gnu, "abc"), "not a POSIX ustar header");
  Header v7;
  v7.magic = std::string(6, '\0');
  v7.version = std::string(2, '\0');
  ExpectRejected(Tar(v7, "abc"), "not a POSIX ustar header");
  Header wrong_version;
  wrong_version.version = "01";
  ExpectRejected(Tar(wrong_version, "abc"), "not a POSIX ustar header");
}

TEST(ReadSingleFileTarTest, RejectsEveryEntryTypeButRegularFile) {
  const std::pair<char, const char*> kTypes[] = {
      {'x', "PAX extended header"}, {'g', "PAX global header"}, {'L', "GNU long name"},
      {'K', "GNU long link name"},  {'1', "hard link"},         {'2', "symbolic link"},
      {'5', "directory"},           {'3', "character device"},  {'6', "FIFO"},
      {'7', "contiguous file"},     {'S', "'S'"},               {'V', "'V'"},         {'\x80', "0x80"}};
  for (const auto& [type, name] : kTypes) {
    Header h;
    h.type = type;
    ExpectRejected(Tar(h, "abc"), name);
  }
  // A PAX header that would rename the entry, followed by the real entry.
  Header pax;
  pax.type = 'x';
  pax.name = "PaxHeaders/manifest.json";
  std::string records = "30 path=.layerseal/other.json\n";
  ExpectRejected(HeaderBlock(pax, records.size()) + Padded(records) + Tar(Header{}, "abc"), "PAX extended header");
}

TEST(ReadSingleFileTarTest, NameMustMatchExactly) {
  for (const char* name : {"../x", "./.layerseal/manifest.json", "/.layerseal/manifest.json",
                           ".layerseal/manifest.json/", ".layerseal//manifest.json", ".layerseal/signature.json",
                           "../.layerseal/manifest.json", ".LAYERSEAL/manifest.json"}) {
    Header h;
    h.name = name;
    ExpectRejected(Tar(h, "abc"), "entry is named \"" + std::string(name) + "\"");
  }
  Header prefixed;
  prefixed.prefix = "..";
  ExpectRejected(Tar(prefixed, "abc"), "entry is named \"../.layerseal/manifest.json\"");
  Header full_name;  // 100 bytes, no NUL terminator
  full_name.name = std::string(100, 'n');
  ExpectRejected(Tar(full_name, "abc"), "entry is named \"" + std::string(100, 'n') + "\"");
  Header hidden;  // bytes after the NUL do not count, and are shown escaped in the message
  hidden.name = kPath + std::string("\0evil", 5);
  EXPECT_TRUE(ReadStatus(Tar(hidden, "abc")).ok());
  Header control;
  control.name = "a\nb\x01";
  ExpectRejected(Tar(control, "abc"), "\"a\\x0ab\\x01\"");
}

TEST(ReadSingleFileTarTest, SizeMustBeStrictOctalAndFit) {
  const std::pair<std::string, const char*> kSizes[] = {
      {std::string("00000000009\0", 12), "not octal"},
      {std::string("       3\0\0\0\0", 12), "not octal"},           // leading spaces
      {std::string("-0000000003\0", 12), "not octal"},
      {std::string("000000000003", 12), "not octal"},            // no terminator
      {std::string("\x80\0\0\0\0\0\0\0\0\0\0\x03", 12), "not octal"},  // GNU base-256
      {std::string("\0\0\0\0\0\0\0\0\0\0\0\0", 12), "not octal"},
      {std::string("0000003\0xx\0\0", 12), "not octal"},           // junk after the terminator
      {Octal(12, 1 << 20), "runs past the end"},
      {Octal(12, 077777777777ULL), "runs past the end"},
      {Octal(12, 3 * kBlock), "missing the two zero blocks"},  // eats the end blocks
  };
  for (const auto& [field, why] : kSizes) {
    Header h;
    h.size = field;
    ExpectRejected(Tar(h, "abc"), why);
  }
  Header space_terminated;
  space_terminated.size = std::string("00000000003 ", 12);
  EXPECT_EQ(*ReadSingleFileTar(Tar(space_terminated, "abc"), kPath), "abc");
}

TEST(ReadSingleFileTarTest, RejectsSecondEntriesAndBadEnds) {
  std::string one = Tar(Header{}, "abc", 0);
  Header second;
  second.name = "evil";
  ExpectRejected(one + Tar(second, "x"), "more than one entry");
  ExpectRejected(one + Tar(Header{}, "abc"), "more than one entry");
  ExpectRejected(one + std::string(kBlock, '\0') + Tar(second, "x"), "more than one entry");
  ExpectRejected(one, "missing the two zero blocks");
  ExpectRejected(one + std::string(kBlock, '\0'), "missing the two zero blocks");
  ExpectRejected(one + std::string(2 * kBlock + 1, '\0'), "not a multiple of 512");
  ExpectRejected(one + std::string(2 * kBlock - 1, '\0'), "not a multiple of 512");
  std::string tail_garbage = one + std::string(3 * kBlock, '\0');
  tail_garbage.back() = 'x';
  ExpectRejected(tail_garbage, "more than one entry");
  std::string bad_padding = Tar(Header{}, "abc");
  bad_padding[kBlock + 100] = 'x';
  ExpectRejected(bad_padding, "non-zero padding");
}

TEST(ReadSingleFileTarTest, RejectsEmptyAndShortArchives) {
  ExpectRejected("", "no header");
  ExpectRejected(std::string(100, 'a'), "no header");
  ExpectRejected(std::string(1024, '\0'), "no entry");
  ExpectRejected(HeaderBlock(Header{}, 3), "runs past the end");
}

// Every prefix and random byte flips of a valid archive: errors, never reads out of bounds
// (run under -DLAYERSEAL_SANITIZE=address to check the latter).
TEST(ReadSingleFileTarTest, TruncationsAndMutationsNeverCrash) {
  std::string tar = MakeSingleFileTar(kPath, std::string(700, 'c'));
  for (size_t n = 0; n < tar.size(); ++n) {
    EXPECT_FALSE(ReadSingleFileTar(tar.substr(0, n), kPath).ok()) << n;
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 5000; ++i) {
    std::string m = tar;
    for (int flips = 1 + rng() % 4; flips > 0; --flips) m[rng() % 600] = static_cast<char>(rng());
    std::string header = Checksummed(m.substr(0, kBlock));  // get past the checksum half the time
    if (i % 2) m.replace(0, kBlock, header);
    (void)ReadSingleFileTar(m, kPath);
    (void)ReadSingleFileTar(m.substr(0, rng() % m.size()), kPath);
  }
}

// ---- gzip ----

std::string Random(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(GzipTest, RoundTripsAndIsDeterministic) {
  for (const std::string& bytes : {std::string(), std::string("a"), Random(1 << 20, 1), std::string(300000, 'z')}) {
    std::string gz = GzipCompress(bytes);
    EXPECT_EQ(GzipCompress(bytes), gz);
    ASSERT_GE(gz.size(), 18u);
    EXPECT_EQ(gz.substr(0, 3), "\x1f\x8b\x08");
    EXPECT_EQ(gz[3], 0);                                 // FLG: no name, comment, extra
    EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0'));  // MTIME 0
    absl::StatusOr<std::string> back = GzipDecompress(gz, bytes.size());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, bytes);
  }
}

TEST(GzipTest, GunzipReadsOurOutputAndWeReadGzips) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "seal_test.XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  std::string bytes = Random(100000, 2);
  std::ofstream(tmpl + "/ours.gz", std::ios::binary) << GzipCompress(bytes);
  std::ofstream(tmpl + "/plain", std::ios::binary) << bytes;
  std::string cmd = "cd '" + tmpl + "' && gzip -dc ours.gz > ours.out && gzip -9 -c plain > theirs.gz";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::stringstream ours, theirs;
  ours << std::ifstream(tmpl + "/ours.out", std::ios::binary).rdbuf();
  theirs << std::ifstream(tmpl + "/theirs.gz", std::ios::binary).rdbuf();
  std::filesystem::remove_all(tmpl);
  EXPECT_EQ(ours.str(), bytes);
  EXPECT_EQ(*GzipDecompress(theirs.str(), bytes.size()), bytes);  // gzip stores the file name
}

TEST(GzipTest, LimitIsExact) {
  std::string gz = GzipCompress(std::string(1000, 'a'));
  EXPECT_TRUE(GzipDecompress(gz, 1000).ok());
  absl::Status s = GzipDecompress(gz, 999).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("limit of 999"));
  EXPECT_EQ(GzipDecompress(gz, 0).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(GzipTest, BombIsRejectedAtTheLimit) {
  std::string bomb = GzipCompress(std::string(100 << 20, '\0'));
  ASSERT_LT(bomb.size(), 200u << 10);
  absl::Status s = GzipDecompress(bomb, kMaxSealUncompressedBytes).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST(GzipTest, RejectsTruncatedStreams) {
  std::string gz = GzipCompress(Random(5000, 3));
  for (size_t n = 0; n < gz.size(); ++n) {
    absl::Status s = GzipDecompress(gz.substr(0, n), 1 << 20).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n << ": " << s;
  }
  EXPECT_THAT(std::string(GzipDecompress(gz.substr(0, gz.size() - 1), 1 << 20).status().message()),
              HasSubstr("truncated"));
}

TEST(GzipTest, RejectsSecondMembersTrailingBytesAndCorruption) {
  std::string gz = GzipCompress("first");
  absl::Status two = GzipDecompress(gz + GzipCompress("second"), 1 << 20).status();
  EXPECT_EQ(two.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(two.message()), HasSubstr("trailing bytes"));
  EXPECT_EQ(GzipDecompress(gz + std::string(1, '\0'), 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(gz + std::string(8, '\0'), 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);

  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 1;
  EXPECT_EQ(GzipDecompress(bad_crc, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  std::string bad_size = gz;
  bad_size[bad_size.size() - 4] ^= 1;
  EXPECT_EQ(GzipDecompress(bad_size, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress("not gzip at all", 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipDecompress(std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8), 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);  // zlib wrapper, not gzip
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string m = GzipCompress(Random(2000, i));
    m[rng() % m.size()] ^= static_cast<char>(1 + rng() % 255);
    (void)GzipDecompress(m, 1 << 20);  // must not crash; most are InvalidArgument
  }
}

TEST(SealLayerTest, TarInGzipRoundTrip) {
  std::string manifest = R"({"schemaVersion":2})";
  std::string gz = GzipCompress(MakeSingleFileTar(kSealManifestPath, manifest));
  absl::StatusOr<std::string> tar = GzipDecompress(gz, kMaxSealUncompressedBytes);
  ASSERT_TRUE(tar.ok()) << tar.status();
  EXPECT_EQ(*ReadSingleFileTar(*tar, kSealManifestPath), manifest);
  EXPECT_FALSE(ReadSingleFileTar(*tar, kSealSignaturePath).ok());
}

}  // namespace
}  // namespace layerseal
