// Which metadata the CRI proxy copies from one hop to the next.
#ifndef LAYERSEAL_PLUGIN_INTERNAL_METADATA_H_
#define LAYERSEAL_PLUGIN_INTERNAL_METADATA_H_

#include <map>
#include <string>
#include <string_view>

#include <grpcpp/support/string_ref.h>

namespace layerseal::plugin::internal {

inline std::string_view View(grpc::string_ref s) { return std::string_view(s.data(), s.size()); }

// Metadata gRPC sets itself on each hop (HTTP/2 pseudo-headers, grpc-timeout, grpc-encoding,
// grpc-status..., and the HTTP hop-by-hop headers); everything else is the application's.
inline bool IsApplicationMetadata(std::string_view key) {
  if (key.empty() || key[0] == ':' || key.substr(0, 5) == "grpc-") return false;
  for (std::string_view hop : {"te", "content-type", "user-agent", "host", "connection",
                               "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
    if (key == hop) return false;
  }
  return true;
}

template <typename Add>
void CopyMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& from, Add add) {
  for (const auto& [key, value] : from) {
    if (IsApplicationMetadata(View(key))) add(std::string(View(key)), std::string(View(value)));
  }
}

}  // namespace layerseal::plugin::internal

#endif  // LAYERSEAL_PLUGIN_INTERNAL_METADATA_H_
