// Strict parsing of OCI / Docker image manifests, indexes and configs.
// Duplicate keys, wrong types, non-canonical digests and unknown media types are errors
// (InvalidArgument) with a message naming the field. Values are immutable after parsing.
#ifndef LAYERSEAL_VERIFIER_MANIFEST_H_
#define LAYERSEAL_VERIFIER_MANIFEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "verifier/digest.h"
#include "verifier/strict_json.h"  // ParseStrictJson, kMaxJsonDepth

namespace layerseal {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

// The Accept header list a registry client sends for manifests.
inline constexpr std::string_view kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

inline constexpr size_t kMaxManifestBytes = 4 << 20;  // spec 4.1
inline constexpr size_t kMaxConfigBytes = 1 << 20;    // spec 4.7
inline constexpr size_t kMaxDescriptors = 1024;       // layers / index entries

enum class Family { kOci, kDocker };

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;  // optional
  static absl::StatusOr<Platform> Parse(std::string_view text);  // "linux/amd64[/v8]"
  static Platform Host();                                         // the build's os/arch
  std::string ToString() const;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  bool has_urls = false;
  std::optional<Platform> platform;
  nlohmann::json json;  // the descriptor exactly as parsed, for equality checks
};

struct ImageManifest {
  std::string media_type;  // kOciManifest or kDockerManifest
  Family family;
  Descriptor config;
  std::vector<Descriptor> layers;
  nlohmann::json json;
};

struct ImageIndex {
  std::string media_type;  // kOciIndex or kDockerList
  Family family;
  std::vector<Descriptor> manifests;
  nlohmann::json json;
};

// Which document `bytes` is, given the registry's Content-Type. The Content-Type (parameters
// ignored) and the document's own mediaType, when present, must agree; a document without
// mediaType is classified from its Content-Type. Returns one of the four manifest media types.
absl::StatusOr<std::string> ClassifyManifest(std::string_view bytes, std::string_view content_type);
bool IsIndexMediaType(std::string_view media_type);
// The media type of a Content-Type header value: parameters dropped, blanks trimmed, lowercase.
std::string ContentTypeMediaType(std::string_view content_type);

// A document as a registry served it, classified (as ClassifyManifest) and parsed (as
// ParseImageManifest or ParseImageIndex) in one strict parse. Exactly one of image/index is set.
struct ServedManifest {
  std::string media_type;
  std::optional<ImageManifest> image;
  std::optional<ImageIndex> index;
};
absl::StatusOr<ServedManifest> ParseServedManifest(std::string_view bytes,
                                                   std::string_view content_type);

absl::StatusOr<ImageManifest> ParseImageManifest(std::string_view bytes,
                                                 std::string_view media_type);
absl::StatusOr<ImageIndex> ParseImageIndex(std::string_view bytes, std::string_view media_type);
// The index entry for `platform` (os and architecture equal; variant equal when both given).
// NotFound when no entry fits; InvalidArgument when two fit ambiguously.
absl::StatusOr<Descriptor> SelectPlatform(const ImageIndex& index, const Platform& platform);

// A descriptor's or manifest's "artifactType" (OCI 1.1), or "" when absent or when `j` is not
// an object; InvalidArgument "<where>: "artifactType" must be a string" otherwise.
absl::StatusOr<std::string> ArtifactTypeOf(const nlohmann::json& j, std::string_view where);

// A descriptor parsed strictly from JSON (exposed for the sealer and tests).
absl::StatusOr<Descriptor> ParseDescriptor(const nlohmann::json& j, std::string_view where);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_MANIFEST_H_
