// CPU cost of the keyless (cosign / sigstore) crypto of one signature, without a network, on
// the sigstore-conformance corpus ($LAYERSEAL_SHARED_DIR/conformance/sigstore, else
// LAYERSEAL_SOURCE_DIR/../shared; tests/support/shared_dir.h). Issue 17's target: the keyless
// crypto (chain, SCT, SET, inclusion proof) <= 2 ms CPU.
//
//   BM_VerifyEntity/happy_path_v03    sigstore::VerifyEntity of happy-path-v0.3 (Rekor v1:
//                                      SET, inclusion proof + checkpoint, Fulcio chain, SCT,
//                                      signature, identity), the bundle parsed once
//   BM_VerifyEntity/rekor2_happy_path  the same for rekor2-happy-path (Rekor v2: checkpoint +
//                                      inclusion proof, RFC 3161 timestamp)
//   BM_ParseAndVerify/...               ParseBundle + FromBundle + VerifyEntity (the JSON too)
//   BM_Piece/...                        each step alone on happy-path-v0.3 (rekor2's TSA token
//                                      for the timestamp): VerifyChainAt, VerifyEmbeddedScts,
//                                      VerifySet, checkpoint (parse + signature) + VerifyInclusion,
//                                      VerifyTimestamp, the message signature, the identity
//   BM_EcdsaP256Verify                  the cheapest alternative: one ECDSA P-256 verify
//                                      (PublicKey::Verify over a 32-byte digest)
//   BM_SealVerifierInMemory             a seal verification's whole CPU cost: Verifier::Verify
//                                      of a sealed 5-layer image from memory (FakeSource), as
//                                      crypto_bench's BM_VerifierInMemory/ecdsa_p256
//
// All report CPU time (the machine is shared). When the corpus is absent the sigstore
// benchmarks are skipped with a message. Figures: docs/performance.md.
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "base/str_cat.h"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/shared_dir.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/checkpoint.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/fulcio.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/rekor.h"
#include "verifier/sigstore/rfc3161.h"
#include "verifier/sigstore/sct.h"
#include "verifier/sigstore/signature.h"
#include "verifier/sigstore/trusted_root.h"
#include "verifier/verifier.h"

