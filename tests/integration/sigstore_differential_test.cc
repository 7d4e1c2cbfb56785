// The differential check of issue 17: layerseal and an independent sigstore verifier
// (@sigstore/verify 3.1.1, sigstore-js) must answer alike on every cosign/sigstore fixture.
//
// The fixtures are made at test time, offline, by tests/fixtures/sigstore/make_fixtures.mjs
// (@sigstore/mock stands in for Fulcio, CT and the TSA; tlog_builder.mjs writes the Rekor
// evidence) into a temp dir; verify_fixtures.mjs runs sigstore-js over them, and
// `layerseal verify-bundle` runs on each with the same bundle, artifact, trusted root and key
// or identity. Each fixture's expected.json says what layerseal must answer (and the reasons
// accepted for a DENY) and what sigstore-js answers; the two differ only where layerseal is
// stricter on purpose (limits, unknown media types), and expected.json says why.
//
// Needs Node >= 20.17 and tests/fixtures/sigstore/node_modules (scripts/setup installs it).
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/cosign_images.h"
#include "tests/support/process.h"
#include "verifier/policy.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"
#include "verifier/verdict.h"

namespace layerseal {
namespace {

namespace fs = std::filesystem;
using testing::RunResult;
using testing::TempDir;

const std::string kFixturesSrc = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/sigstore");

// The fixture names make_fixtures.mjs writes for each image; the test fails if one vanishes.
const char* const kFixtureNames[] = {
    "bundle-v03-dsse", "bundle-v03-dsse-rekor2", "bundle-v03-msg", "bundle-v03-msg-rekor2",
    "bundle-key", "legacy-keyless", "legacy-key", "legacy-key-no-tlog", "legacy-key-other-digest",
    "tampered-dsse-signature", "tampered-msg-signature", "tampered-legacy-keyless-signature",
    "wrong-subject", "wrong-artifact", "wrong-identity", "wrong-issuer", "wrong-key",
    "untrusted-log", "proof-other-tree", "proof-corrupted-hash", "bad-set", "untrusted-root",
    "chain-50-deep", "chain-loop", "cert-64k-extension", "bundle-2mib", "nesting-10000",
    "unknown-media-type",
};

struct Outcome {
  std::string decision;  // "ALLOW" or "DENY"
  std::string reason;    // layerseal's reason name ("" for sigstore-js)
  std::string detail;
};

class SigstoreDifferentialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    out_ = dir_->File("fixtures");
    if (!fs::exists(kFixturesSrc + "/node_modules/@sigstore/verify")) {
      setup_error_ = StrCat(kFixturesSrc, "/node_modules is missing: run scripts/setup (npm ci)");
      return;
    }
    absl::Time start = absl::Now();
    absl::StatusOr<RunResult> made =
        testing::Run({"node", kFixturesSrc + "/make_fixtures.mjs", "--out", out_}, "", absl::Minutes(5));
    if (!made.ok() || made->exit_code != 0) {
      setup_error_ = StrCat("make_fixtures.mjs failed: ", made.ok() ? made->err : made.status().ToString());
      return;
    }
    make_seconds_ = absl::ToDoubleSeconds(absl::Now() - start);
    index_ = nlohmann::json::parse(testing::ReadFileOrDie(out_ + "/index.json"));
    absl::StatusOr<RunResult> ref =
        testing::Run({"node", kFixturesSrc + "/verify_fixtures.mjs", out_}, "", absl::Minutes(5));
    if (!ref.ok() || ref->exit_code != 0) {
      setup_error_ = StrCat("verify_fixtures.mjs failed: ", ref.ok() ? ref->err : ref.status().ToString());
      return;
    }
    nlohmann::json r = nlohmann::json::parse(ref->out);
    for (auto& [name, v] : r.at("results").items()) {
      reference_[name] = {v.at("decision").get<std::string>(), "", v.at("detail").get<std::string>()};
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static nlohmann::json Expected(const std::string& fixture) {
    return nlohmann::json::parse(testing::ReadFileOrDie(StrCat(out_, "/", fixture, "/expected.json")));
  }

  // `layerseal verify-bundle` on one fixture, as the conformance protocol calls it.
  static Outcome Layerseal(const std::string& fixture) {
    nlohmann::json e = Expected(fixture);
    std::string dir = StrCat(out_, "/", fixture);
    auto rel = [&](const std::string& p) { return fs::weakly_canonical(fs::path(dir) / p).string(); };
    std::vector<std::string> argv = {LAYERSEAL_BINARY, "verify-bundle", "--bundle",
                                     rel(e.at("bundle").get<std::string>())};
    if (e.contains("key")) {
      argv.insert(argv.end(), {"--key", rel(e.at("key").get<std::string>())});
    } else {
      argv.insert(argv.end(), {"--certificate-identity", e.at("identity").get<std::string>(),
                               "--certificate-oidc-issuer", e.at("issuer").get<std::string>()});
    }
    argv.insert(argv.end(), {"--trusted-root", rel(e.at("trusted_root").get<std::string>())});
    std::string artifact = e.at("artifact").get<std::string>();
    argv.push_back(artifact.rfind("sha256:", 0) == 0 ? artifact : rel(artifact));
    absl::StatusOr<RunResult> r = testing::Run(argv, "", absl::Seconds(60));
    if (!r.ok()) return {"ERROR", "", r.status().ToString()};
    Outcome o;
    o.decision = r->exit_code == 0 ? "ALLOW" : r->exit_code == 1 ? "DENY" : "ERROR";
    nlohmann::json j = nlohmann::json::parse(r->out, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      o.reason = j.value("reason", "");
      o.detail = j.value("detail", "");
      if (j.value("decision", "") != (r->exit_code == 0 ? "ALLOW" : "DENY")) {
        o.detail = StrCat("exit ", r->exit_code, " disagrees with the JSON decision: ", o.detail);
        o.decision = "ERROR";
      }
    } else {
      o.detail = StrCat("exit ", r->exit_code, ", no JSON verdict on stdout; stderr: ", r->err.substr(0, 300));
      if (o.decision == "DENY") o.decision = "ERROR";
    }
    return o;
  }

  static TempDir* dir_;
  static std::string out_;
  static std::string setup_error_;
  static double make_seconds_;
  static nlohmann::json index_;
  static std::map<std::string, Outcome> reference_;
};

TempDir* SigstoreDifferentialTest::dir_ = nullptr;
std::string SigstoreDifferentialTest::out_;
std::string SigstoreDifferentialTest::setup_error_;
double SigstoreDifferentialTest::make_seconds_ = 0;
nlohmann::json SigstoreDifferentialTest::index_;
std::map<std::string, Outcome> SigstoreDifferentialTest::reference_;

TEST_F(SigstoreDifferentialTest, EveryFixtureIsMade) {
  std::set<std::string> made;
  for (const auto& f : index_.at("fixtures")) made.insert(f.get<std::string>());
  for (const char* name : kFixtureNames) EXPECT_TRUE(made.count(StrCat("app/", name))) << name;
  EXPECT_EQ(made.size(), std::size(kFixtureNames));
  std::cout << "make_fixtures.mjs: " << made.size() << " fixtures in " << make_seconds_ << " s\n";
}

// The reference verifier answers what each expected.json says it does: the fixtures are what
// they claim to be (a good fixture really verifies; a tampered one really fails).
TEST_F(SigstoreDifferentialTest, ReferenceVerifierAnswersAsExpected) {
  for (const auto& f : index_.at("fixtures")) {
    std::string name = f.get<std::string>();
    nlohmann::json e = Expected(name);
    ASSERT_TRUE(reference_.count(name)) << name;
    EXPECT_EQ(reference_[name].decision, e.at("sigstore_js").get<std::string>())
        << name << ": @sigstore/verify said " << reference_[name].detail;
  }
}

// layerseal answers what expected.json says, with one of the accepted reasons, and agrees
// with sigstore-js wherever expected.json records no deliberate difference.
TEST_F(SigstoreDifferentialTest, LayersealAgreesWithReference) {
  std::string table;
  int disagreements = 0;
  for (const auto& f : index_.at("fixtures")) {
    std::string name = f.get<std::string>();
    nlohmann::json e = Expected(name);
    if (!e.value("verify_bundle", true)) continue;
    Outcome ls = Layerseal(name);
    const Outcome& js = reference_[name];
    std::string expect = e.at("expect").get<std::string>();
    bool deliberate = e.at("sigstore_js").get<std::string>() != expect;
    table += StrCat(name, ": layerseal ", ls.decision, " ", ls.reason, " | sigstore-js ", js.decision,
                    deliberate ? " (deliberate difference)" : "", "\n");
    EXPECT_EQ(ls.decision, expect) << name << ": " << ls.reason << " " << ls.detail;
    if (expect == "DENY" && ls.decision == "DENY") {
      std::vector<std::string> reasons = e.at("reasons").get<std::vector<std::string>>();
      EXPECT_NE(std::find(reasons.begin(), reasons.end(), ls.reason), reasons.end())
          << name << ": reason " << ls.reason << " (" << ls.detail << ") is not one of "
          << e.at("reasons").dump();
    }
    if (!deliberate && ls.decision != js.decision) {
      ++disagreements;
      ADD_FAILURE() << name << ": layerseal " << ls.decision << " (" << ls.reason << ": " << ls.detail
                    << ") but @sigstore/verify " << js.decision << " (" << js.detail << ")";
    }
  }
  std::cout << table;
  EXPECT_EQ(disagreements, 0);
}

// The legacy fixtures as a registry holds them (simple-signing payload + .sig annotations,
// judged against the image digest), straight through the library: the same verdicts as
// their bundle forms, and the payload's digest checked (registry_expect in expected.json).
TEST_F(SigstoreDifferentialTest, LegacyAnnotationsVerifyAgainstTheImageDigest) {
  absl::StatusOr<sigstore::TrustedRoot> root = sigstore::TrustedRoot::LoadFile(out_ + "/trusted_root.json");
  ASSERT_TRUE(root.ok()) << root.status();
  absl::StatusOr<PublicKey> pk = PublicKey::FromPem(testing::ReadFileOrDie(out_ + "/cosign.pub"));
  ASSERT_TRUE(pk.ok()) << pk.status();
  TrustedKey key{"cosign", *std::move(pk), std::nullopt};
  int legacy = 0;
  for (const auto& f : index_.at("fixtures")) {
    std::string name = f.get<std::string>();
    nlohmann::json e = Expected(name);
    if (!e.contains("legacy")) continue;
    ++legacy;
    SCOPED_TRACE(name);
    absl::StatusOr<testing::CosignSigLayer> layer = testing::LoadFixtureSigLayer(StrCat(out_, "/", name));
    ASSERT_TRUE(layer.ok()) << layer.status();
    absl::StatusOr<sigstore::SignedEntity> entity = sigstore::FromLegacySig(layer->payload, layer->annotations);
    ASSERT_TRUE(entity.ok()) << entity.status();
    sigstore::TrustPolicy policy;
    policy.root = &*root;
    policy.now = absl::Now();
    if (e.contains("key")) {
      policy.keys.push_back(&key);
    } else {
      absl::StatusOr<sigstore::IdentityPattern> p = sigstore::MakeIdentityPattern(
          "identity", e.at("issuer").get<std::string>(), std::nullopt, e.at("identity").get<std::string>(), std::nullopt);
      ASSERT_TRUE(p.ok()) << p.status();
      policy.identities.push_back(*std::move(p));
    }
    absl::StatusOr<Digest> digest = Digest::Parse(e.at("digest").get<std::string>());
    ASSERT_TRUE(digest.ok());
    sigstore::Artifact image{std::nullopt, *digest};
    const nlohmann::json& l = e.at("legacy");
    std::string want = l.at("registry_expect").get<std::string>();
    sigstore::EntityResult r = sigstore::VerifyEntity(*entity, image, policy);
    if (want == "ALLOW") {
      EXPECT_TRUE(r.ok()) << ReasonName(r.reason) << ": " << r.detail;
      continue;
    }
    std::vector<std::string> reasons = l.at("registry_reasons").get<std::vector<std::string>>();
    EXPECT_FALSE(r.ok());
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), std::string(ReasonName(r.reason))), reasons.end())
        << ReasonName(r.reason) << ": " << r.detail;
    if (want == "ALLOW_IF_TLOG_IGNORED") {
      policy.require_tlog = false;
      sigstore::EntityResult ignored = sigstore::VerifyEntity(*entity, image, policy);
      EXPECT_TRUE(ignored.ok()) << ReasonName(ignored.reason) << ": " << ignored.detail;
    }
  }
  EXPECT_EQ(legacy, 5);
}

}  // namespace
}  // namespace layerseal
