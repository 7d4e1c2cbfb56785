// verifier/notation/x509.h: the Notary Project's certificate and algorithm rules with
// OpenSSL 3 (the rules as notation-core-go's x509 package and the signature specification
// state them; differences are in x509.h).
#include "verifier/notation/x509.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/str_cat.h"
#include "verifier/digest.h"
#include "verifier/internal/openssl_util.h"

namespace layerseal::notation {
namespace {

using NxCrlPtr = std::unique_ptr<X509_CRL, ossl::Deleter<X509_CRL, X509_CRL_free>>;
using NxBasicConstraintsPtr =
    std::unique_ptr<BASIC_CONSTRAINTS, ossl::Deleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;
using NxEkuPtr =
    std::unique_ptr<EXTENDED_KEY_USAGE, ossl::Deleter<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>>;
using NxEnumeratedPtr =
    std::unique_ptr<ASN1_ENUMERATED, ossl::Deleter<ASN1_ENUMERATED, ASN1_ENUMERATED_free>>;

// The largest RSA modulus accepted in a chain (OpenSSL refuses larger ones for verification
// anyway: OPENSSL_RSA_MAX_MODULUS_BITS).
constexpr int kNxMaxChainRsaBits = 16384;

// A name as "C=US, ST=WA, O=acme, CN=x" (the certificate's order, RFC 2253 escapes).
std::string NxNameText(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_SEP_CPLUS_SPC | ASN1_STRFLGS_RFC2253 | XN_FLAG_FN_SN);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data != nullptr ? data : "", n > 0 ? static_cast<size_t>(n) : 0);
  BIO_free(bio);
  return out;
}

// "leaf certificate \"C=US, ..., CN=x\"" / "certificate 2 \"...\"" for messages.
std::string NxWho(X509* x, size_t index, std::string_view role) {
  std::string subject = NxNameText(X509_get_subject_name(x));
  if (index == 0) return StrCat(role, " leaf certificate \"", subject, "\"");
  return StrCat(role, " certificate ", index + 1, " \"", subject, "\"");
}

absl::Status NxDenied(std::string_view who, std::string_view what) {
  return absl::PermissionDeniedError(StrCat(who, ": ", what));
}

std::string NxEcGroupName(EVP_PKEY* key) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1) return "";
  return std::string(name, len);
}

// The algorithm a leaf key implies; PermissionDenied naming the key otherwise.
absl::StatusOr<Algorithm> NxAlgorithmOfKey(EVP_PKEY* key) {
  if (key == nullptr) return absl::PermissionDeniedError("certificate has no usable public key");
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    switch (bits) {
      case 2048: return Algorithm::kPs256;
      case 3072: return Algorithm::kPs384;
      case 4096: return Algorithm::kPs512;
      default:
        return absl::PermissionDeniedError(
            StrCat("RSA key of ", bits, " bits: only 2048, 3072 and 4096 are allowed"));
    }
  }
  if (id == EVP_PKEY_EC) {
    std::string group = NxEcGroupName(key);
    if (group == "prime256v1" || group == "P-256") return Algorithm::kEs256;
    if (group == "secp384r1" || group == "P-384") return Algorithm::kEs384;
    if (group == "secp521r1" || group == "P-521") return Algorithm::kEs512;
    return absl::PermissionDeniedError(
        StrCat("EC key on curve ", group.empty() ? "(unnamed)" : group,
               ": only P-256, P-384 and P-521 are allowed"));
  }
  const char* type = OBJ_nid2sn(id);
  return absl::PermissionDeniedError(
      StrCat("key type ", type != nullptr ? type : "unknown",
             ": only RSA (2048, 3072, 4096 bits) and EC (P-256, P-384, P-521) are allowed"));
}

