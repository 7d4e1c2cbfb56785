// The transparency-log pieces of verifier/sigstore (rekor.h, checkpoint.h): RFC 6962 inclusion
// proofs over trees built here (every index of every size 1..64, and tampered proofs), SETs,
// checkpoints and entry bodies of the real entries in the sigstore conformance corpus
// ($LAYERSEAL_SHARED_DIR/conformance/sigstore, default ../shared beside the source tree).
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/checkpoint.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/rekor.h"
#include "verifier/sigstore/trusted_root.h"
#include "tests/support/shared_dir.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Merkle trees (RFC 6962 §2.1), built here independently of the code under test.

std::string Node(const std::string& l, const std::string& r) { return Sha256(StrCat("\x01", l, r)); }

uint64_t SplitPoint(uint64_t n) {  // the largest power of two below n (n > 1)
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

std::string TreeHash(const std::vector<std::string>& leaves, size_t begin, size_t end) {
  if (end - begin == 1) return leaves[begin];
  size_t k = SplitPoint(end - begin);
  return Node(TreeHash(leaves, begin, begin + k), TreeHash(leaves, begin + k, end));
}

// PATH(m, D[begin:end]) of RFC 6962 §2.1.1.
std::vector<std::string> AuditPath(const std::vector<std::string>& leaves, size_t m, size_t begin,
                                   size_t end) {
  if (end - begin == 1) return {};
  size_t k = SplitPoint(end - begin);
  std::vector<std::string> p;
  if (m < k) {
    p = AuditPath(leaves, m, begin, begin + k);
    p.push_back(TreeHash(leaves, begin + k, end));
  } else {
    p = AuditPath(leaves, m - k, begin + k, end);
    p.push_back(TreeHash(leaves, begin, begin + k));
  }
  return p;
}

std::vector<std::string> Leaves(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(LeafHash(StrCat("leaf ", i)));
  return out;
}

TEST(LeafHashTest, IsSha256OfZeroAndBody) {
  EXPECT_EQ(LeafHash("abc"), Sha256(std::string("\0abc", 4)));
  EXPECT_EQ(LeafHash(""), Sha256(std::string(1, '\0')));
}

TEST(InclusionTest, EveryIndexOfEveryTreeUpTo64Verifies) {
  for (size_t n = 1; n <= 64; ++n) {
    std::vector<std::string> leaves = Leaves(n);
    std::string root = TreeHash(leaves, 0, n);
    for (size_t i = 0; i < n; ++i) {
      std::vector<std::string> path = AuditPath(leaves, i, 0, n);
      EXPECT_TRUE(VerifyInclusion(leaves[i], i, n, path, root).ok()) << "index " << i << " size " << n;
    }
  }
}

TEST(InclusionTest, TamperedProofsFail) {
  for (size_t n = 1; n <= 64; ++n) {
    std::vector<std::string> leaves = Leaves(n);
    std::vector<std::string> bigger = Leaves(n + 1);
    std::string root = TreeHash(leaves, 0, n);
    std::string root_bigger = TreeHash(bigger, 0, n + 1);
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE(StrCat("index ", i, " size ", n));
      std::vector<std::string> path = AuditPath(leaves, i, 0, n);
      // A flipped bit in each hash of the path.
      for (size_t h = 0; h < path.size(); ++h) {
        std::vector<std::string> bad = path;
        bad[h][h % 32] ^= 0x01;
        EXPECT_FALSE(VerifyInclusion(leaves[i], i, n, bad, root).ok()) << "hash " << h;
      }
      // Another leaf, another root, a flipped leaf.
      EXPECT_FALSE(VerifyInclusion(LeafHash("other"), i, n, path, root).ok());
      std::string other_root = root;
      other_root[31] ^= 0x80;
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, n, path, other_root).ok());
      // The proof for this tree size checked as one for the next size (its root, its size).
      // (Against its own root under size n + 1 it may pass where both trees give the path the
      // same shape, e.g. index 0 of 3 and of 4: the checkpoint binds the size to the root.)
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, n + 1, path, root_bigger).ok());
      // Another index, where there is one.
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion(leaves[i], (i + 1) % n, n, path, root).ok());
      }
      // One hash too many, one too few.
      std::vector<std::string> longer = path;
      longer.push_back(root);
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, n, longer, root).ok());
      if (!path.empty()) {
        std::vector<std::string> shorter(path.begin(), path.end() - 1);
        EXPECT_FALSE(VerifyInclusion(leaves[i], i, n, shorter, root).ok());
      }
    }
    // Index out of the tree.
    EXPECT_FALSE(VerifyInclusion(leaves[0], n, n, AuditPath(leaves, 0, 0, n), root).ok());
  }
}

TEST(InclusionTest, MalformedInputsFail) {
  std::vector<std::string> leaves = Leaves(5);
  std::string root = TreeHash(leaves, 0, 5);
  std::vector<std::string> path = AuditPath(leaves, 2, 0, 5);
  ASSERT_TRUE(VerifyInclusion(leaves[2], 2, 5, path, root).ok());
  EXPECT_THAT(std::string(VerifyInclusion(leaves[2], 2, 0, path, root).message()), HasSubstr("index"));
  std::vector<std::string> short_hash = path;
  short_hash[0].pop_back();
  EXPECT_THAT(std::string(VerifyInclusion(leaves[2], 2, 5, short_hash, root).message()), HasSubstr("32"));
  EXPECT_FALSE(VerifyInclusion(leaves[2].substr(1), 2, 5, path, root).ok());
  EXPECT_FALSE(VerifyInclusion(leaves[2], 2, 5, path, root.substr(1)).ok());
  std::vector<std::string> huge(kMaxInclusionProofHashes + 1, std::string(32, 'a'));
  absl::Status st = VerifyInclusion(leaves[2], 2, UINT64_MAX, huge, root);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(st.message()), HasSubstr("kMaxInclusionProofHashes"));
  // The largest tree has 64 levels: a 64-hash proof is allowed, and wrong here.
  std::vector<std::string> deep(64, std::string(32, 'a'));
  EXPECT_EQ(VerifyInclusion(leaves[2], UINT64_MAX - 1, UINT64_MAX, deep, root).code(),
            absl::StatusCode::kPermissionDenied);
}

// ---------------------------------------------------------------------------------------------
// The conformance corpus.

std::string CorpusDir() { return layerseal::testing::SigstoreCorpusDir(); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json ReadJson(const std::string& path) {
  std::string text = ReadFile(path);
  if (text.empty()) ADD_FAILURE() << path << " is missing or empty (set LAYERSEAL_SHARED_DIR)";
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

json CaseBundle(const std::string& name) {
  return ReadJson(StrCat(CorpusDir(), "/bundle-verify/", name, "/bundle.sigstore.json"));
}

std::string B64(const json& j) {
  absl::StatusOr<std::string> b = Base64Decode(j.get<std::string>());
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : std::string();
}

int64_t Int(const json& j) { return j.is_string() ? std::stoll(j.get<std::string>()) : j.get<int64_t>(); }

// A TlogEntry read by hand (bundle.h's ParseBundle belongs to another piece of work).
TlogEntry EntryFromJson(const json& e) {
  TlogEntry t;
  t.log_index = Int(e["logIndex"]);
  t.log_id = B64(e["logId"]["keyId"]);
  t.kind = e["kindVersion"]["kind"];
  t.version = e["kindVersion"]["version"];
  if (e.contains("integratedTime")) t.integrated_time = Int(e["integratedTime"]);
  if (e.contains("inclusionPromise")) t.set = B64(e["inclusionPromise"]["signedEntryTimestamp"]);
  if (e.contains("inclusionProof")) {
    const json& p = e["inclusionProof"];
    InclusionProof proof;
    proof.log_index = Int(p["logIndex"]);
    proof.root_hash = B64(p["rootHash"]);
    proof.tree_size = Int(p["treeSize"]);
    for (const json& h : p["hashes"]) proof.hashes.push_back(B64(h));
    if (p.contains("checkpoint")) proof.checkpoint = p["checkpoint"]["envelope"];
    t.proof = proof;
  }
  t.body = B64(e["canonicalizedBody"]);
  return t;
}

TlogEntry CaseEntry(const std::string& name) {
  json b = CaseBundle(name);
  return EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]);
}

std::string Host(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  return rest.substr(0, rest.find('/'));
}

