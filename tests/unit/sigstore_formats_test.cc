// The sigstore format parsers (verifier/sigstore/{json,bundle,trusted_root,dsse,
// simple_signing,entity}.h): every bundle and trusted root of the sigstore-conformance corpus
// (../shared/conformance/sigstore, read in place), plus hand-made hostile inputs.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/x509.h>

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
#include "tests/support/shared_dir.h"

namespace layerseal::sigstore {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string CorpusDir() { return layerseal::testing::SigstoreCorpusDir(); }

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


// ---- Hand-made hostile and edge inputs, each derived from a corpus bundle. ----

json CorpusJson(std::string_view case_name) {
  return json::parse(ReadOrDie(std::filesystem::path(CorpusDir()) / "bundle-verify" /
                               std::string(case_name) / "bundle.sigstore.json"));
}

absl::Status ParseStatus(const json& j) { return ParseBundle(j.dump()).status(); }

void ExpectInvalid(const json& j, std::string_view path_part) {
  absl::Status s = ParseStatus(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(path_part))) << s;
}

TEST(SigstoreBundle, SizeDepthAndCountLimits) {
  // 2 MiB: refused before parsing.
  json big = CorpusJson("happy-path-v0.3");
  big["messageSignature"]["signature"] = std::string(2 << 20, 'A');
  EXPECT_EQ(ParseStatus(big).code(), absl::StatusCode::kResourceExhausted);
  // 10,000-deep nesting: an error, not a stack overflow.
  std::string deep = StrCat("{\"mediaType\":", std::string(10000, '['), std::string(10000, ']'), "}");
  EXPECT_EQ(ParseBundle(deep).status().code(), absl::StatusCode::kInvalidArgument);
  // 1,000 tlog entries.
  json many = CorpusJson("happy-path-v0.3");
  json entries = json::array();
  // Small entries (the whole of each would pass the 1 MiB limit): the count is checked first.
  json small = many["verificationMaterial"]["tlogEntries"][0];
  small["canonicalizedBody"] = "e30=";
  small["inclusionProof"]["hashes"] = json::array();
  for (int i = 0; i < 1000; ++i) {
    small["logIndex"] = std::to_string(i);
    entries.push_back(small);
  }
  many["verificationMaterial"]["tlogEntries"] = entries;
  absl::Status s = ParseStatus(many);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("tlogEntries"));
  // 11 chain certificates (v0.1 bundles may carry a chain).
  json chain = CorpusJson("happy-path-v0.1");
  json& certs = chain["verificationMaterial"]["x509CertificateChain"]["certificates"];
  while (certs.size() <= kMaxBundleChainCerts) certs.push_back(certs[0]);
  EXPECT_EQ(ParseStatus(chain).code(), absl::StatusCode::kResourceExhausted);
  // More inclusion-proof hashes than the limit.
  json hashes = CorpusJson("happy-path-v0.3");
  json& h = hashes["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"];
  while (h.size() <= kMaxInclusionProofHashes) h.push_back(h[0]);
  EXPECT_EQ(ParseStatus(hashes).code(), absl::StatusCode::kResourceExhausted);
}

TEST(SigstoreBundle, MediaTypes) {
  EXPECT_EQ(BundleVersionOf("application/vnd.dev.sigstore.bundle+json;version=0.1"), BundleVersion::kV01);
  EXPECT_EQ(BundleVersionOf("application/vnd.dev.sigstore.bundle+json;version=0.2"), BundleVersion::kV02);
  EXPECT_EQ(BundleVersionOf("application/vnd.dev.sigstore.bundle+json;version=0.3"), BundleVersion::kV03);
  EXPECT_EQ(BundleVersionOf("application/vnd.dev.sigstore.bundle.v0.3+json"), BundleVersion::kV03);
  for (const char* bad : {"application/vnd.dev.sigstore.bundle+json;version=99.9",
                          "application/vnd.dev.sigstore.bundle.v0.4+json",
                          "application/vnd.dev.sigstore.bundle+json;version=0.4",
                          "application/vnd.dev.sigstore.bundle+json", "", "APPLICATION/vnd.dev.sigstore.bundle.v0.3+json",
                          "application/vnd.dev.sigstore.bundle.v0.3+json "}) {
    EXPECT_FALSE(BundleVersionOf(bad).has_value()) << bad;
    json j = CorpusJson("happy-path-v0.3-new-mediaType");
    j["mediaType"] = bad;
    ExpectInvalid(j, "mediaType");
  }
  json missing = CorpusJson("happy-path-v0.3-new-mediaType");
  missing.erase("mediaType");
  ExpectInvalid(missing, "mediaType: missing");
}

