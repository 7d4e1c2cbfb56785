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
};

class RegistryServer {
 public:
  static absl::StatusOr<std::unique_ptr<RegistryServer>> Start(RegistryServerOptions options = {});
  ~RegistryServer();

  const std::string& host() const { return host_; }  // "127.0.0.1:PORT"
  int port() const { return port_; }
  const std::string& ca_file() const { return ca_file_; }  // empty without TLS
  const RegistryServerOptions& options() const { return options_; }
  const std::string& dir() const { return dir_.path(); }
  // Client options that reach this server (plain_http or ca_file, credentials).
  registry::Options ClientOptions() const;

 private:
  RegistryServer() = default;
  RegistryServerOptions options_;
  TempDir dir_;
  std::string host_;
  int port_ = 0;
  std::string ca_file_;
  std::unique_ptr<Child> child_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_REGISTRY_SERVER_H_
