// Fuzzes the whole cosign / sigstore verification, sigstore::VerifyEntity
// (verifier/sigstore/bundle_verifier.h): the orchestration the parser targets do not reach
// (the tlog body matched to the signature, key/certificate and digest; SET, checkpoint and
// inclusion proof; RFC 3161 times; the Fulcio chain at each time; the SCT; the signature; the
// identity). Whether it admits does not matter; it must not crash, hang or leak, and its
// result must be well formed.
//
// Input (text, so the seeds are readable), sections split by kSep ("\n----\n"):
//   OPTIONS\n----\nTRUSTED_ROOT\n----\nSIGNATURE[\n----\nANNOTATIONS][\n----\nARTIFACT]
// OPTIONS: letters, in any order:
//   k  key-based: the policy trusts the two fixed test keys below, no identity;
//      without k, keyless: identities match loosely (one exact pattern nothing has, then
//      issuer and subject ".*"), so a certificate that verifies gets through step 9 too;
//   i  keyless identities: only the exact one nothing has (step 9 then fails, naming the
//      certificate's identity);
//   p  DSSE predicate types: only cosign's https://sigstore.dev/cosign/sign/v1;
//   n  no transparency log required (cosign's --insecure-ignore-tlog; key-based only);
//   l  SIGNATURE is a legacy .sig payload (simple signing) and ANNOTATIONS a JSON object of
//      its layer's annotations (FromLegacySig); else SIGNATURE is a bundle (ParseBundle);
//   b  ARTIFACT follows: the artifact's bytes (and their digest) are given;
//      else only the digest is known, taken from the signature itself so that step 2
//      (artifact binding) passes: the bundle's messageDigest, the first sha256 subject of
//      its in-toto statement, or the legacy payload's docker-manifest-digest.
// An empty TRUSTED_ROOT is no root (policy.root == nullptr); one that does not parse ends the
// run (trusted_root_fuzz covers the parser). `now` is fixed, so runs are reproducible.
// With $LAYERSEAL_FUZZ_VERBOSE set, each result's detail is printed (to check that a seed
// reaches as far as meant).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "tests/fuzz/fuzz_check.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/policy.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/dsse.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/json.h"
#include "verifier/sigstore/simple_signing.h"
#include "verifier/sigstore/trusted_root.h"

namespace {

namespace ls = layerseal;
namespace ss = layerseal::sigstore;

constexpr std::string_view kSep = "\n----\n";

// Test-only keys (never trusted outside tests): tests/fixtures/sigstore/keys/cosign.pub, and
// the sigstore-conformance corpus' managed-key-happy-path/key.pub.
constexpr std::string_view kFixtureKeyPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDLYGwk9+wS9bcAjQQV8dQMPpRZ5M\n"
    "3ZwnEGVToeCE01ayVIiWLfk1qseLvJ3+5lcOJdspMBandpKGxnyFZUYk/g==\n"
    "-----END PUBLIC KEY-----\n";
constexpr std::string_view kConformanceKeyPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExRRST79+PsrRBnGAI4cMu6Omz2Jh\n"
    "fwlMW+gIutNKVRaMyS4rQKvgngc5p8UbLj55pVHhIoAxi/SRgURZI0J3Xw==\n"
    "-----END PUBLIC KEY-----\n";

// Made once: the fixed keys and identity patterns (immutable, shared by every run).
struct Fixed {
  std::vector<ls::TrustedKey> keys;
  std::vector<ss::IdentityPattern> identities;
  absl::Time now = absl::FromUnixSeconds(4102444800);  // 2100-01-01: no signing time is "future"
  bool verbose = false;  // $LAYERSEAL_FUZZ_VERBOSE set: print each result (for writing seeds)
};

const Fixed& GetFixed() {
  static const Fixed* fixed = [] {
    auto* f = new Fixed;
    f->verbose = std::getenv("LAYERSEAL_FUZZ_VERBOSE") != nullptr;
    for (std::string_view pem : {kFixtureKeyPem, kConformanceKeyPem}) {
      absl::StatusOr<ls::PublicKey> k = ls::PublicKey::FromPem(pem);
      FUZZ_CHECK(k.ok());
      f->keys.push_back(ls::TrustedKey{"fixed", *std::move(k), std::nullopt});
    }
    absl::StatusOr<ss::IdentityPattern> none =
        ss::MakeIdentityPattern("nobody", "https://nobody.invalid", std::nullopt, "nobody@nobody.invalid",
                                std::nullopt);
    absl::StatusOr<ss::IdentityPattern> any =
        ss::MakeIdentityPattern("anyone", std::nullopt, ".*", std::nullopt, ".*");
    FUZZ_CHECK(none.ok() && any.ok());
    f->identities = {*std::move(none), *std::move(any)};
    return f;
  }();
  return *fixed;
}

std::vector<std::string_view> Split(std::string_view in) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t at = in.find(kSep);
    if (at == std::string_view::npos) {
      out.push_back(in);
      return out;
    }
    out.push_back(in.substr(0, at));
    in.remove_prefix(at + kSep.size());
  }
}

