#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {

bool TimeRange::Contains(absl::Time) const { return false; }
absl::StatusOr<TrustedRoot> TrustedRoot::Parse(std::string_view, std::string_view) { return absl::UnimplementedError("not built yet (issue 17)"); }
absl::StatusOr<TrustedRoot> TrustedRoot::LoadFile(const std::string&) { return absl::UnimplementedError("not built yet (issue 17)"); }
TrustedRoot TrustedRoot::FromParts(std::vector<LogKey> tlogs, std::vector<LogKey> ctlogs,
                                   std::vector<Authority> fulcio, std::vector<Authority> tsas,
                                   std::string sha256) {
  TrustedRoot r;
  r.tlogs_ = std::move(tlogs);
  r.ctlogs_ = std::move(ctlogs);
  r.fulcio_ = std::move(fulcio);
  r.tsas_ = std::move(tsas);
  r.sha256_ = std::move(sha256);
  return r;
}
const LogKey* TrustedRoot::FindTlog(std::string_view) const { return nullptr; }
const LogKey* TrustedRoot::FindCtlog(std::string_view) const { return nullptr; }

}  // namespace layerseal::sigstore
