#include "verifier/sigstore/sct.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>

#include "base/str_cat.h"
#include "verifier/digest.h"
#include "verifier/internal/openssl_util.h"
#include "verifier/sigstore/signature.h"

namespace layerseal::sigstore {
namespace {

constexpr size_t kLogIdBytes = 32;
constexpr uint8_t kSctVersionV1 = 0;
constexpr uint8_t kHashSha256 = 4;        // RFC 5246 HashAlgorithm.sha256
constexpr uint8_t kSigRsa = 1;            // RFC 5246 SignatureAlgorithm.rsa
constexpr uint8_t kSigEcdsa = 3;          // RFC 5246 SignatureAlgorithm.ecdsa
constexpr size_t kMaxTbsBytes = (1u << 24) - 1;  // the u24 length of a precert TBS

// A bounds-checked big-endian reader over a TLS structure.
class TlsReader {
 public:
  explicit TlsReader(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  size_t size() const { return in_.size(); }
  bool U8(uint8_t* v) {
    uint64_t x;
    if (!Int(1, &x)) return false;
    *v = static_cast<uint8_t>(x);
    return true;
  }
  bool U16(uint16_t* v) {
    uint64_t x;
    if (!Int(2, &x)) return false;
    *v = static_cast<uint16_t>(x);
    return true;
  }
  bool U64(uint64_t* v) { return Int(8, v); }
  bool Bytes(size_t n, std::string_view* out) {
    if (in_.size() < n) return false;
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  // A u16-length-prefixed opaque.
  bool Opaque16(std::string_view* out) {
    uint16_t n;
    return U16(&n) && Bytes(n, out);
  }

 private:
  bool Int(size_t n, uint64_t* v) {
    if (in_.size() < n) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(n);
    *v = x;
    return true;
  }
  std::string_view in_;
};

void PutInt(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

absl::StatusOr<Sct> ParseOneSct(std::string_view in, size_t index) {
  TlsReader r(in);
  Sct sct;
  std::string_view log_id, ext, sig;
  auto bad = [index](std::string_view what) {
    return absl::InvalidArgumentError(StrCat("SCT ", index, ": ", what));
  };
  if (!r.U8(&sct.version)) return bad("truncated version");
  if (sct.version != kSctVersionV1) {
    return bad(StrCat("version ", static_cast<int>(sct.version), " (only v1 = 0 is defined)"));
  }
  if (!r.Bytes(kLogIdBytes, &log_id)) return bad("truncated log id");
  if (!r.U64(&sct.timestamp_ms)) return bad("truncated timestamp");
  if (!r.Opaque16(&ext)) return bad("truncated extensions");
  if (ext.size() > kMaxSctExtensionsBytes) {
    return bad(StrCat("extensions of ", ext.size(), " bytes; at most ", kMaxSctExtensionsBytes));
  }
  if (!r.U8(&sct.hash_alg) || !r.U8(&sct.sig_alg)) return bad("truncated signature algorithm");
  if (!r.Opaque16(&sig)) return bad("truncated signature");
  if (!r.empty()) return bad(StrCat(r.size(), " bytes after the signature"));
  sct.log_id = std::string(log_id);
  sct.extensions = std::string(ext);
  sct.signature = std::string(sig);
  return sct;
}

// The TLS SCT list of `leaf`'s SCT extension; nullopt when it has none.
absl::StatusOr<std::optional<std::string>> SctListOf(X509* leaf) {
  int i = X509_get_ext_by_NID(leaf, NID_ct_precert_scts, -1);
  if (i < 0) return std::optional<std::string>();
  if (X509_get_ext_by_NID(leaf, NID_ct_precert_scts, i) >= 0) {
    return absl::InvalidArgumentError("certificate has more than one SCT list extension");
  }
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(leaf, i));
  if (data == nullptr) return absl::InvalidArgumentError("SCT list extension has no value");
  std::string_view der = ossl::View(data);
  // The extension value is itself a DER OCTET STRING holding the TLS list.
  if (der.size() > kMaxSctListBytes + 8) {
    return absl::InvalidArgumentError(
        StrCat("SCT list extension of ", der.size(), " bytes; at most ", kMaxSctListBytes));
  }
  const unsigned char* p = ossl::Bytes(der);
  ossl::OctetPtr inner(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(der.size())));
  if (inner == nullptr || p != ossl::Bytes(der) + der.size()) {
    return absl::InvalidArgumentError("SCT list extension is not one DER OCTET STRING");
  }
  return std::optional<std::string>(std::string(ossl::View(inner.get())));
}

std::string Hex(std::string_view raw) { return HexEncode(raw); }

}  // namespace

absl::StatusOr<std::vector<Sct>> ParseSctList(std::string_view tls) {
  if (tls.size() > kMaxSctListBytes) {
    return absl::InvalidArgumentError(
        StrCat("SCT list of ", tls.size(), " bytes; at most ", kMaxSctListBytes));
  }
  TlsReader r(tls);
  std::string_view list;
  if (!r.Opaque16(&list)) return absl::InvalidArgumentError("SCT list: truncated length");
  if (!r.empty()) {
    return absl::InvalidArgumentError(StrCat("SCT list: ", r.size(), " bytes after the list"));
  }
  if (list.empty()) return absl::InvalidArgumentError("SCT list is empty");
  TlsReader items(list);
  std::vector<Sct> out;
  while (!items.empty()) {
    if (out.size() == kMaxScts) {
      return absl::InvalidArgumentError(StrCat("SCT list has more than ", kMaxScts, " SCTs"));
    }
    std::string_view one;
    if (!items.Opaque16(&one)) {
      return absl::InvalidArgumentError(StrCat("SCT ", out.size(), ": truncated"));
    }
    if (one.empty()) return absl::InvalidArgumentError(StrCat("SCT ", out.size(), ": empty"));
    absl::StatusOr<Sct> sct = ParseOneSct(one, out.size());
    if (!sct.ok()) return sct.status();
    out.push_back(*std::move(sct));
  }
  return out;
}

absl::StatusOr<std::string> PrecertSignedData(X509* leaf, X509* issuer, const Sct& sct) {
  ossl::ClearErrorsOnExit clear;
  if (leaf == nullptr || issuer == nullptr) {
    return absl::InvalidArgumentError("no certificate or no issuer");
  }
  if (sct.extensions.size() > kMaxSctExtensionsBytes) {
    return absl::InvalidArgumentError("SCT extensions too long");
  }
  // The precertificate TBS: the leaf's TBS without the SCT list extension, the other
  // extensions in their order (RFC 6962 §3.2). i2d_re_X509_tbs re-encodes the modified TBS
  // (plain i2d_X509_tbs would return the cached original encoding).
  ossl::X509Ptr pre(X509_dup(leaf));
  if (pre == nullptr) return absl::InternalError(StrCat("X509_dup: ", ossl::LastError()));
  int i = X509_get_ext_by_NID(pre.get(), NID_ct_precert_scts, -1);
  if (i < 0) return absl::InvalidArgumentError("certificate has no SCT list extension");
  if (X509_get_ext_by_NID(pre.get(), NID_ct_precert_scts, i) >= 0) {
    return absl::InvalidArgumentError("certificate has more than one SCT list extension");
  }
  ossl::ExtPtr removed(X509_delete_ext(pre.get(), i));
  if (removed == nullptr) return absl::InternalError("cannot remove the SCT list extension");
  unsigned char* tbs = nullptr;
  int tbs_len = i2d_re_X509_tbs(pre.get(), &tbs);
  ossl::BytesPtr owned_tbs(tbs);
  if (tbs_len <= 0) {
    return absl::InternalError(StrCat("cannot encode the precertificate: ", ossl::LastError()));
  }
  if (static_cast<size_t>(tbs_len) > kMaxTbsBytes) {
    return absl::InvalidArgumentError("precertificate TBS over 2^24 bytes");
  }
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(issuer), &spki);
  ossl::BytesPtr owned_spki(spki);
  if (spki_len <= 0) {
    return absl::InvalidArgumentError(StrCat("issuer public key: ", ossl::LastError()));
  }
  std::string issuer_key_hash =
      Sha256(std::string_view(reinterpret_cast<const char*>(spki), static_cast<size_t>(spki_len)));

