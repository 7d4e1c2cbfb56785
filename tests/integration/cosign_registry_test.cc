// cosign signatures in a real registry, through `layerseal verify` (issue 17 "Proof: images in
// a real registry"). docker-registry 2.8 serves the legacy `sha256-<hex>.sig` tag and the
// referrers fallback tag `sha256-<hex>`, written in the exact forms cosign writes them
// (tests/support/cosign_images.h). The signatures come from the offline fixtures
// (tests/fixtures/sigstore/make_fixtures.mjs), made over the images this test pushes.
//
// Cases: key-based legacy .sig; keyless legacy .sig with certificate, chain and SET; a v0.3
// bundle through the fallback tag (keyless and key-based); bundles attached by @sigstore/oci
// (not our writer) through the fallback tag and the referrers API; the signature in a separate
// repository (signatureRepository); a multi-arch index signed at the index and at a child;
// a key-based signature without a log entry under transparencyLog ignore/require; tampered
// variants, each denied with its reason; the signer named by `layerseal verify` (JSON and text).
//
// Needs Node >= 20.17 and tests/fixtures/sigstore/node_modules (scripts/setup installs it).
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/cosign_images.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/referrers_registry.h"
#include "tests/support/registry_server.h"

namespace layerseal {
namespace {

// Bounds on `layerseal verify` of an image with 1,000 signatures. The sanitizers' shadow memory
// and ASan's quarantine of freed memory make their builds larger and slower (371 MiB peak
// measured under ASan+UBSan, Debug), as in hostile_registry_test.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LAYERSEAL_COSIGN_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(LAYERSEAL_COSIGN_SANITIZED)
constexpr size_t kMaxCrowdVerifyRssBytes = size_t{768} << 20;
constexpr absl::Duration kMaxCrowdVerifyTime = absl::Seconds(180);
#else
constexpr size_t kMaxCrowdVerifyRssBytes = size_t{256} << 20;
constexpr absl::Duration kMaxCrowdVerifyTime = absl::Seconds(60);
#endif

using testing::RegistryServer;
using testing::RunResult;
using testing::TempDir;
using testing::TestImage;

const std::string kFixturesSrc = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/sigstore");

struct Verdict {
  int exit_code = -1;
  std::string verdict;
  std::string reason;
  std::string detail;
  std::string signer_kind, signer_subject;
  std::string raw;
};

class CosignRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = RegistryServer::Start();
    if (!server.ok()) {
      setup_error_ = server.status().ToString();
      return;
    }
    server_ = server->release();
    dir_ = new TempDir();
    out_ = dir_->File("fixtures");
    if (!std::filesystem::exists(kFixturesSrc + "/node_modules/@sigstore/sign")) {
      setup_error_ = StrCat(kFixturesSrc, "/node_modules is missing: run scripts/setup (npm ci)");
      return;
    }
    // The images: one single-platform image, and an index of two.
    app_ = testing::MakeBaseImage({.seed = "cosign-app"});
    TestImage amd64 = testing::MakeBaseImage({.seed = "cosign-amd64", .architecture = "amd64"});
    TestImage arm64 = testing::MakeBaseImage({.seed = "cosign-arm64", .architecture = "arm64"});
    multi_ = testing::MakeIndex(Family::kOci, {{Platform{"linux", "amd64", ""}, amd64}, {Platform{"linux", "arm64", ""}, arm64}});
    amd64_ = testing::SubjectOf(amd64);
    std::vector<std::string> argv = {"node", kFixturesSrc + "/make_fixtures.mjs", "--out", out_};
    for (const auto& [name, image] : std::vector<std::pair<std::string, const TestImage*>>{
             {"app", &app_}, {"multi", &multi_}, {"multi-amd64", &amd64}}) {
      std::string file = dir_->File(name + ".manifest");
      testing::WriteFileOrDie(file, image->manifest);
      argv.insert(argv.end(), {"--image", StrCat(name, "=", image->digest.str(), ":", file)});
    }
    absl::StatusOr<RunResult> made = testing::Run(argv, "", absl::Minutes(5));
    if (!made.ok() || made->exit_code != 0) {
      setup_error_ = StrCat("make_fixtures.mjs failed: ", made.ok() ? made->err : made.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    server_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  Reference Repo(const std::string& repo) const {
    absl::StatusOr<Reference> r = Reference::Parse(StrCat(server_->host(), "/", repo, ":latest"));
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }
  std::string Ref(const std::string& repo_tag) const { return StrCat(server_->host(), "/", repo_tag); }

  void PushImage(const std::string& repo, const TestImage& image) {
    registry::RegistryClient client(server_->ClientOptions());
    ASSERT_TRUE(testing::PushTestImage(client, Repo(repo), image).ok());
  }
  // The legacy .sig layer of fixture `name` of image `image`, pushed for `subject` into `repo`.
  void PushLegacy(const std::string& repo, const std::string& image, const std::string& name, const Digest& subject) {
    absl::StatusOr<testing::CosignSigLayer> layer = testing::LoadFixtureSigLayer(StrCat(out_, "/", image, "/", name));
    ASSERT_TRUE(layer.ok()) << layer.status();
    registry::RegistryClient client(server_->ClientOptions());
    absl::Status s = testing::PushLegacySig(client, Repo(repo), subject, testing::MakeLegacySig({*layer}));
    ASSERT_TRUE(s.ok()) << s;
  }
  // The bundle of fixture `name` as a cosign 3 referrer of `subject`, listed by the fallback tag.
  void PushBundle(const std::string& repo, const std::string& image, const std::string& name,
                  const testing::CosignSubject& subject) {
    std::string bundle = testing::ReadFileOrDie(StrCat(out_, "/", image, "/", name, "/bundle.json"));
    TestImage referrer = testing::MakeBundleReferrer(subject, bundle);
    registry::RegistryClient client(server_->ClientOptions());
    absl::Status s = testing::PushFallbackIndex(client, Repo(repo), subject.digest, testing::MakeFallbackIndex({referrer}));
    ASSERT_TRUE(s.ok()) << s;
  }

  // A policy in the fixtures dir (next to cosign.pub and trusted_root.json) with one scope for
  // `repo`; `extra` adds scope fields.
  std::string Policy(const std::string& repo, const std::string& extra = "", std::string host = "") {
    if (host.empty()) host = server_->host();
    std::string policy = StrCat(out_, "/policy-", std::to_string(policies_++), ".yaml");
    nlohmann::json index = nlohmann::json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
    testing::WriteFileOrDie(
        policy, StrCat("version: 1\n"
                       "keys:\n  cosign: {path: cosign.pub}\n"
                       "trustedRoots:\n  test: {path: trusted_root.json}\n"
                       "identities:\n  ci: {issuer: \"", index["issuer"].get<std::string>(), "\", subject: \"",
                       index["identity"].get<std::string>(), "\"}\n"
                       "default: {requirement: reject}\n"
                       "scopes:\n"
                       "  \"", host, "/", repo, "\": {requirement: signed, signatures: [cosign], keys: [cosign], "
                       "identities: [ci], trustedRoot: test", extra, "}\n"));
    return policy;
  }

  // Attaches fixture `fixture`'s bundle (its mediaType replaced by `media_type` when given)
  // to image `digest` at `host`/`repo`; the descriptor attach_oci.mjs printed.
  nlohmann::json Attach(const std::string& host, const std::string& repo, const Digest& digest,
                        const std::string& fixture, const std::string& media_type = "") {
    std::string bundle = StrCat(out_, "/app/", fixture, "/bundle.json");
    if (!media_type.empty()) {
      nlohmann::json b = nlohmann::json::parse(testing::ReadFileOrDie(bundle));
      b["mediaType"] = media_type;
      bundle = dir_->File(StrCat("bundle-", attached_++, ".json"));
      testing::WriteFileOrDie(bundle, b.dump());
    }
    absl::StatusOr<RunResult> r =
        testing::Run({"node", kFixturesSrc + "/attach_oci.mjs", "--image", StrCat(host, "/", repo), "--digest",
                      digest.str(), "--bundle", bundle},
                     "", absl::Seconds(120));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return nlohmann::json::object();
    EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
    nlohmann::json d = nlohmann::json::parse(r->out, nullptr, false);
    if (!d.is_object()) {
      ADD_FAILURE() << "attach_oci.mjs printed no descriptor: " << r->out << r->err;
      return nlohmann::json::object();
    }
    return d;
  }
  std::string VerifyRef(const std::string& host, const std::string& repo) { return StrCat(host, "/", repo, ":latest"); }

  Verdict Verify(const std::string& policy, const std::string& ref, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {LAYERSEAL_BINARY, "verify", "--plain-http", "--policy", policy, "--output", "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(ref);
    absl::StatusOr<RunResult> r = testing::Run(argv, "", absl::Seconds(120));
    Verdict v;
    if (!r.ok()) {
      v.raw = r.status().ToString();
      return v;
    }
    v.exit_code = r->exit_code;
    v.raw = r->out + r->err;
    nlohmann::json j = nlohmann::json::parse(r->out, nullptr, false);
    if (j.is_object()) {
      v.verdict = j.value("verdict", "");
      v.reason = j.value("reason", "");
      v.detail = j.value("detail", "");
      v.signer_kind = j.value("signerKind", "");
      v.signer_subject = j.value("signerSubject", "");
    }
    return v;
  }

  void ExpectAllow(const Verdict& v) {
    EXPECT_EQ(v.exit_code, 0) << v.raw;
    EXPECT_EQ(v.verdict, "ALLOW") << v.raw;
  }
  void ExpectDeny(const Verdict& v, const std::vector<std::string>& reasons) {
    EXPECT_EQ(v.exit_code, 1) << v.raw;
    EXPECT_EQ(v.verdict, "DENY") << v.raw;
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), v.reason), reasons.end()) << v.raw;
  }

