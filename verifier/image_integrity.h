// The image-integrity rules of a policy scope (issue 18, docs/continuous-validation.md
// "Trusted bases and protected paths", docs/policy.md "Image-integrity rules"): a trusted
// base the image must be built on, paths above that base no layer may add, replace or
// delete, and the inventory of packages the layers above the base brought. They are judged
// on the image's content, which the caller reads through a BlobReader: the agent from
// containerd's content store (what it just pulled, never downloading twice), the CLI from a
// registry.
//
// Order of judgement (ApplyIntegrity): a signature verdict that denies stays as it is; then
// the base (UNTRUSTED_BASE), which needs only the config's diff_ids; then the bytes
// (INTEGRITY_MISMATCH: a blob or a decompressed layer that does not hash to its descriptor
// or diff_id); then the protected paths (PROTECTED_PATH). A rule that needs content the
// reader does not have (CRI-O, containerd's discard_unpacked_layers) denies with
// CONTENT_UNAVAILABLE: it fails closed, and never turns a signature denial into anything
// else. The inventory (`packageInventory`) is a report: it never denies by itself.
//
// Thread-safety: IntegrityRules is immutable after construction and shared (ScopePolicy
// holds it); InspectImage is reentrant. Ownership: InspectImage borrows the reader for the
// call.
#ifndef LAYERSEAL_VERIFIER_IMAGE_INTEGRITY_H_
#define LAYERSEAL_VERIFIER_IMAGE_INTEGRITY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/digest.h"
#include "verifier/image_source.h"
#include "verifier/layers/layer_stream.h"
#include "verifier/layers/packages.h"
#include "verifier/layers/path_rules.h"
#include "verifier/manifest.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal {

// Most trusted bases one scope may name.
inline constexpr size_t kMaxTrustedBases = 256;
// Largest image config read to find its diff_ids.
inline constexpr size_t kMaxImageConfigBytes = 4u << 20;
// Most layers an image may have for the integrity rules (containerd's own limit is 127
// for overlayfs; manifests with more are refused by the verifier already).
inline constexpr size_t kMaxIntegrityLayers = 1000;
// Most package-database bytes one inspection keeps over all layers for the inventory (each
// layer that rewrites dpkg's status keeps a whole copy until the stack is built); beyond it
// the inventory is not built (ImageInspection::packages_status), the rules still are.
inline constexpr uint64_t kMaxInventoryCapturedBytes = uint64_t{256} << 20;

// A trusted base as the policy names it (docs/policy.md "trustedBases").
struct TrustedBase {
  // The admin's label (`- {name: debian-12, ref: ...}`), or without one the text as written:
  // "sha256:<chain id>" or "debian:12@sha256:<manifest digest>". Unique within a scope.
  std::string name;
  // Set when written as a ChainID, or once a reference was resolved (ResolveTrustedBase).
  std::optional<Digest> chain_id;
  // Set when written as a reference; it always has a digest (a tag alone is refused at load:
  // the base must not move under the policy).
  std::optional<Reference> reference;
  // Why a reference could not be resolved ("" when resolved or not a reference). An
  // unresolved base matches no image (fail closed).
  std::string unresolved;
};

// What happens to a running container whose image is no longer admitted (issue 18,
// continuous validation; scope field `onRevoked`).
enum class OnRevoked { kReport, kStop };
std::string_view OnRevokedName(OnRevoked o);  // "report" / "stop"

// A scope's image-integrity rules (ScopePolicy::integrity).
struct IntegrityRules {
  std::vector<TrustedBase> trusted_bases;            // empty: no base rule
  std::vector<std::string> protected_path_patterns;  // as written, in file order
  std::shared_ptr<const layers::ProtectedPaths> protected_paths;  // null: none
  bool packages = false;  // scope field `packageInventory: true`: report packages above the base

  // No rule at all: the signature verdict is the verdict.
  bool empty() const;
  // Whether judging needs the layers' bytes (protected paths or packages), not only the
  // config.
  bool needs_layers() const;
  // "sha256:<hex>" over the resolved bases and the patterns: what a cache of integrity
  // results must be keyed by.
  std::string Fingerprint() const;
};

// The diff_ids of an image config (`rootfs.type` must be "layers"); InvalidArgument naming
// the member that is wrong. At most kMaxIntegrityLayers.
absl::StatusOr<std::vector<Digest>> ParseConfigDiffIds(std::string_view config_bytes);

// The ChainID of the image `ref` names (ref must have a digest; an index is resolved to
// `platform`'s manifest), read through `source`: the manifest, then the config. Errors name
// the reference and the step.
absl::StatusOr<Digest> ResolveTrustedBase(const Reference& ref, const Platform& platform,
                                          ImageSource* source);

