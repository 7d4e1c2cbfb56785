// Signature primitives over whole messages and over prehashed digests, for every key type a
// sigstore trusted root or cosign key may hold (ECDSA P-256/384/521, RSA PKCS#1 v1.5, Ed25519).
// Pure functions; thread-safe (EVP_PKEY is only read).
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_SIGNATURE_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_SIGNATURE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_st EVP_MD;

namespace layerseal::sigstore {

inline constexpr size_t kMaxSpkiBytes = 16 * 1024;      // a DER SubjectPublicKeyInfo
inline constexpr size_t kMaxSignatureInputBytes = 16 * 1024;  // a signature to verify

// Key types accepted everywhere here: EC P-256 / P-384 / P-521, RSA of kMinRsaBits ..
// kMaxRsaBits (verifier/crypto.h), Ed25519. InvalidArgument naming the type otherwise.
absl::Status CheckKeyType(EVP_PKEY* key);
// The digest a key signs with by default: P-256 SHA-256, P-384 SHA-384, P-521 SHA-512,
// RSA SHA-256, Ed25519 nullptr (pure).
const EVP_MD* DefaultDigest(EVP_PKEY* key);
// OK when `sig` is a valid signature by `key` over `message` (hashed with DefaultDigest, or
// pure Ed25519). Unauthenticated: the signature is bad; InvalidArgument: malformed key or sig.
absl::Status VerifyMessage(EVP_PKEY* key, std::string_view message, std::string_view sig);
// The same with the digest `md` instead of DefaultDigest (nullptr: pure Ed25519 only), for
// formats that name their own hash (an SCT says SHA-256 whatever the log's curve).
absl::Status VerifyMessageWith(EVP_PKEY* key, const EVP_MD* md, std::string_view message,
                               std::string_view sig);
// The same over an already computed `digest` made with `md`. Ed25519: Unimplemented.
absl::Status VerifyPrehashed(EVP_PKEY* key, const EVP_MD* md, std::string_view digest,
                             std::string_view sig);
// A key from DER SubjectPublicKeyInfo (whole input consumed, at most kMaxSpkiBytes, a type
// CheckKeyType accepts). InvalidArgument otherwise.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFromSpkiDer(std::string_view der);
// DER SubjectPublicKeyInfo of `key`.
std::string SpkiDer(EVP_PKEY* key);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_SIGNATURE_H_
