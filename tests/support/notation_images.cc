#include "tests/support/notation_images.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/support/push.h"

namespace layerseal::testing {
namespace {

using nlohmann::ordered_json;

absl::StatusOr<std::string> ReadNotationFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot open ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The artifact type a registry lists a signature manifest under: its artifactType, else its
// config's mediaType.
std::string ListedArtifactType(const ordered_json& m) {
  if (m.contains("artifactType") && m["artifactType"].is_string()) return m["artifactType"].get<std::string>();
  if (m.contains("config") && m["config"].is_object()) return m["config"].value("mediaType", "");
  return "";
}

std::map<std::string, std::string> AnnotationsOf(const ordered_json& m) {
  std::map<std::string, std::string> out;
  if (!m.contains("annotations") || !m["annotations"].is_object()) return out;
  for (const auto& [k, v] : m["annotations"].items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

ordered_json EntryOf(const TestImage& signature, NotationEntry entries) {
  ordered_json d;
  d["mediaType"] = signature.media_type;
  d["digest"] = signature.digest.str();
  d["size"] = signature.manifest.size();
  if (entries == NotationEntry::kFull) {
    ordered_json m = ordered_json::parse(signature.manifest);
    d["artifactType"] = ListedArtifactType(m);
    if (m.contains("annotations")) d["annotations"] = m["annotations"];
  }
  return d;
}

TestImage IndexOf(ordered_json manifests) {
  TestImage index;
  index.media_type = std::string(kOciIndexMediaType);
  ordered_json i;
  i["schemaVersion"] = 2;
  i["mediaType"] = index.media_type;
  i["manifests"] = std::move(manifests);
  SetManifest(index, i.dump());
  return index;
}

}  // namespace

absl::StatusOr<NotationEnvelope> LoadNotationFixture(const std::string& out, const std::string& target,
                                                     const std::string& name) {
  const std::string base = StrCat(out, "/", target, "/", name);
  absl::StatusOr<std::string> bytes = ReadNotationFile(base + ".sig");
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::string> meta_text = ReadNotationFile(base + ".json");
  if (!meta_text.ok()) return meta_text.status();
  nlohmann::json meta = nlohmann::json::parse(*meta_text, nullptr, false);
  if (!meta.is_object() || !meta.contains("mediaType") || !meta["mediaType"].is_string() ||
      !meta.contains("thumbprints") || !meta["thumbprints"].is_array()) {
    return absl::InvalidArgumentError(StrCat(base, ".json: want an object with mediaType and thumbprints"));
  }
  NotationEnvelope e;
  e.bytes = *std::move(bytes);
  e.media_type = meta["mediaType"].get<std::string>();
  for (const auto& t : meta["thumbprints"]) {
    if (!t.is_string()) return absl::InvalidArgumentError(StrCat(base, ".json: a thumbprint is not a string"));
    e.thumbprints.push_back(t.get<std::string>());
  }
  return e;
}

std::string NotationThumbprintAnnotation(const std::vector<std::string>& thumbprints) {
  return nlohmann::json(thumbprints).dump();
}

TestImage MakeNotationSignature(const CosignSubject& subject, const NotationEnvelope& envelope, NotationForm form,
                                const std::map<std::string, std::string>& annotations) {
  std::map<std::string, std::string> a = annotations;
  a.emplace(std::string(kNotationThumbprints), NotationThumbprintAnnotation(envelope.thumbprints));
  a.emplace("org.opencontainers.image.created", "2026-01-01T00:00:00Z");
  ordered_json subject_json;
  subject_json["mediaType"] = subject.media_type;
  subject_json["digest"] = subject.digest.str();
  subject_json["size"] = subject.size;
  if (form == NotationForm::kOci11) {
    return MakeReferrerArtifact(subject_json, std::string(kNotationArtifactType), envelope.media_type,
                                envelope.bytes, a);
  }
  // OCI 1.0: the artifact type is the config's media type, the config still the empty `{}`.
  TestImage image;
  image.media_type = std::string(kOciManifestMediaType);
  ordered_json m;
  m["schemaVersion"] = 2;
  m["mediaType"] = image.media_type;
  m["config"] = AddBlob(image, kNotationArtifactType, "{}");
  m["layers"] = ordered_json::array({AddBlob(image, envelope.media_type, envelope.bytes)});
  m["subject"] = subject_json;
  ordered_json ann = ordered_json::object();
  for (const auto& [k, v] : a) ann[k] = v;
  m["annotations"] = ann;
  SetManifest(image, m.dump());
  return image;
}

TestImage MakeNotationFallbackIndex(const std::vector<TestImage>& signatures, NotationEntry entries) {
  ordered_json manifests = ordered_json::array();
  for (const TestImage& s : signatures) manifests.push_back(EntryOf(s, entries));
  TestImage index = IndexOf(std::move(manifests));
  for (const TestImage& s : signatures) {
    index.children[s.digest.str()] = {s.media_type, s.manifest};
    for (const auto& [digest, bytes] : s.blobs) index.blobs[digest] = bytes;
  }
  return index;
}

absl::Status AttachNotationSignature(registry::RegistryClient& client, const Reference& repo, const Digest& subject,
                                     const TestImage& signature, NotationEntry entries) {
  if (absl::Status s = PushReferrer(client, repo, signature); !s.ok()) return s;
  const Reference tag = repo.WithTag(CosignFallbackTag(subject));
  ordered_json manifests = ordered_json::array();
  absl::StatusOr<FetchedManifest> existing = client.FetchManifest(tag, 4 << 20);
  if (existing.ok()) {
    ordered_json i = ordered_json::parse(existing->bytes, nullptr, false);
    if (!i.is_object() || !i.contains("manifests") || !i["manifests"].is_array()) {
      return absl::InvalidArgumentError(StrCat("the fallback index ", tag.ToString(), " is not an OCI index"));
    }
    manifests = i["manifests"];
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  manifests.push_back(EntryOf(signature, entries));
  TestImage index = IndexOf(std::move(manifests));
  absl::StatusOr<Digest> put = client.PutManifest(tag, index.media_type, index.manifest);
  return put.ok() ? absl::OkStatus() : put.status();
}

void AddNotationReferrer(ReferrersRegistry& registry, const std::string& repository, const Digest& subject,
                         const TestImage& signature) {
  ordered_json m = ordered_json::parse(signature.manifest);
  registry.AddReferrer(repository, subject, signature, ListedArtifactType(m), AnnotationsOf(m));
}

}  // namespace layerseal::testing
