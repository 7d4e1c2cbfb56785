#include <unistd.h>

#include <cstdlib>
#include <ostream>

#include "cli/common.h"
#include "registry/client.h"
#include "verifier/manifest.h"
#include "verifier/sealer.h"
#include "base/file.h"
#include "base/str_cat.h"

namespace layerseal::cli {
namespace {

using nlohmann::ordered_json;

constexpr char kSignUsage[] =
    "Usage: layerseal sign --key NAME.key [--algorithm ALG] [flags] SRC DST\n"
    "\n"
    "Reads the base image SRC from its registry and writes the signed image to the tag\n"
    "DST (REG/REPO:TAG; the same or another repository or registry), as\n"
    "signed-image-format v1 says: two seal layers appended, the config bound to them.\n"
    "A multi-platform SRC is signed per platform under a new index. Prints the signed\n"
    "digest (the index's, for an index); progress goes to stderr. An image that already\n"
    "carries seals is refused. Base layers are mounted within one registry, else copied\n"
    "through a temp file in $TMPDIR. Exit 0 signed, 1 refused or failed, 2 usage error\n"
    "or an unusable key.\n"
    "\n"
    "  --key FILE        the private key, unencrypted PEM (PKCS#8 or traditional), e.g.\n"
    "                    from `layerseal keygen`\n"
    "  --algorithm ALG   only for RSA keys: rsa-pkcs1v15-sha256 (default for an\n"
    "                    rsaEncryption key) or rsa-pss-sha256\n";

class Signer {
 public:
  Signer(registry::RegistryClient& client, const PrivateKey& key, Algorithm algorithm,
         Reference src, Reference dst, std::ostream& log)
      : client_(client), key_(key), algorithm_(algorithm), src_(std::move(src)),
        dst_(std::move(dst)), log_(log) {}

  absl::StatusOr<Digest> Run() {
    absl::StatusOr<FetchedManifest> top = client_.FetchManifest(src_, kMaxManifestBytes);
    if (!top.ok()) return top.status();
    absl::StatusOr<ServedManifest> served = ParseServedManifest(top->bytes, top->content_type);
    if (!served.ok()) return served.status();
    if (served->index) return SignIndex(top->bytes, *served->index);
    absl::StatusOr<std::string> signed_manifest = SignImage(top->bytes, served->media_type);
    if (!signed_manifest.ok()) return signed_manifest.status();
    return client_.PutManifest(dst_, served->media_type, *signed_manifest);
  }

 private:
  // Seals every child and points a new index (same platforms, same order) at them.
  absl::StatusOr<Digest> SignIndex(const std::string& bytes, const ImageIndex& index) {
    ordered_json out = ordered_json::parse(bytes);
    for (size_t i = 0; i < index.manifests.size(); ++i) {
      const Descriptor& child = index.manifests[i];
      if (IsIndexMediaType(child.media_type)) {
        return absl::InvalidArgumentError(StrCat("index entry ", i, " is itself an index; not supported"));
      }
      absl::StatusOr<FetchedManifest> m = client_.FetchManifest(src_.WithDigest(child.digest), kMaxManifestBytes);
      if (!m.ok()) return m.status();
      log_ << "signing " << (child.platform ? child.platform->ToString() : "entry " + std::to_string(i)) << "\n";
      absl::StatusOr<std::string> sealed = SignImage(m->bytes, child.media_type);
      if (!sealed.ok()) return sealed.status();
      Digest d = Digest::Sha256Of(*sealed);
      absl::StatusOr<Digest> put = client_.PutManifest(dst_.WithDigest(d), child.media_type, *sealed);
      if (!put.ok()) return put.status();
      out["manifests"][i]["digest"] = d.str();
      out["manifests"][i]["size"] = sealed->size();
    }
    return client_.PutManifest(dst_, index.media_type, out.dump(3));
  }

  // Seals one image manifest and pushes everything it needs to DST but the manifest itself.
  absl::StatusOr<std::string> SignImage(const std::string& bytes, const std::string& type) {
    absl::StatusOr<ImageManifest> base = ParseImageManifest(bytes, type);
    if (!base.ok()) return base.status();
    absl::StatusOr<std::string> cb = client_.FetchBlob(src_, base->config.digest, kMaxConfigBytes);
    if (!cb.ok()) return cb.status();
    absl::StatusOr<SealedImage> sealed = SealImage(bytes, type, *cb, key_, algorithm_);
    if (!sealed.ok()) return sealed.status();
    for (const Descriptor& layer : base->layers) {
      if (absl::Status s = CopyBlob(layer.digest); !s.ok()) return s;
    }
    // Cb too, so a verifier can fetch it by the digest Mb names (spec section 2).
    if (absl::Status s = PushBytes(Blob{*cb, base->config.digest}); !s.ok()) return s;
    for (const Blob* b : {&sealed->config, &sealed->manifest_seal, &sealed->signature_seal}) {
      if (absl::Status s = PushBytes(*b); !s.ok()) return s;
    }
    return sealed->manifest;
  }

