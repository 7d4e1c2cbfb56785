// An in-memory ImageSource for unit tests of the verifier. It keeps the registry client's
// contract (image_source.h): limits are ResourceExhausted, digest mismatches DataLoss.
// Not thread-safe.
#ifndef LAYERSEAL_TESTS_SUPPORT_FAKE_SOURCE_H_
#define LAYERSEAL_TESTS_SUPPORT_FAKE_SOURCE_H_

#include <map>
#include <string>

#include "tests/support/images.h"
#include "verifier/image_source.h"
#include "base/str_cat.h"

namespace layerseal::testing {

class FakeSource : public ImageSource {
 public:
  // Registers `image` under repo:tag and repo@digest, with its blobs and children.
  void Add(const Reference& ref, const TestImage& image) {
    PutManifest(ref.Name(), ref.tag.empty() ? "latest" : ref.tag, image.media_type, image.manifest);
    PutManifest(ref.Name(), image.digest.str(), image.media_type, image.manifest);
    for (const auto& [d, m] : image.children) PutManifest(ref.Name(), d, m.media_type, m.bytes);
    for (const auto& [d, b] : image.blobs) blobs_[d] = b;
  }
  void PutManifest(const std::string& name, const std::string& id, std::string content_type,
                   std::string bytes) {
    manifests_[name + "@" + id] = {std::move(content_type), std::move(bytes)};
  }
  // Serve `bytes` for blob `digest` whatever they hash to (a lying registry).
  void PutRawBlob(const std::string& digest, std::string bytes) { raw_blobs_[digest] = std::move(bytes); }
  void PutBlob(std::string bytes) { blobs_[Digest::Sha256Of(bytes).str()] = std::move(bytes); }

  absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref, size_t max_bytes) override {
    ++manifest_fetches;
    auto it = manifests_.find(ref.Name() + "@" + ref.Identifier());
    if (it == manifests_.end()) return absl::NotFoundError(StrCat("no manifest ", ref.ToString()));
    if (it->second.bytes.size() > max_bytes) {
      return absl::ResourceExhaustedError(StrCat("manifest over ", max_bytes, " bytes"));
    }
    FetchedManifest m{it->second.bytes, it->second.media_type, Digest::Sha256Of(it->second.bytes)};
    if (ref.digest && !(m.digest == *ref.digest)) return absl::DataLossError("manifest digest mismatch");
    return m;
  }

  absl::StatusOr<std::string> FetchBlob(const Reference&, const Digest& digest,
                                        size_t max_bytes) override {
    ++blob_fetches;
    std::string bytes;
    if (auto raw = raw_blobs_.find(digest.str()); raw != raw_blobs_.end()) {
      bytes = raw->second;
    } else if (auto it = blobs_.find(digest.str()); it != blobs_.end()) {
      bytes = it->second;
    } else {
      return absl::NotFoundError(StrCat("no blob ", digest.str()));
    }
    if (bytes.size() > max_bytes) return absl::ResourceExhaustedError(StrCat("blob over ", max_bytes));
    if (!digest.Matches(bytes)) return absl::DataLossError(StrCat("blob ", digest.str(), " digest mismatch"));
    return bytes;
  }

  int manifest_fetches = 0;
  int blob_fetches = 0;

 private:
  std::map<std::string, StoredManifest> manifests_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, std::string> raw_blobs_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_FAKE_SOURCE_H_
