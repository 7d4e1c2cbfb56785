// `layerseal verify-bundle`: one sigstore bundle against an artifact, offline, speaking the
// sigstore-conformance CLI protocol (docs/sigstore.md "verify-bundle").
#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>

#include "absl/time/clock.h"
#include "base/file.h"
#include "base/str_cat.h"
#include "cli/common.h"
#include "nlohmann/json.hpp"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/bundle.h"
#include "verifier/sigstore/bundle_verifier.h"
#include "verifier/sigstore/entity.h"
#include "verifier/sigstore/identity.h"
#include "verifier/sigstore/trusted_root.h"
#include "verifier/verdict.h"

namespace layerseal::cli {
namespace {

// An artifact file is hashed as it is read; its bytes are kept for the signature check only
// up to this size (larger ones are checked against their digest: not for Ed25519 keys).
inline constexpr size_t kMaxArtifactInMemoryBytes = 16 << 20;
inline constexpr char kTrustedRootEnv[] = "LAYERSEAL_SIGSTORE_TRUSTED_ROOT";

constexpr char kVerifyBundleUsage[] =
    "Usage: layerseal verify-bundle --bundle FILE\n"
    "           (--certificate-identity ID --certificate-oidc-issuer URL | --key FILE)\n"
    "           [--trusted-root FILE] FILE_OR_DIGEST\n"
    "\n"
    "Verifies a sigstore bundle (v0.1-v0.3) over an artifact offline, in the order of\n"
    "docs/sigstore.md, and prints the verdict as JSON. Exit status: 0 verified, 1 denied,\n"
    "2 usage or input error. FILE_OR_DIGEST is the artifact's path, or sha256:<64 hex>\n"
    "when that is not a file (an in-toto subject for DSSE bundles).\n"
    "\n"
    "  --bundle FILE                   the bundle (application/vnd.dev.sigstore.bundle*)\n"
    "  --certificate-identity ID       the signer's certificate SAN, exactly\n"
    "  --certificate-oidc-issuer URL   the signer's OIDC issuer, exactly\n"
    "  --key FILE                      a PEM public key (key-based signatures)\n"
    "  --trusted-root FILE             a sigstore trusted_root.json (default: the file\n"
    "                                  $LAYERSEAL_SIGSTORE_TRUSTED_ROOT names; nothing\n"
    "                                  is built in and nothing is fetched)\n"
    "  --staging                       refused: there is no network access\n";

struct ArtifactFile {
  sigstore::Artifact artifact;
  std::string where;
};

// "sha256:<64 lowercase hex>" that is not a file on disk is a digest; anything else a path.
absl::StatusOr<ArtifactFile> LoadArtifact(const std::string& arg) {
  ArtifactFile out;
  if (arg.rfind("sha256:", 0) == 0 && arg.size() == 7 + 64 && !std::filesystem::exists(arg)) {
    absl::StatusOr<Digest> d = Digest::Parse(arg);
    if (d.ok()) {
      out.artifact.sha256 = *std::move(d);
      out.where = arg;
      return out;
    }
  }
  std::ifstream in(arg, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot open artifact \"", arg, "\""));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 initialisation failed");
  }
  std::string kept;
  bool keep = true;
  char buf[64 * 1024];
  while (in) {
    in.read(buf, sizeof buf);
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n));
    if (keep) {
      if (kept.size() + static_cast<size_t>(n) > kMaxArtifactInMemoryBytes) {
        keep = false;
        kept.clear();
        kept.shrink_to_fit();
      } else {
        kept.append(buf, static_cast<size_t>(n));
      }
    }
  }
  if (in.bad()) return absl::InternalError(StrCat("cannot read artifact \"", arg, "\""));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  absl::StatusOr<Digest> d =
      Digest::Parse(StrCat("sha256:", HexEncode(std::string_view(reinterpret_cast<char*>(md), len))));
  if (!d.ok()) return d.status();
  out.artifact.sha256 = *std::move(d);
  if (keep) out.artifact.bytes = std::move(kept);
  out.where = arg;
  return out;
}

std::string SignerKindName(sigstore::SignerInfo::Kind k) {
  return k == sigstore::SignerInfo::Kind::kCosignKey ? "cosign-key" : "cosign-keyless";
}

