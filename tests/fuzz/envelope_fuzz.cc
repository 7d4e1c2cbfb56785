// Fuzzes ParseEnvelope; an accepted envelope must serialize to one that parses back equal.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<layerseal::Envelope> e =
      layerseal::ParseEnvelope(layerseal::fuzz::AsView(data, size));
  if (!e.ok()) return 0;
  absl::StatusOr<layerseal::Envelope> again =
      layerseal::ParseEnvelope(layerseal::SerializeEnvelope(*e));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->manifest_digest.str() == e->manifest_digest.str());
  FUZZ_CHECK(again->algorithm == e->algorithm);
  FUZZ_CHECK(again->key_id == e->key_id);
  FUZZ_CHECK(again->signature == e->signature);
  return 0;
}
