// The ImageRecorder (plugin/image_recorder.h) for containerd: after a verified pull, the
// image record `tag` is created (or updated) through containerd's images API
// (containerd.services.images.v1.Images, on the runtime socket, namespace k8s.io) with the
// target descriptor of the record `repository@verified-digest` that the CRI plugin has just
// written, and the CRI plugin's label io.cri-containerd.image=managed, as containerd 1.6's
// own CRI pull does (pkg/cri/server/image_pull.go, createImageReference). The CRI plugin
// learns the record from containerd's image events and answers for the tag from then on:
// ImageStatus, ListImages (repo_tags), RemoveImage(tag), also after an agent restart.
// It learns it asynchronously, so NameTag then waits (at most kTagVisibleTimeout) until the
// CRI plugin's ImageStatus(tag) shows the verified image: a ListImages right after the
// pull answered must already list the tag, as it would without the agent.
//
// A runtime without the images API (CRI-O) answers UNIMPLEMENTED: the recorder then stops
// trying (logged once, counted), and tags live in the gates' memory only (docs/agent.md).
//
// Thread-safety: NameTag may be called concurrently. Ownership: borrows the logger and the
// counter family, which must outlive it; shares the channel.
#ifndef LAYERSEAL_NODE_AGENT_CONTAINERD_IMAGES_H_
#define LAYERSEAL_NODE_AGENT_CONTAINERD_IMAGES_H_

#include <atomic>
#include <memory>
#include <string_view>

#include "absl/time/time.h"
#include "plugin/image_recorder.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace layerseal::agent {

// The containerd namespace of the CRI plugin's images.
inline constexpr std::string_view kCriNamespace = "k8s.io";
// The CRI plugin's label for images it manages (containerd pkg/cri/server/helpers.go).
inline constexpr std::string_view kCriImageLabel = "io.cri-containerd.image";
inline constexpr std::string_view kCriImageLabelValue = "managed";
// Deadline of each images API call (a local socket).
inline constexpr absl::Duration kImageRecordTimeout = absl::Seconds(10);
// How long NameTag waits for the CRI plugin to show the tag it named (typically a few ms),
// and the first and largest pause between two looks.
inline constexpr absl::Duration kTagVisibleTimeout = absl::Seconds(5);
inline constexpr absl::Duration kTagVisibleFirstPause = absl::Milliseconds(1);
inline constexpr absl::Duration kTagVisibleMaxPause = absl::Milliseconds(50);

// Defines layerseal_runtime_tags_total in `metrics`: the recorder's `outcomes`.
telemetry::Family<telemetry::Counter>* AddRuntimeTagsMetric(telemetry::MetricsRegistry& metrics);

class ContainerdImageRecorder final : public plugin::ImageRecorder {
 public:
  // `outcomes`: a counter family with one label, "result": "named", "error", "unsupported",
  // "unseen" (named, but the CRI plugin did not show it within kTagVisibleTimeout).
  ContainerdImageRecorder(std::shared_ptr<grpc::Channel> runtime, telemetry::Logger* logger,
                          telemetry::Family<telemetry::Counter>* outcomes);
  ~ContainerdImageRecorder() override;

  absl::Status NameTag(const Reference& tag, const Reference& pinned) override;
  // False once the runtime answered UNIMPLEMENTED (not containerd).
  bool supported() const { return supported_.load(); }

 private:
  class Client;
  absl::Status Name(const Reference& tag, const Reference& pinned);
  // Whether the CRI plugin's ImageStatus(tag) shows `pinned` under `tag`, waiting for it.
  // True also when the runtime has no CRI v1 ImageStatus to ask (nothing to wait for).
  bool AwaitVisible(const Reference& tag, const Reference& pinned);
  std::unique_ptr<Client> client_;
  telemetry::Logger* logger_;
  telemetry::Family<telemetry::Counter>* outcomes_;
  std::atomic<bool> supported_{true};
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_CONTAINERD_IMAGES_H_
