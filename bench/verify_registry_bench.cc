// End to end: Verifier::Verify of a signed 5-layer image served by a real docker-registry on
// loopback, through registry::RegistryClient. There is no verdict cache, so every iteration is
// an uncached verification (1 manifest GET + 4 blob GETs: two seal layers, two configs). The
// verifier fetches the blobs concurrently (3 round trips: the manifest, then both seals and
// the image config, then the base config); each benchmark also runs with its fetches forced
// one at a time (_serial: 5 round trips, the verifier before issue 17). Counters:
// round_trips/verify and requests/verify.
//
//   BM_VerifyRegistry/fresh_client   a new RegistryClient per verification (constructor included)
//   BM_VerifyRegistry/reused_client  one RegistryClient for all verifications
//   .../tls_*                        the same against the registry over TLS (test CA)
//   .../keyless_*                    issue 17: the same 5 base layers WITHOUT seals, signed
//                                    keyless instead: a cosign v0.3 bundle (DSSE, Rekor v1 with
//                                    SET + inclusion proof; _rekor2: Rekor v2 + RFC 3161) found
//                                    through the referrers fallback tag sha256-<hex>, on the
//                                    same docker-registry, under a scope `signatures: [cosign]`.
//                                    The bundles come from tests/fixtures/sigstore/
//                                    make_fixtures.mjs (run at start, as cosign_registry_test
//                                    does); without its node_modules they are skipped.
//   .../notation_*                   issue 20: the same 5 base layers WITHOUT seals, signed with a
//                                    Notary Project JWS envelope (ECDSA P-256 leaf under a CA,
//                                    made in process by tests/support/notation_sign.h) found
//                                    through the referrers fallback tag sha256-<hex>, under a
//                                    scope `signatures: [notation]` at level strict with a CRL
//                                    for the ca store (so revocation is checked too): the
//                                    manifest, then the referrers API (404) and the fallback
//                                    tag, then the signature manifest, then the envelope.
//   BM_FetchBlob                     one small blob GET through RegistryClient (per-request cost)
//   BM_RawCurl/new_handle            the same GET with libcurl, a new easy handle each time
//                                    (what registry/internal/http.cc does: a new connection)
//   BM_RawCurl/reused_handle         the same GET on one easy handle (keep-alive connection)
//
// Each verification is timed on its own; the program prints p50/p90/p99 per benchmark after
// the Google Benchmark report (whose "median" rows are medians of per-repetition means).
// Figures and how to reproduce them: docs/performance.md.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <string>
#include <vector>

#include <filesystem>

#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/cosign_images.h"
#include "tests/support/images.h"
#include "tests/support/notation_sign.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/notation/envelope.h"
#include "verifier/image_source.h"
#include "verifier/policy.h"
#include "verifier/reference.h"
#include "base/str_cat.h"
#include "verifier/verifier.h"

namespace layerseal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRepetitions = 10;

