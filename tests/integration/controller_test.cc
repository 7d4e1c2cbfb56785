#include <gtest/gtest.h>
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"
namespace layerseal::testing {
TEST(TlsCertsTest, ChainsVerify) {
  TempDir dir;
  absl::StatusOr<TlsCerts> c = MakeTlsCerts(dir.path(), {"node-a", "node-b"});
  ASSERT_TRUE(c.ok()) << c.status();
  auto v = layerseal::testing::Run({"openssl", "verify", "-CAfile", c->ca.cert, c->server.cert, c->client["node-a"].cert, c->client["node-b"].cert});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->exit_code, 0) << v->out << v->err;
  v = layerseal::testing::Run({"openssl", "verify", "-CAfile", c->ca.cert, c->other_client.cert});
  EXPECT_NE(v->exit_code, 0);
  v = layerseal::testing::Run({"openssl", "verify", "-CAfile", c->other_ca.cert, c->other_client.cert});
  EXPECT_EQ(v->exit_code, 0) << v->err;
  v = layerseal::testing::Run({"openssl", "x509", "-in", c->client["node-b"].cert, "-noout", "-subject", "-ext", "extendedKeyUsage"});
  EXPECT_NE(v->out.find("CN = node-b"), std::string::npos) << v->out;
  v = layerseal::testing::Run({"openssl", "x509", "-in", c->server.cert, "-noout", "-ext", "subjectAltName"});
  EXPECT_NE(v->out.find("IP Address:127.0.0.1"), std::string::npos) << v->out;
}
}
