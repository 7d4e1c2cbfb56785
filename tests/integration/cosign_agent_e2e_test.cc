// cosign signatures through the node agent (issue 17 "Proof: images in a real registry ...
// through the agent in front of real containerd"): the real `layerseal-agent` binary in front
// of a real containerd (CRI plugin on), a real docker-registry holding the images and their
// cosign signatures in the forms cosign writes them (tests/support/cosign_images.h), and a CRI
// client talking to the agent as the kubelet does. The node policy's scopes trust cosign
// signatures only (`signatures: [cosign]`): a key, and a keyless identity with a trusted root.
// The signatures are the offline fixtures of tests/fixtures/sigstore/make_fixtures.mjs, made
// once for the suite over the images it pushes.
//
// Cases, each admitted by PullImage of its tag (landing in containerd under the digest the
// agent pinned, the event naming the signer) or denied with its reason (never reaching
// containerd):
//   - a key-signed image (legacy .sig) and a keyless one (v0.3 bundle through the referrers
//     fallback tag, Rekor v1); a bundle by the wrong identity and a tampered one, denied;
//   - a keyless v0.3 bundle found through the OCI 1.1 referrers API: docker-registry 2.8 has
//     none, so that image and its referrer are served by the tests' own registry
//     (tests/support/referrers_registry.h), which containerd pulls from too; a valid bundle of
//     another image listed there, denied SUBJECT_MISMATCH;
//   - the signature in a separate repository (cosign's COSIGN_REPOSITORY), found through the
//     node policy's scope for cosign/separate (signatureRepository); a bundle of another
//     image there, denied SUBJECT_MISMATCH; the same image in a repository outside that
//     scope, denied NOT_SIGNED;
//   - a multi-arch index pulled by its tag, signed at the index or only at the host
//     platform's child: the agent verifies the child (with the index's signatures too) and
//     pins the child's digest, which containerd pulls; signed only at the other platform's
//     child, denied NOT_SIGNED; a signature of another index at the index, SUBJECT_MISMATCH;
//   - an image pulled into containerd behind the agent's back passes the CreateContainer gate
//     when cosign-signed (keyless legacy .sig with certificate and SET) and is refused when
//     unsigned.
//
// One docker-registry, one referrers registry, one containerd and one agent for the whole
// suite: each test uses its own repositories and images, so verdicts never leak between tests
// ("separate-unscoped" pushes the bytes of "separate" to another repository: the verdict
// cache and the events are told apart by repository).
//
// Needs Node >= 20.17 and tests/fixtures/sigstore/node_modules (scripts/setup installs it).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.pb.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cosign_images.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/referrers_registry.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/manifest.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;
using testing::CriClient;
using testing::TestImage;

const std::string kFixturesSrc = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/sigstore");

// Where a case's signature is written (the forms of tests/support/cosign_images.h).
enum class Form {
  kLegacySig,     // the legacy `sha256-<hex>.sig` tag (docker-registry)
  kFallbackTag,   // a v0.3 bundle referrer listed by the fallback tag `sha256-<hex>` (docker-registry)
  kReferrersApi,  // a v0.3 bundle referrer found through the OCI 1.1 referrers API: served by
                  // the tests' own registry (referrers_registry.h), image and all
};
// What a case's image is, and what its signature signs.
enum class Shape {
  kImage,       // a single-platform image, signed
  kAtIndex,     // a multi-arch index (the host's platform and another), signed at the index
  kAtChild,     // the same, signed only at the host platform's child
  kAtOtherChild,  // the same, signed only at the other platform's child
};