TEST(SigstoreBundle, BadBase64InEveryField) {
  const std::vector<std::pair<std::string, json::json_pointer>> fields = {
      {"happy-path-v0.3", json::json_pointer("/verificationMaterial/certificate/rawBytes")},
      {"happy-path-v0.3", json::json_pointer("/verificationMaterial/tlogEntries/0/logId/keyId")},
      {"happy-path-v0.3", json::json_pointer("/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp")},
      {"happy-path-v0.3", json::json_pointer("/verificationMaterial/tlogEntries/0/inclusionProof/rootHash")},
      {"happy-path-v0.3", json::json_pointer("/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0")},
      {"happy-path-v0.3", json::json_pointer("/verificationMaterial/tlogEntries/0/canonicalizedBody")},
      {"happy-path-v0.3", json::json_pointer("/messageSignature/messageDigest/digest")},
      {"happy-path-v0.3", json::json_pointer("/messageSignature/signature")},
      {"happy-path-v0.1", json::json_pointer("/verificationMaterial/x509CertificateChain/certificates/0/rawBytes")},
      {"happy-path-intoto-in-dsse-v3", json::json_pointer("/dsseEnvelope/payload")},
      {"happy-path-intoto-in-dsse-v3", json::json_pointer("/dsseEnvelope/signatures/0/sig")},
      {"rekor2-happy-path", json::json_pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp")},
  };
  for (const auto& [name, ptr] : fields) {
    // Each kind of bad base64: a bad character, a space, mixed alphabets, bad padding, stray
    // bits in the last quantum, and a JSON number instead of a string.
    for (const json& bad : {json("AAA!"), json("AA AA"), json("ab+_"), json("A==="), json("AB=="),
                            json("QUJD="), json(12)}) {
      json j = CorpusJson(name);
      ASSERT_TRUE(j.contains(ptr)) << ptr.to_string();
      j[ptr] = bad;
      absl::Status s = ParseStatus(j);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name << " " << ptr.to_string() << " " << bad;
      // The message names the member (its last path component).
      std::string last = ptr.back();
      if (last == "0") last = "[0]";
      EXPECT_THAT(std::string(s.message()), HasSubstr(last)) << s;
    }
  }
}

TEST(SigstoreBundle, ProtojsonSpellingsAreAccepted) {
  json j = CorpusJson("happy-path-v0.3");
  // URL alphabet, no padding; snake_case member names; integers as numbers.
  json& e = j["verificationMaterial"]["tlogEntries"][0];
  std::string sig = j["messageSignature"]["signature"].get<std::string>();
  absl::StatusOr<std::string> raw = Base64Decode(sig);
  ASSERT_TRUE(raw.ok());
  std::string url = sig;
  for (char& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!url.empty() && url.back() == '=') url.pop_back();
  j["messageSignature"]["signature"] = url;
  e["log_index"] = std::stoll(e["logIndex"].get<std::string>());
  e.erase("logIndex");
  e["kind_version"] = e["kindVersion"];
  e.erase("kindVersion");
  absl::StatusOr<Bundle> b = ParseBundle(j.dump());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->message->signature, *raw);
  EXPECT_EQ(b->tlog[0].kind, "hashedrekord");
  // Both spellings of one member: a duplicate.
  e["logIndex"] = "1";
  ExpectInvalid(j, "given twice");
}

