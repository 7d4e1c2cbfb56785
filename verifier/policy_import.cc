#include "verifier/policy_import.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/crypto.h"
#include "verifier/manifest.h"
#include "verifier/notation/trust.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal {

namespace {

using json = nlohmann::json;

std::string Member(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string(name) : StrCat(parent, ".", name);
}
std::string Element(std::string_view parent, size_t i) { return StrCat(parent, "[", i, "]"); }
// `parent["name"]`, the name JSON-quoted (it can be any text).
std::string Named(std::string_view parent, std::string_view name) {
  return StrCat(parent, "[", json(std::string(name)).dump(), "]");
}
// A string for the YAML output: JSON's double-quoted form is YAML's too.
std::string Quoted(std::string_view s) { return json(std::string(s)).dump(); }

absl::Status Err(std::string_view path, std::string_view why) {
  return absl::InvalidArgumentError(StrCat(path, ": ", why));
}

// The members of `object` must be among `allowed`.
absl::Status OnlyMembers(const json& object, std::string_view path,
                         std::initializer_list<std::string_view> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (std::string_view a : allowed) known = known || it.key() == a;
    if (!known) return Err(Member(path, it.key()), "not supported by layerseal policy import");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> String(const json& j, std::string_view path) {
  if (!j.is_string()) return Err(path, "expected a string");
  return j.get<std::string>();
}

// The DER of every certificate in `pem` (at least one, at most kMaxImportedCaCerts).
absl::StatusOr<std::vector<std::string>> CertificatesDer(std::string_view pem, std::string_view path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  std::vector<std::string> out;
  while (true) {
    X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (raw == nullptr) break;
    std::unique_ptr<X509, decltype(&X509_free)> cert(raw, &X509_free);
    if (out.size() == kMaxImportedCaCerts) {
      return Err(path, StrCat("more than ", kMaxImportedCaCerts, " certificates"));
    }
    unsigned char* der = nullptr;
    int n = i2d_X509(cert.get(), &der);
    if (n <= 0) return Err(path, "a certificate that cannot be encoded");
    out.emplace_back(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
  }
  if (out.empty()) return Err(path, "no PEM certificate");
  return out;
}

std::string PublicKeyDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

// The DER SubjectPublicKeyInfo of the one public key in `pem`.
absl::StatusOr<std::string> OnePublicKeyDer(std::string_view pem, std::string_view path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (key == nullptr) return Err(path, "not a PEM public key");
  std::string der = PublicKeyDer(key.get());
  if (der.empty()) return Err(path, "a public key that cannot be encoded");
  return der;
}

// Counts "-----BEGIN " lines: one file, one key (a second would silently be dropped).
size_t PemBlocks(std::string_view pem) {
  size_t n = 0;
  for (size_t at = pem.find("-----BEGIN "); at != std::string_view::npos; at = pem.find("-----BEGIN ", at + 1)) ++n;
  return n;
}

struct Scope {
  std::string requirement = "reject";
  bool cosign = false;
  std::vector<std::string> keys;        // policy key names
  std::vector<std::string> identities;  // policy identity names
  bool require_tlog = false;
  bool trusted_root = false;
};

class Importer {
 public:
  explicit Importer(const ImportOptions& options) : options_(options) {}
  absl::StatusOr<ImportedPolicy> Run(std::string_view text);

 private:
  absl::StatusOr<Scope> Requirements(const json& list, const std::string& path);
  absl::StatusOr<Scope> SigstoreSigned(const json& req, const std::string& path);
  // The contents behind the one present member of `names` in `req` (…Path, …Paths, …Data,
  // …Datas, in that order), each with the JSON path that gave it.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Material(
      const json& req, const std::string& path, const std::string (&names)[4]);
  absl::StatusOr<std::string> ReadFile(const std::string& file, const std::string& path);
  absl::StatusOr<std::string> KeyName(const std::string& pem, const std::string& path);
  absl::StatusOr<std::string> IdentityName(const json& fulcio, const std::string& path);
  absl::Status NeedRoot(const std::string& path, std::string_view what);
  std::string Emit(const Scope& s) const;

  const ImportOptions& options_;
  std::shared_ptr<const sigstore::TrustedRoot> root_;
  bool root_used_ = false;
  std::vector<std::pair<std::string, std::string>> keys_;  // name, key id
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> identities_;  // name, (issuer, subject)
  std::vector<ImportedFile> files_;
};

absl::Status Importer::NeedRoot(const std::string& path, std::string_view what) {
  if (!options_.trusted_root_json.has_value()) {
    return Err(path, StrCat("needs --trusted-root (", what, ")"));
  }
  if (root_ == nullptr) {
    absl::StatusOr<sigstore::TrustedRoot> root =
        sigstore::TrustedRoot::Parse(*options_.trusted_root_json, "--trusted-root");
    if (!root.ok()) return root.status();
    root_ = std::make_shared<const sigstore::TrustedRoot>(*std::move(root));
  }
  root_used_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Importer::ReadFile(const std::string& file, const std::string& path) {
  if (!options_.read_file) return Err(path, "cannot read files here");
  if (file.empty()) return Err(path, "empty path");
  absl::StatusOr<std::string> bytes = options_.read_file(file, kMaxImportedKeyFileBytes);
  if (!bytes.ok()) return absl::Status(bytes.status().code(), StrCat(path, ": ", Sv(bytes.status().message())));
  return bytes;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Importer::Material(
    const json& req, const std::string& path, const std::string (&names)[4]) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string* present = nullptr;
  for (const std::string& name : names) {
    if (!req.contains(name)) continue;
    if (present != nullptr) {
      return Err(Member(path, name), StrCat("give only one of ", names[0], ", ", names[1], ", ",
                                            names[2], ", ", names[3], " (also has ", *present, ")"));
    }
    present = &name;
  }
  if (present == nullptr) return out;
  std::string at = Member(path, *present);
  const json& value = req.at(*present);
  bool list = *present == names[1] || *present == names[3];
  bool file = *present == names[0] || *present == names[1];
  std::vector<std::pair<const json*, std::string>> items;
  if (list) {
    if (!value.is_array()) return Err(at, "expected a list");
    if (value.empty()) return Err(at, "an empty list");
    if (value.size() > kMaxImportedKeys) return Err(at, StrCat("more than ", kMaxImportedKeys, " entries"));
    for (size_t i = 0; i < value.size(); ++i) items.emplace_back(&value[i], Element(at, i));
  } else {
    items.emplace_back(&value, at);
  }
  for (const auto& [item, item_path] : items) {
    absl::StatusOr<std::string> s = String(*item, item_path);
    if (!s.ok()) return s.status();
    if (file) {
      absl::StatusOr<std::string> bytes = ReadFile(*s, item_path);
      if (!bytes.ok()) return bytes.status();
      out.emplace_back(*std::move(bytes), item_path);
    } else {
      absl::StatusOr<std::string> bytes = Base64Decode(*s);
      if (!bytes.ok()) return Err(item_path, StrCat("not base64: ", Sv(bytes.status().message())));
      out.emplace_back(*std::move(bytes), item_path);
    }
  }
  return out;
}

absl::StatusOr<std::string> Importer::KeyName(const std::string& pem, const std::string& path) {
  if (PemBlocks(pem) > 1) return Err(path, "more than one PEM block: give one key per file");
  absl::StatusOr<PublicKey> key = PublicKey::FromPem(pem);
  if (!key.ok()) return Err(path, Sv(key.status().message()));
  for (const auto& [name, id] : keys_) {
    if (id == key->key_id()) return name;
  }
  if (keys_.size() == kMaxImportedKeys) return Err(path, StrCat("more than ", kMaxImportedKeys, " keys"));
  std::string name = StrCat("imported-", keys_.size() + 1);
  keys_.emplace_back(name, key->key_id());
  files_.push_back(ImportedFile{StrCat("keys/", name, ".pub"), key->ToPem()});
  return name;
}

absl::StatusOr<std::string> Importer::IdentityName(const json& fulcio, const std::string& path) {
  if (!fulcio.is_object()) return Err(path, "expected an object");
  if (absl::Status s = OnlyMembers(fulcio, path, {"caPath", "caData", "oidcIssuer", "subjectEmail"}); !s.ok()) {
    return s;
  }
  if (absl::Status s = NeedRoot(path, "its certificateAuthorities must hold the Fulcio CA"); !s.ok()) return s;
  if (fulcio.contains("caPath") == fulcio.contains("caData")) {
    return Err(path, "give exactly one of caPath or caData");
  }
  std::string ca_path = Member(path, fulcio.contains("caPath") ? "caPath" : "caData");
  absl::StatusOr<std::string> ca = String(fulcio.at(fulcio.contains("caPath") ? "caPath" : "caData"), ca_path);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> pem;
  if (fulcio.contains("caPath")) {
    pem = ReadFile(*ca, ca_path);
  } else {
    pem = Base64Decode(*ca);
    if (!pem.ok()) return Err(ca_path, StrCat("not base64: ", Sv(pem.status().message())));
  }
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::vector<std::string>> certs = CertificatesDer(*pem, ca_path);
  if (!certs.ok()) return certs.status();
  // Every CA certificate must be one the root already trusts, or the imported policy would
  // trust a different set of CAs than the original.
  for (size_t i = 0; i < certs->size(); ++i) {
    bool found = false;
    for (const sigstore::Authority& a : root_->fulcio()) {
      for (const std::shared_ptr<X509>& c : a.chain) {
        unsigned char* der = nullptr;
        int n = i2d_X509(c.get(), &der);
        if (n > 0) found = found || std::string_view(reinterpret_cast<char*>(der), n) == (*certs)[i];
        OPENSSL_free(der);
      }
    }
    if (!found) {
      return Err(ca_path, StrCat("certificate ", i + 1, " is not among the trusted root's certificateAuthorities"));
    }
  }
  std::string names[2] = {"oidcIssuer", "subjectEmail"};
  std::string values[2];
  for (int i = 0; i < 2; ++i) {
    if (!fulcio.contains(names[i])) return Err(path, StrCat("missing ", names[i]));
    absl::StatusOr<std::string> v = String(fulcio.at(names[i]), Member(path, names[i]));
    if (!v.ok()) return v.status();
    if (v->empty()) return Err(Member(path, names[i]), "empty");
    if (v->size() > sigstore::kMaxIdentityPatternLength) {
      return Err(Member(path, names[i]), StrCat("longer than ", sigstore::kMaxIdentityPatternLength, " characters"));
    }
    values[i] = *std::move(v);
  }
  std::pair<std::string, std::string> id{values[0], values[1]};
  for (const auto& [name, other] : identities_) {
    if (other == id) return name;
  }
  if (identities_.size() == kMaxPolicyIdentities) {
    return Err(path, StrCat("more than ", kMaxPolicyIdentities, " identities"));
  }
  std::string name = StrCat("imported-", identities_.size() + 1);
  identities_.emplace_back(name, std::move(id));
  return name;
}

absl::StatusOr<Scope> Importer::SigstoreSigned(const json& req, const std::string& path) {
  if (absl::Status s = OnlyMembers(req, path,
                                   {"type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki",
                                    "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                                    "rekorPublicKeyDatas", "signedIdentity"});
      !s.ok()) {
    return s;
  }
  if (req.contains("pki")) return Err(Member(path, "pki"), "X.509 PKI signatures are not supported");
  if (req.contains("signedIdentity")) {
    const json& si = req.at("signedIdentity");
    std::string si_path = Member(path, "signedIdentity");
    if (!si.is_object()) return Err(si_path, "expected an object");
    if (!si.contains("type")) return Err(si_path, "missing type");
    absl::StatusOr<std::string> type = String(si.at("type"), Member(si_path, "type"));
    if (!type.ok()) return type.status();
    if (*type != "matchRepoDigestOrExact") {
      return Err(Member(si_path, "type"),
                 StrCat(Quoted(*type), " cannot be expressed: layerseal checks signatures as "
                                       "matchRepoDigestOrExact does"));
    }
    if (absl::Status s = OnlyMembers(si, si_path, {"type"}); !s.ok()) return s;
  }
  Scope scope;
  scope.requirement = "signed";
  scope.cosign = true;
  static const std::string kKeys[4] = {"keyPath", "keyPaths", "keyData", "keyDatas"};
  static const std::string kRekor[4] = {"rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                                        "rekorPublicKeyDatas"};
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> keys = Material(req, path, kKeys);
  if (!keys.ok()) return keys.status();
  bool fulcio = req.contains("fulcio");
  if (keys->empty() == !fulcio) {
    return Err(path, "give exactly one of keyPath, keyPaths, keyData, keyDatas or fulcio");
  }
  for (const auto& [pem, at] : *keys) {
    absl::StatusOr<std::string> name = KeyName(pem, at);
    if (!name.ok()) return name.status();
    if (std::find(scope.keys.begin(), scope.keys.end(), *name) == scope.keys.end()) scope.keys.push_back(*name);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rekor = Material(req, path, kRekor);
  if (!rekor.ok()) return rekor.status();
  if (fulcio) {
    if (rekor->empty()) {
      return Err(Member(path, "fulcio"), "needs rekorPublicKeyPath(s) or rekorPublicKeyData(s): a keyless "
                                         "signature needs a transparency log");
    }
    absl::StatusOr<std::string> id = IdentityName(req.at("fulcio"), Member(path, "fulcio"));
    if (!id.ok()) return id.status();
    scope.identities.push_back(*id);
  }
  // Absent (key-based): containers/image does not require Rekor then, and neither will we.
  scope.require_tlog = !rekor->empty();
  for (const auto& [pem, at] : *rekor) {
    if (absl::Status s = NeedRoot(at, "its tlogs must hold the Rekor key"); !s.ok()) return s;
    if (PemBlocks(pem) > 1) return Err(at, "more than one PEM block: give one key per file");
    absl::StatusOr<std::string> der = OnePublicKeyDer(pem, at);
    if (!der.ok()) return der.status();
    bool found = false;
    for (const sigstore::LogKey& log : root_->tlogs()) {
      found = found || (log.key != nullptr && PublicKeyDer(log.key.get()) == *der);
    }
    if (!found) return Err(at, "this key is not among the trusted root's tlogs");
  }
  scope.trusted_root = scope.require_tlog;
  return scope;
}

absl::StatusOr<Scope> Importer::Requirements(const json& list, const std::string& path) {
  if (!list.is_array()) return Err(path, "expected a list of requirements");
  if (list.empty()) return Err(path, "an empty list of requirements");
  if (list.size() > 1) {
    return Err(path, StrCat(list.size(), " requirements: containers-policy requires all of them, "
                            "while a layerseal scope admits on any one; write one requirement"));
  }
  std::string at = Element(path, 0);
  const json& req = list[0];
  if (!req.is_object()) return Err(at, "expected an object");
  if (!req.contains("type")) return Err(at, "missing type");
  absl::StatusOr<std::string> type = String(req.at("type"), Member(at, "type"));
  if (!type.ok()) return type.status();
  if (*type == "reject" || *type == "insecureAcceptAnything") {
    if (absl::Status s = OnlyMembers(req, at, {"type"}); !s.ok()) return s;
    Scope scope;
    scope.requirement = *type;
    return scope;
  }
  if (*type == "signedBy") {
    return Err(Member(at, "type"), "signedBy: GPG signatures cannot be expressed in a layerseal policy");
  }
  if (*type == "sigstoreSigned") return SigstoreSigned(req, at);
  return Err(Member(at, "type"), StrCat("unknown requirement type ", Quoted(*type)));
}

std::string Importer::Emit(const Scope& s) const {
  std::string out = StrCat("{requirement: ", s.requirement);
  if (s.requirement != "signed") return out + "}";
  out += ", signatures: [cosign]";
  auto list = [](const std::vector<std::string>& names) {
    std::string l;
    for (const std::string& n : names) l = l.empty() ? n : StrCat(l, ", ", n);
    return StrCat("[", l, "]");
  };
  if (!s.keys.empty()) out += StrCat(", keys: ", list(s.keys));
  if (!s.identities.empty()) out += StrCat(", identities: ", list(s.identities));
  if (s.trusted_root) out += StrCat(", trustedRoot: ", kImportedTrustedRootName);
  out += s.require_tlog ? ", transparencyLog: require" : ", transparencyLog: ignore";
  return out + "}";
}

absl::StatusOr<ImportedPolicy> Importer::Run(std::string_view text) {
  absl::StatusOr<json> doc = ParseStrictJson(text, kMaxContainersPolicyBytes);
  if (!doc.ok()) return doc.status();
  if (!doc->is_object()) return absl::InvalidArgumentError("the containers policy is not a JSON object");
  if (absl::Status s = OnlyMembers(*doc, "", {"default", "transports"}); !s.ok()) return s;
  if (!doc->contains("default")) return absl::InvalidArgumentError("default: missing");
  absl::StatusOr<Scope> def = Requirements(doc->at("default"), "default");
  if (!def.ok()) return def.status();
  std::vector<std::pair<std::string, Scope>> scopes;
  if (doc->contains("transports")) {
    const json& transports = doc->at("transports");
    if (!transports.is_object()) return Err("transports", "expected an object");
    for (auto it = transports.begin(); it != transports.end(); ++it) {
      std::string tpath = Member("transports", it.key());
      if (it.key() != "docker") {
        return Err(tpath, "only the docker transport can be expressed (layerseal sees registry images)");
      }
      if (!it->is_object()) return Err(tpath, "expected an object");
      if (it->size() > kMaxPolicyScopes) return Err(tpath, StrCat("more than ", kMaxPolicyScopes, " scopes"));
      for (auto sc = it->begin(); sc != it->end(); ++sc) {
        std::string spath = Named(tpath, sc.key());
        const std::string& name = sc.key();
        absl::StatusOr<Scope> scope = Requirements(sc.value(), spath);
        if (!scope.ok()) return scope.status();
        if (name.empty()) {  // the docker transport's own default: what layerseal's default is
          def = *std::move(scope);
          continue;
        }
        size_t slash = name.rfind('/');
        if (name.find('@') != std::string::npos ||
            name.find(':', slash == std::string::npos ? name.size() : slash) != std::string::npos) {
          return Err(spath, "a scope with a tag or digest cannot be expressed (layerseal scopes name repositories)");
        }
        if (name.find('*') != std::string::npos && !(name.starts_with("*.") && name.find('*', 1) == std::string::npos)) {
          return Err(spath, "'*' only as the leading \"*.\" of a host");
        }
        if (absl::Status s = ValidateScope(name); !s.ok()) return Err(spath, Sv(s.message()));
        scopes.emplace_back(name, *std::move(scope));
      }
    }
  }
  ImportedPolicy out;
  out.yaml =
      "# Imported from a containers-policy.json by `layerseal policy import`\n"
      "# (docs/sigstore.md, \"Migrating from containers-policy.json\").\n"
      "version: 1\n";
  if (!keys_.empty()) {
    out.yaml += "keys:\n";
    for (const auto& [name, id] : keys_) out.yaml += StrCat("  ", name, ": {path: keys/", name, ".pub}\n");
  }
  if (root_used_) {
    out.yaml += StrCat("trustedRoots:\n  ", kImportedTrustedRootName, ": {path: ", kImportedTrustedRootPath, "}\n");
    files_.push_back(ImportedFile{std::string(kImportedTrustedRootPath), *options_.trusted_root_json});
  }
  if (!identities_.empty()) {
    out.yaml += "identities:\n";
    for (const auto& [name, id] : identities_) {
      out.yaml += StrCat("  ", name, ": {issuer: ", Quoted(id.first), ", subject: ", Quoted(id.second), "}\n");
    }
  }
  out.yaml += StrCat("default: ", Emit(*def), "\n");
  if (!scopes.empty()) {
    out.yaml += "scopes:\n";
    for (const auto& [name, scope] : scopes) out.yaml += StrCat("  ", Quoted(name), ": ", Emit(scope), "\n");
  }
  out.files = std::move(files_);
  return out;
}

// ---- Notary Project trust policy (issue 20, s27-policy) ----

constexpr size_t kMaxImportedFileNameLength = 255;

// `s` as a YAML double-quoted scalar in plain ASCII: every character outside printable ASCII
// escaped (\uXXXX / \UXXXXXXXX), so that no text of the input can break a line or a comment
// of the written policy (YAML 1.1 reads U+0085, U+2028 and U+2029 as line breaks). `s` is
// UTF-8 (the JSON parser checked it); anything else is refused.
absl::StatusOr<std::string> YamlDoubleQuoted(std::string_view s, std::string_view path) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      if (c == '"' || c == '\\') out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f, len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f, len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07, len = 4;
    } else {
      return Err(path, "not UTF-8");
    }
    if (i + len > s.size()) return Err(path, "not UTF-8");
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return Err(path, "not UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    char buf[16];
    if (cp > 0xffff) {
      std::snprintf(buf, sizeof(buf), "\\U%08X", static_cast<unsigned>(cp));
    } else {
      std::snprintf(buf, sizeof(buf), "\\u%04X", static_cast<unsigned>(cp));
    }
    out += buf;
    i += len;
  }
  return out + "\"";
}

// For names from the file system, which need not be UTF-8 (Quoted's dump would throw).
std::string AnyTextQuoted(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

bool NotationStoreName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsStoreCertificateName(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.ends_with(".pem") || lower.ends_with(".crt") || lower.ends_with(".cer");
}

// A trust store a statement names, once per "<type>:<name>".
struct ImportedNotationStore {
  std::string policy_name;  // "<type>-<name>"
  notation::StoreType type = notation::StoreType::kCa;
  std::string name;
};

struct ImportedNotationScope {
  std::string comment;  // which statement it came from
  std::string body;     // the YAML flow map
};

class NotationImporter {
 public:
  explicit NotationImporter(const NotationImportOptions& options) : options_(options) {}
  absl::StatusOr<ImportedPolicy> Run(std::string_view text);

 private:
  absl::StatusOr<std::string> Statement(const json& st, const std::string& path);
  absl::StatusOr<std::vector<std::string>> StringList(const json& st, std::string_view member,
                                                      const std::string& path);
  absl::StatusOr<std::string> Store(const std::string& text, const std::string& path);
  absl::Status CopyStore(const ImportedNotationStore& store, const std::string& path);

  const NotationImportOptions& options_;
  std::vector<ImportedNotationStore> stores_;  // in order of first use
  std::vector<ImportedFile> files_;
};

absl::StatusOr<std::vector<std::string>> NotationImporter::StringList(const json& st,
                                                                      std::string_view member,
                                                                      const std::string& path) {
  std::vector<std::string> out;
  std::string at = Member(path, member);
  auto it = st.find(std::string(member));
  if (it == st.end() || it->is_null()) return out;
  if (!it->is_array()) return Err(at, "expected a list of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    absl::StatusOr<std::string> s = String((*it)[i], Element(at, i));
    if (!s.ok()) return s.status();
    out.push_back(*std::move(s));
  }
  return out;
}

absl::Status NotationImporter::CopyStore(const ImportedNotationStore& store, const std::string& path) {
  std::string type(notation::StoreTypeName(store.type));
  std::string dir = StrCat(options_.trust_store, "/x509/", type, "/", store.name);
  if (!options_.list_dir || !options_.read_file) return Err(path, "cannot read trust stores here");
  absl::StatusOr<std::vector<DirEntry>> entries =
      options_.list_dir(dir, notation::kMaxTrustStoreCertificates);
  if (!entries.ok()) {
    if (absl::IsNotFound(entries.status())) {
      return Err(path, StrCat("the trust store directory ", dir, " does not exist"));
    }
    return absl::Status(entries.status().code(), StrCat(path, ": ", Sv(entries.status().message())));
  }
  if (entries->empty()) return Err(path, StrCat("the trust store directory ", dir, " is empty"));
  if (entries->size() > notation::kMaxTrustStoreCertificates) {
    return Err(path, StrCat(dir, " holds more than ", notation::kMaxTrustStoreCertificates, " files"));
  }
  std::sort(entries->begin(), entries->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  std::set<std::string> written;
  for (const DirEntry& e : *entries) {
    if (e.name.empty() || e.name == "." || e.name == ".." || e.name.size() > kMaxImportedFileNameLength ||
        e.name.find('/') != std::string::npos || e.name.find('\0') != std::string::npos) {
      return Err(path, StrCat(dir, " lists a bad file name ", AnyTextQuoted(e.name)));
    }
    std::string file = StrCat(dir, "/", e.name);
    if (e.type != DirEntry::Type::kFile) {
      return Err(path, StrCat(file, " is not a regular file (notation refuses directories and "
                              "symlinks in a trust store)"));
    }
    std::string out_name = IsStoreCertificateName(e.name) ? e.name : StrCat(e.name, ".crt");
    if (!written.insert(out_name).second) {
      return Err(path, StrCat(file, " would be copied as ", out_name, ", which another file is "
                              "(rename one of them)"));
    }
    absl::StatusOr<std::string> bytes = options_.read_file(file, notation::kMaxTrustStoreFileBytes);
    if (!bytes.ok()) {
      return absl::Status(bytes.status().code(), StrCat(path, ": ", Sv(bytes.status().message())));
    }
    files_.push_back(ImportedFile{
        StrCat(kImportedTrustStoreDir, "/x509/", type, "/", store.name, "/", out_name), *std::move(bytes)});
  }
  return absl::OkStatus();
}

// "<type>:<name>" to the policy's store name, reading the store the first time.
absl::StatusOr<std::string> NotationImporter::Store(const std::string& text, const std::string& path) {
  size_t colon = text.find(':');
  if (colon == std::string::npos) {
    return Err(path, StrCat(Quoted(text), " is not <type>:<name> (ca:acme, signingAuthority:acme, tsa:acme)"));
  }
  absl::StatusOr<notation::StoreType> type = notation::ParseStoreType(text.substr(0, colon));
  if (!type.ok()) return Err(path, Sv(type.status().message()));
  std::string name = text.substr(colon + 1);
  if (!NotationStoreName(name)) {
    return Err(path, StrCat("the store name ", Quoted(name), " is not [a-zA-Z0-9_.-]+ (nor . or ..)"));
  }
  std::string policy_name = StrCat(notation::StoreTypeName(*type), "-", name);
  for (const ImportedNotationStore& s : stores_) {
    if (s.policy_name == policy_name) return policy_name;
  }
  if (policy_name.size() > 64) {
    return Err(path, StrCat("the layerseal name ", policy_name, " would be longer than 64 characters"));
  }
  if (stores_.size() == notation::kMaxTrustStores) {
    return Err(path, StrCat("more than ", notation::kMaxTrustStores, " trust stores"));
  }
  ImportedNotationStore store{policy_name, *type, name};
  if (absl::Status s = CopyStore(store, path); !s.ok()) return s;
  stores_.push_back(std::move(store));
  return policy_name;
}

// The statement's notation member as a YAML flow map.
absl::StatusOr<std::string> NotationImporter::Statement(const json& st, const std::string& path) {
  std::string sv_path = Member(path, "signatureVerification");
  auto sv = st.find("signatureVerification");
  if (sv == st.end()) return Err(sv_path, "missing");
  if (!sv->is_object()) return Err(sv_path, "expected an object");
  if (absl::Status s = OnlyMembers(*sv, sv_path, {"level", "override", "verifyTimestamp"}); !s.ok()) return s;
  if (!sv->contains("level")) return Err(Member(sv_path, "level"), "missing");
  absl::StatusOr<std::string> level_name = String(sv->at("level"), Member(sv_path, "level"));
  if (!level_name.ok()) return level_name.status();
  absl::StatusOr<notation::Level> level = notation::ParseLevel(*level_name);
  if (!level.ok()) return Err(Member(sv_path, "level"), Sv(level.status().message()));
  bool skip = *level == notation::Level::kSkip;
  std::string out = StrCat("{level: ", notation::LevelName(*level));
  if (sv->contains("override")) {
    std::string o_path = Member(sv_path, "override");
    const json& o = sv->at("override");
    if (!o.is_object()) return Err(o_path, "expected an object");
    std::vector<std::pair<std::string, std::string>> overrides;
    for (auto it = o.begin(); it != o.end(); ++it) {
      absl::StatusOr<std::string> action = String(it.value(), Member(o_path, it.key()));
      if (!action.ok()) return action.status();
      overrides.emplace_back(it.key(), *action);
      absl::StatusOr<notation::Actions> one = notation::ApplyOverrides(*level, {overrides.back()});
      if (!one.ok()) return Err(Member(o_path, it.key()), Sv(one.status().message()));
    }
    absl::StatusOr<notation::Actions> all = notation::ApplyOverrides(*level, overrides);
    if (!all.ok()) return Err(o_path, Sv(all.status().message()));
    if (!overrides.empty()) {  // an empty override is none (notation reads it so)
      std::string list;
      for (const auto& [check, action] : overrides) {
        list = StrCat(list, list.empty() ? "" : ", ", check, ": ", action);
      }
      out += StrCat(", override: {", list, "}");
    }
  }
  if (sv->contains("verifyTimestamp")) {
    std::string t_path = Member(sv_path, "verifyTimestamp");
    absl::StatusOr<std::string> t = String(sv->at("verifyTimestamp"), t_path);
    if (!t.ok()) return t.status();
    if (!t->empty() && *t != "always" && *t != "afterCertExpiry") {
      return Err(t_path, StrCat("unknown value ", Quoted(*t), " (always or afterCertExpiry)"));
    }
    // "" is notation's default, always; skip verifies nothing, so the option means nothing.
    if (!skip && !t->empty()) out += StrCat(", verifyTimestamp: ", *t);
  }
  absl::StatusOr<std::vector<std::string>> stores = StringList(st, "trustStores", path);
  if (!stores.ok()) return stores.status();
  absl::StatusOr<std::vector<std::string>> ids = StringList(st, "trustedIdentities", path);
  if (!ids.ok()) return ids.status();
  if (skip) {
    if (!stores->empty() || !ids->empty()) {
      return Err(Member(path, stores->empty() ? "trustedIdentities" : "trustStores"),
                 "level skip takes no trust stores or trusted identities (notation refuses them)");
    }
    return out + "}";
  }
  if (stores->empty()) return Err(Member(path, "trustStores"), "missing or empty (level is not skip)");
  if (ids->empty()) return Err(Member(path, "trustedIdentities"), "missing or empty (level is not skip)");
  std::vector<std::string> names;
  bool signing = false;
  for (size_t i = 0; i < stores->size(); ++i) {
    std::string at = Element(Member(path, "trustStores"), i);
    absl::StatusOr<std::string> name = Store((*stores)[i], at);
    if (!name.ok()) return name.status();
    // notation reads a store named twice twice: the same trust as naming it once.
    if (std::find(names.begin(), names.end(), *name) != names.end()) continue;
    signing = signing || !name->starts_with("tsa-");
    names.push_back(*name);
  }
  if (!signing) {
    return Err(Member(path, "trustStores"), "no trust store of type ca or signingAuthority (a "
                                            "tsa store only vouches for timestamps)");
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    absl::StatusOr<notation::TrustedIdentity> id = notation::ParseTrustedIdentity((*ids)[i]);
    if (!id.ok()) return Err(Element(Member(path, "trustedIdentities"), i), Sv(id.status().message()));
  }
  absl::StatusOr<std::vector<notation::TrustedIdentity>> all = notation::ParseTrustedIdentities(*ids);
  if (!all.ok()) return Err(Member(path, "trustedIdentities"), Sv(all.status().message()));
  std::string store_list;
  for (const std::string& n : names) store_list = StrCat(store_list, store_list.empty() ? "" : ", ", n);
  std::string id_list;
  for (size_t i = 0; i < ids->size(); ++i) {
    absl::StatusOr<std::string> q =
        YamlDoubleQuoted((*ids)[i], Element(Member(path, "trustedIdentities"), i));
    if (!q.ok()) return q.status();
    id_list = StrCat(id_list, id_list.empty() ? "" : ", ", *q);
  }
  return StrCat(out, ", trustStores: [", store_list, "], trustedIdentities: [", id_list, "]}");
}

absl::StatusOr<ImportedPolicy> NotationImporter::Run(std::string_view text) {
  absl::StatusOr<json> doc = ParseStrictJson(text, kMaxNotationTrustPolicyBytes);
  if (!doc.ok()) return doc.status();
  if (!doc->is_object()) return absl::InvalidArgumentError("the trust policy is not a JSON object");
  if (absl::Status s = OnlyMembers(*doc, "", {"version", "trustPolicies"}); !s.ok()) return s;
  if (!doc->contains("version")) return Err("version", "missing");
  absl::StatusOr<std::string> version = String(doc->at("version"), "version");
  if (!version.ok()) return version.status();
  if (*version != "1.0") return Err("version", StrCat("unsupported version ", Quoted(*version), " (1.0 only)"));
  if (!doc->contains("trustPolicies")) return Err("trustPolicies", "missing");
  const json& list = doc->at("trustPolicies");
  if (!list.is_array()) return Err("trustPolicies", "expected a list");
  if (list.empty()) return Err("trustPolicies", "an empty list (notation refuses it)");
  if (list.size() > kMaxNotationTrustPolicies) {
    return Err("trustPolicies", StrCat("more than ", kMaxNotationTrustPolicies, " statements"));
  }
  std::map<std::string, std::string> names;   // statement name -> its path
  std::map<std::string, std::string> scopes;  // scope -> its path
  std::optional<std::pair<std::string, std::string>> global;  // (comment, body)
  std::string global_path;
  std::vector<std::pair<std::string, ImportedNotationScope>> out_scopes;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = Element("trustPolicies", i);
    const json& st = list[i];
    if (!st.is_object()) return Err(path, "expected an object");
    if (absl::Status s = OnlyMembers(st, path, {"name", "registryScopes", "signatureVerification",
                                                "trustStores", "trustedIdentities"});
        !s.ok()) {
      return s;
    }
    if (!st.contains("name")) return Err(Member(path, "name"), "missing");
    absl::StatusOr<std::string> name = String(st.at("name"), Member(path, "name"));
    if (!name.ok()) return name.status();
    if (name->empty()) return Err(Member(path, "name"), "empty");
    if (auto [it, inserted] = names.emplace(*name, path); !inserted) {
      return Err(Member(path, "name"), StrCat(Quoted(*name), " is also the name of ", it->second));
    }
    absl::StatusOr<std::string> comment = YamlDoubleQuoted(*name, Member(path, "name"));
    if (!comment.ok()) return comment.status();
    std::string r_path = Member(path, "registryScopes");
    if (!st.contains("registryScopes")) return Err(r_path, "missing");
    absl::StatusOr<std::vector<std::string>> registry_scopes = StringList(st, "registryScopes", path);
    if (!registry_scopes.ok()) return registry_scopes.status();
    if (registry_scopes->empty()) return Err(r_path, "an empty list (notation refuses it)");
    // Validated before the trust stores are read, so that a bad scope is reported as such.
    for (size_t j = 0; j < registry_scopes->size(); ++j) {
      const std::string& scope = (*registry_scopes)[j];
      std::string s_path = Element(r_path, j);
      if (scope == "*") {
        if (registry_scopes->size() > 1) {
          return Err(s_path, "'*' (the global policy) cannot be combined with other scopes");
        }
        if (global.has_value()) return Err(s_path, StrCat("a second global policy (the first is ", global_path, ")"));
        global_path = s_path;
        continue;
      }
      if (scope.find('*') != std::string::npos) {
        return Err(s_path, "'*' only as the whole scope (the global policy); notation scopes are "
                           "exact repositories");
      }
      if (absl::Status s = ValidateScope(scope); !s.ok()) return Err(s_path, Sv(s.message()));
      absl::StatusOr<Reference> ref = Reference::Parse(scope);
      if (!ref.ok()) return Err(s_path, Sv(ref.status().message()));
      if (ref->repository.empty() || ref->Name() != scope || scope.find('/') == std::string::npos) {
        return Err(s_path, StrCat("not a canonical repository name (registry/path; it reads as ",
                                  Quoted(ref->Name()), ")"));
      }
      if (auto [it, inserted] = scopes.emplace(scope, s_path); !inserted) {
        return Err(s_path, StrCat(Quoted(scope), " is also ", it->second, " (notation refuses a scope in two statements)"));
      }
    }
    absl::StatusOr<std::string> body = Statement(st, path);
    if (!body.ok()) return body.status();
    std::string scope_yaml = StrCat("{requirement: signed, signatures: [notation], notation: ", *body, "}");
    for (const std::string& scope : *registry_scopes) {
      if (scope == "*") {
        global = std::make_pair(StrCat("# ", path, " ", *comment, " (registryScopes [\"*\"])"), scope_yaml);
        continue;
      }
      if (out_scopes.size() == kMaxPolicyScopes) return Err(r_path, StrCat("more than ", kMaxPolicyScopes, " scopes"));
      std::string exact_yaml = StrCat("{requirement: signed, signatures: [notation], exact: true, notation: ", *body, "}");
      out_scopes.emplace_back(scope, ImportedNotationScope{StrCat("# ", path, " ", *comment), exact_yaml});
    }
  }
  ImportedPolicy out;
  out.yaml =
      "# Imported from a Notary Project trustpolicy.oci.json by `layerseal policy import`\n"
      "# (docs/policy.md, \"Importing a Notary Project trust policy\").\n"
      "version: 1\n";
  if (!stores_.empty()) {
    out.yaml += "trustStores:\n";
    for (const ImportedNotationStore& s : stores_) {
      std::string type(notation::StoreTypeName(s.type));
      out.yaml += StrCat("  ", s.policy_name, ": {type: ", type, ", path: ", kImportedTrustStoreDir, "/x509/",
                         type, "/", s.name, "}\n");
    }
  }
  if (global.has_value()) {
    out.yaml += StrCat(global->first, "\ndefault: ", global->second, "\n");
  } else {
    out.yaml += "# No global (\"*\") trust policy: notation verifies no other repository, layerseal rejects it.\n"
                "default: {requirement: reject}\n";
  }
  if (!out_scopes.empty()) {
    out.yaml += "scopes:\n";
    for (const auto& [scope, s] : out_scopes) {
      out.yaml += StrCat("  ", s.comment, "\n  ", Quoted(scope), ": ", s.body, "\n");
    }
  }
  out.files = std::move(files_);
  return out;
}

}  // namespace

absl::StatusOr<ImportedPolicy> ImportNotationTrustPolicy(std::string_view json,
                                                         const NotationImportOptions& options) {
  return NotationImporter(options).Run(json);
}

absl::StatusOr<ImportedPolicy> ImportContainersPolicy(std::string_view json, const ImportOptions& options) {
  return Importer(options).Run(json);
}

}  // namespace layerseal
