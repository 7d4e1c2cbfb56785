// Pushes an in-memory TestImage to a real registry with the project's own client.
#ifndef LAYERSEAL_TESTS_SUPPORT_PUSH_H_
#define LAYERSEAL_TESTS_SUPPORT_PUSH_H_

#include "absl/status/status.h"
#include "registry/client.h"
#include "tests/support/images.h"
#include "verifier/reference.h"

namespace layerseal::testing {

// Blobs, then index children by digest, then the manifest under `ref`'s tag.
absl::Status PushTestImage(registry::RegistryClient& client, const Reference& ref,
                           const TestImage& image);

// The path of blob `digest`'s data file in the filesystem storage of the registry whose temp
// dir is `server_dir` ("" when absent), for tests that make the registry serve corrupt bytes.
std::string RegistryBlobPath(const std::string& server_dir, const Digest& digest);

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_PUSH_H_
