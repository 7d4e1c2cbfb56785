// The sigstore X.509 / CT / TSA pieces (verifier/sigstore/{signature,fulcio,sct,rfc3161}.h)
// on the real Fulcio certificates, SCTs and RFC 3161 tokens of the sigstore-conformance
// corpus ($LAYERSEAL_SHARED_DIR/conformance/sigstore, default ../shared beside the source
// tree), and on hostile certificates made here with OpenSSL (deep and looping chains, huge
// extensions, ambiguous identities, missing EKU).
//
// The trusted roots are built here with TrustedRoot::FromParts from the corpus JSON (decoded
// with nlohmann + d2i), an oracle independent of TrustedRoot::Parse; one test checks that
// the parser's roots give the same results.
#include <openssl/asn1.h>
#include <openssl/ct.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/digest.h"
#include "verifier/internal/openssl_util.h"
#include "verifier/sigstore/fulcio.h"
#include "verifier/sigstore/json.h"
#include "verifier/sigstore/rfc3161.h"
#include "verifier/sigstore/sct.h"
#include "verifier/sigstore/signature.h"
#include "verifier/sigstore/trusted_root.h"
#include "tests/support/shared_dir.h"

namespace layerseal::sigstore {
namespace {

using ::nlohmann::json;
using namespace std::string_literals;

constexpr char kBeaconIdentity[] =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
constexpr char kGithubIssuer[] = "https://token.actions.githubusercontent.com";

// ---- the corpus ------------------------------------------------------------------------

std::string CorpusDir() { return layerseal::testing::SigstoreCorpusDir(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path << " is missing (the sigstore-conformance corpus)";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json ReadJson(const std::string& path) { return json::parse(ReadAll(path)); }

// protojson base64 (verifier/sigstore/json.h: some corpus values are unpadded, one is
// line-wrapped).
std::string B64(const json& j) {
  absl::StatusOr<std::string> raw = ProtoBytes(j, "test");
  EXPECT_TRUE(raw.ok()) << raw.status();
  return raw.ok() ? *raw : "";
}

absl::Time Rfc3339(const std::string& s) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, s, &t, &err)) << s << ": " << err;
  return t;
}

TimeRange Range(const json& valid_for) {
  TimeRange r;
  r.start = Rfc3339(valid_for.at("start").get<std::string>());
  if (valid_for.contains("end")) r.end = Rfc3339(valid_for.at("end").get<std::string>());
  return r;
}

std::shared_ptr<X509> Cert(std::string_view der) {
  absl::StatusOr<std::shared_ptr<X509>> c = ParseCertificate(der);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

LogKey Log(const json& j) {
  LogKey k;
  k.log_id = B64(j.at("logId").at("keyId"));
  const json& pk = j.at("publicKey");
  std::string raw = B64(pk.at("rawBytes"));
  if (pk.at("keyDetails") == "PKCS1_RSA_PKCS1V5") {  // a PKCS#1 RSAPublicKey, not an SPKI
    const unsigned char* p = ossl::Bytes(raw);
    EVP_PKEY* key = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(raw.size()));
    EXPECT_NE(key, nullptr);
    k.key = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
  } else {
    absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = KeyFromSpkiDer(raw);
    EXPECT_TRUE(key.ok()) << key.status();
    if (key.ok()) k.key = *key;
  }
  k.valid_for = Range(pk.at("validFor"));
  return k;
}

std::shared_ptr<X509_STORE> StoreOf(X509* root) {
  std::shared_ptr<X509_STORE> s(X509_STORE_new(), X509_STORE_free);
  EXPECT_EQ(X509_STORE_add_cert(s.get(), root), 1);
  return s;
}

Authority Ca(const json& j) {
  Authority a;
  if (j.contains("uri")) a.uri = j.at("uri").get<std::string>();
  for (const json& c : j.at("certChain").at("certificates")) a.chain.push_back(Cert(B64(c.at("rawBytes"))));
  a.valid_for = Range(j.at("validFor"));
  a.store = StoreOf(a.chain.back().get());
  return a;
}

// A trusted_root.json as a TrustedRoot, its CT logs, Fulcio CAs and TSAs only.
TrustedRoot LoadRoot(const std::string& path) {
  json j = ReadJson(path);
  std::vector<LogKey> ctlogs;
  std::vector<Authority> cas, tsas;
  for (const json& l : j.value("ctlogs", json::array())) ctlogs.push_back(Log(l));
  for (const json& c : j.value("certificateAuthorities", json::array())) cas.push_back(Ca(c));
  for (const json& t : j.value("timestampAuthorities", json::array())) tsas.push_back(Ca(t));
  return TrustedRoot::FromParts({}, std::move(ctlogs), std::move(cas), std::move(tsas), "sha256:test");
}

TrustedRoot PublicGood() { return LoadRoot(StrCat(CorpusDir(), "/trusted_root.public-good.json")); }
TrustedRoot OwnRoot(const std::string& c) {
  return LoadRoot(StrCat(CorpusDir(), "/bundle-verify/", c, "/trusted_root.json"));
}

struct Case {
  std::shared_ptr<X509> leaf;
  absl::Time integrated_time;  // of the first tlog entry; the epoch for Rekor v2
  std::vector<std::string> timestamps;  // DER TimeStampResp
  std::string signature;                // what the timestamps are over
};

Case LoadCase(const std::string& name) {
  json b = ReadJson(StrCat(CorpusDir(), "/bundle-verify/", name, "/bundle.sigstore.json"));
  const json& vm = b.at("verificationMaterial");
  Case c;
  if (vm.contains("certificate")) {
    c.leaf = Cert(B64(vm.at("certificate").at("rawBytes")));
  } else if (vm.contains("x509CertificateChain")) {
    c.leaf = Cert(B64(vm.at("x509CertificateChain").at("certificates").at(0).at("rawBytes")));
  }
  c.integrated_time = absl::UnixEpoch();
  if (vm.contains("tlogEntries") && !vm.at("tlogEntries").empty()) {
    const json& e = vm.at("tlogEntries").at(0);
    if (e.contains("integratedTime")) {
      c.integrated_time = absl::FromUnixSeconds(std::stoll(e.at("integratedTime").get<std::string>()));
    }
  }
  if (vm.contains("timestampVerificationData")) {
    for (const json& t : vm.at("timestampVerificationData").value("rfc3161Timestamps", json::array())) {
      c.timestamps.push_back(B64(t.at("signedTimestamp")));
    }
  }
  if (b.contains("messageSignature")) {
    c.signature = B64(b.at("messageSignature").at("signature"));
  } else if (b.contains("dsseEnvelope")) {
    c.signature = B64(b.at("dsseEnvelope").at("signatures").at(0).at("sig"));
  }
  return c;
}

absl::Time NotBefore(X509* c) {
  absl::Time t;
  EXPECT_TRUE(ossl::ToAbslTime(X509_get0_notBefore(c), &t));
  return t;
}
absl::Time NotAfter(X509* c) {
  absl::Time t;
  EXPECT_TRUE(ossl::ToAbslTime(X509_get0_notAfter(c), &t));
  return t;
}

const std::vector<std::string> kPublicGoodHappyPaths = {
    "happy-path-v0.1", "happy-path-v0.2", "happy-path-v0.3", "happy-path-v0.3-new-mediaType",
    "happy-path-intoto-in-dsse-v3"};

// ---- certificates made here --------------------------------------------------------------

ossl::PkeyPtr NewKey() { return ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

struct Ext {
  int nid = NID_undef;  // a v3 conf extension (X509V3_EXT_conf_nid) ...
  std::string value;
  std::string oid;      // ... or a raw one: OID and its content octets
  std::string raw;
};

struct Spec {
  std::string cn;
  EVP_PKEY* key = nullptr;
  X509* issuer = nullptr;  // null: self-signed
  EVP_PKEY* issuer_key = nullptr;
  bool ca = false;
  std::vector<Ext> extra;
  absl::Time not_before = absl::FromUnixSeconds(1700000000);
  absl::Time not_after = absl::FromUnixSeconds(1700000000 + 3650 * 86400);
  bool leaf_defaults = true;  // leaf: codeSigning EKU + digitalSignature
};

void AddConfExt(X509* x, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ASSERT_NE(e, nullptr) << OBJ_nid2sn(nid) << "=" << value.substr(0, 80) << ": " << ossl::LastError();
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

void AddRawExt(X509* x, const std::string& oid, const std::string& content) {
  ossl::ObjPtr obj(OBJ_txt2obj(oid.c_str(), 1));
  ossl::OctetPtr data(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(data.get(), ossl::Bytes(content), static_cast<int>(content.size()));
  X509_EXTENSION* e = X509_EXTENSION_create_by_OBJ(nullptr, obj.get(), 0, data.get());
  ASSERT_NE(e, nullptr);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

std::string DerUtf8(const std::string& s) {
  ossl::Utf8Ptr u(ASN1_UTF8STRING_new());
  ASN1_STRING_set(u.get(), s.data(), static_cast<int>(s.size()));
  unsigned char* der = nullptr;
  int n = i2d_ASN1_UTF8STRING(u.get(), &der);
  ossl::BytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

std::shared_ptr<X509> Make(const Spec& s) {
  static int serial = 1;
  X509* x = X509_new();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_NAME* name = X509_NAME_new();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(s.cn.c_str()), -1, -1, 0);
  X509_set_subject_name(x, name);
  X509_set_issuer_name(x, s.issuer != nullptr ? X509_get_subject_name(s.issuer) : name);
  X509_NAME_free(name);
  ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(s.not_before));
  ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(s.not_after));
  X509_set_pubkey(x, s.key);
  AddConfExt(x, s.issuer, NID_subject_key_identifier, "hash");
  AddConfExt(x, s.issuer, NID_authority_key_identifier, "keyid:always");
  if (s.ca) {
    AddConfExt(x, s.issuer, NID_basic_constraints, "critical,CA:TRUE");
    AddConfExt(x, s.issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (s.leaf_defaults) {
    AddConfExt(x, s.issuer, NID_key_usage, "critical,digitalSignature");
    AddConfExt(x, s.issuer, NID_ext_key_usage, "codeSigning");
  }
  for (const Ext& e : s.extra) {
    if (e.nid != NID_undef) {
      AddConfExt(x, s.issuer, e.nid, e.value);
    } else {
      AddRawExt(x, e.oid, e.raw);
    }
  }
  EXPECT_GT(X509_sign(x, s.issuer_key != nullptr ? s.issuer_key : s.key, EVP_sha256()), 0)
      << ossl::LastError();
  return std::shared_ptr<X509>(x, X509_free);
}

Ext San(const std::string& v) { return Ext{NID_subject_alt_name, StrCat("critical,", v), "", ""}; }
Ext IssuerV2(const std::string& v) { return Ext{NID_undef, "", "1.3.6.1.4.1.57264.1.8", DerUtf8(v)}; }
Ext IssuerV1(const std::string& v) { return Ext{NID_undef, "", "1.3.6.1.4.1.57264.1.1", v}; }

// A root CA, an intermediate, and a TrustedRoot trusting them.
struct Pki {
  ossl::PkeyPtr root_key = NewKey(), inter_key = NewKey();
  std::shared_ptr<X509> root, inter;
  Pki() {
    root = Make(Spec{.cn = "test root", .key = root_key.get(), .ca = true});
    inter = Make(Spec{.cn = "test intermediate", .key = inter_key.get(), .issuer = root.get(),
                      .issuer_key = root_key.get(), .ca = true});
  }
  std::shared_ptr<X509> Leaf(EVP_PKEY* key, std::vector<Ext> extra, bool leaf_defaults = true) {
    return Make(Spec{.cn = "", .key = key, .issuer = inter.get(), .issuer_key = inter_key.get(),
                     .extra = std::move(extra), .leaf_defaults = leaf_defaults});
  }
  TrustedRoot Root() const {
    Authority a;
    a.chain = {inter, root};
    a.valid_for.start = absl::UnixEpoch();
    a.store = StoreOf(root.get());
    return TrustedRoot::FromParts({}, {}, {a}, {}, "sha256:test");
  }
};

const absl::Time kInside = absl::FromUnixSeconds(1700000000 + 86400);

// ---- signature.h --------------------------------------------------------------------------

std::string Sign(EVP_PKEY* key, const EVP_MD* md, std::string_view msg) {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key), 1);
  size_t n = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &n, ossl::Bytes(msg), msg.size()), 1);
  std::string sig(n, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                           ossl::Bytes(msg), msg.size()),
            1);
  sig.resize(n);
  return sig;
}