  static RegistryServer* server_;
  static TempDir* dir_;
  static std::string out_;
  static std::string setup_error_;
  static TestImage app_, multi_;
  static testing::CosignSubject amd64_;  // the linux/amd64 child of multi_
  int policies_ = 0;
  int attached_ = 0;
};

RegistryServer* CosignRegistryTest::server_ = nullptr;
TempDir* CosignRegistryTest::dir_ = nullptr;
std::string CosignRegistryTest::out_;
std::string CosignRegistryTest::setup_error_;
TestImage CosignRegistryTest::app_;
TestImage CosignRegistryTest::multi_;
testing::CosignSubject CosignRegistryTest::amd64_;

TEST_F(CosignRegistryTest, KeyBasedLegacySig) {
  PushImage("legacy-key/app", app_);
  PushLegacy("legacy-key/app", "app", "legacy-key", app_.digest);
  ExpectAllow(Verify(Policy("legacy-key/app"), Ref("legacy-key/app:latest")));
}

TEST_F(CosignRegistryTest, KeylessLegacySigWithCertificateAndSet) {
  PushImage("legacy-keyless/app", app_);
  PushLegacy("legacy-keyless/app", "app", "legacy-keyless", app_.digest);
  ExpectAllow(Verify(Policy("legacy-keyless/app"), Ref("legacy-keyless/app:latest")));
}

TEST_F(CosignRegistryTest, BundleThroughTheFallbackTag) {
  PushImage("bundle/keyless", app_);
  PushBundle("bundle/keyless", "app", "bundle-v03-dsse", testing::SubjectOf(app_));
  ExpectAllow(Verify(Policy("bundle/keyless"), Ref("bundle/keyless:latest")));
  PushImage("bundle/rekor2", app_);
  PushBundle("bundle/rekor2", "app", "bundle-v03-dsse-rekor2", testing::SubjectOf(app_));
  ExpectAllow(Verify(Policy("bundle/rekor2"), Ref("bundle/rekor2:latest")));
  PushImage("bundle/key", app_);
  PushBundle("bundle/key", "app", "bundle-key", testing::SubjectOf(app_));
  ExpectAllow(Verify(Policy("bundle/key"), Ref("bundle/key:latest")));
}

// docker-registry 2.8 has no referrers API: the tests' own registry serves it
// (tests/support/referrers_registry.h), with the referrer manifest cosign 3 writes. (The
// repositories are not named "referrers/...": that helper takes the first "/referrers/" in a
// path for the API route.)
TEST_F(CosignRegistryTest, BundleThroughTheReferrersApi) {
  absl::StatusOr<std::unique_ptr<testing::ReferrersRegistry>> rr = testing::ReferrersRegistry::Start();
  ASSERT_TRUE(rr.ok()) << rr.status();
  const std::string type(testing::kCosignBundleV03MediaType);
  auto add = [&](const std::string& repo, const std::string& fixture) {
    (*rr)->AddImage(repo, "latest", app_);
    std::string bundle = testing::ReadFileOrDie(StrCat(out_, "/app/", fixture, "/bundle.json"));
    (*rr)->AddReferrer(repo, app_.digest, testing::MakeBundleReferrer(testing::SubjectOf(app_), bundle), type);
  };
  add("oci11/keyless", "bundle-v03-dsse");
  ExpectAllow(Verify(Policy("oci11/keyless", "", (*rr)->host()), StrCat((*rr)->host(), "/oci11/keyless:latest")));
  add("oci11/key", "bundle-key");
  ExpectAllow(Verify(Policy("oci11/key", "", (*rr)->host()), StrCat((*rr)->host(), "/oci11/key:latest")));
  add("oci11/wrong-identity", "wrong-identity");
  ExpectDeny(Verify(Policy("oci11/wrong-identity", "", (*rr)->host()), StrCat((*rr)->host(), "/oci11/wrong-identity:latest")),
             {"UNTRUSTED_IDENTITY"});
  add("oci11/tampered", "tampered-dsse-signature");
  ExpectDeny(Verify(Policy("oci11/tampered", "", (*rr)->host()), StrCat((*rr)->host(), "/oci11/tampered:latest")),
             {"TLOG_MISMATCH", "BAD_SIGNATURE"});
  EXPECT_GT((*rr)->ReferrersRequests(), 0u);
}

TEST_F(CosignRegistryTest, SignatureInASeparateRepository) {
  PushImage("separate/app", app_);
  PushLegacy("separate/signatures", "app", "legacy-keyless", app_.digest);
  PushBundle("separate/signatures", "app", "bundle-v03-dsse", testing::SubjectOf(app_));
  ExpectAllow(Verify(Policy("separate/app", StrCat(", signatureRepository: ", server_->host(), "/separate/signatures")),
                     Ref("separate/app:latest")));
  // Without the scope option, the image's own repository holds nothing.
  ExpectDeny(Verify(Policy("separate/app"), Ref("separate/app:latest")), {"NOT_SIGNED"});
}

TEST_F(CosignRegistryTest, IndexSignedAtTheIndexOrAtTheChild) {
  PushImage("multi/at-index", multi_);
  PushLegacy("multi/at-index", "multi", "legacy-key", multi_.digest);
  ExpectAllow(Verify(Policy("multi/at-index"), Ref("multi/at-index:latest"), {"--platform", "linux/amd64"}));
  PushImage("multi/at-child", multi_);
  PushBundle("multi/at-child", "multi-amd64", "bundle-v03-dsse", amd64_);
  ExpectAllow(Verify(Policy("multi/at-child"), Ref("multi/at-child:latest"), {"--platform", "linux/amd64"}));
  // The arm64 child is signed by neither.
  ExpectDeny(Verify(Policy("multi/at-child"), Ref("multi/at-child:latest"), {"--platform", "linux/arm64"}), {"NOT_SIGNED"});
}

// `layerseal verify` says which signature admitted the image: in the JSON verdict (the
// signer fields of layerseal.v1.Verdict) and in the text output's "signer" line, formatted
// as `layerseal events` prints its SIGNER column (cli/verdict_output.h SignerText).
TEST_F(CosignRegistryTest, VerifyNamesTheSigner) {
  nlohmann::json index = nlohmann::json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
  const std::string issuer = index["issuer"].get<std::string>();
  const std::string identity = index["identity"].get<std::string>();
  auto run = [&](const std::string& policy, const std::string& ref, const std::string& output) {
    absl::StatusOr<RunResult> r =
        testing::Run({LAYERSEAL_BINARY, "verify", "--plain-http", "--policy", policy, "--output", output, ref}, "",
                     absl::Seconds(120));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  };

  // Keyless: the certificate's identity and issuer, and the Rekor entry.
  PushImage("signer/keyless", app_);
  PushBundle("signer/keyless", "app", "bundle-v03-dsse", testing::SubjectOf(app_));
  nlohmann::json bundle = nlohmann::json::parse(testing::ReadFileOrDie(StrCat(out_, "/app/bundle-v03-dsse/bundle.json")));
  const std::string keyless_index = bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"].get<std::string>();
  std::string policy = Policy("signer/keyless");
  RunResult r = run(policy, Ref("signer/keyless:latest"), "json");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out << r.err;
  EXPECT_EQ(j.value("signerKind", ""), "cosign-keyless") << r.out;
  EXPECT_EQ(j.value("signerIssuer", ""), issuer) << r.out;
  EXPECT_EQ(j.value("signerSubject", ""), identity) << r.out;
  EXPECT_EQ(j.value("rekorLogIndex", ""), keyless_index) << r.out;  // int64: a JSON string
  EXPECT_FALSE(j.value("rekorLogId", "").empty()) << r.out;
  r = run(policy, Ref("signer/keyless:latest"), "text");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(StrCat("\n  signer  ", identity, " (", issuer, ") rekor#", keyless_index, "\n")), std::string::npos)
      << r.out;

