// verifier/notation/trust.h: trust stores (files read with OpenSSL 3), trustedIdentities
// (an RFC 4514 subset, as notation-go's pkix.ParseDistinguishedName accepts it), levels.
#include "verifier/notation/trust.h"

#include <openssl/pem.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "base/ascii.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "base/utf8.h"
#include "verifier/internal/openssl_util.h"
#include "verifier/notation/x509.h"

namespace layerseal::notation {
namespace {

namespace fs = std::filesystem;

using TrCrlPtr = std::unique_ptr<X509_CRL, ossl::Deleter<X509_CRL, X509_CRL_free>>;
using TrBioPtr = std::unique_ptr<BIO, ossl::Deleter<BIO, BIO_free_all>>;

constexpr std::string_view kTrX509SubjectPrefix = "x509.subject";

// ---- certificate and CRL files -------------------------------------------------------------

bool TrLooksPem(std::string_view data) { return data.find("-----BEGIN ") != std::string_view::npos; }

std::string TrDerOfCrl(X509_CRL* c) {
  unsigned char* der = nullptr;
  int n = i2d_X509_CRL(c, &der);
  if (n <= 0) return "";
  ossl::BytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

// The PEM blocks of `data` of type `want` ("CERTIFICATE", "X509 CRL"), decoded; a block of
// another type, or a block that does not decode, is an error naming it.
absl::StatusOr<std::vector<std::string>> TrPemBlocks(std::string_view data, std::string_view want,
                                                   size_t max_blocks, const std::string& what) {
  TrBioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (bio == nullptr) return absl::InternalError(StrCat(what, ": ", ossl::LastError()));
  std::vector<std::string> out;
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* body = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &body, &len) != 1) {
      unsigned long e = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) break;
      return absl::InvalidArgumentError(StrCat(what, ": PEM block ", out.size() + 1,
                                               " does not decode"));
    }
    std::string type = name;
    std::string bytes(reinterpret_cast<const char*>(body), static_cast<size_t>(len));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(body);
    if (type != want) {
      return absl::InvalidArgumentError(
          StrCat(what, ": PEM block ", out.size() + 1, " is \"", ValidUtf8(type, true),
                 "\", not \"", want, "\""));
    }
    if (out.size() >= max_blocks) {
      return absl::ResourceExhaustedError(
          StrCat(what, ": more than ", max_blocks, " ", want, " blocks"));
    }
    out.push_back(std::move(bytes));
  }
  return out;
}

// The certificates of one file: PEM blocks, or DER certificates one after the other.
absl::StatusOr<std::vector<ossl::X509Ptr>> TrParseCertificateFile(std::string_view data,
                                                                 size_t max_certs,
                                                                 const std::string& what) {
  std::vector<std::string> ders;
  if (TrLooksPem(data)) {
    absl::StatusOr<std::vector<std::string>> blocks =
        TrPemBlocks(data, "CERTIFICATE", max_certs, what);
    if (!blocks.ok()) return blocks.status();
    ders = std::move(*blocks);
  } else {
    ders.emplace_back(data);  // DER, possibly several in a row
  }
  std::vector<ossl::X509Ptr> certs;
  for (size_t i = 0; i < ders.size(); ++i) {
    const unsigned char* p = ossl::Bytes(ders[i]);
    const unsigned char* end = p + ders[i].size();
    while (p < end) {
      if (certs.size() >= max_certs) {
        return absl::ResourceExhaustedError(StrCat(what, ": more than ", max_certs,
                                                   " certificates in the store"));
      }
      const unsigned char* start = p;
      ossl::X509Ptr x(d2i_X509(nullptr, &p, end - p));
      if (x == nullptr || p <= start) {
        std::string why = ossl::LastError();
        ERR_clear_error();
        return absl::InvalidArgumentError(StrCat(what, ": certificate ", certs.size() + 1,
                                                 " does not parse: ", why));
      }
      if (TrLooksPem(data) && p != end) {
        return absl::InvalidArgumentError(
            StrCat(what, ": PEM block ", i + 1, " has bytes after its certificate"));
      }
      certs.push_back(std::move(x));
    }
  }
  if (certs.empty()) return absl::InvalidArgumentError(StrCat(what, ": holds no certificate"));
  return certs;
}

