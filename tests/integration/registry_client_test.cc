// RegistryClient against a real docker-registry (plain HTTP, and TLS with htpasswd auth).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <poll.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>
#include <string>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "gtest/gtest.h"
#include "registry/client.h"
#include "tests/support/process.h"
#include "tests/support/registry_server.h"
#include "verifier/manifest.h"
#include "base/str_cat.h"

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

// Client-side IPv4 TCP sockets (any state, TIME_WAIT included) whose peer is 127.0.0.1:port.
int ClientSocketsTo(int port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  int count = 0;
  char want[16];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote;
    fields >> slot >> local >> remote;
    if (remote.size() > 5 && remote.compare(remote.size() - 5, 5, want) == 0) ++count;
  }
  return count;
}

// One client's requests share a kept-alive connection: ten blob fetches open one TCP
// connection, not ten (and, over TLS, one handshake). A dedicated registry keeps the count clean.
TEST(ConnectionReuseTest, RequestsOfOneClientShareAConnection) {
  absl::StatusOr<std::unique_ptr<RegistryServer>> server = RegistryServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  RegistryClient client((*server)->ClientOptions());
  Reference repo = Ref(**server, "reuse/app");
  std::string blob = Bytes(2000, 7);
  Digest d = Digest::Sha256Of(blob);
  ASSERT_TRUE(client.PushBlob(repo, d, blob).ok());
  int before = ClientSocketsTo((*server)->port());
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<std::string> got = client.FetchBlob(repo, d, blob.size());
    ASSERT_TRUE(got.ok()) << got.status();
  }
  int opened = ClientSocketsTo((*server)->port()) - before;
  EXPECT_LE(opened, 1) << "each request opened its own connection";
}

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
  // More than one upload chunk, the last one partial.
  std::string blob = Bytes(registry::kDefaultChunkBytes + 12345, 3);
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


// --- Behaviours a real registry cannot be made to show (redirects to another host, 5xx, lying
// headers): a scripted HTTP/1.1 server on 127.0.0.1, one request per connection. ---

struct SeenRequest {
  std::string method;
  std::string target;  // path and query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct ScriptedResponse {
  int status = 200;
  std::vector<std::string> headers;
  std::string body;
  bool chunked = false;  // send the body with chunked encoding (no Content-Length)
  bool omit_length = false;  // headers already carry a (possibly lying) Content-Length
};

class ScriptedServer {
 public:
  using Handler = std::function<ScriptedResponse(const SeenRequest&)>;

  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::string host() const { return StrCat("127.0.0.1:", port_); }
  std::vector<SeenRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      Handle(conn);
      close(conn);
    }
  }

  static bool ReadRequest(int conn, SeenRequest* req) {
    std::string data;
    char buf[4096];
    size_t end;
    while ((end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = read(conn, buf, sizeof buf);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
    }
    std::istringstream lines(data.substr(0, end));
    std::string line, version;
    std::getline(lines, line);
    std::istringstream(line) >> req->method >> req->target >> version;
    while (std::getline(lines, line)) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      req->headers[name] = value;
    }
    size_t want = std::strtoul(req->Header("content-length").c_str(), nullptr, 10);
    req->body = data.substr(end + 4);
    while (req->body.size() < want) {
      ssize_t n = read(conn, buf, sizeof buf);
      if (n <= 0) return false;
      req->body.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  static std::string Render(const ScriptedResponse& r) {
    std::string out = StrCat("HTTP/1.1 ", r.status, " Scripted\r\nConnection: close\r\n");
    for (const std::string& h : r.headers) out += StrCat(h, "\r\n");
    if (r.chunked) {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      for (size_t i = 0; i < r.body.size(); i += 1000) {
        std::string piece = r.body.substr(i, 1000);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        out += StrCat(size, piece, "\r\n");
      }
      return out + "0\r\n\r\n";
    }
    if (!r.omit_length) out += StrCat("Content-Length: ", r.body.size(), "\r\n");
    return StrCat(out, "\r\n", r.body);
  }

  void Handle(int conn) {
    SeenRequest req;
    if (!ReadRequest(conn, &req)) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(req);
    }
    std::string out = Render(handler_(req));
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = send(conn, out.data() + done, out.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
    shutdown(conn, SHUT_WR);
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<SeenRequest> seen_;
};

registry::Options ScriptedOptions() {
  registry::Options o;
  o.plain_http = true;
  o.timeout = absl::Seconds(10);
  o.max_retries = 2;
  o.initial_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(100);
  return o;
}

Reference ScriptedRepo(const ScriptedServer& s, const std::string& rest = "test/x") {
  return *Reference::Parse(StrCat(s.host(), "/", rest));
}

registry::Credentials TokenCredentials(const std::string& token) {
  registry::Credentials c;
  c.registry_token = token;
  return c;
}

TEST(ScriptedServerTest, CrossOriginRedirectDropsAuthorization) {
  const std::string blob = "blob served by the CDN";
  int port = 0;
  ScriptedServer server([&](const SeenRequest& r) {
    if (r.target == "/cdn/blob") return ScriptedResponse{200, {}, blob};
    // localhost is another origin than 127.0.0.1, although it is the same socket.
    return ScriptedResponse{307, {StrCat("Location: http://localhost:", port, "/cdn/blob")}};
  });
  port = server.port();
  registry::Options o = ScriptedOptions();
  o.credentials = registry::StaticCredentials(server.host(), TokenCredentials("secret-token"));
  RegistryClient client(o);
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of(blob), 1024);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
  std::vector<SeenRequest> seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].Header("authorization"), "Bearer secret-token");
  EXPECT_EQ(seen[1].target, "/cdn/blob");
  EXPECT_EQ(seen[1].Header("authorization"), "");
}