  // A key: its kind and short key id, and the Rekor entry of the legacy signature's SET.
  PushImage("signer/key", app_);
  PushLegacy("signer/key", "app", "legacy-key", app_.digest);
  nlohmann::json annotations = nlohmann::json::parse(testing::ReadFileOrDie(StrCat(out_, "/app/legacy-key/annotations.json")));
  const int64_t key_index =
      nlohmann::json::parse(annotations["dev.sigstore.cosign/bundle"].get<std::string>())["Payload"]["logIndex"].get<int64_t>();
  policy = Policy("signer/key");
  r = run(policy, Ref("signer/key:latest"), "json");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out << r.err;
  EXPECT_EQ(j.value("signerKind", ""), "cosign-key") << r.out;
  EXPECT_EQ(j.value("signerIssuer", "x"), "") << r.out;
  EXPECT_EQ(j.value("rekorLogIndex", ""), StrCat(key_index)) << r.out;
  const std::string key_id = j.value("keyId", "");
  ASSERT_EQ(key_id.rfind("sha256:", 0), 0u) << r.out;
  r = run(policy, Ref("signer/key:latest"), "text");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(StrCat("\n  signer  cosign-key ", key_id.substr(0, 7 + 12), " rekor#", key_index, "\n")),
            std::string::npos)
      << r.out;

  // Denied: nothing admitted it, so no signer.
  PushImage("signer/unsigned", app_);
  r = run(Policy("signer/unsigned"), Ref("signer/unsigned:latest"), "text");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find("\n  signer  "), std::string::npos) << r.out;
}

