#include "verifier/verdict_codec.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "base/str_cat.h"

namespace layerseal {
namespace {

using google::protobuf::FieldDescriptor;

absl::Status FieldError(std::string_view field, const absl::Status& s) {
  return absl::InvalidArgumentError(StrCat("verdict field ", field, ": ", Sv(s.message())));
}

}  // namespace

v1::Verdict VerdictToProto(const Verdict& v) {
  v1::Verdict p;
  p.set_reference(v.reference);
  if (v.manifest_digest) p.set_digest(v.manifest_digest->str());
  p.set_verdict(std::string(DecisionName(v.decision)));
  p.set_reason(std::string(ReasonName(v.reason)));
  p.set_detail(v.detail);
  p.set_key_id(v.key_id);
  p.set_policy_version(v.policy_version);
  p.set_scope(v.scope);
  p.set_mode(std::string(ModeName(v.mode)));
  p.set_duration_ms(absl::ToDoubleMilliseconds(v.duration));
  p.set_signer_kind(v.signer_kind);
  p.set_signer_issuer(v.signer_issuer);
  p.set_signer_subject(v.signer_subject);
  if (v.rekor_log_index >= 0) p.set_rekor_log_index(v.rekor_log_index);  // absent: none
  p.set_rekor_log_id(v.rekor_log_id);
  return p;
}

absl::StatusOr<Verdict> VerdictFromProto(const v1::Verdict& p) {
  Verdict v;
  absl::StatusOr<Decision> decision = ParseDecision(p.verdict());
  if (!decision.ok()) return FieldError("verdict", decision.status());
  absl::StatusOr<Reason> reason = ParseReason(p.reason());
  if (!reason.ok()) return FieldError("reason", reason.status());
  absl::StatusOr<Mode> mode = ParseMode(p.mode());
  if (!mode.ok()) return FieldError("mode", mode.status());
  if (!p.digest().empty()) {
    absl::StatusOr<Digest> digest = Digest::Parse(p.digest());
    if (!digest.ok()) return FieldError("digest", digest.status());
    v.manifest_digest = *std::move(digest);
  }
  // Beyond absl::Duration's range (~2.9e14 s) Milliseconds() is infinite, which no encoder
  // could write back: refused like NaN.
  if (!std::isfinite(p.duration_ms()) || p.duration_ms() < 0 ||
      absl::Milliseconds(p.duration_ms()) == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(StrCat("verdict field duration_ms: ", p.duration_ms(),
                                             " is not a finite number of milliseconds >= 0"));
  }
  // Absent is "none" (-1 here); a negative index on the wire is no index at all.
  if (p.has_rekor_log_index() && p.rekor_log_index() < 0) {
    return absl::InvalidArgumentError(StrCat("verdict field rekor_log_index: ",
                                             p.rekor_log_index(), " is negative"));
  }
  v.decision = *decision;
  v.reason = *reason;
  v.mode = *mode;
  v.reference = p.reference();
  v.detail = p.detail();
  v.key_id = p.key_id();
  v.policy_version = p.policy_version();
  v.scope = p.scope();
  v.duration = absl::Milliseconds(p.duration_ms());
  v.signer_kind = p.signer_kind();
  v.signer_issuer = p.signer_issuer();
  v.signer_subject = p.signer_subject();
  v.rekor_log_index = p.has_rekor_log_index() ? p.rekor_log_index() : -1;
  v.rekor_log_id = p.rekor_log_id();
  return v;
}

// By reflection over the message, so the members are exactly the proto's fields.
nlohmann::json VerdictJsonMembers(const Verdict& v) {
  v1::Verdict p = VerdictToProto(v);
  const google::protobuf::Reflection& r = *p.GetReflection();
  const google::protobuf::Descriptor& d = *p.GetDescriptor();
  nlohmann::json j = nlohmann::json::object();
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor* f = d.field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) j[f->name()] = r.GetString(p, f);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) j[f->name()] = r.GetDouble(p, f);
    // An optional integer (rekor_log_index) is a member only when present, as in proto3
    // JSON; a JSON number, exact for every int64 in nlohmann::json.
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 && r.HasField(p, f)) {
      j[f->name()] = r.GetInt64(p, f);
    }
    // layerseal.v1.Verdict has no other field types (verdict_codec_test checks).
  }
  return j;
}

absl::StatusOr<Verdict> VerdictFromJsonMembers(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("a verdict must be a JSON object");
  v1::Verdict p;
  const google::protobuf::Reflection& r = *p.GetReflection();
  const google::protobuf::Descriptor& d = *p.GetDescriptor();
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor* f = d.field(i);
    auto it = j.find(f->name());
    if (it == j.end()) continue;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (!it->is_string()) {
        return absl::InvalidArgumentError(StrCat("verdict member \"", f->name(), "\" is not a string"));
      }
      r.SetString(&p, f, it->get<std::string>());
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
      if (!it->is_number()) {
        return absl::InvalidArgumentError(StrCat("verdict member \"", f->name(), "\" is not a number"));
      }
      r.SetDouble(&p, f, it->get<double>());
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
      // A JSON integer (not 1.5, not "7"); an unsigned one above INT64_MAX does not fit.
      if (!it->is_number_integer() ||
          (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
        return absl::InvalidArgumentError(
            StrCat("verdict member \"", f->name(), "\" is not an integer within int64"));
      }
      r.SetInt64(&p, f, it->get<int64_t>());
    }
  }
  return VerdictFromProto(p);
}

}  // namespace layerseal
