#include "verifier/verifier.h"

#include <chrono>

#include "base/str_cat.h"
#include "verifier/envelope.h"
#include "verifier/internal/config_binding.h"
#include "verifier/seal_layer.h"

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

// One verification: the steps of spec section 4, each returning a Failure or nothing.
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
    if (auto f = FindSeals()) return f;
    if (auto f = ReadSeals()) return f;
    if (auto f = ParseAndMatchEnvelope()) return f;
    if (auto f = CheckSignature()) return f;
    if (auto f = CheckIntegrity()) return f;
    return CheckConfig();
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

  // Step 3.
  std::optional<Failure> ReadSeals() {
    const std::vector<Descriptor>& layers = image_.manifest.layers;
    size_t n = layers.size();
    absl::StatusOr<std::string> mb =
        ReadSealFile(source_, image_.pinned, layers[n - 2], kSealManifestPath, &manifest_tar_);
    if (!mb.ok()) return FromStatus(mb.status(), Reason::kMalformedSeal);
    absl::StatusOr<std::string> env =
        ReadSealFile(source_, image_.pinned, layers[n - 1], kSealSignaturePath, &signature_tar_);
    if (!env.ok()) return FromStatus(env.status(), Reason::kMalformedSeal);
    base_manifest_ = *std::move(mb);
    envelope_text_ = *std::move(env);
    return std::nullopt;
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

  absl::StatusOr<nlohmann::json> FetchConfig(const Descriptor& d) {
    if (d.size > static_cast<int64_t>(kMaxConfigBytes)) {
      return absl::ResourceExhaustedError(
          StrCat("config ", d.digest.str(), " is ", d.size, " bytes, over ", kMaxConfigBytes));
    }
    absl::StatusOr<std::string> bytes = source_.FetchBlob(image_.pinned, d.digest, kMaxConfigBytes);
    if (!bytes.ok()) return bytes.status();
    if (!d.digest.Matches(*bytes) || static_cast<int64_t>(bytes->size()) != d.size) {
      return absl::DataLossError(StrCat("config ", d.digest.str(), " does not match its descriptor"));
    }
    return ParseStrictJson(*bytes, kMaxConfigBytes);
  }

  // Step 7.
  std::optional<Failure> CheckConfig() {
    if (image_.manifest.config.media_type != base_.config.media_type) {
      return Failure{Reason::kConfigMismatch, "the config media type differs from the base's"};
    }
    absl::StatusOr<nlohmann::json> cs = FetchConfig(image_.manifest.config);
    if (!cs.ok()) return FromStatus(cs.status(), Reason::kConfigMismatch);
    absl::StatusOr<nlohmann::json> cb = FetchConfig(base_.config);
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
        *std::move(cb), Digest::Sha256Of(manifest_tar_), Digest::Sha256Of(signature_tar_));
    if (!expected.ok()) return Failure{Reason::kConfigMismatch, std::string(Sv(expected.status().message()))};
    if (*expected != *cs) {
      return Failure{Reason::kConfigMismatch,
                     "the image config is not the signed base config plus the two seal layers"};
    }
    return std::nullopt;
  }

 public:
  const ResolvedImage& image() const { return image_; }
  std::optional<Verdict>& known() { return known_; }

 private:
  ImageSource& source_;
  const ScopePolicy& scope_;
  const Platform& platform_;
  Verdict& verdict_;
  ResolvedImage image_;
  std::string manifest_tar_, signature_tar_, base_manifest_, envelope_text_;
  Envelope envelope_;
  ImageManifest base_;
  std::optional<Verdict> known_;
};

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
  } else {
    Run run(*source_, scope, platform_, v);
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
      v.detail = StrCat("signed by ", v.key_id);
      v.signer_kind = "seal";  // which signature admitted it (issue 17): the seal's key
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
