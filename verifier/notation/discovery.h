// Where Notary Project signatures live for an image digest, and which of them to fetch
// (issue 20, docs/notation.md "Where signatures are found"). notation writes a signature as an
// OCI image manifest with artifactType (and, for OCI 1.0 registries, config mediaType)
// kSignatureArtifactType, `subject` = the signed manifest, one layer = the envelope
// (application/jose+json or application/cose), and the manifest annotation
// kThumbprintAnnotation = a JSON array of the hex SHA-256 of each certificate of the
// envelope's chain. Found, for the exact digest judged (and for an index, the index digest
// too), in the image's own repository:
//   - the OCI 1.1 referrers API (ImageSource::FetchReferrers, artifactType filter
//     kSignatureArtifactType; the registry may ignore the filter, so entries are filtered
//     again here);
//   - the referrers fallback tag "sha256-<hex>" (sigstore::FallbackTag), an index whose
//     entries carry the artifactType, or none (an OCI 1.0 client): those are fetched and
//     decided by the manifest's artifactType or config mediaType (EnvelopeLayer).
// Pre-selection: before any envelope is downloaded, an entry whose thumbprint annotation names
// no certificate of the scope's ca / signingAuthority stores is skipped (counted, never
// fetched) when authenticity is enforced; entries without the annotation in the index are
// decided from their manifest's annotations; an entry whose manifest has none at all is a
// candidate, tried after the matching ones. The annotation is only a hint: a candidate's
// envelope is verified in full, so an annotation that lies costs a fetch, never trust.
//
// Pure parsing: no I/O; thread-safe. Errors: InvalidArgument naming what was wrong;
// ResourceExhausted for a size over a limit.
#ifndef LAYERSEAL_VERIFIER_NOTATION_DISCOVERY_H_
#define LAYERSEAL_VERIFIER_NOTATION_DISCOVERY_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/manifest.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"

namespace layerseal::notation {

// Index entries examined per subject and lookup (referrers, fallback tag): 1,000 signatures
// cost one parse, not 1,000 fetches.
inline constexpr size_t kMaxIndexEntries = 4096;
// Signature manifests fetched per verification (entries without a usable annotation).
inline constexpr size_t kMaxSignatureManifests = 32;
// Envelopes fetched and verified per verification (notation-go's MaxSignatureAttempts is 50).
inline constexpr size_t kMaxSignatureAttempts = 16;
// A signature manifest is fetched within this.
inline constexpr size_t kMaxSignatureManifestBytes = 64 * 1024;
// One thumbprint annotation's value.
inline constexpr size_t kMaxThumbprintAnnotationBytes = 4096;

enum class ThumbprintMatch {
  kTrusted,    // lists a thumbprint of `trusted`
  kUntrusted,  // a well-formed list naming none of them
  kAbsent,     // no annotation
  kMalformed,  // not a JSON array of 64-hex strings, or over the limit: treated as kAbsent
               // for selection, and named in the detail
};
ThumbprintMatch MatchThumbprints(const std::map<std::string, std::string>& annotations,
                                 const std::vector<std::string>& trusted);

struct Candidate {
  Descriptor manifest;  // the signature manifest's descriptor in the index
  ThumbprintMatch match = ThumbprintMatch::kAbsent;
  bool artifact_type_known = true;  // false: empty artifactType, decide from the manifest
};
struct CandidateList {
  std::vector<Candidate> candidates;  // kTrusted first, then the rest in index order
  size_t skipped_untrusted = 0;       // entries skipped by pre-selection
  size_t left_out = 0;                // entries beyond kMaxIndexEntries
};
// From a referrers answer or a fallback-tag index (`ct` its Content-Type): the image-manifest
// entries whose artifactType is kSignatureArtifactType, or empty/absent; others skipped.
// `preselect`: skip entries whose annotation is kUntrusted against `trusted_thumbprints`
// (the caller passes false when authenticity is not enforced: audit must see every
// signature whose integrity holds).
absl::StatusOr<CandidateList> ParseSignatureIndex(std::string_view index_bytes,
                                                  std::string_view ct,
                                                  const std::vector<std::string>& trusted_thumbprints,
                                                  bool preselect);

// From a signature manifest (its annotations are json["annotations"]): the envelope layer
// when the manifest is a notation signature (artifactType, or else config mediaType, is
// kSignatureArtifactType); nullopt when it is another artifact. InvalidArgument when it is a
// signature without exactly one layer of kJwsMediaType / kCoseMediaType; ResourceExhausted
// when that layer is over kMaxEnvelopeBytes.
absl::StatusOr<std::optional<Descriptor>> EnvelopeLayer(const ImageManifest& manifest);
// The manifest's annotations (json["annotations"], string values only; absent: empty).
std::map<std::string, std::string> ManifestAnnotations(const ImageManifest& manifest);

}  // namespace layerseal::notation

#endif  // LAYERSEAL_VERIFIER_NOTATION_DISCOVERY_H_
