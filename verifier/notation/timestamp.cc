// verifier/notation/timestamp.h: implementation (issue 20). The token's CMS signature, its ESS
// signing-certificate attribute and the TSA's name are checked by OpenSSL's TS code (as
// verifier/sigstore/rfc3161.cc does for a TimeStampResp); the TSA chain's rules and its
// anchor in a `tsa` store by x509.h VerifyChain; times here.
#include "verifier/notation/timestamp.h"

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "base/str_cat.h"
#include "verifier/digest.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/internal/timestamp_chain.h"
#include "verifier/notation/x509.h"
#include "verifier/internal/openssl_util.h"

namespace layerseal::notation {
namespace tsimpl {


using Pkcs7Ptr = std::unique_ptr<PKCS7, ossl::Deleter<PKCS7, PKCS7_free>>;
using TstInfoPtr = std::unique_ptr<TS_TST_INFO, ossl::Deleter<TS_TST_INFO, TS_TST_INFO_free>>;

// The baseline time-stamp policy of RFC 3628 §5.2 (ETSI): without an explicit accuracy a
// token under it is accurate to one second (trust-store-trust-policy.md).
constexpr char kBaselinePolicyOid[] = "0.4.0.2023.1.1";
constexpr absl::Duration kBaselineAccuracy = absl::Seconds(1);
constexpr size_t kMaxGenTimeFractionDigits = 9;  // nanoseconds; further digits are ignored
// An accuracy over a day is no timestamp at all (real TSAs say 1 s or less).
constexpr int64_t kMaxAccuracySeconds = 24 * 3600;
// The TSA chain as ordered for VerifyChain: signer plus issuers found in the token.
constexpr size_t kMaxTsaChainCertificates = kMaxChainCertificates;

std::string OidText(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  if (n <= 0) return "(unreadable OID)";
  return std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
}

// genTime "YYYYMMDDHHMMSS[.fff]Z" with its fraction.
absl::StatusOr<absl::Time> ParseGenTime(const ASN1_GENERALIZEDTIME* gt) {
  absl::Time whole;
  if (gt == nullptr || !ossl::ToAbslTime(gt, &whole)) {
    return absl::InvalidArgumentError("timestamp token: TSTInfo genTime does not parse");
  }
  std::string_view s = ossl::View(gt);
  int64_t ns = 0;
  if (s.size() > 15 && s[14] == '.') {
    size_t digits = 0;
    for (size_t i = 15; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (digits < kMaxGenTimeFractionDigits) {
        ns = ns * 10 + (s[i] - '0');
        ++digits;
      }
    }
    for (; digits < kMaxGenTimeFractionDigits; ++digits) ns *= 10;
  }
  return whole + absl::Nanoseconds(ns);
}

// One accuracy member (seconds, millis or micros); absent is 0.
absl::StatusOr<int64_t> AccuracyPart(const ASN1_INTEGER* v, std::string_view name,
                                     int64_t max) {
  if (v == nullptr) return 0;
  int64_t out = 0;
  if (ASN1_INTEGER_get_int64(&out, v) != 1 || out < 0 || out > max) {
    return absl::InvalidArgumentError(
        StrCat("timestamp token: TSTInfo accuracy ", name, " is out of range 0..", max));
  }
  return out;
}

absl::StatusOr<absl::Duration> Accuracy(const TS_TST_INFO* info) {
  const TS_ACCURACY* acc = TS_TST_INFO_get_accuracy(const_cast<TS_TST_INFO*>(info));
  if (acc == nullptr) {
    const ASN1_OBJECT* policy = TS_TST_INFO_get_policy_id(const_cast<TS_TST_INFO*>(info));
    if (policy != nullptr && OidText(policy) == kBaselinePolicyOid) return kBaselineAccuracy;
    return absl::ZeroDuration();
  }
  absl::StatusOr<int64_t> s = AccuracyPart(TS_ACCURACY_get_seconds(acc), "seconds",
                                           kMaxAccuracySeconds);
  if (!s.ok()) return s.status();
  absl::StatusOr<int64_t> ms = AccuracyPart(TS_ACCURACY_get_millis(acc), "millis", 999);
  if (!ms.ok()) return ms.status();
  absl::StatusOr<int64_t> us = AccuracyPart(TS_ACCURACY_get_micros(acc), "micros", 999);
  if (!us.ok()) return us.status();
  return absl::Seconds(*s) + absl::Milliseconds(*ms) + absl::Microseconds(*us);
}

std::string HashName(const ASN1_OBJECT* obj) {
  int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) {
    const char* ln = OBJ_nid2ln(nid);
    if (ln != nullptr) return ln;
  }
  return OidText(obj);
}

struct ParsedToken {
  Pkcs7Ptr p7;
  TstInfoPtr tst;
  TimestampInfo info;
};

absl::StatusOr<ParsedToken> Parse(std::string_view der) {
  if (der.empty()) return absl::InvalidArgumentError("timestamp token is empty");
  if (der.size() > kMaxTimestampTokenBytes) {
    return absl::ResourceExhaustedError(StrCat("timestamp token of ", der.size(),
                                               " bytes; at most ", kMaxTimestampTokenBytes));
  }
  ParsedToken t;
  const unsigned char* p = ossl::Bytes(der);
  t.p7.reset(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (t.p7 == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("timestamp token is not a DER CMS ContentInfo: ", ossl::LastError()));
  }
  if (p != ossl::Bytes(der) + der.size()) {
    return absl::InvalidArgumentError(
        StrCat("timestamp token has ", ossl::Bytes(der) + der.size() - p,
               " bytes after its DER ContentInfo"));
  }
  if (!PKCS7_type_is_signed(t.p7.get())) {
    return absl::InvalidArgumentError(
        StrCat("timestamp token is a CMS ContentInfo of type ",
               t.p7->type != nullptr ? OidText(t.p7->type) : "(none)",
               ", not SignedData (1.2.840.113549.1.7.2)"));
  }
  if (t.p7->d.sign == nullptr || t.p7->d.sign->contents == nullptr ||
      t.p7->d.sign->contents->type == nullptr) {
    return absl::InvalidArgumentError("timestamp token: SignedData has no content");
  }
  if (OBJ_obj2nid(t.p7->d.sign->contents->type) != NID_id_smime_ct_TSTInfo) {
    return absl::InvalidArgumentError(StrCat(
        "timestamp token: SignedData content type is ", OidText(t.p7->d.sign->contents->type),
        ", not id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)"));
  }
  t.tst.reset(PKCS7_to_TS_TST_INFO(t.p7.get()));
  if (t.tst == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("timestamp token: TSTInfo does not parse: ", ossl::LastError()));
  }
  absl::StatusOr<absl::Time> gen = ParseGenTime(TS_TST_INFO_get_time(t.tst.get()));
  if (!gen.ok()) return gen.status();
  t.info.gen_time = *gen;
  absl::StatusOr<absl::Duration> acc = Accuracy(t.tst.get());
  if (!acc.ok()) return acc.status();
  t.info.accuracy = *acc;
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(t.tst.get());
  X509_ALGOR* algo = imprint != nullptr ? TS_MSG_IMPRINT_get_algo(imprint) : nullptr;
  ASN1_OCTET_STRING* msg = imprint != nullptr ? TS_MSG_IMPRINT_get_msg(imprint) : nullptr;
  if (algo == nullptr || algo->algorithm == nullptr || msg == nullptr) {
    return absl::InvalidArgumentError("timestamp token: TSTInfo has no messageImprint");
  }
  t.info.hash_algorithm = HashName(algo->algorithm);
  t.info.message_imprint = std::string(ossl::View(msg));
  STACK_OF(X509)* certs = t.p7->d.sign->cert;
  for (int i = 0; i < sk_X509_num(certs); ++i) {
    std::string d = ossl::CertDer(sk_X509_value(certs, i));
    if (d.empty()) {
      return absl::InvalidArgumentError(
          StrCat("timestamp token: embedded certificate ", i, " does not encode"));
    }
    t.info.certs_der.push_back(std::move(d));
  }
  return t;
}

