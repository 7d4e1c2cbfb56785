#include "verifier/sigstore/checkpoint.h"

namespace layerseal::sigstore {

absl::StatusOr<Checkpoint> ParseCheckpoint(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
absl::Status VerifyCheckpoint(const Checkpoint&, const LogKey&, bool) { return absl::UnimplementedError("not built yet (issue 17)"); }

}  // namespace layerseal::sigstore
