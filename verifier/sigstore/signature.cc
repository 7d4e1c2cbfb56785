#include "verifier/sigstore/signature.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/internal/openssl_util.h"

namespace layerseal::sigstore {
namespace {

constexpr size_t kEd25519SignatureBytes = 64;

enum class KeyKind { kEcdsa, kRsa, kEd25519 };

// The curve NID of an EC key, or NID_undef.
int CurveNid(EVP_PKEY* key) {
  char name[64];
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1) return NID_undef;
  int nid = OBJ_sn2nid(name);
  if (nid == NID_undef) nid = EC_curve_nist2nid(name);
  return nid;
}

absl::StatusOr<KeyKind> Kind(EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("no key");
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      int nid = CurveNid(key);
      if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 || nid == NID_secp521r1) {
        return KeyKind::kEcdsa;
      }
      return absl::InvalidArgumentError(StrCat(
          "EC key on curve ", nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid),
          "; accepted: P-256, P-384, P-521"));
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(key);
      if (bits < kMinRsaBits || bits > kMaxRsaBits) {
        return absl::InvalidArgumentError(
            StrCat("RSA key of ", bits, " bits; accepted: ", kMinRsaBits, "..", kMaxRsaBits));
      }
      return KeyKind::kRsa;
    }
    case EVP_PKEY_ED25519:
      return KeyKind::kEd25519;
    default: {
      const char* name = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
      return absl::InvalidArgumentError(
          StrCat("key type ", name != nullptr ? name : "(unknown)",
                 " is not accepted (EC P-256/384/521, RSA, Ed25519)"));
    }
  }
}

// The signature's form for the key: strict DER for ECDSA (re-encodes to the same bytes), the
// modulus size for RSA, 64 bytes for Ed25519. A bad form is a malformed signature
// (InvalidArgument), not a wrong one.
absl::Status CheckSignatureForm(EVP_PKEY* key, KeyKind kind, std::string_view sig) {
  if (sig.empty()) return absl::InvalidArgumentError("empty signature");
  if (sig.size() > kMaxSignatureInputBytes) {
    return absl::InvalidArgumentError(
        StrCat("signature of ", sig.size(), " bytes; at most ", kMaxSignatureInputBytes));
  }
  switch (kind) {
    case KeyKind::kEcdsa: {
      const unsigned char* p = ossl::Bytes(sig);
      ossl::EcdsaSigPtr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
      if (es == nullptr || p != ossl::Bytes(sig) + sig.size()) {
        return absl::InvalidArgumentError("ECDSA signature is not one DER ECDSA-Sig-Value");
      }
      unsigned char* der = nullptr;
      int n = i2d_ECDSA_SIG(es.get(), &der);
      ossl::BytesPtr owned(der);
      if (n <= 0 || static_cast<size_t>(n) != sig.size() ||
          std::string_view(reinterpret_cast<const char*>(der), n) != sig) {
        return absl::InvalidArgumentError("ECDSA signature is not in canonical DER");
      }
      return absl::OkStatus();
    }
    case KeyKind::kRsa:
      if (sig.size() != static_cast<size_t>(EVP_PKEY_get_size(key))) {
        return absl::InvalidArgumentError(StrCat("RSA signature of ", sig.size(),
                                                 " bytes for a key of ", EVP_PKEY_get_size(key)));
      }
      return absl::OkStatus();
    case KeyKind::kEd25519:
      if (sig.size() != kEd25519SignatureBytes) {
        return absl::InvalidArgumentError(
            StrCat("Ed25519 signature of ", sig.size(), " bytes, not ", kEd25519SignatureBytes));
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unreachable");
}

absl::Status VerifyResult(int rc, std::string_view what) {
  if (rc == 1) return absl::OkStatus();
  if (rc == 0) return absl::UnauthenticatedError(StrCat(what, " signature is not valid"));
  return absl::InvalidArgumentError(StrCat(what, " signature could not be checked: ", ossl::LastError()));
}

std::string_view KindName(KeyKind k) {
  switch (k) {
    case KeyKind::kEcdsa: return "ECDSA";
    case KeyKind::kRsa: return "RSA";
    case KeyKind::kEd25519: return "Ed25519";
  }
  return "?";
}

}  // namespace

absl::Status CheckKeyType(EVP_PKEY* key) {
  ossl::ClearErrorsOnExit clear;
  return Kind(key).status();
}

const EVP_MD* DefaultDigest(EVP_PKEY* key) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<KeyKind> kind = Kind(key);
  if (!kind.ok()) return nullptr;
  switch (*kind) {
    case KeyKind::kEcdsa:
      switch (CurveNid(key)) {
        case NID_secp384r1: return EVP_sha384();
        case NID_secp521r1: return EVP_sha512();
        default: return EVP_sha256();
      }
    case KeyKind::kRsa: return EVP_sha256();
    case KeyKind::kEd25519: return nullptr;
  }
  return nullptr;
}

