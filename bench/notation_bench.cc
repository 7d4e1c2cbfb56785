// CPU cost of judging one Notary Project (notation) signature (issue 20,
// verifier/notation/verify.h), each beside its floor: the bare OpenSSL verification of the
// same signature over the same bytes, the cheapest thing any verifier must do.
//
//   BM_VerifySignature/jws_es256        VerifySignature of a JWS, EC P-256 leaf under an
//                                        RSA-4096 root (as GlobalSign's and DigiCert's roots),
//                                        strict, the CA's CRL configured (parse, signature,
//                                        payload, chain + rules, identity, validity, CRL)
//   BM_Floor/jws_es256                   EVP_DigestVerify of its ES256 signature over the JWS
//                                        signing input (key parsed once)
//   BM_VerifySignature/cose_ps256        the same for a COSE_Sign1, RSA-2048 leaf (PS256)
//   BM_Floor/cose_ps256                  RSA-PSS verify over its Sig_structure
//   BM_VerifySignature/jws_es256_tsa     the JWS with an RFC 3161 timestamp (RSA-2048 TSA
//                                        under an RSA-4096 root) and a tsa store (+ its CRL)
//   BM_Piece/...                         the JWS case's parts: ParseEnvelope,
//                                        VerifyEnvelopeSignature, VerifyChain, CheckRevocation,
//                                        IdentityMatches, SubjectText (one certificate parse),
//                                        and of the timestamp case: ParseTimestampToken,
//                                        VerifyTimestampToken
//   BM_Floor/jws_es256_tsa               the ES256 verify plus PKCS7_verify (NOVERIFY) of the
//                                        token's CMS signature
//
// The PKI and envelopes are made in-process (tests/support/notation_sign.h) once. CPU time is
// reported (the machine is shared). Figures: docs/performance.md.
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "benchmark/benchmark.h"
#include "tests/support/notation_sign.h"
#include "verifier/digest.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"
#include "verifier/notation/timestamp.h"
#include "verifier/notation/verify.h"
#include "verifier/notation/x509.h"

namespace layerseal {
namespace {

using notation::Format;
using testing::CertKind;
using testing::MakeCert;
using testing::TestCert;

absl::Time Utc(int y, int mo, int d) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, 0, 0, 0), absl::UTCTimeZone());
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "notation_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Case {
  std::string envelope;
  std::string_view media_type;
  notation::Envelope parsed;
  notation::NotationTrust trust;
  notation::Target target;
  std::shared_ptr<EVP_PKEY> leaf_key;  // public key only
  std::string der_signature;           // ECDSA as DER for EVP (RSA: as is)
  bool rsa = false;
  std::string token;                   // the timestamp token, when any
};

struct World {
  Case jws, cose, tsa;
};

std::shared_ptr<EVP_PKEY> PublicKeyOf(const std::string& cert_der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(cert_der.data());
  X509* c = d2i_X509(nullptr, &p, static_cast<long>(cert_der.size()));
  if (c == nullptr) Fail("certificate");
  EVP_PKEY* k = X509_get_pubkey(c);
  X509_free(c);
  return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
}

std::string RawToDer(const std::string& raw) {
  size_t half = raw.size() / 2;
  ECDSA_SIG* s = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(half), nullptr);
  BIGNUM* ss = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + half,
                         static_cast<int>(half), nullptr);
  ECDSA_SIG_set0(s, r, ss);
  unsigned char* buf = nullptr;
  int n = i2d_ECDSA_SIG(s, &buf);
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  ECDSA_SIG_free(s);
  return out;
}

Case MakeCase(const testing::EnvelopeSpec& spec, std::vector<std::shared_ptr<const notation::TrustStore>> stores) {
  Case c;
  c.envelope = testing::SignEnvelope(spec);
  c.media_type = spec.format == Format::kJws ? notation::kJwsMediaType : notation::kCoseMediaType;
  absl::StatusOr<notation::Envelope> env = notation::ParseEnvelope(c.envelope, c.media_type);
  if (!env.ok()) Fail(std::string(Sv(env.status().message())));
  c.parsed = *env;
  c.trust.level = notation::Level::kStrict;
  c.trust.actions = notation::ActionsFor(notation::Level::kStrict);
  c.trust.stores = std::move(stores);
  absl::StatusOr<std::vector<notation::TrustedIdentity>> ids =
      notation::ParseTrustedIdentities({"x509.subject: C=US, ST=WA, O=acme"});
  if (!ids.ok()) Fail("identities");
  c.trust.identities = *ids;
  c.target.media_type = spec.target_media_type;
  c.target.digest = *Digest::Parse(spec.target_digest);
  c.target.size = spec.target_size;
  c.leaf_key = PublicKeyOf(spec.chain.front());
  c.rsa = EVP_PKEY_get_base_id(c.leaf_key.get()) == EVP_PKEY_RSA;
  c.der_signature = c.rsa ? c.parsed.signature : RawToDer(c.parsed.signature);
  c.token = c.parsed.timestamp_token;
  notation::Result r = notation::VerifySignature(c.envelope, c.media_type, c.target, c.trust,
                                                 Utc(2025, 6, 20));
  if (!r.ok()) Fail("the benchmark's envelope does not verify: " + r.detail);
  return c;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    Fail("cannot write " + path);
  }
  std::fclose(f);
}