// The LogKey of a trusted_root.json tlog, built by hand (TrustedRoot::Parse is elsewhere).
LogKey LogKeyFromJson(const json& t) {
  LogKey k;
  k.base_url = t["baseUrl"];
  k.origin = Host(k.base_url);
  k.log_id = B64(t["logId"]["keyId"]);
  std::string der = B64(t["publicKey"]["rawBytes"]);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(key, nullptr);
  k.key = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
  std::string err;
  const json& vf = t["publicKey"]["validFor"];
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, vf["start"].get<std::string>(), &k.valid_for.start, &err)) << err;
  if (vf.contains("end") && vf["end"].is_string()) {
    absl::Time end;
    EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, vf["end"].get<std::string>(), &end, &err)) << err;
    k.valid_for.end = end;
  }
  return k;
}

LogKey PublicGoodRekor() {
  json root = ReadJson(StrCat(CorpusDir(), "/trusted_root.public-good.json"));
  return LogKeyFromJson(root["tlogs"][0]);
}

LogKey CaseLog(const std::string& name, const std::string& log_id) {
  json root = ReadJson(StrCat(CorpusDir(), "/bundle-verify/", name, "/trusted_root.json"));
  for (const json& t : root["tlogs"]) {
    if (B64(t["logId"]["keyId"]) == log_id) return LogKeyFromJson(t);
  }
  ADD_FAILURE() << "no tlog in " << name << "'s root has the entry's logId";
  return LogKey{};
}

// ---------------------------------------------------------------------------------------------
// Inclusion proofs of real entries.

absl::Status VerifyEntryProof(const TlogEntry& e) {
  const InclusionProof& p = *e.proof;
  return VerifyInclusion(LeafHash(e.body), static_cast<uint64_t>(p.log_index),
                         static_cast<uint64_t>(p.tree_size), p.hashes, p.root_hash);
}

TEST(CorpusInclusionTest, RealProofsVerify) {
  for (const char* name : {"happy-path-v0.1", "happy-path-intoto-in-dsse-v3", "rekor2-happy-path",
                           "rekor2-dsse-happy-path", "intoto-with-custom-trust-root"}) {
    TlogEntry e = CaseEntry(name);
    ASSERT_TRUE(e.proof.has_value()) << name;
    EXPECT_TRUE(VerifyEntryProof(e).ok()) << name << ": " << VerifyEntryProof(e);
  }
}

TEST(CorpusInclusionTest, CorruptedProofHashFails) {
  TlogEntry e = CaseEntry("inclusion-proof-corrupted-hash_fail");
  EXPECT_EQ(VerifyEntryProof(e).code(), absl::StatusCode::kPermissionDenied);
}

TEST(CorpusInclusionTest, GlobalIndexIsNotTheProofIndexInRekorV1) {
  // Rekor v1 proofs use the shard-local index: the entry's global index is not in the tree.
  TlogEntry e = CaseEntry("happy-path-v0.1");
  EXPECT_NE(e.log_index, e.proof->log_index);
  EXPECT_FALSE(VerifyInclusion(LeafHash(e.body), static_cast<uint64_t>(e.log_index),
                               static_cast<uint64_t>(e.proof->tree_size), e.proof->hashes, e.proof->root_hash)
                   .ok());
}

// ---------------------------------------------------------------------------------------------
// SETs.

TEST(SetTest, PayloadIsCanonicalJson) {
  TlogEntry e = CaseEntry("happy-path-v0.1");
  std::string p = SetPayload(e);
  EXPECT_EQ(p, StrCat("{\"body\":\"", Base64Encode(e.body),
                      "\",\"integratedTime\":1689177396,\"logID\":"
                      "\"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d\",\"logIndex\":27246492}"));
  // It is the JSON of the same four members, sorted, without spaces.
  json j = json::parse(p);
  EXPECT_EQ(j.dump(), p);
}

TEST(SetTest, PublicGoodLogIdIsSha256OfItsKey) {
  LogKey log = PublicGoodRekor();
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(log.key.get(), &der);
  ASSERT_GT(len, 0);
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  EXPECT_EQ(Sha256(spki), log.log_id);
}

TEST(SetTest, RealSetsVerify) {
  LogKey log = PublicGoodRekor();
  for (const char* name : {"happy-path-v0.1", "happy-path-v0.2", "happy-path-v0.3", "happy-path-intoto-in-dsse-v3",
                           "managed-key-happy-path"}) {
    TlogEntry e = CaseEntry(name);
    absl::Status st = VerifySet(e, log);
    EXPECT_TRUE(st.ok()) << name << ": " << st;
  }
  TlogEntry mock = CaseEntry("intoto-with-custom-trust-root");
  absl::Status st = VerifySet(mock, CaseLog("intoto-with-custom-trust-root", mock.log_id));
  EXPECT_TRUE(st.ok()) << st;
}

TEST(SetTest, InvalidSetSignatureFails) {
  absl::Status st = VerifySet(CaseEntry("set-invalid-signature_fail"), PublicGoodRekor());
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(st.message()), HasSubstr("SET"));
}

TEST(SetTest, EveryMemberOfThePayloadIsSigned) {
  LogKey log = PublicGoodRekor();
  const TlogEntry good = CaseEntry("happy-path-v0.1");
  ASSERT_TRUE(VerifySet(good, log).ok());
  TlogEntry e = good;
  e.integrated_time += 1;
  EXPECT_FALSE(VerifySet(e, log).ok());
  e = good;
  e.log_index += 1;
  EXPECT_FALSE(VerifySet(e, log).ok());
  e = good;
  e.body.back() = ' ';
  EXPECT_FALSE(VerifySet(e, log).ok());
  e = good;
  e.log_id[0] ^= 1;
  EXPECT_FALSE(VerifySet(e, log).ok());
  e = good;
  e.set.reset();
  EXPECT_THAT(std::string(VerifySet(e, log).message()), HasSubstr("no signed entry timestamp"));
  e = good;
  e.set = "";
  EXPECT_FALSE(VerifySet(e, log).ok());
  // Another log's key.
  TlogEntry mock = CaseEntry("intoto-with-custom-trust-root");
  EXPECT_FALSE(VerifySet(good, CaseLog("intoto-with-custom-trust-root", mock.log_id)).ok());
}

TEST(SetTest, ValidityOfTheLogKeyIsAClosedInterval) {
  TlogEntry e = CaseEntry("trust-root-tlog-validity-end-inclusive");
  LogKey log = CaseLog("trust-root-tlog-validity-end-inclusive", e.log_id);
  ASSERT_TRUE(log.valid_for.end.has_value());
  ASSERT_EQ(*log.valid_for.end, absl::FromUnixSeconds(e.integrated_time));
  EXPECT_TRUE(VerifySet(e, log).ok()) << VerifySet(e, log);
  log.valid_for.end = absl::FromUnixSeconds(e.integrated_time - 1);
  EXPECT_THAT(std::string(VerifySet(e, log).message()), HasSubstr("validFor"));
  log.valid_for.end.reset();
  log.valid_for.start = absl::FromUnixSeconds(e.integrated_time + 1);
  EXPECT_THAT(std::string(VerifySet(e, log).message()), HasSubstr("validFor"));
  log.valid_for.start = absl::FromUnixSeconds(e.integrated_time);
  EXPECT_TRUE(VerifySet(e, log).ok());
}

// A log key made here, and `msg` signed by it (ECDSA/RSA with `md`, Ed25519 pure).
struct TestSigner {
  std::shared_ptr<EVP_PKEY> key;
  const EVP_MD* md;
  std::string Sign(std::string_view msg) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.get()), 1);
    size_t len = 0;
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(msg.data()),
                             msg.size()),
              1);
    std::string sig(len, '\0');
    EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(msg.data()), msg.size()),
              1);
    sig.resize(len);
    return sig;
  }
  LogKey Log(std::string_view origin) const {
    LogKey k;
    k.key = key;
    k.origin = std::string(origin);
    k.log_id = Sha256(StrCat("log id of ", origin));
    k.valid_for.start = absl::FromUnixSeconds(0);
    return k;
  }
};

TestSigner MakeSigner(const char* type, const char* curve, const EVP_MD* md) {
  EVP_PKEY* k = curve == nullptr ? EVP_PKEY_Q_keygen(nullptr, nullptr, type)
                                 : EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve);
  EXPECT_NE(k, nullptr);
  return TestSigner{std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free), md};
}

