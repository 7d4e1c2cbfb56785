#include "verifier/layers/layer_stream.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>

#include "base/str_cat.h"

namespace layerseal::layers {
namespace {

constexpr size_t kOutChunk = 64 * 1024;
constexpr int kGzipWindowBits = 16 + 15;  // 16: gzip wrapper (not zlib), 15: 32 KiB window

}  // namespace

absl::StatusOr<LayerCompression> CompressionOf(std::string_view media_type) {
  static constexpr std::string_view kPlain[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.docker.image.rootfs.diff.tar",
  };
  static constexpr std::string_view kGzip[] = {
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  static constexpr std::string_view kZstd[] = {
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.zstd",
  };
  for (std::string_view m : kPlain) if (media_type == m) return LayerCompression::kNone;
  for (std::string_view m : kGzip) if (media_type == m) return LayerCompression::kGzip;
  for (std::string_view m : kZstd) if (media_type == m) return LayerCompression::kZstd;
  return absl::InvalidArgumentError(
      StrCat("layer media type \"", media_type.substr(0, 200), "\" is not a tar, tar+gzip or tar+zstd layer"));
}

// The decompressor's state, on the heap: zlib's state points back at its z_stream, so the
// z_stream must never move.
struct LayerStream::Decompressor {
  z_stream zs{};
  bool zs_init = false;
  bool member_done = true;  // gzip: at a member boundary (no member started yet counts)
  bool any_member = false;  // gzip: one member completed
  ZSTD_DCtx* zstd = nullptr;
  size_t zstd_hint = 0;      // last ZSTD_decompressStream result: 0 at a frame boundary
  bool zstd_any = false;     // zstd: bytes seen
  bool zstd_frame_start = true;  // the next bytes begin a frame
  std::string zstd_magic;        // the current frame's first bytes, up to 4
  std::unique_ptr<char[]> out{new char[kOutChunk]};

  ~Decompressor() {
    if (zs_init) inflateEnd(&zs);
    if (zstd != nullptr) ZSTD_freeDCtx(zstd);
  }
};

LayerStream::LayerStream(const LayerBlob& blob, std::optional<Digest> diff_id, TarVisitor* visitor,
                         LayerStreamLimits limits)
    : blob_(blob), want_diff_id_(std::move(diff_id)), limits_(limits) {
  if (visitor != nullptr) tar_.emplace(visitor, limits_.tar);
}

LayerStream::~LayerStream() = default;

absl::StatusOr<std::unique_ptr<LayerStream>> LayerStream::Open(const LayerBlob& blob,
                                                               std::optional<Digest> diff_id,
                                                               TarVisitor* visitor,
                                                               LayerStreamLimits limits) {
  absl::StatusOr<LayerCompression> compression = CompressionOf(blob.media_type);
  if (!compression.ok()) return compression.status();
  if (blob.digest.algorithm() != "sha256") {
    return absl::InvalidArgumentError(
        StrCat("layer digest \"", blob.digest.str(), "\": only sha256 layer digests are supported"));
  }
  if (diff_id.has_value() && diff_id->algorithm() != "sha256") {
    return absl::InvalidArgumentError(
        StrCat("layer ", blob.digest.str(), ": diff_id \"", diff_id->str(), "\" is not sha256"));
  }
  std::unique_ptr<LayerStream> stream(new LayerStream(blob, std::move(diff_id), visitor, limits));
  stream->compression_ = *compression;
  stream->decompressor_ = std::make_unique<Decompressor>();
  Decompressor& d = *stream->decompressor_;
  if (*compression == LayerCompression::kGzip) {
    if (inflateInit2(&d.zs, kGzipWindowBits) != Z_OK) return absl::InternalError("zlib inflateInit2 failed");
    d.zs_init = true;
  } else if (*compression == LayerCompression::kZstd) {
    d.zstd = ZSTD_createDCtx();
    if (d.zstd == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d.zstd, ZSTD_d_windowLogMax, kMaxZstdWindowLog))) {
      return absl::InternalError("ZSTD_d_windowLogMax failed");
    }
  }
  return stream;
}

absl::Status LayerStream::Fail(absl::Status status) {
  if (status.ok()) return status;
  error_ = absl::Status(status.code(), StrCat("layer ", blob_.digest.str(), ": ", Sv(status.message())));
  return error_;
}

absl::Status LayerStream::Emit(std::string_view bytes) {
  if (bytes.empty()) return absl::OkStatus();
  if (bytes.size() > limits_.max_decompressed_bytes - diff_hash_.size()) {
    return absl::ResourceExhaustedError(StrCat("decompresses to more than the limit of ",
                                               limits_.max_decompressed_bytes, " bytes"));
  }
  diff_hash_.Update(bytes);
  if (tar_.has_value()) return tar_->Feed(bytes);
  return absl::OkStatus();
}

