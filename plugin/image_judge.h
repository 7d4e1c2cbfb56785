// What the gates need from the rest of the agent: a judge that returns a verdict for an
// image reference under the policy that applies to a pod, and a sink for verdict events.
// Both are implemented by node-agent/ (policy set, verdict cache, registry client) and
// faked in unit tests.
#ifndef LAYERSEAL_PLUGIN_IMAGE_JUDGE_H_
#define LAYERSEAL_PLUGIN_IMAGE_JUDGE_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "registry/credentials.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::plugin {

// The pod an image is for, from the CRI request's PodSandboxConfig.metadata (empty when the
// request has none, e.g. ImageStatus, or a client other than the kubelet).
struct PodRef {
  std::string ns;
  std::string name;
  std::string uid;
};

struct JudgeRequest {
  Reference reference;
  // Registry credentials from the request (PullImageRequest.auth); nullopt: the node's own.
  std::optional<registry::Credentials> credentials;
  PodRef pod;  // pod.ns picks the namespace policy, if there is one
  // For a question without a pod (ImageStatus): is the image admitted under SOME policy in
  // force, the node policy or any namespace policy? `pod` is ignored. The node policy is
  // judged as usual (verifying if need be); namespace policies are asked only for what is
  // known without a registry (their cached verdicts, which every pull under a namespace
  // leaves, and scopes that accept anything or reject), never verified, so one question
  // costs at most one verification. The judgement is the
  // first admitting one, else the node policy's denial.
  bool any_policy = false;
};

struct Judgement {
  Verdict verdict;
  bool cached = false;  // answered from the verdict cache, no verification ran
  // Whether a denial holds under every policy the request covers. False only for an
  // any_policy denial when some namespace policy's verdict is not known: the image is then
  // treated as absent (the kubelet pulls it, and the pull is judged under the pod's own
  // policy), but it is no denial of any pod and must not be recorded as one.
  bool conclusive = true;
};

// Thread-safety: Judge is called concurrently from the gates' workers, TryCached also from
// the proxy's threads.
class ImageJudge {
 public:
  virtual ~ImageJudge() = default;
  // Blocks for registry I/O on a cache miss. Never fails: an image that cannot be judged is
  // a DENY verdict with a reason (fail closed).
  virtual Judgement Judge(const JudgeRequest& request) = 0;
  // The verdict Judge would return at once from memory (cached = true), without waiting for
  // a verification or the registry; nullopt when judging needs more. Never blocks beyond a
  // mutex, so it may run on a proxy thread. (request.credentials are not used: a cached
  // verdict does not depend on them.)
  virtual std::optional<Judgement> TryCached(const JudgeRequest& /*request*/) {
    return std::nullopt;
  }
};

// One gate decision, for the event log and the controller.
struct VerdictEvent {
  // "PullImage", "ImageStatus", "CreateContainer"; "Revalidation" for a sweep's finding about
  // a running container or an image on the node (issue 18).
  std::string gate;
  std::string image;  // the image as the CRI request named it
  PodRef pod;
  Judgement judgement;
  bool admitted = false;       // the call went on to the runtime (or the image was shown)
  absl::Duration gate_time;    // from the call's arrival to the gate's decision
  absl::Time time;
  // The layerseal.packages/v1 attachment (verifier/layers/packages.h) of the image, when the
  // scope asks for a package inventory and it was built; "" otherwise (issue 18).
  std::string packages_attachment;
  // For gate "Revalidation" about a running container: its id and name (pod is set too).
  std::string container_id;
  std::string container_name;
};

// Thread-safety: Report is called concurrently from the gates' workers; it must not block
// for long (the verdict waits on it).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Report(const VerdictEvent& event) = 0;
};

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_IMAGE_JUDGE_H_
