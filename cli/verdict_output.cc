#include "cli/verdict_output.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "base/str_cat.h"
#include "cli/terminal.h"
#include "verifier/verdict_codec.h"

namespace layerseal::cli {

std::string VerdictJson(const Verdict& v) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing a message we just built cannot fail; an empty object would be the worst case.
  if (!google::protobuf::util::MessageToJsonString(VerdictToProto(v), &out, options).ok()) out = "{}";
  return JsonTerminalSafe(out);
}

std::string VerdictText(const Verdict& v) {
  char took[32];
  std::snprintf(took, sizeof took, "%.1f ms", absl::ToDoubleMilliseconds(v.duration));
  // The reference, detail, keyId and scope can hold what a registry or policy file says.
  std::string out = StrCat(DecisionName(v.decision), " ", TerminalSafe(v.reference), ": ",
                           ReasonName(v.reason), ": ", TerminalSafe(v.detail), "\n");
  if (v.manifest_digest) out += StrCat("  digest  ", v.manifest_digest->str(), "\n");
  if (!v.key_id.empty()) out += StrCat("  key     ", TerminalSafe(v.key_id), "\n");
  out += StrCat("  policy  ", TerminalSafe(v.policy_version), " (scope \"", TerminalSafe(v.scope),
                "\", ", ModeName(v.mode), ")\n");
  out += StrCat("  took    ", took, "\n");
  return out;
}

}  // namespace layerseal::cli
