#include "controller/authorize.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <memory>
#include <vector>

#include "controller/rpc_errors.h"

namespace layerseal::controller {

Caller CallerOf(const grpc::ServerContext& context) {
  Caller caller{.identity = {}, .subject = "(no client certificate)"};
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return caller;
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return caller;
  std::string_view pem(pems.front().data(), pems.front().size());
  caller.subject = DescribeCertificateSubject(pem);
  absl::StatusOr<PeerIdentity> identity = IdentityFromPem(pem);
  if (identity.ok()) caller.identity = *std::move(identity);
  return caller;
}

grpc::Status Authorize(std::string_view method, Role want, const Caller& caller) {
  if (caller.identity.role == want) return grpc::Status::OK;
  if (caller.identity.role == Role::kNone) return NoRole(method, want, caller.subject);
  return WrongRole(method, want, caller.identity.role, caller.subject);
}

}  // namespace layerseal::controller
