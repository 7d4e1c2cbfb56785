// The one mapping between a Verdict (verifier/verdict.h) and its wire forms:
//   - the layerseal.v1.Verdict message (proto/layerseal/v1/verdict.proto): the payload of the
//     agent's events (node-agent/event_record.h) and the CLI's `--output json`;
//   - that message's fields as members of a JSON object under their proto field names
//     ("key_id", "duration_ms": the proto JSON form with preserving_proto_field_names), which
//     the agent's event log and verdict cache put in their lines beside members of their own.
// Names come from the tables of verdict.h, so a value added there is carried everywhere.
// The verifier library itself stays proto-free: this is its own target,
// layerseal_verdict_codec (verifier + proto).
// Thread-safety: pure functions.
#ifndef LAYERSEAL_VERIFIER_VERDICT_CODEC_H_
#define LAYERSEAL_VERIFIER_VERDICT_CODEC_H_

#include "absl/status/statusor.h"
#include "layerseal/v1/verdict.pb.h"
#include "nlohmann/json.hpp"
#include "verifier/verdict.h"

namespace layerseal {

// Every field set; digest "" when the verdict has none, rekor_log_index absent when the
// verdict's is -1 (none).
v1::Verdict VerdictToProto(const Verdict& v);
// The inverse. InvalidArgument naming the field and its text when the verdict, reason or
// mode is not a known name, the digest (when not "") does not parse, duration_ms is not a
// number >= 0 within absl::Duration's finite range, or rekor_log_index is present and
// negative. rekor_log_index absent (a verdict from before the field): -1.
absl::StatusOr<Verdict> VerdictFromProto(const v1::Verdict& p);

// VerdictToProto's fields as JSON members (strings; numbers for the double fields; the
// optional integer rekor_log_index a JSON integer, and only when present).
nlohmann::json VerdictJsonMembers(const Verdict& v);
// The inverse, from an object that may hold other members too (ignored). A member absent is
// the field's default ("" / 0; rekor_log_index: -1), as in proto3 JSON, so lines written
// before a field existed still read; a member of the wrong JSON type is
// InvalidArgument naming it; then as VerdictFromProto. Never throws.
absl::StatusOr<Verdict> VerdictFromJsonMembers(const nlohmann::json& j);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_VERDICT_CODEC_H_
