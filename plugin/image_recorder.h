// The seam through which the gates make the runtime know a verified image under the tag the
// kubelet pulled. The gates pull repository@digest (the verified digest), so the runtime
// alone would never learn the tag: ImageStatus(tag) after an agent restart would say
// "absent", `crictl images` would show <none>, RemoveImage(tag) would delete nothing.
// node-agent/containerd_images.h implements it with containerd's images API; unit tests
// fake it.
#ifndef LAYERSEAL_PLUGIN_IMAGE_RECORDER_H_
#define LAYERSEAL_PLUGIN_IMAGE_RECORDER_H_

#include "absl/status/status.h"
#include "verifier/reference.h"

namespace layerseal::plugin {

// Thread-safety: NameTag is called concurrently from the gates' workers.
class ImageRecorder {
 public:
  virtual ~ImageRecorder() = default;
  // Called only after a VERIFIED ALLOW for `tag` (a reference with a tag, no digest) and a
  // successful pull of `pinned` (= tag's repository @ the verified digest) by the runtime:
  // names the image the runtime holds as `pinned` also `tag`, replacing what `tag` named.
  // Blocks for a local call to the runtime. An error leaves the runtime as it was; the
  // gates then answer ImageStatus(tag) from their own memory until the agent restarts
  // (the implementation logs and counts errors; the gates ignore them).
  virtual absl::Status NameTag(const Reference& tag, const Reference& pinned) = 0;
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_IMAGE_RECORDER_H_
