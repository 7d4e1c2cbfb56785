// Fuzzes the controller's kubeconfig reader (controller/kube/client.h ParseKubeconfig, issue
// 19): a file an admin hands the controller (kubernetes.kubeconfig or $KUBECONFIG), read with
// yaml-cpp. Bad input is INVALID_ARGUMENT (RESOURCE_EXHAUSTED when over the size limit),
// never a crash; what it accepts is a configuration the client can use as it is.
#include <string>

#include "controller/kube/client.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool Printable(const std::string& s, bool allow_space) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || (!allow_space && u == 0x20)) return false;
  }
  return true;
}

void Check(std::string_view yaml, const std::string& context) {
  using layerseal::controller::kube::ClientConfig;
  absl::StatusOr<ClientConfig> c =
      layerseal::controller::kube::ParseKubeconfig(yaml, "/kube", context, "/kube/config");
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == absl::StatusCode::kInvalidArgument ||
               c.status().code() == absl::StatusCode::kResourceExhausted);
    return;
  }
  const std::string& server = c->server;
  bool https = server.rfind("https://", 0) == 0 && server.size() > 8;
  bool loopback = server.rfind("http://127.0.0.1", 0) == 0 ||
                  server.rfind("http://localhost", 0) == 0 || server.rfind("http://[::1]", 0) == 0;
  FUZZ_CHECK(https || loopback);
  FUZZ_CHECK(server.back() != '/');
  FUZZ_CHECK(Printable(server, false));
  FUZZ_CHECK(server.find_first_of("?#@") == std::string::npos);
  FUZZ_CHECK(c->token.empty() || Printable(c->token, false));
  FUZZ_CHECK(c->ca_file.empty() || c->ca_data.empty());
  FUZZ_CHECK(!c->insecure_skip_tls_verify || (c->ca_file.empty() && c->ca_data.empty()));
  bool cert = !c->client_cert_file.empty() || !c->client_cert_data.empty();
  bool key = !c->client_key_file.empty() || !c->client_key_data.empty();
  FUZZ_CHECK(cert == key);
  FUZZ_CHECK(c->client_cert_file.empty() || c->client_cert_data.empty());
  FUZZ_CHECK(c->client_key_file.empty() || c->client_key_data.empty());
  // Relative paths were resolved against the file's directory.
  for (const std::string* path : {&c->ca_file, &c->token_file, &c->client_cert_file,
                                  &c->client_key_file}) {
    FUZZ_CHECK(path->empty() || (*path)[0] == '/');
  }
  FUZZ_CHECK(c->source.rfind("kubeconfig /kube/config (context ", 0) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml = layerseal::fuzz::AsView(data, size);
  Check(yaml, "");
  Check(yaml, "dev");
  return 0;
}
