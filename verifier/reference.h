// Image references ("registry/repo:tag", "registry/repo@sha256:...") parsed like docker's
// reference grammar, without normalization surprises: a reference with no registry host means
// docker.io, and a one-segment docker.io repository gets "library/".
// Thread-safety: immutable value type.
#ifndef LAYERSEAL_VERIFIER_REFERENCE_H_
#define LAYERSEAL_VERIFIER_REFERENCE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/digest.h"

namespace layerseal {

// docker's rule for whether a reference's first path component names a registry host: it has a
// '.' or a ':', is "localhost", or is a bracketed IPv6 address. Policy scopes must start with
// one ("nginx" would otherwise be read as a host and silently match nothing).
bool LooksLikeRegistryHost(std::string_view first_component);

struct Reference {
  std::string registry;    // "127.0.0.1:5000", "docker.io"
  std::string repository;  // "team/app"
  std::string tag;         // may be empty when a digest is given
  std::optional<Digest> digest;

  static absl::StatusOr<Reference> Parse(std::string_view text);

  // "registry/repository"; the key policies are matched against.
  std::string Name() const;
  // The manifest reference part: the digest when present, else the tag ("latest" by default).
  std::string Identifier() const;
  // Canonical text: name[:tag][@digest].
  std::string ToString() const;
  // The same repository pinned to `d` (tag dropped).
  Reference WithDigest(const Digest& d) const;
  Reference WithTag(std::string_view t) const;
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_REFERENCE_H_