TEST(ScriptedServerTest, ErrorsFromAnotherOriginDoNotQuoteItsQuery) {
  int port = 0;
  ScriptedServer server([&](const SeenRequest& r) {
    if (r.target.rfind("/cdn/", 0) == 0) return ScriptedResponse{403};
    return ScriptedResponse{
        307, {StrCat("Location: http://localhost:", port, "/cdn/blob?X-Amz-Signature=s3kr1t")}};
  });
  port = server.port();
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(StrCat("localhost:", port, "/cdn/blob")));
  EXPECT_THAT(Msg(got.status()), ::testing::Not(HasSubstr("s3kr1t")));
}

TEST(ScriptedServerTest, SameOriginRedirectKeepsAuthorization) {
  const std::string blob = "same origin";
  ScriptedServer server([&](const SeenRequest& r) {
    if (r.target == "/moved/blob") return ScriptedResponse{200, {}, blob};
    return ScriptedResponse{302, {"Location: /moved/blob"}};
  });
  registry::Options o = ScriptedOptions();
  o.credentials = registry::StaticCredentials(server.host(), TokenCredentials("tok"));
  RegistryClient client(o);
  ASSERT_TRUE(client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of(blob), 1024).ok());
  std::vector<SeenRequest> seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].Header("authorization"), "Bearer tok");
}