TEST(SigstoreBundle, StructuralRules) {
  {  // both contents
    json j = CorpusJson("happy-path-v0.3");
    j["dsseEnvelope"] = CorpusJson("happy-path-intoto-in-dsse-v3")["dsseEnvelope"];
    ExpectInvalid(j, "exactly one of messageSignature and dsseEnvelope");
  }
  {  // no content
    json j = CorpusJson("happy-path-v0.3");
    j.erase("messageSignature");
    ExpectInvalid(j, "exactly one of messageSignature and dsseEnvelope");
  }
  {  // two materials
    json j = CorpusJson("happy-path-v0.3");
    j["verificationMaterial"]["publicKey"] = {{"hint", "abc"}};
    ExpectInvalid(j, "exactly one of publicKey");
  }
  {  // no material
    json j = CorpusJson("happy-path-v0.3");
    j["verificationMaterial"].erase("certificate");
    ExpectInvalid(j, "exactly one of publicKey");
  }
  {  // v0.3 with a chain
    json j = CorpusJson("happy-path-v0.1");
    j["mediaType"] = kBundleMediaTypeV03New;
    ExpectInvalid(j, "x509CertificateChain");
  }
  {  // v0.1 entry without a promise
    json j = CorpusJson("happy-path-v0.1");
    j["verificationMaterial"]["tlogEntries"][0].erase("inclusionPromise");
    ExpectInvalid(j, "tlogEntries[0].inclusionPromise: missing");
  }
  {  // v0.2 entry without a proof; with it and without a promise: fine
    json j = CorpusJson("happy-path-v0.2");
    j["verificationMaterial"]["tlogEntries"][0].erase("inclusionPromise");
    EXPECT_TRUE(ParseStatus(j).ok()) << ParseStatus(j);
    j["verificationMaterial"]["tlogEntries"][0].erase("inclusionProof");
    ExpectInvalid(j, "tlogEntries[0].inclusionProof: missing");
  }
  {  // empty checkpoint envelope
    json j = CorpusJson("happy-path-v0.3");
    j["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] = "";
    ExpectInvalid(j, "checkpoint.envelope: is empty");
  }
  {  // logId.keyId, kindVersion, canonicalizedBody missing
    for (const char* member : {"logId", "kindVersion", "canonicalizedBody", "logIndex"}) {
      json j = CorpusJson("happy-path-v0.3");
      j["verificationMaterial"]["tlogEntries"][0].erase(member);
      ExpectInvalid(j, StrCat("tlogEntries[0].", member, ": missing"));
    }
    json j = CorpusJson("happy-path-v0.3");
    j["verificationMaterial"]["tlogEntries"][0]["logId"] = json::object();
    ExpectInvalid(j, "logId.keyId: missing");
  }
  {  // duplicate (logId, logIndex); same index in another log is fine
    json j = CorpusJson("happy-path-v0.3");
    json& entries = j["verificationMaterial"]["tlogEntries"];
    entries.push_back(entries[0]);
    ExpectInvalid(j, "tlogEntries[1]: a second entry for log index");
    entries[1]["logId"]["keyId"] = Base64Encode(std::string(32, 'x'));
    EXPECT_TRUE(ParseStatus(j).ok()) << ParseStatus(j);
  }
  {  // unknown members, at the top and deep
    json j = CorpusJson("happy-path-v0.3");
    j["extra"] = 1;
    ExpectInvalid(j, "extra: unknown member");
    json k = CorpusJson("happy-path-v0.3");
    k["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["surprise"] = true;
    ExpectInvalid(k, "inclusionProof.surprise: unknown member");
  }
  {  // a DSSE envelope with two signatures
    json j = CorpusJson("happy-path-intoto-in-dsse-v3");
    j["dsseEnvelope"]["signatures"].push_back(j["dsseEnvelope"]["signatures"][0]);
    ExpectInvalid(j, "dsseEnvelope.signatures");
  }
  {  // a certificate that is not DER
    json j = CorpusJson("happy-path-v0.3");
    j["verificationMaterial"]["certificate"]["rawBytes"] = Base64Encode("not a certificate");
    ExpectInvalid(j, "certificate.rawBytes: is not one DER X.509 certificate");
  }
  {  // a root hash that is not 32 bytes
    json j = CorpusJson("happy-path-v0.3");
    j["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"] = Base64Encode("short");
    ExpectInvalid(j, "rootHash");
  }
  {  // duplicate keys in the JSON text
    std::string text = CorpusJson("happy-path-v0.3").dump();
    text.insert(1, "\"mediaType\":\"x\",");
    absl::Status s = ParseBundle(text).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("duplicate key"));
  }
  {  // a key bundle: the hint is kept, no certificates
    absl::StatusOr<Bundle> b = ParseBundle(CorpusJson("managed-key-happy-path").dump());
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->material, Bundle::Material::kPublicKey);
    EXPECT_TRUE(b->certs_der.empty());
    EXPECT_EQ(b->timestamps.size(), 1u);
  }
}

