// CPU cost of the integrity scrub's hashing (issue 18, node-agent/scrub.h), per layer:
//
//   BM_ScrubLayer/gzip, /zstd: what the scrub does with each layer blob containerd streams to
//     it: layers::LayerStream with no visitor (SHA-256 of the compressed bytes against the
//     descriptor, decompression, SHA-256 of the tar against the diff_id), fed in 1 MiB chunks
//     as containerd's Content/Read sends them. bytes/s = compressed bytes.
//   BM_PlainSha256/gzip, /zstd: the cheapest alternative over the same compressed bytes: only
//     the blob digest (Sha256Stream), which would miss nothing on disk but cannot say the
//     decompressed layer still matches its diff_id (what the runtime unpacks).
//   BM_PlainSha256/tar: SHA-256 of the decompressed tar alone (the diff_id's share).
//   BM_ScrubThroughContainerd: Scrubber::ScrubImage of an image holding that tar as its gzip
//     layer, pulled into a real containerd (test-owned, from a real docker-registry), at an
//     unbounded rate: the whole path (lease, Content/Read over the socket, hashing).
//     BM_PlainSha256ThroughContainerd: the same blobs read through Content/Read into SHA-256
//     only. bytes/s = bytes read from containerd.
//
// The layer: a deterministic ~96 MiB tar (GNU tar over generated files: text-like files that
// compress about 3:1, and some incompressible ones, as real layers mix them), gzip level 6
// (as docker and containerd write them) and zstd level 3 (zstd's default).
// Figures: docs/performance.md "Integrity scrub".
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "base/str_cat.h"
#include "node-agent/containerd_content.h"
#include "node-agent/integrity_state.h"
#include "node-agent/scrub.h"
#include "registry/client.h"
#include "telemetry/log.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/reference.h"
#include "verifier/digest.h"
#include "verifier/layers/layer_stream.h"

