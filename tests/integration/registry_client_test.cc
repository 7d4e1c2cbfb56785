// RegistryClient against a real docker-registry (plain HTTP, and TLS with htpasswd auth).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/client.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"
#include "verifier/manifest.h"
#include "verifier/str_cat.h"

namespace layerseal::testing {
namespace {

using ::testing::HasSubstr;
using registry::RegistryClient;

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

// Deterministic, incompressible-enough test bytes.
std::string Bytes(size_t n, unsigned seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

Reference Ref(const RegistryServer& server, const std::string& rest) {
  absl::StatusOr<Reference> r = Reference::Parse(StrCat(server.host(), "/", rest));
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

std::string Descriptor(std::string_view media_type, const std::string& bytes) {
  return StrCat("{\"mediaType\":\"", media_type, "\",\"digest\":\"",
                Digest::Sha256Of(bytes).str(), "\",\"size\":", bytes.size(), "}");
}

// A small hand-written OCI image manifest over a config and one layer.
std::string OciManifest(const std::string& config, const std::string& layer) {
  return StrCat("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                "\"config\":", Descriptor("application/vnd.oci.image.config.v1+json", config),
                ",\"layers\":[", Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer),
                "]}");
}

constexpr std::string_view kOciManifestType = "application/vnd.oci.image.manifest.v1+json";

class PlainRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<RegistryServer>> s = RegistryServer::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    client_ = std::make_unique<RegistryClient>(server_->ClientOptions());
  }
  Reference Repo(const std::string& rest) { return Ref(*server_, rest); }