TEST(SetTest, Ed25519AndP384LogKeysSign) {
  TlogEntry e = CaseEntry("happy-path-v0.1");
  for (const TestSigner& s : {MakeSigner("ED25519", nullptr, nullptr), MakeSigner("EC", "P-384", EVP_sha384())}) {
    LogKey log = s.Log("log.example");
    e.log_id = log.log_id;
    e.set = s.Sign(SetPayload(e));
    EXPECT_TRUE(VerifySet(e, log).ok()) << VerifySet(e, log);
    e.log_index += 1;
    EXPECT_FALSE(VerifySet(e, log).ok());
  }
  // A P-384 signature made over SHA-256 is not what a P-384 log signs.
  TestSigner wrong = MakeSigner("EC", "P-384", EVP_sha256());
  LogKey log = wrong.Log("log.example");
  e.log_id = log.log_id;
  e.set = wrong.Sign(SetPayload(e));
  EXPECT_FALSE(VerifySet(e, log).ok());
}

// ---------------------------------------------------------------------------------------------
// Checkpoints.

TEST(CheckpointTest, RekorV1NoteParsesAndVerifies) {
  TlogEntry e = CaseEntry("happy-path-v0.1");
  absl::StatusOr<Checkpoint> c = ParseCheckpoint(e.proof->checkpoint);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->origin, "rekor.sigstore.dev - 2605736670972794746");
  EXPECT_EQ(c->size, 23083062u);
  EXPECT_EQ(c->root_hash, e.proof->root_hash);
  EXPECT_EQ(c->extra, std::vector<std::string>{"Timestamp: 1689177396617352539"});
  EXPECT_EQ(c->signed_text,
            "rekor.sigstore.dev - 2605736670972794746\n23083062\ndauhleYK4YyAdxwwDtR0l0KnSOWZdG2bwqHftlanvcI=\n"
            "Timestamp: 1689177396617352539\n");
  ASSERT_EQ(c->sigs.size(), 1u);
  EXPECT_EQ(c->sigs[0].name, "rekor.sigstore.dev");
  LogKey log = PublicGoodRekor();
  EXPECT_EQ(c->sigs[0].key_hint, log.log_id.substr(0, 4));
  EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok()) << VerifyCheckpoint(*c, log, false);
  // As a Rekor v2 checkpoint it fails: its origin is not the log's host.
  EXPECT_THAT(std::string(VerifyCheckpoint(*c, log, true).message()), HasSubstr("origin"));
  // A tampered text does not verify.
  Checkpoint t = *c;
  t.signed_text[t.signed_text.size() - 2] ^= 1;
  EXPECT_EQ(VerifyCheckpoint(t, log, false).code(), absl::StatusCode::kPermissionDenied);
}

TEST(CheckpointTest, RekorV1DoesNotCheckTheSignerName) {
  // The mock log signs as "localhost:8000"; the name is not signed and v1 does not check it.
  TlogEntry e = CaseEntry("intoto-with-custom-trust-root");
  absl::StatusOr<Checkpoint> c = ParseCheckpoint(e.proof->checkpoint);
  ASSERT_TRUE(c.ok()) << c.status();
  LogKey log = CaseLog("intoto-with-custom-trust-root", e.log_id);
  EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok()) << VerifyCheckpoint(*c, log, false);
  c->sigs[0].name = "someone.else";
  EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok());
}

TEST(CheckpointTest, RekorV1FailingCases) {
  LogKey log = PublicGoodRekor();
  // The key hint is not the log's: no line of the log.
  absl::StatusOr<Checkpoint> c = ParseCheckpoint(CaseEntry("checkpoint-bad-keyhint_fail").proof->checkpoint);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Status st = VerifyCheckpoint(*c, log, false);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(st.message()), HasSubstr("no signature line"));
  // A flipped byte in the signature.
  c = ParseCheckpoint(CaseEntry("invalid-checkpoint-signature_fail").proof->checkpoint);
  ASSERT_TRUE(c.ok()) << c.status();
  st = VerifyCheckpoint(*c, log, false);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(st.message()), HasSubstr("does not verify"));
  // The wrong-root-hash case's checkpoint is a real one, for another tree: it verifies, and
  // its root is not the proof's (the caller's check).
  TlogEntry wrong = CaseEntry("checkpoint-wrong-roothash_fail");
  c = ParseCheckpoint(wrong.proof->checkpoint);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok());
  EXPECT_NE(c->root_hash, wrong.proof->root_hash);
}

TEST(CheckpointTest, EveryLineOfTheLogMustVerify) {
  std::string note = CaseEntry("happy-path-v0.1").proof->checkpoint;
  LogKey log = PublicGoodRekor();
  // A second line with the log's key hint and a bad signature.
  std::string sig_line = note.substr(note.find("\n\n") + 2);
  std::string bad_line = sig_line;
  bad_line[bad_line.size() - 6] = bad_line[bad_line.size() - 6] == 'A' ? 'B' : 'A';
  for (const std::string& n : {note + bad_line, note.substr(0, note.find("\n\n") + 2) + bad_line + sig_line}) {
    absl::StatusOr<Checkpoint> c = ParseCheckpoint(n);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->sigs.size(), 2u);
    EXPECT_EQ(VerifyCheckpoint(*c, log, false).code(), absl::StatusCode::kPermissionDenied);
  }
  // A witness line with another hint is ignored.
  absl::StatusOr<Checkpoint> c = ParseCheckpoint(note + "\xE2\x80\x94 witness.example AAAAAAAAAAAAAAAA\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok());
}

TEST(CheckpointTest, RekorV2PassingCases) {
  for (const char* name : {"rekor2-happy-path", "rekor2-checkpoint-cosigned", "rekor2-checkpoint-multiple-cosigs",
                           "rekor2-checkpoint-origin-not-first", "rekor2-checkpoint-two-sigs-cosigned",
                           "rekor2-checkpoint-two-sigs-from-origin", "rekor2-dsse-happy-path"}) {
    SCOPED_TRACE(name);
    TlogEntry e = CaseEntry(name);
    LogKey log = CaseLog(name, e.log_id);
    ASSERT_NE(log.key, nullptr);
    absl::StatusOr<Checkpoint> c = ParseCheckpoint(e.proof->checkpoint);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->origin, log.origin);
    EXPECT_EQ(c->size, static_cast<uint64_t>(e.proof->tree_size));
    EXPECT_EQ(c->root_hash, e.proof->root_hash);
    EXPECT_TRUE(c->extra.empty());
    EXPECT_TRUE(VerifyCheckpoint(*c, log, true).ok()) << VerifyCheckpoint(*c, log, true);
    // Under another origin name nothing of it is the log's.
    LogKey other = log;
    other.origin = "log.example";
    EXPECT_FALSE(VerifyCheckpoint(*c, other, true).ok());
  }
}

TEST(CheckpointTest, RekorV2LogIdIsTheNoteKeyId) {
  // C2SP signed-note key id: SHA-256(origin || "\n" || 0x01 || raw Ed25519 key).
  TlogEntry e = CaseEntry("rekor2-happy-path");
  LogKey log = CaseLog("rekor2-happy-path", e.log_id);
  size_t len = 32;
  std::string raw(32, '\0');
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(log.key.get(), reinterpret_cast<unsigned char*>(raw.data()), &len), 1);
  EXPECT_EQ(Sha256(StrCat(log.origin, "\n\x01", raw)), log.log_id);
}

