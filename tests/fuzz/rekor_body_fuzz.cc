// Fuzzes the Rekor entry-body parser (verifier/sigstore/rekor.h ParseEntryBody): the first
// byte picks the entry's kindVersion (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2,
// hashedrekord 0.0.2, an unknown one, or dsse 0.0.2), the rest is the canonicalized body.
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "verifier/sigstore/rekor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::sigstore;
  if (size == 0) return 0;
  static const char* const kKinds[][2] = {{"hashedrekord", "0.0.1"}, {"dsse", "0.0.1"}, {"intoto", "0.0.2"},
                                          {"hashedrekord", "0.0.2"}, {"rekord", "0.0.1"}, {"dsse", "0.0.2"}};
  const auto& kv = kKinds[data[0] % 6];
  TlogEntry e;
  e.kind = kv[0];
  e.version = kv[1];
  e.body = std::string(layerseal::fuzz::AsView(data + 1, size - 1));
  absl::StatusOr<EntryBody> b = ParseEntryBody(e);
  if (!b.ok()) {
    FUZZ_CHECK(b.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(data[0] % 6 != 4);
  FUZZ_CHECK(!b->signatures.empty() && b->signatures.size() <= dsse::kMaxEnvelopeSignatures);
  FUZZ_CHECK(b->verifiers_der.size() == b->signatures.size());
  FUZZ_CHECK(b->verifier_is_cert.size() == b->signatures.size());
  for (size_t i = 0; i < b->signatures.size(); ++i) {
    FUZZ_CHECK(b->signatures[i].size() <= kMaxSignatureBytes);
    FUZZ_CHECK(!b->signatures[i].empty() || b->kind == BodyKind::kIntoto002);
    FUZZ_CHECK(!b->verifiers_der[i].empty());
  }
  size_t want = b->digest_alg == "sha256" ? 32 : b->digest_alg == "sha384" ? 48 : b->digest_alg == "sha512" ? 64 : 0;
  FUZZ_CHECK(want != 0 && b->digest.size() == want);
  FUZZ_CHECK(b->envelope_hash.empty() || b->kind == BodyKind::kDsse001);
  FUZZ_CHECK(LeafHash(e.body).size() == 32);
  return 0;
}
