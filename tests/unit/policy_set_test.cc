// The policy set (node-agent/policy_set.h): the node policy and namespace files, reload,
// the fingerprint that triggers it (ConfigMap symlink swaps included), and the last-good
// copy the agent starts from when the files cannot be read.
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/policy_set.h"
#include "tests/support/agent_unit.h"
#include "tests/support/files.h"
#include "tests/support/notation_x509_certs.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/policy.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using layerseal::testing::ReadAll;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

// ---------------------------------------------------------------------------------------
// PolicySet

class PolicySetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "keys");
    fs::create_directories(dir_ / "ns");
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    WriteAll(dir_ / "keys/ci.pub", key->public_key().ToPem());
    node_path_ = dir_ / "policy.yaml";
    ns_dir_ = dir_ / "ns";
    WriteAll(node_path_, kNodePolicy);
  }

  std::string NsFile(std::string_view name) const { return StrCat(ns_dir_, "/", name); }
  // A namespace policy (its text varies with `tag` so each has its own version).
  std::string SignedPolicy(std::string_view tag) const {
    return StrCat("# ", tag, "\nversion: 1\nkeys:\n  ci:\n    path: ", dir_.path(),
                  "/keys/ci.pub\ndefault:\n  requirement: signed\n  keys: [ci]\n");
  }
  static std::string Version(std::string_view text) { return Digest::Sha256Of(text).str(); }

  static constexpr std::string_view kNodePolicy = "version: 1\ndefault:\n  requirement: reject\n";
  TempDir dir_;
  std::string node_path_;
  std::string ns_dir_;
};

TEST_F(PolicySetTest, NodePolicyOnly) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, "");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_NE((*set)->node(), nullptr);
  EXPECT_EQ((*set)->node()->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->For("").get(), (*set)->node().get());
  EXPECT_TRUE((*set)->NamespaceVersions().empty());
}

TEST_F(PolicySetTest, MissingNodePolicyFails) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(dir_ / "absent.yaml", "");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("absent.yaml"));
}

TEST_F(PolicySetTest, NamespaceFilePicksThePolicyForThatNamespace) {
  std::string team_a = SignedPolicy("team-a");
  WriteAll(NsFile("team-a.yaml"), team_a);
  WriteAll(NsFile("notes.txt"), "not a policy, not .yaml: ignored");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->For("team-a")->default_scope().requirement, Requirement::kSigned);
  EXPECT_EQ((*set)->For("team-b")->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->For("")->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->node()->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->NamespaceVersions(),
            (std::map<std::string, std::string>{{"team-a", Version(team_a)}}));
}

TEST_F(PolicySetTest, BadNamespaceFileNameFailsNamingTheFile) {
  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a"));
  WriteAll(NsFile("Bad_Name.yaml"), SignedPolicy("bad"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("Bad_Name.yaml"));
}

TEST_F(PolicySetTest, BadPolicyFailsNamingTheFile) {
  WriteAll(NsFile("broken.yaml"), "version: 2\ndefault:\n  requirement: reject\n");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("broken.yaml"));
}

TEST_F(PolicySetTest, MissingNamespaceDirFails) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, dir_ / "nope");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("nope"));
}

TEST_F(PolicySetTest, ReloadPicksUpChanges) {
  std::string team_a = SignedPolicy("team-a");
  WriteAll(NsFile("team-a.yaml"), team_a);
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  std::shared_ptr<const Policy> old_team_a = (*set)->For("team-a");

  std::string team_a2 = SignedPolicy("team-a, second edition");
  std::string team_b = SignedPolicy("team-b");
  WriteAll(NsFile("team-a.yaml"), team_a2);
  WriteAll(NsFile("team-b.yaml"), team_b);
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a2));
  EXPECT_EQ((*set)->For("team-b")->version(), Version(team_b));
  // A caller still holding the old policy keeps it intact.
  EXPECT_EQ(old_team_a->version(), Version(team_a));

  fs::remove(NsFile("team-b.yaml"));
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("team-b")->version(), Version(kNodePolicy));
}

