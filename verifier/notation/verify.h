// Judging one Notary Project signature of an image (issue 20, docs/notation.md "What is
// checked"): the steps of specs/trust-store-trust-policy.md "Signature Verification", each
// enforced or logged as the scope's NotationTrust says, returning one judgement.
//
// Pure: no I/O (the envelope's bytes were fetched by the caller); thread-safe.
#ifndef LAYERSEAL_VERIFIER_NOTATION_VERIFY_H_
#define LAYERSEAL_VERIFIER_NOTATION_VERIFY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"
#include "verifier/verdict.h"

namespace layerseal::notation {

// The image the signature must be for: the manifest's media type, digest and size.
struct Target {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
};

struct Signer {
  std::string subject;      // the leaf's subject (SubjectText)
  std::string issuer;       // the leaf's issuer DN, same form
  std::string thumbprint;   // hex SHA-256 of the leaf: the verdict's key_id "sha256:<hex>"
  std::string store;        // the trust store that anchored the chain
  SigningScheme scheme = SigningScheme::kX509;
  Format format = Format::kJws;
  std::optional<absl::Time> timestamp;  // the verified timestamp (genTime), when one was
};

struct Result {
  // kVerified, or the DENY reason of the first enforced check that failed.
  Reason reason = Reason::kMalformedSignature;
  std::string detail;
  // The step that decided, for choosing which of several failed signatures to report (the
  // deepest): 1 parse, 2 integrity (signature, alg), 3 payload/target, 4 chain/store,
  // 5 identity, 6 expiry, 7 timestamp/validity, 8 revocation. 0: none ran.
  int step = 0;
  // What a logged check found ("expiry: signature expired 2026-01-01T00:00:00Z",
  // "revocation: no CRL configured for trust store acme"): reported in the verdict's detail
  // even when the signature admits the image (audit, permissive).
  std::vector<std::string> logged;
  std::optional<Signer> signer;  // on kVerified
  bool ok() const { return reason == Reason::kVerified; }
};

// `envelope_bytes` (the signature manifest's layer of media type `media_type`) judged for
// `target` under `trust` at time `now`. Order and reasons (enforced checks stop at the first
// failure; logged ones append to `logged` and go on):
//   level skip: kVerified without looking (the caller admits without signatures).
//   1 parse (envelope.h): MALFORMED_SIGNATURE (LIMIT_EXCEEDED for ResourceExhausted); a
//     verificationPlugin header: MALFORMED_SIGNATURE "requires verification plugin <name>,
//     which layerseal does not run".
//   2 integrity, always enforced: VerifyEnvelopeSignature -> BAD_SIGNATURE.
//   3 integrity, the payload: target digest, mediaType and size equal `target`'s ->
//     SUBJECT_MISMATCH naming the member and both values.
//   4 authenticity: VerifyChain to a store of type ca (notary.x509) or signingAuthority
//     (notary.x509.signingAuthority) -> UNTRUSTED_CERTIFICATE; the certificate rules are
//     part of it.
//   5 authenticity: the leaf matches one of trust.identities -> UNTRUSTED_IDENTITY naming
//     the certificate's subject.
//   6 expiry: `expiry` present and now >= expiry -> SIGNATURE_EXPIRED.
//   7 authentic timestamp: notary.x509 with a tsa store among trust.stores, and
//     verify_timestamp kAlways (or kAfterCertExpiry and the chain expired at `now`): the
//     token must exist and VerifyTimestampToken, and [lower, upper] must lie within the
//     signing chain's validity -> BAD_TIMESTAMP; otherwise (no timestamp verification) the
//     chain must be valid at `now` -> UNTRUSTED_CERTIFICATE "certificate expired/not yet
//     valid". notary.x509.signingAuthority: authentic_signing_time within the chain's
//     validity -> BAD_TIMESTAMP.
//   8 revocation (unless kSkip): CheckRevocation of the signing chain (and the TSA chain
//     when a timestamp was verified) at `now`: kRevoked -> REVOKED; kUnknown ->
//     REVOCATION_UNCHECKED (enforced under strict: offline, a store without a CRL cannot be
//     checked; docs/notation.md).
//   When authenticity is logged (audit), a failed step 4 or 5 is logged and steps 6-8 still
//   run, with the chain's validity taken from the envelope's certificates.
// signer is set on kVerified (with whatever authenticity established).
Result VerifySignature(std::string_view envelope_bytes, std::string_view media_type,
                       const Target& target, const NotationTrust& trust, absl::Time now);

}  // namespace layerseal::notation

#endif  // LAYERSEAL_VERIFIER_NOTATION_VERIFY_H_
