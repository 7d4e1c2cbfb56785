// Every gRPC status the gates return, built in this one place (named constructors), so the
// kubelet always sees the same codes and message shapes. Nothing else in plugin/ makes a
// grpc::Status of its own; statuses from the runtime are passed through untouched.
#ifndef LAYERSEAL_PLUGIN_ERRORS_H_
#define LAYERSEAL_PLUGIN_ERRORS_H_

#include <string_view>

#include <grpcpp/support/status.h>

#include "verifier/verdict.h"

namespace layerseal::plugin {

// k8s.io/cri-api pkg/errors: ErrSignatureValidationFailed = errors.New("SignatureValidationFailed").
inline constexpr std::string_view kSignatureValidationFailed = "SignatureValidationFailed";

// "layerseal denied <ref>: <REASON>: <detail> (policy sha256:<12 hex>)".
std::string DenialText(const Verdict& verdict);

// A denied PullImage, shaped so that the kubelet (1.28+) classifies it as
// SignatureValidationFailed: code UNKNOWN (the kubelet's CRI client then keeps only the
// message) and a message that starts with "SignatureValidationFailed: " (the kubelet tests
// that prefix; see docs/agent.md). Pod events then read "Failed to pull image ...:
// SignatureValidationFailed: layerseal denied ...".
grpc::Status PullDenied(const Verdict& verdict);

// A CreateContainer whose image the pod's policy does not admit. FAILED_PRECONDITION: the
// image must be pulled (and verified) under that policy first.
grpc::Status CreateDenied(std::string_view image, const Verdict& verdict);

// A request the gate cannot parse: INVALID_ARGUMENT naming the method and what was wrong.
grpc::Status MalformedRequest(std::string_view method, std::string_view what);

// A runtime.v1alpha2 call while the agent refuses that API (v1alpha2: refuse): UNIMPLEMENTED,
// so a kubelet that speaks runtime.v1 uses it, and one that speaks only v1alpha2 (before
// 1.23) stops with a message saying why.
grpc::Status V1alpha2Refused(std::string_view method);

// The gates' work queue is full: RESOURCE_EXHAUSTED (the kubelet retries with back-off).
grpc::Status Overloaded(std::string_view method);

// The caller gave up (deadline or cancellation) before the gate decided.
grpc::Status CallerGone(std::string_view method);

// A call on a restricted listener (CriProxyOptions::restricted_listen_paths, e.g. the
// agent's health socket) to a method not served there, or one that would have to be
// forwarded: UNIMPLEMENTED, as from a server without that method; never forwarded.
grpc::Status NotServedHere(std::string_view method);

// A gate lost an intercepted call without resolving it: INTERNAL (fail closed).
grpc::Status DroppedCall(std::string_view method);

// A gate forwarded a call it had already forwarded for review: INTERNAL (the request went
// upstream once; it is not sent again).
grpc::Status ForwardedAfterReview(std::string_view method);

// The runtime's answer to a reviewed call is not the message the method returns: INTERNAL,
// as gRPC's own client would say.
grpc::Status MalformedResponse(std::string_view method, std::string_view what);

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_ERRORS_H_