TEST_F(PolicySetTest, FailedReloadKeepsTheOldPolicies) {
  std::string team_a = SignedPolicy("team-a");
  WriteAll(NsFile("team-a.yaml"), team_a);
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();

  // The node policy and team-a change on disk, but a bad file makes the whole reload fail.
  std::string node2 = "version: 1\ndefault:\n  requirement: insecureAcceptAnything\n";
  WriteAll(node_path_, node2);
  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a v2"));
  WriteAll(NsFile("Bad_Name.yaml"), SignedPolicy("bad"));
  absl::Status s = (*set)->Reload();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("Bad_Name.yaml"));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->For("")->version(), Version(kNodePolicy));

  fs::remove(NsFile("Bad_Name.yaml"));
  WriteAll(NsFile("zz.yaml"), "version: 1\ndefault: {requirement: signed}\n");  // no keys
  s = (*set)->Reload();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("zz.yaml"));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->For("zz")->version(), Version(kNodePolicy));

  fs::remove(NsFile("zz.yaml"));
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("")->version(), Version(node2));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(SignedPolicy("team-a v2")));
}

// ConfigMap volumes: "..data" -> "..<timestamp>/" and "<file>" -> "..data/<file>".
TEST_F(PolicySetTest, HiddenEntriesSkipped) {
  std::string team_a = SignedPolicy("team-a");
  std::string stamp = NsFile("..2026_11_23_10_00_00.123456789");
  fs::create_directories(stamp);
  WriteAll(stamp + "/team-a.yaml", team_a);
  fs::create_directory_symlink("..2026_11_23_10_00_00.123456789", NsFile("..data"));
  fs::create_symlink("..data/team-a.yaml", NsFile("team-a.yaml"));
  // Hidden files that would fail both by name and by content if read.
  WriteAll(NsFile("..bad.yaml"), "not: [a policy");
  WriteAll(NsFile(".Hidden_Name.yaml"), "version: 7\n");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->NamespaceVersions().size(), 1u);
}

TEST_F(PolicySetTest, FingerprintChangesWhenAFileChanges) {
  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  std::string f0 = (*set)->Fingerprint();
  EXPECT_EQ((*set)->Fingerprint(), f0);

  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a, longer second edition"));
  std::string f1 = (*set)->Fingerprint();
  EXPECT_NE(f1, f0);

  WriteAll(node_path_, "version: 1\ndefault:\n  requirement: insecureAcceptAnything\n");
  std::string f2 = (*set)->Fingerprint();
  EXPECT_NE(f2, f1);

  WriteAll(NsFile("team-b.yaml"), SignedPolicy("team-b"));
  std::string f3 = (*set)->Fingerprint();
  EXPECT_NE(f3, f2);

  fs::remove(NsFile("team-b.yaml"));
  EXPECT_NE((*set)->Fingerprint(), f3);
}

// Issue 20: a notation trust store is a directory; a certificate dropped into it (or taken
// out) changes no file the policy read, only the directory, which the fingerprint watches.
TEST_F(PolicySetTest, FingerprintSeesACertificateAddedToATrustStore) {
  namespace nx = layerseal::testing::notation_x509;
  auto ca = [](const std::string& cn) {
    nx::CertPtr c = nx::MakeCert({.subject = nx::Subject(cn), .key = nx::SharedKey("P-256").get(),
                                  .exts = nx::CaExts()});
    return nx::Pem(c.get());
  };
  fs::create_directories(dir_ / "store");
  WriteAll(dir_ / "store/root.pem", ca("root one"));
  WriteAll(node_path_, "version: 1\ntrustStores:\n  acme: {type: ca, path: store}\n"
                       "default:\n  requirement: signed\n  signatures: [notation]\n  notation:\n"
                       "    level: permissive\n    trustStores: [acme]\n"
                       "    trustedIdentities: [\"*\"]\n");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  std::string f0 = (*set)->Fingerprint();
  EXPECT_EQ((*set)->Fingerprint(), f0);

  WriteAll(dir_ / "store/root-two.pem", ca("root two"));
  std::string f1 = (*set)->Fingerprint();
  EXPECT_NE(f1, f0) << "a certificate added to the store went unnoticed";
  fs::remove(dir_ / "store/root-two.pem");
  EXPECT_NE((*set)->Fingerprint(), f1) << "a certificate removed from the store went unnoticed";
}

