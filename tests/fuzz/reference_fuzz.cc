// Fuzzes Reference::Parse and Digest::Parse: whatever parses must parse again from its
// canonical text to the same value.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = layerseal::fuzz::AsView(data, size);
  if (absl::StatusOr<layerseal::Digest> d = layerseal::Digest::Parse(text); d.ok()) {
    FUZZ_CHECK(d->str() == text);
  }
  absl::StatusOr<layerseal::Reference> ref = layerseal::Reference::Parse(text);
  if (!ref.ok()) return 0;
  absl::StatusOr<layerseal::Reference> again = layerseal::Reference::Parse(ref->ToString());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->ToString() == ref->ToString());
  FUZZ_CHECK(again->Name() == ref->Name());
  FUZZ_CHECK(again->Identifier() == ref->Identifier());
  return 0;
}
