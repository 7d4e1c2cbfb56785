// `layerseal policy import` end to end through the binary: a containers-policy.json (or a
// Notary Project trustpolicy.oci.json with its trust store directory, issue 20) in, a policy
// directory out that `layerseal verify --policy` then uses (reject and
// insecureAcceptAnything make no registry request, so no registry is needed); errors name
// their JSON path and exit 2; nothing is ever overwritten. Certificates for the notation
// trust stores are made by the openssl CLI.
#include <filesystem>

#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/trusted_root_files.h"
#include "verifier/notation/trust.h"
#include "verifier/policy.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using testing::RunResult;
using testing::TempDir;

class CliPolicyImportTest : public ::testing::Test {
 protected:
  RunResult Layerseal(std::vector<std::string> args) {
    args.insert(args.begin(), LAYERSEAL_BINARY);
    auto r = testing::Run(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }
  std::string MakeKey(const std::string& name) {
    auto r = testing::Run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-out", dir_.File(name + ".key")});
    EXPECT_TRUE(r.ok() && r->exit_code == 0);
    r = testing::Run({"openssl", "pkey", "-in", dir_.File(name + ".key"), "-pubout", "-out", dir_.File(name + ".pub")});
    EXPECT_TRUE(r.ok() && r->exit_code == 0);
    return dir_.File(name + ".pub");
  }
  TempDir dir_;
};

TEST_F(CliPolicyImportTest, ImportThenVerify) {
  MakeKey("cosign");
  testing::WriteFileOrDie(dir_.File("policy.json"), R"({
    "default": [{"type": "insecureAcceptAnything"}],
    "transports": {"docker": {
      "": [{"type": "reject"}],
      "registry.example.com/open": [{"type": "insecureAcceptAnything"}],
      "quay.io/acme": [{"type": "sigstoreSigned", "keyPath": "cosign.pub",
                        "signedIdentity": {"type": "matchRepoDigestOrExact"}}]
    }}})");
  std::string out = dir_.File("out");
  RunResult r = Layerseal({"policy", "import", "--containers-policy", dir_.File("policy.json"), "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, StrCat(out, "/policy.yaml\n", out, "/keys/imported-1.pub\n"));
  absl::StatusOr<Policy> p = Policy::LoadFile(out + "/policy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_scope().requirement, Requirement::kReject);
  ASSERT_EQ(p->scopes().size(), 2u);
  EXPECT_EQ(p->key_files(), std::vector<std::string>{out + "/keys/imported-1.pub"});

  // The written policy is what `layerseal verify --policy` uses.
  RunResult open = Layerseal({"verify", "--policy", out + "/policy.yaml", "registry.example.com/open/app:1"});
  EXPECT_EQ(open.exit_code, 0) << open.out << open.err;
  EXPECT_THAT(open.out, HasSubstr("INSECURE_ACCEPT_ANYTHING"));
  RunResult other = Layerseal({"verify", "--policy", out + "/policy.yaml", "registry.example.com/closed:1"});
  EXPECT_EQ(other.exit_code, 1) << other.out << other.err;
  EXPECT_THAT(other.out, HasSubstr("REJECTED_BY_POLICY"));

  // Never overwrites: a second run refuses and leaves the files as they were.
  std::string before = testing::ReadFileOrDie(out + "/policy.yaml");
  RunResult again = Layerseal({"policy", "import", "--containers-policy", dir_.File("policy.json"), "--output", out});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.err, HasSubstr("exists; policy import never overwrites a file"));
  EXPECT_EQ(testing::ReadFileOrDie(out + "/policy.yaml"), before);
}

TEST_F(CliPolicyImportTest, ErrorsNameTheJsonPathAndWriteNothing) {
  testing::WriteFileOrDie(dir_.File("gpg.json"), R"({"default": [{"type": "reject"}], "transports": {"docker": {
    "registry.access.redhat.com": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]}}})");
  RunResult r = Layerseal({"policy", "import", "--containers-policy", dir_.File("gpg.json"), "--output", dir_.File("o")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(R"(transports.docker["registry.access.redhat.com"][0].type: signedBy: GPG signatures cannot be expressed in a layerseal policy)"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("o")));

  RunResult usage = Layerseal({"policy", "import"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--containers-policy FILE or --notation-trust-policy FILE is required"));
  RunResult unknown = Layerseal({"policy", "export"});
  EXPECT_EQ(unknown.exit_code, 2);
}

// Without --output: the policy is printed when it needs no files, else a usage error.
TEST_F(CliPolicyImportTest, PrintWithoutOutput) {
  testing::WriteFileOrDie(dir_.File("plain.json"), R"({"default": [{"type": "reject"}]})");
  RunResult r = Layerseal({"policy", "import", "--containers-policy", dir_.File("plain.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("default: {requirement: reject}\n"));
  EXPECT_TRUE(Policy::Parse(r.out, dir_.path(), "stdout").ok());

  MakeKey("k");
  testing::WriteFileOrDie(dir_.File("keyed.json"), R"({"default": [{"type": "sigstoreSigned", "keyPath": "k.pub"}]})");
  RunResult keyed = Layerseal({"policy", "import", "--containers-policy", dir_.File("keyed.json")});
  EXPECT_EQ(keyed.exit_code, 2);
  EXPECT_THAT(keyed.err, HasSubstr("give --output DIR"));
}

// Keyless (fulcio + Rekor) with --trusted-root: the root is copied next to the policy, and
// the policy loads with it, its identity exact and its log required.
TEST_F(CliPolicyImportTest, KeylessWithTrustedRoot) {
  bool ok = false;
  testing::TrustedRootFiles root = testing::MakeTrustedRoot(dir_.path(), "root", &ok);
  ASSERT_TRUE(ok);
  testing::WriteFileOrDie(dir_.File("keyless.json"), StrCat(R"({"default": [{"type": "reject"}],
    "transports": {"docker": {"ghcr.io/acme": [{"type": "sigstoreSigned",
      "fulcio": {"caPath": "root.ca.pem", "oidcIssuer": "https://token.actions.githubusercontent.com",
                 "subjectEmail": "release@acme.example"},
      "rekorPublicKeyPath": "root.tlog.pub"}]}}})"));
  std::string out = dir_.File("out");
  RunResult r = Layerseal({"policy", "import", "--containers-policy", dir_.File("keyless.json"),
                           "--trusted-root", root.json, "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFileOrDie(out + "/sigstore/trusted_root.json"), testing::ReadFileOrDie(root.json));
  absl::StatusOr<Policy> p = Policy::LoadFile(out + "/policy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->scopes().size(), 1u);
  const ScopePolicy& s = p->scopes()[0];
  EXPECT_EQ(s.signatures, std::vector<SignatureKind>{SignatureKind::kCosign});
  ASSERT_EQ(s.identities.size(), 1u);
  EXPECT_EQ(s.identities[0].issuer, "https://token.actions.githubusercontent.com");
  EXPECT_EQ(s.identities[0].subject, "release@acme.example");
  EXPECT_NE(s.trusted_root, nullptr);
  EXPECT_TRUE(s.require_tlog);
  EXPECT_EQ(p->key_files(), std::vector<std::string>{out + "/sigstore/trusted_root.json"});

  // Without --trusted-root: an error naming the field.
  RunResult no_root = Layerseal({"policy", "import", "--containers-policy", dir_.File("keyless.json"),
                                 "--output", dir_.File("out2")});
  EXPECT_EQ(no_root.exit_code, 2);
  EXPECT_THAT(no_root.err, HasSubstr(R"(transports.docker["ghcr.io/acme"][0].fulcio: needs --trusted-root)"));
}

// ---- Notary Project trust policy (issue 20) ----

class CliNotationImportTest : public CliPolicyImportTest {
 protected:
  // A self-signed CA certificate made by the openssl CLI at `path`.
  void MakeCa(const std::string& path, const std::string& cn) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    auto r = testing::Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-keyout", path + ".key", "-out", path, "-days", "3650", "-subj",
                           "/C=US/ST=WA/O=acme/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
                           "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
    ASSERT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().ToString());
    std::filesystem::remove(path + ".key");  // a trust store holds certificates only
  }
};

constexpr char kTrustPolicy[] = R"({
  "version": "1.0",
  "trustPolicies": [
    {"name": "acme", "registryScopes": ["registry.example.com/app"],
     "signatureVerification": {"level": "strict", "override": {"revocation": "log"}},
     "trustStores": ["ca:acme", "tsa:timestamps"],
     "trustedIdentities": ["x509.subject: C=US, ST=WA, O=acme"]},
    {"name": "open", "registryScopes": ["registry.example.com/open"],
     "signatureVerification": {"level": "skip"}}
  ]})";

TEST_F(CliNotationImportTest, ImportThenLoadAndVerify) {
  // notation's layout: the trust policy beside truststore/ ({NOTATION_CONFIG}).
  MakeCa(dir_.File("notation/truststore/x509/ca/acme/acme.crt"), "acme root");
  MakeCa(dir_.File("notation/truststore/x509/tsa/timestamps/tsa.pem"), "tsa root");
  testing::WriteFileOrDie(dir_.File("notation/trustpolicy.oci.json"), kTrustPolicy);
  std::string out = dir_.File("out");
  RunResult r = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("notation/trustpolicy.oci.json"),
                           "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, StrCat(out, "/policy.yaml\n", out, "/truststore/x509/ca/acme/acme.crt\n", out,
                          "/truststore/x509/tsa/timestamps/tsa.pem\n"));
  EXPECT_EQ(testing::ReadFileOrDie(out + "/truststore/x509/ca/acme/acme.crt"),
            testing::ReadFileOrDie(dir_.File("notation/truststore/x509/ca/acme/acme.crt")));
  absl::StatusOr<Policy> p = Policy::LoadFile(out + "/policy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_scope().requirement, Requirement::kReject);  // no global policy
  ASSERT_EQ(p->scopes().size(), 2u);
  const ScopePolicy& app = p->scopes()[0];
  EXPECT_EQ(app.scope, "registry.example.com/app");
  EXPECT_TRUE(app.exact);
  ASSERT_NE(app.notation, nullptr);
  EXPECT_EQ(app.notation->level, notation::Level::kStrict);
  EXPECT_EQ(app.notation->actions.revocation, notation::Action::kLog);
  ASSERT_EQ(app.notation->stores.size(), 2u);
  EXPECT_EQ(app.notation->trusted_thumbprints.size(), 1u);
  EXPECT_EQ(p->scopes()[1].notation->level, notation::Level::kSkip);
  EXPECT_EQ(p->key_files(), (std::vector<std::string>{out + "/truststore/x509/ca/acme/acme.crt",
                                                       out + "/truststore/x509/tsa/timestamps/tsa.pem"}));

  // The written policy is what `layerseal verify --policy` uses: below an exact scope (and
  // anywhere no statement names) is the default's reject, with no registry request.
  RunResult below = Layerseal({"verify", "--policy", out + "/policy.yaml", "registry.example.com/app/sub:1"});
  EXPECT_EQ(below.exit_code, 1) << below.out << below.err;
  EXPECT_THAT(below.out, HasSubstr("REJECTED_BY_POLICY"));

  // Never overwrites.
  RunResult again = Layerseal({"policy", "import", "--notation-trust-policy",
                               dir_.File("notation/trustpolicy.oci.json"), "--output", out});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.err, HasSubstr("exists; policy import never overwrites a file"));

  // --trust-store elsewhere.
  std::filesystem::rename(dir_.File("notation/truststore"), dir_.File("stores"));
  RunResult moved = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("notation/trustpolicy.oci.json"),
                               "--trust-store", dir_.File("stores"), "--output", dir_.File("out2")});
  EXPECT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_TRUE(Policy::LoadFile(dir_.File("out2/policy.yaml")).ok());
  RunResult gone = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("notation/trustpolicy.oci.json"),
                              "--output", dir_.File("out3")});
  EXPECT_EQ(gone.exit_code, 2);
  EXPECT_THAT(gone.err, HasSubstr("trustPolicies[0].trustStores[0]: the trust store directory "));
  EXPECT_THAT(gone.err, HasSubstr("does not exist"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out3")));
}

TEST_F(CliNotationImportTest, ErrorsAndLoadCheck) {
  testing::WriteFileOrDie(dir_.File("wild.json"), R"({"version": "1.0", "trustPolicies": [
    {"name": "a", "registryScopes": ["registry.example.com/*"], "signatureVerification": {"level": "skip"}}]})");
  RunResult r = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("wild.json"), "--output", dir_.File("o")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("wild.json: trustPolicies[0].registryScopes[0]: '*' only as the whole scope"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("o")));

  // Only skip: no files, so without --output the policy is printed.
  testing::WriteFileOrDie(dir_.File("skip.json"), R"({"version": "1.0", "trustPolicies": [
    {"name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}]})");
  RunResult printed = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("skip.json")});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_THAT(printed.out, HasSubstr("default: {requirement: signed, signatures: [notation], notation: {level: skip}}\n"));
  EXPECT_TRUE(Policy::Parse(printed.out, dir_.path(), "stdout").ok());

  // A store file that is no certificate: written, refused by the load, removed again.
  std::filesystem::create_directories(dir_.File("bad/truststore/x509/ca/acme"));
  testing::WriteFileOrDie(dir_.File("bad/truststore/x509/ca/acme/junk.pem"), "not a certificate\n");
  testing::WriteFileOrDie(dir_.File("bad/trustpolicy.oci.json"), R"({"version": "1.0", "trustPolicies": [
    {"name": "a", "registryScopes": ["registry.example.com/a"], "signatureVerification": {"level": "strict"},
     "trustStores": ["ca:acme"], "trustedIdentities": ["*"]}]})");
  RunResult junk = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("bad/trustpolicy.oci.json"),
                              "--output", dir_.File("o2")});
  EXPECT_EQ(junk.exit_code, 2);
  EXPECT_THAT(junk.err, HasSubstr("the written policy does not load (removed again)"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("o2/policy.yaml")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("o2/truststore/x509/ca/acme/junk.pem")));

  // Flags that belong to the other format, or both formats at once.
  RunResult both = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("skip.json"),
                              "--containers-policy", dir_.File("skip.json")});
  EXPECT_EQ(both.exit_code, 2);
  RunResult root = Layerseal({"policy", "import", "--notation-trust-policy", dir_.File("skip.json"),
                              "--trusted-root", dir_.File("skip.json")});
  EXPECT_EQ(root.exit_code, 2);
  EXPECT_THAT(root.err, HasSubstr("--trusted-root goes with --containers-policy"));
  RunResult store = Layerseal({"policy", "import", "--containers-policy", dir_.File("skip.json"),
                               "--trust-store", dir_.path()});
  EXPECT_EQ(store.exit_code, 2);
  EXPECT_THAT(store.err, HasSubstr("--trust-store goes with --notation-trust-policy"));
  RunResult help = Layerseal({"policy", "import", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--notation-trust-policy FILE"));
}

}  // namespace
}  // namespace layerseal
