// The tar reader and layer stream (verifier/layers/tar_reader.h, layer_stream.h) on archives
// made at test time by Debian's GNU tar (ustar, gnu and pax formats; long names, hard and
// symbolic links, sparse files), compressed by gzip and zstd, with digests checked against
// sha256sum; and on hand-made hostile archives.
#include "verifier/layers/layer_stream.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "base/str_cat.h"
#include "tests/support/process.h"
#include "verifier/layers/path_rules.h"
#include "verifier/layers/tar_reader.h"

namespace layerseal::layers {
namespace {

using testing::Run;
using testing::RunResult;
using testing::TempDir;

constexpr std::string_view kTar = "application/vnd.oci.image.layer.v1.tar";
constexpr std::string_view kGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kDockerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
constexpr std::string_view kZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

// Records every entry; captures the content of the paths in `capture`.
class Recorder : public TarVisitor {
 public:
  std::vector<TarEntry> entries;
  std::map<std::string, std::string> captured;
  std::map<std::string, size_t> capture;  // path -> max bytes

  absl::StatusOr<Action> OnEntry(const TarEntry& entry) override {
    entries.push_back(entry);
    auto it = capture.find(entry.path);
    return it == capture.end() ? Action::Skip() : Action::Capture(it->second);
  }
  absl::Status OnContent(const TarEntry& entry, std::string_view content) override {
    captured[entry.path] = std::string(content);
    return absl::OkStatus();
  }
  const TarEntry* Find(std::string_view path) const {
    for (const TarEntry& e : entries) {
      if (e.path == path) return &e;
    }
    return nullptr;
  }
};

std::string MustRun(const std::vector<std::string>& argv, const std::string& input = "") {
  absl::StatusOr<RunResult> r = Run(argv, input);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << argv[0] << ": " << r->err;
  return r->out;
}

std::string Sha256sum(const std::string& file) {
  std::string out = MustRun({"sha256sum", file});
  return StrCat("sha256:", out.substr(0, 64));
}

std::string ReadFile(const std::string& path) { return testing::ReadFileOrDie(path); }

const std::string kLongDir = std::string(60, 'd') + "/" + std::string(80, 'e');
const std::string kLongName = kLongDir + "/" + std::string(120, 'f');  // 262 bytes
const std::string kLongLinkTarget = "/" + std::string(150, 't') + "/target";

// A small root file system. `long_names`: a path and a symlink target too long for ustar.
void MakeTree(const std::string& root, bool long_names) {
  MustRun({"mkdir", "-p", root + "/etc", root + "/bin", root + "/usr/empty", root + "/var/lib/dpkg"});
  testing::WriteFileOrDie(root + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  std::string sh(100000, '\0');
  for (size_t i = 0; i < sh.size(); ++i) sh[i] = static_cast<char>((i * 7919) >> 3);
  testing::WriteFileOrDie(root + "/bin/sh", sh, 0755);
  testing::WriteFileOrDie(root + "/var/lib/dpkg/status", "Package: busybox\nStatus: install ok installed\n");
  testing::WriteFileOrDie(root + "/etc/empty", "");
  MustRun({"ln", "-s", "sh", root + "/bin/link"});
  MustRun({"ln", root + "/bin/sh", root + "/bin/hard"});
  if (long_names) {
    MustRun({"mkdir", "-p", root + "/" + kLongDir});
    testing::WriteFileOrDie(root + "/" + kLongName, "long\n");
    MustRun({"ln", "-s", kLongLinkTarget, root + "/bin/longlink"});
  }
}

std::string MakeTar(const TempDir& tmp, const std::string& format, bool long_names) {
  std::string root = tmp.File("root-" + format);
  MakeTree(root, long_names);
  std::string out = tmp.File("layer-" + format + ".tar");
  MustRun({"tar", "--format=" + format, "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
           "-C", root, "-cf", out, "."});
  return out;
}

struct FeedResult {
  absl::StatusOr<LayerDigests> digests;
  Recorder recorder;
};

// Feeds `blob` in chunks: sizes from `chunk_sizes` in turn (0 = the rest at once).
absl::StatusOr<LayerDigests> FeedAll(std::string_view media_type, std::string_view blob, TarVisitor* visitor,
                                     std::vector<size_t> chunk_sizes, std::optional<Digest> diff_id = std::nullopt,
                                     std::optional<Digest> blob_digest = std::nullopt,
                                     LayerStreamLimits limits = {}) {
  LayerBlob desc{std::string(media_type), blob_digest.value_or(Digest::Sha256Of(blob)), blob.size()};
  absl::StatusOr<std::unique_ptr<LayerStream>> stream = LayerStream::Open(desc, diff_id, visitor, limits);
  if (!stream.ok()) return stream.status();
  size_t pos = 0, turn = 0;
  while (pos < blob.size()) {
    size_t n = chunk_sizes.empty() ? 0 : chunk_sizes[turn++ % chunk_sizes.size()];
    if (n == 0) n = blob.size() - pos;
    n = std::min(n, blob.size() - pos);
    if (absl::Status s = (*stream)->Feed(blob.substr(pos, n)); !s.ok()) return s;
    pos += n;
  }
  return (*stream)->Finish();
}

Digest MustParse(const std::string& text) {
  absl::StatusOr<Digest> d = Digest::Parse(text);
  EXPECT_TRUE(d.ok()) << text;
  return d.ok() ? *d : Digest();
}

void ExpectTreeEntries(const Recorder& r, bool long_names) {
  const TarEntry* root = r.Find("/");
  ASSERT_NE(root, nullptr) << "\"./\" is the root directory";
  EXPECT_EQ(root->type, TarEntryType::kDirectory);
  const TarEntry* passwd = r.Find("/etc/passwd");
  ASSERT_NE(passwd, nullptr);
  EXPECT_EQ(passwd->type, TarEntryType::kFile);
  EXPECT_EQ(passwd->size, 30u);
  EXPECT_EQ(passwd->mode, 0644u);
  const TarEntry* sh = r.Find("/bin/sh");
  const TarEntry* hard = r.Find("/bin/hard");
  ASSERT_NE(sh, nullptr);
  ASSERT_NE(hard, nullptr);
  // GNU tar stores the first of the two names as the file, the second as a link to it.
  const TarEntry* file = sh->type == TarEntryType::kFile ? sh : hard;
  const TarEntry* link = sh->type == TarEntryType::kFile ? hard : sh;
  EXPECT_EQ(file->type, TarEntryType::kFile);
  EXPECT_EQ(file->size, 100000u);
  EXPECT_EQ(file->mode, 0755u);
  EXPECT_EQ(link->type, TarEntryType::kHardLink);
  EXPECT_EQ(link->linkname, file->path);
  EXPECT_EQ(link->size, 0u);
  const TarEntry* symlink = r.Find("/bin/link");
  ASSERT_NE(symlink, nullptr);
  EXPECT_EQ(symlink->type, TarEntryType::kSymlink);
  EXPECT_EQ(symlink->linkname, "sh");
  const TarEntry* empty_dir = r.Find("/usr/empty");
  ASSERT_NE(empty_dir, nullptr);
  EXPECT_EQ(empty_dir->type, TarEntryType::kDirectory);
  ASSERT_NE(r.Find("/etc/empty"), nullptr);
  if (long_names) {
    const TarEntry* long_file = r.Find("/" + kLongName);
    ASSERT_NE(long_file, nullptr) << "the 262-byte name";
    EXPECT_EQ(long_file->size, 5u);
    const TarEntry* long_link = r.Find("/bin/longlink");
    ASSERT_NE(long_link, nullptr);
    EXPECT_EQ(long_link->linkname, kLongLinkTarget);
  }
  for (size_t i = 0; i < r.entries.size(); ++i) EXPECT_EQ(r.entries[i].index, i);
}

class FormatTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FormatTest, GnuTarArchivesInEveryCompressionAndChunking) {
  TempDir tmp;
  bool long_names = GetParam() != "ustar";
  std::string tar_file = MakeTar(tmp, GetParam(), long_names);
  std::string tar = ReadFile(tar_file);
  MustRun({"sh", "-c", StrCat("gzip -n -c ", tar_file, " > ", tar_file, ".gz")});
  MustRun({"zstd", "-q", "-f", tar_file, "-o", tar_file + ".zst"});
  Digest diff_id = MustParse(Sha256sum(tar_file));
  struct Case {
    std::string_view media_type;
    std::string file;
  };
  for (const Case& c : {Case{kTar, tar_file}, Case{kGzip, tar_file + ".gz"}, Case{kDockerGzip, tar_file + ".gz"},
                        Case{kZstd, tar_file + ".zst"}}) {
    std::string blob = ReadFile(c.file);
    Digest blob_digest = MustParse(Sha256sum(c.file));
    for (const std::vector<size_t>& chunks :
         std::vector<std::vector<size_t>>{{0}, {1}, {511, 513, 7, 65536}, {4096}}) {
      SCOPED_TRACE(StrCat(GetParam(), " ", c.media_type, " chunk ", chunks[0]));
      Recorder r;
      r.capture = {{"/etc/passwd", 1 << 20}, {"/var/lib/dpkg/status", 10}, {"/etc/empty", 100}};
      absl::StatusOr<LayerDigests> d = FeedAll(c.media_type, blob, &r, chunks, diff_id, blob_digest);
      ASSERT_TRUE(d.ok()) << d.status();
      EXPECT_EQ(d->blob, blob_digest);
      EXPECT_EQ(d->blob_size, blob.size());
      EXPECT_EQ(d->diff_id, diff_id);
      EXPECT_EQ(d->diff_size, tar.size());
      EXPECT_EQ(d->entries, r.entries.size());
      ExpectTreeEntries(r, long_names);
      EXPECT_EQ(r.captured["/etc/passwd"], "root:x:0:0:root:/root:/bin/sh\n");
      EXPECT_EQ(r.captured["/var/lib/dpkg/status"], "Package: b") << "captured up to the bound";
      ASSERT_EQ(r.captured.count("/etc/empty"), 1u) << "empty content is still delivered";
      EXPECT_EQ(r.captured["/etc/empty"], "");
    }
    // Without a visitor the stream only hashes (an integrity scrub).
    absl::StatusOr<LayerDigests> d = FeedAll(c.media_type, blob, nullptr, {4096}, diff_id, blob_digest);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->diff_id, diff_id);
    EXPECT_EQ(d->entries, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, FormatTest, ::testing::Values("ustar", "gnu", "pax", "oldgnu", "posix"));

TEST(LayerStreamTest, MultiMemberGzip) {
  TempDir tmp;
  std::string tar_file = MakeTar(tmp, "gnu", true);
  std::string tar = ReadFile(tar_file);
  // Two gzip members (as `cat a.gz b.gz` makes), split inside a header.
  testing::WriteFileOrDie(tmp.File("a"), tar.substr(0, 1000));
  testing::WriteFileOrDie(tmp.File("b"), tar.substr(1000));
  MustRun({"sh", "-c", StrCat("cd ", tmp.path(), " && gzip -c a > two.gz && gzip -c b >> two.gz")});
  std::string blob = ReadFile(tmp.File("two.gz"));
  ASSERT_EQ(MustRun({"sh", "-c", StrCat("gzip -dc ", tmp.File("two.gz"), " | sha256sum")}).substr(0, 64),
            Sha256sum(tar_file).substr(7));
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{100}}) {
    Recorder r;
    absl::StatusOr<LayerDigests> d = FeedAll(kGzip, blob, &r, {chunk}, MustParse(Sha256sum(tar_file)));
    ASSERT_TRUE(d.ok()) << d.status();
    ExpectTreeEntries(r, true);
  }
}

TEST(LayerStreamTest, MultiFrameZstdAndOnlyZstdFrames) {
  TempDir tmp;
  std::string tar_file = MakeTar(tmp, "pax", true);
  std::string tar = ReadFile(tar_file);
  testing::WriteFileOrDie(tmp.File("a"), tar.substr(0, 3000));
  testing::WriteFileOrDie(tmp.File("b"), tar.substr(3000));
  MustRun({"sh", "-c", StrCat("cd ", tmp.path(), " && zstd -q -c a > two.zst && zstd -q -c b >> two.zst")});
  std::string blob = ReadFile(tmp.File("two.zst"));
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}}) {
    Recorder r;
    absl::StatusOr<LayerDigests> d = FeedAll(kZstd, blob, &r, {chunk}, MustParse(Sha256sum(tar_file)));
    ASSERT_TRUE(d.ok()) << chunk << ": " << d.status();
    ExpectTreeEntries(r, true);
  }
  // A pre-1.0 "legacy" zstd frame (magic FD2FB525), which libzstd would decode but
  // containerd's decoder does not (fuzzer regression layer_stream/legacy-zstd-magic).
  std::string legacy("\x25\xb5\x2f\xfd\x00\xfd\x86\x73", 8);
  for (size_t chunk : {size_t{0}, size_t{1}}) {
    absl::StatusOr<LayerDigests> d = FeedAll(kZstd, legacy, nullptr, {chunk});
    ASSERT_FALSE(d.ok()) << chunk;  // byte by byte libzstd itself refuses the partial magic
    if (chunk == 0) {
      EXPECT_NE(d.status().message().find("not a zstd frame"), absl::string_view::npos) << d.status();
    }
  }
  // The second frame's magic damaged.
  std::string a_zst = MustRun({"zstd", "-q", "-c", tmp.File("a")});
  std::string damaged = blob;
  damaged[a_zst.size()] = 0x25;
  EXPECT_FALSE(FeedAll(kZstd, damaged, nullptr, {0}).ok());
}

