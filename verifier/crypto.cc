#include "verifier/crypto.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "verifier/digest.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

constexpr size_t kDigestBytes = 32;  // SHA-256
constexpr int kPssSaltBytes = 32;    // spec section 3
constexpr int kGeneratedRsaBits = 3072;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct X509PubkeyFree {
  void operator()(X509_PUBKEY* p) const { X509_PUBKEY_free(p); }
};
struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509PubkeyPtr = std::unique_ptr<X509_PUBKEY, X509PubkeyFree>;

// Every public entry point leaves the thread's OpenSSL error queue empty, so a failure here
// never shows up later as a stale error in an unrelated TLS or digest call.
struct ClearErrorsOnExit {
  ~ClearErrorsOnExit() { ERR_clear_error(); }
};

std::string LastOpenSslError() {
  unsigned long e = ERR_peek_last_error();
  if (e == 0) return "no OpenSSL error detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

std::shared_ptr<EVP_PKEY> Share(PkeyPtr p) { return std::shared_ptr<EVP_PKEY>(p.release(), PkeyFree()); }

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// ---- PEM framing -------------------------------------------------------------------------

struct PemBlock {
  std::string label;
  std::string der;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Exactly one PEM block, with nothing but whitespace around it and no encryption headers.
// OpenSSL's own readers skip leading text and ignore whatever follows the first block; a key
// file with a second block or appended bytes is more likely a mistake than a key.
absl::StatusOr<PemBlock> ReadOnePemBlock(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(StrCat("PEM is ", pem.size(), " bytes, above the limit of ", kMaxPemBytes));
  }
  // A NUL has no place in PEM text, and C-string line handling could drop what follows it.
  if (pem.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("PEM contains a NUL byte");
  size_t start = 0;
  while (start < pem.size() && IsSpace(pem[start])) ++start;
  if (pem.substr(start, 11) != "-----BEGIN ") {
    return absl::InvalidArgumentError("not a PEM file: it does not start with \"-----BEGIN \"");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("BIO_new_mem_buf failed");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  int ok = PEM_read_bio(bio.get(), &name, &header, &data, &len);
  std::unique_ptr<char, OpenSslFree> name_owner(name);
  std::unique_ptr<char, OpenSslFree> header_owner(header);
  std::unique_ptr<unsigned char, OpenSslFree> data_owner(data);
  if (ok != 1) return absl::InvalidArgumentError(StrCat("bad PEM: ", LastOpenSslError()));
  if (header != nullptr && header[0] != '\0') {
    return absl::InvalidArgumentError(
        StrCat("PEM block \"", name, "\" has headers (an encrypted key?); only plain keys are accepted"));
  }
  char* rest = nullptr;
  long rest_len = BIO_get_mem_data(bio.get(), &rest);
  for (long i = 0; i < rest_len; ++i) {
    if (!IsSpace(rest[i])) {
      return absl::InvalidArgumentError(
          StrCat("PEM has data after the \"", name, "\" block (a second block or trailing garbage)"));
    }
  }
  return PemBlock{name, std::string(reinterpret_cast<char*>(data), static_cast<size_t>(len))};
}

// ---- key types ---------------------------------------------------------------------------

std::string KeyTypeName(const EVP_PKEY* pkey) {
  const char* name = EVP_PKEY_get0_type_name(pkey);
  return name != nullptr ? name : StrCat("key type #", EVP_PKEY_get_base_id(pkey));
}

// The PSS parameters of the spec; for an RSASSA-PSS key whose own parameters forbid them
// this fails, which FromPem turns into a rejection of the key.
bool SetSignatureParams(EVP_PKEY_CTX* ctx, Algorithm a) {
  if (a == Algorithm::kEd25519) return true;
  if (EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0) return false;
  if (a == Algorithm::kRsaPkcs1v15Sha256) return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
  if (a == Algorithm::kRsaPssSha256) {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, kPssSaltBytes) > 0;
  }
  return true;
}

absl::Status CheckEcCurve(const EVP_PKEY* pkey) {
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1) {
    return absl::InvalidArgumentError("EC key without a named curve (explicit parameters); only P-256 is accepted");
  }
  if (std::strcmp(group, SN_X9_62_prime256v1) != 0) {
    return absl::InvalidArgumentError(StrCat("EC key on curve ", group, "; only P-256 (prime256v1) is accepted"));
  }
  // A named curve can still be spelled out as explicit parameters; keep only the canonical form.
  char encoding[32] = {0};
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof(encoding), &len) == 1 &&
      std::strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
    return absl::InvalidArgumentError("EC P-256 key with explicit curve parameters; only the named curve is accepted");
  }
  return absl::OkStatus();
}

