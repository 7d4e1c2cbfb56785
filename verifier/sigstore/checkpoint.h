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
// The note `envelope`: valid UTF-8, at most kMaxCheckpointBytes, ending in "\n". The signed
// text runs up to and including the newline before the first blank line: an origin line, a
// tree size (decimal u64, no leading zeros), a base64 root hash of 32 bytes, then at most
// kMaxNoteExtensionLines extension lines, no control characters but "\n". After the blank
// line come 1..kMaxNoteSignatures lines "\u2014 <name> <base64(4-byte key hint || sig)>\n"
// (name: no whitespace, no '+'). InvalidArgument naming what is missing or malformed.
absl::StatusOr<Checkpoint> ParseCheckpoint(std::string_view envelope);
// OK when the lines whose key hint is `log`'s (the first 4 bytes of log.checkpoint_key_id, or
// of log.log_id without one) and, for Rekor v2, whose name is log.origin exist and all verify
// over c.signed_text (ECDSA over the curve's digest, Ed25519 pure). Other lines (witness
// cosignatures, other keys) are ignored. Rekor v2 also needs c.origin == log.origin; Rekor v1
// does not check names (plan §3.4). PermissionDenied saying why otherwise. The caller checks
// c.size and c.root_hash against the inclusion proof.
absl::Status VerifyCheckpoint(const Checkpoint& c, const LogKey& log, bool rekor_v2);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_CHECKPOINT_H_