TEST(CheckpointTest, RekorV2FailingCases) {
  const std::string kCase = "rekor2-happy-path";
  LogKey log = CaseLog(kCase, CaseEntry(kCase).log_id);
  struct Want {
    const char* name;
    bool parses;
    const char* message;
  };
  for (const Want& w : {Want{"rekor2-checkpoint-missing-log-signature_fail", false, "no signature line"},
                        Want{"rekor2-checkpoint-missing-origin_fail", false, "missing"},
                        Want{"rekor2-checkpoint-missing-root-hash_fail", false, "missing"},
                        Want{"rekor2-checkpoint-missing-size_fail", false, "missing"},
                        Want{"rekor2-checkpoint-no-matching-signature_fail", true, "origin"}}) {
    SCOPED_TRACE(w.name);
    TlogEntry e = CaseEntry(w.name);
    ASSERT_EQ(e.log_id, log.log_id);
    absl::StatusOr<Checkpoint> c = ParseCheckpoint(e.proof->checkpoint);
    ASSERT_EQ(c.ok(), w.parses) << c.status();
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(c.status().message()), HasSubstr(w.message));
      continue;
    }
    absl::Status st = VerifyCheckpoint(*c, log, true);
    EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(st.message()), HasSubstr(w.message));
  }
  // The no-matching-signature note, with the origin line right but the signer name wrong.
  absl::StatusOr<Checkpoint> c =
      ParseCheckpoint(CaseEntry("rekor2-checkpoint-no-matching-signature_fail").proof->checkpoint);
  ASSERT_TRUE(c.ok());
  c->origin = log.origin;
  EXPECT_THAT(std::string(VerifyCheckpoint(*c, log, true).message()), HasSubstr("no signature line"));
}

TEST(CheckpointTest, MalformedNotesAreRefused) {
  const std::string text = "origin.example\n12\n" + Base64Encode(std::string(32, 'r')) + "\n";
  const std::string line = "\xE2\x80\x94 origin.example " + Base64Encode("hint-and-signature") + "\n";
  ASSERT_TRUE(ParseCheckpoint(text + "\n" + line).ok()) << ParseCheckpoint(text + "\n" + line).status();
  struct Bad {
    std::string note;
    const char* message;
  };
  std::string many_ext = text;
  for (size_t i = 0; i <= kMaxNoteExtensionLines; ++i) many_ext += StrCat("ext ", i, "\n");
  std::string many_sigs = text + "\n";
  for (size_t i = 0; i <= kMaxNoteSignatures; ++i) many_sigs += line;
  for (const Bad& b : std::vector<Bad>{
           {"", "newline"},
           {text + "\n" + line.substr(0, line.size() - 1), "newline"},
           {text + line, "blank line"},
           {text + "\n", "no signature line"},
           {"\n12\n" + text.substr(18) + "\n" + line, "no origin line"},
           {"origin.example\n012\n" + Base64Encode(std::string(32, 'r')) + "\n\n" + line, "tree size"},
           {"origin.example\n-1\n" + Base64Encode(std::string(32, 'r')) + "\n\n" + line, "tree size"},
           {"origin.example\n18446744073709551616\n" + Base64Encode(std::string(32, 'r')) + "\n\n" + line,
            "tree size"},
           {"origin.example\n12\n" + Base64Encode(std::string(31, 'r')) + "\n\n" + line, "root hash"},
           {"origin.example\n12\nnot base64!\n\n" + line, "root hash"},
           {text + "\n" + "- origin.example " + Base64Encode("hint-and-signature") + "\n", "does not start"},
           {text + "\n" + "\xE2\x80\x94 origin.example " + Base64Encode("hint") + "\n", "key hint"},
           {text + "\n" + "\xE2\x80\x94 origin.example not-base64\n", "key hint"},
           {text + "\n" + "\xE2\x80\x94 " + Base64Encode("hint-and-signature") + "\n", "no name"},
           {text + "\n" + "\xE2\x80\x94 a+b " + Base64Encode("hint-and-signature") + "\n", "signer name"},
           {text + "\n" + line + "\n", "does not start"},
           {many_ext + "\n" + line, "kMaxNoteExtensionLines"},
           {many_sigs, "kMaxNoteSignatures"},
           {text + "\xFF\n\n" + line, "UTF-8"},
           {"origin\texample\n12\n" + Base64Encode(std::string(32, 'r')) + "\n\n" + line, "control character"},
           {text + std::string(kMaxCheckpointBytes, 'x') + "\n\n" + line, "kMaxCheckpointBytes"},
       }) {
    absl::StatusOr<Checkpoint> c = ParseCheckpoint(b.note);
    ASSERT_FALSE(c.ok()) << b.note;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(b.message)) << b.note;
  }
  // A size of 0 and the largest size parse.
  absl::StatusOr<Checkpoint> c =
      ParseCheckpoint("o\n18446744073709551615\n" + Base64Encode(std::string(32, 'r')) + "\n\n" + line);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->size, UINT64_MAX);
  EXPECT_TRUE(ParseCheckpoint("o\n0\n" + Base64Encode(std::string(32, 'r')) + "\n\n" + line).ok());
}

TEST(CheckpointTest, EcdsaAndEd25519NotesMadeHere) {
  const std::string text = "log.example\n7\n" + Base64Encode(std::string(32, 'r')) + "\nTimestamp: 1\n";
  for (const TestSigner& s : {MakeSigner("ED25519", nullptr, nullptr), MakeSigner("EC", "P-256", EVP_sha256())}) {
    LogKey log = s.Log("log.example");
    std::string note = text + "\n\xE2\x80\x94 log.example " + Base64Encode(log.log_id.substr(0, 4) + s.Sign(text)) + "\n";
    absl::StatusOr<Checkpoint> c = ParseCheckpoint(note);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(VerifyCheckpoint(*c, log, true).ok()) << VerifyCheckpoint(*c, log, true);
    EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok());
    // checkpoint_key_id, when the root gives one, is the hint instead of the log id.
    log.checkpoint_key_id = Sha256("another key id");
    EXPECT_FALSE(VerifyCheckpoint(*c, log, false).ok());
    log.checkpoint_key_id = log.log_id.substr(0, 4) + "rest";
    EXPECT_TRUE(VerifyCheckpoint(*c, log, false).ok());
    // A log id shorter than a hint.
    log.checkpoint_key_id.clear();
    log.log_id = "abc";
    EXPECT_FALSE(VerifyCheckpoint(*c, log, false).ok());
  }
}

// ---------------------------------------------------------------------------------------------
// With the real parsers: ParseBundle's entries and TrustedRoot's log keys.

struct Parsed {
  Bundle bundle;
  TrustedRoot root;
};

Parsed ParseCase(const std::string& name, bool own_root) {
  std::string dir = StrCat(CorpusDir(), "/bundle-verify/", name);
  absl::StatusOr<Bundle> b = ParseBundle(ReadFile(dir + "/bundle.sigstore.json"));
  EXPECT_TRUE(b.ok()) << name << ": " << b.status();
  absl::StatusOr<TrustedRoot> r = TrustedRoot::LoadFile(
      own_root ? dir + "/trusted_root.json" : StrCat(CorpusDir(), "/trusted_root.public-good.json"));
  EXPECT_TRUE(r.ok()) << name << ": " << r.status();
  return Parsed{b.ok() ? *std::move(b) : Bundle{}, r.ok() ? *std::move(r) : TrustedRoot{}};
}

TEST(ParsedCorpusTest, EntriesOfParsedBundlesVerifyAgainstParsedRoots) {
  struct Case {
    const char* name;
    bool own_root;
    bool v2;
  };
  for (const Case& c : {Case{"happy-path-v0.1", false, false}, Case{"happy-path-intoto-in-dsse-v3", false, false},
                        Case{"managed-key-happy-path", false, false},
                        Case{"intoto-with-custom-trust-root", true, false},
                        Case{"rekor2-happy-path", true, true}, Case{"rekor2-checkpoint-origin-not-first", true, true},
                        Case{"rekor2-dsse-happy-path", true, true}}) {
    SCOPED_TRACE(c.name);
    Parsed p = ParseCase(c.name, c.own_root);
    ASSERT_EQ(p.bundle.tlog.size(), 1u);
    const TlogEntry& e = p.bundle.tlog[0];
    const LogKey* log = p.root.FindTlog(e.log_id);
    ASSERT_NE(log, nullptr);
    EXPECT_TRUE(ParseEntryBody(e).ok()) << ParseEntryBody(e).status();
    if (!c.v2) {
      EXPECT_TRUE(VerifySet(e, *log).ok()) << VerifySet(e, *log);
    }
    ASSERT_TRUE(e.proof.has_value());
    absl::StatusOr<Checkpoint> cp = ParseCheckpoint(e.proof->checkpoint);
    ASSERT_TRUE(cp.ok()) << cp.status();
    EXPECT_TRUE(VerifyCheckpoint(*cp, *log, c.v2).ok()) << VerifyCheckpoint(*cp, *log, c.v2);
    EXPECT_EQ(cp->root_hash, e.proof->root_hash);
    EXPECT_TRUE(VerifyEntryProof(e).ok()) << VerifyEntryProof(e);
  }
}