absl::Status LayerStream::Feed(std::string_view chunk) {
  if (!error_.ok()) return error_;
  if (finished_) return Fail(absl::FailedPreconditionError("Feed after Finish"));
  if (chunk.size() > blob_.size - std::min(blob_.size, blob_hash_.size())) {
    return Fail(absl::InvalidArgumentError(StrCat("blob is larger than its descriptor's size of ",
                                                  blob_.size, " bytes")));
  }
  blob_hash_.Update(chunk);
  Decompressor& d = *decompressor_;
  switch (compression_) {
    case LayerCompression::kNone:
      return Fail(Emit(chunk));
    case LayerCompression::kGzip: {
      while (!chunk.empty()) {
        if (d.member_done) {
          // A new member begins (multi-member gzip, as `gzip -d` and Go's reader accept).
          if (d.any_member && inflateReset(&d.zs) != Z_OK) return Fail(absl::InternalError("zlib inflateReset failed"));
          d.member_done = false;
        }
        size_t take = std::min<size_t>(chunk.size(), UINT_MAX);
        d.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
        d.zs.avail_in = static_cast<uInt>(take);
        int rc = Z_OK;
        while (d.zs.avail_in > 0 || rc == Z_OK) {
          d.zs.next_out = reinterpret_cast<Bytef*>(d.out.get());
          d.zs.avail_out = kOutChunk;
          rc = inflate(&d.zs, Z_NO_FLUSH);
          if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
            return Fail(absl::InvalidArgumentError(
                StrCat("corrupt gzip data (", d.zs.msg != nullptr ? d.zs.msg : "no detail", ")")));
          }
          if (rc == Z_MEM_ERROR) return Fail(absl::ResourceExhaustedError("gzip: out of memory"));
          if (absl::Status s = Emit(std::string_view(d.out.get(), kOutChunk - d.zs.avail_out)); !s.ok()) {
            return Fail(s);
          }
          if (rc == Z_STREAM_END) {
            d.member_done = true;
            d.any_member = true;
            break;
          }
          // Z_BUF_ERROR: no progress possible without more input.
          if (rc == Z_BUF_ERROR || (d.zs.avail_in == 0 && d.zs.avail_out != 0)) break;
        }
        size_t used = take - d.zs.avail_in;
        // Every round consumes input (a new member's header at least); never spin.
        if (used == 0) return Fail(absl::InternalError("gzip: inflate made no progress"));
        chunk.remove_prefix(used);
      }
      return absl::OkStatus();
    }
    case LayerCompression::kZstd: {
      if (!chunk.empty()) d.zstd_any = true;
      ZSTD_inBuffer in{chunk.data(), chunk.size(), 0};
      for (;;) {
        // Only zstd frames (magic FD2FB528) and skippable frames (184D2A5?): libzstd also
        // decodes the pre-1.0 "legacy" formats, which containerd's Go decoder does not, and
        // whose streaming is inconsistent (the fuzzer found whole and chunked feeds disagree).
        if (d.zstd_frame_start && in.pos < in.size) {
          size_t take = std::min<size_t>(4 - d.zstd_magic.size(), in.size - in.pos);
          d.zstd_magic.append(chunk.data() + in.pos, take);
          if (d.zstd_magic.size() == 4) {
            auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(d.zstd_magic[i])); };
            uint32_t magic = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
            if (magic != ZSTD_MAGICNUMBER && (magic & ZSTD_MAGIC_SKIPPABLE_MASK) != ZSTD_MAGIC_SKIPPABLE_START) {
              return Fail(absl::InvalidArgumentError(
                  StrCat("not a zstd frame (magic 0x", HexEncode(d.zstd_magic), " at a frame start)")));
            }
            d.zstd_frame_start = false;
            d.zstd_magic.clear();
          }
        }
        ZSTD_outBuffer out{d.out.get(), kOutChunk, 0};
        size_t rc = ZSTD_decompressStream(d.zstd, &out, &in);
        if (ZSTD_isError(rc)) {
          return Fail(absl::InvalidArgumentError(StrCat("corrupt zstd data (", ZSTD_getErrorName(rc), ")")));
        }
        d.zstd_hint = rc;
        if (rc == 0) d.zstd_frame_start = true;
        if (absl::Status s = Emit(std::string_view(d.out.get(), out.pos)); !s.ok()) return Fail(s);
        // Done with this chunk when all input is consumed and the output was not full (a
        // full buffer may mean more output is waiting).
        if (in.pos == in.size && out.pos < out.size) break;
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LayerDigests> LayerStream::Finish() {
  if (!error_.ok()) return error_;
  if (finished_) return Fail(absl::FailedPreconditionError("Finish called twice"));
  finished_ = true;
  LayerDigests out;
  out.blob_size = blob_hash_.size();
  out.blob = blob_hash_.Finish();
  out.diff_size = diff_hash_.size();
  out.diff_id = diff_hash_.Finish();
  if (out.blob_size != blob_.size) {
    return Fail(absl::InvalidArgumentError(
        StrCat("blob size mismatch: descriptor says ", blob_.size, " bytes, read ", out.blob_size)));
  }
  if (!(out.blob == blob_.digest)) {
    return Fail(absl::InvalidArgumentError(
        StrCat("blob digest mismatch: descriptor says ", blob_.digest.str(), ", content is ", out.blob.str())));
  }
  const Decompressor& d = *decompressor_;
  if (compression_ == LayerCompression::kGzip && (!d.member_done || !d.any_member)) {
    return Fail(absl::InvalidArgumentError(d.any_member || !d.member_done ? "gzip stream is truncated"
                                                                           : "gzip stream is empty"));
  }
  if (compression_ == LayerCompression::kZstd && (d.zstd_hint != 0 || !d.zstd_any)) {
    return Fail(absl::InvalidArgumentError(d.zstd_any ? "zstd stream is truncated" : "zstd stream is empty"));
  }
  if (tar_.has_value()) {
    if (absl::Status s = tar_->Finish(); !s.ok()) return Fail(s);
    out.entries = tar_->entries();
  }
  if (want_diff_id_.has_value() && !(out.diff_id == *want_diff_id_)) {
    return Fail(absl::InvalidArgumentError(StrCat("diff_id mismatch: the image config says ",
                                                  want_diff_id_->str(), ", the decompressed layer is ",
                                                  out.diff_id.str())));
  }
  return out;
}

}  // namespace layerseal::layers
