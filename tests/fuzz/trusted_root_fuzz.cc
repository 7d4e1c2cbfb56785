// Fuzzes TrustedRoot::Parse (verifier/sigstore/trusted_root.h); an accepted root has a store
// per authority, a key per log that FindTlog/FindCtlog find again, and its file's digest.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/sigstore/trusted_root.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::sigstore;
  absl::StatusOr<TrustedRoot> r = TrustedRoot::Parse(layerseal::fuzz::AsView(data, size), "fuzz");
  if (!r.ok()) return 0;
  FUZZ_CHECK(r->sha256().rfind("sha256:", 0) == 0);
  for (const auto* logs : {&r->tlogs(), &r->ctlogs()}) {
    FUZZ_CHECK(logs->size() <= kMaxTrustedRootEntries);
    for (const LogKey& k : *logs) {
      FUZZ_CHECK(k.key != nullptr && !k.log_id.empty());
      FUZZ_CHECK(!k.valid_for.end.has_value() || *k.valid_for.end >= k.valid_for.start);
      FUZZ_CHECK(k.valid_for.Contains(k.valid_for.start));
    }
  }
  for (const LogKey& k : r->tlogs()) FUZZ_CHECK(r->FindTlog(k.log_id) != nullptr);
  for (const LogKey& k : r->ctlogs()) FUZZ_CHECK(r->FindCtlog(k.log_id) != nullptr);
  for (const auto* list : {&r->fulcio(), &r->tsas()}) {
    for (const Authority& a : *list) {
      FUZZ_CHECK(a.store != nullptr);
      FUZZ_CHECK(!a.chain.empty() && a.chain.size() <= kMaxCaChainCerts);
    }
  }
  return 0;
}
