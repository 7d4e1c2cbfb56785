#include "node-agent/pull_check.h"

#include <utility>

#include "absl/synchronization/notification.h"
#include "base/str_cat.h"
#include "node-agent/containerd_blob_reader.h"
#include "verifier/layers/packages.h"
#include "verifier/verifier.h"

namespace layerseal::agent {
namespace {

using plugin::IntegrityResult;
using plugin::JudgeRequest;

// The digest of the image judged: the platform manifest the verdict names, else the
// reference's own (a repository@digest from the runtime).
std::optional<Digest> PullCheckImageDigest(const JudgeRequest& request, const Verdict& admitted) {
  if (admitted.manifest_digest) return admitted.manifest_digest;
  return request.reference.digest;
}

Verdict PullCheckDeny(const Verdict& admitted, Reason reason, std::string detail) {
  Verdict v = admitted;
  v.decision = Decision::kDeny;
  v.reason = reason;
  v.detail = std::move(detail);
  return v;
}

// `admitted` under a remembered integrity result (which was made from another signature
// verdict for the same image): an ALLOW leaves it as it is, a denial replaces its outcome.
Verdict PullCheckMerge(const Verdict& admitted, const Verdict& remembered) {
  if (remembered.allowed()) return admitted;
  return PullCheckDeny(admitted, remembered.reason, remembered.detail);
}

// Facts of a content-addressed image under fixed rules: judging again cannot change them.
bool IsIntegrityFact(const Verdict& v) {
  return v.allowed() || v.reason == Reason::kUntrustedBase || v.reason == Reason::kProtectedPath;
}

// The BlobReader when the runtime cannot serve content (CRI-O, no content client).
class PullCheckNoContent final : public BlobReader {
 public:
  explicit PullCheckNoContent(std::string why) : why_(std::move(why)) {}
  absl::Status Read(const Descriptor& blob,
                    const std::function<absl::Status(std::string_view)>&) override {
    return absl::NotFoundError(StrCat("not available: blob ", blob.digest.str(), ": ", why_));
  }

