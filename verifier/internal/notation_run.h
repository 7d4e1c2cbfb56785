// The Notary Project (notation) part of one verification (issue 20, docs/notation.md "Where
// signatures are found"), riding the verifier's FetchGroup rounds beside seals and cosign
// (verifier.cc, class Run). Private to verifier/.
//
//   round 1  StartLookups: for the image digest, and the index digest when the reference
//            named an index, the referrers API (artifactType filter kSignatureArtifactType)
//            and the fallback tag "sha256-<hex>", in the image's own repository; or nothing,
//            when the cosign lookups of the same repository already fetch both (unfiltered):
//            those answers are shared, not fetched twice.
//   round 2  StartManifestFetches: the listings parsed (discovery.h, pre-selection by the
//            thumbprint annotation), then the signature manifests: the trusted-by-annotation
//            ones (at most kMaxSignatureAttempts) and those needing a look (no usable
//            annotation, or no artifactType: at most kMaxSignatureManifests).
//   round 3  StartEnvelopeFetches: the envelopes, kTrusted first, at most
//            kMaxSignatureAttempts, each fetched and judged (notation::VerifySignature)
//            in its own task.
//   then     Judge: ALLOW on any verified signature, else the deepest failure.
//
// Thread-safety: the Start* and Judge methods are called from the verification's thread
// only, in that order; the tasks they add write only their own slots. Ownership: borrows
// the source, the trust, the resolved image and the shared answers; all must outlive it.
#ifndef LAYERSEAL_VERIFIER_INTERNAL_NOTATION_RUN_H_
#define LAYERSEAL_VERIFIER_INTERNAL_NOTATION_RUN_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/fetch_group.h"
#include "verifier/image_source.h"
#include "verifier/notation/discovery.h"
#include "verifier/notation/trust.h"
#include "verifier/notation/verify.h"
#include "verifier/verdict.h"
#include "verifier/verifier.h"

namespace layerseal::internal {

// The cosign path's round-1 answers for one subject digest, in the image's own repository:
// the unfiltered referrers answer and the fallback tag. Read after round 1 only.
struct SharedLookup {
  Digest subject;
  const absl::StatusOr<FetchedManifest>* referrers = nullptr;
  const absl::StatusOr<FetchedManifest>* fallback = nullptr;
};

struct NotationFailure {
  Reason reason;
  std::string detail;
};

class NotationRun {
 public:
  NotationRun(ImageSource& source, const notation::NotationTrust& trust, absl::Time now)
      : source_(source), trust_(trust), now_(now) {}
  NotationRun(const NotationRun&) = delete;
  NotationRun& operator=(const NotationRun&) = delete;

  // Round 1. `shared` empty: fetch the lookups; else one entry per subject (the image
  // digest, then the index digest) whose answers are used instead.
  void StartLookups(FetchGroup& group, const ResolvedImage& image,
                    const std::vector<SharedLookup>& shared);
  // Round 2, after round 1's Wait().
  void StartManifestFetches(FetchGroup& group);
  // Round 3, after round 2's Wait().
  void StartEnvelopeFetches(FetchGroup& group);
  // After round 3's Wait() (or instead of round 3: then every fetched candidate counts as
  // not examined). On ALLOW (nullopt) sets verdict's signer_kind "notation", signer_subject,
  // signer_issuer and key_id "sha256:<leaf thumbprint>", and allow_detail().
  std::optional<NotationFailure> Judge(Verdict& verdict);

  const std::string& allow_detail() const { return allow_detail_; }
  // Signatures judged (envelopes, and listings or manifests that failed), for the detail of a
  // verdict another kind decides.
  size_t judged() const { return judged_.size(); }

 private:
  struct Subject {
    Digest digest;
    notation::Target target;
    absl::StatusOr<FetchedManifest> own_referrers = absl::UnknownError("not fetched");
    absl::StatusOr<FetchedManifest> own_fallback = absl::UnknownError("not fetched");
    // own_* or the shared answers; set once the Subject is in subjects_.
    const absl::StatusOr<FetchedManifest>* referrers = nullptr;
    const absl::StatusOr<FetchedManifest>* fallback = nullptr;
  };
  // A signature manifest to fetch (round 2).
  struct Entry {
    Subject* subject;
    std::string where;
    notation::Candidate candidate;
    absl::StatusOr<FetchedManifest> manifest = absl::UnknownError("not fetched");
  };
  // One outcome: an envelope judged, or a listing / manifest that failed.
  struct Judged {
    std::string where;
    notation::Result result;
  };
  // An envelope to fetch and judge (round 3).
  struct Attempt {
    Subject* subject;
    std::string where;
    Descriptor layer;
    notation::ThumbprintMatch match;
  };

  // Pre-selection by thumbprint annotation applies when authenticity is enforced.
  bool Preselect() const { return trust_.actions.authenticity == notation::Action::kEnforce; }
  void NoteLookupError(const absl::Status& s, std::string_view what);
  Judged* NewJudged(std::string where, notation::Result result);
  void AddListing(Subject& s, const absl::StatusOr<FetchedManifest>& answer, std::string what,
                  std::set<std::string>& seen, std::vector<Entry>& trusted,
                  std::vector<Entry>& rest);
  void AddEnvelopeAttempt(Entry& e, std::vector<Attempt>& trusted, std::vector<Attempt>& rest);

  ImageSource& source_;
  const notation::NotationTrust& trust_;
  const absl::Time now_;
  Reference repo_;  // the image's repository (no tag, no digest)
  std::vector<Subject> subjects_;  // reserved before tasks hold pointers into it
  std::deque<Entry> entries_;       // deque: tasks hold pointers
  std::deque<Judged> judged_;
  std::string lookup_error_;
  std::string digests_text_;  // "sha256:… or its index sha256:…", for NOT_SIGNED
  size_t skipped_untrusted_ = 0;
  size_t left_out_ = 0;        // index entries beyond the caps, never fetched
  size_t not_signatures_ = 0;  // fetched manifests that were other artifacts
  size_t malformed_annotations_ = 0;  // candidates whose thumbprint annotation was malformed
  std::string allow_detail_;
};

}  // namespace layerseal::internal

#endif  // LAYERSEAL_VERIFIER_INTERNAL_NOTATION_RUN_H_
