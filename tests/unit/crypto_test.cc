// Keys, signatures and base64 of verifier/crypto.h: every algorithm of spec section 3, the key
// checks of PublicKey::FromPem, and key ids against the openssl CLI.
#include "verifier/crypto.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifier/digest.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;

const Algorithm kAll[] = {Algorithm::kEcdsaP256Sha256, Algorithm::kRsaPkcs1v15Sha256, Algorithm::kRsaPssSha256,
                          Algorithm::kEd25519};

// A scratch directory for openssl CLI files, removed at the end of the test.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "crypto_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~Scratch() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  void Write(const std::string& name, std::string_view content) const {
    std::ofstream(File(name), std::ios::binary) << content;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(File(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Runs a shell command inside the directory; stderr goes to err.txt for failure messages.
  bool Sh(const std::string& cmd) const {
    std::string full = "cd '" + path_ + "' && (" + cmd + ") 2>err.txt </dev/null";
    return std::system(full.c_str()) == 0;
  }

 private:
  std::string path_;
};

// RSA key generation is slow: one key per (algorithm, slot) for the whole test program.
const PrivateKey& Key(Algorithm a, int slot = 0) {
  static auto* keys = new std::map<std::pair<Algorithm, int>, PrivateKey>();
  auto it = keys->find({a, slot});
  if (it == keys->end()) {
    absl::StatusOr<PrivateKey> k = PrivateKey::Generate(a);
    if (!k.ok()) {
      ADD_FAILURE() << k.status();
      std::abort();
    }
    it = keys->emplace(std::make_pair(a, slot), *std::move(k)).first;
  }
  return it->second;
}

std::string Digest32(std::string_view message) { return Sha256(message); }

class AlgorithmTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(AlgorithmTest, SignVerifyRoundTrip) {
  const PrivateKey& key = Key(GetParam());
  std::string digest = Digest32("base manifest");
  absl::StatusOr<std::string> sig = key.Sign(GetParam(), digest);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_TRUE(key.public_key().Verify(GetParam(), digest, *sig).ok());
  EXPECT_TRUE(key.public_key().Fits(GetParam()));
}

TEST_P(AlgorithmTest, TamperedDigestSignatureOrWrongKeyIsUnauthenticated) {
  const PrivateKey& key = Key(GetParam());
  std::string digest = Digest32("base manifest");
  std::string sig = *key.Sign(GetParam(), digest);

  std::string other_digest = Digest32("another manifest");
  absl::Status s = key.public_key().Verify(GetParam(), other_digest, sig);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not verify"));

  std::string flipped = sig;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(key.public_key().Verify(GetParam(), digest, flipped).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(key.public_key().Verify(GetParam(), digest, "").code(), absl::StatusCode::kUnauthenticated);

  const PublicKey& other = Key(GetParam(), 1).public_key();
  EXPECT_NE(other.key_id(), key.public_key().key_id());
  EXPECT_EQ(other.Verify(GetParam(), digest, sig).code(), absl::StatusCode::kUnauthenticated);
}

TEST_P(AlgorithmTest, DigestMustBe32Bytes) {
  const PrivateKey& key = Key(GetParam());
  std::string sig = *key.Sign(GetParam(), Digest32("m"));
  EXPECT_EQ(key.Sign(GetParam(), "short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(key.public_key().Verify(GetParam(), Digest32("m") + "x", sig).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(AlgorithmTest, PemRoundTripsKeepTheKeyId) {
  const PrivateKey& key = Key(GetParam());
  std::string pem = key.ToPem();
  EXPECT_THAT(pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));  // PKCS#8
  absl::StatusOr<PrivateKey> again = PrivateKey::FromPem(pem);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->public_key().key_id(), key.public_key().key_id());
  EXPECT_EQ(again->public_key().algorithms(), key.public_key().algorithms());

  absl::StatusOr<PublicKey> pub = PublicKey::FromPem(key.public_key().ToPem());
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->key_id(), key.public_key().key_id());
  EXPECT_EQ(pub->ToDer(), key.public_key().ToDer());
  std::string digest = Digest32("x");
  EXPECT_TRUE(pub->Verify(GetParam(), digest, *again->Sign(GetParam(), digest)).ok());
}

TEST_P(AlgorithmTest, KeyIdIsSha256OfDerSpkiAsOpensslPrintsIt) {
  const PublicKey& pub = Key(GetParam()).public_key();
  EXPECT_EQ(pub.key_id(), "sha256:" + HexEncode(Sha256(pub.ToDer())));
  Scratch dir;
  dir.Write("key.pub", pub.ToPem());
  ASSERT_TRUE(dir.Sh("openssl pkey -pubin -in key.pub -outform DER | sha256sum > id.txt")) << dir.Read("err.txt");
  EXPECT_EQ(pub.key_id(), "sha256:" + dir.Read("id.txt").substr(0, 64));
}

TEST_P(AlgorithmTest, ErrorQueueIsLeftEmpty) {
  const PrivateKey& key = Key(GetParam());
  EXPECT_FALSE(key.public_key().Verify(GetParam(), Digest32("a"), std::string(64, '\x01')).ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_FALSE(PublicKey::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

INSTANTIATE_TEST_SUITE_P(All, AlgorithmTest, ::testing::ValuesIn(kAll),
                         [](const ::testing::TestParamInfo<Algorithm>& info) {
                           std::string name(AlgorithmName(info.param));
                           for (char& c : name) c = isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

TEST(AlgorithmNameTest, NamesRoundTripAndUnknownIsRejected) {
  EXPECT_EQ(AlgorithmName(Algorithm::kEcdsaP256Sha256), "ecdsa-p256-sha256");
  EXPECT_EQ(AlgorithmName(Algorithm::kRsaPkcs1v15Sha256), "rsa-pkcs1v15-sha256");
  EXPECT_EQ(AlgorithmName(Algorithm::kRsaPssSha256), "rsa-pss-sha256");
  EXPECT_EQ(AlgorithmName(Algorithm::kEd25519), "ed25519");
  for (Algorithm a : kAll) EXPECT_EQ(*ParseAlgorithm(AlgorithmName(a)), a);
  for (const char* bad : {"", "ECDSA-P256-SHA256", "ed448", "rsa-pss-sha384", "ed25519 "}) {
    EXPECT_EQ(ParseAlgorithm(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(KeyTypeTest, AlgorithmsAreFixedByKeyType) {
  using V = std::vector<Algorithm>;
  EXPECT_EQ(Key(Algorithm::kEcdsaP256Sha256).public_key().algorithms(), V{Algorithm::kEcdsaP256Sha256});
  EXPECT_EQ(Key(Algorithm::kEd25519).public_key().algorithms(), V{Algorithm::kEd25519});
  EXPECT_EQ(Key(Algorithm::kRsaPkcs1v15Sha256).public_key().algorithms(),
            (V{Algorithm::kRsaPkcs1v15Sha256, Algorithm::kRsaPssSha256}));
  EXPECT_EQ(Key(Algorithm::kRsaPssSha256).public_key().algorithms(), V{Algorithm::kRsaPssSha256});
  EXPECT_EQ(Key(Algorithm::kRsaPkcs1v15Sha256).default_algorithm(), Algorithm::kRsaPkcs1v15Sha256);
  EXPECT_EQ(Key(Algorithm::kRsaPssSha256).default_algorithm(), Algorithm::kRsaPssSha256);
}

TEST(KeyTypeTest, RsaEncryptionKeySignsBothRsaAlgorithmsAndTheyDoNotCross) {
  const PrivateKey& key = Key(Algorithm::kRsaPkcs1v15Sha256);
  std::string digest = Digest32("m");
  std::string pkcs1 = *key.Sign(Algorithm::kRsaPkcs1v15Sha256, digest);
  std::string pss = *key.Sign(Algorithm::kRsaPssSha256, digest);
  EXPECT_TRUE(key.public_key().Verify(Algorithm::kRsaPssSha256, digest, pss).ok());
  EXPECT_EQ(key.public_key().Verify(Algorithm::kRsaPssSha256, digest, pkcs1).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(key.public_key().Verify(Algorithm::kRsaPkcs1v15Sha256, digest, pss).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(KeyTypeTest, AlgorithmThatDoesNotFitTheKeyIsInvalidArgument) {
  std::string digest = Digest32("m");
  std::string ec_sig = *Key(Algorithm::kEcdsaP256Sha256).Sign(Algorithm::kEcdsaP256Sha256, digest);
  struct Case {
    Algorithm key;
    Algorithm wrong;
  };
  for (Case c : {Case{Algorithm::kEcdsaP256Sha256, Algorithm::kEd25519},
                 Case{Algorithm::kEcdsaP256Sha256, Algorithm::kRsaPkcs1v15Sha256},
                 Case{Algorithm::kEd25519, Algorithm::kEcdsaP256Sha256},
                 Case{Algorithm::kRsaPkcs1v15Sha256, Algorithm::kEcdsaP256Sha256},
                 Case{Algorithm::kRsaPssSha256, Algorithm::kRsaPkcs1v15Sha256}}) {
    const PrivateKey& key = Key(c.key);
    absl::Status s = key.public_key().Verify(c.wrong, digest, ec_sig);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << AlgorithmName(c.key) << " " << AlgorithmName(c.wrong);
    EXPECT_THAT(std::string(s.message()), HasSubstr("does not fit"));
    EXPECT_FALSE(key.public_key().Fits(c.wrong));
    EXPECT_EQ(key.Sign(c.wrong, digest).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(KeyTypeTest, EmptyKeysFailClosed) {
  EXPECT_FALSE(PublicKey().Verify(Algorithm::kEd25519, Digest32("m"), "sig").ok());
  EXPECT_EQ(PublicKey().ToPem(), "");
}

// ---- signature encodings ----

// An ECDSA-Sig-Value with short lengths: 30 L 02 Lr r 02 Ls s.
struct DerSig {
  std::string r, s;
};
DerSig SplitDer(const std::string& sig) {
  size_t lr = static_cast<unsigned char>(sig[3]);
  size_t ls = static_cast<unsigned char>(sig[5 + lr]);
  return {sig.substr(4, lr), sig.substr(6 + lr, ls)};
}
std::string Int(const std::string& v) { return std::string("\x02", 1) + static_cast<char>(v.size()) + v; }
// A DER INTEGER value as 32 big-endian bytes (drops the sign byte, left-pads with zeros).
std::string Fixed32(std::string v) {
  while (v.size() > 32) v.erase(0, 1);
  return std::string(32 - v.size(), '\0') + v;
}
std::string Seq(const std::string& body) { return std::string("\x30", 1) + static_cast<char>(body.size()) + body; }

TEST(EcdsaEncodingTest, OnlyStrictDerVerifies) {
  const PrivateKey& key = Key(Algorithm::kEcdsaP256Sha256);
  std::string digest = Digest32("m");
  std::string sig = *key.Sign(Algorithm::kEcdsaP256Sha256, digest);
  ASSERT_EQ(sig[0], 0x30);
  ASSERT_LT(static_cast<unsigned char>(sig[1]), 0x80);
  DerSig parts = SplitDer(sig);
  ASSERT_EQ(Seq(Int(parts.r) + Int(parts.s)), sig);  // the parser of this test is right

  std::string long_form = std::string("\x30\x81", 2) + sig.substr(1);  // BER: non-minimal length
  std::string padded_r = Seq(Int(std::string(1, '\0') + parts.r) + Int(parts.s));  // non-minimal INTEGER
  std::string padded_s = Seq(Int(parts.r) + Int(std::string(1, '\0') + parts.s));
  std::string indefinite = std::string("\x30\x80", 2) + Int(parts.r) + Int(parts.s) + std::string(2, '\0');
  std::string trailing = sig + std::string(1, '\0');
  std::string truncated = sig.substr(0, sig.size() - 1);
  std::string raw = Fixed32(parts.r) + Fixed32(parts.s);  // IEEE P1363 r||s, not DER
  for (const std::string& bad : {long_form, padded_r, padded_s, indefinite, trailing, truncated, raw}) {
    absl::Status s = key.public_key().Verify(Algorithm::kEcdsaP256Sha256, digest, bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << HexEncode(bad);
  }
  EXPECT_TRUE(key.public_key().Verify(Algorithm::kEcdsaP256Sha256, digest, sig).ok());
}

// A PSS signature made outside layerseal with the given salt length.
std::string PssSign(const PrivateKey& key, std::string_view digest, int salt) {
  std::string pem = key.ToPem();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  size_t len = 0;
  std::string sig;
  if (EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
      EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) > 0 &&
      EVP_PKEY_sign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) > 0) {
    sig.resize(len);
    if (EVP_PKEY_sign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                      reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) <= 0) {
      sig.clear();
    }
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  sig.resize(std::min(sig.size(), len));
  return sig;
}

TEST(PssTest, SaltMustBeExactly32Bytes) {
  for (Algorithm type : {Algorithm::kRsaPkcs1v15Sha256, Algorithm::kRsaPssSha256}) {
    const PrivateKey& key = Key(type);
    std::string digest = Digest32("m");
    std::string salt32 = PssSign(key, digest, 32);
    ASSERT_FALSE(salt32.empty());
    EXPECT_TRUE(key.public_key().Verify(Algorithm::kRsaPssSha256, digest, salt32).ok());
    for (int salt : {0, 20, 31, 33, RSA_PSS_SALTLEN_MAX}) {
      std::string sig = PssSign(key, digest, salt);
      ASSERT_FALSE(sig.empty()) << salt;
      EXPECT_EQ(key.public_key().Verify(Algorithm::kRsaPssSha256, digest, sig).code(),
                absl::StatusCode::kUnauthenticated)
          << "salt " << salt;
    }
  }
}

// ---- PEM parsing ----

class PemTest : public ::testing::Test {
 protected:
  // Makes a key with the openssl CLI and returns its public PEM.
  std::string CliPublicKey(const std::string& genpkey_args) {
    EXPECT_TRUE(dir_.Sh("openssl genpkey " + genpkey_args + " -out k.pem && openssl pkey -in k.pem -pubout -out k.pub"))
        << dir_.Read("err.txt");
    return dir_.Read("k.pub");
  }
  void ExpectRejected(const std::string& pem, const std::string& why) {
    absl::StatusOr<PublicKey> key = PublicKey::FromPem(pem);
    ASSERT_FALSE(key.ok()) << why;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(std::string(key.status().message()), HasSubstr(why));
  }
  Scratch dir_;
};

TEST_F(PemTest, AcceptsOpensslGeneratedKeys) {
  EXPECT_TRUE(PublicKey::FromPem(CliPublicKey("-algorithm EC -pkeyopt ec_paramgen_curve:P-256")).ok());
  EXPECT_TRUE(PublicKey::FromPem(CliPublicKey("-algorithm ED25519")).ok());
  EXPECT_TRUE(PublicKey::FromPem(CliPublicKey("-algorithm RSA -pkeyopt rsa_keygen_bits:2048")).ok());
  absl::StatusOr<PublicKey> pss = PublicKey::FromPem(CliPublicKey("-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048"));
  ASSERT_TRUE(pss.ok()) << pss.status();
  EXPECT_EQ(pss->algorithms(), std::vector<Algorithm>{Algorithm::kRsaPssSha256});
}

TEST_F(PemTest, RejectsOtherKeyTypesNamingThem) {
  ExpectRejected(CliPublicKey("-algorithm EC -pkeyopt ec_paramgen_curve:P-384"), "secp384r1");
  ExpectRejected(CliPublicKey("-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1"), "secp256k1");
  ExpectRejected(CliPublicKey("-algorithm RSA -pkeyopt rsa_keygen_bits:1024"), "1024 bits");
  ExpectRejected(CliPublicKey("-algorithm X25519"), "X25519");
  ExpectRejected(CliPublicKey("-algorithm ED448"), "ED448");
  ASSERT_TRUE(dir_.Sh("openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -out p.pem && "
                      "openssl genpkey -paramfile p.pem -out d.pem && openssl pkey -in d.pem -pubout -out d.pub"))
      << dir_.Read("err.txt");
  ExpectRejected(dir_.Read("d.pub"), "DSA");
}

// A public RSA key with a random odd modulus of `bits` bits (no need for primes to test sizes).
std::string RsaPublicPemOfSize(int bits) {
  BIGNUM* n = BN_new();
  BIGNUM* e = BN_new();
  BN_rand(n, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD);
  BN_set_word(e, 65537);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* pkey = nullptr;
  std::string pem;
  if (EVP_PKEY_fromdata_init(ctx) > 0 && EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) > 0) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(len));
    BIO_free(bio);
  }
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(e);
  BN_free(n);
  return pem;
}

TEST_F(PemTest, RsaSizeLimitsAreInclusive) {
  ExpectRejected(RsaPublicPemOfSize(16392), "16392 bits");
  ExpectRejected(RsaPublicPemOfSize(2040), "2040 bits");
  EXPECT_TRUE(PublicKey::FromPem(RsaPublicPemOfSize(16384)).ok());
  EXPECT_TRUE(PublicKey::FromPem(RsaPublicPemOfSize(2048)).ok());
}

TEST_F(PemTest, RejectsPssKeysThatForbidTheSpecParameters) {
  ExpectRejected(CliPublicKey("-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha512"),
                 "RSASSA-PSS key whose parameters");
  // Restricting the hash alone leaves MGF1 at its SHA-1 default, which the spec does not use.
  ExpectRejected(CliPublicKey("-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha256"),
                 "digest not allowed");
  absl::StatusOr<PublicKey> restricted = PublicKey::FromPem(
      CliPublicKey("-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha256 "
                   "-pkeyopt rsa_pss_keygen_mgf1_md:sha256 -pkeyopt rsa_pss_keygen_saltlen:32"));
  EXPECT_TRUE(restricted.ok()) << restricted.status();
}

TEST_F(PemTest, RejectsExplicitCurveParameters) {
  ASSERT_TRUE(dir_.Sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out e.pem && "
                      "openssl ec -in e.pem -pubout -param_enc explicit -out e.pub"))
      << dir_.Read("err.txt");
  EXPECT_FALSE(PublicKey::FromPem(dir_.Read("e.pub")).ok());
}

TEST_F(PemTest, RejectsFramingProblems) {
  std::string pem = Key(Algorithm::kEd25519).public_key().ToPem();
  std::string other = Key(Algorithm::kEd25519, 1).public_key().ToPem();
  EXPECT_TRUE(PublicKey::FromPem("\n" + pem + "\n\n").ok());  // surrounding whitespace is fine
  ExpectRejected(pem + other, "a second block or trailing garbage");
  ExpectRejected(pem + "garbage\n", "trailing garbage");
  std::string with_nul = pem;
  with_nul.insert(with_nul.size() - 1, std::string("\0garbage", 8));
  ExpectRejected(with_nul, "NUL byte");
  ExpectRejected("comment\n" + pem, "does not start with");
  ExpectRejected("", "does not start with");
  ExpectRejected(pem + std::string(kMaxPemBytes, '\n'), "above the limit");
  ExpectRejected(Key(Algorithm::kEd25519).ToPem(), "\"PRIVATE KEY\"");
  std::string body = pem.substr(pem.find('\n') + 1);
  ExpectRejected("-----BEGIN RSA PUBLIC KEY-----\n" + body.substr(0, body.find("-----END")) +
                     "-----END RSA PUBLIC KEY-----\n",
                 "RSA PUBLIC KEY");
  ExpectRejected("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "SubjectPublicKeyInfo");
  // DER with a byte after the SPKI: base64 of (DER + 0x00).
  std::string der_plus = Key(Algorithm::kEd25519).public_key().ToDer() + std::string(1, '\0');
  ExpectRejected("-----BEGIN PUBLIC KEY-----\n" + Base64Encode(der_plus) + "\n-----END PUBLIC KEY-----\n",
                 "bytes after");
}

TEST_F(PemTest, PrivateKeysLoadFromPkcs8AndTraditionalButNotEncrypted) {
  ASSERT_TRUE(dir_.Sh("openssl genrsa -traditional -out rsa.pem 2048 && "
                      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec8.pem && "
                      "openssl ec -in ec8.pem -out ec.pem && "
                      "openssl pkey -in ec8.pem -aes256 -passout pass:secret -out enc8.pem && "
                      "openssl rsa -in rsa.pem -traditional -aes256 -passout pass:secret -out encrsa.pem"))
      << dir_.Read("err.txt");
  ASSERT_THAT(dir_.Read("rsa.pem"), HasSubstr("BEGIN RSA PRIVATE KEY"));
  ASSERT_THAT(dir_.Read("ec.pem"), HasSubstr("BEGIN EC PRIVATE KEY"));
  for (const char* file : {"rsa.pem", "ec.pem", "ec8.pem"}) {
    absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(dir_.Read(file));
    ASSERT_TRUE(key.ok()) << file << ": " << key.status();
    std::string digest = Digest32(file);
    Algorithm a = key->default_algorithm();
    EXPECT_TRUE(key->public_key().Verify(a, digest, *key->Sign(a, digest)).ok()) << file;
  }
  EXPECT_EQ(PrivateKey::FromPem(dir_.Read("enc8.pem")).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status enc = PrivateKey::FromPem(dir_.Read("encrsa.pem")).status();
  EXPECT_THAT(std::string(enc.message()), HasSubstr("headers"));
  EXPECT_FALSE(PrivateKey::FromPem(dir_.Read("rsa.pem") + dir_.Read("ec.pem")).ok());
  EXPECT_FALSE(PrivateKey::FromPem(Key(Algorithm::kEd25519).public_key().ToPem()).ok());
}

TEST_F(PemTest, PrivateKeysOfRejectedTypesAreRejected) {
  ASSERT_TRUE(dir_.Sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem && "
                      "openssl genpkey -algorithm X25519 -out x.pem"))
      << dir_.Read("err.txt");
  EXPECT_THAT(std::string(PrivateKey::FromPem(dir_.Read("p384.pem")).status().message()), HasSubstr("secp384r1"));
  EXPECT_THAT(std::string(PrivateKey::FromPem(dir_.Read("x.pem")).status().message()), HasSubstr("X25519"));
}

// ---- base64 ----

TEST(Base64Test, KnownVectors) {
  const std::pair<const char*, const char*> kVectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                          {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                          {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    absl::StatusOr<std::string> decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded << ": " << decoded.status();
    EXPECT_EQ(*decoded, plain);
  }
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
}

TEST(Base64Test, AllBytesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string bytes = all.substr(all.size() - n) + all.substr(0, n % 5);
    EXPECT_EQ(*Base64Decode(Base64Encode(bytes)), bytes);
  }
}

TEST(Base64Test, RejectsEverythingButStrictPaddedStandardBase64) {
  for (const char* bad : {"Zg", "Zg=", "Zm8", "Zm9vY", "Zg===", "Zm9v\n", " Zm9v", "Zm9v ", "Zm\n9v", "Zm9v=",
                          "Zg==Zg==", "Zg=a", "Z===", "====", "=Zm9", "Zm=v", "Zh==", "Zm9=", "Zm-v", "Zm_v",
                          "Zm9v\r\n", "Zm9\xff"}) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
  }
  EXPECT_FALSE(Base64Decode(std::string("Zm9\0", 4)).ok());
}

}  // namespace
}  // namespace layerseal