TEST_F(CosignRegistryTest, KeyBasedWithoutLogNeedsTransparencyLogIgnore) {
  PushImage("nolog/app", app_);
  PushLegacy("nolog/app", "app", "legacy-key-no-tlog", app_.digest);
  ExpectDeny(Verify(Policy("nolog/app"), Ref("nolog/app:latest")), {"BAD_TLOG_ENTRY"});
  std::string ignore = StrCat(out_, "/policy-ignore.yaml");
  testing::WriteFileOrDie(ignore, StrCat("version: 1\nkeys:\n  cosign: {path: cosign.pub}\n"
                                         "default: {requirement: reject}\nscopes:\n  \"",
                                         server_->host(), "/nolog/app\": {requirement: signed, signatures: [cosign], "
                                         "keys: [cosign], transparencyLog: ignore}\n"));
  ExpectAllow(Verify(ignore, Ref("nolog/app:latest")));
}

struct Tampered {
  const char* fixture;
  bool legacy;
  std::vector<std::string> reasons;
};

TEST_F(CosignRegistryTest, TamperedVariantsAreDeniedWithTheirReason) {
  const std::vector<Tampered> cases = {
      {"tampered-legacy-keyless-signature", true, {"TLOG_MISMATCH", "BAD_SIGNATURE"}},
      {"legacy-key-other-digest", true, {"SUBJECT_MISMATCH"}},
      {"tampered-dsse-signature", false, {"TLOG_MISMATCH", "BAD_SIGNATURE"}},
      {"wrong-subject", false, {"SUBJECT_MISMATCH"}},
      {"wrong-identity", false, {"UNTRUSTED_IDENTITY"}},
      {"untrusted-log", false, {"BAD_TLOG_ENTRY"}},
      {"proof-other-tree", false, {"BAD_TLOG_ENTRY"}},
      {"chain-loop", false, {"UNTRUSTED_CERTIFICATE", "MALFORMED_SIGNATURE"}},
      {"unknown-media-type", false, {"MALFORMED_SIGNATURE"}},
      {"bundle-2mib", false, {"LIMIT_EXCEEDED", "MALFORMED_SIGNATURE"}},
  };
  int i = 0;
  for (const Tampered& c : cases) {
    SCOPED_TRACE(c.fixture);
    std::string repo = StrCat("tampered/", i++);
    PushImage(repo, app_);
    if (c.legacy) {
      PushLegacy(repo, "app", c.fixture, app_.digest);
    } else {
      PushBundle(repo, "app", c.fixture, testing::SubjectOf(app_));
    }
    ExpectDeny(Verify(Policy(repo), Ref(repo + ":latest")), c.reasons);
  }
}

