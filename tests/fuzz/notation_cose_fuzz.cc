// Fuzzes the Notary Project COSE_Sign1 envelope parser (verifier/notation/envelope.h, issue
// 20): ParseCose, and ParseEnvelope with the COSE media type, on the input (libcbor behind a
// depth- and item-bounded scan of our own). A parsed envelope must keep every rule and limit
// of the header, and its signed bytes must be the RFC 9052 Sig_structure around its payload.
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/notation/envelope.h"

namespace {

using namespace layerseal::notation;

void CheckEnvelope(const Envelope& e) {
  FUZZ_CHECK(!e.certs_der.empty() && e.certs_der.size() <= kMaxChainCertificates);
  for (const std::string& c : e.certs_der) FUZZ_CHECK(!c.empty() && c.size() <= kMaxCertificateBytes);
  FUZZ_CHECK(!e.signature.empty() && e.signature.size() <= kMaxSignatureBytes);
  FUZZ_CHECK(e.payload.size() <= kMaxPayloadBytes);
  FUZZ_CHECK(e.timestamp_token.size() <= kMaxTimestampTokenBytes);
  FUZZ_CHECK(!e.critical.empty() && e.critical.size() <= kMaxCriticalHeaders);
  if (e.scheme == SigningScheme::kX509) {
    FUZZ_CHECK(e.signing_time.has_value() && !e.authentic_signing_time.has_value());
  } else {
    FUZZ_CHECK(e.authentic_signing_time.has_value() && !e.signing_time.has_value());
  }
  FUZZ_CHECK(!e.target.digest.empty() && e.target.size >= 0);
  FUZZ_CHECK(ParsePayload(e.payload).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<Envelope> e = ParseCose(in);
  absl::StatusOr<Envelope> via = ParseEnvelope(in, kCoseMediaType);
  FUZZ_CHECK(e.ok() == via.ok());
  if (!e.ok()) {
    FUZZ_CHECK(e.status().code() == absl::StatusCode::kInvalidArgument ||
               e.status().code() == absl::StatusCode::kResourceExhausted);
    FUZZ_CHECK(!e.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(e->format == Format::kCose);
  CheckEnvelope(*e);
  // ["Signature1", protected, h'', payload]: starts with 84 6A "Signature1", ends with the
  // payload, and holds the protected bytes, which are in the input.
  const std::string& s = e->signed_bytes;
  FUZZ_CHECK(s.compare(0, 12, std::string("\x84\x6aSignature1", 12)) == 0);
  FUZZ_CHECK(s.size() >= 12 + e->payload.size() + 3 &&
             s.compare(s.size() - e->payload.size(), e->payload.size(), e->payload) == 0);
  FUZZ_CHECK(s.size() - 12 <= in.size() + 16);
  FUZZ_CHECK(s == via->signed_bytes && e->signature == via->signature);
  return 0;
}
