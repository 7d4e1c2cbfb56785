// Fuzzes the token server's JSON answer (registry/internal/auth.h ParseTokenResponse).
#include "registry/internal/auth.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace internal = layerseal::registry::internal;
  absl::StatusOr<internal::Token> token =
      internal::ParseTokenResponse(layerseal::fuzz::AsView(data, size));
  if (!token.ok()) return 0;
  FUZZ_CHECK(!token->value.empty());
  FUZZ_CHECK(token->lifetime >= absl::ZeroDuration());
  return 0;
}
