#include "verifier/manifest.h"

#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "base/str_cat.h"
#include "absl/strings/str_split.h"

namespace layerseal {
namespace {

using nlohmann::json;

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

std::string_view TypeName(const json& j) { return j.type_name(); }

absl::StatusOr<std::string> GetString(const json& obj, std::string_view key, std::string_view where,
                                      bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return Invalid(where, StrCat("missing \"", key, "\""));
    return std::string();
  }
  if (!it->is_string()) {
    return Invalid(where, StrCat("\"", key, "\" must be a string, not ", TypeName(*it)));
  }
  return it->get<std::string>();
}

absl::Status CheckSchemaVersion(const json& doc, std::string_view where) {
  auto it = doc.find("schemaVersion");
  if (it == doc.end()) return Invalid(where, "missing \"schemaVersion\"");
  if (!it->is_number_integer() || it->get<int64_t>() != 2) {
    return Invalid(where, StrCat("\"schemaVersion\" must be the integer 2, got ", it->dump()));
  }
  return absl::OkStatus();
}

// The document's mediaType must be absent (OCI allows it) or equal to what it was served as.
absl::Status CheckMediaType(const json& doc, std::string_view media_type, std::string_view where) {
  absl::StatusOr<std::string> mt = GetString(doc, "mediaType", where, false);
  if (!mt.ok()) return mt.status();
  bool docker = media_type == kDockerManifest || media_type == kDockerList;
  if (mt->empty() && docker) return Invalid(where, "a Docker manifest must name its mediaType");
  if (!mt->empty() && *mt != media_type) {
    return Invalid(where, StrCat("mediaType \"", *mt, "\" is not \"", media_type, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Descriptor>> ParseDescriptorArray(const json& doc, std::string_view key,
                                                             std::string_view where) {
  auto it = doc.find(key);
  if (it == doc.end()) return Invalid(where, StrCat("missing \"", key, "\""));
  if (!it->is_array()) return Invalid(where, StrCat("\"", key, "\" must be an array"));
  if (it->size() > kMaxDescriptors) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", it->size(), " ", key,
                                                        ", more than the limit of ", kMaxDescriptors));
  }
  std::vector<Descriptor> out;
  out.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    absl::StatusOr<Descriptor> d = ParseDescriptor((*it)[i], StrCat(where, ".", key, "[", i, "]"));
    if (!d.ok()) return d.status();
    out.push_back(*std::move(d));
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseAnnotations(const json& j,
                                                                    std::string_view where) {
  if (!j.is_object()) return Invalid(where, "\"annotations\" must be an object");
  std::map<std::string, std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) {
      return Invalid(where, StrCat("annotation \"", it.key(), "\" must be a string"));
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

absl::StatusOr<Platform> ParsePlatformJson(const json& j, std::string_view where) {
  if (!j.is_object()) return Invalid(where, "\"platform\" must be an object");
  Platform p;
  absl::StatusOr<std::string> os = GetString(j, "os", where, true);
  if (!os.ok()) return os.status();
  absl::StatusOr<std::string> arch = GetString(j, "architecture", where, true);
  if (!arch.ok()) return arch.status();
  absl::StatusOr<std::string> variant = GetString(j, "variant", where, false);
  if (!variant.ok()) return variant.status();
  p.os = *os;
  p.architecture = *arch;
  p.variant = *variant;
  return p;
}

}  // namespace


absl::StatusOr<std::string> ArtifactTypeOf(const nlohmann::json& j, std::string_view where) {
  if (!j.is_object()) return std::string();
  auto it = j.find("artifactType");
  if (it == j.end()) return std::string();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(StrCat(where, ": \"artifactType\" must be a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<Descriptor> ParseDescriptor(const json& j, std::string_view where) {
  if (!j.is_object()) return Invalid(where, "descriptor must be an object");
  Descriptor d;
  d.json = j;
  absl::StatusOr<std::string> mt = GetString(j, "mediaType", where, true);
  if (!mt.ok()) return mt.status();
  d.media_type = *mt;
  absl::StatusOr<std::string> digest = GetString(j, "digest", where, true);
  if (!digest.ok()) return digest.status();
  absl::StatusOr<Digest> parsed = Digest::Parse(*digest);
  if (!parsed.ok()) return Invalid(where, Sv(parsed.status().message()));
  d.digest = *parsed;
  auto size = j.find("size");
  if (size == j.end()) return Invalid(where, "missing \"size\"");
  if (!size->is_number_integer() || size->get<int64_t>() < 0) {
    return Invalid(where, StrCat("\"size\" must be a non-negative integer, got ", size->dump()));
  }
  d.size = size->get<int64_t>();
  if (auto a = j.find("annotations"); a != j.end()) {
    absl::StatusOr<std::map<std::string, std::string>> ann = ParseAnnotations(*a, where);
    if (!ann.ok()) return ann.status();
    d.annotations = *std::move(ann);
  }
  if (auto u = j.find("urls"); u != j.end()) {
    if (!u->is_array()) return Invalid(where, "\"urls\" must be an array");
    d.has_urls = true;
  }
  if (auto p = j.find("platform"); p != j.end()) {
    absl::StatusOr<Platform> platform = ParsePlatformJson(*p, where);
    if (!platform.ok()) return platform.status();
    d.platform = *platform;
  }
  return d;
}

bool IsIndexMediaType(std::string_view media_type) {
  return media_type == kOciIndex || media_type == kDockerList;
}

std::string ContentTypeMediaType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(media.data(), media.size())));
}

namespace {

// The four manifest media types, from a Content-Type with parameters and case ignored.
absl::StatusOr<std::string> ServedMediaType(std::string_view content_type) {
  std::string ct = ContentTypeMediaType(content_type);
  if (ct != kOciManifest && ct != kOciIndex && ct != kDockerManifest && ct != kDockerList) {
    return Invalid("manifest", StrCat("unsupported Content-Type \"", content_type, "\""));
  }
  return ct;
}

absl::StatusOr<json> ParseObject(std::string_view bytes, std::string_view where) {
  absl::StatusOr<json> doc = ParseStrictJson(bytes, kMaxManifestBytes);
  if (!doc.ok()) return Invalid(where, Sv(doc.status().message()));
  if (!doc->is_object()) return Invalid(where, "not a JSON object");
  return doc;
}

// The document's own mediaType, when present, must be the one it was served as.
absl::Status CheckAgreement(const json& doc, std::string_view served) {
  absl::StatusOr<std::string> mt = GetString(doc, "mediaType", "manifest", false);
  if (!mt.ok()) return mt.status();
  if (!mt->empty() && *mt != served) {
    return Invalid("manifest", StrCat("Content-Type \"", served, "\" and mediaType \"", *mt,
                                      "\" disagree"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageManifest> ManifestFromObject(json doc, std::string_view media_type) {
  const std::string where = "manifest";
  if (media_type != kOciManifest && media_type != kDockerManifest) {
    return Invalid(where, StrCat("\"", media_type, "\" is not an image manifest type"));
  }
  if (absl::Status s = CheckSchemaVersion(doc, where); !s.ok()) return s;
  if (absl::Status s = CheckMediaType(doc, media_type, where); !s.ok()) return s;
  if (doc.contains("manifests")) return Invalid(where, "an image manifest has no \"manifests\"");
  ImageManifest m;
  m.media_type = std::string(media_type);
  m.family = media_type == kOciManifest ? Family::kOci : Family::kDocker;
  auto config = doc.find("config");
  if (config == doc.end()) return Invalid(where, "missing \"config\"");
  absl::StatusOr<Descriptor> cd = ParseDescriptor(*config, where + ".config");
  if (!cd.ok()) return cd.status();
  m.config = *std::move(cd);
  absl::StatusOr<std::vector<Descriptor>> layers = ParseDescriptorArray(doc, "layers", where);
  if (!layers.ok()) return layers.status();
  m.layers = *std::move(layers);
  m.json = std::move(doc);
  return m;
}

absl::StatusOr<ImageIndex> IndexFromObject(json doc, std::string_view media_type) {
  const std::string where = "index";
  if (!IsIndexMediaType(media_type)) {
    return Invalid(where, StrCat("\"", media_type, "\" is not an index type"));
  }
  if (absl::Status s = CheckSchemaVersion(doc, where); !s.ok()) return s;
  if (absl::Status s = CheckMediaType(doc, media_type, where); !s.ok()) return s;
  ImageIndex index;
  index.media_type = std::string(media_type);
  index.family = media_type == kOciIndex ? Family::kOci : Family::kDocker;
  absl::StatusOr<std::vector<Descriptor>> children = ParseDescriptorArray(doc, "manifests", where);
  if (!children.ok()) return children.status();
  index.manifests = *std::move(children);
  index.json = std::move(doc);
  return index;
}

}  // namespace

absl::StatusOr<std::string> ClassifyManifest(std::string_view bytes, std::string_view content_type) {
  absl::StatusOr<std::string> served = ServedMediaType(content_type);
  if (!served.ok()) return served.status();
  absl::StatusOr<json> doc = ParseObject(bytes, "manifest");
  if (!doc.ok()) return doc.status();
  if (absl::Status s = CheckAgreement(*doc, *served); !s.ok()) return s;
  return served;
}

absl::StatusOr<ServedManifest> ParseServedManifest(std::string_view bytes,
                                                   std::string_view content_type) {
  absl::StatusOr<std::string> served = ServedMediaType(content_type);
  if (!served.ok()) return served.status();
  absl::StatusOr<json> doc = ParseObject(bytes, "manifest");
  if (!doc.ok()) return doc.status();
  if (absl::Status s = CheckAgreement(*doc, *served); !s.ok()) return s;
  ServedManifest out;
  out.media_type = *served;
  if (IsIndexMediaType(*served)) {
    absl::StatusOr<ImageIndex> index = IndexFromObject(*std::move(doc), *served);
    if (!index.ok()) return index.status();
    out.index = *std::move(index);
  } else {
    absl::StatusOr<ImageManifest> image = ManifestFromObject(*std::move(doc), *served);
    if (!image.ok()) return image.status();
    out.image = *std::move(image);
  }
  return out;
}

absl::StatusOr<ImageManifest> ParseImageManifest(std::string_view bytes,
                                                 std::string_view media_type) {
  if (media_type != kOciManifest && media_type != kDockerManifest) {
    return Invalid("manifest", StrCat("\"", media_type, "\" is not an image manifest type"));
  }
  absl::StatusOr<json> doc = ParseObject(bytes, "manifest");
  if (!doc.ok()) return doc.status();
  return ManifestFromObject(*std::move(doc), media_type);
}

absl::StatusOr<ImageIndex> ParseImageIndex(std::string_view bytes, std::string_view media_type) {
  if (!IsIndexMediaType(media_type)) {
    return Invalid("index", StrCat("\"", media_type, "\" is not an index type"));
  }
  absl::StatusOr<json> doc = ParseObject(bytes, "index");
  if (!doc.ok()) return doc.status();
  return IndexFromObject(*std::move(doc), media_type);
}

absl::StatusOr<Descriptor> SelectPlatform(const ImageIndex& index, const Platform& platform) {
  for (const Descriptor& d : index.manifests) {
    if (!d.platform || d.platform->os != platform.os ||
        d.platform->architecture != platform.architecture) {
      continue;
    }
    if (!platform.variant.empty() && !d.platform->variant.empty() &&
        platform.variant != d.platform->variant) {
      continue;
    }
    // The first match wins, as the runtime's own platform matcher picks it.
    return d;
  }
  return absl::NotFoundError(
      StrCat("index has no manifest for platform ", platform.ToString()));
}

absl::StatusOr<Platform> Platform::Parse(std::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(absl::string_view(text.data(), text.size()), '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
    return absl::InvalidArgumentError(
        StrCat("platform \"", text, "\": want os/architecture[/variant]"));
  }
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return p;
}

Platform Platform::Host() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", "v8"};
#elif defined(__arm__)
  return {"linux", "arm", "v7"};
#elif defined(__s390x__)
  return {"linux", "s390x", ""};
#elif defined(__powerpc64__)
  return {"linux", "ppc64le", ""};
#elif defined(__riscv)
  return {"linux", "riscv64", ""};
#else
  return {"linux", "unknown", ""};
#endif
}

std::string Platform::ToString() const {
  return variant.empty() ? StrCat(os, "/", architecture)
                         : StrCat(os, "/", architecture, "/", variant);
}

}  // namespace layerseal
