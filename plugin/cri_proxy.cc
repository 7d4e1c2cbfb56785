// The CriProxy's setup (listeners, message limits, shutdown) and the InterceptedCall
// resolution shared by every call. The calls themselves are driven by the completion-queue
// engine, plugin/internal/queue_proxy.{h,cc} (the only engine since issue 16: the callback
// engine it replaced was slower, docs/performance.md "Node agent", and every fix had to be
// made in both).
#include "plugin/cri_proxy.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/time/time.h"
#include "plugin/errors.h"
#include "plugin/internal/listeners.h"
#include "plugin/internal/metadata.h"
#include "plugin/internal/queue_proxy.h"
#include "base/str_cat.h"

namespace layerseal::plugin {

using internal::CopyMetadata;

InterceptedCall::InterceptedCall(InterceptedCall&& other) noexcept
    : method_(other.method_),
      request_(std::move(other.request_)),
      context_(other.context_),
      resolver_(std::exchange(other.resolver_, nullptr)) {}

InterceptedCall::~InterceptedCall() {
  if (resolver_ != nullptr) {
    Fail(DroppedCall(method_));
  }
}

void InterceptedCall::PrepareUpstreamContext(grpc::ClientContext* upstream) const {
  const grpc::ServerContextBase& context = this->context();
  upstream->set_deadline(context.raw_deadline());
  CopyMetadata(context.client_metadata(),
               [upstream](std::string k, std::string v) { upstream->AddMetadata(k, v); });
}

void InterceptedCall::Forward(grpc::ByteBuffer request) {
  std::exchange(resolver_, nullptr)->Forward(std::move(request));
}

void InterceptedCall::ForwardForReview(grpc::ByteBuffer request, ResponseReview review) {
  std::exchange(resolver_, nullptr)->ForwardForReview(std::move(request), std::move(review));
}

void InterceptedCall::Reply(grpc::ByteBuffer response) {
  std::exchange(resolver_, nullptr)->Reply(grpc::Status::OK, &response);
}

void InterceptedCall::Fail(const grpc::Status& status) {
  std::exchange(resolver_, nullptr)->Reply(status, nullptr);
}

CriProxy::CriProxy() = default;

CriProxy::~CriProxy() {
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kShutdownGrace);
  if (queue_) queue_->Stop(server_.get(), deadline);  // the server first, then the queue
  server_.reset();
  queue_.reset();
}

std::shared_ptr<grpc::Channel> CreateUpstreamChannel(const std::string& upstream_path) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  const int backoff_ms = static_cast<int>(absl::ToInt64Milliseconds(kMaxReconnectBackoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(backoff_ms, 100));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(backoff_ms, 100));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_ms);
  return grpc::CreateCustomChannel(StrCat("unix:", upstream_path),
                                   grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<std::unique_ptr<CriProxy>> CriProxy::Start(CriProxyOptions options) {
  if (options.listen_path.empty() || (options.upstream_path.empty() && !options.upstream)) {
    return absl::InvalidArgumentError(
        "CriProxy: listen_path and upstream_path (or upstream) are required");
  }
  std::shared_ptr<grpc::Channel> upstream = options.upstream
                                                ? std::move(options.upstream)
                                                : CreateUpstreamChannel(options.upstream_path);
  std::unique_ptr<CriProxy> proxy(new CriProxy());
  proxy->restriction_ = std::make_unique<internal::Restriction>(
      options.restricted_methods, !options.restricted_listen_paths.empty());
  grpc::ServerBuilder builder;
  std::vector<std::string> paths = {options.listen_path};
  paths.insert(paths.end(), options.restricted_listen_paths.begin(),
               options.restricted_listen_paths.end());
  std::vector<int> bound(paths.size(), 0);
  for (size_t i = 0; i < paths.size(); ++i) {
    builder.AddListeningPort(StrCat("unix:", paths[i]),
                             i == 0 ? grpc::InsecureServerCredentials()
                                    : internal::Restriction::ListenerCredentials(),
                             &bound[i]);
  }
  proxy->queue_ = std::make_unique<internal::QueueProxy>(
      std::move(upstream), options.interceptor, options.observer, proxy->restriction_.get(),
      builder);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  proxy->server_ = builder.BuildAndStart();
  auto unbound = std::find(bound.begin(), bound.end(), 0);
  if (proxy->server_ == nullptr || unbound != bound.end()) {
    proxy->queue_->Stop(proxy->server_.get(), std::chrono::system_clock::now());
    proxy->server_.reset();
    const std::string& path = unbound != bound.end() ? paths[unbound - bound.begin()] : paths[0];
    return absl::UnavailableError(StrCat("CriProxy: cannot listen on unix:", path));
  }
  proxy->queue_->Start();
  return proxy;
}

}  // namespace layerseal::plugin
