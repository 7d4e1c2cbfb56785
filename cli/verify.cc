#include <ostream>

#include "cli/common.h"
#include "cli/verdict_output.h"
#include "registry/client.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "verifier/verifier.h"

namespace layerseal::cli {
namespace {

constexpr char kVerifyUsage[] =
    "Usage: layerseal verify (--key NAME.pub ... | --policy FILE) [flags] REF\n"
    "\n"
    "Verifies REF's signature seal and integrity seal (spec section 4). Exit status:\n"
    "0 ALLOW, 1 DENY, 2 usage or internal error. A DENY exits 1 in every mode: a scope's\n"
    "warn or audit mode lets a node admit the image, but the verdict is still DENY.\n"
    "Registry errors are DENY (REGISTRY_ERROR) unless the scope says onRegistryError:\n"
    "allow. For a namespace's policy, give its file (DIR/<namespace>.yaml) as --policy.\n"
    "\n"
    "  --key FILE          trust this public key (PEM) for every repository; repeatable\n"
    "  --policy FILE       verify under a node policy (docs/policy.md) instead\n"
    "  --platform OS/ARCH  the platform to pick from an index (default: this machine's)\n"
    "  --output FORMAT     text (default) or json\n";

absl::StatusOr<Policy> PolicyFromFlags(const Flags& flags) {
  std::vector<std::string> keys = flags.GetAll("key");
  std::optional<std::string> policy_file = flags.Get("policy");
  if (keys.empty() == !policy_file) {
    return absl::InvalidArgumentError("give either --key (one or more) or --policy");
  }
  if (policy_file) return Policy::LoadFile(*policy_file);
  std::vector<PublicKey> trusted;
  for (const std::string& path : keys) {
    absl::StatusOr<std::string> pem = ReadFileLimited(path, kMaxKeyFileBytes, "public key");
    if (!pem.ok()) return pem.status();
    absl::StatusOr<PublicKey> key = PublicKey::FromPem(*pem);
    if (!key.ok()) return absl::InvalidArgumentError(StrCat(path, ": ", key.status().message()));
    trusted.push_back(*std::move(key));
  }
  return Policy::TrustingKeys(std::move(trusted));
}

}  // namespace

int Verify(const Args& args, Io io) {
  absl::StatusOr<Flags> flags =
      Flags::Parse(args, WithCommonFlags({{"key", "policy", "platform", "output"}, {}}));
  if (!flags.ok()) return UsageError(io, "verify", Sv(flags.status().message()), kVerifyUsage);
  if (flags->Has("help")) {
    io.out << kVerifyUsage << "\n" << kRegistryFlagsHelp;
    return kExitOk;
  }
  absl::StatusOr<ImageArgs> image_args = ImageArgsFromFlags(*flags);
  if (!image_args.ok()) return UsageError(io, "verify", Sv(image_args.status().message()), kVerifyUsage);
  absl::StatusOr<Policy> policy = PolicyFromFlags(*flags);
  if (!policy.ok()) return Fail(io, "verify", policy.status(), kExitUsage);
  absl::StatusOr<registry::Options> options = RegistryOptionsFromFlags(*flags, io.in);
  if (!options.ok()) return Fail(io, "verify", options.status(), kExitUsage);

  registry::RegistryClient client(*options);
  Verifier verifier(&client, &*policy, image_args->platform);
  Verdict verdict = verifier.Verify(image_args->ref);
  io.out << (image_args->json ? VerdictJson(verdict) + "\n" : VerdictText(verdict));
  return verdict.allowed() ? kExitOk : kExitDenied;
}

}  // namespace layerseal::cli
