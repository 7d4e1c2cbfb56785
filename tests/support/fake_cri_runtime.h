// An in-process CRI runtime (runtime.v1) on a unix socket that serves what a sweep asks of
// the runtime (node-agent/sweep.h): ListImages, ListPodSandbox, ListContainers (with the
// state filter), ContainerStatus and StopContainer, from state the test sets. A narrow seam
// for unit tests and benches of the sweep only: behaviour that crosses containerd is tested
// against the real one (tests/integration/sweep_e2e_test.cc).
// Thread-safety: every method may be called from any thread, concurrently with calls.
// Ownership: owns its server; stopped by the destructor.
#ifndef LAYERSEAL_TESTS_SUPPORT_FAKE_CRI_RUNTIME_H_
#define LAYERSEAL_TESTS_SUPPORT_FAKE_CRI_RUNTIME_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"

namespace layerseal::testing {

class FakeCriRuntime {
 public:
  // Listens on `socket` (a path).
  static absl::StatusOr<std::unique_ptr<FakeCriRuntime>> Start(const std::string& socket);
  ~FakeCriRuntime();

  const std::string& socket() const { return socket_; }

  // The state served (replaced whole).
  void SetImages(std::vector<::runtime::v1::Image> images);
  void SetPods(std::vector<::runtime::v1::PodSandbox> pods);
  void SetContainers(std::vector<::runtime::v1::Container> containers);
  // What ContainerStatus answers for `id` (others: NOT_FOUND).
  void SetContainerStatus(const std::string& id, ::runtime::v1::ContainerStatus status);
  // Every call of `method` ("ListImages", "StopContainer", ...) fails with `status` (OK: none).
  void FailCalls(const std::string& method, grpc::Status status);

  // Calls of `method` wait (after being counted) until Release().
  void Hold(const std::string& method);
  void Release();

  // StopContainer requests received; a stopped container is CONTAINER_EXITED afterwards.
  std::vector<::runtime::v1::StopContainerRequest> stops() const;
  // Calls received of `method` ("ListImages", ...).
  int calls(const std::string& method) const;

 private:
  class Impl;
  FakeCriRuntime() = default;
  std::string socket_;
  std::unique_ptr<Impl> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_FAKE_CRI_RUNTIME_H_
