// Writes the generated part of the seed corpora (tests/fuzz/corpus/) with the project's own
// code: test images built and sealed by the sealer (manifests, indexes, configs, envelopes,
// seal tars and their gzip), controller batches, and spool segments written by EventSpool.
// Hand-written seeds (policies, references, headers, error bodies) live beside them.
// Usage: layerseal_fuzz_make_corpus CORPUS_DIR  (rerun after a format change; see DEVELOPERS.md)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "node-agent/spool.h"
#include "layerseal/v1/controller.pb.h"
#include "tests/support/images.h"
#include "verifier/manifest.h"
#include "verifier/seal_layer.h"
#include "base/str_cat.h"

namespace {

namespace fs = std::filesystem;
using layerseal::StrCat;
using layerseal::testing::TestImage;

// Seeds are kept small (the whole corpus well under 2 MB).
constexpr size_t kMaxSeedBytes = 64 * 1024;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  if (bytes.size() > kMaxSeedBytes) {
    std::fprintf(stderr, "skipping %s/%s: %zu bytes\n", target.c_str(), name.c_str(), bytes.size());
    return;
  }
  fs::create_directories(g_root / target);
  std::ofstream out(g_root / target / name, std::ios::binary);
  out << bytes;
  if (!out.good()) {
    std::fprintf(stderr, "cannot write %s/%s\n", target.c_str(), name.c_str());
    std::exit(1);
  }
}

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(v.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(v);
}

// The seal layers of a sealed image: their gzip bytes, by seal annotation value.
void WriteSealSeeds(const TestImage& sealed, const std::string& tag) {
  layerseal::ImageManifest m = Must(layerseal::ParseImageManifest(sealed.manifest, sealed.media_type),
                                    "parse sealed manifest");
  for (const layerseal::Descriptor& d : m.layers) {
    auto kind = d.annotations.find(std::string(layerseal::kSealAnnotation));
    if (kind == d.annotations.end()) continue;
    const std::string& gz = sealed.blobs.at(d.digest.str());
    Write("gzip", StrCat(tag, "-", kind->second, ".gz"), gz);
    std::string tar = Must(layerseal::GzipDecompress(gz, layerseal::kMaxSealUncompressedBytes), "gunzip");
    Write("seal_tar", StrCat(tag, "-", kind->second, ".tar"), tar);
    if (kind->second == layerseal::kSealSignatureValue) {
      Write("envelope", StrCat(tag, ".json"),
            Must(layerseal::ReadSingleFileTar(tar, layerseal::kSealSignaturePath), "untar"));
    }
  }
  Write("config", StrCat(tag, "-sealed.json"), sealed.blobs.at(m.config.digest.str()));
}

void WriteImageSeeds() {
  for (layerseal::Family family : {layerseal::Family::kOci, layerseal::Family::kDocker}) {
    std::string tag = family == layerseal::Family::kOci ? "oci" : "docker";
    layerseal::testing::BaseImageSpec spec;
    spec.family = family;
    spec.layers = 2;
    spec.history = family == layerseal::Family::kOci;
    TestImage base = layerseal::testing::MakeBaseImage(spec);
    Write("manifest", tag + "-base", StrCat(base.media_type, "\n", base.manifest));
    layerseal::ImageManifest bm = Must(layerseal::ParseImageManifest(base.manifest, base.media_type),
                                       "parse base manifest");
    Write("config", tag + "-base.json", base.blobs.at(bm.config.digest.str()));

    for (layerseal::Algorithm a : {layerseal::Algorithm::kEcdsaP256Sha256,
                                   layerseal::Algorithm::kEd25519}) {
      layerseal::PrivateKey key = Must(layerseal::PrivateKey::Generate(a), "generate key");
      TestImage sealed = layerseal::testing::SealTestImage(base, key, a);
      std::string name = StrCat(tag, "-", layerseal::AlgorithmName(a));
      Write("manifest", name, StrCat(sealed.media_type, "\n", sealed.manifest));
      WriteSealSeeds(sealed, name);
    }

    spec.architecture = "arm64";
    TestImage arm = layerseal::testing::MakeBaseImage(spec);
    layerseal::Platform amd64 = Must(layerseal::Platform::Parse("linux/amd64"), "platform");
    layerseal::Platform arm64 = Must(layerseal::Platform::Parse("linux/arm64/v8"), "platform");
    TestImage index = layerseal::testing::MakeIndex(family, {{amd64, base}, {arm64, arm}});
    Write("manifest", tag + "-index", StrCat(index.media_type, "\n", index.manifest));
    // index_fuzz: the first byte picks the media type (odd: Docker list).
    Write("index", tag, StrCat(family == layerseal::Family::kOci ? "0" : "1", index.manifest));
  }
}

