#include "verifier/sigstore/entity.h"

#include <memory>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/json.h"
#include "verifier/sigstore/simple_signing.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::json;

// The DER of every certificate in a PEM annotation (at least one, at most `limit`).
absl::StatusOr<std::vector<std::string>> PemCertificates(std::string_view pem, std::string_view name,
                                                         size_t limit) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  std::vector<std::string> out;
  while (true) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    std::unique_ptr<X509, decltype(&X509_free)> owned(cert, X509_free);
    if (out.size() == limit) {
      ERR_clear_error();
      return absl::ResourceExhaustedError(
          StrCat(name, " annotation: more than ", limit, " certificates"));
    }
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0) {
      ERR_clear_error();
      return absl::InvalidArgumentError(StrCat(name, " annotation: a certificate cannot be encoded"));
    }
    out.emplace_back(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  // PEM_read_bio_X509 ends with "no start line" at the end of the text; any other error is a
  // block that did not parse.
  unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (err != 0 && !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return absl::InvalidArgumentError(StrCat(name, " annotation: a PEM certificate does not parse"));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(StrCat(name, " annotation: holds no PEM certificate"));
  }
  return out;
}

// cosign's dev.sigstore.cosign/rfc3161timestamp: {"SignedRFC3161Timestamp": base64 DER}.
absl::StatusOr<std::string> TimestampAnnotation(std::string_view text) {
  std::string where = StrCat(kAnnTimestamp, " annotation");
  absl::StatusOr<json> doc = ParseJsonDocument(text, kMaxCosignAnnotationBytes, where);
  if (!doc.ok()) return doc.status();
  auto it = doc->find("SignedRFC3161Timestamp");
  if (!doc->is_object() || doc->size() != 1 || it == doc->end() || !it->is_string()) {
    return PathError(where, "must be {\"SignedRFC3161Timestamp\": base64}");
  }
  absl::StatusOr<std::string> der = Base64Decode(it->get<std::string>());
  if (!der.ok() || der->empty()) return PathError(JoinPath(where, "SignedRFC3161Timestamp"), "is not base64");
  if (der->size() > kMaxTimestampResponseBytes) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", der->size(), " bytes, more than the limit of ",
                                               kMaxTimestampResponseBytes));
  }
  return der;
}

// The kind and apiVersion a Rekor body names (the SET annotation does not carry them).
absl::Status KindVersionOf(const std::string& body, TlogEntry& e) {
  std::string where = StrCat(kAnnBundle, " annotation: Payload.body");
  absl::StatusOr<json> doc = ParseJsonDocument(body, kMaxCanonicalizedBodyBytes, where);
  if (!doc.ok()) return doc.status();
  if (!doc->is_object()) return PathError(where, "must be a JSON object");
  for (auto [member, out] : {std::pair{"kind", &e.kind}, std::pair{"apiVersion", &e.version}}) {
    auto it = doc->find(member);
    if (it == doc->end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      return PathError(JoinPath(where, member), "missing or not a string");
    }
    *out = it->get<std::string>();
  }
  return absl::OkStatus();
}

}  // namespace

SignedEntity FromBundle(Bundle b) {
  SignedEntity e;
  e.form = SignedEntity::Form::kBundle;
  e.version = b.version;
  e.material = b.material;
  e.message = std::move(b.message);
  e.dsse = std::move(b.dsse);
  e.public_key_hint = std::move(b.public_key_hint);
  e.certs_der = std::move(b.certs_der);
  e.tlog = std::move(b.tlog);
  e.timestamps = std::move(b.timestamps);
  return e;
}