[[noreturn]] void Die(std::string_view what, const absl::Status& s) {
  std::fprintf(stderr, "verify_registry_bench: %.*s: %.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(s.message().size()), s.message().data());
  std::exit(1);
}

// One registry with the signed image pushed to it.
struct Target {
  std::unique_ptr<testing::RegistryServer> server;
  Reference ref;
  std::string config_url;  // plain-http URL of the image's config blob (for BM_RawCurl)
  Digest config_digest;
};

// A keyless-signed image in the plain registry (repository `ref`), its policy in `policy`.
struct Keyless {
  std::string error;  // non-empty: not set up (the benchmarks skip with it)
  Reference ref;
};

struct World {
  PrivateKey key;
  Policy policy;
  Target plain;
  Target tls;
  Policy keyless_policy;  // scopes for keyless and keyless_rekor2 (cosign signatures only)
  Keyless keyless, keyless_rekor2;
  Policy notation_policy;  // the scope for notation (notation signatures only)
  Keyless notation;
};
World* world = nullptr;

// Per-call latencies in milliseconds, per benchmark name, over all repetitions.
std::map<std::string, std::vector<double>>& Samples() {
  static auto* samples = new std::map<std::string, std::vector<double>>();
  return *samples;
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Target StartAndPush(bool tls, const testing::TestImage& image) {
  testing::RegistryServerOptions options;
  options.tls = tls;
  absl::StatusOr<std::unique_ptr<testing::RegistryServer>> server =
      testing::RegistryServer::Start(options);
  if (!server.ok()) Die("RegistryServer::Start", server.status());
  Target t;
  t.server = *std::move(server);
  absl::StatusOr<Reference> ref = Reference::Parse(StrCat(t.server->host(), "/bench/app:signed"));
  if (!ref.ok()) Die("Reference::Parse", ref.status());
  t.ref = *ref;
  registry::RegistryClient client(t.server->ClientOptions());
  if (absl::Status s = testing::PushTestImage(client, t.ref, image); !s.ok()) Die("push", s);
  auto manifest = nlohmann::json::parse(image.manifest);
  absl::StatusOr<Digest> config = Digest::Parse(manifest["config"]["digest"].get<std::string>());
  if (!config.ok()) Die("config digest", config.status());
  t.config_digest = *config;
  t.config_url = StrCat(tls ? "https://" : "http://", t.server->host(), "/v2/bench/app/blobs/",
                        config->str());
  return t;
}

// Times each fetch the verifier makes, so a slow verification can be split into requests, and
// counts round trips: the times the number of requests in flight rises from 0 (a request that
// starts while another runs shares its round trip). With `serial`, one request at a time,
// in the order the verifier asks: how the verifier fetched before issue 17 (5 sequential
// GETs), measured in the same binary on the same registry for a fair before/after.
// Thread-safe: the verifier fetches concurrently (verifier/fetch_group.h).
class TimedSource : public ImageSource {
 public:
  TimedSource(ImageSource* inner, const std::string& name, bool serial,
              absl::Duration rtt = absl::ZeroDuration())
      : inner_(inner),
        serial_(serial),
        rtt_(rtt),
        manifests_(Samples()[name + " .FetchManifest"]),
        blobs_(Samples()[name + " .FetchBlob"]),
        referrers_(Samples()[name + " .FetchReferrers"]) {}
  absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref, size_t max_bytes) override {
    return Timed(manifests_, [&] { return inner_->FetchManifest(ref, max_bytes); });
  }
  absl::StatusOr<std::string> FetchBlob(const Reference& repo, const Digest& digest,
                                        size_t max_bytes) override {
    return Timed(blobs_, [&] { return inner_->FetchBlob(repo, digest, max_bytes); });
  }
  // The OCI 1.1 referrers API (cosign scopes look it up beside the fallback and .sig tags; a
  // docker-registry 2.8 answers 404, which is still a request and a round trip).
  absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo, const Digest& subject,
                                                 std::string_view artifact_type,
                                                 size_t max_bytes) override {
    return Timed(referrers_, [&] { return inner_->FetchReferrers(repo, subject, artifact_type, max_bytes); });
  }
  int round_trips() const { return round_trips_; }
  int requests() const { return requests_; }

 private:
  template <typename F>
  std::invoke_result_t<F> Timed(std::vector<double>& samples, F fetch) {
    std::unique_lock<std::mutex> serial_lock(serial_mu_, std::defer_lock);
    if (serial_) serial_lock.lock();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_;
      if (in_flight_++ == 0) ++round_trips_;
    }
    Clock::time_point start = Clock::now();
    if (rtt_ > absl::ZeroDuration()) absl::SleepFor(rtt_);  // a network round trip, no CPU
    auto result = fetch();
    double ms = MsSince(start);
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    samples.push_back(ms);
    return result;
  }

  ImageSource* inner_;
  const bool serial_;
  const absl::Duration rtt_;  // added to every request: a registry that far away
  std::mutex serial_mu_;  // held across a request when serial_
  std::mutex mu_;         // guards the counters and the sample vectors
  int in_flight_ = 0, round_trips_ = 0, requests_ = 0;
  std::vector<double>& manifests_;
  std::vector<double>& blobs_;
  std::vector<double>& referrers_;
};

void Check(benchmark::State& state, const Verdict& v) {
  if (v.reason != Reason::kVerified) {
    state.SkipWithError(StrCat("not verified: ", ReasonName(v.reason), ": ", v.detail).c_str());
  }
}

enum class Image { kSeal, kSealTls, kKeyless, kKeylessRekor2, kNotation };

