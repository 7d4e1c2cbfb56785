// Fuzzes ReadSingleFileTar with both seal paths; what it accepts must survive a rewrite with
// MakeSingleFileTar.
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/seal_layer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view tar = layerseal::fuzz::AsView(data, size);
  for (std::string_view path : {layerseal::kSealManifestPath, layerseal::kSealSignaturePath}) {
    absl::StatusOr<std::string> content = layerseal::ReadSingleFileTar(tar, path);
    if (!content.ok()) continue;
    FUZZ_CHECK(content->size() < size);
    absl::StatusOr<std::string> again =
        layerseal::ReadSingleFileTar(layerseal::MakeSingleFileTar(path, *content), path);
    FUZZ_CHECK(again.ok() && *again == *content);
  }
  return 0;
}
