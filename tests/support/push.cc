#include "tests/support/push.h"

#include <filesystem>

#include "base/str_cat.h"

namespace layerseal::testing {

absl::Status PushTestImage(registry::RegistryClient& client, const Reference& ref,
                           const TestImage& image) {
  for (const auto& [digest_text, bytes] : image.blobs) {
    absl::StatusOr<Digest> digest = Digest::Parse(digest_text);
    if (!digest.ok()) return digest.status();
    absl::StatusOr<bool> exists = client.BlobExists(ref, *digest);
    if (!exists.ok()) return exists.status();
    if (*exists) continue;
    if (absl::Status s = client.PushBlob(ref, *digest, bytes); !s.ok()) return s;
  }
  for (const auto& [digest_text, child] : image.children) {
    absl::StatusOr<Digest> digest = Digest::Parse(digest_text);
    if (!digest.ok()) return digest.status();
    absl::StatusOr<Digest> put = client.PutManifest(ref.WithDigest(*digest), child.media_type, child.bytes);
    if (!put.ok()) return put.status();
  }
  absl::StatusOr<Digest> put = client.PutManifest(ref, image.media_type, image.manifest);
  return put.status();
}

std::string RegistryBlobPath(const std::string& server_dir, const Digest& digest) {
  std::string hex(digest.hex());
  std::string tail = StrCat("docker/registry/v2/blobs/", digest.algorithm(), "/", hex.substr(0, 2), "/", hex, "/data");
  // The storage root is somewhere under the server's dir; look for the layout's fixed tail.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(server_dir)) {
    std::string p = entry.path().string();
    if (p.size() >= tail.size() && p.compare(p.size() - tail.size(), tail.size(), tail) == 0) return p;
  }
  return "";
}

}  // namespace layerseal::testing
