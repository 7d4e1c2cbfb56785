// In-process Notary Project signing for unit tests and benches (issue 20): keys, X.509
// certificates (CA, code-signing leaf, TSA leaf) and CRLs made with OpenSSL's C API at times
// the test chooses, RFC 3161 timestamp tokens from OpenSSL's TS responder code (genTime set
// by the test), and JWS / COSE_Sign1 envelopes signed over them. Everything is deterministic
// but the keys and signatures; nothing touches the disk or the network.
//
// Thread-safety: the functions are pure but for key generation; objects are immutable once
// made (share them across threads freely).
#ifndef LAYERSEAL_TESTS_SUPPORT_NOTATION_SIGN_H_
#define LAYERSEAL_TESTS_SUPPORT_NOTATION_SIGN_H_

#include <openssl/evp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/trust.h"

namespace layerseal::testing {

using PKey = std::shared_ptr<EVP_PKEY>;
PKey NewRsaKey(int bits);
PKey NewEcKey(int curve_nid);  // NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1

enum class CertKind { kCa, kCodeSigning, kTimestamping };

struct CertSpec {
  // "C=US,ST=WA,O=acme,CN=leaf": comma-separated TYPE=value (no escapes), certificate order.
  std::string subject;
  CertKind kind = CertKind::kCodeSigning;
  absl::Time not_before = absl::FromUnixSeconds(1700000000);  // 2023-11-14
  absl::Time not_after = absl::FromUnixSeconds(2000000000);   // 2033-05-18
  int path_len = -1;  // CA: pathLenConstraint, -1 none
};

struct TestCert {
  std::string der;
  PKey key;
  std::string subject;
  int64_t serial = 0;
};

// `spec` with `key`, signed by `issuer` (nullptr: self-signed), SHA-256 (RSA PKCS#1 v1.5 or
// ECDSA). Extensions by kind: kCa basicConstraints critical CA:TRUE, keyUsage critical
// keyCertSign+cRLSign; kCodeSigning keyUsage critical digitalSignature, EKU codeSigning;
// kTimestamping keyUsage critical digitalSignature, EKU critical timeStamping. SKI/AKI always.
TestCert MakeCert(const CertSpec& spec, PKey key, const TestCert* issuer);

// A CRL by `issuer` for [this_update, next_update) listing `revoked` serials (revoked at
// this_update), DER.
std::string MakeCrl(const TestCert& issuer, absl::Time this_update, absl::Time next_update,
                    const std::vector<int64_t>& revoked);

// A trust store in memory (as LoadTrustStore would read it).
std::shared_ptr<const notation::TrustStore> MakeStore(std::string name, notation::StoreType type,
                                                      const std::vector<std::string>& certs_der,
                                                      std::vector<std::string> crls_der = {});

// An RFC 3161 TimeStampToken (DER CMS ContentInfo) over `message` by `tsa` (a kTimestamping
// certificate; its key signs), with `chain` (CAs above it) embedded after it.
struct TsaSpec {
  TestCert tsa;
  std::vector<std::string> chain;  // DER, embedded in the token after the TSA certificate
  absl::Time gen_time = absl::FromUnixSeconds(1750000000);  // 2025-06-15
  std::optional<int> accuracy_seconds = 1;                  // nullopt: no accuracy member
  std::string policy_oid = "1.3.6.1.4.1.4146.2.3";
  const EVP_MD* imprint_md = nullptr;  // nullptr: SHA-256
  bool ess_v2 = true;                  // signing-certificate-v2 (SHA-256), else v1 (SHA-1)
  bool embed_certs = true;
  bool no_ess = false;  // re-sign the TSTInfo with plain CMS: no ESS attribute at all
};
std::string MakeTimestampToken(const TsaSpec& spec, std::string_view message);

// One envelope to sign.
struct EnvelopeSpec {
  notation::Format format = notation::Format::kJws;
  std::string target_media_type = "application/vnd.oci.image.manifest.v1+json";
  std::string target_digest =
      "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
  int64_t target_size = 528;
  notation::SigningScheme scheme = notation::SigningScheme::kX509;
  absl::Time signing_time = absl::FromUnixSeconds(1750000000);
  std::optional<absl::Time> authentic_signing_time;  // signingAuthority: defaults to signing_time
  std::optional<absl::Time> expiry;
  std::string plugin;              // io.cncf.notary.verificationPlugin (critical)
  std::string plugin_min_version;  // io.cncf.notary.verificationPluginMinVersion (critical)
  std::vector<std::string> chain;  // DER, leaf first
  PKey key;                        // the leaf's key
  // The JWS/COSE algorithm name to declare ("PS256", "ES256", ...); "" derives it from the key.
  std::string alg;
  // Makes the timestamp token over the signature value; empty: none.
  std::function<std::string(std::string_view signature)> timestamp;
  std::string signing_agent = "layerseal-test/1.0";
};
std::string SignEnvelope(const EnvelopeSpec& spec);

// The raw signature value of `data` by `key` under `alg` ("PS256".."ES512"): RSA-PSS
// (salt = digest length) or ECDSA r||s. Also used by benches as the bare floor.
std::string SignRaw(EVP_PKEY* key, std::string_view alg, std::string_view data);
// The algorithm name `key` implies (RSA 2048 PS256, 3072 PS384, 4096 PS512; EC by curve).
std::string AlgFor(EVP_PKEY* key);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_NOTATION_SIGN_H_
