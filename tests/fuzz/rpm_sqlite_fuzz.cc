// Fuzzes the rpm sqlite reader (verifier/layers/packages_rpm.h: ParseRpmSqlite): SQLite
// opening a hostile database file in memory with the reader's defences, the schema check,
// the row scan and the header blobs. Seed: one of the rpm fixture's rows in a database of
// 512-byte pages (small enough to mutate).
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/packages.h"
#include "verifier/layers/packages_rpm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::layers;
  absl::StatusOr<std::vector<InstalledPackage>> pkgs =
      ParseRpmSqlite(layerseal::fuzz::AsView(data, size));
  if (pkgs.ok()) {
    FUZZ_CHECK(pkgs->size() <= kMaxRpmRows);
    for (const InstalledPackage& p : *pkgs) {
      FUZZ_CHECK(p.ecosystem == Ecosystem::kRpm);
      FUZZ_CHECK(CheckPackageField("f", "name", p.name).ok());
    }
  } else {
    FUZZ_CHECK(!IsPackageDbNotAvailable(pkgs.status()));
  }
  return 0;
}
