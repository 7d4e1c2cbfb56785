// Images signed by an independent implementation of the spec (tests/integration/
// spec_signer.sh: tar, gzip, openssl, skopeo; no layerseal code) verify with layerseal, for
// every algorithm; its deliberate deviations are denied with the right reason.
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

const std::string kSigner = LAYERSEAL_SOURCE_DIR "/tests/integration/spec_signer.sh";

class SpecConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = testing::RegistryServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() { delete server_; }

  // Makes an openssl key for `algorithm`, returns the private key path (public beside it).
  std::string OpensslKey(const std::string& algorithm) {
    std::string key = dir_.File(algorithm + ".pem");
    std::vector<std::string> gen = {"openssl", "genpkey", "-out", key};
    if (algorithm == "ed25519") {
      gen.insert(gen.end(), {"-algorithm", "ED25519"});
    } else if (algorithm == "ecdsa-p256-sha256") {
      gen.insert(gen.end(), {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"});
    } else {
      gen.insert(gen.end(), {"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"});
    }
    EXPECT_EQ(testing::Run(gen)->exit_code, 0);
    EXPECT_EQ(testing::Run({"openssl", "pkey", "-in", key, "-pubout", "-out", key + ".pub"})->exit_code, 0);
    return key;
  }

  // Runs the independent signer, then `layerseal verify --output json`; returns the JSON.
  nlohmann::json SignAndVerify(const std::string& repo, const std::string& algorithm,
                               const std::string& variant) {
    std::string key = OpensslKey(algorithm);
    std::string work = dir_.File(repo);
    auto signer = testing::Run({"bash", kSigner, work, server_->host(), repo, key, algorithm, variant});
    EXPECT_TRUE(signer.ok() && signer->exit_code == 0) << (signer.ok() ? signer->err : "");
    auto v = testing::Run({LAYERSEAL_BINARY, "verify", "--plain-http", "--key", key + ".pub", "--output",
                           "json", StrCat(server_->host(), "/", repo, ":signed")});
    EXPECT_TRUE(v.ok());
    auto j = nlohmann::json::parse(v->out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << v->out << v->err;
    if (j.is_discarded()) return {};
    j["signedDigest"] = signer.ok() ? signer->out.substr(0, signer->out.find('\n')) : "";
    j["exit"] = v->exit_code;
    return j;
  }

  static testing::RegistryServer* server_;
  testing::TempDir dir_;
};

testing::RegistryServer* SpecConformanceTest::server_;

TEST_F(SpecConformanceTest, EveryAlgorithmFromTheSpecTableVerifies) {
  for (std::string alg : {"ecdsa-p256-sha256", "rsa-pkcs1v15-sha256", "rsa-pss-sha256", "ed25519"}) {
    SCOPED_TRACE(alg);
    nlohmann::json v = SignAndVerify("conf/" + alg, alg, "ok");
    EXPECT_EQ(v["reason"], "VERIFIED") << v.dump();
    EXPECT_EQ(v["exit"], 0);
    EXPECT_EQ(v["digest"], v["signedDigest"]);
  }
}

TEST_F(SpecConformanceTest, GnuAndPaxSealTarsAreMalformed) {
  for (std::string variant : {"gnu-tar", "pax-tar"}) {
    SCOPED_TRACE(variant);
    nlohmann::json v = SignAndVerify("conf/" + variant, "ed25519", variant);
    EXPECT_EQ(v["reason"], "MALFORMED_SEAL") << v.dump();
    EXPECT_EQ(v["exit"], 1);
  }
}

TEST_F(SpecConformanceTest, EnvelopeOverAnotherDigestIsMalformed) {
  nlohmann::json v = SignAndVerify("conf/wrong-digest", "ecdsa-p256-sha256", "wrong-digest");
  EXPECT_EQ(v["reason"], "MALFORMED_SEAL") << v.dump();
}

}  // namespace
}  // namespace layerseal
