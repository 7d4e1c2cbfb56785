#include "verifier/layers/packages.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/str_cat.h"
#include "verifier/layers/packages_apk.h"
#include "verifier/layers/packages_dpkg.h"
#include "verifier/layers/packages_rpm.h"
#include "verifier/strict_json.h"

namespace layerseal::layers {
namespace {

constexpr std::string_view kDpkgStatus = "/var/lib/dpkg/status";
constexpr std::string_view kDpkgStatusDDir = "/var/lib/dpkg/status.d";
constexpr std::string_view kApkInstalled[] = {"/lib/apk/db/installed",
                                              "/usr/lib/apk/db/installed"};
constexpr std::string_view kRpmDirs[] = {"/var/lib/rpm", "/usr/lib/sysimage/rpm"};
// Every directory a database lives in (for DeletionAffectsPackageDbs).
constexpr std::string_view kDbDirs[] = {"/var/lib/dpkg", "/var/lib/dpkg/status.d",
                                        "/lib/apk/db", "/usr/lib/apk/db",
                                        "/var/lib/rpm", "/usr/lib/sysimage/rpm"};

bool HasPrefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool HasSuffix(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// `path` is `dir` or below it.
bool Under(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path == dir || (HasPrefix(path, dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

// ---- package URLs

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == '_' || c == '~';
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (Unreserved(c) || c == ':') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ---- the inventory

struct DbFile {
  PackageDbKind kind;
  size_t layer_index = 0;
  std::string layer_digest;
  std::vector<InstalledPackage> packages;
  std::string unavailable;  // non-empty: not available, the reason
};

// Ecosystem, name, architecture, version.
using Identity = std::tuple<int, std::string, std::string, std::string>;
using Slot = std::tuple<int, std::string, std::string>;  // without the version

Identity IdentityOf(const InstalledPackage& p) {
  return {static_cast<int>(p.ecosystem), p.name, p.arch, p.version};
}

struct Attribution {
  size_t layer_index = 0;
  bool changed = false;
  std::string previous_version;
};

struct View {
  std::map<Identity, const InstalledPackage*> packages;
  std::map<Identity, Attribution> attribution;
};

std::string LayerName(size_t i, std::string_view digest) {
  return StrCat("layer ", i, " (", digest, ")");
}

// ---- the attachment

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

absl::Status MemberError(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(StrCat("packages attachment: ", path, ": ", what));
}

const json* Find(const json& obj, std::string_view key) {
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

absl::StatusOr<std::string> Str(const json& obj, std::string_view path, std::string_view key,
                                bool required) {
  const json* v = Find(obj, key);
  std::string where = StrCat(path, path.empty() ? "" : ".", key);
  if (v == nullptr) {
    if (required) return MemberError(where, "missing");
    return std::string();
  }
  if (!v->is_string()) return MemberError(where, "not a string");
  std::string s = v->get<std::string>();
  if (s.size() > kMaxAttachmentStringBytes) {
    return MemberError(where, StrCat(s.size(), " bytes exceed the limit of ",
                                     kMaxAttachmentStringBytes));
  }
  if (required && s.empty()) return MemberError(where, "empty");
  return s;
}

absl::StatusOr<size_t> Count(const json& obj, std::string_view path, std::string_view key) {
  const json* v = Find(obj, key);
  std::string where = StrCat(path, path.empty() ? "" : ".", key);
  if (v == nullptr) return MemberError(where, "missing");
  if (!v->is_number_unsigned()) return MemberError(where, "not a non-negative integer");
  uint64_t n = v->get<uint64_t>();
  if (n > kMaxInventoryLayers) {
    return MemberError(where, StrCat(n, " exceeds the limit of ", kMaxInventoryLayers));
  }
  return static_cast<size_t>(n);
}

absl::StatusOr<InventoryPackage> PackageFromJson(const json& j, std::string_view path) {
  if (!j.is_object()) return MemberError(path, "not an object");
  InventoryPackage ip;
  InstalledPackage& p = ip.package;
  absl::StatusOr<std::string> eco = Str(j, path, "ecosystem", true);
  if (!eco.ok()) return eco.status();
  std::optional<Ecosystem> e = EcosystemFromName(*eco);
  if (!e) return MemberError(StrCat(path, ".ecosystem"), StrCat("\"", *eco, "\" is not deb, apk or rpm"));
  p.ecosystem = *e;
  struct Member {
    std::string_view key;
    std::string* out;
    bool required;
    bool package_field;
  };
  for (const Member& m : {Member{"name", &p.name, true, true},
                          Member{"version", &p.version, true, true},
                          Member{"arch", &p.arch, false, true},
                          Member{"source", &p.source, false, true},
                          Member{"source_version", &p.source_version, false, true},
                          Member{"state", &p.dpkg_state, false, true},
                          Member{"purl", &ip.purl, true, false},
                          Member{"layer_digest", &ip.layer_digest, true, false},
                          Member{"previous_version", &ip.previous_version, false, true}}) {
    absl::StatusOr<std::string> s = Str(j, path, m.key, m.required);
    if (!s.ok()) return s.status();
    if (m.package_field && !s->empty()) {
      if (absl::Status st = CheckPackageField(StrCat("packages attachment: ", path), m.key, *s);
          !st.ok()) {
        return st;
      }
    }
    *m.out = std::move(*s);
  }
  if (!HasPrefix(ip.purl, StrCat("pkg:", *eco, "/"))) {
    return MemberError(StrCat(path, ".purl"), StrCat("does not start with \"pkg:", *eco, "/\""));
  }
  absl::StatusOr<size_t> li = Count(j, path, "layer_index");
  if (!li.ok()) return li.status();
  ip.layer_index = *li;
  absl::StatusOr<std::string> change = Str(j, path, "change", true);
  if (!change.ok()) return change.status();
  if (*change != "added" && *change != "changed") {
    return MemberError(StrCat(path, ".change"), StrCat("\"", *change, "\" is not added or changed"));
  }
  ip.changed = *change == "changed";
  if (!ip.changed && !ip.previous_version.empty()) {
    return MemberError(StrCat(path, ".previous_version"), "given for an added package");
  }
  if (p.ecosystem == Ecosystem::kRpm) {
    // "E:V-R" or "V-R": the epoch is all digits before the first ':'.
    size_t colon = p.version.find(':');
    std::string_view epoch = std::string_view(p.version).substr(0, colon == std::string::npos ? 0 : colon);
    if (colon != std::string::npos && !epoch.empty() && epoch.size() <= 9 &&
        std::all_of(epoch.begin(), epoch.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      p.rpm_epoch = static_cast<unsigned>(std::stoul(std::string(epoch)));
      p.rpm_version_release = p.version.substr(colon + 1);
    } else {
      p.rpm_version_release = p.version;
    }
  }
  return ip;
}

}  // namespace

std::optional<PackageDbKind> PackageDbAt(std::string_view path) {
  if (path == kDpkgStatus) return PackageDbKind::kDpkgStatus;
  if (Under(path, kDpkgStatusDDir) && path.size() > kDpkgStatusDDir.size() + 1) {
    std::string_view name = path.substr(kDpkgStatusDDir.size() + 1);
    if (name.find('/') == std::string_view::npos && name[0] != '.' && !HasSuffix(name, ".md5sums")) {
      return PackageDbKind::kDpkgStatusD;
    }
    return std::nullopt;
  }
  for (std::string_view p : kApkInstalled) {
    if (path == p) return PackageDbKind::kApkInstalled;
  }
  for (std::string_view dir : kRpmDirs) {
    if (!Under(path, dir) || path.size() == dir.size()) continue;
    std::string_view name = path.substr(dir.size() + 1);
    if (name == "rpmdb.sqlite") return PackageDbKind::kRpmSqlite;
    if (name == "Packages") return PackageDbKind::kRpmBerkeleyDb;
    if (name == "Packages.db") return PackageDbKind::kRpmNdb;
  }
  return std::nullopt;
}

bool DeletionAffectsPackageDbs(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  if (PackageDbAt(path)) return true;
  for (std::string_view dir : kDbDirs) {
    if (Under(dir, path)) return true;
  }
  return false;
}

absl::StatusOr<std::vector<InstalledPackage>> ParsePackageDb(PackageDbKind kind,
                                                             std::string_view path,
                                                             std::string_view bytes) {
  switch (kind) {
    case PackageDbKind::kDpkgStatus: return ParseDpkgStatus(bytes, path);
    case PackageDbKind::kDpkgStatusD: return ParseDpkgStatusD(bytes, path);
    case PackageDbKind::kApkInstalled: return ParseApkInstalled(bytes, path);
    case PackageDbKind::kRpmSqlite:
    case PackageDbKind::kRpmBerkeleyDb:
    case PackageDbKind::kRpmNdb: return ParseRpmDatabase(path, bytes);
  }
  return absl::InternalError("unknown package database kind");
}

absl::StatusOr<Distro> ParseOsRelease(std::string_view bytes) {
  if (bytes.size() > (1u << 16)) {
    return absl::ResourceExhaustedError(StrCat("os-release: ", bytes.size(), " bytes"));
  }
  Distro d;
  bool have_id = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    std::string_view line =
        bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? bytes.size() : nl + 1;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "ID") {
      d.id = std::string(value);
      have_id = true;
    } else if (key == "VERSION_ID") {
      d.version_id = std::string(value);
    }
  }
  auto token = [](std::string_view v, bool lower_only) {
    if (v.empty() || v.size() > 64) return false;
    for (char c : v) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-' || (!lower_only && c >= 'A' && c <= 'Z');
      if (!ok) return false;
    }
    return true;
  };
  if (!have_id || !token(d.id, true)) {
    return absl::InvalidArgumentError(
        StrCat("os-release: ID ", have_id ? StrCat("\"", d.id.substr(0, 64), "\" is not a lower-case token") : "missing"));
  }
  if (!d.version_id.empty() && !token(d.version_id, false)) {
    return absl::InvalidArgumentError(StrCat("os-release: VERSION_ID \"",
                                             d.version_id.substr(0, 64), "\" is not a token"));
  }
  return d;
}

std::string PackageUrl(const InstalledPackage& p, const std::optional<Distro>& distro) {
  std::string_view type = EcosystemName(p.ecosystem);
  bool lower = p.ecosystem != Ecosystem::kRpm;
  std::string out = StrCat("pkg:", type, "/");
  if (distro && !distro->id.empty()) out += StrCat(PercentEncode(Lower(distro->id)), "/");
  out += PercentEncode(lower ? Lower(p.name) : p.name);
  std::string_view version = p.ecosystem == Ecosystem::kRpm ? p.rpm_version_release : p.version;
  out += StrCat("@", PercentEncode(version));
  std::vector<std::pair<std::string, std::string>> q;  // already in key order
  if (!p.arch.empty()) q.emplace_back("arch", p.arch);
  if (distro && !distro->id.empty() && !distro->version_id.empty()) {
    q.emplace_back("distro", StrCat(Lower(distro->id), "-", distro->version_id));
  }
  if (p.ecosystem == Ecosystem::kRpm && p.rpm_epoch) q.emplace_back("epoch", StrCat(*p.rpm_epoch));
  for (size_t i = 0; i < q.size(); ++i) {
    out += StrCat(i == 0 ? "?" : "&", q[i].first, "=", PercentEncode(q[i].second));
  }
  return out;
}

absl::StatusOr<PackageInventory> BuildPackageInventory(std::string_view image,
                                                       const std::vector<LayerPackageDbs>& stack,
                                                       size_t base_layers,
                                                       const std::optional<Distro>& distro) {
  if (stack.size() > kMaxInventoryLayers) {
    return absl::ResourceExhaustedError(StrCat("package inventory: ", stack.size(),
                                               " layers exceed the limit of ",
                                               kMaxInventoryLayers));
  }
  if (base_layers > stack.size()) {
    return absl::InvalidArgumentError(StrCat("package inventory: ", base_layers,
                                             " base layers in a stack of ", stack.size()));
  }
  std::map<std::string, DbFile> files;  // path -> the database present there now
  View view;
  for (size_t i = 0; i < stack.size(); ++i) {
    const LayerPackageDbs& layer = stack[i];
    if (layer.changes.empty()) continue;
    std::string lname = LayerName(i, layer.digest);
    for (const PackageDbChange& c : layer.changes) {
      if (c.path.empty() || c.path[0] != '/') {
        return absl::InvalidArgumentError(StrCat(lname, ": path \"", c.path.substr(0, 256),
                                                 "\" is not absolute"));
      }
      if (c.op != PackageDbChange::Op::kDelete) continue;
      for (auto it = files.begin(); it != files.end();) {
        it = Under(it->first, c.path) ? files.erase(it) : std::next(it);
      }
    }
    for (const PackageDbChange& c : layer.changes) {
      if (c.op != PackageDbChange::Op::kWrite) continue;
      std::optional<PackageDbKind> kind = PackageDbAt(c.path);
      if (!kind) {
        return absl::InvalidArgumentError(StrCat(lname, ": \"", c.path.substr(0, 256),
                                                 "\" is not a package database path"));
      }
      DbFile f{*kind, i, layer.digest, {}, {}};
      absl::StatusOr<std::vector<InstalledPackage>> pkgs = ParsePackageDb(*kind, c.path, c.bytes);
      if (IsPackageDbNotAvailable(pkgs.status())) {
        f.unavailable = std::string(Sv(pkgs.status().message()));
      } else if (!pkgs.ok()) {
        return absl::Status(pkgs.status().code(),
                            StrCat(lname, ": ", Sv(pkgs.status().message())));
      } else {
        f.packages = std::move(*pkgs);
      }
      files.insert_or_assign(c.path, std::move(f));
      if (files.size() > kMaxPackageDbFiles) {
        return absl::ResourceExhaustedError(StrCat(lname, ": more than ", kMaxPackageDbFiles,
                                                   " package database files"));
      }
    }
    // The view after this layer, and who introduced each package's version.
    View next;
    for (const auto& [path, f] : files) {
      for (const InstalledPackage& p : f.packages) {
        next.packages.emplace(IdentityOf(p), &p);  // the first file (path order) wins
        if (next.packages.size() > kMaxPackages) {
          return absl::ResourceExhaustedError(StrCat(lname, ": more than ", kMaxPackages,
                                                     " packages installed"));
        }
      }
    }
    std::map<Slot, std::string> before;  // the lowest version each slot had below
    for (const auto& [id, p] : view.packages) {
      Slot s{std::get<0>(id), std::get<1>(id), std::get<2>(id)};
      before.emplace(s, std::get<3>(id));  // map order: the lowest version comes first
    }
    for (const auto& [id, p] : next.packages) {
      auto old = view.attribution.find(id);
      if (old != view.attribution.end() && view.packages.count(id) != 0) {
        next.attribution.emplace(id, old->second);
        continue;
      }
      Attribution a;
      a.layer_index = i;
      auto b = before.find(Slot{std::get<0>(id), std::get<1>(id), std::get<2>(id)});
      if (b != before.end()) {
        a.changed = true;
        a.previous_version = b->second;
      }
      next.attribution.emplace(id, std::move(a));
    }
    view = std::move(next);
    // `view` points into `files`, which keeps its elements until they are erased or
    // replaced in a later layer; the next layer's view is built before `view` is read again.
  }
  PackageInventory inv;
  inv.image = std::string(image);
  inv.base_layers = base_layers;
  inv.layers = stack.size();
  inv.distro = distro;
  for (const auto& [id, p] : view.packages) {
    const Attribution& a = view.attribution.at(id);
    if (a.layer_index < base_layers) continue;
    InventoryPackage ip;
    ip.package = *p;
    ip.purl = PackageUrl(*p, distro);
    ip.layer_index = a.layer_index;
    ip.layer_digest = stack[a.layer_index].digest;
    ip.changed = a.changed;
    ip.previous_version = a.previous_version;
    inv.packages.push_back(std::move(ip));
  }
  std::stable_sort(inv.packages.begin(), inv.packages.end(),
                   [](const InventoryPackage& a, const InventoryPackage& b) {
                     return a.layer_index < b.layer_index;  // then identity order, kept
                   });
  for (const auto& [path, f] : files) {
    if (f.unavailable.empty()) continue;
    inv.unavailable.push_back({path, f.layer_index, f.layer_digest, f.unavailable});
  }
  return inv;
}

absl::StatusOr<std::string> SerializePackagesAttachment(const PackageInventory& inv) {
  if (inv.packages.size() > kMaxPackages) {
    return absl::ResourceExhaustedError(StrCat("packages attachment: ", inv.packages.size(),
                                               " packages exceed the limit of ", kMaxPackages));
  }
  ojson doc = ojson::object();
  doc["format"] = kPackagesFormat;
  doc["image"] = inv.image;
  doc["base_layers"] = inv.base_layers;
  doc["layers"] = inv.layers;
  if (inv.distro) {
    ojson d = ojson::object();
    d["id"] = inv.distro->id;
    if (!inv.distro->version_id.empty()) d["version_id"] = inv.distro->version_id;
    doc["distro"] = std::move(d);
  }
  ojson pkgs = ojson::array();
  for (const InventoryPackage& ip : inv.packages) {
    const InstalledPackage& p = ip.package;
    ojson j = ojson::object();
    j["name"] = p.name;
    j["version"] = p.version;
    if (!p.arch.empty()) j["arch"] = p.arch;
    j["ecosystem"] = EcosystemName(p.ecosystem);
    j["purl"] = ip.purl;
    j["layer_index"] = ip.layer_index;
    j["layer_digest"] = ip.layer_digest;
    j["change"] = ip.changed ? "changed" : "added";
    if (ip.changed && !ip.previous_version.empty()) j["previous_version"] = ip.previous_version;
    if (!p.source.empty()) j["source"] = p.source;
    if (!p.source_version.empty()) j["source_version"] = p.source_version;
    if (!p.dpkg_state.empty()) j["state"] = p.dpkg_state;
    pkgs.push_back(std::move(j));
  }
  doc["packages"] = std::move(pkgs);
  if (!inv.unavailable.empty()) {
    ojson un = ojson::array();
    for (const UnavailableDb& u : inv.unavailable) {
      ojson j = ojson::object();
      j["path"] = u.path;
      j["layer_index"] = u.layer_index;
      j["layer_digest"] = u.layer_digest;
      j["reason"] = u.reason;
      un.push_back(std::move(j));
    }
    doc["unavailable"] = std::move(un);
  }
  // The caller's strings (image, digests) may hold any bytes: invalid UTF-8 is replaced
  // rather than thrown.
  std::string out = doc.dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (out.size() > kMaxPackagesAttachmentBytes) {
    return absl::ResourceExhaustedError(StrCat("packages attachment: ", out.size(),
                                               " bytes exceed the limit of ",
                                               kMaxPackagesAttachmentBytes));
  }
  return out;
}

absl::StatusOr<PackageInventory> ParsePackagesAttachment(std::string_view text) {
  absl::StatusOr<json> doc = ParseStrictJson(text, kMaxPackagesAttachmentBytes);
  if (!doc.ok()) {
    return absl::Status(doc.status().code(),
                        StrCat("packages attachment: ", Sv(doc.status().message())));
  }
  if (!doc->is_object()) return MemberError("(document)", "not a JSON object");
  absl::StatusOr<std::string> format = Str(*doc, "", "format", true);
  if (!format.ok()) return format.status();
  if (*format != kPackagesFormat) {
    return MemberError("format", StrCat("\"", format->substr(0, 64), "\" is not \"",
                                        kPackagesFormat, "\""));
  }
  PackageInventory inv;
  absl::StatusOr<std::string> image = Str(*doc, "", "image", true);
  if (!image.ok()) return image.status();
  inv.image = std::move(*image);
  absl::StatusOr<size_t> base = Count(*doc, "", "base_layers");
  if (!base.ok()) return base.status();
  absl::StatusOr<size_t> layers = Count(*doc, "", "layers");
  if (!layers.ok()) return layers.status();
  if (*base > *layers) return MemberError("base_layers", "exceeds layers");
  inv.base_layers = *base;
  inv.layers = *layers;
  if (const json* d = Find(*doc, "distro"); d != nullptr) {
    if (!d->is_object()) return MemberError("distro", "not an object");
    absl::StatusOr<std::string> id = Str(*d, "distro", "id", true);
    if (!id.ok()) return id.status();
    absl::StatusOr<std::string> vid = Str(*d, "distro", "version_id", false);
    if (!vid.ok()) return vid.status();
    inv.distro = Distro{std::move(*id), std::move(*vid)};
  }
  const json* pkgs = Find(*doc, "packages");
  if (pkgs == nullptr) return MemberError("packages", "missing");
  if (!pkgs->is_array()) return MemberError("packages", "not an array");
  if (pkgs->size() > kMaxPackages) {
    return absl::ResourceExhaustedError(StrCat("packages attachment: ", pkgs->size(),
                                               " packages exceed the limit of ", kMaxPackages));
  }
  for (size_t i = 0; i < pkgs->size(); ++i) {
    std::string path = StrCat("packages[", i, "]");
    absl::StatusOr<InventoryPackage> ip = PackageFromJson((*pkgs)[i], path);
    if (!ip.ok()) return ip.status();
    if (ip->layer_index >= inv.layers || ip->layer_index < inv.base_layers) {
      return MemberError(StrCat(path, ".layer_index"),
                         StrCat(ip->layer_index, " is not a layer above the base (",
                                inv.base_layers, "..", inv.layers, ")"));
    }
    inv.packages.push_back(std::move(*ip));
  }
  if (const json* un = Find(*doc, "unavailable"); un != nullptr) {
    if (!un->is_array()) return MemberError("unavailable", "not an array");
    if (un->size() > kMaxPackageDbFiles) {
      return absl::ResourceExhaustedError(StrCat("packages attachment: ", un->size(),
                                                 " unavailable databases"));
    }
    for (size_t i = 0; i < un->size(); ++i) {
      std::string path = StrCat("unavailable[", i, "]");
      const json& u = (*un)[i];
      if (!u.is_object()) return MemberError(path, "not an object");
      UnavailableDb db;
      for (auto [key, out] : {std::pair{"path", &db.path}, std::pair{"layer_digest", &db.layer_digest},
                              std::pair{"reason", &db.reason}}) {
        absl::StatusOr<std::string> s = Str(u, path, key, true);
        if (!s.ok()) return s.status();
        *out = std::move(*s);
      }
      absl::StatusOr<size_t> li = Count(u, path, "layer_index");
      if (!li.ok()) return li.status();
      if (*li >= inv.layers) {
        return MemberError(StrCat(path, ".layer_index"), StrCat(*li, " is not below layers"));
      }
      db.layer_index = *li;
      inv.unavailable.push_back(std::move(db));
    }
  }
  return inv;
}

bool operator==(const Distro& a, const Distro& b) {
  return a.id == b.id && a.version_id == b.version_id;
}
bool operator==(const InventoryPackage& a, const InventoryPackage& b) {
  return a.package == b.package && a.purl == b.purl && a.layer_index == b.layer_index &&
         a.layer_digest == b.layer_digest && a.changed == b.changed &&
         a.previous_version == b.previous_version;
}
bool operator==(const UnavailableDb& a, const UnavailableDb& b) {
  return a.path == b.path && a.layer_index == b.layer_index &&
         a.layer_digest == b.layer_digest && a.reason == b.reason;
}
bool operator==(const PackageInventory& a, const PackageInventory& b) {
  return a.image == b.image && a.base_layers == b.base_layers && a.layers == b.layers &&
         a.distro == b.distro && a.packages == b.packages && a.unavailable == b.unavailable;
}

}  // namespace layerseal::layers
