// The sigstore-conformance bundle-verify corpus (../shared/conformance/sigstore, read-only,
// never copied into the project) through `layerseal verify-bundle`, one process per case, with
// the command line the suite's runner builds (docs/cli_protocol.md, bundle-verify/README.md).
// A pass case must exit 0; a _fail case must exit non-zero AND be denied for the reason of
// docs/sigstore.md "Conformance" (plan §4): stronger than the suite, which only wants non-zero.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/shared_dir.h"

namespace layerseal {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCorpusCases = 70;
constexpr char kDefaultIdentity[] =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
constexpr char kDefaultIssuer[] = "https://token.actions.githubusercontent.com";
// An input layerseal refuses before judging (a trusted root or key file that does not load):
// exit 2 with a message on stderr, no verdict.
constexpr char kInputError[] = "exit 2";

// The reason each _fail case must be denied for (docs/sigstore.md "Conformance").
const std::map<std::string, std::string>& ExpectedFailures() {
  static const auto* m = new std::map<std::string, std::string>{
      {"bundle-empty-certificate-chain_fail", "MALFORMED_SIGNATURE"},
      {"bundle-from-wrong-instance_fail", "BAD_TLOG_ENTRY"},
      {"bundle-invalid-base64-signature_fail", "MALFORMED_SIGNATURE"},
      {"bundle-malformed-json_fail", "MALFORMED_SIGNATURE"},
      {"bundle-negative-log-index_fail", "MALFORMED_SIGNATURE"},
      {"bundle-unknown-version_fail", "MALFORMED_SIGNATURE"},
      {"bundle-with-root-cert_fail", "MALFORMED_SIGNATURE"},
      {"checkpoint-bad-keyhint_fail", "BAD_TLOG_ENTRY"},
      {"checkpoint-wrong-roothash_fail", "BAD_TLOG_ENTRY"},
      {"dsse-invalid-sig_fail", "TLOG_MISMATCH"},
      {"dsse-mismatch-envelope_fail", "TLOG_MISMATCH"},
      {"dsse-mismatch-sig_fail", "TLOG_MISMATCH"},
      {"inclusion-proof-corrupted-hash_fail", "BAD_TLOG_ENTRY"},
      // The certificate was changed inside the logged body, so the SET over that body fails
      // (4d) before the body is compared with the bundle (4f). Plan §4 said TLOG_MISMATCH.
      {"incorrect-public-key_fail", "BAD_TLOG_ENTRY"},
      {"integrated-time-in-future_fail", "UNTRUSTED_CERTIFICATE"},
      {"intoto-expired-certificate_fail", "UNTRUSTED_CERTIFICATE"},
      {"intoto-log-entry-mismatch_fail", "TLOG_MISMATCH"},
      {"intoto-missing-inclusion-proof_fail", "MALFORMED_SIGNATURE"},
      {"intoto-set-outside-signing-cert-validity_fail", "UNTRUSTED_CERTIFICATE"},
      {"intoto-tsa-timestamp-outside-cert-validity_fail", "UNTRUSTED_CERTIFICATE"},
      {"invalid-checkpoint-signature_fail", "BAD_TLOG_ENTRY"},
      {"invalid-ct-key_fail", "BAD_SCT"},
      {"invalid-inclusion-proof_fail", "MALFORMED_SIGNATURE"},
      {"managed-key-no-key_fail", "UNTRUSTED_KEY"},
      {"managed-key-wrong-key_fail", kInputError},  // key.pub is not a key
      {"message-digest-mismatch_fail", "SUBJECT_MISMATCH"},
      {"rekor2-checkpoint-missing-log-signature_fail", "BAD_TLOG_ENTRY"},
      {"rekor2-checkpoint-missing-origin_fail", "BAD_TLOG_ENTRY"},
      {"rekor2-checkpoint-missing-root-hash_fail", "BAD_TLOG_ENTRY"},
      {"rekor2-checkpoint-missing-size_fail", "BAD_TLOG_ENTRY"},
      {"rekor2-checkpoint-no-matching-signature_fail", "BAD_TLOG_ENTRY"},
      {"rekor2-dsse-invalid-sig_fail", "TLOG_MISMATCH"},
      {"rekor2-dsse-mismatch-envelope_fail", "TLOG_MISMATCH"},
      {"rekor2-dsse-mismatch-sig_fail", "TLOG_MISMATCH"},
      {"rekor2-no-inclusion-proof_fail", "MALFORMED_SIGNATURE"},
      {"rekor2-no-timestamp_fail", "BAD_TIMESTAMP"},
      {"rekor2-timestamp-outside-trust-root-tsa-validity_fail", "BAD_TIMESTAMP"},
      {"rekor2-timestamp-outside-tsa-cert-validity_fail", "BAD_TIMESTAMP"},
      {"rekor2-timestamp-payload-mismatch_fail", "BAD_TIMESTAMP"},
      {"rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail", "BAD_TIMESTAMP"},
      {"rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail", "BAD_TIMESTAMP"},
      {"rekor2-timestamp-with-incorrect-time_fail", "UNTRUSTED_CERTIFICATE"},
      {"set-invalid-signature_fail", "BAD_TLOG_ENTRY"},
      {"signature-mismatch_fail", "TLOG_MISMATCH"},
      {"trust-root-tlog-missing-validity-start_fail", kInputError},  // root refused at load
      {"wrong-hashedrekord-artifact_fail", "TLOG_MISMATCH"},
      {"wrong-hashedrekord-cert-and-sig_fail", "TLOG_MISMATCH"},
      {"wrong-hashedrekord-entry_fail", "TLOG_MISMATCH"},
      {"wrong-material_fail", "SUBJECT_MISMATCH"},
  };
  return *m;
}

std::string SigstoreDir() { return layerseal::testing::SigstoreCorpusDir(); }

std::string CorpusDir() { return SigstoreDir() + "/bundle-verify"; }

std::vector<std::string> Cases() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(CorpusDir(), ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

class SigstoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    // The "public good production instance" of the corpus: no trusted root is built into
    // layerseal, and --staging/network are refused, so the default root is a file.
    setenv("LAYERSEAL_SIGSTORE_TRUSTED_ROOT", (SigstoreDir() + "/trusted_root.public-good.json").c_str(), 1);
  }
};

