// layerseal signatures against the openssl CLI, using exactly the reproduction commands of the
// spec's section 3 table: openssl signs and layerseal verifies, layerseal signs and openssl
// verifies, and key files travel both ways.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"

namespace layerseal {
namespace {

using ::layerseal::testing::ReadFileOrDie;
using ::layerseal::testing::TempDir;
using ::layerseal::testing::WriteFileOrDie;

struct Case {
  Algorithm algorithm;
  std::string genpkey;  // openssl genpkey arguments for a key of this algorithm
  std::string sign;     // the spec's reproduction command, writing the signature to stdout
  std::string verify;   // the openssl command that checks `sig` against pub.pem
};

const std::string kDgstPss = "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32";

const Case kCases[] = {
    {Algorithm::kEcdsaP256Sha256, "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
     "openssl dgst -sha256 -sign key.pem Mb", "openssl dgst -sha256 -verify pub.pem -signature sig Mb"},
    {Algorithm::kRsaPkcs1v15Sha256, "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
     "openssl dgst -sha256 -sign key.pem Mb", "openssl dgst -sha256 -verify pub.pem -signature sig Mb"},
    {Algorithm::kRsaPssSha256, "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
     "openssl dgst -sha256 " + kDgstPss + " -sign key.pem Mb",
     "openssl dgst -sha256 " + kDgstPss + " -verify pub.pem -signature sig Mb"},
    {Algorithm::kEd25519, "-algorithm ED25519", "openssl pkeyutl -sign -rawin -inkey key.pem -in digest.bin",
     "openssl pkeyutl -verify -rawin -pubin -inkey pub.pem -in digest.bin -sigfile sig"},
};

// A base manifest as a registry would serve it; its exact bytes are what gets signed.
const std::string kManifest =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)"
    R"({"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
    std::string(64, 'a') + R"(","size":2},"layers":[]})" + "\n";

class OpensslInteropTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    WriteFileOrDie(dir_.File("Mb"), kManifest);
    WriteFileOrDie(dir_.File("digest.bin"), Sha256(kManifest));
  }

  // Runs `command` with sh in the temp dir; returns stdout, failing the test on a non-zero exit.
  std::string Sh(const std::string& command, bool expect_success = true) {
    absl::StatusOr<testing::RunResult> r = testing::Run({"sh", "-c", "cd '" + dir_.path() + "' && " + command});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code == 0, expect_success) << command << "\nstdout: " << r->out << "\nstderr: " << r->err;
    return r->out;
  }

  void OpensslKey() {
    Sh("openssl genpkey " + GetParam().genpkey + " -out key.pem && openssl pkey -in key.pem -pubout -out pub.pem");
  }

  PublicKey LoadPub() {
    absl::StatusOr<PublicKey> pub = PublicKey::FromPem(ReadFileOrDie(dir_.File("pub.pem")));
    EXPECT_TRUE(pub.ok()) << pub.status();
    return pub.ok() ? *pub : PublicKey();
  }

  PrivateKey LoadKey() {
    absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(ReadFileOrDie(dir_.File("key.pem")));
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *key : PrivateKey();
  }

  // layerseal signs; openssl verifies the exact digest layerseal signed, and rejects a tamper.
  void ExpectOpensslVerifies(const PrivateKey& key) {
    absl::StatusOr<std::string> sig = key.Sign(GetParam().algorithm, Sha256(kManifest));
    ASSERT_TRUE(sig.ok()) << sig.status();
    WriteFileOrDie(dir_.File("sig"), *sig);
    Sh(GetParam().verify);
    std::string bad = *sig;
    bad[bad.size() / 2] ^= 0x10;
    WriteFileOrDie(dir_.File("sig"), bad);
    Sh(GetParam().verify, /*expect_success=*/false);
  }

  // openssl signs with the spec's command; layerseal verifies over SHA-256(Mb).
  void ExpectLayersealVerifies(const PublicKey& pub) {
    std::string sig = Sh(GetParam().sign);
    ASSERT_FALSE(sig.empty());
    absl::Status s = pub.Verify(GetParam().algorithm, Sha256(kManifest), sig);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(pub.Verify(GetParam().algorithm, Sha256(kManifest + " "), sig).code(),
              absl::StatusCode::kUnauthenticated);
  }

  TempDir dir_;
};

TEST_P(OpensslInteropTest, OpensslSignaturesVerifyInLayerseal) {
  OpensslKey();
  PublicKey pub = LoadPub();
  ASSERT_TRUE(pub.Fits(GetParam().algorithm));
  ExpectLayersealVerifies(pub);
}

TEST_P(OpensslInteropTest, LayersealSignaturesVerifyInOpenssl) {
  OpensslKey();
  ExpectOpensslVerifies(LoadKey());
}

TEST_P(OpensslInteropTest, KeyIdIsTheSpecCommand) {
  OpensslKey();
  std::string sum = Sh("openssl pkey -pubin -in pub.pem -outform DER | sha256sum");
  ASSERT_GE(sum.size(), 64u);
  EXPECT_EQ(LoadPub().key_id(), "sha256:" + sum.substr(0, 64));
  EXPECT_EQ(LoadKey().public_key().key_id(), LoadPub().key_id());
}

// Keys layerseal generates are ordinary key files to openssl, in both directions.
TEST_P(OpensslInteropTest, LayersealKeysWorkInOpenssl) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(GetParam().algorithm);
  ASSERT_TRUE(key.ok()) << key.status();
  WriteFileOrDie(dir_.File("key.pem"), key->ToPem(), 0600);
  WriteFileOrDie(dir_.File("pub.pem"), key->public_key().ToPem());
  Sh("openssl pkey -in key.pem -noout && openssl pkey -pubin -in pub.pem -noout");
  std::string pub_from_openssl = Sh("openssl pkey -in key.pem -pubout");
  absl::StatusOr<PublicKey> pub = PublicKey::FromPem(pub_from_openssl);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->key_id(), key->public_key().key_id());
  ExpectOpensslVerifies(*key);
  ExpectLayersealVerifies(key->public_key());
}

INSTANTIATE_TEST_SUITE_P(All, OpensslInteropTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name(AlgorithmName(info.param.algorithm));
                           for (char& c : name) c = isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// openssl's PSS default salt length is not the spec's 32 bytes: such signatures are refused.
TEST(OpensslPssTest, DefaultSaltLengthIsRejected) {
  TempDir dir;
  WriteFileOrDie(dir.File("Mb"), kManifest);
  absl::StatusOr<testing::RunResult> r = testing::Run(
      {"sh", "-c",
       "cd '" + dir.path() +
           "' && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null && "
           "openssl pkey -in key.pem -pubout -out pub.pem && "
           "openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sign key.pem Mb"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  absl::StatusOr<PublicKey> pub = PublicKey::FromPem(ReadFileOrDie(dir.File("pub.pem")));
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->Verify(Algorithm::kRsaPssSha256, Sha256(kManifest), r->out).code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace layerseal
