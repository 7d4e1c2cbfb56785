#include "verifier/sigstore/rfc3161.h"

#include <openssl/bio.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "base/str_cat.h"
#include "verifier/internal/openssl_util.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/fulcio.h"

namespace layerseal::sigstore {
namespace {

constexpr long kStatusGranted = 0;
constexpr long kStatusGrantedWithMods = 1;
constexpr size_t kMaxFractionDigits = 9;  // nanoseconds; further digits are ignored

// genTime (GeneralizedTime "YYYYMMDDHHMMSS[.fff]Z", RFC 3161 §2.4.2) with its fraction, so
// that a closed validFor end compares exactly.
absl::StatusOr<absl::Time> GenTime(const ASN1_GENERALIZEDTIME* gt) {
  absl::Time whole;
  if (gt == nullptr || !ossl::ToAbslTime(gt, &whole)) {
    return absl::InvalidArgumentError("timestamp genTime does not parse");
  }
  std::string_view s = ossl::View(gt);
  absl::Duration frac = absl::ZeroDuration();
  if (s.size() > 15 && s[14] == '.') {
    int64_t ns = 0;
    size_t digits = 0;
    for (size_t i = 15; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (digits < kMaxFractionDigits) {
        ns = ns * 10 + (s[i] - '0');
        ++digits;
      }
    }
    for (; digits < kMaxFractionDigits; ++digits) ns *= 10;
    frac = absl::Nanoseconds(ns);
  }
  return whole + frac;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

// The one certificate that signed `token`, looked up among its own certificates and `certs`;
// nullptr when there is not exactly one. Borrowed from `token` or `certs`.
X509* Signer(PKCS7* token, STACK_OF(X509) * certs) {
  ossl::X509StackViewPtr signers(PKCS7_get0_signers(token, certs, 0));
  if (signers == nullptr || sk_X509_num(signers.get()) != 1) return nullptr;
  return sk_X509_value(signers.get(), 0);
}

// Verifies `resp` against the one TSA `a` at `gen_time`. OK or why not.
absl::Status VerifyWithAuthority(TS_RESP* resp, std::string_view signed_bytes,
                                 const Authority& a, absl::Time gen_time) {
  if (a.chain.empty()) return absl::PermissionDeniedError("the TSA has no certificates");
  // A fresh store holding the TSA's root only, validating at genTime: a TSA certificate that
  // expired after it signed still counts (RFC 3161 tokens outlive their signer).
  ossl::StorePtr store(X509_STORE_new());
  if (store == nullptr || X509_STORE_add_cert(store.get(), a.chain.back().get()) != 1) {
    return absl::InternalError(StrCat("cannot build a certificate store: ", ossl::LastError()));
  }
  X509_VERIFY_PARAM* param = X509_STORE_get0_param(store.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(gen_time));
  X509_VERIFY_PARAM_set_depth(param, kMaxVerifyDepth);
  // The TSA's intermediates (and leaf) from the trusted root, so that tokens without
  // embedded certificates verify.
  ossl::X509StackPtr certs(sk_X509_new_null());
  if (certs == nullptr) return absl::InternalError("out of memory");
  for (size_t i = 0; i + 1 < a.chain.size(); ++i) {
    if (X509_up_ref(a.chain[i].get()) != 1 || sk_X509_push(certs.get(), a.chain[i].get()) <= 0) {
      return absl::InternalError("out of memory");
    }
  }
  PKCS7* token = TS_RESP_get_token(resp);
  if (token == nullptr) return absl::PermissionDeniedError("timestamp response has no token");
  // When the root names the TSA's signing certificate (its chain has a non-CA first), the
  // token must be signed by exactly that certificate (sigstore-go's TSACertificate rule): an
  // embedded certificate of some other TSA under the same root does not count.
  X509* expected = a.chain.size() > 1 && X509_check_ca(a.chain.front().get()) == 0
                       ? a.chain.front().get()
                       : nullptr;
  if (expected != nullptr) {
    X509* signer = Signer(token, certs.get());
    if (signer == nullptr) {
      return absl::PermissionDeniedError(
          StrCat("the token's signer certificate is not found: ", ossl::LastError()));
    }
    if (X509_cmp(signer, expected) != 0) {
      return absl::PermissionDeniedError(
          "the token is signed by a certificate other than the TSA's signing certificate");
    }
  }

  ossl::TsVerifyCtxPtr v(TS_VERIFY_CTX_new());
  if (v == nullptr) return absl::InternalError("out of memory");
  TS_VERIFY_CTX_set_flags(v.get(), TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_SIGNER | TS_VFY_DATA);
  // The context owns the BIO, the store and the certificates from here on.
  BIO* data = BIO_new_mem_buf(signed_bytes.data(), static_cast<int>(signed_bytes.size()));
  if (data == nullptr) return absl::InternalError("out of memory");
  TS_VERIFY_CTX_set_data(v.get(), data);
  TS_VERIFY_CTX_set_store(v.get(), store.release());
  TS_VERIFY_CTX_set_certs(v.get(), certs.release());
  if (TS_RESP_verify_response(v.get(), resp) != 1) {
    return absl::PermissionDeniedError(ossl::LastError());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VerifiedTime> VerifyTimestamp(std::string_view der_response,
                                             std::string_view signed_bytes,
                                             const TrustedRoot& root) {
  ossl::ClearErrorsOnExit clear;
  if (der_response.empty()) return absl::InvalidArgumentError("empty timestamp response");
  if (der_response.size() > kMaxTimestampResponseBytes) {
    return absl::InvalidArgumentError(StrCat("timestamp response of ", der_response.size(),
                                             " bytes; at most ", kMaxTimestampResponseBytes));
  }
  if (signed_bytes.empty()) return absl::InvalidArgumentError("no signature to timestamp");
  if (signed_bytes.size() > kMaxSignatureBytes) {
    return absl::InvalidArgumentError(StrCat("timestamped signature of ", signed_bytes.size(),
                                             " bytes; at most ", kMaxSignatureBytes));
  }
  const unsigned char* p = ossl::Bytes(der_response);
  ossl::TsRespPtr resp(d2i_TS_RESP(nullptr, &p, static_cast<long>(der_response.size())));
  if (resp == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("timestamp response is not a DER TimeStampResp: ", ossl::LastError()));
  }
  if (p != ossl::Bytes(der_response) + der_response.size()) {
    return absl::InvalidArgumentError("timestamp response has bytes after its DER");
  }
  TS_STATUS_INFO* status = TS_RESP_get_status_info(resp.get());
  const ASN1_INTEGER* code = status != nullptr ? TS_STATUS_INFO_get0_status(status) : nullptr;
  long granted = code != nullptr ? ASN1_INTEGER_get(code) : -1;
  if (granted != kStatusGranted && granted != kStatusGrantedWithMods) {
    return absl::InvalidArgumentError(
        StrCat("timestamp response status is ", granted, ", not granted"));
  }
  TS_TST_INFO* info = TS_RESP_get_tst_info(resp.get());
  if (info == nullptr || TS_RESP_get_token(resp.get()) == nullptr) {
    return absl::InvalidArgumentError("timestamp response has no token");
  }
  absl::StatusOr<absl::Time> gen_time = GenTime(TS_TST_INFO_get_time(info));
  if (!gen_time.ok()) return gen_time.status();

  std::string why;
  int tried = 0;
  for (size_t i = 0; i < root.tsas().size(); ++i) {
    const Authority& a = root.tsas()[i];
    if (!a.valid_for.Contains(*gen_time)) continue;
    ++tried;
    absl::Status s = VerifyWithAuthority(resp.get(), signed_bytes, a, *gen_time);
    ERR_clear_error();
    if (s.ok()) return VerifiedTime{*gen_time, a.uri};
    if (!why.empty()) why += "; ";
    why += StrCat("TSA ", i, a.uri.empty() ? "" : StrCat(" (", a.uri, ")"), ": ", s.message());
  }
  if (tried == 0) {
    return absl::PermissionDeniedError(StrCat("no timestamp authority of the trusted root is valid at genTime ",
                                              Rfc3339(*gen_time)));
  }
  return absl::PermissionDeniedError(
      StrCat("no timestamp authority of the trusted root verifies the timestamp (genTime ",
             Rfc3339(*gen_time), "): ", why));
}

}  // namespace layerseal::sigstore