// The digest the entity itself says it signs (see the header), or nullopt.
std::optional<ls::Digest> DigestFromEntity(const ss::SignedEntity& e) {
  if (e.form == ss::SignedEntity::Form::kLegacySig) {
    absl::StatusOr<ss::SimpleSigning> s = ss::ParseSimpleSigning(e.legacy_payload);
    if (s.ok()) return s->manifest_digest;
    return std::nullopt;
  }
  if (e.message && e.message->digest.size() == 32) {
    absl::StatusOr<ls::Digest> d = ls::Digest::Parse("sha256:" + ls::HexEncode(e.message->digest));
    if (d.ok()) return *d;
  }
  if (e.dsse) {
    absl::StatusOr<ss::dsse::Statement> st = ss::dsse::ParseStatement(e.dsse->payload);
    if (!st.ok()) return std::nullopt;
    for (const ss::dsse::Subject& sub : st->subjects) {
      auto it = sub.digest.find("sha256");
      if (it == sub.digest.end()) continue;
      absl::StatusOr<ls::Digest> d = ls::Digest::Parse("sha256:" + it->second);
      if (d.ok()) return *d;
    }
  }
  return std::nullopt;
}

// ANNOTATIONS: a JSON object; its string members become the layer's annotations.
std::optional<std::map<std::string, std::string>> ParseAnnotations(std::string_view json) {
  absl::StatusOr<nlohmann::json> j = ss::ParseJsonDocument(json, 1 << 20, "annotations");
  if (!j.ok() || !j->is_object()) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixed& fixed = GetFixed();
  std::vector<std::string_view> parts = Split(ls::fuzz::AsView(data, size));
  if (parts.size() < 3) return 0;
  const std::string_view options = parts[0];
  const bool key_based = options.find('k') != std::string_view::npos;
  const bool no_tlog = options.find('n') != std::string_view::npos;
  const bool legacy = options.find('l') != std::string_view::npos;
  const bool with_bytes = options.find('b') != std::string_view::npos;
  const bool no_identity = options.find('i') != std::string_view::npos;
  const bool cosign_predicate = options.find('p') != std::string_view::npos;
  size_t next = 3;
  std::string_view annotations, artifact_bytes;
  if (legacy) {
    if (parts.size() <= next) return 0;
    annotations = parts[next++];
  }
  if (with_bytes) {
    if (parts.size() <= next) return 0;
    artifact_bytes = parts[next++];
  }
  if (parts.size() != next) return 0;

  std::optional<ss::TrustedRoot> root;
  if (!parts[1].empty()) {
    absl::StatusOr<ss::TrustedRoot> r = ss::TrustedRoot::Parse(parts[1], "fuzz");
    if (!r.ok()) return 0;
    root = *std::move(r);
  }

  ss::SignedEntity entity;
  if (legacy) {
    std::optional<std::map<std::string, std::string>> ann = ParseAnnotations(annotations);
    if (!ann) return 0;
    absl::StatusOr<ss::SignedEntity> e = ss::FromLegacySig(std::string(parts[2]), *ann);
    if (!e.ok()) return 0;
    entity = *std::move(e);
  } else {
    absl::StatusOr<ss::Bundle> b = ss::ParseBundle(parts[2]);
    if (!b.ok()) return 0;
    entity = ss::FromBundle(*std::move(b));
  }

  ss::Artifact artifact;
  if (with_bytes) {
    artifact.bytes = std::string(artifact_bytes);
    artifact.sha256 = ls::Digest::Sha256Of(artifact_bytes);
  } else {
    std::optional<ls::Digest> d = DigestFromEntity(entity);
    artifact.sha256 = d ? *d : ls::Digest::Sha256Of("");
  }

  ss::TrustPolicy policy;
  policy.root = root ? &*root : nullptr;
  policy.now = fixed.now;
  if (key_based) {
    for (const ls::TrustedKey& k : fixed.keys) policy.keys.push_back(&k);
    policy.require_tlog = !no_tlog;
  } else {
    policy.identities = fixed.identities;
    if (no_identity) policy.identities.resize(1);  // "nobody" only
  }
  if (cosign_predicate) policy.predicate_types = {"https://sigstore.dev/cosign/sign/v1"};

  ss::EntityResult r = ss::VerifyEntity(entity, artifact, policy);
  if (fixed.verbose) std::fprintf(stderr, "verify_entity: %s\n", r.detail.c_str());
  // A well-formed result: the deciding step named in the detail; a signer exactly on ALLOW,
  // of the kind the policy asked for.
  FUZZ_CHECK(r.step >= 1 && r.step <= 9);
  FUZZ_CHECK(!r.detail.empty());
  FUZZ_CHECK(r.ok() == r.signer.has_value());
  if (!r.ok()) {
    FUZZ_CHECK(r.detail.rfind("step ", 0) == 0);
  } else {
    FUZZ_CHECK(r.step == (key_based ? 8 : 9));
    FUZZ_CHECK(r.signer->kind == (key_based ? ss::SignerInfo::Kind::kCosignKey
                                            : ss::SignerInfo::Kind::kCosignKeyless));
    FUZZ_CHECK(r.signer->key_id.rfind("sha256:", 0) == 0);
    if (!key_based) FUZZ_CHECK(policy.root != nullptr && !no_identity);
    if (!key_based || policy.require_tlog) FUZZ_CHECK(r.signer->log_index >= 0);
  }
  return 0;
}
