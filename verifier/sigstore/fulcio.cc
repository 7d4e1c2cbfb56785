#include "verifier/sigstore/fulcio.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "base/str_cat.h"
#include "verifier/internal/openssl_util.h"
#include "verifier/sigstore/bundle.h"

namespace layerseal::sigstore {
namespace {

constexpr char kOidOtherNameSan[] = "1.3.6.1.4.1.57264.1.7";  // Fulcio OtherName SAN
constexpr char kOidIssuerV2[] = "1.3.6.1.4.1.57264.1.8";      // DER UTF8String
constexpr char kOidIssuerV1[] = "1.3.6.1.4.1.57264.1.1";      // raw bytes (deprecated)

ossl::ObjPtr Oid(const char* dotted) { return ossl::ObjPtr(OBJ_txt2obj(dotted, 1)); }

// A SAN or issuer value: non-empty, at most kMaxIdentityBytes, no NUL byte.
absl::Status CheckIdentityValue(std::string_view what, std::string_view v) {
  if (v.empty()) return absl::InvalidArgumentError(StrCat(what, " is empty"));
  if (v.size() > kMaxIdentityBytes) {
    return absl::InvalidArgumentError(
        StrCat(what, " is ", v.size(), " bytes; at most ", kMaxIdentityBytes));
  }
  if (v.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(what, " contains a NUL byte"));
  }
  return absl::OkStatus();
}

// The content octets of the only extension `oid` of `cert`; nullopt when it has none;
// InvalidArgument when it has more than one.
absl::StatusOr<std::optional<std::string_view>> OnlyExtension(X509* cert, const ASN1_OBJECT* oid,
                                                              std::string_view name) {
  int i = X509_get_ext_by_OBJ(cert, oid, -1);
  if (i < 0) return std::optional<std::string_view>();
  if (X509_get_ext_by_OBJ(cert, oid, i) >= 0) {
    return absl::InvalidArgumentError(StrCat("certificate has more than one ", name, " extension"));
  }
  X509_EXTENSION* ext = X509_get_ext(cert, i);
  const ASN1_OCTET_STRING* data = ext != nullptr ? X509_EXTENSION_get_data(ext) : nullptr;
  if (data == nullptr) return absl::InvalidArgumentError(StrCat(name, " extension has no value"));
  return std::optional<std::string_view>(ossl::View(data));
}

absl::StatusOr<std::string> ExtractIssuer(X509* leaf) {
  ossl::ObjPtr v2 = Oid(kOidIssuerV2), v1 = Oid(kOidIssuerV1);
  if (v2 == nullptr || v1 == nullptr) return absl::InternalError("OpenSSL cannot make the Fulcio OIDs");
  absl::StatusOr<std::optional<std::string_view>> ext =
      OnlyExtension(leaf, v2.get(), StrCat("Fulcio issuer (", kOidIssuerV2, ")"));
  if (!ext.ok()) return ext.status();
  if (ext->has_value()) {
    std::string_view der = **ext;
    if (der.size() > kMaxIdentityBytes + 8) {
      return absl::InvalidArgumentError(StrCat("Fulcio issuer extension (", kOidIssuerV2, ") is ",
                                               der.size(), " bytes; at most ", kMaxIdentityBytes));
    }
    const unsigned char* p = ossl::Bytes(der);
    ossl::Utf8Ptr s(d2i_ASN1_UTF8STRING(nullptr, &p, static_cast<long>(der.size())));
    if (s == nullptr || p != ossl::Bytes(der) + der.size()) {
      return absl::InvalidArgumentError(
          StrCat("Fulcio issuer extension (", kOidIssuerV2, ") is not one DER UTF8String"));
    }
    std::string_view v = ossl::View(s.get());
    if (absl::Status st = CheckIdentityValue(StrCat("Fulcio issuer (", kOidIssuerV2, ")"), v);
        !st.ok()) {
      return st;
    }
    return std::string(v);
  }
  ext = OnlyExtension(leaf, v1.get(), StrCat("Fulcio issuer (", kOidIssuerV1, ")"));
  if (!ext.ok()) return ext.status();
  if (!ext->has_value()) {
    return absl::InvalidArgumentError(StrCat("certificate has no Fulcio issuer extension (",
                                             kOidIssuerV2, " or ", kOidIssuerV1, ")"));
  }
  if (absl::Status st = CheckIdentityValue(StrCat("Fulcio issuer (", kOidIssuerV1, ")"), **ext);
      !st.ok()) {
    return st;
  }
  return std::string(**ext);
}

}  // namespace

