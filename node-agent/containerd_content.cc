#include "node-agent/containerd_content.h"

#include <chrono>
#include <string>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <openssl/rand.h>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "node-agent/containerd_status.h"
#include "containerd/services/content/v1/content.grpc.pb.h"
#include "containerd/services/leases/v1/leases.grpc.pb.h"
#include "verifier/digest.h"

namespace layerseal::agent {

namespace content = ::containerd::services::content::v1;
namespace leases = ::containerd::services::leases::v1;

namespace {

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

// 8 random bytes, hex: lease ids must not collide between agents or restarts.
std::string RandomSuffix() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // Uniqueness only; the time keeps ids apart when the generator fails.
    return StrCat(absl::ToUnixNanos(absl::Now()));
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace

class ContainerdContent::Client {
 public:
  Client(std::shared_ptr<grpc::Channel> channel, std::string ns)
      : content_(content::Content::NewStub(channel)),
        leases_(leases::Leases::NewStub(channel)),
        ns_(std::move(ns)) {}

  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
    ctx->AddMetadata("containerd-namespace", ns_);
    ctx->set_deadline(DeadlineIn(timeout));
  }

  content::Content::Stub& content() { return *content_; }
  leases::Leases::Stub& leases() { return *leases_; }

 private:
  std::unique_ptr<content::Content::Stub> content_;
  std::unique_ptr<leases::Leases::Stub> leases_;
  std::string ns_;
};

ContentLease::~ContentLease() {
  if (!released_) (void)Release();  // best effort: kGcExpireLabel ends it otherwise
}

absl::Status ContentLease::Release() {
  if (released_) return absl::OkStatus();
  released_ = true;
  return owner_->DeleteLease(id_, sync_release_);
}

ContainerdContent::ContainerdContent(std::shared_ptr<grpc::Channel> runtime, std::string ns)
    : client_(std::make_unique<Client>(std::move(runtime), std::move(ns))) {}

ContainerdContent::~ContainerdContent() = default;

absl::StatusOr<std::unique_ptr<ContentLease>> ContainerdContent::Lease(
    const std::vector<Digest>& blobs, std::string_view purpose) {
  if (blobs.size() > kMaxLeaseResources) {
    return absl::InvalidArgumentError(StrCat("a lease on ", blobs.size(), " blobs: at most ",
                                             kMaxLeaseResources, " (kMaxLeaseResources)"));
  }
  leases::CreateRequest create;
  create.set_id(StrCat("layerseal-", purpose, "-", RandomSuffix()));
  (*create.mutable_labels())[std::string(kGcExpireLabel)] =
      absl::FormatTime(absl::RFC3339_sec, absl::Now() + kLeaseExpiry, absl::UTCTimeZone());
  (*create.mutable_labels())["layerseal.dev/purpose"] = std::string(purpose);
  leases::CreateResponse created;
  {
    grpc::ClientContext ctx;
    client_->Prepare(&ctx, kContentCallTimeout);
    grpc::Status s = client_->leases().Create(&ctx, create, &created);
    if (!s.ok()) return FromContainerd(s, StrCat("leases Create ", create.id()));
  }
  // From here the lease exists: the returned object deletes it on every path.
  std::unique_ptr<ContentLease> lease(new ContentLease(this, created.lease().id()));
  if (absl::Status s = lease->Add(blobs); !s.ok()) return s;
  return lease;
}

absl::Status ContentLease::Add(const std::vector<Digest>& blobs) {
  if (released_) return absl::FailedPreconditionError(StrCat("lease ", id_, " was released"));
  if (blobs.size() > kMaxLeaseResources - resources_) {
    return absl::InvalidArgumentError(StrCat("lease ", id_, ": ", resources_, " + ", blobs.size(),
                                             " blobs: at most ", kMaxLeaseResources,
                                             " (kMaxLeaseResources)"));
  }
  if (absl::Status s = owner_->AddResources(id_, blobs); !s.ok()) return s;
  resources_ += blobs.size();
  return absl::OkStatus();
}

absl::Status ContainerdContent::AddResources(const std::string& id,
                                             const std::vector<Digest>& blobs) {
  for (const Digest& blob : blobs) {
    leases::AddResourceRequest add;
    add.set_id(id);
    add.mutable_resource()->set_id(blob.str());
    add.mutable_resource()->set_type("content");
    google::protobuf::Empty empty;
    grpc::ClientContext ctx;
    client_->Prepare(&ctx, kContentCallTimeout);
    grpc::Status s = client_->leases().AddResource(&ctx, add, &empty);
    if (!s.ok()) return FromContainerd(s, StrCat("leases AddResource ", blob.str(), " to ", id));
  }
  return absl::OkStatus();
}

absl::Status ContainerdContent::DeleteLease(const std::string& id, bool sync) {
  leases::DeleteRequest req;
  req.set_id(id);
  req.set_sync(sync);
  google::protobuf::Empty empty;
  grpc::ClientContext ctx;
  client_->Prepare(&ctx, kContentCallTimeout);
  grpc::Status s = client_->leases().Delete(&ctx, req, &empty);
  return s.ok() ? absl::OkStatus() : FromContainerd(s, StrCat("leases Delete ", id));
}

absl::StatusOr<ContentInfo> ContainerdContent::Info(const Digest& blob) {
  content::InfoRequest req;
  req.set_digest(blob.str());
  content::InfoResponse resp;
  grpc::ClientContext ctx;
  client_->Prepare(&ctx, kContentCallTimeout);
  grpc::Status s = client_->content().Info(&ctx, req, &resp);
  if (!s.ok()) return FromContainerd(s, StrCat("content Info ", blob.str()));
  ContentInfo info;
  absl::StatusOr<Digest> digest = Digest::Parse(resp.info().digest());
  if (!digest.ok() || *digest != blob) {
    return absl::DataLossError(StrCat("containerd content Info ", blob.str(),
                                      " answered for another digest: '", resp.info().digest(), "'"));
  }
  info.digest = *digest;
  info.size = resp.info().size();
  info.labels.insert(resp.info().labels().begin(), resp.info().labels().end());
  return info;
}

absl::Status ContainerdContent::Read(const Digest& blob, int64_t expected_size,
                                     const std::function<absl::Status(std::string_view)>& sink) {
  content::ReadContentRequest req;
  req.set_digest(blob.str());
  grpc::ClientContext ctx;
  absl::Duration timeout = kReadBaseTimeout;
  if (expected_size > 0) timeout += absl::Seconds(expected_size / kMinReadBytesPerSecond + 1);
  client_->Prepare(&ctx, timeout);
  std::unique_ptr<grpc::ClientReader<content::ReadContentResponse>> reader =
      client_->content().Read(&ctx, req);
  content::ReadContentResponse chunk;
  int64_t received = 0;
  absl::Status stop;  // why the client stopped reading early, if it did
  while (reader->Read(&chunk)) {
    if (chunk.offset() != received) {
      stop = absl::DataLossError(StrCat("containerd content Read ", blob.str(), ": a chunk at offset ",
                                        chunk.offset(), " where ", received, " was next"));
      break;
    }
    received += static_cast<int64_t>(chunk.data().size());
    if (expected_size >= 0 && received > expected_size) {
      stop = absl::DataLossError(StrCat("containerd content Read ", blob.str(), ": more than the ",
                                        expected_size, " bytes expected"));
      break;
    }
    stop = sink(chunk.data());
    if (!stop.ok()) break;
  }
  if (!stop.ok()) {
    ctx.TryCancel();
    (void)reader->Finish();
    return stop;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FromContainerd(s, StrCat("content Read ", blob.str()));
  if (expected_size >= 0 && received != expected_size) {
    return absl::DataLossError(StrCat("containerd content Read ", blob.str(), ": ", received,
                                      " bytes where ", expected_size, " were expected"));
  }
  return absl::OkStatus();
}

}  // namespace layerseal::agent