bool TrIsCa(X509* x) { return (X509_get_extension_flags(x) & EXFLAG_CA) != 0; }

bool TrSelfSigned(X509* x) {
  EVP_PKEY* key = X509_get0_pubkey(x);
  bool ok = key != nullptr && X509_verify(x, key) == 1;
  ERR_clear_error();
  return ok;
}

bool TrHasCertExtension(const std::string& file) {
  std::string lower = AsciiLower(file);
  auto ends = [&](std::string_view suffix) {
    return lower.size() >= suffix.size() &&
           lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".pem") || ends(".crt") || ends(".cer");
}

absl::Status TrCheckStoreCertificate(X509* x, StoreType type, const std::string& what) {
  if (type == StoreType::kTsa) {
    // notation-go (truststore.go isRootCACertificate): TSA stores hold root certificates.
    if (!TrSelfSigned(x) ||
        X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0) {
      return absl::InvalidArgumentError(
          StrCat(what, ": certificate \"", SubjectText(ossl::CertDer(x)),
                 "\" is not a root certificate (self-signed, subject equal to issuer), as a "
                 "tsa trust store requires"));
    }
    return absl::OkStatus();
  }
  if (!TrIsCa(x) && !TrSelfSigned(x)) {
    return absl::InvalidArgumentError(
        StrCat(what, ": certificate \"", SubjectText(ossl::CertDer(x)),
               "\" is not a CA certificate (basicConstraints cA TRUE) or a self-signed "
               "signing certificate"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> TrLoadCrls(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFileLimited(path, kMaxCrlFileBytes, "CRL file");
  if (!data.ok()) return data.status();
  std::string what = StrCat("CRL file \"", path, "\"");
  std::vector<std::string> ders;
  if (TrLooksPem(*data)) {
    absl::StatusOr<std::vector<std::string>> blocks =
        TrPemBlocks(*data, "X509 CRL", kMaxCrlFileBytes, what);
    if (!blocks.ok()) return blocks.status();
    ders = std::move(*blocks);
  } else {
    ders.push_back(*data);
  }
  std::vector<std::string> out;
  for (const std::string& der : ders) {
    const unsigned char* p = ossl::Bytes(der);
    const unsigned char* end = p + der.size();
    while (p < end) {
      const unsigned char* start = p;
      TrCrlPtr crl(d2i_X509_CRL(nullptr, &p, end - p));
      if (crl == nullptr || p <= start) {
        std::string why = ossl::LastError();
        ERR_clear_error();
        return absl::InvalidArgumentError(
            StrCat(what, ": CRL ", out.size() + 1, " does not parse: ", why));
      }
      out.push_back(TrDerOfCrl(crl.get()));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError(StrCat(what, ": holds no CRL"));
  return out;
}

// ---- distinguished names --------------------------------------------------------------------

// The canonical name of an attribute type by NID ("" when OpenSSL does not know it).
std::string TrCanonicalTypeOfNid(int nid) {
  switch (nid) {
    case NID_countryName: return "C";
    case NID_stateOrProvinceName: return "ST";
    case NID_localityName: return "L";
    case NID_organizationName: return "O";
    case NID_organizationalUnitName: return "OU";
    case NID_commonName: return "CN";
    case NID_pkcs9_emailAddress: return "emailAddress";
    case NID_serialNumber: return "serialNumber";
    case NID_undef: return "";
    default: {
      const char* sn = OBJ_nid2sn(nid);
      return sn != nullptr ? sn : "";
    }
  }
}

std::string TrCanonicalTypeOfObject(const ASN1_OBJECT* obj) {
  std::string name = TrCanonicalTypeOfNid(OBJ_obj2nid(obj));
  if (!name.empty()) return name;
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  if (n <= 0 || n >= static_cast<int>(sizeof(buf))) return "";
  return buf;
}

bool TrIsDottedOid(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  bool dot = false;
  for (char c : s) {
    if (c == '.') {
      if (dot) return false;
      dot = true;
    } else if (c >= '0' && c <= '9') {
      dot = false;
    } else {
      return false;
    }
  }
  return s.find('.') != std::string_view::npos;
}

// The canonical name of a written attribute type, or "" when unknown.
std::string TrCanonicalTypeOfText(std::string_view type) {
  std::string upper;
  for (char c : type) upper.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
  if (upper == "C") return "C";
  if (upper == "ST" || upper == "S") return "ST";
  if (upper == "L") return "L";
  if (upper == "O") return "O";
  if (upper == "OU") return "OU";
  if (upper == "CN") return "CN";
  if (upper == "E" || upper == "EMAILADDRESS") return "emailAddress";
  if (upper == "SERIALNUMBER") return "serialNumber";
  std::string text(type);
  if (TrIsDottedOid(text)) {
    ossl::ObjPtr obj(OBJ_txt2obj(text.c_str(), 1));
    ERR_clear_error();
    return obj != nullptr ? TrCanonicalTypeOfObject(obj.get()) : "";
  }
  int nid = OBJ_txt2nid(text.c_str());
  ERR_clear_error();
  return TrCanonicalTypeOfNid(nid);
}

bool TrIsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int TrHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool TrIsSpace(char c) { return c == ' '; }

// Parses the DN `dn` into (type, value) pairs; `entry` names the whole entry in messages.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> TrParseDn(std::string_view dn,
                                                                         std::string_view entry) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("trusted identity \"", ValidUtf8(entry, true), "\": ", why));
  };
  if (dn.find("=#") != std::string_view::npos) {
    return bad("hex-encoded values (\"=#\") are not supported, as in notation");
  }
  std::vector<std::pair<std::string, std::string>> attrs;
  size_t i = 0;
  const size_t n = dn.size();
  while (true) {
    while (i < n && TrIsSpace(dn[i])) ++i;
    size_t eq = dn.find('=', i);
    if (eq == std::string_view::npos) {
      return bad(StrCat("RDN ", attrs.size() + 1, " has no '=' (a DN is TYPE=value, ...)"));
    }
    std::string_view type = dn.substr(i, eq - i);
    while (!type.empty() && TrIsSpace(type.back())) type.remove_suffix(1);
    if (type.empty()) return bad(StrCat("RDN ", attrs.size() + 1, " has no attribute type"));
    std::string canonical = TrCanonicalTypeOfText(type);
    if (canonical.empty()) {
      return bad(StrCat("unknown attribute type \"", ValidUtf8(type, true), "\""));
    }
    i = eq + 1;
    while (i < n && TrIsSpace(dn[i])) ++i;
    std::string value;
    size_t keep = 0;  // value's length up to its last escaped or non-space character
    bool end_of_rdn = false;
    while (i < n && !end_of_rdn) {
      char c = dn[i];
      if (c == '\\') {
        if (i + 1 >= n) return bad(StrCat("value of ", canonical, " ends in a lone '\\'"));
        char d = dn[i + 1];
        if (TrIsHex(d) && i + 2 < n && TrIsHex(dn[i + 2])) {
          value.push_back(static_cast<char>(TrHexValue(d) * 16 + TrHexValue(dn[i + 2])));
          i += 3;
        } else if (std::strchr(",+\"\\<>;=# ", d) != nullptr) {
          value.push_back(d);
          i += 2;
        } else {
          return bad(StrCat("value of ", canonical, ": bad escape \"\\", ValidUtf8(std::string(1, d), true), "\""));
        }
        keep = value.size();
        continue;
      }
      if (c == ',' || c == ';') {
        end_of_rdn = true;
        ++i;
        break;
      }
      if (c == '+') return bad("multi-valued RDNs ('+') are not supported");
      if (c == '"' || c == '<' || c == '>') {
        return bad(StrCat("value of ", canonical, ": character '", std::string(1, c),
                          "' must be escaped"));
      }
      value.push_back(c);
      if (!TrIsSpace(c)) keep = value.size();
      ++i;
    }
    value.resize(keep);
    if (value.empty()) return bad(StrCat("attribute ", canonical, " has an empty value"));
    if (ValidUtf8(value) != value) {
      return bad(StrCat("value of ", canonical, " is not valid UTF-8"));
    }
    for (const auto& [t, v] : attrs) {
      if (t == canonical) return bad(StrCat("attribute ", canonical, " appears more than once"));
    }
    attrs.emplace_back(std::move(canonical), std::move(value));
    if (!end_of_rdn) break;
    if (i >= n) return bad("ends in a separator");
  }
  for (std::string_view need : {"C", "ST", "O"}) {
    bool found = std::any_of(attrs.begin(), attrs.end(),
                             [&](const auto& a) { return a.first == need; });
    if (!found) {
      return bad(StrCat("has no ", need,
                        " attribute (an x509.subject identity must have C, ST (or S) and O)"));
    }
  }
  return attrs;
}

// The subject of a certificate as (canonical type, UTF-8 value) in the certificate's order;
// nullopt when a value does not convert or an RDN is multi-valued (notation cannot parse
// such a subject either, so it matches no identity).
struct TrSubjectAttributes {
  std::vector<std::pair<std::string, std::string>> attrs;
  bool usable = true;  // false: multi-valued RDN, duplicate type or unconvertible value
};

std::string TrEntryValue(const X509_NAME_ENTRY* e, bool* ok) {
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
  if (len < 0) {
    ERR_clear_error();
    *ok = false;
    return "";
  }
  ossl::BytesPtr owned(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
}

TrSubjectAttributes TrSubjectOf(X509* x) {
  TrSubjectAttributes out;
  const X509_NAME* name = X509_get_subject_name(x);
  int count = X509_NAME_entry_count(name);
  int last_set = -1;
  for (int k = 0; k < count; ++k) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, k);
    int set = X509_NAME_ENTRY_set(e);
    if (set == last_set) out.usable = false;
    last_set = set;
    bool ok = true;
    std::string value = TrEntryValue(e, &ok);
    std::string type = TrCanonicalTypeOfObject(X509_NAME_ENTRY_get_object(e));
    if (!ok || type.empty()) out.usable = false;
    for (const auto& [t, v] : out.attrs) {
      if (t == type) out.usable = false;
    }
    out.attrs.emplace_back(std::move(type), std::move(value));
  }
  return out;
}

std::string TrEscapeDnValue(std::string_view v) {
  std::string out;
  for (size_t k = 0; k < v.size(); ++k) {
    char c = v[k];
    bool special = std::strchr(",+\"\\<>;", c) != nullptr && c != '\0';
    if (special || (k == 0 && (c == '#' || c == ' ')) || (k + 1 == v.size() && c == ' ')) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

// ---- names ---------------------------------------------------------------------------------

std::string_view StoreTypeName(StoreType t) {
  switch (t) {
    case StoreType::kCa: return "ca";
    case StoreType::kSigningAuthority: return "signingAuthority";
    case StoreType::kTsa: return "tsa";
  }
  return "unknown";
}

absl::StatusOr<StoreType> ParseStoreType(std::string_view name) {
  for (StoreType t : {StoreType::kCa, StoreType::kSigningAuthority, StoreType::kTsa}) {
    if (name == StoreTypeName(t)) return t;
  }
  return absl::InvalidArgumentError(StrCat("trust store type \"", ValidUtf8(name, true),
                                           "\" is not one of ca, signingAuthority, tsa"));
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kStrict: return "strict";
    case Level::kPermissive: return "permissive";
    case Level::kAudit: return "audit";
    case Level::kSkip: return "skip";
  }
  return "unknown";
}

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  for (Level l : {Level::kStrict, Level::kPermissive, Level::kAudit, Level::kSkip}) {
    if (name == LevelName(l)) return l;
  }
  return absl::InvalidArgumentError(StrCat("verification level \"", ValidUtf8(name, true),
                                           "\" is not one of strict, permissive, audit, skip"));
}

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kEnforce: return "enforce";
    case Action::kLog: return "log";
    case Action::kSkip: return "skip";
  }
  return "unknown";
}