// Not our writer: @sigstore/oci 0.6.0 (sigstore-js; GitHub's attest actions) attaches the
// bundles, through tests/fixtures/sigstore/attach_oci.mjs, with the bundle's own mediaType as
// the artifactType, as @actions/attest does. Into docker-registry 2.8 it writes the referrer
// manifest and the fallback tag (no referrers API there); into a registry with the referrers
// API it writes the referrer only. Both spellings of the v0.3 media type are used: a
// referrer whose artifactType is "application/vnd.dev.sigstore.bundle+json;version=0.3" is
// one the verifier must find through the referrers API too.

constexpr char kBundleV03OldSpelling[] = "application/vnd.dev.sigstore.bundle+json;version=0.3";

TEST_F(CosignRegistryTest, SigstoreOciFallbackTagInDockerRegistry) {
  const std::string host = server_->host();
  PushImage("sigstore-oci/keyless", app_);
  nlohmann::json d = Attach(host, "sigstore-oci/keyless", app_.digest, "bundle-v03-dsse");
  EXPECT_FALSE(d.contains("subjectDigest")) << d.dump();  // docker-registry 2.8: no OCI-Subject
  Verdict v = Verify(Policy("sigstore-oci/keyless"), VerifyRef(host, "sigstore-oci/keyless"));
  ExpectAllow(v);
  nlohmann::json fixtures = nlohmann::json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
  EXPECT_EQ(v.signer_kind, "cosign-keyless") << v.raw;  // the bundle's signer
  EXPECT_EQ(v.signer_subject, fixtures.value("identity", "")) << v.raw;

  // What it wrote: the fallback index lists the referrer with artifactType and annotations;
  // the referrer has the empty config and the bundle as its one layer.
  registry::RegistryClient client(server_->ClientOptions());
  absl::StatusOr<FetchedManifest> index =
      client.FetchManifest(Repo("sigstore-oci/keyless").WithTag(testing::CosignFallbackTag(app_.digest)), 1 << 20);
  ASSERT_TRUE(index.ok()) << index.status();
  nlohmann::json i = nlohmann::json::parse(index->bytes);
  EXPECT_EQ(i.value("mediaType", ""), testing::kOciIndexMediaType);
  ASSERT_EQ(i["manifests"].size(), 1u) << index->bytes;
  const nlohmann::json& entry = i["manifests"][0];
  EXPECT_EQ(entry.value("digest", ""), d.value("digest", ""));
  EXPECT_EQ(entry.value("mediaType", ""), testing::kOciManifestMediaType);
  EXPECT_EQ(entry.value("artifactType", ""), testing::kCosignBundleV03MediaType);
  EXPECT_EQ(entry["annotations"].value("dev.sigstore.bundle.content", ""), "dsse-envelope") << index->bytes;
  EXPECT_EQ(entry["annotations"].value("dev.sigstore.bundle.predicateType", ""), "https://sigstore.dev/cosign/sign/v1");
  EXPECT_TRUE(entry["annotations"].contains("org.opencontainers.image.created")) << index->bytes;
  Reference at = Repo("sigstore-oci/keyless");
  at.tag.clear();
  absl::StatusOr<Digest> referrer_digest = Digest::Parse(d.value("digest", ""));
  ASSERT_TRUE(referrer_digest.ok()) << d.dump();
  at.digest = *referrer_digest;
  absl::StatusOr<FetchedManifest> referrer = client.FetchManifest(at, 1 << 20);
  ASSERT_TRUE(referrer.ok()) << referrer.status();
  nlohmann::json m = nlohmann::json::parse(referrer->bytes);
  EXPECT_EQ(m.value("artifactType", ""), testing::kCosignBundleV03MediaType);
  EXPECT_EQ(m["config"].value("mediaType", ""), testing::kOciEmptyMediaType);
  ASSERT_EQ(m["layers"].size(), 1u);
  EXPECT_EQ(m["layers"][0].value("mediaType", ""), testing::kCosignBundleV03MediaType);
  EXPECT_EQ(m["subject"].value("digest", ""), app_.digest.str());
  EXPECT_EQ(m["subject"].value("size", 0u), app_.manifest.size());

  // A message-signature bundle by key, and the old spelling of the v0.3 type.
  PushImage("sigstore-oci/key", app_);
  Attach(host, "sigstore-oci/key", app_.digest, "bundle-key");
  v = Verify(Policy("sigstore-oci/key"), VerifyRef(host, "sigstore-oci/key"));
  ExpectAllow(v);
  EXPECT_EQ(v.signer_kind, "cosign-key") << v.raw;
  PushImage("sigstore-oci/old-spelling", app_);
  Attach(host, "sigstore-oci/old-spelling", app_.digest, "bundle-v03-dsse", kBundleV03OldSpelling);
  ExpectAllow(Verify(Policy("sigstore-oci/old-spelling"), VerifyRef(host, "sigstore-oci/old-spelling")));

  // A second attachment is added to the existing fallback index: a bundle for another digest
  // first, then the good one.
  PushImage("sigstore-oci/two", app_);
  Attach(host, "sigstore-oci/two", app_.digest, "wrong-subject");
  ExpectDeny(Verify(Policy("sigstore-oci/two"), VerifyRef(host, "sigstore-oci/two")), {"SUBJECT_MISMATCH"});
  Attach(host, "sigstore-oci/two", app_.digest, "bundle-v03-dsse");
  ExpectAllow(Verify(Policy("sigstore-oci/two"), VerifyRef(host, "sigstore-oci/two")));

  PushImage("sigstore-oci/tampered", app_);
  Attach(host, "sigstore-oci/tampered", app_.digest, "tampered-dsse-signature");
  ExpectDeny(Verify(Policy("sigstore-oci/tampered"), VerifyRef(host, "sigstore-oci/tampered")),
             {"TLOG_MISMATCH", "BAD_SIGNATURE"});
}

