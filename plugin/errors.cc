#include "plugin/errors.h"

#include <string>

#include "base/str_cat.h"

namespace layerseal::plugin {
namespace {

// "sha256:" plus 12 hex digits: enough to tell policies apart in a pod event; the event log
// and the controller have the full version.
std::string ShortVersion(std::string_view version) {
  constexpr size_t kShown = 7 + 12;
  return std::string(version.substr(0, std::min(version.size(), kShown)));
}

}  // namespace

std::string DenialText(const Verdict& v) {
  std::string policy = v.policy_version.empty() ? std::string("no policy in force")
                                                : StrCat("policy ", ShortVersion(v.policy_version));
  return StrCat("layerseal denied ", v.reference, ": ", ReasonName(v.reason), ": ", v.detail, " (",
                policy, ")");
}

grpc::Status PullDenied(const Verdict& verdict) {
  return grpc::Status(grpc::StatusCode::UNKNOWN,
                      StrCat(kSignatureValidationFailed, ": ", DenialText(verdict)));
}

grpc::Status CreateDenied(std::string_view image, const Verdict& verdict) {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      StrCat(DenialText(verdict), "; image ", image,
                             " is not admitted under this pod's policy"));
}

grpc::Status MalformedRequest(std::string_view method, std::string_view what) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      StrCat("layerseal: malformed ", method, " request: ", what));
}

grpc::Status V1alpha2Refused(std::string_view method) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      StrCat("layerseal: ", method, " refused: this node's agent refuses CRI "
                             "runtime.v1alpha2 (v1alpha2: refuse); use runtime.v1 (kubelet 1.23 or "
                             "later) or set v1alpha2: gate"));
}

grpc::Status Overloaded(std::string_view method) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      StrCat("layerseal: too many ", method, " calls waiting for verification; retry"));
}

grpc::Status CallerGone(std::string_view method) {
  return grpc::Status(grpc::StatusCode::CANCELLED,
                      StrCat("layerseal: the caller of ", method, " gave up before the verdict"));
}

grpc::Status NotServedHere(std::string_view method) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      StrCat("layerseal: ", method,
                             " is not served on this socket (it is not the CRI socket)"));
}

grpc::Status DroppedCall(std::string_view method) {
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      StrCat("layerseal: the gate for ", method, " dropped the call"));
}

grpc::Status ForwardedAfterReview(std::string_view method) {
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      StrCat("layerseal: the gate for ", method, " forwarded a call after its review"));
}

grpc::Status MalformedResponse(std::string_view method, std::string_view what) {
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      StrCat("layerseal: the runtime's ", method, " response is malformed: ", what));
}

}  // namespace layerseal::plugin
