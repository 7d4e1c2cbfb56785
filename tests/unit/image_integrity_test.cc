// The image-integrity rules (verifier/image_integrity.h; issue 18): trusted bases, protected
// paths, the package inventory and the bytes, on images whose layers are real tar archives
// made at test time by GNU tar from directory trees and compressed by the gzip and zstd
// CLIs; layer digests come from sha256sum and ChainIDs from python3's hashlib, not from our
// code. Blobs are served by an in-memory BlobReader that can lose or corrupt them.
#include "verifier/image_integrity.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/tar_layer.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using testing::Run;
using testing::RunResult;
using testing::TempDir;

std::string MustRun(const std::vector<std::string>& argv, const std::string& input = "") {
  absl::StatusOr<RunResult> r = Run(argv, input);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << argv[0] << ": " << r->err;
  return r->out;
}

std::string Sha256sum(const std::string& file) {
  return StrCat("sha256:", MustRun({"sha256sum", file}).substr(0, 64));
}

Digest D(const std::string& s) {
  absl::StatusOr<Digest> d = Digest::Parse(s);
  EXPECT_TRUE(d.ok()) << s;
  return d.ok() ? *d : Digest();
}

using testing::PythonChainIds;

// A file of a layer: content, or a symlink target when `symlink`.
struct File {
  std::string content;
  bool symlink = false;
  int mode = 0644;
};
using Tree = std::map<std::string, File>;  // relative path -> file

enum class Compression { kGzip, kZstd, kNone };

struct BuiltLayer {
  std::string blob;
  std::string media_type;
  std::string digest;   // of the blob, by sha256sum
  std::string diff_id;  // of the tar, by sha256sum
};

struct BuiltImage {
  std::vector<BuiltLayer> layers;
  std::string config;
  ImageManifest manifest;
  Digest digest;
  std::vector<std::string> chain_ids;  // by python3
};

// In-memory blobs; a blob missing is NotFound, as containerd's content store says it.
class MemoryReader : public BlobReader {
 public:
  std::map<std::string, std::string> blobs;
  std::vector<std::string> reads;  // digests, in order
  absl::Status Read(const Descriptor& blob,
                    const std::function<absl::Status(std::string_view)>& sink) override {
    reads.push_back(blob.digest.str());
    auto it = blobs.find(blob.digest.str());
    if (it == blobs.end()) return absl::NotFoundError(StrCat("content digest ", blob.digest.str(), ": not found"));
    std::string_view rest = it->second;
    while (!rest.empty()) {  // odd chunk sizes, as a stream would deliver them
      size_t n = std::min<size_t>(rest.size(), 777);
      if (absl::Status s = sink(rest.substr(0, n)); !s.ok()) return s;
      rest.remove_prefix(n);
    }
    return absl::OkStatus();
  }
  size_t ReadsOf(const std::string& digest) const {
    return std::count(reads.begin(), reads.end(), digest);
  }
};

class ImageIntegrityTest : public ::testing::Test {
 protected:
  // A layer from `tree`, by GNU tar (sorted, fixed owner and time) and the compressor CLI.
  BuiltLayer MakeLayer(const Tree& tree, Compression c = Compression::kGzip) {
    std::string root = tmp_.File(StrCat("root", counter_));
    std::string tar = tmp_.File(StrCat("layer", counter_, ".tar"));
    ++counter_;
    MustRun({"mkdir", "-p", root});
    for (const auto& [path, f] : tree) {
      std::string full = root + "/" + path;
      MustRun({"mkdir", "-p", full.substr(0, full.rfind('/'))});
      if (f.symlink) {
        MustRun({"ln", "-s", f.content, full});
      } else {
        testing::WriteFileOrDie(full, f.content, f.mode);
      }
    }
    MustRun({"tar", "--format=pax", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
             "--mtime=2024-01-01", "-C", root, "-cf", tar, "."});
    BuiltLayer l;
    l.diff_id = Sha256sum(tar);
    std::string blob_file = tar;
    if (c == Compression::kGzip) {
      MustRun({"gzip", "-n", "-k", tar});
      blob_file = tar + ".gz";
      l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    } else if (c == Compression::kZstd) {
      MustRun({"zstd", "-q", "-k", tar, "-o", tar + ".zst"});
      blob_file = tar + ".zst";
      l.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
    } else {
      l.media_type = "application/vnd.oci.image.layer.v1.tar";
    }
    l.blob = testing::ReadFileOrDie(blob_file);
    l.digest = Sha256sum(blob_file);
    return l;
  }

