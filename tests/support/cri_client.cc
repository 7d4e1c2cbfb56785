#include "tests/support/cri_client.h"

#include <chrono>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"  // grpc::protobuf and its serialization traits

namespace layerseal::testing {

namespace cri = ::runtime::v1;

std::shared_ptr<grpc::Channel> ConnectCri(const std::string& socket, bool own_connection) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kCriMaxReceiveBytes);
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(StrCat("unix:", socket), grpc::InsecureChannelCredentials(),
                                   args);
}

CriClient::CriClient(const std::string& socket, CriClientOptions options)
    : CriClient(ConnectCri(socket), std::move(options)) {}

CriClient::CriClient(std::shared_ptr<grpc::Channel> channel, CriClientOptions options)
    : channel_(std::move(channel)), options_(std::move(options)) {
  static constexpr std::string_view kNames[kNumMethods] = {
      "ImageService/PullImage",       "ImageService/ImageStatus", "RuntimeService/CreateContainer",
      "RuntimeService/Version",       "ImageService/RemoveImage", "ImageService/ListImages",
      "RuntimeService/RunPodSandbox", "RuntimeService/StopPodSandbox",
      "RuntimeService/RemovePodSandbox", "RuntimeService/StartContainer",
      "RuntimeService/ListContainers"};
  for (std::string_view name : kNames) paths_.push_back(StrCat("/runtime.", options_.api, ".", name));
  for (const std::string& path : paths_) {  // paths_ no longer moves: the methods keep c_str()
    methods_.push_back(std::make_unique<grpc::internal::RpcMethod>(
        path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel_));
  }
}

template <typename Request, typename Response>
grpc::Status CriClient::Call(Method method, const Request& request, Response* response,
                             absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return grpc::internal::BlockingUnaryCall<Request, Response, grpc::protobuf::MessageLite,
                                           grpc::protobuf::MessageLite>(
      channel_.get(), *methods_[method], &ctx, request, response);
}

grpc::Status CriClient::Pull(const std::string& image, std::string* image_ref,
                             const std::string& ns) {
  cri::PullImageRequest request;
  request.mutable_image()->set_image(image);
  cri::PodSandboxMetadata* pod = request.mutable_sandbox_config()->mutable_metadata();
  pod->set_namespace_(ns);
  pod->set_name("pod-1");
  pod->set_uid("uid-1");
  cri::PullImageResponse response;
  grpc::Status s = Call(kPull, request, &response, options_.pull_timeout);
  if (image_ref != nullptr) *image_ref = response.image_ref();
  return s;
}

grpc::Status CriClient::PullForPod(const std::string& image, const std::string& ns,
                                   const std::string& pod, const std::string& uid) {
  cri::PullImageRequest request;
  request.mutable_image()->set_image(image);
  cri::PodSandboxMetadata* metadata = request.mutable_sandbox_config()->mutable_metadata();
  metadata->set_namespace_(ns);
  metadata->set_name(pod);
  metadata->set_uid(uid);
  cri::PullImageResponse response;
  return Call(kPull, request, &response, options_.pull_timeout);
}

std::optional<cri::Image> CriClient::Status(const std::string& image, grpc::Status* status) {
  cri::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  cri::ImageStatusResponse response;
  grpc::Status s = Call(kStatus, request, &response, options_.call_timeout);
  if (status != nullptr) *status = s;
  EXPECT_TRUE(status != nullptr || s.ok()) << "ImageStatus " << image << ": " << s.error_message();
  if (!s.ok() || !response.has_image()) return std::nullopt;
  return response.image();
}

grpc::Status CriClient::CreateContainer(const std::string& image, const std::string& ns) {
  cri::CreateContainerRequest request;
  request.set_pod_sandbox_id("no-such-sandbox");
  request.mutable_config()->mutable_metadata()->set_name("c");
  request.mutable_config()->mutable_image()->set_image(image);
  request.mutable_sandbox_config()->mutable_metadata()->set_namespace_(ns);
  cri::CreateContainerResponse response;
  return Call(kCreate, request, &response, options_.call_timeout);
}

grpc::Status CriClient::Version() {
  cri::VersionRequest request;
  request.set_version(options_.api);
  cri::VersionResponse response;
  return Call(kVersion, request, &response, kCriVersionTimeout);
}

grpc::Status CriClient::Remove(const std::string& image) {
  cri::RemoveImageRequest request;
  request.mutable_image()->set_image(image);
  cri::RemoveImageResponse response;
  return Call(kRemove, request, &response, options_.call_timeout);
}

grpc::Status CriClient::ListImages(std::vector<cri::Image>* images) {
  cri::ListImagesResponse response;
  grpc::Status s = Call(kList, cri::ListImagesRequest(), &response, options_.call_timeout);
  images->assign(response.images().begin(), response.images().end());
  return s;
}

cri::PodSandboxConfig CriClient::HostNetworkPod(const std::string& ns, const std::string& name,
                                                const std::string& uid) {
  cri::PodSandboxConfig config;
  cri::PodSandboxMetadata* m = config.mutable_metadata();
  m->set_namespace_(ns);
  m->set_name(name);
  m->set_uid(uid);
  // Upstream field 8, linux: LinuxPodSandboxConfig{security_context(2):
  // LinuxSandboxSecurityContext{namespace_options(1): NamespaceOption{network(1): NODE(2)}}},
  // kept by the parser as an unknown field and written back as is.
  const std::string linux_host_network("\x42\x06\x12\x04\x0a\x02\x08\x02", 8);
  std::string wire = config.SerializeAsString() + linux_host_network;
  EXPECT_TRUE(config.ParseFromString(wire));
  return config;
}

grpc::Status CriClient::RunPodSandbox(const cri::PodSandboxConfig& config, std::string* sandbox_id) {
  cri::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  cri::RunPodSandboxResponse response;
  grpc::Status s = Call(kRunPod, request, &response, options_.pull_timeout);  // pulls the pause image
  *sandbox_id = response.pod_sandbox_id();
  return s;
}

grpc::Status CriClient::CreateContainerIn(const std::string& sandbox_id,
                                          const cri::PodSandboxConfig& config,
                                          const std::string& image, const std::string& name,
                                          std::string* container_id) {
  cri::CreateContainerRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  request.mutable_config()->mutable_metadata()->set_name(name);
  request.mutable_config()->mutable_image()->set_image(image);
  *request.mutable_sandbox_config() = config;
  cri::CreateContainerResponse response;
  grpc::Status s = Call(kCreate, request, &response, options_.call_timeout);
  *container_id = response.container_id();
  return s;
}

grpc::Status CriClient::StartContainer(const std::string& container_id) {
  cri::StartContainerRequest request;
  request.set_container_id(container_id);
  cri::StartContainerResponse response;
  return Call(kStart, request, &response, options_.call_timeout);
}

grpc::Status CriClient::ListContainers(std::vector<cri::Container>* containers) {
  cri::ListContainersResponse response;
  grpc::Status s = Call(kListContainers, cri::ListContainersRequest(), &response, options_.call_timeout);
  containers->assign(response.containers().begin(), response.containers().end());
  return s;
}

grpc::Status CriClient::RemovePodSandbox(const std::string& sandbox_id) {
  cri::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(sandbox_id);
  cri::StopPodSandboxResponse stopped;
  grpc::Status s = Call(kStopPod, stop, &stopped, options_.call_timeout);
  if (!s.ok()) return s;
  cri::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(sandbox_id);
  cri::RemovePodSandboxResponse removed;
  return Call(kRemovePod, remove, &removed, options_.call_timeout);
}

}  // namespace layerseal::testing
