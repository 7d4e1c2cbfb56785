// `layerseal verify` against a registry that misbehaves on purpose (issue 7): slow drips,
// endless and oversized bodies, wrong bytes, redirect loops and redirects to other hosts,
// token realms elsewhere, 401 loops, 429 storms, lying Content-Types, swapped index children,
// tags that change, and TLS that must not be trusted. Each case runs the real binary and
// checks that it denies, within its time budget, with bounded memory, saying what happened.
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "registry/client.h"
#include "verifier/manifest.h"
#include "verifier/reference.h"
#include "nlohmann/json.hpp"
#include "tests/support/hostile_registry.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"
#include "verifier/crypto.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

using testing::HostileConnection;
using testing::HostileOptions;
using testing::HostileRegistry;
using testing::HostileRequest;
using testing::TempDir;
using testing::TestImage;

// Slack on top of a case's time budget: the budget is a correctness property (a hostile
// registry cannot hold a verification for retries x timeout), not a speed measurement.
constexpr absl::Duration kBudgetSlack = absl::Seconds(10);
// Peak resident memory of one `layerseal verify` while the server offers gigabytes. The
// sanitizers' shadow memory and quarantine make their builds larger (about 95 MiB at rest,
// 125 MiB after an 8 MiB body, where the plain build takes 21 and 35).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LAYERSEAL_HOSTILE_ASAN 1
#endif
#endif
// ThreadSanitizer's shadow memory likewise (125 MiB after the endless body).
#if defined(__SANITIZE_ADDRESS__) || defined(LAYERSEAL_HOSTILE_ASAN) || defined(__SANITIZE_THREAD__)
constexpr size_t kMaxVerifyRssBytes = 256u << 20;
#else
constexpr size_t kMaxVerifyRssBytes = 64u << 20;
#endif
// What an endless body offers before the server gives up on its own.
constexpr size_t kOfferedBytes = size_t{4} << 30;

constexpr char kRepo[] = "hostile/app";
constexpr char kTag[] = "v1";

std::string ManifestPath(const std::string& id) { return StrCat("/v2/", kRepo, "/manifests/", id); }
std::string BlobPath(const std::string& digest) { return StrCat("/v2/", kRepo, "/blobs/", digest); }

struct Outcome {
  int exit_code = -1;
  std::string verdict, reason, detail, digest, err;
  absl::Duration elapsed;
  size_t peak_rss = 0;
};

class HostileRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    testing::WriteFileOrDie(dir_->File("trusted.pub"), key->public_key().ToPem());
    testing::WriteFileOrDie(dir_->File("empty-docker.json"), "{}");
    base_ = new TestImage(testing::MakeBaseImage({.layers = 2, .seed = "hostile"}));
    signed_ = new TestImage(testing::SealTestImage(*base_, *key));
    TestImage arm_base = testing::MakeBaseImage({.seed = "hostile-arm", .architecture = "arm64"});
    arm_ = new TestImage(testing::SealTestImage(arm_base, *key));
    index_ = new TestImage(testing::MakeIndex(
        Family::kOci, {{Platform{"linux", "amd64", ""}, *signed_}, {Platform{"linux", "arm64", ""}, *arm_}}));
    auto certs = testing::MakeTlsCerts(dir_->path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new testing::TlsCerts(*certs);
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete index_;
    delete arm_;
    delete signed_;
    delete base_;
    delete dir_;
  }

  // A server holding the signed image under kRepo:kTag (and the index under "multi").
  static std::unique_ptr<HostileRegistry> Server(HostileOptions options = {}) {
    auto s = HostileRegistry::Start(std::move(options));
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    (*s)->AddImage(kRepo, kTag, *signed_);
    (*s)->AddImage(kRepo, "multi", *index_);
    return *std::move(s);
  }
  static HostileOptions Tls(const std::string& address = "127.0.0.1") {
    return HostileOptions{certs_->server.cert, certs_->server.key, address};
  }

  // The seal layer descriptors of the signed image: [0] manifest seal, [1] signature seal.
  static std::vector<std::string> SealDigests() {
    auto m = nlohmann::json::parse(signed_->manifest);
    size_t n = m["layers"].size();
    return {m["layers"][n - 2]["digest"], m["layers"][n - 1]["digest"]};
  }
  static std::string Blob(const std::string& digest) { return signed_->blobs.at(digest); }

  // Runs `layerseal verify --output json` with `flags` against `ref`, measured.
  static Outcome Verify(const std::string& ref, std::vector<std::string> flags,
                        const std::string& input = "") {
    std::vector<std::string> argv = {LAYERSEAL_BINARY, "verify", "--key",
                                     dir_->File("trusted.pub"), "--output", "json",
                                     "--docker-config", dir_->File("empty-docker.json")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(ref);
    Outcome o;
    auto run = testing::RunMeasured(argv, input, absl::Seconds(300));
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return o;
    o.exit_code = run->result.exit_code;
    o.err = run->result.err;
    o.elapsed = run->elapsed;
    o.peak_rss = run->peak_rss_bytes;
    auto j = nlohmann::json::parse(run->result.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "stdout: " << run->result.out << "\nstderr: " << o.err;
    if (!j.is_object()) return o;
    o.verdict = j.value("verdict", "");
    o.reason = j.value("reason", "");
    o.detail = j.value("detail", "");
    o.digest = j.value("digest", "");
    return o;
  }

  // The common assertions: DENY (exit 1), the detail names what happened, the run ended
  // within `budget` (plus slack) and its memory stayed bounded.
  static void ExpectDenied(const Outcome& o, const std::vector<std::string>& detail_has,
                           absl::Duration budget) {
    EXPECT_EQ(o.exit_code, 1) << o.detail << o.err;
    EXPECT_EQ(o.verdict, "DENY");
    for (const std::string& s : detail_has) {
      EXPECT_NE(o.detail.find(s), std::string::npos) << "detail lacks \"" << s << "\": " << o.detail;
    }
    EXPECT_LT(o.elapsed, budget + kBudgetSlack) << "budget " << budget << ": " << o.detail;
    EXPECT_LT(o.peak_rss, kMaxVerifyRssBytes) << "peak RSS " << o.peak_rss;
    // For the log: what a node operator would read, how long it took, how much memory.
    std::cout << "  " << o.reason << ": " << o.detail << " ("
              << absl::FormatDuration(o.elapsed) << ", " << (o.peak_rss >> 20) << " MiB)\n";
  }

  static std::string Ref(const HostileRegistry& s, const std::string& id = kTag) {
    return StrCat(s.host(), "/", kRepo, id.rfind("sha256:", 0) == 0 ? "@" : ":", id);
  }

  static TempDir* dir_;
  static TestImage* base_;
  static TestImage* signed_;
  static TestImage* arm_;
  static TestImage* index_;
  static testing::TlsCerts* certs_;
};

TempDir* HostileRegistryTest::dir_;
TestImage* HostileRegistryTest::base_;
TestImage* HostileRegistryTest::signed_;
TestImage* HostileRegistryTest::arm_;
TestImage* HostileRegistryTest::index_;
testing::TlsCerts* HostileRegistryTest::certs_;

// The server as it should be: the baseline every other case departs from.
TEST_F(HostileRegistryTest, WellBehavedServerIsAllowed) {
  auto s = Server();
  ASSERT_TRUE(s);
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  EXPECT_EQ(o.exit_code, 0) << o.detail << o.err;
  EXPECT_EQ(o.verdict, "ALLOW");
  EXPECT_EQ(o.digest, signed_->digest.str());
  EXPECT_LT(o.peak_rss, kMaxVerifyRssBytes);
}

TEST_F(HostileRegistryTest, SlowDripIsCutOffWithinTheRequestBudget) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string seal = SealDigests()[1];
  std::string bytes = Blob(seal);
  s->Handle(BlobPath(seal), [bytes](const HostileRequest&, HostileConnection& c) {
    if (!c.Write(StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", bytes.size(), "\r\n\r\n"))) return;
    for (char b : bytes) {
      if (!c.Write(std::string(1, b)) || !c.Sleep(absl::Seconds(1))) return;
    }
  });
  // Four attempts of 4 s each (the old per-attempt timeout) would take 16 s and more.
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "4s"});
  ExpectDenied(o, {"timed out"}, absl::Seconds(4));
  EXPECT_EQ(o.reason, "REGISTRY_ERROR");
}

