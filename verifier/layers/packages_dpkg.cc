#include "verifier/layers/packages_dpkg.h"

#include <array>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "base/str_cat.h"

namespace layerseal::layers {
namespace {

// A field this parser keeps, with the line it was on (for messages).
struct Field {
  std::string value;
  size_t line = 0;
};

struct Stanza {
  size_t line = 0;  // its first line
  std::optional<Field> package, version, architecture, source, status;
};

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

std::string At(std::string_view where, size_t line) { return StrCat(where, " line ", line); }

// Splits `bytes` into stanzas, keeping the five fields this parser reads.
absl::StatusOr<std::vector<Stanza>> ReadStanzas(std::string_view bytes, std::string_view where) {
  if (bytes.size() > kMaxDpkgStatusBytes) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", bytes.size(),
                                               " bytes exceed the limit of ",
                                               kMaxDpkgStatusBytes));
  }
  if (size_t nul = bytes.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(where, ": NUL byte at offset ", nul));
  }
  std::vector<Stanza> stanzas;
  std::optional<Stanza> cur;
  std::set<std::string> seen;           // field names of `cur`, lower case
  std::optional<Field>* last = nullptr;  // the kept field the previous line set, if any
  bool in_field = false;                 // a field line was seen in `cur`
  size_t line_no = 0;
  size_t pos = 0;
  auto finish = [&]() -> absl::Status {
    if (!cur) return absl::OkStatus();
    if (stanzas.size() >= kMaxDpkgStanzas) {
      return absl::ResourceExhaustedError(StrCat(where, ": more than ", kMaxDpkgStanzas,
                                                 " stanzas"));
    }
    stanzas.push_back(std::move(*cur));
    cur.reset();
    seen.clear();
    last = nullptr;
    in_field = false;
    return absl::OkStatus();
  };
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    std::string_view line =
        bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? bytes.size() : nl + 1;
    ++line_no;
    if (IsBlank(line)) {
      if (absl::Status s = finish(); !s.ok()) return s;
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (!in_field) {
        return absl::InvalidArgumentError(
            StrCat(At(where, line_no), ": continuation line before any field"));
      }
      if (last != nullptr) {
        return absl::InvalidArgumentError(StrCat(At(where, line_no),
                                                 ": field continues over lines (a name, "
                                                 "version, architecture, source or status "
                                                 "is one line)"));
      }
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          StrCat(At(where, line_no), ": not a \"Field: value\" line"));
    }
    std::string name = LowerCopy(line.substr(0, colon));
    if (name.find_first_of(" \t") != std::string::npos) {
      return absl::InvalidArgumentError(
          StrCat(At(where, line_no), ": field name \"", line.substr(0, colon),
                 "\" has a space"));
    }
    if (!cur) {
      cur.emplace();
      cur->line = line_no;
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(StrCat(At(where, line_no), ": field \"",
                                               line.substr(0, colon),
                                               "\" appears twice in the stanza"));
    }
    in_field = true;
    last = nullptr;
    std::optional<Field>* slot = nullptr;
    if (name == "package") slot = &cur->package;
    else if (name == "version") slot = &cur->version;
    else if (name == "architecture") slot = &cur->architecture;
    else if (name == "source") slot = &cur->source;
    else if (name == "status") slot = &cur->status;
    if (slot != nullptr) {
      *slot = Field{std::string(Trim(line.substr(colon + 1))), line_no};
      last = slot;
    }
  }
  if (absl::Status s = finish(); !s.ok()) return s;
  return stanzas;
}

// The package states whose files may be on disk (see the header).
constexpr std::array<std::string_view, 6> kOnDiskStates = {
    "installed", "half-installed", "unpacked", "half-configured", "triggers-awaited",
    "triggers-pending"};
constexpr std::array<std::string_view, 4> kWants = {"unknown", "install", "hold", "deinstall"};
constexpr std::array<std::string_view, 2> kEflags = {"ok", "reinstreq"};

template <size_t N>
bool OneOf(std::string_view w, const std::array<std::string_view, N>& set) {
  for (std::string_view s : set) {
    if (w == s) return true;
  }
  return false;
}

