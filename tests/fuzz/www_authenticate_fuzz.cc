// Fuzzes the WWW-Authenticate parser (registry/internal/auth.h ParseChallenges).
#include <string>

#include "registry/internal/auth.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace internal = layerseal::registry::internal;
  absl::StatusOr<std::vector<internal::Challenge>> challenges =
      internal::ParseChallenges(layerseal::fuzz::AsView(data, size));
  if (!challenges.ok()) return 0;
  for (const internal::Challenge& c : *challenges) {
    FUZZ_CHECK(!c.scheme.empty());
    for (char ch : c.scheme) FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'));  // lower case
    c.Param("realm");
  }
  return 0;
}
