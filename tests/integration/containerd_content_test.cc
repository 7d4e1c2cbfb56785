// node-agent/containerd_content.h against a real containerd (issue 18: the agent reads an
// image's blobs from the runtime's own content store to judge them after the pull). An image
// pushed to a real docker-registry is pulled by containerd's CRI plugin; the agent's reader
// then finds its manifest and layers in namespace k8s.io, streams them, holds them under a
// lease across a RemoveImage (containerd's CRI plugin deletes synchronously, so its garbage
// collection has run when RemoveImage returns), and serves a blob changed on disk as it now is
// (containerd does not re-hash on read: the integrity scrub has to).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
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

using agent::ContainerdContent;
using agent::ContentLease;
using testing::CriClient;
using testing::TestImage;

class ContainerdContentTest : public ::testing::Test {
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

  // Pushes a 3-layer image to <registry>/content/<name>:1 and pulls it into containerd by the
  // CRI plugin; returns the image.
  static TestImage PulledImage(const std::string& name) {
    TestImage image = testing::MakeBaseImage({.layers = 3, .seed = StrCat("content-", name)});
    registry::RegistryClient client(registry_->ClientOptions());
    std::string ref = StrCat(registry_->host(), "/content/", name, ":1");
    absl::StatusOr<Reference> parsed = Reference::Parse(ref);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    absl::Status pushed = testing::PushTestImage(client, *parsed, image);
    EXPECT_TRUE(pushed.ok()) << pushed;
    grpc::Status pulled = CriClient(containerd_->socket()).Pull(ref);
    EXPECT_TRUE(pulled.ok()) << pulled.error_message();
    return image;
  }

  static std::string Ref(const std::string& name) {
    return StrCat(registry_->host(), "/content/", name, ":1");
  }

  static std::unique_ptr<ContainerdContent> Reader() {
    return std::make_unique<ContainerdContent>(testing::ConnectCri(containerd_->socket()));
  }

  static std::string ReadAll(ContainerdContent& reader, const Digest& blob, int64_t size,
                             absl::Status* status) {
    std::string bytes;
    *status = reader.Read(blob, size, [&](std::string_view chunk) {
      bytes.append(chunk);
      return absl::OkStatus();
    });
    return bytes;
  }

  // The file in containerd's content store holding `blob`.
  static std::string BlobFile(const Digest& blob) {
    return StrCat(containerd_->dir(), "/root/io.containerd.content.v1.content/blobs/sha256/",
                  blob.hex());
  }

  static testing::RegistryServer* registry_;
  static testing::ContainerdServer* containerd_;
};

testing::RegistryServer* ContainerdContentTest::registry_ = nullptr;
testing::ContainerdServer* ContainerdContentTest::containerd_ = nullptr;

TEST_F(ContainerdContentTest, ReadsThePulledImagesBlobsAsPushed) {
  TestImage image = PulledImage("read");
  std::unique_ptr<ContainerdContent> reader = Reader();

  absl::StatusOr<agent::ContentInfo> info = reader->Info(image.digest);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size, static_cast<int64_t>(image.manifest.size()));
  absl::Status s;
  EXPECT_EQ(ReadAll(*reader, image.digest, info->size, &s), image.manifest);
  EXPECT_TRUE(s.ok()) << s;

  ASSERT_EQ(image.blobs.size(), 4u);  // the config and 3 layers
  for (const auto& [digest_text, bytes] : image.blobs) {
    absl::StatusOr<Digest> digest = Digest::Parse(digest_text);
    ASSERT_TRUE(digest.ok());
    std::string got = ReadAll(*reader, *digest, static_cast<int64_t>(bytes.size()), &s);
    EXPECT_TRUE(s.ok()) << digest_text << ": " << s;
    EXPECT_EQ(Digest::Sha256Of(got), *digest) << digest_text;
  }
}