// The suite's images: each signed (or not) by one fixture and pushed to its own repository.
struct CosignCase {
  const char* name;     // the fixtures' image name, and the seed of its bytes
  const char* repo;     // <registry>/<repo>:1
  const char* fixture;  // the fixture signing it; "" for none
  Form form = Form::kFallbackTag;
  Shape shape = Shape::kImage;
  // "": the fixture made over this image. Else another case's fixture: a valid signature
  // of another image, attached to this one.
  const char* fixture_of = "";
  // "": the signature next to the image. Else the repository (in the same registry) it is
  // pushed to instead, as cosign's COSIGN_REPOSITORY does.
  const char* signature_repo = "";
  // "": this case's own image. Else the very image (bytes and digest) of another case,
  // pushed to this case's repository.
  const char* image_of = "";
};
// The node policy's scope for `cosign/separate` (and below) reads signatures from here.
constexpr char kSeparateScope[] = "cosign/separate";
constexpr char kSignatureRepo[] = "cosign/separate-signatures";
const CosignCase kCases[] = {
    {"key", "cosign/key", "legacy-key", Form::kLegacySig},
    {"keyless", "cosign/keyless", "bundle-v03-dsse"},
    {"wrong-identity", "cosign/wrong-identity", "wrong-identity"},
    {"tampered", "cosign/tampered", "tampered-dsse-signature"},
    {"prepulled", "cosign/prepulled", "legacy-keyless", Form::kLegacySig},
    {"unsigned", "cosign/unsigned", ""},
    // Through the referrers API (the referrers registry).
    {"referrers", "oci11/keyless", "bundle-v03-dsse", Form::kReferrersApi},
    {"referrers-other-digest", "oci11/other-digest", "bundle-v03-dsse", Form::kReferrersApi, Shape::kImage,
     "referrers"},
    // In a separate signature repository.
    {"separate", "cosign/separate/app", "bundle-v03-dsse", Form::kFallbackTag, Shape::kImage, "", kSignatureRepo},
    {"separate-other-digest", "cosign/separate/other-digest", "bundle-v03-dsse", Form::kFallbackTag, Shape::kImage,
     "separate", kSignatureRepo},
    // The image of "separate" (its signature is in the signature repository), in a repository
    // outside the scope that names that repository (scopes match at "/" boundaries:
    // cosign/separate does not cover cosign/separate-unscoped).
    {"separate-unscoped", "cosign/separate-unscoped", "", Form::kFallbackTag, Shape::kImage, "", "", "separate"},
    // Multi-arch indexes.
    {"index-signed", "cosign/index-signed", "legacy-key", Form::kLegacySig, Shape::kAtIndex},
    {"child-signed", "cosign/child-signed", "bundle-v03-dsse", Form::kFallbackTag, Shape::kAtChild},
    // A signature (of "child-signed"'s child) at the other platform's child only: the agent
    // looks up the signatures of this node's child and of the index, never a sibling's.
    {"other-child-signed", "cosign/other-child-signed", "bundle-v03-dsse", Form::kFallbackTag, Shape::kAtOtherChild,
     "child-signed"},
    {"index-other-digest", "cosign/index-other-digest", "legacy-key", Form::kLegacySig, Shape::kAtIndex,
     "index-signed"},
};

const CosignCase& CaseNamed(const std::string& name) {
  for (const CosignCase& c : kCases) {
    if (name == c.name) return c;
  }
  ADD_FAILURE() << "no case " << name;
  return kCases[0];
}

// What the suite made for one case.
struct CaseImage {
  TestImage pushed;           // the image (or index) under <repo>:1
  TestImage signed_manifest;  // what its own fixture signs: the image, the index or a child
  Digest pulled;              // what the agent pins and containerd stores: the image, or the
                              // index's child for the host's platform
};

class CosignAgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setup_error_ = SetUpSuite(); }
  static std::string SetUpSuite() {
    dir_ = new testing::TempDir();
    if (!std::filesystem::exists(kFixturesSrc + "/node_modules/@sigstore/sign")) {
      return StrCat(kFixturesSrc, "/node_modules is missing: run scripts/setup (npm ci)");
    }
    auto registry = testing::RegistryServer::Start();
    if (!registry.ok()) return StrCat("registry: ", registry.status().ToString());
    registry_ = registry->release();
    auto referrers = testing::ReferrersRegistry::Start();
    if (!referrers.ok()) return StrCat("referrers registry: ", referrers.status().ToString());
    referrers_ = referrers->release();
    auto containerd = testing::ContainerdServer::Start(
        {.cri = true, .plain_http_registries = {registry_->host(), referrers_->host()}});
    if (!containerd.ok()) return StrCat("containerd: ", containerd.status().ToString());
    containerd_ = containerd->release();

    // The images, and the fixtures made over what the signed ones sign (one run of the script).
    out_ = dir_->File("fixtures");
    std::vector<std::string> argv = {"node", kFixturesSrc + "/make_fixtures.mjs", "--out", out_};
    const Platform host = Platform::Host();
    const std::string other_arch = host.architecture == "amd64" ? "arm64" : "amd64";
    for (const CosignCase& c : kCases) {
      const std::string seed = StrCat("cosign-agent-", c.name);
      CaseImage made;
      if (*c.image_of != '\0') {
        made = images_.at(c.image_of);  // an earlier case
      } else if (c.shape == Shape::kImage) {
        made.pushed = testing::MakeBaseImage({.seed = seed, .architecture = host.architecture});
        made.signed_manifest = made.pushed;
        made.pulled = made.pushed.digest;
      } else {
        TestImage here = testing::MakeBaseImage({.seed = seed + "-host", .architecture = host.architecture});
        TestImage other = testing::MakeBaseImage({.seed = seed + "-other", .architecture = other_arch});
        made.pushed = testing::MakeIndex(Family::kOci, {{host, here}, {Platform{"linux", other_arch, ""}, other}});
        made.signed_manifest = c.shape == Shape::kAtIndex ? made.pushed : c.shape == Shape::kAtChild ? here : other;
        made.pulled = here.digest;
      }
      if (*c.fixture != '\0' && *c.fixture_of == '\0' && *c.image_of == '\0') {
        std::string file = dir_->File(StrCat(c.name, ".manifest"));
        testing::WriteFileOrDie(file, made.signed_manifest.manifest);
        argv.insert(argv.end(), {"--image", StrCat(c.name, "=", made.signed_manifest.digest.str(), ":", file)});
      }
      images_.emplace(c.name, std::move(made));
    }
    // Each image in its registry (pushed while the script runs), then its signature.
    registry::RegistryClient client(registry_->ClientOptions());
    std::string push_error;
    std::thread pusher([&] {
      for (const CosignCase& c : kCases) {
        if (c.form == Form::kReferrersApi) {
          referrers_->AddImage(c.repo, "1", images_.at(c.name).pushed);
          continue;
        }
        absl::StatusOr<Reference> repo = Reference::Parse(Ref(StrCat(c.repo, ":1")));
        absl::Status pushed = repo.ok() ? testing::PushTestImage(client, *repo, images_.at(c.name).pushed) : repo.status();
        if (!pushed.ok()) {
          push_error = StrCat("push ", c.repo, ": ", pushed.ToString());
          return;
        }
      }
    });
    absl::StatusOr<testing::RunResult> made = testing::Run(argv, "", absl::Minutes(5));
    pusher.join();
    if (!made.ok() || made->exit_code != 0) {
      return StrCat("make_fixtures.mjs failed: ", made.ok() ? made->err : made.status().ToString());
    }
    if (!push_error.empty()) return push_error;
    for (const CosignCase& c : kCases) {
      if (*c.fixture == '\0') continue;
      const CaseImage& image = images_.at(c.name);
      const testing::CosignSubject subject = testing::SubjectOf(image.signed_manifest);
      const std::string fixture_dir =
          StrCat(out_, "/", *c.fixture_of != '\0' ? c.fixture_of : c.name, "/", c.fixture);
      if (c.form == Form::kReferrersApi) {
        referrers_->AddReferrer(
            c.repo, subject.digest,
            testing::MakeBundleReferrer(subject, testing::ReadFileOrDie(fixture_dir + "/bundle.json")),
            std::string(testing::kCosignBundleV03MediaType));
        continue;
      }
      absl::StatusOr<Reference> repo = Reference::Parse(Ref(StrCat(c.repo, ":1")));
      if (*c.signature_repo != '\0') repo = Reference::Parse(Ref(StrCat(c.signature_repo, ":1")));
      if (!repo.ok()) return repo.status().ToString();
      absl::Status pushed;
      if (c.form == Form::kLegacySig) {
        absl::StatusOr<testing::CosignSigLayer> layer = testing::LoadFixtureSigLayer(fixture_dir);
        if (!layer.ok()) return layer.status().ToString();
        pushed = testing::PushLegacySig(client, *repo, subject.digest, testing::MakeLegacySig({*layer}));
      } else {
        TestImage referrer = testing::MakeBundleReferrer(subject, testing::ReadFileOrDie(fixture_dir + "/bundle.json"));
        pushed = testing::PushFallbackIndex(client, *repo, subject.digest, testing::MakeFallbackIndex({referrer}));
      }
      if (!pushed.ok()) return StrCat("push the signature of ", c.repo, ": ", pushed.ToString());
    }

    // The node policy: everything in both registries must carry a cosign signature by the
    // key or by the CI identity (keyless, under the fixtures' trusted root); the images of
    // cosign/separate (and below) have theirs in the signature repository.
    json index = json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
    issuer_ = index["issuer"].get<std::string>();
    identity_ = index["identity"].get<std::string>();
    const std::string trust = "requirement: signed, signatures: [cosign], keys: [cosign], identities: [ci], trustedRoot: test";
    testing::WriteFileOrDie(
        dir_->File("policy.yaml"),
        StrCat("version: 1\n"
               "keys:\n  cosign: {path: ", out_, "/cosign.pub}\n"
               "trustedRoots:\n  test: {path: ", out_, "/trusted_root.json}\n"
               "identities:\n  ci: {issuer: \"", issuer_, "\", subject: \"", identity_, "\"}\n"
               "default: {requirement: reject}\n"
               "scopes:\n"
               "  \"", registry_->host(), "\": {", trust, "}\n"
               "  \"", Ref(kSeparateScope), "\": {", trust, ", signatureRepository: ", Ref(kSignatureRepo), "}\n"
               "  \"", referrers_->host(), "\": {", trust, "}\n"));

    std::filesystem::create_directories(dir_->File("namespaces"));
    const int admin_port = testing::PickFreePort();
    auto agent = testing::AgentProcess::Start(
        {"--listen", dir_->File("agent.sock"), "--runtime-endpoint", containerd_->socket(),
         "--policy", dir_->File("policy.yaml"), "--namespace-policy-dir", dir_->File("namespaces"),
         "--state-dir", dir_->File("state"), "--node-name", "node-cosign",
         "--admin", StrCat("127.0.0.1:", admin_port), "--plain-http-registry", registry_->host(),
         "--plain-http-registry", referrers_->host()},
        {}, admin_port, dir_->File("agent.log"));
    if (!agent.ok()) return StrCat("agent: ", agent.status().ToString());
    agent_ = agent->release();
    return "";
  }
  static void TearDownTestSuite() {
    if (agent_ != nullptr) {
      agent_->Stop();
      // Under the sanitizer build the agent is instrumented too: a report fails the suite.
      std::string log = agent_->Log();
      EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
      EXPECT_EQ(log.find("runtime error:"), std::string::npos) << log;
    }
    delete agent_;
    delete containerd_;
    delete referrers_;
    delete registry_;
    delete dir_;
    agent_ = nullptr;
    containerd_ = nullptr;
    referrers_ = nullptr;
    registry_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    client_ = std::make_unique<CriClient>(dir_->File("agent.sock"));
  }

  // <docker-registry>/<repo_tag>.
  static std::string Ref(const std::string& repo_tag) { return StrCat(registry_->host(), "/", repo_tag); }
  // Case `name`'s repository, in the registry that serves it.
  static std::string RepoOf(const std::string& name) {
    const CosignCase& c = CaseNamed(name);
    return c.form == Form::kReferrersApi ? StrCat(referrers_->host(), "/", c.repo) : Ref(c.repo);
  }
  static const CaseImage& Image(const std::string& name) { return images_.at(name); }
  static std::string AgentLog() { return agent_ == nullptr ? "" : agent_->Log(); }

  // The image as containerd itself knows it (not through the agent).
  static std::optional<cri::Image> InContainerd(const std::string& image) {
    return CriClient(containerd_->socket()).Status(image);
  }

  // The last event of `gate` about an image of digest `digest`, asked for as `image` when
  // that is not empty (the agent writes the event before it answers the call).
  static std::optional<json> EventFor(const std::string& gate, const Digest& digest, const std::string& image = "") {
    std::ifstream in(dir_->File("state/events.jsonl"));
    std::optional<json> found;
    std::string line;
    while (std::getline(in, line)) {
      json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("gate", "") == gate && e.value("digest", "") == digest.str() &&
          (image.empty() || e.value("image", "") == image)) {
        found = e;
      }
    }
    return found;
  }

  // The Rekor log index of a fixture's entry: the bundle's first tlog entry, or a legacy
  // signature's SET payload.
  static int64_t LogIndexOf(const std::string& image, const std::string& fixture, bool legacy) {
    const std::string dir = StrCat(out_, "/", image, "/", fixture);
    if (legacy) {
      json annotations = json::parse(testing::ReadFileOrDie(dir + "/annotations.json"));
      json set = json::parse(annotations["dev.sigstore.cosign/bundle"].get<std::string>());
      return set["Payload"]["logIndex"].get<int64_t>();
    }
    json bundle = json::parse(testing::ReadFileOrDie(dir + "/bundle.json"));
    return std::stoll(bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"].get<std::string>());
  }

  // PullImage of case `name` (<repo>:1) through the agent is admitted as the kubelet sees
  // it, the image lands in containerd under <repo>@<the digest the agent pinned> (for an
  // index: its child for the host's platform), and the event says ALLOW VERIFIED. Returns
  // the event (nullopt, having failed, when something is missing).
  std::optional<json> ExpectPulled(const std::string& name) {
    SCOPED_TRACE(name);
    const Digest& pulled = Image(name).pulled;
    const std::string ref = StrCat(RepoOf(name), ":1");
    std::string id;
    grpc::Status s = client_->Pull(ref, &id);
    EXPECT_TRUE(s.ok()) << s.error_message() << AgentLog();
    if (!s.ok()) return std::nullopt;
    std::optional<cri::Image> stored = InContainerd(id);
    EXPECT_TRUE(stored.has_value());
    if (!stored) return std::nullopt;
    EXPECT_GT(stored->repo_digests_size(), 0);
    if (stored->repo_digests_size() > 0) {
      EXPECT_EQ(stored->repo_digests(0), StrCat(RepoOf(name), "@", pulled.str()));
    }

    std::optional<json> e = EventFor("PullImage", pulled, ref);
    EXPECT_TRUE(e.has_value()) << AgentLog();
    if (!e) return std::nullopt;
    EXPECT_EQ((*e)["verdict"], "ALLOW");
    EXPECT_EQ((*e)["reason"], "VERIFIED");
    EXPECT_EQ((*e)["admitted"], true);
    return e;
  }

  // The event of a keyless admission names the fixtures' CI identity and the log entry of
  // case `fixture_case`'s fixture `fixture`.
  void ExpectKeylessSigner(const json& e, const std::string& fixture_case, const std::string& fixture, bool legacy) {
    EXPECT_EQ(e["signer_kind"], "cosign-keyless") << e.dump();
    EXPECT_EQ(e["signer_issuer"], issuer_);
    EXPECT_EQ(e["signer_subject"], identity_);
    EXPECT_EQ(e.value("rekor_log_index", int64_t{-1}), LogIndexOf(fixture_case, fixture, legacy)) << e.dump();
    EXPECT_FALSE(e.value("rekor_log_id", "").empty()) << e.dump();
  }

  // PullImage of case `name` through the agent is denied with `reasons` (one of them), as
  // the kubelet sees it, and the image never reaches containerd; the event says the same.
  void ExpectPullDenied(const std::string& name, const std::vector<std::string>& reasons) {
    SCOPED_TRACE(name);
    const std::string ref = StrCat(RepoOf(name), ":1");
    grpc::Status s = client_->Pull(ref);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN) << s.error_message();
    const std::string prefix = StrCat("SignatureValidationFailed: layerseal denied ", ref, ": ");
    ASSERT_EQ(s.error_message().rfind(prefix, 0), 0u) << s.error_message();
    const std::string reason = s.error_message().substr(prefix.size(), s.error_message().find(':', prefix.size()) - prefix.size());
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), reason), reasons.end()) << s.error_message();
    EXPECT_FALSE(InContainerd(ref).has_value());
    EXPECT_FALSE(InContainerd(StrCat(RepoOf(name), "@", Image(name).pulled.str())).has_value());

    std::optional<json> e = EventFor("PullImage", Image(name).pulled, ref);
    ASSERT_TRUE(e.has_value()) << AgentLog();
    EXPECT_EQ((*e)["verdict"], "DENY");
    EXPECT_EQ((*e)["reason"], reason);
    EXPECT_EQ((*e)["admitted"], false);
    EXPECT_EQ((*e)["signer_kind"], "") << "nothing admitted it";
    EXPECT_FALSE((*e).value("detail", "").empty());
  }

  static testing::TempDir* dir_;
  static testing::RegistryServer* registry_;
  static testing::ReferrersRegistry* referrers_;  // serves the Form::kReferrersApi cases
  static testing::ContainerdServer* containerd_;
  static testing::AgentProcess* agent_;
  static std::string out_;
  static std::string setup_error_;
  static std::string issuer_, identity_;  // the fixtures' keyless signer
  static std::map<std::string, CaseImage> images_;
  std::unique_ptr<CriClient> client_;
};

