// The registry client under a stepped wall clock (issue 16): its request budget, its
// client-wide budget, the waits between retries and its token cache run on the monotonic
// clock of the injected Clock (registry::Options::clock), so a wall clock stepped an hour
// back or forward in the middle of a request (NTP, an operator's `date -s`, a resumed VM)
// neither spends a budget at once, nor stretches it, nor expires a token early, nor keeps it
// alive too long. The seam: a Clock whose monotonic time is the real one and whose wall time
// the registry steps while it answers; the registry is the scriptable loopback server of
// tests/support/hostile_registry.h.
#include <atomic>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "registry/client.h"
#include "tests/support/hostile_registry.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

using testing::HostileConnection;
using testing::HostileRegistry;
using testing::HostileRequest;

// Slack on top of a budget: the budget is a correctness property, not a speed measurement.
constexpr absl::Duration kBudgetSlack = absl::Seconds(10);

// Real time passing at its real rate, seen through a wall clock that the test steps.
class SteppedWallClock : public Clock {
 public:
  absl::Time Wall() const override { return absl::Now() + absl::Seconds(step_seconds_.load()); }
  absl::Duration Monotonic() const override { return SystemClock().Monotonic(); }
  void Step(absl::Duration by) { step_seconds_ += absl::ToInt64Seconds(by); }

 private:
  std::atomic<int64_t> step_seconds_{0};
};

class RegistryClockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = HostileRegistry::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    auto ref = Reference::Parse(StrCat(server_->host(), "/clock/app@", digest_.str()));
    ASSERT_TRUE(ref.ok()) << ref.status();
    ref_ = *ref;
  }

  registry::Options Options() {
    registry::Options o;
    o.plain_http = true;
    o.clock = &clock_;
    return o;
  }

  // A registry that wants a bearer token from /token, valid `expires_in` seconds; the blob
  // exists for whoever brings one.
  void ServeWithTokens(int expires_in) {
    std::string realm = StrCat("http://", server_->host(), "/token");
    server_->Handle("/token", [this, expires_in](const HostileRequest&, HostileConnection& c) {
      std::string token = StrCat("token-", ++tokens_issued_);
      c.Respond(200, {"Content-Type: application/json"},
                StrCat(R"({"token":")", token, R"(","expires_in":)", expires_in, "}"));
    });
    server_->HandleOthers([this, realm](const HostileRequest& r, HostileConnection& c) {
      std::string expected = StrCat("Bearer token-", tokens_issued_.load());
      if (r.Header("authorization") != expected) {
        c.Respond(401, {StrCat("WWW-Authenticate: Bearer realm=\"", realm, "\",service=\"clock\"")},
                  "", r.method == "HEAD");
        return;
      }
      c.Respond(200, {}, "", r.method == "HEAD");
    });
  }

  // A registry that answers every request 503, stepping the wall clock by `step` at the first.
  void ServeUnavailable(absl::Duration step) {
    server_->HandleOthers([this, step](const HostileRequest& r, HostileConnection& c) {
      if (++requests_ == 1) clock_.Step(step);
      c.Respond(503, {}, "", r.method == "HEAD");
    });
  }

  SteppedWallClock clock_;
  std::unique_ptr<HostileRegistry> server_;
  Digest digest_ = Digest::Sha256Of("clock");
  Reference ref_;
  std::atomic<int> tokens_issued_{0};
  std::atomic<int> requests_{0};
};

TEST_F(RegistryClockTest, WallClockSteppedForwardDoesNotExpireACachedToken) {
  ServeWithTokens(/*expires_in=*/3600);
  registry::RegistryClient client(Options());
  auto exists = client.BlobExists(ref_, digest_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_TRUE(*exists);
  ASSERT_EQ(tokens_issued_.load(), 1);

  clock_.Step(absl::Hours(2));  // past the token's hour on the wall clock, not in real time
  exists = client.BlobExists(ref_, digest_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_EQ(tokens_issued_.load(), 1) << "the cached token was dropped by a wall-clock step";
}

TEST_F(RegistryClockTest, WallClockSteppedBackDoesNotKeepAnExpiredToken) {
  // Valid 6 s, of which the client uses 1 (internal::kTokenExpirySlack is 5 s).
  ServeWithTokens(/*expires_in=*/6);
  registry::RegistryClient client(Options());
  auto exists = client.BlobExists(ref_, digest_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  ASSERT_EQ(tokens_issued_.load(), 1);

  clock_.Step(-absl::Hours(1));
  absl::SleepFor(absl::Seconds(2));  // the token's real life is over
  exists = client.BlobExists(ref_, digest_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_EQ(tokens_issued_.load(), 2) << "an expired token was kept because the clock went back";
}

TEST_F(RegistryClockTest, WallClockSteppedForwardMidRequestDoesNotSpendTheBudgets) {
  server_->HandleOthers([this](const HostileRequest& r, HostileConnection& c) {
    if (++requests_ == 1) {
      clock_.Step(absl::Hours(2));  // while the first attempt is answered
      c.Respond(503, {}, "", r.method == "HEAD");
      return;
    }
    c.Respond(200, {}, "", r.method == "HEAD");
  });
  registry::Options o = Options();
  o.timeout = absl::Seconds(60);
  o.total_timeout = absl::Seconds(120);
  o.initial_backoff = absl::Milliseconds(100);
  registry::RegistryClient client(o);
  // The retry after the 503 is still within the request's budget.
  auto exists = client.BlobExists(ref_, digest_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_TRUE(*exists);
  EXPECT_EQ(requests_.load(), 2);
  // And the next request is still within the client's budget.
  exists = client.BlobExists(ref_, digest_);
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_EQ(requests_.load(), 3);
}

// Retries every 200 ms against a registry that never recovers, with an hour's wall-clock step
// back at the first answer: the budget still ends after about 2 s of real time, so about ten
// attempts, never the 51 that max_retries would allow.
void ExpectBudgetHolds(registry::RegistryClient& client, const Reference& ref,
                       const Digest& digest, const std::atomic<int>& requests) {
  absl::Duration start = SystemClock().Monotonic();
  auto exists = client.BlobExists(ref, digest);
  absl::Duration elapsed = SystemClock().Monotonic() - start;
  ASSERT_FALSE(exists.ok());
  EXPECT_LT(elapsed, absl::Seconds(2) + kBudgetSlack) << exists.status();
  EXPECT_LE(requests.load(), 15) << exists.status();
}

registry::Options Retrying(registry::Options o) {
  o.max_retries = 50;
  o.initial_backoff = absl::Milliseconds(200);
  o.max_backoff = absl::Milliseconds(200);
  return o;
}

TEST_F(RegistryClockTest, WallClockSteppedBackMidRequestDoesNotStretchTheRequestBudget) {
  ServeUnavailable(-absl::Hours(1));
  registry::Options o = Retrying(Options());
  o.timeout = absl::Seconds(2);
  registry::RegistryClient client(o);
  ExpectBudgetHolds(client, ref_, digest_, requests_);
}

TEST_F(RegistryClockTest, WallClockSteppedBackMidRequestDoesNotStretchTheClientBudget) {
  ServeUnavailable(-absl::Hours(1));
  registry::Options o = Retrying(Options());
  o.timeout = absl::Seconds(60);
  o.total_timeout = absl::Seconds(2);
  registry::RegistryClient client(o);
  ExpectBudgetHolds(client, ref_, digest_, requests_);
}

}  // namespace
}  // namespace layerseal
