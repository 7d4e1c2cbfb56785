#include "verifier/sigstore/discovery.h"

#include <utility>

#include "base/str_cat.h"
#include "verifier/sigstore/simple_signing.h"

namespace layerseal::sigstore {

std::string FallbackTag(const Digest& d) { return StrCat(d.algorithm(), "-", d.hex()); }

std::string LegacySigTag(const Digest& d) { return StrCat(FallbackTag(d), ".sig"); }

Reference SignatureRepo(const Reference& image, const ScopePolicy& scope) {
  Reference repo = scope.signature_repository ? *scope.signature_repository : image;
  repo.tag.clear();
  repo.digest.reset();
  return repo;
}

Reference AtTag(const Reference& repo, std::string tag) {
  Reference r = repo;
  r.digest.reset();
  r.tag = std::move(tag);
  return r;
}

bool IsBundleMediaType(std::string_view media_type) {
  return media_type == kBundleMediaTypeV01 || media_type == kBundleMediaTypeV02 ||
         media_type == kBundleMediaTypeV03 || media_type == kBundleMediaTypeV03New;
}

absl::StatusOr<ReferrerList> ParseReferrers(std::string_view index_bytes, std::string_view ct) {
  absl::StatusOr<ServedManifest> served = ParseServedManifest(index_bytes, ct);
  if (!served.ok()) {
    return absl::InvalidArgumentError(StrCat("referrers index: ", Sv(served.status().message())));
  }
  if (!served->index) {
    return absl::InvalidArgumentError(
        StrCat("referrers index: a ", served->media_type, ", not an image index"));
  }
  ReferrerList out;
  const std::vector<Descriptor>& entries = served->index->manifests;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Descriptor& d = entries[i];
    absl::StatusOr<std::string> at = ArtifactTypeOf(d.json, StrCat("referrers index: manifests[", i, "]"));
    if (!at.ok()) return at.status();
    if (!at->empty() && !IsBundleMediaType(*at)) continue;
    if (d.media_type != kOciManifest) continue;  // a bundle referrer is an OCI image manifest
    if (out.candidates.size() >= kMaxReferrers) {
      ++out.left_out;
      continue;
    }
    out.candidates.push_back(d);
  }
  return out;
}

absl::StatusOr<std::optional<Descriptor>> BundleLayer(const ImageManifest& manifest) {
  absl::StatusOr<std::string> at = ArtifactTypeOf(manifest.json, "referrer manifest");
  if (!at.ok()) return at.status();
  bool first_is_bundle =
      !manifest.layers.empty() && IsBundleMediaType(manifest.layers[0].media_type);
  bool says_bundle = IsBundleMediaType(*at) || IsBundleMediaType(manifest.config.media_type);
  if (!first_is_bundle) {
    if (!says_bundle) return std::optional<Descriptor>();
    return absl::InvalidArgumentError(StrCat(
        "referrer manifest is a sigstore bundle (artifactType \"", *at, "\") but its first layer is ",
        manifest.layers.empty() ? std::string("missing")
                                : StrCat("a \"", manifest.layers[0].media_type, "\"")));
  }
  const Descriptor& layer = manifest.layers[0];
  if (layer.size > static_cast<int64_t>(kMaxBundleBytes)) {
    return absl::ResourceExhaustedError(StrCat("bundle layer ", layer.digest.str(), " is ",
                                               layer.size, " bytes, over ", kMaxBundleBytes));
  }
  return std::optional<Descriptor>(layer);
}

absl::StatusOr<SigLayerList> SigLayers(std::string_view manifest_bytes, std::string_view ct) {
  absl::StatusOr<ServedManifest> served = ParseServedManifest(manifest_bytes, ct);
  if (!served.ok()) {
    return absl::InvalidArgumentError(StrCat(".sig manifest: ", Sv(served.status().message())));
  }
  if (!served->image) {
    return absl::InvalidArgumentError(
        StrCat(".sig manifest: a ", served->media_type, ", not an image manifest"));
  }
  SigLayerList out;
  const std::vector<Descriptor>& layers = served->image->layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Descriptor& d = layers[i];
    if (d.media_type != kSimpleSigningMediaType) continue;
    if (out.layers.size() >= kMaxSigLayers) {
      ++out.left_out;
      continue;
    }
    out.layers.push_back(LegacyLayer{d, d.annotations});
  }
  return out;
}

}  // namespace layerseal::sigstore