namespace layerseal {
namespace {

// The corpus defaults (its docs/cli_protocol.md and bundle-verify/README.md).
constexpr char kIdentity[] =
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";

// One corpus case, loaded once.
struct Case {
  std::string error;  // non-empty: the case could not be loaded (the benchmarks skip)
  std::string bundle_json;
  std::optional<sigstore::TrustedRoot> root;
  sigstore::SignedEntity entity;
  sigstore::Artifact artifact;
  sigstore::TrustPolicy policy;
  std::shared_ptr<X509> leaf;
};

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

std::unique_ptr<Case> Load(const std::string& name) {
  auto c = std::make_unique<Case>();
  const std::string corpus = testing::SigstoreCorpusDir();
  const std::string dir = StrCat(corpus, "/bundle-verify/", name);
  if (!std::filesystem::exists(dir + "/bundle.sigstore.json")) {
    c->error = StrCat("conformance corpus case ", dir,
                      " is absent: set LAYERSEAL_SHARED_DIR to the dir holding conformance/sigstore");
    return c;
  }
  c->bundle_json = testing::ReadFileOrDie(dir + "/bundle.sigstore.json");
  std::string root_path = std::filesystem::exists(dir + "/trusted_root.json")
                              ? dir + "/trusted_root.json"
                              : corpus + "/trusted_root.public-good.json";
  absl::StatusOr<sigstore::TrustedRoot> root = sigstore::TrustedRoot::LoadFile(root_path);
  if (!root.ok()) {
    c->error = StrCat(root_path, ": ", Msg(root.status()));
    return c;
  }
  c->root = *std::move(root);
  absl::StatusOr<sigstore::Bundle> bundle = sigstore::ParseBundle(c->bundle_json);
  if (!bundle.ok()) {
    c->error = StrCat(name, ": ", Msg(bundle.status()));
    return c;
  }
  c->entity = sigstore::FromBundle(*std::move(bundle));
  std::string artifact = testing::ReadFileOrDie(corpus + "/bundle-verify/a.txt");
  c->artifact.sha256 = Digest::Sha256Of(artifact);
  c->artifact.bytes = artifact;
  absl::StatusOr<sigstore::IdentityPattern> id =
      sigstore::MakeIdentityPattern("conformance", kIssuer, std::nullopt, kIdentity, std::nullopt);
  if (!id.ok()) {
    c->error = Msg(id.status());
    return c;
  }
  c->policy.root = &*c->root;
  c->policy.identities.push_back(*std::move(id));
  c->policy.now = absl::Now();
  if (c->entity.certs_der.empty()) {
    c->error = StrCat(name, ": no certificate");
    return c;
  }
  absl::StatusOr<std::shared_ptr<X509>> leaf = sigstore::ParseCertificate(c->entity.certs_der[0]);
  if (!leaf.ok()) {
    c->error = Msg(leaf.status());
    return c;
  }
  c->leaf = *std::move(leaf);
  // Sanity: the whole check passes, else every figure below would time a failure.
  sigstore::EntityResult r = sigstore::VerifyEntity(c->entity, c->artifact, c->policy);
  if (!r.ok()) c->error = StrCat(name, " does not verify: ", r.detail);
  return c;
}

const Case& V03() {
  static const Case* c = Load("happy-path-v0.3").release();
  return *c;
}
const Case& Rekor2() {
  static const Case* c = Load("rekor2-happy-path").release();
  return *c;
}

bool Ready(benchmark::State& state, const Case& c) {
  if (c.error.empty()) return true;
  state.SkipWithError(c.error.c_str());
  return false;
}

void Fail(benchmark::State& state, std::string_view what, const absl::Status& s) {
  state.SkipWithError(StrCat(what, ": ", Msg(s)).c_str());
}

// ---- Whole entity ----------------------------------------------------------------------

void BM_VerifyEntity(benchmark::State& state, const Case& (*which)()) {
  const Case& c = which();
  if (!Ready(state, c)) return;
  for (auto _ : state) {
    sigstore::EntityResult r = sigstore::VerifyEntity(c.entity, c.artifact, c.policy);
    if (!r.ok()) {
      state.SkipWithError(r.detail.c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParseAndVerify(benchmark::State& state, const Case& (*which)()) {
  const Case& c = which();
  if (!Ready(state, c)) return;
  for (auto _ : state) {
    absl::StatusOr<sigstore::Bundle> b = sigstore::ParseBundle(c.bundle_json);
    if (!b.ok()) {
      Fail(state, "ParseBundle", b.status());
      break;
    }
    sigstore::EntityResult r = sigstore::VerifyEntity(sigstore::FromBundle(*std::move(b)), c.artifact, c.policy);
    if (!r.ok()) {
      state.SkipWithError(r.detail.c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_VerifyEntity, happy_path_v03, &V03);
BENCHMARK_CAPTURE(BM_VerifyEntity, rekor2_happy_path, &Rekor2);
BENCHMARK_CAPTURE(BM_ParseAndVerify, happy_path_v03, &V03);
BENCHMARK_CAPTURE(BM_ParseAndVerify, rekor2_happy_path, &Rekor2);

// ---- The pieces (happy-path-v0.3 unless named) -----------------------------------------

void BM_Piece_ChainAt(benchmark::State& state) {
  const Case& c = V03();
  if (!Ready(state, c)) return;
  absl::Time t = absl::FromUnixSeconds(c.entity.tlog[0].integrated_time);
  for (auto _ : state) {
    auto chain = sigstore::VerifyChainAt(c.leaf.get(), *c.root, t);
    if (!chain.ok()) {
      Fail(state, "VerifyChainAt", chain.status());
      break;
    }
    benchmark::DoNotOptimize(chain);
  }
}

void BM_Piece_EmbeddedSct(benchmark::State& state) {
  const Case& c = V03();
  if (!Ready(state, c)) return;
  auto chain = sigstore::VerifyChainAt(c.leaf.get(), *c.root,
                                       absl::FromUnixSeconds(c.entity.tlog[0].integrated_time));
  if (!chain.ok() || chain->size() < 2) {
    state.SkipWithError("no chain to take the SCT's issuer from");
    return;
  }
  for (auto _ : state) {
    absl::Status s = sigstore::VerifyEmbeddedScts(c.leaf.get(), (*chain)[1].get(), *c.root);
    if (!s.ok()) {
      Fail(state, "VerifyEmbeddedScts", s);
      break;
    }
  }
}

void BM_Piece_Set(benchmark::State& state) {
  const Case& c = V03();
  if (!Ready(state, c)) return;
  const sigstore::TlogEntry& t = c.entity.tlog[0];
  const sigstore::LogKey* log = c.root->FindTlog(t.log_id);
  if (log == nullptr || !t.set) {
    state.SkipWithError("happy-path-v0.3 has no SET from a known log");
    return;
  }
  for (auto _ : state) {
    absl::Status s = sigstore::VerifySet(t, *log);
    if (!s.ok()) {
      Fail(state, "VerifySet", s);
      break;
    }
  }
}

// The checkpoint (parse + its note signature) and the inclusion proof: step 4e.
void BM_Piece_InclusionAndCheckpoint(benchmark::State& state, const Case& (*which)(), bool v2) {
  const Case& c = which();
  if (!Ready(state, c)) return;
  const sigstore::TlogEntry& t = c.entity.tlog[0];
  const sigstore::LogKey* log = c.root->FindTlog(t.log_id);
  if (log == nullptr || !t.proof) {
    state.SkipWithError("no inclusion proof from a known log");
    return;
  }
  const sigstore::InclusionProof& p = *t.proof;
  for (auto _ : state) {
    absl::StatusOr<sigstore::Checkpoint> cp = sigstore::ParseCheckpoint(p.checkpoint);
    if (!cp.ok()) {
      Fail(state, "ParseCheckpoint", cp.status());
      break;
    }
    if (absl::Status s = sigstore::VerifyCheckpoint(*cp, *log, v2); !s.ok()) {
      Fail(state, "VerifyCheckpoint", s);
      break;
    }
    absl::Status s = sigstore::VerifyInclusion(sigstore::LeafHash(t.body), static_cast<uint64_t>(p.log_index),
                                               static_cast<uint64_t>(p.tree_size), p.hashes, p.root_hash);
    if (!s.ok()) {
      Fail(state, "VerifyInclusion", s);
      break;
    }
  }
}

// The inclusion proof alone (hashing only), without the checkpoint's signature.
void BM_Piece_InclusionOnly(benchmark::State& state) {
  const Case& c = V03();
  if (!Ready(state, c)) return;
  const sigstore::TlogEntry& t = c.entity.tlog[0];
  if (!t.proof) {
    state.SkipWithError("no inclusion proof");
    return;
  }
  const sigstore::InclusionProof& p = *t.proof;
  for (auto _ : state) {
    absl::Status s = sigstore::VerifyInclusion(sigstore::LeafHash(t.body), static_cast<uint64_t>(p.log_index),
                                               static_cast<uint64_t>(p.tree_size), p.hashes, p.root_hash);
    if (!s.ok()) {
      Fail(state, "VerifyInclusion", s);
      break;
    }
  }
  state.counters["proof_hashes"] = static_cast<double>(p.hashes.size());
}

void BM_Piece_Timestamp(benchmark::State& state) {
  const Case& c = Rekor2();
  if (!Ready(state, c)) return;
  if (c.entity.timestamps.empty() || !c.entity.message) {
    state.SkipWithError("rekor2-happy-path has no RFC 3161 timestamp");
    return;
  }
  for (auto _ : state) {
    auto vt = sigstore::VerifyTimestamp(c.entity.timestamps[0], c.entity.message->signature, *c.root);
    if (!vt.ok()) {
      Fail(state, "VerifyTimestamp", vt.status());
      break;
    }
    benchmark::DoNotOptimize(vt);
  }
}

// Step 8: the message signature under the certificate's key (ECDSA P-256 over a.txt).
void BM_Piece_Signature(benchmark::State& state) {
  const Case& c = V03();
  if (!Ready(state, c)) return;
  EVP_PKEY* key = X509_get0_pubkey(c.leaf.get());
  for (auto _ : state) {
    absl::Status s = sigstore::VerifyMessage(key, *c.artifact.bytes, c.entity.message->signature);
    if (!s.ok()) {
      Fail(state, "VerifyMessage", s);
      break;
    }
  }
}

// Step 9: identity from the SAN and Fulcio extensions, matched against the pattern.
void BM_Piece_Identity(benchmark::State& state) {
  const Case& c = V03();
  if (!Ready(state, c)) return;
  for (auto _ : state) {
    absl::StatusOr<sigstore::CertIdentity> id = sigstore::ExtractIdentity(c.leaf.get());
    if (!id.ok() || !sigstore::MatchIdentity(*id, c.policy.identities[0])) {
      state.SkipWithError("identity does not match");
      break;
    }
  }
}

BENCHMARK(BM_Piece_ChainAt);
BENCHMARK(BM_Piece_EmbeddedSct);
BENCHMARK(BM_Piece_Set);
BENCHMARK_CAPTURE(BM_Piece_InclusionAndCheckpoint, happy_path_v03, &V03, false);
BENCHMARK_CAPTURE(BM_Piece_InclusionAndCheckpoint, rekor2_happy_path, &Rekor2, true);
BENCHMARK(BM_Piece_InclusionOnly);
BENCHMARK(BM_Piece_Timestamp);
BENCHMARK(BM_Piece_Signature);
BENCHMARK(BM_Piece_Identity);

// ---- The cheapest alternatives ---------------------------------------------------------

const PrivateKey& P256Key() {
  static const PrivateKey* key = [] {
    absl::StatusOr<PrivateKey> k = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    if (!k.ok()) {
      std::fprintf(stderr, "sigstore_bench: PrivateKey::Generate: %s\n", Msg(k.status()).c_str());
      std::abort();
    }
    return new PrivateKey(*std::move(k));
  }();
  return *key;
}

void BM_EcdsaP256Verify(benchmark::State& state) {
  const PrivateKey& key = P256Key();
  const std::string digest = Sha256("a base manifest");
  absl::StatusOr<std::string> sig = key.Sign(Algorithm::kEcdsaP256Sha256, digest);
  if (!sig.ok()) {
    Fail(state, "Sign", sig.status());
    return;
  }
  for (auto _ : state) {
    absl::Status s = key.public_key().Verify(Algorithm::kEcdsaP256Sha256, digest, *sig);
    if (!s.ok()) {
      Fail(state, "Verify", s);
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SealVerifierInMemory(benchmark::State& state) {
  const PrivateKey& key = P256Key();
  testing::BaseImageSpec spec;
  spec.layers = 5;
  spec.architecture = Platform::Host().architecture;
  testing::TestImage image = testing::SealTestImage(testing::MakeBaseImage(spec), key);
  absl::StatusOr<Reference> ref = Reference::Parse("registry.test/bench/app:signed");
  if (!ref.ok()) {
    Fail(state, "Reference::Parse", ref.status());
    return;
  }
  testing::FakeSource source;
  source.Add(*ref, image);
  Policy policy = Policy::TrustingKeys({key.public_key()});
  Verifier verifier(&source, &policy, Platform::Host());
  for (auto _ : state) {
    Verdict v = verifier.Verify(*ref);
    if (v.reason != Reason::kVerified) {
      state.SkipWithError(StrCat("not verified: ", ReasonName(v.reason), ": ", v.detail).c_str());
      break;
    }
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_EcdsaP256Verify);
BENCHMARK(BM_SealVerifierInMemory);

}  // namespace
}  // namespace layerseal

BENCHMARK_MAIN();