// The digest OpenSSL names for the imprint's algorithm, only SHA-256/384/512.
const EVP_MD* ImprintDigest(const ASN1_OBJECT* obj) {
  switch (OBJ_obj2nid(obj)) {
    case NID_sha256: return EVP_sha256();
    case NID_sha384: return EVP_sha384();
    case NID_sha512: return EVP_sha512();
    default: return nullptr;
  }
}

absl::Status CheckImprint(const ParsedToken& t, std::string_view signature) {
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(t.tst.get());
  const EVP_MD* md = ImprintDigest(TS_MSG_IMPRINT_get_algo(imprint)->algorithm);
  if (md == nullptr) {
    return absl::PermissionDeniedError(
        StrCat("timestamp messageImprint uses ", t.info.hash_algorithm,
               "; only sha256, sha384 and sha512 are accepted"));
  }
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(signature.data(), signature.size(), hash, &len, md, nullptr) != 1) {
    return absl::InternalError(StrCat("cannot hash the signature: ", ossl::LastError()));
  }
  std::string_view want(reinterpret_cast<const char*>(hash), len);
  if (t.info.message_imprint != want) {
    return absl::PermissionDeniedError(
        StrCat("timestamp messageImprint (", t.info.hash_algorithm, " ",
               HexEncode(t.info.message_imprint), ") is not the hash of the envelope's signature (",
               HexEncode(want), "): the token timestamps something else"));
  }
  return absl::OkStatus();
}

