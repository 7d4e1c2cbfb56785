// Fuzzes the manifest parsers a registry's answer goes through: input "Content-Type\nbody".
// ParseServedManifest must agree with ParseImageManifest / ParseImageIndex on what it accepts.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [content_type, body] = layerseal::fuzz::SplitFirstLine(layerseal::fuzz::AsView(data, size));
  absl::StatusOr<layerseal::ServedManifest> served =
      layerseal::ParseServedManifest(body, content_type);
  if (!served.ok()) return 0;
  FUZZ_CHECK(served->image.has_value() != served->index.has_value());
  if (served->image) {
    FUZZ_CHECK(!layerseal::IsIndexMediaType(served->media_type));
    FUZZ_CHECK(layerseal::ParseImageManifest(body, served->media_type).ok());
    FUZZ_CHECK(served->image->layers.size() <= layerseal::kMaxDescriptors);
  } else {
    FUZZ_CHECK(layerseal::IsIndexMediaType(served->media_type));
    FUZZ_CHECK(layerseal::ParseImageIndex(body, served->media_type).ok());
  }
  return 0;
}