TEST(LayerStreamTest, SparseFilesKeepTheirRealNames) {
  TempDir tmp;
  std::string root = tmp.File("root");
  MustRun({"mkdir", "-p", root + "/bin"});
  MustRun({"sh", "-c", StrCat("printf x | dd of=", root, "/bin/sparse bs=1 seek=2000000 conv=notrunc 2>/dev/null")});
  for (std::string format : {"gnu", "pax"}) {
    std::string out = tmp.File(format + ".tar");
    MustRun({"tar", "--sparse", "--format=" + format, "-C", root, "-cf", out, "."});
    Recorder r;
    r.capture = {{"/bin/sparse", 100}};
    absl::StatusOr<LayerDigests> d = FeedAll(kTar, ReadFile(out), &r, {333});
    ASSERT_FALSE(d.ok()) << format << ": capturing a sparse file is refused";
    EXPECT_NE(d.status().message().find("sparse"), absl::string_view::npos) << d.status();
    r = Recorder();
    d = FeedAll(kTar, ReadFile(out), &r, {333});
    ASSERT_TRUE(d.ok()) << format << ": " << d.status();
    const TarEntry* e = r.Find("/bin/sparse");
    ASSERT_NE(e, nullptr) << format << ": the real name, not GNUSparseFile.N/sparse";
    EXPECT_TRUE(e->sparse);
    EXPECT_EQ(e->type, TarEntryType::kFile);
    for (const TarEntry& other : r.entries) {
      EXPECT_EQ(other.path.find("GNUSparse"), std::string::npos) << other.path;
    }
  }
}