testing::TempDir* CosignAgentE2eTest::dir_ = nullptr;
testing::RegistryServer* CosignAgentE2eTest::registry_ = nullptr;
testing::ReferrersRegistry* CosignAgentE2eTest::referrers_ = nullptr;
testing::ContainerdServer* CosignAgentE2eTest::containerd_ = nullptr;
testing::AgentProcess* CosignAgentE2eTest::agent_ = nullptr;
std::string CosignAgentE2eTest::out_;
std::string CosignAgentE2eTest::setup_error_;
std::string CosignAgentE2eTest::issuer_;
std::string CosignAgentE2eTest::identity_;
std::map<std::string, CaseImage> CosignAgentE2eTest::images_;

TEST_F(CosignAgentE2eTest, KeySignedLegacySigIsPulledAndTheEventNamesTheKey) {
  std::optional<json> e = ExpectPulled("key");
  ASSERT_TRUE(e.has_value());
  absl::StatusOr<PublicKey> key = PublicKey::FromPem(testing::ReadFileOrDie(out_ + "/cosign.pub"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*e)["node"], "node-cosign");
  EXPECT_EQ((*e)["signer_kind"], "cosign-key");
  EXPECT_EQ((*e)["key_id"], key->key_id());
  EXPECT_EQ((*e)["signer_issuer"], "");
  EXPECT_EQ((*e)["signer_subject"], "");
  // The legacy signature carries its Rekor SET: the entry's index.
  EXPECT_EQ((*e).value("rekor_log_index", int64_t{-1}), LogIndexOf("key", "legacy-key", true)) << e->dump();
}

