// Fuzzes ParseImageIndex (OCI index / Docker list, chosen by the first input byte) and the
// platform selection run on what it accepts.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view media_type = (data[0] & 1) ? layerseal::kDockerList : layerseal::kOciIndex;
  std::string_view body = layerseal::fuzz::AsView(data + 1, size - 1);
  absl::StatusOr<layerseal::ImageIndex> index = layerseal::ParseImageIndex(body, media_type);
  if (!index.ok()) return 0;
  FUZZ_CHECK(index->manifests.size() <= layerseal::kMaxDescriptors);
  for (std::string_view p : {"linux/amd64", "linux/arm64/v8", "windows/amd64"}) {
    absl::StatusOr<layerseal::Platform> platform = layerseal::Platform::Parse(p);
    FUZZ_CHECK(platform.ok());
    absl::StatusOr<layerseal::Descriptor> d = layerseal::SelectPlatform(*index, *platform);
    if (d.ok()) FUZZ_CHECK(d->platform.has_value());
  }
  return 0;
}
