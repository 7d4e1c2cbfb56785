#include "verifier/layers/chain_id.h"

#include "base/str_cat.h"

namespace layerseal::layers {

absl::StatusOr<std::vector<Digest>> ChainIds(const std::vector<Digest>& diff_ids) {
  if (diff_ids.empty()) return absl::InvalidArgumentError("chain id: the diff_id list is empty");
  std::vector<Digest> out;
  out.reserve(diff_ids.size());
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    if (diff_ids[i].empty()) {
      return absl::InvalidArgumentError(StrCat("chain id: diff_id ", i, " is empty"));
    }
    if (i == 0) {
      out.push_back(diff_ids[0]);
    } else {
      out.push_back(Digest::Sha256Of(StrCat(out.back().str(), " ", diff_ids[i].str())));
    }
  }
  return out;
}

absl::StatusOr<Digest> ChainId(const std::vector<Digest>& diff_ids) {
  absl::StatusOr<std::vector<Digest>> all = ChainIds(diff_ids);
  if (!all.ok()) return all.status();
  return all->back();
}

std::optional<size_t> MatchBase(const std::vector<Digest>& diff_ids, const Digest& base) {
  if (base.empty()) return std::nullopt;
  absl::StatusOr<std::vector<Digest>> all = ChainIds(diff_ids);
  if (!all.ok()) return std::nullopt;
  for (size_t i = 0; i < all->size(); ++i) {
    if ((*all)[i] == base) return i;
  }
  return std::nullopt;
}

}  // namespace layerseal::layers
