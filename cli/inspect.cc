#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <ostream>

#include "cli/common.h"
#include "cli/terminal.h"
#include "registry/client.h"
#include "verifier/envelope.h"
#include "verifier/image_integrity.h"
#include "verifier/layers/chain_id.h"
#include "verifier/layers/packages.h"
#include "verifier/policy.h"
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
    "Shows REF's manifest, layers, seals, signature envelope and keyId, and each layer's\n"
    "diff_id and ChainID (a policy's trustedBases names a base by the ChainID of its top\n"
    "layer). Judges nothing: use `layerseal verify` for a verdict. Exit 0 when the\n"
    "manifest could be read.\n"
    "\n"
    "With --policy FILE, also judges the image-integrity rules (trustedBases,\n"
    "protectedPaths, packageInventory; docs/policy.md) of the scope that applies to REF,\n"
    "reading the layers from the registry, and exits 1 when they deny. Signatures are\n"
    "not checked: that is `layerseal verify`.\n"
    "\n"
    "  --platform OS/ARCH  the platform to pick from an index (default: this machine's)\n"
    "  --policy FILE       judge the image-integrity rules of this node policy\n"
    "  --output FORMAT     text (default) or json\n";

// A BlobReader over a registry: each blob is downloaded to a temp file (any size, digest
// checked by the client: DataLoss), then streamed to the inspection in chunks.
class RegistryBlobReader final : public BlobReader {
 public:
  RegistryBlobReader(registry::RegistryClient& client, Reference repo)
      : client_(client), repo_(std::move(repo)) {}

  absl::Status Read(const Descriptor& blob,
                    const std::function<absl::Status(std::string_view chunk)>& sink) override {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string path = StrCat(tmpdir && *tmpdir ? tmpdir : "/tmp", "/layerseal-layer-XXXXXX");
    int fd = mkstemp(path.data());
    if (fd < 0) return absl::InternalError(StrCat("cannot create a temp file in ", path));
    close(fd);
    absl::Status s = client_.FetchBlobToFile(repo_, blob.digest, path);
    if (s.ok()) {
      std::ifstream in(path, std::ios::binary);
      std::string chunk(kChunkBytes, '\0');
      while (s.ok() && in) {
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        std::streamsize n = in.gcount();
        if (n > 0) s = sink(std::string_view(chunk.data(), static_cast<size_t>(n)));
      }
      if (s.ok() && in.bad()) s = absl::InternalError(StrCat("cannot read ", path));
    }
    unlink(path.c_str());
    return s;
  }

 private:
  static constexpr size_t kChunkBytes = 1 << 20;
  registry::RegistryClient& client_;
  Reference repo_;
};

// The image-integrity rules of `policy`'s scope for `image` (image_integrity.h), as JSON.
// Trusted bases written as references are resolved through `client` for `platform`.
ordered_json JudgeIntegrity(registry::RegistryClient& client, Policy& policy,
                            const ResolvedImage& image, const Platform& platform) {
  policy.ResolveTrustedBases([&](const Reference& ref) -> absl::StatusOr<Digest> {
    return ResolveTrustedBase(ref, platform, &client);
  });
  const ScopePolicy& scope = policy.Resolve(image.pinned);
  ordered_json out;
  out["scope"] = scope.scope;
  if (scope.integrity.empty()) {
    out["decision"] = "ALLOW";
    out["detail"] = "the scope has no image-integrity rules";
    return out;
  }
  absl::StatusOr<std::string> config =
      client.FetchBlob(image.pinned, image.manifest.config.digest, kMaxImageConfigBytes);
  if (!config.ok()) {
    out["decision"] = "DENY";
    out["reason"] = std::string(ReasonName(Reason::kRegistryError));
    out["detail"] = StrCat("image config: ", config.status().message());
    return out;
  }
  RegistryBlobReader reader(client, image.pinned);
  ImageInspection in =
      InspectImage(image.fetched.digest, image.manifest, *config, scope.integrity, &reader);
  Verdict unchecked;  // the signature verdict is not this command's: judge the rules alone
  unchecked.decision = Decision::kAllow;
  unchecked.reason = Reason::kVerified;
  Verdict v = ApplyIntegrity(unchecked, scope.integrity, in);
  out["decision"] = std::string(DecisionName(v.decision));
  if (!v.allowed()) {
    out["reason"] = std::string(ReasonName(v.reason));
    out["detail"] = v.detail;
  } else {
    out["detail"] = "the image-integrity rules hold (signatures not checked)";
  }
  if (in.base_name) {
    out["base"] = *in.base_name;
    out["baseLayers"] = in.base_layers;
  }
  out["bytesRead"] = in.bytes_read;
  if (scope.integrity.packages) {
    if (in.packages) {
      absl::StatusOr<std::string> attachment = layers::SerializePackagesAttachment(*in.packages);
      if (attachment.ok()) {
        out["packages"] = ordered_json::parse(*attachment, nullptr, false);
      } else {
        out["packagesStatus"] = std::string(attachment.status().message());
      }
    } else {
      out["packagesStatus"] = std::string(in.packages_status.message());
    }
  }
  return out;
}

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

