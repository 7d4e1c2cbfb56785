// Keys and signatures (OpenSSL 3 EVP) for the four algorithms of the spec, section 3.
// Every signature is over the 32-byte SHA-256 of the base manifest.
// Thread-safety: PublicKey/PrivateKey are immutable after construction and safe to share;
// copies share the underlying EVP_PKEY.
#ifndef LAYERSEAL_VERIFIER_CRYPTO_H_
#define LAYERSEAL_VERIFIER_CRYPTO_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace layerseal {

enum class Algorithm { kEcdsaP256Sha256, kRsaPkcs1v15Sha256, kRsaPssSha256, kEd25519 };

std::string_view AlgorithmName(Algorithm a);
absl::StatusOr<Algorithm> ParseAlgorithm(std::string_view name);

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;  // refuses keys whose verification alone is a DoS
constexpr size_t kMaxPemBytes = 64 * 1024;

class PublicKey {
 public:
  // A PEM SubjectPublicKeyInfo. Accepts EC P-256, RSA (2048..16384 bits, rsaEncryption or
  // RSASSA-PSS) and Ed25519; anything else is an error naming the key type.
  static absl::StatusOr<PublicKey> FromPem(std::string_view pem);

  // "sha256:" + hex SHA-256 of the DER SubjectPublicKeyInfo.
  const std::string& key_id() const { return key_id_; }
  // Algorithms this key can verify: fixed by the key type (an rsaEncryption key fits both RSA
  // algorithms; an RSASSA-PSS key only PSS).
  const std::vector<Algorithm>& algorithms() const { return algorithms_; }
  bool Fits(Algorithm a) const;
  // OK when `signature` is a valid `a` signature over `digest` (32 bytes). Errors:
  // InvalidArgument if `a` does not fit the key or `digest` is not 32 bytes; Unauthenticated
  // if the signature is bad; FailedPrecondition on a default-constructed key.
  absl::Status Verify(Algorithm a, std::string_view digest, std::string_view signature) const;
  std::string ToPem() const;
  std::string ToDer() const;

 private:
  std::shared_ptr<EVP_PKEY> pkey_;
  std::string key_id_;
  std::vector<Algorithm> algorithms_;
};

class PrivateKey {
 public:
  // A fresh key for `a` (RSA algorithms: 3072 bits; rsa-pss makes an RSASSA-PSS key).
  static absl::StatusOr<PrivateKey> Generate(Algorithm a);
  // An unencrypted PEM private key (PKCS#8 or traditional).
  static absl::StatusOr<PrivateKey> FromPem(std::string_view pem);

  // The algorithm used when the signer does not name one: fixed by the key type; an
  // rsaEncryption key signs rsa-pkcs1v15-sha256 by default.
  Algorithm default_algorithm() const { return public_key_.algorithms().front(); }
  const PublicKey& public_key() const { return public_key_; }
  absl::StatusOr<std::string> Sign(Algorithm a, std::string_view digest) const;
  // PKCS#8 PEM, unencrypted.
  std::string ToPem() const;

 private:
  std::shared_ptr<EVP_PKEY> pkey_;
  PublicKey public_key_;
};

// Strict standard base64 with padding: no whitespace, no missing padding, no stray bits.
absl::StatusOr<std::string> Base64Decode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_CRYPTO_H_
