#include "node-agent/containerd_blob_reader.h"

#include <utility>
#include <vector>

#include "base/str_cat.h"
#include "verifier/strict_json.h"

namespace layerseal::agent {
namespace {

constexpr std::string_view kNotAvailablePrefix = "not available: ";

// containerd's NotFound / Unimplemented as "not available", the message kept.
absl::Status AsNotAvailable(absl::Status s) {
  if (s.code() != absl::StatusCode::kNotFound && s.code() != absl::StatusCode::kUnimplemented) {
    return s;
  }
  if (Sv(s.message()).starts_with(kNotAvailablePrefix)) return s;
  return absl::Status(s.code(), StrCat(kNotAvailablePrefix, Sv(s.message())));
}

// The media type of a stored manifest or index: its own mediaType, else "manifests" means
// an OCI index and anything else an OCI manifest (the OCI spec makes mediaType optional).
absl::StatusOr<std::string> StoredManifestMediaType(std::string_view bytes, const Digest& digest) {
  absl::StatusOr<nlohmann::json> doc = ParseStrictJson(bytes, kMaxManifestBytes);
  if (!doc.ok() || !doc->is_object()) {
    return absl::InvalidArgumentError(StrCat("manifest ", digest.str(), " in containerd: not a JSON object",
                                             doc.ok() ? "" : StrCat(": ", Sv(doc.status().message()))));
  }
  auto mt = doc->find("mediaType");
  if (mt != doc->end() && mt->is_string()) return mt->get<std::string>();
  return std::string(doc->contains("manifests") ? kOciIndex : kOciManifest);
}

}  // namespace

bool IsBlobNotAvailable(const absl::Status& status) {
  return (status.code() == absl::StatusCode::kNotFound ||
          status.code() == absl::StatusCode::kUnimplemented) &&
         Sv(status.message()).starts_with(kNotAvailablePrefix);
}

ContainerdBlobReader::ContainerdBlobReader(ContainerdContent* content, std::string purpose,
                                           bool sync_release)
    : content_(content), purpose_(std::move(purpose)), sync_release_(sync_release) {}

ContainerdBlobReader::~ContainerdBlobReader() = default;  // the lease deletes itself

absl::Status ContainerdBlobReader::Release() {
  leased_.clear();
  if (!lease_) return absl::OkStatus();
  std::unique_ptr<ContentLease> lease = std::move(lease_);
  return lease->Release();
}

absl::Status ContainerdBlobReader::Retain(const std::vector<Digest>& blobs) {
  std::vector<Digest> fresh;
  for (const Digest& d : blobs) {
    if (!leased_.contains(d.str())) fresh.push_back(d);
  }
  if (fresh.empty()) return absl::OkStatus();
  if (!lease_) {
    absl::StatusOr<std::unique_ptr<ContentLease>> lease = content_->Lease(fresh, purpose_);
    if (!lease.ok()) return AsNotAvailable(lease.status());
    lease_ = *std::move(lease);
    lease_->set_sync_release(sync_release_);
  } else if (absl::Status s = lease_->Add(fresh); !s.ok()) {
    return AsNotAvailable(s);
  }
  for (const Digest& d : fresh) leased_.insert(d.str());
  return absl::OkStatus();
}

absl::StatusOr<std::string> ContainerdBlobReader::ReadSmall(const Digest& digest, int64_t size,
                                                            size_t max_bytes, std::string_view what) {
  if (size > static_cast<int64_t>(max_bytes)) {
    return absl::InvalidArgumentError(StrCat(what, " ", digest.str(), ": ", size,
                                             " bytes, more than the ", max_bytes, " allowed"));
  }
  if (absl::Status s = Retain({digest}); !s.ok()) return s;
  std::string bytes;
  absl::Status s = content_->Read(digest, size, [&](std::string_view chunk) -> absl::Status {
    if (chunk.size() > max_bytes - bytes.size()) {
      return absl::InvalidArgumentError(StrCat(what, " ", digest.str(), " in containerd: more than the ",
                                               max_bytes, " bytes allowed"));
    }
    bytes.append(chunk);
    return absl::OkStatus();
  });
  bytes_read_ += bytes.size();
  if (!s.ok()) return AsNotAvailable(s);
  if (!digest.Matches(bytes)) {
    return absl::DataLossError(StrCat(what, " ", digest.str(), " in containerd's content store hashes to ",
                                      digest.algorithm() == "sha256" ? Digest::Sha256Of(bytes).str()
                                                                     : "something else"));
  }
  return bytes;
}

absl::StatusOr<StoredImage> ContainerdBlobReader::ReadImage(const Digest& digest,
                                                            const Platform& platform,
                                                            std::string_view media_type) {
  StoredImage out;
  absl::StatusOr<std::string> top = ReadSmall(digest, -1, kMaxManifestBytes, "manifest");
  if (!top.ok()) return top.status();
  out.bytes_read += top->size();
  std::string type(media_type);
  if (type.empty()) {
    absl::StatusOr<std::string> stored = StoredManifestMediaType(*top, digest);
    if (!stored.ok()) return stored.status();
    type = *std::move(stored);
  }
  absl::StatusOr<ServedManifest> parsed = ParseServedManifest(*top, type);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(StrCat("manifest ", digest.str(), " in containerd: ",
                                             Sv(parsed.status().message())));
  }
  out.digest = digest;
  if (parsed->index) {
    absl::StatusOr<Descriptor> child = SelectPlatform(*parsed->index, platform);
    if (!child.ok()) {
      return absl::Status(child.status().code(),
                          StrCat("index ", digest.str(), " in containerd: ", Sv(child.status().message())));
    }
    if (IsIndexMediaType(child->media_type)) {
      return absl::InvalidArgumentError(StrCat("index ", digest.str(), ": the entry for ",
                                               platform.ToString(), " is another index"));
    }
    absl::StatusOr<std::string> bytes =
        ReadSmall(child->digest, child->size, kMaxManifestBytes, "manifest");
    if (!bytes.ok()) return bytes.status();
    out.bytes_read += bytes->size();
    absl::StatusOr<ImageManifest> manifest = ParseImageManifest(*bytes, child->media_type);
    if (!manifest.ok()) {
      return absl::InvalidArgumentError(StrCat("manifest ", child->digest.str(), " in containerd: ",
                                               Sv(manifest.status().message())));
    }
    out.index = digest;
    out.digest = child->digest;
    out.manifest = *std::move(manifest);
  } else {
    out.manifest = *std::move(parsed->image);
  }
  // The config and every layer join the lease before anything else is read.
  std::vector<Digest> blobs = {out.manifest.config.digest};
  for (const Descriptor& layer : out.manifest.layers) blobs.push_back(layer.digest);
  if (absl::Status s = Retain(blobs); !s.ok()) return s;
  absl::StatusOr<std::string> config = ReadSmall(
      out.manifest.config.digest, out.manifest.config.size, kMaxImageConfigBytes, "config");
  if (!config.ok()) return config.status();
  out.bytes_read += config->size();
  out.config = *std::move(config);
  return out;
}

absl::Status ContainerdBlobReader::Read(
    const Descriptor& blob, const std::function<absl::Status(std::string_view chunk)>& sink) {
  if (absl::Status s = Retain({blob.digest}); !s.ok()) return s;
  absl::Status s = content_->Read(blob.digest, blob.size, [&](std::string_view chunk) {
    bytes_read_ += chunk.size();
    return sink(chunk);
  });
  return AsNotAvailable(std::move(s));
}

}  // namespace layerseal::agent