// {"decision","reason","detail","step","signer"}: one line.
std::string ResultJson(const sigstore::EntityResult& r) {
  nlohmann::json j;
  j["decision"] = r.ok() ? "ALLOW" : "DENY";
  j["reason"] = std::string(ReasonName(r.reason));
  j["detail"] = r.detail;
  j["step"] = r.step;
  if (r.signer) {
    const sigstore::SignerInfo& s = *r.signer;
    j["signer"] = {{"kind", SignerKindName(s.kind)},
                   {"keyId", s.key_id},
                   {"issuer", s.issuer},
                   {"subject", s.subject},
                   {"rekorLogIndex", s.log_index},
                   {"rekorLogId", s.log_id_hex},
                   {"signedAt", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", s.signed_at, absl::UTCTimeZone())}};
  } else {
    j["signer"] = nullptr;
  }
  // ASCII only, invalid UTF-8 replaced: safe on any terminal.
  return j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

}  // namespace

int VerifyBundle(const Args& args, Io io) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      args, {{"bundle", "certificate-identity", "certificate-oidc-issuer", "key", "trusted-root"},
             {"staging", "help"}});
  if (!flags.ok()) return UsageError(io, "verify-bundle", Sv(flags.status().message()), kVerifyBundleUsage);
  if (flags->Has("help")) {
    io.out << kVerifyBundleUsage;
    return kExitOk;
  }
  if (flags->Has("staging")) {
    return UsageError(io, "verify-bundle",
                      "--staging is not supported: layerseal verifies offline; give the staging "
                      "instance's trusted root with --trusted-root",
                      kVerifyBundleUsage);
  }
  for (const char* once : {"bundle", "certificate-identity", "certificate-oidc-issuer", "key", "trusted-root"}) {
    if (flags->GetAll(once).size() > 1) {
      return UsageError(io, "verify-bundle", StrCat("--", once, " given more than once"), kVerifyBundleUsage);
    }
  }
  std::optional<std::string> bundle_path = flags->Get("bundle");
  std::optional<std::string> identity = flags->Get("certificate-identity");
  std::optional<std::string> issuer = flags->Get("certificate-oidc-issuer");
  std::optional<std::string> key_path = flags->Get("key");
  if (!bundle_path) return UsageError(io, "verify-bundle", "--bundle is required", kVerifyBundleUsage);
  if (flags->positional().size() != 1) {
    return UsageError(io, "verify-bundle", "give exactly one FILE_OR_DIGEST", kVerifyBundleUsage);
  }
  if (key_path && (identity || issuer)) {
    return UsageError(io, "verify-bundle", "give either --key or --certificate-identity and "
                                           "--certificate-oidc-issuer, not both", kVerifyBundleUsage);
  }
  if (!key_path && (!identity || !issuer)) {
    return UsageError(io, "verify-bundle",
                      "give --certificate-identity and --certificate-oidc-issuer (or --key)", kVerifyBundleUsage);
  }

  // Trust material first: a broken trusted root or key is an input error (exit 2), not a verdict.
  std::optional<std::string> root_path = flags->Get("trusted-root");
  if (!root_path) {
    const char* env = std::getenv(kTrustedRootEnv);
    if (env != nullptr && *env != '\0') root_path = env;
  }
  std::optional<sigstore::TrustedRoot> root;
  if (root_path) {
    absl::StatusOr<sigstore::TrustedRoot> r = sigstore::TrustedRoot::LoadFile(*root_path);
    if (!r.ok()) return Fail(io, "verify-bundle", r.status(), kExitUsage);
    root = *std::move(r);
  } else if (!key_path) {
    return Fail(io, "verify-bundle",
                absl::InvalidArgumentError(StrCat("no trusted root: give --trusted-root or set $",
                                                  kTrustedRootEnv)),
                kExitUsage);
  }
  sigstore::TrustPolicy policy;
  policy.root = root ? &*root : nullptr;
  policy.now = absl::Now();
  std::optional<TrustedKey> key;
  if (key_path) {
    absl::StatusOr<std::string> pem = ReadFileLimited(*key_path, kMaxKeyFileBytes, "public key");
    if (!pem.ok()) return Fail(io, "verify-bundle", pem.status(), kExitUsage);
    absl::StatusOr<PublicKey> pk = PublicKey::FromPem(*pem);
    if (!pk.ok()) {
      return Fail(io, "verify-bundle",
                  absl::InvalidArgumentError(StrCat(*key_path, ": ", Sv(pk.status().message()))), kExitUsage);
    }
    key = TrustedKey{"key", *std::move(pk), std::nullopt};
    policy.keys.push_back(&*key);
    // A key with no trusted root cannot check a log: then only the signature is checked.
    policy.require_tlog = root.has_value();
  } else {
    absl::StatusOr<sigstore::IdentityPattern> p =
        sigstore::MakeIdentityPattern("certificate-identity", *issuer, std::nullopt, *identity, std::nullopt);
    if (!p.ok()) return Fail(io, "verify-bundle", p.status(), kExitUsage);
    policy.identities.push_back(*std::move(p));
  }
  absl::StatusOr<ArtifactFile> artifact = LoadArtifact(flags->positional()[0]);
  if (!artifact.ok()) return Fail(io, "verify-bundle", artifact.status(), kExitUsage);

  // The bundle: what it holds is judged (a verdict), whatever it is.
  sigstore::EntityResult result;
  absl::StatusOr<std::string> bytes = ReadFileLimited(*bundle_path, sigstore::kMaxBundleBytes, "bundle");
  if (!bytes.ok()) {
    if (std::filesystem::exists(*bundle_path) && std::filesystem::is_regular_file(*bundle_path) &&
        std::filesystem::file_size(*bundle_path) > sigstore::kMaxBundleBytes) {
      result = {Reason::kLimitExceeded, StrCat("step 1 parse: ", Sv(bytes.status().message())), 1, std::nullopt};
    } else {
      return Fail(io, "verify-bundle", bytes.status(), kExitUsage);
    }
  } else {
    absl::StatusOr<sigstore::Bundle> bundle = sigstore::ParseBundle(*bytes);
    if (!bundle.ok()) {
      result = {absl::IsResourceExhausted(bundle.status()) ? Reason::kLimitExceeded : Reason::kMalformedSignature,
                StrCat("step 1 parse: ", Sv(bundle.status().message())), 1, std::nullopt};
    } else {
      result = sigstore::VerifyEntity(sigstore::FromBundle(*std::move(bundle)), artifact->artifact, policy);
    }
  }
  io.out << ResultJson(result) << "\n";
  return result.ok() ? kExitOk : kExitDenied;
}

}  // namespace layerseal::cli