// "want eflag status" -> the state word; an error for anything else.
absl::StatusOr<std::string> StatusState(const Field& f, std::string_view where) {
  std::vector<std::string_view> words;
  std::string_view v = f.value;
  while (!v.empty()) {
    size_t sp = v.find_first_of(" \t");
    std::string_view w = v.substr(0, sp);
    if (!w.empty()) words.push_back(w);
    if (sp == std::string_view::npos) break;
    v = v.substr(sp + 1);
  }
  std::string bad;
  if (words.size() != 3) {
    bad = "is not three words";
  } else if (!OneOf(words[0], kWants) && words[0] != "purge") {
    bad = StrCat("has an unknown selection \"", words[0], "\"");
  } else if (!OneOf(words[1], kEflags)) {
    bad = StrCat("has an unknown error flag \"", words[1], "\"");
  } else if (!OneOf(words[2], kOnDiskStates) && words[2] != "not-installed" &&
             words[2] != "config-files") {
    bad = StrCat("has an unknown state \"", words[2], "\"");
  }
  if (!bad.empty()) {
    std::string shown = f.value.substr(0, 80);
    return absl::InvalidArgumentError(
        StrCat(At(where, f.line), ": Status \"", shown, "\" ", bad));
  }
  return std::string(words[2]);
}

absl::Status CheckField(const std::optional<Field>& f, std::string_view field,
                        std::string_view where, size_t stanza_line) {
  if (!f) {
    return absl::InvalidArgumentError(
        StrCat(where, " stanza at line ", stanza_line, ": no ", field, " field"));
  }
  return CheckPackageField(At(where, f->line), field, f->value);
}

// The package a stanza describes; nullopt when its state is skipped.
absl::StatusOr<std::optional<InstalledPackage>> FromStanza(const Stanza& st,
                                                          std::string_view where) {
  if (absl::Status s = CheckField(st.package, "Package", where, st.line); !s.ok()) return s;
  if (!st.status) {
    return absl::InvalidArgumentError(StrCat(where, " stanza at line ", st.line, " (Package ",
                                             st.package->value, "): no Status field"));
  }
  absl::StatusOr<std::string> state = StatusState(*st.status, where);
  if (!state.ok()) return state.status();
  if (!OneOf(std::string_view(*state), kOnDiskStates)) return std::nullopt;
  if (absl::Status s = CheckField(st.version, "Version", where, st.line); !s.ok()) return s;
  if (absl::Status s = CheckField(st.architecture, "Architecture", where, st.line); !s.ok()) {
    return s;
  }
  InstalledPackage p;
  p.ecosystem = Ecosystem::kDeb;
  p.name = st.package->value;
  p.version = st.version->value;
  p.arch = st.architecture->value;
  if (*state != "installed") p.dpkg_state = *state;
  if (st.source) {
    // "name" or "name (version)".
    std::string_view v = st.source->value;
    std::string_view name = v, version;
    if (size_t sp = v.find(' '); sp != std::string_view::npos) {
      name = v.substr(0, sp);
      std::string_view rest = Trim(v.substr(sp + 1));
      if (rest.size() < 3 || rest.front() != '(' || rest.back() != ')') {
        return absl::InvalidArgumentError(StrCat(At(where, st.source->line),
                                                 ": Source is not \"name\" or "
                                                 "\"name (version)\""));
      }
      version = Trim(rest.substr(1, rest.size() - 2));
      if (absl::Status s = CheckPackageField(At(where, st.source->line), "Source version",
                                             version);
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = CheckPackageField(At(where, st.source->line), "Source", name);
        !s.ok()) {
      return s;
    }
    p.source = std::string(name);
    p.source_version = std::string(version);
  }
  return p;
}

}  // namespace

absl::StatusOr<std::vector<InstalledPackage>> ParseDpkgStatus(std::string_view bytes,
                                                              std::string_view where) {
  absl::StatusOr<std::vector<Stanza>> stanzas = ReadStanzas(bytes, where);
  if (!stanzas.ok()) return stanzas.status();
  std::vector<InstalledPackage> out;
  for (const Stanza& st : *stanzas) {
    absl::StatusOr<std::optional<InstalledPackage>> p = FromStanza(st, where);
    if (!p.ok()) return p.status();
    if (p->has_value()) out.push_back(std::move(**p));
  }
  return out;
}

absl::StatusOr<std::vector<InstalledPackage>> ParseDpkgStatusD(std::string_view bytes,
                                                               std::string_view where) {
  absl::StatusOr<std::vector<Stanza>> stanzas = ReadStanzas(bytes, where);
  if (!stanzas.ok()) return stanzas.status();
  if (stanzas->size() != 1) {
    return absl::InvalidArgumentError(StrCat(where, ": ", stanzas->size(),
                                             " stanzas; a status.d file holds exactly one"));
  }
  absl::StatusOr<std::optional<InstalledPackage>> p = FromStanza(stanzas->front(), where);
  if (!p.ok()) return p.status();
  std::vector<InstalledPackage> out;
  if (p->has_value()) out.push_back(std::move(**p));
  return out;
}

}  // namespace layerseal::layers
