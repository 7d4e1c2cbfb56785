// The verifier: spec section 4, one method that returns a judgement.
// Thread-safety: Verify() may be called concurrently. Each Verify() itself calls the
// ImageSource from several threads at once (up to kMaxParallelFetches, fetch_group.h: after
// the image manifest, every independent fetch is in flight together), so the ImageSource
// must be thread-safe, as registry::RegistryClient and HostsSource are.
// Ownership: borrows `source` and `policy`; both must outlive the Verifier.
#ifndef LAYERSEAL_VERIFIER_VERIFIER_H_
#define LAYERSEAL_VERIFIER_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "verifier/image_source.h"
#include "verifier/manifest.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal {

// A reference resolved to the single-platform image manifest the runtime would pull.
struct ResolvedImage {
  Reference pinned;            // the repository at the manifest's digest
  FetchedManifest fetched;     // the image manifest's bytes, as served
  ImageManifest manifest;
  std::optional<Digest> index_digest;  // set when the reference named an index
  std::string index_media_type;        // with index_digest: the index's media type
  int64_t index_size = 0;              // with index_digest: the index's size in bytes
};

// Spec step 1. Errors: the source's own status for fetch failures (image_source.h), with
// DataLoss for bytes that do not match the digest they were asked by; InvalidArgument for a
// document that is not a well-formed manifest of a known type or has no child for `platform`.
absl::StatusOr<ResolvedImage> ResolveImage(ImageSource& source, const Reference& ref,
                                           const Platform& platform);

// A seal layer's one file (spec step 3): fetched within kMaxSealCompressedBytes, checked
// against `layer`'s digest and size (DataLoss), gunzipped within kMaxSealUncompressedBytes
// (ResourceExhausted), read as a one-entry tar named `path` (InvalidArgument). `tar`
// receives the uncompressed archive.
absl::StatusOr<std::string> ReadSealFile(ImageSource& source, const Reference& repo,
                                         const Descriptor& layer, std::string_view path,
                                         std::string* tar);

class Verifier {
 public:
  Verifier(ImageSource* source, const Policy* policy, Platform platform)
      : source_(source), policy_(policy), platform_(std::move(platform)) {}

  // A caller's earlier verdict for a resolved image (its repository at the image manifest's
  // digest), e.g. a cache keyed by digest and policy version; nullopt to verify it.
  using KnownVerdict = std::function<std::optional<Verdict>(const Reference& pinned)>;

  // Never fails: every error becomes a DENY verdict with a reason (fail closed), unless the
  // scope allows registry errors. The scope's `signatures` say which kinds may admit: seals
  // (spec section 4), cosign signatures (docs/sigstore.md) and/or Notary Project signatures
  // (docs/notation.md), any one that verifies; a scope accepting notation at level skip
  // admits without looking (INSECURE_ACCEPT_ANYTHING). With `known`, step 1 runs and, if `known` has a verdict
  // for the resolved image, that verdict is returned (with `ref` and this call's duration)
  // instead of running steps 2-8.
  Verdict Verify(const Reference& ref, const KnownVerdict& known = nullptr) const;

 private:
  ImageSource* source_;
  const Policy* policy_;
  Platform platform_;
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_VERIFIER_H_
