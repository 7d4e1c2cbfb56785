// RegistryClient::FetchReferrers (issue 17): the OCI 1.1 referrers API served by the tests'
// referrers registry (tests/support/referrers_registry.h), and the real docker-registry 2.8,
// which has no such API and must read as Unimplemented; a missing tag there is NotFound, told
// apart from a registry that fails.
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"
#include "registry/client.h"
#include "tests/support/hostile_registry.h"
#include "tests/support/images.h"
#include "tests/support/referrers_registry.h"
#include "tests/support/registry_server.h"
#include "verifier/manifest.h"

namespace layerseal::testing {
namespace {

using ::testing::HasSubstr;
using registry::RegistryClient;

constexpr char kRepo[] = "team/app";
constexpr char kBundleType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
constexpr char kOtherType[] = "application/vnd.example.sbom+json";

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

RegistryClient PlainClient() {
  registry::Options o;
  o.plain_http = true;
  o.max_retries = 0;
  o.timeout = absl::Seconds(20);
  return RegistryClient(o);
}

Reference Repo(const std::string& host, const std::string& repo = kRepo) {
  absl::StatusOr<Reference> r = Reference::Parse(StrCat(host, "/", repo, ":latest"));
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

nlohmann::ordered_json SubjectOf(const TestImage& image) {
  return {{"mediaType", image.media_type}, {"digest", image.digest.str()},
          {"size", image.manifest.size()}};
}

std::vector<std::string> Digests(const FetchedManifest& m) {
  nlohmann::json j = nlohmann::json::parse(m.bytes);
  std::vector<std::string> out;
  for (const auto& d : j.at("manifests")) out.push_back(d.at("digest").get<std::string>());
  return out;
}

class ReferrersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ReferrersRegistry>> r = ReferrersRegistry::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    server_ = *std::move(r);
    image_ = MakeBaseImage({});
    server_->AddImage(kRepo, "latest", image_);
  }

  // Adds `n` referrers of `type` to image_ and returns their digests in order.
  std::vector<std::string> AddReferrers(int n, const std::string& type, const std::string& seed) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      TestImage a = MakeReferrerArtifact(SubjectOf(image_), type, type, StrCat(seed, i));
      server_->AddReferrer(kRepo, image_.digest, a, type);
      out.push_back(a.digest.str());
    }
    return out;
  }

  std::unique_ptr<ReferrersRegistry> server_;
  TestImage image_;
};

TEST_F(ReferrersTest, ListsReferrersFilteredByArtifactType) {
  std::vector<std::string> bundles = AddReferrers(2, kBundleType, "b");
  AddReferrers(1, kOtherType, "o");
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->content_type, kOciIndex);
  EXPECT_EQ(Digests(*m), bundles);
  // The request: the route, the filter, and the index type accepted.
  std::vector<HostileRequest> seen = server_->registry().requests();
  ASSERT_FALSE(seen.empty());
  const HostileRequest& req = seen.back();
  EXPECT_EQ(req.path, StrCat("/v2/", kRepo, "/referrers/", image_.digest.str()));
  EXPECT_THAT(req.target, HasSubstr("artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"));
  EXPECT_THAT(req.Header("accept"), HasSubstr(std::string(kOciIndex)));
  // The answer is a well-formed index the manifest parser accepts.
  EXPECT_TRUE(ParseServedManifest(m->bytes, m->content_type).ok());
}

TEST_F(ReferrersTest, FiltersItselfWhenTheRegistryDoesNot) {
  std::vector<std::string> bundles = AddReferrers(2, kBundleType, "b");
  AddReferrers(3, kOtherType, "o");
  server_->SetFiltering(false);
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Digests(*m), bundles);
  // Without a filter, every referrer.
  m = client.FetchReferrers(Repo(server_->host()), image_.digest, "", kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Digests(*m).size(), 5u);
}

TEST_F(ReferrersTest, NoReferrersIsAnEmptyIndex) {
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(Digests(*m).empty());
}

TEST_F(ReferrersTest, FollowsNextLinksAndMergesPages) {
  std::vector<std::string> bundles = AddReferrers(7, kBundleType, "b");
  server_->SetPageSize(2);  // 4 pages
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Digests(*m), bundles);
  EXPECT_EQ(server_->ReferrersRequests(), 4u);
}