layerseal::v1::Event MakeEvent(const std::string& node, uint64_t seq, bool lost) {
  layerseal::v1::Event e;
  e.set_node(node);
  e.set_seq(seq);
  e.set_time_unix_micros(1790000000000000 + static_cast<int64_t>(seq));
  e.set_agent_version("0.1.0");
  if (lost) {
    e.set_kind(layerseal::v1::Event::EVENTS_LOST);
    e.set_lost_count(3);
    return e;
  }
  e.set_kind(layerseal::v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image("registry.example.com/team/app:1.0");
  e.set_pod_namespace("default");
  e.set_pod_name("app-0");
  e.set_pod_uid("0b8f4a9e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
  e.set_admitted(seq % 2 == 0);
  e.set_gate_ms(1.5);
  layerseal::v1::Verdict* v = e.mutable_verdict();
  v->set_reference("registry.example.com/team/app:1.0");
  v->set_digest(layerseal::Digest::Sha256Of("app").str());
  v->set_verdict(seq % 2 == 0 ? "ALLOW" : "DENY");
  v->set_reason(seq % 2 == 0 ? "VERIFIED" : "BAD_SIGNATURE");
  v->set_detail("the signature does not verify with key ci");
  v->set_key_id(layerseal::Digest::Sha256Of("key").str());
  v->set_policy_version(layerseal::Digest::Sha256Of("policy").str());
  v->set_scope("registry.example.com/team/*");
  v->set_mode("enforce");
  v->set_duration_ms(12.25);
  return e;
}

void WriteBatchSeeds() {
  layerseal::v1::ReportEventsRequest r;
  r.set_node("node-a");
  r.mutable_status()->set_agent_version("0.1.0");
  r.mutable_status()->set_policy_version(layerseal::Digest::Sha256Of("policy").str());
  Write("event_batch", "heartbeat", r.SerializeAsString());
  for (uint64_t seq = 1; seq <= 3; ++seq) *r.add_events() = MakeEvent("node-a", seq, false);
  Write("event_batch", "three-verdicts", r.SerializeAsString());
  *r.add_events() = MakeEvent("node-a", 4, true);
  Write("event_batch", "with-lost", r.SerializeAsString());
  *r.add_events() = MakeEvent("node-b", 5, false);
  Write("event_batch", "other-node", r.SerializeAsString());
}

// Segments written by the spool itself; the first byte is spool_fuzz's flags (1: fix crcs).
void WriteSpoolSeeds() {
  fs::path dir = fs::temp_directory_path() / "layerseal-make-corpus-spool";
  fs::remove_all(dir);
  layerseal::agent::SpoolOptions options;
  options.dir = dir.string();
  options.node = "node-a";
  options.agent_version = "0.1.0";
  auto spool = Must(layerseal::agent::EventSpool::Open(options), "open spool");
  for (uint64_t i = 1; i <= 3; ++i) Must(spool->Append(MakeEvent("node-a", 0, i == 3)), "append");
  spool.reset();
  std::string segment;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("seg-", 0) != 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    segment.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  fs::remove_all(dir);
  Write("spool", "three-records", std::string(1, '\0') + segment);
  Write("spool", "three-records-fixcrc", std::string(1, '\1') + segment);
  Write("spool", "torn-tail", std::string(1, '\0') + segment.substr(0, segment.size() - 5));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  WriteImageSeeds();
  WriteBatchSeeds();
  WriteSpoolSeeds();
  std::printf("wrote seeds under %s\n", argv[1]);
  return 0;
}