absl::Status CheckRsaSize(const EVP_PKEY* pkey) {
  int bits = EVP_PKEY_get_bits(pkey);
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return absl::InvalidArgumentError(StrCat(KeyTypeName(pkey), " key of ", bits, " bits; accepted: ", kMinRsaBits,
                                             "..", kMaxRsaBits));
  }
  return absl::OkStatus();
}

absl::Status CheckPssParams(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0 || !SetSignatureParams(ctx.get(), Algorithm::kRsaPssSha256)) {
    return absl::InvalidArgumentError(
        StrCat("RSASSA-PSS key whose parameters do not allow SHA-256, MGF1-SHA-256 and a ", kPssSaltBytes,
               "-byte salt: ", LastOpenSslError()));
  }
  return absl::OkStatus();
}

// The algorithms a key fits (spec section 3), or an error naming the key type found.
absl::StatusOr<std::vector<Algorithm>> AlgorithmsFor(EVP_PKEY* pkey) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
      if (absl::Status s = CheckEcCurve(pkey); !s.ok()) return s;
      return std::vector<Algorithm>{Algorithm::kEcdsaP256Sha256};
    case EVP_PKEY_ED25519:
      return std::vector<Algorithm>{Algorithm::kEd25519};
    case EVP_PKEY_RSA:
      if (absl::Status s = CheckRsaSize(pkey); !s.ok()) return s;
      return std::vector<Algorithm>{Algorithm::kRsaPkcs1v15Sha256, Algorithm::kRsaPssSha256};
    case EVP_PKEY_RSA_PSS:
      if (absl::Status s = CheckRsaSize(pkey); !s.ok()) return s;
      if (absl::Status s = CheckPssParams(pkey); !s.ok()) return s;
      return std::vector<Algorithm>{Algorithm::kRsaPssSha256};
    default:
      return absl::InvalidArgumentError(StrCat(
          "unsupported key type ", KeyTypeName(pkey), "; accepted: EC P-256, RSA, RSASSA-PSS, Ed25519"));
  }
}

std::string AlgorithmList(const std::vector<Algorithm>& algorithms) {
  std::string out;
  for (Algorithm a : algorithms) out = StrCat(out, out.empty() ? "" : ", ", AlgorithmName(a));
  return out;
}

// The name of the SubjectPublicKeyInfo algorithm OID, for keys OpenSSL cannot even decode.
std::string SpkiAlgorithmName(const X509_PUBKEY* spki) {
  ASN1_OBJECT* oid = nullptr;
  if (X509_PUBKEY_get0_param(&oid, nullptr, nullptr, nullptr, spki) != 1 || oid == nullptr) return "unknown";
  char buf[128];
  OBJ_obj2txt(buf, sizeof(buf), oid, 0);
  return buf;
}

absl::StatusOr<PkeyPtr> DecodeSpki(std::string_view der) {
  const unsigned char* p = Bytes(der);
  X509PubkeyPtr spki(d2i_X509_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!spki) return absl::InvalidArgumentError(StrCat("bad SubjectPublicKeyInfo: ", LastOpenSslError()));
  if (p != Bytes(der) + der.size()) {
    return absl::InvalidArgumentError("bytes after the SubjectPublicKeyInfo inside the PEM block");
  }
  PkeyPtr pkey(X509_PUBKEY_get(spki.get()));
  if (!pkey) {
    return absl::InvalidArgumentError(StrCat("unsupported key type ", SpkiAlgorithmName(spki.get()),
                                             "; accepted: EC P-256, RSA, RSASSA-PSS, Ed25519"));
  }
  return pkey;
}

std::string SpkiDer(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return "";
  std::unique_ptr<unsigned char, OpenSslFree> owner(der);
  return std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "";
}

absl::StatusOr<PkeyPtr> Keygen(Algorithm a) {
  const char* type = a == Algorithm::kEcdsaP256Sha256  ? "EC"
                     : a == Algorithm::kEd25519        ? "ED25519"
                     : a == Algorithm::kRsaPssSha256   ? "RSA-PSS"
                                                       : "RSA";
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  bool ok = ctx && EVP_PKEY_keygen_init(ctx.get()) > 0;
  if (ok && a == Algorithm::kEcdsaP256Sha256) ok = EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") > 0;
  if (ok && (a == Algorithm::kRsaPkcs1v15Sha256 || a == Algorithm::kRsaPssSha256)) {
    ok = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), kGeneratedRsaBits) > 0;
  }
  EVP_PKEY* raw = nullptr;
  if (ok) ok = EVP_PKEY_generate(ctx.get(), &raw) > 0;
  PkeyPtr pkey(raw);
  if (!ok || !pkey) return absl::InternalError(StrCat("generating a ", type, " key: ", LastOpenSslError()));
  return pkey;
}

