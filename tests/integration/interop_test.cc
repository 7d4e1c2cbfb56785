// A signed image stays a valid image: skopeo copies it, containerd pulls and unpacks it
// (native snapshotter, temp root), and the copy still verifies.
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/seal_layer.h"
#include "verifier/verifier.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using testing::RunResult;

class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::RegistryServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A sealed image whose first layer holds busybox, pushed under `repo:tag`.
  Reference PushSigned(const std::string& repo_tag, Family family) {
    testing::BaseImageSpec spec;
    spec.family = family;
    spec.layers = 2;
    spec.payload = testing::ReadFileOrDie("/bin/busybox");
    auto ref = Reference::Parse(StrCat(server_->host(), "/", repo_tag));
    EXPECT_TRUE(ref.ok());
    registry::RegistryClient client(server_->ClientOptions());
    auto image = testing::SealTestImage(testing::MakeBaseImage(spec), key_);
    absl::Status pushed = testing::PushTestImage(client, *ref, image);
    EXPECT_TRUE(pushed.ok()) << pushed;
    return *ref;
  }

  Verdict VerifyRef(const Reference& ref) {
    registry::RegistryClient client(server_->ClientOptions());
    Policy policy = Policy::TrustingKeys({key_.public_key()});
    return Verifier(&client, &policy, Platform::Host()).Verify(ref);
  }

  std::unique_ptr<testing::RegistryServer> server_;
  PrivateKey key_ = *PrivateKey::Generate(Algorithm::kEd25519);
};

// skopeo copies the image faithfully (same manifest digest), but nothing in the signed
// manifest references the base config Cb, so Cb stays behind and the copy cannot be
// verified until it is copied too (spec section 2 has the signer push it). The verdict
// must say so; with Cb copied, the copy verifies.
TEST_F(InteropTest, SkopeoCopiesASignedImageAndTheCopyVerifiesOnceCbIsThere) {
  for (Family family : {Family::kOci, Family::kDocker}) {
    std::string repo = family == Family::kOci ? "skopeo/oci" : "skopeo/docker";
    Reference src = PushSigned(repo + ":signed", family);
    Verdict original = VerifyRef(src);
    ASSERT_EQ(original.reason, Reason::kVerified) << original.detail;
    auto r = testing::Run({"skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                           "docker://" + src.ToString(), StrCat("docker://", server_->host(), "/", repo, "-copy:signed")});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << r->err;
    Reference copy_ref = *Reference::Parse(StrCat(server_->host(), "/", repo, "-copy:signed"));

    Verdict copy = VerifyRef(copy_ref);
    EXPECT_EQ(ReasonName(copy.reason), "REGISTRY_ERROR");
    EXPECT_NE(copy.detail.find("base config"), std::string::npos) << copy.detail;
    ASSERT_TRUE(copy.manifest_digest.has_value());
    EXPECT_EQ(copy.manifest_digest->str(), original.manifest_digest->str()) << "skopeo changed the manifest";

    // Copy Cb along, as a Cb-aware copy would.
    registry::RegistryClient client(server_->ClientOptions());
    auto ms = nlohmann::json::parse(client.FetchManifest(copy_ref, kMaxManifestBytes)->bytes);
    std::string tar;
    auto mb = ReadSealFile(client, src, *ParseDescriptor(ms["layers"][ms["layers"].size() - 2], "seal"),
                           kSealManifestPath, &tar);
    ASSERT_TRUE(mb.ok()) << mb.status();
    auto cb_digest = *Digest::Parse(nlohmann::json::parse(*mb)["config"]["digest"].get<std::string>());
    auto cb = client.FetchBlob(src, cb_digest, kMaxConfigBytes);
    ASSERT_TRUE(cb.ok()) << cb.status();
    ASSERT_TRUE(client.PushBlob(copy_ref, cb_digest, *cb).ok());
    Verdict after = VerifyRef(copy_ref);
    EXPECT_EQ(ReasonName(after.reason), "VERIFIED") << after.detail;
  }
}

TEST_F(InteropTest, ContainerdPullsAndUnpacksASignedImage) {
  auto containerd = testing::ContainerdServer::Start();
  ASSERT_TRUE(containerd.ok()) << containerd.status();
  for (Family family : {Family::kOci, Family::kDocker}) {
    Reference ref = PushSigned(family == Family::kOci ? "ctr/oci:signed" : "ctr/docker:signed", family);
    auto pull = (*containerd)->Ctr({"images", "pull", "--plain-http", "--snapshotter", "native", ref.ToString()});
    ASSERT_TRUE(pull.ok()) << pull.status();
    ASSERT_EQ(pull->exit_code, 0) << pull->out << pull->err;

    // The unpacked rootfs holds the base layers' files and the two seal files.
    std::string mnt = (*containerd)->dir() + "/mnt-" + std::to_string(static_cast<int>(family));
    ASSERT_EQ(testing::Run({"mkdir", "-p", mnt})->exit_code, 0);
    auto mount = (*containerd)->Ctr({"images", "mount", "--snapshotter", "native", ref.ToString(), mnt});
    ASSERT_TRUE(mount.ok());
    ASSERT_EQ(mount->exit_code, 0) << mount->err;
    EXPECT_EQ(testing::Run({"test", "-f", mnt + "/.layerseal/manifest.json"})->exit_code, 0);
    EXPECT_EQ(testing::Run({"test", "-f", mnt + "/.layerseal/signature.json"})->exit_code, 0);
    EXPECT_EQ(testing::Run({"test", "-f", mnt + "/bin/busybox"})->exit_code, 0);
    auto unmount = (*containerd)->Ctr({"images", "unmount", mnt});
    ASSERT_TRUE(unmount.ok());
    EXPECT_EQ(unmount->exit_code, 0) << unmount->err;
  }
}

}  // namespace
}  // namespace layerseal
