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
  if (std::string signer = SignerText(VerdictToProto(v)); !signer.empty()) {
    out += StrCat("  signer  ", TerminalSafe(signer), "\n");
  }
  out += StrCat("  policy  ", TerminalSafe(v.policy_version), " (scope \"", TerminalSafe(v.scope),
                "\", ", ModeName(v.mode), ")\n");
  out += StrCat("  took    ", took, "\n");
  return out;
}

std::string ShortDigest(const std::string& digest) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos || digest.size() <= colon + 1 + kShortDigestHex) return digest;
  return digest.substr(0, colon + 1 + kShortDigestHex);
}

std::string SignerText(const v1::Verdict& v) {
  std::string who;
  if (v.signer_kind() == "cosign-keyless") {
    who = StrCat(v.signer_subject(), " (", v.signer_issuer(), ")");
  } else if (v.signer_kind() == "notation" && !v.signer_subject().empty()) {
    // The leaf certificate's subject DN and its issuer's, as keyless signers are named.
    who = StrCat(v.signer_subject(), " (", v.signer_issuer(), ")");
  } else if (!v.signer_kind().empty()) {
    who = StrCat(v.signer_kind(), " ", ShortDigest(v.key_id()));
  }
  if (!who.empty() && v.has_rekor_log_index()) who += StrCat(" rekor#", v.rekor_log_index());
  return who;
}

}  // namespace layerseal::cli
