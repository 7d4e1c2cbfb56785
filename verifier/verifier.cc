#include "verifier/verifier.h"

#include <chrono>
#include <deque>
#include <set>

#include "base/str_cat.h"
#include "verifier/envelope.h"
#include "verifier/fetch_group.h"
#include "verifier/internal/config_binding.h"
#include "verifier/internal/notation_run.h"
#include "verifier/seal_layer.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/discovery.h"
#include "verifier/sigstore/dsse.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/simple_signing.h"

namespace layerseal {
namespace {

absl::StatusOr<FetchedManifest> FetchChecked(ImageSource& source, const Reference& ref) {
  absl::StatusOr<FetchedManifest> m = source.FetchManifest(ref, kMaxManifestBytes);
  if (!m.ok()) return m.status();
  // The source promises this; checking again costs one hash and keeps a faulty source honest.
  if (ref.digest && !ref.digest->Matches(m->bytes)) {
    return absl::DataLossError(StrCat("registry served a manifest for ", ref.ToString(),
                                            " whose bytes do not hash to its digest"));
  }
  return m;
}

// A seal layer descriptor: annotation value, gzip media type of the family, no urls, and
// no annotation but the seal's.
bool IsSealDescriptor(const Descriptor& d, Family family, std::string_view role) {
  auto it = d.annotations.find(std::string(kSealAnnotation));
  std::string_view gzip = family == Family::kOci ? kOciLayerGzip : kDockerLayerGzip;
  return it != d.annotations.end() && it->second == role && d.annotations.size() == 1 &&
         d.media_type == gzip && !d.has_urls;
}

struct Failure {
  Reason reason;
  std::string detail;
};

// Maps a source or reader status to a reason: the one place that decides it.
Failure FromStatus(const absl::Status& s, Reason on_content_error) {
  switch (s.code()) {
    case absl::StatusCode::kResourceExhausted:
      return {Reason::kLimitExceeded, std::string(Sv(s.message()))};
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
      return {on_content_error, std::string(Sv(s.message()))};
    default:
      return {Reason::kRegistryError, std::string(Sv(s.message()))};
  }
}

// A config blob within kMaxConfigBytes, checked against its descriptor, parsed strictly.
absl::StatusOr<nlohmann::json> FetchConfig(ImageSource& source, const Reference& repo,
                                           const Descriptor& d) {
  if (d.size > static_cast<int64_t>(kMaxConfigBytes)) {
    return absl::ResourceExhaustedError(
        StrCat("config ", d.digest.str(), " is ", d.size, " bytes, over ", kMaxConfigBytes));
  }
  absl::StatusOr<std::string> bytes = source.FetchBlob(repo, d.digest, kMaxConfigBytes);
  if (!bytes.ok()) return bytes.status();
  if (!d.digest.Matches(*bytes) || static_cast<int64_t>(bytes->size()) != d.size) {
    return absl::DataLossError(StrCat("config ", d.digest.str(), " does not match its descriptor"));
  }
  return ParseStrictJson(*bytes, kMaxConfigBytes);
}

// A seal file read by a fetch task: the file, and the uncompressed tar it came in.
struct SealRead {
  absl::StatusOr<std::string> file = absl::UnknownError("not fetched");
  std::string tar;
};

// The cosign signatures judged (issue 17): one per bundle or .sig layer found, in discovery
// order, each with its outcome.
struct CosignJudged {
  std::string where;
  sigstore::EntityResult result;
  bool skip = false;  // a referrer that turned out to be another kind of artifact
};

// What the cosign lookups found for one subject digest (the image, or its index).
struct SubjectLookups {
  Digest subject;
  sigstore::Artifact artifact;
  absl::StatusOr<FetchedManifest> referrers = absl::UnknownError("not fetched");
  absl::StatusOr<FetchedManifest> fallback = absl::UnknownError("not fetched");
  absl::StatusOr<FetchedManifest> sig = absl::UnknownError("not fetched");
};

// A status from parsing what was fetched: a limit, or a signature that does not parse.
sigstore::EntityResult ParseFailure(const absl::Status& s, std::string_view what) {
  Reason r = s.code() == absl::StatusCode::kResourceExhausted ? Reason::kLimitExceeded
                                                             : Reason::kMalformedSignature;
  return {r, StrCat(what, ": ", Sv(s.message())), 1, std::nullopt};
}

// A registry answer that only says "nothing here": no referrers API, no such tag.
bool Absent(const absl::Status& s) {
  return s.code() == absl::StatusCode::kNotFound || s.code() == absl::StatusCode::kUnimplemented;
}

sigstore::EntityResult FetchFailure(const absl::Status& s, std::string_view what) {
  Reason r = s.code() == absl::StatusCode::kResourceExhausted ? Reason::kLimitExceeded
             : s.code() == absl::StatusCode::kInvalidArgument  ? Reason::kMalformedSignature
             : s.code() == absl::StatusCode::kDataLoss          ? Reason::kMalformedSignature
                                                                : Reason::kRegistryError;
  // A registry error decides nothing about the signature: it ranks below every check (step 0).
  int step = r == Reason::kRegistryError ? 0 : 1;
  return {r, StrCat(what, ": ", Sv(s.message())), step, std::nullopt};
}

// One verification: the steps of spec section 4, each returning a Failure or nothing, with
// every fetch that does not depend on another started at once (FetchGroup): after the image
// manifest, round 1 fetches both seal blobs, the image config, every cosign lookup and the
// notation lookups (shared with cosign's when both look in the same repository); round 2 the
// base config (named inside the seal), what the cosign lookups pointed at and the notation
// signature manifests; round 3 the bundles inside referrer manifests and the notation
// envelopes (verifier/internal/notation_run.h).
class Run {
 public:
  Run(ImageSource& source, const ScopePolicy& scope, const Platform& platform, Verdict& verdict)
      : source_(source), scope_(scope), platform_(platform), verdict_(verdict) {}

