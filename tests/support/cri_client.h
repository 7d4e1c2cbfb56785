// A CRI client as the kubelet uses it, for tests and benches: blocking unary calls of CRI
// runtime.v1, or runtime.v1alpha2 (whose messages carry every field used here at the v1
// numbers), on a unix socket (the agent's, or the runtime's directly). Each call has its own
// deadline. Pulls name a pod (namespace `ns`, pod "pod-1", uid "uid-1") as the kubelet does.
// Thread-safety: calls may be made from many threads at once (gRPC channels are).
#ifndef LAYERSEAL_TESTS_SUPPORT_CRI_CLIENT_H_
#define LAYERSEAL_TESTS_SUPPORT_CRI_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/status.h>

#include "absl/time/time.h"
#include "k8s/cri/runtime/v1/api.pb.h"

namespace layerseal::testing {

// The largest response accepted (ListImages on a full node; the agent allows as much).
inline constexpr int kCriMaxReceiveBytes = 64 << 20;
inline constexpr absl::Duration kCriPullTimeout = absl::Seconds(120);
inline constexpr absl::Duration kCriCallTimeout = absl::Seconds(60);  // ImageStatus, ...
inline constexpr absl::Duration kCriVersionTimeout = absl::Seconds(10);

// A channel to the unix socket `socket`. `own_connection`: a connection of its own; channels
// with equal arguments otherwise share one (gRPC's global subchannel pool).
std::shared_ptr<grpc::Channel> ConnectCri(const std::string& socket, bool own_connection = false);

struct CriClientOptions {
  std::string api = "v1";  // or "v1alpha2"
  absl::Duration pull_timeout = kCriPullTimeout;
  absl::Duration call_timeout = kCriCallTimeout;  // every call but PullImage and Version
};

class CriClient {
 public:
  explicit CriClient(const std::string& socket, CriClientOptions options = {});
  explicit CriClient(std::shared_ptr<grpc::Channel> channel, CriClientOptions options = {});
  CriClient(const CriClient&) = delete;
  CriClient& operator=(const CriClient&) = delete;

  // PullImage for a pod in namespace `ns`; `image_ref` gets the runtime's image_ref.
  grpc::Status Pull(const std::string& image, std::string* image_ref = nullptr,
                    const std::string& ns = "default");
  // PullImage as the kubelet sends it for a pod: the sandbox metadata names the pod.
  grpc::Status PullForPod(const std::string& image, const std::string& ns, const std::string& pod,
                          const std::string& uid);
  // ImageStatus: the image the runtime reports for `image` (nullopt: absent, or the call
  // failed). `status` gets the call's result; without it a failed call is a test failure.
  std::optional<runtime::v1::Image> Status(const std::string& image,
                                           grpc::Status* status = nullptr);
  // CreateContainer of `image` for a pod in namespace `ns` (sandbox "no-such-sandbox": an
  // admitted call reaches the runtime, which refuses it for the sandbox).
  grpc::Status CreateContainer(const std::string& image, const std::string& ns = "default");
  grpc::Status Version();
  grpc::Status Remove(const std::string& image);  // RemoveImage
  grpc::Status ListImages(std::vector<runtime::v1::Image>* images);

  // Pods and containers that run (issue 18's sweeps need running containers).
  // A pod sandbox as the kubelet asks for one with hostNetwork: true (no CNI needed): its
  // config carries linux.security_context.namespace_options.network = NODE, written as a
  // field outside the CRI subset (PodSandboxConfig keeps only `metadata`: api.proto).
  static runtime::v1::PodSandboxConfig HostNetworkPod(const std::string& ns, const std::string& name,
                                                      const std::string& uid);
  grpc::Status RunPodSandbox(const runtime::v1::PodSandboxConfig& config, std::string* sandbox_id);
  // CreateContainer of `image` named `name` in the sandbox, as the kubelet sends it (the
  // sandbox's config included); `container_id` gets the new container's id.
  grpc::Status CreateContainerIn(const std::string& sandbox_id,
                                 const runtime::v1::PodSandboxConfig& config,
                                 const std::string& image, const std::string& name,
                                 std::string* container_id);
  grpc::Status StartContainer(const std::string& container_id);
  grpc::Status ListContainers(std::vector<runtime::v1::Container>* containers);
  // StopPodSandbox then RemovePodSandbox (its containers go with it).
  grpc::Status RemovePodSandbox(const std::string& sandbox_id);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  enum Method {
    kPull, kStatus, kCreate, kVersion, kRemove, kList,
    kRunPod, kStopPod, kRemovePod, kStart, kListContainers,
    kNumMethods
  };
  template <typename Request, typename Response>
  grpc::Status Call(Method method, const Request& request, Response* response,
                    absl::Duration timeout);

  std::shared_ptr<grpc::Channel> channel_;
  CriClientOptions options_;
  std::vector<std::string> paths_;  // "/runtime.<api>.<Service>/<Method>", by Method
  // Registered on the channel once, as a generated stub does (no per-call path lookup).
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> methods_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_CRI_CLIENT_H_