 private:
  std::string why_;
};

}  // namespace

struct PullCheck::Flight {
  absl::Notification done;
};

PullCheck::PullCheck(PullCheckOptions options)
    : options_(std::move(options)),
      checks_(options_.metrics->AddCounter(
          "layerseal_integrity_checks_total",
          "Image-integrity judgements that read an image's config or content (issue 18), by "
          "stage (pull: before and after PullImage; stored: ImageStatus, CreateContainer) "
          "and verdict reason.",
          {"stage", "reason"})) {}

void PullCheck::Count(std::string_view stage, const Verdict& v) {
  checks_->WithLabels({std::string(stage), std::string(ReasonName(v.reason))}).Increment();
}

PullCheck::Rules PullCheck::RulesFor(const JudgeRequest& request, const Verdict& admitted,
                                     bool may_block) {
  std::shared_ptr<const Policy> policy;
  if (!request.any_policy) {
    policy = options_.policies->For(request.pod.ns);
  } else {
    // The policy whose verdict admitted the image: the node policy, else a namespace one.
    std::shared_ptr<const Policy> node = options_.policies->node();
    if (node && node->version() == admitted.policy_version) {
      policy = node;
    } else {
      for (std::shared_ptr<const Policy>& p : options_.policies->NamespacePolicies()) {
        if (p->version() == admitted.policy_version) {
          policy = std::move(p);
          break;
        }
      }
    }
  }
  Rules out;
  if (!policy) {
    out.missing_policy = StrCat("the policy ", admitted.policy_version,
                                " that admitted the image is no longer in force");
    return out;
  }
  const IntegrityRules& written = policy->Resolve(request.reference).integrity;
  out.rules = options_.bases->Apply(written, may_block);
  if (out.rules && !out.rules->empty()) out.fingerprint = out.rules->Fingerprint();
  return out;
}

std::optional<Verdict> PullCheck::JudgeBaseFromRegistry(const JudgeRequest& request,
                                                        const Verdict& admitted,
                                                        const Digest& image,
                                                        const IntegrityRules& rules) {
  Reference pinned = request.reference.WithDigest(image);
  std::unique_ptr<ImageSource> source = options_.source_for(pinned, request.credentials);
  absl::StatusOr<ResolvedImage> resolved = ResolveImage(*source, pinned, options_.platform);
  if (!resolved.ok()) {
    options_.logger->Warn("image config not read from the registry; its base is judged after the pull",
                          {{"image", pinned.ToString()},
                           {"error", std::string(Sv(resolved.status().message()))}});
    return std::nullopt;
  }
  absl::StatusOr<std::string> config =
      source->FetchBlob(pinned, resolved->manifest.config.digest, kMaxImageConfigBytes);
  if (!config.ok()) {
    options_.logger->Warn("image config not read from the registry; its base is judged after the pull",
                          {{"image", pinned.ToString()},
                           {"error", std::string(Sv(config.status().message()))}});
    return std::nullopt;
  }
  IntegrityRules base_only;
  base_only.trusted_bases = rules.trusted_bases;
  PullCheckNoContent none("the base rule reads no layer");
  ImageInspection inspection =
      InspectImage(image, resolved->manifest, *config, base_only, &none);
  return ApplyIntegrity(admitted, base_only, inspection);
}

IntegrityResult PullCheck::BeforePull(const JudgeRequest& request, const Verdict& admitted) {
  IntegrityResult out{.verdict = admitted};
  Rules r = RulesFor(request, admitted, /*may_block=*/true);
  if (!r.missing_policy.empty()) {  // the judge just used it: a reload came in between
    out.verdict = PullCheckDeny(admitted, Reason::kPolicyUnavailable, r.missing_policy);
    return out;
  }
  const IntegrityRules& rules = *r.rules;
  std::optional<Digest> image = PullCheckImageDigest(request, admitted);
  bool corrupt = image && options_.state->Corrupt(*image).has_value();
  if (rules.empty() && !corrupt && !options_.scrub_on_pull) return out;
  if (!image) {
    // A scope that accepts anything but has rules: pull exactly the digest judged.
    std::unique_ptr<ImageSource> source = options_.source_for(request.reference, request.credentials);
    absl::StatusOr<ResolvedImage> resolved = ResolveImage(*source, request.reference, options_.platform);
    if (!resolved.ok()) {
      out.verdict = PullCheckDeny(admitted, Reason::kRegistryError,
                           StrCat("the image-integrity rules need the image's digest: ",
                                  Sv(resolved.status().message())));
      return out;
    }
    image = resolved->fetched.digest;
    out.verdict.manifest_digest = image;
  }
  if (!rules.empty() && !corrupt) {
    if (std::optional<Verdict> known = options_.state->Lookup(*image, r.fingerprint);
        known && IsIntegrityFact(*known)) {
      out.verdict = PullCheckMerge(out.verdict, *known);
      return out;
    }
    if (!rules.trusted_bases.empty()) {
      std::optional<Verdict> base = JudgeBaseFromRegistry(request, out.verdict, *image, rules);
      if (base) {
        out.inspected = true;
        Count("pull", *base);
        if (!base->allowed() || !rules.needs_layers()) {
          // The base decides under the whole rules (it is judged first), or is all of them.
          options_.state->Remember(*image, r.fingerprint, *base);
          out.verdict = *base;
          if (!options_.scrub_on_pull || !base->allowed()) return out;
        }
      }
    }
  }
  out.review = true;
  return out;
}

IntegrityResult PullCheck::AfterPull(const JudgeRequest& request, const Verdict& admitted) {
  Rules r = RulesFor(request, admitted, /*may_block=*/true);
  if (!r.missing_policy.empty()) {
    return {.verdict = PullCheckDeny(admitted, Reason::kPolicyUnavailable, r.missing_policy)};
  }
  std::optional<Digest> image = PullCheckImageDigest(request, admitted);
  if (!image) {
    return {.verdict = PullCheckDeny(admitted, Reason::kContentUnavailable,
                              "the pulled image's digest is not known")};
  }
  // A corruption mark: the bytes are judged again (a fresh pull may have replaced them).
  bool scrub = options_.scrub_on_pull;
  if (options_.state->Corrupt(*image)) {
    options_.state->Forget(*image);
    scrub = true;
  }
  return Inspect(request, admitted, *image, *r.rules, r.fingerprint, scrub, /*pulled=*/true);
}

std::optional<IntegrityResult> PullCheck::TryKnown(const JudgeRequest& request,
                                                   const Verdict& admitted) {
  std::optional<Digest> image = PullCheckImageDigest(request, admitted);
  if (!image) return std::nullopt;
  if (std::optional<IntegrityState::Corruption> c = options_.state->Corrupt(*image)) {
    return IntegrityResult{.verdict = PullCheckDeny(admitted, Reason::kIntegrityMismatch, c->detail)};
  }
  Rules r = RulesFor(request, admitted, /*may_block=*/false);
  if (!r.missing_policy.empty() || !r.rules) return std::nullopt;
  if (r.rules->empty()) return IntegrityResult{.verdict = admitted};
  std::optional<Verdict> known = options_.state->Lookup(*image, r.fingerprint);
  if (!known) return std::nullopt;
  return IntegrityResult{.verdict = PullCheckMerge(admitted, *known)};
}

IntegrityResult PullCheck::Check(const JudgeRequest& request, const Verdict& admitted) {
  if (std::optional<IntegrityResult> known = TryKnown(request, admitted)) return *std::move(known);
  Rules r = RulesFor(request, admitted, /*may_block=*/true);
  if (!r.missing_policy.empty()) {
    return {.verdict = PullCheckDeny(admitted, Reason::kPolicyUnavailable, r.missing_policy)};
  }
  std::optional<Digest> image = PullCheckImageDigest(request, admitted);
  if (!image) {
    return {.verdict = PullCheckDeny(admitted, Reason::kContentUnavailable,
                              "the image's digest is not known")};
  }
  if (r.rules->empty()) return {.verdict = admitted};
  return Inspect(request, admitted, *image, *r.rules, r.fingerprint, /*scrub=*/false,
                 /*pulled=*/false);
}

IntegrityResult PullCheck::Inspect(const JudgeRequest& request, const Verdict& admitted,
                                   const Digest& image, const IntegrityRules& rules,
                                   const std::string& fingerprint, bool scrub, bool pulled) {
  if (rules.empty() && !scrub) return {.verdict = admitted};
  // One inspection per image and rules: later askers wait for the first and take its
  // remembered result (a stored image's check takes any; a pull only a content fact).
  std::string key = StrCat(image.str(), "|", fingerprint, scrub ? "|scrub" : "");
  std::shared_ptr<Flight> flight;
  for (;;) {
    bool leader = false;
    {
      absl::MutexLock lock(&mu_);
      std::shared_ptr<Flight>& slot = flights_[key];
      if (!slot) {
        slot = std::make_shared<Flight>();
        leader = true;
      }
      flight = slot;
    }
    if (leader) break;
    flight->done.WaitForNotification();
    if (!rules.empty()) {
      std::optional<Verdict> known = options_.state->Lookup(image, fingerprint);
      if (known && (!pulled || IsIntegrityFact(*known))) return {.verdict = PullCheckMerge(admitted, *known)};
    }
  }
  {
    // At most max_inspections read layers at once; the others wait here, on their worker.
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &PullCheck::SlotFree));
    ++running_;
  }
  IntegrityResult out = InspectNow(request, admitted, image, rules, fingerprint, scrub);
  {
    absl::MutexLock lock(&mu_);
    --running_;
    flights_.erase(key);
  }
  flight->done.Notify();
  Count(pulled ? "pull" : "stored", out.verdict);
  return out;
}

