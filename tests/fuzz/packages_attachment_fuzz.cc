// Fuzzes the package attachment reader (verifier/layers/packages.h, "layerseal.packages/v1"):
// what it accepts serializes and reads back to the same inventory.
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/packages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::layers;
  absl::StatusOr<PackageInventory> inv = ParsePackagesAttachment(layerseal::fuzz::AsView(data, size));
  if (!inv.ok()) return 0;
  FUZZ_CHECK(inv->packages.size() <= kMaxPackages);
  FUZZ_CHECK(inv->base_layers <= inv->layers);
  absl::StatusOr<std::string> again = SerializePackagesAttachment(*inv);
  FUZZ_CHECK(again.ok());  // the input was at most as large
  absl::StatusOr<PackageInventory> back = ParsePackagesAttachment(*again);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(*back == *inv);
  absl::StatusOr<std::string> twice = SerializePackagesAttachment(*back);
  FUZZ_CHECK(twice.ok() && *twice == *again);
  return 0;
}