// CA keys: RSA of kMinRsaBits..kNxMaxChainRsaBits or EC P-256/384/521.
absl::Status NxCheckCaKey(EVP_PKEY* key) {
  if (key != nullptr && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < kMinRsaBits || bits > kNxMaxChainRsaBits) {
      return absl::PermissionDeniedError(StrCat("RSA key of ", bits, " bits: at least ",
                                                kMinRsaBits, " (and at most ",
                                                kNxMaxChainRsaBits, ") are required"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<Algorithm> a = NxAlgorithmOfKey(key);
  return a.ok() ? absl::OkStatus() : a.status();
}

const EVP_MD* NxDigestOf(Algorithm a) {
  switch (a) {
    case Algorithm::kPs256:
    case Algorithm::kEs256: return EVP_sha256();
    case Algorithm::kPs384:
    case Algorithm::kEs384: return EVP_sha384();
    case Algorithm::kPs512:
    case Algorithm::kEs512: return EVP_sha512();
  }
  return nullptr;
}

bool NxIsEcdsa(Algorithm a) {
  return a == Algorithm::kEs256 || a == Algorithm::kEs384 || a == Algorithm::kEs512;
}

// The extension `nid` of `x`: -1 absent, else its index; `*critical` set when present.
int NxFindExt(X509* x, int nid, bool* critical) {
  int idx = X509_get_ext_by_NID(x, nid, -1);
  if (idx >= 0) *critical = X509_EXTENSION_get_critical(X509_get_ext(x, idx)) != 0;
  return idx;
}

bool NxSelfIssued(X509* x) {
  return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

bool NxSignedBy(X509* x, X509* issuer) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  bool ok = key != nullptr && X509_verify(x, key) == 1;
  ERR_clear_error();
  return ok;
}

// Every certificate: v3, extensions that parse, no SHA-1/MD5 signature.
absl::Status NxCheckCommon(X509* x, const std::string& who) {
  if (X509_get_version(x) != X509_VERSION_3) {
    return NxDenied(who, StrCat("must be an X.509 version 3 certificate (is version ",
                              X509_get_version(x) + 1, ")"));
  }
  uint32_t flags = X509_get_extension_flags(x);
  if ((flags & EXFLAG_INVALID) != 0) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        StrCat(who, ": an extension does not parse or appears twice"));
  }
  int md_nid = NID_undef;
  int pk_nid = NID_undef;
  int sec_bits = 0;
  uint32_t sig_flags = 0;
  if (X509_get_signature_info(x, &md_nid, &pk_nid, &sec_bits, &sig_flags) != 1) {
    ERR_clear_error();
    return NxDenied(who, "signature algorithm is not supported");
  }
  if (md_nid == NID_sha1 || md_nid == NID_md5 || md_nid == NID_md4 || md_nid == NID_md5_sha1) {
    return NxDenied(who, StrCat("signed with ", OBJ_nid2sn(md_nid),
                              ": SHA-1 and MD5 signatures are not allowed"));
  }
  return absl::OkStatus();
}

// Leaf keyUsage: digitalSignature, and none of the bits the specification forbids.
absl::Status NxCheckLeafKeyUsage(X509* x, const std::string& who, bool need_critical) {
  bool critical = false;
  if (NxFindExt(x, NID_key_usage, &critical) < 0) {
    return NxDenied(who, "keyUsage must be present and include digitalSignature");
  }
  if (need_critical && !critical) {
    return NxDenied(who, "keyUsage must be critical and include digitalSignature");
  }
  uint32_t ku = X509_get_key_usage(x);
  if ((ku & KU_DIGITAL_SIGNATURE) == 0) return NxDenied(who, "keyUsage must include digitalSignature");
  struct Bit {
    uint32_t bit;
    const char* name;
  };
  static constexpr Bit kForbidden[] = {
      {KU_KEY_ENCIPHERMENT, "keyEncipherment"}, {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
      {KU_KEY_AGREEMENT, "keyAgreement"},       {KU_KEY_CERT_SIGN, "keyCertSign"},
      {KU_CRL_SIGN, "cRLSign"},                 {KU_ENCIPHER_ONLY, "encipherOnly"},
      {KU_DECIPHER_ONLY, "decipherOnly"}};
  for (const Bit& b : kForbidden) {
    if ((ku & b.bit) != 0) {
      return NxDenied(who, StrCat("keyUsage must not include ", b.name,
                                " (a signing certificate's keyUsage is digitalSignature)"));
    }
  }
  return absl::OkStatus();
}

absl::Status NxCheckLeafEku(X509* x, const std::string& who, ChainPurpose purpose) {
  bool critical = false;
  int idx = NxFindExt(x, NID_ext_key_usage, &critical);
  if (idx < 0) {
    if (purpose == ChainPurpose::kTimestamping) {
      return NxDenied(who, "extendedKeyUsage must be present, critical, and exactly id-kp-timeStamping");
    }
    return absl::OkStatus();
  }
  NxEkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x, NID_ext_key_usage, nullptr, nullptr)));
  if (eku == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(StrCat(who, ": extendedKeyUsage does not parse"));
  }
  int n = sk_ASN1_OBJECT_num(eku.get());
  if (purpose == ChainPurpose::kTimestamping) {
    if (n != 1 || OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), 0)) != NID_time_stamp) {
      return NxDenied(who, "extendedKeyUsage must be exactly id-kp-timeStamping");
    }
    if (!critical) return NxDenied(who, "extendedKeyUsage (id-kp-timeStamping) must be critical");
    return absl::OkStatus();
  }
  for (int i = 0; i < n; ++i) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i));
    const char* name = nullptr;
    switch (nid) {
      case NID_anyExtendedKeyUsage: name = "anyExtendedKeyUsage"; break;
      case NID_server_auth: name = "serverAuth"; break;
      case NID_client_auth: name = "clientAuth"; break;
      case NID_email_protect: name = "emailProtection"; break;
      case NID_time_stamp: name = "timeStamping"; break;
      case NID_OCSP_sign: name = "OCSPSigning"; break;
      default: break;
    }
    if (name != nullptr) {
      return NxDenied(who, StrCat("extendedKeyUsage must not include ", name,
                                " (a code signing certificate)"));
    }
  }
  return absl::OkStatus();
}

