#include "verifier/internal/notation_run.h"

#include <utility>

#include "base/str_cat.h"
#include "verifier/manifest.h"
#include "verifier/sigstore/discovery.h"

namespace layerseal::internal {
namespace {

// A registry answer that only says "nothing here": no referrers API, no such tag.
bool NotationLookupAbsent(const absl::Status& s) {
  return s.code() == absl::StatusCode::kNotFound || s.code() == absl::StatusCode::kUnimplemented;
}

notation::Result NotationResultOf(Reason reason, std::string detail, int step) {
  notation::Result r;
  r.reason = reason;
  r.detail = std::move(detail);
  r.step = step;
  return r;
}

// A listing, manifest or envelope that does not parse, or is over a limit: step 1.
notation::Result NotationParseResult(const absl::Status& s, std::string_view what) {
  Reason r = s.code() == absl::StatusCode::kResourceExhausted ? Reason::kLimitExceeded
                                                             : Reason::kMalformedSignature;
  return NotationResultOf(r, StrCat(what, ": ", Sv(s.message())), 1);
}

// A fetch that failed. A registry error decides nothing about the signature: it ranks below
// every check (step 0).
notation::Result NotationFetchResult(const absl::Status& s, std::string_view what) {
  Reason r = s.code() == absl::StatusCode::kResourceExhausted ? Reason::kLimitExceeded
             : s.code() == absl::StatusCode::kInvalidArgument  ? Reason::kMalformedSignature
             : s.code() == absl::StatusCode::kDataLoss          ? Reason::kMalformedSignature
                                                                : Reason::kRegistryError;
  return NotationResultOf(r, StrCat(what, ": ", Sv(s.message())), r == Reason::kRegistryError ? 0 : 1);
}

std::string NotationPlural(size_t n, std::string_view one, std::string_view many) {
  return StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace

void NotationRun::StartLookups(FetchGroup& group, const ResolvedImage& image,
                               const std::vector<SharedLookup>& shared) {
  repo_ = image.pinned;
  repo_.tag.clear();
  repo_.digest.reset();
  subjects_.clear();
  subjects_.reserve(2);  // tasks hold pointers into it
  subjects_.push_back(Subject{image.fetched.digest,
                              notation::Target{image.manifest.media_type, image.fetched.digest,
                                               static_cast<int64_t>(image.fetched.bytes.size())}});
  digests_text_ = image.fetched.digest.str();
  if (image.index_digest) {
    // notation signs the digest the user named: for a multi-arch image, usually the index.
    subjects_.push_back(Subject{*image.index_digest, notation::Target{image.index_media_type,
                                                                      *image.index_digest,
                                                                      image.index_size}});
    digests_text_ += StrCat(" or its index ", image.index_digest->str());
  }
  for (size_t i = 0; i < subjects_.size(); ++i) {
    Subject& s = subjects_[i];
    if (i < shared.size() && shared[i].subject == s.digest && shared[i].referrers != nullptr &&
        shared[i].fallback != nullptr) {
      s.referrers = shared[i].referrers;
      s.fallback = shared[i].fallback;
      continue;
    }
    s.referrers = &s.own_referrers;
    s.fallback = &s.own_fallback;
    Subject* sp = &s;
    group.Add([this, sp] {
      sp->own_referrers = source_.FetchReferrers(repo_, sp->digest, notation::kSignatureArtifactType,
                                                 kMaxManifestBytes);
    });
    group.Add([this, sp] {
      sp->own_fallback = source_.FetchManifest(
          sigstore::AtTag(repo_, sigstore::FallbackTag(sp->digest)), kMaxManifestBytes);
    });
  }
}

void NotationRun::NoteLookupError(const absl::Status& s, std::string_view what) {
  if (lookup_error_.empty()) lookup_error_ = StrCat(what, ": ", Sv(s.message()));
}

NotationRun::Judged* NotationRun::NewJudged(std::string where, notation::Result result) {
  judged_.push_back(Judged{std::move(where), std::move(result)});
  return &judged_.back();
}

void NotationRun::AddListing(Subject& s, const absl::StatusOr<FetchedManifest>& answer,
                             std::string what, std::set<std::string>& seen,
                             std::vector<Entry>& trusted, std::vector<Entry>& rest) {
  if (!answer.ok()) {
    if (!NotationLookupAbsent(answer.status())) NoteLookupError(answer.status(), what);
    return;
  }
  absl::StatusOr<notation::CandidateList> list = notation::ParseSignatureIndex(
      answer->bytes, answer->content_type, trust_.trusted_thumbprints, Preselect());
  if (!list.ok()) {
    NewJudged(what, NotationParseResult(list.status(), "listing"));
    return;
  }
  skipped_untrusted_ += list->skipped_untrusted;
  left_out_ += list->left_out;
  for (notation::Candidate& c : list->candidates) {
    // A signature listed by both the referrers API and the fallback tag is looked at once.
    if (!seen.insert(c.manifest.digest.str()).second) continue;
    std::string where = StrCat(what, ": ", c.manifest.digest.str());
    bool is_trusted = c.match == notation::ThumbprintMatch::kTrusted;
    (is_trusted ? trusted : rest).push_back(Entry{&s, std::move(where), std::move(c)});
  }
}

void NotationRun::StartManifestFetches(FetchGroup& group) {
  std::vector<Entry> trusted, rest;
  for (Subject& s : subjects_) {
    std::set<std::string> seen;
    AddListing(s, *s.referrers, StrCat("referrers of ", s.digest.str()), seen, trusted, rest);
    AddListing(s, *s.fallback, StrCat("fallback tag ", sigstore::FallbackTag(s.digest)), seen,
               trusted, rest);
  }
  // The manifests of entries the annotation vouches for, each a future attempt; and those
  // needing a look (no usable annotation, or no artifactType), within their own cap.
  size_t vouched = 0, to_look = 0;
  auto take = [&](Entry& e) {
    bool look = !(e.candidate.match == notation::ThumbprintMatch::kTrusted &&
                  e.candidate.artifact_type_known);
    size_t& n = look ? to_look : vouched;
    if (n >= (look ? notation::kMaxSignatureManifests : notation::kMaxSignatureAttempts)) {
      ++left_out_;
      return;
    }
    ++n;
    entries_.push_back(std::move(e));
  };
  for (Entry& e : trusted) take(e);
  for (Entry& e : rest) take(e);
  for (Entry& e : entries_) {
    Entry* ep = &e;
    group.Add([this, ep] {
      const Descriptor& d = ep->candidate.manifest;
      if (d.size > static_cast<int64_t>(notation::kMaxSignatureManifestBytes)) {
        ep->manifest = absl::ResourceExhaustedError(
            StrCat("signature manifest is ", d.size, " bytes, over ", notation::kMaxSignatureManifestBytes));
        return;
      }
      ep->manifest = source_.FetchManifest(repo_.WithDigest(d.digest), notation::kMaxSignatureManifestBytes);
    });
  }
}

void NotationRun::AddEnvelopeAttempt(Entry& e, std::vector<Attempt>& trusted,
                                     std::vector<Attempt>& rest) {
  if (!e.manifest.ok()) {
    NewJudged(e.where, NotationFetchResult(e.manifest.status(), "signature manifest"));
    return;
  }
  absl::StatusOr<ServedManifest> served = ParseServedManifest(e.manifest->bytes, e.manifest->content_type);
  if (served.ok() && !served->image) {
    served = absl::InvalidArgumentError(StrCat("a ", served->media_type, ", not an image manifest"));
  }
  if (!served.ok()) {
    NewJudged(e.where, NotationParseResult(served.status(), "signature manifest"));
    return;
  }
  absl::StatusOr<std::optional<Descriptor>> layer = notation::EnvelopeLayer(*served->image);
  if (!layer.ok()) {
    NewJudged(e.where, NotationParseResult(layer.status(), "signature manifest"));
    return;
  }
  if (!layer->has_value()) {  // another kind of artifact (a cosign bundle, an SBOM, ...)
    ++not_signatures_;
    return;
  }
  notation::ThumbprintMatch match = e.candidate.match;
  if (match == notation::ThumbprintMatch::kAbsent || match == notation::ThumbprintMatch::kMalformed) {
    // The index said nothing usable: the manifest's own annotation decides.
    notation::ThumbprintMatch own =
        notation::MatchThumbprints(notation::ManifestAnnotations(*served->image), trust_.trusted_thumbprints);
    if (own != notation::ThumbprintMatch::kAbsent) match = own;
  }
  if (match == notation::ThumbprintMatch::kMalformed) ++malformed_annotations_;
  if (Preselect() && match == notation::ThumbprintMatch::kUntrusted) {
    ++skipped_untrusted_;
    return;
  }
  Attempt a{e.subject, e.where, **std::move(layer), match};
  (match == notation::ThumbprintMatch::kTrusted ? trusted : rest).push_back(std::move(a));
}

void NotationRun::StartEnvelopeFetches(FetchGroup& group) {
  std::vector<Attempt> trusted, rest;
  for (Entry& e : entries_) AddEnvelopeAttempt(e, trusted, rest);
  size_t started = 0;
  auto start = [&](Attempt& a) {
    if (started >= notation::kMaxSignatureAttempts) {
      ++left_out_;
      return;
    }
    ++started;
    Judged* slot = NewJudged(a.where, notation::Result{});
    group.Add([this, slot, a = std::move(a)] {
      absl::StatusOr<std::string> bytes = source_.FetchBlob(repo_, a.layer.digest, notation::kMaxEnvelopeBytes);
      if (!bytes.ok()) {
        slot->result = NotationFetchResult(bytes.status(), "envelope");
        return;
      }
      if (static_cast<int64_t>(bytes->size()) != a.layer.size) {
        slot->result = NotationResultOf(
            Reason::kMalformedSignature,
            StrCat("envelope ", a.layer.digest.str(), " is ", bytes->size(),
                   " bytes but its descriptor says ", a.layer.size),
            1);
        return;
      }
      slot->result = notation::VerifySignature(*bytes, a.layer.media_type, a.subject->target, trust_, now_);
    });
  };
  for (Attempt& a : trusted) start(a);
  for (Attempt& a : rest) start(a);
}

std::optional<NotationFailure> NotationRun::Judge(Verdict& verdict) {
  const Judged* deepest = nullptr;
  for (const Judged& j : judged_) {
    if (j.result.ok()) {
      verdict.signer_kind = "notation";
      allow_detail_ = StrCat("notation signature ", j.where);
      if (j.result.signer) {
        const notation::Signer& who = *j.result.signer;
        verdict.signer_subject = who.subject;
        verdict.signer_issuer = who.issuer;
        verdict.key_id = StrCat("sha256:", who.thumbprint);
        allow_detail_ += StrCat(" by ", who.subject, " (", notation::FormatName(who.format), ", ",
                                notation::SigningSchemeName(who.scheme),
                                who.store.empty() ? "" : StrCat(", trust store ", who.store), ")");
      }
      for (const std::string& l : j.result.logged) allow_detail_ += StrCat("; notation: logged: ", l);
      return std::nullopt;
    }
    if (deepest == nullptr || j.result.step > deepest->result.step) deepest = &j;
  }
  std::string tail;
  if (skipped_untrusted_ > 0) {
    tail += StrCat("; ", NotationPlural(skipped_untrusted_, "signature", "signatures"),
                   " skipped: the thumbprint annotation names no certificate of the trust stores");
  }
  if (malformed_annotations_ > 0) {
    tail += StrCat("; ", NotationPlural(malformed_annotations_, "signature has", "signatures have"),
                   " a malformed ", notation::kThumbprintAnnotation, " annotation");
  }
  if (left_out_ > 0) {
    tail += StrCat("; ", left_out_, " more not examined (at most ", notation::kMaxSignatureAttempts,
                   " envelopes, ", notation::kMaxSignatureManifests, " signature manifests to look at and ",
                   notation::kMaxIndexEntries, " index entries per listing)");
  }
  if (deepest == nullptr) {
    if (!lookup_error_.empty()) {
      return NotationFailure{Reason::kRegistryError,
                             StrCat("looking for notation signatures: ", lookup_error_, tail)};
    }
    if (skipped_untrusted_ > 0) {
      return NotationFailure{
          Reason::kUntrustedCertificate,
          StrCat("no notation signature for ", digests_text_, " in ", repo_.Name(),
                 " by a certificate of the scope's trust stores", tail)};
    }
    return NotationFailure{Reason::kNotSigned,
                           StrCat("no notation signature for ", digests_text_, " in ", repo_.Name(),
                                  " (referrers, fallback tag)", tail)};
  }
  std::string detail = StrCat(deepest->where, ": ", deepest->result.detail);
  for (const std::string& l : deepest->result.logged) detail += StrCat("; notation: logged: ", l);
  if (judged_.size() > 1) {
    detail += StrCat(" (", NotationPlural(judged_.size() - 1, "other signature", "other signatures"),
                     " failed earlier)");
  }
  if (!lookup_error_.empty()) detail += StrCat("; a lookup failed: ", lookup_error_);
  return NotationFailure{deepest->result.reason, detail + tail};
}

}  // namespace layerseal::internal