// The token's one signer certificate, from its own certificates (borrowed from t.p7).
absl::StatusOr<X509*> SignerCert(const ParsedToken& t) {
  STACK_OF(PKCS7_SIGNER_INFO)* infos = PKCS7_get_signer_info(t.p7.get());
  if (sk_PKCS7_SIGNER_INFO_num(infos) != 1) {
    return absl::PermissionDeniedError(StrCat("timestamp token has ",
                                              sk_PKCS7_SIGNER_INFO_num(infos),
                                              " SignerInfos; exactly one is required"));
  }
  if (sk_X509_num(t.p7->d.sign->cert) <= 0) {
    return absl::PermissionDeniedError(
        "timestamp token embeds no certificate: the TSA signing certificate is required in it");
  }
  ossl::X509StackViewPtr signers(PKCS7_get0_signers(t.p7.get(), nullptr, 0));
  if (signers == nullptr || sk_X509_num(signers.get()) != 1) {
    return absl::PermissionDeniedError(StrCat(
        "timestamp token: the certificate named by its SignerInfo is not embedded in it (",
        ossl::LastError(), ")"));
  }
  PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(infos, 0);
  if (PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificateV2) == nullptr &&
      PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificate) == nullptr) {
    return absl::PermissionDeniedError(
        "timestamp token has no ESS signing-certificate-v2 (or signing-certificate) signed "
        "attribute");
  }
  return sk_X509_value(signers.get(), 0);
}

// The signer, then its issuers as found among the token's certificates (by name and key
// identifier, X509_check_issued), stopping at a self-issued one.
std::vector<std::string> OrderedTsaChain(X509* signer, STACK_OF(X509) * certs) {
  std::vector<std::string> out = {ossl::CertDer(signer)};
  X509* cur = signer;
  while (out.size() < kMaxTsaChainCertificates && X509_check_issued(cur, cur) != X509_V_OK) {
    X509* next = nullptr;
    for (int i = 0; i < sk_X509_num(certs); ++i) {
      X509* c = sk_X509_value(certs, i);
      if (c != cur && X509_check_issued(c, cur) == X509_V_OK) {
        next = c;
        break;
      }
    }
    if (next == nullptr) break;
    out.push_back(ossl::CertDer(next));
    cur = next;
  }
  ERR_clear_error();
  return out;
}