TEST(SigstoreConformanceCorpus, HasEveryCaseAndAReasonForEachFailure) {
  std::vector<std::string> cases = Cases();
  ASSERT_EQ(cases.size(), kCorpusCases) << "the corpus at " << CorpusDir() << " changed: update the table";
  size_t fails = 0;
  for (const std::string& c : cases) {
    if (!EndsWith(c, "_fail")) continue;
    ++fails;
    EXPECT_EQ(ExpectedFailures().count(c), 1u) << c << " has no expected reason";
  }
  EXPECT_EQ(fails, ExpectedFailures().size());
  EXPECT_EQ(fails, 49u);
}

TEST_P(SigstoreConformanceTest, Verifies) {
  const std::string name = GetParam();
  const std::string dir = StrCat(CorpusDir(), "/", name);
  // The runner's command line: verify-bundle --bundle B (--certificate-identity I
  // --certificate-oidc-issuer U | --key K) [--trusted-root R] ARTIFACT, in that order.
  std::vector<std::string> argv = {LAYERSEAL_BINARY, "verify-bundle", "--bundle", dir + "/bundle.sigstore.json"};
  if (fs::exists(dir + "/key.pub")) {
    argv.insert(argv.end(), {"--key", dir + "/key.pub"});
  } else {
    std::string identity = fs::exists(dir + "/identity") ? ReadText(dir + "/identity") : kDefaultIdentity;
    std::string issuer = fs::exists(dir + "/issuer") ? ReadText(dir + "/issuer") : kDefaultIssuer;
    argv.insert(argv.end(), {"--certificate-identity", identity, "--certificate-oidc-issuer", issuer});
  }
  if (fs::exists(dir + "/trusted_root.json")) argv.insert(argv.end(), {"--trusted-root", dir + "/trusted_root.json"});
  argv.push_back(fs::exists(dir + "/artifact") ? dir + "/artifact" : CorpusDir() + "/a.txt");

  absl::StatusOr<testing::RunResult> r = testing::Run(argv, "", absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  SCOPED_TRACE(StrCat("stdout: ", r->out, "\nstderr: ", r->err));
  nlohmann::json verdict = nlohmann::json::parse(r->out, nullptr, false);
  if (!EndsWith(name, "_fail")) {
    EXPECT_EQ(r->exit_code, 0);
    ASSERT_FALSE(verdict.is_discarded());
    EXPECT_EQ(verdict["reason"], "VERIFIED");
    EXPECT_EQ(verdict["decision"], "ALLOW");
    EXPECT_TRUE(verdict["signer"].is_object());
    return;
  }
  EXPECT_NE(r->exit_code, 0);
  auto it = ExpectedFailures().find(name);
  ASSERT_NE(it, ExpectedFailures().end()) << name << " has no expected reason";
  if (it->second == kInputError) {
    EXPECT_EQ(r->exit_code, 2);
    EXPECT_FALSE(r->err.empty());
    return;
  }
  EXPECT_EQ(r->exit_code, 1);
  ASSERT_FALSE(verdict.is_discarded());
  EXPECT_EQ(verdict["decision"], "DENY");
  EXPECT_EQ(verdict["reason"], it->second);
  EXPECT_TRUE(verdict["detail"].is_string() && !verdict["detail"].get<std::string>().empty());
}

std::string CaseDir(const std::string& name) { return StrCat(CorpusDir(), "/", name); }

nlohmann::json RunVerdict(const std::vector<std::string>& argv, int* exit_code) {
  auto r = testing::Run(argv, "", absl::Seconds(60));
  EXPECT_TRUE(r.ok());
  if (!r.ok()) return {};
  *exit_code = r->exit_code;
  nlohmann::json j = nlohmann::json::parse(r->out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r->out << r->err;
  return j.is_discarded() ? nlohmann::json::object() : j;
}

std::string PublicGoodRoot() { return SigstoreDir() + "/trusted_root.public-good.json"; }

// FILE_OR_DIGEST as sha256:<hex>: a message signature and an in-toto subject both verify by
// digest alone; another digest is SUBJECT_MISMATCH.
TEST(SigstoreConformanceCli, ArtifactGivenAsDigest) {
  const std::string a_txt = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
  for (std::string c : {"happy-path-v0.1", "happy-path-intoto-in-dsse-v3"}) {
    SCOPED_TRACE(c);
    int code = -1;
    nlohmann::json v = RunVerdict({LAYERSEAL_BINARY, "verify-bundle", "--bundle", CaseDir(c) + "/bundle.sigstore.json",
                                   "--certificate-identity", kDefaultIdentity, "--certificate-oidc-issuer",
                                   kDefaultIssuer, "--trusted-root", PublicGoodRoot(), a_txt},
                                  &code);
    EXPECT_EQ(code, 0);
    EXPECT_EQ(v["reason"], "VERIFIED") << v.dump();
    v = RunVerdict({LAYERSEAL_BINARY, "verify-bundle", "--bundle", CaseDir(c) + "/bundle.sigstore.json",
                    "--certificate-identity", kDefaultIdentity, "--certificate-oidc-issuer", kDefaultIssuer,
                    "--trusted-root", PublicGoodRoot(), "sha256:" + std::string(64, 'b')},
                   &code);
    EXPECT_EQ(code, 1);
    EXPECT_EQ(v["reason"], "SUBJECT_MISMATCH") << v.dump();
    EXPECT_EQ(v["step"], 2);
  }
}

// Everything verifies but the identity (step 9): UNTRUSTED_IDENTITY, not a bad signature; the
// same for the issuer alone. The signer of a verified bundle is reported.
TEST(SigstoreConformanceCli, OtherIdentityIsUntrusted) {
  const std::string dir = CaseDir("happy-path-v0.2");
  int code = -1;
  nlohmann::json v = RunVerdict({LAYERSEAL_BINARY, "verify-bundle", "--bundle", dir + "/bundle.sigstore.json",
                                 "--certificate-identity", std::string(kDefaultIdentity) + "x",
                                 "--certificate-oidc-issuer", kDefaultIssuer, "--trusted-root", PublicGoodRoot(),
                                 CorpusDir() + "/a.txt"},
                                &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(v["reason"], "UNTRUSTED_IDENTITY") << v.dump();
  EXPECT_EQ(v["step"], 9);
  v = RunVerdict({LAYERSEAL_BINARY, "verify-bundle", "--bundle", dir + "/bundle.sigstore.json",
                  "--certificate-identity", kDefaultIdentity, "--certificate-oidc-issuer",
                  "https://accounts.google.com", "--trusted-root", PublicGoodRoot(), CorpusDir() + "/a.txt"},
                 &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(v["reason"], "UNTRUSTED_IDENTITY") << v.dump();
  v = RunVerdict({LAYERSEAL_BINARY, "verify-bundle", "--bundle", dir + "/bundle.sigstore.json",
                  "--certificate-identity", kDefaultIdentity, "--certificate-oidc-issuer", kDefaultIssuer,
                  "--trusted-root", PublicGoodRoot(), CorpusDir() + "/a.txt"},
                 &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(v["signer"]["kind"], "cosign-keyless") << v.dump();
  EXPECT_EQ(v["signer"]["subject"], kDefaultIdentity);
  EXPECT_EQ(v["signer"]["issuer"], kDefaultIssuer);
  EXPECT_GE(v["signer"]["rekorLogIndex"].get<int64_t>(), 0);
}

// Keyless without any trusted root is an input error; a key without one checks the signature
// alone (no log), and a key the bundle was not signed with is BAD_SIGNATURE.
TEST(SigstoreConformanceCli, NoTrustedRoot) {
  int code = -1;
  auto r = testing::Run({"env", "-u", "LAYERSEAL_SIGSTORE_TRUSTED_ROOT", LAYERSEAL_BINARY, "verify-bundle", "--bundle",
                         CaseDir("happy-path-v0.1") + "/bundle.sigstore.json", "--certificate-identity",
                         kDefaultIdentity, "--certificate-oidc-issuer", kDefaultIssuer, CorpusDir() + "/a.txt"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("trusted root"), std::string::npos) << r->err;
  const std::string key_case = CaseDir("managed-key-happy-path");
  nlohmann::json v = RunVerdict({"env", "-u", "LAYERSEAL_SIGSTORE_TRUSTED_ROOT", LAYERSEAL_BINARY, "verify-bundle",
                                 "--bundle", key_case + "/bundle.sigstore.json", "--key", key_case + "/key.pub",
                                 CorpusDir() + "/a.txt"},
                                &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(v["signer"]["kind"], "cosign-key") << v.dump();
  EXPECT_EQ(v["signer"]["rekorLogIndex"], -1);
  testing::TempDir dir;
  std::string other = dir.File("other.pub");
  ASSERT_EQ(testing::Run({"sh", "-c", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | "
                                      "openssl pkey -pubout -out \"$0\"", other})->exit_code, 0);
  v = RunVerdict({"env", "-u", "LAYERSEAL_SIGSTORE_TRUSTED_ROOT", LAYERSEAL_BINARY, "verify-bundle", "--bundle",
                  key_case + "/bundle.sigstore.json", "--key", other, CorpusDir() + "/a.txt"},
                 &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(v["reason"], "BAD_SIGNATURE") << v.dump();
  // With the root, the log names the signing key, which is not the trusted one.
  v = RunVerdict({LAYERSEAL_BINARY, "verify-bundle", "--bundle", key_case + "/bundle.sigstore.json", "--key", other,
                  "--trusted-root", PublicGoodRoot(), CorpusDir() + "/a.txt"},
                 &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(v["reason"], "UNTRUSTED_KEY") << v.dump();
}

// --staging is refused (nothing is fetched): exit 2, no verdict.
TEST(SigstoreConformanceCli, StagingIsRefused) {
  std::string dir = CorpusDir() + "/happy-path-v0.1";
  auto r = testing::Run({LAYERSEAL_BINARY, "verify-bundle", "--staging", "--bundle", dir + "/bundle.sigstore.json",
                         "--certificate-identity", kDefaultIdentity, "--certificate-oidc-issuer", kDefaultIssuer,
                         CorpusDir() + "/a.txt"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("--staging"), std::string::npos) << r->err;
}

INSTANTIATE_TEST_SUITE_P(Corpus, SigstoreConformanceTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace layerseal