TEST_F(CosignRegistryTest, SigstoreOciReferrersApi) {
  absl::StatusOr<std::unique_ptr<testing::ReferrersRegistry>> rr = testing::ReferrersRegistry::Start();
  ASSERT_TRUE(rr.ok()) << rr.status();
  (*rr)->AcceptPushes();
  const std::string host = (*rr)->host();
  auto wrote_fallback_tag = [&](const std::string& repo) {
    std::string path = StrCat("/v2/", repo, "/manifests/", testing::CosignFallbackTag(app_.digest));
    for (const testing::HostileRequest& r : (*rr)->registry().requests()) {
      if (r.method == "PUT" && r.path == path) return true;
    }
    return false;
  };

  (*rr)->AddImage("oci11-js/keyless", "latest", app_);
  nlohmann::json d = Attach(host, "oci11-js/keyless", app_.digest, "bundle-v03-dsse");
  EXPECT_EQ(d.value("subjectDigest", ""), app_.digest.str()) << d.dump();
  EXPECT_FALSE(wrote_fallback_tag("oci11-js/keyless"));  // it used the referrers API
  ExpectAllow(Verify(Policy("oci11-js/keyless", "", host), VerifyRef(host, "oci11-js/keyless")));
  EXPECT_GT((*rr)->ReferrersRequests(), 0u);

  // The old spelling of the v0.3 type as artifactType: listed by the referrers API only.
  (*rr)->AddImage("oci11-js/old-spelling", "latest", app_);
  Attach(host, "oci11-js/old-spelling", app_.digest, "bundle-v03-dsse", kBundleV03OldSpelling);
  EXPECT_FALSE(wrote_fallback_tag("oci11-js/old-spelling"));
  ExpectAllow(Verify(Policy("oci11-js/old-spelling", "", host), VerifyRef(host, "oci11-js/old-spelling")));

  (*rr)->AddImage("oci11-js/other-digest", "latest", app_);
  Attach(host, "oci11-js/other-digest", app_.digest, "wrong-subject");
  ExpectDeny(Verify(Policy("oci11-js/other-digest", "", host), VerifyRef(host, "oci11-js/other-digest")),
             {"SUBJECT_MISMATCH"});
}

