// What the registry-facing subcommands share: the common flags, files, error reporting.
#ifndef LAYERSEAL_CLI_COMMON_H_
#define LAYERSEAL_CLI_COMMON_H_

#include <ostream>
#include <string>
#include <vector>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/commands.h"
#include "base/flags.h"
#include "registry/client.h"
#include "verifier/manifest.h"
#include "base/str_cat.h"

namespace layerseal::cli {

inline constexpr size_t kMaxKeyFileBytes = 64 * 1024;

// Help text for the common registry flags, for the subcommands' usage.
extern const char kRegistryFlagsHelp[];

// Adds --plain-http, --ca-file, --username, --password-stdin, --timeout, --total-timeout,
// --docker-config
// and --help to `spec`.
FlagSpec WithCommonFlags(FlagSpec spec);
// Registry options from the common flags. The password is read from `in` (first line).
// Credentials: --username/--password-stdin, else docker's config.json.
absl::StatusOr<registry::Options> RegistryOptionsFromFlags(const Flags& flags, std::istream& in);

// What the commands that read one image take: exactly one REF, --platform OS/ARCH[/VARIANT]
// (default this machine's) and --output text|json (default text). Errors are usage errors.
struct ImageArgs {
  Reference ref;
  Platform platform;
  bool json = false;
};
absl::StatusOr<ImageArgs> ImageArgsFromFlags(const Flags& flags);

// Writes `content` to a new file `path` with `mode`, synced to disk; refuses to overwrite
// (ALREADY_EXISTS). When writing fails the file it created is removed again.
absl::Status WriteNewFile(const std::string& path, std::string_view content, int mode);

// Prints "layerseal <command>: <message>" to io.err and returns `code`.
int Fail(Io io, std::string_view command, const absl::Status& status, int code);
int UsageError(Io io, std::string_view command, std::string_view message, std::string_view usage);

// Prints `rows` as left-aligned columns, `gap` spaces between them (the last column unpadded),
// one line per row. Cells are printed as they are: make them terminal-safe first.
void PrintColumns(const std::vector<std::vector<std::string>>& rows, size_t gap, std::ostream& out);

}  // namespace layerseal::cli

#endif  // LAYERSEAL_CLI_COMMON_H_
