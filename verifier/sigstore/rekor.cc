#include "verifier/sigstore/rekor.h"

namespace layerseal::sigstore {

absl::StatusOr<EntryBody> ParseEntryBody(const TlogEntry&) { return absl::UnimplementedError("not built yet (issue 17)"); }
std::string SetPayload(const TlogEntry&) { return ""; }
absl::Status VerifySet(const TlogEntry&, const LogKey&) { return absl::UnimplementedError("not built yet (issue 17)"); }
std::string LeafHash(std::string_view) { return ""; }
absl::Status VerifyInclusion(std::string_view, uint64_t, uint64_t, const std::vector<std::string>&,
                             std::string_view) {
  return absl::UnimplementedError("not built yet (issue 17)");
}

}  // namespace layerseal::sigstore
