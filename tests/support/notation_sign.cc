#include "tests/support/notation_sign.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "base/str_cat.h"
#include "verifier/notation/x509.h"

namespace layerseal::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "notation_sign: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}
#define NS_CHECK(x) \
  do {              \
    if (!(x)) Die(#x); \
  } while (0)

std::atomic<int64_t> next_serial{1000};

template <typename T, void (*F)(T*)>
struct Del {
  void operator()(T* p) const { F(p); }
};
using X509U = std::unique_ptr<X509, Del<X509, X509_free>>;

X509U ParseCert(std::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509U c(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  NS_CHECK(c != nullptr);
  return c;
}

std::string CertDer(X509* c) {
  unsigned char* buf = nullptr;
  int n = i2d_X509(c, &buf);
  NS_CHECK(n > 0);
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  return out;
}

void SetName(X509_NAME* name, const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string rdn = text.substr(start, end - start);
    while (!rdn.empty() && rdn.front() == ' ') rdn.erase(0, 1);
    size_t eq = rdn.find('=');
    NS_CHECK(eq != std::string::npos);
    std::string type = rdn.substr(0, eq), value = rdn.substr(eq + 1);
    NS_CHECK(X509_NAME_add_entry_by_txt(name, type.c_str(), MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(value.c_str()),
                                        -1, -1, 0) == 1);
    start = end + 1;
  }
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  NS_CHECK(ext != nullptr);
  NS_CHECK(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

void SetTime(ASN1_TIME* t, absl::Time when) {
  NS_CHECK(ASN1_TIME_set(t, absl::ToTimeT(when)) != nullptr);
}

std::string B64Url(std::string_view s) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(s.data(), s.size()), &out);
  return out;
}
std::string B64(std::string_view s) {
  std::string out;
  absl::Base64Escape(absl::string_view(s.data(), s.size()), &out);
  return out;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// A minimal CBOR encoder (definite lengths).
struct Cbor {
  std::string out;
  void Head(int major, uint64_t v) {
    uint8_t m = static_cast<uint8_t>(major << 5);
    if (v < 24) {
      out += static_cast<char>(m | v);
    } else if (v <= 0xff) {
      out += static_cast<char>(m | 24);
      out += static_cast<char>(v);
    } else if (v <= 0xffff) {
      out += static_cast<char>(m | 25);
      for (int i = 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    } else if (v <= 0xffffffffULL) {
      out += static_cast<char>(m | 26);
      for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    } else {
      out += static_cast<char>(m | 27);
      for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
    }
  }
  void Int(int64_t v) {
    if (v >= 0) {
      Head(0, static_cast<uint64_t>(v));
    } else {
      Head(1, static_cast<uint64_t>(-1 - v));
    }
  }
  void Text(std::string_view s) {
    Head(3, s.size());
    out.append(s);
  }
  void Bytes(std::string_view s) {
    Head(2, s.size());
    out.append(s);
  }
  void Array(size_t n) { Head(4, n); }
  void Map(size_t n) { Head(5, n); }
  void Tag(uint64_t t) { Head(6, t); }
};

int CoseAlg(const std::string& alg) {
  if (alg == "PS256") return -37;
  if (alg == "PS384") return -38;
  if (alg == "PS512") return -39;
  if (alg == "ES256") return -7;
  if (alg == "ES384") return -35;
  if (alg == "ES512") return -36;
  return 0;  // unknown: the parser must refuse it
}

const EVP_MD* MdFor(std::string_view alg) {
  if (alg.size() == 5 && alg.substr(2) == "384") return EVP_sha384();
  if (alg.size() == 5 && alg.substr(2) == "512") return EVP_sha512();
  return EVP_sha256();
}

int TimeCb(TS_RESP_CTX*, void* data, long* sec, long* usec) {
  const absl::Time* t = static_cast<const absl::Time*>(data);
  *sec = static_cast<long>(absl::ToUnixSeconds(*t));
  *usec = 0;
  return 1;
}

}  // namespace

PKey NewRsaKey(int bits) {
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned>(bits));
  NS_CHECK(k != nullptr);
  return PKey(k, EVP_PKEY_free);
}

PKey NewEcKey(int curve_nid) {
  EVP_PKEY* k = EVP_EC_gen(OBJ_nid2sn(curve_nid));
  NS_CHECK(k != nullptr);
  return PKey(k, EVP_PKEY_free);
}

TestCert MakeCert(const CertSpec& spec, PKey key, const TestCert* issuer) {
  X509U cert(X509_new());
  NS_CHECK(cert != nullptr);
  NS_CHECK(X509_set_version(cert.get(), 2) == 1);
  TestCert out;
  out.serial = next_serial++;
  NS_CHECK(ASN1_INTEGER_set_int64(X509_get_serialNumber(cert.get()), out.serial) == 1);
  SetName(X509_get_subject_name(cert.get()), spec.subject);
  X509U issuer_cert;
  if (issuer != nullptr) {
    issuer_cert = ParseCert(issuer->der);
    NS_CHECK(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get())) == 1);
  } else {
    NS_CHECK(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1);
  }
  SetTime(X509_getm_notBefore(cert.get()), spec.not_before);
  SetTime(X509_getm_notAfter(cert.get()), spec.not_after);
  NS_CHECK(X509_set_pubkey(cert.get(), key.get()) == 1);
  X509* iss = issuer_cert != nullptr ? issuer_cert.get() : cert.get();
  AddExt(cert.get(), iss, NID_subject_key_identifier, "hash");
  AddExt(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
  switch (spec.kind) {
    case CertKind::kCa: {
      std::string bc = "critical,CA:TRUE";
      if (spec.path_len >= 0) bc += StrCat(",pathlen:", spec.path_len);
      AddExt(cert.get(), iss, NID_basic_constraints, bc.c_str());
      AddExt(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    }
    case CertKind::kCodeSigning:
      AddExt(cert.get(), iss, NID_basic_constraints, "CA:FALSE");
      AddExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
      AddExt(cert.get(), iss, NID_ext_key_usage, "codeSigning");
      break;
    case CertKind::kTimestamping:
      AddExt(cert.get(), iss, NID_basic_constraints, "CA:FALSE");
      AddExt(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
      AddExt(cert.get(), iss, NID_ext_key_usage, "critical,timeStamping");
      break;
  }
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : key.get();
  NS_CHECK(X509_sign(cert.get(), signer, EVP_sha256()) > 0);
  out.der = CertDer(cert.get());
  out.key = std::move(key);
  out.subject = spec.subject;
  return out;
}

std::string MakeCrl(const TestCert& issuer, absl::Time this_update, absl::Time next_update,
                    const std::vector<int64_t>& revoked) {
  X509U ic = ParseCert(issuer.der);
  X509_CRL* crl = X509_CRL_new();
  NS_CHECK(crl != nullptr);
  NS_CHECK(X509_CRL_set_version(crl, 1) == 1);
  NS_CHECK(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ic.get())) == 1);
  ASN1_TIME* t = ASN1_TIME_new();
  SetTime(t, this_update);
  NS_CHECK(X509_CRL_set1_lastUpdate(crl, t) == 1);
  SetTime(t, next_update);
  NS_CHECK(X509_CRL_set1_nextUpdate(crl, t) == 1);
  for (int64_t serial : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    ASN1_INTEGER* s = ASN1_INTEGER_new();
    NS_CHECK(ASN1_INTEGER_set_int64(s, serial) == 1);
    NS_CHECK(X509_REVOKED_set_serialNumber(r, s) == 1);
    SetTime(t, this_update);
    NS_CHECK(X509_REVOKED_set_revocationDate(r, t) == 1);
    NS_CHECK(X509_CRL_add0_revoked(crl, r) == 1);
    ASN1_INTEGER_free(s);
  }
  ASN1_TIME_free(t);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ic.get(), nullptr, nullptr, crl, 0);
  X509_EXTENSION* aki = X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always");
  NS_CHECK(aki != nullptr);
  NS_CHECK(X509_CRL_add_ext(crl, aki, -1) == 1);
  X509_EXTENSION_free(aki);
  NS_CHECK(X509_CRL_sort(crl) == 1);
  NS_CHECK(X509_CRL_sign(crl, issuer.key.get(), EVP_sha256()) > 0);
  unsigned char* buf = nullptr;
  int n = i2d_X509_CRL(crl, &buf);
  NS_CHECK(n > 0);
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  X509_CRL_free(crl);
  return out;
}