  // Steps 1-8, or step 1 and `known`'s answer for the resolved image (then in known_).
  std::optional<Failure> Execute(const Reference& ref, const Verifier::KnownVerdict& known) {
    if (auto f = Resolve(ref)) return f;
    if (known) {
      known_ = known(image_.pinned);
      if (known_) return std::nullopt;
    }
    const bool seals = scope_.Accepts(SignatureKind::kSeal);
    const bool cosign = scope_.Accepts(SignatureKind::kCosign);
    const bool notation = scope_.Accepts(SignatureKind::kNotation) && notation_;
    std::optional<Failure> seal_failure;
    if (seals) seal_failure = FindSeals();
    const bool fetch_seals = seals && !seal_failure;

    FetchGroup group;
    // Round 1.
    if (fetch_seals) StartSealFetches(group);
    if (cosign) StartCosignLookups(group);
    if (notation) notation_->StartLookups(group, image_, SharedWithNotation());
    group.Wait();
    // Round 2.
    if (fetch_seals) {
      seal_failure = CheckSealsUpToIntegrity();
      if (!seal_failure) StartBaseConfigFetch(group);
    }
    if (cosign) StartCosignFetches(group);
    if (notation) notation_->StartManifestFetches(group);
    group.Wait();
    if (fetch_seals && !seal_failure) seal_failure = CheckConfig();
    if ((cosign || notation) && !(fetch_seals && !seal_failure)) {
      // Round 3 (not needed once a seal verified): the bundles the referrer manifests name
      // and the notation envelopes, judged as they arrive.
      if (cosign) StartBundleFetches(group);
      if (notation) notation_->StartEnvelopeFetches(group);
      group.Wait();
    }

    if (seals && !seal_failure) {
      verdict_.signer_kind = "seal";  // which signature admitted it (issue 17 events)
      return std::nullopt;
    }
    // Any accepted kind that verifies admits; else the failures are combined.
    std::vector<KindFailure> failures;
    if (seals) failures.push_back(KindFailure{"seal", *std::move(seal_failure), 0});
    if (cosign) {
      std::optional<Failure> f = JudgeCosign();
      if (!f) return std::nullopt;
      failures.push_back(KindFailure{"cosign", *std::move(f), JudgedCount()});
    }
    if (scope_.Accepts(SignatureKind::kNotation)) {
      std::optional<Failure> f = JudgeNotation();
      if (!f) return std::nullopt;
      failures.push_back(KindFailure{"notation", *std::move(f), notation_ ? notation_->judged() : 0});
    }
    return Combine(std::move(failures));
  }

 private:
  // Step 1.
  std::optional<Failure> Resolve(const Reference& ref) {
    absl::StatusOr<ResolvedImage> r = ResolveImage(source_, ref, platform_);
    if (!r.ok()) {
      // Bytes that do not hash to the digest asked for are the registry's fault.
      if (r.status().code() == absl::StatusCode::kDataLoss) {
        return Failure{Reason::kRegistryError, std::string(Sv(r.status().message()))};
      }
      return FromStatus(r.status(), Reason::kInvalidManifest);
    }
    image_ = *std::move(r);
    return std::nullopt;
  }