IntegrityResult PullCheck::InspectNow(const JudgeRequest& request, const Verdict& admitted,
                                      const Digest& image, const IntegrityRules& rules,
                                      const std::string& fingerprint, bool scrub) {
  IntegrityResult out{.verdict = admitted, .inspected = true};
  std::optional<ContainerdBlobReader> containerd;
  std::unique_ptr<BlobReader> fallback;
  BlobReader* reader = nullptr;
  ImageManifest manifest;
  std::string config;
  absl::Status read = absl::UnavailableError("no content store");
  if (options_.content != nullptr) {
    containerd.emplace(options_.content, "pull-check");
    absl::StatusOr<StoredImage> stored = containerd->ReadImage(image, options_.platform);
    if (stored.ok()) {
      manifest = std::move(stored->manifest);
      config = std::move(stored->config);
      reader = &*containerd;
    }
    read = stored.status();
  }
  if (reader == nullptr) {
    if (options_.content != nullptr && !IsBlobNotAvailable(read)) {
      // containerd has the manifest or config, but not with the bytes it was pulled as.
      out.verdict = PullCheckDeny(admitted, Reason::kIntegrityMismatch,
                           StrCat("the runtime's copy of ", image.str(), ": ", Sv(read.message())));
      return out;
    }
    // No content from the runtime: the config from the registry still judges the base.
    Reference pinned = request.reference.WithDigest(image);
    std::unique_ptr<ImageSource> source = options_.source_for(pinned, request.credentials);
    absl::StatusOr<ResolvedImage> resolved = ResolveImage(*source, pinned, options_.platform);
    absl::StatusOr<std::string> cfg = resolved.ok()
        ? source->FetchBlob(pinned, resolved->manifest.config.digest, kMaxImageConfigBytes)
        : absl::StatusOr<std::string>(resolved.status());
    if (!cfg.ok()) {
      out.verdict = PullCheckDeny(admitted, Reason::kContentUnavailable,
                           StrCat("not available: the runtime's content (", Sv(read.message()),
                                  ") nor the registry's (", Sv(cfg.status().message()), ")"));
      return out;
    }
    manifest = resolved->manifest;
    config = *std::move(cfg);
    fallback = std::make_unique<PullCheckNoContent>(StrCat("the runtime has no content: ",
                                                        Sv(read.message())));
    reader = fallback.get();
  }
  InspectOptions io;
  io.scrub = scrub;
  ImageInspection inspection = InspectImage(image, manifest, config, rules, reader, io);
  out.verdict = ApplyIntegrity(admitted, rules, inspection);
  if (scrub && !inspection.content.ok() && out.verdict.allowed()) {
    // A scrub without rules: ApplyIntegrity had nothing to judge; the bytes still decide.
    // Bytes that do not match are a mismatch; bytes that could not be read (a blob the
    // runtime no longer has, a runtime error) are no pass either, but not a mismatch.
    const bool mismatch = inspection.content.code() == absl::StatusCode::kDataLoss;
    out.verdict = PullCheckDeny(admitted,
                                mismatch ? Reason::kIntegrityMismatch : Reason::kContentUnavailable,
                                std::string(Sv(inspection.content.message())));
  }
  if (!rules.empty()) options_.state->Remember(image, fingerprint, out.verdict);
  if (rules.packages && inspection.packages) {
    absl::StatusOr<std::string> attachment = SerializePackagesAttachment(*inspection.packages);
    if (attachment.ok()) {
      out.packages_attachment = *std::move(attachment);
    } else {
      options_.logger->Warn("package inventory not attached",
                            {{"image", image.str()},
                             {"error", std::string(Sv(attachment.status().message()))}});
    }
  }
  return out;
}

}  // namespace layerseal::agent
