#include <ostream>

#include "cli/common.h"
#include "cli/terminal.h"
#include "registry/client.h"
#include "verifier/envelope.h"
#include "verifier/seal_layer.h"
#include "base/str_cat.h"
#include "verifier/verifier.h"

namespace layerseal::cli {
namespace {

using nlohmann::ordered_json;

// Strings from a registry may not be UTF-8; JSON output shows such bytes as U+FFFD rather
// than throwing (nlohmann's default).
constexpr auto kReplaceInvalid = ordered_json::error_handler_t::replace;

constexpr char kInspectUsage[] =
    "Usage: layerseal inspect [flags] REF\n"
    "\n"
    "Shows REF's manifest, layers, seals, signature envelope and keyId. Judges nothing:\n"
    "use `layerseal verify` for a verdict. Exit 0 when the manifest could be read.\n"
    "\n"
    "  --platform OS/ARCH  the platform to pick from an index (default: this machine's)\n"
    "  --output FORMAT     text (default) or json\n";

std::string SealRole(const Descriptor& d) {
  auto it = d.annotations.find(std::string(kSealAnnotation));
  return it == d.annotations.end() ? "" : it->second;
}

// Reads the two seals when the last two layers are annotated as seals.
ordered_json InspectSeals(ImageSource& source, const ResolvedImage& image) {
  const auto& layers = image.manifest.layers;
  size_t n = layers.size();
  if (n < 2 || SealRole(layers[n - 2]) != kSealManifestValue ||
      SealRole(layers[n - 1]) != kSealSignatureValue) {
    bool any = false;
    for (const Descriptor& d : layers) any = any || !SealRole(d).empty();
    return {{"status", any ? "seal annotations present but not as the last two layers" : "not signed"}};
  }
  ordered_json out;
  std::string tar;
  absl::StatusOr<std::string> mb = ReadSealFile(source, image.pinned, layers[n - 2], kSealManifestPath, &tar);
  if (!mb.ok()) return {{"status", StrCat("manifest seal unreadable: ", mb.status().message())}};
  absl::StatusOr<std::string> env_text = ReadSealFile(source, image.pinned, layers[n - 1], kSealSignaturePath, &tar);
  if (!env_text.ok()) return {{"status", StrCat("signature seal unreadable: ", env_text.status().message())}};
  Digest base = Digest::Sha256Of(*mb);
  out["baseManifestDigest"] = base.str();
  out["baseManifestBytes"] = mb->size();
  absl::StatusOr<Envelope> env = ParseEnvelope(*env_text);
  if (!env.ok()) {
    out["status"] = StrCat("envelope invalid: ", env.status().message());
    return out;
  }
  out["status"] = "sealed";
  out["algorithm"] = AlgorithmName(env->algorithm);
  out["keyId"] = env->key_id;
  out["manifestDigest"] = env->manifest_digest.str();
  out["manifestDigestMatches"] = env->manifest_digest == base;
  out["signatureBytes"] = env->signature.size();
  return out;
}

ordered_json Describe(ImageSource& source, const ResolvedImage& image) {
  ordered_json out;
  out["reference"] = image.pinned.ToString();
  if (image.index_digest) out["index"] = image.index_digest->str();
  out["digest"] = image.fetched.digest.str();
  out["mediaType"] = image.manifest.media_type;
  out["config"] = {{"digest", image.manifest.config.digest.str()}, {"size", image.manifest.config.size}};
  out["layers"] = ordered_json::array();
  for (const Descriptor& d : image.manifest.layers) {
    ordered_json l = {{"digest", d.digest.str()}, {"size", d.size}, {"mediaType", d.media_type}};
    if (!SealRole(d).empty()) l["seal"] = SealRole(d);
    out["layers"].push_back(l);
  }
  out["seals"] = InspectSeals(source, image);
  return out;
}

// A value of `d` for a terminal: strings (from the registry) escaped (terminal.h), the rest
// as JSON.
std::string Shown(const ordered_json& v) {
  return TerminalSafe(v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, kReplaceInvalid));
}

void PrintText(const ordered_json& d, std::ostream& out) {
  out << "reference  " << Shown(d["reference"]) << "\n";
  if (d.contains("index")) out << "index      " << Shown(d["index"]) << "\n";
  out << "manifest   " << Shown(d["digest"]) << "  " << Shown(d["mediaType"]) << "\n";
  out << "config     " << Shown(d["config"]["digest"]) << "  " << Shown(d["config"]["size"]) << " bytes\n";
  out << "layers\n";
  int i = 0;
  for (const auto& l : d["layers"]) {
    out << "  " << i++ << "  " << Shown(l["digest"]) << "  " << Shown(l["size"]) << "  "
        << Shown(l["mediaType"]);
    if (l.contains("seal")) out << "  [seal: " << Shown(l["seal"]) << "]";
    out << "\n";
  }
  out << "seals\n";
  for (const auto& [k, v] : d["seals"].items()) out << "  " << TerminalSafe(k) << ": " << Shown(v) << "\n";
}

}  // namespace

int Inspect(const Args& args, Io io) {
  absl::StatusOr<Flags> flags = Flags::Parse(args, WithCommonFlags({{"platform", "output"}, {}}));
  if (!flags.ok()) return UsageError(io, "inspect", Sv(flags.status().message()), kInspectUsage);
  if (flags->Has("help")) {
    io.out << kInspectUsage << "\n" << kRegistryFlagsHelp;
    return kExitOk;
  }
  absl::StatusOr<ImageArgs> image_args = ImageArgsFromFlags(*flags);
  if (!image_args.ok()) return UsageError(io, "inspect", Sv(image_args.status().message()), kInspectUsage);
  absl::StatusOr<registry::Options> options = RegistryOptionsFromFlags(*flags, io.in);
  if (!options.ok()) return Fail(io, "inspect", options.status(), kExitUsage);
  registry::RegistryClient client(*options);
  absl::StatusOr<ResolvedImage> image = ResolveImage(client, image_args->ref, image_args->platform);
  if (!image.ok()) return Fail(io, "inspect", image.status(), kExitDenied);
  ordered_json d = Describe(client, *image);
  if (image_args->json) {
    io.out << JsonTerminalSafe(d.dump(-1, ' ', false, kReplaceInvalid)) << "\n";
  } else {
    PrintText(d, io.out);
  }
  return kExitOk;
}

}  // namespace layerseal::cli
