#include "verifier/sigstore/bundle_verifier.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/checkpoint.h"
#include "verifier/sigstore/dsse.h"
#include "verifier/sigstore/fulcio.h"
#include "verifier/sigstore/rekor.h"
#include "verifier/sigstore/rfc3161.h"
#include "verifier/sigstore/sct.h"
#include "verifier/sigstore/signature.h"
#include "verifier/sigstore/simple_signing.h"

namespace layerseal::sigstore {
namespace {

// The names the detail gives each step ("step <n> <name>: <why>"), docs/sigstore.md.
constexpr std::string_view kStepNames[] = {"",      "parse",       "artifact", "material",
                                           "tlog",  "times",       "certificate", "sct",
                                           "signature", "identity"};

EntityResult Fail(int step, Reason reason, std::string_view why) {
  return {reason, StrCat("step ", step, " ", kStepNames[step], ": ", why), step, std::nullopt};
}

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The first 8 hex digits of a log id, enough to name it in a detail.
std::string ShortHex(std::string_view raw) { return HexEncode(raw.substr(0, 4)); }

// A candidate key for key-based verification: the policy's name for it, its SPKI and key.
struct KeyCandidate {
  const TrustedKey* trusted = nullptr;
  std::string spki_der;
  std::shared_ptr<EVP_PKEY> pkey;
};

// The signature bytes that RFC 3161 tokens and log entries cover.
std::string_view SignatureBytes(const SignedEntity& e) {
  if (e.dsse) return e.dsse->signatures.empty() ? std::string_view() : e.dsse->signatures[0].sig;
  return e.message ? std::string_view(e.message->signature) : std::string_view();
}

// Step 2: the entity signs `artifact`. SUBJECT_MISMATCH when it signs something else.
std::optional<EntityResult> CheckArtifact(const SignedEntity& e, const Artifact& artifact,
                                          const TrustPolicy& policy) {
  if (artifact.sha256.empty() || artifact.sha256.algorithm() != "sha256") {
    return Fail(2, Reason::kSubjectMismatch, "no sha256 digest of the artifact to check against");
  }
  std::string want_raw = absl::HexStringToBytes(std::string(artifact.sha256.hex()));
  if (e.form == SignedEntity::Form::kLegacySig) {
    absl::StatusOr<SimpleSigning> ss = ParseSimpleSigning(e.legacy_payload);
    if (!ss.ok()) return Fail(2, Reason::kMalformedSignature, StrCat("simple-signing payload: ", Msg(ss.status())));
    if (!(ss->manifest_digest == artifact.sha256)) {
      return Fail(2, Reason::kSubjectMismatch,
                  StrCat("the payload signs ", ss->manifest_digest.str(), ", not ", artifact.sha256.str(),
                         ss->docker_reference.empty() ? "" : StrCat(" (docker-reference ", ss->docker_reference, ")")));
    }
    return std::nullopt;
  }
  if (e.message) {
    if (e.message->digest_algorithm.empty() && e.message->digest.empty()) {
      // A bundle may omit messageDigest; the signature (step 8) binds the artifact then.
      if (!artifact.bytes) {
        return Fail(2, Reason::kSubjectMismatch,
                    "the bundle has no messageDigest and only the artifact's digest is known");
      }
      return std::nullopt;
    }
    if (e.message->digest_algorithm != "SHA2_256") {
      return Fail(2, Reason::kSubjectMismatch,
                  StrCat("messageDigest.algorithm is \"", e.message->digest_algorithm, "\", not SHA2_256"));
    }
    if (e.message->digest != want_raw) {
      return Fail(2, Reason::kSubjectMismatch,
                  StrCat("messageDigest sha256:", HexEncode(e.message->digest), " is not the artifact's ",
                         artifact.sha256.str()));
    }
    return std::nullopt;
  }
  if (e.dsse) {
    if (e.dsse->payload_type != dsse::kInTotoPayloadType) {
      return Fail(2, Reason::kSubjectMismatch,
                  StrCat("DSSE payloadType \"", e.dsse->payload_type, "\" is not ", dsse::kInTotoPayloadType));
    }
    absl::StatusOr<dsse::Statement> st = dsse::ParseStatement(e.dsse->payload);
    if (!st.ok()) return Fail(2, Reason::kMalformedSignature, StrCat("in-toto statement: ", Msg(st.status())));
    if (!policy.predicate_types.empty() &&
        std::find(policy.predicate_types.begin(), policy.predicate_types.end(), st->predicate_type) ==
            policy.predicate_types.end()) {
      return Fail(2, Reason::kSubjectMismatch,
                  StrCat("predicateType \"", st->predicate_type, "\" is not accepted"));
    }
    if (!dsse::HasSubjectDigest(*st, artifact.sha256)) {
      return Fail(2, Reason::kSubjectMismatch,
                  StrCat("no subject of the in-toto statement (", st->subjects.size(), " subjects) has ",
                         artifact.sha256.str()));
    }
    return std::nullopt;
  }
  return Fail(1, Reason::kMalformedSignature, "neither a message signature nor a DSSE envelope");
}

// Step 4f: the log entry body is for this very signature, key/certificate and artifact.
// Returns the index of the matching body signature, or why not.
absl::StatusOr<size_t> MatchBody(const EntryBody& body, const SignedEntity& e, const Artifact& artifact,
                                 std::string_view leaf_der,
                                 const std::vector<KeyCandidate>& keys, size_t* key_index) {
  std::string_view sig = SignatureBytes(e);
  size_t i = 0;
  for (; i < body.signatures.size(); ++i) {
    if (body.signatures[i] == sig) break;
  }
  if (i == body.signatures.size()) {
    return absl::PermissionDeniedError("the logged signature is not the bundle's signature");
  }
  if (i >= body.verifiers_der.size() || i >= body.verifier_is_cert.size()) {
    return absl::PermissionDeniedError("the logged signature has no verifier");
  }
  const std::string& verifier = body.verifiers_der[i];
  if (!leaf_der.empty()) {
    if (body.verifier_is_cert[i]) {
      if (verifier != leaf_der) return absl::PermissionDeniedError("the logged certificate is not the bundle's");
    } else {
      return absl::PermissionDeniedError("the log holds a public key, the bundle a certificate");
    }
  } else {
    if (body.verifier_is_cert[i]) {
      return absl::PermissionDeniedError("the log holds a certificate, the bundle a public key");
    }
    size_t k = 0;
    for (; k < keys.size(); ++k) {
      if (keys[k].spki_der == verifier) break;
    }
    if (k == keys.size()) {
      return absl::NotFoundError(StrCat("the logged key sha256:", HexEncode(Sha256(verifier)),
                                        " is not one of the trusted keys"));
    }
    *key_index = k;
  }
  // The digest the entry records.
  std::string want;
  std::string what;
  switch (body.kind) {
    case BodyKind::kHashedRekord001:
    case BodyKind::kHashedRekord002:
      if (e.form == SignedEntity::Form::kLegacySig) {
        want = Sha256(e.legacy_payload);
        what = "SHA-256 of the simple-signing payload";
      } else if (e.message) {
        // Without a messageDigest, the artifact's own (step 2 required its bytes then).
        want = e.message->digest.empty() ? absl::HexStringToBytes(std::string(artifact.sha256.hex()))
                                         : e.message->digest;
        what = e.message->digest.empty() ? "artifact's digest" : "messageDigest";
      } else if (e.dsse && body.kind == BodyKind::kHashedRekord002) {
        want = Sha256(dsse::Pae(e.dsse->payload_type, e.dsse->payload));
        what = "SHA-256 of the DSSE PAE";
      } else {
        return absl::PermissionDeniedError("a hashedrekord 0.0.1 entry cannot log a DSSE envelope");
      }
      break;
    case BodyKind::kDsse001:
    case BodyKind::kDsse002:
    case BodyKind::kIntoto002:
      if (!e.dsse) return absl::PermissionDeniedError("a dsse/intoto entry logs a DSSE envelope, the bundle has none");
      want = Sha256(e.dsse->payload);
      what = "SHA-256 of the DSSE payload";
      break;
  }
  if (!body.digest_alg.empty() && body.digest_alg != "sha256") {
    return absl::PermissionDeniedError(StrCat("the logged digest is ", body.digest_alg, ", not sha256"));
  }
  if (body.digest != want) {
    return absl::PermissionDeniedError(StrCat("the logged digest sha256:", HexEncode(body.digest), " is not the ",
                                              what, " sha256:", HexEncode(want)));
  }
  return i;
}

}  // namespace

EntityResult VerifyEntity(const SignedEntity& e, const Artifact& artifact, const TrustPolicy& policy) {
  // ---- Step 1 (what the parsers leave): one signature, a material the form allows.
  const bool keyless = e.material != Bundle::Material::kPublicKey;
  if (e.dsse.has_value() == e.message.has_value()) {
    return Fail(1, Reason::kMalformedSignature, "exactly one of messageSignature and dsseEnvelope is needed");
  }
  if (e.dsse && e.dsse->signatures.size() != 1) {
    return Fail(1, Reason::kMalformedSignature,
                StrCat("the DSSE envelope has ", e.dsse->signatures.size(), " signatures, not exactly one"));
  }
  if (SignatureBytes(e).empty()) return Fail(1, Reason::kMalformedSignature, "the signature is empty");
  if (keyless && e.certs_der.empty()) {
    return Fail(1, Reason::kMalformedSignature, "the certificate chain is empty");
  }
  if (!keyless && !e.certs_der.empty()) {
    return Fail(1, Reason::kMalformedSignature, "a public-key bundle carries certificates");
  }
  if (e.tlog.size() > kMaxTlogEntries) {
    return Fail(1, Reason::kLimitExceeded, StrCat(e.tlog.size(), " log entries (at most ", kMaxTlogEntries, ")"));
  }
  if (e.timestamps.size() > kMaxRfc3161Timestamps) {
    return Fail(1, Reason::kLimitExceeded,
                StrCat(e.timestamps.size(), " RFC 3161 timestamps (at most ", kMaxRfc3161Timestamps, ")"));
  }

  // ---- Step 2: artifact binding (no cryptography).
  if (std::optional<EntityResult> r = CheckArtifact(e, artifact, policy)) return *r;

  // ---- Step 3: the material against the policy.
  std::shared_ptr<X509> leaf;
  std::string leaf_der;
  std::vector<KeyCandidate> keys;
  if (keyless) {
    absl::StatusOr<std::shared_ptr<X509>> cert = ParseCertificate(e.certs_der[0]);
    if (!cert.ok()) return Fail(3, Reason::kMalformedSignature, StrCat("signing certificate: ", Msg(cert.status())));
    leaf = *std::move(cert);
    leaf_der = e.certs_der[0];
    if (policy.identities.empty()) {
      return Fail(3, Reason::kUntrustedIdentity,
                  "signed by a certificate (keyless), but no signer identity is trusted here");
    }
    if (policy.root == nullptr) {
      return Fail(3, Reason::kUntrustedCertificate, "keyless signature, but no trusted root is configured");
    }
  } else {
    if (policy.keys.empty()) {
      return Fail(3, Reason::kUntrustedKey, "signed by a public key, but no key is trusted here (identities only)");
    }
    // publicKey.hint is base64(SHA-256(SPKI)) for cosign and sigstore-go; it selects the key
    // when it names one, else every trusted key is a candidate (the hint is only a hint).
    std::vector<KeyCandidate> all;
    for (const TrustedKey* k : policy.keys) {
      if (k == nullptr) continue;
      KeyCandidate c{k, k->key.ToDer(), nullptr};
      absl::StatusOr<std::shared_ptr<EVP_PKEY>> pkey = KeyFromSpkiDer(c.spki_der);
      if (!pkey.ok()) continue;
      c.pkey = *std::move(pkey);
      all.push_back(std::move(c));
    }
    if (!e.public_key_hint.empty()) {
      for (const KeyCandidate& c : all) {
        std::string id = Sha256(c.spki_der);
        if (e.public_key_hint == Base64Encode(id) || e.public_key_hint == HexEncode(id)) keys.push_back(c);
      }
    }
    if (keys.empty()) keys = std::move(all);
    if (keys.empty()) return Fail(3, Reason::kUntrustedKey, "no usable trusted key");
  }

  // ---- Step 4: transparency log entries.
  std::vector<absl::Time> times;  // verified signing times (step 5)
  const TlogEntry* first_verified = nullptr;
  size_t key_index = 0;           // key-based: the key the log names
  bool key_from_log = false;
  const bool use_tlog = keyless || policy.require_tlog;
  if (use_tlog) {
    if (policy.root == nullptr) {
      return Fail(4, Reason::kBadTlogEntry, "a transparency log entry is required, but no trusted root is configured");
    }
    std::vector<std::string> skipped;
    size_t passed = 0;
    for (size_t i = 0; i < e.tlog.size(); ++i) {
      const TlogEntry& t = e.tlog[i];
      std::string name = StrCat("entry ", i, " (log ", ShortHex(t.log_id), ", index ", t.log_index, ")");
      // 4a: the body.
      absl::StatusOr<EntryBody> body = ParseEntryBody(t);
      if (!body.ok()) return Fail(4, Reason::kMalformedSignature, StrCat(name, " 4a body: ", Msg(body.status())));
      // 4b: a log of the trusted root; an unknown log counts for nothing.
      const LogKey* log = policy.root->FindTlog(t.log_id);
      if (log == nullptr) {
        skipped.push_back(StrCat(name, ": log ", HexEncode(t.log_id), " is not in the trusted root"));
        continue;
      }
      const bool v2 = body->kind == BodyKind::kHashedRekord002 || body->kind == BodyKind::kDsse002;
      // 4c: the evidence its version needs.
      if (v2 && !t.proof) return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4c: a Rekor v2 entry without an inclusion proof"));
      if (!t.set && !t.proof) {
        return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4c: neither an inclusion promise nor an inclusion proof"));
      }
      // 4d: the SET (Rekor v1 only).
      bool set_ok = false;
      if (t.set && !v2) {
        if (absl::Status s = VerifySet(t, *log); !s.ok()) {
          return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4d inclusion promise: ", Msg(s)));
        }
        set_ok = true;
      }
      // 4e: the inclusion proof and its checkpoint.
      if (t.proof) {
        const InclusionProof& p = *t.proof;
        absl::StatusOr<Checkpoint> cp = ParseCheckpoint(p.checkpoint);
        if (!cp.ok()) return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4e checkpoint: ", Msg(cp.status())));
        if (v2 && (log->origin.empty() || cp->origin != log->origin)) {
          return Fail(4, Reason::kBadTlogEntry,
                      StrCat(name, " 4e checkpoint: origin \"", cp->origin, "\" is not the log's \"", log->origin, "\""));
        }
        if (absl::Status s = VerifyCheckpoint(*cp, *log, v2); !s.ok()) {
          return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4e checkpoint: ", Msg(s)));
        }
        if (p.tree_size < 0 || cp->size != static_cast<uint64_t>(p.tree_size)) {
          return Fail(4, Reason::kBadTlogEntry,
                      StrCat(name, " 4e checkpoint: size ", cp->size, " is not the proof's tree size ", p.tree_size));
        }
        if (cp->root_hash != p.root_hash) {
          return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4e checkpoint: its root hash is not the proof's"));
        }
        if (p.log_index < 0 || p.log_index >= p.tree_size) {
          return Fail(4, Reason::kBadTlogEntry,
                      StrCat(name, " 4e inclusion proof: index ", p.log_index, " is outside the tree of ", p.tree_size));
        }
        if (v2 && p.log_index != t.log_index) {
          return Fail(4, Reason::kBadTlogEntry,
                      StrCat(name, " 4e inclusion proof: index ", p.log_index, " is not the entry's ", t.log_index));
        }
        if (absl::Status s = VerifyInclusion(LeafHash(t.body), static_cast<uint64_t>(p.log_index),
                                             static_cast<uint64_t>(p.tree_size), p.hashes, p.root_hash);
            !s.ok()) {
          return Fail(4, Reason::kBadTlogEntry, StrCat(name, " 4e inclusion proof: ", Msg(s)));
        }
      }
      // 4f: the body is this signature, by this key or certificate, over this artifact.
      size_t k = 0;
      absl::StatusOr<size_t> match = MatchBody(*body, e, artifact, leaf_der, keys, &k);
      if (!match.ok()) {
        if (absl::IsNotFound(match.status())) {
          return Fail(4, Reason::kUntrustedKey, StrCat(name, " 4f: ", Msg(match.status())));
        }
        return Fail(4, Reason::kTlogMismatch, StrCat(name, " 4f: ", Msg(match.status())));
      }
      if (!keyless) {
        if (key_from_log && k != key_index) {
          return Fail(4, Reason::kTlogMismatch, StrCat(name, " 4f: the entries name different keys"));
        }
        key_index = k;
        key_from_log = true;
      }
      // 4g: the log time lies within the certificate's validity.
      absl::Time it = absl::FromUnixSeconds(t.integrated_time);
      if (t.integrated_time != 0 && leaf != nullptr && !CertificateValidAt(leaf.get(), it)) {
        return Fail(4, Reason::kUntrustedCertificate,
                    StrCat(name, " 4g: integrated time ", TimeText(it),
                           " is outside the signing certificate's validity"));
      }
      if (set_ok) times.push_back(it);
      if (first_verified == nullptr) first_verified = &t;
      ++passed;
    }
    // 4h: at least one entry from a trusted log.
    if (passed == 0) {
      std::string why = e.tlog.empty() ? "the bundle has no transparency log entry"
                                       : "no entry is from a log of the trusted root";
      for (const std::string& s : skipped) why += StrCat("; ", s);
      return Fail(4, Reason::kBadTlogEntry, why);
    }
  }

  // ---- Step 5: verified times. TSA tokens that do not verify are skipped (observer
  // timestamps), their reasons kept for the detail.
  std::vector<std::string> tsa_skipped;
  if (policy.root != nullptr) {
    std::string_view sig = SignatureBytes(e);
    for (size_t i = 0; i < e.timestamps.size(); ++i) {
      absl::StatusOr<VerifiedTime> vt = VerifyTimestamp(e.timestamps[i], sig, *policy.root);
      if (!vt.ok()) {
        tsa_skipped.push_back(StrCat("timestamp ", i, ": ", Msg(vt.status())));
        continue;
      }
      times.push_back(vt->time);
    }
  }
  for (absl::Time t : times) {
    if (t > policy.now + kMaxClockSkew) {
      return Fail(5, Reason::kBadTimestamp,
                  StrCat("signing time ", TimeText(t), " is in the future (now ", TimeText(policy.now), ")"));
    }
  }
  if (times.empty() && (keyless || policy.require_tlog)) {
    std::string why = "no verified signing time (no verified inclusion promise and no RFC 3161 timestamp that verifies)";
    for (const std::string& s : tsa_skipped) why += StrCat("; ", s);
    return Fail(5, Reason::kBadTimestamp, why);
  }

  SignerInfo signer;
  if (first_verified != nullptr) {
    signer.log_index = first_verified->log_index;
    signer.log_id_hex = HexEncode(first_verified->log_id);
  }
  if (!times.empty()) signer.signed_at = *std::min_element(times.begin(), times.end());

  std::shared_ptr<EVP_PKEY> verify_key;
  if (keyless) {
    // ---- Step 6: the certificate chains to a Fulcio CA at every verified time.
    std::vector<std::shared_ptr<X509>> chain;
    for (absl::Time t : times) {
      absl::StatusOr<std::vector<std::shared_ptr<X509>>> c = VerifyChainAt(leaf.get(), *policy.root, t);
      if (!c.ok()) {
        return Fail(6, Reason::kUntrustedCertificate, StrCat("at ", TimeText(t), ": ", Msg(c.status())));
      }
      if (chain.empty()) chain = *std::move(c);
    }
    // ---- Step 7: an embedded SCT from a CT log of the root.
    if (chain.size() < 2) return Fail(7, Reason::kBadSct, "the validated chain has no issuer for the SCT");
    if (absl::Status s = VerifyEmbeddedScts(leaf.get(), chain[1].get(), *policy.root); !s.ok()) {
      return Fail(7, Reason::kBadSct, Msg(s));
    }
    EVP_PKEY* pk = X509_get0_pubkey(leaf.get());
    if (pk == nullptr) return Fail(8, Reason::kMalformedSignature, "the certificate's public key does not parse");
    EVP_PKEY_up_ref(pk);
    verify_key = std::shared_ptr<EVP_PKEY>(pk, EVP_PKEY_free);
    signer.kind = SignerInfo::Kind::kCosignKeyless;
    signer.key_id = StrCat("sha256:", HexEncode(Sha256(SpkiDer(pk))));
  }

  // ---- Step 8: the signature itself.
  auto verify_with = [&](EVP_PKEY* key) -> absl::Status {
    if (e.form == SignedEntity::Form::kLegacySig) return VerifyMessage(key, e.legacy_payload, e.message->signature);
    if (e.dsse) return VerifyMessage(key, dsse::Pae(e.dsse->payload_type, e.dsse->payload), e.dsse->signatures[0].sig);
    if (artifact.bytes) return VerifyMessage(key, *artifact.bytes, e.message->signature);
    std::string digest = e.message->digest.empty()
                             ? absl::HexStringToBytes(std::string(artifact.sha256.hex()))
                             : e.message->digest;
    return VerifyPrehashed(key, EVP_sha256(), digest, e.message->signature);
  };
  if (keyless) {
    if (absl::Status s = verify_with(verify_key.get()); !s.ok()) {
      return Fail(8, absl::IsInvalidArgument(s) ? Reason::kMalformedSignature : Reason::kBadSignature, Msg(s));
    }
  } else {
    // The key the log named, else (no log) each candidate in turn.
    std::vector<size_t> order;
    if (key_from_log) {
      order.push_back(key_index);
    } else {
      for (size_t k = 0; k < keys.size(); ++k) order.push_back(k);
    }
    absl::Status last = absl::UnauthenticatedError("no key tried");
    const KeyCandidate* good = nullptr;
    for (size_t k : order) {
      last = verify_with(keys[k].pkey.get());
      if (last.ok()) {
        good = &keys[k];
        break;
      }
    }
    if (good == nullptr) {
      return Fail(8, Reason::kBadSignature,
                  order.size() == 1 ? Msg(last)
                                    : StrCat("no trusted key (", order.size(), " tried) verifies it: ", Msg(last)));
    }
    signer.kind = SignerInfo::Kind::kCosignKey;
    signer.key_id = good->trusted->key.key_id();
    EntityResult ok{Reason::kVerified,
                    StrCat("verified: cosign signature by key \"", good->trusted->name, "\" (", signer.key_id, ")",
                           first_verified ? StrCat(", Rekor entry ", first_verified->log_index) : ""),
                    8, signer};
    return ok;
  }

  // ---- Step 9: the certificate's identity is one the policy trusts.
  absl::StatusOr<CertIdentity> id = ExtractIdentity(leaf.get());
  if (!id.ok()) return Fail(9, Reason::kUntrustedCertificate, StrCat("certificate identity: ", Msg(id.status())));
  signer.issuer = id->issuer;
  signer.subject = id->subject;
  const IdentityPattern* matched = nullptr;
  for (const IdentityPattern& p : policy.identities) {
    if (MatchIdentity(*id, p)) {
      matched = &p;
      break;
    }
  }
  if (matched == nullptr) {
    return Fail(9, Reason::kUntrustedIdentity,
                StrCat("signed by \"", id->subject, "\" (issuer \"", id->issuer, "\"), which matches none of the ",
                       policy.identities.size(), " trusted identities"));
  }
  EntityResult ok{Reason::kVerified,
                  StrCat("verified: keyless cosign signature by \"", id->subject, "\" (issuer \"", id->issuer,
                         "\", identity \"", matched->name, "\")",
                         first_verified ? StrCat(", Rekor entry ", first_verified->log_index) : ""),
                  9, signer};
  return ok;
}

}  // namespace layerseal::sigstore
