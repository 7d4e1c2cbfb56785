// Fuzzes Policy::Parse (YAML). Keys come inline (pem:); key paths point into a directory that
// does not exist, so they fail without touching the machine's files. An accepted policy must
// resolve references.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<layerseal::Policy> policy = layerseal::Policy::Parse(
      layerseal::fuzz::AsView(data, size), "/nonexistent/layerseal-fuzz", "fuzz.yaml");
  if (!policy.ok()) return 0;
  FUZZ_CHECK(!policy->version().empty());
  for (std::string_view r : {"nginx", "registry.example.com/team/app:1.0", "a.example.org/x/y"}) {
    absl::StatusOr<layerseal::Reference> ref = layerseal::Reference::Parse(r);
    FUZZ_CHECK(ref.ok());
    const layerseal::ScopePolicy& scope = policy->Resolve(*ref);
    // issue 18 (s25-inspect): the integrity rules parse into a consistent whole.
    const layerseal::IntegrityRules& rules = scope.integrity;
    FUZZ_CHECK(rules.trusted_bases.size() <= layerseal::kMaxTrustedBases);
    FUZZ_CHECK((rules.protected_paths == nullptr) == rules.protected_path_patterns.empty());
    FUZZ_CHECK(rules.empty() || scope.requirement != layerseal::Requirement::kReject);
    for (const layerseal::TrustedBase& b : rules.trusted_bases) {
      FUZZ_CHECK(b.chain_id.has_value() != b.reference.has_value());
      FUZZ_CHECK(!b.reference || b.reference->digest.has_value());
    }
    FUZZ_CHECK(rules.Fingerprint().starts_with("sha256:"));
  }
  return 0;
}
