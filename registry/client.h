// An OCI distribution client (libcurl): pull and push of manifests and blobs, token and
// basic auth, TLS always verified unless plain HTTP is asked for, bounded retries, explicit
// size caps, and every manifest and blob checked against its digest.
// Thread-safety: a RegistryClient may be used from many threads at once (the token cache is
// locked; each request uses its own curl handle).
#ifndef LAYERSEAL_REGISTRY_CLIENT_H_
#define LAYERSEAL_REGISTRY_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "registry/credentials.h"
#include "verifier/image_source.h"

namespace layerseal::registry {

inline constexpr int kMaxRedirects = 5;
inline constexpr size_t kMaxErrorBodyBytes = 64 * 1024;
inline constexpr size_t kMaxTokenResponseBytes = 1 << 20;
inline constexpr size_t kDefaultChunkBytes = 8 << 20;
// The referrers API (FetchReferrers): `Link: <...>; rel="next"` pages followed; a longer list
// is cut there (the descriptors of the pages read are kept). Each page is at most the caller's
// max_bytes, and the merged list at most kMaxDescriptors (verifier/manifest.h) entries.
inline constexpr size_t kMaxReferrersPages = 4;

struct Options {
  // Talk plain HTTP to every registry (like crane/oras --plain-http). Never the default.
  bool plain_http = false;
  // Extra CA bundle (PEM) trusted for TLS, in addition to the system's.
  std::string ca_file;
  // Budget for one request, whatever it takes: every attempt, the waits between retries,
  // redirects and the token fetch it needs all come out of it, so a registry that drips
  // bytes, times out or asks to retry later cannot stretch a request to retries x timeout.
  // (A blob streamed to a file, FetchBlobToFile, has only the low-speed limit.)
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(10);
  // Budget for everything this client does, counted from its construction: the CLI's verify
  // and the agent's judge make one client per verification, so this is a deadline per
  // verification. No request starts or goes on after it. Infinite: none (the default, for
  // pushes of large images).
  absl::Duration total_timeout = absl::InfiniteDuration();
  // Retries on 5xx, 429 and transport errors, with exponential backoff (base/backoff.h;
  // Retry-After honoured, capped at max_backoff). A wait that would end past the request's
  // budget is not taken: the request fails at once, saying so.
  int max_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // A mirror (registry/hosts.h): every request goes to https://<endpoint_host><api_root>/
  // (http:// with plain_http) instead of the reference's registry, and credentials and
  // tokens are those of endpoint_host. Empty: the reference's registry under /v2.
  std::string endpoint_host;
  std::string api_root = "/v2";
  // PEM CA certificates trusted in addition to the system's and ca_file (a host's `ca`).
  std::string ca_pem;
  // TLS client certificate and key (PEM files); key empty: in the certificate file.
  std::string client_cert_file;
  std::string client_key_file;
  // Do not verify the server's certificate chain and name (a host's skip_verify = true).
  bool skip_verify = false;
  std::shared_ptr<const CredentialStore> credentials;  // may be null: anonymous
  std::string user_agent = "layerseal/0.1";
  // Every budget above (timeout, total_timeout), the waits between retries and the token
  // cache's expiry run on clock->Monotonic(), so a wall clock stepped back or forward (NTP,
  // an operator, a resumed VM) neither stretches nor cuts them; the client never reads wall
  // time. Borrowed, must outlive the client; nullptr: SystemClock(). Tests pass a fake.
  const Clock* clock = nullptr;
};

class RegistryClient : public ImageSource {
 public:
  explicit RegistryClient(Options options);
  ~RegistryClient() override;

  // ImageSource. Manifests are requested with the Accept list of verifier/manifest.h.
  absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref, size_t max_bytes) override;
  absl::StatusOr<std::string> FetchBlob(const Reference& repo, const Digest& digest,
                                        size_t max_bytes) override;
  // GET <repo>/referrers/<subject>[?artifactType=...] with Accept: the OCI index type. A 404
  // on the first page (docker-registry 2.8 and other registries without the API answer their
  // plain 404 for the unknown route) is Unimplemented. The registry may or may not apply the
  // artifactType filter (OCI-Filters-Applied says whether it did); the client filters again
  // itself, so the answer never holds another artifactType. Pages are followed only within
  // the same repository's referrers URL (same origin and path), never elsewhere. The answer
  // is a fresh OCI index holding the merged `manifests` (its digest is of those bytes).
  absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo, const Digest& subject,
                                                 std::string_view artifact_type,
                                                 size_t max_bytes) override;

  // Streams a blob of any size to `path`, checking digest (DataLoss on mismatch).
  absl::Status FetchBlobToFile(const Reference& repo, const Digest& digest,
                               const std::string& path);

  absl::StatusOr<bool> BlobExists(const Reference& repo, const Digest& digest);
  // Monolithic upload (POST then PUT with the body). Skips nothing: call BlobExists first.
  absl::Status PushBlob(const Reference& repo, const Digest& digest, std::string_view bytes);
  // Chunked upload (POST, PATCH per chunk, PUT).
  absl::Status PushBlobChunked(const Reference& repo, const Digest& digest,
                               std::string_view bytes, size_t chunk_bytes = kDefaultChunkBytes);
  // Chunked upload from a file (for base layers of any size).
  absl::Status PushBlobFromFile(const Reference& repo, const Digest& digest,
                                const std::string& path);
  // Cross-repository mount from `from_repository` of the same registry. Returns false when the
  // registry answered with an upload session instead (the caller then uploads).
  absl::StatusOr<bool> MountBlob(const Reference& repo, const Digest& digest,
                                 std::string_view from_repository);
  // PUT the manifest under `ref`'s tag, or its digest when it has one. Returns the digest.
  absl::StatusOr<Digest> PutManifest(const Reference& ref, std::string_view media_type,
                                     std::string_view bytes);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace layerseal::registry

#endif  // LAYERSEAL_REGISTRY_CLIENT_H_