absl::Status NxCheckLeaf(X509* x, const std::string& who, ChainPurpose purpose) {
  bool critical = false;
  if (NxFindExt(x, NID_basic_constraints, &critical) >= 0) {
    NxBasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(x, NID_basic_constraints, nullptr, nullptr)));
    if (bc == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(StrCat(who, ": basicConstraints does not parse"));
    }
    if (bc->ca) return NxDenied(who, "basicConstraints, when present, must have cA FALSE");
  }
  absl::Status s =
      NxCheckLeafKeyUsage(x, who, /*need_critical=*/purpose == ChainPurpose::kCodeSigning);
  if (!s.ok()) return s;
  s = NxCheckLeafEku(x, who, purpose);
  if (!s.ok()) return s;
  absl::StatusOr<Algorithm> alg = NxAlgorithmOfKey(X509_get0_pubkey(x));
  if (!alg.ok()) return NxDenied(who, Sv(alg.status().message()));
  return absl::OkStatus();
}

// `below`: how many CA certificates are between this one and the leaf.
absl::Status NxCheckCa(X509* x, const std::string& who, ChainPurpose purpose, long below) {
  bool critical = false;
  if (NxFindExt(x, NID_basic_constraints, &critical) < 0) {
    return NxDenied(who, "basicConstraints must be present, critical, with cA TRUE");
  }
  NxBasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(x, NID_basic_constraints, nullptr, nullptr)));
  if (bc == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(StrCat(who, ": basicConstraints does not parse"));
  }
  if (!bc->ca) return NxDenied(who, "basicConstraints must have cA TRUE");
  if (!critical) return NxDenied(who, "basicConstraints must be critical");
  if (bc->pathlen != nullptr) {
    long pathlen = ASN1_INTEGER_get(bc->pathlen);
    if (pathlen < 0 || pathlen < below) {
      return NxDenied(who, StrCat("pathLenConstraint ", pathlen, " is exceeded: ", below,
                                " CA certificate(s) below it"));
    }
  }
  int idx = NxFindExt(x, NID_key_usage, &critical);
  if (idx < 0) return NxDenied(who, "keyUsage must be present and include keyCertSign");
  if (purpose == ChainPurpose::kCodeSigning && !critical) {
    return NxDenied(who, "keyUsage must be critical and include keyCertSign");
  }
  if ((X509_get_key_usage(x) & KU_KEY_CERT_SIGN) == 0) {
    return NxDenied(who, "keyUsage must include keyCertSign");
  }
  absl::Status k = NxCheckCaKey(X509_get0_pubkey(x));
  if (!k.ok()) return NxDenied(who, Sv(k.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ossl::X509Ptr>> NxParseChain(const std::vector<std::string>& chain_der,
                                                      std::string_view role) {
  if (chain_der.empty()) {
    return absl::InvalidArgumentError(StrCat(role, " certificate chain is empty"));
  }
  if (chain_der.size() > kMaxChainCertificates + 1) {
    return absl::InvalidArgumentError(StrCat(role, " certificate chain has ", chain_der.size(),
                                             " certificates; at most ",
                                             kMaxChainCertificates + 1));
  }
  std::vector<ossl::X509Ptr> certs;
  for (size_t i = 0; i < chain_der.size(); ++i) {
    if (chain_der[i].size() > kMaxCertificateBytes) {
      return absl::InvalidArgumentError(StrCat(role, " certificate ", i + 1, " is ",
                                               chain_der[i].size(), " bytes; at most ",
                                               kMaxCertificateBytes));
    }
    ossl::X509Ptr x = ossl::ParseCertDer(chain_der[i]);
    if (x == nullptr) {
      std::string why = ossl::LastError();
      ERR_clear_error();
      return absl::InvalidArgumentError(
          StrCat(role, " certificate ", i + 1, " does not parse as DER X.509: ", why));
    }
    certs.push_back(std::move(x));
  }
  return certs;
}

std::string_view NxRoleOf(ChainPurpose p) {
  return p == ChainPurpose::kCodeSigning ? "signing" : "timestamping";
}

absl::Status NxCheckRules(const std::vector<ossl::X509Ptr>& certs, ChainPurpose purpose) {
  std::string_view role = NxRoleOf(purpose);
  for (size_t i = 0; i < certs.size(); ++i) {
    X509* x = certs[i].get();
    std::string who = NxWho(x, i, role);
    absl::Status s = NxCheckCommon(x, who);
    if (!s.ok()) return s;
    s = i == 0 ? NxCheckLeaf(x, who, purpose) : NxCheckCa(x, who, purpose, static_cast<long>(i) - 1);
    if (!s.ok()) return s;
    if (i + 1 < certs.size()) {
      X509* parent = certs[i + 1].get();
      if (NxSelfIssued(x) && NxSignedBy(x, x)) {
        return NxDenied(who, "is self-signed but is not the last certificate of the chain");
      }
      if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(parent)) != 0) {
        return NxDenied(who, StrCat("is not issued by the next certificate \"",
                                  NxNameText(X509_get_subject_name(parent)),
                                  "\" (issuer name differs): the chain must be ordered leaf "
                                  "first, each certificate followed by its issuer"));
      }
      if (!NxSignedBy(x, parent)) {
        return NxDenied(who, StrCat("signature does not verify with the key of the next "
                                  "certificate \"",
                                  NxNameText(X509_get_subject_name(parent)), "\""));
      }
    } else if (certs.size() > 1 && NxSelfIssued(x) && !NxSignedBy(x, x)) {
      return NxDenied(who, "is a root (subject equals issuer) whose self-signature does not verify");
    }
  }
  return absl::OkStatus();
}

