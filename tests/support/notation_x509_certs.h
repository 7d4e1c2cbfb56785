// Certificates, CRLs and signatures made in-process with OpenSSL 3 for the notation X.509
// tests (notation_trust_test, notation_x509_test): keys of every size and curve, certificates
// with exactly the extensions a test names (so each rule of the Notary Project signature
// specification can be broken once), CRLs, PEM/DER files, and envelope signatures in the
// notation wire forms (RSASSA-PSS, ECDSA raw r||s).
//
// Header-only; test code: failures are gtest failures. Thread-safety: functions are
// independent; the serial counter is atomic.
#ifndef LAYERSEAL_TESTS_SUPPORT_NOTATION_X509_CERTS_H_
#define LAYERSEAL_TESTS_SUPPORT_NOTATION_X509_CERTS_H_

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "verifier/internal/openssl_util.h"

namespace layerseal::testing::notation_x509 {

using KeyPtr = std::shared_ptr<EVP_PKEY>;
using CertPtr = std::shared_ptr<X509>;

inline KeyPtr RsaKey(int bits) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  EXPECT_NE(k, nullptr) << ossl::LastError();
  return KeyPtr(k, EVP_PKEY_free);
}
inline KeyPtr EcKey(const char* curve) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
  EXPECT_NE(k, nullptr) << ossl::LastError();
  return KeyPtr(k, EVP_PKEY_free);
}
inline KeyPtr Ed25519Key() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  EXPECT_NE(k, nullptr) << ossl::LastError();
  return KeyPtr(k, EVP_PKEY_free);
}

// Keys are slow to make (RSA 4096 above all): tests share them by kind.
inline KeyPtr SharedKey(const std::string& kind) {
  static std::mutex mu;
  static std::map<std::string, KeyPtr>* keys = new std::map<std::string, KeyPtr>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = keys->find(kind);
  if (it != keys->end()) return it->second;
  KeyPtr k;
  if (kind.rfind("rsa", 0) == 0) {
    k = RsaKey(std::stoi(kind.substr(3)));
  } else if (kind == "ed25519") {
    k = Ed25519Key();
  } else {
    k = EcKey(kind.c_str());  // "P-256", "P-224", ...
  }
  (*keys)[kind] = k;
  return k;
}

struct Ext {
  int nid;            // NID_undef: the extension named by `oid`
  std::string value;  // X509V3_EXT_conf syntax, "critical," prefix for critical
  std::string oid;    // e.g. "1.3.6.1.4.1.99999.1" with value "critical,ASN1:UTF8String:x"
};

struct CertSpec {
  // Subject RDNs in order: (type, UTF-8 value), e.g. {{"C","US"},{"ST","WA"},{"O","acme"}}.
  std::vector<std::pair<std::string, std::string>> subject;
  EVP_PKEY* key = nullptr;
  X509* issuer = nullptr;  // null: self-signed (issuer name = subject)
  EVP_PKEY* issuer_key = nullptr;
  std::vector<Ext> exts;
  absl::Time not_before = absl::FromUnixSeconds(1700000000);
  absl::Time not_after = absl::FromUnixSeconds(1700000000 + 3650 * 86400);
  const EVP_MD* md = EVP_sha256();  // ignored for Ed25519 issuers
  int version = X509_VERSION_3;
  long serial = 0;  // 0: a fresh one
};

inline long NextSerial() {
  static std::atomic<long> serial{1000};
  return ++serial;
}

inline CertPtr MakeCert(const CertSpec& s) {
  X509* x = X509_new();
  X509_set_version(x, s.version);
  ASN1_INTEGER_set(X509_get_serialNumber(x), s.serial != 0 ? s.serial : NextSerial());
  X509_NAME* name = X509_NAME_new();
  for (const auto& [t, v] : s.subject) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name, t.c_str(), MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(v.c_str()), -1,
                                         -1, 0),
              1)
        << t << ": " << ossl::LastError();
  }
  X509_set_subject_name(x, name);
  X509_set_issuer_name(x, s.issuer != nullptr ? X509_get_subject_name(s.issuer) : name);
  X509_NAME_free(name);
  ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(s.not_before));
  ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(s.not_after));
  X509_set_pubkey(x, s.key);
  for (const Ext& e : s.exts) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, s.issuer != nullptr ? s.issuer : x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext =
        e.nid != NID_undef ? X509V3_EXT_conf_nid(nullptr, &ctx, e.nid, e.value.c_str())
                           : X509V3_EXT_nconf(nullptr, &ctx, e.oid.c_str(), e.value.c_str());
    EXPECT_NE(ext, nullptr) << (e.nid != NID_undef ? OBJ_nid2sn(e.nid) : e.oid.c_str()) << "="
                            << e.value << ": " << ossl::LastError();
    if (ext != nullptr) {
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  EVP_PKEY* signer = s.issuer_key != nullptr ? s.issuer_key : s.key;
  const EVP_MD* md = EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 ? nullptr : s.md;
  EXPECT_GT(X509_sign(x, signer, md), 0) << ossl::LastError();
  return CertPtr(x, X509_free);
}

inline std::vector<std::pair<std::string, std::string>> Subject(const std::string& cn) {
  return {{"C", "US"}, {"ST", "WA"}, {"L", "Seattle"}, {"O", "acme"}, {"CN", cn}};
}

