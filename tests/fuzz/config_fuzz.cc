// Fuzzes the verifier's image-config step (verifier.cc CheckConfig): a config blob parsed
// strictly within kMaxConfigBytes, then the seal binding (two diff_ids appended) applied to it.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/digest.h"
#include "verifier/internal/config_binding.h"
#include "verifier/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<nlohmann::json> config =
      layerseal::ParseStrictJson(layerseal::fuzz::AsView(data, size), layerseal::kMaxConfigBytes);
  if (!config.ok()) return 0;
  static const layerseal::Digest kManifestTar = layerseal::Digest::Sha256Of("manifest");
  static const layerseal::Digest kSignatureTar = layerseal::Digest::Sha256Of("signature");
  absl::StatusOr<nlohmann::json> sealed =
      layerseal::internal::SealConfig(*config, kManifestTar, kSignatureTar);
  if (!sealed.ok()) return 0;
  // The binding only appends: two more diff_ids than the base.
  const nlohmann::json& before = (*config)["rootfs"]["diff_ids"];
  const nlohmann::json& after = (*sealed)["rootfs"]["diff_ids"];
  FUZZ_CHECK(after.size() == before.size() + 2);
  FUZZ_CHECK(after.back() == kSignatureTar.str());
  return 0;
}