  // Step 2.
  std::optional<Failure> FindSeals() {
    const std::vector<Descriptor>& layers = image_.manifest.layers;
    size_t annotated = 0;
    for (const Descriptor& d : layers) annotated += d.annotations.count(std::string(kSealAnnotation));
    if (annotated == 0) return Failure{Reason::kNotSigned, "no layer carries a layerseal seal"};
    size_t n = layers.size();
    Family family = image_.manifest.family;
    if (annotated != 2 || n < 2 || !IsSealDescriptor(layers[n - 2], family, kSealManifestValue) ||
        !IsSealDescriptor(layers[n - 1], family, kSealSignatureValue)) {
      return Failure{Reason::kMalformedSeal,
                     "the seals must be exactly the last two layers, \"manifest\" then "
                     "\"signature\", gzip, with only the seal annotation"};
    }
    return std::nullopt;
  }

  // Round 1 of the seal path: both seal files (step 3) and the image config (step 7).
  void StartSealFetches(FetchGroup& group) {
    const std::vector<Descriptor>& layers = image_.manifest.layers;
    size_t n = layers.size();
    group.Add([this, layer = layers[n - 2]] {
      seal_manifest_.file =
          ReadSealFile(source_, image_.pinned, layer, kSealManifestPath, &seal_manifest_.tar);
    });
    group.Add([this, layer = layers[n - 1]] {
      seal_signature_.file =
          ReadSealFile(source_, image_.pinned, layer, kSealSignaturePath, &seal_signature_.tar);
    });
    group.Add([this] { image_config_ = FetchConfig(source_, image_.pinned, image_.manifest.config); });
  }

  void StartBaseConfigFetch(FetchGroup& group) {
    if (image_.manifest.config.media_type != base_.config.media_type) return;  // step 7 fails first
    group.Add([this] { base_config_ = FetchConfig(source_, image_.pinned, base_.config); });
  }

  // Steps 3-6, in order, over what round 1 fetched.
  std::optional<Failure> CheckSealsUpToIntegrity() {
    if (!seal_manifest_.file.ok()) return FromStatus(seal_manifest_.file.status(), Reason::kMalformedSeal);
    if (!seal_signature_.file.ok()) return FromStatus(seal_signature_.file.status(), Reason::kMalformedSeal);
    base_manifest_ = *std::move(seal_manifest_.file);
    envelope_text_ = *std::move(seal_signature_.file);
    if (auto f = ParseAndMatchEnvelope()) return f;
    if (auto f = CheckSignature()) return f;
    return CheckIntegrity();
  }

  // Step 4.
  std::optional<Failure> ParseAndMatchEnvelope() {
    absl::StatusOr<Envelope> e = ParseEnvelope(envelope_text_);
    if (!e.ok()) return Failure{Reason::kMalformedSeal, std::string(Sv(e.status().message()))};
    envelope_ = *std::move(e);
    verdict_.key_id = envelope_.key_id;
    Digest actual = Digest::Sha256Of(base_manifest_);
    if (!(envelope_.manifest_digest == actual)) {
      return Failure{Reason::kMalformedSeal,
                     StrCat("the envelope signs ", envelope_.manifest_digest.str(),
                                  " but the embedded base manifest is ", actual.str())};
    }
    return std::nullopt;
  }

  // Step 5.
  std::optional<Failure> CheckSignature() {
    const TrustedKey* key = scope_.FindKey(envelope_.key_id);
    if (key == nullptr) {
      return Failure{Reason::kUntrustedKey,
                     StrCat("key ", envelope_.key_id, " is not trusted for scope \"",
                                  scope_.scope, "\"")};
    }
    std::string_view alg = AlgorithmName(envelope_.algorithm);
    if (key->algorithm && *key->algorithm != envelope_.algorithm) {
      return Failure{Reason::kBadSignature,
                     StrCat("algorithm ", alg, " is not the one the policy pins for key \"",
                                  key->name, "\" (", AlgorithmName(*key->algorithm), ")")};
    }
    absl::Status s = key->key.Verify(envelope_.algorithm, Sha256(base_manifest_), envelope_.signature);
    if (!s.ok()) {
      return Failure{Reason::kBadSignature,
                     StrCat("key \"", key->name, "\" (", alg, "): ", Sv(s.message()))};
    }
    return std::nullopt;
  }

  // Step 6.
  std::optional<Failure> CheckIntegrity() {
    const ImageManifest& ms = image_.manifest;
    absl::StatusOr<ImageManifest> mb = ParseImageManifest(base_manifest_, ms.media_type);
    if (!mb.ok()) {
      return Failure{Reason::kIntegrityMismatch,
                     StrCat("the embedded base manifest is not a ", ms.media_type, ": ",
                                  Sv(mb.status().message()))};
    }
    base_ = *std::move(mb);
    size_t n = base_.layers.size();
    if (ms.layers.size() != n + 2) {
      return Failure{Reason::kIntegrityMismatch,
                     StrCat("the image has ", ms.layers.size(), " layers; the signed base has ",
                                  n, " plus 2 seals")};
    }
    for (size_t i = 0; i < n; ++i) {
      if (ms.layers[i].has_urls || base_.layers[i].has_urls) {
        return Failure{Reason::kIntegrityMismatch, StrCat("layer ", i, " has \"urls\"")};
      }
      if (ms.layers[i].json != base_.layers[i].json) {
        return Failure{Reason::kIntegrityMismatch,
                       StrCat("layer ", i, " is ", ms.layers[i].digest.str(),
                                    " but the signed base has ", base_.layers[i].digest.str())};
      }
    }
    return std::nullopt;
  }