TEST(ScriptedServerTest, RedirectLoopIsBounded) {
  ScriptedServer server([](const SeenRequest& r) {
    return ScriptedResponse{302, {StrCat("Location: ", r.target, "x")}};
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(Msg(got.status()), HasSubstr("redirects"));
  EXPECT_EQ(server.requests().size(), static_cast<size_t>(registry::kMaxRedirects + 1));
}

TEST(ScriptedServerTest, ServerErrorsAreRetriedThenSucceed) {
  const std::string blob = "eventually";
  std::atomic<int> calls{0};
  ScriptedServer server([&](const SeenRequest&) {
    if (calls++ < 2) return ScriptedResponse{503, {"Retry-After: 0"}};
    return ScriptedResponse{200, {}, blob};
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of(blob), 1024);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(ScriptedServerTest, PersistentServerErrorIsUnavailableWithTheRegistryMessage) {
  ScriptedServer server([](const SeenRequest&) {
    return ScriptedResponse{500, {"Content-Type: application/json"},
                            R"({"errors":[{"code":"UNKNOWN","message":"disk on fire"}]})"};
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("HTTP 500"));
  EXPECT_THAT(Msg(got.status()), HasSubstr("UNKNOWN: disk on fire"));
  EXPECT_EQ(server.requests().size(), 3u);  // 1 + max_retries
}

TEST(ScriptedServerTest, LongErrorBodyIsCutAndTheStatusStillReported) {
  ScriptedServer server([](const SeenRequest&) {
    return ScriptedResponse{404, {}, std::string(registry::kMaxErrorBodyBytes * 4, 'e')};
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_LT(got.status().message().size(), 4096u);
}

TEST(ScriptedServerTest, RetryAfterIsCappedByMaxBackoff) {
  ScriptedServer server([](const SeenRequest&) {
    return ScriptedResponse{429, {"Retry-After: 3600"}};
  });
  registry::Options o = ScriptedOptions();
  o.max_retries = 1;
  RegistryClient client(o);
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));  // not the hour the server asked for
}

TEST(ScriptedServerTest, ContentLengthOverTheLimitFailsBeforeTheBody) {
  // Announces 100 MB but sends a few bytes and closes: reading the body would be a transport
  // error, so ResourceExhausted proves the header alone decided.
  ScriptedServer server([](const SeenRequest&) {
    ScriptedResponse r{200, {"Content-Length: 100000000"}, "short"};
    r.omit_length = true;
    return r;
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1000);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("1000"));
  EXPECT_THAT(Msg(got.status()), HasSubstr(server.host()));
}

TEST(ScriptedServerTest, ChunkedBodyOverTheLimitIsCutOff) {
  ScriptedServer server([](const SeenRequest&) {
    ScriptedResponse r{200, {}, std::string(50000, 'a')};
    r.chunked = true;
    return r;
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 4096);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
}

TEST(ScriptedServerTest, TagFetchWithLyingDigestHeaderIsDataLoss) {
  const std::string manifest = R"({"schemaVersion":2})";
  ScriptedServer server([&](const SeenRequest&) {
    return ScriptedResponse{200,
                            {StrCat("Content-Type: ", kOciManifestType),
                             StrCat("Docker-Content-Digest: ",
                                    Digest::Sha256Of("something else").str())},
                            manifest};
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<FetchedManifest> got =
      client.FetchManifest(ScriptedRepo(server, "test/x:v1"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("/v2/test/x/manifests/v1"));
  // The Accept list went out.
  EXPECT_EQ(server.requests()[0].Header("accept"), std::string(kManifestAccept));
}

TEST(ScriptedServerTest, DigestFetchWithOtherBytesIsDataLoss) {
  ScriptedServer server([](const SeenRequest&) {
    return ScriptedResponse{200, {}, "not what was asked for"};
  });
  RegistryClient client(ScriptedOptions());
  Reference ref = ScriptedRepo(server).WithDigest(Digest::Sha256Of("the real manifest"));
  absl::StatusOr<FetchedManifest> got = client.FetchManifest(ref, 1024);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
}

TEST(ScriptedServerTest, RejectedCredentialsDoNotLoop) {
  ScriptedServer server([](const SeenRequest&) {
    return ScriptedResponse{401, {"WWW-Authenticate: Basic realm=\"r\""}};
  });
  registry::Options o = ScriptedOptions();
  registry::Credentials c;
  c.username = "u";
  c.password = "p";
  o.credentials = registry::StaticCredentials("", c);
  RegistryClient client(o);
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(server.host()));
  std::vector<SeenRequest> seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].Header("authorization"), "Basic dTpw");
}

TEST(ScriptedServerTest, MalformedChallengeIsUnauthenticated) {
  ScriptedServer server([](const SeenRequest&) {
    return ScriptedResponse{401, {"WWW-Authenticate: Bearer realm=\"unterminated"}};
  });
  RegistryClient client(ScriptedOptions());
  absl::StatusOr<std::string> got =
      client.FetchBlob(ScriptedRepo(server), Digest::Sha256Of("x"), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("WWW-Authenticate"));
}

// A registry with its token server on the same socket: checks the challenge -> token -> retry
// dance, the scopes asked for, and that tokens are cached per scope.
class BearerFlow {
 public:
  BearerFlow()
      : server_([this](const SeenRequest& r) { return Answer(r); }) {}
  ScriptedServer& server() { return server_; }
  std::vector<SeenRequest> TokenRequests() {
    std::vector<SeenRequest> out;
    for (const SeenRequest& r : server_.requests()) {
      if (r.target.rfind("/token", 0) == 0) out.push_back(r);
    }
    return out;
  }
  static constexpr const char* kBlob = "bearer-protected blob";

 private:
  ScriptedResponse Answer(const SeenRequest& r) {
    if (r.target.rfind("/token", 0) == 0) {
      bool refresh = r.method == "POST" &&
                     r.body.find("refresh_token=refresh-me") != std::string::npos;
      if (r.Header("authorization") != "Basic dTpw" && !refresh) return ScriptedResponse{401};
      return ScriptedResponse{200, {}, R"({"access_token":"T1","expires_in":300})"};
    }
    if (r.Header("authorization") != "Bearer T1") {
      return ScriptedResponse{
          401, {StrCat("WWW-Authenticate: Bearer realm=\"http://", server_.host(),
                       "/token\",service=\"fake-registry\",scope=\"ignored\"")}};
    }
    if (r.method == "POST") return ScriptedResponse{201};  // mounted
    return ScriptedResponse{200, {}, kBlob};
  }
  ScriptedServer server_;
};

registry::Options BasicUserOptions() {
  registry::Options o = ScriptedOptions();
  registry::Credentials c;
  c.username = "u";
  c.password = "p";
  o.credentials = registry::StaticCredentials("", c);
  return o;
}

TEST(ScriptedServerTest, BearerTokenIsFetchedWithBasicCredentialsAndCached) {
  BearerFlow flow;
  RegistryClient client(BasicUserOptions());
  Reference repo = ScriptedRepo(flow.server(), "team/app");
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> got =
        client.FetchBlob(repo, Digest::Sha256Of(BearerFlow::kBlob), 1024);
    ASSERT_TRUE(got.ok()) << got.status();
  }
  std::vector<SeenRequest> tokens = flow.TokenRequests();
  ASSERT_EQ(tokens.size(), 1u);  // cached after the first
  EXPECT_THAT(tokens[0].target, HasSubstr("service=fake-registry"));
  EXPECT_THAT(tokens[0].target, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull"));
  EXPECT_THAT(tokens[0].target, ::testing::Not(HasSubstr("ignored")));
  // 401, then 3 authorized fetches, plus the token request.
  EXPECT_EQ(flow.server().requests().size(), 5u);
}

TEST(ScriptedServerTest, MountAsksForPushOnTargetAndPullOnSource) {
  BearerFlow flow;
  RegistryClient client(BasicUserOptions());
  absl::StatusOr<bool> mounted = client.MountBlob(ScriptedRepo(flow.server(), "team/dst"),
                                                  Digest::Sha256Of("b"), "team/src");
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_TRUE(*mounted);
  std::vector<SeenRequest> tokens = flow.TokenRequests();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_THAT(tokens[0].target, HasSubstr("scope=repository%3Ateam%2Fdst%3Apull%2Cpush"));
  EXPECT_THAT(tokens[0].target, HasSubstr("scope=repository%3Ateam%2Fsrc%3Apull"));
}

TEST(ScriptedServerTest, TokenServerRejectingCredentialsIsUnauthenticated) {
  BearerFlow flow;
  registry::Options o = ScriptedOptions();
  registry::Credentials c;
  c.username = "u";
  c.password = "wrong";
  o.credentials = registry::StaticCredentials("", c);
  RegistryClient client(o);
  absl::StatusOr<std::string> got = client.FetchBlob(ScriptedRepo(flow.server()),
                                                     Digest::Sha256Of(BearerFlow::kBlob), 1024);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr(flow.server().host()));
}

TEST(ScriptedServerTest, IdentityTokenUsesTheRefreshTokenGrant) {
  BearerFlow flow;
  registry::Options o = ScriptedOptions();
  registry::Credentials c;
  c.username = "00000000-0000-0000-0000-000000000000";  // docker's placeholder user
  c.identity_token = "refresh-me";
  o.credentials = registry::StaticCredentials("", c);
  RegistryClient client(o);
  absl::StatusOr<std::string> got = client.FetchBlob(ScriptedRepo(flow.server(), "team/app"),
                                                     Digest::Sha256Of(BearerFlow::kBlob), 1024);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<SeenRequest> tokens = flow.TokenRequests();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].method, "POST");
  EXPECT_EQ(tokens[0].Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_THAT(tokens[0].body, HasSubstr("grant_type=refresh_token"));
  EXPECT_THAT(tokens[0].body, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull"));
  EXPECT_EQ(tokens[0].Header("authorization"), "");
}

TEST_F(PlainRegistryTest, OneClientServesManyThreads) {
  Reference repo = Repo("test/threads");
  constexpr int kThreads = 8;
  std::vector<std::string> blobs;
  for (int i = 0; i < kThreads; ++i) blobs.push_back(Bytes(20000 + i, 100 + i));
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Digest d = Digest::Sha256Of(blobs[i]);
      absl::Status s = client_->PushBlobChunked(repo, d, blobs[i], 7000);
      if (s.ok()) {
        absl::StatusOr<std::string> got = client_->FetchBlob(repo, d, 1 << 20);
        s = !got.ok() ? got.status()
                      : (*got == blobs[i] ? absl::OkStatus() : absl::InternalError("differs"));
      }
      results[i] = s;
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
}

// --- Token auth against the real registry: docker-registry verifies JWTs minted here with
// the run's CA key (ES256, x5c), so wrong scopes or a broken flow fail on its side. ---

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

std::vector<std::string> QueryValues(const std::string& target, const std::string& name) {
  std::vector<std::string> out;
  size_t q = target.find('?');
  if (q == std::string::npos) return out;
  std::istringstream params(target.substr(q + 1));
  std::string kv;
  while (std::getline(params, kv, '&')) {
    if (kv.rfind(name + "=", 0) == 0) out.push_back(PercentDecode(kv.substr(name.size() + 1)));
  }
  return out;
}

std::string WebBase64(std::string_view in) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(in.data(), in.size()), &out);
  return out;
}

// An ES256 JWT as distribution's token auth expects it: x5c header, iss/aud/exp, access list.
std::string MintToken(const RegistryServer& server, const std::vector<std::string>& scopes) {
  std::string cert_pem = ReadFileOrDie(server.token_signing_cert());
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new_mem_buf(cert_pem.c_str(), -1),
                                                     BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), X509_free);
  std::string key_pem = ReadFileOrDie(server.token_signing_key());
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new_mem_buf(key_pem.c_str(), -1),
                                                    BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!cert || !key) {
    ADD_FAILURE() << "cannot read the token signing key pair";
    return "";
  }
  unsigned char* der = nullptr;
  int der_len = i2d_X509(cert.get(), &der);
  std::string x5c;
  absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(der), der_len), &x5c);
  OPENSSL_free(der);

  nlohmann::json access = nlohmann::json::array();
  for (const std::string& scope : scopes) {  // repository:<name>:<a,b>
    size_t first = scope.find(':'), last = scope.rfind(':');
    nlohmann::json actions = nlohmann::json::array();
    std::istringstream list(scope.substr(last + 1));
    for (std::string a; std::getline(list, a, ',');) actions.push_back(a);
    access.push_back({{"type", scope.substr(0, first)},
                      {"name", scope.substr(first + 1, last - first - 1)},
                      {"actions", actions}});
  }
  int64_t now = absl::ToUnixSeconds(absl::Now());
  nlohmann::json header = {{"typ", "JWT"}, {"alg", "ES256"}, {"x5c", {x5c}}};
  nlohmann::json claims = {{"iss", kTokenIssuer},  {"sub", "tester"},   {"aud", kTokenService},
                           {"exp", now + 300},     {"nbf", now - 60},   {"iat", now},
                           {"jti", StrCat(now, "-", scopes.size())}, {"access", access}};
  std::string signing_input = StrCat(WebBase64(header.dump()), ".", WebBase64(claims.dump()));

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t sig_len = 0;
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get());
  EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string sig(sig_len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  // JWS wants r||s (32 bytes each), OpenSSL gives DER.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ecsig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig_len)), ECDSA_SIG_free);
  unsigned char raw[64];
  BN_bn2binpad(ECDSA_SIG_get0_r(ecsig.get()), raw, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecsig.get()), raw + 32, 32);
  return StrCat(signing_input, ".",
                WebBase64(std::string_view(reinterpret_cast<char*>(raw), sizeof raw)));
}