TEST(LayerStreamTest, PaxGlobalHeadersAreIgnored) {
  TempDir tmp;
  std::string root = tmp.File("root");
  MakeTree(root, false);
  std::string out = tmp.File("g.tar");
  MustRun({"tar", "--format=pax", "--pax-option=comment=global", "-C", root, "-cf", out, "."});
  ASSERT_NE(ReadFile(out).find("comment=global"), std::string::npos);
  Recorder r;
  absl::StatusOr<LayerDigests> d = FeedAll(kTar, ReadFile(out), &r, {0});
  ASSERT_TRUE(d.ok()) << d.status();
  ExpectTreeEntries(r, false);
}

TEST(LayerStreamTest, DigestAndSizeMismatchesNameExpectedAndActual) {
  TempDir tmp;
  std::string tar_file = MakeTar(tmp, "gnu", false);
  MustRun({"sh", "-c", StrCat("gzip -n -c ", tar_file, " > ", tar_file, ".gz")});
  std::string blob = ReadFile(tar_file + ".gz");
  Digest wrong = Digest::Sha256Of("something else");
  absl::StatusOr<LayerDigests> d = FeedAll(kGzip, blob, nullptr, {0}, std::nullopt, wrong);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("blob digest mismatch"), absl::string_view::npos) << d.status();
  EXPECT_NE(d.status().message().find(wrong.str()), absl::string_view::npos);
  EXPECT_NE(d.status().message().find(Sha256sum(tar_file + ".gz")), absl::string_view::npos);

  d = FeedAll(kGzip, blob, nullptr, {0}, wrong);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("diff_id mismatch"), absl::string_view::npos) << d.status();
  EXPECT_NE(d.status().message().find(Sha256sum(tar_file)), absl::string_view::npos) << d.status();

  // More bytes than the descriptor says: refused as they arrive.
  LayerBlob small{std::string(kGzip), Digest::Sha256Of(blob), blob.size() - 1};
  absl::StatusOr<std::unique_ptr<LayerStream>> s = LayerStream::Open(small, std::nullopt, nullptr);
  ASSERT_TRUE(s.ok());
  absl::Status fed = (*s)->Feed(blob);
  EXPECT_FALSE(fed.ok());
  EXPECT_NE(fed.message().find("larger than its descriptor"), absl::string_view::npos) << fed;
  // Fewer.
  LayerBlob big{std::string(kGzip), Digest::Sha256Of(blob), blob.size() + 1};
  s = LayerStream::Open(big, std::nullopt, nullptr);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Feed(blob).ok());
  absl::StatusOr<LayerDigests> fin = (*s)->Finish();
  ASSERT_FALSE(fin.ok());
  EXPECT_NE(fin.status().message().find("blob size mismatch"), absl::string_view::npos) << fin.status();
}

