// apk's database of installed packages, /lib/apk/db/installed (issue 18).
//
// The format (apk-tools' database.c, and Alpine's documentation of the index format it
// shares, https://wiki.alpinelinux.org/wiki/Apk_spec): one record a package, records
// separated by blank lines, each line "X:value" with a one-character key. Keys read:
// P (name), V (version), A (architecture), o (origin, the source package). Every other key
// (C checksum, T description, D dependencies, F/R/M/Z/a file lists, ...) is skipped; a key
// may repeat except P, V, A and o. A record must have P and V; A and o may be missing.
// Lines of other shapes and NUL bytes are errors naming the source and the line.
//
// Thread-safety: pure functions. Ownership: results own their strings.
#ifndef LAYERSEAL_VERIFIER_LAYERS_PACKAGES_APK_H_
#define LAYERSEAL_VERIFIER_LAYERS_PACKAGES_APK_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/layers/packages_types.h"

namespace layerseal::layers {

// The largest installed file read (it lists every installed file, so it is larger than
// dpkg's status for the same packages); larger is ResourceExhausted naming the source.
inline constexpr size_t kMaxApkInstalledBytes = 64u << 20;
// The most records one file may hold; more is ResourceExhausted.
inline constexpr size_t kMaxApkRecords = 100000;

// Parses /lib/apk/db/installed. `where` names it in errors.
absl::StatusOr<std::vector<InstalledPackage>> ParseApkInstalled(
    std::string_view bytes, std::string_view where = "/lib/apk/db/installed");

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_PACKAGES_APK_H_