inline std::vector<Ext> CaExts(const std::string& pathlen = "") {
  return {{NID_basic_constraints,
           pathlen.empty() ? "critical,CA:TRUE" : "critical,CA:TRUE,pathlen:" + pathlen},
          {NID_key_usage, "critical,keyCertSign,cRLSign"},
          {NID_subject_key_identifier, "hash"}};
}
inline std::vector<Ext> LeafExts() {
  return {{NID_basic_constraints, "CA:FALSE"},
          {NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, "codeSigning"}};
}
inline std::vector<Ext> TsaExts() {
  return {{NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, "critical,timeStamping"}};
}

inline std::string Der(X509* x) {
  unsigned char* der = nullptr;
  int n = i2d_X509(x, &der);
  EXPECT_GT(n, 0);
  ossl::BytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}
inline std::string Pem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

// A root, an intermediate and a leaf (codeSigning), all P-256 unless a key is given.
struct Pki {
  KeyPtr root_key, inter_key, leaf_key;
  CertPtr root, inter, leaf;
  explicit Pki(KeyPtr leaf_k = nullptr, const std::string& prefix = "test") {
    root_key = SharedKey("P-256");
    inter_key = SharedKey("P-384");
    leaf_key = leaf_k != nullptr ? leaf_k : SharedKey("P-256");
    root = MakeCert({.subject = Subject(prefix + " root"), .key = root_key.get(),
                     .exts = CaExts()});
    inter = MakeCert({.subject = Subject(prefix + " intermediate"), .key = inter_key.get(),
                      .issuer = root.get(), .issuer_key = root_key.get(), .exts = CaExts("0")});
    leaf = MakeCert({.subject = Subject(prefix + " leaf"), .key = leaf_key.get(),
                     .issuer = inter.get(), .issuer_key = inter_key.get(), .exts = LeafExts()});
  }
  std::vector<std::string> Chain() const { return {Der(leaf.get()), Der(inter.get()), Der(root.get())}; }
};

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class X509TempDir {
 public:
  X509TempDir() {
    char tmpl[] = "/tmp/layerseal-notation-x509-XXXXXX";
    char* made = mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path_ = made != nullptr ? made : "/tmp";
  }
  ~X509TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  X509TempDir(const X509TempDir&) = delete;
  X509TempDir& operator=(const X509TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << path;
}

// A CRL by `issuer`, valid [this_update, next_update), listing `revoked` serials.
inline std::string MakeCrl(X509* issuer, EVP_PKEY* issuer_key, const std::vector<long>& revoked,
                           absl::Time this_update, absl::Time next_update,
                           absl::Time revoked_at = absl::FromUnixSeconds(1700000500),
                           int reason = -1) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
  ASN1_TIME* t = ASN1_TIME_new();
  ASN1_TIME_set(t, absl::ToTimeT(this_update));
  X509_CRL_set1_lastUpdate(crl, t);
  ASN1_TIME_set(t, absl::ToTimeT(next_update));
  X509_CRL_set1_nextUpdate(crl, t);
  for (long serial : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    ASN1_INTEGER* s = ASN1_INTEGER_new();
    ASN1_INTEGER_set(s, serial);
    X509_REVOKED_set_serialNumber(r, s);
    ASN1_INTEGER_free(s);
    ASN1_TIME_set(t, absl::ToTimeT(revoked_at));
    X509_REVOKED_set_revocationDate(r, t);
    if (reason >= 0) {
      ASN1_ENUMERATED* e = ASN1_ENUMERATED_new();
      ASN1_ENUMERATED_set(e, reason);
      X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0);
      ASN1_ENUMERATED_free(e);
    }
    X509_CRL_add0_revoked(crl, r);
  }
  ASN1_TIME_free(t);
  X509_CRL_sort(crl);
  const EVP_MD* md = EVP_PKEY_get_id(issuer_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  EXPECT_GT(X509_CRL_sign(crl, issuer_key, md), 0) << ossl::LastError();
  unsigned char* der = nullptr;
  int n = i2d_X509_CRL(crl, &der);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  X509_CRL_free(crl);
  return out;
}

inline std::string CrlPem(const std::string& der) {
  const unsigned char* p = ossl::Bytes(der);
  X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(b, crl);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  X509_CRL_free(crl);
  return out;
}

// A notation envelope signature over `msg`: RSASSA-PSS (salt = digest length, MGF1 with the
// same digest) for RSA keys; ECDSA as raw r||s of 2 x field size bytes; pure Ed25519.
inline std::string NotationSign(EVP_PKEY* key, const EVP_MD* md, std::string_view msg) {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ed = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, ed ? nullptr : md, nullptr, key), 1);
  if (EVP_PKEY_get_id(key) == EVP_PKEY_RSA) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md);
  }
  size_t n = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &n, ossl::Bytes(msg), msg.size()), 1);
  std::string sig(n, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                           ossl::Bytes(msg), msg.size()),
            1);
  sig.resize(n);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_EC) return sig;
  // DER ECDSA-Sig-Value -> r||s.
  const unsigned char* p = ossl::Bytes(sig);
  ossl::EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  int bits = EVP_PKEY_get_bits(key);
  size_t half = static_cast<size_t>((bits + 7) / 8);
  std::string raw(2 * half, '\0');
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(es.get(), &r, &s);
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(half));
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + half, static_cast<int>(half));
  return raw;
}

}  // namespace layerseal::testing::notation_x509

#endif  // LAYERSEAL_TESTS_SUPPORT_NOTATION_X509_CERTS_H_
