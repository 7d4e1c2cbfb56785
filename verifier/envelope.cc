#include "verifier/envelope.h"

#include <array>

#include "base/str_cat.h"
#include "verifier/manifest.h"

namespace layerseal {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> kMembers = {
    "schemaVersion", "type", "manifestDigest", "algorithm", "keyId", "signature"};

absl::Status Bad(std::string_view member, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("signature envelope: \"", member, "\" ", why));
}

absl::StatusOr<std::string> StringMember(const json& doc, std::string_view member) {
  const json& v = doc.at(member);
  if (!v.is_string()) return Bad(member, StrCat("must be a string, not ", v.type_name()));
  return v.get<std::string>();
}

// A "sha256:<64 lowercase hex>" value; sha512 is valid in descriptors but not here.
absl::StatusOr<Digest> Sha256Member(const json& doc, std::string_view member) {
  absl::StatusOr<std::string> text = StringMember(doc, member);
  if (!text.ok()) return text.status();
  absl::StatusOr<Digest> d = Digest::Parse(*text);
  if (!d.ok() || d->algorithm() != "sha256") {
    return Bad(member, "must be \"sha256:\" followed by 64 lowercase hex digits");
  }
  return d;
}

absl::Status CheckMembers(const json& doc) {
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    bool known = false;
    for (std::string_view m : kMembers) known = known || it.key() == m;
    if (!known) return Bad(it.key(), "is not a member of layerseal.signature.v1");
  }
  for (std::string_view m : kMembers) {
    if (!doc.contains(m)) return Bad(m, "is missing");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Envelope> ParseEnvelope(std::string_view text) {
  absl::StatusOr<json> doc = ParseStrictJson(text, kMaxEnvelopeBytes);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(StrCat("signature envelope: ", Sv(doc.status().message())));
  }
  if (!doc->is_object()) return absl::InvalidArgumentError("signature envelope: not a JSON object");
  if (absl::Status s = CheckMembers(*doc); !s.ok()) return s;

  const json& version = doc->at("schemaVersion");
  if (!version.is_number_integer() || version.get<int64_t>() != 1) {
    return Bad("schemaVersion", StrCat("must be the integer 1, got ", version.dump()));
  }
  absl::StatusOr<std::string> type = StringMember(*doc, "type");
  if (!type.ok()) return type.status();
  if (*type != kEnvelopeType) return Bad("type", StrCat("must be \"", kEnvelopeType, "\""));

  Envelope e;
  absl::StatusOr<Digest> md = Sha256Member(*doc, "manifestDigest");
  if (!md.ok()) return md.status();
  e.manifest_digest = *md;
  absl::StatusOr<std::string> algorithm = StringMember(*doc, "algorithm");
  if (!algorithm.ok()) return algorithm.status();
  absl::StatusOr<Algorithm> alg = ParseAlgorithm(*algorithm);
  if (!alg.ok()) return Bad("algorithm", Sv(alg.status().message()));
  e.algorithm = *alg;
  absl::StatusOr<Digest> key_id = Sha256Member(*doc, "keyId");
  if (!key_id.ok()) return key_id.status();
  e.key_id = key_id->str();
  absl::StatusOr<std::string> sig_text = StringMember(*doc, "signature");
  if (!sig_text.ok()) return sig_text.status();
  absl::StatusOr<std::string> sig = Base64Decode(*sig_text);
  if (!sig.ok()) return Bad("signature", Sv(sig.status().message()));
  if (sig->empty()) return Bad("signature", "is empty");
  e.signature = *std::move(sig);
  return e;
}

std::string SerializeEnvelope(const Envelope& e) {
  nlohmann::ordered_json doc;
  doc["schemaVersion"] = 1;
  doc["type"] = kEnvelopeType;
  doc["manifestDigest"] = e.manifest_digest.str();
  doc["algorithm"] = AlgorithmName(e.algorithm);
  doc["keyId"] = e.key_id;
  doc["signature"] = Base64Encode(e.signature);
  return doc.dump();
}

}  // namespace layerseal