// The seam through which an inspection reads blobs: containerd's content store (the agent),
// a registry (the CLI), memory (tests).
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Streams blob `blob` to `sink` in chunks of any size; the sink's error stops the read and
  // is returned. NotFound: the reader does not have the blob ("not available"). The reader
  // need not check the digest: the inspection hashes what it is given.
  virtual absl::Status Read(const Descriptor& blob,
                            const std::function<absl::Status(std::string_view chunk)>& sink) = 0;
};

struct InspectOptions {
  // Hash every layer blob against its descriptor and its decompressed bytes against the
  // config's diff_id, even when no rule needs the layers (the integrity scrub). A scrub goes
  // on past a blob the reader does not have (NotFound), so that a later corrupt one is still
  // found: `content` is then the first DataLoss, else that NotFound; what needed the missing
  // layer's entries stays incomplete (paths_checked false when it was above the base).
  bool scrub = false;
  layers::LayerStreamLimits limits;
};

// What an inspection found. Facts, not a verdict: ApplyIntegrity makes the verdict.
struct ImageInspection {
  Digest image;                    // the manifest digest
  std::vector<Digest> diff_ids;    // from the config
  std::vector<Digest> chain_ids;   // chain_ids[i] = ChainID(diff_ids[0..i])
  // The trusted base the layers start with: its name and how many layers it spans. When
  // several match (debian, and a company base built on debian), the longest: everything up
  // to its top layer is trusted content. nullopt when the rules name no base, or none
  // matched.
  std::optional<std::string> base_name;
  size_t base_layers = 0;
  bool base_checked = false;       // the rules named bases and the check ran
  // The first protected-path violation above the base, in layer then archive order.
  std::optional<layers::PathViolation> violation;
  // The protected-path judgement is complete: every layer above the base was read and
  // judged, or a violation was found (reading stops after the violating layer, whose bytes
  // are verified first, unless options.scrub).
  bool paths_checked = false;
  // Packages above the base (rules.packages), when built. Not built when the image is on no
  // trusted base or violates a protected path (it is denied anyway), or when
  // packages_status says why not (a database that does not parse, kMaxInventoryCapturedBytes,
  // content not available).
  std::optional<layers::PackageInventory> packages;
  absl::Status packages_status;
  // The bytes: OK; DataLoss naming the blob and expected/actual digest on a mismatch;
  // NotFound "not available: ..." when the reader lacks a blob a rule needs; other errors
  // (a hostile tar, a limit) name the layer.
  absl::Status content;
  uint64_t bytes_read = 0;         // compressed bytes read through the reader
};

// Inspects the image `image` (its parsed manifest and config bytes, which the caller has
// already checked against their digests) under `rules`, reading layers through `reader`
// only when a rule (or options.scrub) needs them. Never fails: what it could not establish
// is in `content`.
//
// What it reads: nothing but the config for a base rule alone; the layers above the base
// for protected paths; every layer for the inventory (the base's databases tell what the
// upper layers added) or a scrub. An image on no trusted base is not read further (it is
// denied on its config) unless options.scrub. A config that does not parse, or whose
// diff_ids are not as many as the manifest's layers, is `content` InvalidArgument
// ("image config: ..."). A layer that fails to decompress or parse is read once more,
// hashing only, to tell corrupt bytes (DataLoss) from a layer malformed as built (the
// stream's error). `reader` may be null when no layer is needed.
ImageInspection InspectImage(const Digest& image, const ImageManifest& manifest,
                             std::string_view config_bytes, const IntegrityRules& rules,
                             BlobReader* reader, const InspectOptions& options = {});

// The verdict under the rules (order at the top of this file). `signature` is the verdict
// of the signature checks for the same image; it is returned unchanged when it denies, when
// the rules are empty, or when every rule holds. One exception to "rules empty": bytes
// proven wrong (`content` DataLoss, e.g. from a scrub) deny with INTEGRITY_MISMATCH under
// any rules. Otherwise `content` errors deny only when a rule needed what could not be read:
// DataLoss, InvalidArgument (a malformed config or layer) -> INTEGRITY_MISMATCH;
// ResourceExhausted -> LIMIT_EXCEEDED; NotFound and every reader failure ->
// CONTENT_UNAVAILABLE. Details name the trusted bases (UNTRUSTED_BASE), the layer's index
// and digest and the path (PROTECTED_PATH, INTEGRITY_MISMATCH).
Verdict ApplyIntegrity(const Verdict& signature, const IntegrityRules& rules,
                       const ImageInspection& inspection);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_IMAGE_INTEGRITY_H_