// A store directory with `cert_der` and a CRL file, under a fresh temp dir, read back by
// LoadTrustStore.
std::shared_ptr<const notation::TrustStore> LoadStore(const std::string& name,
                                                      notation::StoreType type,
                                                      const std::string& cert_der,
                                                      const std::string& crl_der) {
  std::string base = std::filesystem::temp_directory_path() /
                     ("notation_bench_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::create_directories(base + "/store");
  WriteFile(base + "/store/root.crt", cert_der);
  WriteFile(base + "/store.crl", crl_der);
  absl::StatusOr<notation::TrustStore> s =
      notation::LoadTrustStore(name, type, base + "/store", base + "/store.crl");
  std::filesystem::remove_all(base);
  if (!s.ok()) Fail(std::string(Sv(s.status().message())));
  return std::make_shared<const notation::TrustStore>(*std::move(s));
}

const World& W() {
  static const World* w = [] {
    auto* out = new World();
    TestCert root = MakeCert({"C=US,ST=WA,O=acme,CN=acme root", CertKind::kCa, Utc(2020, 1, 1),
                              Utc(2040, 1, 1)},
                             testing::NewRsaKey(4096), nullptr);
    TestCert ec = MakeCert({"C=US,ST=WA,O=acme,CN=acme signer", CertKind::kCodeSigning,
                            Utc(2024, 1, 1), Utc(2026, 1, 1)},
                           testing::NewEcKey(NID_X9_62_prime256v1), &root);
    TestCert rsa = MakeCert({"C=US,ST=WA,O=acme,CN=acme rsa signer", CertKind::kCodeSigning,
                             Utc(2024, 1, 1), Utc(2026, 1, 1)},
                            testing::NewRsaKey(2048), &root);
    TestCert tsa_root = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA root", CertKind::kCa,
                                  Utc(2020, 1, 1), Utc(2040, 1, 1)},
                                 testing::NewRsaKey(4096), nullptr);
    TestCert tsa = MakeCert({"C=US,ST=WA,O=acme,CN=acme TSA", CertKind::kTimestamping,
                             Utc(2022, 1, 1), Utc(2032, 1, 1)},
                            testing::NewRsaKey(2048), &tsa_root);
    // As the policy loader makes them: LoadTrustStore over files (a store parsed once).
    auto ca = LoadStore("acme-ca", notation::StoreType::kCa, root.der,
                        testing::MakeCrl(root, Utc(2023, 1, 1), Utc(2030, 1, 1), {}));
    auto tsa_store = LoadStore("acme-tsa", notation::StoreType::kTsa, tsa_root.der,
                               testing::MakeCrl(tsa_root, Utc(2023, 1, 1), Utc(2030, 1, 1), {}));
    testing::EnvelopeSpec e;
    e.signing_time = Utc(2025, 6, 15);
    e.chain = {ec.der, root.der};
    e.key = ec.key;
    out->jws = MakeCase(e, {ca});
    testing::EnvelopeSpec c = e;
    c.format = Format::kCose;
    c.chain = {rsa.der, root.der};
    c.key = rsa.key;
    out->cose = MakeCase(c, {ca});
    testing::EnvelopeSpec t = e;
    t.timestamp = [tsa, tsa_root](std::string_view sig) {
      testing::TsaSpec s;
      s.tsa = tsa;
      s.chain = {tsa_root.der};
      s.gen_time = Utc(2025, 6, 15);
      return testing::MakeTimestampToken(s, sig);
    };
    out->tsa = MakeCase(t, {ca, tsa_store});
    return out;
  }();
  return *w;
}

