// Fuzzes Policy::Parse (YAML). Keys come inline (pem:); key paths point into a directory that
// does not exist, so they fail without touching the machine's files. An accepted policy must
// resolve references.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<layerseal::Policy> policy = layerseal::Policy::Parse(
      layerseal::fuzz::AsView(data, size), "/nonexistent/layerseal-fuzz", "fuzz.yaml");
  if (!policy.ok()) return 0;
  FUZZ_CHECK(!policy->version().empty());
  for (std::string_view r : {"nginx", "registry.example.com/team/app:1.0", "a.example.org/x/y"}) {
    absl::StatusOr<layerseal::Reference> ref = layerseal::Reference::Parse(r);
    FUZZ_CHECK(ref.ok());
    policy->Resolve(*ref);
  }
  return 0;
}