TEST(LayerStreamTest, UnknownMediaTypeAndSha512AreRefusedAtOpen) {
  LayerBlob b{"application/vnd.oci.image.layer.v1.tar+bzip2", Digest::Sha256Of(""), 0};
  absl::StatusOr<std::unique_ptr<LayerStream>> s = LayerStream::Open(b, std::nullopt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("tar+bzip2"), absl::string_view::npos) << s.status();
}

TEST(LayerStreamTest, TruncatedCorruptAndTrailingGarbageAreErrors) {
  TempDir tmp;
  std::string tar_file = MakeTar(tmp, "gnu", false);
  MustRun({"sh", "-c", StrCat("gzip -n -c ", tar_file, " > ", tar_file, ".gz")});
  MustRun({"zstd", "-q", "-f", tar_file, "-o", tar_file + ".zst"});
  std::string gz = ReadFile(tar_file + ".gz");
  std::string zst = ReadFile(tar_file + ".zst");
  std::string tar = ReadFile(tar_file);
  Recorder r;
  EXPECT_FALSE(FeedAll(kGzip, gz.substr(0, gz.size() - 4), &r, {0}).ok()) << "gzip without its trailer";
  EXPECT_FALSE(FeedAll(kZstd, zst.substr(0, zst.size() - 4), &r, {0}).ok()) << "zstd without its end";
  EXPECT_FALSE(FeedAll(kGzip, gz + "garbage!", &r, {0}).ok()) << "trailing garbage after a member";
  EXPECT_FALSE(FeedAll(kGzip, "", &r, {0}).ok()) << "an empty gzip stream";
  std::string corrupt = gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  EXPECT_FALSE(FeedAll(kGzip, corrupt, &r, {0}).ok());
  // The tar itself cut inside an entry's content.
  absl::StatusOr<LayerDigests> d = FeedAll(kTar, tar.substr(0, 512 * 3 + 100), &r, {0});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("ends inside"), absl::string_view::npos) << d.status();
  // Data after the end-of-archive blocks.
  std::string tail = tar + std::string(512, 'x');
  d = FeedAll(kTar, tail, &r, {0});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("after the end-of-archive"), absl::string_view::npos) << d.status();
}

