// The image-integrity rules (issue 18, verifier/image_integrity.h, docs/policy.md
// "Image-integrity rules", docs/continuous-validation.md "Trusted bases and protected paths").
#include "verifier/image_integrity.h"

#include <algorithm>
#include <map>
#include <utility>

#include "base/str_cat.h"
#include "verifier/layers/chain_id.h"
#include "verifier/strict_json.h"
#include "verifier/verifier.h"

namespace layerseal {

std::string_view OnRevokedName(OnRevoked o) {
  switch (o) {
    case OnRevoked::kReport:
      return "report";
    case OnRevoked::kStop:
      return "stop";
  }
  return "unknown";
}

bool IntegrityRules::empty() const {
  return trusted_bases.empty() && protected_path_patterns.empty() && !packages;
}

bool IntegrityRules::needs_layers() const {
  return !protected_path_patterns.empty() || packages;
}

std::string IntegrityRules::Fingerprint() const {
  // Each part length-prefixed, so that no two rule sets can give the same text.
  std::string text = "layerseal.integrity/v1";
  auto add = [&text](std::string_view part) { text += StrCat("|", part.size(), ":", part); };
  add("bases");
  for (const TrustedBase& b : trusted_bases) {
    add(b.name);
    add(b.chain_id ? b.chain_id->str() : std::string("-"));
    add(b.reference ? b.reference->ToString() : std::string("-"));
    // Not the message: a resolution failing twice with other words is the same rule.
  }
  add("paths");
  for (const std::string& p : protected_path_patterns) add(p);
  add(packages ? "packages" : "-");
  return Digest::Sha256Of(text).str();
}

// ---------------------------------------------------------------------------------------
// The config's diff_ids.

absl::StatusOr<std::vector<Digest>> ParseConfigDiffIds(std::string_view config_bytes) {
  absl::StatusOr<nlohmann::json> doc = ParseStrictJson(config_bytes, kMaxImageConfigBytes);
  if (!doc.ok()) {
    return absl::Status(doc.status().code(),
                        StrCat("image config: ", Sv(doc.status().message())));
  }
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("image config: ", why));
  };
  if (!doc->is_object()) return bad("not a JSON object");
  auto rootfs = doc->find("rootfs");
  if (rootfs == doc->end()) return bad("no rootfs");
  if (!rootfs->is_object()) return bad("rootfs is not an object");
  auto type = rootfs->find("type");
  if (type == rootfs->end()) return bad("no rootfs.type");
  if (!type->is_string()) return bad("rootfs.type is not a string");
  if (type->get_ref<const std::string&>() != "layers") {
    std::string t = type->get_ref<const std::string&>();
    return bad(StrCat("rootfs.type is \"", std::string_view(t).substr(0, 64),
                      "\", not \"layers\""));
  }
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end()) return bad("no rootfs.diff_ids");
  if (!ids->is_array()) return bad("rootfs.diff_ids is not an array");
  if (ids->size() > kMaxIntegrityLayers) {
    return absl::ResourceExhaustedError(StrCat("image config: rootfs.diff_ids has ", ids->size(),
                                               " layers, more than the limit of ",
                                               kMaxIntegrityLayers));
  }
  std::vector<Digest> out;
  out.reserve(ids->size());
  for (size_t i = 0; i < ids->size(); ++i) {
    const nlohmann::json& id = (*ids)[i];
    if (!id.is_string()) return bad(StrCat("rootfs.diff_ids[", i, "] is not a string"));
    absl::StatusOr<Digest> d = Digest::Parse(id.get_ref<const std::string&>());
    if (!d.ok()) return bad(StrCat("rootfs.diff_ids[", i, "]: ", Sv(d.status().message())));
    if (d->algorithm() != "sha256") {
      return bad(StrCat("rootfs.diff_ids[", i, "] is not a sha256 digest"));
    }
    out.push_back(*std::move(d));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Trusted bases written as references.

absl::StatusOr<Digest> ResolveTrustedBase(const Reference& ref, const Platform& platform,
                                          ImageSource* source) {
  std::string name = ref.ToString();
  auto fail = [&name](std::string_view step, const absl::Status& s) {
    return absl::Status(s.code(), StrCat("trusted base ", name, ": ", step, ": ", Sv(s.message())));
  };
  if (!ref.digest.has_value()) {
    return absl::InvalidArgumentError(
        StrCat("trusted base ", name, ": a reference without a digest can move; pin it"));
  }
  if (source == nullptr) return absl::FailedPreconditionError(StrCat("trusted base ", name, ": no image source"));
  absl::StatusOr<ResolvedImage> image = ResolveImage(*source, ref, platform);
  if (!image.ok()) return fail("manifest", image.status());
  absl::StatusOr<std::string> config =
      source->FetchBlob(image->pinned, image->manifest.config.digest, kMaxImageConfigBytes);
  if (!config.ok()) return fail("config", config.status());
  if (!image->manifest.config.digest.Matches(*config)) {
    return fail("config", absl::DataLossError(StrCat("blob does not hash to ",
                                                     image->manifest.config.digest.str())));
  }
  absl::StatusOr<std::vector<Digest>> diff_ids = ParseConfigDiffIds(*config);
  if (!diff_ids.ok()) return fail("config", diff_ids.status());
  if (diff_ids->size() != image->manifest.layers.size()) {
    return fail("config", absl::InvalidArgumentError(StrCat(
                              "rootfs.diff_ids has ", diff_ids->size(), " entries, the manifest ",
                              image->manifest.layers.size(), " layers")));
  }
  if (diff_ids->empty()) {
    return fail("config", absl::InvalidArgumentError("the image has no layers to be a base of"));
  }
  absl::StatusOr<Digest> chain = layers::ChainId(*diff_ids);
  if (!chain.ok()) return fail("chain id", chain.status());
  return chain;
}

// ---------------------------------------------------------------------------------------
// The inspection.

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// Where an image says which distribution it is (os-release(5)); /etc/os-release is usually a
// symlink to ../usr/lib/os-release.
constexpr std::string_view kEtcOsRelease = "/etc/os-release";
constexpr std::string_view kUsrOsRelease = "/usr/lib/os-release";
// Largest os-release read; real ones are under 1 KiB.
constexpr size_t kMaxOsReleaseBytes = 64 << 10;

std::string_view DirOf(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return path.substr(0, slash);
}
std::string_view BaseOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}
std::string JoinChild(std::string_view dir, std::string_view name) {
  return dir == "/" ? StrCat("/", name) : StrCat(dir, "/", name);
}
// `dir` is `path` or an ancestor of it.
bool IsAtOrAbove(std::string_view dir, std::string_view path) {
  if (dir == "/" || dir == path) return true;
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

std::string LayerName(size_t index, const Digest& digest) {
  return StrCat("layer ", index, " (", digest.str(), ")");
}

// The os-release file in the image's view, layer by layer.
struct OsReleaseView {
  // Per path: the content, or nullopt when absent; for /etc/os-release a symlink target.
  std::optional<std::string> etc, usr, etc_link;
};

// One tar visitor for every layer: the protected-path judge (above the base), the package
// databases' changes and the os-release file. Content problems of the package databases
// do not stop the walk: the inventory is a report, not a rule (packages_error).
class IntegrityVisitor final : public layers::TarVisitor {
 public:
  IntegrityVisitor(layers::ProtectedPathJudge* judge, bool packages, size_t capture_limit)
      : judge_(judge), packages_(packages), capture_limit_(capture_limit) {}

  void BeginLayer(size_t index, const Digest& digest, bool judge_layer, bool packages_layer) {
    index_ = index;
    judging_ = judge_ != nullptr && judge_layer;
    collecting_ = packages_ && packages_layer;
    if (judging_) judge_->BeginLayer(index, digest);
    if (collecting_) {
      stack_.push_back(layers::LayerPackageDbs{digest.str(), {}});
      os_deletes_.clear();
      os_writes_.clear();
    }
  }
  // After a layer's stream finished: its os-release changes apply (deletions first).
  void EndLayer() {
    if (!collecting_) return;
    for (const std::string& d : os_deletes_) {
      if (IsAtOrAbove(d, kEtcOsRelease)) os_.etc.reset(), os_.etc_link.reset();
      if (IsAtOrAbove(d, kUsrOsRelease)) os_.usr.reset();
    }
    for (auto& [path, write] : os_writes_) {
      if (path == kEtcOsRelease) {
        os_.etc = write.first ? std::nullopt : std::optional<std::string>(write.second);
        os_.etc_link = write.first ? std::optional<std::string>(write.second) : std::nullopt;
      } else {
        os_.usr = write.second;
      }
    }
  }

  absl::StatusOr<Action> OnEntry(const layers::TarEntry& entry) override {
    if (judging_) {
      absl::StatusOr<Action> a = judge_->OnEntry(entry);
      if (!a.ok()) return a.status();
    }
    if (!collecting_) return Action::Skip();
    std::string_view path = entry.path;
    std::string_view base = BaseOf(path);
    if (base.starts_with(kWhiteoutPrefix)) {
      std::string target;
      if (base == kOpaqueMarker) {
        target = std::string(DirOf(path));
      } else if (base.starts_with(".wh..wh.")) {
        return Action::Skip();  // aufs metadata, ignored as containerd ignores it
      } else {
        target = JoinChild(DirOf(path), base.substr(kWhiteoutPrefix.size()));
      }
      Delete(target);
      return Action::Skip();
    }
    bool regular = entry.type == layers::TarEntryType::kFile && !entry.sparse;
    if (layers::PackageDbAt(path).has_value()) {
      if (regular) return Action::Capture(capture_limit_);
      Delete(std::string(path));  // a link or directory where the database was: it is gone
      return Action::Skip();
    }
    if (entry.type != layers::TarEntryType::kDirectory && layers::DeletionAffectsPackageDbs(path)) {
      Delete(std::string(path));  // a file or link over a database's directory
    }
    if (path == kEtcOsRelease || path == kUsrOsRelease) {
      if (regular) return Action::Capture(kMaxOsReleaseBytes);
      if (entry.type == layers::TarEntryType::kSymlink && path == kEtcOsRelease) {
        os_writes_[std::string(path)] = {true, entry.linkname};
      } else if (entry.type != layers::TarEntryType::kDirectory) {
        os_deletes_.push_back(std::string(path));
      }
    }
    return Action::Skip();
  }

  absl::Status OnContent(const layers::TarEntry& entry, std::string_view content) override {
    if (entry.path == kEtcOsRelease || entry.path == kUsrOsRelease) {
      os_writes_[entry.path] = {false, std::string(content)};
      return absl::OkStatus();
    }
    if (!packages_error_.ok()) return absl::OkStatus();
    if (content.size() < entry.size) {
      packages_error_ = absl::ResourceExhaustedError(
          StrCat("layer ", index_, ": package database ", entry.path, " is ", entry.size,
                 " bytes, more than the limit of ", capture_limit_));
      return absl::OkStatus();
    }
    captured_bytes_ += content.size();
    if (captured_bytes_ > kMaxInventoryCapturedBytes) {
      packages_error_ = absl::ResourceExhaustedError(
          StrCat("the image's package databases hold more than ", kMaxInventoryCapturedBytes,
                 " bytes over all layers"));
      return absl::OkStatus();
    }
    stack_.back().changes.push_back(layers::PackageDbChange{
        layers::PackageDbChange::Op::kWrite, entry.path, std::string(content)});
    return absl::OkStatus();
  }

  std::vector<layers::LayerPackageDbs>& stack() { return stack_; }
  const absl::Status& packages_error() const { return packages_error_; }
  // The distribution from the final view's os-release; nullopt when absent or unreadable
  // (the inventory's purls then carry no distro).
  std::optional<layers::Distro> Distro() const {
    std::optional<std::string> bytes = os_.etc;
    if (!bytes.has_value() && os_.etc_link.has_value()) {
      std::string_view link = *os_.etc_link;
      if (link == "../usr/lib/os-release" || link == kUsrOsRelease) bytes = os_.usr;
    }
    if (!bytes.has_value()) bytes = os_.usr;  // os-release(5): the fallback location
    if (!bytes.has_value()) return std::nullopt;
    absl::StatusOr<layers::Distro> d = layers::ParseOsRelease(*bytes);
    if (!d.ok()) return std::nullopt;
    return *d;
  }

 private:
  void Delete(std::string target) {
    if (IsAtOrAbove(target, kEtcOsRelease) || IsAtOrAbove(target, kUsrOsRelease)) {
      os_deletes_.push_back(target);
    }
    if (layers::DeletionAffectsPackageDbs(target)) {
      stack_.back().changes.push_back(
          layers::PackageDbChange{layers::PackageDbChange::Op::kDelete, std::move(target), {}});
    }
  }

  layers::ProtectedPathJudge* judge_;
  bool packages_;
  size_t capture_limit_;
  size_t index_ = 0;
  bool judging_ = false;
  bool collecting_ = false;
  std::vector<layers::LayerPackageDbs> stack_;
  uint64_t captured_bytes_ = 0;
  absl::Status packages_error_;
  OsReleaseView os_;
  std::vector<std::string> os_deletes_;
  std::map<std::string, std::pair<bool, std::string>> os_writes_;  // path -> {symlink, bytes}
};

// Reads one blob through `reader` hashing only, to tell whether a layer that failed to
// decompress or parse is corrupt (its bytes do not hash to the descriptor) or malformed as
// built. DataLoss naming expected and actual when corrupt; OK when the bytes are right.
absl::Status CheckBlobBytes(BlobReader* reader, const Descriptor& blob, uint64_t* bytes_read) {
  Sha256Stream hash;
  uint64_t want = static_cast<uint64_t>(std::max<int64_t>(blob.size, 0));
  bool too_long = false;
  absl::Status read = reader->Read(blob, [&](std::string_view chunk) -> absl::Status {
    *bytes_read += chunk.size();
    if (hash.size() + chunk.size() > want) {
      too_long = true;
      return absl::CancelledError("longer than its descriptor");
    }
    hash.Update(chunk);
    return absl::OkStatus();
  });
  if (too_long) {
    return absl::DataLossError(StrCat("blob is longer than its descriptor's ", want, " bytes"));
  }
  if (!read.ok()) return read;
  uint64_t size = hash.size();
  Digest got = hash.Finish();
  if (size != want) {
    return absl::DataLossError(StrCat("blob has ", size, " bytes, its descriptor says ", want));
  }
  if (!(got == blob.digest)) {
    return absl::DataLossError(StrCat("blob hashes to ", got.str(), ", its descriptor says ",
                                      blob.digest.str()));
  }
  return absl::OkStatus();
}

// One layer through a LayerStream: the blob digest and size, the decompressed bytes
// against `diff_id`, the entries to `visitor` (null: hash only). Errors name the layer:
// DataLoss for bytes that do not match, NotFound "not available" for a blob the reader
// lacks, the stream's own errors for a layer malformed as built.
absl::Status ReadLayer(BlobReader* reader, size_t index, const Descriptor& blob,
                       const Digest& diff_id, layers::TarVisitor* visitor,
                       const layers::LayerStreamLimits& limits, uint64_t* bytes_read) {
  std::string name = LayerName(index, blob.digest);
  auto named = [&name](const absl::Status& s) {
    return absl::Status(s.code(), StrCat(name, ": ", Sv(s.message())));
  };
  if (blob.size < 0) return named(absl::InvalidArgumentError("negative size"));
  layers::LayerBlob lb{blob.media_type, blob.digest, static_cast<uint64_t>(blob.size)};
  // The diff_id is compared here rather than by the stream, so that a mismatch is DataLoss.
  absl::StatusOr<std::unique_ptr<layers::LayerStream>> stream =
      layers::LayerStream::Open(lb, std::nullopt, visitor, limits);
  if (!stream.ok()) return named(stream.status());
  absl::Status feed_error;
  absl::Status read = reader->Read(blob, [&](std::string_view chunk) -> absl::Status {
    *bytes_read += chunk.size();
    absl::Status s = (*stream)->Feed(chunk);
    if (!s.ok()) feed_error = s;
    return s;
  });
  absl::Status failure = feed_error;
  if (failure.ok() && !read.ok()) {
    // The reader's own error.
    if (read.code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(StrCat("not available: ", name, ": ", Sv(read.message())));
    }
    return named(read);
  }
  absl::StatusOr<layers::LayerDigests> digests;
  if (failure.ok()) {
    digests = (*stream)->Finish();
    failure = digests.status();
  }
  if (!failure.ok()) {
    // Corrupt bytes or a layer malformed as built? Only the blob's hash can tell.
    absl::Status bytes = CheckBlobBytes(reader, blob, bytes_read);
    if (bytes.code() == absl::StatusCode::kDataLoss) return named(bytes);
    return named(failure);
  }
  if (!(digests->diff_id == diff_id)) {
    return named(absl::DataLossError(StrCat("decompresses to ", digests->diff_id.str(),
                                            ", the config's diff_id is ", diff_id.str())));
  }
  return absl::OkStatus();
}

}  // namespace