Actions ActionsFor(Level level) {
  Actions a;
  switch (level) {
    case Level::kStrict:
      break;
    case Level::kPermissive:
      a.authentic_timestamp = a.expiry = a.revocation = Action::kLog;
      break;
    case Level::kAudit:
      a.authenticity = a.authentic_timestamp = a.expiry = a.revocation = Action::kLog;
      break;
    case Level::kSkip:
      a.authenticity = a.authentic_timestamp = a.expiry = a.revocation = Action::kSkip;
      break;
  }
  return a;
}

absl::StatusOr<Actions> ApplyOverrides(
    Level level, const std::vector<std::pair<std::string, std::string>>& overrides) {
  Actions a = ActionsFor(level);
  if (overrides.empty()) return a;
  if (level == Level::kSkip) {
    return absl::InvalidArgumentError(StrCat("override \"", ValidUtf8(overrides[0].first, true),
                                             "\": level skip cannot be overridden"));
  }
  std::vector<std::string> seen;
  for (const auto& [key, value] : overrides) {
    std::string k = ValidUtf8(key, true);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return absl::InvalidArgumentError(StrCat("override \"", k, "\" is given twice"));
    }
    seen.push_back(key);
    Action* slot = nullptr;
    if (key == "authenticity") {
      slot = &a.authenticity;
    } else if (key == "authenticTimestamp") {
      slot = &a.authentic_timestamp;
    } else if (key == "expiry") {
      slot = &a.expiry;
    } else if (key == "revocation") {
      slot = &a.revocation;
    } else if (key == "integrity") {
      return absl::InvalidArgumentError("override \"integrity\": integrity is always enforced");
    } else {
      return absl::InvalidArgumentError(
          StrCat("override \"", k,
                 "\" is not one of authenticity, authenticTimestamp, expiry, revocation"));
    }
    if (value == "enforce") {
      *slot = Action::kEnforce;
    } else if (value == "log") {
      *slot = Action::kLog;
    } else if (value == "skip" && key == "revocation") {
      *slot = Action::kSkip;
    } else if (value == "skip") {
      return absl::InvalidArgumentError(StrCat("override \"", k, "\": ", k,
                                               " cannot be skipped (only revocation can)"));
    } else {
      return absl::InvalidArgumentError(StrCat("override \"", k, "\": action \"",
                                               ValidUtf8(value, true),
                                               "\" is not one of enforce, log, skip"));
    }
  }
  return a;
}

