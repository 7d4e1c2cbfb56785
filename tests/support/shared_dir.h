// Where the read-only shared test material is (../shared beside the source tree in CI):
// $LAYERSEAL_SHARED_DIR when set (a checkout elsewhere, e.g. a git worktree), else
// LAYERSEAL_SOURCE_DIR/../shared. Header-only so that unit tests can use it without the
// harness library. Thread-safe (reads the environment only).
#ifndef LAYERSEAL_TESTS_SUPPORT_SHARED_DIR_H_
#define LAYERSEAL_TESTS_SUPPORT_SHARED_DIR_H_

#include <cstdlib>
#include <string>

namespace layerseal::testing {

inline std::string SharedDir() {
  const char* dir = std::getenv("LAYERSEAL_SHARED_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return std::string(LAYERSEAL_SOURCE_DIR) + "/../shared";
}

// The sigstore-conformance material: bundle-verify/ cases and the public-good trusted root.
inline std::string SigstoreCorpusDir() { return SharedDir() + "/conformance/sigstore"; }

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_SHARED_DIR_H_