std::string Digest(const EVP_MD* md, std::string_view msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(msg.data(), msg.size(), out, &n, md, nullptr), 1);
  return std::string(reinterpret_cast<char*>(out), n);
}

TEST(SigstoreSignatureTest, EveryKeyTypeVerifiesMessagesAndPrehashes) {
  struct KeyCase {
    ossl::PkeyPtr key;
    const EVP_MD* md;
  };
  std::vector<KeyCase> keys;
  keys.push_back({ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")), EVP_sha256()});
  keys.push_back({ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384")), EVP_sha384()});
  keys.push_back({ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521")), EVP_sha512()});
  keys.push_back({ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})), EVP_sha256()});
  keys.push_back({ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")), nullptr});
  const std::string msg = "the artifact";
  for (KeyCase& k : keys) {
    SCOPED_TRACE(EVP_PKEY_get0_type_name(k.key.get()));
    ASSERT_NE(k.key, nullptr);
    EXPECT_EQ(DefaultDigest(k.key.get()), k.md);
    std::string sig = Sign(k.key.get(), k.md, msg);
    EXPECT_TRUE(VerifyMessage(k.key.get(), msg, sig).ok());
    EXPECT_EQ(VerifyMessage(k.key.get(), "another artifact", sig).code(),
              absl::StatusCode::kUnauthenticated);
    if (k.md != nullptr) {
      EXPECT_TRUE(VerifyPrehashed(k.key.get(), k.md, Digest(k.md, msg), sig).ok());
      EXPECT_EQ(VerifyPrehashed(k.key.get(), k.md, Digest(k.md, "x"), sig).code(),
                absl::StatusCode::kUnauthenticated);
      EXPECT_EQ(VerifyPrehashed(k.key.get(), k.md, "short", sig).code(),
                absl::StatusCode::kInvalidArgument);
    } else {
      EXPECT_EQ(VerifyPrehashed(k.key.get(), EVP_sha256(), Digest(EVP_sha256(), msg), sig).code(),
                absl::StatusCode::kUnimplemented);
    }
    // Malformed signatures are InvalidArgument, not a crash.
    EXPECT_EQ(VerifyMessage(k.key.get(), msg, "").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(VerifyMessage(k.key.get(), msg, sig + "x").code(), absl::StatusCode::kInvalidArgument);
    // SPKI round trip, whole input consumed.
    std::string spki = SpkiDer(k.key.get());
    absl::StatusOr<std::shared_ptr<EVP_PKEY>> back = KeyFromSpkiDer(spki);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(VerifyMessage(back->get(), msg, sig).ok());
    EXPECT_EQ(KeyFromSpkiDer(spki + "\0"s).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(KeyFromSpkiDer(spki.substr(0, spki.size() - 1)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(SigstoreSignatureTest, RefusesWeakAndUnknownKeys) {
  ossl::PkeyPtr k1(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  ASSERT_NE(k1, nullptr);
  EXPECT_EQ(KeyFromSpkiDer(SpkiDer(k1.get())).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DefaultDigest(k1.get()), nullptr);
  ossl::PkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  ASSERT_NE(rsa, nullptr);
  absl::Status s = KeyFromSpkiDer(SpkiDer(rsa.get())).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("1024"), std::string_view::npos) << s;
  EXPECT_EQ(VerifyMessage(nullptr, "m", "s").code(), absl::StatusCode::kInvalidArgument);
}

TEST(SigstoreSignatureTest, NonCanonicalEcdsaDerIsMalformed) {
  ossl::PkeyPtr key = NewKey();
  std::string sig = Sign(key.get(), EVP_sha256(), "m");
  ASSERT_TRUE(VerifyMessage(key.get(), "m", sig).ok());
  // The same signature with a long-form SEQUENCE length: BER, not DER.
  ASSERT_EQ(sig[0], 0x30);
  ASSERT_LT(static_cast<unsigned char>(sig[1]), 0x80);
  std::string ber = StrCat(std::string("\x30\x81", 2), sig.substr(1));
  EXPECT_EQ(VerifyMessage(key.get(), "m", ber).code(), absl::StatusCode::kInvalidArgument);
}

// ---- fulcio.h: the corpus -------------------------------------------------------------

TEST(SigstoreFulcioTest, HappyPathLeavesChainAtTheirIntegratedTime) {
  TrustedRoot root = PublicGood();
  for (const std::string& name : kPublicGoodHappyPaths) {
    SCOPED_TRACE(name);
    Case c = LoadCase(name);
    ASSERT_NE(c.leaf, nullptr);
    EXPECT_TRUE(CertificateValidAt(c.leaf.get(), c.integrated_time));
    absl::StatusOr<std::vector<std::shared_ptr<X509>>> chain =
        VerifyChainAt(c.leaf.get(), root, c.integrated_time);
    ASSERT_TRUE(chain.ok()) << chain.status();
    ASSERT_EQ(chain->size(), 3u);  // leaf, sigstore-intermediate, sigstore root
    EXPECT_EQ(X509_cmp(chain->front().get(), c.leaf.get()), 0);
    EXPECT_EQ(X509_cmp(chain->back().get(), root.fulcio()[1].chain.back().get()), 0);
    // Outside the leaf's 10 minutes: refused, saying so.
    absl::Time after = NotAfter(c.leaf.get()) + absl::Seconds(1);
    EXPECT_FALSE(CertificateValidAt(c.leaf.get(), after));
    absl::Status s = VerifyChainAt(c.leaf.get(), root, after).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(s.message().find("expired"), std::string_view::npos) << s;
    absl::Time before = NotBefore(c.leaf.get()) - absl::Seconds(1);
    EXPECT_FALSE(CertificateValidAt(c.leaf.get(), before));
    s = VerifyChainAt(c.leaf.get(), root, before).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(s.message().find("not yet valid"), std::string_view::npos) << s;
    // The closed interval's ends are inside.
    EXPECT_TRUE(CertificateValidAt(c.leaf.get(), NotBefore(c.leaf.get())));
    EXPECT_TRUE(CertificateValidAt(c.leaf.get(), NotAfter(c.leaf.get())));
  }
}

TEST(SigstoreFulcioTest, LeafOfAnotherInstanceDoesNotChain) {
  // A staging certificate against the public-good root.
  Case c = LoadCase("bundle-from-wrong-instance_fail");
  absl::Status s = VerifyChainAt(c.leaf.get(), PublicGood(), c.integrated_time).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("unable to get local issuer"), std::string_view::npos) << s;
}

TEST(SigstoreFulcioTest, NoCaValidAtTheTime) {
  Case c = LoadCase("happy-path-v0.1");
  absl::Status s = VerifyChainAt(c.leaf.get(), PublicGood(), absl::FromUnixSeconds(1000)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("no Fulcio certificate authority"), std::string_view::npos) << s;
}

TEST(SigstoreFulcioTest, ExpiredIntotoCertificateFails) {
  Case c = LoadCase("intoto-expired-certificate_fail");
  TrustedRoot root = OwnRoot("intoto-expired-certificate_fail");
  EXPECT_FALSE(CertificateValidAt(c.leaf.get(), c.integrated_time));
  absl::Status s = VerifyChainAt(c.leaf.get(), root, c.integrated_time).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  // The mock's custom root does chain its own valid leaves (with X509_V_FLAG_X509_STRICT).
  Case ok = LoadCase("intoto-with-custom-trust-root");
  EXPECT_TRUE(VerifyChainAt(ok.leaf.get(), OwnRoot("intoto-with-custom-trust-root"), ok.integrated_time).ok());
}

TEST(SigstoreFulcioTest, EveryCorpusLeafPassesStrictChecksAtItsNotBefore) {
  // X509_V_FLAG_X509_STRICT is on: every real Fulcio (and mock) leaf of the corpus whose root
  // is known must still chain. The _fail cases that are not about the certificate count too.
  const std::vector<std::pair<std::string, bool>> cases = {
      {"happy-path-v0.1", false}, {"integrated-time-in-future_fail", false},
      {"bundle-with-sct-with-extensions", true}, {"rekor2-happy-path", true},
      {"rekor2-dsse-happy-path", true}, {"intoto-with-custom-trust-root", true},
      {"wrong-hashedrekord-entry_fail", false}, {"dsse-invalid-sig_fail", false}};
  for (const auto& [name, own] : cases) {
    SCOPED_TRACE(name);
    Case c = LoadCase(name);
    TrustedRoot root = own ? OwnRoot(name) : PublicGood();
    absl::StatusOr<std::vector<std::shared_ptr<X509>>> chain =
        VerifyChainAt(c.leaf.get(), root, NotBefore(c.leaf.get()) + absl::Seconds(1));
    EXPECT_TRUE(chain.ok()) << chain.status();
  }
}

TEST(SigstoreFulcioTest, IdentityFromUriAndEmailSans) {
  absl::StatusOr<CertIdentity> id = ExtractIdentity(LoadCase("happy-path-v0.1").leaf.get());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->subject, kBeaconIdentity);
  EXPECT_EQ(id->issuer, kGithubIssuer);
  EXPECT_EQ(id->san_type, SanType::kUri);
  id = ExtractIdentity(LoadCase("integrated-time-in-future_fail").leaf.get());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->subject, "untrusted-sa@sigstore-conformance.iam.gserviceaccount.com");
  EXPECT_EQ(id->issuer, "https://accounts.google.com");
  EXPECT_EQ(id->san_type, SanType::kEmail);
}

TEST(SigstoreFulcioTest, IssuerPrefersOid18AndFallsBackToOid11) {
  std::shared_ptr<X509> leaf = LoadCase("happy-path-v0.1").leaf;
  ossl::ObjPtr v2(OBJ_txt2obj("1.3.6.1.4.1.57264.1.8", 1));
  ossl::ObjPtr v1(OBJ_txt2obj("1.3.6.1.4.1.57264.1.1", 1));
  // .1.1 rewritten to another value: .1.8 still wins.
  {
    ossl::X509Ptr c(X509_dup(leaf.get()));
    ossl::ExtPtr old(X509_delete_ext(c.get(), X509_get_ext_by_OBJ(c.get(), v1.get(), -1)));
    AddRawExt(c.get(), "1.3.6.1.4.1.57264.1.1", "https://legacy.example");
    absl::StatusOr<CertIdentity> id = ExtractIdentity(c.get());
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->issuer, kGithubIssuer);
  }
  // Without .1.8: the raw .1.1 bytes.
  {
    ossl::X509Ptr c(X509_dup(leaf.get()));
    ossl::ExtPtr old(X509_delete_ext(c.get(), X509_get_ext_by_OBJ(c.get(), v2.get(), -1)));
    absl::StatusOr<CertIdentity> id = ExtractIdentity(c.get());
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->issuer, kGithubIssuer);
    // Without either: refused.
    ossl::ExtPtr old1(X509_delete_ext(c.get(), X509_get_ext_by_OBJ(c.get(), v1.get(), -1)));
    absl::Status s = ExtractIdentity(c.get()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("no Fulcio issuer"), std::string_view::npos) << s;
  }
  // A .1.8 that is not a DER UTF8String (the raw .1.1 form) is refused, not guessed at.
  {
    ossl::X509Ptr c(X509_dup(leaf.get()));
    ossl::ExtPtr old(X509_delete_ext(c.get(), X509_get_ext_by_OBJ(c.get(), v2.get(), -1)));
    AddRawExt(c.get(), "1.3.6.1.4.1.57264.1.8", kGithubIssuer);
    EXPECT_EQ(ExtractIdentity(c.get()).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(SigstoreFulcioTest, ParseCertificateIsStrict) {
  std::string der = CertificateDer(LoadCase("happy-path-v0.1").leaf.get());
  EXPECT_TRUE(ParseCertificate(der).ok());
  EXPECT_FALSE(ParseCertificate(der + "x").ok());
  EXPECT_FALSE(ParseCertificate(der.substr(0, der.size() - 1)).ok());
  EXPECT_FALSE(ParseCertificate("").ok());
  EXPECT_FALSE(ParseCertificate(std::string(40000, '\x30')).ok());
  // A mock leaf whose signature BIT STRING has non-zero unused bits (found by x509_ext_fuzz):
  // OpenSSL parses it and re-encodes it differently, so it is refused.
  std::string ber = ReadAll(StrCat(LAYERSEAL_SOURCE_DIR,
                                   "/tests/fuzz/regressions/x509_ext/bit_string_nonzero_padding"));
  absl::Status s = ParseCertificate(ber).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("canonical DER"), std::string_view::npos) << s;
}

// ---- fulcio.h: hostile certificates ---------------------------------------------------------

TEST(SigstoreFulcioHostileTest, MadeLeafPassesAndOtherNameSanIsAnIdentity) {
  Pki pki;
  ossl::PkeyPtr key = NewKey();
  std::shared_ptr<X509> leaf = pki.Leaf(
      key.get(), {San("otherName:1.3.6.1.4.1.57264.1.7;UTF8:ci@example.test"), IssuerV2("https://issuer.example")});
  absl::StatusOr<std::vector<std::shared_ptr<X509>>> chain = VerifyChainAt(leaf.get(), pki.Root(), kInside);
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(chain->size(), 3u);
  absl::StatusOr<CertIdentity> id = ExtractIdentity(leaf.get());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->subject, "ci@example.test");
  EXPECT_EQ(id->issuer, "https://issuer.example");
  EXPECT_EQ(id->san_type, SanType::kOtherName);
}

TEST(SigstoreFulcioHostileTest, TwoIdentitySansAreAmbiguous) {
  Pki pki;
  ossl::PkeyPtr key = NewKey();
  std::shared_ptr<X509> leaf = pki.Leaf(
      key.get(), {San("email:a@example.test,URI:https://example.test/b"), IssuerV2("https://i")});
  absl::Status s = ExtractIdentity(leaf.get()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ambiguous"), std::string_view::npos) << s;
  // A DNS name beside one identity is no identity: accepted.
  leaf = pki.Leaf(key.get(), {San("DNS:example.test,email:a@example.test"), IssuerV2("https://i")});
  absl::StatusOr<CertIdentity> id = ExtractIdentity(leaf.get());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->subject, "a@example.test");
  // No identity at all.
  leaf = pki.Leaf(key.get(), {San("DNS:example.test"), IssuerV2("https://i")});
  EXPECT_EQ(ExtractIdentity(leaf.get()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SigstoreFulcioHostileTest, NoCodeSigningEkuIsRejected) {
  Pki pki;
  ossl::PkeyPtr key = NewKey();
  std::shared_ptr<X509> no_eku = pki.Leaf(
      key.get(),
      {San("email:a@example.test"), IssuerV2("https://i"),
       Ext{NID_key_usage, "critical,digitalSignature", "", ""}},
      /*leaf_defaults=*/false);
  absl::Status s = VerifyChainAt(no_eku.get(), pki.Root(), kInside).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("codeSigning"), std::string_view::npos) << s;
  std::shared_ptr<X509> server_eku = pki.Leaf(
      key.get(),
      {San("email:a@example.test"), Ext{NID_key_usage, "critical,digitalSignature", "", ""},
       Ext{NID_ext_key_usage, "serverAuth", "", ""}},
      false);
  EXPECT_EQ(VerifyChainAt(server_eku.get(), pki.Root(), kInside).status().code(),
            absl::StatusCode::kPermissionDenied);
  std::shared_ptr<X509> no_ku = pki.Leaf(
      key.get(), {San("email:a@example.test"), Ext{NID_ext_key_usage, "codeSigning", "", ""}}, false);
  s = VerifyChainAt(no_ku.get(), pki.Root(), kInside).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("digitalSignature"), std::string_view::npos) << s;
}

TEST(SigstoreFulcioHostileTest, HugeExtensionsAreBounded) {
  Pki pki;
  ossl::PkeyPtr key = NewKey();
  const std::string big(64 * 1024, 'a');
  // A 64 KiB URI SAN.
  std::shared_ptr<X509> leaf =
      pki.Leaf(key.get(), {San(StrCat("URI:https://example.test/", big)), IssuerV2("https://i")});
  absl::Status s = ExtractIdentity(leaf.get()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("at most"), std::string_view::npos) << s;
  EXPECT_EQ(ParseCertificate(CertificateDer(leaf.get())).status().code(),
            absl::StatusCode::kInvalidArgument);  // over kMaxCertificateBytes
  // A 64 KiB issuer, in either form, and a 64 KiB unknown non-critical extension.
  leaf = pki.Leaf(key.get(), {San("email:a@example.test"), IssuerV2(big)});
  EXPECT_EQ(ExtractIdentity(leaf.get()).status().code(), absl::StatusCode::kInvalidArgument);
  leaf = pki.Leaf(key.get(), {San("email:a@example.test"), IssuerV1(big)});
  EXPECT_EQ(ExtractIdentity(leaf.get()).status().code(), absl::StatusCode::kInvalidArgument);
  leaf = pki.Leaf(key.get(), {San("email:a@example.test"), IssuerV2("https://i"),
                              Ext{NID_undef, "", "1.3.6.1.4.1.99999.1", big}});
  EXPECT_TRUE(ExtractIdentity(leaf.get()).ok());
  EXPECT_TRUE(VerifyChainAt(leaf.get(), pki.Root(), kInside).ok());
  // An unknown CRITICAL extension fails path validation.
  X509* crit = X509_dup(leaf.get());
  ossl::X509Ptr owned(crit);
  X509_EXTENSION_set_critical(X509_get_ext(crit, X509_get_ext_count(crit) - 1), 1);
  X509_sign(crit, pki.inter_key.get(), EVP_sha256());
  s = VerifyChainAt(crit, pki.Root(), kInside).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("unhandled critical extension"), std::string_view::npos) << s;
}

TEST(SigstoreFulcioHostileTest, FiftyDeepChainFailsOnDepth) {
  std::vector<ossl::PkeyPtr> keys;
  std::vector<std::shared_ptr<X509>> certs;  // root first
  keys.push_back(NewKey());
  certs.push_back(Make(Spec{.cn = "deep 0", .key = keys[0].get(), .ca = true}));
  for (int i = 1; i <= 50; ++i) {
    keys.push_back(NewKey());
    certs.push_back(Make(Spec{.cn = StrCat("deep ", i), .key = keys.back().get(),
                              .issuer = certs.back().get(), .issuer_key = keys[keys.size() - 2].get(),
                              .ca = true}));
  }
  ossl::PkeyPtr leaf_key = NewKey();
  std::shared_ptr<X509> leaf = Make(Spec{.cn = "", .key = leaf_key.get(), .issuer = certs.back().get(),
                                         .issuer_key = keys.back().get(),
                                         .extra = {San("email:a@example.test")}});
  Authority a;
  a.chain.assign(certs.rbegin(), certs.rend());  // leaf-most first, root last
  a.valid_for.start = absl::UnixEpoch();
  a.store = StoreOf(certs.front().get());
  TrustedRoot root = TrustedRoot::FromParts({}, {}, {a}, {}, "sha256:test");
  absl::Time start = absl::Now();
  absl::Status s = VerifyChainAt(leaf.get(), root, kInside).status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("chain too long"), std::string_view::npos) << s;
  // The same chain cut to 9 CAs verifies: the depth limit is what refused it.
  std::vector<std::shared_ptr<X509>> short_certs(certs.begin(), certs.begin() + 9);
  std::shared_ptr<X509> short_leaf = Make(Spec{.cn = "", .key = leaf_key.get(), .issuer = short_certs.back().get(),
                                               .issuer_key = keys[8].get(), .extra = {San("email:a@example.test")}});
  a.chain.assign(short_certs.rbegin(), short_certs.rend());
  EXPECT_TRUE(VerifyChainAt(short_leaf.get(), TrustedRoot::FromParts({}, {}, {a}, {}, "x"), kInside).ok());
}

TEST(SigstoreFulcioHostileTest, TwoCertificateLoopFailsBounded) {
  ossl::PkeyPtr ka = NewKey(), kb = NewKey(), kr = NewKey(), kl = NewKey();
  std::shared_ptr<X509> unrelated_root = Make(Spec{.cn = "loop root", .key = kr.get(), .ca = true});
  // B (draft, self-signed) gives A its issuer name and key id; then B is issued by A.
  std::shared_ptr<X509> b_draft = Make(Spec{.cn = "loop B", .key = kb.get(), .ca = true});
  std::shared_ptr<X509> a = Make(Spec{.cn = "loop A", .key = ka.get(), .issuer = b_draft.get(),
                                      .issuer_key = kb.get(), .ca = true});
  std::shared_ptr<X509> b = Make(Spec{.cn = "loop B", .key = kb.get(), .issuer = a.get(),
                                      .issuer_key = ka.get(), .ca = true});
  std::shared_ptr<X509> leaf = Make(Spec{.cn = "", .key = kl.get(), .issuer = a.get(), .issuer_key = ka.get(),
                                         .extra = {San("email:a@example.test")}});
  Authority auth;
  auth.chain = {a, b, unrelated_root};
  auth.valid_for.start = absl::UnixEpoch();
  auth.store = StoreOf(unrelated_root.get());
  absl::Time start = absl::Now();
  absl::Status s =
      VerifyChainAt(leaf.get(), TrustedRoot::FromParts({}, {}, {auth}, {}, "x"), kInside).status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
}

TEST(SigstoreFulcioHostileTest, BundleIntermediatesAreNeverUsed) {
  // A leaf issued by an intermediate the trusted root does not list does not chain, even
  // though that intermediate is signed by the trusted root.
  Pki pki;
  ossl::PkeyPtr key = NewKey();
  std::shared_ptr<X509> leaf = pki.Leaf(key.get(), {San("email:a@example.test")});
  Authority a;
  a.chain = {pki.root};  // the root only
  a.valid_for.start = absl::UnixEpoch();
  a.store = StoreOf(pki.root.get());
  absl::Status s = VerifyChainAt(leaf.get(), TrustedRoot::FromParts({}, {}, {a}, {}, "x"), kInside).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("unable to get local issuer"), std::string_view::npos) << s;
  // The trusted root itself is no signing certificate.
  EXPECT_FALSE(VerifyChainAt(pki.root.get(), pki.Root(), kInside).ok());
}

// ---- issuer stores: the path above the issuing intermediate is validated once ------------

// The full-path validation VerifyChainAt runs without an issuer store: the root alone in the
// store, the CA's intermediates as untrusted certificates, X509_STRICT, time t. "" when the
// path verifies, else OpenSSL's error as VerifyChainAt words it.
std::string FullPathError(X509* leaf, const std::vector<std::shared_ptr<X509>>& chain, absl::Time t) {
  std::shared_ptr<X509_STORE> store = StoreOf(chain.back().get());
  ossl::X509StackViewPtr untrusted(sk_X509_new_null());
  for (size_t i = 0; i + 1 < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()), 1);
  X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(p, absl::ToTimeT(t));
  X509_VERIFY_PARAM_set_depth(p, kMaxVerifyDepth);
  X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) == 1) return "";
  int err = X509_STORE_CTX_get_error(ctx.get());
  return StrCat(X509_verify_cert_error_string(err), " (at depth ",
                X509_STORE_CTX_get_error_depth(ctx.get()), ")");
}

TEST(SigstoreFulcioTest, IssuerStoreIsMadeOnlyWhereTheShortcutIsExact) {
  Pki pki;
  EXPECT_NE(IssuerStoreFor({pki.inter, pki.root}), nullptr);
  EXPECT_NE(pki.Root().fulcio()[0].issuer_store, nullptr);  // FromParts makes it
  EXPECT_EQ(IssuerStoreFor({pki.root}), nullptr);            // no intermediate
  EXPECT_EQ(IssuerStoreFor({}), nullptr);
  // The path above the intermediate does not verify: another root, or the wrong order.
  Pki other;
  EXPECT_EQ(IssuerStoreFor({pki.inter, other.root}), nullptr);
  EXPECT_EQ(IssuerStoreFor({pki.root, pki.inter}), nullptr);
  // A root whose pathLen leaves no room for the intermediate once a leaf hangs below it.
  ossl::PkeyPtr rk = NewKey(), ik = NewKey();
  std::shared_ptr<X509> tight_root = Make(Spec{
      .cn = "tight root", .key = rk.get(),
      .extra = {Ext{NID_basic_constraints, "critical,CA:TRUE,pathlen:0", "", ""},
                Ext{NID_key_usage, "critical,keyCertSign,cRLSign", "", ""}},
      .leaf_defaults = false});
  std::shared_ptr<X509> tight_inter = Make(Spec{.cn = "tight inter", .key = ik.get(), .issuer = tight_root.get(),
                                                .issuer_key = rk.get(), .ca = true});
  EXPECT_EQ(IssuerStoreFor({tight_inter, tight_root}), nullptr);
  // ...which matters: a leaf under that intermediate exceeds the root's pathLen, and the full
  // path (what VerifyChainAt runs for this CA) refuses it.
  ossl::PkeyPtr tk = NewKey();
  std::shared_ptr<X509> tight_leaf = Make(Spec{.cn = "", .key = tk.get(), .issuer = tight_inter.get(),
                                               .issuer_key = ik.get(), .extra = {San("email:a@example.test")}});
  EXPECT_NE(FullPathError(tight_leaf.get(), {tight_inter, tight_root}, kInside).find("path length"),
            std::string::npos);
  Authority tight;
  tight.chain = {tight_inter, tight_root};
  tight.valid_for.start = absl::UnixEpoch();
  EXPECT_FALSE(VerifyChainAt(tight_leaf.get(), TrustedRoot::FromParts({}, {}, {tight}, {}, "x"), kInside).ok());
  // Name constraints depend on the leaf: the whole path is validated each time.
  std::shared_ptr<X509> nc_inter = Make(Spec{
      .cn = "nc inter", .key = ik.get(), .issuer = pki.root.get(), .issuer_key = pki.root_key.get(),
      .ca = true, .extra = {Ext{NID_name_constraints, "critical,permitted;email:.example.test", "", ""}}});
  EXPECT_EQ(IssuerStoreFor({nc_inter, pki.root}), nullptr);
  // Every public-good Fulcio CA with an intermediate gets one.
  TrustedRoot pg = TrustedRoot::LoadFile(StrCat(CorpusDir(), "/trusted_root.public-good.json")).value();
  int with_intermediate = 0;
  for (const Authority& a : pg.fulcio()) {
    if (a.chain.size() < 2) continue;
    ++with_intermediate;
    EXPECT_NE(a.issuer_store, nullptr) << a.uri;
  }
  EXPECT_GT(with_intermediate, 0);
}

TEST(SigstoreFulcioTest, ShortcutAgreesWithFullPathValidation) {
  // Certificates whose validity windows put each one in turn outside the signing time.
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  const absl::Time t = t0 + absl::Hours(24 * 100);
  struct Window {
    absl::Time nb, na;
  };
  const Window inside{t0, t0 + absl::Hours(24 * 3650)};
  const Window expired{t0, t - absl::Hours(1)};
  const Window future{t + absl::Hours(1), t + absl::Hours(48)};
  struct Variant {
    std::string name;
    Window root, inter, leaf;
    bool other_key = false;  // the leaf is signed by a key that is not the intermediate's
  };
  const std::vector<Variant> variants = {
      {"all valid", inside, inside, inside},
      {"root expired", expired, inside, inside},
      {"root not yet valid", future, inside, inside},
      {"intermediate expired", inside, expired, inside},
      {"intermediate not yet valid", inside, future, inside},
      {"leaf expired", inside, inside, expired},
      {"leaf not yet valid", inside, inside, future},
      {"root and intermediate expired", expired, expired, inside},
      {"leaf signed by another key", inside, inside, inside, true},
  };
  int passed = 0;
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    ossl::PkeyPtr rk = NewKey(), ik = NewKey(), lk = NewKey(), stray = NewKey();
    std::shared_ptr<X509> root = Make(Spec{.cn = "w root", .key = rk.get(), .ca = true,
                                           .not_before = v.root.nb, .not_after = v.root.na});
    std::shared_ptr<X509> inter = Make(Spec{.cn = "w inter", .key = ik.get(), .issuer = root.get(),
                                            .issuer_key = rk.get(), .ca = true,
                                            .not_before = v.inter.nb, .not_after = v.inter.na});
    std::shared_ptr<X509> leaf = Make(Spec{.cn = "", .key = lk.get(), .issuer = inter.get(),
                                           .issuer_key = v.other_key ? stray.get() : ik.get(),
                                           .extra = {San("email:a@example.test")},
                                           .not_before = v.leaf.nb, .not_after = v.leaf.na});
    Authority a;
    a.chain = {inter, root};
    a.valid_for.start = absl::UnixEpoch();
    TrustedRoot tr = TrustedRoot::FromParts({}, {}, {a}, {}, "sha256:test");
    ASSERT_NE(tr.fulcio()[0].issuer_store, nullptr);  // the shortcut is what runs
    const std::string want = FullPathError(leaf.get(), a.chain, t);
    absl::StatusOr<std::vector<std::shared_ptr<X509>>> got = VerifyChainAt(leaf.get(), tr, t);
    if (want.empty()) {
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->size(), 3u);
      EXPECT_EQ(X509_cmp((*got)[0].get(), leaf.get()), 0);
      EXPECT_EQ(X509_cmp((*got)[1].get(), inter.get()), 0);
      EXPECT_EQ(X509_cmp((*got)[2].get(), root.get()), 0);
      ++passed;
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
      EXPECT_TRUE(absl::EndsWith(got.status().message(), StrCat(": ", want)))
          << got.status() << "\nfull path: " << want;
    }
  }
  EXPECT_EQ(passed, 1);  // only the all-valid variant verifies
}