// The config's diff_ids and every prefix's ChainID (docs/policy.md "trustedBases"), into
// each layer of `out`; `out["rootfs"]` says whether they could be read.
void DescribeRootfs(ImageSource& source, const ResolvedImage& image, ordered_json& out) {
  absl::StatusOr<std::string> config =
      source.FetchBlob(image.pinned, image.manifest.config.digest, kMaxImageConfigBytes);
  absl::StatusOr<std::vector<Digest>> diff_ids =
      config.ok() ? ParseConfigDiffIds(*config) : absl::StatusOr<std::vector<Digest>>(config.status());
  if (diff_ids.ok() && diff_ids->size() != image.manifest.layers.size()) {
    diff_ids = absl::InvalidArgumentError(StrCat("image config: rootfs.diff_ids has ", diff_ids->size(),
                                                 " entries, the manifest ", image.manifest.layers.size(),
                                                 " layers"));
  }
  absl::StatusOr<std::vector<Digest>> chain_ids = std::vector<Digest>{};
  if (diff_ids.ok() && !diff_ids->empty()) chain_ids = layers::ChainIds(*diff_ids);
  if (!diff_ids.ok() || !chain_ids.ok()) {
    absl::Status why = !diff_ids.ok() ? diff_ids.status() : chain_ids.status();
    out["rootfs"] = {{"status", StrCat("unreadable: ", why.message())}};
    return;
  }
  out["rootfs"] = {{"status", "ok"}};
  if (!chain_ids->empty()) out["rootfs"]["chainId"] = chain_ids->back().str();
  for (size_t i = 0; i < diff_ids->size(); ++i) {
    out["layers"][i]["diffId"] = (*diff_ids)[i].str();
    out["layers"][i]["chainId"] = (*chain_ids)[i].str();
  }
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
  DescribeRootfs(source, image, out);
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
  if (d["rootfs"]["status"] == "ok") {
    out << "chain ids  (for a policy's trustedBases: the ChainID of the base's top layer)\n";
    i = 0;
    for (const auto& l : d["layers"]) {
      out << "  " << i++ << "  diff_id " << Shown(l["diffId"]) << "  chain " << Shown(l["chainId"])
          << "\n";
    }
  } else {
    out << "chain ids  " << Shown(d["rootfs"]["status"]) << "\n";
  }
  out << "seals\n";
  for (const auto& [k, v] : d["seals"].items()) out << "  " << TerminalSafe(k) << ": " << Shown(v) << "\n";
  if (!d.contains("integrity")) return;
  const ordered_json& g = d["integrity"];
  out << "integrity  " << Shown(g["decision"]);
  if (g.contains("reason")) out << " " << Shown(g["reason"]);
  out << " (scope " << Shown(g["scope"]) << "): " << Shown(g["detail"]) << "\n";
  if (g.contains("base")) {
    out << "  base: " << Shown(g["base"]) << " (" << Shown(g["baseLayers"]) << " layers)\n";
  }
  if (g.contains("packagesStatus")) out << "  packages: " << Shown(g["packagesStatus"]) << "\n";
  if (g.contains("packages") && g["packages"].is_object() && g["packages"].contains("packages")) {
    out << "  packages above the base\n";
    for (const auto& p : g["packages"]["packages"]) {
      out << "    " << Shown(p.value("layer_index", ordered_json())) << "  " << Shown(p.value("name", ordered_json()))
          << " " << Shown(p.value("version", ordered_json())) << "  " << Shown(p.value("change", ordered_json()))
          << "\n";
    }
  }
}

}  // namespace

int Inspect(const Args& args, Io io) {
  absl::StatusOr<Flags> flags =
      Flags::Parse(args, WithCommonFlags({{"platform", "policy", "output"}, {}}));
  if (!flags.ok()) return UsageError(io, "inspect", Sv(flags.status().message()), kInspectUsage);
  if (flags->Has("help")) {
    io.out << kInspectUsage << "\n" << kRegistryFlagsHelp;
    return kExitOk;
  }
  absl::StatusOr<ImageArgs> image_args = ImageArgsFromFlags(*flags);
  if (!image_args.ok()) return UsageError(io, "inspect", Sv(image_args.status().message()), kInspectUsage);
  std::optional<Policy> policy;
  if (std::optional<std::string> file = flags->Get("policy")) {
    absl::StatusOr<Policy> loaded = Policy::LoadFile(*file);
    if (!loaded.ok()) return Fail(io, "inspect", loaded.status(), kExitUsage);
    policy = *std::move(loaded);
  }
  absl::StatusOr<registry::Options> options = RegistryOptionsFromFlags(*flags, io.in);
  if (!options.ok()) return Fail(io, "inspect", options.status(), kExitUsage);
  registry::RegistryClient client(*options);
  absl::StatusOr<ResolvedImage> image = ResolveImage(client, image_args->ref, image_args->platform);
  if (!image.ok()) return Fail(io, "inspect", image.status(), kExitDenied);
  ordered_json d = Describe(client, *image);
  if (policy) d["integrity"] = JudgeIntegrity(client, *policy, *image, image_args->platform);
  if (image_args->json) {
    io.out << JsonTerminalSafe(d.dump(-1, ' ', false, kReplaceInvalid)) << "\n";
  } else {
    PrintText(d, io.out);
  }
  if (d.contains("integrity") && d["integrity"]["decision"] != "ALLOW") return kExitDenied;
  return kExitOk;
}

}  // namespace layerseal::cli
