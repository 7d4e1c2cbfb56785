// The image-integrity rules' BlobReader (verifier/image_integrity.h) over containerd's content
// store (containerd_content.h, namespace k8s.io): what the agent inspects after a pull, in
// sweeps and in the integrity scrub is the bytes the runtime holds, never a second download.
//
// Every read happens under one lease of the reader's own (created at the first read, named
// "layerseal-<purpose>-<random>", with containerd.io/gc.expire so it ends by itself if the
// agent cannot delete it). A blob is named in the lease before it is read, so containerd's
// garbage collector cannot take it away mid-read even if the image is removed meanwhile.
// The lease is deleted when the reader is destroyed (or by Release).
//
// ReadImage reads an image the agent knows by digest: the manifest (an index is resolved to
// the node's platform, then its child manifest is read), then the config; each is checked
// against its digest and size (DataLoss naming the blob, expected and actual digest) and
// bounded (kMaxManifestBytes, kMaxImageConfigBytes). The manifest's layers join the lease
// before ReadImage returns.
//
// Errors: a blob containerd does not have (garbage-collected, or never kept under
// `discard_unpacked_layers`) is NotFound "not available: ..." naming the blob; a runtime
// without the content service (CRI-O) is Unimplemented "not available: ...". Callers treat
// both as "not available", never as a pass (IsBlobNotAvailable).
//
// Thread-safety: not thread-safe (one inspection, one thread). Ownership: borrows `content`,
// which must outlive the reader; owns its lease.
#ifndef LAYERSEAL_NODE_AGENT_CONTAINERD_BLOB_READER_H_
#define LAYERSEAL_NODE_AGENT_CONTAINERD_BLOB_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "node-agent/containerd_content.h"
#include "verifier/digest.h"
#include "verifier/image_integrity.h"
#include "verifier/manifest.h"

namespace layerseal::agent {

// An image as containerd's content store holds it.
struct StoredImage {
  Digest digest;                // the image manifest's digest
  std::optional<Digest> index;  // the index the caller named, when it named one
  ImageManifest manifest;
  std::string config;           // the config's bytes (checked against manifest.config)
  uint64_t bytes_read = 0;      // manifest(s) and config
};

// True for the errors ReadImage and Read give when containerd lacks the blob or the content
// service: "not available", not a mismatch.
bool IsBlobNotAvailable(const absl::Status& status);

class ContainerdBlobReader final : public BlobReader {
 public:
  // `purpose` goes into the lease's id and label ("scrub", "pull"): letters, digits, '-'.
  // `sync_release`: ContentLease::set_sync_release (false: containerd collects what the
  // lease held later, not before the release returns).
  ContainerdBlobReader(ContainerdContent* content, std::string purpose, bool sync_release = true);
  ~ContainerdBlobReader() override;
  ContainerdBlobReader(const ContainerdBlobReader&) = delete;
  ContainerdBlobReader& operator=(const ContainerdBlobReader&) = delete;

  // The image `digest` names: a manifest, or an index resolved to `platform`. `media_type`:
  // the digest's media type when the caller knows it (containerd's image record), else ""
  // (the document's own mediaType decides; without one, "manifests" means an OCI index).
  absl::StatusOr<StoredImage> ReadImage(const Digest& digest, const Platform& platform,
                                        std::string_view media_type = "");

  // BlobReader: streams `blob` (named in the lease first) to `sink`, checking its size
  // against blob.size; the digest is the caller's to check.
  absl::Status Read(const Descriptor& blob,
                    const std::function<absl::Status(std::string_view chunk)>& sink) override;

  // Deletes the lease now (a later read makes a new one). Returns containerd's answer.
  absl::Status Release();
  // The lease's id ("" before the first read or after Release).
  std::string lease_id() const { return lease_ ? lease_->id() : std::string(); }
  // Bytes read from containerd so far (all blobs).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Names `blobs` in the lease (creating it), skipping those named already.
  absl::Status Retain(const std::vector<Digest>& blobs);
  // A whole blob of at most `max_bytes`, checked against `digest` (and `size` when >= 0).
  absl::StatusOr<std::string> ReadSmall(const Digest& digest, int64_t size, size_t max_bytes,
                                        std::string_view what);

  ContainerdContent* content_;
  std::string purpose_;
  bool sync_release_;
  std::unique_ptr<ContentLease> lease_;
  std::set<std::string> leased_;
  uint64_t bytes_read_ = 0;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_CONTAINERD_BLOB_READER_H_