absl::StatusOr<SignedEntity> FromLegacySig(std::string payload,
                                           const std::map<std::string, std::string>& annotations) {
  if (payload.size() > kMaxSimpleSigningBytes) {
    return absl::ResourceExhaustedError(StrCat("simple-signing payload of ", payload.size(),
                                               " bytes, more than the limit of ", kMaxSimpleSigningBytes));
  }
  for (std::string_view name : {kAnnSignature, kAnnCertificate, kAnnChain, kAnnBundle, kAnnTimestamp}) {
    auto it = annotations.find(std::string(name));
    if (it != annotations.end() && it->second.size() > kMaxCosignAnnotationBytes) {
      return absl::ResourceExhaustedError(StrCat(name, " annotation of ", it->second.size(),
                                                 " bytes, more than the limit of ", kMaxCosignAnnotationBytes));
    }
  }
  auto get = [&annotations](std::string_view name) -> const std::string* {
    auto it = annotations.find(std::string(name));
    return it == annotations.end() ? nullptr : &it->second;
  };
  SignedEntity e;
  e.form = SignedEntity::Form::kLegacySig;
  e.version = BundleVersion::kV01;  // a SET, never an inclusion proof

  const std::string* sig_b64 = get(kAnnSignature);
  if (sig_b64 == nullptr) return PathError(StrCat(kAnnSignature, " annotation"), "missing");
  absl::StatusOr<std::string> sig = Base64Decode(*sig_b64);
  if (!sig.ok() || sig->empty()) {
    return PathError(StrCat(kAnnSignature, " annotation"), "is not non-empty standard base64");
  }
  if (sig->size() > kMaxSignatureBytes) {
    return absl::ResourceExhaustedError(StrCat(kAnnSignature, " annotation: ", sig->size(),
                                               " bytes, more than the limit of ", kMaxSignatureBytes));
  }
  e.message = MessageSignature{"SHA2_256", Sha256(payload), *std::move(sig)};

  const std::string* cert = get(kAnnCertificate);
  const std::string* chain = get(kAnnChain);
  // An empty certificate or chain annotation is treated as absent.
  if (cert != nullptr && cert->empty()) cert = nullptr;
  if (chain != nullptr && chain->empty()) chain = nullptr;
  if (cert == nullptr) {
    if (chain != nullptr) return PathError(StrCat(kAnnChain, " annotation"), "given without a certificate");
    e.material = Bundle::Material::kPublicKey;
  } else {
    absl::StatusOr<std::vector<std::string>> leaf = PemCertificates(*cert, kAnnCertificate, 1);
    if (!leaf.ok()) return leaf.status();
    e.certs_der = *std::move(leaf);
    e.material = Bundle::Material::kCertificate;
    if (chain != nullptr) {
      absl::StatusOr<std::vector<std::string>> rest = PemCertificates(*chain, kAnnChain, kMaxBundleChainCerts);
      if (!rest.ok()) return rest.status();
      e.material = Bundle::Material::kChain;
      for (std::string& der : *rest) {
        // cosign's chain ends with the Fulcio root; roots come from the trusted root only, so a
        // shipped one is dropped rather than handed to the chain builder.
        absl::StatusOr<std::shared_ptr<X509>> x = ParseCertificateDer(der, kAnnChain);
        if (!x.ok()) return x.status();
        if (!IsSelfSigned(x->get())) e.certs_der.push_back(std::move(der));
      }
    }
  }

  if (const std::string* set = get(kAnnBundle); set != nullptr && !set->empty()) {
    absl::StatusOr<LegacySet> parsed = ParseCosignBundleAnnotation(*set);
    if (!parsed.ok()) return parsed.status();
    TlogEntry entry;
    entry.log_index = parsed->log_index;
    entry.log_id = std::move(parsed->log_id);
    entry.integrated_time = parsed->integrated_time;
    entry.set = std::move(parsed->set);
    entry.body = std::move(parsed->body);
    if (absl::Status s = KindVersionOf(entry.body, entry); !s.ok()) return s;
    e.tlog.push_back(std::move(entry));
  }
  if (const std::string* ts = get(kAnnTimestamp); ts != nullptr && !ts->empty()) {
    absl::StatusOr<std::string> der = TimestampAnnotation(*ts);
    if (!der.ok()) return der.status();
    e.timestamps.push_back(*std::move(der));
  }
  e.legacy_payload = std::move(payload);
  return e;
}

}  // namespace layerseal::sigstore