TEST_F(ReferrersTest, StopsAfterMaxPages) {
  std::vector<std::string> bundles = AddReferrers(30, kBundleType, "b");
  server_->SetPageSize(2);  // 15 pages offered
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Digests(*m), std::vector<std::string>(bundles.begin(),
                                                   bundles.begin() + 2 * registry::kMaxReferrersPages));
  EXPECT_EQ(server_->ReferrersRequests(), registry::kMaxReferrersPages);
}

TEST_F(ReferrersTest, NextLinkElsewhereIsRefused) {
  std::string path = StrCat("/v2/", kRepo, "/referrers/", image_.digest.str());
  server_->registry().Handle(path, [](const HostileRequest&, HostileConnection& conn) {
    conn.Respond(200, {StrCat("Content-Type: ", kOciIndex),
                       "Link: <http://127.0.0.2:1/v2/team/app/referrers/x?page=1>; rel=\"next\""},
                 R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})");
  });
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(m.status()), HasSubstr("Link"));
}

TEST_F(ReferrersTest, EachPageIsBounded) {
  AddReferrers(50, kBundleType, "b");
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, 1024);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kResourceExhausted) << m.status();
}

TEST_F(ReferrersTest, NotAnIndexIsInvalid) {
  std::string path = StrCat("/v2/", kRepo, "/referrers/", image_.digest.str());
  server_->registry().Handle(path, [](const HostileRequest&, HostileConnection& conn) {
    conn.Respond(200, {"Content-Type: application/json"}, R"({"manifests":{}})");
  });
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
}

TEST_F(ReferrersTest, ServerErrorIsNotUnimplemented) {
  std::string path = StrCat("/v2/", kRepo, "/referrers/", image_.digest.str());
  server_->registry().Handle(path, [](const HostileRequest&, HostileConnection& conn) {
    conn.Respond(500, {}, "boom");
  });
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo(server_->host()), image_.digest, kBundleType, kMaxManifestBytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable) << m.status();
}

// The hostile registry unscripted answers 404 for the unknown route: no referrers API.
TEST(ReferrersApiAbsent, PlainNotFoundIsUnimplemented) {
  absl::StatusOr<std::unique_ptr<HostileRegistry>> server = HostileRegistry::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  TestImage image = MakeBaseImage({});
  (*server)->AddImage(kRepo, "latest", image);
  RegistryClient client = PlainClient();
  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(Repo((*server)->host()), image.digest, kBundleType, kMaxManifestBytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnimplemented) << m.status();
}

// Debian's docker-registry 2.8: no referrers API (Unimplemented); a tag it does not have is
// NotFound (no signature there), which a verifier tells apart from a failing registry.
TEST(ReferrersApiAbsent, DockerRegistry) {
  absl::StatusOr<std::unique_ptr<RegistryServer>> server = RegistryServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  RegistryClient client = PlainClient();
  Reference repo = Repo((*server)->host());
  TestImage image = MakeBaseImage({});
  for (const auto& [d, bytes] : image.blobs) {
    ASSERT_TRUE(client.PushBlob(repo, *Digest::Parse(d), bytes).ok());
  }
  ASSERT_TRUE(client.PutManifest(repo, image.media_type, image.manifest).ok());

  absl::StatusOr<FetchedManifest> m =
      client.FetchReferrers(repo, image.digest, kBundleType, kMaxManifestBytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnimplemented) << m.status();

  Reference fallback = repo;
  fallback.tag = StrCat("sha256-", image.digest.hex());
  absl::StatusOr<FetchedManifest> tag = client.FetchManifest(fallback, kMaxManifestBytes);
  ASSERT_FALSE(tag.ok());
  EXPECT_EQ(tag.status().code(), absl::StatusCode::kNotFound) << tag.status();
  EXPECT_THAT(Msg(tag.status()), HasSubstr("MANIFEST_UNKNOWN"));
  // The image's own tag is there.
  EXPECT_TRUE(client.FetchManifest(repo, kMaxManifestBytes).ok());
}

}  // namespace
}  // namespace layerseal::testing