absl::Status CheckDigest(std::string_view digest) {
  if (digest.size() != kDigestBytes) {
    return absl::InvalidArgumentError(
        StrCat("the signed digest must be ", kDigestBytes, " bytes (SHA-256), got ", digest.size()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view AlgorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kEcdsaP256Sha256:
      return "ecdsa-p256-sha256";
    case Algorithm::kRsaPkcs1v15Sha256:
      return "rsa-pkcs1v15-sha256";
    case Algorithm::kRsaPssSha256:
      return "rsa-pss-sha256";
    case Algorithm::kEd25519:
      return "ed25519";
  }
  return "unknown";
}

absl::StatusOr<Algorithm> ParseAlgorithm(std::string_view name) {
  for (Algorithm a : {Algorithm::kEcdsaP256Sha256, Algorithm::kRsaPkcs1v15Sha256, Algorithm::kRsaPssSha256,
                      Algorithm::kEd25519}) {
    if (name == AlgorithmName(a)) return a;
  }
  return absl::InvalidArgumentError(StrCat("unknown algorithm \"", name.substr(0, 64),
                                           "\"; known: ecdsa-p256-sha256, rsa-pkcs1v15-sha256, "
                                           "rsa-pss-sha256, ed25519"));
}

// ---- PublicKey ---------------------------------------------------------------------------

absl::StatusOr<PublicKey> PublicKey::FromPem(std::string_view pem) {
  ClearErrorsOnExit clear;
  absl::StatusOr<PemBlock> block = ReadOnePemBlock(pem);
  if (!block.ok()) return block.status();
  if (block->label != "PUBLIC KEY") {
    return absl::InvalidArgumentError(StrCat("PEM block is \"", block->label,
                                             "\"; a public key must be \"PUBLIC KEY\" (SubjectPublicKeyInfo)"));
  }
  absl::StatusOr<PkeyPtr> pkey = DecodeSpki(block->der);
  if (!pkey.ok()) return pkey.status();
  absl::StatusOr<std::vector<Algorithm>> algorithms = AlgorithmsFor(pkey->get());
  if (!algorithms.ok()) return algorithms.status();
  PublicKey key;
  key.key_id_ = StrCat("sha256:", HexEncode(Sha256(SpkiDer(pkey->get()))));
  key.algorithms_ = *std::move(algorithms);
  key.pkey_ = Share(*std::move(pkey));
  return key;
}

bool PublicKey::Fits(Algorithm a) const {
  for (Algorithm fit : algorithms_) {
    if (fit == a) return true;
  }
  return false;
}

absl::Status PublicKey::Verify(Algorithm a, std::string_view digest, std::string_view signature) const {
  ClearErrorsOnExit clear;
  if (!pkey_) return absl::FailedPreconditionError("empty public key");
  if (!Fits(a)) {
    return absl::InvalidArgumentError(StrCat("algorithm ", AlgorithmName(a), " does not fit this ",
                                             KeyTypeName(pkey_.get()), " key (it fits ", AlgorithmList(algorithms_),
                                             ")"));
  }
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  int rc = 0;
  if (a == Algorithm::kEd25519) {
    // Pure Ed25519 over the 32 digest bytes as the message: no pre-hash (NULL md).
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(), nullptr) != 1) {
      return absl::InternalError(StrCat("Ed25519 verify setup: ", LastOpenSslError()));
    }
    rc = EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(digest), digest.size());
  } else {
    // ECDSA and RSA sign the SHA-256 digest itself: same bytes as `openssl dgst -sha256 -sign`.
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0 || !SetSignatureParams(ctx.get(), a)) {
      return absl::InternalError(StrCat(AlgorithmName(a), " verify setup: ", LastOpenSslError()));
    }
    rc = EVP_PKEY_verify(ctx.get(), Bytes(signature), signature.size(), Bytes(digest), digest.size());
  }
  if (rc != 1) {
    return absl::UnauthenticatedError(StrCat("the ", AlgorithmName(a), " signature (", signature.size(),
                                             " bytes) does not verify with key ", key_id_));
  }
  return absl::OkStatus();
}

std::string PublicKey::ToPem() const {
  ClearErrorsOnExit clear;
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!pkey_ || !bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) return "";
  return BioContents(bio.get());
}

std::string PublicKey::ToDer() const {
  ClearErrorsOnExit clear;
  return pkey_ ? SpkiDer(pkey_.get()) : "";
}

// ---- PrivateKey --------------------------------------------------------------------------

namespace {

// Builds the public half (and its key id) from a private key, with the same type checks.
absl::StatusOr<PublicKey> PublicHalf(EVP_PKEY* pkey) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey) != 1) {
    return absl::InternalError(StrCat("encoding the public key: ", LastOpenSslError()));
  }
  return PublicKey::FromPem(BioContents(bio.get()));
}

