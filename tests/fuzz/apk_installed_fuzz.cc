// Fuzzes apk's database parser (verifier/layers/packages_apk.h), /lib/apk/db/installed.
// Every package has fields CheckPackageField accepts and a package URL of type apk.
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/packages.h"
#include "verifier/layers/packages_apk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::layers;
  absl::StatusOr<std::vector<InstalledPackage>> pkgs =
      ParseApkInstalled(layerseal::fuzz::AsView(data, size));
  if (!pkgs.ok()) return 0;
  for (const InstalledPackage& p : *pkgs) {
    FUZZ_CHECK(p.ecosystem == Ecosystem::kApk);
    FUZZ_CHECK(CheckPackageField("f", "name", p.name).ok());
    FUZZ_CHECK(CheckPackageField("f", "version", p.version).ok());
    FUZZ_CHECK(p.arch.empty() || CheckPackageField("f", "arch", p.arch).ok());
    FUZZ_CHECK(p.source.empty() || CheckPackageField("f", "source", p.source).ok());
    FUZZ_CHECK(PackageUrl(p, layerseal::layers::Distro{"alpine", "3.19"}).rfind("pkg:apk/alpine/", 0) == 0);
  }
  return 0;
}
