// Fuzzes the image-integrity inspection (verifier/image_integrity.h InspectImage and
// ApplyIntegrity; issue 18, helper s25-inspect): the entry visitor that combines the
// protected-path judge with the package-database and os-release capture, the inventory built
// from what it captured, and the verdict. Input: one byte s, then two uncompressed tar
// archives, split at a 512-byte block boundary chosen by s (layer 0, then layer 1). The
// manifest and config are made to match the bytes, so the bytes can never be "corrupt".
// Invariants: never DataLoss; a complete judgement when the content is OK; a violation only
// above the base; packages only above the base; a violation or an unreadable rule denies.
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"
#include "verifier/image_integrity.h"
#include "verifier/layers/chain_id.h"

namespace {

using namespace layerseal;

class TwoBlobs : public BlobReader {
 public:
  std::vector<std::string> blobs;
  absl::Status Read(const Descriptor& blob,
                    const std::function<absl::Status(std::string_view)>& sink) override {
    for (const std::string& b : blobs) {
      if (Digest::Sha256Of(b) == blob.digest) {
        std::string_view rest = b;
        while (!rest.empty()) {
          size_t n = std::min<size_t>(rest.size(), 1000);
          if (absl::Status s = sink(rest.substr(0, n)); !s.ok()) return s;
          rest.remove_prefix(n);
        }
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError("no such blob");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::AsView(data, size);
  if (in.empty()) return 0;
  std::string_view rest = in.substr(1);
  size_t blocks = rest.size() / 512;
  size_t split = blocks * static_cast<uint8_t>(in[0]) / 256 * 512;
  TwoBlobs reader;
  reader.blobs = {std::string(rest.substr(0, split)), std::string(rest.substr(split))};
  std::string media = "application/vnd.oci.image.layer.v1.tar";
  nlohmann::json layers = nlohmann::json::array(), ids = nlohmann::json::array();
  std::vector<Digest> diff_ids;
  for (const std::string& b : reader.blobs) {
    Digest d = Digest::Sha256Of(b);
    layers.push_back({{"mediaType", media}, {"digest", d.str()}, {"size", b.size()}});
    ids.push_back(d.str());
    diff_ids.push_back(d);
  }
  std::string config = nlohmann::json{{"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}}.dump();
  std::string manifest = nlohmann::json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                  {"digest", Digest::Sha256Of(config).str()}, {"size", config.size()}}},
      {"layers", layers}}.dump();
  absl::StatusOr<ImageManifest> m = ParseImageManifest(manifest, "application/vnd.oci.image.manifest.v1+json");
  FUZZ_CHECK(m.ok());
  Digest image = Digest::Sha256Of(manifest);

  static const std::shared_ptr<const layers::ProtectedPaths> kPaths = [] {
    absl::StatusOr<layers::ProtectedPaths> p =
        layers::ProtectedPaths::Parse({"/bin/*", "/etc/passwd", "/usr/**/lib*.so*"});
    return std::make_shared<const layers::ProtectedPaths>(*p);
  }();
  Verdict allowed;
  allowed.decision = Decision::kAllow;
  allowed.reason = Reason::kVerified;
  for (bool with_base : {true, false}) {
    IntegrityRules rules;
    rules.protected_path_patterns = {"/bin/*", "/etc/passwd", "/usr/**/lib*.so*"};
    rules.protected_paths = kPaths;
    rules.packages = true;
    if (with_base) {
      TrustedBase base;
      base.name = "layer0";
      base.chain_id = diff_ids[0];
      rules.trusted_bases.push_back(base);
    }
    InspectOptions options;
    options.limits.tar.max_captured_file_bytes = 1 << 16;
    ImageInspection inspection = InspectImage(image, *m, config, rules, &reader, options);
    FUZZ_CHECK(inspection.content.code() != absl::StatusCode::kDataLoss);
    FUZZ_CHECK(inspection.diff_ids == diff_ids);
    size_t base_layers = with_base ? 1 : 0;
    if (with_base) FUZZ_CHECK(inspection.base_name.has_value() && inspection.base_layers >= 1);
    if (inspection.violation) FUZZ_CHECK(inspection.violation->layer_index >= inspection.base_layers);
    if (inspection.content.ok()) FUZZ_CHECK(inspection.paths_checked);
    if (inspection.packages) {
      for (const layers::InventoryPackage& p : inspection.packages->packages) {
        FUZZ_CHECK(p.layer_index >= base_layers && p.layer_index < 2);
      }
      FUZZ_CHECK(layers::SerializePackagesAttachment(*inspection.packages).ok() ||
                 inspection.packages->packages.size() > layers::kMaxPackages);
    }
    Verdict v = ApplyIntegrity(allowed, rules, inspection);
    if (inspection.violation || !inspection.content.ok()) FUZZ_CHECK(!v.allowed());
    if (!inspection.violation && inspection.content.ok()) FUZZ_CHECK(v.allowed());
  }
  return 0;
}
