// The signature envelope of spec section 3 (.layerseal/signature.json).
#ifndef LAYERSEAL_VERIFIER_ENVELOPE_H_
#define LAYERSEAL_VERIFIER_ENVELOPE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"

namespace layerseal {

inline constexpr std::string_view kEnvelopeType = "layerseal.signature.v1";
inline constexpr size_t kMaxEnvelopeBytes = 64 * 1024;

struct Envelope {
  Digest manifest_digest;
  Algorithm algorithm;
  std::string key_id;     // "sha256:<hex>"
  std::string signature;  // raw bytes (base64-decoded)
};

// Strict: exactly the six members with the right types and values; duplicate or unknown
// members, bad digests or key ids, and bad base64 are InvalidArgument naming the member.
absl::StatusOr<Envelope> ParseEnvelope(std::string_view json);
std::string SerializeEnvelope(const Envelope& e);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_ENVELOPE_H_