bool IsPrivateKeyLabel(std::string_view label) {
  return label == "PRIVATE KEY" || label == "RSA PRIVATE KEY" || label == "EC PRIVATE KEY";
}

}  // namespace

absl::StatusOr<PrivateKey> PrivateKey::Generate(Algorithm a) {
  ClearErrorsOnExit clear;
  absl::StatusOr<PkeyPtr> pkey = Keygen(a);
  if (!pkey.ok()) return pkey.status();
  absl::StatusOr<PublicKey> pub = PublicHalf(pkey->get());
  if (!pub.ok()) return pub.status();
  PrivateKey key;
  key.public_key_ = *std::move(pub);
  key.pkey_ = Share(*std::move(pkey));
  return key;
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  ClearErrorsOnExit clear;
  absl::StatusOr<PemBlock> block = ReadOnePemBlock(pem);
  if (!block.ok()) return block.status();
  if (!IsPrivateKeyLabel(block->label)) {
    return absl::InvalidArgumentError(
        StrCat("PEM block is \"", block->label,
               "\"; a private key must be unencrypted \"PRIVATE KEY\" (PKCS#8) or a traditional RSA/EC key"));
  }
  const unsigned char* p = Bytes(block->der);
  // d2i_AutoPrivateKey tells PKCS#8 from the traditional RSA/EC structures by their shape.
  PkeyPtr pkey(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(block->der.size())));
  if (!pkey) return absl::InvalidArgumentError(StrCat("bad \"", block->label, "\": ", LastOpenSslError()));
  if (p != Bytes(block->der) + block->der.size()) {
    return absl::InvalidArgumentError(StrCat("bytes after the key inside the \"", block->label, "\" block"));
  }
  absl::StatusOr<PublicKey> pub = PublicHalf(pkey.get());
  if (!pub.ok()) return pub.status();
  PrivateKey key;
  key.public_key_ = *std::move(pub);
  key.pkey_ = Share(std::move(pkey));
  return key;
}

absl::StatusOr<std::string> PrivateKey::Sign(Algorithm a, std::string_view digest) const {
  ClearErrorsOnExit clear;
  if (!pkey_) return absl::FailedPreconditionError("empty private key");
  if (!public_key_.Fits(a)) {
    return absl::InvalidArgumentError(StrCat("algorithm ", AlgorithmName(a), " does not fit this ",
                                             KeyTypeName(pkey_.get()), " key (it fits ",
                                             AlgorithmList(public_key_.algorithms()), ")"));
  }
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  std::string sig;
  size_t len = 0;
  bool ok = false;
  if (a == Algorithm::kEd25519) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    ok = ctx && EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(), nullptr) == 1 &&
         EVP_DigestSign(ctx.get(), nullptr, &len, Bytes(digest), digest.size()) == 1;
    if (ok) {
      sig.resize(len);
      ok = EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(digest),
                          digest.size()) == 1;
    }
  } else {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
    ok = ctx && EVP_PKEY_sign_init(ctx.get()) > 0 && SetSignatureParams(ctx.get(), a) &&
         EVP_PKEY_sign(ctx.get(), nullptr, &len, Bytes(digest), digest.size()) > 0;
    if (ok) {
      sig.resize(len);
      ok = EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(digest),
                         digest.size()) > 0;
    }
  }
  if (!ok) return absl::InternalError(StrCat(AlgorithmName(a), " signing: ", LastOpenSslError()));
  sig.resize(len);  // DER ECDSA signatures are often shorter than the maximum
  return sig;
}

std::string PrivateKey::ToPem() const {
  ClearErrorsOnExit clear;
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PrivateKey writes PKCS#8 ("PRIVATE KEY") for every key type in OpenSSL 3.
  if (!pkey_ || !bio ||
      PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return "";
  }
  return BioContents(bio.get());
}

// ---- base64 ------------------------------------------------------------------------------

namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) v = (v << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0);
    for (size_t j = 0; j < 4; ++j) out.push_back(j <= n ? kBase64Alphabet[(v >> (18 - 6 * j)) & 63] : '=');
  }
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError(StrCat("base64 length ", text.size(), " is not a multiple of 4"));
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    // Padding may only end the final quantum: "xx==" or "xxx=".
    size_t pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      int d = j < 4 - pad ? Base64Value(text[i + j]) : 0;
      if (d < 0) {
        return absl::InvalidArgumentError(StrCat("base64: invalid character at offset ", i + j));
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    // The bits a padded quantum does not use must be zero, so every value has one encoding.
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) {
      return absl::InvalidArgumentError("base64: non-zero bits in the padded final quantum");
    }
    for (size_t j = 0; j < 3 - pad; ++j) out.push_back(static_cast<char>((v >> (16 - 8 * j)) & 0xff));
  }
  return out;
}

}  // namespace layerseal
