#include "verifier/sigstore/trusted_root.h"

#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/fulcio.h"
#include "verifier/sigstore/json.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::json;

std::shared_ptr<EVP_PKEY> SharePkey(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, EVP_PKEY_free); }

std::shared_ptr<X509_STORE> StoreWithRoot(const std::vector<std::shared_ptr<X509>>& chain) {
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  // X509_STORE_add_cert takes its own reference; the store holds the root only (intermediates
  // come from the chain, passed as untrusted certificates by the verifier).
  if (store != nullptr && !chain.empty() && X509_STORE_add_cert(store.get(), chain.back().get()) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return store;
}

absl::Status TooMany(std::string_view path, size_t n, std::string_view what, size_t limit) {
  return absl::ResourceExhaustedError(
      StrCat(path, ": ", n, " ", what, ", more than the limit of ", limit));
}

// "https://user@host:8080/path?q" -> "host:8080".
std::string OriginOf(std::string_view url) {
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  return std::string(rest);
}

absl::StatusOr<TimeRange> ParseValidFor(const json& obj, std::string_view path) {
  absl::StatusOr<const json*> vf = RequiredMember(obj, path, "validFor");
  if (!vf.ok()) return vf.status();
  std::string vpath = JoinPath(path, "validFor");
  absl::Status f = CheckFields(**vf, vpath, {"start", "end"});
  if (!f.ok()) return f;
  // Every validity period needs a start (sigstore-conformance
  // trust-root-tlog-missing-validity-start_fail): an open start would trust a key for any past.
  absl::StatusOr<const json*> start = RequiredMember(**vf, vpath, "start");
  if (!start.ok()) return start.status();
  TimeRange r;
  absl::StatusOr<absl::Time> s = ProtoTime(**start, JoinPath(vpath, "start"));
  if (!s.ok()) return s.status();
  r.start = *s;
  if (const json* end = Member(**vf, "end"); end != nullptr) {
    absl::StatusOr<absl::Time> e = ProtoTime(*end, JoinPath(vpath, "end"));
    if (!e.ok()) return e.status();
    if (*e < r.start) return PathError(vpath, "end is before start");
    r.end = *e;
  }
  return r;
}

absl::Status CheckCurve(EVP_PKEY* key, std::string_view want, std::string_view path) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1 || std::string_view(name, len) != want) {
    ERR_clear_error();
    return PathError(path, StrCat("the key is not an ECDSA ", want, " key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> ParseSpki(std::string_view der, std::string_view path) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (key == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return PathError(path, "is not a DER SubjectPublicKeyInfo");
  }
  return SharePkey(key);
}

// publicKey {rawBytes, keyDetails, validFor} of a transparency or CT log.
absl::Status ParsePublicKey(const json& pk, std::string_view path, LogKey& out) {
  absl::Status f = CheckFields(pk, path, {"rawBytes", "keyDetails", "validFor"});
  if (!f.ok()) return f;
  absl::StatusOr<const json*> raw = RequiredMember(pk, path, "rawBytes");
  if (!raw.ok()) return raw.status();
  std::string rpath = JoinPath(path, "rawBytes");
  absl::StatusOr<std::string> der = ProtoBytes(**raw, rpath);
  if (!der.ok()) return der.status();
  if (der->empty()) return PathError(rpath, "is empty");
  if (der->size() > kMaxPemBytes) return TooMany(rpath, der->size(), "bytes", kMaxPemBytes);
  absl::StatusOr<std::string> details = StringMember(pk, path, "keyDetails", true);
  if (!details.ok()) return details.status();
  std::string dpath = JoinPath(path, "keyDetails");
  const std::string& d = *details;
  int rsa_bits = 0;  // a required RSA size, 0: any allowed size
  if (d == "PKCS1_RSA_PKCS1V5") {
    // A PKCS#1 RSAPublicKey, not an SPKI (the staging CT log's key in the corpus is one).
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
    EVP_PKEY* key = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der->size()));
    if (key == nullptr || p != reinterpret_cast<const unsigned char*>(der->data()) + der->size()) {
      EVP_PKEY_free(key);
      ERR_clear_error();
      return PathError(rpath, "is not a DER PKCS#1 RSAPublicKey");
    }
    out.key = SharePkey(key);
    out.details = PublicKeyDetails::kRsaPkcs1v15;
  } else {
    absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = ParseSpki(*der, rpath);
    if (!key.ok()) return key.status();
    out.key = *std::move(key);
    absl::Status fits = absl::OkStatus();
    if (d == "PKIX_ECDSA_P256_SHA_256") {
      out.details = PublicKeyDetails::kEcdsaP256Sha256;
      fits = CheckCurve(out.key.get(), "prime256v1", rpath);
    } else if (d == "PKIX_ECDSA_P384_SHA_384") {
      out.details = PublicKeyDetails::kEcdsaP384Sha384;
      fits = CheckCurve(out.key.get(), "secp384r1", rpath);
    } else if (d == "PKIX_ECDSA_P521_SHA_512") {
      out.details = PublicKeyDetails::kEcdsaP521Sha512;
      fits = CheckCurve(out.key.get(), "secp521r1", rpath);
    } else if (d == "PKIX_ED25519") {
      out.details = PublicKeyDetails::kEd25519;
      if (EVP_PKEY_get_base_id(out.key.get()) != EVP_PKEY_ED25519) {
        fits = PathError(rpath, "the key is not an Ed25519 key");
      }
    } else if (d == "PKIX_RSA_PKCS1V5") {
      out.details = PublicKeyDetails::kRsaPkcs1v15;
    } else if (d == "PKIX_RSA_PKCS1V15_2048_SHA256") {
      out.details = PublicKeyDetails::kRsaPkcs1v15;
      rsa_bits = 2048;
    } else if (d == "PKIX_RSA_PKCS1V15_3072_SHA256") {
      out.details = PublicKeyDetails::kRsaPkcs1v15;
      rsa_bits = 3072;
    } else if (d == "PKIX_RSA_PKCS1V15_4096_SHA256") {
      out.details = PublicKeyDetails::kRsaPkcs1v15;
      rsa_bits = 4096;
    } else {
      return PathError(dpath, StrCat("\"", d, "\" is not a supported key type"));
    }
    if (!fits.ok()) return fits;
  }
  if (out.details == PublicKeyDetails::kRsaPkcs1v15) {
    int bits = EVP_PKEY_get_bits(out.key.get());
    if (EVP_PKEY_get_base_id(out.key.get()) != EVP_PKEY_RSA) {
      return PathError(rpath, "the key is not an RSA key");
    }
    if (bits < kMinRsaBits || bits > kMaxRsaBits || (rsa_bits != 0 && bits != rsa_bits)) {
      return PathError(rpath, StrCat("an RSA key of ", bits, " bits does not fit ", d));
    }
  }
  absl::StatusOr<TimeRange> valid = ParseValidFor(pk, path);
  if (!valid.ok()) return valid.status();
  out.valid_for = *valid;
  return absl::OkStatus();
}

