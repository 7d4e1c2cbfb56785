#include "verifier/sigstore/simple_signing.h"

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/json.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::json;

// The members of these documents are spelled exactly (Go encoding/json structs with tags, not
// protojson): no snake_case alternative, so they are looked up with find().
absl::Status OnlyMembers(const json& j, std::string_view path, std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) return PathError(path, StrCat("must be an object, not ", j.type_name()));
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (std::string_view a : allowed) known = known || it.key() == a;
    if (!known) return PathError(JoinPath(path, it.key()), "unknown member");
  }
  return absl::OkStatus();
}

absl::StatusOr<const json*> Exact(const json& j, std::string_view path, std::string_view name) {
  auto it = j.find(std::string(name));
  if (it == j.end()) return PathError(JoinPath(path, name), "missing");
  return &*it;
}

absl::StatusOr<std::string> ExactString(const json& j, std::string_view path, std::string_view name) {
  absl::StatusOr<const json*> m = Exact(j, path, name);
  if (!m.ok()) return m.status();
  if (!(*m)->is_string()) return PathError(JoinPath(path, name), "must be a string");
  return (*m)->get<std::string>();
}

absl::StatusOr<int64_t> ExactInt(const json& j, std::string_view path, std::string_view name) {
  absl::StatusOr<const json*> m = Exact(j, path, name);
  if (!m.ok()) return m.status();
  std::string p = JoinPath(path, name);
  if (!(*m)->is_number_integer()) return PathError(p, "must be an integer");
  if ((*m)->is_number_unsigned() && (*m)->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return PathError(p, "does not fit an int64");
  }
  int64_t v = (*m)->get<int64_t>();
  if (v < 0) return PathError(p, StrCat(v, " is negative"));
  return v;
}

}  // namespace

absl::StatusOr<SimpleSigning> ParseSimpleSigning(std::string_view bytes) {
  absl::StatusOr<json> doc = ParseJsonDocument(bytes, kMaxSimpleSigningBytes, "simple-signing payload");
  if (!doc.ok()) return doc.status();
  const json& j = *doc;
  if (absl::Status s = OnlyMembers(j, "simple-signing payload", {"critical", "optional"}); !s.ok()) return s;
  if (auto opt = j.find("optional"); opt != j.end() && !opt->is_null() && !opt->is_object()) {
    return PathError("optional", "must be an object or null");
  }
  absl::StatusOr<const json*> critical = Exact(j, "", "critical");
  if (!critical.ok()) return critical.status();
  const json& c = **critical;
  if (absl::Status s = OnlyMembers(c, "critical", {"identity", "image", "type"}); !s.ok()) return s;
  SimpleSigning out;
  absl::StatusOr<std::string> type = ExactString(c, "critical", "type");
  if (!type.ok()) return type.status();
  if (*type != kCosignSignatureType) {
    return PathError("critical.type", StrCat("\"", *type, "\" is not \"", kCosignSignatureType, "\""));
  }
  out.type = *std::move(type);
  absl::StatusOr<const json*> image = Exact(c, "critical", "image");
  if (!image.ok()) return image.status();
  if (absl::Status s = OnlyMembers(**image, "critical.image", {"docker-manifest-digest"}); !s.ok()) return s;
  absl::StatusOr<std::string> digest = ExactString(**image, "critical.image", "docker-manifest-digest");
  if (!digest.ok()) return digest.status();
  absl::StatusOr<Digest> parsed = Digest::Parse(*digest);
  if (!parsed.ok()) {
    return PathError("critical.image.docker-manifest-digest", Sv(parsed.status().message()));
  }
  out.manifest_digest = *parsed;
  absl::StatusOr<const json*> identity = Exact(c, "critical", "identity");
  if (!identity.ok()) return identity.status();
  if (absl::Status s = OnlyMembers(**identity, "critical.identity", {"docker-reference"}); !s.ok()) return s;
  absl::StatusOr<std::string> ref = ExactString(**identity, "critical.identity", "docker-reference");
  if (!ref.ok()) return ref.status();
  out.docker_reference = *std::move(ref);
  return out;
}

absl::StatusOr<LegacySet> ParseCosignBundleAnnotation(std::string_view text) {
  std::string where = StrCat(kAnnBundle, " annotation");
  absl::StatusOr<json> doc = ParseJsonDocument(text, kMaxCosignAnnotationBytes, where);
  if (!doc.ok()) return doc.status();
  const json& j = *doc;
  if (absl::Status s = OnlyMembers(j, where, {"SignedEntryTimestamp", "Payload"}); !s.ok()) return s;
  LegacySet out;
  absl::StatusOr<std::string> set = ExactString(j, where, "SignedEntryTimestamp");
  if (!set.ok()) return set.status();
  absl::StatusOr<std::string> set_raw = Base64Decode(*set);
  if (!set_raw.ok() || set_raw->empty()) {
    return PathError(JoinPath(where, "SignedEntryTimestamp"), "is not non-empty standard base64");
  }
  out.set = *std::move(set_raw);
  absl::StatusOr<const json*> payload = Exact(j, where, "Payload");
  if (!payload.ok()) return payload.status();
  std::string ppath = JoinPath(where, "Payload");
  const json& p = **payload;
  if (absl::Status s = OnlyMembers(p, ppath, {"body", "integratedTime", "logIndex", "logID"}); !s.ok()) return s;
  absl::StatusOr<std::string> body = ExactString(p, ppath, "body");
  if (!body.ok()) return body.status();
  absl::StatusOr<std::string> body_raw = Base64Decode(*body);
  if (!body_raw.ok() || body_raw->empty()) {
    return PathError(JoinPath(ppath, "body"), "is not non-empty standard base64");
  }
  out.body = *std::move(body_raw);
  absl::StatusOr<int64_t> time = ExactInt(p, ppath, "integratedTime");
  if (!time.ok()) return time.status();
  out.integrated_time = *time;
  absl::StatusOr<int64_t> index = ExactInt(p, ppath, "logIndex");
  if (!index.ok()) return index.status();
  out.log_index = *index;
  absl::StatusOr<std::string> log_id = ExactString(p, ppath, "logID");
  if (!log_id.ok()) return log_id.status();
  if (log_id->empty() || log_id->size() % 2 != 0 || log_id->size() > 128) {
    return PathError(JoinPath(ppath, "logID"), "is not a hex log id");
  }
  std::optional<std::string> raw = HexDecode(*log_id);
  if (!raw) return PathError(JoinPath(ppath, "logID"), "is not a hex log id");
  out.log_id = *std::move(raw);
  return out;
}

}  // namespace layerseal::sigstore