// 1,000 signatures on one image, none of them good (each a valid bundle for another digest):
// denied with the reason of the deepest failure, in bounded time and memory, having looked
// at a bounded number of them.
TEST_F(CosignRegistryTest, AThousandSignaturesOnOneImage) {
  PushImage("crowd/app", app_);
  std::string bundle = testing::ReadFileOrDie(StrCat(out_, "/app/wrong-subject/bundle.json"));
  while (!bundle.empty() && bundle.back() != '}') bundle.pop_back();
  bundle.pop_back();
  std::vector<TestImage> referrers;
  for (int i = 0; i < 1000; ++i) {
    // Distinct bytes (and digests) by JSON whitespace; each is the same valid bundle.
    referrers.push_back(testing::MakeBundleReferrer(testing::SubjectOf(app_), StrCat(bundle, std::string(i, ' '), "}")));
  }
  // The referrers pushed from 4 threads (the machine is slow; RegistryClient is thread-safe),
  // then the index alone.
  registry::RegistryClient client(server_->ClientOptions());
  std::vector<absl::Status> pushed(4);
  std::vector<std::thread> pushers;
  for (size_t t = 0; t < pushed.size(); ++t) {
    pushers.emplace_back([&, t] {
      for (size_t i = t; i < referrers.size() && pushed[t].ok(); i += pushed.size()) {
        pushed[t] = testing::PushReferrer(client, Repo("crowd/app"), referrers[i]);
      }
    });
  }
  for (std::thread& t : pushers) t.join();
  for (const absl::Status& p : pushed) ASSERT_TRUE(p.ok()) << p;
  TestImage index = testing::MakeFallbackIndex(referrers);
  absl::StatusOr<Digest> put = client.PutManifest(Repo("crowd/app").WithTag(testing::CosignFallbackTag(app_.digest)),
                                                  index.media_type, index.manifest);
  ASSERT_TRUE(put.ok()) << put.status();
  std::vector<std::string> argv = {LAYERSEAL_BINARY, "verify", "--plain-http", "--policy", Policy("crowd/app"),
                                   "--output", "json", Ref("crowd/app:latest")};
  absl::StatusOr<testing::MeasuredRun> run = testing::RunMeasured(argv, "", 2 * kMaxCrowdVerifyTime);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->result.exit_code, 1) << run->result.out << run->result.err;
  nlohmann::json j = nlohmann::json::parse(run->result.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << run->result.out << run->result.err;
  EXPECT_EQ(j.value("verdict", ""), "DENY");
  EXPECT_EQ(j.value("reason", ""), "SUBJECT_MISMATCH") << run->result.out;
  EXPECT_NE(j.value("detail", "").find("not examined"), std::string::npos) << run->result.out;
  EXPECT_LT(run->peak_rss_bytes, kMaxCrowdVerifyRssBytes) << "peak RSS " << (run->peak_rss_bytes >> 20) << " MiB";
  EXPECT_LT(run->elapsed, kMaxCrowdVerifyTime);
}

}  // namespace
}  // namespace layerseal
