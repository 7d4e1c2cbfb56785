// A trusted_root.json (application/vnd.dev.sigstore.trustedroot+json;version=0.1), parsed
// once at policy load into ready OpenSSL objects. The node never fetches it: admins ship it.
// Thread-safety: immutable after Parse; share as std::shared_ptr<const TrustedRoot>; the
// X509_STOREs are only read, so many threads may verify against one root at once.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_TRUSTED_ROOT_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_TRUSTED_ROOT_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;
typedef struct x509_store_st X509_STORE;

namespace layerseal::sigstore {

inline constexpr std::string_view kTrustedRootMediaType =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
inline constexpr size_t kMaxTrustedRootBytes = 1 << 20;
inline constexpr size_t kMaxTrustedRootEntries = 64;  // per list (tlogs, ctlogs, CAs, TSAs)
inline constexpr size_t kMaxCaChainCerts = 10;

// A closed interval [start, end]; no end: open-ended.
struct TimeRange {
  absl::Time start;
  std::optional<absl::Time> end;
  bool Contains(absl::Time t) const;
};

enum class PublicKeyDetails {
  kEcdsaP256Sha256,
  kEcdsaP384Sha384,
  kEcdsaP521Sha512,
  kEd25519,
  kRsaPkcs1v15,  // PKCS1_RSA_PKCS1V5 (a PKCS#1 RSAPublicKey) and the PKIX_RSA_* forms
};

struct LogKey {
  std::string base_url;  // may be empty
  std::string origin;    // host[:port] of base_url (the Rekor v2 note name); empty without one
  std::string log_id;    // raw bytes
  std::string checkpoint_key_id;  // raw; empty: log_id is used for note key hints
  std::shared_ptr<EVP_PKEY> key;
  PublicKeyDetails details = PublicKeyDetails::kEcdsaP256Sha256;
  TimeRange valid_for;
};

struct Authority {
  std::string uri;                          // may be empty
  std::vector<std::shared_ptr<X509>> chain;  // leaf-most first, root last
  TimeRange valid_for;
  std::shared_ptr<X509_STORE> store;         // holds the root (chain.back()) only
  // Holds chain[0] (the issuing intermediate) only, as a partial-chain anchor; set at load by
  // IssuerStoreFor (fulcio.h) when the path chain[0]..root verifies once and for all, so a
  // leaf's path is validated from chain[0] down (one signature, not every one up to the
  // root). Null: every leaf's path is validated to the root.
  std::shared_ptr<X509_STORE> issuer_store;
};

class TrustedRoot {
 public:
  // `json` (at most kMaxTrustedRootBytes); errors name `source_name` and the JSON path:
  // InvalidArgument for an unknown media type, key type or hash algorithm, a validFor without
  // a start, a certificate or key that does not parse; ResourceExhausted over a limit above.
  static absl::StatusOr<TrustedRoot> Parse(std::string_view json, std::string_view source_name);
  // The file at `path` (base/file.h ReadFileLimited), parsed.
  static absl::StatusOr<TrustedRoot> LoadFile(const std::string& path);
  // A root from ready parts (tests and tools that build their own trust material). `sha256` is
  // what sha256() returns. Authorities without a store get one holding their chain's root.
  static TrustedRoot FromParts(std::vector<LogKey> tlogs, std::vector<LogKey> ctlogs,
                               std::vector<Authority> fulcio, std::vector<Authority> tsas,
                               std::string sha256);

  // The transparency log / CT log whose logId is `log_id` (raw bytes); nullptr when unknown.
  const LogKey* FindTlog(std::string_view log_id) const;
  const LogKey* FindCtlog(std::string_view log_id) const;
  const std::vector<LogKey>& tlogs() const { return tlogs_; }
  const std::vector<LogKey>& ctlogs() const { return ctlogs_; }
  const std::vector<Authority>& fulcio() const { return fulcio_; }
  const std::vector<Authority>& tsas() const { return tsas_; }
  // "sha256:<hex>" of the file's bytes (for the policy's trust_version).
  const std::string& sha256() const { return sha256_; }

 private:
  std::vector<LogKey> tlogs_, ctlogs_;
  std::vector<Authority> fulcio_, tsas_;
  std::string sha256_;
};

// One DER X.509 certificate (every byte of `der` used); InvalidArgument naming `path`
// otherwise. Shared by the bundle, trusted-root and legacy-annotation parsers.
absl::StatusOr<std::shared_ptr<X509>> ParseCertificateDer(std::string_view der,
                                                          std::string_view path);
// True when `cert`'s subject equals its issuer and it verifies under its own key (a root).
bool IsSelfSigned(X509* cert);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_TRUSTED_ROOT_H_