TEST(ParsedCorpusTest, FailingLogCasesFailAgainstParsedRoots) {
  // SET.
  Parsed p = ParseCase("set-invalid-signature_fail", false);
  const LogKey* log = p.root.FindTlog(p.bundle.tlog[0].log_id);
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(VerifySet(p.bundle.tlog[0], *log).ok());
  // Checkpoints: the bad key hint, the bad signature (v1); no line named for the log (v2).
  for (const char* name : {"checkpoint-bad-keyhint_fail", "invalid-checkpoint-signature_fail"}) {
    p = ParseCase(name, false);
    log = p.root.FindTlog(p.bundle.tlog[0].log_id);
    ASSERT_NE(log, nullptr);
    absl::StatusOr<Checkpoint> cp = ParseCheckpoint(p.bundle.tlog[0].proof->checkpoint);
    ASSERT_TRUE(cp.ok()) << cp.status();
    EXPECT_FALSE(VerifyCheckpoint(*cp, *log, false).ok()) << name;
  }
  p = ParseCase("rekor2-checkpoint-no-matching-signature_fail", true);
  log = p.root.FindTlog(p.bundle.tlog[0].log_id);
  ASSERT_NE(log, nullptr);
  absl::StatusOr<Checkpoint> cp = ParseCheckpoint(p.bundle.tlog[0].proof->checkpoint);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_FALSE(VerifyCheckpoint(*cp, *log, true).ok());
  // The corrupted proof hash.
  p = ParseCase("inclusion-proof-corrupted-hash_fail", false);
  EXPECT_FALSE(VerifyEntryProof(p.bundle.tlog[0]).ok());
}

// ---------------------------------------------------------------------------------------------
// Entry bodies.

std::string Pae(const std::string& type, const std::string& payload) {
  return StrCat("DSSEv1 ", type.size(), " ", type, " ", payload.size(), " ", payload);
}

std::string SpkiFromPemFile(const std::string& path) {
  absl::StatusOr<PublicKey> k = PublicKey::FromPem(ReadFile(path));
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? k->ToDer() : std::string();
}

TEST(EntryBodyTest, EveryCorpusBodyOfAKnownKindParses) {
  std::map<std::string, int> kinds;
  std::set<std::string> failed;
  for (const auto& dir : std::filesystem::directory_iterator(StrCat(CorpusDir(), "/bundle-verify"))) {
    std::string bundle = ReadFile(dir.path().string() + "/bundle.sigstore.json");
    if (bundle.empty()) continue;
    json b = json::parse(bundle, nullptr, false);
    if (b.is_discarded()) continue;  // bundle-malformed-json_fail
    for (const json& je : b["verificationMaterial"]["tlogEntries"]) {
      TlogEntry e = EntryFromJson(je);
      absl::StatusOr<EntryBody> body = ParseEntryBody(e);
      if (!body.ok()) {
        failed.insert(dir.path().filename().string());
        continue;
      }
      ++kinds[StrCat(e.kind, " ", e.version)];
      EXPECT_FALSE(body->signatures.empty());
      if (e.kind != "intoto") {
        for (const std::string& sig : body->signatures) EXPECT_FALSE(sig.empty());
      }
      EXPECT_EQ(body->signatures.size(), body->verifiers_der.size());
      EXPECT_EQ(body->signatures.size(), body->verifier_is_cert.size());
      EXPECT_EQ(body->digest_alg, "sha256");
      EXPECT_EQ(body->digest.size(), 32u);
    }
  }
  // The three cases whose bodies are cut down to {"apiVersion":"0.0.1"} fail to parse, and so
  // does the one whose body's certificate was corrupted with its signature.
  EXPECT_EQ(failed, (std::set<std::string>{"bundle-empty-certificate-chain_fail", "bundle-negative-log-index_fail",
                                          "bundle-unknown-version_fail", "bundle-invalid-base64-signature_fail"}));
  EXPECT_GT(kinds["hashedrekord 0.0.1"], 20);
  EXPECT_GT(kinds["hashedrekord 0.0.2"], 20);
  EXPECT_GT(kinds["dsse 0.0.1"], 3);
  EXPECT_EQ(kinds["intoto 0.0.2"], 6);
}

TEST(EntryBodyTest, HashedRekord001HoldsTheBundleSignatureCertificateAndDigest) {
  json b = CaseBundle("happy-path-v0.1");
  absl::StatusOr<EntryBody> body = ParseEntryBody(EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->kind, BodyKind::kHashedRekord001);
  EXPECT_EQ(body->signatures, std::vector<std::string>{B64(b["messageSignature"]["signature"])});
  EXPECT_EQ(body->verifiers_der,
            std::vector<std::string>{B64(b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])});
  EXPECT_EQ(body->verifier_is_cert, std::vector<bool>{true});
  EXPECT_EQ(body->digest, B64(b["messageSignature"]["messageDigest"]["digest"]));
  EXPECT_EQ(body->digest, Sha256(ReadFile(StrCat(CorpusDir(), "/bundle-verify/a.txt"))));
}

TEST(EntryBodyTest, HashedRekord001WithAPublicKey) {
  json b = CaseBundle("managed-key-happy-path");
  absl::StatusOr<EntryBody> body = ParseEntryBody(EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->verifier_is_cert, std::vector<bool>{false});
  std::string spki = SpkiFromPemFile(StrCat(CorpusDir(), "/bundle-verify/managed-key-happy-path/key.pub"));
  EXPECT_EQ(body->verifiers_der, std::vector<std::string>{spki});
  EXPECT_EQ(Base64Encode(Sha256(spki)), b["verificationMaterial"]["publicKey"]["hint"]);
}

TEST(EntryBodyTest, Dsse001HoldsTheEnvelopeSignatureAndPayloadHash) {
  json b = CaseBundle("happy-path-intoto-in-dsse-v3");
  absl::StatusOr<EntryBody> body = ParseEntryBody(EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->kind, BodyKind::kDsse001);
  EXPECT_EQ(body->signatures, std::vector<std::string>{B64(b["dsseEnvelope"]["signatures"][0]["sig"])});
  EXPECT_EQ(body->verifiers_der,
            std::vector<std::string>{B64(b["verificationMaterial"]["certificate"]["rawBytes"])});
  EXPECT_EQ(body->digest, Sha256(B64(b["dsseEnvelope"]["payload"])));
  EXPECT_EQ(body->envelope_hash.size(), 32u);
}

TEST(EntryBodyTest, Intoto002SignatureIsBase64Twice) {
  json b = CaseBundle("intoto-with-custom-trust-root");
  TlogEntry e = EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]);
  absl::StatusOr<EntryBody> body = ParseEntryBody(e);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->kind, BodyKind::kIntoto002);
  EXPECT_EQ(body->signatures, std::vector<std::string>{B64(b["dsseEnvelope"]["signatures"][0]["sig"])});
  EXPECT_EQ(body->verifiers_der,
            std::vector<std::string>{B64(b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"])});
  EXPECT_EQ(body->digest, Sha256(B64(b["dsseEnvelope"]["payload"])));
  // Decoded only once, the sig is not a signature of the bundle.
  json j = json::parse(e.body);
  std::string once = B64(j["spec"]["content"]["envelope"]["signatures"][0]["sig"]);
  EXPECT_NE(once, body->signatures[0]);
  // The log-entry-mismatch case's body holds another signature, base64-encoded only once: its
  // inner text is not base64, so it is no signature (empty), which matches nothing.
  json bad = CaseBundle("intoto-log-entry-mismatch_fail");
  absl::StatusOr<EntryBody> other = ParseEntryBody(EntryFromJson(bad["verificationMaterial"]["tlogEntries"][0]));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->signatures, std::vector<std::string>{""});
}

TEST(EntryBodyTest, HashedRekord002OfAMessageAndOfADsseEnvelope) {
  json b = CaseBundle("rekor2-happy-path");
  absl::StatusOr<EntryBody> body = ParseEntryBody(EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->kind, BodyKind::kHashedRekord002);
  EXPECT_EQ(body->signatures, std::vector<std::string>{B64(b["messageSignature"]["signature"])});
  EXPECT_EQ(body->verifiers_der,
            std::vector<std::string>{B64(b["verificationMaterial"]["certificate"]["rawBytes"])});
  EXPECT_EQ(body->verifier_is_cert, std::vector<bool>{true});
  EXPECT_EQ(body->digest, B64(b["messageSignature"]["messageDigest"]["digest"]));

  json d = CaseBundle("rekor2-dsse-happy-path");
  body = ParseEntryBody(EntryFromJson(d["verificationMaterial"]["tlogEntries"][0]));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->signatures, std::vector<std::string>{B64(d["dsseEnvelope"]["signatures"][0]["sig"])});
  EXPECT_EQ(body->digest, Sha256(Pae(d["dsseEnvelope"]["payloadType"], B64(d["dsseEnvelope"]["payload"]))));
}

