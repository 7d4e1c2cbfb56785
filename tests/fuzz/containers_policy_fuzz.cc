// Fuzzes ImportContainersPolicy (verifier/policy_import.h, `layerseal policy import`) on
// arbitrary bytes. Files cannot be read (every keyPath/caPath fails) and there is no trusted
// root, so only the JSON walk and inline key data are reached. An import that needs no files
// must load as a policy: the converter never writes YAML the agent would refuse.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/policy.h"
#include "verifier/policy_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  layerseal::ImportOptions options;
  options.read_file = [](const std::string& path, size_t) -> absl::StatusOr<std::string> {
    return absl::NotFoundError(path);
  };
  absl::StatusOr<layerseal::ImportedPolicy> imported =
      layerseal::ImportContainersPolicy(layerseal::fuzz::AsView(data, size), options);
  if (!imported.ok()) {
    FUZZ_CHECK(!imported.status().message().empty());
    return 0;
  }
  if (imported->files.empty()) {
    absl::StatusOr<layerseal::Policy> policy =
        layerseal::Policy::Parse(imported->yaml, "/nonexistent/layerseal-fuzz", "imported.yaml");
    if (!policy.ok()) std::fprintf(stderr, "%s\n%s\n", imported->yaml.c_str(), policy.status().ToString().c_str());
    FUZZ_CHECK(policy.ok());
  }
  return 0;
}