TEST(LayerStreamTest, DecompressionBombIsAnError) {
  TempDir tmp;
  // 64 MiB of zeros compress to ~64 KiB.
  MustRun({"sh", "-c", StrCat("head -c 67108864 /dev/zero | gzip -c > ", tmp.File("z.gz"),
                              " && head -c 67108864 /dev/zero | zstd -q -c > ", tmp.File("z.zst"))});
  LayerStreamLimits limits;
  limits.max_decompressed_bytes = 8 << 20;
  for (auto [media_type, file] : {std::pair{kGzip, tmp.File("z.gz")}, std::pair{kZstd, tmp.File("z.zst")}}) {
    std::string blob = ReadFile(file);
    EXPECT_LT(blob.size(), 1u << 20);
    absl::StatusOr<LayerDigests> d = FeedAll(media_type, blob, nullptr, {0}, std::nullopt, std::nullopt, limits);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted) << d.status();
    EXPECT_NE(d.status().message().find("8388608"), absl::string_view::npos) << d.status();
  }
}

TEST(Sha256StreamTest, ChunkedEqualsWholeAndSha256sum) {
  std::string bytes;
  for (int i = 0; i < 100000; ++i) bytes.push_back(static_cast<char>(i * 31));
  Sha256Stream h;
  for (size_t pos = 0, n = 1; pos < bytes.size(); pos += n, n = n * 3 % 4099 + 1) {
    h.Update(std::string_view(bytes).substr(pos, n));
  }
  EXPECT_EQ(h.size(), bytes.size());
  Digest d = h.Finish();
  EXPECT_EQ(d, Digest::Sha256Of(bytes));
  EXPECT_EQ(d.str(), StrCat("sha256:", MustRun({"sha256sum"}, bytes).substr(0, 64)));
  EXPECT_EQ(h.size(), 0u) << "Finish starts over";
  EXPECT_EQ(h.Finish(), Digest::Sha256Of(""));
  Sha256Stream moved = std::move(h);
  moved.Update("abc");
  EXPECT_EQ(moved.Finish(), Digest::Sha256Of("abc"));
}

