// Fuzzes the registry error-body reader (registry/internal/errors.h); its output is bounded.
#include <string>

#include "registry/internal/errors.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace internal = layerseal::registry::internal;
  std::string out = internal::RegistryErrors(std::string(layerseal::fuzz::AsView(data, size)));
  // Per entry: a separator, two fields of at most kMaxErrorFieldChars + "...", and ": ".
  constexpr size_t kMaxEntryChars = 2 + 2 * (internal::kMaxErrorFieldChars + 3) + 2;
  FUZZ_CHECK(out.size() <= internal::kMaxErrorsQuoted * kMaxEntryChars);
  return 0;
}
