// Fuzzes ImportNotationTrustPolicy (verifier/policy_import.h, `layerseal policy import
// --notation-trust-policy`) on arbitrary bytes as the trustpolicy.oci.json, over an in-memory
// trust store directory: a store whose name contains "missing" does not exist, "link" holds
// a symlink, "dir" a subdirectory, "empty" nothing, "dots" a file named "..", and every
// other store two files (a.pem and b.der). Invariants: every file written lies under
// truststore/x509/<type>/<store>/ with a plain file name; an import that needs no files
// (skip levels, reject) loads as a policy: the converter never writes YAML layerseal refuses.
#include <cstdio>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/policy.h"
#include "verifier/policy_import.h"

namespace {

absl::StatusOr<std::vector<layerseal::DirEntry>> FuzzListDir(const std::string& dir, size_t) {
  using layerseal::DirEntry;
  std::string store = dir.substr(dir.rfind('/') + 1);
  if (store.find("missing") != std::string::npos) return absl::NotFoundError(dir);
  if (store.find("link") != std::string::npos) return std::vector<DirEntry>{{"a.pem", DirEntry::Type::kSymlink}};
  if (store.find("dir") != std::string::npos) return std::vector<DirEntry>{{"sub", DirEntry::Type::kDirectory}};
  if (store.find("empty") != std::string::npos) return std::vector<DirEntry>{};
  if (store.find("dots") != std::string::npos) return std::vector<DirEntry>{{"..", DirEntry::Type::kFile}};
  return std::vector<DirEntry>{{"b.der", DirEntry::Type::kFile}, {"a.pem", DirEntry::Type::kFile}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  layerseal::NotationImportOptions options;
  options.trust_store = "/fuzz/truststore";
  options.list_dir = FuzzListDir;
  options.read_file = [](const std::string& path, size_t) -> absl::StatusOr<std::string> {
    return "certificate bytes of " + path;
  };
  absl::StatusOr<layerseal::ImportedPolicy> imported =
      layerseal::ImportNotationTrustPolicy(layerseal::fuzz::AsView(data, size), options);
  if (!imported.ok()) {
    FUZZ_CHECK(!imported.status().message().empty());
    return 0;
  }
  for (const layerseal::ImportedFile& f : imported->files) {
    FUZZ_CHECK(f.path.starts_with("truststore/x509/"));
    FUZZ_CHECK(f.path.find("/../") == std::string::npos && f.path.find("/./") == std::string::npos);
    FUZZ_CHECK(f.path.find("//") == std::string::npos && !f.path.ends_with("/"));
    FUZZ_CHECK(f.path.ends_with(".crt") || f.path.ends_with(".pem"));
  }
  if (imported->files.empty()) {
    absl::StatusOr<layerseal::Policy> policy =
        layerseal::Policy::Parse(imported->yaml, "/nonexistent/layerseal-fuzz", "imported.yaml");
    if (!policy.ok()) std::fprintf(stderr, "%s\n%s\n", imported->yaml.c_str(), policy.status().ToString().c_str());
    FUZZ_CHECK(policy.ok());
  }
  return 0;
}
