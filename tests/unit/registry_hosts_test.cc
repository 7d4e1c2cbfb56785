// containerd's hosts.toml directories as the agent reads them (registry/hosts.h): order,
// capabilities, paths, the server entry, directory lookup and fallbacks, as containerd 1.6.20.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/hosts.h"
#include "registry/hosts_source.h"
#include "tests/support/files.h"

namespace layerseal::registry {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<std::string> Urls(const std::vector<RegistryHost>& hosts) {
  std::vector<std::string> out;
  for (const RegistryHost& h : hosts) out.push_back(h.scheme + "://" + h.host + h.api_root);
  return out;
}

TEST(HostsTomlTest, MirrorsInFileOrderThenTheServer) {
  absl::StatusOr<std::vector<RegistryHost>> hosts = ParseHostsToml(R"(
server = "https://registry-1.docker.io"
capabilities = ["pull", "resolve"]

[host."https://z-mirror.example"]
  capabilities = ["pull"]
  ca = "z.crt"

[host."http://a-mirror.example:5000/prefix"]
  capabilities = ["pull", "resolve"]
  client = [["c.cert", "/abs/c.key"], "both.pem"]
  skip_verify = true

[host."https://b-mirror.example/api"]
  override_path = true
)", "/etc/containerd/certs.d/docker.io");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  // Not alphabetical: the order of the tables in the file (containerd sorts by line).
  EXPECT_EQ(Urls(*hosts), (std::vector<std::string>{
                              "https://z-mirror.example/v2", "http://a-mirror.example:5000/prefix/v2",
                              "https://b-mirror.example/api", "https://registry-1.docker.io/v2"}));
  const RegistryHost& z = (*hosts)[0];
  EXPECT_TRUE(z.can(kCapPull));
  EXPECT_FALSE(z.can(kCapResolve));
  EXPECT_EQ(z.ca_files, std::vector<std::string>{"/etc/containerd/certs.d/docker.io/z.crt"});
  const RegistryHost& a = (*hosts)[1];
  EXPECT_TRUE(a.can(kCapResolve));
  EXPECT_FALSE(a.can(kCapPush));
  EXPECT_TRUE(a.skip_verify);
  ASSERT_EQ(a.clients.size(), 2u);
  EXPECT_EQ(a.clients[0].first, "/etc/containerd/certs.d/docker.io/c.cert");
  EXPECT_EQ(a.clients[0].second, "/abs/c.key");
  EXPECT_EQ(a.clients[1].second, "");
  // No capabilities given: all of them. The root-level ones belong to the server.
  EXPECT_TRUE((*hosts)[2].can(kCapPush));
  EXPECT_FALSE(hosts->back().can(kCapPush));
}

TEST(HostsTomlTest, RefusesWhatContainerdRefuses) {
  struct Case {
    const char* toml;
    const char* error;
  };
  for (const Case& c : {
           Case{"server = \"https://r\"\n", "no [host"},  // containerd 1.6.20: no host table
           Case{"[host.\"https://m\"]\ncapabilities = [\"pull\", \"fly\"]\n", "unknown capability"},
           Case{"server = 5\n[host.\"https://m\"]\n", "\"server\" is not a string"},
           Case{"[host.\"ftp://m\"]\n", "no usable host"},  // read as https://ftp://m
           Case{"[host.\"httpx://m\"]\n", "scheme"},
           Case{"[host.\"https://m\"]\nca = 7\n", "\"ca\""},
           Case{"[host.\"https://m\"]\nclient = [[\"only-one\"]]\n", "pair"},
           Case{"[host.\"https://m\"]\nskip_verify = \"yes\"\n", "skip_verify"},
           // toml++ 3.3 reaches undefined behaviour on some non-ASCII characters: refused first.
           Case{"\xef\xbb\xba[host.\"https://m\"]\n", "byte 0 is not ASCII"},
           Case{"[host.\"https://m\"]\n# caf\xc3\xa9\n", "byte 24 is not ASCII"},
           Case{"[host.\"https://m\"]\n[host.\"\"]\n", "line 2: host \"\" names no mirror"},  // fuzz
           Case{"[host.\"https://m\"]\n[host.\"https://m\".header]\nx = \"a\\nb\"\n", "line break"},
           Case{"[host.\"https://m\"\n", "line 1"},  // TOML syntax error, with its line
       }) {
    absl::StatusOr<std::vector<RegistryHost>> hosts = ParseHostsToml(c.toml, "/d");
    ASSERT_FALSE(hosts.ok()) << c.toml;
    EXPECT_EQ(hosts.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(hosts.status().message()), HasSubstr(c.error)) << c.toml;
  }
  EXPECT_FALSE(ParseHostsToml(std::string(kMaxHostsTomlBytes + 1, '#'), "/d").ok());
}

class HostsDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/layerseal-hosts-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& dir, const std::string& name, const std::string& text) {
    fs::create_directories(root_ + "/" + dir);
    testing::WriteAll(root_ + "/" + dir + "/" + name, text);
  }
  std::string root_;
};