// ---- trust stores --------------------------------------------------------------------------

absl::StatusOr<TrustStore> LoadTrustStore(std::string name, StoreType type,
                                          const std::string& dir, const std::string& crl_path) {
  ossl::ClearErrorsOnExit clear;
  std::string label = StrCat("trust store \"", ValidUtf8(name, true), "\" (",
                             StoreTypeName(type), ", \"", dir, "\")");
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(StrCat(label, ": directory does not exist"));
    }
    return absl::PermissionDeniedError(StrCat(label, ": ", std::strerror(err)));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::InvalidArgumentError(
        StrCat(label, ": the directory is a symlink (the Notary Project spec forbids them)"));
  }
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(StrCat(label, ": not a directory"));

  std::vector<std::string> files;
  std::error_code ec;
  const fs::path real_dir = fs::canonical(dir, ec);
  if (ec) return absl::PermissionDeniedError(StrCat(label, ": ", ec.message()));
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string file = it->path().filename().string();
    // Hidden entries are not certificates: a Kubernetes ConfigMap or Secret volume keeps its
    // real files under "..data" / "..<timestamp>" (see below).
    if (file.empty() || file[0] == '.') continue;
    fs::file_status s = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_symlink(s)) {
      // The spec forbids symlinks so that a store holds exactly what its directory shows.
      // One kind keeps that promise and is how Kubernetes mounts every ConfigMap and Secret:
      // a link whose target lies inside the store directory itself (cert.pem ->
      // ..data/cert.pem). That kind is read; a link leading anywhere else is refused.
      std::error_code link_ec;
      fs::path target = fs::canonical(it->path(), link_ec);
      std::string inside = real_dir.string() + "/";
      if (link_ec || target.string().compare(0, inside.size(), inside) != 0 ||
          !fs::is_regular_file(fs::status(target, link_ec))) {
        return absl::InvalidArgumentError(StrCat(label, ": \"", file,
                                                 "\" is a symlink leading outside the store "
                                                 "directory (the Notary Project spec forbids "
                                                 "symlinks; only a ConfigMap-style link to a "
                                                 "file inside the directory is read)"));
      }
      if (TrHasCertExtension(file)) files.push_back(file);
      continue;
    }
    if (fs::is_regular_file(s) && TrHasCertExtension(file)) files.push_back(file);
  }
  if (ec) return absl::PermissionDeniedError(StrCat(label, ": cannot list: ", ec.message()));
  std::sort(files.begin(), files.end());

  TrustStore store;
  store.anchors = std::shared_ptr<X509_STORE>(X509_STORE_new(), X509_STORE_free);
  if (store.anchors == nullptr) return absl::ResourceExhaustedError(StrCat(label, ": out of memory"));
  store.name = std::move(name);
  store.type = type;
  store.dir = dir;
  for (const std::string& file : files) {
    std::string path = (fs::path(dir) / file).string();
    store.files.push_back(path);
    absl::StatusOr<std::string> data =
        ReadFileLimited(path, kMaxTrustStoreFileBytes, "trust store certificate file");
    if (!data.ok()) return absl::Status(data.status().code(), StrCat(label, ": ", Sv(data.status().message())));
    std::string what = StrCat(label, ": \"", file, "\"");
    absl::StatusOr<std::vector<ossl::X509Ptr>> certs = TrParseCertificateFile(
        *data, kMaxTrustStoreCertificates - store.certs_der.size(), what);
    if (!certs.ok()) return certs.status();
    for (ossl::X509Ptr& x : *certs) {
      absl::Status ok = TrCheckStoreCertificate(x.get(), type, what);
      if (!ok.ok()) return ok;
      if (X509_STORE_add_cert(store.anchors.get(), x.get()) != 1) {
        // The same certificate twice (in two files) is harmless; anything else is not.
        unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
          return absl::InternalError(StrCat(what, ": cannot add certificate to the store"));
        }
      }
      std::string der = ossl::CertDer(x.get());
      store.thumbprints.push_back(Thumbprint(der));
      store.certs_der.push_back(std::move(der));
    }
  }
  if (store.certs_der.empty()) {
    return absl::InvalidArgumentError(
        StrCat(label, ": holds no certificate (.pem, .crt or .cer files)"));
  }
  if (!crl_path.empty()) {
    absl::StatusOr<std::vector<std::string>> crls = TrLoadCrls(crl_path);
    if (!crls.ok()) {
      return absl::Status(crls.status().code(), StrCat(label, ": ", Sv(crls.status().message())));
    }
    store.crls_der = std::move(*crls);
    store.crl_path = crl_path;
  }
  return store;
}

