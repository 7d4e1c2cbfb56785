// Fuzzes the image-integrity rules' config step (verifier/image_integrity.h
// ParseConfigDiffIds): an image config read strictly for rootfs.type and rootfs.diff_ids,
// then the ChainIDs the trusted-base rule compares (issue 18, helper s25-inspect).
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "tests/fuzz/fuzz_check.h"
#include "verifier/image_integrity.h"
#include "verifier/layers/chain_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::vector<layerseal::Digest>> ids =
      layerseal::ParseConfigDiffIds(layerseal::fuzz::AsView(data, size));
  if (!ids.ok()) {
    FUZZ_CHECK(!ids.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(size <= layerseal::kMaxImageConfigBytes);
  FUZZ_CHECK(ids->size() <= layerseal::kMaxIntegrityLayers);
  for (const layerseal::Digest& d : *ids) FUZZ_CHECK(d.algorithm() == "sha256");
  // The same list written out again parses to itself.
  std::string again = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[";
  for (size_t i = 0; i < ids->size(); ++i) {
    again += layerseal::StrCat(i == 0 ? "" : ",", "\"", (*ids)[i].str(), "\"");
  }
  again += "]}}";
  absl::StatusOr<std::vector<layerseal::Digest>> round = layerseal::ParseConfigDiffIds(again);
  FUZZ_CHECK(round.ok() && *round == *ids);
  if (ids->empty()) return 0;
  // Every valid list has ChainIDs; the first is the first diff_id, every one matches its base.
  absl::StatusOr<std::vector<layerseal::Digest>> chain = layerseal::layers::ChainIds(*ids);
  FUZZ_CHECK(chain.ok() && chain->size() == ids->size());
  FUZZ_CHECK((*chain)[0] == (*ids)[0]);
  std::optional<size_t> k = layerseal::layers::MatchBase(*ids, chain->back());
  FUZZ_CHECK(k.has_value() && (*chain)[*k] == chain->back());
  return 0;
}
