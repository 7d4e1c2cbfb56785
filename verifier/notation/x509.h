// X.509 rules of the Notary Project signature specification (issue 20; specs/
// signature-specification.md "Signature Algorithm Requirements", "Certificate Requirements"):
// the algorithm a certificate's key implies, the signature check over an envelope, the chain
// to a trust store, the chain's validity period, and revocation from configured CRLs.
//
// Pure functions over DER bytes (OpenSSL 3); thread-safe; each leaves the thread's OpenSSL
// error queue empty. Errors: InvalidArgument for bytes that do not parse; PermissionDenied
// saying which rule failed (named by the spec's words, e.g. "leaf certificate: keyUsage must
// be critical and include digitalSignature").
#ifndef LAYERSEAL_VERIFIER_NOTATION_X509_H_
#define LAYERSEAL_VERIFIER_NOTATION_X509_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"

namespace layerseal::notation {

// Minimum RSA modulus (bits); EC keys must be P-256, P-384 or P-521.
inline constexpr int kMinRsaBits = 2048;

// The algorithm the leaf's key implies: RSA 2048 -> PS256, 3072 -> PS384, 4096 -> PS512
// (other RSA sizes: PermissionDenied); EC P-256 -> ES256, P-384 -> ES384, P-521 -> ES512.
// Any other key type or curve: PermissionDenied naming it.
absl::StatusOr<Algorithm> AlgorithmOf(std::string_view leaf_der);

// Integrity: `envelope.signature` over `envelope.signed_bytes` by the leaf's (certs_der[0])
// key, with the algorithm AlgorithmOf implies, which must equal envelope.algorithm (an
// envelope declaring another is PermissionDenied "algorithm substitution": alg says X, the
// key is Y). RSA-PSS: MGF1 with the same digest; salt length = digest length for COSE (as
// go-cose verifies), any salt length for JWS (as golang-jwt's PS256/384/512 verify, which
// notation uses; signers use the digest length). ECDSA: the raw r||s of 2 x field size bytes
// (any other length, or a DER signature: PermissionDenied). A signature that does not verify:
// PermissionDenied "integrity: ..."; an empty one or one over kMaxSignatureBytes, no
// certificate, or a certificate that does not parse: InvalidArgument.
absl::Status VerifyEnvelopeSignature(const Envelope& envelope);

// Which rules a chain must meet.
enum class ChainPurpose { kCodeSigning, kTimestamping };

// The certificate requirements, on `chain_der` (leaf first, as the envelope carries it; the
// last may be the root or not; at most kMaxChainCertificates + 1 certificates), as the spec
// and notation-core-go (x509/codesigning_cert_validations.go, timestamp_cert_validations.go)
// state them:
//   leaf (both purposes): basicConstraints, if present, cA FALSE; keyUsage present with
//     digitalSignature and none of keyEncipherment, dataEncipherment, keyAgreement,
//     keyCertSign, cRLSign, encipherOnly, decipherOnly (nonRepudiation is allowed); the key
//     one AlgorithmOf accepts (RSA 2048/3072/4096, P-256/384/521).
//   leaf (kCodeSigning): keyUsage critical; extendedKeyUsage optional, and if present it must
//     not include anyExtendedKeyUsage (the spec), serverAuth, clientAuth, emailProtection,
//     timeStamping or OCSPSigning (notation-core-go); id-kp-codeSigning is NOT required (the
//     spec: "MAY contain"), other OIDs are allowed.
//   leaf (kTimestamping): keyUsage need not be critical (the spec: SHOULD); extendedKeyUsage
//     present, critical, exactly id-kp-timeStamping.
//   CAs (every certificate after the leaf): basicConstraints present, critical, cA TRUE;
//     pathLenConstraint, if present, >= the number of CA certificates between it and the leaf;
//     keyUsage present (critical for kCodeSigning; SHOULD for kTimestamping) with keyCertSign;
//     key RSA of 2048..16384 bits or EC P-256/384/521 (stricter than notation-core-go, which
//     checks CA keys only through Go's signature check; Ed25519 CAs are refused).
//   every certificate: version 3; extensions that parse, none twice; not signed with SHA-1 or
//     MD5 (the spec; Go refuses them too). Other extensions are not evaluated, so an unknown
//     critical extension does not fail the chain (the spec: "MUST fail open"; notation does
//     the same).
//   order: each is issued by the next (its issuer name equals the next one's subject and the
//     next's key verifies it); no self-signed certificate but the last; the last, when it is
//     self-issued, must verify with its own key. Unlike notation (which requires the envelope's
//     chain to end in its self-signed root), the root may be omitted; VerifyChain completes it
//     from the store.
absl::Status CheckCertificateRules(const std::vector<std::string>& chain_der,
                                   ChainPurpose purpose);

struct ChainResult {
  // The chain as verified, leaf first, ending in the trusted certificate from the store (which
  // may not be in the envelope: an envelope may omit the root).
  std::vector<std::string> chain_der;
  std::string store;         // the name of the store whose certificate anchored it
  std::string anchor_thumbprint;  // hex SHA-256 of that certificate
  // The intersection of every certificate's validity: [not_before, not_after].
  absl::Time not_before;
  absl::Time not_after;
};
// Authenticity (without time, without identity): `chain_der` (leaf first, at most
// kMaxChainCertificates: InvalidArgument otherwise) meets CheckCertificateRules(purpose)
// (checked first, before any store), and leads to a certificate of one of `stores` (only
// stores of `type`; each tried in order), by signature and name chaining (OpenSSL
// X509_verify_cert with the store's certificates as trust anchors, the envelope's others as
// untrusted, X509_V_FLAG_NO_CHECK_TIME, X509_V_FLAG_PARTIAL_CHAIN so an intermediate in a
// store anchors too, X509_V_FLAG_IGNORE_CRITICAL as above); a chain completed with store
// certificates the envelope did not carry must meet the rules too. PermissionDenied naming
// the stores tried and OpenSSL's reason for each (or "no trust store of type X") when none
// anchors it. (notation-go instead requires one of the envelope's certificates to equal a
// store certificate byte for byte; path building also accepts a store root the envelope
// omitted. Both need a signature chain from the leaf to the trusted certificate.)
// not_before/not_after intersect the validity of the verified chain's certificates (the path
// to the anchor; certificates the envelope or token carries above the anchor, such as a
// cross-signed root, do not count: notation checks every envelope certificate at signing time
// since its chains always end in their root).
absl::StatusOr<ChainResult> VerifyChain(
    const std::vector<std::string>& chain_der,
    const std::vector<std::shared_ptr<const TrustStore>>& stores, StoreType type,
    ChainPurpose purpose);

// Revocation from the anchoring store's CRLs (TrustStore::crls_der), at `at`.
enum class RevocationStatus { kGood, kRevoked, kUnknown };
struct RevocationResult {
  RevocationStatus status = RevocationStatus::kUnknown;
  std::string detail;  // which certificate, revoked when / why unknown
};
// kGood when every certificate of `chain.chain_der` but the anchor has a CRL from its issuer
// in `store` that is current at `at` (thisUpdate <= at < nextUpdate), signed by that issuer,
// and does not list it; kRevoked when one lists it (revocation time and reason in detail);
// kUnknown otherwise ("no CRL configured for trust store <name>", "CRL of <issuer> expired
// <time>", ...). Offline: nothing is fetched (OCSP and CRL distribution points are never
// followed). As notation-core-go: an entry with reason certificateHold is revoked (unless a
// removeFromCRL entry lifts it), a CRL without nextUpdate or with an unknown critical
// extension does not count, a delta CRL's entries count but it alone does not cover a
// certificate. Not done: notation's "revoked after the signing time per invalidityDate is
// still good" (no signing time here).
RevocationResult CheckRevocation(const ChainResult& chain, const TrustStore& store, absl::Time at);

// Lowercase hex SHA-256 of `der`.
std::string Thumbprint(std::string_view der);

}  // namespace layerseal::notation

#endif  // LAYERSEAL_VERIFIER_NOTATION_X509_H_
