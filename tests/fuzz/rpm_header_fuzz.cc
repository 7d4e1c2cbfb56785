// Fuzzes rpm's header blob parser (verifier/layers/packages_rpm.h: ParseRpmHeaderBlob, what
// each row of rpmdb.sqlite's Packages table holds). A parsed header's version is
// "[epoch:]version-release" and its fields pass CheckPackageField.
#include <string>

#include "base/str_cat.h"
#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/packages.h"
#include "verifier/layers/packages_rpm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::layers;
  absl::StatusOr<InstalledPackage> p = ParseRpmHeaderBlob(layerseal::fuzz::AsView(data, size));
  if (!p.ok()) return 0;
  FUZZ_CHECK(p->ecosystem == Ecosystem::kRpm);
  FUZZ_CHECK(CheckPackageField("f", "name", p->name).ok());
  FUZZ_CHECK(p->arch.empty() || CheckPackageField("f", "arch", p->arch).ok());
  FUZZ_CHECK(p->rpm_version_release.find('-') != std::string::npos);
  FUZZ_CHECK(p->version == (p->rpm_epoch ? layerseal::StrCat(*p->rpm_epoch, ":", p->rpm_version_release)
                                         : p->rpm_version_release));
  FUZZ_CHECK(PackageUrl(*p, std::nullopt).rfind("pkg:rpm/", 0) == 0);
  return 0;
}
