// Fulcio certificates: parsing, path validation at a given time against a trusted root's
// certificate authorities, the codeSigning EKU, and the signer identity (SAN + issuer OID
// 1.3.6.1.4.1.57264.1.8, falling back to .1.1). Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_FULCIO_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_FULCIO_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {

inline constexpr int kMaxVerifyDepth = 10;            // X509_VERIFY_PARAM_set_depth
inline constexpr size_t kMaxSanEntries = 16;
inline constexpr size_t kMaxIdentityBytes = 4 * 1024;  // a SAN value or an issuer extension

// A DER certificate (whole input consumed, at most kMaxCertificateBytes of bundle.h, and
// re-encoding to exactly `der`: BER that OpenSSL would normalise is refused, so
// CertificateDer(*ParseCertificate(der)) == der).
absl::StatusOr<std::shared_ptr<X509>> ParseCertificate(std::string_view der);
// DER of `cert`.
std::string CertificateDer(X509* cert);
// The identity `leaf` asserts. Identity SANs are email, URI and OtherName
// 1.3.6.1.4.1.57264.1.7 (a UTF8String); DNS names, IP addresses and other OtherNames are
// ignored. The issuer is extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String), else .1.1 (raw
// bytes). InvalidArgument when there is no identity SAN, more than one ("ambiguous identity"),
// a repeated SAN or issuer extension, no issuer extension, or a value that is empty, holds a
// NUL byte or is over kMaxIdentityBytes.
absl::StatusOr<CertIdentity> ExtractIdentity(X509* leaf);
// Path validation of `leaf` at time `t` against each Fulcio CA of `root` whose validFor
// contains t, using only the root's own intermediates (a bundle's are never trusted). The
// validated chain leaf..root of the first CA that passes, else PermissionDenied saying why
// (OpenSSL's verify error for the last CA tried). Also requires the codeSigning EKU and the
// digitalSignature key usage on the leaf (checked by hand: OpenSSL 3.0 has no code-signing
// purpose). OpenSSL runs with X509_V_FLAG_X509_STRICT (every corpus leaf, real and mock,
// passes it), depth kMaxVerifyDepth, and refuses unknown critical extensions. A leaf that is
// itself a trusted root is refused. Authorities without a store get a fresh one per call.
// With an issuer_store (IssuerStoreFor), OpenSSL validates the leaf against chain[0] as a
// partial-chain anchor and the validity of chain[1..] at `t` is checked by hand: the same
// judgement, with one signature check instead of one per certificate of the path; the chain
// returned is the same.
absl::StatusOr<std::vector<std::shared_ptr<X509>>> VerifyChainAt(X509* leaf,
                                                                 const TrustedRoot& root,
                                                                 absl::Time t);
// The partial-chain anchor of Authority::issuer_store for a CA `chain` (leaf-most first, root
// last), or null when the shortcut would not be exact, and every path must be validated to
// the root:
//   - the chain has no intermediate (chain.size() < 2);
//   - a certificate of the chain has a name-constraints, policy-constraints or
//     inhibitAnyPolicy extension (those depend on the whole path, leaf included);
//   - chain[j] (j >= 1) has a basicConstraints pathLen below j (the intermediates under it
//     once a leaf hangs below chain[0]);
//   - the path chain[0]..root does not verify under the same rules as VerifyChainAt, time
//     aside (X509_V_FLAG_NO_CHECK_TIME: validity at the signing time is checked per leaf).
std::shared_ptr<X509_STORE> IssuerStoreFor(const std::vector<std::shared_ptr<X509>>& chain);
// notBefore <= t <= notAfter of `cert`.
bool CertificateValidAt(X509* cert, absl::Time t);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_FULCIO_H_
