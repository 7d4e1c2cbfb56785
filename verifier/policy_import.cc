#include "verifier/policy_import.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/crypto.h"
#include "verifier/manifest.h"
#include "verifier/policy.h"
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

}  // namespace

absl::StatusOr<ImportedPolicy> ImportContainersPolicy(std::string_view json, const ImportOptions& options) {
  return Importer(options).Run(json);
}

}  // namespace layerseal
