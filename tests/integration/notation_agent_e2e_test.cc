// Placeholder, replaced below.
#include "gtest/gtest.h"
TEST(NotationAgentE2e, Placeholder) {}
