#include "verifier/layers/packages_apk.h"

#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "base/str_cat.h"

namespace layerseal::layers {
namespace {

struct Value {
  std::string value;
  size_t line = 0;
};

struct Record {
  size_t line = 0;  // its first line
  std::optional<Value> name, version, arch, origin;
};

absl::StatusOr<InstalledPackage> FromRecord(const Record& r, std::string_view where) {
  if (!r.name) {
    return absl::InvalidArgumentError(
        StrCat(where, " record at line ", r.line, ": no P: (name) line"));
  }
  if (!r.version) {
    return absl::InvalidArgumentError(StrCat(where, " record at line ", r.line, " (P:",
                                             r.name->value, "): no V: (version) line"));
  }
  InstalledPackage p;
  p.ecosystem = Ecosystem::kApk;
  for (auto [v, field, out] : {std::tuple{&r.name, "P (name)", &p.name},
                               std::tuple{&r.version, "V (version)", &p.version},
                               std::tuple{&r.arch, "A (architecture)", &p.arch},
                               std::tuple{&r.origin, "o (origin)", &p.source}}) {
    if (!*v) continue;
    if (absl::Status s = CheckPackageField(StrCat(where, " line ", (*v)->line), field,
                                           (*v)->value);
        !s.ok()) {
      return s;
    }
    *out = (*v)->value;
  }
  return p;
}

}  // namespace

absl::StatusOr<std::vector<InstalledPackage>> ParseApkInstalled(std::string_view bytes,
                                                                std::string_view where) {
  if (bytes.size() > kMaxApkInstalledBytes) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", bytes.size(),
                                               " bytes exceed the limit of ",
                                               kMaxApkInstalledBytes));
  }
  if (size_t nul = bytes.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(where, ": NUL byte at offset ", nul));
  }
  std::vector<InstalledPackage> out;
  std::optional<Record> cur;
  size_t records = 0;
  auto finish = [&]() -> absl::Status {
    if (!cur) return absl::OkStatus();
    if (++records > kMaxApkRecords) {
      return absl::ResourceExhaustedError(StrCat(where, ": more than ", kMaxApkRecords,
                                                 " records"));
    }
    absl::StatusOr<InstalledPackage> p = FromRecord(*cur, where);
    cur.reset();
    if (!p.ok()) return p.status();
    out.push_back(std::move(*p));
    return absl::OkStatus();
  };
  size_t pos = 0, line_no = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    std::string_view line =
        bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? bytes.size() : nl + 1;
    ++line_no;
    if (line.empty()) {
      if (absl::Status s = finish(); !s.ok()) return s;
      continue;
    }
    if (line.size() < 2 || line[1] != ':' || line[0] == ' ' || line[0] == '\t') {
      return absl::InvalidArgumentError(
          StrCat(where, " line ", line_no, ": not a \"X:value\" line"));
    }
    if (!cur) {
      cur.emplace();
      cur->line = line_no;
    }
    std::optional<Value>* slot = nullptr;
    switch (line[0]) {
      case 'P': slot = &cur->name; break;
      case 'V': slot = &cur->version; break;
      case 'A': slot = &cur->arch; break;
      case 'o': slot = &cur->origin; break;
      default: break;
    }
    if (slot == nullptr) continue;
    if (slot->has_value()) {
      return absl::InvalidArgumentError(StrCat(where, " line ", line_no, ": a second ",
                                               line.substr(0, 2), " line in the record"));
    }
    *slot = Value{std::string(line.substr(2)), line_no};
  }
  if (absl::Status s = finish(); !s.ok()) return s;
  return out;
}

}  // namespace layerseal::layers