std::shared_ptr<const notation::TrustStore> MakeStore(std::string name, notation::StoreType type,
                                                      const std::vector<std::string>& certs_der,
                                                      std::vector<std::string> crls_der) {
  auto s = std::make_shared<notation::TrustStore>();
  s->name = std::move(name);
  s->type = type;
  s->dir = StrCat("(memory)/", s->name);
  s->certs_der = certs_der;
  for (const std::string& c : certs_der) s->thumbprints.push_back(notation::Thumbprint(c));
  s->crls_der = std::move(crls_der);
  if (!s->crls_der.empty()) s->crl_path = StrCat("(memory)/", s->name, ".crl");
  return s;
}

std::string MakeTimestampToken(const TsaSpec& spec, std::string_view message) {
  const EVP_MD* md = spec.imprint_md != nullptr ? spec.imprint_md : EVP_sha256();
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int hash_len = 0;
  NS_CHECK(EVP_Digest(message.data(), message.size(), hash, &hash_len, md, nullptr) == 1);
  // The request.
  TS_REQ* req = TS_REQ_new();
  TS_MSG_IMPRINT* imprint = TS_MSG_IMPRINT_new();
  X509_ALGOR* algo = X509_ALGOR_new();
  NS_CHECK(req && imprint && algo);
  NS_CHECK(X509_ALGOR_set0(algo, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, nullptr) == 1);
  NS_CHECK(TS_MSG_IMPRINT_set_algo(imprint, algo) == 1);
  NS_CHECK(TS_MSG_IMPRINT_set_msg(imprint, hash, static_cast<int>(hash_len)) == 1);
  NS_CHECK(TS_REQ_set_version(req, 1) == 1);
  NS_CHECK(TS_REQ_set_msg_imprint(req, imprint) == 1);
  NS_CHECK(TS_REQ_set_cert_req(req, spec.embed_certs ? 1 : 0) == 1);
  X509_ALGOR_free(algo);
  TS_MSG_IMPRINT_free(imprint);
  BIO* req_bio = BIO_new(BIO_s_mem());
  NS_CHECK(i2d_TS_REQ_bio(req_bio, req) == 1);
  TS_REQ_free(req);

  // The responder.
  TS_RESP_CTX* ctx = TS_RESP_CTX_new();
  NS_CHECK(ctx != nullptr);
  X509U tsa = ParseCert(spec.tsa.der);
  NS_CHECK(TS_RESP_CTX_set_signer_cert(ctx, tsa.get()) == 1);
  NS_CHECK(TS_RESP_CTX_set_signer_key(ctx, spec.tsa.key.get()) == 1);
  NS_CHECK(TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) == 1);
  NS_CHECK(TS_RESP_CTX_set_ess_cert_id_digest(ctx, spec.ess_v2 ? EVP_sha256() : EVP_sha1()) == 1);
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (const std::string& der : spec.chain) {
    X509U c = ParseCert(der);
    NS_CHECK(sk_X509_push(chain, c.release()) > 0);
  }
  NS_CHECK(TS_RESP_CTX_set_certs(ctx, chain) == 1);
  sk_X509_pop_free(chain, X509_free);
  ASN1_OBJECT* policy = OBJ_txt2obj(spec.policy_oid.c_str(), 1);
  NS_CHECK(policy != nullptr);
  NS_CHECK(TS_RESP_CTX_set_def_policy(ctx, policy) == 1);
  ASN1_OBJECT_free(policy);
  NS_CHECK(TS_RESP_CTX_add_md(ctx, md) == 1);
  if (spec.accuracy_seconds.has_value()) {
    NS_CHECK(TS_RESP_CTX_set_accuracy(ctx, *spec.accuracy_seconds, 0, 0) == 1);
  }
  absl::Time gen = spec.gen_time;
  TS_RESP_CTX_set_time_cb(ctx, TimeCb, &gen);
  TS_RESP* resp = TS_RESP_create_response(ctx, req_bio);
  NS_CHECK(resp != nullptr);
  BIO_free(req_bio);
  PKCS7* token = TS_RESP_get_token(resp);
  NS_CHECK(token != nullptr);
  std::string out;
  if (!spec.no_ess) {
    unsigned char* buf = nullptr;
    int n = i2d_PKCS7(token, &buf);
    NS_CHECK(n > 0);
    out.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
    OPENSSL_free(buf);
  } else {
    // The same TSTInfo, signed by plain CMS: no ESS signing-certificate attribute.
    TS_TST_INFO* info = TS_RESP_get_tst_info(resp);
    unsigned char* buf = nullptr;
    int n = i2d_TS_TST_INFO(info, &buf);
    NS_CHECK(n > 0);
    BIO* content = BIO_new_mem_buf(buf, n);
    CMS_ContentInfo* cms =
        CMS_sign(nullptr, nullptr, nullptr, nullptr, CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP);
    NS_CHECK(cms != nullptr);
    NS_CHECK(CMS_set1_eContentType(cms, OBJ_nid2obj(NID_id_smime_ct_TSTInfo)) == 1);
    NS_CHECK(CMS_add1_signer(cms, tsa.get(), spec.tsa.key.get(), EVP_sha256(),
                             CMS_BINARY | CMS_NOSMIMECAP) != nullptr);
    for (const std::string& der : spec.chain) {
      X509U c = ParseCert(der);
      NS_CHECK(CMS_add1_cert(cms, c.get()) == 1);
    }
    NS_CHECK(CMS_final(cms, content, nullptr, CMS_BINARY) == 1);
    unsigned char* obuf = nullptr;
    int on = i2d_CMS_ContentInfo(cms, &obuf);
    NS_CHECK(on > 0);
    out.assign(reinterpret_cast<char*>(obuf), static_cast<size_t>(on));
    OPENSSL_free(obuf);
    CMS_ContentInfo_free(cms);
    BIO_free(content);
    OPENSSL_free(buf);
  }
  TS_RESP_free(resp);
  TS_RESP_CTX_free(ctx);
  ERR_clear_error();
  return out;
}

