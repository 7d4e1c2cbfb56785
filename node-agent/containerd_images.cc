#include "node-agent/containerd_images.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/algorithm/container.h"
#include "absl/time/clock.h"
#include "base/clock.h"
#include "node-agent/containerd_status.h"
#include "containerd/services/images/v1/images.grpc.pb.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "base/str_cat.h"

namespace layerseal::agent {

namespace images = ::containerd::services::images::v1;

class ContainerdImageRecorder::Client {
 public:
  explicit Client(std::shared_ptr<grpc::Channel> channel)
      : stub_(images::Images::NewStub(channel)),
        cri_(::runtime::v1::ImageService::NewStub(std::move(channel))) {}

  // The CRI plugin's own view of `name` (no namespace header: the CRI plugin has its own).
  grpc::Status CriStatus(const std::string& name, ::runtime::v1::ImageStatusResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(kImageRecordTimeout));
    ::runtime::v1::ImageStatusRequest req;
    req.mutable_image()->set_image(name);
    return cri_->ImageStatus(&ctx, req, out);
  }

  grpc::Status Get(const std::string& name, images::Image* out) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    images::GetImageRequest req;
    req.set_name(name);
    images::GetImageResponse resp;
    grpc::Status s = stub_->Get(&ctx, req, &resp);
    if (s.ok() && !resp.has_image()) return grpc::Status(grpc::StatusCode::NOT_FOUND, name);
    *out = resp.image();
    return s;
  }

  grpc::Status Create(const images::Image& image) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    images::CreateImageRequest req;
    *req.mutable_image() = image;
    images::CreateImageResponse resp;
    return stub_->Create(&ctx, req, &resp);
  }

  // Replaces the target and the CRI label only (other labels of the record stay).
  grpc::Status UpdateTarget(const images::Image& image) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    images::UpdateImageRequest req;
    *req.mutable_image() = image;
    req.mutable_update_mask()->add_paths("target");
    req.mutable_update_mask()->add_paths(StrCat("labels.", kCriImageLabel));
    images::UpdateImageResponse resp;
    return stub_->Update(&ctx, req, &resp);
  }

 private:
  static void Prepare(grpc::ClientContext* ctx) {
    ctx->AddMetadata("containerd-namespace", std::string(kCriNamespace));
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(kImageRecordTimeout));
  }
  std::unique_ptr<images::Images::Stub> stub_;
  std::unique_ptr<::runtime::v1::ImageService::Stub> cri_;
};

telemetry::Family<telemetry::Counter>* AddRuntimeTagsMetric(telemetry::MetricsRegistry& metrics) {
  return metrics.AddCounter(
      "layerseal_runtime_tags_total",
      "Verified pulls of a tag whose image was named by the tag in the runtime (named), "
      "could not be (error), or the runtime has no containerd images API (unsupported).",
      {"result"});
}

ContainerdImageRecorder::ContainerdImageRecorder(std::shared_ptr<grpc::Channel> runtime,
                                                 telemetry::Logger* logger,
                                                 telemetry::Family<telemetry::Counter>* outcomes)
    : client_(std::make_unique<Client>(std::move(runtime))), logger_(logger), outcomes_(outcomes) {}

ContainerdImageRecorder::~ContainerdImageRecorder() = default;

absl::Status ContainerdImageRecorder::NameTag(const Reference& tag, const Reference& pinned) {
  if (!supported_.load()) {
    return absl::UnimplementedError("the runtime has no containerd images API");
  }
  absl::Status s = Name(tag, pinned);
  if (s.ok() && !AwaitVisible(tag, pinned)) {
    outcomes_->WithLabels({"unseen"}).Increment();
    logger_->Warn("named the verified image by its tag, but the runtime's CRI plugin did not "
                  "show it in time: a ListImages now may miss the tag",
                  {{"tag", tag.ToString()}, {"image", pinned.ToString()},
                   {"waited", absl::FormatDuration(kTagVisibleTimeout)}});
  } else if (s.ok()) {
    outcomes_->WithLabels({"named"}).Increment();
  } else if (s.code() == absl::StatusCode::kUnimplemented) {
    outcomes_->WithLabels({"unsupported"}).Increment();
    if (supported_.exchange(false)) {  // once
      logger_->Warn("the runtime has no containerd images API (CRI-O?): tags pulled by the "
                    "verified digest are known to the agent only until it restarts",
                    {{"error", std::string(Sv(s.message()))}});
    }
  } else {
    outcomes_->WithLabels({"error"}).Increment();
    logger_->Warn("cannot name the verified image by its tag in the runtime",
                  {{"tag", tag.ToString()}, {"image", pinned.ToString()},
                   {"error", std::string(Sv(s.message()))}});
  }
  return s;
}

// The record `tag` gets the target of the record `pinned`, which the CRI plugin wrote when
// it pulled the verified digest: so the tag can only ever name verified content.
absl::Status ContainerdImageRecorder::Name(const Reference& tag, const Reference& pinned) {
  images::Image source;
  if (grpc::Status s = client_->Get(pinned.ToString(), &source); !s.ok()) {
    return FromContainerd(s, StrCat("images API, get ", pinned.ToString()));
  }
  if (source.target().digest() != pinned.digest->str()) {
    return absl::FailedPreconditionError(
        StrCat("containerd's record ", pinned.ToString(), " targets ", source.target().digest(),
               ", not the verified digest"));
  }
  images::Image named;
  named.set_name(tag.ToString());
  *named.mutable_target() = source.target();
  (*named.mutable_labels())[std::string(kCriImageLabel)] = std::string(kCriImageLabelValue);
  grpc::Status created = client_->Create(named);
  if (created.ok()) return absl::OkStatus();
  if (created.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
    return FromContainerd(created, StrCat("images API, create ", tag.ToString()));
  }
  if (grpc::Status s = client_->UpdateTarget(named); !s.ok()) {
    return FromContainerd(s, StrCat("images API, update ", tag.ToString()));
  }
  return absl::OkStatus();
}

// Polls with a doubling pause: the CRI plugin applies the image event within milliseconds.
// The bound is on the monotonic clock (base/clock.h), like every deadline in the agent.
bool ContainerdImageRecorder::AwaitVisible(const Reference& tag, const Reference& pinned) {
  const std::string name = tag.ToString();
  const std::string repo_digest = pinned.ToString();
  const Clock& clock = SystemClock();
  const absl::Duration give_up = clock.Monotonic() + kTagVisibleTimeout;
  absl::Duration pause = kTagVisibleFirstPause;
  while (true) {
    ::runtime::v1::ImageStatusResponse status;
    grpc::Status s = client_->CriStatus(name, &status);
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return true;  // no CRI v1 here
    // The tag must show the new image: before the event, ImageStatus(tag) may still show
    // the image the tag named before (or none).
    if (s.ok() && status.has_image() && absl::c_linear_search(status.image().repo_tags(), name) &&
        absl::c_linear_search(status.image().repo_digests(), repo_digest)) {
      return true;
    }
    if (clock.Monotonic() + pause > give_up) return false;
    absl::SleepFor(pause);
    pause = std::min(pause * 2, kTagVisibleMaxPause);
  }
}

}  // namespace layerseal::agent
