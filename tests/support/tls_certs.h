// Test certificates made with the openssl CLI (the same commands docs/controller.md shows):
// a CA, a server certificate for 127.0.0.1/localhost, client certificates whose common name
// is a node name, and a second, unrelated CA with a client certificate of its own (for
// "wrong CA" tests). Keys are EC P-256, unencrypted, PEM.
//
// Thread-safety: the functions run openssl as child processes and write only under `dir`;
// call them from one thread per directory.
#ifndef LAYERSEAL_TESTS_SUPPORT_TLS_CERTS_H_
#define LAYERSEAL_TESTS_SUPPORT_TLS_CERTS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace layerseal::testing {

// Paths of one certificate and its private key.
struct CertKey {
  std::string cert;
  std::string key;
};

struct TlsCerts {
  std::string dir;
  CertKey ca;                             // the trusted CA (the controller's clientCa)
  CertKey server;                         // signed by `ca`; SAN IP:127.0.0.1, DNS:localhost
  std::map<std::string, CertKey> client;  // by common name, signed by `ca`
  CertKey other_ca;                       // an unrelated CA
  CertKey other_client;                   // signed by `other_ca`; CN `other_client_cn`
  std::string other_client_cn;
};

// Makes the CA, the server certificate, one client certificate per name in `client_cns`,
// the other CA and its client certificate (CN: the first of `client_cns`, or "node-a", so
// that only the CA tells it from a genuine one). `dir` must exist.
absl::StatusOr<TlsCerts> MakeTlsCerts(const std::string& dir,
                                      const std::vector<std::string>& client_cns = {"node-a"});

// Adds a client certificate with common name `cn` signed by `certs.ca` (or, with
// `use_other_ca`, by `certs.other_ca`); also stored in `certs.client` when from `ca`.
// `organization` is the subject's O ("" : none, a certificate with no role); more than one
// are written "a/O=b" (openssl -subj syntax). An empty `cn` makes a subject without CN.
absl::StatusOr<CertKey> AddClientCert(TlsCerts& certs, const std::string& cn,
                                      bool use_other_ca = false,
                                      const std::string& organization = "");

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_TLS_CERTS_H_