// ---- identities ----------------------------------------------------------------------------

absl::StatusOr<TrustedIdentity> ParseTrustedIdentity(std::string_view text) {
  ossl::ClearErrorsOnExit clear;
  TrustedIdentity id;
  if (text.size() > kMaxIdentityLength) {
    return absl::InvalidArgumentError(StrCat("trusted identity \"",
                                             TruncateUtf8(text, 64), "\" is ", text.size(),
                                             " bytes; at most ", kMaxIdentityLength));
  }
  id.text = std::string(text);
  if (text == "*") {
    id.any = true;
    return id;
  }
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat("trusted identity \"", ValidUtf8(text, true),
               "\": neither \"*\" nor \"x509.subject: <DN>\" (no ':')"));
  }
  std::string_view prefix = text.substr(0, colon);
  if (prefix != kTrX509SubjectPrefix) {
    return absl::InvalidArgumentError(StrCat("trusted identity \"", ValidUtf8(text, true),
                                             "\": unknown prefix \"", ValidUtf8(prefix, true),
                                             "\" (only x509.subject is supported)"));
  }
  std::string_view dn = text.substr(colon + 1);
  while (!dn.empty() && TrIsSpace(dn.front())) dn.remove_prefix(1);
  if (dn.empty()) {
    return absl::InvalidArgumentError(
        StrCat("trusted identity \"", ValidUtf8(text, true), "\": empty distinguished name"));
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> attrs = TrParseDn(dn, text);
  if (!attrs.ok()) return attrs.status();
  id.attributes = std::move(*attrs);
  return id;
}