// The body of `name`'s first entry, changed by `edit`, and the entry.
TlogEntry Edited(const std::string& name, const std::function<void(json&)>& edit) {
  TlogEntry e = CaseEntry(name);
  json j = json::parse(e.body);
  edit(j);
  e.body = j.dump();
  return e;
}

std::string Error(const TlogEntry& e) {
  absl::StatusOr<EntryBody> b = ParseEntryBody(e);
  EXPECT_FALSE(b.ok());
  if (b.ok()) return "";
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(b.status().message());
}

TEST(EntryBodyTest, KindAndVersionMustMatchTheEntry) {
  TlogEntry e = CaseEntry("happy-path-v0.1");
  ASSERT_TRUE(ParseEntryBody(e).ok());
  TlogEntry t = e;
  t.kind = "dsse";
  EXPECT_THAT(Error(t), HasSubstr("kindVersion"));
  t = e;
  t.version = "0.0.2";
  EXPECT_THAT(Error(t), HasSubstr("kindVersion"));
  t = e;
  t.kind = "rekord";
  EXPECT_THAT(Error(t), HasSubstr("is not hashedrekord"));
  EXPECT_THAT(Error(Edited("happy-path-v0.1", [](json& j) { j["apiVersion"] = "0.0.2"; })), HasSubstr("kindVersion"));
  EXPECT_THAT(Error(Edited("happy-path-v0.1", [](json& j) { j.erase("kind"); })), HasSubstr("kind is missing"));
  t = e;
  t.body = "not json";
  EXPECT_FALSE(ParseEntryBody(t).ok());
  t.body = std::string(kMaxCanonicalizedBodyBytes + 1, ' ');
  EXPECT_THAT(Error(t), HasSubstr("kMaxCanonicalizedBodyBytes"));
}

TEST(EntryBodyTest, MalformedMembersAreRefused) {
  const std::string kHr1 = "happy-path-v0.1";
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["data"]["hash"]["algorithm"] = "md5"; })),
              HasSubstr("spec.data.hash.algorithm"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["data"]["hash"]["value"] = "abc"; })),
              HasSubstr("spec.data.hash.value"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["data"]["hash"]["value"] = std::string(64, 'g'); })),
              HasSubstr("not hex"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["data"]["hash"]["algorithm"] = "sha512"; })),
              HasSubstr("has 32 bytes"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["signature"]["content"] = "a b"; })),
              HasSubstr("spec.signature.content"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["signature"]["content"] = ""; })), HasSubstr("empty"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["signature"]["content"] = 5; })), HasSubstr("not a string"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"]["signature"].erase("publicKey"); })),
              HasSubstr("spec.signature.publicKey is missing"));
  EXPECT_THAT(Error(Edited(kHr1, [](json& j) { j["spec"] = json::array(); })), HasSubstr("not an object"));
  // The verifier PEM: not PEM, another PEM type, two blocks, garbage after the block.
  auto set_pem = [&](const std::string& pem) {
    return Edited(kHr1, [&](json& j) { j["spec"]["signature"]["publicKey"]["content"] = Base64Encode(pem); });
  };
  json good = json::parse(CaseEntry(kHr1).body);
  std::string cert_pem = B64(good["spec"]["signature"]["publicKey"]["content"]);
  ASSERT_TRUE(ParseEntryBody(set_pem(cert_pem)).ok());
  EXPECT_THAT(Error(set_pem("garbage")), HasSubstr("not PEM"));
  EXPECT_THAT(Error(set_pem("junk\n" + cert_pem)), HasSubstr("not PEM"));
  EXPECT_THAT(Error(set_pem(cert_pem + cert_pem)), HasSubstr("more than one PEM block"));
  EXPECT_THAT(Error(set_pem(cert_pem + "x")), HasSubstr("more than one PEM block"));
  std::string key_pem = cert_pem;
  key_pem.replace(key_pem.find("CERTIFICATE"), 11, "PRIVATE KEY");
  key_pem.replace(key_pem.rfind("CERTIFICATE"), 11, "PRIVATE KEY");
  EXPECT_THAT(Error(set_pem(key_pem)), HasSubstr("not a CERTIFICATE or PUBLIC KEY"));
  std::string as_key = cert_pem;
  as_key.replace(as_key.find("CERTIFICATE"), 11, "PUBLIC KEY");
  as_key.replace(as_key.rfind("CERTIFICATE"), 11, "PUBLIC KEY");
  EXPECT_THAT(Error(set_pem(as_key)), HasSubstr("not a DER SubjectPublicKeyInfo"));

  // dsse 0.0.1 and intoto 0.0.2 signature lists.
  EXPECT_THAT(Error(Edited("happy-path-intoto-in-dsse-v3", [](json& j) { j["spec"]["signatures"] = json::array(); })),
              HasSubstr("non-empty array"));
  EXPECT_THAT(Error(Edited("happy-path-intoto-in-dsse-v3",
                           [](json& j) {
                             json s = j["spec"]["signatures"][0];
                             for (size_t i = 0; i < dsse::kMaxEnvelopeSignatures; ++i) j["spec"]["signatures"].push_back(s);
                           })),
              HasSubstr("kMaxEnvelopeSignatures"));
  EXPECT_THAT(Error(Edited("happy-path-intoto-in-dsse-v3",
                           [](json& j) { j["spec"]["signatures"][0]["verifier"] = Base64Encode("x"); })),
              HasSubstr("spec.signatures[0].verifier"));
  // Two signatures: both read, in order.
  TlogEntry two = Edited("happy-path-intoto-in-dsse-v3", [](json& j) {
    j["spec"]["signatures"].push_back(j["spec"]["signatures"][0]);
    j["spec"]["signatures"][1]["signature"] = Base64Encode("second");
  });
  absl::StatusOr<EntryBody> b2 = ParseEntryBody(two);
  ASSERT_TRUE(b2.ok()) << b2.status();
  ASSERT_EQ(b2->signatures.size(), 2u);
  EXPECT_EQ(b2->signatures[1], "second");
  // intoto: a sig encoded once only is no signature; an empty one is refused.
  absl::StatusOr<EntryBody> once = ParseEntryBody(Edited("intoto-with-custom-trust-root", [](json& j) {
    json& s = j["spec"]["content"]["envelope"]["signatures"][0]["sig"];
    s = Base64Encode(B64(B64(s)));
  }));
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->signatures, std::vector<std::string>{""});
  EXPECT_THAT(Error(Edited("intoto-with-custom-trust-root",
                           [](json& j) { j["spec"]["content"]["envelope"]["signatures"][0]["sig"] = ""; })),
              HasSubstr("empty"));
  EXPECT_THAT(Error(Edited("intoto-with-custom-trust-root", [](json& j) { j["spec"]["content"].erase("payloadHash"); })),
              HasSubstr("spec.content.payloadHash is missing"));
}

