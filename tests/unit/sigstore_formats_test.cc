// The sigstore format parsers (verifier/sigstore/{json,bundle,trusted_root,dsse,
// simple_signing,entity}.h): every bundle and trusted root of the sigstore-conformance corpus
// (../shared/conformance/sigstore, read in place), plus hand-made hostile inputs.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/dsse.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/json.h"
#include "verifier/sigstore/simple_signing.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string CorpusDir() {
  const char* dir = std::getenv("LAYERSEAL_SHARED_DIR");
  std::string shared = dir != nullptr && *dir != '\0' ? dir : StrCat(LAYERSEAL_SOURCE_DIR, "/../shared");
  return StrCat(shared, "/conformance/sigstore");
}

std::string ReadOrDie(const std::filesystem::path& p) {
  absl::StatusOr<std::string> bytes = ReadFileLimited(p, 4 << 20, "");
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::vector<std::filesystem::path> CaseDirs() {
  std::vector<std::filesystem::path> out;
  std::filesystem::path root = std::filesystem::path(CorpusDir()) / "bundle-verify";
  if (!std::filesystem::is_directory(root)) return out;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    if (e.is_directory()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The cases docs/design/sigstore-plan.md §4 rejects at step 1 (parse), with a piece of the
// message each must carry (the JSON path or what is wrong).
const std::map<std::string, std::string>& ParseFailures() {
  static const auto* m = new std::map<std::string, std::string>{
      {"bundle-empty-certificate-chain_fail", "x509CertificateChain.certificates"},
      {"bundle-invalid-base64-signature_fail", "messageSignature.signature"},
      {"bundle-malformed-json_fail", "invalid JSON"},
      {"bundle-negative-log-index_fail", "verificationMaterial.tlogEntries[0].logIndex"},
      {"bundle-unknown-version_fail", "mediaType"},
      {"bundle-with-root-cert_fail", "self-signed"},
      {"intoto-missing-inclusion-proof_fail", "inclusionProof"},
      {"invalid-inclusion-proof_fail", "checkpoint"},
      {"rekor2-no-inclusion-proof_fail", "inclusionProof"},
  };
  return *m;
}

TEST(SigstoreCorpus, EveryBundleParsesExceptTheStepOneFailures) {
  std::vector<std::filesystem::path> dirs = CaseDirs();
  ASSERT_EQ(dirs.size(), 70u) << "the conformance corpus at " << CorpusDir()
                              << " is missing or changed (set LAYERSEAL_SHARED_DIR)";
  std::set<std::string> failed;
  for (const auto& dir : dirs) {
    std::string name = dir.filename().string();
    absl::StatusOr<Bundle> b = ParseBundle(ReadOrDie(dir / "bundle.sigstore.json"));
    auto expected = ParseFailures().find(name);
    if (expected == ParseFailures().end()) {
      EXPECT_TRUE(b.ok()) << name << ": " << b.status();
      if (b.ok()) {
        SignedEntity e = FromBundle(*b);
        EXPECT_EQ(e.form, SignedEntity::Form::kBundle);
        EXPECT_EQ(e.message.has_value() + e.dsse.has_value(), 1) << name;
      }
    } else {
      failed.insert(name);
      ASSERT_FALSE(b.ok()) << name << " must not parse";
      EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << name << ": " << b.status();
      EXPECT_THAT(std::string(b.status().message()), HasSubstr(expected->second)) << name;
    }
  }
  EXPECT_EQ(failed.size(), ParseFailures().size());
}

TEST(SigstoreCorpus, HappyPathV01Fields) {
  absl::StatusOr<Bundle> b =
      ParseBundle(ReadOrDie(std::filesystem::path(CorpusDir()) / "bundle-verify/happy-path-v0.1/bundle.sigstore.json"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->version, BundleVersion::kV01);
  EXPECT_EQ(b->material, Bundle::Material::kChain);
  ASSERT_EQ(b->certs_der.size(), 1u);
  ASSERT_EQ(b->tlog.size(), 1u);
  const TlogEntry& e = b->tlog[0];
  EXPECT_EQ(e.log_index, 27246492);
  EXPECT_EQ(HexEncode(e.log_id), "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
  EXPECT_EQ(e.kind, "hashedrekord");
  EXPECT_EQ(e.version, "0.0.1");
  EXPECT_EQ(e.integrated_time, 1689177396);
  ASSERT_TRUE(e.set.has_value());
  ASSERT_TRUE(e.proof.has_value());
  EXPECT_EQ(e.proof->log_index, 23083061);
  EXPECT_EQ(e.proof->tree_size, 23083062);
  EXPECT_EQ(e.proof->hashes.size(), 10u);
  EXPECT_THAT(e.proof->checkpoint, HasSubstr("rekor.sigstore.dev - 2605736670972794746\n23083062\n"));
  EXPECT_THAT(e.body, HasSubstr("\"kind\":\"hashedrekord\""));
  ASSERT_TRUE(b->message.has_value());
  EXPECT_EQ(b->message->digest_algorithm, "SHA2_256");
  EXPECT_EQ(b->message->digest, Sha256(ReadOrDie(std::filesystem::path(CorpusDir()) / "bundle-verify/a.txt")));
}

TEST(SigstoreCorpus, DsseBundleCarriesAStatementWithTheArtifactAsSubject) {
  std::filesystem::path dir = std::filesystem::path(CorpusDir()) / "bundle-verify/happy-path-intoto-in-dsse-v3";
  absl::StatusOr<Bundle> b = ParseBundle(ReadOrDie(dir / "bundle.sigstore.json"));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(b->dsse.has_value());
  EXPECT_EQ(b->dsse->payload_type, dsse::kInTotoPayloadType);
  ASSERT_EQ(b->dsse->signatures.size(), 1u);
  absl::StatusOr<dsse::Statement> st = dsse::ParseStatement(b->dsse->payload);
  ASSERT_TRUE(st.ok()) << st.status();
  std::filesystem::path artifact = std::filesystem::exists(dir / "artifact") ? dir / "artifact" : dir / "../a.txt";
  EXPECT_TRUE(dsse::HasSubjectDigest(*st, Digest::Sha256Of(ReadOrDie(artifact))));
  EXPECT_FALSE(dsse::HasSubjectDigest(*st, Digest::Sha256Of("something else")));
}

TEST(SigstoreCorpus, EveryTrustedRootLoadsExceptTheOneWithoutAValidityStart) {
  std::vector<std::string> paths = {StrCat(CorpusDir(), "/trusted_root.public-good.json")};
  for (const auto& dir : CaseDirs()) {
    if (std::filesystem::exists(dir / "trusted_root.json")) paths.push_back((dir / "trusted_root.json").string());
  }
  ASSERT_GE(paths.size(), 30u);
  for (const std::string& p : paths) {
    absl::StatusOr<TrustedRoot> r = TrustedRoot::LoadFile(p);
    if (p.find("trust-root-tlog-missing-validity-start_fail") != std::string::npos) {
      ASSERT_FALSE(r.ok()) << p;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(r.status().message()), HasSubstr("tlogs[1].publicKey.validFor.start: missing"));
      continue;
    }
    ASSERT_TRUE(r.ok()) << p << ": " << r.status();
    EXPECT_FALSE(r->tlogs().empty()) << p;
    for (const Authority& a : r->fulcio()) EXPECT_NE(a.store, nullptr);
    for (const Authority& a : r->tsas()) EXPECT_NE(a.store, nullptr);
    EXPECT_EQ(r->sha256(), Digest::Sha256Of(ReadOrDie(p)).str());
  }
}

TEST(SigstoreCorpus, PublicGoodRootFindsItsLogs) {
  absl::StatusOr<TrustedRoot> r = TrustedRoot::LoadFile(StrCat(CorpusDir(), "/trusted_root.public-good.json"));
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<std::string> rekor = Base64Decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=");
  ASSERT_TRUE(rekor.ok());
  const LogKey* log = r->FindTlog(*rekor);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->origin, "rekor.sigstore.dev");
  EXPECT_EQ(log->details, PublicKeyDetails::kEcdsaP256Sha256);
  EXPECT_EQ(r->FindCtlog(*rekor), nullptr);
  EXPECT_EQ(r->FindTlog("nope"), nullptr);
  EXPECT_FALSE(r->ctlogs().empty());
  EXPECT_FALSE(r->fulcio().empty());
}

}  // namespace
}  // namespace layerseal::sigstore
