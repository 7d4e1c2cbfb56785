// Where cosign signatures live for an image digest, and turning what was fetched into the
// descriptors to fetch next (issue 17, docs/sigstore.md "Discovery"). Three places, for the
// exact digest judged (and for an index, the index digest too):
//   - the OCI 1.1 referrers API: GET /v2/<name>/referrers/<digest> (ImageSource::FetchReferrers);
//   - the referrers fallback tag "sha256-<hex>", an index; cosign 3 writes its entries with an
//     empty artifactType, so each such entry is fetched and decided from its manifest;
//   - the legacy tag "sha256-<hex>.sig": one simple-signing layer per signature.
// All in the scope's signatureRepository when it names one (cosign's COSIGN_REPOSITORY).
// Pure parsing: no I/O; thread-safe. Every error is InvalidArgument naming what was wrong,
// or ResourceExhausted for a size over a limit below.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_DISCOVERY_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_DISCOVERY_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/digest.h"
#include "verifier/manifest.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "verifier/sigstore/bundle.h"

namespace layerseal::sigstore {

// Referrer descriptors considered per subject (referrers API and fallback tag each): the
// rest are counted and named in the verdict's detail, never fetched. An attacker who can
// write referrers can also delete the signature, so the cap adds no denial of service.
inline constexpr size_t kMaxReferrers = 64;
// Simple-signing layers of one .sig manifest considered; the rest are counted likewise.
inline constexpr size_t kMaxSigLayers = 16;
// A referrer manifest (one small OCI manifest naming a bundle layer) is fetched within this.
inline constexpr size_t kMaxReferrerManifestBytes = 64 * 1024;
// The artifactType cosign 3 gives a bundle referrer.
inline constexpr std::string_view kBundleV03MediaType = kBundleMediaTypeV03New;
// The artifactType filter the verifier asks the referrers API for: none. @sigstore/oci
// (sigstore-js, GitHub's attest actions) gives a referrer the bundle's own mediaType, any of
// the four spellings (a v0.2 bundle: "application/vnd.dev.sigstore.bundle+json;version=0.2"),
// and writes no fallback tag when the registry has the referrers API, so a filter on one
// spelling would hide the others; ParseReferrers keeps every bundle type instead.
inline constexpr std::string_view kReferrersArtifactTypeFilter = "";

// "sha256-<hex>": the referrers fallback tag of `d` (OCI distribution 1.1).
std::string FallbackTag(const Digest& d);
// "sha256-<hex>.sig": cosign's legacy signature tag of `d`.
std::string LegacySigTag(const Digest& d);
// The repository signatures of `image` are looked up in: the scope's signatureRepository when
// set, else the image's own repository. No tag, no digest.
Reference SignatureRepo(const Reference& image, const ScopePolicy& scope);
// `repo` at tag `tag` (no digest).
Reference AtTag(const Reference& repo, std::string tag);

// True for the four sigstore bundle media types of bundle.h (exact spelling).
bool IsBundleMediaType(std::string_view media_type);

struct ReferrerList {
  std::vector<Descriptor> candidates;  // in index order, at most kMaxReferrers
  size_t left_out = 0;                 // candidates beyond kMaxReferrers
};
// From a referrers answer or a fallback-tag index (`ct` its Content-Type): the image-manifest
// entries whose artifactType is a bundle type, or empty/absent (fetch and decide). Entries of
// another artifactType (SBOMs, attestations of other tools) or of another media type are
// skipped.
absl::StatusOr<ReferrerList> ParseReferrers(std::string_view index_bytes, std::string_view ct);

// From a referrer manifest: the layer holding its bundle, when the manifest is a sigstore
// bundle (its artifactType, its config's mediaType or its first layer's mediaType is a bundle
// type); nullopt when it is some other artifact. InvalidArgument when it says it is a bundle
// but has no bundle layer first; ResourceExhausted when that layer is over kMaxBundleBytes.
absl::StatusOr<std::optional<Descriptor>> BundleLayer(const ImageManifest& manifest);

struct LegacyLayer {
  Descriptor layer;  // its bytes are the simple-signing payload
  std::map<std::string, std::string> annotations;
};
struct SigLayerList {
  std::vector<LegacyLayer> layers;  // in manifest order, at most kMaxSigLayers
  size_t left_out = 0;
};
// From a .sig manifest (`ct` its Content-Type): each simple-signing layer with its
// annotations. Layers of another media type are skipped. A layer's size is not judged here:
// the caller fetches each within kMaxSimpleSigningBytes.
absl::StatusOr<SigLayerList> SigLayers(std::string_view manifest_bytes, std::string_view ct);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_DISCOVERY_H_