absl::Status VerifyMessage(EVP_PKEY* key, std::string_view message, std::string_view sig) {
  const EVP_MD* md = DefaultDigest(key);
  return VerifyMessageWith(key, md, message, sig);
}

absl::Status VerifyMessageWith(EVP_PKEY* key, const EVP_MD* md, std::string_view message,
                               std::string_view sig) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<KeyKind> kind = Kind(key);
  if (!kind.ok()) return kind.status();
  if ((*kind == KeyKind::kEd25519) != (md == nullptr)) {
    return absl::InvalidArgumentError(StrCat(KindName(*kind), " key with ",
                                             md == nullptr ? "no digest" : "a digest",
                                             " (only Ed25519 signs the message itself)"));
  }
  if (absl::Status s = CheckSignatureForm(key, *kind, sig); !s.ok()) return s;
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return absl::InvalidArgumentError(StrCat("cannot verify with this key: ", ossl::LastError()));
  }
  if (*kind == KeyKind::kRsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return absl::InternalError(StrCat("RSA padding: ", ossl::LastError()));
  }
  int rc = EVP_DigestVerify(ctx.get(), ossl::Bytes(sig), sig.size(), ossl::Bytes(message),
                            message.size());
  return VerifyResult(rc, KindName(*kind));
}

absl::Status VerifyPrehashed(EVP_PKEY* key, const EVP_MD* md, std::string_view digest,
                             std::string_view sig) {
  ossl::ClearErrorsOnExit clear;
  absl::StatusOr<KeyKind> kind = Kind(key);
  if (!kind.ok()) return kind.status();
  if (*kind == KeyKind::kEd25519) {
    return absl::UnimplementedError("Ed25519 signs the message itself, not a prehash");
  }
  if (md == nullptr) return absl::InvalidArgumentError("no digest algorithm for a prehash");
  if (digest.size() != static_cast<size_t>(EVP_MD_get_size(md))) {
    return absl::InvalidArgumentError(StrCat("digest of ", digest.size(), " bytes for ",
                                             EVP_MD_get0_name(md), " (", EVP_MD_get_size(md),
                                             " bytes)"));
  }
  if (absl::Status s = CheckSignatureForm(key, *kind, sig); !s.ok()) return s;
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (ctx == nullptr || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1) {
    return absl::InvalidArgumentError(StrCat("cannot verify with this key: ", ossl::LastError()));
  }
  if (*kind == KeyKind::kRsa && EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) {
    return absl::InternalError(StrCat("RSA padding: ", ossl::LastError()));
  }
  int rc = EVP_PKEY_verify(ctx.get(), ossl::Bytes(sig), sig.size(), ossl::Bytes(digest),
                           digest.size());
  return VerifyResult(rc, KindName(*kind));
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFromSpkiDer(std::string_view der) {
  ossl::ClearErrorsOnExit clear;
  if (der.empty()) return absl::InvalidArgumentError("empty public key");
  if (der.size() > kMaxSpkiBytes) {
    return absl::InvalidArgumentError(
        StrCat("public key of ", der.size(), " bytes; at most ", kMaxSpkiBytes));
  }
  const unsigned char* p = ossl::Bytes(der);
  ossl::PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("public key is not a DER SubjectPublicKeyInfo: ", ossl::LastError()));
  }
  if (p != ossl::Bytes(der) + der.size()) {
    return absl::InvalidArgumentError(StrCat("public key has ", ossl::Bytes(der) + der.size() - p,
                                             " bytes after its SubjectPublicKeyInfo"));
  }
  if (absl::StatusOr<KeyKind> kind = Kind(key.get()); !kind.ok()) return kind.status();
  return std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
}

std::string SpkiDer(EVP_PKEY* key) {
  ossl::ClearErrorsOnExit clear;
  if (key == nullptr) return "";
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  ossl::BytesPtr owned(der);
  if (n <= 0) return "";
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

}  // namespace layerseal::sigstore