absl::StatusOr<std::shared_ptr<X509>> ParseCertificate(std::string_view der) {
  ossl::ClearErrorsOnExit clear;
  if (der.empty()) return absl::InvalidArgumentError("empty certificate");
  if (der.size() > kMaxCertificateBytes) {
    return absl::InvalidArgumentError(
        StrCat("certificate of ", der.size(), " bytes; at most ", kMaxCertificateBytes));
  }
  const unsigned char* p = ossl::Bytes(der);
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(StrCat("certificate is not DER X.509: ", ossl::LastError()));
  }
  std::shared_ptr<X509> owned(cert, X509_free);
  if (p != ossl::Bytes(der) + der.size()) {
    return absl::InvalidArgumentError(StrCat("certificate has ", ossl::Bytes(der) + der.size() - p,
                                             " bytes after its DER"));
  }
  // d2i_X509 accepts some BER (e.g. non-zero unused bits in the signature BIT STRING) and
  // normalises it on re-encoding. Refuse it (as Go's parser does), so that CertificateDer
  // of a parsed certificate is always the bytes it came from: byte comparisons against a
  // transparency log entry then mean what they say.
  if (CertificateDer(cert) != der) {
    return absl::InvalidArgumentError("certificate is not in canonical DER");
  }
  return owned;
}

std::string CertificateDer(X509* cert) {
  ossl::ClearErrorsOnExit clear;
  if (cert == nullptr) return "";
  unsigned char* der = nullptr;
  int n = i2d_X509(cert, &der);
  ossl::BytesPtr owned(der);
  if (n <= 0) return "";
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

absl::StatusOr<CertIdentity> ExtractIdentity(X509* leaf) {
  ossl::ClearErrorsOnExit clear;
  if (leaf == nullptr) return absl::InvalidArgumentError("no certificate");
  int crit = 0;
  ossl::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, nullptr)));
  if (names == nullptr) {
    if (crit == -1) return absl::InvalidArgumentError("certificate has no subjectAltName");
    if (crit == -2) {
      return absl::InvalidArgumentError("certificate has more than one subjectAltName extension");
    }
    return absl::InvalidArgumentError(
        StrCat("certificate's subjectAltName does not parse: ", ossl::LastError()));
  }
  int n = sk_GENERAL_NAME_num(names.get());
  if (n < 0 || static_cast<size_t>(n) > kMaxSanEntries) {
    return absl::InvalidArgumentError(
        StrCat("subjectAltName has ", n, " entries; at most ", kMaxSanEntries));
  }
  ossl::ObjPtr othername_oid = Oid(kOidOtherNameSan);
  if (othername_oid == nullptr) return absl::InternalError("OpenSSL cannot make the Fulcio OIDs");
  std::optional<CertIdentity> found;
  size_t identities = 0;
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    std::string_view what;
    const ASN1_STRING* value = nullptr;
    SanType type = SanType::kEmail;
    if (gn->type == GEN_EMAIL) {
      what = "email subjectAltName";
      value = gn->d.rfc822Name;
      type = SanType::kEmail;
    } else if (gn->type == GEN_URI) {
      what = "URI subjectAltName";
      value = gn->d.uniformResourceIdentifier;
      type = SanType::kUri;
    } else if (gn->type == GEN_OTHERNAME &&
               OBJ_cmp(gn->d.otherName->type_id, othername_oid.get()) == 0) {
      what = "OtherName subjectAltName";
      const ASN1_TYPE* v = gn->d.otherName->value;
      if (v == nullptr || v->type != V_ASN1_UTF8STRING) {
        return absl::InvalidArgumentError(
            StrCat("OtherName subjectAltName (", kOidOtherNameSan, ") is not a UTF8String"));
      }
      value = v->value.utf8string;
      type = SanType::kOtherName;
    } else {
      continue;  // DNS names, IP addresses, other OtherNames: no signer identity
    }
    if (++identities > 1) {
      return absl::InvalidArgumentError(
          "ambiguous identity: the certificate has more than one email / URI / OtherName "
          "subjectAltName");
    }
    if (value == nullptr) return absl::InvalidArgumentError(StrCat(what, " has no value"));
    std::string_view v = ossl::View(value);
    if (absl::Status s = CheckIdentityValue(what, v); !s.ok()) return s;
    found = CertIdentity{std::string(v), "", type};
  }
  if (!found.has_value()) {
    return absl::InvalidArgumentError(
        "certificate has no email, URI or Fulcio OtherName subjectAltName");
  }
  absl::StatusOr<std::string> issuer = ExtractIssuer(leaf);
  if (!issuer.ok()) return issuer.status();
  found->issuer = *std::move(issuer);
  return *std::move(found);
}

