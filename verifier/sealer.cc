#include "verifier/sealer.h"

#include "base/str_cat.h"
#include "verifier/envelope.h"
#include "verifier/internal/config_binding.h"
#include "verifier/manifest.h"
#include "verifier/seal_layer.h"

namespace layerseal {
namespace {

using nlohmann::ordered_json;

Blob MakeBlob(std::string bytes) {
  Digest d = Digest::Sha256Of(bytes);
  return Blob{std::move(bytes), std::move(d)};
}

ordered_json SealDescriptor(std::string_view media_type, const Blob& blob, std::string_view role) {
  ordered_json d;
  d["mediaType"] = media_type;
  d["digest"] = blob.digest.str();
  d["size"] = blob.bytes.size();
  d["annotations"] = {{std::string(kSealAnnotation), role}};
  return d;
}

absl::Status CheckSealable(const ImageManifest& base) {
  for (size_t i = 0; i < base.layers.size(); ++i) {
    if (base.layers[i].annotations.count(std::string(kSealAnnotation))) {
      return absl::FailedPreconditionError(StrCat(
          "the image is already sealed (layer ", i, " carries ", kSealAnnotation,
          "); sign its unsigned base instead"));
    }
    if (base.layers[i].has_urls) {
      return absl::InvalidArgumentError(StrCat(
          "layer ", i, " has \"urls\" (a foreign layer); the format does not allow them"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Blob> SignatureSeal(std::string_view base_manifest, const PrivateKey& key,
                                   Algorithm algorithm) {
  Envelope e;
  e.manifest_digest = Digest::Sha256Of(base_manifest);
  e.algorithm = algorithm;
  e.key_id = key.public_key().key_id();
  absl::StatusOr<std::string> sig = key.Sign(algorithm, Sha256(base_manifest));
  if (!sig.ok()) return sig.status();
  e.signature = *std::move(sig);
  return MakeBlob(MakeSingleFileTar(kSealSignaturePath, SerializeEnvelope(e)));
}

}  // namespace

absl::StatusOr<SealedImage> SealImage(std::string_view base_manifest,
                                      std::string_view base_media_type,
                                      std::string_view base_config, const PrivateKey& key,
                                      Algorithm algorithm) {
  absl::StatusOr<ImageManifest> base = ParseImageManifest(base_manifest, base_media_type);
  if (!base.ok()) return base.status();
  if (absl::Status s = CheckSealable(*base); !s.ok()) return s;
  if (!base->config.digest.Matches(base_config)) {
    return absl::InvalidArgumentError("base config does not match the manifest's config digest");
  }

  Blob manifest_tar = MakeBlob(MakeSingleFileTar(kSealManifestPath, base_manifest));
  absl::StatusOr<Blob> signature_tar = SignatureSeal(base_manifest, key, algorithm);
  if (!signature_tar.ok()) return signature_tar.status();

  absl::StatusOr<nlohmann::json> cb = ParseStrictJson(base_config, kMaxConfigBytes);
  if (!cb.ok()) return cb.status();
  absl::StatusOr<nlohmann::json> cs =
      internal::SealConfig(*std::move(cb), manifest_tar.digest, signature_tar->digest);
  if (!cs.ok()) return cs.status();

  SealedImage out;
  out.media_type = std::string(base_media_type);
  out.config = MakeBlob(cs->dump());
  out.manifest_seal = MakeBlob(GzipCompress(manifest_tar.bytes));
  out.signature_seal = MakeBlob(GzipCompress(signature_tar->bytes));

  // Ms keeps Mb's own members and member order; only config and layers change.
  ordered_json ms = ordered_json::parse(base_manifest);
  ms["config"]["digest"] = out.config.digest.str();
  ms["config"]["size"] = out.config.bytes.size();
  std::string_view gzip_type = base->family == Family::kOci ? kOciLayerGzip : kDockerLayerGzip;
  ms["layers"].push_back(SealDescriptor(gzip_type, out.manifest_seal, kSealManifestValue));
  ms["layers"].push_back(SealDescriptor(gzip_type, out.signature_seal, kSealSignatureValue));
  out.manifest = ms.dump(3);
  return out;
}

}  // namespace layerseal
