// Fuzzes dpkg's database parsers (verifier/layers/packages_dpkg.h): the input as a whole
// /var/lib/dpkg/status and as one /var/lib/dpkg/status.d/ file. Every kept package has
// fields CheckPackageField accepts and a package URL of type deb.
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/packages.h"
#include "verifier/layers/packages_dpkg.h"

namespace {

void Check(const std::vector<layerseal::layers::InstalledPackage>& pkgs) {
  using namespace layerseal::layers;
  for (const InstalledPackage& p : pkgs) {
    FUZZ_CHECK(p.ecosystem == Ecosystem::kDeb);
    FUZZ_CHECK(CheckPackageField("f", "name", p.name).ok());
    FUZZ_CHECK(CheckPackageField("f", "version", p.version).ok());
    FUZZ_CHECK(CheckPackageField("f", "arch", p.arch).ok());
    FUZZ_CHECK(p.source.empty() || CheckPackageField("f", "source", p.source).ok());
    FUZZ_CHECK(p.source_version.empty() || !p.source.empty());
    FUZZ_CHECK(p.dpkg_state != "installed" && p.dpkg_state != "not-installed" &&
               p.dpkg_state != "config-files");
    FUZZ_CHECK(PackageUrl(p, std::nullopt).rfind("pkg:deb/", 0) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::layers;
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<std::vector<InstalledPackage>> all = ParseDpkgStatus(in);
  if (all.ok()) Check(*all);
  absl::StatusOr<std::vector<InstalledPackage>> one =
      ParseDpkgStatusD(in, "/var/lib/dpkg/status.d/x");
  if (one.ok()) {
    FUZZ_CHECK(one->size() <= 1);
    Check(*one);
  }
  return 0;
}
