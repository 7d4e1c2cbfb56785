// The record every package database parser returns (packages_dpkg.h, packages_apk.h,
// packages_rpm.h) and the ecosystems they cover. Issue 18, docs/design/continuous-validation-plan.md §4.
// Thread-safety: plain values and pure functions; safe to use from any thread.
#ifndef LAYERSEAL_VERIFIER_LAYERS_PACKAGES_TYPES_H_
#define LAYERSEAL_VERIFIER_LAYERS_PACKAGES_TYPES_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace layerseal::layers {

enum class Ecosystem { kDeb, kApk, kRpm };

// "deb", "apk", "rpm": the package-url type and the attachment's "ecosystem" member.
std::string_view EcosystemName(Ecosystem e);
std::optional<Ecosystem> EcosystemFromName(std::string_view name);

// One installed package as its database records it.
struct InstalledPackage {
  Ecosystem ecosystem = Ecosystem::kDeb;
  std::string name;
  // The full version as the ecosystem compares it: dpkg "[epoch:]upstream[-revision]" as
  // written in Version; apk "1.2.3-r0"; rpm "[epoch:]version-release" (epoch only when the
  // header has one).
  std::string version;
  // dpkg Architecture, apk A:, rpm ARCH. Empty when the record has none (rpm's gpg-pubkey
  // headers have no ARCH; very old apk databases have no A:).
  std::string arch;
  // The source package: dpkg Source (its name part), apk o: (origin). Empty when absent
  // (dpkg writes no Source when it equals Package) and for rpm.
  std::string source;
  // dpkg Source "name (version)": the version part, when given.
  std::string source_version;
  // rpm only: the parts of `version` (package-url puts the epoch in a qualifier).
  std::optional<unsigned> rpm_epoch;
  std::string rpm_version_release;
  // dpkg only: the package's state when it is not "installed" but its files may be on disk
  // ("half-installed", "unpacked", "half-configured", "triggers-awaited",
  // "triggers-pending"); empty for "installed" and for apk and rpm (packages_dpkg.h).
  std::string dpkg_state;

  friend bool operator==(const InstalledPackage&, const InstalledPackage&) = default;
};

// The longest name, version, architecture or source a parser keeps. Longer values are an
// error naming the field: no real package comes near it.
inline constexpr size_t kMaxPackageFieldBytes = 512;

// OK when `value` is 1..kMaxPackageFieldBytes printable ASCII bytes other than space
// (0x21..0x7e): every dpkg, apk and rpm name, version and architecture is. InvalidArgument
// "<where>: <field> ..." otherwise. Keeping to ASCII also keeps the JSON attachment valid.
absl::Status CheckPackageField(std::string_view where, std::string_view field,
                               std::string_view value);

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_PACKAGES_TYPES_H_