TEST(SigstoreJson, Helpers) {
  EXPECT_EQ(*ProtoInt64(json("-9223372036854775808"), "x"), INT64_MIN);
  EXPECT_EQ(*ProtoInt64(json("9223372036854775807"), "x"), INT64_MAX);
  EXPECT_EQ(*ProtoInt64(json(42), "x"), 42);
  for (const json& bad : {json("9223372036854775808"), json("-9223372036854775809"), json("1e3"),
                          json(" 1"), json(""), json("-"), json(1.5), json(18446744073709551615ull), json(true)}) {
    EXPECT_FALSE(ProtoInt64(bad, "x").ok()) << bad;
  }
  absl::StatusOr<absl::Time> t = ProtoTime(json("2022-12-31T23:59:59.999Z"), "x");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, absl::FromUnixMillis(1672531199999));
  EXPECT_EQ(*ProtoTime(json("2021-01-01T01:00:00+01:00"), "x"), absl::FromUnixSeconds(1609459200));
  for (const json& bad : {json("2021-01-01"), json("2021-01-01 00:00:00Z"), json("yesterday"), json(0)}) {
    EXPECT_FALSE(ProtoTime(bad, "x").ok()) << bad;
  }
  EXPECT_EQ(*ProtoBytes(json(""), "x"), "");
  EXPECT_EQ(*ProtoBytes(json("YQ"), "x"), "a");
  EXPECT_EQ(*ProtoBytes(json("YQ=="), "x"), "a");
  EXPECT_EQ(*ProtoBytes(json("-_8="), "x"), "\xfb\xff");
  EXPECT_EQ(*ProtoBytes(json("YWJj\nZGVm\r\n"), "x"), "abcdef");
  EXPECT_FALSE(ProtoBytes(json("YWJj\tZGVm"), "x").ok());
  EXPECT_FALSE(ProtoBytes(json("Y"), "x").ok());
  json j = {{"log_index", 1}, {"other", nullptr}};
  EXPECT_NE(Member(j, "logIndex"), nullptr);
  EXPECT_EQ(Member(j, "other"), nullptr);  // null reads as unset
  EXPECT_TRUE(CheckFields(j, "p", {"logIndex", "other"}).ok());
  absl::Status s = CheckFields(j, "p", {"logIndex"});
  EXPECT_THAT(std::string(s.message()), HasSubstr("p.other: unknown member"));
  // Messages that quote a long member name are clipped.
  json longkey = {{std::string(100000, 'k'), 1}};
  EXPECT_LT(CheckFields(longkey, "p", {"a"}).message().size(), 2 * kMaxJsonErrorChars + 16);
}

// ---- DSSE ----

TEST(SigstoreDsse, PaeKnownAnswer) {
  // The DSSE specification's example (protocol.md).
  EXPECT_EQ(dsse::Pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(dsse::Pae("", ""), "DSSEv1 0  0 ");
  EXPECT_EQ(dsse::Pae(dsse::kInTotoPayloadType, std::string(1000, 'x')),
            StrCat("DSSEv1 28 application/vnd.in-toto+json 1000 ", std::string(1000, 'x')));
}

TEST(SigstoreDsse, EnvelopeRules) {
  json env = {{"payload", Base64Encode("{}")}, {"payloadType", "t"}, {"signatures", {{{"sig", Base64Encode("s")}, {"keyid", ""}}}}};
  absl::StatusOr<dsse::Envelope> e = dsse::ParseEnvelope(env, "env");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->payload, "{}");
  EXPECT_EQ(e->signatures[0].sig, "s");
  json no_sigs = env;
  no_sigs["signatures"] = json::array();
  EXPECT_THAT(std::string(dsse::ParseEnvelope(no_sigs, "env").status().message()), HasSubstr("env.signatures: is empty"));
  json many = env;
  for (int i = 0; i < 20; ++i) many["signatures"].push_back(env["signatures"][0]);
  EXPECT_EQ(dsse::ParseEnvelope(many, "env").status().code(), absl::StatusCode::kResourceExhausted);
  json no_type = env;
  no_type.erase("payloadType");
  EXPECT_THAT(std::string(dsse::ParseEnvelope(no_type, "env").status().message()), HasSubstr("env.payloadType: missing"));
  json empty_sig = env;
  empty_sig["signatures"][0]["sig"] = "";
  EXPECT_FALSE(dsse::ParseEnvelope(empty_sig, "env").ok());
  EXPECT_FALSE(dsse::ParseEnvelope(json::array(), "env").ok());
}