  // An OCI image of `layers`; `diff_ids` overrides the config's list when given.
  BuiltImage MakeImage(std::vector<BuiltLayer> layers,
                       std::optional<std::vector<std::string>> diff_ids = std::nullopt) {
    BuiltImage img;
    img.layers = std::move(layers);
    std::vector<std::string> ids;
    nlohmann::ordered_json descs = nlohmann::ordered_json::array();
    for (const BuiltLayer& l : img.layers) {
      ids.push_back(l.diff_id);
      descs.push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.blob.size()}});
    }
    nlohmann::ordered_json config = {
        {"architecture", "amd64"}, {"os", "linux"},
        {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids.value_or(ids)}}}};
    img.config = config.dump();
    nlohmann::ordered_json m = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                    {"digest", Digest::Sha256Of(img.config).str()},
                    {"size", img.config.size()}}},
        {"layers", descs}};
    std::string bytes = m.dump();
    absl::StatusOr<ImageManifest> parsed =
        ParseImageManifest(bytes, "application/vnd.oci.image.manifest.v1+json");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) img.manifest = *parsed;
    img.digest = Digest::Sha256Of(bytes);
    if (!ids.empty()) img.chain_ids = PythonChainIds(ids);
    return img;
  }

  static void Serve(MemoryReader& r, const BuiltImage& img) {
    for (const BuiltLayer& l : img.layers) r.blobs[l.digest] = l.blob;
  }

  static IntegrityRules Rules(std::vector<std::string> bases, std::vector<std::string> paths,
                              bool packages = false) {
    IntegrityRules rules;
    for (const std::string& b : bases) {
      TrustedBase t;
      t.name = b;
      t.chain_id = D(b);
      rules.trusted_bases.push_back(t);
    }
    rules.protected_path_patterns = paths;
    if (!paths.empty()) {
      absl::StatusOr<layers::ProtectedPaths> p = layers::ProtectedPaths::Parse(paths);
      EXPECT_TRUE(p.ok()) << p.status();
      rules.protected_paths = std::make_shared<const layers::ProtectedPaths>(*p);
    }
    rules.packages = packages;
    return rules;
  }

  static Verdict Signed() {
    Verdict v;
    v.decision = Decision::kAllow;
    v.reason = Reason::kVerified;
    v.detail = "verified";
    v.scope = "default";
    return v;
  }

  // A base with a shell and a passwd file, and an app layer on it.
  Tree BaseTree() {
    return {{"bin/sh", {"#!shell v1\n", false, 0755}},
            {"bin/ls", {"ls\n", false, 0755}},
            {"etc/passwd", {"root:x:0:0:root:/root:/bin/sh\n"}}};
  }

  TempDir tmp_;
  int counter_ = 0;
};

TEST_F(ImageIntegrityTest, ChainIdsEqualPythonsAndBaseMatchesLongest) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"usr/lib/libacme.so", {"acme"}}}, Compression::kZstd);
  BuiltLayer l2 = MakeLayer({{"app/run", {"app", false, 0755}}});
  BuiltImage img = MakeImage({l0, l1, l2});
  ASSERT_EQ(img.chain_ids.size(), 3u);
  EXPECT_EQ(img.chain_ids[0], l0.diff_id);  // ChainID(L0) = DiffID(L0)

  MemoryReader reader;
  Serve(reader, img);
  // Two bases: debian-like (L0) and a company base on it (L0, L1): the longer one counts.
  IntegrityRules rules = Rules({img.chain_ids[0], img.chain_ids[1]}, {});
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  ASSERT_TRUE(in.content.ok()) << in.content;
  ASSERT_EQ(in.chain_ids.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(in.chain_ids[i].str(), img.chain_ids[i]) << i;
  ASSERT_EQ(in.diff_ids.size(), 3u);
  EXPECT_EQ(in.diff_ids[2].str(), l2.diff_id);
  EXPECT_TRUE(in.base_checked);
  EXPECT_EQ(in.base_name, img.chain_ids[1]);
  EXPECT_EQ(in.base_layers, 2u);
  // A base rule alone needs only the config: no layer was read.
  EXPECT_TRUE(reader.reads.empty());
  EXPECT_EQ(in.bytes_read, 0u);
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_TRUE(v.allowed());
  EXPECT_EQ(v.reason, Reason::kVerified);
  EXPECT_EQ(v.detail, "verified");

  // The whole image as its own base, and a base in the other order: the longest still.
  rules = Rules({img.chain_ids[1], img.chain_ids[2], img.chain_ids[0]}, {});
  in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_EQ(in.base_layers, 3u);
}

