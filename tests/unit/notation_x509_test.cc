// verifier/notation/x509.h: placeholder until the rules land (s27-x509, second commit).
#include "verifier/notation/x509.h"

#include "gtest/gtest.h"

namespace layerseal::notation {
namespace {

TEST(NotationX509Test, Thumbprint) {
  EXPECT_EQ(Thumbprint(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace layerseal::notation
