// Reading an image's blobs from containerd's own content store (issue 18: judging after the
// pull), through containerd's gRPC API on the runtime socket the agent already proxies:
// containerd.services.content.v1.Content (Info, Read) and containerd.services.leases.v1.Leases
// (Create, AddResource, Delete), with the metadata `containerd-namespace: k8s.io` (the CRI
// plugin's namespace). Nothing is downloaded again: these are the bytes the runtime will run.
//
// A read is done under a lease (`Lease`) that names each blob as a "content" resource, so
// containerd's garbage collector cannot take a blob away while it is read, even if the image
// is removed meanwhile. The lease also carries containerd's `containerd.io/gc.expire` label
// (kLeaseExpiry), so a lease the agent could not delete (a crash, a lost connection) ends by
// itself and never pins blobs for ever.
//
// containerd does not check a blob's digest when it serves it: a blob changed on disk after
// the pull is served changed. That is what the integrity scrub relies on (it re-hashes what
// Read returns).
//
// Errors: a runtime without these services (CRI-O) answers UNIMPLEMENTED, returned as
// absl::UnimplementedError; a blob containerd does not have (garbage-collected, or never
// fetched with `discard_unpacked_layers`) as absl::NotFoundError. Callers report both as
// "not available" and never treat them as a pass. Every message names the call and digest.
//
// Thread-safety: every ContainerdContent method may be called concurrently; a ContentLease is
// used by one thread at a time. Ownership: shares the channel; a ContentLease deletes its
// lease when destroyed and must not outlive its ContainerdContent.
#ifndef LAYERSEAL_NODE_AGENT_CONTAINERD_CONTENT_H_
#define LAYERSEAL_NODE_AGENT_CONTAINERD_CONTENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/digest.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace layerseal::agent {

// Deadline of each Info and lease call (a local socket).
inline constexpr absl::Duration kContentCallTimeout = absl::Seconds(10);
// A Read's deadline: kReadBaseTimeout plus the blob's size at kMinReadBytesPerSecond, so a
// stalled stream ends while a large layer read at a sane rate does not.
inline constexpr absl::Duration kReadBaseTimeout = absl::Seconds(10);
inline constexpr int64_t kMinReadBytesPerSecond = 4 << 20;
// Leases end by themselves this long after creation if the agent never deletes them.
inline constexpr absl::Duration kLeaseExpiry = absl::Minutes(30);
// The most blobs one lease names (an image has a manifest, a config and its layers; an index
// adds its children's).
inline constexpr size_t kMaxLeaseResources = 1024;
// The label containerd's garbage collector reads on a lease (RFC 3339 time).
inline constexpr std::string_view kGcExpireLabel = "containerd.io/gc.expire";

struct ContentInfo {
  Digest digest;
  int64_t size = 0;
  std::map<std::string, std::string> labels;
};

class ContainerdContent;

// A lease on some blobs; deleted (synchronously, best effort) when destroyed.
class ContentLease {
 public:
  ~ContentLease();
  ContentLease(const ContentLease&) = delete;
  ContentLease& operator=(const ContentLease&) = delete;
  const std::string& id() const { return id_; }
  // Deletes the lease now; the destructor then does nothing. Returns containerd's answer.
  absl::Status Release();
  // Whether deleting the lease waits for containerd's garbage collection (true, the
  // default: what the lease held is gone when Release returns). false lets containerd's
  // scheduler collect later, so a scrub of many images does not run one collection each.
  void set_sync_release(bool sync) { sync_release_ = sync; }
  // Names more blobs (a manifest's config and layers once the manifest is read); the lease
  // then names at most kMaxLeaseResources in all. FailedPrecondition once released.
  absl::Status Add(const std::vector<Digest>& blobs);
  size_t resources() const { return resources_; }

 private:
  friend class ContainerdContent;
  ContentLease(ContainerdContent* owner, std::string id) : owner_(owner), id_(std::move(id)) {}
  ContainerdContent* owner_;
  std::string id_;
  bool released_ = false;
  bool sync_release_ = true;
  size_t resources_ = 0;
};

class ContainerdContent {
 public:
  // `ns`: the containerd namespace (the CRI plugin's is k8s.io).
  explicit ContainerdContent(std::shared_ptr<grpc::Channel> runtime, std::string ns = "k8s.io");
  ~ContainerdContent();

  // A lease retaining `blobs` (at most kMaxLeaseResources) until it is released or expires.
  // `purpose` goes into the lease's id and a label, so `ctr leases ls` says whose it is.
  absl::StatusOr<std::unique_ptr<ContentLease>> Lease(const std::vector<Digest>& blobs,
                                                      std::string_view purpose);
  // containerd's record of a blob: its size and labels.
  absl::StatusOr<ContentInfo> Info(const Digest& blob);
  // Streams the blob's bytes, in order, to `sink` (chunks of containerd's choosing). An error
  // from `sink` cancels the stream and is returned as it is. `expected_size` (>= 0) is checked
  // against the bytes received: a stream that ends short or runs long is an error; -1 skips
  // the check. Chunks must arrive at contiguous offsets, else an error.
  absl::Status Read(const Digest& blob, int64_t expected_size,
                    const std::function<absl::Status(std::string_view)>& sink);

 private:
  friend class ContentLease;
  class Client;
  absl::Status DeleteLease(const std::string& id, bool sync);
  absl::Status AddResources(const std::string& id, const std::vector<Digest>& blobs);
  std::unique_ptr<Client> client_;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_CONTAINERD_CONTENT_H_