// A token server for `server` that wants the harness's basic credentials.
ScriptedResponse TokenAnswer(const RegistryServer* server, const SeenRequest& r) {
  std::string expected = StrCat("Basic ", absl::Base64Escape(StrCat(
                                              server->options().username, ":",
                                              server->options().password)));
  if (r.Header("authorization") != expected) return ScriptedResponse{401};
  std::vector<std::string> service = QueryValues(r.target, "service");
  if (service.size() != 1 || service[0] != kTokenService) return ScriptedResponse{400};
  nlohmann::json body = {{"token", MintToken(*server, QueryValues(r.target, "scope"))},
                         {"expires_in", 300}};
  return ScriptedResponse{200, {"Content-Type: application/json"}, body.dump()};
}

registry::Options WithBasicCredentials(const RegistryServer& server, registry::Options o) {
  registry::Credentials c;
  c.username = server.options().username;
  c.password = server.options().password;
  o.credentials = registry::StaticCredentials(server.host(), c);
  return o;
}

TEST(TokenAuthRegistryTest, PushPullAndMountWithTokensFromTheRealm) {
  const RegistryServer* registry_ptr = nullptr;
  ScriptedServer token_server(
      [&](const SeenRequest& r) { return TokenAnswer(registry_ptr, r); });
  RegistryServerOptions ro;
  ro.token_realm = StrCat("http://", token_server.host(), "/token");
  absl::StatusOr<std::unique_ptr<RegistryServer>> registry = RegistryServer::Start(ro);
  ASSERT_TRUE(registry.ok()) << registry.status();
  registry_ptr = registry->get();
  RegistryClient client(WithBasicCredentials(**registry, (*registry)->ClientOptions()));

  Reference src = Ref(**registry, "team/src");
  std::string blob = Bytes(3000, 11);
  Digest d = Digest::Sha256Of(blob);
  absl::Status pushed = client.PushBlob(src, d, blob);
  ASSERT_TRUE(pushed.ok()) << pushed;
  absl::StatusOr<std::string> got = client.FetchBlob(src, d, blob.size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, blob);
  got = client.FetchBlob(src, d, blob.size());  // served with the cached pull token
  ASSERT_TRUE(got.ok()) << got.status();

  std::vector<std::string> scopes;
  for (const SeenRequest& r : token_server.requests()) {
    for (const std::string& s : QueryValues(r.target, "scope")) scopes.push_back(s);
  }
  EXPECT_THAT(scopes, ::testing::ElementsAre("repository:team/src:pull,push",
                                             "repository:team/src:pull"));

  absl::StatusOr<bool> mounted = client.MountBlob(Ref(**registry, "team/dst"), d, "team/src");
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_TRUE(*mounted);
  std::vector<SeenRequest> seen = token_server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_THAT(QueryValues(seen[2].target, "scope"),
              ::testing::ElementsAre("repository:team/dst:pull,push", "repository:team/src:pull"));

  std::string config = "{\"os\":\"linux\"}";
  ASSERT_TRUE(client.PushBlob(src, Digest::Sha256Of(config), config).ok());
  std::string manifest = OciManifest(config, blob);
  absl::StatusOr<Digest> put = client.PutManifest(Ref(**registry, "team/src:v1"),
                                                  kOciManifestType, manifest);
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<FetchedManifest> m = client.FetchManifest(Ref(**registry, "team/src:v1"),
                                                           kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->bytes, manifest);
}

