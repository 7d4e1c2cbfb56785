// `layerseal policy import`: a containers-policy.json, or a Notary Project
// trustpolicy.oci.json with its trust store directory, turned into a layerseal policy
// directory (policy.yaml, keys/, sigstore/, truststore/) by verifier/policy_import.h; the
// result is loaded back with Policy::LoadFile before the command reports success. Existing
// files are never overwritten.
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
    "       layerseal policy import --notation-trust-policy FILE [--trust-store DIR] [--output DIR]\n"
    "\n"
    "Turns a containers-policy.json (podman, CRI-O, skopeo), or a Notary Project trust policy\n"
    "(notation's trustpolicy.oci.json) and its trust stores, into a layerseal policy. Anything it\n"
    "cannot express exactly (GPG signedBy, other transports, a list of several requirements,\n"
    "signedIdentity other than matchRepoDigestOrExact, a wildcard registry scope, ...) is an\n"
    "error naming its JSON path. The written policy is loaded before the command succeeds.\n"
    "\n"
    "  --containers-policy FILE  the containers-policy.json; relative keyPath/caPath/\n"
    "                            rekorPublicKeyPath resolve against its directory\n"
    "  --trusted-root FILE       a sigstore trusted_root.json: needed for fulcio and Rekor keys,\n"
    "                            which must be among its certificateAuthorities and tlogs\n"
    "  --output DIR              write DIR/policy.yaml, DIR/keys/*.pub and\n"
    "                            DIR/sigstore/trusted_root.json (never overwriting a file);\n"
    "                            without it the policy is printed (only when it needs no files)\n"
    "\n"
    "  --notation-trust-policy FILE  a trustpolicy.oci.json (version 1.0): each statement becomes\n"
    "                            an exact scope per registryScopes entry, \"*\" the default\n"
    "  --trust-store DIR         notation's trust store directory (default: truststore beside\n"
    "                            FILE); the store \"ca:acme\" is DIR/x509/ca/acme, copied to\n"
    "                            OUTPUT/truststore/x509/ca/acme (files not named *.pem, *.crt\n"
    "                            or *.cer get .crt appended)\n";

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

// The entries of `dir` as lstat(2) sees them (NotationImportOptions::list_dir).
absl::StatusOr<std::vector<DirEntry>> ListDir(const std::string& dir, size_t max_entries) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(StrCat(dir, " does not exist"));
    return absl::FailedPreconditionError(StrCat("cannot stat ", dir, ": ", std::strerror(errno)));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(StrCat(dir, " is a symlink (notation refuses symlinked trust stores)"));
  }
  if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(StrCat(dir, " is not a directory"));
  std::vector<DirEntry> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (out.size() > max_entries) break;
    std::error_code st_ec;
    std::filesystem::file_status s = it->symlink_status(st_ec);
    DirEntry e;
    e.name = it->path().filename().string();
    e.type = st_ec                                     ? DirEntry::Type::kOther
             : std::filesystem::is_symlink(s)          ? DirEntry::Type::kSymlink
             : std::filesystem::is_directory(s)        ? DirEntry::Type::kDirectory
             : std::filesystem::is_regular_file(s)     ? DirEntry::Type::kFile
                                                       : DirEntry::Type::kOther;
    out.push_back(std::move(e));
  }
  if (ec) return absl::FailedPreconditionError(StrCat("cannot list ", dir, ": ", ec.message()));
  return out;
}

absl::StatusOr<ImportedPolicy> Prefixed(absl::StatusOr<ImportedPolicy> r, const std::string& input) {
  if (r.ok()) return r;
  return absl::Status(r.status().code(), StrCat(input, ": ", Sv(r.status().message())));
}

// Reads the input policy and turns it into files (one of the two formats).
absl::StatusOr<ImportedPolicy> ImportInput(const Flags& flags, const std::string& input, bool notation) {
  std::string base = DirOf(input);
  if (notation) {
    absl::StatusOr<std::string> text = ReadFileLimited(input, kMaxNotationTrustPolicyBytes, "");
    if (!text.ok()) return text.status();
    NotationImportOptions options;
    options.trust_store = flags.Get("trust-store").value_or(StrCat(base, "/truststore"));
    options.list_dir = ListDir;
    options.read_file = [](const std::string& path, size_t max_bytes) {
      return ReadFileLimited(path, max_bytes, "");
    };
    return Prefixed(ImportNotationTrustPolicy(*text, options), input);
  }
  absl::StatusOr<std::string> text = ReadFileLimited(input, kMaxContainersPolicyBytes, "");
  if (!text.ok()) return text.status();
  ImportOptions options;
  if (std::optional<std::string> root = flags.Get("trusted-root")) {
    absl::StatusOr<std::string> bytes = ReadFileLimited(*root, sigstore::kMaxTrustedRootBytes, "");
    if (!bytes.ok()) return bytes.status();
    options.trusted_root_json = *std::move(bytes);
  }
  options.read_file = [&base](const std::string& path, size_t max_bytes) {
    std::string full = path.starts_with('/') ? path : StrCat(base, "/", path);
    return ReadFileLimited(full, max_bytes, "");
  };
  return Prefixed(ImportContainersPolicy(*text, options), input);
}

int Import(const Args& args, Io io) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      args, {{"containers-policy", "trusted-root", "notation-trust-policy", "trust-store", "output"},
             {"help"}});
  if (!flags.ok()) return UsageError(io, "policy import", Sv(flags.status().message()), kPolicyUsage);
  if (flags->Has("help")) {
    io.out << kPolicyUsage;
    return kExitOk;
  }
  std::optional<std::string> containers = flags->Get("containers-policy");
  std::optional<std::string> notation = flags->Get("notation-trust-policy");
  if (containers.has_value() == notation.has_value() || !flags->positional().empty()) {
    return UsageError(io, "policy import",
                      "--containers-policy FILE or --notation-trust-policy FILE is required (one "
                      "of them), and no arguments",
                      kPolicyUsage);
  }
  const std::string& input = containers ? *containers : *notation;
  if (input.empty()) return UsageError(io, "policy import", "the input FILE is empty", kPolicyUsage);
  if (containers && flags->Get("trust-store")) {
    return UsageError(io, "policy import", "--trust-store goes with --notation-trust-policy", kPolicyUsage);
  }
  if (notation && flags->Get("trusted-root")) {
    return UsageError(io, "policy import", "--trusted-root goes with --containers-policy", kPolicyUsage);
  }
  absl::StatusOr<ImportedPolicy> imported = ImportInput(*flags, input, notation.has_value());
  if (!imported.ok()) return Fail(io, "policy import", imported.status(), kExitUsage);
  std::optional<std::string> output = flags->Get("output");
  if (!output) {
    if (!imported->files.empty()) {
      return UsageError(io, "policy import",
                        StrCat("the policy needs ", imported->files.size(),
                               " key, trusted-root or certificate files: give --output DIR"),
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
