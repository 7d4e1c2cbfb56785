// Who a verified client certificate says its holder is, and what it may do.
//
// Roles are encoded in the certificate's subject Organization (O), the way Kubernetes
// encodes `system:nodes`; one client CA signs both kinds (docs/controller.md, "Identities
// and roles"):
//   O=layerseal:nodes    a node: may report its own events (node name = the CN), reads nothing
//   O=layerseal:readers  a reader (CLI, web page over HTTPS): may query, reports nothing
// A certificate carrying both organizations, neither, more organizations than can be read
// (kMaxSubjectEntries, identity.cc), or not exactly one printable-ASCII CN has no role and
// is refused everywhere: a role is never guessed.
//
// The certificate must already have been verified against the client CA by the transport
// (gRPC's TLS, the HTTPS server); this only reads its subject.
// Thread-safety: pure functions.
#ifndef LAYERSEAL_CONTROLLER_IDENTITY_H_
#define LAYERSEAL_CONTROLLER_IDENTITY_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerseal::controller {

inline constexpr char kNodeOrganization[] = "layerseal:nodes";
inline constexpr char kReaderOrganization[] = "layerseal:readers";
// A PEM leaf certificate larger than this is refused before parsing.
inline constexpr size_t kMaxPeerCertificateBytes = 64 * 1024;

enum class Role { kNone, kNode, kReader };

// "none", "node", "reader".
std::string_view RoleName(Role role);

struct PeerIdentity {
  std::string common_name;  // the subject CN (the node name for kNode)
  Role role = Role::kNone;
};

// The identity in a PEM leaf certificate (gRPC's "x509_pem_cert" auth property, or the
// HTTPS peer's certificate written as PEM). InvalidArgument naming what is wrong when the
// PEM cannot be parsed or is over kMaxPeerCertificateBytes. A certificate that parses but
// has no usable role comes back with Role::kNone (the caller refuses it, naming the
// certificate's CN and organizations via Describe).
absl::StatusOr<PeerIdentity> IdentityFromPem(std::string_view pem);

// "CN=..., O=[...]": for error messages and logs (printable ASCII, bounded).
std::string DescribeCertificateSubject(std::string_view pem);

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_IDENTITY_H_
