// Fuzzes GzipDecompress (one member, bounded output); what it accepts must round-trip.
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/seal_layer.h"

namespace {
// Small, so that the fuzzer reaches the ResourceExhausted path often.
constexpr size_t kMaxOut = 256 * 1024;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::string> out =
      layerseal::GzipDecompress(layerseal::fuzz::AsView(data, size), kMaxOut);
  if (!out.ok()) return 0;
  FUZZ_CHECK(out->size() <= kMaxOut);
  absl::StatusOr<std::string> again =
      layerseal::GzipDecompress(layerseal::GzipCompress(*out), kMaxOut);
  FUZZ_CHECK(again.ok() && *again == *out);
  return 0;
}
