#include "controller/rpc_errors.h"

#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

// absl and gRPC share the canonical code numbers.
grpc::StatusCode ToGrpc(absl::StatusCode code) { return static_cast<grpc::StatusCode>(code); }

}  // namespace

grpc::Status NodeMismatch(std::string_view cert_node, std::string_view what,
                          std::string_view named_node) {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      StrCat("the client certificate is for node \"", cert_node, "\" but ", what,
                             " names node \"", named_node,
                             "\": an agent may only report its own node's events"));
}

namespace {

std::string_view OrganizationFor(Role role) {
  return role == Role::kNode ? kNodeOrganization : kReaderOrganization;
}

}  // namespace

grpc::Status WrongRole(std::string_view method, Role want, Role have, std::string_view subject) {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      StrCat(method, ": the client certificate (", subject, ") is a ",
                             RoleName(have), "'s; only a ", RoleName(want), " (O=",
                             OrganizationFor(want), ") may call this"));
}

grpc::Status NoRole(std::string_view method, Role want, std::string_view subject) {
  return grpc::Status(
      grpc::StatusCode::PERMISSION_DENIED,
      StrCat(method, ": the client certificate (", subject,
             ") has no layerseal role: a ", RoleName(want), "'s certificate needs the subject "
             "Organization O=", OrganizationFor(want), " (and O=", kNodeOrganization, " or O=",
             kReaderOrganization, ", not both) and one common name; make it with scripts/make-certs"));
}

grpc::Status NoIdentity() {
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "the client certificate has no common name (the node name)");
}

grpc::Status Rejected(std::string_view method, const absl::Status& why) {
  return grpc::Status(ToGrpc(why.code()), StrCat(method, ": ", Sv(why.message())));
}

grpc::Status StoreFailed(std::string_view method, const absl::Status& why) {
  if (why.code() == absl::StatusCode::kInvalidArgument) return Rejected(method, why);
  if (why.code() == absl::StatusCode::kDataLoss) {  // a damaged store file: loud, named
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        StrCat(method, ": the event store is damaged: ", Sv(why.message())));
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      StrCat(method, ": the event store failed: ", Sv(why.message())));
}

grpc::Status TooManyFollowers(int max) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      StrCat("FollowEvents: already ", max,
                             " followers (kMaxFollowers); try again later"));
}

grpc::Status ShuttingDown(std::string_view method) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      StrCat(method, ": the controller is shutting down"));
}

bool CallTracker::Enter() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  ++in_flight_;
  return true;
}

void CallTracker::Leave() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

bool CallTracker::StopAndWait(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

}  // namespace layerseal::controller
