// One image layer blob, fed in chunks as containerd's Content/Read streams it (issue 18,
// docs/design/continuous-validation-plan.md section 2): the blob's SHA-256 and size, its
// decompression by media type, the diff_id (SHA-256 of the decompressed tar), and the tar
// entries for a TarVisitor (tar_reader.h), all in one pass.
//
// Media types: `application/vnd.oci.image.layer.v1.tar`, `...tar+gzip`, `...tar+zstd` (and
// their `nondistributable` forms), `application/vnd.docker.image.rootfs.diff.tar`,
// `...diff.tar.gzip`, `...diff.tar.zstd`, `...foreign.diff.tar.gzip`. Anything else is an
// error naming the media type. gzip streams may hold several members (as `gzip` and Go's
// reader accept); zstd streams several frames (zstd and skippable frames only: libzstd's
// pre-1.0 legacy formats, which containerd's decoder refuses, are errors). Bytes after the
// last gzip member that are not another member, and a stream that ends inside a member or
// frame, are errors.
//
// Memory: fixed buffers (a 64 KiB output buffer, zlib's 32 KiB window, or zstd's window of
// at most 2^kMaxZstdWindowLog bytes), plus what the tar reader keeps (tar_reader.h); never
// the layer's size. A layer that decompresses to more than max_decompressed_bytes is an
// error (ResourceExhausted): a decompression bomb costs at most that much CPU.
//
// Thread-safety: not thread-safe (one stream, one caller). Ownership: borrows the visitor,
// which must outlive the stream; owns its decompressor.
#ifndef LAYERSEAL_VERIFIER_LAYERS_LAYER_STREAM_H_
#define LAYERSEAL_VERIFIER_LAYERS_LAYER_STREAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/digest.h"
#include "verifier/layers/tar_reader.h"

namespace layerseal::layers {

// Most bytes one layer may decompress to (the largest real layers, CUDA and model images,
// hold tens of GiB).
inline constexpr uint64_t kMaxDecompressedBytes = uint64_t{64} << 30;
// Largest zstd window accepted: 2^27 = 128 MiB, zstd's own default limit for decoders.
inline constexpr int kMaxZstdWindowLog = 27;

enum class LayerCompression { kNone, kGzip, kZstd };

// The compression a layer media type names; InvalidArgument naming any other media type.
absl::StatusOr<LayerCompression> CompressionOf(std::string_view media_type);

// What the stream needs of the layer's descriptor (verifier/manifest.h's Descriptor has it).
struct LayerBlob {
  std::string media_type;
  Digest digest;  // sha256
  uint64_t size = 0;
};

struct LayerStreamLimits {
  uint64_t max_decompressed_bytes = kMaxDecompressedBytes;
  TarLimits tar;
};

struct LayerDigests {
  Digest blob;             // SHA-256 of the bytes fed
  uint64_t blob_size = 0;  // bytes fed
  Digest diff_id;          // SHA-256 of the decompressed tar
  uint64_t diff_size = 0;  // decompressed bytes
  uint64_t entries = 0;    // tar entries reported (0 without a visitor)
};

class LayerStream {
 public:
  // `visitor` may be null: then the tar is not parsed, only hashed (an integrity scrub).
  // `diff_id`, when given, is checked by Finish. InvalidArgument for an unsupported media
  // type or a blob digest that is not sha256.
  static absl::StatusOr<std::unique_ptr<LayerStream>> Open(const LayerBlob& blob,
                                                           std::optional<Digest> diff_id,
                                                           TarVisitor* visitor,
                                                           LayerStreamLimits limits = {});
  ~LayerStream();
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  // The blob's next bytes, any chunk size. Errors: more bytes than the descriptor's size,
  // corrupt compressed data, the decompressed limit, the tar reader's and the visitor's
  // errors. Messages name the layer (its digest). After an error every call returns it.
  absl::Status Feed(std::string_view compressed_chunk);
  // The end of the blob. Checks, in this order: the blob size, the blob digest (each error
  // names expected and actual), a complete compressed stream, a complete tar (when a visitor
  // was given), the diff_id. Returns the digests it computed.
  absl::StatusOr<LayerDigests> Finish();

 private:
  struct Decompressor;
  LayerStream(const LayerBlob& blob, std::optional<Digest> diff_id, TarVisitor* visitor,
              LayerStreamLimits limits);
  absl::Status Emit(std::string_view decompressed);
  absl::Status Fail(absl::Status status);

  LayerBlob blob_;
  std::optional<Digest> want_diff_id_;
  LayerStreamLimits limits_;
  LayerCompression compression_ = LayerCompression::kNone;
  std::unique_ptr<Decompressor> decompressor_;
  std::optional<TarReader> tar_;
  Sha256Stream blob_hash_;
  Sha256Stream diff_hash_;
  absl::Status error_;
  bool finished_ = false;
};

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_LAYER_STREAM_H_
