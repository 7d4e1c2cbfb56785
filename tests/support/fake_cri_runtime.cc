#include "tests/support/fake_cri_runtime.h"

#include <condition_variable>
#include <set>
#include <utility>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "base/str_cat.h"

namespace layerseal::testing {

namespace cri = ::runtime::v1;

// Both services over one state (a class per service, as gRPC's generated bases want).
class FakeCriRuntime::Impl {
 public:
  struct State {
    std::vector<cri::Image> images;
    std::vector<cri::PodSandbox> pods;
    std::vector<cri::Container> containers;
    std::map<std::string, cri::ContainerStatus> statuses;
    std::map<std::string, grpc::Status> failures;
    std::vector<cri::StopContainerRequest> stops;
    std::map<std::string, int> calls;
  };

  class Images final : public cri::ImageService::Service {
   public:
    explicit Images(Impl* s) : s_(s) {}
    grpc::Status ListImages(grpc::ServerContext*, const cri::ListImagesRequest*,
                            cri::ListImagesResponse* response) override {
      std::unique_lock<std::mutex> lock(s_->mu_);
      if (grpc::Status f = s_->Count(lock, "ListImages"); !f.ok()) return f;
      for (const cri::Image& i : s_->state_.images) *response->add_images() = i;
      return grpc::Status::OK;
    }

   private:
    Impl* s_;
  };

  class Runtime final : public cri::RuntimeService::Service {
   public:
    explicit Runtime(Impl* s) : s_(s) {}
    grpc::Status ListPodSandbox(grpc::ServerContext*, const cri::ListPodSandboxRequest*,
                                cri::ListPodSandboxResponse* response) override {
      std::unique_lock<std::mutex> lock(s_->mu_);
      if (grpc::Status f = s_->Count(lock, "ListPodSandbox"); !f.ok()) return f;
      for (const cri::PodSandbox& p : s_->state_.pods) *response->add_items() = p;
      return grpc::Status::OK;
    }
    grpc::Status ListContainers(grpc::ServerContext*, const cri::ListContainersRequest* request,
                                cri::ListContainersResponse* response) override {
      std::unique_lock<std::mutex> lock(s_->mu_);
      if (grpc::Status f = s_->Count(lock, "ListContainers"); !f.ok()) return f;
      for (const cri::Container& c : s_->state_.containers) {
        if (request->filter().has_state() && c.state() != request->filter().state().state()) continue;
        *response->add_containers() = c;
      }
      return grpc::Status::OK;
    }
    grpc::Status ContainerStatus(grpc::ServerContext*, const cri::ContainerStatusRequest* request,
                                 cri::ContainerStatusResponse* response) override {
      std::unique_lock<std::mutex> lock(s_->mu_);
      if (grpc::Status f = s_->Count(lock, "ContainerStatus"); !f.ok()) return f;
      auto it = s_->state_.statuses.find(request->container_id());
      if (it == s_->state_.statuses.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, StrCat("no container ", request->container_id()));
      }
      *response->mutable_status() = it->second;
      return grpc::Status::OK;
    }
    grpc::Status StopContainer(grpc::ServerContext*, const cri::StopContainerRequest* request,
                               cri::StopContainerResponse*) override {
      std::unique_lock<std::mutex> lock(s_->mu_);
      if (grpc::Status f = s_->Count(lock, "StopContainer"); !f.ok()) return f;
      s_->state_.stops.push_back(*request);
      for (cri::Container& c : s_->state_.containers) {
        if (c.id() == request->container_id()) c.set_state(cri::CONTAINER_EXITED);
      }
      return grpc::Status::OK;
    }

   private:
    Impl* s_;
  };

  // Counts a call of `method`, waits while the method is held, and returns its configured
  // failure, if any.
  grpc::Status Count(std::unique_lock<std::mutex>& lock, const std::string& method) {
    ++state_.calls[method];
    released_.wait(lock, [&] { return held_.count(method) == 0; });
    auto it = state_.failures.find(method);
    return it == state_.failures.end() ? grpc::Status::OK : it->second;
  }

  std::mutex mu_;
  std::condition_variable released_;
  std::set<std::string> held_;
  State state_;
  Images images_{this};
  Runtime runtime_{this};
};

absl::StatusOr<std::unique_ptr<FakeCriRuntime>> FakeCriRuntime::Start(const std::string& socket) {
  std::unique_ptr<FakeCriRuntime> f(new FakeCriRuntime());
  f->socket_ = socket;
  f->service_ = std::make_unique<Impl>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(StrCat("unix:", socket), grpc::InsecureServerCredentials());
  builder.SetMaxSendMessageSize(256 << 20);
  builder.RegisterService(&f->service_->images_);
  builder.RegisterService(&f->service_->runtime_);
  f->server_ = builder.BuildAndStart();
  if (f->server_ == nullptr) return absl::UnavailableError(StrCat("cannot listen on ", socket));
  return f;
}

FakeCriRuntime::~FakeCriRuntime() {
  Release();
  if (server_) server_->Shutdown();
}

void FakeCriRuntime::Hold(const std::string& method) {
  std::lock_guard<std::mutex> lock(service_->mu_);
  service_->held_.insert(method);
}

void FakeCriRuntime::Release() {
  {
    std::lock_guard<std::mutex> lock(service_->mu_);
    service_->held_.clear();
  }
  service_->released_.notify_all();
}

void FakeCriRuntime::SetImages(std::vector<cri::Image> images) {
  std::lock_guard<std::mutex> lock(service_->mu_);
  service_->state_.images = std::move(images);
}

void FakeCriRuntime::SetPods(std::vector<cri::PodSandbox> pods) {
  std::lock_guard<std::mutex> lock(service_->mu_);
  service_->state_.pods = std::move(pods);
}

void FakeCriRuntime::SetContainers(std::vector<cri::Container> containers) {
  std::lock_guard<std::mutex> lock(service_->mu_);
  service_->state_.containers = std::move(containers);
}

void FakeCriRuntime::SetContainerStatus(const std::string& id, cri::ContainerStatus status) {
  std::lock_guard<std::mutex> lock(service_->mu_);
  service_->state_.statuses[id] = std::move(status);
}

void FakeCriRuntime::FailCalls(const std::string& method, grpc::Status status) {
  std::lock_guard<std::mutex> lock(service_->mu_);
  if (status.ok()) {
    service_->state_.failures.erase(method);
  } else {
    service_->state_.failures[method] = std::move(status);
  }
}

std::vector<cri::StopContainerRequest> FakeCriRuntime::stops() const {
  std::lock_guard<std::mutex> lock(service_->mu_);
  return service_->state_.stops;
}

int FakeCriRuntime::calls(const std::string& method) const {
  std::lock_guard<std::mutex> lock(service_->mu_);
  auto it = service_->state_.calls.find(method);
  return it == service_->state_.calls.end() ? 0 : it->second;
}

}  // namespace layerseal::testing