namespace {
bool TrAttributesSubset(const TrustedIdentity& a, const TrustedIdentity& b) {
  for (const auto& [t, v] : a.attributes) {
    bool found = false;
    for (const auto& [t2, v2] : b.attributes) {
      if (t == t2 && v == v2) found = true;
    }
    if (!found) return false;
  }
  return true;
}
}  // namespace

absl::StatusOr<std::vector<TrustedIdentity>> ParseTrustedIdentities(
    const std::vector<std::string>& texts) {
  if (texts.empty()) return absl::InvalidArgumentError("trustedIdentities is empty");
  if (texts.size() > kMaxTrustedIdentities) {
    return absl::InvalidArgumentError(StrCat("trustedIdentities has ", texts.size(),
                                             " entries; at most ", kMaxTrustedIdentities));
  }
  std::vector<TrustedIdentity> out;
  for (const std::string& t : texts) {
    absl::StatusOr<TrustedIdentity> id = ParseTrustedIdentity(t);
    if (!id.ok()) return id.status();
    if (id->any && texts.size() > 1) {
      return absl::InvalidArgumentError(
          "trustedIdentities: the wildcard \"*\" cannot be combined with other entries");
    }
    out.push_back(std::move(*id));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t j = 0; j < out.size(); ++j) {
      if (i != j && TrAttributesSubset(out[i], out[j])) {
        return absl::InvalidArgumentError(StrCat(
            "trustedIdentities: \"", ValidUtf8(out[i].text, true), "\" overlaps with \"",
            ValidUtf8(out[j].text, true), "\" (a certificate could match both)"));
      }
    }
  }
  return out;
}