TEST_F(ContainerdContentTest, MissingBlobsAndWrongSizesAreErrorsNamingTheBlob) {
  TestImage image = PulledImage("errors");
  std::unique_ptr<ContainerdContent> reader = Reader();
  Digest absent = Digest::Sha256Of("no such blob in containerd");

  absl::StatusOr<agent::ContentInfo> info = reader->Info(absent);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound) << info.status();
  EXPECT_NE(info.status().message().find(absent.str()), std::string::npos) << info.status();
  absl::Status s;
  ReadAll(*reader, absent, -1, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;

  // The manifest, expected one byte longer and one byte shorter than it is.
  const int64_t size = static_cast<int64_t>(image.manifest.size());
  ReadAll(*reader, image.digest, size + 1, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  ReadAll(*reader, image.digest, size - 1, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;

  // A sink that refuses stops the stream, and its error is what Read returns.
  int calls = 0;
  s = reader->Read(image.digest, size, [&](std::string_view) {
    ++calls;
    return absl::ResourceExhaustedError("the caller's own limit");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(calls, 1);
}

TEST_F(ContainerdContentTest, ALeaseKeepsBlobsReadableAcrossRemoveImageUntilReleased) {
  TestImage image = PulledImage("lease");
  std::unique_ptr<ContainerdContent> reader = Reader();
  std::vector<Digest> blobs = {image.digest};
  for (const auto& entry : image.blobs) blobs.push_back(*Digest::Parse(entry.first));

  absl::StatusOr<std::unique_ptr<ContentLease>> lease = reader->Lease(blobs, "test");
  ASSERT_TRUE(lease.ok()) << lease.status();
  const std::string id = (*lease)->id();
  EXPECT_EQ(id.rfind("layerseal-test-", 0), 0u) << id;
  absl::StatusOr<testing::RunResult> listed = containerd_->CtrIn("k8s.io", {"leases", "ls"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_NE(listed->out.find(id), std::string::npos) << listed->out;
  EXPECT_NE(listed->out.find(std::string(agent::kGcExpireLabel)), std::string::npos) << listed->out;

  // The image goes; its blobs stay while the lease holds them.
  grpc::Status removed = CriClient(containerd_->socket()).Remove(Ref("lease"));
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  absl::Status s;
  EXPECT_EQ(ReadAll(*reader, image.digest, -1, &s), image.manifest);
  EXPECT_TRUE(s.ok()) << s;

  // The control: an image removed with no lease on it loses its blobs at once.
  TestImage unleased = PulledImage("no-lease");
  removed = CriClient(containerd_->socket()).Remove(Ref("no-lease"));
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  absl::StatusOr<agent::ContentInfo> gone = reader->Info(unleased.digest);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound) << gone.status();

  // Released (deleted synchronously, which runs the garbage collector): gone.
  ASSERT_TRUE((*lease)->Release().ok());
  listed = containerd_->CtrIn("k8s.io", {"leases", "ls"});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->out.find(id), std::string::npos) << listed->out;
  absl::StatusOr<agent::ContentInfo> info = reader->Info(image.digest);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound) << info.status();
}

TEST_F(ContainerdContentTest, TooManyBlobsForOneLeaseIsRefusedBeforeAskingContainerd) {
  std::unique_ptr<ContainerdContent> reader = Reader();
  std::vector<Digest> blobs(agent::kMaxLeaseResources + 1, Digest::Sha256Of("x"));
  absl::StatusOr<std::unique_ptr<ContentLease>> lease = reader->Lease(blobs, "many");
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kInvalidArgument) << lease.status();
  absl::StatusOr<testing::RunResult> listed = containerd_->CtrIn("k8s.io", {"leases", "ls"});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->out.find("layerseal-many-"), std::string::npos) << listed->out;
}

TEST_F(ContainerdContentTest, ABlobChangedOnDiskIsServedChanged) {
  TestImage image = PulledImage("changed");
  std::unique_ptr<ContainerdContent> reader = Reader();
  // The last layer (by digest order) gets one byte flipped in containerd's store.
  const auto& [digest_text, bytes] = *image.blobs.rbegin();
  Digest layer = *Digest::Parse(digest_text);
  const std::string file = BlobFile(layer);
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  std::string changed = bytes;
  changed[changed.size() / 2] ^= 0x01;
  std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  testing::WriteFileOrDie(file, changed);

  absl::Status s;
  std::string got = ReadAll(*reader, layer, static_cast<int64_t>(bytes.size()), &s);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(got, changed);
  EXPECT_NE(Digest::Sha256Of(got), layer);
}

}  // namespace
}  // namespace layerseal