absl::StatusOr<std::vector<std::shared_ptr<X509>>> VerifyChainAt(X509* leaf,
                                                                 const TrustedRoot& root,
                                                                 absl::Time t) {
  ossl::ClearErrorsOnExit clear;
  if (leaf == nullptr) return absl::InvalidArgumentError("no certificate");
  // The leaf's own purpose, checked by hand: OpenSSL 3.0 has no code-signing purpose.
  uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_INVALID) != 0) {
    return absl::PermissionDeniedError("leaf certificate has invalid or repeated extensions");
  }
  if ((flags & EXFLAG_XKUSAGE) == 0 || (X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN) == 0) {
    return absl::PermissionDeniedError("leaf certificate lacks the codeSigning extended key usage");
  }
  if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
    return absl::PermissionDeniedError("leaf certificate lacks the digitalSignature key usage");
  }
  if (t < absl::FromTimeT(0)) return absl::PermissionDeniedError("verification time before 1970");
  std::string last_error;
  int tried = 0;
  for (const Authority& ca : root.fulcio()) {
    if (!ca.valid_for.Contains(t) || ca.chain.empty()) continue;
    ++tried;
    // Trust anchor: the root's last certificate only, or (issuer_store) the issuing
    // intermediate, whose path to the root was validated at load. Intermediates: the trusted
    // root's own, never the bundle's (client spec: drop intermediates the trusted root does
    // not list).
    const bool from_issuer = ca.issuer_store != nullptr;
    ossl::StorePtr own_store;
    X509_STORE* store = from_issuer ? ca.issuer_store.get() : ca.store.get();
    if (store == nullptr) {
      own_store.reset(X509_STORE_new());
      if (own_store == nullptr || X509_STORE_add_cert(own_store.get(), ca.chain.back().get()) != 1) {
        return absl::InternalError(StrCat("cannot build a certificate store: ", ossl::LastError()));
      }
      store = own_store.get();
    }
    ossl::X509StackViewPtr untrusted(sk_X509_new_null());
    if (untrusted == nullptr) return absl::InternalError("out of memory");
    for (size_t i = 0; !from_issuer && i + 1 < ca.chain.size(); ++i) {
      if (sk_X509_push(untrusted.get(), ca.chain[i].get()) <= 0) {
        return absl::InternalError("out of memory");
      }
    }
    if (from_issuer && X509_check_issued(ca.chain[0].get(), leaf) == X509_V_OK) {
      // (A leaf of another CA gets OpenSSL's "unable to get local issuer" below, as the full
      // path would.) The certificates above chain[0] were validated at load with the time aside: their
      // validity at t is checked here, from the root down, as OpenSSL checks a full path
      // (same error text, same depth; a path with several defects may name another first).
      std::string expired;
      for (size_t j = ca.chain.size() - 1; j >= 1 && expired.empty(); --j) {
        if (CertificateValidAt(ca.chain[j].get(), t)) continue;
        absl::Time not_before;
        bool early = ossl::ToAbslTime(X509_get0_notBefore(ca.chain[j].get()), &not_before) &&
                     t < not_before;
        expired = StrCat(X509_verify_cert_error_string(early ? X509_V_ERR_CERT_NOT_YET_VALID
                                                             : X509_V_ERR_CERT_HAS_EXPIRED),
                         " (at depth ", j + 1, ")");
      }
      if (!expired.empty()) {
        last_error = std::move(expired);
        continue;
      }
    }
    ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted.get()) != 1) {
      return absl::InternalError(StrCat("cannot start path validation: ", ossl::LastError()));
    }
    X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(p, absl::ToTimeT(t));  // also sets X509_V_FLAG_USE_CHECK_TIME
    X509_VERIFY_PARAM_set_depth(p, kMaxVerifyDepth);  // bounds deep and looping chains
    // Strict RFC 5280 checks. The path must reach the root, or (issuer_store) the
    // intermediate whose own path to the root was validated at load.
    X509_VERIFY_PARAM_set_flags(
        p, X509_V_FLAG_X509_STRICT | (from_issuer ? X509_V_FLAG_PARTIAL_CHAIN : 0));
    int ok = X509_verify_cert(ctx.get());
    if (ok == 1) {
      STACK_OF(X509)* chain = X509_STORE_CTX_get1_chain(ctx.get());
      ossl::X509StackPtr owned(chain);
      std::vector<std::shared_ptr<X509>> out;
      for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        if (X509_up_ref(c) != 1) return absl::InternalError("X509_up_ref failed");
        out.emplace_back(c, X509_free);
      }
      if (out.size() < 2) {
        // A leaf that is itself a trusted root (or the anchoring intermediate): never a
        // Fulcio signing certificate.
        last_error = "the leaf is itself a trusted root";
        continue;
      }
      for (size_t j = 1; from_issuer && j < ca.chain.size(); ++j) {
        if (X509_up_ref(ca.chain[j].get()) != 1) return absl::InternalError("X509_up_ref failed");
        out.emplace_back(ca.chain[j].get(), X509_free);
      }
      return out;
    }
    int err = X509_STORE_CTX_get_error(ctx.get());
    last_error = StrCat(X509_verify_cert_error_string(err), " (at depth ",
                        X509_STORE_CTX_get_error_depth(ctx.get()), ")");
  }
  if (tried == 0) {
    return absl::PermissionDeniedError(
        StrCat("no Fulcio certificate authority of the trusted root is valid at ",
               absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone())));
  }
  return absl::PermissionDeniedError(
      StrCat("certificate chain does not verify at ",
             absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()), ": ", last_error));
}

