#include "verifier/sigstore/dsse.h"

#include <cctype>
#include <string>

#include "absl/status/status.h"
#include "base/str_cat.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/json.h"

namespace layerseal::sigstore::dsse {
namespace {

using nlohmann::json;

constexpr std::string_view kStatementV1 = "https://in-toto.io/Statement/v1";
constexpr std::string_view kStatementV01 = "https://in-toto.io/Statement/v0.1";

bool IsHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

absl::StatusOr<Subject> ParseSubject(const json& j, const std::string& path) {
  // An in-toto v1 ResourceDescriptor (v0.1 subjects use name and digest only).
  absl::Status fields = CheckFields(
      j, path, {"name", "digest", "uri", "content", "downloadLocation", "mediaType", "annotations"});
  if (!fields.ok()) return fields;
  Subject s;
  absl::StatusOr<std::string> name = StringMember(j, path, "name", false);
  if (!name.ok()) return name.status();
  s.name = *std::move(name);
  absl::StatusOr<const json*> digest = RequiredMember(j, path, "digest");
  if (!digest.ok()) return digest.status();
  std::string dpath = JoinPath(path, "digest");
  if (!(*digest)->is_object()) return PathError(dpath, "must be an object");
  for (auto it = (*digest)->begin(); it != (*digest)->end(); ++it) {
    std::string vpath = JoinPath(dpath, it.key());
    if (!it->is_string()) return PathError(vpath, "must be a string");
    std::string value = it->get<std::string>();
    // Hex digests are compared in lowercase (the in-toto spec writes them so).
    if (IsHex(value)) {
      for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    s.digest.emplace(it.key(), std::move(value));
  }
  return s;
}

}  // namespace

absl::StatusOr<Envelope> ParseEnvelope(const json& j, std::string_view path) {
  absl::Status fields = CheckFields(j, path, {"payload", "payloadType", "signatures"});
  if (!fields.ok()) return fields;
  Envelope e;
  absl::StatusOr<const json*> payload = RequiredMember(j, path, "payload");
  if (!payload.ok()) return payload.status();
  absl::StatusOr<std::string> bytes = ProtoBytes(**payload, JoinPath(path, "payload"));
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() > kMaxDssePayloadBytes) {
    return absl::ResourceExhaustedError(StrCat(JoinPath(path, "payload"), ": ", bytes->size(),
                                               " bytes, more than the limit of ", kMaxDssePayloadBytes));
  }
  e.payload = *std::move(bytes);
  absl::StatusOr<std::string> type = StringMember(j, path, "payloadType", true);
  if (!type.ok()) return type.status();
  e.payload_type = *std::move(type);
  absl::StatusOr<const json*> sigs = RequiredMember(j, path, "signatures");
  if (!sigs.ok()) return sigs.status();
  std::string spath = JoinPath(path, "signatures");
  if (!(*sigs)->is_array()) return PathError(spath, "must be an array");
  if ((*sigs)->empty()) return PathError(spath, "is empty");
  if ((*sigs)->size() > kMaxEnvelopeSignatures) {
    return absl::ResourceExhaustedError(StrCat(spath, ": ", (*sigs)->size(),
                                               " signatures, more than the limit of ",
                                               kMaxEnvelopeSignatures));
  }
  for (size_t i = 0; i < (*sigs)->size(); ++i) {
    const json& s = (**sigs)[i];
    std::string ipath = StrCat(spath, "[", i, "]");
    absl::Status sf = CheckFields(s, ipath, {"sig", "keyid"});
    if (!sf.ok()) return sf;
    absl::StatusOr<const json*> sig = RequiredMember(s, ipath, "sig");
    if (!sig.ok()) return sig.status();
    Signature out;
    absl::StatusOr<std::string> raw = ProtoBytes(**sig, JoinPath(ipath, "sig"));
    if (!raw.ok()) return raw.status();
    if (raw->empty()) return PathError(JoinPath(ipath, "sig"), "is empty");
    if (raw->size() > kMaxSignatureBytes) {
      return absl::ResourceExhaustedError(StrCat(JoinPath(ipath, "sig"), ": ", raw->size(),
                                                 " bytes, more than the limit of ", kMaxSignatureBytes));
    }
    out.sig = *std::move(raw);
    // "keyid" is the DSSE spelling (all lowercase); no snake_case variant exists.
    absl::StatusOr<std::string> keyid = StringMember(s, ipath, "keyid", false);
    if (!keyid.ok()) return keyid.status();
    out.keyid = *std::move(keyid);
    e.signatures.push_back(std::move(out));
  }
  return e;
}

std::string Pae(std::string_view type, std::string_view body) {
  return StrCat("DSSEv1 ", type.size(), " ", type, " ", body.size(), " ", body);
}

absl::StatusOr<Statement> ParseStatement(std::string_view payload) {
  absl::StatusOr<json> doc = ParseJsonDocument(payload, kMaxDssePayloadBytes, "in-toto statement");
  if (!doc.ok()) return doc.status();
  const json& j = *doc;
  absl::Status fields = CheckFields(j, "", {"_type", "subject", "predicateType", "predicate"});
  if (!fields.ok()) return fields;
  Statement s;
  absl::StatusOr<std::string> type = StringMember(j, "", "_type", true);
  if (!type.ok()) return type.status();
  if (*type != kStatementV1 && *type != kStatementV01) {
    return PathError("_type", StrCat("\"", *type, "\" is not an in-toto Statement v1 or v0.1"));
  }
  s.type = *std::move(type);
  absl::StatusOr<std::string> ptype = StringMember(j, "", "predicateType", true);
  if (!ptype.ok()) return ptype.status();
  s.predicate_type = *std::move(ptype);
  if (const json* pred = Member(j, "predicate"); pred != nullptr && !pred->is_object()) {
    return PathError("predicate", StrCat("must be an object, not ", pred->type_name()));
  }
  absl::StatusOr<const json*> subjects = RequiredMember(j, "", "subject");
  if (!subjects.ok()) return subjects.status();
  if (!(*subjects)->is_array()) return PathError("subject", "must be an array");
  if ((*subjects)->empty()) return PathError("subject", "is empty");
  if ((*subjects)->size() > kMaxInTotoSubjects) {
    return absl::ResourceExhaustedError(StrCat("subject: ", (*subjects)->size(),
                                               " subjects, more than the limit of ", kMaxInTotoSubjects));
  }
  for (size_t i = 0; i < (*subjects)->size(); ++i) {
    absl::StatusOr<Subject> sub = ParseSubject((**subjects)[i], StrCat("subject[", i, "]"));
    if (!sub.ok()) return sub.status();
    s.subjects.push_back(*std::move(sub));
  }
  return s;
}

bool HasSubjectDigest(const Statement& s, const Digest& d) {
  if (d.empty()) return false;
  std::string alg(d.algorithm());
  for (const Subject& sub : s.subjects) {
    auto it = sub.digest.find(alg);
    if (it != sub.digest.end() && it->second == d.hex()) return true;
  }
  return false;
}

}  // namespace layerseal::sigstore::dsse
