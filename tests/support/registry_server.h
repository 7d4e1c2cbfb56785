// A real docker-registry (Debian's `docker-registry`, distribution 2.8) started on
// 127.0.0.1:<free port> with a temp storage dir; optionally TLS (a CA and server cert made
// with openssl for this run) and htpasswd basic auth. Stopped and removed on destruction.
#ifndef LAYERSEAL_TESTS_SUPPORT_REGISTRY_SERVER_H_
#define LAYERSEAL_TESTS_SUPPORT_REGISTRY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "registry/client.h"
#include "tests/support/process.h"

namespace layerseal::testing {

struct RegistryServerOptions {
  bool tls = false;
  bool basic_auth = false;
  std::string username = "tester";
  std::string password = "s3cret-pass";
  // Token auth (auth.token): the registry sends clients to this realm, and trusts JWTs whose
  // x5c is token_signing_cert() (signed with token_signing_key()). The test runs the token
  // server. Empty: no token auth.
  std::string token_realm;
  // Log every request (level info) to log_file(), e.g. to count a client's requests.
  bool log_requests = false;
};

inline constexpr const char* kTokenService = "layerseal-test-registry";
inline constexpr const char* kTokenIssuer = "layerseal-test-issuer";

class RegistryServer {
 public:
  static absl::StatusOr<std::unique_ptr<RegistryServer>> Start(RegistryServerOptions options = {});
  ~RegistryServer();

  const std::string& host() const { return host_; }  // "127.0.0.1:PORT"
  int port() const { return port_; }
  const std::string& ca_file() const { return ca_file_; }  // empty without TLS
  // PEM files of the CA made for this run (with TLS or token auth), empty otherwise.
  const std::string& token_signing_cert() const { return ca_cert_; }
  const std::string& token_signing_key() const { return ca_key_; }
  const RegistryServerOptions& options() const { return options_; }
  const std::string& dir() const { return dir_.path(); }
  std::string log_file() const { return dir_.path() + "/registry.log"; }
  // Client options that reach this server (plain_http or ca_file, credentials).
  registry::Options ClientOptions() const;

 private:
  RegistryServer() = default;
  RegistryServerOptions options_;
  TempDir dir_;
  std::string host_;
  int port_ = 0;
  std::string ca_file_;
  std::string ca_cert_;
  std::string ca_key_;
  std::unique_ptr<Child> child_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_REGISTRY_SERVER_H_
