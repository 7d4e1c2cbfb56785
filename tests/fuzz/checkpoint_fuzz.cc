// Fuzzes the signed-note checkpoint parser (verifier/sigstore/checkpoint.h ParseCheckpoint),
// which reads the inclusionProof.checkpoint.envelope of every Rekor entry in a bundle, and runs
// what parsed through VerifyCheckpoint against a fixed Ed25519 key whose hint is the note's
// first one (so the candidate and signature paths run too).
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/sigstore/checkpoint.h"

namespace {

std::shared_ptr<EVP_PKEY> FixedKey() {
  static const unsigned char kRaw[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                         17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
  static std::shared_ptr<EVP_PKEY>* key = new std::shared_ptr<EVP_PKEY>(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, kRaw, sizeof(kRaw)), EVP_PKEY_free);
  return *key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::sigstore;
  std::string_view in = layerseal::fuzz::AsView(data, size);
  absl::StatusOr<Checkpoint> c = ParseCheckpoint(in);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(in.size() <= kMaxCheckpointBytes);
  FUZZ_CHECK(!c->origin.empty());
  FUZZ_CHECK(c->root_hash.size() == 32);
  FUZZ_CHECK(c->extra.size() <= kMaxNoteExtensionLines);
  FUZZ_CHECK(!c->sigs.empty() && c->sigs.size() <= kMaxNoteSignatures);
  // The signed text is the input up to the blank line, and ends in one newline.
  FUZZ_CHECK(in.substr(0, c->signed_text.size()) == c->signed_text);
  FUZZ_CHECK(in.substr(c->signed_text.size(), 1) == "\n");
  FUZZ_CHECK(c->signed_text.back() == '\n');
  for (const NoteSignature& s : c->sigs) {
    FUZZ_CHECK(s.key_hint.size() == 4);
    FUZZ_CHECK(!s.sig.empty());
    FUZZ_CHECK(!s.name.empty() && s.name.find(' ') == std::string::npos);
  }
  LogKey log;
  log.key = FixedKey();
  log.origin = c->origin;
  log.log_id = c->sigs[0].key_hint + std::string(28, 'k');
  for (bool v2 : {false, true}) {
    absl::Status st = VerifyCheckpoint(*c, log, v2);
    // Nobody holds the fixed key's private half.
    FUZZ_CHECK(st.code() == absl::StatusCode::kPermissionDenied);
  }
  return 0;
}
