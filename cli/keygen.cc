// `layerseal keygen`: all or nothing. Both files are written to temporaries next to their
// targets and then hard-linked into place (link fails rather than overwrite), so after a
// run either both NAME.key and NAME.pub are new or neither was created, and no temporary is
// left behind.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "cli/common.h"
#include "verifier/crypto.h"
#include "base/str_cat.h"

namespace layerseal::cli {
namespace {

constexpr char kKeygenUsage[] =
    "Usage: layerseal keygen [--algorithm ALG] --out NAME\n"
    "\n"
    "Makes a key pair: NAME.key (private, PKCS#8 PEM, mode 0600) and NAME.pub (public,\n"
    "SubjectPublicKeyInfo PEM), and prints the keyId (sha256 of the public key's DER).\n"
    "Existing files are never overwritten: when either exists keygen makes nothing; either\n"
    "both files are created or neither.\n"
    "\n"
    "  --algorithm ALG   ecdsa-p256-sha256 (default), ed25519, rsa-pss-sha256 or\n"
    "                    rsa-pkcs1v15-sha256 (RSA keys are 3072 bits)\n"
    "  --out NAME        path prefix of the two files\n";

constexpr int kPrivateKeyMode = 0600;
constexpr int kPublicKeyMode = 0644;

// Removes the files it holds when it goes out of scope (the temporaries).
class RemoveOnExit {
 public:
  RemoveOnExit() = default;
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  ~RemoveOnExit() {
    for (const std::string& p : paths_) unlink(p.c_str());
  }
  void Add(std::string path) { paths_.push_back(std::move(path)); }

 private:
  std::vector<std::string> paths_;
};

// FAILED_PRECONDITION naming the first of `paths` that exists (as anything, even a dangling
// symlink), so that nothing is generated for a run that cannot finish.
absl::Status RefuseExisting(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    struct stat st;
    if (lstat(p.c_str(), &st) == 0) {
      return absl::FailedPreconditionError(
          StrCat(p, " exists; keygen never overwrites a key (remove it or choose another --out)"));
    }
  }
  return absl::OkStatus();
}

// A temporary next to `target` holding `content` with `mode`; registered with `cleanup`.
absl::StatusOr<std::string> WriteTemporary(const std::string& target, std::string_view content,
                                           int mode, RemoveOnExit& cleanup) {
  std::random_device random;
  std::string path = StrCat(target, ".tmp-", getpid(), "-", random());
  absl::Status s = WriteNewFile(path, content, mode);
  if (!s.ok()) return s;
  cleanup.Add(path);
  return path;
}

// Links the temporaries to their targets: both or neither (the first is removed again when
// the second cannot be linked).
absl::Status LinkBoth(const std::string& key_tmp, const std::string& key,
                      const std::string& pub_tmp, const std::string& pub) {
  if (link(key_tmp.c_str(), key.c_str()) != 0) {
    return absl::FailedPreconditionError(StrCat("cannot create ", key, ": ", std::strerror(errno)));
  }
  if (link(pub_tmp.c_str(), pub.c_str()) != 0) {
    int saved = errno;
    unlink(key.c_str());
    return absl::FailedPreconditionError(StrCat("cannot create ", pub, ": ", std::strerror(saved)));
  }
  return absl::OkStatus();
}

absl::Status WriteKeyPair(const std::string& name, const PrivateKey& key) {
  const std::string key_path = name + ".key", pub_path = name + ".pub";
  RemoveOnExit cleanup;
  absl::StatusOr<std::string> key_tmp = WriteTemporary(key_path, key.ToPem(), kPrivateKeyMode, cleanup);
  if (!key_tmp.ok()) return key_tmp.status();
  absl::StatusOr<std::string> pub_tmp =
      WriteTemporary(pub_path, key.public_key().ToPem(), kPublicKeyMode, cleanup);
  if (!pub_tmp.ok()) return pub_tmp.status();
  return LinkBoth(*key_tmp, key_path, *pub_tmp, pub_path);
}

}  // namespace

int Keygen(const Args& args, Io io) {
  absl::StatusOr<Flags> flags = Flags::Parse(args, {{"algorithm", "out"}, {"help"}});
  if (!flags.ok()) return UsageError(io, "keygen", Sv(flags.status().message()), kKeygenUsage);
  if (flags->Has("help")) {
    io.out << kKeygenUsage;
    return kExitOk;
  }
  std::optional<std::string> out = flags->Get("out");
  if (!out || out->empty() || !flags->positional().empty()) {
    return UsageError(io, "keygen", "--out NAME is required, and nothing else", kKeygenUsage);
  }
  absl::StatusOr<Algorithm> algorithm = ParseAlgorithm(flags->GetOr("algorithm", "ecdsa-p256-sha256"));
  if (!algorithm.ok()) return UsageError(io, "keygen", Sv(algorithm.status().message()), kKeygenUsage);

  if (absl::Status s = RefuseExisting({*out + ".key", *out + ".pub"}); !s.ok()) {
    return Fail(io, "keygen", s, kExitUsage);
  }
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(*algorithm);
  if (!key.ok()) return Fail(io, "keygen", key.status(), kExitUsage);
  if (absl::Status s = WriteKeyPair(*out, *key); !s.ok()) return Fail(io, "keygen", s, kExitUsage);
  io.out << key->public_key().key_id() << "\n";
  return kExitOk;
}

}  // namespace layerseal::cli