// The protected-path judge as the layer stream's visitor, over layers GNU tar made: a base
// and a top layer that whites out /bin/sh, then one that turns /bin into a symlink.
TEST(LayerStreamTest, ProtectedPathJudgeOverRealLayers) {
  TempDir tmp;
  std::string base = MakeTar(tmp, "gnu", false);
  MustRun({"mkdir", "-p", tmp.File("top/bin"), tmp.File("top/usr/bin"), tmp.File("link")});
  testing::WriteFileOrDie(tmp.File("top/bin/.wh.sh"), "");
  testing::WriteFileOrDie(tmp.File("top/usr/bin/tool"), "tool");
  MustRun({"tar", "--format=pax", "-C", tmp.File("top"), "-czf", tmp.File("top.tar.gz"), "."});
  MustRun({"ln", "-s", "/tmp", tmp.File("link/bin")});
  MustRun({"tar", "--format=gnu", "-C", tmp.File("link"), "-cf", tmp.File("link.tar"), "."});
  absl::StatusOr<ProtectedPaths> rules = ProtectedPaths::Parse({"/bin/*", "/etc/passwd"});
  ASSERT_TRUE(rules.ok()) << rules.status();

  struct Layer {
    std::string_view media_type;
    std::string file;
  };
  auto judge = [&](const std::vector<Layer>& layers) {
    ProtectedPathJudge j(&*rules, 1);
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string blob = ReadFile(layers[i].file);
      j.BeginLayer(i, Digest::Sha256Of(blob));
      absl::StatusOr<LayerDigests> d = FeedAll(layers[i].media_type, blob, &j, {4096});
      EXPECT_TRUE(d.ok()) << d.status();
    }
    return j.violation();
  };
  std::optional<PathViolation> v = judge({{kTar, base}, {kGzip, tmp.File("top.tar.gz")}});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->layer_index, 1u);
  EXPECT_EQ(v->layer_digest.str(), Sha256sum(tmp.File("top.tar.gz")));
  EXPECT_EQ(v->entry_path, "/bin/.wh.sh");
  EXPECT_EQ(v->rule, "whiteout");
  v = judge({{kTar, base}, {kTar, tmp.File("link.tar")}});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->entry_path, "/bin");
  EXPECT_EQ(v->rule, "non-directory over a protected directory");
  EXPECT_FALSE(judge({{kTar, base}}).has_value()) << "the base itself is not judged";
}

// ---- Hand-made archives: what GNU tar will not write. ----

void PutOctal(std::string& h, size_t off, size_t len, uint64_t v) {
  std::string s = StrCat(std::string(len - 1, '0'));
  for (size_t i = len - 1; i-- > 0 && v != 0; v >>= 3) s[i] = static_cast<char>('0' + (v & 7));
  std::memcpy(h.data() + off, s.data(), len - 1);
}

std::string Header(std::string_view name, char type, uint64_t size, std::string_view link = "") {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 100));
  PutOctal(h, 100, 8, 0644);
  PutOctal(h, 108, 8, 0);
  PutOctal(h, 116, 8, 0);
  PutOctal(h, 124, 12, size);
  PutOctal(h, 136, 12, 0);
  h[156] = type;
  std::memcpy(h.data() + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h.data() + 257, "ustar\0" "00", 8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  PutOctal(h, 148, 7, sum);
  return h;
}

std::string Entry(std::string_view name, char type, std::string_view content, std::string_view link = "") {
  std::string e = Header(name, type, content.size(), link);
  e.append(content);
  e.resize(e.size() + (512 - content.size() % 512) % 512, '\0');
  return e;
}

std::string Pax(std::string_view records) { return Entry("PaxHeader", 'x', records); }