void BM_VerifySignature(benchmark::State& state, const Case* (*pick)()) {
  const Case& c = *pick();
  const absl::Time now = Utc(2025, 6, 20);
  for (auto _ : state) {
    notation::Result r = notation::VerifySignature(c.envelope, c.media_type, c.target, c.trust, now);
    if (!r.ok()) state.SkipWithError(r.detail.c_str());
    benchmark::DoNotOptimize(r);
  }
}

bool VerifyRaw(const Case& c) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, c.leaf_key.get()) == 1;
  if (ok && c.rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(c.der_signature.data()),
                              c.der_signature.size(),
                              reinterpret_cast<const unsigned char*>(c.parsed.signed_bytes.data()),
                              c.parsed.signed_bytes.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

bool VerifyTokenSignature(const Case& c) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(c.token.data());
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(c.token.size()));
  if (p7 == nullptr) return false;
  bool ok = PKCS7_verify(p7, nullptr, nullptr, nullptr, nullptr, PKCS7_NOVERIFY) == 1;
  PKCS7_free(p7);
  return ok;
}

void BM_Floor(benchmark::State& state, const Case* (*pick)()) {
  const Case& c = *pick();
  for (auto _ : state) {
    bool ok = VerifyRaw(c);
    if (!c.token.empty()) ok = ok && VerifyTokenSignature(c);
    if (!ok) state.SkipWithError("the floor's verification failed");
    benchmark::DoNotOptimize(ok);
  }
  ERR_clear_error();
}

// The pieces of VerifySignature on the JWS case, to see where its time goes.
void BM_Piece(benchmark::State& state, int piece) {
  const Case& c = W().jws;
  const std::vector<std::shared_ptr<const notation::TrustStore>>& stores = c.trust.stores;
  absl::StatusOr<notation::ChainResult> chain = notation::VerifyChain(
      c.parsed.certs_der, stores, notation::StoreType::kCa, notation::ChainPurpose::kCodeSigning);
  if (!chain.ok()) Fail("chain");
  for (auto _ : state) {
    switch (piece) {
      case 0: benchmark::DoNotOptimize(notation::ParseEnvelope(c.envelope, c.media_type)); break;
      case 1: benchmark::DoNotOptimize(notation::VerifyEnvelopeSignature(c.parsed)); break;
      case 2:
        benchmark::DoNotOptimize(notation::VerifyChain(c.parsed.certs_der, stores,
                                                       notation::StoreType::kCa,
                                                       notation::ChainPurpose::kCodeSigning));
        break;
      case 3:
        benchmark::DoNotOptimize(notation::CheckRevocation(*chain, *stores[0], Utc(2025, 6, 20)));
        break;
      case 4:
        benchmark::DoNotOptimize(notation::IdentityMatches(c.trust.identities[0], c.parsed.certs_der[0]));
        break;
      case 5: benchmark::DoNotOptimize(notation::SubjectText(c.parsed.certs_der[0])); break;
      case 6: benchmark::DoNotOptimize(notation::ParseTimestampToken(W().tsa.token)); break;
      case 7:
        benchmark::DoNotOptimize(notation::VerifyTimestampToken(
            W().tsa.token, W().tsa.parsed.signature, W().tsa.trust.stores));
        break;
    }
  }
}
BENCHMARK_CAPTURE(BM_Piece, parse_envelope, 0);
BENCHMARK_CAPTURE(BM_Piece, envelope_signature, 1);
BENCHMARK_CAPTURE(BM_Piece, verify_chain, 2);
BENCHMARK_CAPTURE(BM_Piece, check_revocation, 3);
BENCHMARK_CAPTURE(BM_Piece, identity_matches, 4);
BENCHMARK_CAPTURE(BM_Piece, subject_text, 5);
BENCHMARK_CAPTURE(BM_Piece, parse_timestamp_token, 6);
BENCHMARK_CAPTURE(BM_Piece, verify_timestamp_token, 7);

const Case* Jws() { return &W().jws; }
const Case* Cose() { return &W().cose; }
const Case* WithTsa() { return &W().tsa; }

BENCHMARK_CAPTURE(BM_VerifySignature, jws_es256, Jws);
BENCHMARK_CAPTURE(BM_Floor, jws_es256, Jws);
BENCHMARK_CAPTURE(BM_VerifySignature, cose_ps256, Cose);
BENCHMARK_CAPTURE(BM_Floor, cose_ps256, Cose);
BENCHMARK_CAPTURE(BM_VerifySignature, jws_es256_tsa, WithTsa);
BENCHMARK_CAPTURE(BM_Floor, jws_es256_tsa, WithTsa);

}  // namespace
}  // namespace layerseal

BENCHMARK_MAIN();
