// `layerseal policy import`: a containers-policy.json turned into a layerseal policy
// directory (policy.yaml, keys/, sigstore/) by verifier/policy_import.h; the result is loaded
// back with Policy::LoadFile before the command reports success. Existing files are never
// overwritten.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>

#include "base/file.h"
#include "base/str_cat.h"
#include "cli/common.h"
#include "verifier/policy.h"
#include "verifier/policy_import.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::cli {
namespace {

constexpr char kPolicyUsage[] =
    "Usage: layerseal policy import --containers-policy FILE [--trusted-root FILE] [--output DIR]\n"
    "\n"
    "Turns a containers-policy.json (podman, CRI-O, skopeo) into a layerseal policy. Anything it\n"
    "cannot express exactly (GPG signedBy, other transports, a list of several requirements,\n"
    "signedIdentity other than matchRepoDigestOrExact, ...) is an error naming its JSON path.\n"
    "\n"
    "  --containers-policy FILE  the containers-policy.json; relative keyPath/caPath/\n"
    "                            rekorPublicKeyPath resolve against its directory\n"
    "  --trusted-root FILE       a sigstore trusted_root.json: needed for fulcio and Rekor keys,\n"
    "                            which must be among its certificateAuthorities and tlogs\n"
    "  --output DIR              write DIR/policy.yaml, DIR/keys/*.pub and\n"
    "                            DIR/sigstore/trusted_root.json (never overwriting a file);\n"
    "                            without it the policy is printed (only when it needs no files)\n";

std::string DirOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

int Import(const Args& args, Io io) {
  absl::StatusOr<Flags> flags =
      Flags::Parse(args, {{"containers-policy", "trusted-root", "output"}, {"help"}});
  if (!flags.ok()) return UsageError(io, "policy import", Sv(flags.status().message()), kPolicyUsage);
  if (flags->Has("help")) {
    io.out << kPolicyUsage;
    return kExitOk;
  }
  std::optional<std::string> input = flags->Get("containers-policy");
  if (!input || input->empty() || !flags->positional().empty()) {
    return UsageError(io, "policy import", "--containers-policy FILE is required, and no arguments", kPolicyUsage);
  }
  absl::StatusOr<std::string> text = ReadFileLimited(*input, kMaxContainersPolicyBytes, "");
  if (!text.ok()) return Fail(io, "policy import", text.status(), kExitUsage);
  ImportOptions options;
  if (std::optional<std::string> root = flags->Get("trusted-root")) {
    absl::StatusOr<std::string> bytes = ReadFileLimited(*root, sigstore::kMaxTrustedRootBytes, "");
    if (!bytes.ok()) return Fail(io, "policy import", bytes.status(), kExitUsage);
    options.trusted_root_json = *std::move(bytes);
  }
  std::string base = DirOf(*input);
  options.read_file = [&base](const std::string& path, size_t max_bytes) {
    std::string full = path.starts_with('/') ? path : StrCat(base, "/", path);
    return ReadFileLimited(full, max_bytes, "");
  };
  absl::StatusOr<ImportedPolicy> imported = ImportContainersPolicy(*text, options);
  if (!imported.ok()) {
    return Fail(io, "policy import",
                absl::Status(imported.status().code(), StrCat(*input, ": ", Sv(imported.status().message()))),
                kExitUsage);
  }
  std::optional<std::string> output = flags->Get("output");
  if (!output) {
    if (!imported->files.empty()) {
      return UsageError(io, "policy import",
                        StrCat("the policy needs ", imported->files.size(),
                               " key or trusted-root files: give --output DIR"),
                        kPolicyUsage);
    }
    io.out << imported->yaml;
    return kExitOk;
  }
  if (output->empty()) return UsageError(io, "policy import", "--output DIR is empty", kPolicyUsage);
  // Refuse before writing anything when a target exists, so that a run writes all or nothing
  // new (a file written before a later failure is removed again below).
  std::vector<std::string> written;
  auto undo = [&written] {
    for (const std::string& f : written) std::filesystem::remove(f);
  };
  std::string policy_path = StrCat(*output, "/policy.yaml");
  std::vector<std::string> targets = {policy_path};
  for (const ImportedFile& f : imported->files) targets.push_back(StrCat(*output, "/", f.path));
  for (const std::string& t : targets) {
    struct stat st;
    if (lstat(t.c_str(), &st) == 0) {
      return Fail(io, "policy import",
                  absl::AlreadyExistsError(StrCat(t, " exists; policy import never overwrites a file")),
                  kExitUsage);
    }
  }
  for (const ImportedFile& f : imported->files) {
    std::string path = StrCat(*output, "/", f.path);
    if (absl::Status s = MakeDirs(DirOf(path)); !s.ok()) {
      undo();
      return Fail(io, "policy import", s, kExitUsage);
    }
    if (absl::Status s = WriteNewFile(path, f.contents, 0644); !s.ok()) {
      undo();
      return Fail(io, "policy import", s, kExitUsage);
    }
    written.push_back(path);
  }
  if (absl::Status s = MakeDirs(*output); !s.ok()) {
    undo();
    return Fail(io, "policy import", s, kExitUsage);
  }
  if (absl::Status s = WriteNewFile(policy_path, imported->yaml, 0644); !s.ok()) {
    undo();
    return Fail(io, "policy import", s, kExitUsage);
  }
  written.push_back(policy_path);
  // What the agent will do with it: a policy import wrote but the agent refused would be a
  // trap, so this is checked here.
  absl::StatusOr<Policy> loaded = Policy::LoadFile(policy_path);
  if (!loaded.ok()) {
    undo();
    return Fail(io, "policy import",
                absl::InternalError(StrCat("the written policy does not load (removed again): ",
                                           Sv(loaded.status().message()))),
                kExitUsage);
  }
  io.out << policy_path << "\n";
  for (const ImportedFile& f : imported->files) io.out << *output << "/" << f.path << "\n";
  return kExitOk;
}

}  // namespace

int PolicyCommands(const Args& args, Io io) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? io.err : io.out) << kPolicyUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "import") return Import(Args(args.begin() + 1, args.end()), io);
  io.err << "layerseal policy: unknown subcommand \"" << args[0] << "\"\n\n" << kPolicyUsage;
  return kExitUsage;
}

}  // namespace layerseal::cli