TEST(TokenAuthRegistryTest, WrongPasswordAtTheRealmIsUnauthenticated) {
  const RegistryServer* registry_ptr = nullptr;
  ScriptedServer token_server(
      [&](const SeenRequest& r) { return TokenAnswer(registry_ptr, r); });
  RegistryServerOptions ro;
  ro.token_realm = StrCat("http://", token_server.host(), "/token");
  absl::StatusOr<std::unique_ptr<RegistryServer>> registry = RegistryServer::Start(ro);
  ASSERT_TRUE(registry.ok()) << registry.status();
  registry_ptr = registry->get();
  registry::Options o = (*registry)->ClientOptions();
  registry::Credentials c;
  c.username = "tester";
  c.password = "wrong";
  o.credentials = registry::StaticCredentials("", c);
  RegistryClient client(o);
  absl::StatusOr<bool> got = client.BlobExists(Ref(**registry, "team/src"), Digest::Sha256Of("x"));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr((*registry)->host()));
}

TEST(TokenAuthRegistryTest, PlainHttpRealmIsRefusedForAnHttpsRegistry) {
  const RegistryServer* registry_ptr = nullptr;
  ScriptedServer token_server(
      [&](const SeenRequest& r) { return TokenAnswer(registry_ptr, r); });
  RegistryServerOptions ro;
  ro.tls = true;
  ro.token_realm = StrCat("http://", token_server.host(), "/token");
  absl::StatusOr<std::unique_ptr<RegistryServer>> registry = RegistryServer::Start(ro);
  ASSERT_TRUE(registry.ok()) << registry.status();
  registry_ptr = registry->get();
  RegistryClient client(WithBasicCredentials(**registry, (*registry)->ClientOptions()));
  absl::StatusOr<std::string> got =
      client.FetchBlob(Ref(**registry, "team/src"), Digest::Sha256Of("x"), 10);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("plain-http token realm"));
  EXPECT_TRUE(token_server.requests().empty());  // the password never went out in the clear
}

}  // namespace
}  // namespace layerseal::testing
