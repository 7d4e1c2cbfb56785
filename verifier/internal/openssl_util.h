// Small OpenSSL 3 helpers shared by the verifier's X.509 code (sigstore: signature.cc,
// fulcio.cc, sct.cc, rfc3161.cc; notation: trust.cc, x509.cc, timestamp.cc): owning pointers
// for the object types they use, the thread's last OpenSSL error as text, and a guard that
// empties the thread's error queue. Header-only, internal to verifier/ (and its tests). Thread-safety: pure functions; every object
// is owned by the unique_ptr holding it.
#ifndef LAYERSEAL_VERIFIER_INTERNAL_OPENSSL_UTIL_H_
#define LAYERSEAL_VERIFIER_INTERNAL_OPENSSL_UTIL_H_

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace layerseal::ossl {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
using OctetPtr =
    std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using Utf8Ptr = std::unique_ptr<ASN1_UTF8STRING, Deleter<ASN1_UTF8STRING, ASN1_UTF8STRING_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using TsRespPtr = std::unique_ptr<TS_RESP, Deleter<TS_RESP, TS_RESP_free>>;
using TsVerifyCtxPtr = std::unique_ptr<TS_VERIFY_CTX, Deleter<TS_VERIFY_CTX, TS_VERIFY_CTX_free>>;

inline void FreeX509Stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
// A stack that owns its certificates (each pushed with an up-reference).
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), FreeX509Stack>>;
inline void FreeX509StackShallow(STACK_OF(X509) * s) { sk_X509_free(s); }
// A stack that borrows its certificates.
using X509StackViewPtr =
    std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), FreeX509StackShallow>>;

inline void FreeOpenSslBytes(unsigned char* p) { OPENSSL_free(p); }
using BytesPtr = std::unique_ptr<unsigned char, Deleter<unsigned char, FreeOpenSslBytes>>;

// Every public entry point of the verifier's X.509 code leaves the thread's OpenSSL error queue
// empty, so a failure here never shows up later as a stale error in an unrelated call.
struct ClearErrorsOnExit {
  ClearErrorsOnExit() = default;
  ClearErrorsOnExit(const ClearErrorsOnExit&) = delete;
  ClearErrorsOnExit& operator=(const ClearErrorsOnExit&) = delete;
  ~ClearErrorsOnExit() { ERR_clear_error(); }
};

// The thread's most recent OpenSSL error as text, with its detail ("Verify error:...")
// when it has one; or "no OpenSSL error detail".
inline std::string LastError() {
  const char* data = nullptr;
  int flags = 0;
  unsigned long e = ERR_peek_last_error_data(&data, &flags);
  if (e == 0) return "no OpenSSL error detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  std::string out = buf;
  if (data != nullptr && *data != '\0' && (flags & ERR_TXT_STRING) != 0) {
    out += " (";
    out += data;
    out += ")";
  }
  return out;
}

inline const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
inline std::string_view View(const ASN1_STRING* s) {
  return std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<size_t>(ASN1_STRING_length(s)));
}

// An ASN1_TIME (UTCTime or GeneralizedTime, whole seconds) as absl::Time; false when it
// does not parse.
inline bool ToAbslTime(const ASN1_TIME* t, absl::Time* out) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  *out = absl::FromCivil(absl::CivilSecond(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                           tm.tm_hour, tm.tm_min, tm.tm_sec),
                         absl::UTCTimeZone());
  return true;
}

// A DER certificate, the whole input consumed; null otherwise (the error queue cleared).
inline X509Ptr ParseCertDer(std::string_view der) {
  const unsigned char* p = Bytes(der);
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x != nullptr && p != Bytes(der) + der.size()) x.reset();
  ERR_clear_error();
  return x;
}

// The DER encoding of `x`, or "" when it cannot be encoded.
inline std::string CertDer(X509* x) {
  unsigned char* der = nullptr;
  int n = i2d_X509(x, &der);
  if (n <= 0) return "";
  BytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

}  // namespace layerseal::ossl

#endif  // LAYERSEAL_VERIFIER_INTERNAL_OPENSSL_UTIL_H_
