// Fuzzes the layer stream's decompression (verifier/layers/layer_stream.h). Input: one byte
// (bit 0: gzip or zstd; bits 1-7: a chunk size, 0 meaning all at once), then the compressed
// blob. Invariants: the blob digest and size are the input's; what decompresses stays within
// the limit; the outcome (and on success the entries and diff_id) does not depend on the
// chunk size.
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/layer_stream.h"

namespace {

using namespace layerseal::layers;

class Counter : public TarVisitor {
 public:
  uint64_t entries = 0;
  absl::StatusOr<Action> OnEntry(const TarEntry&) override {
    ++entries;
    return Action::Capture(64);
  }
};

constexpr uint64_t kMaxOut = 1 << 20;

absl::StatusOr<LayerDigests> Run(std::string_view media_type, std::string_view blob, size_t chunk,
                                 Counter& counter) {
  LayerBlob desc{std::string(media_type), layerseal::Digest::Sha256Of(blob), blob.size()};
  LayerStreamLimits limits;
  limits.max_decompressed_bytes = kMaxOut;
  limits.tar.max_entries = 64;
  absl::StatusOr<std::unique_ptr<LayerStream>> stream = LayerStream::Open(desc, std::nullopt, &counter, limits);
  FUZZ_CHECK(stream.ok());
  size_t pos = 0;
  while (pos < blob.size()) {
    size_t n = chunk == 0 ? blob.size() - pos : std::min(chunk, blob.size() - pos);
    if (absl::Status s = (*stream)->Feed(blob.substr(pos, n)); !s.ok()) return s;
    pos += n;
  }
  return (*stream)->Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = layerseal::fuzz::AsView(data, size);
  if (in.empty()) return 0;
  unsigned char mode = static_cast<unsigned char>(in[0]);
  in.remove_prefix(1);
  std::string_view media_type = (mode & 1) ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                           : "application/vnd.oci.image.layer.v1.tar+gzip";
  Counter a, b;
  absl::StatusOr<LayerDigests> whole = Run(media_type, in, 0, a);
  absl::StatusOr<LayerDigests> chunked = Run(media_type, in, mode >> 1, b);
  FUZZ_CHECK(whole.ok() == chunked.ok());
  // (Before an error the entries seen may differ: a corrupt block may be found in the same
  // inflate call that produced the entries before it.)
  if (whole.ok()) {
    FUZZ_CHECK(a.entries == b.entries);
    FUZZ_CHECK(whole->blob == layerseal::Digest::Sha256Of(in));
    FUZZ_CHECK(whole->blob_size == in.size());
    FUZZ_CHECK(whole->diff_size <= kMaxOut);
    FUZZ_CHECK(whole->diff_id == chunked->diff_id);
  }
  return 0;
}