TEST(EntryBodyTest, HashedRekord002Members) {
  const std::string kHr2 = "rekor2-happy-path";
  ASSERT_TRUE(ParseEntryBody(CaseEntry(kHr2)).ok());
  // protojson's snake_case spellings are read too, but not both at once.
  TlogEntry snake = Edited(kHr2, [](json& j) {
    j["spec"]["hashed_rekord_v002"] = j["spec"]["hashedRekordV002"];
    j["spec"].erase("hashedRekordV002");
    json& v = j["spec"]["hashed_rekord_v002"]["signature"]["verifier"];
    v["x509_certificate"] = {{"raw_bytes", v["x509Certificate"]["rawBytes"]}};
    v.erase("x509Certificate");
  });
  absl::StatusOr<EntryBody> b = ParseEntryBody(snake);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->verifiers_der, ParseEntryBody(CaseEntry(kHr2))->verifiers_der);
  EXPECT_THAT(Error(Edited(kHr2, [](json& j) { j["spec"]["hashed_rekord_v002"] = j["spec"]["hashedRekordV002"]; })),
              HasSubstr("given twice"));
  EXPECT_THAT(Error(Edited(kHr2, [](json& j) { j["spec"]["hashedRekordV002"]["data"]["algorithm"] = "sha256"; })),
              HasSubstr("SHA2_256"));
  EXPECT_THAT(Error(Edited(kHr2,
                           [](json& j) {
                             j["spec"]["hashedRekordV002"]["data"]["digest"] = Base64Encode(std::string(31, 'd'));
                           })),
              HasSubstr("31 bytes"));
  EXPECT_THAT(Error(Edited(kHr2,
                           [](json& j) {
                             json& v = j["spec"]["hashedRekordV002"]["signature"]["verifier"];
                             v["publicKey"] = {{"rawBytes", Base64Encode("k")}};
                           })),
              HasSubstr("exactly one of"));
  EXPECT_THAT(Error(Edited(kHr2,
                           [](json& j) {
                             json& v = j["spec"]["hashedRekordV002"]["signature"]["verifier"];
                             v.erase("x509Certificate");
                           })),
              HasSubstr("exactly one of"));
  EXPECT_THAT(Error(Edited(kHr2,
                           [](json& j) {
                             json& v = j["spec"]["hashedRekordV002"]["signature"]["verifier"];
                             v["x509Certificate"]["rawBytes"] = Base64Encode("not a certificate");
                           })),
              HasSubstr("not a DER certificate"));
  // A public key verifier (DER SPKI).
  TestSigner s = MakeSigner("EC", "P-256", EVP_sha256());
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(s.key.get(), &der);
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  TlogEntry keyed = Edited(kHr2, [&](json& j) {
    json& v = j["spec"]["hashedRekordV002"]["signature"]["verifier"];
    v.erase("x509Certificate");
    v["publicKey"] = {{"rawBytes", Base64Encode(spki)}};
  });
  b = ParseEntryBody(keyed);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->verifiers_der, std::vector<std::string>{spki});
  EXPECT_EQ(b->verifier_is_cert, std::vector<bool>{false});
}

// A Rekor v2 dsse 0.0.2 entry (what @sigstore/sign 4.x logs for a DSSE envelope) of the
// rekor2-dsse-happy-path case's envelope and certificate, with that case's entry otherwise.
// The corpus logs that envelope as hashedrekord 0.0.2, so this body is made here.
TlogEntry Dsse002Entry() {
  json b = CaseBundle("rekor2-dsse-happy-path");
  TlogEntry e = EntryFromJson(b["verificationMaterial"]["tlogEntries"][0]);
  e.kind = "dsse";
  e.version = "0.0.2";
  json verifier = {{"x509Certificate", {{"rawBytes", b["verificationMaterial"]["certificate"]["rawBytes"]}}},
                   {"keyDetails", "PKIX_ECDSA_P256_SHA_256"}};
  json body = {{"apiVersion", "0.0.2"},
               {"kind", "dsse"},
               {"spec",
                {{"dsseV002",
                  {{"payloadHash",
                    {{"algorithm", "SHA2_256"}, {"digest", Base64Encode(Sha256(B64(b["dsseEnvelope"]["payload"])))}}},
                   {"signatures",
                    json::array({{{"content", b["dsseEnvelope"]["signatures"][0]["sig"]}, {"verifier", verifier}}})}}}}}};
  e.body = body.dump();
  return e;
}

TlogEntry EditedDsse002(const std::function<void(json&)>& edit) {
  TlogEntry e = Dsse002Entry();
  json j = json::parse(e.body);
  edit(j);
  e.body = j.dump();
  return e;
}

TEST(EntryBodyTest, Dsse002HoldsTheEnvelopeSignatureCertificateAndPayloadHash) {
  json b = CaseBundle("rekor2-dsse-happy-path");
  absl::StatusOr<EntryBody> body = ParseEntryBody(Dsse002Entry());
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->kind, BodyKind::kDsse002);
  EXPECT_EQ(body->signatures, std::vector<std::string>{B64(b["dsseEnvelope"]["signatures"][0]["sig"])});
  EXPECT_EQ(body->verifiers_der, std::vector<std::string>{B64(b["verificationMaterial"]["certificate"]["rawBytes"])});
  EXPECT_EQ(body->verifier_is_cert, std::vector<bool>{true});
  EXPECT_EQ(body->digest_alg, "sha256");
  EXPECT_EQ(body->digest, Sha256(B64(b["dsseEnvelope"]["payload"])));
  EXPECT_TRUE(body->envelope_hash.empty());
  // protojson's snake_case spellings are read too.
  absl::StatusOr<EntryBody> snake = ParseEntryBody(EditedDsse002([](json& j) {
    json d = j["spec"]["dsseV002"];
    j["spec"].erase("dsseV002");
    d["payload_hash"] = d["payloadHash"];
    d.erase("payloadHash");
    json& v = d["signatures"][0]["verifier"];
    v["x509_certificate"] = {{"raw_bytes", v["x509Certificate"]["rawBytes"]}};
    v.erase("x509Certificate");
    j["spec"]["dsse_v002"] = d;
  }));
  ASSERT_TRUE(snake.ok()) << snake.status();
  EXPECT_EQ(snake->signatures, body->signatures);
  EXPECT_EQ(snake->verifiers_der, body->verifiers_der);
  EXPECT_EQ(snake->digest, body->digest);
  // A public key verifier (DER SPKI), and two signatures read in order.
  TestSigner s = MakeSigner("EC", "P-256", EVP_sha256());
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(s.key.get(), &der);
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  absl::StatusOr<EntryBody> two = ParseEntryBody(EditedDsse002([&](json& j) {
    json second = j["spec"]["dsseV002"]["signatures"][0];
    second["content"] = Base64Encode("second");
    second["verifier"].erase("x509Certificate");
    second["verifier"]["publicKey"] = {{"rawBytes", Base64Encode(spki)}};
    j["spec"]["dsseV002"]["signatures"].push_back(second);
  }));
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->signatures.size(), 2u);
  EXPECT_EQ(two->signatures[1], "second");
  EXPECT_EQ(two->verifiers_der[1], spki);
  EXPECT_EQ(two->verifier_is_cert, (std::vector<bool>{true, false}));
}

TEST(EntryBodyTest, Dsse002KindAndVersionMustMatchTheEntry) {
  TlogEntry e = Dsse002Entry();
  ASSERT_TRUE(ParseEntryBody(e).ok());
  TlogEntry t = e;
  t.version = "0.0.1";  // a dsse 0.0.1 entry with a 0.0.2 body
  EXPECT_THAT(Error(t), HasSubstr("kindVersion"));
  t = e;
  t.kind = "hashedrekord";
  EXPECT_THAT(Error(t), HasSubstr("kindVersion"));
  t = e;
  t.version = "0.0.3";
  EXPECT_THAT(Error(t), HasSubstr("dsse 0.0.1/0.0.2"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["apiVersion"] = "0.0.1"; })), HasSubstr("kindVersion"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["kind"] = "hashedrekord"; })), HasSubstr("kindVersion"));
  // A hashedrekord 0.0.2 spec under a dsse 0.0.2 kind.
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["hashedRekordV002"] = j["spec"]["dsseV002"];
                j["spec"].erase("dsseV002");
              })),
              HasSubstr("spec.dsseV002 is missing"));
  // A dsse 0.0.1 body under a dsse 0.0.2 entry.
  TlogEntry v1 = CaseEntry("happy-path-intoto-in-dsse-v3");
  v1.version = "0.0.2";
  EXPECT_THAT(Error(v1), HasSubstr("kindVersion"));
}