std::string AlgFor(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    return bits >= 4096 ? "PS512" : bits >= 3072 ? "PS384" : "PS256";
  }
  int bits = EVP_PKEY_get_bits(key);
  return bits > 384 ? "ES512" : bits > 256 ? "ES384" : "ES256";
}

std::string SignRaw(EVP_PKEY* key, std::string_view alg, std::string_view data) {
  const EVP_MD* md = MdFor(alg);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  NS_CHECK(EVP_DigestSignInit(ctx, &pctx, md, nullptr, key) == 1);
  bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
  if (rsa) {
    NS_CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
    NS_CHECK(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
    NS_CHECK(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1);
  }
  size_t len = 0;
  NS_CHECK(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1);
  std::string sig(len, '\0');
  NS_CHECK(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (rsa) return sig;
  // DER ECDSA-Sig-Value -> r||s of the field size.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  NS_CHECK(es != nullptr);
  int field = (EVP_PKEY_get_bits(key) + 7) / 8;
  std::string out(2 * static_cast<size_t>(field), '\0');
  NS_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(out.data()), field) ==
           field);
  NS_CHECK(BN_bn2binpad(ECDSA_SIG_get0_s(es),
                        reinterpret_cast<unsigned char*>(out.data()) + field, field) == field);
  ECDSA_SIG_free(es);
  return out;
}