TEST_F(HostsDirTest, NothingConfiguredIsTheRegistryItself) {
  EXPECT_EQ(Urls(*HostsFor(root_, "docker.io")),
            std::vector<std::string>{"https://registry-1.docker.io/v2"});
  EXPECT_EQ(Urls(*HostsFor("", "reg.example:5000")),
            std::vector<std::string>{"https://reg.example:5000/v2"});
  // Loopback: plain HTTP, as containerd's default.
  EXPECT_EQ(Urls(*HostsFor(root_, "127.0.0.1:5000")),
            std::vector<std::string>{"http://127.0.0.1:5000/v2"});
}

TEST_F(HostsDirTest, HostDirectoryThenDefaultAndServerDefaultsToTheRegistry) {
  Write("_default", "hosts.toml", "[host.\"https://everyone-mirror\"]\ncapabilities = [\"pull\"]\n");
  Write("reg.example:5000", "hosts.toml", "[host.\"https://reg-mirror\"]\n");
  // No `server`: containerd 1.6 keeps the registry itself last.
  EXPECT_EQ(Urls(*HostsFor(root_, "reg.example:5000")),
            (std::vector<std::string>{"https://reg-mirror/v2", "https://reg.example:5000/v2"}));
  EXPECT_EQ(Urls(*HostsFor(root_, "other.example")),
            (std::vector<std::string>{"https://everyone-mirror/v2", "https://other.example/v2"}));
  // "host_port_" comes before "host:port" (containerd's hostPaths).
  Write("reg.example_5000_", "hosts.toml", "[host.\"https://first\"]\n");
  EXPECT_EQ(Urls(*HostsFor(root_, "reg.example:5000")).front(), "https://first/v2");
}

TEST_F(HostsDirTest, WithoutAUsableHostsTomlTheDockerCertificateFilesApply) {
  Write("reg.example", "ca.crt", "pem");
  Write("reg.example", "client.cert", "pem");
  Write("reg.example", "client.key", "pem");
  absl::StatusOr<std::vector<RegistryHost>> hosts = HostsFor(root_, "reg.example");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ(hosts->front().ca_files, std::vector<std::string>{root_ + "/reg.example/ca.crt"});
  ASSERT_EQ(hosts->front().clients.size(), 1u);
  EXPECT_EQ(hosts->front().clients[0].second, root_ + "/reg.example/client.key");
  // A hosts.toml containerd cannot parse: the same fallback.
  Write("reg.example", "hosts.toml", "server = \"https://elsewhere\"\n");
  EXPECT_EQ(Urls(*HostsFor(root_, "reg.example")),
            std::vector<std::string>{"https://reg.example/v2"});
}

// Which host HostsSource asks first, seen in the first error (nothing listens on port 1 of
// 127.0.0.2 or 127.0.0.3, so each host answers "connection refused" at once).
TEST(HostsSourceTest, ATagIsResolvedOnlyByHostsThatMayResolveDigestsByAnyPullHost) {
  RegistryHost pull_only{.scheme = "http", .host = "127.0.0.2:1", .capabilities = kCapPull};
  RegistryHost resolver{.scheme = "http", .host = "127.0.0.3:1",
                        .capabilities = kCapPull | kCapResolve};
  Options base;
  base.max_retries = 0;
  HostsSource source("reg.example", std::vector<RegistryHost>{pull_only, resolver}, base);
  Reference tag = *Reference::Parse("reg.example/app:1");
  absl::StatusOr<FetchedManifest> by_tag = source.FetchManifest(tag, 1 << 20);
  ASSERT_FALSE(by_tag.ok());
  EXPECT_THAT(std::string(by_tag.status().message()), HasSubstr("127.0.0.3:1/v2/app/manifests/1"));
  absl::StatusOr<FetchedManifest> by_digest =
      source.FetchManifest(tag.WithDigest(Digest::Sha256Of("m")), 1 << 20);
  ASSERT_FALSE(by_digest.ok());
  EXPECT_THAT(std::string(by_digest.status().message()), HasSubstr("127.0.0.2:1/v2/app/manifests/"));
  absl::StatusOr<std::string> blob = source.FetchBlob(tag, Digest::Sha256Of("b"), 1 << 20);
  ASSERT_FALSE(blob.ok());
  EXPECT_THAT(std::string(blob.status().message()), HasSubstr("127.0.0.2:1/v2/app/blobs/"));
  // A hosts configuration that could not be read is every request's answer.
  HostsSource broken("reg.example", absl::PermissionDeniedError("cannot read /etc/x"), base);
  EXPECT_THAT(std::string(broken.FetchManifest(tag, 1).status().message()),
              HasSubstr("cannot read /etc/x"));
}

}  // namespace
}  // namespace layerseal::registry
