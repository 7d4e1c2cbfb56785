// Test images built in memory (there is no internet): small base images in OCI or Docker
// form, sealed copies, and multi-platform indexes. Used by unit tests (through FakeSource)
// and by integration tests (pushed to a real registry).
#ifndef LAYERSEAL_TESTS_SUPPORT_IMAGES_H_
#define LAYERSEAL_TESTS_SUPPORT_IMAGES_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/manifest.h"

namespace layerseal::testing {

struct StoredManifest {
  std::string media_type;
  std::string bytes;
};

struct TestImage {
  std::string media_type;  // of `manifest`
  std::string manifest;
  Digest digest;
  std::map<std::string, std::string> blobs;            // digest -> bytes
  std::map<std::string, StoredManifest> children;      // index children: digest -> manifest
};

struct BaseImageSpec {
  Family family = Family::kOci;
  int layers = 1;
  std::string seed = "base";  // varies the layer contents, so images differ
  bool history = true;
  std::string architecture = "amd64";
  // When non-empty, the first layer holds this file at `payload_path` (e.g. busybox).
  std::string payload;
  std::string payload_path = "bin/busybox";
  // When non-empty, the first layer is exactly this uncompressed tar (e.g. a whole rootfs
  // with modes and symlinks); `payload` is then ignored.
  std::string first_layer_tar;
  // The config's Entrypoint and Cmd (each omitted when empty).
  std::vector<std::string> entrypoint = {"/bin/busybox", "sh"};
  std::vector<std::string> cmd;
};

TestImage MakeBaseImage(const BaseImageSpec& spec);
// Seals `base` (an image manifest) with the sealer under test. Dies on error.
TestImage SealTestImage(const TestImage& base, const PrivateKey& key, Algorithm algorithm);
TestImage SealTestImage(const TestImage& base, const PrivateKey& key);
// An index of `children` (each an image manifest), with their platforms.
TestImage MakeIndex(Family family, const std::vector<std::pair<Platform, TestImage>>& children);

// Replaces `image.manifest` with `manifest` (recomputing the digest).
void SetManifest(TestImage& image, std::string manifest);
// Adds `bytes` as a blob and returns its descriptor JSON ({mediaType, digest, size}).
nlohmann::ordered_json AddBlob(TestImage& image, std::string_view media_type, std::string bytes);
// `image` (an image manifest, not sealed) with `tar` (an uncompressed tar) gzipped on top as
// one more layer: its diff_id (and a history entry, when the config has history) appended to
// a new config. Seal the result to sign it. Dies on a malformed image.
TestImage WithLayerAdded(TestImage image, const std::string& tar);
// The uncompressed diff_ids of `image`'s config, in layer order. Dies on a malformed image.
std::vector<Digest> DiffIds(const TestImage& image);
// `image` with its layer `index` swapped for another (a gzipped one-file tar) after signing:
// the manifest names a layer the seals do not cover. Dies if there is no such layer.
TestImage WithLayerSwapped(TestImage image, size_t index);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_IMAGES_H_
