#include "tests/support/cosign_images.h"

#include <fstream>
#include <sstream>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/support/push.h"

namespace layerseal::testing {
namespace {

using nlohmann::json;

json DescriptorJson(std::string_view media_type, const Digest& digest, size_t size) {
  return json{{"mediaType", std::string(media_type)}, {"digest", digest.str()}, {"size", size}};
}

void AddRawBlob(TestImage& image, std::string bytes) {
  image.blobs[Digest::Sha256Of(bytes).str()] = std::move(bytes);
}

TestImage Finish(TestImage image, std::string_view media_type, const json& manifest) {
  image.media_type = std::string(media_type);
  image.manifest = manifest.dump();
  image.digest = Digest::Sha256Of(image.manifest);
  return image;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot open ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

CosignSubject SubjectOf(const TestImage& image) {
  return {image.media_type, image.digest, image.manifest.size()};
}

TestImage MakeBundleReferrer(const CosignSubject& subject, std::string_view bundle_json,
                             std::string_view artifact_type) {
  TestImage image;
  const std::string empty = "{}";
  AddRawBlob(image, empty);
  AddRawBlob(image, std::string(bundle_json));
  json m = {
      {"schemaVersion", 2},
      {"mediaType", std::string(kOciManifestMediaType)},
      {"artifactType", std::string(artifact_type)},
      {"config", DescriptorJson(kOciEmptyMediaType, Digest::Sha256Of(empty), empty.size())},
      {"layers", json::array({DescriptorJson(artifact_type, Digest::Sha256Of(bundle_json), bundle_json.size())})},
      {"subject", DescriptorJson(subject.media_type, subject.digest, subject.size)},
      {"annotations",
       {{"dev.sigstore.bundle.content", "dsse-envelope"},
        {"dev.sigstore.bundle.predicateType", "https://sigstore.dev/cosign/sign/v1"},
        {"org.opencontainers.image.created", "2026-01-01T00:00:00Z"}}},
  };
  return Finish(std::move(image), kOciManifestMediaType, m);
}

TestImage MakeFallbackIndex(const std::vector<TestImage>& referrers, FallbackArtifactType entries) {
  TestImage index;
  json manifests = json::array();
  for (const TestImage& r : referrers) {
    json d = DescriptorJson(r.media_type, r.digest, r.manifest.size());
    if (entries == FallbackArtifactType::kEmptyString) {
      d["artifactType"] = "";
    } else if (entries == FallbackArtifactType::kFromManifest) {
      json m = json::parse(r.manifest, nullptr, false);
      if (m.is_object() && m.contains("artifactType")) d["artifactType"] = m["artifactType"];
    }
    manifests.push_back(std::move(d));
    index.children[r.digest.str()] = {r.media_type, r.manifest};
    for (const auto& [digest, bytes] : r.blobs) index.blobs[digest] = bytes;
  }
  json m = {{"schemaVersion", 2}, {"mediaType", std::string(kOciIndexMediaType)}, {"manifests", manifests}};
  return Finish(std::move(index), kOciIndexMediaType, m);
}

TestImage MakeLegacySig(const std::vector<CosignSigLayer>& layers) {
  TestImage image;
  json diff_ids = json::array();
  json layer_descs = json::array();
  for (const CosignSigLayer& l : layers) {
    Digest d = Digest::Sha256Of(l.payload);
    diff_ids.push_back(d.str());
    json desc = DescriptorJson(kCosignSimpleSigningMediaType, d, l.payload.size());
    desc["annotations"] = l.annotations;
    layer_descs.push_back(std::move(desc));
    AddRawBlob(image, l.payload);
  }
  // The config go-containerregistry writes for cosign's signature image.
  json config = {{"architecture", ""},
                 {"created", "0001-01-01T00:00:00Z"},
                 {"history", json::array({{{"created", "0001-01-01T00:00:00Z"}}})},
                 {"os", ""},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
                 {"config", json::object()}};
  std::string config_bytes = config.dump();
  AddRawBlob(image, config_bytes);
  json m = {{"schemaVersion", 2},
            {"mediaType", std::string(kOciManifestMediaType)},
            {"config", DescriptorJson("application/vnd.oci.image.config.v1+json", Digest::Sha256Of(config_bytes),
                                      config_bytes.size())},
            {"layers", layer_descs}};
  return Finish(std::move(image), kOciManifestMediaType, m);
}

std::string CosignFallbackTag(const Digest& digest) {
  return StrCat(digest.algorithm(), "-", digest.hex());
}

std::string CosignSigTag(const Digest& digest) { return StrCat(CosignFallbackTag(digest), ".sig"); }

absl::Status PushReferrer(registry::RegistryClient& client, const Reference& repo, const TestImage& referrer) {
  return PushTestImage(client, repo.WithDigest(referrer.digest), referrer);
}

absl::Status PushFallbackIndex(registry::RegistryClient& client, const Reference& repo, const Digest& subject,
                               const TestImage& index) {
  return PushTestImage(client, repo.WithTag(CosignFallbackTag(subject)), index);
}

absl::Status PushLegacySig(registry::RegistryClient& client, const Reference& repo, const Digest& subject,
                           const TestImage& sig) {
  return PushTestImage(client, repo.WithTag(CosignSigTag(subject)), sig);
}

absl::StatusOr<CosignSigLayer> LoadFixtureSigLayer(const std::string& fixture_dir) {
  absl::StatusOr<std::string> payload = ReadFile(fixture_dir + "/payload.json");
  if (!payload.ok()) return payload.status();
  absl::StatusOr<std::string> ann = ReadFile(fixture_dir + "/annotations.json");
  if (!ann.ok()) return ann.status();
  json j = json::parse(*ann, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError(StrCat(fixture_dir, "/annotations.json is not a JSON object"));
  CosignSigLayer layer;
  layer.payload = *std::move(payload);
  for (auto& [k, v] : j.items()) {
    if (!v.is_string()) return absl::InvalidArgumentError(StrCat(fixture_dir, "/annotations.json: ", k, " is not a string"));
    layer.annotations[k] = v.get<std::string>();
  }
  return layer;
}

}  // namespace layerseal::testing
