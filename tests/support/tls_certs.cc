#include "tests/support/tls_certs.h"

#include <cctype>

#include "absl/status/status.h"
#include "tests/support/process.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

constexpr int kValidDays = 3650;

absl::Status RunOpenssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<RunResult> r = Run(argv);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += a + " ";
    return absl::InternalError(StrCat("`", cmd, "` exited ", r->exit_code, ": ", r->err));
  }
  return absl::OkStatus();
}

// A file-name-safe form of a common name.
std::string FileStem(const std::string& cn) {
  std::string out;
  for (char c : cn) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_');
  return out;
}

absl::StatusOr<CertKey> MakeCa(const std::string& dir, const std::string& stem,
                               const std::string& cn) {
  CertKey ca{StrCat(dir, "/", stem, ".pem"), StrCat(dir, "/", stem, ".key")};
  absl::Status s = RunOpenssl(
      {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", ca.key, "-out", ca.cert, "-days", std::to_string(kValidDays), "-subj",
       StrCat("/CN=", cn), "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
       "keyUsage=critical,keyCertSign,cRLSign"});
  if (!s.ok()) return s;
  return ca;
}

// A key, a request with subject `subject` (openssl -subj syntax), and the certificate `ca`
// signs with the extensions `ext`.
absl::StatusOr<CertKey> MakeLeaf(const std::string& dir, const CertKey& ca,
                                 const std::string& stem, const std::string& subject,
                                 const std::string& ext) {
  CertKey leaf{StrCat(dir, "/", stem, ".pem"), StrCat(dir, "/", stem, ".key")};
  std::string csr = StrCat(dir, "/", stem, ".csr");
  std::string ext_file = StrCat(dir, "/", stem, ".ext");
  WriteFileOrDie(ext_file, ext);
  absl::Status s = RunOpenssl({"req", "-new", "-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", leaf.key,
                               "-out", csr, "-subj", subject});
  if (!s.ok()) return s;
  s = RunOpenssl({"x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAserial",
                  ca.cert + ".srl", "-CAcreateserial", "-days", std::to_string(kValidDays),
                  "-out", leaf.cert, "-extfile", ext_file});
  if (!s.ok()) return s;
  return leaf;
}

constexpr char kServerExt[] =
    "basicConstraints=CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth\n"
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
constexpr char kClientExt[] =
    "basicConstraints=CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=clientAuth\n";

}  // namespace

absl::StatusOr<CertKey> AddClientCert(TlsCerts& certs, const std::string& cn, bool use_other_ca,
                                      const std::string& organization) {
  const CertKey& ca = use_other_ca ? certs.other_ca : certs.ca;
  std::string stem = StrCat(use_other_ca ? "other-client-" : "client-", FileStem(cn), "-",
                            FileStem(organization));
  // openssl -subj: "/CN=a/O=b"; "/" alone is an empty subject.
  std::string subject = StrCat("/", cn.empty() ? "" : StrCat("CN=", cn),
                               !cn.empty() && !organization.empty() ? "/" : "",
                               organization.empty() ? "" : StrCat("O=", organization));
  absl::StatusOr<CertKey> leaf = MakeLeaf(certs.dir, ca, stem, subject, kClientExt);
  if (leaf.ok() && !use_other_ca) certs.client[cn] = *leaf;
  return leaf;
}

absl::StatusOr<TlsCerts> MakeTlsCerts(const std::string& dir,
                                      const std::vector<std::string>& node_cns,
                                      const std::vector<std::string>& reader_cns) {
  TlsCerts certs;
  certs.dir = dir;
  absl::StatusOr<CertKey> ca = MakeCa(dir, "ca", "layerseal test CA");
  if (!ca.ok()) return ca.status();
  certs.ca = *ca;
  absl::StatusOr<CertKey> server = MakeLeaf(dir, certs.ca, "server", "/CN=localhost", kServerExt);
  if (!server.ok()) return server.status();
  certs.server = *server;
  for (const std::string& cn : node_cns) {
    absl::StatusOr<CertKey> client = AddClientCert(certs, cn, false, kNodeOrganization);
    if (!client.ok()) return client.status();
  }
  for (const std::string& cn : reader_cns) {
    absl::StatusOr<CertKey> client = AddClientCert(certs, cn, false, kReaderOrganization);
    if (!client.ok()) return client.status();
  }
  absl::StatusOr<CertKey> other = MakeCa(dir, "other-ca", "unrelated test CA");
  if (!other.ok()) return other.status();
  certs.other_ca = *other;
  certs.other_client_cn = node_cns.empty() ? "node-a" : node_cns.front();
  absl::StatusOr<CertKey> other_client =
      AddClientCert(certs, certs.other_client_cn, true, kNodeOrganization);
  if (!other_client.ok()) return other_client.status();
  certs.other_client = *other_client;
  return certs;
}

}  // namespace layerseal::testing