// ---- sct.h -------------------------------------------------------------------------------------

std::string SctListOf(X509* leaf) {
  int i = X509_get_ext_by_NID(leaf, NID_ct_precert_scts, -1);
  EXPECT_GE(i, 0);
  std::string_view der = ossl::View(X509_EXTENSION_get_data(X509_get_ext(leaf, i)));
  const unsigned char* p = ossl::Bytes(der);
  ossl::OctetPtr inner(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(der.size())));
  return std::string(ossl::View(inner.get()));
}

std::shared_ptr<X509> IssuerOf(const Case& c, const TrustedRoot& root, absl::Time t) {
  absl::StatusOr<std::vector<std::shared_ptr<X509>>> chain = VerifyChainAt(c.leaf.get(), root, t);
  EXPECT_TRUE(chain.ok()) << chain.status();
  return chain.ok() ? (*chain)[1] : nullptr;
}

TEST(SigstoreSctTest, HappyPathSctsVerify) {
  TrustedRoot root = PublicGood();
  for (const std::string& name : kPublicGoodHappyPaths) {
    SCOPED_TRACE(name);
    Case c = LoadCase(name);
    std::shared_ptr<X509> issuer = IssuerOf(c, root, c.integrated_time);
    ASSERT_NE(issuer, nullptr);
    absl::Status s = VerifyEmbeddedScts(c.leaf.get(), issuer.get(), root);
    EXPECT_TRUE(s.ok()) << s;
    // Two distinct logs are not there: a threshold of 2 fails.
    EXPECT_EQ(VerifyEmbeddedScts(c.leaf.get(), issuer.get(), root, 2).code(),
              absl::StatusCode::kPermissionDenied);
    // The wrong issuer key: the signed data changes, the SCT fails.
    EXPECT_EQ(VerifyEmbeddedScts(c.leaf.get(), c.leaf.get(), root).code(),
              absl::StatusCode::kPermissionDenied);
  }
}