std::string Record(std::string_view key, std::string_view value) {
  std::string body = StrCat(" ", key, "=", value, "\n");
  size_t n = body.size() + 1;
  while (std::to_string(n).size() + body.size() != n) ++n;
  return StrCat(n, body);
}

std::string End() { return std::string(1024, '\0'); }

absl::Status ReadTar(const std::string& tar, Recorder& r, TarLimits limits = {}) {
  TarReader reader(&r, limits);
  if (absl::Status s = reader.Feed(tar); !s.ok()) return s;
  return reader.Finish();
}

TEST(TarReaderTest, DotDotAndNulAreErrorsNamingTheEntry) {
  Recorder r;
  absl::Status s = ReadTar(Entry("a/../../etc/passwd", '0', "x") + End(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("\"..\""), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("archive offset 0"), absl::string_view::npos) << s;
  s = ReadTar(Entry("ok", '0', "") + Entry("evil", '1', "", "../../etc/shadow") + End(), r);
  ASSERT_FALSE(s.ok()) << "a hard link out of the root";
  EXPECT_NE(s.message().find("hard link target"), absl::string_view::npos) << s;
  s = ReadTar(Pax(Record("path", std::string("a\0b", 3))) + Entry("x", '0', "") + End(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("NUL"), absl::string_view::npos) << s;
}

TEST(TarReaderTest, PathsAreNormalized) {
  Recorder r;
  ASSERT_TRUE(ReadTar(Entry("./usr//bin/./x", '0', "") + Entry("/abs/y", '5', "") + Entry(".", '5', "") +
                          Entry("dir/", '5', "") + End(),
                      r)
                  .ok());
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.entries[0].path, "/usr/bin/x");
  EXPECT_EQ(r.entries[1].path, "/abs/y");
  EXPECT_EQ(r.entries[2].path, "/");
  EXPECT_EQ(r.entries[3].path, "/dir");
}

TEST(TarReaderTest, BadChecksumIsAnError) {
  std::string tar = Entry("etc/passwd", '0', "root") + End();
  tar[0] = 'E';
  Recorder r;
  absl::Status s = ReadTar(tar, r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("checksum"), absl::string_view::npos) << s;
  EXPECT_TRUE(r.entries.empty());
}

TEST(TarReaderTest, PaxOverridesAndAmbiguities) {
  Recorder r;
  // PAX path and size replace the header's.
  ASSERT_TRUE(ReadTar(Pax(Record("path", "bin/sh") + Record("size", "3") + Record("mtime", "1.5")) +
                          Header("innocent", '0', 0) + std::string("abc") + std::string(509, '\0') + End(),
                      r)
                  .ok());
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].path, "/bin/sh");
  EXPECT_EQ(r.entries[0].size, 3u);
  // A GNU long name and a PAX path that differ: which one containerd uses is a guess.
  absl::Status s = ReadTar(Pax(Record("path", "etc/motd")) + Entry("././@LongLink", 'L', std::string("bin/sh\0", 7)) +
                               Entry("x", '0', "") + End(),
                           r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("differ"), absl::string_view::npos) << s;
  // Two PAX headers for one entry.
  s = ReadTar(Pax(Record("path", "a")) + Pax(Record("path", "b")) + Entry("x", '0', "") + End(), r);
  EXPECT_FALSE(s.ok());
  // A duplicate key.
  s = ReadTar(Pax(Record("path", "a") + Record("path", "b")) + Entry("x", '0', "") + End(), r);
  EXPECT_FALSE(s.ok());
  // Malformed records.
  for (std::string bad : {std::string("5 a=b\n"), std::string("99 path=x\n"), std::string("x path=y\n"),
                          std::string("10 pathxy\n\n")}) {
    EXPECT_FALSE(ReadTar(Pax(bad) + Entry("x", '0', "") + End(), r).ok()) << bad;
  }
  // A PAX header with no entry after it.
  EXPECT_FALSE(ReadTar(Pax(Record("path", "a")) + End(), r).ok());
}

