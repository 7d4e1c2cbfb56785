#include "verifier/internal/config_binding.h"

namespace layerseal::internal {

absl::StatusOr<nlohmann::json> SealConfig(nlohmann::json base, const Digest& manifest_tar,
                                          const Digest& signature_tar) {
  if (!base.is_object()) return absl::InvalidArgumentError("config: not a JSON object");
  auto rootfs = base.find("rootfs");
  if (rootfs == base.end() || !rootfs->is_object()) {
    return absl::InvalidArgumentError("config: missing \"rootfs\" object");
  }
  auto diff_ids = rootfs->find("diff_ids");
  if (diff_ids == rootfs->end() || !diff_ids->is_array()) {
    return absl::InvalidArgumentError("config: \"rootfs.diff_ids\" must be an array");
  }
  diff_ids->push_back(manifest_tar.str());
  diff_ids->push_back(signature_tar.str());
  if (auto history = base.find("history"); history != base.end()) {
    if (!history->is_array()) return absl::InvalidArgumentError("config: \"history\" must be an array");
    history->push_back({{"created_by", "layerseal manifest seal"}});
    history->push_back({{"created_by", "layerseal signature seal"}});
  }
  return base;
}

}  // namespace layerseal::internal