TEST(SigstoreSctTest, StagingCtKeysOfInvalidCtKeyFail) {
  Case c = LoadCase("invalid-ct-key_fail");
  TrustedRoot own = OwnRoot("invalid-ct-key_fail");
  // The leaf is a public-good one: its issuer from the public-good chain.
  std::shared_ptr<X509> issuer = IssuerOf(c, PublicGood(), c.integrated_time);
  ASSERT_NE(issuer, nullptr);
  absl::Status s = VerifyEmbeddedScts(c.leaf.get(), issuer.get(), own);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("not in the trusted root"), std::string_view::npos) << s;
  EXPECT_TRUE(VerifyEmbeddedScts(c.leaf.get(), issuer.get(), PublicGood()).ok());
}

TEST(SigstoreSctTest, SctWithExtensionsVerifies) {
  const std::string name = "bundle-with-sct-with-extensions";
  Case c = LoadCase(name);
  TrustedRoot root = OwnRoot(name);
  std::shared_ptr<X509> issuer = IssuerOf(c, root, NotBefore(c.leaf.get()));
  ASSERT_NE(issuer, nullptr);
  absl::StatusOr<std::vector<Sct>> scts = ParseSctList(SctListOf(c.leaf.get()));
  ASSERT_TRUE(scts.ok()) << scts.status();
  ASSERT_EQ(scts->size(), 1u);
  EXPECT_FALSE((*scts)[0].extensions.empty());
  absl::Status s = VerifyEmbeddedScts(c.leaf.get(), issuer.get(), root);
  EXPECT_TRUE(s.ok()) << s;
  // The extensions are signed: changing them breaks the signature.
  Sct changed = (*scts)[0];
  changed.extensions[0] ^= 1;
  absl::StatusOr<std::string> a = PrecertSignedData(c.leaf.get(), issuer.get(), (*scts)[0]);
  absl::StatusOr<std::string> b = PrecertSignedData(c.leaf.get(), issuer.get(), changed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(VerifyMessageWith(root.ctlogs()[0].key.get(), EVP_sha256(), *b, changed.signature).ok());
  EXPECT_TRUE(VerifyMessageWith(root.ctlogs()[0].key.get(), EVP_sha256(), *a, changed.signature).ok());
  // A CT log not valid at the SCT's time counts for nothing.
  std::vector<LogKey> logs = root.ctlogs();
  for (LogKey& l : logs) l.valid_for.end = absl::FromUnixMillis(static_cast<int64_t>((*scts)[0].timestamp_ms) - 1);
  TrustedRoot expired = TrustedRoot::FromParts({}, logs, root.fulcio(), {}, "x");
  s = VerifyEmbeddedScts(c.leaf.get(), issuer.get(), expired);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("not valid at the SCT's time"), std::string_view::npos) << s;
}