absl::StatusOr<std::string> KeyIdMember(const json& obj, std::string_view path, std::string_view name,
                                        bool required) {
  const json* m = Member(obj, name);
  std::string p = JoinPath(path, name);
  if (m == nullptr) {
    if (required) return PathError(p, "missing");
    return std::string();
  }
  absl::Status f = CheckFields(*m, p, {"keyId"});
  if (!f.ok()) return f;
  absl::StatusOr<const json*> id = RequiredMember(*m, p, "keyId");
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> raw = ProtoBytes(**id, JoinPath(p, "keyId"));
  if (!raw.ok()) return raw.status();
  if (raw->empty()) return PathError(JoinPath(p, "keyId"), "is empty");
  if (raw->size() > 64) return TooMany(JoinPath(p, "keyId"), raw->size(), "bytes", 64);
  return raw;
}

absl::StatusOr<LogKey> ParseLog(const json& j, std::string_view path) {
  absl::Status f = CheckFields(j, path, {"baseUrl", "hashAlgorithm", "publicKey", "logId",
                                         "checkpointKeyId", "operator"});
  if (!f.ok()) return f;
  LogKey log;
  absl::StatusOr<std::string> url = StringMember(j, path, "baseUrl", false);
  if (!url.ok()) return url.status();
  log.base_url = *std::move(url);
  log.origin = OriginOf(log.base_url);
  absl::StatusOr<std::string> op = StringMember(j, path, "operator", false);
  if (!op.ok()) return op.status();
  absl::StatusOr<std::string> hash = StringMember(j, path, "hashAlgorithm", true);
  if (!hash.ok()) return hash.status();
  if (*hash != "SHA2_256") {
    return PathError(JoinPath(path, "hashAlgorithm"), StrCat("\"", *hash, "\" is not SHA2_256"));
  }
  absl::StatusOr<const json*> pk = RequiredMember(j, path, "publicKey");
  if (!pk.ok()) return pk.status();
  if (absl::Status s = ParsePublicKey(**pk, JoinPath(path, "publicKey"), log); !s.ok()) return s;
  absl::StatusOr<std::string> id = KeyIdMember(j, path, "logId", true);
  if (!id.ok()) return id.status();
  log.log_id = *std::move(id);
  absl::StatusOr<std::string> cid = KeyIdMember(j, path, "checkpointKeyId", false);
  if (!cid.ok()) return cid.status();
  log.checkpoint_key_id = *std::move(cid);
  return log;
}

