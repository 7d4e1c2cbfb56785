#include <ostream>

#include "cli/common.h"
#include "verifier/crypto.h"

namespace layerseal::cli {
namespace {

constexpr char kUsage[] =
    "Usage: layerseal keygen [--algorithm ALG] --out NAME\n"
    "\n"
    "Makes a key pair: NAME.key (private, PKCS#8 PEM, mode 0600) and NAME.pub (public,\n"
    "SubjectPublicKeyInfo PEM), and prints the keyId (sha256 of the public key's DER).\n"
    "Existing files are never overwritten.\n"
    "\n"
    "  --algorithm ALG   ecdsa-p256-sha256 (default), ed25519, rsa-pss-sha256 or\n"
    "                    rsa-pkcs1v15-sha256 (RSA keys are 3072 bits)\n"
    "  --out NAME        path prefix of the two files\n";

}  // namespace

int Keygen(const Args& args, Io io) {
  absl::StatusOr<Flags> flags = Flags::Parse(args, {{"algorithm", "out"}, {"help"}});
  if (!flags.ok()) return UsageError(io, "keygen", Sv(flags.status().message()), kUsage);
  if (flags->Has("help")) {
    io.out << kUsage;
    return kExitOk;
  }
  std::optional<std::string> out = flags->Get("out");
  if (!out || out->empty() || !flags->positional().empty()) {
    return UsageError(io, "keygen", "--out NAME is required, and nothing else", kUsage);
  }
  absl::StatusOr<Algorithm> algorithm = ParseAlgorithm(flags->GetOr("algorithm", "ecdsa-p256-sha256"));
  if (!algorithm.ok()) return UsageError(io, "keygen", Sv(algorithm.status().message()), kUsage);

  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(*algorithm);
  if (!key.ok()) return Fail(io, "keygen", key.status(), kExitUsage);
  if (absl::Status s = WriteNewFile(*out + ".key", key->ToPem(), 0600); !s.ok()) {
    return Fail(io, "keygen", s, kExitUsage);
  }
  if (absl::Status s = WriteNewFile(*out + ".pub", key->public_key().ToPem(), 0644); !s.ok()) {
    return Fail(io, "keygen", s, kExitUsage);
  }
  io.out << key->public_key().key_id() << "\n";
  return kExitOk;
}

}  // namespace layerseal::cli
