// The package inventory of an image above its base (issue 18,
// docs/design/continuous-validation-plan.md §4): which package databases a layer holds
// (a function of the path), what each layer of a stack added or changed, and the JSON event
// attachment "layerseal.packages/v1" that carries the result to the controller.
//
// The parsers are in packages_dpkg.h, packages_apk.h and packages_rpm.h; this file ties them
// to paths and layers.
//
// Thread-safety: pure functions over values. Ownership: inputs are borrowed for the call,
// results own their strings.
#ifndef LAYERSEAL_VERIFIER_LAYERS_PACKAGES_H_
#define LAYERSEAL_VERIFIER_LAYERS_PACKAGES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/layers/packages_types.h"

namespace layerseal::layers {

// ---------------------------------------------------------------------------------------
// Which paths are package databases.

enum class PackageDbKind {
  kDpkgStatus,    // /var/lib/dpkg/status
  kDpkgStatusD,   // /var/lib/dpkg/status.d/<name> (distroless; not <name>.md5sums)
  kApkInstalled,  // /lib/apk/db/installed, /usr/lib/apk/db/installed
  kRpmSqlite,     // {/var/lib/rpm,/usr/lib/sysimage/rpm}/rpmdb.sqlite
  kRpmBerkeleyDb, // .../Packages: recognised, "not available"
  kRpmNdb,        // .../Packages.db: recognised, "not available"
};

// The kind of database at `path` (absolute and normalized, "/var/lib/dpkg/status", as the
// tar reader reports it); nullopt for every other path. The tar visitor captures the
// content of exactly these paths.
std::optional<PackageDbKind> PackageDbAt(std::string_view path);

// True when deleting `path` (a whiteout of it, or an opaque directory marker in it) may
// delete a package database: `path` is a database path or an ancestor directory of one
// ("/var", "/var/lib/dpkg", "/var/lib/dpkg/status.d", ...). The tar visitor reports exactly
// these deletions.
bool DeletionAffectsPackageDbs(std::string_view path);

// Parses one database file by its kind (kDpkgStatusD: ParseDpkgStatusD; the rpm kinds:
// ParseRpmDatabase, so kRpmBerkeleyDb and kRpmNdb give IsPackageDbNotAvailable's status).
absl::StatusOr<std::vector<InstalledPackage>> ParsePackageDb(PackageDbKind kind,
                                                             std::string_view path,
                                                             std::string_view bytes);

// ---------------------------------------------------------------------------------------
// Package URLs (https://github.com/package-url/purl-spec).

// The distribution, from the image's /etc/os-release (ParseOsRelease), when the caller has it.
struct Distro {
  std::string id;          // ID, lower case ("debian", "alpine", "fedora")
  std::string version_id;  // VERSION_ID ("12", "3.19.1", "39"); may be empty
};

// ID and VERSION_ID of an os-release file (shell-style KEY=value lines, values optionally in
// double or single quotes). ID missing or not a plain lower-case token is InvalidArgument.
absl::StatusOr<Distro> ParseOsRelease(std::string_view bytes);

// pkg:<type>/<namespace>/<name>@<version>?<qualifiers>, percent-encoded per the spec
// (every byte but A-Z a-z 0-9 . - _ ~ is %XX, upper-case hex; ':' stays as it is), qualifier
// keys sorted. The namespace is the distro ID, omitted (pkg:deb/bash@...) without a distro.
// Qualifiers: arch (when known), distro ("<id>-<version_id>", when both are known), epoch
// (rpm, when the header has one; the purl version is then version-release alone, as the
// spec's rpm type says). deb and apk names are lower-cased (the spec's rule for both types).
//   pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12
//   pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25&epoch=1
std::string PackageUrl(const InstalledPackage& p, const std::optional<Distro>& distro);

// ---------------------------------------------------------------------------------------
// The inventory over a stack of layers.

// One change a layer made to a package database path.
struct PackageDbChange {
  enum class Op { kWrite, kDelete };
  Op op = Op::kWrite;
  // kWrite: a database path (PackageDbAt non-empty), with the file's whole content.
  // kDelete: a path DeletionAffectsPackageDbs is true for; it deletes the database at that
  // path and every database under it (the whiteout's target, or the directory holding an
  // opaque marker).
  std::string path;
  std::string bytes;
};

// What one layer wrote. Within a layer every kDelete applies before every kWrite: a
// whiteout hides only the layers below it (OCI image spec, "Whiteouts"), and an opaque
// directory's own new files survive it.
struct LayerPackageDbs {
  std::string digest;  // the layer's digest as the caller names layers (diff_id or blob)
  std::vector<PackageDbChange> changes;
};

// The most layers an inventory covers (Docker's own limit is 127 layers an image).
inline constexpr size_t kMaxInventoryLayers = 1000;
// The most database files present at once (status.d holds one a package).
inline constexpr size_t kMaxPackageDbFiles = 100000;
// The most packages an attachment lists, and the most an image's databases may hold in one
// layer's view; more is ResourceExhausted.
inline constexpr size_t kMaxPackages = 50000;
// The largest attachment ParsePackagesAttachment reads (50,000 packages of ~300 bytes).
inline constexpr size_t kMaxPackagesAttachmentBytes = 32u << 20;
// The longest image or layer digest, path or reason string an attachment carries.
inline constexpr size_t kMaxAttachmentStringBytes = 4096;

inline constexpr std::string_view kPackagesFormat = "layerseal.packages/v1";

// A package in the image's final view, attributed to the layer that last introduced its
// version.
struct InventoryPackage {
  InstalledPackage package;
  std::string purl;
  size_t layer_index = 0;
  std::string layer_digest;
  // "added": no package of that ecosystem, name and architecture was in the layer below;
  // "changed": one was, with another version (previous_version: the lowest such version,
  // byte order, when several were installed side by side, as rpm allows).
  bool changed = false;
  std::string previous_version;
};

// A database present in the final view that cannot be read (IsPackageDbNotAvailable): rpm's
// BerkeleyDB and ndb backends.
struct UnavailableDb {
  std::string path;
  size_t layer_index = 0;
  std::string layer_digest;
  std::string reason;  // the status message
};

struct PackageInventory {
  std::string image;          // the image (manifest) digest the caller names it by
  size_t base_layers = 0;     // layers 0..base_layers-1 are the base
  size_t layers = 0;          // the stack's size
  std::optional<Distro> distro;
  std::vector<InventoryPackage> packages;  // layer_index >= base_layers; sorted (see below)
  std::vector<UnavailableDb> unavailable;  // every layer, not only those above the base
};

// Walks `stack` bottom-up (stack[0] is L0). After each layer the view is the union of the
// packages of every database file present (a package listed by two files counts once;
// identity: ecosystem, name, architecture, version). A package whose identity first appears
// after layer i (or reappears after being removed) is attributed to layer i. The result lists
// the final view's packages attributed to a layer at index >= base_layers (0: every layer),
// sorted by layer, ecosystem, name, architecture, version. A database that cannot be
// parsed is an error naming the layer (index and digest) and the path; one that is not
// available is listed in `unavailable` and contributes no packages. base_layers > stack size
// is InvalidArgument.
absl::StatusOr<PackageInventory> BuildPackageInventory(std::string_view image,
                                                       const std::vector<LayerPackageDbs>& stack,
                                                       size_t base_layers,
                                                       const std::optional<Distro>& distro);

// ---------------------------------------------------------------------------------------
// The attachment, "layerseal.packages/v1":
//   {"format": "layerseal.packages/v1",
//    "image": "sha256:...", "base_layers": 1, "layers": 3,
//    "distro": {"id": "debian", "version_id": "12"},            (optional)
//    "packages": [{"name": "curl", "version": "7.88.1-10+deb12u5", "arch": "amd64",
//                  "ecosystem": "deb", "purl": "pkg:deb/debian/curl@...",
//                  "layer_index": 2, "layer_digest": "sha256:...",
//                  "change": "added" | "changed", "previous_version": "...",  (changed)
//                  "source": "curl", "source_version": "...",               (optional)
//                  "state": "unpacked"}],                                   (dpkg, optional)
//    "unavailable": [{"path": "/var/lib/rpm/Packages", "layer_index": 0,
//                     "layer_digest": "sha256:...", "reason": "not available: ..."}]}
//
// How it may grow: within v1 only by new optional members, in the document or in a package
// (e.g. "vulnerabilities": [...] per package, or "rules" results next turn, or packages a
// layer removed); readers of v1 ignore members they do not know, so an older controller
// keeps reading a newer agent's attachments. A member that changes meaning or becomes
// required is a new format string ("layerseal.packages/v2"), which v1 readers reject.
// ResourceExhausted when the document would exceed kMaxPackagesAttachmentBytes (what
// ParsePackagesAttachment reads) or list more than kMaxPackages packages.
absl::StatusOr<std::string> SerializePackagesAttachment(const PackageInventory& inv);

// Reads an attachment: strict JSON (duplicate keys, depth, size over
// kMaxPackagesAttachmentBytes), the format string exactly kPackagesFormat, every member
// above with its type (unknown members ignored), at most kMaxPackages packages, strings at
// most kMaxAttachmentStringBytes, package fields as CheckPackageField requires, ecosystem
// one of deb/apk/rpm, purl starting "pkg:<ecosystem>/". Errors name the member
// ("packages[3].layer_index"). The rpm epoch and version-release are recovered from the
// version ("E:V-R"). Round trip: Parse(Serialize(inv)) == inv.
absl::StatusOr<PackageInventory> ParsePackagesAttachment(std::string_view json);

bool operator==(const Distro& a, const Distro& b);
bool operator==(const InventoryPackage& a, const InventoryPackage& b);
bool operator==(const UnavailableDb& a, const UnavailableDb& b);
bool operator==(const PackageInventory& a, const PackageInventory& b);

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_PACKAGES_H_