void NxIntersect(X509* x, absl::Time* not_before, absl::Time* not_after, bool* ok) {
  absl::Time nb, na;
  if (!ossl::ToAbslTime(X509_get0_notBefore(x), &nb) ||
      !ossl::ToAbslTime(X509_get0_notAfter(x), &na)) {
    *ok = false;
    return;
  }
  *not_before = std::max(*not_before, nb);
  *not_after = std::min(*not_after, na);
}

std::string NxTimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string NxSerialText(const ASN1_INTEGER* serial) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  if (bn == nullptr) return "?";
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

const char* NxReasonText(int reason) {
  switch (reason) {
    case 0: return "unspecified";
    case 1: return "keyCompromise";
    case 2: return "cACompromise";
    case 3: return "affiliationChanged";
    case 4: return "superseded";
    case 5: return "cessationOfOperation";
    case 6: return "certificateHold";
    case 8: return "removeFromCRL";
    case 9: return "privilegeWithdrawn";
    case 10: return "aACompromise";
    default: return "unknown reason";
  }
}

// Whether `crl` has a critical extension besides those notation-core-go understands.
bool NxCrlHasUnknownCriticalExtension(X509_CRL* crl) {
  for (int i = 0; i < X509_CRL_get_ext_count(crl); ++i) {
    X509_EXTENSION* e = X509_CRL_get_ext(crl, i);
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
    if (X509_EXTENSION_get_critical(e) != 0 && nid != NID_issuing_distribution_point &&
        nid != NID_delta_crl) {
      return true;
    }
  }
  return false;
}

