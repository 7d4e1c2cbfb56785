#include "verifier/layers/packages_types.h"

#include "base/str_cat.h"

namespace layerseal::layers {

std::string_view EcosystemName(Ecosystem e) {
  switch (e) {
    case Ecosystem::kDeb: return "deb";
    case Ecosystem::kApk: return "apk";
    case Ecosystem::kRpm: return "rpm";
  }
  return "unknown";
}

std::optional<Ecosystem> EcosystemFromName(std::string_view name) {
  if (name == "deb") return Ecosystem::kDeb;
  if (name == "apk") return Ecosystem::kApk;
  if (name == "rpm") return Ecosystem::kRpm;
  return std::nullopt;
}

absl::Status CheckPackageField(std::string_view where, std::string_view field,
                               std::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(StrCat(where, ": ", field, " is empty"));
  if (value.size() > kMaxPackageFieldBytes) {
    return absl::InvalidArgumentError(StrCat(where, ": ", field, " of ", value.size(),
                                             " bytes exceeds the limit of ",
                                             kMaxPackageFieldBytes));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(StrCat(where, ": ", field, " has byte ",
                                               static_cast<unsigned>(c), " at offset ", i,
                                               " (only printable ASCII without spaces)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace layerseal::layers