TEST_F(HostileRegistryTest, EndlessChunkedBodyIsCutAtTheCap) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string seal = SealDigests()[1];
  s->Handle(BlobPath(seal), [](const HostileRequest&, HostileConnection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    const std::string chunk = StrCat("10000\r\n", std::string(0x10000, 'x'), "\r\n");
    for (size_t sent = 0; sent < kOfferedBytes; sent += 0x10000) {
      if (!c.Write(chunk)) return;
    }
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "10s"});
  ExpectDenied(o, {"larger than the limit"}, absl::Seconds(10));
  EXPECT_EQ(o.reason, "LIMIT_EXCEEDED");
}

TEST_F(HostileRegistryTest, ContentLengthOverTheCapFailsBeforeTheBody) {
  auto s = Server();
  ASSERT_TRUE(s);
  s->Handle(ManifestPath(kTag), [](const HostileRequest&, HostileConnection& c) {
    if (!c.Write(StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                        "Content-Length: ", kOfferedBytes, "\r\n\r\n"))) {
      return;
    }
    const std::string block(0x10000, '{');
    for (size_t sent = 0; sent < kOfferedBytes; sent += block.size()) {
      if (!c.Write(block)) return;
    }
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  ExpectDenied(o, {"larger than the limit"}, absl::Seconds(5));
  EXPECT_EQ(o.reason, "LIMIT_EXCEEDED");
}

TEST_F(HostileRegistryTest, BytesThatDoNotMatchTheDigestAreDenied) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string seal = SealDigests()[0];
  std::string bytes = Blob(seal);
  bytes[bytes.size() / 2] ^= 0x01;  // same size, one bit off
  s->Handle(BlobPath(seal), [bytes](const HostileRequest& r, HostileConnection& c) {
    c.Respond(200, {"Content-Type: application/octet-stream"}, bytes, r.method == "HEAD");
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  ExpectDenied(o, {"does not match", seal}, absl::Seconds(5));
}

TEST_F(HostileRegistryTest, RedirectLoopIsBounded) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string path = ManifestPath(kTag);
  s->Handle(path, [path](const HostileRequest& r, HostileConnection& c) {
    c.Respond(302, {StrCat("Location: ", path, "?hop=", r.target.size())}, "");
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  ExpectDenied(o, {"redirects"}, absl::Seconds(5));
  EXPECT_LE(s->Count(path), 8u) << "the loop must stop after a few hops";
}

// The registry (127.0.0.1) wants basic credentials and redirects a blob to another host
// (127.0.0.2), which answers 401 with a token realm of its own: the credentials must not go
// there, neither to the blob URL nor to its realm.
TEST_F(HostileRegistryTest, RedirectToAnotherHostGetsNoCredentials) {
  auto other = HostileRegistry::Start({.bind_address = "127.0.0.2"});
  ASSERT_TRUE(other.ok()) << other.status();
  std::string realm = StrCat("http://", (*other)->host(), "/token");
  (*other)->HandleOthers([realm](const HostileRequest&, HostileConnection& c) {
    c.Respond(401, {StrCat("WWW-Authenticate: Bearer realm=\"", realm, "\",service=\"cdn\"")}, "");
  });
  (*other)->Handle("/token", [](const HostileRequest&, HostileConnection& c) {
    c.Respond(200, {"Content-Type: application/json"}, R"({"token":"stolen"})");
  });
  auto s = Server();
  ASSERT_TRUE(s);
  const std::string basic = StrCat("Basic ", absl::Base64Escape("alice:secret"));
  std::string seal = SealDigests()[1];
  std::string cdn = StrCat("http://", (*other)->host(), BlobPath(seal));
  HostileRegistry* registry = s.get();
  s->HandleOthers([registry, basic, seal, cdn](const HostileRequest& r, HostileConnection& c) {
    if (r.Header("authorization") != basic) {
      c.Respond(401, {"WWW-Authenticate: Basic realm=\"hostile\""}, "");
    } else if (r.path == BlobPath(seal)) {
      c.Respond(307, {StrCat("Location: ", cdn)}, "");
    } else {
      registry->ServeDefault(r, c);
    }
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s", "--username", "alice",
                               "--password-stdin"}, "secret\n");
  ExpectDenied(o, {"another host"}, absl::Seconds(5));
  bool registry_saw_credentials = false;
  for (const HostileRequest& r : s->requests()) registry_saw_credentials |= r.Header("authorization") == basic;
  EXPECT_TRUE(registry_saw_credentials) << "the registry itself gets the credentials";
  ASSERT_FALSE((*other)->requests().empty()) << "the redirect was followed";
  for (const HostileRequest& r : (*other)->requests()) {
    EXPECT_EQ(r.Header("authorization"), "") << r.method << " " << r.target;
  }
  EXPECT_EQ((*other)->Count("/token"), 0u);
}

// The registry's token realm on another host (as Docker Hub's is) over https: used, with the
// credentials, and the registry itself only ever sees the bearer token (docs/threat-model.md).
TEST_F(HostileRegistryTest, TokenRealmOnAnotherHostOverHttpsIsUsed) {
  auto realm_server = HostileRegistry::Start(Tls());
  ASSERT_TRUE(realm_server.ok()) << realm_server.status();
  const std::string basic = StrCat("Basic ", absl::Base64Escape("alice:secret"));
  (*realm_server)->Handle("/token", [basic](const HostileRequest& r, HostileConnection& c) {
    if (r.Header("authorization") != basic) {
      c.Respond(401, {}, "");
      return;
    }
    c.Respond(200, {"Content-Type: application/json"}, R"({"token":"t0k","expires_in":300})");
  });
  // Another host name for the same loopback address: the certificate has both.
  std::string realm = StrCat("https://localhost:", (*realm_server)->port(), "/token");
  auto s = Server(Tls());
  ASSERT_TRUE(s);
  HostileRegistry* registry = s.get();
  s->HandleOthers([registry, realm](const HostileRequest& r, HostileConnection& c) {
    if (r.Header("authorization") != "Bearer t0k") {
      c.Respond(401, {StrCat("WWW-Authenticate: Bearer realm=\"", realm, "\",service=\"hostile\"")}, "");
      return;
    }
    registry->ServeDefault(r, c);
  });
  Outcome o = Verify(Ref(*s), {"--ca-file", certs_->ca.cert, "--timeout", "5s", "--username",
                               "alice", "--password-stdin"}, "secret\n");
  EXPECT_EQ(o.exit_code, 0) << o.detail << o.err;
  EXPECT_EQ(o.verdict, "ALLOW") << o.detail;
  EXPECT_GE((*realm_server)->Count("/token"), 1u);
  for (const HostileRequest& r : s->requests()) {
    EXPECT_NE(r.Header("authorization"), basic) << "the password went to the registry: " << r.target;
  }
}

// A realm on plain HTTP for an https registry: refused before any request goes there.
TEST_F(HostileRegistryTest, PlainHttpTokenRealmIsRefused) {
  auto realm_server = HostileRegistry::Start();
  ASSERT_TRUE(realm_server.ok()) << realm_server.status();
  std::string realm = StrCat("http://", (*realm_server)->host(), "/token");
  auto s = Server(Tls());
  ASSERT_TRUE(s);
  s->HandleOthers([realm](const HostileRequest&, HostileConnection& c) {
    c.Respond(401, {StrCat("WWW-Authenticate: Bearer realm=\"", realm, "\",service=\"hostile\"")}, "");
  });
  Outcome o = Verify(Ref(*s), {"--ca-file", certs_->ca.cert, "--timeout", "5s", "--username",
                               "alice", "--password-stdin"}, "secret\n");
  ExpectDenied(o, {"plain-http token realm"}, absl::Seconds(5));
  EXPECT_TRUE((*realm_server)->requests().empty()) << "nothing may be sent to a plain-http realm";
}

TEST_F(HostileRegistryTest, UnauthorizedLoopEndsAfterOneRound) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string realm = StrCat("http://", s->host(), "/token");
  s->Handle("/token", [](const HostileRequest&, HostileConnection& c) {
    c.Respond(200, {"Content-Type: application/json"}, R"({"token":"never-good-enough"})");
  });
  s->HandleOthers([realm](const HostileRequest&, HostileConnection& c) {
    c.Respond(401, {StrCat("WWW-Authenticate: Bearer realm=\"", realm, "\",service=\"hostile\"")}, "");
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  ExpectDenied(o, {"rejected the credentials"}, absl::Seconds(5));
  EXPECT_LE(s->Count(ManifestPath(kTag)), 2u);
  EXPECT_LE(s->Count("/token"), 1u);
}

TEST_F(HostileRegistryTest, TooManyRequestsStormDoesNotOutwaitTheBudget) {
  auto s = Server();
  ASSERT_TRUE(s);
  s->HandleOthers([](const HostileRequest&, HostileConnection& c) {
    c.Respond(429, {"Retry-After: 3600", "Content-Type: application/json"},
              R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})");
  });
  // The old client slept min(Retry-After, 5 s) three times: 15 s.
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "2s"});
  ExpectDenied(o, {"HTTP 429", "Retry-After", "budget"}, absl::Seconds(2));
  EXPECT_EQ(o.reason, "REGISTRY_ERROR");
  EXPECT_LE(s->requests().size(), 4u);
}

TEST_F(HostileRegistryTest, ContentTypeAndMediaTypeThatDisagreeAreDenied) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string manifest = signed_->manifest;  // an OCI manifest, served as a Docker one
  s->Handle(ManifestPath(kTag), [manifest](const HostileRequest& r, HostileConnection& c) {
    c.Respond(200, {"Content-Type: application/vnd.docker.distribution.manifest.v2+json"}, manifest,
              r.method == "HEAD");
  });
  Outcome o = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  ExpectDenied(o, {"disagree"}, absl::Seconds(5));
  EXPECT_EQ(o.reason, "INVALID_MANIFEST");
}