struct NxCertRevocation {
  RevocationStatus status = RevocationStatus::kUnknown;
  std::string detail;
};

// One certificate against the CRLs of its issuer.
NxCertRevocation NxCheckOne(X509* cert, X509* issuer, const std::vector<NxCrlPtr>& crls,
                        absl::Time at, const std::string& who) {
  NxCertRevocation out;
  std::string issuer_text = NxNameText(X509_get_subject_name(issuer));
  std::vector<std::string> why;
  bool covered = false;
  int hold_reason = -1;
  std::string hold_detail;
  for (const NxCrlPtr& crl : crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(issuer)) != 0) {
      continue;
    }
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    if (key == nullptr || X509_CRL_verify(crl.get(), key) != 1) {
      ERR_clear_error();
      why.push_back(StrCat("a CRL naming \"", issuer_text, "\" is not signed by its key"));
      continue;
    }
    absl::Time this_update, next_update;
    if (!ossl::ToAbslTime(X509_CRL_get0_lastUpdate(crl.get()), &this_update)) {
      why.push_back(StrCat("the CRL of \"", issuer_text, "\" has no valid thisUpdate"));
      continue;
    }
    if (X509_CRL_get0_nextUpdate(crl.get()) == nullptr ||
        !ossl::ToAbslTime(X509_CRL_get0_nextUpdate(crl.get()), &next_update)) {
      why.push_back(StrCat("the CRL of \"", issuer_text, "\" has no nextUpdate"));
      continue;
    }
    if (at < this_update) {
      why.push_back(StrCat("the CRL of \"", issuer_text, "\" is not yet valid (thisUpdate ",
                           NxTimeText(this_update), ")"));
      continue;
    }
    if (at >= next_update) {
      why.push_back(StrCat("the CRL of \"", issuer_text, "\" expired ", NxTimeText(next_update)));
      continue;
    }
    if (NxCrlHasUnknownCriticalExtension(crl.get())) {
      why.push_back(StrCat("the CRL of \"", issuer_text, "\" has an unknown critical extension"));
      continue;
    }
    bool delta = X509_CRL_get_ext_by_NID(crl.get(), NID_delta_crl, -1) >= 0;
    if (!delta) covered = true;
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
      X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
      if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(r), X509_get0_serialNumber(cert)) != 0) {
        continue;
      }
      int crit = 0;
      NxEnumeratedPtr reason(static_cast<ASN1_ENUMERATED*>(
          X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr)));
      long code = reason != nullptr ? ASN1_ENUMERATED_get(reason.get()) : 0;
      ERR_clear_error();
      absl::Time when;
      std::string when_text = ossl::ToAbslTime(X509_REVOKED_get0_revocationDate(r), &when)
                                  ? NxTimeText(when)
                                  : "?";
      std::string detail = StrCat(who, " (serial ", NxSerialText(X509_get0_serialNumber(cert)),
                                  ") is revoked by \"", issuer_text, "\" since ", when_text,
                                  ", reason ", NxReasonText(static_cast<int>(code)));
      if (code == 8) {  // removeFromCRL: the hold is lifted
        hold_reason = 8;
        hold_detail.clear();
        continue;
      }
      if (code == 6) {  // certificateHold: revoked unless a later entry lifts it
        if (hold_reason != 8) {
          hold_reason = 6;
          hold_detail = detail;
        }
        continue;
      }
      out.status = RevocationStatus::kRevoked;
      out.detail = detail;
      return out;
    }
  }
  if (hold_reason == 6) {
    out.status = RevocationStatus::kRevoked;
    out.detail = hold_detail;
    return out;
  }
  if (covered) {
    out.status = RevocationStatus::kGood;
    return out;
  }
  out.status = RevocationStatus::kUnknown;
  if (why.empty()) why.push_back(StrCat("no CRL of \"", issuer_text, "\""));
  std::string joined;
  for (const std::string& w : why) joined += (joined.empty() ? "" : "; ") + w;
  out.detail = StrCat(who, ": revocation unknown: ", joined);
  return out;
}

}  // namespace

