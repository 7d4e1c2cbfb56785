// Issue 17 "Events": a verdict says which signature admitted the image. A seal's ALLOW is
// signer_kind "seal" with its key id, no keyless identity and no transparency-log entry; a
// DENY names no signer (the key id, when one was found, stays as before).
#include "gtest/gtest.h"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "verifier/verifier.h"

namespace layerseal {
namespace {

using testing::BaseImageSpec;
using testing::FakeSource;
using testing::MakeBaseImage;
using testing::SealTestImage;
using testing::TestImage;

const Platform kAmd64{"linux", "amd64", ""};

Verdict VerifyWith(const TestImage& image, const Policy& policy) {
  FakeSource source;
  Reference ref = *Reference::Parse("registry.test/team/app:1.0");
  source.Add(ref, image);
  Verifier verifier(&source, &policy, kAmd64);
  return verifier.Verify(ref);
}

TEST(VerifierSignerTest, ASealAllowSaysSealAndItsKey) {
  PrivateKey key = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  Policy policy = Policy::TrustingKeys({key.public_key()});
  Verdict v = VerifyWith(SealTestImage(MakeBaseImage(BaseImageSpec{}), key), policy);
  ASSERT_TRUE(v.allowed()) << v.detail;
  EXPECT_EQ(v.signer_kind, "seal");
  EXPECT_EQ(v.key_id, key.public_key().key_id());
  EXPECT_EQ(v.signer_issuer, "");
  EXPECT_EQ(v.signer_subject, "");
  EXPECT_EQ(v.rekor_log_index, -1);
  EXPECT_EQ(v.rekor_log_id, "");
}

TEST(VerifierSignerTest, ADenyNamesNoSigner) {
  PrivateKey key = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  PrivateKey other = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  Policy policy = Policy::TrustingKeys({other.public_key()});
  Verdict v = VerifyWith(SealTestImage(MakeBaseImage(BaseImageSpec{}), key), policy);
  ASSERT_FALSE(v.allowed());
  EXPECT_EQ(ReasonName(v.reason), "UNTRUSTED_KEY");
  EXPECT_EQ(v.key_id, key.public_key().key_id());  // found, not trusted
  EXPECT_EQ(v.signer_kind, "");
}

}  // namespace
}  // namespace layerseal