  // Step 7, over the configs rounds 1 and 2 fetched.
  std::optional<Failure> CheckConfig() {
    if (image_.manifest.config.media_type != base_.config.media_type) {
      return Failure{Reason::kConfigMismatch, "the config media type differs from the base's"};
    }
    absl::StatusOr<nlohmann::json>& cs = image_config_;
    if (!cs.ok()) return FromStatus(cs.status(), Reason::kConfigMismatch);
    absl::StatusOr<nlohmann::json>& cb = base_config_;
    if (cb.status().code() == absl::StatusCode::kNotFound) {
      // Nothing in Ms references Cb, so copy tools that follow Ms (skopeo, crane) leave it
      // behind; say so, since the fix is on the copying side.
      return Failure{Reason::kRegistryError,
                     StrCat("the base config ", base_.config.digest.str(), " that the signed base "
                            "manifest names is not in ", image_.pinned.Name(), " (the signer pushes "
                            "it there; a copy that follows only the image manifest leaves it "
                            "behind): ", cb.status().message())};
    }
    if (!cb.ok()) return FromStatus(cb.status(), Reason::kConfigMismatch);
    absl::StatusOr<nlohmann::json> expected = internal::SealConfig(
        *std::move(cb), Digest::Sha256Of(seal_manifest_.tar), Digest::Sha256Of(seal_signature_.tar));
    if (!expected.ok()) return Failure{Reason::kConfigMismatch, std::string(Sv(expected.status().message()))};
    if (*expected != *cs) {
      return Failure{Reason::kConfigMismatch,
                     "the image config is not the signed base config plus the two seal layers"};
    }
    return std::nullopt;
  }

  // --- combining the kinds' failures ---

  struct KindFailure {
    std::string_view kind;
    Failure failure;
    size_t judged;  // signatures of this kind that were judged and failed
  };

  // Neither kind admitted the image: the first failure (in the order seal, cosign, notation)
  // that is not NOT_SIGNED (the seal's when the image carries seals), naming the other kinds'
  // signatures that did not verify; when no kind found a signature, NOT_SIGNED naming each.
  static Failure Combine(std::vector<KindFailure> failures) {
    if (failures.size() == 1) return std::move(failures[0].failure);
    KindFailure* primary = nullptr;
    for (KindFailure& k : failures) {
      if (k.failure.reason != Reason::kNotSigned) {
        primary = &k;
        break;
      }
    }
    if (primary == nullptr) {
      Failure out{Reason::kNotSigned, ""};
      for (const KindFailure& k : failures) {
        out.detail += StrCat(out.detail.empty() ? "" : ", and ", k.failure.detail);
      }
      return out;
    }
    for (const KindFailure& k : failures) {
      if (&k == primary || k.judged == 0) continue;
      primary->failure.detail += StrCat("; and ", k.judged, " ", k.kind, " signature",
                                        k.judged == 1 ? "" : "s", " did not verify");
    }
    return std::move(primary->failure);
  }

  // --- notation (issue 20, docs/notation.md; verifier/internal/notation_run.h) ---

  // cosign's round-1 answers when they are the ones notation needs: the same repository
  // (no separate signatureRepository), the unfiltered referrers answer and the fallback tag.
  std::vector<internal::SharedLookup> SharedWithNotation() const {
    std::vector<internal::SharedLookup> shared;
    if (!scope_.Accepts(SignatureKind::kCosign) || sig_repo_.Name() != image_.pinned.Name()) {
      return shared;
    }
    for (const SubjectLookups& s : subjects_) {
      shared.push_back(internal::SharedLookup{s.subject, &s.referrers, &s.fallback});
    }
    return shared;
  }

  std::optional<Failure> JudgeNotation() {
    if (!notation_) {
      return Failure{Reason::kUntrustedCertificate,
                     StrCat("policy scope \"", scope_.scope,
                            "\" accepts notation signatures but has no notation trust")};
    }
    std::optional<internal::NotationFailure> f = notation_->Judge(verdict_);
    if (!f) {
      signer_detail_ = notation_->allow_detail();
      return std::nullopt;
    }
    return Failure{f->reason, std::move(f->detail)};
  }

  // --- cosign (issue 17, docs/sigstore.md "Discovery") ---

