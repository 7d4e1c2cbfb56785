#include "controller/identity.h"

#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "base/str_cat.h"

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

// The subject's values for `nid`, as UTF-8, at most kMaxSubjectEntries of them. A value
// that cannot be read as UTF-8 comes back as kUnreadable (never skipped: skipping could
// hide the entry that makes a subject ambiguous). `*complete` (if given) says whether every
// entry is in `out`.
constexpr char kUnreadable[] = "\x01unreadable";
std::vector<std::string> SubjectValues(X509* cert, int nid, bool* complete = nullptr) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  int i = -1;
  if (complete != nullptr) *complete = true;
  while ((i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0) {
    if (out.size() == static_cast<size_t>(kMaxSubjectEntries)) {
      if (complete != nullptr) *complete = false;
      break;
    }
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0) {
      out.emplace_back(kUnreadable);
      continue;
    }
    out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

// A CN usable as a node name or a reader's name: printable ASCII, no NUL or controls (a
// "node-a\0x" CN must not pass for "node-a" anywhere), within kMaxSubjectValueBytes.
bool UsableCommonName(std::string_view cn) {
  if (cn.empty() || cn.size() > kMaxSubjectValueBytes) return false;
  for (char c : cn) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
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
  if (cns.size() != 1 || !UsableCommonName(cns.front())) return id;  // no usable CN: no role
  id.common_name = cns.front();
  bool complete = false;
  std::vector<std::string> organizations = SubjectValues(cert.get(), NID_organizationName, &complete);
  if (!complete) return id;  // too many organizations to be sure of the role: none
  id.role = RoleOf(organizations);
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
