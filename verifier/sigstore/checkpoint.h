// C2SP signed-note checkpoints: Rekor v1 STH notes (ECDSA) and Rekor v2 checkpoints (Ed25519).
// Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_CHECKPOINT_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_CHECKPOINT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {

inline constexpr size_t kMaxCheckpointBytes = 16 * 1024;
inline constexpr size_t kMaxNoteSignatures = 32;  // golang.org/x/mod/sumdb/note allows 100
inline constexpr size_t kMaxNoteExtensionLines = 16;

struct NoteSignature {
  std::string name;
  std::string key_hint;  // 4 bytes
  std::string sig;
};
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  std::string root_hash;  // raw 32 bytes
  std::vector<std::string> extra;  // extension lines
  std::string signed_text;  // up to and including the newline before the blank line
  std::vector<NoteSignature> sigs;
};
// InvalidArgument naming what is missing or malformed.
absl::StatusOr<Checkpoint> ParseCheckpoint(std::string_view envelope);
// OK when the lines whose key hint is `log`'s (and, for Rekor v2, whose name is log.origin)
// exist and all verify. PermissionDenied saying why otherwise.
absl::Status VerifyCheckpoint(const Checkpoint& c, const LogKey& log, bool rekor_v2);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_CHECKPOINT_H_
