// The name of an RPC status code, as logs and metrics write it ("OK", "UNAVAILABLE",
// "DEADLINE_EXCEEDED"). gRPC's codes are absl's, number for number, so this takes the number
// and base/ needs no gRPC: StatusCodeName(static_cast<int>(grpc_status.error_code())).
// Thread-safety: a pure function.
#ifndef LAYERSEAL_BASE_STATUS_CODE_H_
#define LAYERSEAL_BASE_STATUS_CODE_H_

#include <string>

#include "absl/status/status.h"
#include "base/str_cat.h"

namespace layerseal {

// absl::StatusCodeToString's name; "CODE_<n>" for a number that is no code (never "").
inline std::string StatusCodeName(int code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? StrCat("CODE_", code) : name;
}

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_STATUS_CODE_H_