void BM_VerifyRegistry(benchmark::State& state, const char* name, Image which, bool reuse_client,
                       bool serial, int rtt_ms) {
  const Target& t = which == Image::kSealTls ? world->tls : world->plain;
  const Keyless* keyless = which == Image::kKeyless         ? &world->keyless
                           : which == Image::kKeylessRekor2 ? &world->keyless_rekor2
                           : which == Image::kNotation      ? &world->notation
                                                            : nullptr;
  if (keyless != nullptr && !keyless->error.empty()) {
    state.SkipWithError(keyless->error.c_str());
    return;
  }
  const Reference& ref = keyless != nullptr ? keyless->ref : t.ref;
  const Policy* policy = which == Image::kNotation ? &world->notation_policy
                         : keyless != nullptr       ? &world->keyless_policy
                                                    : &world->policy;
  std::vector<double>& samples = Samples()[name];
  std::unique_ptr<registry::RegistryClient> reused;
  if (reuse_client) reused = std::make_unique<registry::RegistryClient>(t.server->ClientOptions());
  int64_t round_trips = 0, requests = 0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    Verdict v;
    std::unique_ptr<registry::RegistryClient> fresh;
    if (!reuse_client) fresh = std::make_unique<registry::RegistryClient>(t.server->ClientOptions());
    TimedSource timed(reuse_client ? reused.get() : fresh.get(), name, serial,
                      absl::Milliseconds(rtt_ms));
    v = Verifier(&timed, policy, Platform::Host()).Verify(ref);
    samples.push_back(MsSince(start));
    round_trips += timed.round_trips();
    requests += timed.requests();
    Check(state, v);
  }
  const double n = static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.counters["round_trips/verify"] = static_cast<double>(round_trips) / n;
  state.counters["requests/verify"] = static_cast<double>(requests) / n;
  state.SetItemsProcessed(state.iterations());
}

