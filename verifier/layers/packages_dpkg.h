// dpkg's database of installed packages: /var/lib/dpkg/status, and the one-stanza files of
// /var/lib/dpkg/status.d/ that distroless images carry instead (issue 18).
//
// The format is RFC 822-style (deb822): stanzas separated by blank lines (a line of only
// spaces and tabs is blank too), each line "Field: value" or a continuation line starting
// with a space or tab. Fields read: Package, Version, Architecture, Source ("name" or
// "name (version)"), Status ("want eflag status"). Every other field is skipped.
//
// Which stanzas are packages: dpkg's Status third word (the package state) decides, not its
// first (the selection, "install"/"hold"/"deinstall"/"purge"):
//   - "installed": kept, InstalledPackage::dpkg_state empty ("install ok installed",
//     "hold ok installed", and "deinstall ok installed" whose removal has not run yet);
//   - "half-installed", "unpacked", "half-configured", "triggers-awaited",
//     "triggers-pending": kept with dpkg_state set to that word. Their files may be on disk
//     (an interrupted install or upgrade leaves them there), so a report that dropped them
//     would let an image hide a package by leaving it half-installed;
//   - "not-installed", "config-files": skipped (no files but, at most, conffiles).
// A kept stanza must have Package, Version and Architecture; a skipped one needs only
// Package. A second occurrence of a field in a stanza, a Status not of three known words, a
// continuation line before any field, a line without ':' and a NUL byte are errors, each
// naming the source, the line number and the field.
//
// Thread-safety: pure functions. Ownership: results own their strings.
#ifndef LAYERSEAL_VERIFIER_LAYERS_PACKAGES_DPKG_H_
#define LAYERSEAL_VERIFIER_LAYERS_PACKAGES_DPKG_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/layers/packages_types.h"

namespace layerseal::layers {

// The largest status file read (a Debian machine with 860 packages has 0.8 MB): larger is
// ResourceExhausted naming the source.
inline constexpr size_t kMaxDpkgStatusBytes = 64u << 20;
// The most stanzas one file may hold; more is ResourceExhausted.
inline constexpr size_t kMaxDpkgStanzas = 100000;

// Parses a whole status file. `where` names it in errors ("/var/lib/dpkg/status").
absl::StatusOr<std::vector<InstalledPackage>> ParseDpkgStatus(
    std::string_view bytes, std::string_view where = "/var/lib/dpkg/status");

// Parses one /var/lib/dpkg/status.d/<name> file: exactly one stanza (zero or two are an
// error). The result has no element when the stanza's state is skipped (see above).
absl::StatusOr<std::vector<InstalledPackage>> ParseDpkgStatusD(std::string_view bytes,
                                                               std::string_view where);

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_PACKAGES_DPKG_H_