TEST_F(CosignAgentE2eTest, KeylessBundleThroughTheFallbackTagIsPulledAndTheEventNamesTheIdentity) {
  std::optional<json> e = ExpectPulled("keyless");
  ASSERT_TRUE(e.has_value());
  ExpectKeylessSigner(*e, "keyless", "bundle-v03-dsse", false);
}

TEST_F(CosignAgentE2eTest, WrongIdentityAndTamperedSignaturesAreDenied) {
  // A valid keyless bundle, by an identity the policy does not trust.
  ExpectPullDenied("wrong-identity", {"UNTRUSTED_IDENTITY"});
  // The DSSE signature altered after logging: the log entry no longer matches it (or, checked
  // first, the signature is bad).
  ExpectPullDenied("tampered", {"TLOG_MISMATCH", "BAD_SIGNATURE"});
}

// docker-registry 2.8 has no referrers API: the image and its cosign 3 referrer are served by
// the tests' own registry, which containerd pulls from too.
TEST_F(CosignAgentE2eTest, KeylessBundleThroughTheReferrersApiIsPulledAndTheEventNamesTheIdentity) {
  std::optional<json> e = ExpectPulled("referrers");
  ASSERT_TRUE(e.has_value());
  ExpectKeylessSigner(*e, "referrers", "bundle-v03-dsse", false);
  // Found by the referrers API (that registry has no fallback tag or .sig to find it by).
  const CaseImage& image = Image("referrers");
  EXPECT_GT(referrers_->registry().Count(StrCat("/v2/oci11/keyless/referrers/", image.pulled.str())), 0u);
  // containerd pulled the image from that registry itself (by the digest the agent pinned).
  EXPECT_GT(referrers_->registry().Count(StrCat("/v2/oci11/keyless/manifests/", image.pulled.str())), 0u);
}