  absl::Status PushBytes(const Blob& blob) {
    absl::StatusOr<bool> exists = client_.BlobExists(dst_, blob.digest);
    if (!exists.ok()) return exists.status();
    if (*exists) return absl::OkStatus();
    return client_.PushBlob(dst_, blob.digest, blob.bytes);
  }

  // A base layer: already there, mounted from SRC's repository, or copied through a temp file.
  absl::Status CopyBlob(const Digest& digest) {
    absl::StatusOr<bool> exists = client_.BlobExists(dst_, digest);
    if (!exists.ok()) return exists.status();
    if (*exists) return absl::OkStatus();
    if (src_.registry == dst_.registry) {
      absl::StatusOr<bool> mounted = client_.MountBlob(dst_, digest, src_.repository);
      if (!mounted.ok()) return mounted.status();
      if (*mounted) return absl::OkStatus();
    }
    const char* tmpdir = std::getenv("TMPDIR");
    std::string path = StrCat(tmpdir && *tmpdir ? tmpdir : "/tmp", "/layerseal-blob-XXXXXX");
    int fd = mkstemp(path.data());
    if (fd < 0) return absl::InternalError(StrCat("cannot create a temp file in ", path));
    close(fd);
    absl::Status s = client_.FetchBlobToFile(src_, digest, path);
    if (s.ok()) s = client_.PushBlobFromFile(dst_, digest, path);
    unlink(path.c_str());
    return s;
  }

  registry::RegistryClient& client_;
  const PrivateKey& key_;
  Algorithm algorithm_;
  Reference src_;
  Reference dst_;
  std::ostream& log_;
};

absl::StatusOr<PrivateKey> LoadKey(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFileLimited(path, kMaxKeyFileBytes, "private key");
  if (!pem.ok()) return pem.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(*pem);
  if (!key.ok()) return absl::InvalidArgumentError(StrCat(path, ": ", key.status().message()));
  return key;
}

}  // namespace

int Sign(const Args& args, Io io) {
  absl::StatusOr<Flags> flags = Flags::Parse(args, WithCommonFlags({{"key", "algorithm"}, {}}));
  if (!flags.ok()) return UsageError(io, "sign", Sv(flags.status().message()), kSignUsage);
  if (flags->Has("help")) {
    io.out << kSignUsage << "\n" << kRegistryFlagsHelp;
    return kExitOk;
  }
  std::optional<std::string> key_file = flags->Get("key");
  if (!key_file || flags->positional().size() != 2) {
    return UsageError(io, "sign", "need --key FILE, SRC and DST", kSignUsage);
  }
  absl::StatusOr<Reference> src = Reference::Parse(flags->positional()[0]);
  if (!src.ok()) return UsageError(io, "sign", Sv(src.status().message()), kSignUsage);
  absl::StatusOr<Reference> dst = Reference::Parse(flags->positional()[1]);
  if (!dst.ok()) return UsageError(io, "sign", Sv(dst.status().message()), kSignUsage);
  if (dst->digest) return UsageError(io, "sign", "DST names a tag, not a digest", kSignUsage);
  absl::StatusOr<PrivateKey> key = LoadKey(*key_file);
  if (!key.ok()) return Fail(io, "sign", key.status(), kExitUsage);
  Algorithm algorithm = key->default_algorithm();
  if (auto a = flags->Get("algorithm")) {
    absl::StatusOr<Algorithm> parsed = ParseAlgorithm(*a);
    if (!parsed.ok()) return UsageError(io, "sign", Sv(parsed.status().message()), kSignUsage);
    if (!key->public_key().Fits(*parsed)) {
      return UsageError(io, "sign", StrCat("the key cannot sign ", *a), kSignUsage);
    }
    algorithm = *parsed;
  }
  absl::StatusOr<registry::Options> options = RegistryOptionsFromFlags(*flags, io.in);
  if (!options.ok()) return Fail(io, "sign", options.status(), kExitUsage);

  registry::RegistryClient client(*options);
  Signer signer(client, *key, algorithm, *src, *dst, io.err);
  absl::StatusOr<Digest> digest = signer.Run();
  if (!digest.ok()) return Fail(io, "sign", digest.status(), kExitDenied);
  io.out << digest->str() << "\n";
  return kExitOk;
}

}  // namespace layerseal::cli