std::string Thumbprint(std::string_view der) { return HexEncode(Sha256(der)); }

absl::StatusOr<Algorithm> AlgorithmOf(std::string_view leaf_der) {
  ossl::ClearErrorsOnExit clear;
  ossl::X509Ptr x = ossl::ParseCertDer(leaf_der);
  if (x == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("signing certificate does not parse as DER X.509: ", ossl::LastError()));
  }
  absl::StatusOr<Algorithm> a = NxAlgorithmOfKey(X509_get0_pubkey(x.get()));
  if (!a.ok()) {
    return absl::PermissionDeniedError(StrCat("signing certificate \"",
                                              NxNameText(X509_get_subject_name(x.get())),
                                              "\": ", Sv(a.status().message())));
  }
  return a;
}

absl::Status VerifyEnvelopeSignature(const Envelope& envelope) {
  ossl::ClearErrorsOnExit clear;
  if (envelope.certs_der.empty()) {
    return absl::InvalidArgumentError("envelope has no signing certificate");
  }
  if (envelope.signature.empty() || envelope.signature.size() > kMaxSignatureBytes) {
    return absl::InvalidArgumentError(StrCat("signature is ", envelope.signature.size(),
                                             " bytes; 1 to ", kMaxSignatureBytes, " allowed"));
  }
  ossl::X509Ptr leaf = ossl::ParseCertDer(envelope.certs_der[0]);
  if (leaf == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("signing certificate does not parse as DER X.509: ", ossl::LastError()));
  }
  EVP_PKEY* key = X509_get0_pubkey(leaf.get());
  absl::StatusOr<Algorithm> implied = NxAlgorithmOfKey(key);
  if (!implied.ok()) {
    return absl::PermissionDeniedError(StrCat("signing certificate: ", Sv(implied.status().message())));
  }
  if (*implied != envelope.algorithm) {
    return absl::PermissionDeniedError(
        StrCat("algorithm substitution: the envelope's alg says ",
               AlgorithmName(envelope.algorithm), ", the signing certificate's key implies ",
               AlgorithmName(*implied)));
  }
  const EVP_MD* md = NxDigestOf(*implied);
  std::string sig = envelope.signature;
  if (NxIsEcdsa(*implied)) {
    size_t half = static_cast<size_t>((EVP_PKEY_get_bits(key) + 7) / 8);
    if (sig.size() != 2 * half) {
      return absl::PermissionDeniedError(
          StrCat("ECDSA signature is ", sig.size(), " bytes; ", AlgorithmName(*implied),
                 " signatures are r||s of exactly ", 2 * half));
    }
    ossl::EcdsaSigPtr es(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(ossl::Bytes(sig), static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(ossl::Bytes(sig) + half, static_cast<int>(half), nullptr);
    if (es == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return absl::InternalError(StrCat("ECDSA signature: ", ossl::LastError()));
    }
    unsigned char* der = nullptr;
    int n = i2d_ECDSA_SIG(es.get(), &der);
    if (n <= 0) return absl::InternalError(StrCat("ECDSA signature: ", ossl::LastError()));
    ossl::BytesPtr owned(der);
    sig.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
  }
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return absl::InternalError(StrCat("signature verification setup: ", ossl::LastError()));
  }
  if (!NxIsEcdsa(*implied)) {
    // notation-go verifies COSE with Go's rsa.VerifyPSS(PSSSaltLengthEqualsHash) and JWS with
    // golang-jwt's PS* methods, which accept any salt length (PSSSaltLengthAuto); signers use
    // the digest length.
    int salt = envelope.format == Format::kCose ? RSA_PSS_SALTLEN_DIGEST : RSA_PSS_SALTLEN_AUTO;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) != 1) {
      return absl::InternalError(StrCat("RSA-PSS setup: ", ossl::LastError()));
    }
  }
  int rc = EVP_DigestVerify(ctx.get(), ossl::Bytes(sig), sig.size(),
                            ossl::Bytes(envelope.signed_bytes), envelope.signed_bytes.size());
  if (rc != 1) {
    return absl::PermissionDeniedError(
        StrCat("integrity: the ", AlgorithmName(*implied),
               " signature does not verify with the signing certificate's key"));
  }
  return absl::OkStatus();
}