TEST_F(CosignAgentE2eTest, BundleThroughTheReferrersApiForAnotherDigestIsDenied) {
  // A valid bundle of another image, listed by the referrers API as a referrer of this one.
  ExpectPullDenied("referrers-other-digest", {"SUBJECT_MISMATCH"});
}

// cosign's COSIGN_REPOSITORY: the signature is in cosign/separate-signatures, and the node
// policy's scope for cosign/separate says so (signatureRepository).
TEST_F(CosignAgentE2eTest, SignatureInASeparateRepositoryIsFoundThroughTheScope) {
  std::optional<json> e = ExpectPulled("separate");
  ASSERT_TRUE(e.has_value());
  ExpectKeylessSigner(*e, "separate", "bundle-v03-dsse", false);
  EXPECT_EQ((*e)["scope"], Ref(kSeparateScope)) << e->dump();
}

TEST_F(CosignAgentE2eTest, SignatureInASeparateRepositoryIsDeniedForAnotherDigestOrOutsideTheScope) {
  // There, a valid bundle of another image under this image's fallback tag.
  ExpectPullDenied("separate-other-digest", {"SUBJECT_MISMATCH"});
  // The image of SignatureInASeparateRepositoryIsFoundThroughTheScope, whose signature is in
  // the signature repository, in a repository whose scope does not name that repository:
  // nothing next to the image, so not signed.
  ExpectPullDenied("separate-unscoped", {"NOT_SIGNED"});
}