std::shared_ptr<X509_STORE> IssuerStoreFor(const std::vector<std::shared_ptr<X509>>& chain) {
  ossl::ClearErrorsOnExit clear;
  if (chain.size() < 2) return nullptr;
  for (size_t j = 0; j < chain.size(); ++j) {
    X509* c = chain[j].get();
    if (c == nullptr) return nullptr;
    for (int nid : {NID_name_constraints, NID_policy_constraints, NID_inhibit_any_policy}) {
      if (X509_get_ext_by_NID(c, nid, -1) >= 0) return nullptr;
    }
    // X509_get_pathlen: -1 when there is no limit. Under chain[j] hang chain[0..j-1] and a
    // leaf: j intermediates (counting self-issued ones too, which only makes this stricter).
    long pathlen = X509_get_pathlen(c);
    if (j >= 1 && pathlen >= 0 && pathlen < static_cast<long>(j)) return nullptr;
  }
  ossl::StorePtr root_store(X509_STORE_new());
  if (root_store == nullptr || X509_STORE_add_cert(root_store.get(), chain.back().get()) != 1) {
    return nullptr;
  }
  ossl::X509StackViewPtr untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return nullptr;
  for (size_t i = 1; i + 1 < chain.size(); ++i) {
    if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0) return nullptr;
  }
  ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), root_store.get(), chain[0].get(), untrusted.get()) != 1) {
    return nullptr;
  }
  X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_depth(p, kMaxVerifyDepth - 1);  // the leaf adds one level
  X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT | X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(ctx.get()) != 1) return nullptr;
  // The path found must be exactly the chain given (no shortcut through another order).
  STACK_OF(X509)* found = X509_STORE_CTX_get0_chain(ctx.get());
  if (found == nullptr || sk_X509_num(found) != static_cast<int>(chain.size())) return nullptr;
  for (size_t i = 0; i < chain.size(); ++i) {
    if (X509_cmp(sk_X509_value(found, static_cast<int>(i)), chain[i].get()) != 0) return nullptr;
  }
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (store == nullptr || X509_STORE_add_cert(store.get(), chain[0].get()) != 1) return nullptr;
  return store;
}

bool CertificateValidAt(X509* cert, absl::Time t) {
  ossl::ClearErrorsOnExit clear;
  if (cert == nullptr) return false;
  absl::Time not_before, not_after;
  if (!ossl::ToAbslTime(X509_get0_notBefore(cert), &not_before) ||
      !ossl::ToAbslTime(X509_get0_notAfter(cert), &not_after)) {
    return false;
  }
  return not_before <= t && t <= not_after;
}

}  // namespace layerseal::sigstore