// The CMS signature over the TSTInfo, the ESS signing-certificate attribute matching the
// signer, the TSA name (when TSTInfo has one) matching the signer, the TSTInfo version: by
// OpenSSL, with the chain's anchor as its only trust anchor and without time (genTime is
// judged against the chain below).
absl::Status VerifyCms(const ParsedToken& t, const ChainResult& chain) {
  const std::string& anchor_der = chain.chain_der.back();
  ossl::X509Ptr anchor = ossl::ParseCertDer(anchor_der);
  ossl::StorePtr store(X509_STORE_new());
  if (anchor == nullptr || store == nullptr || X509_STORE_add_cert(store.get(), anchor.get()) != 1) {
    return absl::InternalError(StrCat("cannot build the TSA store: ", ossl::LastError()));
  }
  X509_VERIFY_PARAM* param = X509_STORE_get0_param(store.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
  ossl::TsVerifyCtxPtr v(TS_VERIFY_CTX_new());
  if (v == nullptr) return absl::InternalError("out of memory");
  TS_VERIFY_CTX_set_flags(v.get(), TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_SIGNER);
  TS_VERIFY_CTX_set_store(v.get(), store.release());  // owned by the context from here
  // The chain as VerifyChain completed it (store certificates the token did not embed
  // included) as untrusted certificates, so that OpenSSL finds the same path.
  ossl::X509StackPtr untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return absl::InternalError("out of memory");
  for (size_t i = 1; i + 1 < chain.chain_der.size(); ++i) {
    ossl::X509Ptr c = ossl::ParseCertDer(chain.chain_der[i]);
    if (c == nullptr || sk_X509_push(untrusted.get(), c.get()) <= 0) {
      return absl::InternalError(StrCat("cannot build the TSA chain: ", ossl::LastError()));
    }
    c.release();
  }
  TS_VERIFY_CTX_set_certs(v.get(), untrusted.release());  // owned by the context from here
  if (TS_RESP_verify_token(v.get(), t.p7.get()) != 1) {
    return absl::PermissionDeniedError(
        StrCat("timestamp token signature does not verify: ", ossl::LastError()));
  }
  return absl::OkStatus();
}

}  // namespace tsimpl

