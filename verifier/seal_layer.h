// The seal layers of spec section 2: gzip-compressed ustar archives holding exactly one
// regular file. Writers are deterministic (mtime 0, uid/gid 0, mode 0644); readers are
// strict and bounded: no PAX/GNU headers, links, directories, second entries, or bombs.
#ifndef LAYERSEAL_VERIFIER_SEAL_LAYER_H_
#define LAYERSEAL_VERIFIER_SEAL_LAYER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerseal {

inline constexpr std::string_view kSealAnnotation = "dev.layerseal.seal";
inline constexpr std::string_view kSealManifestValue = "manifest";
inline constexpr std::string_view kSealSignatureValue = "signature";
inline constexpr std::string_view kSealManifestPath = ".layerseal/manifest.json";
inline constexpr std::string_view kSealSignaturePath = ".layerseal/signature.json";
inline constexpr size_t kMaxSealCompressedBytes = 8 << 20;    // spec 4.3
inline constexpr size_t kMaxSealUncompressedBytes = 8 << 20;  // spec 4.3

// A ustar archive of one regular file `path` holding `content`, with two zero end blocks.
// Empty when `path` does not fit ustar (empty, or no split into prefix <= 155 and name <= 100).
std::string MakeSingleFileTar(std::string_view path, std::string_view content);
// Deterministic gzip (no name, mtime 0).
std::string GzipCompress(std::string_view bytes);
// Bounded gunzip of exactly one gzip member: ResourceExhausted past `max_out`,
// InvalidArgument for corrupt or trailing data.
absl::StatusOr<std::string> GzipDecompress(std::string_view gz, size_t max_out);
// The content of the only entry of `tar`, which must be a regular file named `path`.
// InvalidArgument otherwise, naming what was found.
absl::StatusOr<std::string> ReadSingleFileTar(std::string_view tar, std::string_view path);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_SEAL_LAYER_H_
