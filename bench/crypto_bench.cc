// CPU cost of the verifier's crypto and of a whole verification without a network.
//
//   SHA-256: layerseal::Sha256 / Digest::Sha256Of at the block sizes of
//     `openssl speed -evp sha256` (16 .. 16384 bytes) plus 1 MiB; bytes/s to compare with it.
//     BM_Sha256_EvpFetched is the loop `openssl speed -evp` itself runs (EVP_Digest with an
//     EVP_MD fetched once), in this process, to separate call overhead from the machine.
//   Signatures: PublicKey::Verify over a 32-byte digest per algorithm; items/s = verifies/s to
//     compare with `openssl speed ecdsap256 ed25519 rsa2048 rsa3072` (the "verify/s" column).
//     RSA keys of 2048 bits come from `openssl genpkey`, 3072-bit ones from PrivateKey::Generate.
//   Verifier: Verifier::Verify of a sealed 5-layer image read from an in-memory FakeSource.
//
// Figures and how to reproduce them: docs/performance.md.
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "tests/support/fake_source.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "base/str_cat.h"
#include "verifier/verifier.h"

namespace layerseal {
namespace {

[[noreturn]] void Die(std::string_view what, const absl::Status& s) {
  std::fprintf(stderr, "crypto_bench: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(s.message().size()), s.message().data());
  std::abort();
}

// ---- SHA-256 ---------------------------------------------------------------------------

std::string Buffer(int64_t n) { return std::string(static_cast<size_t>(n), '\x5a'); }

void BM_Sha256(benchmark::State& state) {
  const std::string data = Buffer(state.range(0));
  for (auto _ : state) {
    std::string d = Sha256(data);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The digest string the verifier compares ("sha256:" + hex): hashing plus formatting.
void BM_Sha256Of(benchmark::State& state) {
  const std::string data = Buffer(state.range(0));
  for (auto _ : state) {
    Digest d = Digest::Sha256Of(data);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// Reference: what `openssl speed -evp sha256` times (apps/speed.c, EVP_Digest_loop).
void BM_Sha256_EvpFetched(benchmark::State& state) {
  const std::string data = Buffer(state.range(0));
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char out[EVP_MAX_MD_SIZE];
  for (auto _ : state) {
    if (EVP_Digest(data.data(), data.size(), out, nullptr, md, nullptr) != 1) {
      state.SkipWithError("EVP_Digest failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_free(md);
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void Sha256Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {16, 64, 256, 1024, 8192, 16384, 1 << 20}) b->Arg(n);
}
BENCHMARK(BM_Sha256)->Apply(Sha256Sizes);
BENCHMARK(BM_Sha256Of)->Apply(Sha256Sizes);
BENCHMARK(BM_Sha256_EvpFetched)->Apply(Sha256Sizes);

// ---- Signatures ------------------------------------------------------------------------

PrivateKey RsaKeyFromOpenssl(int bits) {
  absl::StatusOr<testing::RunResult> r = testing::Run(
      {"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", StrCat("rsa_keygen_bits:", bits)});
  if (!r.ok()) Die("openssl genpkey", r.status());
  if (r->exit_code != 0) Die("openssl genpkey", absl::InternalError(r->err));
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(r->out);
  if (!key.ok()) Die("PrivateKey::FromPem", key.status());
  return *std::move(key);
}

PrivateKey Generated(Algorithm a) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(a);
  if (!key.ok()) Die("PrivateKey::Generate", key.status());
  return *std::move(key);
}

// Keys are made once, on first use, so that --benchmark_filter=Sha256 makes none.
const PrivateKey& KeyFor(Algorithm a, int rsa_bits) {
  static auto* keys = new std::map<std::pair<Algorithm, int>, PrivateKey>();
  auto k = std::make_pair(a, rsa_bits);
  auto it = keys->find(k);
  if (it != keys->end()) return it->second;
  bool rsa = a == Algorithm::kRsaPkcs1v15Sha256 || a == Algorithm::kRsaPssSha256;
  // An rsaEncryption key from openssl fits both RSA algorithms; Generate(kRsaPss) would make
  // an RSASSA-PSS key, so the 3072-bit PKCS#1 key serves PSS too (same verify cost).
  PrivateKey key = !rsa ? Generated(a)
                   : rsa_bits == 2048 ? RsaKeyFromOpenssl(2048)
                                      : Generated(Algorithm::kRsaPkcs1v15Sha256);
  return keys->emplace(k, std::move(key)).first->second;
}

void BM_Verify(benchmark::State& state, Algorithm a, int rsa_bits) {
  const PrivateKey& key = KeyFor(a, rsa_bits);
  const std::string digest = Sha256("a base manifest");
  absl::StatusOr<std::string> sig = key.Sign(a, digest);
  if (!sig.ok()) {
    state.SkipWithError(std::string(Sv(sig.status().message())).c_str());
    return;
  }
  const PublicKey& pub = key.public_key();
  for (auto _ : state) {
    absl::Status s = pub.Verify(a, digest, *sig);
    if (!s.ok()) {
      state.SkipWithError(std::string(Sv(s.message())).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Sign(benchmark::State& state, Algorithm a, int rsa_bits) {
  const PrivateKey& key = KeyFor(a, rsa_bits);
  const std::string digest = Sha256("a base manifest");
  for (auto _ : state) {
    absl::StatusOr<std::string> sig = key.Sign(a, digest);
    if (!sig.ok()) {
      state.SkipWithError(std::string(Sv(sig.status().message())).c_str());
      break;
    }
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_Verify, ecdsa_p256, Algorithm::kEcdsaP256Sha256, 0);
BENCHMARK_CAPTURE(BM_Verify, ed25519, Algorithm::kEd25519, 0);
BENCHMARK_CAPTURE(BM_Verify, rsa2048_pkcs1, Algorithm::kRsaPkcs1v15Sha256, 2048);
BENCHMARK_CAPTURE(BM_Verify, rsa2048_pss, Algorithm::kRsaPssSha256, 2048);
BENCHMARK_CAPTURE(BM_Verify, rsa3072_pkcs1, Algorithm::kRsaPkcs1v15Sha256, 3072);
BENCHMARK_CAPTURE(BM_Verify, rsa3072_pss, Algorithm::kRsaPssSha256, 3072);
// Signing is not a target (it happens in CI, once per image); listed for completeness.
BENCHMARK_CAPTURE(BM_Sign, ecdsa_p256, Algorithm::kEcdsaP256Sha256, 0);
BENCHMARK_CAPTURE(BM_Sign, ed25519, Algorithm::kEd25519, 0);
BENCHMARK_CAPTURE(BM_Sign, rsa2048_pkcs1, Algorithm::kRsaPkcs1v15Sha256, 2048);
BENCHMARK_CAPTURE(BM_Sign, rsa3072_pkcs1, Algorithm::kRsaPkcs1v15Sha256, 3072);

// ---- The whole verifier, no network ----------------------------------------------------

// Verifier::Verify of a sealed 5-layer OCI image from memory: manifest, two seal blobs and two
// configs fetched (and digest-checked) by FakeSource, then spec steps 1-8.
void BM_VerifierInMemory(benchmark::State& state, Algorithm a, int rsa_bits) {
  const PrivateKey& key = KeyFor(a, rsa_bits);
  testing::BaseImageSpec spec;
  spec.layers = 5;
  spec.architecture = Platform::Host().architecture;
  testing::TestImage image = testing::SealTestImage(testing::MakeBaseImage(spec), key, a);
  absl::StatusOr<Reference> ref = Reference::Parse("registry.test/bench/app:signed");
  if (!ref.ok()) Die("Reference::Parse", ref.status());
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
  state.counters["fetches/verify"] = benchmark::Counter(
      static_cast<double>(source.manifest_fetches + source.blob_fetches) /
      static_cast<double>(std::max<int64_t>(1, state.iterations())));
}

BENCHMARK_CAPTURE(BM_VerifierInMemory, ecdsa_p256, Algorithm::kEcdsaP256Sha256, 0);
BENCHMARK_CAPTURE(BM_VerifierInMemory, ed25519, Algorithm::kEd25519, 0);
BENCHMARK_CAPTURE(BM_VerifierInMemory, rsa3072_pkcs1, Algorithm::kRsaPkcs1v15Sha256, 3072);

}  // namespace
}  // namespace layerseal

BENCHMARK_MAIN();