  // Round 1: for the image digest, and the index digest when the reference named an index
  // (cosign signs either), the referrers API, the fallback tag and the legacy .sig tag, in
  // the scope's signatureRepository when it names one.
  void StartCosignLookups(FetchGroup& group) {
    sig_repo_ = sigstore::SignatureRepo(image_.pinned, scope_);
    subjects_.clear();
    subjects_.reserve(2);  // tasks hold pointers into it
    subjects_.push_back(SubjectLookups{image_.fetched.digest,
                                       sigstore::Artifact{image_.fetched.bytes, image_.fetched.digest}});
    if (image_.index_digest) {
      subjects_.push_back(SubjectLookups{*image_.index_digest, sigstore::Artifact{std::nullopt, *image_.index_digest}});
    }
    for (SubjectLookups& s : subjects_) {
      SubjectLookups* sp = &s;
      group.Add([this, sp] {
        // Unfiltered (sigstore::kReferrersArtifactTypeFilter): a bundle referrer's artifactType
        // may be any bundle spelling; ParseReferrers keeps those.
        sp->referrers = source_.FetchReferrers(sig_repo_, sp->subject, sigstore::kReferrersArtifactTypeFilter,
                                               kMaxManifestBytes);
      });
      group.Add([this, sp] {
        sp->fallback = source_.FetchManifest(
            sigstore::AtTag(sig_repo_, sigstore::FallbackTag(sp->subject)), kMaxManifestBytes);
      });
      group.Add([this, sp] {
        sp->sig = source_.FetchManifest(
            sigstore::AtTag(sig_repo_, sigstore::LegacySigTag(sp->subject)), kMaxManifestBytes);
      });
    }
  }

  // A lookup that failed for another reason than "nothing here": remembered, since the
  // signature that would verify may be behind it.
  void NoteLookupError(const absl::Status& s, std::string_view what) {
    if (lookup_error_.empty()) lookup_error_ = StrCat(what, ": ", Sv(s.message()));
  }

  // One candidate slot, judged by a task; slots are made before any task starts.
  CosignJudged* NewSlot(std::string where) {
    judged_.push_back(CosignJudged{std::move(where), {}});
    return &judged_.back();
  }

  // Round 2: the referrer manifests the referrers API and fallback index list, and the
  // simple-signing layers of the .sig manifest (each judged in its task).
  void StartCosignFetches(FetchGroup& group) {
    for (SubjectLookups& s : subjects_) {
      const std::string subject = s.subject.str();
      std::set<std::string> seen;  // a referrer listed by both the API and the fallback tag
      auto add_referrers = [&](const absl::StatusOr<FetchedManifest>& answer, std::string what) {
        if (!answer.ok()) {
          if (!Absent(answer.status())) NoteLookupError(answer.status(), what);
          return;
        }
        absl::StatusOr<sigstore::ReferrerList> list =
            sigstore::ParseReferrers(answer->bytes, answer->content_type);
        if (!list.ok()) {
          CosignJudged* slot = NewSlot(what);
          slot->result = ParseFailure(list.status(), "listing");
          return;
        }
        left_out_ += list->left_out;
        for (const Descriptor& d : list->candidates) {
          if (!seen.insert(d.digest.str()).second) continue;
          std::string where = StrCat(what, ": ", d.digest.str());
          referrer_slots_.push_back(ReferrerSlot{&s, d, NewSlot(where)});
        }
      };
      add_referrers(s.referrers, StrCat("referrers of ", subject));
      add_referrers(s.fallback, StrCat("fallback tag ", sigstore::FallbackTag(s.subject)));
      if (!s.sig.ok()) {
        if (!Absent(s.sig.status())) NoteLookupError(s.sig.status(), sigstore::LegacySigTag(s.subject));
        continue;
      }
      std::string tag = sigstore::LegacySigTag(s.subject);
      absl::StatusOr<sigstore::SigLayerList> layers = sigstore::SigLayers(s.sig->bytes, s.sig->content_type);
      if (!layers.ok()) {
        NewSlot(tag)->result = ParseFailure(layers.status(), "manifest");
        continue;
      }
      left_out_ += layers->left_out;
      for (size_t i = 0; i < layers->layers.size(); ++i) {
        CosignJudged* slot = NewSlot(StrCat(tag, " layer ", i));
        group.Add([this, slot, &s, layer = layers->layers[i]] {
          slot->result = JudgeLegacyLayer(layer, s.artifact);
        });
      }
    }
    for (ReferrerSlot& r : referrer_slots_) {
      ReferrerSlot* rp = &r;
      group.Add([this, rp] {
        Reference at = sig_repo_;
        at.digest = rp->descriptor.digest;
        if (rp->descriptor.size > static_cast<int64_t>(sigstore::kMaxReferrerManifestBytes)) {
          rp->manifest = absl::ResourceExhaustedError(  // ranks as LIMIT_EXCEEDED, step 1
              StrCat("referrer manifest is ", rp->descriptor.size, " bytes, over ",
                     sigstore::kMaxReferrerManifestBytes));
          return;
        }
        rp->manifest = source_.FetchManifest(at, sigstore::kMaxReferrerManifestBytes);
      });
    }
  }

