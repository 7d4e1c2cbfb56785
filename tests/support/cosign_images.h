// The exact registry forms cosign writes for its signatures, for tests (issue 17):
//   - cosign 3 referrer: an OCI manifest with `subject` = the signed image and
//     artifactType = the sigstore bundle v0.3 media type, config the OCI empty blob, one
//     layer holding the bundle JSON;
//   - the referrers fallback tag `sha256-<hex>`: an OCI index of those referrer manifests,
//     whose entries carry NO artifactType (what cosign 3 writes through go-containerregistry:
//     the consumer must fetch each manifest and decide from it);
//   - the legacy tag `sha256-<hex>.sig`: an OCI manifest whose layers are simple-signing
//     payloads (application/vnd.dev.cosign.simplesigning.v1+json), each with the
//     dev.cosignproject.cosign/signature annotation and optional dev.sigstore.cosign/
//     certificate, chain, bundle (the Rekor SET) and rfc3161timestamp annotations.
// The Make* functions build the bytes (a TestImage: manifest + blobs, nothing pushed), so a
// test can tamper with them first; the Push* functions push them with the project's own
// registry client (tests/support/push.h) to `repo`, which may be another repository than the
// image's (cosign's COSIGN_REPOSITORY, a scope's signatureRepository).
//
// Thread-safety: plain functions; the client is used as RegistryClient allows.
#ifndef LAYERSEAL_TESTS_SUPPORT_COSIGN_IMAGES_H_
#define LAYERSEAL_TESTS_SUPPORT_COSIGN_IMAGES_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/client.h"
#include "tests/support/images.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal::testing {

inline constexpr std::string_view kCosignBundleV03MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
inline constexpr std::string_view kCosignSimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kOciEmptyMediaType = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kOciManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndexMediaType = "application/vnd.oci.image.index.v1+json";

// The signed image as a descriptor (what a referrer's `subject` holds).
struct CosignSubject {
  std::string media_type;  // the signed manifest's media type
  Digest digest;
  size_t size = 0;
};
// The subject descriptor of `image` (its manifest's media type, digest and size).
CosignSubject SubjectOf(const TestImage& image);

// A cosign 3 referrer manifest carrying `bundle_json`. `artifact_type` is the manifest's
// artifactType and the layer's media type (cosign writes the v0.3 bundle type for both).
TestImage MakeBundleReferrer(const CosignSubject& subject, std::string_view bundle_json,
                             std::string_view artifact_type = kCosignBundleV03MediaType);

// How the fallback index lists a referrer.
enum class FallbackArtifactType {
  kOmitted,      // no artifactType member (cosign 3 via go-containerregistry: omitempty)
  kEmptyString,  // "artifactType": ""
  kFromManifest  // the referrer's own artifactType (what the OCI 1.1 spec asks for)
};
// The `sha256-<hex>` fallback index over `referrers` (each a MakeBundleReferrer result). The
// result's `children` hold the referrer manifests and `blobs` their blobs, so PushTestImage
// pushes everything.
TestImage MakeFallbackIndex(const std::vector<TestImage>& referrers,
                            FallbackArtifactType entries = FallbackArtifactType::kOmitted);

// One layer of a legacy .sig manifest.
struct CosignSigLayer {
  std::string payload;                             // simple-signing JSON bytes
  std::map<std::string, std::string> annotations;  // dev.cosignproject.cosign/signature, ...
};
// The legacy .sig manifest: an OCI manifest with a config listing the layers' diff_ids (as
// cosign writes it) and one simple-signing layer per entry of `layers`.
TestImage MakeLegacySig(const std::vector<CosignSigLayer>& layers);

// "sha256-<hex>" and "sha256-<hex>.sig" for `digest`.
std::string CosignFallbackTag(const Digest& digest);
std::string CosignSigTag(const Digest& digest);

// Pushes a referrer by digest (no tag) into `repo`. docker-registry 2.8 stores it but has no
// referrers API: pair it with PushFallbackIndex, or serve the API from the test's own server.
absl::Status PushReferrer(registry::RegistryClient& client, const Reference& repo, const TestImage& referrer);
// Pushes `index` (MakeFallbackIndex) and its children under repo:sha256-<hex of subject>.
absl::Status PushFallbackIndex(registry::RegistryClient& client, const Reference& repo,
                               const Digest& subject, const TestImage& index);
// Pushes `sig` (MakeLegacySig) under repo:sha256-<hex of subject>.sig.
absl::Status PushLegacySig(registry::RegistryClient& client, const Reference& repo,
                           const Digest& subject, const TestImage& sig);

// Convenience: the legacy layer of a fixture directory written by make_fixtures.mjs
// (payload.json + annotations.json). Fails when either is missing or not JSON.
absl::StatusOr<CosignSigLayer> LoadFixtureSigLayer(const std::string& fixture_dir);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_COSIGN_IMAGES_H_
