#include "plugin/internal/listeners.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <algorithm>
#include <utility>

namespace layerseal::plugin::internal {
namespace {

// What the CRI socket's insecure credentials put in a call's auth context.
constexpr std::string_view kInsecureTransport = "insecure";

}  // namespace

Restriction::Restriction(std::vector<std::string> allowed_methods, bool active)
    : allowed_(std::move(allowed_methods)), active_(active) {}

std::shared_ptr<grpc::ServerCredentials> Restriction::ListenerCredentials() {
  return grpc::experimental::LocalServerCredentials(UDS);
}

// Fail closed: a call is on the CRI socket only if its auth context says "insecure";
// anything else (local, or no auth context at all) is restricted.
bool Restriction::Restricted(const grpc::ServerContextBase& context) const {
  if (!active_) return false;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return true;
  for (const grpc::string_ref& v :
       auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
    if (std::string_view(v.data(), v.size()) == kInsecureTransport) return false;
  }
  return true;
}

bool Restriction::Allows(std::string_view method) const {
  return std::find(allowed_.begin(), allowed_.end(), method) != allowed_.end();
}

}  // namespace layerseal::plugin::internal
