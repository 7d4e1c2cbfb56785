// Strict JSON parsing for every untrusted JSON document layerseal reads (manifests, configs,
// sigstore documents, the package attachment of verifier/layers/packages.h). Apart from the
// verifier (target layerseal_strict_json: base and nlohmann_json only) so that libraries the
// verifier links, like layerseal_layers, can use it without a cycle.
// Thread-safety: pure function.
#ifndef LAYERSEAL_VERIFIER_STRICT_JSON_H_
#define LAYERSEAL_VERIFIER_STRICT_JSON_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace layerseal {

inline constexpr int kMaxJsonDepth = 64;

// Strict JSON: rejects duplicate keys, invalid UTF-8, depth > kMaxJsonDepth, input over
// `max_bytes` (ResourceExhausted), and trailing bytes. The error names the position.
absl::StatusOr<nlohmann::json> ParseStrictJson(std::string_view bytes, size_t max_bytes);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_STRICT_JSON_H_