// The index names the amd64 child by digest; the registry serves the (also signed) arm64
// child under that digest instead.
TEST_F(HostileRegistryTest, SwappedIndexChildIsDenied) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string arm = arm_->manifest;
  std::string arm_type = arm_->media_type;
  s->Handle(ManifestPath(signed_->digest.str()), [arm, arm_type](const HostileRequest& r, HostileConnection& c) {
    c.Respond(200, {StrCat("Content-Type: ", arm_type)}, arm, r.method == "HEAD");
  });
  Outcome o = Verify(Ref(*s, "multi"), {"--plain-http", "--timeout", "5s", "--platform", "linux/amd64"});
  ExpectDenied(o, {"does not match", signed_->digest.str()}, absl::Seconds(5));
  EXPECT_EQ(s->Count(ManifestPath(signed_->digest.str())), 1u);
}

// The tag moves between requests: to the signed image first, then to the unsigned base. Each
// verification reads the tag once and everything else by digest, so it judges exactly the
// manifest it reports (which the runtime must then pull by digest).
TEST_F(HostileRegistryTest, TagThatChangesBetweenRequestsIsPinnedOnce) {
  auto s = Server();
  ASSERT_TRUE(s);
  s->AddImage(kRepo, "", *base_);
  auto served = std::make_shared<std::atomic<int>>(0);
  TestImage first = *signed_, second = *base_;
  s->Handle(ManifestPath(kTag), [served, first, second](const HostileRequest& r, HostileConnection& c) {
    const TestImage& image = (*served)++ == 0 ? first : second;
    c.Respond(200, {StrCat("Content-Type: ", image.media_type)}, image.manifest, r.method == "HEAD");
  });
  Outcome allowed = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  EXPECT_EQ(allowed.verdict, "ALLOW") << allowed.detail;
  EXPECT_EQ(allowed.digest, signed_->digest.str());
  EXPECT_EQ(s->Count(ManifestPath(kTag)), 1u) << "the tag is read once per verification";

  Outcome denied = Verify(Ref(*s), {"--plain-http", "--timeout", "5s"});
  ExpectDenied(denied, {"no layer carries a layerseal seal"}, absl::Seconds(5));
  EXPECT_EQ(denied.reason, "NOT_SIGNED");
  EXPECT_EQ(denied.digest, base_->digest.str());
  EXPECT_EQ(s->Count(ManifestPath(kTag)), 2u);
  // Every other manifest request named a digest, never the tag.
  for (const HostileRequest& r : s->requests()) {
    if (r.path.find("/manifests/") != std::string::npos && r.path != ManifestPath(kTag)) {
      EXPECT_NE(r.path.find("/manifests/sha256:"), std::string::npos) << r.path;
    }
  }
}