absl::StatusOr<Authority> ParseAuthority(const json& j, std::string_view path) {
  absl::Status f = CheckFields(j, path, {"subject", "uri", "certChain", "validFor", "operator"});
  if (!f.ok()) return f;
  Authority a;
  if (const json* subject = Member(j, "subject"); subject != nullptr) {
    std::string sp = JoinPath(path, "subject");
    absl::Status sf = CheckFields(*subject, sp, {"organization", "commonName"});
    if (!sf.ok()) return sf;
    for (std::string_view name : {"organization", "commonName"}) {
      absl::StatusOr<std::string> v = StringMember(*subject, sp, name, false);
      if (!v.ok()) return v.status();
    }
  }
  absl::StatusOr<std::string> uri = StringMember(j, path, "uri", false);
  if (!uri.ok()) return uri.status();
  a.uri = *std::move(uri);
  absl::StatusOr<std::string> op = StringMember(j, path, "operator", false);
  if (!op.ok()) return op.status();
  absl::StatusOr<const json*> chain = RequiredMember(j, path, "certChain");
  if (!chain.ok()) return chain.status();
  std::string cpath = JoinPath(path, "certChain");
  absl::Status cf = CheckFields(**chain, cpath, {"certificates"});
  if (!cf.ok()) return cf;
  absl::StatusOr<const json*> certs = RequiredMember(**chain, cpath, "certificates");
  if (!certs.ok()) return certs.status();
  std::string lpath = JoinPath(cpath, "certificates");
  if (!(*certs)->is_array()) return PathError(lpath, "must be an array");
  if ((*certs)->empty()) return PathError(lpath, "is empty");
  if ((*certs)->size() > kMaxCaChainCerts) {
    return TooMany(lpath, (*certs)->size(), "certificates", kMaxCaChainCerts);
  }
  for (size_t i = 0; i < (*certs)->size(); ++i) {
    std::string ip = StrCat(lpath, "[", i, "]");
    const json& c = (**certs)[i];
    absl::Status xf = CheckFields(c, ip, {"rawBytes"});
    if (!xf.ok()) return xf;
    absl::StatusOr<const json*> raw = RequiredMember(c, ip, "rawBytes");
    if (!raw.ok()) return raw.status();
    std::string rp = JoinPath(ip, "rawBytes");
    absl::StatusOr<std::string> der = ProtoBytes(**raw, rp);
    if (!der.ok()) return der.status();
    if (der->size() > kMaxCertificateBytes) return TooMany(rp, der->size(), "bytes", kMaxCertificateBytes);
    absl::StatusOr<std::shared_ptr<X509>> x = ParseCertificateDer(*der, rp);
    if (!x.ok()) return x.status();
    a.chain.push_back(*std::move(x));
  }
  absl::StatusOr<TimeRange> valid = ParseValidFor(j, path);
  if (!valid.ok()) return valid.status();
  a.valid_for = *valid;
  a.store = StoreWithRoot(a.chain);
  if (a.store == nullptr) return PathError(cpath, "cannot build a certificate store from the chain");
  a.issuer_store = IssuerStoreFor(a.chain);
  return a;
}

template <typename T, typename ParseFn>
absl::Status ParseList(const json& root, std::string_view name, ParseFn parse, std::vector<T>& out) {
  const json* list = Member(root, name);
  if (list == nullptr) return absl::OkStatus();
  if (!list->is_array()) return PathError(name, StrCat("must be an array, not ", list->type_name()));
  if (list->size() > kMaxTrustedRootEntries) {
    return TooMany(name, list->size(), "entries", kMaxTrustedRootEntries);
  }
  for (size_t i = 0; i < list->size(); ++i) {
    absl::StatusOr<T> v = parse((*list)[i], StrCat(name, "[", i, "]"));
    if (!v.ok()) return v.status();
    out.push_back(*std::move(v));
  }
  return absl::OkStatus();
}