TEST_F(ImageIntegrityTest, UntrustedBaseDeniesNamingTheBases) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"app/run", {"app"}}});
  BuiltImage img = MakeImage({l0, l1});
  // The base's ChainID is another image's; the second is the image's *top* layer's diff_id
  // alone, which is not a prefix.
  IntegrityRules rules = Rules({"sha256:" + std::string(64, '1'), l1.diff_id}, {"/bin/*"});
  rules.trusted_bases[0].name = "debian-12";
  TrustedBase unresolved;
  unresolved.name = "acme:1@sha256:" + std::string(64, '2');
  unresolved.reference = *Reference::Parse(unresolved.name);
  unresolved.unresolved = "manifest unknown";
  rules.trusted_bases.push_back(unresolved);
  MemoryReader reader;
  Serve(reader, img);
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_TRUE(in.content.ok()) << in.content;
  EXPECT_TRUE(in.base_checked);
  EXPECT_FALSE(in.base_name.has_value());
  EXPECT_TRUE(reader.reads.empty());  // denied on the config: no layer read
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_FALSE(v.allowed());
  EXPECT_EQ(v.reason, Reason::kUntrustedBase);
  EXPECT_EQ(v.detail,
            StrCat("the image's 2 layers (ChainID ", img.chain_ids[1],
                   ") start with none of the trusted bases: debian-12 = sha256:", std::string(64, '1'),
                   ", ", l1.diff_id, ", acme:1@sha256:", std::string(64, '2'),
                   " (unresolved: manifest unknown)"));
  EXPECT_EQ(v.scope, "default");
}