// The certificate is valid and from the trusted CA, but for 127.0.0.1/localhost, not for the
// address the client dialled.
TEST_F(HostileRegistryTest, TlsCertificateForAnotherHostnameIsRefused) {
  auto s = Server(Tls("127.0.0.2"));
  ASSERT_TRUE(s);
  Outcome o = Verify(Ref(*s), {"--ca-file", certs_->ca.cert, "--timeout", "5s"});
  ExpectDenied(o, {"TLS", "127.0.0.2"}, absl::Seconds(5));
  EXPECT_EQ(o.reason, "REGISTRY_ERROR");
  EXPECT_TRUE(s->requests().empty()) << "no request may go over an unverified connection";
}

// The certificate comes from a CA the client was not told to trust (it trusts another one).
TEST_F(HostileRegistryTest, TlsCertificateFromAnUntrustedCaIsRefused) {
  auto s = Server(Tls());
  ASSERT_TRUE(s);
  Outcome o = Verify(Ref(*s), {"--ca-file", certs_->other_ca.cert, "--timeout", "5s"});
  ExpectDenied(o, {"TLS", "certificate"}, absl::Seconds(5));
  EXPECT_EQ(o.reason, "REGISTRY_ERROR");
  EXPECT_TRUE(s->requests().empty()) << "no request may go over an unverified connection";
}

