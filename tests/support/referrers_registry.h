// The OCI 1.1 referrers API for tests (issue 17): Debian's docker-registry 2.8 has none, so
// cosign signatures found through `GET /v2/<name>/referrers/<digest>` are served by this
// wrapper around HostileRegistry (hostile_registry.h). It serves the images and referrer
// artifacts it was given like the hostile registry does, and answers the referrers route of
// every subject (an empty index when nothing refers to it), filtering by `artifactType` and
// saying so in `OCI-Filters-Applied`, cut into pages joined by `Link: <...>; rel="next"`
// when asked. With AcceptPushes() it also takes pushes as an OCI 1.1 registry does, so that
// a client's own writer (e.g. @sigstore/oci, tests/fixtures/sigstore/attach_oci.mjs) can
// attach referrers. Anything else can still be scripted on registry() (Handle, HandleOthers).
// containerd's CRI plugin pulls images from it over plain HTTP as from any registry
// (HEAD and GET of manifests with Docker-Content-Digest, GET of blobs): cosign_agent_e2e_test.
//
// Thread-safety: every method may be called from any thread while the server runs.
// Ownership: owns its HostileRegistry; the destructor stops it.
#ifndef LAYERSEAL_TESTS_SUPPORT_REFERRERS_REGISTRY_H_
#define LAYERSEAL_TESTS_SUPPORT_REFERRERS_REGISTRY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/hostile_registry.h"
#include "tests/support/images.h"
#include "verifier/digest.h"

namespace layerseal::testing {

// An OCI artifact manifest referring to `subject` (a descriptor: mediaType, digest, size):
// `artifactType`, the empty config, and one layer of `layer_media_type` holding
// `layer_bytes`, plus manifest `annotations`. Its blobs are in the returned image.
TestImage MakeReferrerArtifact(const nlohmann::ordered_json& subject,
                               const std::string& artifact_type,
                               const std::string& layer_media_type, std::string layer_bytes,
                               const std::map<std::string, std::string>& annotations = {});

class ReferrersRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<ReferrersRegistry>> Start(HostileOptions options = {});

  HostileRegistry& registry() { return *server_; }
  std::string host() const { return server_->host(); }

  // As HostileRegistry::AddImage.
  void AddImage(const std::string& repository, const std::string& tag, const TestImage& image) {
    server_->AddImage(repository, tag, image);
  }
  // Serves `artifact` in `repository` (by digest) and lists it among the referrers of
  // `subject` there, with `artifact_type` (what a registry takes from the manifest's
  // artifactType or its config's mediaType) and the manifest's annotations `annotations`.
  void AddReferrer(const std::string& repository, const Digest& subject,
                   const TestImage& artifact, const std::string& artifact_type,
                   const std::map<std::string, std::string>& annotations = {});
  // Cuts referrers answers into pages of `n` descriptors (0, the default: one page).
  void SetPageSize(size_t n);
  // Whether the artifactType query is applied (and announced in OCI-Filters-Applied); true by
  // default. False: every referrer is listed, as a registry ignoring the filter does.
  void SetFiltering(bool apply);
  // Referrers requests answered so far.
  size_t ReferrersRequests() const;
  // From now on, accepts pushes: monolithic blob uploads (POST .../blobs/uploads/, then PUT
  // ...?digest=, checked against the body) and manifest PUTs by digest or tag. A manifest with
  // a `subject` becomes a referrer of it (artifact type: its artifactType, else its config's
  // mediaType; its annotations) and the PUT answer carries `OCI-Subject: <subject digest>`.
  void AcceptPushes();

 private:
  struct Entry {
    std::string descriptor;  // JSON
    std::string artifact_type;
  };
  explicit ReferrersRegistry(std::unique_ptr<HostileRegistry> server)
      : server_(std::move(server)) {}
  void Serve(const HostileRequest& request, HostileConnection& conn);
  // A push (see AcceptPushes); false when `request` is none.
  bool ServePush(const HostileRequest& request, HostileConnection& conn);

  std::unique_ptr<HostileRegistry> server_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Entry>> referrers_;  // "<repo>@<subject>", guarded by mu_
  size_t page_size_ = 0;                                   // guarded by mu_
  bool filtering_ = true;                                  // guarded by mu_
  size_t requests_ = 0;                                    // guarded by mu_
  bool accept_pushes_ = false;                             // guarded by mu_
  size_t uploads_ = 0;                                     // guarded by mu_
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_REFERRERS_REGISTRY_H_