TEST(TarReaderTest, LimitsAreNamedErrors) {
  Recorder r;
  TarLimits limits;
  limits.max_entries = 3;
  std::string four;
  for (int i = 0; i < 4; ++i) four += Entry(StrCat("f", i), '0', "");
  absl::Status s = ReadTar(four + End(), r, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  limits = TarLimits();
  limits.max_path_bytes = 50;
  s = ReadTar(Entry("././@LongLink", 'L', std::string(200, 'a')) + Entry("x", '0', "") + End(), r, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  limits = TarLimits();
  limits.max_pax_header_bytes = 100;
  s = ReadTar(Pax(Record("comment", std::string(200, 'c'))) + Entry("x", '0', "") + End(), r, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  // A captured file is cut at the reader's limit, whatever the visitor asked.
  limits = TarLimits();
  limits.max_captured_file_bytes = 4;
  r = Recorder();
  r.capture = {{"/f", 1 << 20}};
  ASSERT_TRUE(ReadTar(Entry("f", '0', "123456789") + End(), r, limits).ok());
  EXPECT_EQ(r.captured["/f"], "1234");
}

TEST(TarReaderTest, NumericFields) {
  Recorder r;
  // GNU base-256 size.
  std::string h = Header("big", '0', 0);
  std::memset(h.data() + 124, 0, 12);
  h[124] = static_cast<char>(0x80);
  h[135] = 5;
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  PutOctal(h, 148, 7, sum);
  ASSERT_TRUE(ReadTar(h + "hello" + std::string(507, '\0') + End(), r).ok());
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].size, 5u);
  // A negative base-256 size.
  h[124] = static_cast<char>(0xff);
  std::memset(h.data() + 148, ' ', 8);
  sum = 0;
  for (unsigned char c : h) sum += c;
  PutOctal(h, 148, 7, sum);
  absl::Status s = ReadTar(h + End(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("negative"), absl::string_view::npos) << s;
}

TEST(TarReaderTest, EndOfArchiveForms) {
  std::string one = Entry("a", '0', "x");
  Recorder r;
  EXPECT_TRUE(ReadTar(one, r).ok()) << "no end blocks, as Go's reader accepts";
  EXPECT_TRUE(ReadTar(one + std::string(512, '\0'), r).ok()) << "one end block";
  EXPECT_TRUE(ReadTar(one + std::string(10240, '\0'), r).ok()) << "a padded record";
  EXPECT_FALSE(ReadTar(one + std::string(512, '\0') + one, r).ok()) << "an entry after a zero block";
  EXPECT_FALSE(ReadTar(one + std::string(100, 'x'), r).ok()) << "a partial header";
  EXPECT_FALSE(ReadTar(one.substr(0, 600), r).ok()) << "content cut";
}

TEST(TarReaderTest, UnknownTypeIsAnError) {
  Recorder r;
  absl::Status s = ReadTar(Entry("vol", 'V', "") + End(), r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unsupported entry type"), absl::string_view::npos) << s;
}

TEST(TarReaderTest, VisitorErrorsStopTheReader) {
  class Refuser : public TarVisitor {
   public:
    absl::StatusOr<Action> OnEntry(const TarEntry&) override { return absl::CancelledError("enough"); }
  } refuser;
  TarReader reader(&refuser);
  absl::Status s = reader.Feed(Entry("a", '0', "x") + End());
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(s.message(), "enough");
  EXPECT_EQ(reader.Feed("more").code(), absl::StatusCode::kCancelled);
}

TEST(TarReaderTest, RandomChunkingGivesTheSameEntries) {
  std::string tar = Pax(Record("path", std::string(300, 'p'))) + Entry("x", '0', std::string(1500, 'c')) +
                    Entry("././@LongLink", 'K', std::string(200, 'k')) + Entry("l", '2', "") + End();
  Recorder whole;
  ASSERT_TRUE(ReadTar(tar, whole).ok());
  ASSERT_EQ(whole.entries.size(), 2u);
  EXPECT_EQ(whole.entries[0].path, "/" + std::string(300, 'p'));
  EXPECT_EQ(whole.entries[1].linkname, std::string(200, 'k'));
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    Recorder r;
    TarReader reader(&r);
    size_t pos = 0;
    while (pos < tar.size()) {
      size_t n = std::min<size_t>(tar.size() - pos, rng() % 700);
      ASSERT_TRUE(reader.Feed(std::string_view(tar).substr(pos, n)).ok());
      pos += n;
    }
    ASSERT_TRUE(reader.Finish().ok());
    ASSERT_EQ(r.entries.size(), 2u);
    EXPECT_EQ(r.entries[0].path, whole.entries[0].path);
    EXPECT_EQ(r.entries[1].linkname, whole.entries[1].linkname);
  }
}

}  // namespace
}  // namespace layerseal::layers
