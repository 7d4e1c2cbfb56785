#include "cli/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

#include "cli/terminal.h"
#include "base/str_cat.h"

namespace layerseal::cli {

const char kRegistryFlagsHelp[] =
    "Registry flags:\n"
    "  --plain-http          talk plain HTTP to the registry (default: HTTPS, verified)\n"
    "  --ca-file FILE        also trust this PEM CA bundle for TLS\n"
    "  --username USER       registry user name, sent to every registry the command\n"
    "                        talks to (password from --password-stdin)\n"
    "  --password-stdin      read the registry password from the first line of stdin\n"
    "  --docker-config FILE  docker config.json with \"auths\" (default: $DOCKER_CONFIG\n"
    "                        or ~/.docker/config.json; credsStore and credHelpers are\n"
    "                        not used)\n"
    "  --timeout DURATION    budget of one registry request, its retries and redirects\n"
    "                        included, e.g. 30s (default 30s)\n"
    "  --total-timeout DURATION\n"
    "                        deadline for all of the command's registry traffic, e.g. 60s\n"
    "                        (default: none)\n";

FlagSpec WithCommonFlags(FlagSpec spec) {
  spec.switches.insert({"plain-http", "password-stdin", "help"});
  spec.values.insert({"ca-file", "username", "timeout", "total-timeout", "docker-config"});
  return spec;
}

absl::StatusOr<registry::Options> RegistryOptionsFromFlags(const Flags& flags, std::istream& in) {
  registry::Options options;
  options.plain_http = flags.Has("plain-http");
  options.ca_file = flags.GetOr("ca-file", "");
  if (auto t = flags.Get("timeout")) {
    absl::StatusOr<absl::Duration> d = ParsePositiveDuration(*t);
    if (!d.ok()) return d.status();
    options.timeout = *d;
  }
  if (auto t = flags.Get("total-timeout")) {
    absl::StatusOr<absl::Duration> d = ParsePositiveDuration(*t);
    if (!d.ok()) return d.status();
    options.total_timeout = *d;
  }
  std::shared_ptr<const registry::CredentialStore> from_config;
  if (auto path = flags.Get("docker-config")) {
    auto store = registry::DockerConfigCredentials(*path);
    if (!store.ok()) return store.status();
    from_config = *store;
  } else {
    auto store = registry::DefaultDockerConfigCredentials();
    if (!store.ok()) return store.status();
    from_config = *store;
  }
  options.credentials = from_config;
  if (auto user = flags.Get("username")) {
    if (!flags.Has("password-stdin")) {
      return absl::InvalidArgumentError("--username needs --password-stdin");
    }
    registry::Credentials c;
    c.username = *user;
    std::getline(in, c.password);
    if (!c.password.empty() && c.password.back() == '\r') c.password.pop_back();
    options.credentials =
        registry::ChainCredentials(registry::StaticCredentials("", c), from_config);
  } else if (flags.Has("password-stdin")) {
    return absl::InvalidArgumentError("--password-stdin needs --username");
  }
  return options;
}

absl::StatusOr<ImageArgs> ImageArgsFromFlags(const Flags& flags) {
  if (flags.positional().size() != 1) return absl::InvalidArgumentError("give exactly one REF");
  ImageArgs out;
  std::string output = flags.GetOr("output", "text");
  if (output != "text" && output != "json") {
    return absl::InvalidArgumentError(StrCat("--output is text or json, not \"", output, "\""));
  }
  out.json = output == "json";
  absl::StatusOr<Reference> ref = Reference::Parse(flags.positional()[0]);
  if (!ref.ok()) return ref.status();
  out.ref = *std::move(ref);
  std::optional<std::string> p = flags.Get("platform");
  absl::StatusOr<Platform> platform = p ? Platform::Parse(*p) : Platform::Host();
  if (!platform.ok()) return platform.status();
  out.platform = *std::move(platform);
  return out;
}

absl::Status WriteNewFile(const std::string& path, std::string_view content, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::AlreadyExistsError(StrCat("cannot create ", path, ": ", std::strerror(errno)));
  size_t done = 0;
  int error = 0;
  while (done < content.size() && error == 0) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) error = n < 0 ? errno : EIO;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (error == 0 && (fchmod(fd, mode) != 0 || fsync(fd) != 0)) error = errno;
  if (close(fd) != 0 && error == 0) error = errno;
  if (error == 0) return absl::OkStatus();
  unlink(path.c_str());  // ours (O_EXCL): nothing half-written stays behind
  return absl::InternalError(StrCat("cannot write ", path, ": ", std::strerror(error)));
}

int Fail(Io io, std::string_view command, const absl::Status& status, int code) {
  // Messages quote registries, runtimes and files: shown escaped (terminal.h).
  io.err << "layerseal " << command << ": " << TerminalSafe(Sv(status.message())) << "\n";
  return code;
}

int UsageError(Io io, std::string_view command, std::string_view message, std::string_view usage) {
  io.err << "layerseal " << command << ": " << message << "\n\n" << usage;
  return kExitUsage;
}

void PrintColumns(const std::vector<std::vector<std::string>>& rows, size_t gap, std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + gap, ' ');
    }
    out << line << "\n";
  }
}

}  // namespace layerseal::cli