bool IdentityMatches(const TrustedIdentity& id, std::string_view leaf_der) {
  ossl::ClearErrorsOnExit clear;
  ossl::X509Ptr x = ossl::ParseCertDer(leaf_der);
  if (x == nullptr) return false;
  if (id.any) return true;
  TrSubjectAttributes subject = TrSubjectOf(x.get());
  if (!subject.usable) return false;
  for (const auto& [t, v] : id.attributes) {
    bool found = false;
    for (const auto& [t2, v2] : subject.attrs) {
      if (t == t2 && v == v2) found = true;
    }
    if (!found) return false;
  }
  return true;
}

std::string SubjectText(std::string_view der) {
  ossl::ClearErrorsOnExit clear;
  ossl::X509Ptr x = ossl::ParseCertDer(der);
  if (x == nullptr) return "";
  const X509_NAME* name = X509_get_subject_name(x.get());
  std::string out;
  int last_set = -1;
  for (int k = 0; k < X509_NAME_entry_count(name); ++k) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, k);
    int set = X509_NAME_ENTRY_set(e);
    if (k > 0) out += set == last_set ? "+" : ", ";
    last_set = set;
    bool ok = true;
    std::string value = TrEntryValue(e, &ok);
    std::string type = TrCanonicalTypeOfObject(X509_NAME_ENTRY_get_object(e));
    out += type.empty() ? "?" : type;
    out += '=';
    out += ok ? TrEscapeDnValue(ValidUtf8(value)) : "?";
  }
  return out;
}

}  // namespace layerseal::notation