TEST_F(ImageIntegrityTest, ShellReplacedAboveTheBaseIsProtectedPath) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"app/run", {"app"}}}, Compression::kZstd);
  Tree evil = {{"bin/sh", {"#!not the shell\n", false, 0755}}, {"etc/motd", {"hi"}}};
  BuiltLayer l2 = MakeLayer(evil);
  BuiltLayer l3 = MakeLayer({{"more/stuff", {"x"}}});
  BuiltImage img = MakeImage({l0, l1, l2, l3});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/etc/passwd", "/bin/*"});
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  ASSERT_TRUE(in.content.ok()) << in.content;
  ASSERT_TRUE(in.violation.has_value());
  EXPECT_TRUE(in.paths_checked);
  EXPECT_EQ(in.violation->layer_index, 2u);
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.reason, Reason::kProtectedPath);
  EXPECT_EQ(v.detail, StrCat("layer 2 (", l2.digest,
                             "): \"/bin/sh\" added or replaced, protected by \"/bin/*\""));
  // The base (which has /bin/sh) was not read; reading stopped after the violating layer.
  EXPECT_EQ(reader.ReadsOf(l0.digest), 0u);
  EXPECT_EQ(reader.ReadsOf(l1.digest), 1u);
  EXPECT_EQ(reader.ReadsOf(l2.digest), 1u);
  EXPECT_EQ(reader.ReadsOf(l3.digest), 0u);
  EXPECT_EQ(in.bytes_read, l1.blob.size() + l2.blob.size());

  // Without the base rule every layer is above "the base": L0's own /bin/sh violates.
  rules = Rules({}, {"/bin/*"});
  in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  ASSERT_TRUE(in.violation.has_value());
  EXPECT_EQ(in.violation->layer_index, 0u);

  // The same image on a base that already holds the new shell (L0..L2): nothing above it
  // touches /bin, so it is admitted.
  rules = Rules({img.chain_ids[2]}, {"/bin/*"});
  in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_TRUE(in.content.ok());
  EXPECT_FALSE(in.violation.has_value());
  EXPECT_TRUE(in.paths_checked);
  EXPECT_TRUE(ApplyIntegrity(Signed(), rules, in).allowed());
}

TEST_F(ImageIntegrityTest, WhiteoutOfAProtectedPath) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  // What `RUN rm /etc/passwd` leaves: an empty ".wh.passwd" file.
  BuiltLayer l1 = MakeLayer({{"etc/.wh.passwd", {""}}});
  BuiltImage img = MakeImage({l0, l1});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/etc/passwd"});
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.reason, Reason::kProtectedPath);
  EXPECT_THAT(v.detail, HasSubstr(StrCat("layer 1 (", l1.digest, "): \"/etc/.wh.passwd\"")));
  EXPECT_THAT(v.detail, HasSubstr("protected by \"/etc/passwd\""));

  // Deleting the directory above a protected file (`rm -rf /bin`) deletes /bin/sh.
  BuiltLayer l2 = MakeLayer({{".wh.bin", {""}}});
  img = MakeImage({l0, l2});
  Serve(reader, img);
  rules = Rules({img.chain_ids[0]}, {"/bin/sh"});
  v = ApplyIntegrity(Signed(), rules, InspectImage(img.digest, img.manifest, img.config, rules, &reader));
  EXPECT_EQ(v.reason, Reason::kProtectedPath);
  EXPECT_THAT(v.detail, HasSubstr("\"/.wh.bin\""));
}

TEST_F(ImageIntegrityTest, CorruptedBlobIsIntegrityMismatch) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  Tree app;
  for (int i = 0; i < 50; ++i) app[StrCat("app/file", i)] = {std::string(2000, static_cast<char>('a' + i % 26))};
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    BuiltLayer l1 = MakeLayer(app, c);
    BuiltImage img = MakeImage({l0, l1});
    IntegrityRules rules = Rules({img.chain_ids[0]}, {"/bin/*"});
    // A byte flipped in the middle (the decompressor or tar reader may fail first) and at
    // the very end (a checksum or a padding byte): both are the blob's bytes.
    for (size_t at : {l1.blob.size() / 2, l1.blob.size() - 1}) {
      MemoryReader reader;
      Serve(reader, img);
      reader.blobs[l1.digest][at] ^= 0x01;
      ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
      EXPECT_EQ(in.content.code(), absl::StatusCode::kDataLoss) << in.content << " at " << at;
      Verdict v = ApplyIntegrity(Signed(), rules, in);
      EXPECT_EQ(v.reason, Reason::kIntegrityMismatch) << v.detail;
      EXPECT_THAT(v.detail, HasSubstr(StrCat("layer 1 (", l1.digest, "): blob hashes to sha256:")));
    }
    // A truncated blob.
    MemoryReader reader;
    Serve(reader, img);
    reader.blobs[l1.digest].resize(l1.blob.size() - 10);
    ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
    EXPECT_EQ(in.content.code(), absl::StatusCode::kDataLoss) << in.content;
    EXPECT_THAT(std::string(in.content.message()),
                HasSubstr(StrCat("blob has ", l1.blob.size() - 10, " bytes, its descriptor says ",
                                 l1.blob.size())));
  }
}

TEST_F(ImageIntegrityTest, DiffIdMismatchIsIntegrityMismatch) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"app/run", {"app"}}});
  BuiltLayer other = MakeLayer({{"app/run", {"other"}}});
  // The config names another layer's diff_id for L1; the blob matches its descriptor.
  BuiltImage img = MakeImage({l0, l1}, std::vector<std::string>{l0.diff_id, other.diff_id});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({l0.diff_id}, {"/bin/*"});
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kDataLoss);
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.reason, Reason::kIntegrityMismatch);
  EXPECT_EQ(v.detail, StrCat("layer 1 (", l1.digest, "): decompresses to ", l1.diff_id,
                             ", the config's diff_id is ", other.diff_id));
}

TEST_F(ImageIntegrityTest, MissingBlobIsContentUnavailableAndSignatureDenialStays) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"app/run", {"app"}}});
  BuiltImage img = MakeImage({l0, l1});
  MemoryReader reader;
  Serve(reader, img);
  reader.blobs.erase(l1.digest);  // containerd's discard_unpacked_layers
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/bin/*"});
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(in.content.message()),
              HasSubstr(StrCat("not available: layer 1 (", l1.digest, "): ")));
  EXPECT_FALSE(in.paths_checked);
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.reason, Reason::kContentUnavailable);
  EXPECT_THAT(v.detail, HasSubstr("protected paths could not be checked: not available: layer 1"));

  // A signature denial is never turned into anything else.
  Verdict bad;
  bad.decision = Decision::kDeny;
  bad.reason = Reason::kBadSignature;
  bad.detail = "signature does not verify";
  Verdict same = ApplyIntegrity(bad, rules, in);
  EXPECT_EQ(same.reason, Reason::kBadSignature);
  EXPECT_EQ(same.detail, "signature does not verify");

  // The base rule alone needs no layer: a missing layer does not matter to it.
  IntegrityRules base_only = Rules({img.chain_ids[0]}, {});
  in = InspectImage(img.digest, img.manifest, img.config, base_only, &reader);
  EXPECT_TRUE(in.content.ok());
  EXPECT_TRUE(ApplyIntegrity(Signed(), base_only, in).allowed());

  // No reader at all (a runtime without a content store).
  in = InspectImage(img.digest, img.manifest, img.config, rules, nullptr);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ApplyIntegrity(Signed(), rules, in).reason, Reason::kContentUnavailable);
}

// A layer whose bytes match its digests but that is not a tar the rules can judge (built
// hostile: a ".." member, made by python3's tarfile): the parser's error, not "corrupt".
TEST_F(ImageIntegrityTest, HostileLayerBuiltThatWayIsIntegrityMismatchNamingTheParser) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  std::string tar = tmp_.File("hostile.tar");
  MustRun({"python3", "-c",
           "import io, sys, tarfile\n"
           "with tarfile.open(sys.argv[1], 'w', format=tarfile.USTAR_FORMAT) as t:\n"
           "    data = b'x'\n"
           "    info = tarfile.TarInfo('../../bin/sh')\n"
           "    info.size = len(data)\n"
           "    t.addfile(info, io.BytesIO(data))\n",
           tar});
  BuiltLayer hostile;
  hostile.blob = testing::ReadFileOrDie(tar);
  hostile.media_type = "application/vnd.oci.image.layer.v1.tar";
  hostile.digest = Sha256sum(tar);
  hostile.diff_id = hostile.digest;
  BuiltImage img = MakeImage({l0, hostile});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/bin/*"});
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kInvalidArgument) << in.content;
  EXPECT_EQ(reader.ReadsOf(hostile.digest), 2u);  // the walk, then the hash-only check
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.reason, Reason::kIntegrityMismatch);
  EXPECT_THAT(v.detail, HasSubstr(StrCat("protected paths could not be checked: layer 1 (",
                                         hostile.digest, "): ")));
  EXPECT_THAT(v.detail, HasSubstr(".."));
  EXPECT_THAT(v.detail, ::testing::Not(HasSubstr("blob hashes to")));
}

TEST_F(ImageIntegrityTest, LayerOverTheLimitsIsLimitExceeded) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"app/big", {std::string(200000, 'z')}}});
  BuiltImage img = MakeImage({l0, l1});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/bin/*"});
  InspectOptions small;
  small.limits.max_decompressed_bytes = 100000;
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader, small);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kResourceExhausted) << in.content;
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.reason, Reason::kLimitExceeded);
  EXPECT_THAT(v.detail, HasSubstr(StrCat("layer 1 (", l1.digest, ")")));
}

TEST_F(ImageIntegrityTest, OpaqueDirectoryOverAProtectedPath) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  // What an image builder writes when a directory is replaced wholesale.
  BuiltLayer l1 = MakeLayer({{"bin/.wh..wh..opq", {""}}, {"bin/tool", {"t"}}});
  BuiltImage img = MakeImage({l0, l1});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/bin/sh"});
  Verdict v = ApplyIntegrity(Signed(), rules,
                             InspectImage(img.digest, img.manifest, img.config, rules, &reader));
  EXPECT_EQ(v.reason, Reason::kProtectedPath);
  EXPECT_THAT(v.detail, HasSubstr("\"/bin/.wh..wh..opq\" opaque directory"));
}

TEST_F(ImageIntegrityTest, InsecureAcceptAnythingIsJudgedToo) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltImage img = MakeImage({l0});
  MemoryReader reader;
  Serve(reader, img);
  Verdict anything;
  anything.decision = Decision::kAllow;
  anything.reason = Reason::kInsecureAcceptAnything;
  IntegrityRules rules = Rules({"sha256:" + std::string(64, '3')}, {});
  Verdict v = ApplyIntegrity(anything, rules,
                             InspectImage(img.digest, img.manifest, img.config, rules, &reader));
  EXPECT_EQ(v.reason, Reason::kUntrustedBase);
}

TEST_F(ImageIntegrityTest, ScrubHashesEveryLayerWhateverTheRules) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltLayer l1 = MakeLayer({{"app/run", {"app"}}}, Compression::kZstd);
  BuiltImage img = MakeImage({l0, l1});
  IntegrityRules none;
  InspectOptions scrub;
  scrub.scrub = true;
  MemoryReader reader;
  Serve(reader, img);
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, none, &reader, scrub);
  EXPECT_TRUE(in.content.ok()) << in.content;
  EXPECT_EQ(in.bytes_read, l0.blob.size() + l1.blob.size());
  EXPECT_TRUE(ApplyIntegrity(Signed(), none, in).allowed());

  reader.blobs[l0.digest][100] ^= 0x20;
  in = InspectImage(img.digest, img.manifest, img.config, none, &reader, scrub);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kDataLoss);
  Verdict v = ApplyIntegrity(Signed(), none, in);
  EXPECT_EQ(v.reason, Reason::kIntegrityMismatch);
  EXPECT_THAT(v.detail, HasSubstr(StrCat("layer 0 (", l0.digest, "): blob hashes to")));

  // A blob the runtime no longer has: not a finding when no rule needs it.
  reader.blobs.erase(l0.digest);
  in = InspectImage(img.digest, img.manifest, img.config, none, &reader, scrub);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ApplyIntegrity(Signed(), none, in).allowed());

  // A scrub reads past a blob the runtime no longer has: a later corrupt one is still found.
  BuiltLayer l2 = MakeLayer({{"app/more", {"more"}}});
  BuiltImage three = MakeImage({l0, l1, l2});
  Serve(reader, three);
  reader.blobs.erase(l0.digest);
  reader.blobs[l2.digest][l2.blob.size() / 2] ^= 0x10;
  IntegrityRules above_base = Rules({three.chain_ids[0]}, {"/bin/*"});
  in = InspectImage(three.digest, three.manifest, three.config, above_base, &reader, scrub);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kDataLoss) << in.content;
  EXPECT_THAT(std::string(in.content.message()), HasSubstr(StrCat("layer 2 (", l2.digest, ")")));
  // Only the base's blob missing: the scrub says so, but the protected paths above the base
  // were all judged, so the rules hold.
  Serve(reader, three);
  reader.blobs.erase(l0.digest);
  in = InspectImage(three.digest, three.manifest, three.config, above_base, &reader, scrub);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(in.paths_checked);
  EXPECT_TRUE(ApplyIntegrity(Signed(), above_base, in).allowed());
  // A missing blob above the base leaves them unjudged: CONTENT_UNAVAILABLE.
  Serve(reader, three);
  reader.blobs.erase(l1.digest);
  in = InspectImage(three.digest, three.manifest, three.config, above_base, &reader, scrub);
  EXPECT_FALSE(in.paths_checked);
  EXPECT_EQ(ApplyIntegrity(Signed(), above_base, in).reason, Reason::kContentUnavailable);
  EXPECT_EQ(reader.ReadsOf(l2.digest) > 0, true);

  // An untrusted base is denied on the config, but a scrub still reads every layer.
  Serve(reader, img);
  IntegrityRules bases = Rules({"sha256:" + std::string(64, '4')}, {"/bin/*"});
  in = InspectImage(img.digest, img.manifest, img.config, bases, &reader, scrub);
  EXPECT_TRUE(in.content.ok());
  EXPECT_EQ(in.bytes_read, l0.blob.size() + l1.blob.size());
  EXPECT_EQ(ApplyIntegrity(Signed(), bases, in).reason, Reason::kUntrustedBase);
}

constexpr char kDpkgBase[] =
    "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\n"
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n";
constexpr char kDpkgTop[] =
    "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\n"
    "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n\n"
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u7\n";

TEST_F(ImageIntegrityTest, PackagesAddedAboveTheBaseAreInTheInventory) {
  Tree base = BaseTree();
  base["var/lib/dpkg/status"] = {kDpkgBase};
  base["usr/lib/os-release"] = {"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"};
  base["etc/os-release"] = {"../usr/lib/os-release", true};
  BuiltLayer l0 = MakeLayer(base);
  BuiltLayer l1 = MakeLayer({{"app/run", {"app"}}});
  BuiltLayer l2 = MakeLayer({{"var/lib/dpkg/status", {kDpkgTop}}, {"usr/bin/curl", {"curl", false, 0755}}},
                            Compression::kZstd);
  BuiltImage img = MakeImage({l0, l1, l2});
  MemoryReader reader;
  Serve(reader, img);
  IntegrityRules rules = Rules({img.chain_ids[0]}, {"/bin/*"}, /*packages=*/true);
  ImageInspection in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  ASSERT_TRUE(in.content.ok()) << in.content;
  ASSERT_TRUE(in.packages_status.ok()) << in.packages_status;
  ASSERT_TRUE(in.packages.has_value());
  const layers::PackageInventory& inv = *in.packages;
  EXPECT_EQ(inv.image, img.digest.str());
  EXPECT_EQ(inv.base_layers, 1u);
  EXPECT_EQ(inv.layers, 3u);
  ASSERT_TRUE(inv.distro.has_value());
  EXPECT_EQ(inv.distro->id, "debian");
  EXPECT_EQ(inv.distro->version_id, "12");
  ASSERT_EQ(inv.packages.size(), 2u);
  EXPECT_EQ(inv.packages[0].package.name, "curl");
  EXPECT_EQ(inv.packages[0].layer_index, 2u);
  EXPECT_EQ(inv.packages[0].layer_digest, l2.digest);
  EXPECT_FALSE(inv.packages[0].changed);
  EXPECT_EQ(inv.packages[0].purl, "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12");
  EXPECT_EQ(inv.packages[1].package.name, "libc6");
  EXPECT_TRUE(inv.packages[1].changed);
  EXPECT_EQ(inv.packages[1].previous_version, "2.36-9+deb12u4");
  // Every layer was read (the base's database tells what is new); the verdict is unchanged.
  EXPECT_EQ(in.bytes_read, l0.blob.size() + l1.blob.size() + l2.blob.size());
  EXPECT_TRUE(ApplyIntegrity(Signed(), rules, in).allowed());
  absl::StatusOr<std::string> attachment = layers::SerializePackagesAttachment(inv);
  ASSERT_TRUE(attachment.ok()) << attachment.status();
  EXPECT_THAT(*attachment, HasSubstr("\"name\":\"curl\""));

  // The top layer deletes the database: nothing above the base is reported any more.
  BuiltLayer wipe = MakeLayer({{"var/lib/dpkg/.wh.status", {""}}});
  img = MakeImage({l0, l1, l2, wipe});
  Serve(reader, img);
  in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  ASSERT_TRUE(in.packages.has_value()) << in.packages_status;
  EXPECT_TRUE(in.packages->packages.empty());

  // A database that does not parse: the inventory says why; the verdict does not change.
  BuiltLayer broken = MakeLayer({{"var/lib/dpkg/status", {"Package curl\n"}}});
  img = MakeImage({l0, broken});
  Serve(reader, img);
  in = InspectImage(img.digest, img.manifest, img.config, rules, &reader);
  EXPECT_TRUE(in.content.ok());
  EXPECT_FALSE(in.packages.has_value());
  EXPECT_FALSE(in.packages_status.ok());
  EXPECT_THAT(std::string(in.packages_status.message()), HasSubstr("/var/lib/dpkg/status"));
  EXPECT_TRUE(ApplyIntegrity(Signed(), rules, in).allowed());

  // Packages only, the layers gone: a report, not a denial.
  IntegrityRules packages_only = Rules({}, {}, true);
  reader.blobs.erase(l0.digest);
  in = InspectImage(img.digest, img.manifest, img.config, packages_only, &reader);
  EXPECT_EQ(in.packages_status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ApplyIntegrity(Signed(), packages_only, in).allowed());
}