// PullImage of an index's tag: the agent judges the host platform's child, with the
// signatures of the child and of the index, and pins the child's digest; containerd pulls
// that child.
TEST_F(CosignAgentE2eTest, IndexSignedAtTheIndexIsPulledAsItsPlatformChild) {
  std::optional<json> e = ExpectPulled("index-signed");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ((*e)["signer_kind"], "cosign-key") << e->dump();
  EXPECT_EQ((*e).value("rekor_log_index", int64_t{-1}), LogIndexOf("index-signed", "legacy-key", true)) << e->dump();
  EXPECT_NE((*e)["digest"], Image("index-signed").pushed.digest.str()) << "the child, not the index, is pinned";
}

TEST_F(CosignAgentE2eTest, IndexSignedOnlyAtThePlatformChildIsPulled) {
  std::optional<json> e = ExpectPulled("child-signed");
  ASSERT_TRUE(e.has_value());
  ExpectKeylessSigner(*e, "child-signed", "bundle-v03-dsse", false);
}

TEST_F(CosignAgentE2eTest, IndexSignedOnlyAtAnotherPlatformOrForAnotherIndexIsDenied) {
  // Only the other platform's child carries a signature: this node's child has none.
  ExpectPullDenied("other-child-signed", {"NOT_SIGNED"});
  // At the index's .sig tag, a valid signature of another index.
  ExpectPullDenied("index-other-digest", {"SUBJECT_MISMATCH"});
}

TEST_F(CosignAgentE2eTest, PrePulledImagesPassTheCreateContainerGateOnlyWhenCosignSigned) {
  // Pulled into containerd directly, behind the agent's back.
  CriClient direct(containerd_->socket());
  std::string signed_id, unsigned_id;
  ASSERT_TRUE(direct.Pull(Ref("cosign/prepulled:1"), &signed_id).ok());
  ASSERT_TRUE(direct.Pull(Ref("cosign/unsigned:1"), &unsigned_id).ok());

  // The cosign-signed one (keyless legacy .sig with certificate, chain and SET) is verified in
  // place by its repository digest: CreateContainer reaches containerd (which has no such
  // sandbox, so it fails there, not at the gate).
  grpc::Status created = client_->CreateContainer(signed_id, "default");
  EXPECT_NE(created.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << created.error_message() << AgentLog();
  EXPECT_EQ(created.error_message().find("layerseal"), std::string::npos) << created.error_message();
  std::optional<json> e = EventFor("CreateContainer", Image("prepulled").pulled);
  ASSERT_TRUE(e.has_value()) << AgentLog();
  EXPECT_EQ((*e)["verdict"], "ALLOW");
  EXPECT_EQ((*e)["signer_kind"], "cosign-keyless");
  EXPECT_EQ((*e)["signer_issuer"], issuer_);
  EXPECT_EQ((*e)["signer_subject"], identity_);
  EXPECT_EQ((*e).value("rekor_log_index", int64_t{-1}), LogIndexOf("prepulled", "legacy-keyless", true)) << e->dump();

  // The unsigned one: no container from it.
  grpc::Status refused = client_->CreateContainer(unsigned_id, "default");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("NOT_SIGNED"), std::string::npos) << refused.error_message();
  e = EventFor("CreateContainer", Image("unsigned").pulled);
  ASSERT_TRUE(e.has_value()) << AgentLog();
  EXPECT_EQ((*e)["verdict"], "DENY");
  EXPECT_EQ((*e)["reason"], "NOT_SIGNED");
  EXPECT_EQ((*e)["admitted"], false);
}

}  // namespace
}  // namespace layerseal
