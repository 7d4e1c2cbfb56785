// Fuzzes the verdict codec's readers (verifier/verdict_codec.h): a JSON object's verdict
// members (as the agent's verdict cache reads its file) and the binary layerseal.v1.Verdict.
// Whatever decodes must encode and decode again to the same verdict.
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"
#include "verifier/verdict_codec.h"

namespace {

using layerseal::Verdict;

bool Same(const Verdict& a, const Verdict& b) {
  return a.decision == b.decision && a.reason == b.reason && a.mode == b.mode &&
         a.detail == b.detail && a.reference == b.reference &&
         a.manifest_digest.has_value() == b.manifest_digest.has_value() &&
         (!a.manifest_digest || *a.manifest_digest == *b.manifest_digest) && a.key_id == b.key_id &&
         a.policy_version == b.policy_version && a.scope == b.scope &&
         a.signer_kind == b.signer_kind && a.signer_issuer == b.signer_issuer &&
         a.signer_subject == b.signer_subject && a.rekor_log_index == b.rekor_log_index &&
         a.rekor_log_id == b.rekor_log_id;
}

void CheckRoundTrip(const Verdict& v) {
  absl::StatusOr<Verdict> via_proto = layerseal::VerdictFromProto(layerseal::VerdictToProto(v));
  FUZZ_CHECK(via_proto.ok());
  FUZZ_CHECK(Same(*via_proto, v));
  absl::StatusOr<Verdict> via_json = layerseal::VerdictFromJsonMembers(layerseal::VerdictJsonMembers(v));
  FUZZ_CHECK(via_json.ok());
  FUZZ_CHECK(Same(*via_json, v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = layerseal::fuzz::AsView(data, size);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (absl::StatusOr<Verdict> v = layerseal::VerdictFromJsonMembers(j); v.ok()) CheckRoundTrip(*v);
  layerseal::v1::Verdict p;
  if (p.ParseFromArray(data, static_cast<int>(size))) {
    if (absl::StatusOr<Verdict> v = layerseal::VerdictFromProto(p); v.ok()) CheckRoundTrip(*v);
  }
  return 0;
}