  std::string out;
  out.reserve(2 + 8 + 2 + 32 + 3 + static_cast<size_t>(tbs_len) + 2 + sct.extensions.size());
  out.push_back(0);  // sct_version v1
  out.push_back(0);  // signature_type certificate_timestamp
  PutInt(out, sct.timestamp_ms, 8);
  PutInt(out, 1, 2);  // entry_type precert_entry
  out += issuer_key_hash;
  PutInt(out, static_cast<uint64_t>(tbs_len), 3);
  out.append(reinterpret_cast<const char*>(tbs), static_cast<size_t>(tbs_len));
  PutInt(out, sct.extensions.size(), 2);
  out += sct.extensions;  // verbatim (static CT logs put the leaf index here)
  return out;
}

absl::Status VerifyEmbeddedScts(X509* leaf, X509* issuer, const TrustedRoot& root,
                                int threshold) {
  ossl::ClearErrorsOnExit clear;
  if (leaf == nullptr || issuer == nullptr) {
    return absl::InvalidArgumentError("no certificate or no issuer");
  }
  if (threshold < 1) threshold = 1;  // fail closed: "no SCT needed" is never asked for here
  absl::StatusOr<std::optional<std::string>> list = SctListOf(leaf);
  if (!list.ok()) return list.status();
  if (!list->has_value()) {
    return absl::PermissionDeniedError("certificate has no embedded SCT");
  }
  absl::StatusOr<std::vector<Sct>> scts = ParseSctList(**list);
  if (!scts.ok()) return scts.status();

  std::set<std::string> verified_logs;
  std::string why;
  auto note = [&why](size_t i, std::string_view what) {
    if (!why.empty()) why += "; ";
    why += StrCat("SCT ", i, ": ", what);
  };
  for (size_t i = 0; i < scts->size(); ++i) {
    const Sct& sct = (*scts)[i];
    const LogKey* log = root.FindCtlog(sct.log_id);
    if (log == nullptr) {
      note(i, StrCat("log ", Hex(sct.log_id), " is not in the trusted root"));
      continue;
    }
    absl::Time when = absl::FromUnixMillis(static_cast<int64_t>(
        std::min<uint64_t>(sct.timestamp_ms, static_cast<uint64_t>(INT64_MAX))));
    if (!log->valid_for.Contains(when)) {
      note(i, StrCat("log ", Hex(sct.log_id), " is not valid at the SCT's time ",
                     absl::FormatTime(absl::RFC3339_full, when, absl::UTCTimeZone())));
      continue;
    }
    if (sct.hash_alg != kHashSha256) {
      note(i, StrCat("hash algorithm ", static_cast<int>(sct.hash_alg), " is not SHA-256"));
      continue;
    }
    int key_type = log->key != nullptr ? EVP_PKEY_get_base_id(log->key.get()) : EVP_PKEY_NONE;
    if (!((sct.sig_alg == kSigEcdsa && key_type == EVP_PKEY_EC) ||
          (sct.sig_alg == kSigRsa && key_type == EVP_PKEY_RSA))) {
      note(i, StrCat("signature algorithm ", static_cast<int>(sct.sig_alg),
                     " does not fit the log's key"));
      continue;
    }
    absl::StatusOr<std::string> signed_data = PrecertSignedData(leaf, issuer, sct);
    if (!signed_data.ok()) return signed_data.status();
    absl::Status s = VerifyMessageWith(log->key.get(), EVP_sha256(), *signed_data, sct.signature);
    if (!s.ok()) {
      note(i, StrCat("log ", Hex(sct.log_id), ": ", s.message()));
      continue;
    }
    verified_logs.insert(sct.log_id);
  }
  if (verified_logs.size() >= static_cast<size_t>(threshold)) return absl::OkStatus();
  return absl::PermissionDeniedError(StrCat(verified_logs.size(), " of the required ", threshold,
                                            " CT logs signed the certificate's SCTs: ",
                                            why.empty() ? "no SCT" : why));
}

}  // namespace layerseal::sigstore
