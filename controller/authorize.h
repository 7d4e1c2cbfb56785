// Who is calling a gRPC method of the controller, and whether that role may call it.
// EventIngest takes only nodes, EventQuery only readers (controller/identity.h says how a
// role is written in a client certificate; docs/controller.md, "Identities and roles").
// `insecure: true` (plain text on loopback, for development) has no certificates and so no
// roles: the services skip these checks there.
// Thread-safety: pure functions.
#ifndef LAYERSEAL_CONTROLLER_AUTHORIZE_H_
#define LAYERSEAL_CONTROLLER_AUTHORIZE_H_

#include <string>
#include <string_view>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "controller/identity.h"

namespace layerseal::controller {

struct Caller {
  PeerIdentity identity;  // Role::kNone without a usable certificate
  std::string subject;    // DescribeCertificateSubject, or "(no client certificate)"
};

// The caller of `context`, from its verified TLS leaf certificate (gRPC's "x509_pem_cert"
// auth property). No certificate, or one that does not parse, is Role::kNone.
Caller CallerOf(const grpc::ServerContext& context);

// OK when `caller` has the role `want`; otherwise PERMISSION_DENIED for `method` (WrongRole
// or NoRole in rpc_errors.h).
grpc::Status Authorize(std::string_view method, Role want, const Caller& caller);

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_AUTHORIZE_H_
