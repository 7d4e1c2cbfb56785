// A containerd gRPC answer as an absl::Status: the same code, and a message naming the call
// ("containerd <what>: <containerd's message>"). Shared by the agent's containerd clients
// (containerd_images.h, containerd_content.h). Stateless; safe from any thread.
#ifndef LAYERSEAL_NODE_AGENT_CONTAINERD_STATUS_H_
#define LAYERSEAL_NODE_AGENT_CONTAINERD_STATUS_H_

#include <string_view>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "base/str_cat.h"

namespace layerseal::agent {

inline absl::Status FromContainerd(const grpc::Status& s, std::string_view what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      StrCat("containerd ", what, ": ", s.error_message()));
}

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_CONTAINERD_STATUS_H_