  // Round 3: each referrer manifest that is a bundle: its bundle layer, judged.
  void StartBundleFetches(FetchGroup& group) {
    for (ReferrerSlot& r : referrer_slots_) {
      CosignJudged* slot = r.slot;
      if (!r.manifest.ok()) {
        slot->result = FetchFailure(r.manifest.status(), "referrer manifest");
        continue;
      }
      absl::StatusOr<ServedManifest> served = ParseServedManifest(r.manifest->bytes, r.manifest->content_type);
      if (served.ok() && !served->image) {
        served = absl::InvalidArgumentError(StrCat("a ", served->media_type, ", not an image manifest"));
      }
      if (!served.ok()) {
        slot->result = ParseFailure(served.status(), "referrer manifest");
        continue;
      }
      absl::StatusOr<std::optional<Descriptor>> layer = sigstore::BundleLayer(*served->image);
      if (!layer.ok()) {
        slot->result = ParseFailure(layer.status(), "referrer manifest");
        continue;
      }
      if (!layer->has_value()) {  // another kind of artifact (an SBOM, ...)
        slot->skip = true;
        continue;
      }
      group.Add([this, slot, subject = r.subject, d = **layer] {
        absl::StatusOr<std::string> bytes = source_.FetchBlob(sig_repo_, d.digest, sigstore::kMaxBundleBytes);
        if (!bytes.ok()) {
          slot->result = FetchFailure(bytes.status(), "bundle");
          return;
        }
        absl::StatusOr<sigstore::Bundle> bundle = sigstore::ParseBundle(*bytes);
        if (!bundle.ok()) {
          slot->result = ParseFailure(bundle.status(), "bundle");
          return;
        }
        slot->result = sigstore::VerifyEntity(sigstore::FromBundle(*std::move(bundle)),
                                              subject->artifact, trust_);
      });
    }
  }

  sigstore::EntityResult JudgeLegacyLayer(const sigstore::LegacyLayer& layer,
                                          const sigstore::Artifact& artifact) {
    if (layer.layer.size > static_cast<int64_t>(sigstore::kMaxSimpleSigningBytes)) {
      return ParseFailure(absl::ResourceExhaustedError(StrCat(
                              "is ", layer.layer.size, " bytes, over ", sigstore::kMaxSimpleSigningBytes)),
                          "payload");
    }
    absl::StatusOr<std::string> payload =
        source_.FetchBlob(sig_repo_, layer.layer.digest, sigstore::kMaxSimpleSigningBytes);
    if (!payload.ok()) return FetchFailure(payload.status(), "payload");
    absl::StatusOr<sigstore::SignedEntity> entity =
        sigstore::FromLegacySig(*std::move(payload), layer.annotations);
    if (!entity.ok()) return ParseFailure(entity.status(), "annotations");
    return sigstore::VerifyEntity(*entity, artifact, trust_);
  }

  size_t JudgedCount() const {
    size_t n = 0;
    for (const CosignJudged& j : judged_) n += j.skip ? 0 : 1;
    return n;
  }