void BM_FetchBlob(benchmark::State& state, const char* name, bool tls) {
  const Target& t = tls ? world->tls : world->plain;
  std::vector<double>& samples = Samples()[name];
  registry::RegistryClient client(t.server->ClientOptions());
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    absl::StatusOr<std::string> blob = client.FetchBlob(t.ref, t.config_digest, 1 << 20);
    samples.push_back(MsSince(start));
    if (!blob.ok()) {
      state.SkipWithError(std::string(Sv(blob.status().message())).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// The config blob GET with bare libcurl (plain HTTP): a new easy handle per request, as
// registry/internal/http.cc does, or one handle whose connection libcurl keeps alive.
void BM_RawCurl(benchmark::State& state, const char* name, bool reuse_handle) {
  const Target& t = world->plain;
  std::vector<double>& samples = Samples()[name];
  CURL* kept = reuse_handle ? curl_easy_init() : nullptr;
  long connects = 0;
  curl_off_t connect_us = 0, server_us = 0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    CURL* c = reuse_handle ? kept : curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, t.config_url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0, n = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
    connects += n;
    // connect: TCP handshake (0 on a reused connection); server: request sent to first byte.
    curl_off_t connect = 0, pretransfer = 0, first_byte = 0;
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect);
    curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
    connect_us += connect;
    server_us += first_byte - pretransfer;
    if (!reuse_handle) curl_easy_cleanup(c);
    samples.push_back(MsSince(start));
    if (rc != CURLE_OK || status != 200) {
      state.SkipWithError(StrCat("GET ", t.config_url, ": ", curl_easy_strerror(rc), " HTTP ",
                                 status).c_str());
      break;
    }
  }
  if (kept != nullptr) curl_easy_cleanup(kept);
  const double n = static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.counters["new_connections/request"] = static_cast<double>(connects) / n;
  state.counters["connect_us"] = static_cast<double>(connect_us) / n;
  state.counters["server_us"] = static_cast<double>(server_us) / n;
  state.SetItemsProcessed(state.iterations());
}

// Per-call samples are keyed by the registered name (benchmark 1.7's State has no name()).
template <typename... Args>
void Register(const char* name, void (*fn)(benchmark::State&, const char*, Args...),
              Args... args) {
  benchmark::RegisterBenchmark(name, fn, name, args...)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Repetitions(kRepetitions)
      ->ReportAggregatesOnly(true);
}

void RegisterAll() {
  // Concurrent fetches after the manifest (the verifier as it is), then the same one request
  // at a time (_serial: the sequential verifier before issue 17, for before/after).
  Register("BM_VerifyRegistry/fresh_client", BM_VerifyRegistry, Image::kSeal, false, false, 0);
  Register("BM_VerifyRegistry/fresh_client_serial", BM_VerifyRegistry, Image::kSeal, false, true, 0);
  Register("BM_VerifyRegistry/reused_client", BM_VerifyRegistry, Image::kSeal, true, false, 0);
  Register("BM_VerifyRegistry/reused_client_serial", BM_VerifyRegistry, Image::kSeal, true, true, 0);
  Register("BM_VerifyRegistry/tls_fresh_client", BM_VerifyRegistry, Image::kSealTls, false, false, 0);
  Register("BM_VerifyRegistry/tls_fresh_client_serial", BM_VerifyRegistry, Image::kSealTls, false, true, 0);
  Register("BM_VerifyRegistry/tls_reused_client", BM_VerifyRegistry, Image::kSealTls, true, false, 0);
  Register("BM_VerifyRegistry/tls_reused_client_serial", BM_VerifyRegistry, Image::kSealTls, true, true, 0);
  // The registry 1 ms away (the same data centre) and 10 ms away (a sleep per request:
  // network latency, not CPU), where round trips, not the registry's CPU, decide.
  Register("BM_VerifyRegistry/reused_client_rtt1ms", BM_VerifyRegistry, Image::kSeal, true, false, 1);
  Register("BM_VerifyRegistry/reused_client_rtt1ms_serial", BM_VerifyRegistry, Image::kSeal, true, true, 1);
  Register("BM_VerifyRegistry/reused_client_rtt10ms", BM_VerifyRegistry, Image::kSeal, true, false, 10);
  Register("BM_VerifyRegistry/reused_client_rtt10ms_serial", BM_VerifyRegistry, Image::kSeal, true, true, 10);
  // Issue 17: keyless cosign bundles (fallback tag) on the same registry as the seal cases.
  Register("BM_VerifyRegistry/keyless_fresh_client", BM_VerifyRegistry, Image::kKeyless, false, false, 0);
  Register("BM_VerifyRegistry/keyless_reused_client", BM_VerifyRegistry, Image::kKeyless, true, false, 0);
  Register("BM_VerifyRegistry/keyless_rekor2_reused_client", BM_VerifyRegistry, Image::kKeylessRekor2, true,
           false, 0);
  Register("BM_VerifyRegistry/keyless_reused_client_rtt10ms", BM_VerifyRegistry, Image::kKeyless, true, false, 10);
  // Issue 20: a notation JWS signature (fallback tag) on the same registry.
  Register("BM_VerifyRegistry/notation_fresh_client", BM_VerifyRegistry, Image::kNotation, false, false, 0);
  Register("BM_VerifyRegistry/notation_reused_client", BM_VerifyRegistry, Image::kNotation, true, false, 0);
  Register("BM_VerifyRegistry/notation_reused_client_serial", BM_VerifyRegistry, Image::kNotation, true, true, 0);
  Register("BM_VerifyRegistry/notation_reused_client_rtt10ms", BM_VerifyRegistry, Image::kNotation, true, false, 10);
  Register("BM_FetchBlob/plain", BM_FetchBlob, false);
  Register("BM_FetchBlob/tls", BM_FetchBlob, true);
  Register("BM_RawCurl/new_handle", BM_RawCurl, false);
  Register("BM_RawCurl/reused_handle", BM_RawCurl, true);
}

// The keyless images: `base` (unsealed) pushed to bench/cosign and bench/cosign-rekor2 of the
// plain registry, the fixtures made over it by make_fixtures.mjs in `dir`, each repository's
// fallback tag listing one bundle, and the policy trusting the fixtures' identity and root.
void SetUpKeyless(World& w, const testing::TestImage& base, const testing::TempDir& dir) {
  const std::string src = StrCat(LAYERSEAL_SOURCE_DIR, "/tests/fixtures/sigstore");
  auto fail = [&](const std::string& why) {
    w.keyless.error = w.keyless_rekor2.error = why;
    std::fprintf(stderr, "verify_registry_bench: keyless cases skipped: %s\n", why.c_str());
  };
  if (!std::filesystem::exists(src + "/node_modules/@sigstore/sign")) {
    return fail(StrCat(src, "/node_modules is missing: run scripts/setup (npm ci)"));
  }
  const std::string out = dir.File("fixtures");
  const std::string manifest = dir.File("app.manifest");
  testing::WriteFileOrDie(manifest, base.manifest);
  absl::StatusOr<testing::RunResult> made =
      testing::Run({"node", src + "/make_fixtures.mjs", "--out", out, "--image",
                    StrCat("app=", base.digest.str(), ":", manifest)},
                   "", absl::Minutes(5));
  if (!made.ok() || made->exit_code != 0) {
    return fail(StrCat("make_fixtures.mjs failed: ", made.ok() ? made->err : made.status().ToString()));
  }
  const std::string host = w.plain.server->host();
  registry::RegistryClient client(w.plain.server->ClientOptions());
  for (auto [k, repo, fixture] : {std::tuple{&w.keyless, "bench/cosign", "bundle-v03-dsse"},
                                  std::tuple{&w.keyless_rekor2, "bench/cosign-rekor2", "bundle-v03-dsse-rekor2"}}) {
    absl::StatusOr<Reference> ref = Reference::Parse(StrCat(host, "/", repo, ":signed"));
    if (!ref.ok()) Die("Reference::Parse", ref.status());
    k->ref = *ref;
    if (absl::Status s = testing::PushTestImage(client, k->ref, base); !s.ok()) Die("push", s);
    std::string bundle = testing::ReadFileOrDie(StrCat(out, "/app/", fixture, "/bundle.json"));
    testing::TestImage referrer = testing::MakeBundleReferrer(testing::SubjectOf(base), bundle);
    if (absl::Status s = testing::PushFallbackIndex(client, k->ref, base.digest,
                                                    testing::MakeFallbackIndex({referrer}));
        !s.ok()) {
      Die("push fallback index", s);
    }
  }
  nlohmann::json index = nlohmann::json::parse(testing::ReadFileOrDie(out + "/index.json"));
  std::string scope = "{requirement: signed, signatures: [cosign], identities: [ci], trustedRoot: test}";
  std::string yaml = StrCat("version: 1\n"
                            "trustedRoots:\n  test: {path: trusted_root.json}\n"
                            "identities:\n  ci: {issuer: \"", index["issuer"].get<std::string>(),
                            "\", subject: \"", index["identity"].get<std::string>(), "\"}\n"
                            "default: {requirement: reject}\n"
                            "scopes:\n"
                            "  \"", host, "/bench/cosign\": ", scope, "\n"
                            "  \"", host, "/bench/cosign-rekor2\": ", scope, "\n");
  absl::StatusOr<Policy> policy = Policy::Parse(yaml, out, "keyless policy");
  if (!policy.ok()) Die("keyless policy", policy.status());
  w.keyless_policy = *std::move(policy);
}

// DER certificate as one PEM block.
std::string CertPem(const std::string& der) {
  std::string b64 = absl::Base64Escape(der), out = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END CERTIFICATE-----\n";
}

// The notation image: `base` (unsealed) pushed to bench/notation of the plain registry, a JWS
// envelope over its manifest by a leaf under a test CA, its signature manifest (as notation
// writes it) listed by the fallback tag, and the policy: the CA in a ca store with an empty
// CRL, level strict, any identity.
void SetUpNotation(World& w, const testing::TestImage& base, const testing::TempDir& dir) {
  testing::TestCert root = testing::MakeCert({"C=US,ST=WA,O=bench,CN=bench root", testing::CertKind::kCa},
                                             testing::NewEcKey(NID_X9_62_prime256v1), nullptr);
  testing::TestCert leaf = testing::MakeCert({"C=US,ST=WA,O=bench,CN=bench signer"},
                                             testing::NewEcKey(NID_X9_62_prime256v1), &root);
  testing::EnvelopeSpec e;
  e.target_media_type = base.media_type;
  e.target_digest = base.digest.str();
  e.target_size = static_cast<int64_t>(base.manifest.size());
  e.signing_time = absl::Now() - absl::Minutes(1);
  e.chain = {leaf.der, root.der};
  e.key = leaf.key;
  std::string envelope = testing::SignEnvelope(e);

  testing::TestImage sig;
  sig.media_type = std::string(kOciManifest);
  nlohmann::ordered_json m = {{"schemaVersion", 2}, {"mediaType", sig.media_type},
                              {"artifactType", std::string(notation::kSignatureArtifactType)}};
  m["config"] = testing::AddBlob(sig, "application/vnd.oci.empty.v1+json", "{}");
  m["layers"] = nlohmann::ordered_json::array({testing::AddBlob(sig, notation::kJwsMediaType, envelope)});
  m["subject"] = {{"mediaType", base.media_type}, {"digest", base.digest.str()}, {"size", base.manifest.size()}};
  m["annotations"] = {{std::string(notation::kThumbprintAnnotation),
                       StrCat(R"([")", Digest::Sha256Of(leaf.der).hex(), R"(",")",
                              Digest::Sha256Of(root.der).hex(), R"("])")}};
  testing::SetManifest(sig, m.dump());

  const std::string host = w.plain.server->host();
  registry::RegistryClient client(w.plain.server->ClientOptions());
  absl::StatusOr<Reference> ref = Reference::Parse(StrCat(host, "/bench/notation:signed"));
  if (!ref.ok()) Die("Reference::Parse", ref.status());
  w.notation.ref = *ref;
  if (absl::Status s = testing::PushTestImage(client, w.notation.ref, base); !s.ok()) Die("push", s);
  if (absl::Status s = testing::PushFallbackIndex(
          client, w.notation.ref, base.digest,
          testing::MakeFallbackIndex({sig}, testing::FallbackArtifactType::kFromManifest));
      !s.ok()) {
    Die("push notation fallback index", s);
  }
  std::filesystem::create_directories(dir.File("notation/truststore/x509/ca/bench"));
  testing::WriteFileOrDie(dir.File("notation/truststore/x509/ca/bench/root.pem"), CertPem(root.der));
  testing::WriteFileOrDie(dir.File("notation/bench.crl"),
                          testing::MakeCrl(root, absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24), {}));
  std::string yaml = StrCat("version: 1\n"
                            "trustStores:\n"
                            "  bench-ca: {type: ca, path: truststore/x509/ca/bench, crl: bench.crl}\n"
                            "default: {requirement: reject}\n"
                            "scopes:\n"
                            "  \"", host, "/bench/notation\":\n"
                            "    requirement: signed\n"
                            "    signatures: [notation]\n"
                            "    notation: {level: strict, trustStores: [bench-ca], trustedIdentities: [\"*\"]}\n");
  absl::StatusOr<Policy> policy = Policy::Parse(yaml, dir.File("notation"), "notation policy");
  if (!policy.ok()) {
    w.notation.error = StrCat("notation policy: ", Sv(policy.status().message()));
    std::fprintf(stderr, "verify_registry_bench: notation cases skipped: %s\n", w.notation.error.c_str());
    return;
  }
  w.notation_policy = *std::move(policy);
}

