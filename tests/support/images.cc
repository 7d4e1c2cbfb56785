#include "tests/support/images.h"

#include <cstdlib>
#include <iostream>

#include "verifier/sealer.h"
#include "verifier/seal_layer.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

using nlohmann::ordered_json;

[[noreturn]] void Die(std::string_view what) {
  std::cerr << "test image builder: " << what << std::endl;
  std::abort();
}

std::string LayerTar(const BaseImageSpec& spec, int i) {
  if (i == 0 && !spec.first_layer_tar.empty()) return spec.first_layer_tar;
  if (i == 0 && !spec.payload.empty()) return MakeSingleFileTar(spec.payload_path, spec.payload);
  return MakeSingleFileTar(StrCat("data/", spec.seed, "-", i, ".txt"),
                           StrCat("layer ", i, " of ", spec.seed, "\n"));
}

}  // namespace

void SetManifest(TestImage& image, std::string manifest) {
  image.manifest = std::move(manifest);
  image.digest = Digest::Sha256Of(image.manifest);
}

ordered_json AddBlob(TestImage& image, std::string_view media_type, std::string bytes) {
  Digest d = Digest::Sha256Of(bytes);
  ordered_json desc;
  desc["mediaType"] = media_type;
  desc["digest"] = d.str();
  desc["size"] = bytes.size();
  image.blobs[d.str()] = std::move(bytes);
  return desc;
}

TestImage WithLayerSwapped(TestImage image, size_t index) {
  // nlohmann::json (sorted keys), as the tests that did this by hand wrote it.
  nlohmann::json m = nlohmann::json::parse(image.manifest);
  if (!m.contains("layers") || index >= m["layers"].size()) {
    std::cerr << "WithLayerSwapped: the manifest has no layer " << index << "\n";
    std::abort();
  }
  ordered_json d = AddBlob(image, "application/vnd.oci.image.layer.v1.tar+gzip",
                           GzipCompress(MakeSingleFileTar("evil", "x")));
  m["layers"][index]["digest"] = d["digest"];
  m["layers"][index]["size"] = d["size"];
  SetManifest(image, m.dump());
  return image;
}

namespace {
ordered_json ConfigOf(const TestImage& image, ordered_json* manifest) {
  *manifest = ordered_json::parse(image.manifest);
  auto config = image.blobs.find((*manifest)["config"]["digest"].get<std::string>());
  if (config == image.blobs.end()) Die("config blob missing");
  return ordered_json::parse(config->second);
}
}  // namespace

TestImage WithLayerAdded(TestImage image, const std::string& tar) {
  ordered_json m;
  ordered_json config = ConfigOf(image, &m);
  bool oci = image.media_type == kOciManifest;
  config["rootfs"]["diff_ids"].push_back(Digest::Sha256Of(tar).str());
  if (config.contains("history")) config["history"].push_back({{"created_by", "added layer"}});
  m["layers"].push_back(AddBlob(image, oci ? kOciLayerGzip : kDockerLayerGzip, GzipCompress(tar)));
  m["config"] = AddBlob(image, oci ? kOciConfig : kDockerConfig, config.dump());
  SetManifest(image, m.dump(2));
  return image;
}

std::vector<Digest> DiffIds(const TestImage& image) {
  ordered_json m;
  ordered_json config = ConfigOf(image, &m);
  std::vector<Digest> out;
  for (const ordered_json& d : config["rootfs"]["diff_ids"]) {
    absl::StatusOr<Digest> digest = Digest::Parse(d.get<std::string>());
    if (!digest.ok()) Die(digest.status().ToString());
    out.push_back(*digest);
  }
  return out;
}

TestImage MakeBaseImage(const BaseImageSpec& spec) {
  bool oci = spec.family == Family::kOci;
  TestImage image;
  image.media_type = std::string(oci ? kOciManifest : kDockerManifest);
  ordered_json layers = ordered_json::array();
  ordered_json diff_ids = ordered_json::array();
  ordered_json history = ordered_json::array();
  for (int i = 0; i < spec.layers; ++i) {
    std::string tar = LayerTar(spec, i);
    diff_ids.push_back(Digest::Sha256Of(tar).str());
    history.push_back({{"created_by", StrCat("layer ", i)}});
    layers.push_back(AddBlob(image, oci ? kOciLayerGzip : kDockerLayerGzip, GzipCompress(tar)));
  }
  ordered_json config;
  config["architecture"] = spec.architecture;
  config["os"] = "linux";
  config["config"] = {{"Entrypoint", spec.entrypoint}, {"Env", {"PATH=/bin"}}};
  if (spec.entrypoint.empty()) config["config"].erase("Entrypoint");
  if (!spec.cmd.empty()) config["config"]["Cmd"] = spec.cmd;
  config["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  if (spec.history) config["history"] = history;

  ordered_json m;
  m["schemaVersion"] = 2;
  m["mediaType"] = image.media_type;
  m["config"] = AddBlob(image, oci ? kOciConfig : kDockerConfig, config.dump());
  m["layers"] = layers;
  SetManifest(image, m.dump(2));
  return image;
}

TestImage SealTestImage(const TestImage& base, const PrivateKey& key, Algorithm algorithm) {
  auto config_digest = ordered_json::parse(base.manifest)["config"]["digest"].get<std::string>();
  auto config = base.blobs.find(config_digest);
  if (config == base.blobs.end()) Die("base config blob missing");
  absl::StatusOr<SealedImage> sealed =
      SealImage(base.manifest, base.media_type, config->second, key, algorithm);
  if (!sealed.ok()) Die(sealed.status().ToString());
  TestImage out = base;
  out.media_type = sealed->media_type;
  SetManifest(out, sealed->manifest);
  for (const Blob* b : {&sealed->config, &sealed->manifest_seal, &sealed->signature_seal}) {
    out.blobs[b->digest.str()] = b->bytes;
  }
  return out;
}

TestImage SealTestImage(const TestImage& base, const PrivateKey& key) {
  return SealTestImage(base, key, key.default_algorithm());
}

TestImage MakeIndex(Family family, const std::vector<std::pair<Platform, TestImage>>& children) {
  TestImage index;
  index.media_type = std::string(family == Family::kOci ? kOciIndex : kDockerList);
  ordered_json manifests = ordered_json::array();
  for (const auto& [platform, child] : children) {
    ordered_json d;
    d["mediaType"] = child.media_type;
    d["digest"] = child.digest.str();
    d["size"] = child.manifest.size();
    d["platform"] = {{"architecture", platform.architecture}, {"os", platform.os}};
    if (!platform.variant.empty()) d["platform"]["variant"] = platform.variant;
    manifests.push_back(d);
    index.blobs.insert(child.blobs.begin(), child.blobs.end());
    index.children[child.digest.str()] = {child.media_type, child.manifest};
  }
  ordered_json m;
  m["schemaVersion"] = 2;
  m["mediaType"] = index.media_type;
  m["manifests"] = manifests;
  SetManifest(index, m.dump(2));
  return index;
}

}  // namespace layerseal::testing