TEST_F(ImageIntegrityTest, ConfigErrors) {
  BuiltLayer l0 = MakeLayer(BaseTree());
  BuiltImage img = MakeImage({l0});
  IntegrityRules rules = Rules({l0.diff_id}, {});
  // One layer in the manifest, two in the config.
  BuiltImage two = MakeImage({l0}, std::vector<std::string>{l0.diff_id, l0.diff_id});
  ImageInspection in = InspectImage(two.digest, two.manifest, two.config, rules, nullptr);
  EXPECT_EQ(in.content.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(in.content.message()),
            "image config: rootfs.diff_ids has 2 entries, the manifest 1 layers");
  Verdict v = ApplyIntegrity(Signed(), rules, in);
  EXPECT_EQ(v.reason, Reason::kIntegrityMismatch);
  EXPECT_THAT(v.detail, HasSubstr("trusted bases could not be checked: image config:"));
  in = InspectImage(img.digest, img.manifest, "{\"rootfs\": {}}", rules, nullptr);
  EXPECT_EQ(std::string(in.content.message()), "image config: no rootfs.type");
}

TEST(ParseConfigDiffIdsTest, StrictMembers) {
  std::string a = "sha256:" + std::string(64, 'a');
  auto parse = [](const std::string& json) { return ParseConfigDiffIds(json); };
  absl::StatusOr<std::vector<Digest>> ok =
      parse(StrCat(R"({"os":"linux","rootfs":{"type":"layers","diff_ids":[")", a, R"(",")", a, R"("]}})"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_TRUE(parse(R"({"rootfs":{"type":"layers","diff_ids":[]}})").ok());
  auto error = [&](const std::string& json) {
    absl::StatusOr<std::vector<Digest>> r = parse(json);
    EXPECT_FALSE(r.ok()) << json;
    return r.ok() ? std::string() : std::string(r.status().message());
  };
  EXPECT_EQ(error("[]"), "image config: not a JSON object");
  EXPECT_EQ(error("{}"), "image config: no rootfs");
  EXPECT_EQ(error(R"({"rootfs":[]})"), "image config: rootfs is not an object");
  EXPECT_EQ(error(R"({"rootfs":{"type":"layer","diff_ids":[]}})"),
            "image config: rootfs.type is \"layer\", not \"layers\"");
  EXPECT_EQ(error(R"({"rootfs":{"type":1,"diff_ids":[]}})"), "image config: rootfs.type is not a string");
  EXPECT_EQ(error(R"({"rootfs":{"type":"layers"}})"), "image config: no rootfs.diff_ids");
  EXPECT_EQ(error(R"({"rootfs":{"type":"layers","diff_ids":{}}})"),
            "image config: rootfs.diff_ids is not an array");
  EXPECT_EQ(error(R"({"rootfs":{"type":"layers","diff_ids":[1]}})"),
            "image config: rootfs.diff_ids[0] is not a string");
  EXPECT_THAT(error(R"({"rootfs":{"type":"layers","diff_ids":["sha256:ABC"]}})"),
              HasSubstr("image config: rootfs.diff_ids[0]: digest"));
  EXPECT_EQ(error(StrCat(R"({"rootfs":{"type":"layers","diff_ids":["sha512:)", std::string(128, 'a'), R"("]}})")),
            "image config: rootfs.diff_ids[0] is not a sha256 digest");
  // Duplicate keys are refused (strict JSON): which rootfs would containerd use?
  EXPECT_THAT(error(R"({"rootfs":{"type":"layers","diff_ids":[]},"rootfs":{"type":"layers","diff_ids":[]}})"),
              HasSubstr("image config: "));
  std::string many = R"({"rootfs":{"type":"layers","diff_ids":[)";
  for (size_t i = 0; i <= kMaxIntegrityLayers; ++i) many += StrCat(i ? "," : "", "\"", a, "\"");
  many += "]}}";
  absl::StatusOr<std::vector<Digest>> r = parse(many);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ResolveTrustedBaseTest, ThroughAnIndexToThePlatformsChainId) {
  testing::BaseImageSpec amd;
  amd.layers = 2;
  amd.seed = "amd";
  testing::BaseImageSpec arm = amd;
  arm.seed = "arm";
  arm.architecture = "arm64";
  testing::TestImage amd_image = testing::MakeBaseImage(amd);
  testing::TestImage arm_image = testing::MakeBaseImage(arm);
  testing::TestImage index = testing::MakeIndex(
      Family::kOci, {{*Platform::Parse("linux/amd64"), amd_image}, {*Platform::Parse("linux/arm64"), arm_image}});
  testing::FakeSource source;
  Reference ref = *Reference::Parse("registry.example.com/base:1");
  source.Add(ref, index);
  // The expected value from the arm64 image's config, by python3.
  absl::StatusOr<ImageManifest> m = ParseImageManifest(arm_image.manifest, arm_image.media_type);
  ASSERT_TRUE(m.ok());
  nlohmann::json config = nlohmann::json::parse(arm_image.blobs.at(m->config.digest.str()));
  std::vector<std::string> ids = config["rootfs"]["diff_ids"].get<std::vector<std::string>>();
  ASSERT_EQ(ids.size(), 2u);
  std::vector<std::string> want = PythonChainIds(ids);

  absl::StatusOr<Digest> chain =
      ResolveTrustedBase(ref.WithDigest(index.digest), *Platform::Parse("linux/arm64"), &source);
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(chain->str(), want.back());

  // A tag alone is refused; a platform the index lacks names the reference and the step.
  absl::StatusOr<Digest> tag = ResolveTrustedBase(ref, *Platform::Parse("linux/arm64"), &source);
  EXPECT_EQ(tag.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Digest> s390 =
      ResolveTrustedBase(ref.WithDigest(index.digest), *Platform::Parse("linux/s390x"), &source);
  ASSERT_FALSE(s390.ok());
  EXPECT_THAT(std::string(s390.status().message()),
              HasSubstr(StrCat("trusted base registry.example.com/base@", index.digest.str(), ": manifest: ")));
  absl::StatusOr<Digest> missing = ResolveTrustedBase(
      ref.WithDigest(D("sha256:" + std::string(64, '9'))), *Platform::Parse("linux/arm64"), &source);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace layerseal