TEST(SigstoreSctTest, ParsedListMatchesOpenSsl) {
  std::vector<std::string> names = kPublicGoodHappyPaths;
  names.push_back("bundle-with-sct-with-extensions");
  names.push_back("rekor2-happy-path");
  names.push_back("intoto-with-custom-trust-root");
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::string tls = SctListOf(LoadCase(name).leaf.get());
    absl::StatusOr<std::vector<Sct>> mine = ParseSctList(tls);
    ASSERT_TRUE(mine.ok()) << mine.status();
    const unsigned char* p = ossl::Bytes(tls);
    STACK_OF(SCT)* theirs = o2i_SCT_LIST(nullptr, &p, tls.size());
    ASSERT_NE(theirs, nullptr);
    ASSERT_EQ(static_cast<int>(mine->size()), sk_SCT_num(theirs));
    for (size_t i = 0; i < mine->size(); ++i) {
      const Sct& m = (*mine)[i];
      SCT* t = sk_SCT_value(theirs, static_cast<int>(i));
      EXPECT_EQ(m.version, static_cast<int>(SCT_get_version(t)));
      unsigned char* buf = nullptr;
      size_t n = SCT_get0_log_id(t, &buf);
      EXPECT_EQ(m.log_id, std::string(reinterpret_cast<char*>(buf), n));
      EXPECT_EQ(m.timestamp_ms, SCT_get_timestamp(t));
      n = SCT_get0_extensions(t, &buf);
      EXPECT_EQ(m.extensions, std::string(reinterpret_cast<char*>(buf), n));
      n = SCT_get0_signature(t, &buf);
      EXPECT_EQ(m.signature, std::string(reinterpret_cast<char*>(buf), n));
      EXPECT_EQ(SCT_get_signature_nid(t), m.sig_alg == 3 ? NID_ecdsa_with_SHA256 : NID_sha256WithRSAEncryption);
      EXPECT_EQ(m.hash_alg, 4);
    }
    SCT_LIST_free(theirs);
  }
}