TEST(EntryBodyTest, Dsse002MalformedMembersAreRefused) {
  const std::string d = "spec.dsseV002";
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"] = json::array(); })),
              HasSubstr(d + " is not an object"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"].erase("payloadHash"); })),
              HasSubstr(d + ".payloadHash is missing"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["payloadHash"]["algorithm"] = "sha256"; })),
              HasSubstr("SHA2_256"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["payloadHash"].erase("algorithm"); })),
              HasSubstr(d + ".payloadHash.algorithm is missing"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["payloadHash"]["algorithm"] = "SHA2_512"; })),
              HasSubstr("has 32 bytes"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["payloadHash"]["digest"] = "a b"; })),
              HasSubstr(d + ".payloadHash.digest"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["dsseV002"]["payloadHash"]["digest"] = Base64Encode(std::string(31, 'd'));
              })),
              HasSubstr("31 bytes"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"].erase("signatures"); })),
              HasSubstr(d + ".signatures is missing"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"] = json::array(); })),
              HasSubstr("non-empty array"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"] = json::object(); })),
              HasSubstr("non-empty array"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                json s = j["spec"]["dsseV002"]["signatures"][0];
                for (size_t i = 0; i < dsse::kMaxEnvelopeSignatures; ++i) j["spec"]["dsseV002"]["signatures"].push_back(s);
              })),
              HasSubstr("kMaxEnvelopeSignatures"));
  const std::string s0 = d + ".signatures[0]";
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"][0] = "x"; })),
              HasSubstr(s0 + " is not an object"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"][0].erase("content"); })),
              HasSubstr(s0 + ".content is missing"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"][0]["content"] = ""; })),
              HasSubstr(s0 + ".content is empty"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"][0]["content"] = "!!"; })),
              HasSubstr(s0 + ".content"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"][0]["content"] = 5; })),
              HasSubstr("not a string"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["dsseV002"]["signatures"][0]["content"] = Base64Encode(std::string(kMaxSignatureBytes + 1, 's'));
              })),
              HasSubstr("kMaxSignatureBytes"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsseV002"]["signatures"][0].erase("verifier"); })),
              HasSubstr(s0 + ".verifier is missing"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["dsseV002"]["signatures"][0]["verifier"].erase("x509Certificate");
              })),
              HasSubstr("exactly one of"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["dsseV002"]["signatures"][0]["verifier"]["publicKey"] = {{"rawBytes", Base64Encode("k")}};
              })),
              HasSubstr("exactly one of"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["dsseV002"]["signatures"][0]["verifier"]["x509Certificate"]["rawBytes"] =
                    Base64Encode("not a certificate");
              })),
              HasSubstr(s0 + ".verifier.x509Certificate.rawBytes is not a DER certificate"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                json& v = j["spec"]["dsseV002"]["signatures"][0]["verifier"];
                v["publicKey"] = v["x509Certificate"];  // a certificate is not an SPKI
                v.erase("x509Certificate");
              })),
              HasSubstr("not a DER SubjectPublicKeyInfo"));
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                j["spec"]["dsseV002"]["signatures"][0]["verifier"]["x509Certificate"]["rawBytes"] =
                    Base64Encode(std::string(kMaxCertificateBytes + 1, 'c'));
              })),
              HasSubstr("kMaxCertificateBytes"));
  // The second signature is checked as strictly as the first.
  EXPECT_THAT(Error(EditedDsse002([](json& j) {
                json s = j["spec"]["dsseV002"]["signatures"][0];
                s["content"] = "";
                j["spec"]["dsseV002"]["signatures"].push_back(s);
              })),
              HasSubstr(d + ".signatures[1].content is empty"));
  // Given in both spellings.
  EXPECT_THAT(Error(EditedDsse002([](json& j) { j["spec"]["dsse_v002"] = j["spec"]["dsseV002"]; })),
              HasSubstr("given twice"));
}

// ---------------------------------------------------------------------------------------------
// VerifyEntity over a dsse 0.0.2 entry: the rekor2-dsse-happy-path envelope, certificate and
// RFC 3161 timestamp, logged as @sigstore/sign 4.x logs it (dsse 0.0.2) in a one-leaf Rekor v2
// log made here (Ed25519 checkpoint), added to the case's own trusted root.
class Dsse002EntityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    parsed_ = ParseCase("rekor2-dsse-happy-path", /*own_root=*/true);
    log_ = signer_.Log(kOrigin);
    log_.details = PublicKeyDetails::kEd25519;
    std::vector<LogKey> tlogs = parsed_.root.tlogs();
    tlogs.push_back(log_);
    root_ = TrustedRoot::FromParts(tlogs, parsed_.root.ctlogs(), parsed_.root.fulcio(), parsed_.root.tsas(),
                                   parsed_.root.sha256());
    absl::StatusOr<IdentityPattern> any = MakeIdentityPattern("any", std::nullopt, ".*", std::nullopt, ".*");
    ASSERT_TRUE(any.ok()) << any.status();
    policy_.root = &root_;
    policy_.identities.push_back(*any);
    policy_.now = absl::Now();
    absl::StatusOr<Digest> d =
        Digest::Parse("sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf");  // a.txt
    ASSERT_TRUE(d.ok()) << d.status();
    artifact_.sha256 = *d;
  }
  // The case's entity with `body` as its one entry, at index 0 of a one-leaf tree.
  SignedEntity With(const TlogEntry& body) const {
    SignedEntity e = FromBundle(parsed_.bundle);
    TlogEntry t = body;
    t.log_id = log_.log_id;
    t.log_index = 0;
    t.integrated_time = 0;
    t.set.reset();
    InclusionProof p;
    p.log_index = 0;
    p.tree_size = 1;
    p.root_hash = LeafHash(t.body);
    const std::string text = StrCat(kOrigin, "\n1\n", Base64Encode(p.root_hash), "\n");
    p.checkpoint = StrCat(text, "\n\xE2\x80\x94 ", kOrigin, " ", Base64Encode(log_.log_id.substr(0, 4) + signer_.Sign(text)),
                          "\n");
    t.proof = p;
    e.tlog = {t};
    return e;
  }
  static constexpr const char* kOrigin = "dsse2.log.example";
  TestSigner signer_ = MakeSigner("ED25519", nullptr, nullptr);
  Parsed parsed_;
  LogKey log_;
  TrustedRoot root_;
  TrustPolicy policy_;
  Artifact artifact_;
};

TEST_F(Dsse002EntityTest, TheEnvelopesOwnEntryIsAccepted) {
  EntityResult r = VerifyEntity(With(Dsse002Entry()), artifact_, policy_);
  EXPECT_EQ(r.reason, Reason::kVerified) << r.step << ": " << r.detail;
  ASSERT_TRUE(r.signer.has_value());
  EXPECT_EQ(r.signer->log_index, 0);
}

TEST_F(Dsse002EntityTest, AnEntryForAnotherPayloadSignatureOrCertificateIsTlogMismatch) {
  EntityResult r = VerifyEntity(With(EditedDsse002([](json& j) {
                                  j["spec"]["dsseV002"]["payloadHash"]["digest"] = Base64Encode(Sha256("other"));
                                })),
                                artifact_, policy_);
  EXPECT_EQ(r.reason, Reason::kTlogMismatch) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("SHA-256 of the DSSE payload"));
  r = VerifyEntity(With(EditedDsse002([](json& j) {
                     j["spec"]["dsseV002"]["signatures"][0]["content"] = Base64Encode("another signature");
                   })),
                   artifact_, policy_);
  EXPECT_EQ(r.reason, Reason::kTlogMismatch) << r.detail;
  TestSigner other = MakeSigner("EC", "P-256", EVP_sha256());
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(other.key.get(), &der);
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  r = VerifyEntity(With(EditedDsse002([&](json& j) {
                     json& v = j["spec"]["dsseV002"]["signatures"][0]["verifier"];
                     v.erase("x509Certificate");
                     v["publicKey"] = {{"rawBytes", Base64Encode(spki)}};
                   })),
                   artifact_, policy_);
  EXPECT_EQ(r.reason, Reason::kTlogMismatch) << r.detail;
}

TEST_F(Dsse002EntityTest, RekorV2RulesApply) {
  // No inclusion proof: a Rekor v2 entry needs one.
  SignedEntity e = With(Dsse002Entry());
  e.tlog[0].proof.reset();
  e.tlog[0].set = "a SET";
  EntityResult r = VerifyEntity(e, artifact_, policy_);
  EXPECT_EQ(r.reason, Reason::kBadTlogEntry) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("Rekor v2 entry without an inclusion proof"));
  // The proof's index must be the entry's.
  e = With(Dsse002Entry());
  e.tlog[0].log_index = 7;
  r = VerifyEntity(e, artifact_, policy_);
  EXPECT_EQ(r.reason, Reason::kBadTlogEntry) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("is not the entry's 7"));
}

}  // namespace
}  // namespace layerseal::sigstore