namespace layerseal {
namespace {

constexpr size_t kChunk = 1 << 20;  // containerd's Read sends up to 1 MiB a message
constexpr int kFiles = 384;
constexpr size_t kFileBytes = 256 << 10;

[[noreturn]] void Die(std::string_view what) {
  std::fprintf(stderr, "scrub_bench: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

std::string MakeTar() {
  testing::TempDir dir;
  std::mt19937_64 rng(18);
  static const char* const kWords[] = {"layer", "digest", "config", "usr", "lib", "share",
                                       "python3", "site-packages", "import", "return", "0x7f",
                                       "\n", "  ", "{", "}", "=", "libc.so.6", "debian"};
  for (int f = 0; f < kFiles; ++f) {
    std::string bytes;
    bytes.reserve(kFileBytes);
    const bool random = f % 8 == 0;  // one file in eight incompressible (binaries, images)
    while (bytes.size() < kFileBytes) {
      if (random) {
        uint64_t v = rng();
        bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
      } else {
        bytes += kWords[rng() % std::size(kWords)];
        if (rng() % 4 == 0) bytes += std::to_string(rng() % 100000);
      }
    }
    std::filesystem::create_directories(dir.File(StrCat("d", f % 16)));
    testing::WriteFileOrDie(dir.File(StrCat("d", f % 16, "/f", f)), bytes);
  }
  absl::StatusOr<testing::RunResult> tar =
      testing::Run({"tar", "--sort=name", "--owner=0", "--group=0", "--mtime=@0", "-C", dir.path(),
                    "-cf", "-", "."},
                   "", absl::Seconds(120));
  if (!tar.ok() || tar->exit_code != 0) Die("tar failed");
  return tar->out;
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) Die("deflateInit2");
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) Die("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) Die("ZSTD_compress");
  out.resize(n);
  return out;
}

struct Layers {
  std::string tar, gzip, zstd;
  Digest diff_id;
};

const Layers& TheLayers() {
  static const Layers* layers = [] {
    auto* l = new Layers();
    l->tar = MakeTar();
    l->gzip = Gzip(l->tar);
    l->zstd = Zstd(l->tar);
    l->diff_id = Digest::Sha256Of(l->tar);
    return l;
  }();
  return *layers;
}

void ScrubLayer(benchmark::State& state, const std::string& blob, std::string_view media_type) {
  const Layers& l = TheLayers();
  layers::LayerBlob desc{std::string(media_type), Digest::Sha256Of(blob), blob.size()};
  for (auto _ : state) {
    auto stream = layers::LayerStream::Open(desc, l.diff_id, /*visitor=*/nullptr);
    if (!stream.ok()) Die(Sv(stream.status().message()));
    for (size_t at = 0; at < blob.size(); at += kChunk) {
      if (!(*stream)->Feed(std::string_view(blob).substr(at, kChunk)).ok()) Die("Feed");
    }
    absl::StatusOr<layers::LayerDigests> d = (*stream)->Finish();
    if (!d.ok()) Die(Sv(d.status().message()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * blob.size()));
  state.counters["tar_MiB_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * l.tar.size()) / (1 << 20), benchmark::Counter::kIsRate);
  state.counters["ratio"] = static_cast<double>(l.tar.size()) / static_cast<double>(blob.size());
}

void PlainSha256(benchmark::State& state, const std::string& bytes) {
  for (auto _ : state) {
    Sha256Stream hash;
    for (size_t at = 0; at < bytes.size(); at += kChunk) {
      hash.Update(std::string_view(bytes).substr(at, kChunk));
    }
    benchmark::DoNotOptimize(hash.Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}

void BM_ScrubLayer_Gzip(benchmark::State& s) {
  ScrubLayer(s, TheLayers().gzip, "application/vnd.oci.image.layer.v1.tar+gzip");
}
void BM_ScrubLayer_Zstd(benchmark::State& s) {
  ScrubLayer(s, TheLayers().zstd, "application/vnd.oci.image.layer.v1.tar+zstd");
}
void BM_PlainSha256_Gzip(benchmark::State& s) { PlainSha256(s, TheLayers().gzip); }
void BM_PlainSha256_Zstd(benchmark::State& s) { PlainSha256(s, TheLayers().zstd); }
void BM_PlainSha256_Tar(benchmark::State& s) { PlainSha256(s, TheLayers().tar); }

// A registry and a containerd of the bench's own, with the layer's image pulled.
struct Node {
  std::unique_ptr<testing::RegistryServer> registry;
  std::unique_ptr<testing::ContainerdServer> containerd;
  testing::TestImage image;
};

Node& TheNode() {
  static Node* node = [] {
    auto* n = new Node();
    auto registry = testing::RegistryServer::Start();
    if (!registry.ok()) Die(Sv(registry.status().message()));
    n->registry = *std::move(registry);
    auto containerd = testing::ContainerdServer::Start({.cri = true});
    if (!containerd.ok()) Die(Sv(containerd.status().message()));
    n->containerd = *std::move(containerd);
    n->image = testing::MakeBaseImage({.seed = "scrub-bench", .first_layer_tar = TheLayers().tar});
    registry::RegistryClient client(n->registry->ClientOptions());
    std::string ref = StrCat(n->registry->host(), "/bench/scrub:1");
    if (!testing::PushTestImage(client, *Reference::Parse(ref), n->image).ok()) Die("push");
    if (!testing::CriClient(n->containerd->socket()).Pull(ref).ok()) Die("pull");
    return n;
  }();
  return *node;
}

void BM_ScrubThroughContainerd(benchmark::State& state) {
  Node& node = TheNode();
  agent::IntegrityState integrity;
  telemetry::Logger logger("scrub-bench");
  logger.set_min_level(telemetry::Level::kWarn);
  auto scrubber = agent::Scrubber::Create({.runtime = testing::ConnectCri(node.containerd->socket()),
                                           .platform = *Platform::Parse("linux/amd64"),
                                           .bytes_per_second = agent::kMaxScrubBytesPerSecond,
                                           .state = &integrity,
                                           .logger = &logger});
  if (!scrubber.ok()) Die(Sv(scrubber.status().message()));
  uint64_t bytes = 0;
  for (auto _ : state) {
    agent::ScrubReport r = (*scrubber)->ScrubImage(node.image.digest);
    if (r.mismatches != 0 || r.errors != 0 || r.not_available != 0) Die(r.ToJson());
    bytes += r.bytes;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_PlainSha256ThroughContainerd(benchmark::State& state) {
  Node& node = TheNode();
  agent::ContainerdContent content(testing::ConnectCri(node.containerd->socket()));
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (const auto& [digest, blob] : node.image.blobs) {
      Sha256Stream hash;
      absl::Status s = content.Read(*Digest::Parse(digest), static_cast<int64_t>(blob.size()),
                                    [&](std::string_view chunk) {
                                      hash.Update(chunk);
                                      return absl::OkStatus();
                                    });
      if (!s.ok() || hash.Finish().str() != digest) Die("read");
      bytes += blob.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

BENCHMARK(BM_ScrubThroughContainerd)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_PlainSha256ThroughContainerd)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ScrubLayer_Gzip)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_ScrubLayer_Zstd)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_PlainSha256_Gzip)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_PlainSha256_Zstd)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_PlainSha256_Tar)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace
}  // namespace layerseal

BENCHMARK_MAIN();
