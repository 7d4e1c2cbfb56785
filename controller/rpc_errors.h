// Every gRPC status the controller's services return, built in this one place (named
// constructors), so agents and clients always see the same codes and message shapes; and
// CallTracker, which lets shutdown wait for the calls in flight.
// Thread-safety: pure functions; CallTracker's methods from any thread.
#ifndef LAYERSEAL_CONTROLLER_RPC_ERRORS_H_
#define LAYERSEAL_CONTROLLER_RPC_ERRORS_H_

#include <string_view>

#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/identity.h"

namespace layerseal::controller {

// A batch for a node other than the client certificate's: PERMISSION_DENIED naming both
// (`what` says where the other node was named: "request" or "events[3]").
grpc::Status NodeMismatch(std::string_view cert_node, std::string_view what,
                          std::string_view named_node);

// A certificate of role `have` calling a method for role `want` (a reader reporting events,
// a node querying them): PERMISSION_DENIED naming the method, both roles and the
// certificate's subject.
grpc::Status WrongRole(std::string_view method, Role want, Role have, std::string_view subject);

// A certificate with no role (no layerseal organization, both, or no usable CN):
// PERMISSION_DENIED naming the subject and telling the admin which Organization (O=) a
// certificate for `want` needs.
grpc::Status NoRole(std::string_view method, Role want, std::string_view subject);

// A TLS peer without a common name (cannot happen with a verified client certificate
// issued as docs/controller.md shows): UNAUTHENTICATED.
grpc::Status NoIdentity();

// A request that failed validation: the status's own code (INVALID_ARGUMENT or
// RESOURCE_EXHAUSTED) and message, prefixed with the method.
grpc::Status Rejected(std::string_view method, const absl::Status& why);

// The store failed: UNAVAILABLE (the agent retries the batch; nothing of it was stored),
// DATA_LOSS when the store found its file damaged (the agent retries too), or the store's
// INVALID_ARGUMENT for a page token it did not hand out.
grpc::Status StoreFailed(std::string_view method, const absl::Status& why);

// More followers than kMaxFollowers: RESOURCE_EXHAUSTED.
grpc::Status TooManyFollowers(int max);

// The controller is stopping: UNAVAILABLE (clients reconnect to its next run).
grpc::Status ShuttingDown(std::string_view method);

// Counts the services' calls in flight, so that a graceful stop can let them finish and
// then close every connection at once. (gRPC's own Server::Shutdown(deadline) also waits
// for idle client connections to go away, which well-behaved clients may keep open until
// the deadline.)
class CallTracker {
 public:
  // A call starts: false once stopping (answer ShuttingDown).
  bool Enter();
  void Leave();
  // No new calls from now on; waits until those in flight have left or `deadline` passes.
  // Returns whether they all left.
  bool StopAndWait(absl::Time deadline);

 private:
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

// Enter/Leave for one call's scope.
class TrackedCall {
 public:
  explicit TrackedCall(CallTracker* tracker) : tracker_(tracker), entered_(tracker->Enter()) {}
  ~TrackedCall() {
    if (entered_) tracker_->Leave();
  }
  TrackedCall(const TrackedCall&) = delete;
  TrackedCall& operator=(const TrackedCall&) = delete;
  bool entered() const { return entered_; }

 private:
  CallTracker* tracker_;
  bool entered_;
};

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_RPC_ERRORS_H_