ImageInspection InspectImage(const Digest& image, const ImageManifest& manifest,
                             std::string_view config_bytes, const IntegrityRules& rules,
                             BlobReader* reader, const InspectOptions& options) {
  ImageInspection out;
  out.image = image;
  out.packages_status = absl::OkStatus();
  absl::StatusOr<std::vector<Digest>> diff_ids = ParseConfigDiffIds(config_bytes);
  if (!diff_ids.ok()) {
    out.content = diff_ids.status();
    return out;
  }
  if (diff_ids->size() != manifest.layers.size()) {
    out.content = absl::InvalidArgumentError(
        StrCat("image config: rootfs.diff_ids has ", diff_ids->size(), " entries, the manifest ",
               manifest.layers.size(), " layers"));
    return out;
  }
  out.diff_ids = *std::move(diff_ids);
  if (!out.diff_ids.empty()) {
    absl::StatusOr<std::vector<Digest>> chain_ids = layers::ChainIds(out.diff_ids);
    if (!chain_ids.ok()) {
      out.content = absl::InvalidArgumentError(StrCat("image config: ", Sv(chain_ids.status().message())));
      return out;
    }
    out.chain_ids = *std::move(chain_ids);
  }

  // The base: the longest trusted prefix (file order decides between two bases with one
  // ChainID, e.g. a ChainID and a reference resolving to it).
  bool base_ok = true;
  if (!rules.trusted_bases.empty()) {
    out.base_checked = true;
    base_ok = false;
    for (const TrustedBase& b : rules.trusted_bases) {
      if (!b.chain_id.has_value()) continue;  // unresolved: matches nothing
      for (size_t k = 0; k < out.chain_ids.size(); ++k) {
        if (out.chain_ids[k] == *b.chain_id && (!base_ok || k + 1 > out.base_layers)) {
          base_ok = true;
          out.base_name = b.name;
          out.base_layers = k + 1;
        }
      }
    }
  }

  // What must be read. An image on no trusted base is denied on its config alone: its
  // layers are read only for a scrub.
  bool judge_paths = base_ok && rules.protected_paths != nullptr;
  bool packages = base_ok && rules.packages;
  size_t n = manifest.layers.size();
  size_t first = options.scrub || packages ? 0 : (judge_paths ? out.base_layers : n);
  if (first >= n) {
    if (judge_paths) out.paths_checked = true;  // nothing above the base
    if (packages) {
      absl::StatusOr<layers::PackageInventory> inv =
          layers::BuildPackageInventory(image.str(), {}, 0, std::nullopt);
      if (inv.ok()) out.packages = *std::move(inv);
      out.packages_status = inv.status();
    }
    out.content = absl::OkStatus();
    return out;
  }
  if (reader == nullptr) {
    out.content = absl::NotFoundError("not available: no content reader for the image's layers");
    if (packages) out.packages_status = out.content;
    return out;
  }

  std::optional<layers::ProtectedPathJudge> judge;
  if (judge_paths) judge.emplace(rules.protected_paths.get(), out.base_layers);
  IntegrityVisitor visitor(judge ? &*judge : nullptr, packages,
                           options.limits.tar.max_captured_file_bytes);
  absl::Status content;
  absl::Status missing;  // a scrub's first blob the reader does not have
  for (size_t i = first; i < n; ++i) {
    bool judge_layer = judge_paths && i >= out.base_layers;
    bool packages_layer = packages;
    layers::TarVisitor* v = judge_layer || packages_layer ? &visitor : nullptr;
    visitor.BeginLayer(i, manifest.layers[i].digest, judge_layer, packages_layer);
    content = ReadLayer(reader, i, manifest.layers[i], out.diff_ids[i], v, options.limits,
                        &out.bytes_read);
    if (!content.ok() && options.scrub && content.code() == absl::StatusCode::kNotFound) {
      // A scrub goes on past a blob the runtime no longer has: the others can still be
      // proven wrong. What needed this layer's entries is left incomplete.
      if (missing.ok()) missing = content;
      content = absl::OkStatus();
      if (packages) {
        packages = false;
        out.packages_status = missing;
      }
      if (i >= out.base_layers) judge_paths = false;
      continue;
    }
    if (!content.ok()) break;
    visitor.EndLayer();
    if (judge && judge->violation().has_value() && !out.violation.has_value()) {
      // The verdict is settled by this layer (its bytes verified): nothing more is needed
      // but the rest of a scrub.
      out.violation = judge->violation();
      out.paths_checked = true;
      judge_paths = false;
      if (packages) {
        packages = false;
        out.packages_status = absl::CancelledError(
            StrCat("not built: ", out.violation->Detail()));
      }
      if (!options.scrub) break;
    }
  }
  // Every layer the judge needed was read (a break leaves content not OK).
  if (content.ok() && judge_paths) out.paths_checked = true;
  if (content.ok() && !missing.ok()) content = missing;
  out.content = content;
  if (!content.ok()) {
    if (packages) out.packages_status = content;
    return out;
  }
  if (packages) {
    if (!visitor.packages_error().ok()) {
      out.packages_status = visitor.packages_error();
    } else {
      absl::StatusOr<layers::PackageInventory> inv = layers::BuildPackageInventory(
          image.str(), visitor.stack(), out.base_layers, visitor.Distro());
      out.packages_status = inv.status();
      if (inv.ok()) out.packages = *std::move(inv);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The verdict.

namespace {

// Most bases an UNTRUSTED_BASE detail names.
constexpr size_t kMaxBasesInDetail = 8;

Verdict Deny(const Verdict& signature, Reason reason, std::string detail) {
  Verdict v = signature;
  v.decision = Decision::kDeny;
  v.reason = reason;
  v.detail = std::move(detail);
  return v;
}

// The reason for content an inspection could not establish (image_integrity.h).
Reason ContentReason(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return Reason::kIntegrityMismatch;
    case absl::StatusCode::kResourceExhausted:
      return Reason::kLimitExceeded;
    default:
      return Reason::kContentUnavailable;
  }
}

std::string BaseList(const IntegrityRules& rules) {
  std::string out;
  size_t shown = 0;
  for (const TrustedBase& b : rules.trusted_bases) {
    if (shown == kMaxBasesInDetail) {
      out += StrCat(", and ", rules.trusted_bases.size() - shown, " more");
      break;
    }
    std::string what = b.name;
    if (b.chain_id.has_value() && b.chain_id->str() != b.name) {
      what += StrCat(" = ", b.chain_id->str());
    } else if (!b.chain_id.has_value()) {
      what += StrCat(" (unresolved: ", b.unresolved.empty() ? "no ChainID" : b.unresolved, ")");
    }
    out += StrCat(shown == 0 ? "" : ", ", what);
    ++shown;
  }
  return out;
}

}  // namespace

Verdict ApplyIntegrity(const Verdict& signature, const IntegrityRules& rules,
                       const ImageInspection& inspection) {
  if (!signature.allowed()) return signature;
  const absl::Status& content = inspection.content;
  // Bytes proven wrong deny whatever the rules (a scrub's finding).
  bool data_loss = content.code() == absl::StatusCode::kDataLoss;
  if (rules.empty()) {
    if (data_loss) return Deny(signature, Reason::kIntegrityMismatch, std::string(Sv(content.message())));
    return signature;
  }
  // The base, on the config alone.
  if (!rules.trusted_bases.empty()) {
    if (!inspection.base_checked) {
      absl::Status why = content.ok() ? absl::UnknownError("the image was not inspected") : content;
      return Deny(signature, ContentReason(why),
                  StrCat("trusted bases could not be checked: ", Sv(why.message())));
    }
    if (!inspection.base_name.has_value()) {
      std::string top = inspection.chain_ids.empty() ? std::string("no layers")
                                                     : inspection.chain_ids.back().str();
      return Deny(signature, Reason::kUntrustedBase,
                  StrCat("the image's ", inspection.diff_ids.size(), " layers (ChainID ", top,
                         ") start with none of the trusted bases: ", BaseList(rules)));
    }
  }
  // The bytes.
  if (data_loss) return Deny(signature, Reason::kIntegrityMismatch, std::string(Sv(content.message())));
  if (rules.protected_paths != nullptr) {
    if (inspection.violation.has_value()) {
      return Deny(signature, Reason::kProtectedPath, inspection.violation->Detail());
    }
    if (!inspection.paths_checked) {
      // What the judgement needed could not be read (a scrub may have read past a missing
      // blob the rule did not need: then paths_checked holds and the rule holds).
      if (!content.ok()) {
        return Deny(signature, ContentReason(content),
                    StrCat("protected paths could not be checked: ", Sv(content.message())));
      }
      return Deny(signature, Reason::kContentUnavailable,
                  "protected paths could not be checked: the layers above the base were not read");
    }
  }
  // packageInventory reports; it never denies (ImageInspection::packages_status).
  return signature;
}

}  // namespace layerseal