TEST(SigstoreSctTest, MalformedListsAreRefused) {
  std::string tls = SctListOf(LoadCase("happy-path-v0.1").leaf.get());
  ASSERT_TRUE(ParseSctList(tls).ok());
  EXPECT_FALSE(ParseSctList("").ok());
  EXPECT_FALSE(ParseSctList(std::string("\0\0", 2)).ok());  // empty list
  EXPECT_FALSE(ParseSctList(tls + "x").ok());
  for (size_t cut = 0; cut < tls.size(); ++cut) {
    EXPECT_FALSE(ParseSctList(tls.substr(0, cut)).ok()) << cut;
  }
  // The inner length one too long / too short, with the outer length adjusted.
  std::string bad = tls;
  bad[3] = static_cast<char>(bad[3] + 1);
  EXPECT_FALSE(ParseSctList(bad).ok());
  bad = tls;
  bad[3] = static_cast<char>(bad[3] - 1);
  EXPECT_FALSE(ParseSctList(bad).ok());
  // Another version.
  bad = tls;
  bad[4] = 1;
  EXPECT_FALSE(ParseSctList(bad).ok());
  // Over kMaxScts SCTs.
  std::string one = tls.substr(2);
  std::string many;
  for (size_t i = 0; i <= kMaxScts; ++i) many += one;
  std::string list = std::string(1, static_cast<char>(many.size() >> 8)) +
                     std::string(1, static_cast<char>(many.size() & 0xff)) + many;
  absl::Status s = ParseSctList(list).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("more than"), std::string_view::npos) << s;
}

