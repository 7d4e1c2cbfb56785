#include "verifier/verdict_codec.h"

#include <cmath>
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
  v.decision = *decision;
  v.reason = *reason;
  v.mode = *mode;
  v.reference = p.reference();
  v.detail = p.detail();
  v.key_id = p.key_id();
  v.policy_version = p.policy_version();
  v.scope = p.scope();
  v.duration = absl::Milliseconds(p.duration_ms());
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
    }
  }
  return VerdictFromProto(p);
}

}  // namespace layerseal
