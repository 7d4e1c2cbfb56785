// Skeleton (issue 18): the helper s25-inspect implements it. Until then every function
// fails closed.
#include "verifier/image_integrity.h"

namespace layerseal {

std::string_view OnRevokedName(OnRevoked o) {
  switch (o) {
    case OnRevoked::kReport:
      return "report";
    case OnRevoked::kStop:
      return "stop";
  }
  return "unknown";
}

bool IntegrityRules::empty() const {
  return trusted_bases.empty() && protected_path_patterns.empty() && !packages;
}

bool IntegrityRules::needs_layers() const {
  return !protected_path_patterns.empty() || packages;
}

std::string IntegrityRules::Fingerprint() const { return "sha256:unimplemented"; }

absl::StatusOr<std::vector<Digest>> ParseConfigDiffIds(std::string_view) {
  return absl::UnimplementedError("ParseConfigDiffIds: not built yet");
}

absl::StatusOr<Digest> ResolveTrustedBase(const Reference&, const Platform&, ImageSource*) {
  return absl::UnimplementedError("ResolveTrustedBase: not built yet");
}

ImageInspection InspectImage(const Digest& image, const ImageManifest&, std::string_view,
                             const IntegrityRules&, BlobReader*, const InspectOptions&) {
  ImageInspection out;
  out.image = image;
  out.content = absl::UnimplementedError("InspectImage: not built yet");
  return out;
}

Verdict ApplyIntegrity(const Verdict& signature, const IntegrityRules& rules,
                       const ImageInspection&) {
  if (!signature.allowed() || rules.empty()) return signature;
  Verdict v = signature;
  v.decision = Decision::kDeny;
  v.reason = Reason::kContentUnavailable;
  v.detail = "image-integrity rules are not built yet";
  return v;
}

}  // namespace layerseal