// A ConfigMap update swaps the "..data" symlink to a new timestamped directory: the
// fingerprint changes and a reload reads the new file through the "<ns>.yaml" symlink.
TEST_F(PolicySetTest, ConfigMapSymlinkSwap) {
  std::string v1 = SignedPolicy("team-a v1");
  std::string v2 = SignedPolicy("team-a v2");
  fs::create_directories(NsFile("..t1"));
  fs::create_directories(NsFile("..t2"));
  WriteAll(NsFile("..t1/team-a.yaml"), v1);
  WriteAll(NsFile("..t2/team-a.yaml"), v2);
  fs::create_directory_symlink("..t1", NsFile("..data"));
  fs::create_symlink("..data/team-a.yaml", NsFile("team-a.yaml"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->For("team-a")->version(), Version(v1));
  std::string f0 = (*set)->Fingerprint();

  fs::create_directory_symlink("..t2", NsFile("..data_tmp"));
  fs::rename(NsFile("..data_tmp"), NsFile("..data"));  // atomic, as the kubelet does
  EXPECT_NE((*set)->Fingerprint(), f0);
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("team-a")->version(), Version(v2));
}

TEST_F(PolicySetTest, FingerprintSeesASameSizeRewrite) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, "");
  ASSERT_TRUE(set.ok()) << set.status();
  std::string f0 = (*set)->Fingerprint();
  // Same size, new content, new inode (written aside and renamed over, like editors do).
  std::string next = "version: 1\ndefault:\n  requirement: rejecT\n";
  ASSERT_EQ(next.size(), kNodePolicy.size());
  WriteAll(node_path_ + ".new", next);
  fs::rename(node_path_ + ".new", node_path_);
  EXPECT_NE((*set)->Fingerprint(), f0);
}

// ---------------------------------------------------------------------------------------
// The last-good policy copy (PolicySet::SaveLastGood / LoadLastGood), helper "policy".

class LastGoodPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "etc/keys");
    fs::create_directories(dir_ / "etc/ns");
    fs::create_directories(dir_ / "state");
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    WriteAll(dir_ / "etc/keys/ci.pub", key->public_key().ToPem());
    // Relative key paths, as docs/policy.md recommends: the copy must carry the key.
    WriteAll(node_path_, "version: 1\nkeys:\n  ci: {path: keys/ci.pub}\n"
                         "default: {requirement: signed, keys: [ci]}\n");
    WriteAll(ns_dir_ + "/team-a.yaml", "version: 1\nkeys:\n  ci: {path: ../keys/ci.pub}\n"
                                       "default: {requirement: reject}\n");
  }

  std::unique_ptr<PolicySet> Loaded() {
    absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? *std::move(set) : PolicySet::Empty(node_path_, ns_dir_);
  }
  std::string Message(const absl::Status& s) { return std::string(Sv(s.message())); }

  TempDir dir_;
  std::string node_path_ = dir_ / "etc/policy.yaml";
  std::string ns_dir_ = dir_ / "etc/ns";
  std::string copy_ = dir_ / "state/policy.last-good";
  std::string key_dir_ = dir_ / "state/policy.last-good.keys";
};