TEST(SigstoreDsse, StatementSubjects) {
  std::string hex(64, 'a');
  json st = {{"_type", "https://in-toto.io/Statement/v1"},
             {"predicateType", dsse::kCosignSignPredicate},
             {"predicate", json::object()},
             {"subject", {{{"name", "img"}, {"digest", {{"sha256", std::string(64, 'A')}, {"sha512", "xyz"}}}},
                          {{"name", "other"}, {"digest", {{"sha256", std::string(64, 'b')}}}}}}};
  absl::StatusOr<dsse::Statement> s = dsse::ParseStatement(st.dump());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->predicate_type, dsse::kCosignSignPredicate);
  ASSERT_EQ(s->subjects.size(), 2u);
  EXPECT_EQ(s->subjects[0].digest.at("sha256"), hex);  // lowercased
  EXPECT_TRUE(dsse::HasSubjectDigest(*s, *Digest::Parse(StrCat("sha256:", hex))));
  EXPECT_TRUE(dsse::HasSubjectDigest(*s, *Digest::Parse(StrCat("sha256:", std::string(64, 'b')))));
  EXPECT_FALSE(dsse::HasSubjectDigest(*s, *Digest::Parse(StrCat("sha256:", std::string(64, 'c')))));
  EXPECT_FALSE(dsse::HasSubjectDigest(*s, Digest()));
  json v01 = st;
  v01["_type"] = "https://in-toto.io/Statement/v0.1";
  EXPECT_TRUE(dsse::ParseStatement(v01.dump()).ok());
  json bad_type = st;
  bad_type["_type"] = "https://in-toto.io/Statement/v2";
  EXPECT_THAT(std::string(dsse::ParseStatement(bad_type.dump()).status().message()), HasSubstr("_type"));
  json no_subjects = st;
  no_subjects["subject"] = json::array();
  EXPECT_FALSE(dsse::ParseStatement(no_subjects.dump()).ok());
  json many = st;
  many["subject"] = json::array();
  for (size_t i = 0; i <= dsse::kMaxInTotoSubjects; ++i) many["subject"].push_back(st["subject"][1]);
  EXPECT_EQ(dsse::ParseStatement(many.dump()).status().code(), absl::StatusCode::kResourceExhausted);
  json bad_digest = st;
  bad_digest["subject"][0]["digest"]["sha256"] = 5;
  EXPECT_THAT(std::string(dsse::ParseStatement(bad_digest.dump()).status().message()),
              HasSubstr("subject[0].digest.sha256"));
  EXPECT_FALSE(dsse::ParseStatement("{\"_type\":1").ok());
  EXPECT_FALSE(dsse::ParseStatement("[]").ok());
}

// ---- simple signing and the legacy .sig annotations ----

std::string SimpleSigningDoc(std::string_view digest, std::string_view type = kCosignSignatureType) {
  return json{{"critical", {{"identity", {{"docker-reference", "registry.example/app"}}},
                            {"image", {{"docker-manifest-digest", digest}}},
                            {"type", type}}},
              {"optional", nullptr}}
      .dump();
}

TEST(SigstoreSimpleSigning, GoodAndBad) {
  std::string d = StrCat("sha256:", std::string(64, '1'));
  absl::StatusOr<SimpleSigning> s = ParseSimpleSigning(SimpleSigningDoc(d));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->manifest_digest.str(), d);
  EXPECT_EQ(s->docker_reference, "registry.example/app");
  EXPECT_EQ(s->type, kCosignSignatureType);
  json with_optional = json::parse(SimpleSigningDoc(d));
  with_optional["optional"] = {{"creator", "me"}};
  EXPECT_TRUE(ParseSimpleSigning(with_optional.dump()).ok());

  EXPECT_THAT(std::string(ParseSimpleSigning(SimpleSigningDoc(d, "atomic container signature")).status().message()),
              HasSubstr("critical.type"));
  EXPECT_THAT(std::string(ParseSimpleSigning(SimpleSigningDoc("sha256:abc")).status().message()),
              HasSubstr("critical.image.docker-manifest-digest"));
  json extra = json::parse(SimpleSigningDoc(d));
  extra["critical"]["image"]["extra"] = 1;
  EXPECT_THAT(std::string(ParseSimpleSigning(extra.dump()).status().message()), HasSubstr("unknown member"));
  json no_image = json::parse(SimpleSigningDoc(d));
  no_image["critical"].erase("image");
  EXPECT_THAT(std::string(ParseSimpleSigning(no_image.dump()).status().message()), HasSubstr("critical.image: missing"));
  EXPECT_EQ(ParseSimpleSigning(std::string(kMaxSimpleSigningBytes + 1, ' ')).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(ParseSimpleSigning("not json").ok());
}

std::string Pem(std::string_view der) {
  std::string b64 = Base64Encode(der);
  std::string out = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END CERTIFICATE-----\n";
}

// Legacy annotations made from the happy-path-v0.1 bundle's certificate and Rekor entry.
std::map<std::string, std::string> LegacyAnnotations(const Bundle& b) {
  const TlogEntry& e = b.tlog[0];
  json set = {{"SignedEntryTimestamp", Base64Encode(*e.set)},
              {"Payload", {{"body", Base64Encode(e.body)}, {"integratedTime", e.integrated_time},
                           {"logIndex", e.log_index}, {"logID", HexEncode(e.log_id)}}}};
  return {{std::string(kAnnSignature), Base64Encode(b.message->signature)},
          {std::string(kAnnCertificate), Pem(b.certs_der[0])},
          {std::string(kAnnBundle), set.dump()}};
}