namespace internal {

std::string FormatTimeUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<std::vector<CertificateWindow>> CertificateWindows(
    const std::vector<std::string>& chain_der) {
  ossl::ClearErrorsOnExit clear;
  std::vector<CertificateWindow> out;
  for (size_t i = 0; i < chain_der.size(); ++i) {
    ossl::X509Ptr c = ossl::ParseCertDer(chain_der[i]);
    CertificateWindow w;
    if (c == nullptr || !ossl::ToAbslTime(X509_get0_notBefore(c.get()), &w.not_before) ||
        !ossl::ToAbslTime(X509_get0_notAfter(c.get()), &w.not_after)) {
      return absl::InvalidArgumentError(
          StrCat("certificate ", i, " of the chain (0: leaf) does not parse"));
    }
    w.subject = SubjectText(chain_der[i]);
    out.push_back(std::move(w));
  }
  return out;
}

std::string OutsideWindows(const std::vector<CertificateWindow>& windows, absl::Time lower,
                           absl::Time upper, std::string_view what) {
  for (const CertificateWindow& w : windows) {
    if (lower < w.not_before) {
      return StrCat(what, " ", FormatTimeUtc(lower), " is before certificate \"", w.subject,
                    "\" is valid (notBefore ", FormatTimeUtc(w.not_before), ")");
    }
    if (upper > w.not_after) {
      return StrCat(what, " ", FormatTimeUtc(upper), " is after certificate \"", w.subject,
                    "\" expired (notAfter ", FormatTimeUtc(w.not_after), ")");
    }
  }
  return "";
}

absl::StatusOr<TimestampVerification> VerifyTimestampTokenChain(
    std::string_view token_der, std::string_view signature,
    const std::vector<std::shared_ptr<const TrustStore>>& stores) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<tsimpl::ParsedToken> t = tsimpl::Parse(token_der);
  if (!t.ok()) return t.status();
  // Integrity: the token is over this signature, and signed by a certificate it carries.
  if (absl::Status s = tsimpl::CheckImprint(*t, signature); !s.ok()) return s;
  absl::StatusOr<X509*> signer = tsimpl::SignerCert(*t);
  if (!signer.ok()) return signer.status();
  // Authenticity: the TSA chain meets the rules and leads to a tsa store.
  std::vector<std::string> chain_der = tsimpl::OrderedTsaChain(*signer, t->p7->d.sign->cert);
  std::string tsa_subject = SubjectText(chain_der.front());
  bool any_tsa = false;
  for (const auto& s : stores) any_tsa = any_tsa || (s != nullptr && s->type == StoreType::kTsa);
  if (!any_tsa) {
    return absl::PermissionDeniedError(
        StrCat("timestamp by \"", tsa_subject, "\": no tsa trust store to verify it against"));
  }
  absl::StatusOr<ChainResult> chain =
      VerifyChain(chain_der, stores, StoreType::kTsa, ChainPurpose::kTimestamping);
  ERR_clear_error();
  if (!chain.ok()) {
    return absl::PermissionDeniedError(StrCat("timestamp by \"", tsa_subject,
                                              "\": TSA certificate chain: ",
                                              Sv(chain.status().message())));
  }
  if (chain->chain_der.empty()) return absl::InternalError("VerifyChain returned no chain");
  if (absl::Status s = tsimpl::VerifyCms(*t, *chain); !s.ok()) return s;
  // Time: genTime within every certificate of the TSA chain (ChainResult's intersection; the
  // certificates are parsed again only to name the one it falls outside of).
  const absl::Time gen = t->info.gen_time;
  if (gen < chain->not_before || gen > chain->not_after) {
    absl::StatusOr<std::vector<CertificateWindow>> windows = CertificateWindows(chain->chain_der);
    std::string outside =
        windows.ok() ? OutsideWindows(*windows, gen, gen, "timestamp genTime") : "";
    if (outside.empty()) {
      outside = StrCat("timestamp genTime ", FormatTimeUtc(gen), " is outside [",
                       FormatTimeUtc(chain->not_before), ", ", FormatTimeUtc(chain->not_after),
                       "]");
    }
    return absl::PermissionDeniedError(StrCat("TSA certificate chain: ", outside));
  }
  TimestampVerification out;
  out.verified.lower = t->info.gen_time - t->info.accuracy;
  out.verified.upper = t->info.gen_time + t->info.accuracy;
  out.verified.tsa_subject = std::move(tsa_subject);
  out.verified.store = chain->store;
  out.tsa_chain = *std::move(chain);
  out.info = std::move(t->info);
  return out;
}

}  // namespace internal

absl::StatusOr<TimestampInfo> ParseTimestampToken(std::string_view token_der) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<tsimpl::ParsedToken> t = tsimpl::Parse(token_der);
  if (!t.ok()) return t.status();
  return std::move(t->info);
}

absl::StatusOr<VerifiedTimestamp> VerifyTimestampToken(
    std::string_view token_der, std::string_view signature,
    const std::vector<std::shared_ptr<const TrustStore>>& stores) {
  absl::StatusOr<internal::TimestampVerification> v =
      internal::VerifyTimestampTokenChain(token_der, signature, stores);
  if (!v.ok()) return v.status();
  return std::move(v->verified);
}

}  // namespace layerseal::notation
