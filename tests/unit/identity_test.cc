// controller/identity.h: the role and name a client certificate's subject gives its holder.
// Certificates come from the openssl CLI (tests/support/tls_certs.h), the way an admin makes
// them; the few subjects openssl's -subj cannot write (a NUL in the CN) are built with the
// OpenSSL API.
#include "controller/identity.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"
#include "base/str_cat.h"

namespace layerseal::controller {
namespace {

using testing::AddClientCert;
using testing::CertKey;
using testing::ReadFileOrDie;
using testing::TempDir;
using testing::TlsCerts;

class IdentityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    absl::StatusOr<TlsCerts> certs = testing::MakeTlsCerts(dir_->path(), {"node-a"}, {"alice"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new TlsCerts(*std::move(certs));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }

  // The PEM of a certificate with common name `cn` and subject organization(s) `o`.
  static std::string Pem(const std::string& cn, const std::string& o) {
    absl::StatusOr<CertKey> c = AddClientCert(*certs_, cn, false, o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? ReadFileOrDie(c->cert) : "";
  }

  static TempDir* dir_;
  static TlsCerts* certs_;
};

TempDir* IdentityTest::dir_ = nullptr;
TlsCerts* IdentityTest::certs_ = nullptr;

// A self-signed certificate whose subject has `entries` (nid, raw bytes) in order.
std::string BuiltPem(const std::vector<std::pair<int, std::string>>& entries) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [nid, value] : entries) {
    X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.data()),
                               static_cast<int>(value.size()), -1, 0);
  }
  X509_set_issuer_name(cert.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), key.get(), EVP_sha256());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

TEST_F(IdentityTest, NodeCertificateIsANodeNamedByItsCommonName) {
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(ReadFileOrDie(certs_->client.at("node-a").cert));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNode);
  EXPECT_EQ(id->common_name, "node-a");
  EXPECT_EQ(DescribeCertificateSubject(ReadFileOrDie(certs_->client.at("node-a").cert)),
            "CN=node-a, O=[layerseal:nodes]");
}

TEST_F(IdentityTest, ReaderCertificateIsAReader) {
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(ReadFileOrDie(certs_->client.at("alice").cert));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kReader);
  EXPECT_EQ(id->common_name, "alice");
}

TEST_F(IdentityTest, OtherOrganizationsBesideTheRoleAreIgnored) {
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(Pem("node-x", "Example Corp/O=layerseal:nodes"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNode);
}

TEST_F(IdentityTest, BothOrganizationsIsNoRole) {
  std::string pem = Pem("both", "layerseal:nodes/O=layerseal:readers");
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(pem);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNone);
  EXPECT_EQ(DescribeCertificateSubject(pem), "CN=both, O=[layerseal:nodes, layerseal:readers]");
}

TEST_F(IdentityTest, NoOrganizationOrAnotherOneIsNoRole) {
  for (const std::string& o : {std::string(""), std::string("system:nodes"),
                               std::string("layerseal:node"), std::string("LAYERSEAL:NODES")}) {
    absl::StatusOr<PeerIdentity> id = IdentityFromPem(Pem("n", o));
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->role, Role::kNone) << o;
  }
  EXPECT_EQ(DescribeCertificateSubject(Pem("n", "")), "CN=n, O=[]");
}

TEST_F(IdentityTest, NoCommonNameOrTwoIsNoRole) {
  std::string pem = Pem("", "layerseal:nodes");
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(pem);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNone);
  EXPECT_EQ(id->common_name, "");
  EXPECT_EQ(DescribeCertificateSubject(pem), "CN=(none), O=[layerseal:nodes]");
  id = IdentityFromPem(Pem("a/CN=b", "layerseal:nodes"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNone);
}

// A "node-a\0evil" CN must not pass for node-a (nor reach logs with its control bytes).
TEST_F(IdentityTest, CommonNameWithNulOrControlBytesIsNoRole) {
  for (const std::string& cn : {std::string("node-a\0evil", 11), std::string("node-a\n")}) {
    std::string pem = BuiltPem({{NID_commonName, cn}, {NID_organizationName, kNodeOrganization}});
    absl::StatusOr<PeerIdentity> id = IdentityFromPem(pem);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->role, Role::kNone);
    EXPECT_EQ(DescribeCertificateSubject(pem).find('\n'), std::string::npos);
  }
}

// Past kMaxSubjectEntries organizations the rest are not read: the role cannot be known
// (the unread one could be the other role), so there is none.
TEST_F(IdentityTest, TooManyOrganizationsIsNoRole) {
  std::vector<std::pair<int, std::string>> subject = {{NID_commonName, "node-a"}};
  for (int i = 0; i < 15; ++i) subject.push_back({NID_organizationName, StrCat("filler-", i)});
  subject.push_back({NID_organizationName, kNodeOrganization});    // the 16th: read
  subject.push_back({NID_organizationName, kReaderOrganization});  // the 17th: not read
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(BuiltPem(subject));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNone);
  subject.pop_back();  // 16 organizations, one of them the node's: a node
  id = IdentityFromPem(BuiltPem(subject));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kNode);
}

TEST_F(IdentityTest, GarbageIsInvalidArgument) {
  for (const std::string& pem :
       {std::string(""), std::string("not a certificate"),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}) {
    absl::StatusOr<PeerIdentity> id = IdentityFromPem(pem);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << pem;
    EXPECT_EQ(DescribeCertificateSubject(pem), "(unparsable certificate)");
  }
}

TEST_F(IdentityTest, OversizedPemIsRefusedBeforeParsing) {
  // A genuine node certificate padded past the limit with PEM-legal trailing text.
  std::string pem = ReadFileOrDie(certs_->client.at("node-a").cert);
  pem += std::string(kMaxPeerCertificateBytes, '\n');
  absl::StatusOr<PeerIdentity> id = IdentityFromPem(pem);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("kMaxPeerCertificateBytes"), std::string::npos)
      << id.status();
  EXPECT_EQ(DescribeCertificateSubject(pem), "(unparsable certificate)");
}

TEST(RoleNameTest, Names) {
  EXPECT_EQ(RoleName(Role::kNode), "node");
  EXPECT_EQ(RoleName(Role::kReader), "reader");
  EXPECT_EQ(RoleName(Role::kNone), "none");
}

}  // namespace
}  // namespace layerseal::controller
