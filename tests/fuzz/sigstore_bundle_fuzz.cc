// Fuzzes ParseBundle (verifier/sigstore/bundle.h) and FromBundle; an accepted bundle must obey
// every structural rule the parser promises, and its DSSE payload goes through ParseStatement.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/dsse.h"
#include "verifier/sigstore/entity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal::sigstore;
  absl::StatusOr<Bundle> b = ParseBundle(layerseal::fuzz::AsView(data, size));
  if (!b.ok()) return 0;
  FUZZ_CHECK(BundleVersionOf(b->media_type) == b->version);
  FUZZ_CHECK(b->message.has_value() != b->dsse.has_value());
  FUZZ_CHECK(b->tlog.size() <= kMaxTlogEntries);
  FUZZ_CHECK(b->timestamps.size() <= kMaxRfc3161Timestamps);
  FUZZ_CHECK(b->certs_der.size() <= kMaxBundleChainCerts);
  FUZZ_CHECK((b->material == Bundle::Material::kPublicKey) == b->certs_der.empty());
  for (const TlogEntry& e : b->tlog) {
    FUZZ_CHECK(e.log_index >= 0);
    FUZZ_CHECK(!e.log_id.empty() && !e.kind.empty() && !e.version.empty() && !e.body.empty());
    if (b->version == BundleVersion::kV01) FUZZ_CHECK(e.set.has_value());
    if (b->version != BundleVersion::kV01) FUZZ_CHECK(e.proof.has_value());
    if (e.proof.has_value()) {
      FUZZ_CHECK(!e.proof->checkpoint.empty());
      FUZZ_CHECK(e.proof->root_hash.size() == 32);
    }
  }
  if (b->dsse.has_value()) {
    FUZZ_CHECK(b->dsse->signatures.size() == 1);
    (void)dsse::ParseStatement(b->dsse->payload);
  }
  size_t entries = b->tlog.size();
  SignedEntity e = FromBundle(*std::move(b));
  FUZZ_CHECK(e.form == SignedEntity::Form::kBundle);
  FUZZ_CHECK(e.tlog.size() == entries);
  return 0;
}
