#include <iostream>

#include "cli/commands.h"

namespace layerseal::cli {
namespace {

constexpr char kMainUsage[] =
    "layerseal: sign container images and verify their seals (spec: signed-image-format v1)\n"
    "\n"
    "Usage: layerseal <command> [flags] [args]\n"
    "\n"
    "Commands:\n"
    "  keygen    make a signing key pair (NAME.key, NAME.pub) and print its keyId\n"
    "  sign      seal an image in a registry: layerseal sign --key NAME.key SRC DST\n"
    "  verify    verify an image against keys or a policy; exit 0 ALLOW, 1 DENY, 2 error\n"
    "  inspect   show an image's layers, seals, envelope and keyId (no verdict)\n"
    "  cri       talk CRI to the agent or a runtime: version, pull, images, inspecti, rmi\n"
    "  events    the controller's verdict events (filters, --follow), nodes and images\n"
    // issue 17 (verify)
    "  verify-bundle  verify a sigstore bundle over a file or digest, offline (JSON verdict)\n"
    "  policy    policy import: a containers-policy.json as a layerseal policy\n"
    "\n"
    "Run 'layerseal <command> --help' for a command's flags.\n";

}  // namespace

int Main(const Args& args, Io io) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? io.err : io.out) << kMainUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    io.out << "layerseal 0.1.0\n";
    return kExitOk;
  }
  Args rest(args.begin() + 1, args.end());
  if (args[0] == "keygen") return Keygen(rest, io);
  if (args[0] == "sign") return Sign(rest, io);
  if (args[0] == "verify") return Verify(rest, io);
  if (args[0] == "inspect") return Inspect(rest, io);
  if (args[0] == "cri") return Cri(rest, io);
  if (args[0] == "events") return Events(rest, io);
  // issue 17 (verify)
  if (args[0] == "verify-bundle") return VerifyBundle(rest, io);
  if (args[0] == "policy") return PolicyCommands(rest, io);  // issue 17 (i17-policy)
  io.err << "layerseal: unknown command \"" << args[0] << "\"\n\n" << kMainUsage;
  return kExitUsage;
}

}  // namespace layerseal::cli