std::string SignEnvelope(const EnvelopeSpec& spec) {
  using notation::SigningScheme;
  std::string alg = spec.alg.empty() ? AlgFor(spec.key.get()) : spec.alg;
  std::string payload =
      StrCat("{\"targetArtifact\":{\"mediaType\":", JsonString(spec.target_media_type),
             ",\"digest\":", JsonString(spec.target_digest), ",\"size\":", spec.target_size, "}}");
  const bool sa = spec.scheme == SigningScheme::kX509SigningAuthority;
  const std::string scheme = std::string(notation::SigningSchemeName(spec.scheme));
  absl::Time ast = spec.authentic_signing_time.value_or(spec.signing_time);
  std::vector<std::string> crit = {std::string(notation::kHeaderSigningScheme)};
  if (sa) crit.emplace_back(notation::kHeaderAuthenticSigningTime);
  if (spec.expiry) crit.emplace_back(notation::kHeaderExpiry);
  if (!spec.plugin.empty()) crit.emplace_back(notation::kHeaderVerificationPlugin);
  if (!spec.plugin_min_version.empty()) {
    crit.emplace_back(notation::kHeaderVerificationPluginMinVersion);
  }

  if (spec.format == notation::Format::kJws) {
    std::string prot = StrCat("{\"alg\":", JsonString(alg), ",\"crit\":[");
    for (size_t i = 0; i < crit.size(); ++i) prot += StrCat(i ? "," : "", JsonString(crit[i]));
    prot += StrCat("],\"cty\":", JsonString(notation::kPayloadContentType), ",",
                   JsonString(notation::kHeaderSigningScheme), ":", JsonString(scheme));
    if (sa) {
      prot += StrCat(",", JsonString(notation::kHeaderAuthenticSigningTime), ":",
                     JsonString(Rfc3339(ast)));
    } else {
      prot += StrCat(",", JsonString(notation::kHeaderSigningTime), ":",
                     JsonString(Rfc3339(spec.signing_time)));
    }
    if (spec.expiry) {
      prot += StrCat(",", JsonString(notation::kHeaderExpiry), ":", JsonString(Rfc3339(*spec.expiry)));
    }
    if (!spec.plugin.empty()) {
      prot += StrCat(",", JsonString(notation::kHeaderVerificationPlugin), ":",
                     JsonString(spec.plugin));
    }
    if (!spec.plugin_min_version.empty()) {
      prot += StrCat(",", JsonString(notation::kHeaderVerificationPluginMinVersion), ":",
                     JsonString(spec.plugin_min_version));
    }
    prot += "}";
    std::string signing_input = StrCat(B64Url(prot), ".", B64Url(payload));
    std::string sig = SignRaw(spec.key.get(), alg, signing_input);
    std::string header = "{\"x5c\":[";
    for (size_t i = 0; i < spec.chain.size(); ++i) {
      header += StrCat(i ? "," : "", JsonString(B64(spec.chain[i])));
    }
    header += StrCat("],", JsonString(notation::kHeaderSigningAgent), ":",
                     JsonString(spec.signing_agent));
    if (spec.timestamp) {
      header += StrCat(",", JsonString(notation::kHeaderTimestampSignature), ":",
                       JsonString(B64(spec.timestamp(sig))));
    }
    header += "}";
    return StrCat("{\"payload\":", JsonString(B64Url(payload)), ",\"protected\":",
                  JsonString(B64Url(prot)), ",\"header\":", header,
                  ",\"signature\":", JsonString(B64Url(sig)), "}");
  }

  // COSE_Sign1.
  Cbor p;
  size_t members = 5 + (spec.expiry ? 1 : 0) + (spec.plugin.empty() ? 0 : 1) +
                   (spec.plugin_min_version.empty() ? 0 : 1);
  p.Map(members);
  p.Int(1);
  p.Int(CoseAlg(alg));
  p.Int(2);
  p.Array(crit.size());
  for (const std::string& c : crit) p.Text(c);
  p.Int(3);
  p.Text(notation::kPayloadContentType);
  p.Text(notation::kHeaderSigningScheme);
  p.Text(scheme);
  if (sa) {
    p.Text(notation::kHeaderAuthenticSigningTime);
    p.Tag(1);
    p.Int(absl::ToUnixSeconds(ast));
  } else {
    p.Text(notation::kHeaderSigningTime);
    p.Tag(1);
    p.Int(absl::ToUnixSeconds(spec.signing_time));
  }
  if (spec.expiry) {
    p.Text(notation::kHeaderExpiry);
    p.Tag(1);
    p.Int(absl::ToUnixSeconds(*spec.expiry));
  }
  if (!spec.plugin.empty()) {
    p.Text(notation::kHeaderVerificationPlugin);
    p.Text(spec.plugin);
  }
  if (!spec.plugin_min_version.empty()) {
    p.Text(notation::kHeaderVerificationPluginMinVersion);
    p.Text(spec.plugin_min_version);
  }
  Cbor tbs;
  tbs.Array(4);
  tbs.Text("Signature1");
  tbs.Bytes(p.out);
  tbs.Bytes("");
  tbs.Bytes(payload);
  std::string sig = SignRaw(spec.key.get(), alg, tbs.out);
  Cbor m;
  m.Tag(18);
  m.Array(4);
  m.Bytes(p.out);
  m.Map(2 + (spec.timestamp ? 1 : 0));
  m.Int(33);
  m.Array(spec.chain.size());
  for (const std::string& c : spec.chain) m.Bytes(c);
  m.Text(notation::kHeaderSigningAgent);
  m.Text(spec.signing_agent);
  if (spec.timestamp) {
    m.Text(notation::kHeaderTimestampSignature);
    m.Bytes(spec.timestamp(sig));
  }
  m.Bytes(payload);
  m.Bytes(sig);
  return m.out;
}

}  // namespace layerseal::testing