// Options::total_timeout bounds everything one client does (a verification), whatever the
// per-request budget: a drip that each request's budget would allow is stopped by it, and a
// request started after it fails at once, saying so.
TEST_F(HostileRegistryTest, ClientTotalTimeoutEndsEveryRequest) {
  auto s = Server();
  ASSERT_TRUE(s);
  std::string manifest = signed_->manifest;
  s->Handle(ManifestPath(kTag), [manifest](const HostileRequest&, HostileConnection& c) {
    if (!c.Write(StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", manifest.size(), "\r\n\r\n"))) return;
    for (char b : manifest) {
      if (!c.Write(std::string(1, b)) || !c.Sleep(absl::Milliseconds(500))) return;
    }
  });
  registry::Options options;
  options.plain_http = true;
  options.timeout = absl::Seconds(60);
  options.total_timeout = absl::Seconds(2);
  registry::RegistryClient client(options);
  auto ref = Reference::Parse(Ref(*s));
  ASSERT_TRUE(ref.ok()) << ref.status();
  absl::Time start = absl::Now();
  auto m = client.FetchManifest(*ref, kMaxManifestBytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2) + kBudgetSlack) << m.status();
  // The drip may be cut a moment before the deadline (libcurl's low-speed check): be past it.
  absl::SleepFor(start + absl::Seconds(2) + absl::Milliseconds(100) - absl::Now());
  auto blob = client.FetchBlob(ref->WithDigest(signed_->digest), signed_->digest, 1 << 20);
  ASSERT_FALSE(blob.ok());
  EXPECT_NE(std::string(blob.status().message()).find("time budget is spent"), std::string::npos)
      << blob.status();
  EXPECT_EQ(s->Count(BlobPath(signed_->digest.str())), 0u) << "no request after the deadline";
}

}  // namespace
}  // namespace layerseal