TEST(SigstoreLegacy, AnnotationsBecomeAnEntity) {
  absl::StatusOr<Bundle> b = ParseBundle(CorpusJson("happy-path-v0.1").dump());
  ASSERT_TRUE(b.ok()) << b.status();
  std::map<std::string, std::string> ann = LegacyAnnotations(*b);
  // The public-good Fulcio chain (intermediate, root) as the chain annotation: the root is dropped.
  absl::StatusOr<TrustedRoot> root = TrustedRoot::LoadFile(StrCat(CorpusDir(), "/trusted_root.public-good.json"));
  ASSERT_TRUE(root.ok()) << root.status();
  const Authority& fulcio = root->fulcio().back();
  ASSERT_EQ(fulcio.chain.size(), 2u);
  std::string chain_pem;
  for (const auto& x : fulcio.chain) {
    unsigned char* der = nullptr;
    int len = i2d_X509(x.get(), &der);
    ASSERT_GT(len, 0);
    chain_pem += Pem(std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
    OPENSSL_free(der);
  }
  ann[std::string(kAnnChain)] = chain_pem;
  std::string payload = SimpleSigningDoc(StrCat("sha256:", std::string(64, '2')));
  absl::StatusOr<SignedEntity> e = FromLegacySig(payload, ann);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->form, SignedEntity::Form::kLegacySig);
  EXPECT_EQ(e->version, BundleVersion::kV01);
  EXPECT_EQ(e->material, Bundle::Material::kChain);
  ASSERT_EQ(e->certs_der.size(), 2u);  // leaf + intermediate; the self-signed root dropped
  EXPECT_EQ(e->certs_der[0], b->certs_der[0]);
  EXPECT_EQ(e->legacy_payload, payload);
  ASSERT_TRUE(e->message.has_value());
  EXPECT_EQ(e->message->digest_algorithm, "SHA2_256");
  EXPECT_EQ(e->message->digest, Sha256(payload));
  EXPECT_EQ(e->message->signature, b->message->signature);
  ASSERT_EQ(e->tlog.size(), 1u);
  const TlogEntry& t = e->tlog[0];
  EXPECT_EQ(t.kind, "hashedrekord");
  EXPECT_EQ(t.version, "0.0.1");
  EXPECT_EQ(t.log_index, b->tlog[0].log_index);
  EXPECT_EQ(t.log_id, b->tlog[0].log_id);
  EXPECT_EQ(t.integrated_time, b->tlog[0].integrated_time);
  EXPECT_EQ(t.set, b->tlog[0].set);
  EXPECT_EQ(t.body, b->tlog[0].body);
  EXPECT_FALSE(t.proof.has_value());

  // Key-based: only the signature.
  absl::StatusOr<SignedEntity> key = FromLegacySig(payload, {{std::string(kAnnSignature), ann[std::string(kAnnSignature)]}});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->material, Bundle::Material::kPublicKey);
  EXPECT_TRUE(key->certs_der.empty());
  EXPECT_TRUE(key->tlog.empty());
}

