// verifier/notation/discovery.h: implementation (issue 20).
#include "verifier/notation/discovery.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "base/str_cat.h"
#include "verifier/strict_json.h"

namespace layerseal::notation {
namespace {

// 64 hex digits (either case), lowercased; nullopt otherwise.
std::optional<std::string> NotationThumbprintHex(const nlohmann::json& j) {
  if (!j.is_string()) return std::nullopt;
  std::string s = j.get<std::string>();
  if (s.size() != 64) return std::nullopt;
  for (char& c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    c = absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return s;
}

}  // namespace

ThumbprintMatch MatchThumbprints(const std::map<std::string, std::string>& annotations,
                                 const std::vector<std::string>& trusted) {
  auto it = annotations.find(std::string(kThumbprintAnnotation));
  if (it == annotations.end()) return ThumbprintMatch::kAbsent;
  if (it->second.size() > kMaxThumbprintAnnotationBytes) return ThumbprintMatch::kMalformed;
  absl::StatusOr<nlohmann::json> list = ParseStrictJson(it->second, kMaxThumbprintAnnotationBytes);
  if (!list.ok() || !list->is_array()) return ThumbprintMatch::kMalformed;
  std::vector<std::string> named;
  named.reserve(list->size());
  for (const nlohmann::json& e : *list) {
    std::optional<std::string> hex = NotationThumbprintHex(e);
    if (!hex) return ThumbprintMatch::kMalformed;
    named.push_back(*std::move(hex));
  }
  for (const std::string& t : trusted) {
    std::string lower = absl::AsciiStrToLower(absl::string_view(t.data(), t.size()));
    if (std::find(named.begin(), named.end(), lower) != named.end()) return ThumbprintMatch::kTrusted;
  }
  return ThumbprintMatch::kUntrusted;
}

absl::StatusOr<CandidateList> ParseSignatureIndex(std::string_view index_bytes,
                                                  std::string_view ct,
                                                  const std::vector<std::string>& trusted_thumbprints,
                                                  bool preselect) {
  // One strict parse of the whole answer: a referrers index may list more entries than an
  // image index may (kMaxDescriptors), so it is read here rather than by ParseServedManifest.
  absl::StatusOr<nlohmann::json> doc = ParseStrictJson(index_bytes, kMaxManifestBytes);
  if (!doc.ok()) {
    return absl::Status(doc.status().code(), StrCat("signature index: ", Sv(doc.status().message())));
  }
  if (!doc->is_object()) return absl::InvalidArgumentError("signature index: not a JSON object");
  std::string served = ContentTypeMediaType(ct);
  if (served != kOciIndex) {
    return absl::InvalidArgumentError(
        StrCat("signature index: Content-Type \"", ct, "\" is not ", kOciIndex));
  }
  if (auto mt = doc->find("mediaType"); mt != doc->end() && (!mt->is_string() || *mt != kOciIndex)) {
    return absl::InvalidArgumentError(
        StrCat("signature index: \"mediaType\" ", mt->dump(), " is not \"", kOciIndex, "\""));
  }
  auto entries = doc->find("manifests");
  if (entries == doc->end()) return absl::InvalidArgumentError("signature index: missing \"manifests\"");
  if (!entries->is_array()) {
    return absl::InvalidArgumentError("signature index: \"manifests\" must be an array");
  }
  CandidateList out;
  std::vector<Candidate> rest;
  for (size_t i = 0; i < entries->size(); ++i) {
    if (i >= kMaxIndexEntries) {
      out.left_out = entries->size() - kMaxIndexEntries;
      break;
    }
    std::string where = StrCat("signature index: manifests[", i, "]");
    absl::StatusOr<Descriptor> d = ParseDescriptor((*entries)[i], where);
    if (!d.ok()) return d.status();
    absl::StatusOr<std::string> at = ArtifactTypeOf((*entries)[i], where);
    if (!at.ok()) return at.status();
    if (!at->empty() && *at != kSignatureArtifactType) continue;  // an SBOM, a cosign bundle, ...
    if (d->media_type != kOciManifest) continue;  // a notation signature is an OCI image manifest
    ThumbprintMatch match = MatchThumbprints(d->annotations, trusted_thumbprints);
    if (preselect && match == ThumbprintMatch::kUntrusted) {
      ++out.skipped_untrusted;
      continue;
    }
    Candidate c{*std::move(d), match, !at->empty()};
    if (match == ThumbprintMatch::kTrusted) {
      out.candidates.push_back(std::move(c));
    } else {
      rest.push_back(std::move(c));
    }
  }
  for (Candidate& c : rest) out.candidates.push_back(std::move(c));
  return out;
}

absl::StatusOr<std::optional<Descriptor>> EnvelopeLayer(const ImageManifest& manifest) {
  absl::StatusOr<std::string> at = ArtifactTypeOf(manifest.json, "signature manifest");
  if (!at.ok()) return at.status();
  // OCI 1.1 signatures say it in artifactType; OCI 1.0 ones (no artifactType) in the config.
  const std::string& says = at->empty() ? manifest.config.media_type : *at;
  if (says != kSignatureArtifactType) return std::optional<Descriptor>();
  if (manifest.layers.size() != 1) {
    return absl::InvalidArgumentError(
        StrCat("signature manifest has ", manifest.layers.size(), " layers, not one envelope"));
  }
  const Descriptor& layer = manifest.layers[0];
  if (layer.media_type != kJwsMediaType && layer.media_type != kCoseMediaType) {
    return absl::InvalidArgumentError(StrCat("signature manifest's layer is a \"", layer.media_type,
                                             "\", not ", kJwsMediaType, " or ", kCoseMediaType));
  }
  if (layer.size > static_cast<int64_t>(kMaxEnvelopeBytes)) {
    return absl::ResourceExhaustedError(StrCat("signature envelope ", layer.digest.str(), " is ",
                                               layer.size, " bytes, over ", kMaxEnvelopeBytes));
  }
  return std::optional<Descriptor>(layer);
}

std::map<std::string, std::string> ManifestAnnotations(const ImageManifest& manifest) {
  std::map<std::string, std::string> out;
  if (!manifest.json.is_object()) return out;
  auto a = manifest.json.find("annotations");
  if (a == manifest.json.end() || !a->is_object()) return out;
  for (auto it = a->begin(); it != a->end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

}  // namespace layerseal::notation