TEST(SigstoreSctTest, CertificateWithoutSctsIsDenied) {
  Pki pki;
  ossl::PkeyPtr key = NewKey();
  std::shared_ptr<X509> leaf = pki.Leaf(key.get(), {San("email:a@example.test")});
  absl::Status s = VerifyEmbeddedScts(leaf.get(), pki.inter.get(), PublicGood());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("no embedded SCT"), std::string_view::npos) << s;
  EXPECT_FALSE(PrecertSignedData(leaf.get(), pki.inter.get(), Sct{}).ok());
}

// ---- rfc3161.h ---------------------------------------------------------------------------

absl::StatusOr<VerifiedTime> VerifyOwn(const std::string& name) {
  Case c = LoadCase(name);
  EXPECT_EQ(c.timestamps.size(), 1u);
  if (c.timestamps.empty()) return absl::NotFoundError("no timestamp");
  return VerifyTimestamp(c.timestamps[0], c.signature, OwnRoot(name));
}

TEST(SigstoreTimestampTest, CorpusTokensThatMustVerify) {
  for (std::string name : std::vector<std::string>
       {"rekor2-timestamp-with-embedded-cert", "rekor2-timestamp-without-embedded-cert",
        "rekor2-timestamp-with-expired-cert-chain", "rekor2-happy-path", "rekor2-dsse-happy-path",
        "trust-root-tsa-validity-end-inclusive", "intoto-with-custom-trust-root",
        "bundle-with-sct-with-extensions",
        // the token is fine; the leaf is not valid at its genTime (fulcio's job)
        "intoto-tsa-timestamp-outside-cert-validity_fail", "rekor2-timestamp-with-incorrect-time_fail"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<VerifiedTime> t = VerifyOwn(name);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_GT(t->time, absl::FromUnixSeconds(1600000000));
    Case c = LoadCase(name);
    // Over other bytes: refused.
    absl::Status s = VerifyTimestamp(c.timestamps[0], c.signature + "x", OwnRoot(name)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  }
}

TEST(SigstoreTimestampTest, ExpiredTsaChainIsValidatedAtGenTime) {
  const std::string name = "rekor2-timestamp-with-expired-cert-chain";
  TrustedRoot root = OwnRoot(name);
  absl::StatusOr<VerifiedTime> t = VerifyOwn(name);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_FALSE(root.tsas().empty());
  // The TSA's certificates have expired now, but were valid at genTime.
  EXPECT_FALSE(CertificateValidAt(root.tsas()[0].chain.front().get(), absl::Now()));
  EXPECT_TRUE(CertificateValidAt(root.tsas()[0].chain.front().get(), t->time));
}

TEST(SigstoreTimestampTest, ValidityEndIsInclusive) {
  const std::string name = "trust-root-tsa-validity-end-inclusive";
  TrustedRoot root = OwnRoot(name);
  absl::StatusOr<VerifiedTime> t = VerifyOwn(name);
  ASSERT_TRUE(t.ok()) << t.status();
  bool at_an_end = false;
  for (const Authority& a : root.tsas()) at_an_end |= a.valid_for.end == t->time;
  EXPECT_TRUE(at_an_end) << absl::FormatTime(t->time);
}

TEST(SigstoreTimestampTest, CorpusTokensThatMustFail) {
  for (std::string name : std::vector<std::string>
       {"rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        "rekor2-timestamp-outside-tsa-cert-validity_fail", "rekor2-timestamp-payload-mismatch_fail",
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<VerifiedTime> t = VerifyOwn(name);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied) << t.status();
  }
}

TEST(SigstoreTimestampTest, TokenOfAnUnlistedTsaDoesNotVerify) {
  // managed-key-happy-path's token is from sigstore.dev's TSA; the public-good root lists only
  // GitHub's.
  Case c = LoadCase("managed-key-happy-path");
  ASSERT_EQ(c.timestamps.size(), 1u);
  EXPECT_EQ(VerifyTimestamp(c.timestamps[0], c.signature, PublicGood()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // With no TSA at all.
  TrustedRoot empty = TrustedRoot::FromParts({}, {}, {}, {}, "x");
  absl::Status s = VerifyTimestamp(c.timestamps[0], c.signature, empty).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("valid at genTime"), std::string_view::npos) << s;
}

TEST(SigstoreTimestampTest, MalformedResponsesAreInvalidArgument) {
  Case c = LoadCase("rekor2-happy-path");
  ASSERT_EQ(c.timestamps.size(), 1u);
  TrustedRoot root = OwnRoot("rekor2-happy-path");
  const std::string& tsr = c.timestamps[0];
  EXPECT_EQ(VerifyTimestamp("", c.signature, root).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyTimestamp(tsr, "", root).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyTimestamp(tsr + "x", c.signature, root).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyTimestamp(tsr.substr(0, tsr.size() / 2), c.signature, root).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyTimestamp(std::string(70 * 1024, '\x30'), c.signature, root).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A rejection response (status 2, no token): PKIStatusInfo only.
  const std::string rejection("\x30\x05\x30\x03\x02\x01\x02", 7);
  absl::Status s = VerifyTimestamp(rejection, c.signature, root).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not granted"), std::string_view::npos) << s;
}

}  // namespace
}  // namespace layerseal::sigstore

namespace layerseal::sigstore {
namespace {

// The same checks against the roots TrustedRoot::LoadFile parses (verifier/sigstore/
// trusted_root.h) as against the ones built here: the parser's objects fit these pieces.
TEST(SigstoreX509ParsedRootTest, ParsedRootsGiveTheSameResults) {
  struct Expect {
    std::string name;
    bool own;
    bool chain, sct, tsa;
  };
  const std::vector<Expect> cases = {
      {"happy-path-v0.1", false, true, true, false},
      {"happy-path-intoto-in-dsse-v3", false, true, true, false},
      {"invalid-ct-key_fail", true, true, false, false},  // its CAs are public-good's, its CT logs staging's
      {"intoto-expired-certificate_fail", true, false, false, false},
      {"bundle-with-sct-with-extensions", true, true, true, true},
      {"rekor2-timestamp-without-embedded-cert", true, true, true, true},
      {"rekor2-timestamp-with-expired-cert-chain", true, true, true, true},
      {"trust-root-tsa-validity-end-inclusive", true, true, true, true},
      {"rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail", true, true, true, false},
      {"rekor2-timestamp-payload-mismatch_fail", true, true, true, false},
  };
  for (const Expect& e : cases) {
    SCOPED_TRACE(e.name);
    std::string path = e.own ? StrCat(CorpusDir(), "/bundle-verify/", e.name, "/trusted_root.json")
                             : StrCat(CorpusDir(), "/trusted_root.public-good.json");
    absl::StatusOr<TrustedRoot> parsed = TrustedRoot::LoadFile(path);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    TrustedRoot mine = LoadRoot(path);
    Case c = LoadCase(e.name);
    absl::Time t = c.integrated_time;
    if (!c.timestamps.empty()) {
      absl::StatusOr<VerifiedTime> ts = VerifyTimestamp(c.timestamps[0], c.signature, *parsed);
      EXPECT_EQ(ts.ok(), e.tsa) << ts.status();
      EXPECT_EQ(VerifyTimestamp(c.timestamps[0], c.signature, mine).ok(), e.tsa);
      if (ts.ok()) t = ts->time;
    }
    if (t == absl::UnixEpoch()) t = NotBefore(c.leaf.get());
    absl::StatusOr<std::vector<std::shared_ptr<X509>>> chain = VerifyChainAt(c.leaf.get(), *parsed, t);
    EXPECT_EQ(chain.ok(), e.chain) << chain.status();
    EXPECT_EQ(VerifyChainAt(c.leaf.get(), mine, t).ok(), e.chain);
    if (chain.ok()) {
      absl::Status s = VerifyEmbeddedScts(c.leaf.get(), (*chain)[1].get(), *parsed);
      EXPECT_EQ(s.ok(), e.sct) << s;
      EXPECT_EQ(VerifyEmbeddedScts(c.leaf.get(), (*chain)[1].get(), mine).ok(), e.sct);
    }
  }
}

}  // namespace
}  // namespace layerseal::sigstore

namespace layerseal::sigstore {
namespace {

// One parsed root shared by several threads at once (the agent verifies concurrently): the
// X509_STOREs and keys are only read. Run under TSan by the sanitizer pass.
TEST(SigstoreX509ConcurrencyTest, OneRootManyThreads) {
  absl::StatusOr<TrustedRoot> root = TrustedRoot::LoadFile(
      StrCat(CorpusDir(), "/bundle-verify/rekor2-timestamp-with-embedded-cert/trusted_root.json"));
  ASSERT_TRUE(root.ok()) << root.status();
  Case c = LoadCase("rekor2-timestamp-with-embedded-cert");
  ASSERT_EQ(c.timestamps.size(), 1u);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        absl::StatusOr<VerifiedTime> t = VerifyTimestamp(c.timestamps[0], c.signature, *root);
        if (!t.ok()) {
          ++failures;
          continue;
        }
        absl::StatusOr<std::vector<std::shared_ptr<X509>>> chain = VerifyChainAt(c.leaf.get(), *root, t->time);
        if (!chain.ok() || !VerifyEmbeddedScts(c.leaf.get(), (*chain)[1].get(), *root).ok() ||
            !ExtractIdentity(c.leaf.get()).ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace layerseal::sigstore