  static RegistryServer* server_;
  std::unique_ptr<RegistryClient> client_;
};
RegistryServer* PlainRegistryTest::server_ = nullptr;

TEST_F(PlainRegistryTest, MonolithicPushThenFetchReturnsTheSameBytes) {
  Reference repo = Repo("test/mono");
  std::string blob = Bytes(70000, 1);
  Digest d = Digest::Sha256Of(blob);
  absl::StatusOr<bool> before = client_->BlobExists(repo, d);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(*before);
  ASSERT_TRUE(client_->PushBlob(repo, d, blob).ok());
  absl::StatusOr<bool> after = client_->BlobExists(repo, d);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(*after);
  absl::StatusOr<std::string> got = client_->FetchBlob(repo, d, blob.size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
}

TEST_F(PlainRegistryTest, ChunkedPushThenFetchReturnsTheSameBytes) {
  Reference repo = Repo("test/chunked");
  std::string blob = Bytes(100 * 1024 + 17, 2);  // last chunk shorter than the others
  Digest d = Digest::Sha256Of(blob);
  absl::Status s = client_->PushBlobChunked(repo, d, blob, 16 * 1024);
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<std::string> got = client_->FetchBlob(repo, d, 1 << 20);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
}

TEST_F(PlainRegistryTest, EmptyBlobRoundTrips) {
  Reference repo = Repo("test/empty");
  Digest d = Digest::Sha256Of("");
  ASSERT_TRUE(client_->PushBlobChunked(repo, d, "", 1024).ok());
  absl::StatusOr<std::string> got = client_->FetchBlob(repo, d, 10);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
}

TEST_F(PlainRegistryTest, PushRejectsBytesThatDoNotMatchTheDigest) {
  Reference repo = Repo("test/mono");
  absl::Status s = client_->PushBlob(repo, Digest::Sha256Of("other"), "bytes");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST_F(PlainRegistryTest, FileUploadAndFileDownloadRoundTrip) {
  TempDir tmp;
  Reference repo = Repo("test/files");
  std::string blob = Bytes(300 * 1024, 3);
  Digest d = Digest::Sha256Of(blob);
  WriteFileOrDie(tmp.File("in.bin"), blob);
  absl::Status s = client_->PushBlobFromFile(repo, d, tmp.File("in.bin"));
  ASSERT_TRUE(s.ok()) << s;
  s = client_->FetchBlobToFile(repo, d, tmp.File("out.bin"));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ReadFileOrDie(tmp.File("out.bin")), blob);
  EXPECT_FALSE(std::filesystem::exists(tmp.File("out.bin.partial")));
}

TEST_F(PlainRegistryTest, FileUploadWithWrongDigestIsDataLoss) {
  TempDir tmp;
  WriteFileOrDie(tmp.File("in.bin"), "real content");
  absl::Status s = client_->PushBlobFromFile(Repo("test/files"), Digest::Sha256Of("claimed"),
                                             tmp.File("in.bin"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(Msg(s), HasSubstr(tmp.File("in.bin")));
}

TEST_F(PlainRegistryTest, MountSharesABlobBetweenRepositories) {
  Reference from = Repo("test/mount-src");
  Reference to = Repo("test/mount-dst");
  std::string blob = Bytes(5000, 4);
  Digest d = Digest::Sha256Of(blob);
  ASSERT_TRUE(client_->PushBlob(from, d, blob).ok());
  ASSERT_FALSE(*client_->BlobExists(to, d));
  absl::StatusOr<bool> mounted = client_->MountBlob(to, d, from.repository);
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_TRUE(*mounted);
  EXPECT_TRUE(*client_->BlobExists(to, d));
  absl::StatusOr<std::string> got = client_->FetchBlob(to, d, blob.size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
}

TEST_F(PlainRegistryTest, MountOfAnUnknownBlobReportsNotMounted) {
  absl::StatusOr<bool> mounted = client_->MountBlob(
      Repo("test/mount-dst"), Digest::Sha256Of("never pushed"), "test/mount-src");
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_FALSE(*mounted);
}

TEST_F(PlainRegistryTest, ManifestPutByTagFetchesByTagAndDigest) {
  Reference repo = Repo("test/app");
  std::string config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                       "\"diff_ids\":[]}}";
  std::string layer = Bytes(2048, 5);
  ASSERT_TRUE(client_->PushBlob(repo, Digest::Sha256Of(config), config).ok());
  ASSERT_TRUE(client_->PushBlob(repo, Digest::Sha256Of(layer), layer).ok());
  std::string manifest = OciManifest(config, layer);

  absl::StatusOr<Digest> put = client_->PutManifest(Repo("test/app:v1"), kOciManifestType,
                                                    manifest);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(*put, Digest::Sha256Of(manifest));

  absl::StatusOr<FetchedManifest> by_tag = client_->FetchManifest(Repo("test/app:v1"),
                                                                  kMaxManifestBytes);
  ASSERT_TRUE(by_tag.ok()) << by_tag.status();
  EXPECT_EQ(by_tag->bytes, manifest);
  EXPECT_EQ(by_tag->digest, *put);
  EXPECT_EQ(by_tag->content_type, kOciManifestType);

  absl::StatusOr<FetchedManifest> by_digest =
      client_->FetchManifest(repo.WithDigest(*put), kMaxManifestBytes);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(by_digest->bytes, manifest);
  EXPECT_EQ(by_digest->digest, *put);
}

TEST_F(PlainRegistryTest, ManifestPutByDigest) {
  Reference repo = Repo("test/bydigest");
  std::string config = "{\"os\":\"linux\"}";
  std::string layer = Bytes(100, 6);
  ASSERT_TRUE(client_->PushBlob(repo, Digest::Sha256Of(config), config).ok());
  ASSERT_TRUE(client_->PushBlob(repo, Digest::Sha256Of(layer), layer).ok());
  std::string manifest = OciManifest(config, layer);
  Digest d = Digest::Sha256Of(manifest);
  absl::StatusOr<Digest> put = client_->PutManifest(repo.WithDigest(d), kOciManifestType,
                                                    manifest);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(*put, d);
  absl::StatusOr<FetchedManifest> got = client_->FetchManifest(repo.WithDigest(d), 1 << 20);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, manifest);
}

TEST_F(PlainRegistryTest, ManifestReferencingMissingBlobsIsRejected) {
  std::string manifest = OciManifest("{\"never\":\"pushed\"}", "nor this layer");
  absl::StatusOr<Digest> put = client_->PutManifest(Repo("test/broken:v1"), kOciManifestType,
                                                    manifest);
  ASSERT_FALSE(put.ok());
  EXPECT_THAT(Msg(put.status()), HasSubstr("MANIFEST_BLOB_UNKNOWN"));
  EXPECT_THAT(Msg(put.status()), HasSubstr("/v2/test/broken/manifests/v1"));
}

TEST_F(PlainRegistryTest, TooSmallLimitIsResourceExhaustedNamingUrlAndLimit) {
  Reference repo = Repo("test/limits");
  std::string blob = Bytes(10000, 7);
  Digest d = Digest::Sha256Of(blob);
  ASSERT_TRUE(client_->PushBlob(repo, d, blob).ok());
  absl::StatusOr<std::string> got = client_->FetchBlob(repo, d, blob.size() - 1);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(StrCat("/v2/test/limits/blobs/", d.str())));
  EXPECT_THAT(Msg(got.status()), HasSubstr(std::to_string(blob.size() - 1)));
  // Exactly at the limit is fine.
  EXPECT_TRUE(client_->FetchBlob(repo, d, blob.size()).ok());
}

TEST_F(PlainRegistryTest, ManifestOverTheLimitIsResourceExhausted) {
  Reference repo = Repo("test/limits");
  std::string config = "{}";
  ASSERT_TRUE(client_->PushBlob(repo, Digest::Sha256Of(config), config).ok());
  std::string layer = Bytes(10, 8);
  ASSERT_TRUE(client_->PushBlob(repo, Digest::Sha256Of(layer), layer).ok());
  std::string manifest = OciManifest(config, layer);
  ASSERT_TRUE(client_->PutManifest(Repo("test/limits:small"), kOciManifestType, manifest).ok());
  absl::StatusOr<FetchedManifest> got = client_->FetchManifest(Repo("test/limits:small"), 64);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
}

TEST_F(PlainRegistryTest, MissingBlobIsNotFoundNamingTheUrl) {
  Digest d = Digest::Sha256Of("not there");
  absl::StatusOr<std::string> got = client_->FetchBlob(Repo("test/none"), d, 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_THAT(Msg(got.status()),
              HasSubstr(StrCat("http://", server_->host(), "/v2/test/none/blobs/", d.str())));
  EXPECT_THAT(Msg(got.status()), HasSubstr("404"));
}

TEST_F(PlainRegistryTest, MissingManifestIsNotFound) {
  absl::StatusOr<FetchedManifest> got = client_->FetchManifest(Repo("test/none:nope"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("MANIFEST_UNKNOWN"));
}

// Corrupts the stored blob behind the registry's back: the client must notice.
TEST_F(PlainRegistryTest, CorruptedBlobIsDataLoss) {
  Reference repo = Repo("test/corrupt");
  std::string blob = Bytes(4096, 9);
  Digest d = Digest::Sha256Of(blob);
  ASSERT_TRUE(client_->PushBlob(repo, d, blob).ok());
  std::string data = StrCat(server_->dir(), "/storage/docker/registry/v2/blobs/sha256/",
                            d.hex().substr(0, 2), "/", d.hex(), "/data");
  ASSERT_TRUE(std::filesystem::exists(data)) << data;
  std::string bad = blob;
  bad[100] ^= 1;
  WriteFileOrDie(data, bad);

  absl::StatusOr<std::string> got = client_->FetchBlob(repo, d, 1 << 20);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(StrCat("/v2/test/corrupt/blobs/", d.str())));

  TempDir tmp;
  absl::Status s = client_->FetchBlobToFile(repo, d, tmp.File("out"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_FALSE(std::filesystem::exists(tmp.File("out")));
  EXPECT_FALSE(std::filesystem::exists(tmp.File("out.partial")));
}

TEST_F(PlainRegistryTest, HttpsClientDoesNotTalkToAPlainRegistry) {
  registry::Options o = server_->ClientOptions();
  o.plain_http = false;
  o.max_retries = 0;
  RegistryClient tls_client(o);
  absl::StatusOr<bool> got = tls_client.BlobExists(Repo("test/x"), Digest::Sha256Of("x"));
  EXPECT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
}

TEST(RegistryTransportTest, RefusedConnectionIsUnavailable) {
  int port = PickFreePort();  // nothing listens there
  registry::Options o;
  o.plain_http = true;
  o.max_retries = 1;
  o.initial_backoff = absl::Milliseconds(10);
  RegistryClient client(o);
  Reference repo = *Reference::Parse(StrCat("127.0.0.1:", port, "/test/x"));
  absl::StatusOr<std::string> got = client.FetchBlob(repo, Digest::Sha256Of("x"), 10);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(StrCat("127.0.0.1:", port)));
}

TEST(RegistryTransportTest, SilentServerIsDeadlineExceeded) {
  // A listening socket that never accepts: the TCP handshake completes (backlog) but no
  // HTTP answer ever comes.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  registry::Options o;
  o.plain_http = true;
  o.timeout = absl::Milliseconds(300);
  o.max_retries = 0;
  RegistryClient client(o);
  Reference repo = *Reference::Parse(StrCat("127.0.0.1:", ntohs(addr.sin_port), "/test/x"));
  absl::StatusOr<std::string> got = client.FetchBlob(repo, Digest::Sha256Of("x"), 10);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  close(fd);
}

class TlsAuthRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RegistryServerOptions o;
    o.tls = true;
    o.basic_auth = true;
    absl::StatusOr<std::unique_ptr<RegistryServer>> s = RegistryServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }
  Reference Repo(const std::string& rest) { return Ref(*server_, rest); }

  static RegistryServer* server_;
};
RegistryServer* TlsAuthRegistryTest::server_ = nullptr;

TEST_F(TlsAuthRegistryTest, CorrectCredentialsAndCaWork) {
  RegistryClient client(server_->ClientOptions());
  Reference repo = Repo("secure/app");
  std::string blob = Bytes(50000, 10);
  Digest d = Digest::Sha256Of(blob);
  absl::Status s = client.PushBlobChunked(repo, d, blob, 20000);
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<std::string> got = client.FetchBlob(repo, d, blob.size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
  std::string config = "{\"os\":\"linux\"}";
  ASSERT_TRUE(client.PushBlob(repo, Digest::Sha256Of(config), config).ok());
  std::string manifest = OciManifest(config, blob);
  absl::StatusOr<Digest> put = client.PutManifest(Repo("secure/app:v1"), kOciManifestType,
                                                  manifest);
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<FetchedManifest> m = client.FetchManifest(Repo("secure/app:v1"), 1 << 20);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->bytes, manifest);
}

TEST_F(TlsAuthRegistryTest, WithoutTheCaTheCertificateIsRejected) {
  registry::Options o = server_->ClientOptions();
  o.ca_file.clear();
  o.max_retries = 0;
  RegistryClient client(o);
  absl::StatusOr<std::string> got = client.FetchBlob(Repo("secure/app"), Digest::Sha256Of("x"),
                                                     10);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(Msg(got.status()), HasSubstr("certificate"));
  EXPECT_THAT(Msg(got.status()), HasSubstr(server_->host()));
}

TEST_F(TlsAuthRegistryTest, WrongPasswordIsUnauthenticated) {
  registry::Options o = server_->ClientOptions();
  registry::Credentials c;
  c.username = server_->options().username;
  c.password = "wrong";
  o.credentials = registry::StaticCredentials(server_->host(), c);
  RegistryClient client(o);
  absl::StatusOr<bool> got = client.BlobExists(Repo("secure/app"), Digest::Sha256Of("x"));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(server_->host()));
}

TEST_F(TlsAuthRegistryTest, NoCredentialsIsUnauthenticated) {
  registry::Options o = server_->ClientOptions();
  o.credentials = nullptr;
  RegistryClient client(o);
  absl::StatusOr<FetchedManifest> got = client.FetchManifest(Repo("secure/app:v1"), 1 << 20);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(server_->host()));
}

TEST_F(TlsAuthRegistryTest, DockerConfigCredentialsWork) {
  TempDir tmp;
  // "auth" is base64("tester:s3cret-pass"), keyed the way `docker login` writes it.
  WriteFileOrDie(tmp.File("config.json"),
                 StrCat("{\"auths\":{\"https://", server_->host(),
                        "\":{\"auth\":\"dGVzdGVyOnMzY3JldC1wYXNz\"}}}"));
  absl::StatusOr<std::shared_ptr<const registry::CredentialStore>> store =
      registry::DockerConfigCredentials(tmp.File("config.json"));
  ASSERT_TRUE(store.ok()) << store.status();
  registry::Options o = server_->ClientOptions();
  o.credentials = *store;
  RegistryClient client(o);
  absl::StatusOr<bool> got = client.BlobExists(Repo("secure/app"), Digest::Sha256Of("x"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(*got);
}

}  // namespace
}  // namespace layerseal::testing
