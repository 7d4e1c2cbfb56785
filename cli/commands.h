// The `layerseal` command's subcommands. Each takes its arguments (after the subcommand
// name) and streams, and returns the process exit code.
#ifndef LAYERSEAL_CLI_COMMANDS_H_
#define LAYERSEAL_CLI_COMMANDS_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace layerseal::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDenied = 1;  // verify: DENY; sign: refused or failed
inline constexpr int kExitUsage = 2;   // usage or internal error

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

using Args = std::vector<std::string>;

int Main(const Args& args, Io io);  // args[0] is the subcommand
int Keygen(const Args& args, Io io);
int Sign(const Args& args, Io io);
int Verify(const Args& args, Io io);
int Inspect(const Args& args, Io io);
// `layerseal cri ...`: a CRI client (version, pull, images, inspecti, rmi); exit 1 when the
// runtime answers with an error.
int Cri(const Args& args, Io io);
// `layerseal cri scrub` (issue 18, cli/cri_scrub.cc): the agent's integrity scrub through its
// admin endpoint; exit 1 when it finds a mismatch or cannot check an image.
int CriScrub(const Args& args, Io io);
// `layerseal events ...`: the controller's events (query, --follow) and its per-node and
// per-image summaries, over mutual TLS; exit 1 when the controller cannot be reached or
// answers with an error.
int Events(const Args& args, Io io);
// issue 17 (verify): `layerseal verify-bundle ...`: one sigstore bundle over an artifact,
// offline, in the sigstore-conformance CLI protocol; exit 0 verified, 1 denied, 2 error.
int VerifyBundle(const Args& args, Io io);
// `layerseal policy import ...`: a containers-policy.json turned into a layerseal policy
// (issue 17, docs/sigstore.md); exit 2 for anything it cannot express.
int PolicyCommands(const Args& args, Io io);

}  // namespace layerseal::cli

#endif  // LAYERSEAL_CLI_COMMANDS_H_
