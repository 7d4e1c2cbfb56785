// The registry forms notation writes for its signatures, for tests (issue 20):
//   - the signature manifest: an OCI image manifest with artifactType
//     application/vnd.cncf.notary.signature, the OCI empty config `{}`, one layer = the
//     envelope (application/jose+json or application/cose), `subject` = the signed manifest's
//     descriptor, and the annotation io.cncf.notary.x509chain.thumbprint#S256 (a JSON array of
//     the hex SHA-256 of each certificate of the envelope's chain, leaf first);
//   - attached to docker-registry 2.8 (no referrers API) through the referrers fallback tag
//     `sha256-<hex>`: an OCI index whose entries carry artifactType and the manifest's
//     annotations (what notation, through oras-go, writes), the new entry appended to the index
//     already there;
//   - attached through the OCI 1.1 referrers API of tests/support/referrers_registry.h;
//   - the OCI 1.0 form (an older notation / registry): no artifactType, config.mediaType =
//     application/vnd.cncf.notary.signature (config still `{}`), and a fallback index entry
//     without artifactType (and without annotations): a consumer must fetch the manifest.
// The envelopes are the ones tests/fixtures/notation/make_fixtures.py writes (LoadNotationFixture).
// The Make* functions build bytes only; Push*/Attach* push them with the project's own
// registry client (tests/support/push.h).
//
// Thread-safety: plain functions; the client is used as RegistryClient allows.
#ifndef LAYERSEAL_TESTS_SUPPORT_NOTATION_IMAGES_H_
#define LAYERSEAL_TESTS_SUPPORT_NOTATION_IMAGES_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/client.h"
#include "tests/support/cosign_images.h"
#include "tests/support/images.h"
#include "tests/support/referrers_registry.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal::testing {

inline constexpr std::string_view kNotationArtifactType = "application/vnd.cncf.notary.signature";
inline constexpr std::string_view kNotationThumbprints = "io.cncf.notary.x509chain.thumbprint#S256";
inline constexpr std::string_view kNotationJwsMediaType = "application/jose+json";
inline constexpr std::string_view kNotationCoseMediaType = "application/cose";

// One envelope and what its signature manifest says about it.
struct NotationEnvelope {
  std::string bytes;
  std::string media_type;                // application/jose+json or application/cose
  std::vector<std::string> thumbprints;  // hex SHA-256 of each chain certificate, leaf first
};

// Envelope `name` ("jws-good", "cose-expired", ...) of target `target` in the output dir `out`
// of make_fixtures.py (<out>/<target>/<name>.sig and .json). Fails naming the file.
absl::StatusOr<NotationEnvelope> LoadNotationFixture(const std::string& out, const std::string& target,
                                                     const std::string& name);

// The thumbprint annotation's value for `thumbprints` (a JSON array of strings).
std::string NotationThumbprintAnnotation(const std::vector<std::string>& thumbprints);

enum class NotationForm {
  kOci11,  // artifactType set, config application/vnd.oci.empty.v1+json
  kOci10,  // no artifactType, config mediaType application/vnd.cncf.notary.signature
};
// The signature manifest of `envelope` for `subject`. `annotations` replace the thumbprint
// annotation made from envelope.thumbprints when they hold it (a lying annotation), and are
// added to it otherwise; org.opencontainers.image.created is always set.
TestImage MakeNotationSignature(const CosignSubject& subject, const NotationEnvelope& envelope,
                                NotationForm form = NotationForm::kOci11,
                                const std::map<std::string, std::string>& annotations = {});

// How the fallback index lists a signature manifest.
enum class NotationEntry {
  kFull,       // artifactType (the manifest's, or its config mediaType) and the annotations
  kBare,       // mediaType, digest, size only (OCI 1.0 clients)
};
// The fallback index over `signatures` (each a MakeNotationSignature result); `children` and
// `blobs` hold them, so PushTestImage pushes everything.
TestImage MakeNotationFallbackIndex(const std::vector<TestImage>& signatures,
                                    NotationEntry entries = NotationEntry::kFull);

// Pushes `signature` by digest into `repo` and adds its entry to the fallback index
// repo:sha256-<hex of subject> (fetched first when present, as notation/oras-go does; made
// when absent). `entries` says how the entry is written.
absl::Status AttachNotationSignature(registry::RegistryClient& client, const Reference& repo,
                                     const Digest& subject, const TestImage& signature,
                                     NotationEntry entries = NotationEntry::kFull);

// Serves `signature` as a referrer of `subject` in `repository` of a ReferrersRegistry, listed
// with the manifest's artifactType (or config mediaType) and annotations.
void AddNotationReferrer(ReferrersRegistry& registry, const std::string& repository, const Digest& subject,
                         const TestImage& signature);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_NOTATION_IMAGES_H_
