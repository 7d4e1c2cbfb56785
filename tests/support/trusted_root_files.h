// A small sigstore trusted_root.json for unit tests, made with the openssl CLI (not our
// code): one Rekor-style transparency log (ECDSA P-256) and one self-signed Fulcio-style CA.
// Header-only; unit tests link no harness.
#ifndef LAYERSEAL_TESTS_SUPPORT_TRUSTED_ROOT_FILES_H_
#define LAYERSEAL_TESTS_SUPPORT_TRUSTED_ROOT_FILES_H_

#include <stdio.h>

#include <string>

#include "base/str_cat.h"
#include "tests/support/files.h"

namespace layerseal::testing {

// Runs a shell command and returns its stdout ("" and a failed `ok` when it fails).
inline std::string RunShell(const std::string& cmd, bool* ok = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    if (ok != nullptr) *ok = false;
    return "";
  }
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  if (ok != nullptr) *ok = rc == 0;
  return out;
}

// The files one trusted root is made of, under `dir` with prefix `name`.
struct TrustedRootFiles {
  std::string json;      // <dir>/<name>.trusted_root.json
  std::string tlog_pub;  // the log's public key (PEM SPKI)
  std::string ca_pem;    // the CA certificate (PEM)
  std::string other_ca_pem;  // a CA certificate NOT in the root (PEM)
};

// Makes the keys, the certificates and the trusted_root.json. `ok` false when openssl fails.
inline TrustedRootFiles MakeTrustedRoot(const std::string& dir, const std::string& name, bool* ok) {
  std::string p = StrCat(dir, "/", name);
  TrustedRootFiles f{p + ".trusted_root.json", p + ".tlog.pub", p + ".ca.pem", p + ".other-ca.pem"};
  std::string cmd = StrCat(
      "set -e; cd ", dir, "; ",
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ", p, ".tlog.key 2>/dev/null; ",
      "openssl pkey -in ", p, ".tlog.key -pubout -out ", f.tlog_pub, "; ",
      "openssl pkey -in ", p, ".tlog.key -pubout -outform DER -out ", p, ".tlog.der; ",
      "for ca in ca other-ca; do ",
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout ", p,
      ".$ca.key -out ", p, ".$ca.pem -days 3650 -subj /O=test/CN=$ca ",
      "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; ",
      "done; ",
      "openssl x509 -in ", f.ca_pem, " -outform DER -out ", p, ".ca.der; ",
      "TLOG=$(base64 -w0 ", p, ".tlog.der); ",
      "LOGID=$(openssl dgst -sha256 -binary ", p, ".tlog.der | base64 -w0); ",
      "CA=$(base64 -w0 ", p, ".ca.der); ",
      "printf '%s' \"{\\\"mediaType\\\":\\\"application/vnd.dev.sigstore.trustedroot+json;version=0.1\\\",",
      "\\\"tlogs\\\":[{\\\"baseUrl\\\":\\\"https://rekor.example\\\",\\\"hashAlgorithm\\\":\\\"SHA2_256\\\",",
      "\\\"publicKey\\\":{\\\"rawBytes\\\":\\\"$TLOG\\\",\\\"keyDetails\\\":\\\"PKIX_ECDSA_P256_SHA_256\\\",",
      "\\\"validFor\\\":{\\\"start\\\":\\\"2020-01-01T00:00:00Z\\\"}},\\\"logId\\\":{\\\"keyId\\\":\\\"$LOGID\\\"}}],",
      "\\\"certificateAuthorities\\\":[{\\\"subject\\\":{\\\"organization\\\":\\\"test\\\",\\\"commonName\\\":\\\"ca\\\"},",
      "\\\"uri\\\":\\\"https://fulcio.example\\\",\\\"certChain\\\":{\\\"certificates\\\":[{\\\"rawBytes\\\":\\\"$CA\\\"}]},",
      "\\\"validFor\\\":{\\\"start\\\":\\\"2020-01-01T00:00:00Z\\\"}}],",
      "\\\"ctlogs\\\":[],\\\"timestampAuthorities\\\":[]}\" > ", f.json);
  RunShell(cmd, ok);
  return f;
}

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_TRUSTED_ROOT_FILES_H_