double Percentile(std::vector<double>& v, double p) {
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

void PrintPercentiles() {
  std::printf("\nPer-call latency over all repetitions (ms):\n");
  std::printf("%-44s %8s %8s %8s %8s %8s\n", "benchmark", "calls", "p50", "p90", "p99", "max");
  for (auto& [name, v] : Samples()) {
    if (v.empty()) continue;
    double p50 = Percentile(v, 0.50), p90 = Percentile(v, 0.90), p99 = Percentile(v, 0.99);
    double max = *std::max_element(v.begin(), v.end());
    std::printf("%-44s %8zu %8.3f %8.3f %8.3f %8.3f\n", name.c_str(), v.size(), p50, p90, p99,
                max);
  }
}

}  // namespace
}  // namespace layerseal

int main(int argc, char** argv) {
  using namespace layerseal;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  curl_global_init(CURL_GLOBAL_DEFAULT);

  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  if (!key.ok()) Die("PrivateKey::Generate", key.status());
  testing::BaseImageSpec spec;
  spec.layers = 5;
  spec.architecture = Platform::Host().architecture;
  testing::TestImage image = testing::SealTestImage(testing::MakeBaseImage(spec), *key);

  World w{*key, Policy::TrustingKeys({key->public_key()}), StartAndPush(false, image),
          StartAndPush(true, image), Policy(), Keyless(), Keyless(), Policy(), Keyless()};
  testing::TempDir dir;
  SetUpKeyless(w, testing::MakeBaseImage(spec), dir);
  SetUpNotation(w, testing::MakeBaseImage(spec), dir);
  world = &w;
  std::fprintf(stderr, "registries: http://%s and https://%s, image %s (5 base layers + 2 seal "
               "layers), key ecdsa-p256-sha256\n",
               w.plain.server->host().c_str(), w.tls.server->host().c_str(),
               image.digest.str().c_str());

  RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  PrintPercentiles();
  benchmark::Shutdown();
  world = nullptr;
  return 0;
}