TEST_F(LastGoodPolicyTest, EmptySetHasNoPolicy) {
  std::unique_ptr<PolicySet> set = PolicySet::Empty(node_path_, ns_dir_);
  EXPECT_EQ(set->origin(), PolicyOrigin::kNone);
  EXPECT_EQ(set->node(), nullptr);
  EXPECT_EQ(set->For("team-a"), nullptr);
  EXPECT_EQ(set->version(), "");
  EXPECT_EQ(PolicyOriginName(set->origin()), "none");
  // Nothing to save: a copy of "no policy" would be a deny-all written over a good copy.
  absl::Status saved = set->SaveLastGood(copy_);
  EXPECT_EQ(saved.code(), absl::StatusCode::kFailedPrecondition) << saved;
  EXPECT_FALSE(fs::exists(copy_));
  ASSERT_TRUE(set->Reload().ok());
  EXPECT_EQ(set->origin(), PolicyOrigin::kFiles);
  EXPECT_NE(set->node(), nullptr);
}

TEST_F(LastGoodPolicyTest, CopyRestoresEveryPolicyWithItsKeys) {
  std::unique_ptr<PolicySet> set = Loaded();
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  EXPECT_FALSE(fs::exists(copy_ + ".tmp"));
  std::string node_trust = set->node()->trust_version();
  std::string team_trust = set->For("team-a")->trust_version();

  // The files and the key are gone: only the copy can say what the policy was.
  WriteAll(node_path_, std::string("\x00\x01\xff binary", 10));
  fs::remove(dir_ / "etc/keys/ci.pub");
  std::unique_ptr<PolicySet> restarted = PolicySet::Empty(node_path_, ns_dir_);
  absl::Status reload = restarted->Reload();
  ASSERT_FALSE(reload.ok());
  EXPECT_THAT(Message(reload), HasSubstr("policy.yaml"));
  absl::Status loaded = restarted->LoadLastGood(copy_, key_dir_);
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(restarted->origin(), PolicyOrigin::kLastGood);
  EXPECT_EQ(restarted->version(), set->version());
  // Same bytes and the same keys: the same trust version (so remembered verdicts apply).
  EXPECT_EQ(restarted->node()->trust_version(), node_trust);
  EXPECT_EQ(restarted->For("team-a")->trust_version(), team_trust);
  EXPECT_EQ(restarted->For("team-a")->default_scope().requirement, Requirement::kReject);
  EXPECT_EQ(restarted->NamespaceVersions(), set->NamespaceVersions());
  // A copy in force is not a copy source.
  EXPECT_EQ(restarted->SaveLastGood(copy_).code(), absl::StatusCode::kFailedPrecondition);
  // A failed reload keeps the copy in force; a good one replaces it.
  EXPECT_FALSE(restarted->Reload().ok());
  EXPECT_EQ(restarted->origin(), PolicyOrigin::kLastGood);
  WriteAll(node_path_, "version: 1\ndefault: {requirement: reject}\n");
  fs::remove(ns_dir_ + "/team-a.yaml");
  ASSERT_TRUE(restarted->Reload().ok());
  EXPECT_EQ(restarted->origin(), PolicyOrigin::kFiles);
  EXPECT_TRUE(restarted->NamespaceVersions().empty());
}

TEST_F(LastGoodPolicyTest, SaveReplacesTheCopyWhole) {
  std::unique_ptr<PolicySet> set = Loaded();
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  std::string first = ReadAll(copy_);
  std::string node2 = "version: 1\ndefault: {requirement: reject}\n";
  WriteAll(node_path_, node2);
  ASSERT_TRUE(set->Reload().ok());
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  EXPECT_NE(ReadAll(copy_), first);
  std::unique_ptr<PolicySet> other = PolicySet::Empty(node_path_, ns_dir_);
  ASSERT_TRUE(other->LoadLastGood(copy_, key_dir_).ok());
  EXPECT_EQ(other->version(), Digest::Sha256Of(node2).str());
}