absl::Status CheckCertificateRules(const std::vector<std::string>& chain_der,
                                   ChainPurpose purpose) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<std::vector<ossl::X509Ptr>> certs = NxParseChain(chain_der, NxRoleOf(purpose));
  if (!certs.ok()) return certs.status();
  return NxCheckRules(*certs, purpose);
}

absl::StatusOr<ChainResult> VerifyChain(
    const std::vector<std::string>& chain_der,
    const std::vector<std::shared_ptr<const TrustStore>>& stores, StoreType type,
    ChainPurpose purpose) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<std::vector<ossl::X509Ptr>> certs = NxParseChain(chain_der, NxRoleOf(purpose));
  if (!certs.ok()) return certs.status();
  if (chain_der.size() > kMaxChainCertificates) {
    return absl::InvalidArgumentError(StrCat(NxRoleOf(purpose), " certificate chain has ",
                                             chain_der.size(), " certificates; at most ",
                                             kMaxChainCertificates));
  }
  absl::Status rules = NxCheckRules(*certs, purpose);
  if (!rules.ok()) return rules;

  ossl::X509StackViewPtr untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return absl::InternalError("out of memory");
  for (size_t i = 1; i < certs->size(); ++i) sk_X509_push(untrusted.get(), (*certs)[i].get());

  std::vector<std::string> tried;
  for (const std::shared_ptr<const TrustStore>& store : stores) {
    if (store == nullptr || store->type != type) continue;
    X509_STORE* anchors = store->anchors.get();
    ossl::StorePtr built_here;
    if (anchors == nullptr) {  // a TrustStore not made by LoadTrustStore
      built_here.reset(X509_STORE_new());
      if (built_here == nullptr) return absl::InternalError("out of memory");
      for (const std::string& der : store->certs_der) {
        ossl::X509Ptr anchor = ossl::ParseCertDer(der);
        if (anchor != nullptr) X509_STORE_add_cert(built_here.get(), anchor.get());
      }
      ERR_clear_error();
      anchors = built_here.get();
    }
    ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (ctx == nullptr ||
        X509_STORE_CTX_init(ctx.get(), anchors, (*certs)[0].get(), untrusted.get()) != 1) {
      return absl::InternalError(StrCat("X509_STORE_CTX_init: ", ossl::LastError()));
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    // Time is judged by the caller (verify.h: signing time, timestamp, expiry); other
    // extensions than basicConstraints, keyUsage and extendedKeyUsage are not evaluated (the
    // spec: "MUST fail open"), so an unknown critical one does not fail the chain.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN |
                                           X509_V_FLAG_IGNORE_CRITICAL);
    X509_VERIFY_PARAM_set_depth(param, static_cast<int>(kMaxChainCertificates) + 1);
    int ok = X509_verify_cert(ctx.get());
    if (ok != 1) {
      int err = X509_STORE_CTX_get_error(ctx.get());
      tried.push_back(StrCat("\"", store->name, "\": ", X509_verify_cert_error_string(err)));
      ERR_clear_error();
      continue;
    }
    STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
    std::vector<ossl::X509Ptr> verified;
    ChainResult result;
    for (int i = 0; i < sk_X509_num(built); ++i) {
      X509* x = sk_X509_value(built, i);
      X509_up_ref(x);
      verified.emplace_back(x);
      result.chain_der.push_back(ossl::CertDer(x));
    }
    if (verified.empty()) continue;
    // The anchor may be a store certificate the envelope did not carry (an omitted root):
    // the rules hold for it too.
    bool within_envelope =
        result.chain_der.size() <= chain_der.size() &&
        std::equal(result.chain_der.begin(), result.chain_der.end(), chain_der.begin());
    if (!within_envelope) {
      absl::Status r = NxCheckRules(verified, purpose);
      if (!r.ok()) {
        tried.push_back(StrCat("\"", store->name, "\": ", Sv(r.message())));
        continue;
      }
    }
    result.store = store->name;
    result.anchor_thumbprint = Thumbprint(result.chain_der.back());
    result.not_before = absl::InfinitePast();
    result.not_after = absl::InfiniteFuture();
    bool times_ok = true;
    for (const ossl::X509Ptr& x : verified) {
      NxIntersect(x.get(), &result.not_before, &result.not_after, &times_ok);
    }
    if (!times_ok) {
      return absl::InvalidArgumentError("a certificate of the chain has an unreadable validity time");
    }
    return result;
  }
  std::string names;
  for (const std::shared_ptr<const TrustStore>& store : stores) {
    if (store != nullptr && store->type == type) names += (names.empty() ? "" : ", ") + store->name;
  }
  if (names.empty()) {
    return absl::PermissionDeniedError(StrCat("authenticity: the scope names no trust store of type ",
                                              StoreTypeName(type)));
  }
  std::string reasons;
  for (const std::string& t : tried) reasons += (reasons.empty() ? "" : "; ") + t;
  return absl::PermissionDeniedError(
      StrCat("authenticity: the ", NxRoleOf(purpose), " certificate chain does not lead to a "
             "certificate of trust store(s) of type ", StoreTypeName(type), " [", names, "]: ",
             reasons));
}

