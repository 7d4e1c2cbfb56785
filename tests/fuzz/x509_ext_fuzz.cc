// Fuzzes a certificate from the input (verifier/sigstore/fulcio.h ParseCertificate, d2i_X509)
// and then the identity extraction (SAN email / URI / OtherName, Fulcio issuer extensions)
// and the validity check: a Fulcio leaf is attacker-made input until its chain is checked.
#include <openssl/x509.h>

#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/sigstore/fulcio.h"
#include "verifier/sigstore/sct.h"

namespace ss = layerseal::sigstore;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ss::TrustedRoot* empty = new ss::TrustedRoot(ss::TrustedRoot::FromParts({}, {}, {}, {}, ""));
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<std::shared_ptr<X509>> cert = ss::ParseCertificate(in);
  if (!cert.ok()) return 0;
  X509* x = cert->get();
  absl::StatusOr<ss::CertIdentity> id = ss::ExtractIdentity(x);
  if (id.ok()) {
    FUZZ_CHECK(!id->subject.empty() && id->subject.size() <= ss::kMaxIdentityBytes);
    FUZZ_CHECK(!id->issuer.empty() && id->issuer.size() <= ss::kMaxIdentityBytes);
    FUZZ_CHECK(id->subject.find('\0') == std::string::npos);
    FUZZ_CHECK(id->issuer.find('\0') == std::string::npos);
  }
  (void)ss::CertificateValidAt(x, absl::FromUnixSeconds(1700000000));
  // No CA and no CT log: both refuse, whatever the certificate says.
  FUZZ_CHECK(!ss::VerifyChainAt(x, *empty, absl::FromUnixSeconds(1700000000)).ok());
  FUZZ_CHECK(!ss::VerifyEmbeddedScts(x, x, *empty).ok());
  // DER in, DER out: the same bytes (d2i keeps the original encoding).
  FUZZ_CHECK(ss::CertificateDer(x) == in);
  return 0;
}
