// verifier/notation/x509.h: the Notary Project's algorithm and certificate rules on keys,
// certificates, chains and CRLs made here with OpenSSL (tests/support/notation_x509_certs.h),
// each rule broken once; envelope signatures in the notation wire forms; chains against
// trust stores loaded from directories (trust.h); revocation from CRL files.
#include "verifier/notation/x509.h"

#include <openssl/err.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/support/notation_x509_certs.h"
#include "verifier/notation/trust.h"

namespace layerseal::notation {
namespace {

using namespace ::layerseal::testing::notation_x509;  // NOLINT

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

#define EXPECT_DENIED(expr, want)                                                       \
  do {                                                                                  \
    absl::Status st_ = (expr);                                                          \
    EXPECT_EQ(st_.code(), absl::StatusCode::kPermissionDenied) << st_;                  \
    EXPECT_TRUE(absl::StrContains(st_.message(), want)) << st_ << "\n  wanted: " << want; \
  } while (0)

CertPtr SelfSignedLeaf(EVP_PKEY* key) {
  return MakeCert({.subject = Subject("leaf"), .key = key, .exts = LeafExts()});
}

// ---- AlgorithmOf ---------------------------------------------------------------------------

TEST(NotationAlgorithmTest, KeySizesAndCurves) {
  struct Case {
    std::string key;
    bool ok;
    Algorithm alg;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"rsa1024", false, {}, "RSA key of 1024 bits"},
           {"rsa2048", true, Algorithm::kPs256, ""},
           {"rsa3072", true, Algorithm::kPs384, ""},
           {"rsa4096", true, Algorithm::kPs512, ""},
           {"P-224", false, {}, "curve secp224r1"},
           {"P-256", true, Algorithm::kEs256, ""},
           {"P-384", true, Algorithm::kEs384, ""},
           {"P-521", true, Algorithm::kEs512, ""},
           {"ed25519", false, {}, "key type ED25519"},
       }) {
    KeyPtr k = SharedKey(c.key);
    CertPtr leaf = SelfSignedLeaf(k.get());
    absl::StatusOr<Algorithm> a = AlgorithmOf(Der(leaf.get()));
    if (c.ok) {
      ASSERT_TRUE(a.ok()) << c.key << ": " << a.status();
      EXPECT_EQ(*a, c.alg) << c.key;
    } else {
      EXPECT_DENIED(a.status(), c.why);
    }
  }
  absl::StatusOr<Algorithm> bad = AlgorithmOf("not a certificate");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---- VerifyEnvelopeSignature ---------------------------------------------------------------

const EVP_MD* Md(Algorithm a) {
  switch (a) {
    case Algorithm::kPs256:
    case Algorithm::kEs256: return EVP_sha256();
    case Algorithm::kPs384:
    case Algorithm::kEs384: return EVP_sha384();
    default: return EVP_sha512();
  }
}

Envelope Signed(EVP_PKEY* key, Algorithm alg, Format format) {
  Envelope e;
  e.format = format;
  e.algorithm = alg;
  e.signed_bytes = "eyJhbGciOiJQUzI1NiJ9.eyJ0YXJnZXRBcnRpZmFjdCI6e319";
  e.signature = NotationSign(key, Md(alg), e.signed_bytes);
  e.certs_der = {Der(SelfSignedLeaf(key).get())};
  return e;
}

TEST(NotationSignatureTest, EveryAlgorithmVerifiesAndDetectsTampering) {
  struct Case {
    std::string key;
    Algorithm alg;
  };
  for (const Case& c : std::vector<Case>{{"rsa2048", Algorithm::kPs256},
                                         {"rsa3072", Algorithm::kPs384},
                                         {"rsa4096", Algorithm::kPs512},
                                         {"P-256", Algorithm::kEs256},
                                         {"P-384", Algorithm::kEs384},
                                         {"P-521", Algorithm::kEs512}}) {
    SCOPED_TRACE(c.key);
    KeyPtr k = SharedKey(c.key);
    bool rsa = c.key.rfind("rsa", 0) == 0;
    // Another key of the same kind (RSA: 2048 only, keys are slow to make).
    KeyPtr other_key = !rsa ? EcKey(c.key.c_str()) : c.key == "rsa2048" ? SharedKey("rsa2048-other") : nullptr;
    std::string other_leaf = other_key != nullptr ? Der(SelfSignedLeaf(other_key.get()).get()) : "";
    for (Format f : {Format::kJws, Format::kCose}) {
      Envelope e = Signed(k.get(), c.alg, f);
      EXPECT_TRUE(VerifyEnvelopeSignature(e).ok()) << VerifyEnvelopeSignature(e);

      Envelope tampered = e;
      tampered.signed_bytes.back() ^= 1;
      EXPECT_DENIED(VerifyEnvelopeSignature(tampered), "does not verify");

      Envelope bad_sig = e;
      bad_sig.signature[bad_sig.signature.size() / 2] ^= 0x40;
      EXPECT_DENIED(VerifyEnvelopeSignature(bad_sig), "does not verify");

      // Another key's signature with the right algorithm.
      if (!other_leaf.empty()) {
        Envelope other = e;
        other.certs_der = {other_leaf};
        EXPECT_DENIED(VerifyEnvelopeSignature(other), "does not verify");
      }
    }
    // Algorithm substitution: the header names another algorithm than the key implies.
    for (Algorithm declared : {Algorithm::kPs256, Algorithm::kPs512, Algorithm::kEs256,
                               Algorithm::kEs384}) {
      if (declared == c.alg) continue;
      Envelope e = Signed(k.get(), c.alg, Format::kJws);
      e.algorithm = declared;
      EXPECT_DENIED(VerifyEnvelopeSignature(e), "algorithm substitution");
    }
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationSignatureTest, EcdsaMustBeRawRAndS) {
  KeyPtr k = SharedKey("P-256");
  Envelope e = Signed(k.get(), Algorithm::kEs256, Format::kCose);
  ASSERT_EQ(e.signature.size(), 64u);
  Envelope short_sig = e;
  short_sig.signature.pop_back();
  EXPECT_DENIED(VerifyEnvelopeSignature(short_sig), "exactly 64");
  // A DER ECDSA-Sig-Value is not the wire form.
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k.get()), 1);
  unsigned char der[128];
  size_t n = sizeof(der);
  ASSERT_EQ(EVP_DigestSign(ctx.get(), der, &n, ossl::Bytes(e.signed_bytes), e.signed_bytes.size()), 1);
  Envelope der_sig = e;
  der_sig.signature.assign(reinterpret_cast<char*>(der), n);
  EXPECT_EQ(VerifyEnvelopeSignature(der_sig).code(), absl::StatusCode::kPermissionDenied);
  KeyPtr p521 = SharedKey("P-521");
  EXPECT_EQ(Signed(p521.get(), Algorithm::kEs512, Format::kJws).signature.size(), 132u);
}

