#include "verifier/sigstore/dsse.h"

namespace layerseal::sigstore::dsse {

absl::StatusOr<Envelope> ParseEnvelope(const nlohmann::json&, std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
std::string Pae(std::string_view, std::string_view) { return ""; }
absl::StatusOr<Statement> ParseStatement(std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
bool HasSubjectDigest(const Statement&, const Digest&) { return false; }

}  // namespace layerseal::sigstore::dsse
