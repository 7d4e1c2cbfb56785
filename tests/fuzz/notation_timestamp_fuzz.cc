// Fuzzes the notation RFC 3161 TimeStampToken reader (verifier/notation/timestamp.h):
// ParseTimestampToken on any bytes, and VerifyTimestampToken with no trust store, which must
// refuse every token (PermissionDenied or InvalidArgument, never OK) without crashing and
// leave the OpenSSL error queue empty. Seeds: notation-go's countersignature test tokens and
// one from a COSE envelope (tests/fixtures/notation/upstream/notation-go).
#include <openssl/err.h>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/notation/envelope.h"
#include "verifier/notation/timestamp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::notation;
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<TimestampInfo> info = ParseTimestampToken(in);
  FUZZ_CHECK(ERR_peek_error() == 0);
  if (info.ok()) {
    FUZZ_CHECK(size <= kMaxTimestampTokenBytes);
    FUZZ_CHECK(info->accuracy >= absl::ZeroDuration());
    FUZZ_CHECK(!info->hash_algorithm.empty());
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(info.status()) || absl::IsResourceExhausted(info.status()));
  }
  // The signature value is the first 32 bytes (or fewer) of the input: some seeds' imprints
  // will not match, others reach the signer and chain checks.
  std::string_view sig = in.substr(0, in.size() < 32 ? in.size() : 32);
  absl::StatusOr<VerifiedTimestamp> v = VerifyTimestampToken(in, sig, {});
  FUZZ_CHECK(!v.ok());
  FUZZ_CHECK(ERR_peek_error() == 0);
  if (!info.ok()) FUZZ_CHECK(v.status().code() == info.status().code());
  return 0;
}