  // ALLOW on the first signature (in discovery order) that verified, else the deepest
  // failure (highest step; ties to the first).
  std::optional<Failure> JudgeCosign() {
    const CosignJudged* deepest = nullptr;
    size_t judged = 0;
    for (const CosignJudged& j : judged_) {
      if (j.skip) continue;
      ++judged;
      if (j.result.ok()) {
        const sigstore::SignerInfo* who = j.result.signer ? &*j.result.signer : nullptr;
        verdict_.signer_kind =
            who != nullptr && who->kind == sigstore::SignerInfo::Kind::kCosignKeyless
                ? "cosign-keyless" : "cosign-key";
        if (who != nullptr) {
          verdict_.key_id = who->key_id;
          verdict_.signer_issuer = who->issuer;
          verdict_.signer_subject = who->subject;
          verdict_.rekor_log_index = who->log_index;
          verdict_.rekor_log_id = who->log_id_hex;
        }
        signer_detail_ = who == nullptr ? StrCat("cosign signature ", j.where)
                         : who->kind == sigstore::SignerInfo::Kind::kCosignKeyless
                             ? StrCat("cosign signature ", j.where, " by ", who->subject, " (issuer ",
                                      who->issuer, ")")
                             : StrCat("cosign signature ", j.where, " by key ", who->key_id);
        return std::nullopt;
      }
      if (deepest == nullptr || j.result.step > deepest->result.step) deepest = &j;
    }
    std::string tail;
    if (left_out_ > 0) {
      tail = StrCat(" (", left_out_, " more not examined: at most ", sigstore::kMaxReferrers,
                    " referrers and ", sigstore::kMaxSigLayers, " .sig layers each)");
    }
    if (deepest == nullptr) {
      if (!lookup_error_.empty()) {
        return Failure{Reason::kRegistryError, StrCat("looking for cosign signatures: ", lookup_error_)};
      }
      return Failure{Reason::kNotSigned,
                     StrCat("no cosign signature for ", image_.fetched.digest.str(),
                            image_.index_digest ? StrCat(" or its index ", image_.index_digest->str()) : "",
                            " in ", sig_repo_.Name(), " (referrers, fallback tag, .sig)", tail)};
    }
    std::string detail = StrCat(deepest->where, ": ", deepest->result.detail);
    if (judged > 1) {
      detail += StrCat(" (", judged - 1, " other signature", judged == 2 ? "" : "s",
                       " failed earlier)");
    }
    if (!lookup_error_.empty()) detail += StrCat("; a lookup failed: ", lookup_error_);
    return Failure{deepest->result.reason, detail + tail};
  }

 public:
  const ResolvedImage& image() const { return image_; }
  std::optional<Verdict>& known() { return known_; }
  // What admitted the image, for the verdict's detail (cosign or notation; empty: a seal).
  const std::string& signer_detail() const { return signer_detail_; }
  void set_trust(sigstore::TrustPolicy t) { trust_ = std::move(t); }
  void set_notation(const notation::NotationTrust& trust, absl::Time now) {
    notation_.emplace(source_, trust, now);
  }

 private:
  struct ReferrerSlot {
    SubjectLookups* subject;
    Descriptor descriptor;
    CosignJudged* slot;  // judged in round 3
    absl::StatusOr<FetchedManifest> manifest = absl::UnknownError("not fetched");
  };

