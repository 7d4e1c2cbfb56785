// Fuzzes cosign signature discovery (verifier/sigstore/discovery.h) over one document, read as
// chosen by the first input byte: a referrers answer / fallback-tag index (ParseReferrers), a
// .sig manifest (SigLayers), or a referrer manifest (BundleLayer on what ParseImageManifest
// accepts). Checks the limits hold on every accepted input.
#include "tests/fuzz/fuzz_check.h"
#include "verifier/manifest.h"
#include "verifier/sigstore/discovery.h"
#include "verifier/sigstore/simple_signing.h"

namespace ls = layerseal;
namespace ss = layerseal::sigstore;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view body = ls::fuzz::AsView(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      absl::StatusOr<ss::ReferrerList> l = ss::ParseReferrers(body, ls::kOciIndex);
      if (!l.ok()) return 0;
      FUZZ_CHECK(l->candidates.size() <= ss::kMaxReferrers);
      FUZZ_CHECK(l->left_out == 0 || l->candidates.size() == ss::kMaxReferrers);
      for (const ls::Descriptor& d : l->candidates) FUZZ_CHECK(d.media_type == ls::kOciManifest);
      break;
    }
    case 1: {
      absl::StatusOr<ss::SigLayerList> l = ss::SigLayers(body, ls::kOciManifest);
      if (!l.ok()) return 0;
      FUZZ_CHECK(l->layers.size() <= ss::kMaxSigLayers);
      for (const ss::LegacyLayer& layer : l->layers) {
        FUZZ_CHECK(layer.layer.media_type == ss::kSimpleSigningMediaType);
      }
      break;
    }
    default: {
      absl::StatusOr<ls::ImageManifest> m = ls::ParseImageManifest(body, ls::kOciManifest);
      if (!m.ok()) return 0;
      absl::StatusOr<std::optional<ls::Descriptor>> layer = ss::BundleLayer(*m);
      if (layer.ok() && layer->has_value()) {
        FUZZ_CHECK(ss::IsBundleMediaType((*layer)->media_type));
        FUZZ_CHECK((*layer)->size <= static_cast<int64_t>(ss::kMaxBundleBytes));
      }
      break;
    }
  }
  return 0;
}
