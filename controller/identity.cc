#include "controller/identity.h"

#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "verifier/str_cat.h"

namespace layerseal::controller {
namespace {

// Entries of one kind read from a subject, and how long each may be: a subject is
// attacker-chosen only up to the CA's signature, but logs stay bounded all the same.
constexpr int kMaxSubjectEntries = 16;
constexpr size_t kMaxSubjectValueBytes = 256;

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

X509Ptr ParsePem(std::string_view pem) {
  if (pem.size() > kMaxPeerCertificateBytes) return nullptr;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// The subject's values for `nid`, as UTF-8, at most kMaxSubjectEntries of them.
std::vector<std::string> SubjectValues(X509* cert, int nid) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  int i = -1;
  while ((i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0 &&
         out.size() < static_cast<size_t>(kMaxSubjectEntries)) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0) continue;
    out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

// Printable ASCII only, bounded: subjects go into messages and logs.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxSubjectValueBytes)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

Role RoleOf(const std::vector<std::string>& organizations) {
  bool node = false;
  bool reader = false;
  for (const std::string& o : organizations) {
    node = node || o == kNodeOrganization;
    reader = reader || o == kReaderOrganization;
  }
  if (node == reader) return Role::kNone;  // neither, or both: never guessed
  return node ? Role::kNode : Role::kReader;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNode:
      return "node";
    case Role::kReader:
      return "reader";
    case Role::kNone:
      break;
  }
  return "none";
}

absl::StatusOr<PeerIdentity> IdentityFromPem(std::string_view pem) {
  if (pem.size() > kMaxPeerCertificateBytes) {
    return absl::InvalidArgumentError(StrCat("peer certificate is ", pem.size(),
                                             " bytes, over kMaxPeerCertificateBytes (",
                                             kMaxPeerCertificateBytes, ")"));
  }
  X509Ptr cert = ParsePem(pem);
  if (cert == nullptr) return absl::InvalidArgumentError("peer certificate is not a PEM X.509 certificate");
  PeerIdentity id;
  std::vector<std::string> cns = SubjectValues(cert.get(), NID_commonName);
  if (cns.size() != 1 || cns.front().empty()) return id;  // no single CN: no role
  id.common_name = cns.front();
  id.role = RoleOf(SubjectValues(cert.get(), NID_organizationName));
  return id;
}

std::string DescribeCertificateSubject(std::string_view pem) {
  X509Ptr cert = ParsePem(pem);
  if (cert == nullptr) return "(unparsable certificate)";
  std::string out = "CN=";
  std::vector<std::string> cns = SubjectValues(cert.get(), NID_commonName);
  out += cns.empty() ? std::string("(none)") : Printable(cns.front());
  out += ", O=[";
  std::vector<std::string> orgs = SubjectValues(cert.get(), NID_organizationName);
  for (size_t i = 0; i < orgs.size(); ++i) out += StrCat(i ? ", " : "", Printable(orgs[i]));
  out += "]";
  return out;
}

}  // namespace layerseal::controller