RevocationResult CheckRevocation(const ChainResult& chain, const TrustStore& store, absl::Time at) {
  ossl::ClearErrorsOnExit clear;
  RevocationResult out;
  if (store.crls_der.empty()) {
    out.status = RevocationStatus::kUnknown;
    out.detail = StrCat("no CRL configured for trust store ", store.name);
    return out;
  }
  std::vector<ossl::X509Ptr> certs;
  for (const std::string& der : chain.chain_der) {
    ossl::X509Ptr x = ossl::ParseCertDer(der);
    if (x == nullptr) {
      out.detail = "a certificate of the chain does not parse";
      return out;
    }
    certs.push_back(std::move(x));
  }
  std::vector<NxCrlPtr> crls;
  for (const std::string& der : store.crls_der) {
    const unsigned char* p = ossl::Bytes(der);
    NxCrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
    if (crl != nullptr) crls.push_back(std::move(crl));
  }
  ERR_clear_error();
  std::vector<std::string> unknown;
  for (size_t i = 0; i + 1 < certs.size(); ++i) {
    NxCertRevocation r = NxCheckOne(certs[i].get(), certs[i + 1].get(), crls, at,
                                NxWho(certs[i].get(), i, "chain"));
    if (r.status == RevocationStatus::kRevoked) {
      out.status = RevocationStatus::kRevoked;
      out.detail = r.detail;
      return out;
    }
    if (r.status == RevocationStatus::kUnknown) unknown.push_back(r.detail);
  }
  if (!unknown.empty()) {
    out.status = RevocationStatus::kUnknown;
    for (const std::string& u : unknown) out.detail += (out.detail.empty() ? "" : "; ") + u;
    out.detail = StrCat(out.detail, " (CRL file ", store.crl_path, ")");
    return out;
  }
  out.status = RevocationStatus::kGood;
  out.detail = StrCat("not revoked by the CRLs of trust store ", store.name);
  return out;
}

}  // namespace layerseal::notation