absl::Status Named(const absl::Status& s, std::string_view source) {
  return absl::Status(s.code(), StrCat("trusted root ", source, ": ", Sv(s.message())));
}

}  // namespace

absl::StatusOr<std::shared_ptr<X509>> ParseCertificateDer(std::string_view der, std::string_view path) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(cert);
    ERR_clear_error();
    return PathError(path, "is not one DER X.509 certificate");
  }
  return std::shared_ptr<X509>(cert, X509_free);
}

bool IsSelfSigned(X509* cert) {
  if (cert == nullptr) return false;
  if (X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) != 0) return false;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  bool ok = key != nullptr && X509_verify(cert, key) == 1;
  ERR_clear_error();
  return ok;
}

bool TimeRange::Contains(absl::Time t) const {
  return t >= start && (!end.has_value() || t <= *end);
}

absl::StatusOr<TrustedRoot> TrustedRoot::Parse(std::string_view text, std::string_view source_name) {
  absl::StatusOr<json> doc = ParseJsonDocument(text, kMaxTrustedRootBytes, "JSON");
  if (!doc.ok()) return Named(doc.status(), source_name);
  const json& j = *doc;
  absl::Status f = CheckFields(j, "", {"mediaType", "tlogs", "certificateAuthorities", "ctlogs",
                                       "timestampAuthorities"});
  if (!f.ok()) return Named(f, source_name);
  absl::StatusOr<std::string> mt = StringMember(j, "", "mediaType", true);
  if (!mt.ok()) return Named(mt.status(), source_name);
  if (*mt != kTrustedRootMediaType) {
    return Named(PathError("mediaType", StrCat("\"", *mt, "\" is not ", kTrustedRootMediaType)),
                 source_name);
  }
  TrustedRoot r;
  if (absl::Status s = ParseList<LogKey>(j, "tlogs", ParseLog, r.tlogs_); !s.ok()) return Named(s, source_name);
  if (absl::Status s = ParseList<LogKey>(j, "ctlogs", ParseLog, r.ctlogs_); !s.ok()) return Named(s, source_name);
  if (absl::Status s = ParseList<Authority>(j, "certificateAuthorities", ParseAuthority, r.fulcio_); !s.ok()) {
    return Named(s, source_name);
  }
  if (absl::Status s = ParseList<Authority>(j, "timestampAuthorities", ParseAuthority, r.tsas_); !s.ok()) {
    return Named(s, source_name);
  }
  r.sha256_ = Digest::Sha256Of(text).str();
  return r;
}

absl::StatusOr<TrustedRoot> TrustedRoot::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileLimited(path, kMaxTrustedRootBytes, "trusted root");
  if (!bytes.ok()) return bytes.status();
  return Parse(*bytes, StrCat("\"", path, "\""));
}

TrustedRoot TrustedRoot::FromParts(std::vector<LogKey> tlogs, std::vector<LogKey> ctlogs,
                                   std::vector<Authority> fulcio, std::vector<Authority> tsas,
                                   std::string sha256) {
  TrustedRoot r;
  r.tlogs_ = std::move(tlogs);
  r.ctlogs_ = std::move(ctlogs);
  r.fulcio_ = std::move(fulcio);
  r.tsas_ = std::move(tsas);
  for (std::vector<Authority>* list : {&r.fulcio_, &r.tsas_}) {
    for (Authority& a : *list) {
      if (a.store == nullptr) a.store = StoreWithRoot(a.chain);
      if (a.issuer_store == nullptr) a.issuer_store = IssuerStoreFor(a.chain);
    }
  }
  r.sha256_ = std::move(sha256);
  return r;
}

const LogKey* TrustedRoot::FindTlog(std::string_view log_id) const {
  for (const LogKey& k : tlogs_) {
    if (k.log_id == log_id) return &k;
  }
  return nullptr;
}

const LogKey* TrustedRoot::FindCtlog(std::string_view log_id) const {
  for (const LogKey& k : ctlogs_) {
    if (k.log_id == log_id) return &k;
  }
  return nullptr;
}

}  // namespace layerseal::sigstore
