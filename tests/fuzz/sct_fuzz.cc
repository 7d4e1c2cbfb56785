// Fuzzes the hand-written TLS reader of embedded SCT lists (verifier/sigstore/sct.h
// ParseSctList), then the precertificate signed data and the whole embedded-SCT check on a
// fixed certificate whose SCT extension holds the input (an SCT list comes from a Fulcio
// certificate, which anyone can make before its chain is checked).
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/internal/openssl_util.h"
#include "verifier/sigstore/sct.h"
#include "verifier/sigstore/signature.h"

namespace {

namespace ss = layerseal::sigstore;
namespace ossl = layerseal::ossl;

// One self-signed certificate with an (empty) SCT list extension and a CT log whose id is
// 32 zero bytes, made once.
struct Fixed {
  ossl::PkeyPtr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
  ossl::X509Ptr cert{X509_new()};
  ss::TrustedRoot root = ss::TrustedRoot::FromParts({}, {}, {}, {}, "");
  Fixed() {
    X509* x = cert.get();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("sct fuzz"),
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    ASN1_TIME_set(X509_getm_notBefore(x), 1700000000);
    ASN1_TIME_set(X509_getm_notAfter(x), 1800000000);
    X509_set_pubkey(x, key.get());
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "email:f@example.test");
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    SetScts(x, "");
    X509_sign(x, key.get(), EVP_sha256());
    ss::LogKey log;
    log.log_id = std::string(32, '\0');
    log.key = std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    log.valid_for.start = absl::UnixEpoch();
    root = ss::TrustedRoot::FromParts({}, {log}, {}, {}, "");
  }
  // Replaces (or adds) the SCT list extension: an OCTET STRING holding `tls`.
  static void SetScts(X509* x, std::string_view tls) {
    int i = X509_get_ext_by_NID(x, NID_ct_precert_scts, -1);
    if (i >= 0) X509_EXTENSION_free(X509_delete_ext(x, i));
    ossl::OctetPtr inner(ASN1_OCTET_STRING_new());
    ASN1_OCTET_STRING_set(inner.get(), ossl::Bytes(tls), static_cast<int>(tls.size()));
    unsigned char* der = nullptr;
    int n = i2d_ASN1_OCTET_STRING(inner.get(), &der);
    ossl::BytesPtr owned(der);
    ossl::OctetPtr outer(ASN1_OCTET_STRING_new());
    ASN1_OCTET_STRING_set(outer.get(), der, n);
    X509_EXTENSION* e = X509_EXTENSION_create_by_NID(nullptr, NID_ct_precert_scts, 0, outer.get());
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
};

void Put(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixed* fixed = new Fixed();
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<std::vector<ss::Sct>> scts = ss::ParseSctList(in);
  if (scts.ok()) {
    // Every length matched exactly: writing the SCTs back gives the input.
    FUZZ_CHECK(!scts->empty() && scts->size() <= ss::kMaxScts);
    std::string list;
    for (const ss::Sct& s : *scts) {
      FUZZ_CHECK(s.version == 0 && s.log_id.size() == 32);
      FUZZ_CHECK(s.extensions.size() <= ss::kMaxSctExtensionsBytes);
      std::string one;
      Put(one, s.version, 1);
      one += s.log_id;
      Put(one, s.timestamp_ms, 8);
      Put(one, s.extensions.size(), 2);
      one += s.extensions;
      Put(one, s.hash_alg, 1);
      Put(one, s.sig_alg, 1);
      Put(one, s.signature.size(), 2);
      one += s.signature;
      Put(list, one.size(), 2);
      list += one;
    }
    std::string all;
    Put(all, list.size(), 2);
    all += list;
    FUZZ_CHECK(all == in);
    absl::StatusOr<std::string> signed_data =
        ss::PrecertSignedData(fixed->cert.get(), fixed->cert.get(), scts->front());
    FUZZ_CHECK(signed_data.ok());
  }
  // The whole check with the input as the certificate's SCT list: never OK (no log key
  // signed anything here), and never a crash.
  ossl::X509Ptr leaf(X509_dup(fixed->cert.get()));
  Fixed::SetScts(leaf.get(), in.substr(0, 64 * 1024));
  absl::Status s = ss::VerifyEmbeddedScts(leaf.get(), fixed->cert.get(), fixed->root);
  FUZZ_CHECK(!s.ok());
  return 0;
}
