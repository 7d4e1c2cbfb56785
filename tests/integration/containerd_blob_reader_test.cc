// node-agent/containerd_blob_reader.h against a real containerd and a real docker-registry
// (issue 18): images pulled by containerd's CRI plugin are read back by digest (a manifest,
// and an index resolved to the node's platform) with their config, under a lease that names
// every blob; blobs gone from the store are "not available", blobs changed on disk are
// DataLoss naming the blob.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "node-agent/containerd_blob_reader.h"
#include "node-agent/containerd_content.h"
#include "registry/client.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

using agent::ContainerdBlobReader;
using agent::ContainerdContent;
using agent::StoredImage;
using testing::CriClient;
using testing::TestImage;

class ContainerdBlobReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto registry = testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    auto containerd = testing::ContainerdServer::Start({.cri = true});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
  }
  static void TearDownTestSuite() {
    delete containerd_;
    containerd_ = nullptr;
    delete registry_;
    registry_ = nullptr;
  }

  static std::string Ref(const std::string& name) {
    return StrCat(registry_->host(), "/blobreader/", name, ":1");
  }

  // Pushes `image` as <registry>/blobreader/<name>:1 and pulls it by the CRI plugin.
  static void PushAndPull(const std::string& name, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::StatusOr<Reference> parsed = Reference::Parse(Ref(name));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    absl::Status pushed = testing::PushTestImage(client, *parsed, image);
    ASSERT_TRUE(pushed.ok()) << pushed;
    grpc::Status pulled = CriClient(containerd_->socket()).Pull(Ref(name));
    ASSERT_TRUE(pulled.ok()) << pulled.error_message();
  }

  static TestImage Pulled(const std::string& name) {
    TestImage image = testing::MakeBaseImage({.layers = 2, .seed = StrCat("blobreader-", name)});
    PushAndPull(name, image);
    return image;
  }

  static std::string BlobFile(const Digest& blob) {
    return StrCat(containerd_->dir(), "/root/io.containerd.content.v1.content/blobs/sha256/",
                  blob.hex());
  }

  static void Overwrite(const Digest& blob, const std::string& bytes) {
    const std::string file = BlobFile(blob);
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    testing::WriteFileOrDie(file, bytes);
  }

  static std::unique_ptr<ContainerdContent> Content() {
    return std::make_unique<ContainerdContent>(testing::ConnectCri(containerd_->socket()));
  }

  static std::string ReadAll(ContainerdBlobReader& reader, const Descriptor& blob,
                             absl::Status* status) {
    std::string bytes;
    *status = reader.Read(blob, [&](std::string_view chunk) {
      bytes.append(chunk);
      return absl::OkStatus();
    });
    return bytes;
  }

  static Platform Amd64() { return *Platform::Parse("linux/amd64"); }

  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
};

testing::RegistryServer* ContainerdBlobReaderTest::registry_ = nullptr;
testing::ContainerdServer* ContainerdBlobReaderTest::containerd_ = nullptr;

TEST_F(ContainerdBlobReaderTest, ReadsAnImageByDigestWithItsConfigAndLayersUnderOneLease) {
  TestImage image = Pulled("read");
  std::unique_ptr<ContainerdContent> content = Content();
  ContainerdBlobReader reader(content.get(), "blobreader-test");

  absl::StatusOr<StoredImage> stored = reader.ReadImage(image.digest, Amd64());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->digest, image.digest);
  EXPECT_FALSE(stored->index.has_value());
  ASSERT_EQ(stored->manifest.layers.size(), 2u);
  EXPECT_EQ(stored->config, image.blobs.at(stored->manifest.config.digest.str()));
  EXPECT_EQ(stored->bytes_read, image.manifest.size() + stored->config.size());

  // One lease, named after its purpose, holding the manifest, the config and the layers.
  const std::string lease = reader.lease_id();
  EXPECT_EQ(lease.rfind("layerseal-blobreader-test-", 0), 0u) << lease;
  absl::StatusOr<testing::RunResult> listed = containerd_->CtrIn("k8s.io", {"leases", "ls"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_NE(listed->out.find(lease), std::string::npos) << listed->out;
  EXPECT_NE(listed->out.find(std::string(agent::kGcExpireLabel)), std::string::npos) << listed->out;

  // The image goes from the runtime; what the lease names stays readable.
  grpc::Status removed = CriClient(containerd_->socket()).Remove(Ref("read"));
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  for (const Descriptor& layer : stored->manifest.layers) {
    absl::Status s;
    std::string bytes = ReadAll(reader, layer, &s);
    ASSERT_TRUE(s.ok()) << layer.digest.str() << ": " << s;
    EXPECT_EQ(bytes, image.blobs.at(layer.digest.str()));
  }
  EXPECT_EQ(reader.lease_id(), lease);  // still the one lease

  // Released: containerd collects them.
  ASSERT_TRUE(reader.Release().ok());
  EXPECT_EQ(reader.lease_id(), "");
  absl::StatusOr<agent::ContentInfo> gone = content->Info(stored->manifest.layers[0].digest);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound) << gone.status();
}

