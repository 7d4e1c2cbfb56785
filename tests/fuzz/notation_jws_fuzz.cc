// Fuzzes the Notary Project JWS envelope parser (verifier/notation/envelope.h, issue 20):
// ParseJws, and ParseEnvelope with the JWS media type, on the input. A parsed envelope must
// keep every rule and limit of the header: signed bytes are BASE64URL(protected) '.'
// BASE64URL(payload), the payload parses again to the same target, the chain, signature,
// token and critical list are within their bounds, and the scheme's time attribute is there.
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
  bool scheme_critical = false;
  for (const std::string& c : e.critical) scheme_critical |= c == kHeaderSigningScheme;
  FUZZ_CHECK(scheme_critical);
  if (e.scheme == SigningScheme::kX509) {
    FUZZ_CHECK(e.signing_time.has_value() && !e.authentic_signing_time.has_value());
  } else {
    FUZZ_CHECK(e.authentic_signing_time.has_value() && !e.signing_time.has_value());
  }
  FUZZ_CHECK(!e.target.digest.empty() && e.target.size >= 0 && !e.target.media_type.empty());
  absl::StatusOr<TargetArtifact> again = ParsePayload(e.payload);
  FUZZ_CHECK(again.ok() && again->digest == e.target.digest && again->size == e.target.size);
  FUZZ_CHECK(!AlgorithmName(e.algorithm).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<Envelope> e = ParseJws(in);
  absl::StatusOr<Envelope> via = ParseEnvelope(in, kJwsMediaType);
  FUZZ_CHECK(e.ok() == via.ok());
  if (!e.ok()) {
    FUZZ_CHECK(e.status().code() == absl::StatusCode::kInvalidArgument ||
               e.status().code() == absl::StatusCode::kResourceExhausted);
    FUZZ_CHECK(!e.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(e->format == Format::kJws);
  CheckEnvelope(*e);
  // protected '.' payload: both base64url, so exactly one dot.
  size_t dot = e->signed_bytes.find('.');
  FUZZ_CHECK(dot != std::string::npos && e->signed_bytes.find('.', dot + 1) == std::string::npos);
  FUZZ_CHECK(e->signed_bytes == via->signed_bytes && e->signature == via->signature);
  return 0;
}
