// Fuzzes the DSSE parsers (verifier/sigstore/dsse.h): ParseEnvelope on the input parsed as
// strict JSON, and ParseStatement on the input itself. A parsed statement must find each of
// its subjects' sha256 digests again.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/digest.h"
#include "verifier/sigstore/dsse.h"
#include "verifier/sigstore/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::sigstore;
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<nlohmann::json> j = ParseJsonDocument(in, dsse::kMaxDssePayloadBytes, "fuzz");
  if (j.ok()) {
    absl::StatusOr<dsse::Envelope> e = dsse::ParseEnvelope(*j, "envelope");
    if (e.ok()) {
      FUZZ_CHECK(!e->signatures.empty() && e->signatures.size() <= dsse::kMaxEnvelopeSignatures);
      FUZZ_CHECK(!e->payload_type.empty());
      std::string pae = dsse::Pae(e->payload_type, e->payload);
      FUZZ_CHECK(pae.size() > e->payload.size() + e->payload_type.size());
    }
  }
  absl::StatusOr<dsse::Statement> s = dsse::ParseStatement(in);
  if (s.ok()) {
    FUZZ_CHECK(!s->subjects.empty() && s->subjects.size() <= dsse::kMaxInTotoSubjects);
    for (const dsse::Subject& sub : s->subjects) {
      auto it = sub.digest.find("sha256");
      if (it == sub.digest.end()) continue;
      absl::StatusOr<layerseal::Digest> d = layerseal::Digest::Parse("sha256:" + it->second);
      if (d.ok()) FUZZ_CHECK(dsse::HasSubjectDigest(*s, *d));
    }
  }
  return 0;
}