  ImageSource& source_;
  const ScopePolicy& scope_;
  const Platform& platform_;
  Verdict& verdict_;
  ResolvedImage image_;
  SealRead seal_manifest_, seal_signature_;
  absl::StatusOr<nlohmann::json> image_config_ = absl::UnknownError("not fetched");
  absl::StatusOr<nlohmann::json> base_config_ = absl::UnknownError("not fetched");
  std::string base_manifest_, envelope_text_;
  Envelope envelope_;
  ImageManifest base_;
  std::optional<Verdict> known_;
  // cosign
  sigstore::TrustPolicy trust_;
  Reference sig_repo_;
  std::vector<SubjectLookups> subjects_;
  std::deque<ReferrerSlot> referrer_slots_;  // deque: tasks hold pointers into both
  std::deque<CosignJudged> judged_;
  size_t left_out_ = 0;
  std::string lookup_error_;
  std::string signer_detail_;
  // notation (set when the scope accepts it and has its trust)
  std::optional<internal::NotationRun> notation_;
};

// The trust a scope gives cosign signatures (bundle_verifier.h), judged at `now`.
sigstore::TrustPolicy TrustFor(const ScopePolicy& scope, absl::Time now) {
  sigstore::TrustPolicy t;
  t.root = scope.trusted_root.get();
  for (const TrustedKey& k : scope.keys) t.keys.push_back(&k);
  t.identities = scope.identities;
  t.require_tlog = scope.require_tlog;
  t.predicate_types = {std::string(sigstore::dsse::kCosignSignPredicate)};
  t.now = now;
  return t;
}

}  // namespace

absl::StatusOr<ResolvedImage> ResolveImage(ImageSource& source, const Reference& ref,
                                           const Platform& platform) {
  absl::StatusOr<FetchedManifest> top = FetchChecked(source, ref);
  if (!top.ok()) return top.status();
  absl::StatusOr<ServedManifest> served = ParseServedManifest(top->bytes, top->content_type);
  if (!served.ok()) return served.status();
  ResolvedImage out;
  if (served->index) {
    absl::StatusOr<Descriptor> child = SelectPlatform(*served->index, platform);
    if (!child.ok()) return absl::InvalidArgumentError(child.status().message());
    out.index_digest = top->digest;
    out.index_media_type = served->media_type;
    out.index_size = static_cast<int64_t>(top->bytes.size());
    top = FetchChecked(source, ref.WithDigest(child->digest));
    if (!top.ok()) return top.status();
    if (static_cast<int64_t>(top->bytes.size()) != child->size) {
      return absl::InvalidArgumentError(StrCat(
          "index entry ", child->digest.str(), " has size ", child->size, " but the manifest has ",
          top->bytes.size(), " bytes"));
    }
    served = ParseServedManifest(top->bytes, top->content_type);
    if (!served.ok()) return served.status();
    if (served->media_type != child->media_type || !served->image) {
      return absl::InvalidArgumentError(StrCat("index entry for ", platform.ToString(), " is a ",
                                               served->media_type,
                                               ", not an image manifest of the index's type"));
    }
  }
  out.pinned = ref.WithDigest(top->digest);
  out.fetched = *std::move(top);
  out.manifest = *std::move(served->image);
  return out;
}

absl::StatusOr<std::string> ReadSealFile(ImageSource& source, const Reference& repo,
                                         const Descriptor& layer, std::string_view path,
                                         std::string* tar) {
  if (layer.size > static_cast<int64_t>(kMaxSealCompressedBytes)) {
    return absl::ResourceExhaustedError(StrCat(
        "seal ", layer.digest.str(), " is ", layer.size, " bytes, over ", kMaxSealCompressedBytes));
  }
  absl::StatusOr<std::string> gz = source.FetchBlob(repo, layer.digest, kMaxSealCompressedBytes);
  if (!gz.ok()) return gz.status();
  if (!layer.digest.Matches(*gz) || static_cast<int64_t>(gz->size()) != layer.size) {
    return absl::DataLossError(
        StrCat("seal blob ", layer.digest.str(), " does not match its descriptor"));
  }
  absl::StatusOr<std::string> raw = GzipDecompress(*gz, kMaxSealUncompressedBytes);
  if (!raw.ok()) {
    return absl::Status(raw.status().code(),
                        StrCat("seal ", layer.digest.str(), ": ", Sv(raw.status().message())));
  }
  absl::StatusOr<std::string> file = ReadSingleFileTar(*raw, path);
  if (!file.ok()) {
    return absl::InvalidArgumentError(
        StrCat("seal ", layer.digest.str(), ": ", Sv(file.status().message())));
  }
  *tar = *std::move(raw);
  return file;
}

Verdict Verifier::Verify(const Reference& ref, const KnownVerdict& known) const {
  auto start = std::chrono::steady_clock::now();
  const ScopePolicy& scope = policy_->Resolve(ref);
  Verdict v;
  v.reference = ref.ToString();
  v.policy_version = policy_->version();
  v.scope = scope.scope;
  v.mode = scope.mode;

  std::optional<Failure> failure;
  if (scope.requirement == Requirement::kReject) {
    failure = Failure{Reason::kRejectedByPolicy,
                      StrCat("policy scope \"", scope.scope, "\" rejects ", ref.Name())};
  } else if (scope.requirement == Requirement::kInsecureAcceptAnything) {
    v.decision = Decision::kAllow;
    v.reason = Reason::kInsecureAcceptAnything;
    v.detail = StrCat("policy scope \"", scope.scope, "\" accepts anything");
  } else if (scope.Accepts(SignatureKind::kNotation) && scope.notation &&
             scope.notation->level == notation::Level::kSkip) {
    // notation's level skip: no signature is looked up or verified (docs/notation.md).
    v.decision = Decision::kAllow;
    v.reason = Reason::kInsecureAcceptAnything;
    v.detail = "notation verification level skip";
  } else {
    Run run(*source_, scope, platform_, v);
    const absl::Time now = absl::Now();
    if (scope.Accepts(SignatureKind::kCosign)) run.set_trust(TrustFor(scope, now));
    if (scope.Accepts(SignatureKind::kNotation) && scope.notation) run.set_notation(*scope.notation, now);
    failure = run.Execute(ref, known);
    if (run.known()) {
      Verdict cached = *std::move(run.known());
      cached.reference = v.reference;
      cached.duration = absl::FromChrono(std::chrono::steady_clock::now() - start);
      return cached;
    }
    if (!failure) {
      v.decision = Decision::kAllow;
      v.reason = Reason::kVerified;
      v.manifest_digest = run.image().fetched.digest;
      v.detail = run.signer_detail().empty() ? StrCat("signed by ", v.key_id) : run.signer_detail();
    } else if (!run.image().fetched.bytes.empty()) {
      v.manifest_digest = run.image().fetched.digest;
    }
  }
  if (failure) {
    v.decision = Decision::kDeny;
    v.reason = failure->reason;
    v.detail = std::move(failure->detail);
    bool transient = v.reason == Reason::kRegistryError || v.reason == Reason::kLimitExceeded;
    if (transient && scope.allow_on_registry_error) {
      v.decision = Decision::kAllow;
      v.detail = StrCat("allowed by onRegistryError: allow despite: ", v.detail);
    }
  }
  v.duration = absl::FromChrono(std::chrono::steady_clock::now() - start);
  return v;
}

}  // namespace layerseal
