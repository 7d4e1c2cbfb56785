// Fuzzes cosign's legacy formats (verifier/sigstore/simple_signing.h, entity.h): the input as a
// simple-signing payload, as a dev.sigstore.cosign/bundle annotation, and both together
// through FromLegacySig ("payload\nbundle annotation").
#include "tests/fuzz/fuzz_check.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/simple_signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::sigstore;
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<SimpleSigning> s = ParseSimpleSigning(in);
  if (s.ok()) {
    FUZZ_CHECK(s->type == kCosignSignatureType);
    FUZZ_CHECK(!s->manifest_digest.empty());
  }
  absl::StatusOr<LegacySet> set = ParseCosignBundleAnnotation(in);
  if (set.ok()) {
    FUZZ_CHECK(!set->set.empty() && !set->body.empty() && !set->log_id.empty());
    FUZZ_CHECK(set->log_index >= 0 && set->integrated_time >= 0);
  }
  auto [payload, annotation] = layerseal::fuzz::SplitFirstLine(in);
  absl::StatusOr<SignedEntity> e = FromLegacySig(
      std::string(payload), {{std::string(kAnnSignature), "c2ln"}, {std::string(kAnnBundle), std::string(annotation)}});
  if (e.ok()) {
    FUZZ_CHECK(e->form == SignedEntity::Form::kLegacySig);
    FUZZ_CHECK(e->message.has_value() && e->message->signature == "sig");
    FUZZ_CHECK(e->legacy_payload == payload);
    for (const TlogEntry& t : e->tlog) FUZZ_CHECK(t.set.has_value() && !t.kind.empty() && !t.version.empty());
  }
  return 0;
}