TEST(SigstoreLegacy, BadAnnotations) {
  absl::StatusOr<Bundle> b = ParseBundle(CorpusJson("happy-path-v0.1").dump());
  ASSERT_TRUE(b.ok()) << b.status();
  const std::map<std::string, std::string> good = LegacyAnnotations(*b);
  std::string payload = SimpleSigningDoc(StrCat("sha256:", std::string(64, '2')));
  auto with = [&good](std::string_view name, std::string value) {
    std::map<std::string, std::string> a = good;
    a[std::string(name)] = std::move(value);
    return a;
  };
  auto expect = [&payload](const std::map<std::string, std::string>& a, std::string_view part,
                           absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
    absl::Status s = FromLegacySig(payload, a).status();
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(part))) << s;
  };
  std::map<std::string, std::string> no_sig = good;
  no_sig.erase(std::string(kAnnSignature));
  expect(no_sig, "dev.cosignproject.cosign/signature annotation: missing");
  expect(with(kAnnSignature, "not base64!"), "dev.cosignproject.cosign/signature");
  expect(with(kAnnCertificate, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
         "dev.sigstore.cosign/certificate");
  expect(with(kAnnCertificate, "no pem here"), "dev.sigstore.cosign/certificate annotation: holds no PEM");
  expect(with(kAnnCertificate, Pem(b->certs_der[0]) + Pem(b->certs_der[0])), "dev.sigstore.cosign/certificate",
         absl::StatusCode::kResourceExhausted);
  std::map<std::string, std::string> chain_only = with(kAnnChain, Pem(b->certs_der[0]));
  chain_only.erase(std::string(kAnnCertificate));
  expect(chain_only, "given without a certificate");
  expect(with(kAnnBundle, "{"), "dev.sigstore.cosign/bundle");
  json set = json::parse(good.at(std::string(kAnnBundle)));
  json bad_id = set;
  bad_id["Payload"]["logID"] = "xyz";
  expect(with(kAnnBundle, bad_id.dump()), "Payload.logID");
  json neg = set;
  neg["Payload"]["logIndex"] = -1;
  expect(with(kAnnBundle, neg.dump()), "Payload.logIndex");
  json bad_set = set;
  bad_set["SignedEntryTimestamp"] = "@@@@";
  expect(with(kAnnBundle, bad_set.dump()), "SignedEntryTimestamp");
  json bad_body = set;
  bad_body["Payload"]["body"] = Base64Encode("{\"kind\":\"hashedrekord\"}");
  expect(with(kAnnBundle, bad_body.dump()), "Payload.body.apiVersion");
  json extra = set;
  extra["Payload"]["extra"] = 1;
  expect(with(kAnnBundle, extra.dump()), "unknown member");
  expect(with(kAnnTimestamp, "{\"SignedRFC3161Timestamp\":\"!!\"}"), "SignedRFC3161Timestamp");
  expect(with(kAnnChain, std::string(kMaxCosignAnnotationBytes + 1, 'x')), "dev.sigstore.cosign/chain",
         absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromLegacySig(std::string(kMaxSimpleSigningBytes + 1, 'x'), good).status().code(),
            absl::StatusCode::kResourceExhausted);
  // The timestamp annotation, well formed.
  absl::StatusOr<SignedEntity> ts =
      FromLegacySig(payload, with(kAnnTimestamp, json{{"SignedRFC3161Timestamp", Base64Encode("tsr")}}.dump()));
  ASSERT_TRUE(ts.ok()) << ts.status();
  EXPECT_EQ(ts->timestamps, std::vector<std::string>{"tsr"});
}

// ---- trusted roots ----

json PublicGood() { return json::parse(ReadOrDie(StrCat(CorpusDir(), "/trusted_root.public-good.json"))); }