TEST(NotationSignatureTest, PssSaltLengthJwsAnyCoseDigestLength) {
  KeyPtr k = SharedKey("rsa2048");
  Envelope e = Signed(k.get(), Algorithm::kPs256, Format::kJws);
  // Re-sign with a 0-byte salt: golang-jwt (JWS) accepts any salt; go-cose wants the hash's.
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, k.get()), 1);
  EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 0);
  size_t n = 0;
  ASSERT_EQ(EVP_DigestSign(ctx.get(), nullptr, &n, ossl::Bytes(e.signed_bytes), e.signed_bytes.size()), 1);
  std::string sig(n, '\0');
  ASSERT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                           ossl::Bytes(e.signed_bytes), e.signed_bytes.size()),
            1);
  e.signature = sig;
  EXPECT_TRUE(VerifyEnvelopeSignature(e).ok()) << VerifyEnvelopeSignature(e);
  e.format = Format::kCose;
  EXPECT_DENIED(VerifyEnvelopeSignature(e), "does not verify");
}

TEST(NotationSignatureTest, RefusesUnsupportedKeysAndEmptyInput) {
  KeyPtr ed = SharedKey("ed25519");
  Envelope e;
  e.algorithm = Algorithm::kEs256;
  e.signed_bytes = "x";
  e.signature = NotationSign(ed.get(), nullptr, "x");
  e.certs_der = {Der(SelfSignedLeaf(ed.get()).get())};
  EXPECT_DENIED(VerifyEnvelopeSignature(e), "ED25519");
  e.certs_der.clear();
  EXPECT_EQ(VerifyEnvelopeSignature(e).code(), absl::StatusCode::kInvalidArgument);
  e.certs_der = {"junk"};
  EXPECT_EQ(VerifyEnvelopeSignature(e).code(), absl::StatusCode::kInvalidArgument);
  KeyPtr k = SharedKey("P-256");
  e = Signed(k.get(), Algorithm::kEs256, Format::kJws);
  e.signature.clear();
  EXPECT_EQ(VerifyEnvelopeSignature(e).code(), absl::StatusCode::kInvalidArgument);
  e.signature.assign(kMaxSignatureBytes + 1, 'x');
  EXPECT_EQ(VerifyEnvelopeSignature(e).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---- CheckCertificateRules -----------------------------------------------------------------

// A chain whose leaf (or a CA) has the given extensions instead of the defaults.
struct Builder {
  KeyPtr root_key = SharedKey("P-256"), inter_key = SharedKey("P-384"),
         leaf_key = SharedKey("P-256");
  std::vector<Ext> root_exts = CaExts(), inter_exts = CaExts(), leaf_exts = LeafExts();
  int leaf_version = X509_VERSION_3;
  const EVP_MD* leaf_md = EVP_sha256();
  CertPtr root, inter, leaf;
  std::vector<std::string> Build() {
    root = MakeCert({.subject = Subject("root"), .key = root_key.get(), .exts = root_exts});
    inter = MakeCert({.subject = Subject("intermediate"), .key = inter_key.get(),
                      .issuer = root.get(), .issuer_key = root_key.get(), .exts = inter_exts});
    leaf = MakeCert({.subject = Subject("leaf"), .key = leaf_key.get(), .issuer = inter.get(),
                     .issuer_key = inter_key.get(), .exts = leaf_exts, .md = leaf_md,
                     .version = leaf_version});
    return {Der(leaf.get()), Der(inter.get()), Der(root.get())};
  }
};

TEST(NotationCertificateRulesTest, GoodChainsPass) {
  Builder b;
  std::vector<std::string> chain = b.Build();
  EXPECT_TRUE(CheckCertificateRules(chain, ChainPurpose::kCodeSigning).ok())
      << CheckCertificateRules(chain, ChainPurpose::kCodeSigning);
  // Root omitted; leaf alone; EKU absent; EKU with another OID but not codeSigning (notation
  // allows it: the spec says MAY contain id-kp-codeSigning); nonRepudiation allowed.
  chain.pop_back();
  EXPECT_TRUE(CheckCertificateRules(chain, ChainPurpose::kCodeSigning).ok());
  chain.pop_back();
  EXPECT_TRUE(CheckCertificateRules(chain, ChainPurpose::kCodeSigning).ok());
  for (std::vector<Ext> exts : std::vector<std::vector<Ext>>{
           {{NID_key_usage, "critical,digitalSignature"}},
           {{NID_key_usage, "critical,digitalSignature,nonRepudiation"},
            {NID_ext_key_usage, "1.3.6.1.4.1.311.10.3.13"}},
           {{NID_key_usage, "critical,digitalSignature"},
            {NID_ext_key_usage, "critical,codeSigning"},
            {NID_basic_constraints, "critical,CA:FALSE"}}}) {
    Builder b2;
    b2.leaf_exts = exts;
    std::vector<std::string> c2 = b2.Build();
    EXPECT_TRUE(CheckCertificateRules(c2, ChainPurpose::kCodeSigning).ok())
        << CheckCertificateRules(c2, ChainPurpose::kCodeSigning);
  }
  // An unknown critical extension is not evaluated (the spec: fail open), here or by OpenSSL.
  Builder b3;
  b3.leaf_exts.push_back({NID_undef, "critical,ASN1:UTF8String:acme", "1.3.6.1.4.1.99999.1"});
  b3.inter_exts.push_back({NID_undef, "critical,ASN1:UTF8String:acme", "1.3.6.1.4.1.99999.2"});
  std::vector<std::string> c3 = b3.Build();
  EXPECT_TRUE(CheckCertificateRules(c3, ChainPurpose::kCodeSigning).ok())
      << CheckCertificateRules(c3, ChainPurpose::kCodeSigning);
  X509TempDir dir;
  std::filesystem::create_directory(dir / "roots");
  WriteFile(dir / "roots/root.pem", Pem(b3.root.get()));
  absl::StatusOr<TrustStore> store = LoadTrustStore("roots", StoreType::kCa, dir / "roots", "");
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<ChainResult> r = VerifyChain(c3, {std::make_shared<const TrustStore>(*store)},
                                              StoreType::kCa, ChainPurpose::kCodeSigning);
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(NotationCertificateRulesTest, EachRuleBrokenOnce) {
  struct Case {
    std::string name;
    std::function<void(Builder&)> change;
    std::string want;
  };
  std::vector<Case> cases = {
      {"leaf keyUsage missing", [](Builder& b) { b.leaf_exts = {{NID_ext_key_usage, "codeSigning"}}; },
       "keyUsage must be present"},
      {"leaf keyUsage not critical",
       [](Builder& b) { b.leaf_exts = {{NID_key_usage, "digitalSignature"}}; },
       "keyUsage must be critical"},
      {"leaf keyUsage without digitalSignature",
       [](Builder& b) { b.leaf_exts = {{NID_key_usage, "critical,nonRepudiation"}}; },
       "must include digitalSignature"},
      {"leaf keyUsage with keyCertSign",
       [](Builder& b) { b.leaf_exts = {{NID_key_usage, "critical,digitalSignature,keyCertSign"}}; },
       "must not include keyCertSign"},
      {"leaf keyUsage with keyEncipherment",
       [](Builder& b) {
         b.leaf_key = SharedKey("rsa2048");
         b.leaf_exts = {{NID_key_usage, "critical,digitalSignature,keyEncipherment"}};
       },
       "must not include keyEncipherment"},
      {"leaf EKU serverAuth (without codeSigning)",
       [](Builder& b) {
         b.leaf_exts = {{NID_key_usage, "critical,digitalSignature"}, {NID_ext_key_usage, "serverAuth"}};
       },
       "must not include serverAuth"},
      {"leaf EKU codeSigning and timeStamping",
       [](Builder& b) {
         b.leaf_exts = {{NID_key_usage, "critical,digitalSignature"},
                        {NID_ext_key_usage, "codeSigning,timeStamping"}};
       },
       "must not include timeStamping"},
      {"leaf EKU anyExtendedKeyUsage",
       [](Builder& b) {
         b.leaf_exts = {{NID_key_usage, "critical,digitalSignature"},
                        {NID_ext_key_usage, "codeSigning,anyExtendedKeyUsage"}};
       },
       "must not include anyExtendedKeyUsage"},
      {"leaf basicConstraints cA TRUE",
       [](Builder& b) {
         b.leaf_exts = {{NID_key_usage, "critical,digitalSignature"},
                        {NID_basic_constraints, "CA:TRUE"}};
       },
       "cA FALSE"},
      {"leaf RSA 1024",
       [](Builder& b) { b.leaf_key = SharedKey("rsa1024"); }, "RSA key of 1024 bits"},
      {"leaf P-224", [](Builder& b) { b.leaf_key = SharedKey("P-224"); }, "secp224r1"},
      {"leaf version 1",
       [](Builder& b) {
         b.leaf_version = X509_VERSION_1;
         b.leaf_exts = {};
       },
       "version 3"},
      {"leaf signed with SHA-1", [](Builder& b) { b.leaf_md = EVP_sha1(); }, "SHA-1"},
      {"CA without basicConstraints",
       [](Builder& b) { b.inter_exts = {{NID_key_usage, "critical,keyCertSign"}}; },
       "basicConstraints must be present"},
      {"CA basicConstraints not critical",
       [](Builder& b) {
         b.inter_exts = {{NID_basic_constraints, "CA:TRUE"}, {NID_key_usage, "critical,keyCertSign"}};
       },
       "basicConstraints must be critical"},
      {"CA with cA FALSE",
       [](Builder& b) {
         b.inter_exts = {{NID_basic_constraints, "critical,CA:FALSE"},
                         {NID_key_usage, "critical,keyCertSign"}};
       },
       "cA TRUE"},
      {"CA keyUsage missing",
       [](Builder& b) { b.inter_exts = {{NID_basic_constraints, "critical,CA:TRUE"}}; },
       "keyUsage must be present and include keyCertSign"},
      {"CA keyUsage not critical",
       [](Builder& b) {
         b.inter_exts = {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "keyCertSign"}};
       },
       "keyUsage must be critical"},
      {"CA keyUsage without keyCertSign",
       [](Builder& b) {
         b.inter_exts = {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,cRLSign"}};
       },
       "must include keyCertSign"},
      {"root pathLenConstraint 0 over an intermediate",
       [](Builder& b) { b.root_exts = CaExts("0"); }, "pathLenConstraint 0 is exceeded"},
      {"RSA 1024 intermediate",
       [](Builder& b) { b.inter_key = SharedKey("rsa1024"); }, "RSA key of 1024 bits"},
      {"Ed25519 root", [](Builder& b) { b.root_key = SharedKey("ed25519"); }, "ED25519"},
  };
  for (const Case& c : cases) {
    Builder b;
    c.change(b);
    std::vector<std::string> chain = b.Build();
    absl::Status s = CheckCertificateRules(chain, ChainPurpose::kCodeSigning);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << c.name << ": " << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.want)) << c.name << ": " << s << "\n  wanted: " << c.want;
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationCertificateRulesTest, ChainOrderAndRelations) {
  Builder b;
  std::vector<std::string> chain = b.Build();
  // Out of order.
  EXPECT_DENIED(CheckCertificateRules({chain[0], chain[2], chain[1]}, ChainPurpose::kCodeSigning),
                "is not issued by the next certificate");
  // An unrelated certificate appended.
  Pki other(nullptr, "other");
  std::vector<std::string> extra = chain;
  extra.push_back(Der(other.root.get()));
  EXPECT_DENIED(CheckCertificateRules(extra, ChainPurpose::kCodeSigning), "is self-signed but is not the last");
  // Same issuer name, another key: the signature check catches it.
  CertPtr impostor = MakeCert({.subject = Subject("intermediate"), .key = SharedKey("P-521").get(),
                               .issuer = b.root.get(), .issuer_key = b.root_key.get(),
                               .exts = CaExts()});
  EXPECT_DENIED(CheckCertificateRules({chain[0], Der(impostor.get()), chain[2]},
                                      ChainPurpose::kCodeSigning),
                "signature does not verify");
  // A self-signed leaf followed by a CA.
  CertPtr self = SelfSignedLeaf(b.leaf_key.get());
  EXPECT_EQ(CheckCertificateRules({Der(self.get()), chain[1]}, ChainPurpose::kCodeSigning).code(),
            absl::StatusCode::kPermissionDenied);
  // Parse errors and limits.
  EXPECT_EQ(CheckCertificateRules({}, ChainPurpose::kCodeSigning).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckCertificateRules({chain[0], "junk"}, ChainPurpose::kCodeSigning).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckCertificateRules({chain[0] + "x"}, ChainPurpose::kCodeSigning).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::string> many(kMaxChainCertificates + 2, chain[0]);
  EXPECT_EQ(CheckCertificateRules(many, ChainPurpose::kCodeSigning).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationCertificateRulesTest, TimestampingRules) {
  auto tsa = [](std::vector<Ext> leaf_exts) {
    Builder b;
    b.leaf_exts = std::move(leaf_exts);
    return CheckCertificateRules(b.Build(), ChainPurpose::kTimestamping);
  };
  EXPECT_TRUE(tsa(TsaExts()).ok()) << tsa(TsaExts());
  // keyUsage need not be critical for a TSA.
  EXPECT_TRUE(tsa({{NID_key_usage, "digitalSignature"}, {NID_ext_key_usage, "critical,timeStamping"}}).ok());
  EXPECT_DENIED(tsa({{NID_key_usage, "critical,digitalSignature"}, {NID_ext_key_usage, "timeStamping"}}),
                "must be critical");
  EXPECT_DENIED(tsa({{NID_key_usage, "critical,digitalSignature"}}), "must be present");
  EXPECT_DENIED(tsa({{NID_key_usage, "critical,digitalSignature"},
                     {NID_ext_key_usage, "critical,timeStamping,codeSigning"}}),
                "exactly id-kp-timeStamping");
  EXPECT_DENIED(tsa({{NID_ext_key_usage, "critical,timeStamping"}}), "keyUsage must be present");
  // A code signing leaf is no TSA, and a TSA leaf is no code signer.
  EXPECT_DENIED(tsa(LeafExts()), "timeStamping");
  Builder b;
  b.leaf_exts = TsaExts();
  EXPECT_DENIED(CheckCertificateRules(b.Build(), ChainPurpose::kCodeSigning), "must not include timeStamping");
  // TSA CAs: keyUsage need not be critical.
  Builder c;
  c.leaf_exts = TsaExts();
  c.inter_exts = {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "keyCertSign"}};
  EXPECT_TRUE(CheckCertificateRules(c.Build(), ChainPurpose::kTimestamping).ok());
}

// ---- VerifyChain ---------------------------------------------------------------------------

std::shared_ptr<const TrustStore> StoreOf(const std::string& name, StoreType type,
                                          std::vector<X509*> certs, const std::string& dir,
                                          const std::string& crl = "") {
  std::string path = dir + "/" + name;
  std::filesystem::create_directories(path);
  int i = 0;
  for (X509* x : certs) WriteFile(path + "/" + std::to_string(i++) + ".pem", Pem(x));
  absl::StatusOr<TrustStore> s = LoadTrustStore(name, type, path, crl);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::make_shared<const TrustStore>(*s) : nullptr;
}

TEST(NotationChainTest, AnchorsAtRootIntermediateOrOmittedRoot) {
  X509TempDir dir;
  Builder b;
  std::vector<std::string> chain = b.Build();
  Pki other(nullptr, "other");
  auto wrong = StoreOf("wrong", StoreType::kCa, {other.root.get()}, dir.path());
  auto roots = StoreOf("roots", StoreType::kCa, {b.root.get()}, dir.path());
  absl::StatusOr<ChainResult> r =
      VerifyChain(chain, {wrong, roots}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->store, "roots");
  EXPECT_EQ(r->chain_der, chain);
  EXPECT_EQ(r->anchor_thumbprint, Thumbprint(chain[2]));

  // Root omitted from the envelope: the store's root completes the chain.
  r = VerifyChain({chain[0], chain[1]}, {roots}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chain_der, chain);

  // An intermediate in the store anchors too.
  auto inters = StoreOf("inters", StoreType::kCa, {b.inter.get()}, dir.path());
  r = VerifyChain(chain, {inters}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->store, "inters");
  EXPECT_EQ(r->anchor_thumbprint, Thumbprint(chain[1]));
  EXPECT_EQ(r->chain_der.back(), chain[1]);

  // The wrong store alone: denied, naming the store and OpenSSL's reason.
  r = VerifyChain(chain, {wrong}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "\"wrong\"")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "self-signed certificate in certificate chain"))
      << r.status();
  r = VerifyChain({chain[0], chain[1]}, {wrong}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "unable to get local issuer certificate"))
      << r.status();

  // Stores of another type are not used.
  auto sa = StoreOf("sa", StoreType::kSigningAuthority, {b.root.get()}, dir.path());
  r = VerifyChain(chain, {sa}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "no trust store of type ca")) << r.status();
  r = VerifyChain(chain, {roots, sa}, StoreType::kSigningAuthority, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->store, "sa");

  // A TrustStore built by hand (no parsed anchors) works the same.
  TrustStore manual;
  manual.name = "manual";
  manual.certs_der = {Der(b.root.get())};
  ASSERT_EQ(manual.anchors, nullptr);
  r = VerifyChain({chain[0], chain[1]}, {std::make_shared<const TrustStore>(manual)},
                  StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chain_der, chain);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationChainTest, SelfSignedLeafInStore) {
  X509TempDir dir;
  KeyPtr k = SharedKey("P-384");
  CertPtr self = SelfSignedLeaf(k.get());
  auto store = StoreOf("self", StoreType::kCa, {self.get()}, dir.path());
  absl::StatusOr<ChainResult> r =
      VerifyChain({Der(self.get())}, {store}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chain_der.size(), 1u);
  // Not in the store: nothing anchors it.
  Pki other;
  auto roots = StoreOf("roots", StoreType::kCa, {other.root.get()}, dir.path());
  EXPECT_EQ(VerifyChain({Der(self.get())}, {roots}, StoreType::kCa, ChainPurpose::kCodeSigning)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(NotationChainTest, TimeIsNotCheckedButValidityIsIntersected) {
  X509TempDir dir;
  KeyPtr rk = SharedKey("P-256"), ik = SharedKey("P-384"), lk = SharedKey("P-256");
  absl::Time t = kT0;
  CertPtr root = MakeCert({.subject = Subject("root"), .key = rk.get(), .exts = CaExts(),
                           .not_before = t - absl::Hours(24 * 365), .not_after = t + absl::Hours(24 * 3650)});
  CertPtr inter = MakeCert({.subject = Subject("inter"), .key = ik.get(), .issuer = root.get(),
                            .issuer_key = rk.get(), .exts = CaExts(),
                            .not_before = t - absl::Hours(48), .not_after = t + absl::Hours(24 * 30)});
  // The leaf expired long ago (and is not nested in its issuer's validity).
  CertPtr leaf = MakeCert({.subject = Subject("leaf"), .key = lk.get(), .issuer = inter.get(),
                           .issuer_key = ik.get(), .exts = LeafExts(),
                           .not_before = t - absl::Hours(24 * 400), .not_after = t - absl::Hours(24)});
  auto store = StoreOf("roots", StoreType::kCa, {root.get()}, dir.path());
  absl::StatusOr<ChainResult> r = VerifyChain({Der(leaf.get()), Der(inter.get())}, {store},
                                              StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->not_before, t - absl::Hours(48));
  EXPECT_EQ(r->not_after, t - absl::Hours(24));
  EXPECT_LT(r->not_after, absl::Now());  // expired, and chained all the same
}

TEST(NotationChainTest, ValidityOfCertificatesAboveTheAnchorDoesNotCount) {
  X509TempDir dir;
  KeyPtr rk = SharedKey("P-256"), ik = SharedKey("P-384"), lk = SharedKey("P-256");
  CertPtr root = MakeCert({.subject = Subject("root"), .key = rk.get(), .exts = CaExts(),
                           .not_before = kT0, .not_after = kT0 + absl::Hours(24 * 10)});
  CertPtr inter = MakeCert({.subject = Subject("inter"), .key = ik.get(), .issuer = root.get(),
                            .issuer_key = rk.get(), .exts = CaExts(),
                            .not_before = kT0, .not_after = kT0 + absl::Hours(24 * 30)});
  CertPtr leaf = MakeCert({.subject = Subject("leaf"), .key = lk.get(), .issuer = inter.get(),
                           .issuer_key = ik.get(), .exts = LeafExts(),
                           .not_before = kT0, .not_after = kT0 + absl::Hours(24 * 20)});
  std::vector<std::string> chain = {Der(leaf.get()), Der(inter.get()), Der(root.get())};
  auto inters = StoreOf("inters", StoreType::kCa, {inter.get()}, dir.path());
  absl::StatusOr<ChainResult> r = VerifyChain(chain, {inters}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->chain_der.size(), 2u);
  EXPECT_EQ(r->not_after, kT0 + absl::Hours(24 * 20));  // the root's 10 days do not count
  auto roots = StoreOf("roots", StoreType::kCa, {root.get()}, dir.path());
  r = VerifyChain(chain, {roots}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->not_after, kT0 + absl::Hours(24 * 10));
  EXPECT_EQ(r->not_before, kT0);
}

TEST(NotationChainTest, RulesAreAppliedToTheEnvelopeAndToTheStoreAnchor) {
  X509TempDir dir;
  // The envelope's chain breaks a rule: denied before any store.
  Builder bad;
  bad.leaf_exts = {{NID_key_usage, "digitalSignature"}};
  std::vector<std::string> chain = bad.Build();
  auto roots = StoreOf("roots", StoreType::kCa, {bad.root.get()}, dir.path());
  EXPECT_DENIED(VerifyChain(chain, {roots}, StoreType::kCa, ChainPurpose::kCodeSigning).status(),
                "keyUsage must be critical");
  // The store's root (not in the envelope) has a 1024-bit RSA key: the completed chain fails.
  Builder weak;
  weak.root_key = SharedKey("rsa1024");
  std::vector<std::string> c2 = weak.Build();
  auto weak_store = StoreOf("weak", StoreType::kCa, {weak.root.get()}, dir.path());
  EXPECT_DENIED(VerifyChain({c2[0], c2[1]}, {weak_store}, StoreType::kCa, ChainPurpose::kCodeSigning)
                    .status(),
                "RSA key of 1024 bits");
  // A chain longer than the envelope allows.
  std::vector<std::string> many(kMaxChainCertificates + 1, c2[0]);
  EXPECT_EQ(VerifyChain(many, {roots}, StoreType::kCa, ChainPurpose::kCodeSigning).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NotationChainTest, TimestampingChainAgainstTsaStore) {
  X509TempDir dir;
  Builder b;
  b.leaf_exts = TsaExts();
  std::vector<std::string> chain = b.Build();
  auto tsa = StoreOf("tsa", StoreType::kTsa, {b.root.get()}, dir.path());
  absl::StatusOr<ChainResult> r =
      VerifyChain({chain[0], chain[1]}, {tsa}, StoreType::kTsa, ChainPurpose::kTimestamping);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->store, "tsa");
  EXPECT_DENIED(VerifyChain(chain, {tsa}, StoreType::kTsa, ChainPurpose::kCodeSigning).status(),
                "timeStamping");
}

// ---- CheckRevocation -----------------------------------------------------------------------

TEST(NotationRevocationTest, GoodRevokedNoCrlExpiredCrl) {
  X509TempDir dir;
  Builder b;
  std::vector<std::string> chain = b.Build();
  long leaf_serial = ASN1_INTEGER_get(X509_get0_serialNumber(b.leaf.get()));
  long inter_serial = ASN1_INTEGER_get(X509_get0_serialNumber(b.inter.get()));
  absl::Time at = kT0 + absl::Hours(1);
  auto crl_file = [&](const std::string& name, std::vector<std::string> ders) {
    std::string all;
    for (const std::string& d : ders) all += CrlPem(d);
    WriteFile(dir / name, all);
    return dir / name;
  };
  std::string root_good = MakeCrl(b.root.get(), b.root_key.get(), {}, kT0, kT0 + absl::Hours(24));
  std::string inter_good = MakeCrl(b.inter.get(), b.inter_key.get(), {12345}, kT0, kT0 + absl::Hours(24));
  std::string inter_revoking = MakeCrl(b.inter.get(), b.inter_key.get(), {leaf_serial}, kT0,
                                       kT0 + absl::Hours(24), kT0 + absl::Minutes(5), 1);

  // No CRL configured.
  auto plain = StoreOf("plain", StoreType::kCa, {b.root.get()}, dir.path());
  absl::StatusOr<ChainResult> chain_result =
      VerifyChain(chain, {plain}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(chain_result.ok()) << chain_result.status();
  RevocationResult rr = CheckRevocation(*chain_result, *plain, at);
  EXPECT_EQ(rr.status, RevocationStatus::kUnknown);
  EXPECT_TRUE(absl::StrContains(rr.detail, "no CRL configured for trust store plain")) << rr.detail;

  // Both issuers' CRLs current, nothing listed: good.
  auto good = StoreOf("good", StoreType::kCa, {b.root.get()}, dir.path(),
                      crl_file("good.crl", {root_good, inter_good}));
  rr = CheckRevocation(*chain_result, *good, at);
  EXPECT_EQ(rr.status, RevocationStatus::kGood) << rr.detail;

  // Only the root's CRL: the leaf's issuer has none: unknown.
  auto half = StoreOf("half", StoreType::kCa, {b.root.get()}, dir.path(),
                      crl_file("half.crl", {root_good}));
  rr = CheckRevocation(*chain_result, *half, at);
  EXPECT_EQ(rr.status, RevocationStatus::kUnknown);
  EXPECT_TRUE(absl::StrContains(rr.detail, "no CRL of")) << rr.detail;
  EXPECT_TRUE(absl::StrContains(rr.detail, "CN=intermediate")) << rr.detail;

  // The leaf listed: revoked, with time and reason.
  auto revoked = StoreOf("revoked", StoreType::kCa, {b.root.get()}, dir.path(),
                         crl_file("revoked.crl", {root_good, inter_revoking}));
  rr = CheckRevocation(*chain_result, *revoked, at);
  EXPECT_EQ(rr.status, RevocationStatus::kRevoked) << rr.detail;
  EXPECT_TRUE(absl::StrContains(rr.detail, "keyCompromise")) << rr.detail;
  EXPECT_TRUE(absl::StrContains(rr.detail, "2023-11-14T22:18:20Z")) << rr.detail;

  // The intermediate listed by the root.
  std::string root_revoking = MakeCrl(b.root.get(), b.root_key.get(), {inter_serial}, kT0, kT0 + absl::Hours(24));
  auto inter_revoked = StoreOf("inter-revoked", StoreType::kCa, {b.root.get()}, dir.path(),
                               crl_file("ir.crl", {root_revoking, inter_good}));
  rr = CheckRevocation(*chain_result, *inter_revoked, at);
  EXPECT_EQ(rr.status, RevocationStatus::kRevoked) << rr.detail;
  EXPECT_TRUE(absl::StrContains(rr.detail, "CN=intermediate")) << rr.detail;

  // Expired (at >= nextUpdate) and not yet valid CRLs: unknown.
  rr = CheckRevocation(*chain_result, *good, kT0 + absl::Hours(25));
  EXPECT_EQ(rr.status, RevocationStatus::kUnknown);
  EXPECT_TRUE(absl::StrContains(rr.detail, "expired 2023-11-15T22:13:20Z")) << rr.detail;
  rr = CheckRevocation(*chain_result, *good, kT0 - absl::Hours(1));
  EXPECT_EQ(rr.status, RevocationStatus::kUnknown);
  EXPECT_TRUE(absl::StrContains(rr.detail, "not yet valid")) << rr.detail;

  // A CRL with the issuer's name but another key's signature: not trusted.
  Builder other;
  other.inter_key = SharedKey("P-521");
  other.Build();
  std::string forged = MakeCrl(b.inter.get(), other.inter_key.get(), {}, kT0, kT0 + absl::Hours(24));
  auto forged_store = StoreOf("forged", StoreType::kCa, {b.root.get()}, dir.path(),
                              crl_file("forged.crl", {root_good, forged}));
  rr = CheckRevocation(*chain_result, *forged_store, at);
  EXPECT_EQ(rr.status, RevocationStatus::kUnknown);
  EXPECT_TRUE(absl::StrContains(rr.detail, "not signed by its key")) << rr.detail;

  // certificateHold is revocation too.
  std::string hold = MakeCrl(b.inter.get(), b.inter_key.get(), {leaf_serial}, kT0,
                             kT0 + absl::Hours(24), kT0, 6);
  auto held = StoreOf("held", StoreType::kCa, {b.root.get()}, dir.path(),
                      crl_file("held.crl", {root_good, hold}));
  rr = CheckRevocation(*chain_result, *held, at);
  EXPECT_EQ(rr.status, RevocationStatus::kRevoked) << rr.detail;
  EXPECT_TRUE(absl::StrContains(rr.detail, "certificateHold")) << rr.detail;
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(NotationRevocationTest, AnchorIntermediateNeedsOnlyItsOwnCrl) {
  X509TempDir dir;
  Builder b;
  std::vector<std::string> chain = b.Build();
  std::string inter_good = MakeCrl(b.inter.get(), b.inter_key.get(), {}, kT0, kT0 + absl::Hours(24));
  WriteFile(dir / "i.crl", CrlPem(inter_good));
  auto store = StoreOf("inters", StoreType::kCa, {b.inter.get()}, dir.path(), dir / "i.crl");
  absl::StatusOr<ChainResult> r = VerifyChain(chain, {store}, StoreType::kCa, ChainPurpose::kCodeSigning);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CheckRevocation(*r, *store, kT0 + absl::Hours(1)).status, RevocationStatus::kGood);
}

TEST(NotationThumbprintTest, LowercaseHexSha256) {
  EXPECT_EQ(Thumbprint(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Thumbprint("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace layerseal::notation