TEST_F(LastGoodPolicyTest, DamagedCopiesAreRefusedAndChangeNothing) {
  std::unique_ptr<PolicySet> set = Loaded();
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  nlohmann::json good = nlohmann::json::parse(ReadAll(copy_));
  std::string bad_copy = dir_ / "state/damaged";
  struct Case {
    std::string name, text, expect;
  };
  nlohmann::json bad_format = good;
  bad_format["format"] = 2;
  nlohmann::json escaping_key = good;
  escaping_key["policies"][0]["keys"][0]["path"] = "/../../etc/evil.pub";
  nlohmann::json relative_key = good;
  relative_key["policies"][0]["keys"][0]["path"] = "keys/ci.pub";
  nlohmann::json bad_base64 = good;
  bad_base64["policies"][0]["yaml"] = "%%%not base64%%%";
  nlohmann::json bad_namespace = good;
  bad_namespace["policies"][1]["namespace"] = "Bad_Name";
  nlohmann::json no_node = good;
  no_node["policies"].erase(0);
  nlohmann::json bad_yaml = good;
  bad_yaml["policies"][0]["yaml"] = Base64Encode("version: 2\n");
  std::string text = good.dump();
  for (const Case& c : {Case{"not json", "\x00\x01 garbage", "not JSON"},
                        Case{"truncated", text.substr(0, text.size() / 2), "not JSON"},
                        Case{"empty", "", "not JSON"},
                        Case{"wrong format", bad_format.dump(), "format"},
                        Case{"key escaping the key dir", escaping_key.dump(), "bad key path"},
                        Case{"relative key path", relative_key.dump(), "bad key path"},
                        Case{"bad base64", bad_base64.dump(), "base64"},
                        Case{"bad namespace", bad_namespace.dump(), "Bad_Name"},
                        Case{"no node policy", no_node.dump(), "no node policy"},
                        Case{"policy that does not parse", bad_yaml.dump(), "last-good copy of"}}) {
    SCOPED_TRACE(c.name);
    WriteAll(bad_copy, c.text);
    std::unique_ptr<PolicySet> fresh = PolicySet::Empty(node_path_, ns_dir_);
    absl::Status s = fresh->LoadLastGood(bad_copy, key_dir_);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(Message(s), HasSubstr(c.expect));
    EXPECT_EQ(fresh->origin(), PolicyOrigin::kNone);
    EXPECT_EQ(fresh->node(), nullptr);
    // A set with a policy keeps it.
    EXPECT_FALSE(set->LoadLastGood(bad_copy, key_dir_).ok());
    EXPECT_EQ(set->origin(), PolicyOrigin::kFiles);
  }
  EXPECT_FALSE(fs::exists(dir_.path() + "/etc/evil.pub"));
  EXPECT_FALSE(fs::exists("/etc/evil.pub"));
}

TEST_F(LastGoodPolicyTest, MissingOrOversizedCopyIsRefused) {
  std::unique_ptr<PolicySet> set = PolicySet::Empty(node_path_, ns_dir_);
  absl::Status missing = set->LoadLastGood(copy_, key_dir_);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(Message(missing), HasSubstr("policy.last-good"));
  WriteAll(copy_, "{");
  fs::resize_file(copy_, kMaxLastGoodBytes + 1);  // sparse: cheap to make, refused unread
  absl::Status big = set->LoadLastGood(copy_, key_dir_);
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted) << big;
  EXPECT_EQ(set->origin(), PolicyOrigin::kNone);
}

TEST_F(LastGoodPolicyTest, SaveFailureIsAnErrorNamingThePath) {
  std::unique_ptr<PolicySet> set = Loaded();
  absl::Status s = set->SaveLastGood(dir_ / "no-such-dir/policy.last-good");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(Message(s), HasSubstr("no-such-dir"));
}

}  // namespace
}  // namespace layerseal::agent