TEST_F(ContainerdBlobReaderTest, AnUnsyncedReleaseStillDeletesTheLeaseAtOnce) {
  TestImage image = Pulled("unsynced");
  std::unique_ptr<ContainerdContent> content = Content();
  std::string lease;
  {
    ContainerdBlobReader reader(content.get(), "blobreader-test", /*sync_release=*/false);
    ASSERT_TRUE(reader.ReadImage(image.digest, Amd64()).ok());
    lease = reader.lease_id();
    ASSERT_FALSE(lease.empty());
  }  // destroyed: released without waiting for a collection
  absl::StatusOr<testing::RunResult> listed = containerd_->CtrIn("k8s.io", {"leases", "ls"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->out.find(lease), std::string::npos) << listed->out;
  // The image itself is untouched.
  absl::StatusOr<agent::ContentInfo> info = content->Info(image.digest);
  EXPECT_TRUE(info.ok()) << info.status();
}

TEST_F(ContainerdBlobReaderTest, AnIndexIsResolvedToThePlatformsManifest) {
  TestImage amd64 = testing::MakeBaseImage({.layers = 1, .seed = "blobreader-index-amd64"});
  TestImage arm64 = testing::MakeBaseImage(
      {.layers = 1, .seed = "blobreader-index-arm64", .architecture = "arm64"});
  TestImage index = testing::MakeIndex(
      Family::kOci, {{Amd64(), amd64}, {*Platform::Parse("linux/arm64"), arm64}});
  PushAndPull("index", index);

  std::unique_ptr<ContainerdContent> content = Content();
  ContainerdBlobReader reader(content.get(), "blobreader-test");
  absl::StatusOr<StoredImage> stored = reader.ReadImage(index.digest, Amd64());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->index, index.digest);
  EXPECT_EQ(stored->digest, amd64.digest);
  EXPECT_EQ(stored->config, amd64.blobs.at(stored->manifest.config.digest.str()));

  // containerd pulled only the node's platform: the other child is not available.
  ContainerdBlobReader other(content.get(), "blobreader-test");
  absl::StatusOr<StoredImage> missing = other.ReadImage(index.digest, *Platform::Parse("linux/arm64"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_TRUE(agent::IsBlobNotAvailable(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find(arm64.digest.str()), std::string::npos)
      << missing.status();
}

TEST_F(ContainerdBlobReaderTest, BlobsGoneAreNotAvailableNamingTheBlob) {
  TestImage image = Pulled("gone");
  std::unique_ptr<ContainerdContent> content = Content();
  ContainerdBlobReader reader(content.get(), "blobreader-test");

  Digest absent = Digest::Sha256Of("never in containerd");
  absl::StatusOr<StoredImage> none = reader.ReadImage(absent, Amd64());
  EXPECT_TRUE(agent::IsBlobNotAvailable(none.status())) << none.status();
  EXPECT_NE(none.status().message().find(absent.str()), std::string::npos) << none.status();

  absl::StatusOr<StoredImage> stored = reader.ReadImage(image.digest, Amd64());
  ASSERT_TRUE(stored.ok()) << stored.status();
  // A layer's file removed under containerd (as discard_unpacked_layers leaves an image).
  const Descriptor& layer = stored->manifest.layers[1];
  std::filesystem::remove(BlobFile(layer.digest));
  absl::Status s;
  ReadAll(reader, layer, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_TRUE(agent::IsBlobNotAvailable(s)) << s;
  EXPECT_NE(s.message().find(layer.digest.str()), std::string::npos) << s;
  EXPECT_FALSE(agent::IsBlobNotAvailable(absl::NotFoundError("a sink's own NotFound")));
}

TEST_F(ContainerdBlobReaderTest, AManifestOrConfigChangedOnDiskIsDataLossNamingIt) {
  TestImage image = Pulled("changed");
  std::unique_ptr<ContainerdContent> content = Content();
  Digest config;
  {
    ContainerdBlobReader reader(content.get(), "blobreader-test");
    absl::StatusOr<StoredImage> stored = reader.ReadImage(image.digest, Amd64());
    ASSERT_TRUE(stored.ok()) << stored.status();
    config = stored->manifest.config.digest;
  }
  std::string bytes = image.blobs.at(config.str());
  bytes[bytes.size() / 2] ^= 0x01;  // same size, other bytes
  Overwrite(config, bytes);
  ContainerdBlobReader reader(content.get(), "blobreader-test");
  absl::StatusOr<StoredImage> stored = reader.ReadImage(image.digest, Amd64());
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss) << stored.status();
  EXPECT_NE(stored.status().message().find(StrCat("config ", config.str())), std::string::npos)
      << stored.status();

  std::string manifest = image.manifest;
  manifest[manifest.size() - 2] = ' ';
  Overwrite(image.digest, manifest);
  stored = reader.ReadImage(image.digest, Amd64());
  EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss) << stored.status();
  EXPECT_NE(stored.status().message().find(StrCat("manifest ", image.digest.str())),
            std::string::npos)
      << stored.status();
}

}  // namespace
}  // namespace layerseal