void ExpectRootInvalid(const json& j, std::string_view part, absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  absl::Status s = TrustedRoot::Parse(j.dump(), "test.json").status();
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("trusted root test.json: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(part))) << s;
}

TEST(SigstoreTrustedRoot, Rules) {
  ASSERT_TRUE(TrustedRoot::Parse(PublicGood().dump(), "pg").ok());
  json mt = PublicGood();
  mt["mediaType"] = "application/vnd.dev.sigstore.trustedroot+json;version=0.2";
  ExpectRootInvalid(mt, "mediaType");
  json kd = PublicGood();
  kd["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ECDSA_P256_HMAC_SHA_256";
  ExpectRootInvalid(kd, "tlogs[0].publicKey.keyDetails");
  json mismatch = PublicGood();
  mismatch["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ED25519";
  ExpectRootInvalid(mismatch, "tlogs[0].publicKey.rawBytes: the key is not an Ed25519 key");
  json p384 = PublicGood();
  p384["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ECDSA_P384_SHA_384";
  ExpectRootInvalid(p384, "not an ECDSA secp384r1 key");
  json hash = PublicGood();
  hash["ctlogs"][0]["hashAlgorithm"] = "SHA2_384";
  ExpectRootInvalid(hash, "ctlogs[0].hashAlgorithm");
  json no_start = PublicGood();
  no_start["certificateAuthorities"][0]["validFor"].erase("start");
  ExpectRootInvalid(no_start, "certificateAuthorities[0].validFor.start: missing");
  json no_valid = PublicGood();
  no_valid["timestampAuthorities"][0].erase("validFor");
  ExpectRootInvalid(no_valid, "timestampAuthorities[0].validFor: missing");
  json bad_cert = PublicGood();
  bad_cert["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] = Base64Encode("x");
  ExpectRootInvalid(bad_cert, "certificateAuthorities[0].certChain.certificates[0].rawBytes");
  json many = PublicGood();
  while (many["tlogs"].size() <= kMaxTrustedRootEntries) many["tlogs"].push_back(many["tlogs"][0]);
  ExpectRootInvalid(many, "tlogs", absl::StatusCode::kResourceExhausted);
  json unknown = PublicGood();
  unknown["tlogs"][0]["surprise"] = 1;
  ExpectRootInvalid(unknown, "tlogs[0].surprise: unknown member");
  EXPECT_EQ(TrustedRoot::Parse(std::string(kMaxTrustedRootBytes + 1, ' '), "big").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(TrustedRoot::LoadFile("/nonexistent/trusted_root.json").status().code(), absl::StatusCode::kNotFound);
}

TEST(SigstoreTrustedRoot, KeyTypesOriginsAndPkcs1) {
  // intoto-with-custom-trust-root: a log at http://localhost:8000.
  absl::StatusOr<TrustedRoot> custom = TrustedRoot::LoadFile(
      StrCat(CorpusDir(), "/bundle-verify/intoto-with-custom-trust-root/trusted_root.json"));
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->tlogs()[0].origin, "localhost:8000");
  // invalid-ct-key_fail: a PKCS#1 RSA CT key.
  absl::StatusOr<TrustedRoot> staging = TrustedRoot::LoadFile(
      StrCat(CorpusDir(), "/bundle-verify/invalid-ct-key_fail/trusted_root.json"));
  ASSERT_TRUE(staging.ok()) << staging.status();
  bool rsa = false;
  for (const LogKey& k : staging->ctlogs()) rsa = rsa || k.details == PublicKeyDetails::kRsaPkcs1v15;
  EXPECT_TRUE(rsa);
  // rekor2-happy-path: an Ed25519 Rekor v2 log.
  absl::StatusOr<TrustedRoot> v2 = TrustedRoot::LoadFile(
      StrCat(CorpusDir(), "/bundle-verify/rekor2-happy-path/trusted_root.json"));
  ASSERT_TRUE(v2.ok()) << v2.status();
  const LogKey* ed = nullptr;
  for (const LogKey& k : v2->tlogs()) {
    if (k.details == PublicKeyDetails::kEd25519) ed = &k;
  }
  ASSERT_NE(ed, nullptr);
  EXPECT_EQ(ed->origin, "log2025-alpha1.rekor.sigstage.dev");
  EXPECT_EQ(v2->FindTlog(ed->log_id), ed);
  // An SPKI under PKCS1_RSA_PKCS1V5 is refused (that name means a PKCS#1 RSAPublicKey).
  json j = json::parse(ReadOrDie(StrCat(CorpusDir(), "/bundle-verify/invalid-ct-key_fail/trusted_root.json")));
  for (json& c : j["ctlogs"]) {
    if (c["publicKey"]["keyDetails"] == "PKCS1_RSA_PKCS1V5") {
      c["publicKey"]["rawBytes"] = PublicGood()["tlogs"][0]["publicKey"]["rawBytes"];
    }
  }
  ExpectRootInvalid(j, "is not a DER PKCS#1 RSAPublicKey");
}

TEST(SigstoreTrustedRoot, TimeRangeIsClosed) {
  TimeRange r{absl::FromUnixSeconds(100), absl::FromUnixSeconds(200)};
  EXPECT_FALSE(r.Contains(absl::FromUnixSeconds(99)));
  EXPECT_TRUE(r.Contains(absl::FromUnixSeconds(100)));
  EXPECT_TRUE(r.Contains(absl::FromUnixSeconds(200)));
  EXPECT_FALSE(r.Contains(absl::FromUnixSeconds(200) + absl::Nanoseconds(1)));
  TimeRange open{absl::FromUnixSeconds(100), std::nullopt};
  EXPECT_TRUE(open.Contains(absl::FromUnixSeconds(1) + absl::Hours(24 * 365 * 100)));
  EXPECT_FALSE(open.Contains(absl::FromUnixSeconds(0)));
}

TEST(SigstoreTrustedRoot, FromPartsBuildsMissingStores) {
  absl::StatusOr<TrustedRoot> pg = TrustedRoot::LoadFile(StrCat(CorpusDir(), "/trusted_root.public-good.json"));
  ASSERT_TRUE(pg.ok()) << pg.status();
  Authority a = pg->fulcio().back();
  a.store = nullptr;
  TrustedRoot r = TrustedRoot::FromParts(pg->tlogs(), pg->ctlogs(), {a}, {}, "sha256:x");
  ASSERT_EQ(r.fulcio().size(), 1u);
  EXPECT_NE(r.fulcio()[0].store, nullptr);
  EXPECT_EQ(r.sha256(), "sha256:x");
  EXPECT_NE(r.FindTlog(pg->tlogs()[0].log_id), nullptr);
}

}  // namespace
}  // namespace layerseal::sigstore
