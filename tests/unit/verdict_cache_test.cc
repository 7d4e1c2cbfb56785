// The verdict cache (node-agent/verdict_cache.h): TTLs by kind on a fake clock, the LRU
// bound, persistence of allow verdicts and its damage handling; and clock jumps (issue 7),
// the wall clock stepped apart from the monotonic one.
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/verdict_cache.h"
#include "tests/support/agent_unit.h"
#include "tests/support/files.h"
#include "verifier/digest.h"
#include "verifier/reference.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using layerseal::testing::CacheOptions;
using layerseal::testing::DigestOf;
using layerseal::testing::FakeClock;
using layerseal::testing::kV1;
using layerseal::testing::Lines;
using layerseal::testing::ReadAll;
using layerseal::testing::Ref;
using layerseal::testing::WriteAll;
using TempDir = layerseal::testing::UnitTempDir;

void AppendAll(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << data;
}

// repo@sha256:<hash of seed>
Reference Pinned(std::string_view repo, std::string_view seed) {
  return Ref(StrCat(repo, "@", DigestOf(seed).str()));
}

Verdict MakeVerdict(Decision decision, Reason reason, const Reference& pinned,
                    std::string policy_version = "sha256:policy-v1") {
  Verdict v;
  v.decision = decision;
  v.reason = reason;
  v.detail = StrCat(ReasonName(reason), " for ", pinned.ToString());
  v.reference = pinned.ToString();
  v.manifest_digest = pinned.digest;
  v.key_id = "key-1234";
  v.policy_version = std::move(policy_version);
  v.scope = "registry.example.com/team/*";
  v.mode = Mode::kWarn;
  return v;
}



// ---------------------------------------------------------------------------------------
// VerdictCache

TEST(VerdictCacheTest, TtlsByKind) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference allowed = Pinned("registry.example.com/team/app", "allowed");
  Reference denied = Pinned("registry.example.com/team/app", "denied");
  Reference error_allowed = Pinned("registry.example.com/team/app", "error-allowed");
  Reference limit = Pinned("registry.example.com/team/app", "limit");
  cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  cache.Put(denied, MakeVerdict(Decision::kDeny, Reason::kBadSignature, denied));
  // An ALLOW through onRegistryError: allow must not outlive the error TTL.
  cache.Put(error_allowed, MakeVerdict(Decision::kAllow, Reason::kRegistryError, error_allowed));
  cache.Put(limit, MakeVerdict(Decision::kDeny, Reason::kLimitExceeded, limit));
  EXPECT_EQ(cache.size(), 4u);

  clock.t += absl::Seconds(2);
  EXPECT_TRUE(cache.Find(allowed, kV1).has_value());
  EXPECT_TRUE(cache.Find(denied, kV1).has_value());
  std::optional<Verdict> e = cache.Find(error_allowed, kV1);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->allowed());
  EXPECT_EQ(e->reason, Reason::kRegistryError);
  EXPECT_TRUE(cache.Find(limit, kV1).has_value());

  clock.t += absl::Seconds(2);  // 4s: past error_ttl
  EXPECT_FALSE(cache.Find(error_allowed, kV1).has_value());
  EXPECT_FALSE(cache.Find(limit, kV1).has_value());
  EXPECT_TRUE(cache.Find(denied, kV1).has_value());
  EXPECT_TRUE(cache.Find(allowed, kV1).has_value());

  clock.t += absl::Seconds(7);  // 11s: past deny_ttl
  EXPECT_FALSE(cache.Find(denied, kV1).has_value());
  EXPECT_TRUE(cache.Find(allowed, kV1).has_value());

  clock.t += absl::Seconds(88);  // 99s
  EXPECT_TRUE(cache.Find(allowed, kV1).has_value());
  clock.t += absl::Seconds(2);  // 101s: past allow_ttl
  EXPECT_FALSE(cache.Find(allowed, kV1).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

// Issue 15.5: the default deny TTL outlasts the kubelet's pull back-off ladder (10, 20, 40,
// 80, 160, 300 s, then 300 s steps): every retry of the climb hits the cache, and the image is
// verified again at most once per deny TTL (here at the next 300 s step, 910 s in).
TEST(VerdictCacheTest, DefaultDenyTtlOutlastsTheKubeletsBackOffLadder) {
  FakeClock clock;
  VerdictCacheOptions o;
  o.clock = &clock;
  VerdictCache cache(o);
  Reference denied = Pinned("registry.example.com/team/app", "denied");
  cache.Put(denied, MakeVerdict(Decision::kDeny, Reason::kNotSigned, denied));
  for (int seconds : {10, 20, 40, 80, 160, 300}) {
    clock.t += absl::Seconds(seconds);
    EXPECT_TRUE(cache.Find(denied, kV1).has_value()) << "retry after " << seconds << " s";
  }
  clock.t += absl::Seconds(300);  // 910 s: past the 15 min TTL
  EXPECT_FALSE(cache.Find(denied, kV1).has_value());
}

TEST(VerdictCacheTest, FoundVerdictKeepsItsFields) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference r = Pinned("registry.example.com/team/app", "fields");
  cache.Put(r, MakeVerdict(Decision::kAllow, Reason::kVerified, r));
  std::optional<Verdict> v = cache.Find(r, kV1);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->decision, Decision::kAllow);
  EXPECT_EQ(v->reason, Reason::kVerified);
  EXPECT_EQ(v->key_id, "key-1234");
  EXPECT_EQ(v->scope, "registry.example.com/team/*");
  EXPECT_EQ(v->mode, Mode::kWarn);
  ASSERT_TRUE(v->manifest_digest.has_value());
  EXPECT_EQ(v->manifest_digest->str(), DigestOf("fields").str());
}

TEST(VerdictCacheTest, PolicyVersionIsPartOfTheKey) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference r = Pinned("registry.example.com/team/app", "x");
  cache.Put(r, MakeVerdict(Decision::kAllow, Reason::kVerified, r, "sha256:policy-v1"));
  EXPECT_TRUE(cache.Find(r, "sha256:policy-v1").has_value());
  EXPECT_FALSE(cache.Find(r, "sha256:policy-v2").has_value());
}

TEST(VerdictCacheTest, RepositoryIsPartOfTheKey) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference team = Pinned("registry.example.com/team/app", "same-digest");
  Reference other = Pinned("registry.example.com/other/app", "same-digest");
  Reference other_registry = Pinned("mirror.example.com/team/app", "same-digest");
  ASSERT_EQ(team.digest->str(), other.digest->str());
  cache.Put(team, MakeVerdict(Decision::kAllow, Reason::kVerified, team));
  EXPECT_TRUE(cache.Find(team, kV1).has_value());
  EXPECT_FALSE(cache.Find(other, kV1).has_value());
  EXPECT_FALSE(cache.Find(other_registry, kV1).has_value());
}

TEST(VerdictCacheTest, LruBoundEvictsLeastRecentlyUsed) {
  FakeClock clock;
  VerdictCacheOptions o = CacheOptions(clock);
  o.max_entries = 3;
  VerdictCache cache(o);
  Reference a = Pinned("registry.example.com/app", "a");
  Reference b = Pinned("registry.example.com/app", "b");
  Reference c = Pinned("registry.example.com/app", "c");
  Reference d = Pinned("registry.example.com/app", "d");
  cache.Put(a, MakeVerdict(Decision::kAllow, Reason::kVerified, a));
  cache.Put(b, MakeVerdict(Decision::kAllow, Reason::kVerified, b));
  cache.Put(c, MakeVerdict(Decision::kAllow, Reason::kVerified, c));
  ASSERT_TRUE(cache.Find(a, kV1).has_value());  // a is now the most recently used; b the least
  cache.Put(d, MakeVerdict(Decision::kAllow, Reason::kVerified, d));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.Find(b, kV1).has_value());
  EXPECT_TRUE(cache.Find(a, kV1).has_value());
  EXPECT_TRUE(cache.Find(c, kV1).has_value());
  EXPECT_TRUE(cache.Find(d, kV1).has_value());
}

TEST(VerdictCacheTest, UnresolvedEntriesUseTheirOwnKeyAndErrorTtl) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  Verdict v;
  v.decision = Decision::kDeny;
  v.reason = Reason::kRegistryError;
  v.policy_version = kV1;
  cache.PutUnresolved("registry.example.com/app:1", v);
  EXPECT_TRUE(cache.FindUnresolved("registry.example.com/app:1", kV1).has_value());
  EXPECT_FALSE(cache.FindUnresolved("registry.example.com/app:2", kV1).has_value());
  EXPECT_FALSE(cache.FindUnresolved("registry.example.com/app:1", "sha256:other").has_value());
  clock.t += absl::Seconds(4);  // past error_ttl (3s)
  EXPECT_FALSE(cache.FindUnresolved("registry.example.com/app:1", kV1).has_value());
}

TEST(VerdictCacheTest, ResolutionTtl) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference pinned = Pinned("registry.example.com/app", "resolved");
  EXPECT_FALSE(cache.Resolve("registry.example.com/app:1").has_value());
  cache.RememberResolution("registry.example.com/app:1", pinned);
  clock.t += absl::Seconds(6);
  std::optional<Reference> r = cache.Resolve("registry.example.com/app:1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ToString(), pinned.ToString());
  EXPECT_FALSE(cache.Resolve("registry.example.com/app:2").has_value());
  clock.t += absl::Seconds(2);  // 8s: past resolve_ttl (7s)
  EXPECT_FALSE(cache.Resolve("registry.example.com/app:1").has_value());
}

TEST(VerdictCacheTest, PersistsOnlyAllowVerdictsAndReloadsThem) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  Reference accepted = Pinned("registry.example.com/open", "accepted");
  Reference denied = Pinned("registry.example.com/app", "denied");
  Reference error_allowed = Pinned("registry.example.com/app", "error-allowed");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
    cache.Put(accepted, MakeVerdict(Decision::kAllow, Reason::kInsecureAcceptAnything, accepted));
    cache.Put(denied, MakeVerdict(Decision::kDeny, Reason::kNotSigned, denied));
    cache.Put(error_allowed, MakeVerdict(Decision::kAllow, Reason::kRegistryError, error_allowed));
    Verdict unresolved;
    unresolved.decision = Decision::kAllow;
    unresolved.reason = Reason::kRegistryError;
    unresolved.policy_version = kV1;
    cache.PutUnresolved("registry.example.com/app:1", unresolved);
  }
  std::vector<std::string> lines = Lines(path);
  EXPECT_EQ(lines.size(), 2u) << ReadAll(path);
  for (const std::string& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_NE(j.value("reason", ""), "NOT_SIGNED") << line;
    EXPECT_NE(j.value("reason", ""), "REGISTRY_ERROR") << line;
  }

  clock.t += absl::Seconds(5);
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 0u);
  EXPECT_EQ(reloaded.size(), 2u);
  std::optional<Verdict> v = reloaded.Find(allowed, kV1);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->allowed());
  EXPECT_EQ(v->reason, Reason::kVerified);
  EXPECT_EQ(v->key_id, "key-1234");
  EXPECT_EQ(v->scope, "registry.example.com/team/*");
  EXPECT_EQ(v->mode, Mode::kWarn);
  EXPECT_EQ(v->policy_version, kV1);
  EXPECT_EQ(v->reference, allowed.ToString());
  ASSERT_TRUE(v->manifest_digest.has_value());
  EXPECT_EQ(v->manifest_digest->str(), allowed.digest->str());
  std::optional<Verdict> a = reloaded.Find(accepted, kV1);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->reason, Reason::kInsecureAcceptAnything);
  EXPECT_FALSE(reloaded.Find(denied, kV1).has_value());
  EXPECT_FALSE(reloaded.Find(error_allowed, kV1).has_value());
  EXPECT_FALSE(reloaded.FindUnresolved("registry.example.com/app:1", kV1).has_value());

  // The reloaded entries keep their original expiry (100s after they were put).
  clock.t += absl::Seconds(96);  // 101s after the Put
  EXPECT_FALSE(reloaded.Find(allowed, kV1).has_value());
}

TEST(VerdictCacheTest, ExpiredEntriesDroppedOnLoad) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  Reference early = Pinned("registry.example.com/app", "early");
  Reference late = Pinned("registry.example.com/app", "late");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(early, MakeVerdict(Decision::kAllow, Reason::kVerified, early));  // expires +100s
    clock.t += absl::Seconds(50);
    cache.Put(late, MakeVerdict(Decision::kAllow, Reason::kVerified, late));  // expires +150s
  }
  ASSERT_EQ(Lines(path).size(), 2u);
  clock.t += absl::Seconds(70);  // +120s: early expired, late live
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.size(), 1u);
  EXPECT_EQ(reloaded.skipped_lines(), 0u);  // expired is not damaged
  EXPECT_FALSE(reloaded.Find(early, kV1).has_value());
  EXPECT_TRUE(reloaded.Find(late, kV1).has_value());
  EXPECT_EQ(Lines(path).size(), 1u) << "the expired line stays in the compacted file";
}

// A line longer than kMaxVerdictCacheLineBytes is damage even when it is valid JSON (here a
// good line padded with blanks): skipped and counted, the lines after it still load.
TEST(VerdictCacheTest, OverlongLineSkippedAndCounted) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  Reference a = Pinned("registry.example.com/app", "a");
  Reference b = Pinned("registry.example.com/app", "b");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(a, MakeVerdict(Decision::kAllow, Reason::kVerified, a));
    cache.Put(b, MakeVerdict(Decision::kAllow, Reason::kVerified, b));
  }
  std::vector<std::string> good = Lines(path);
  ASSERT_EQ(good.size(), 2u);
  std::string padded = good[0];
  padded.insert(padded.size() - 1, std::string(kMaxVerdictCacheLineBytes, ' '));
  ASSERT_TRUE(nlohmann::json::accept(padded));
  WriteAll(path, padded + "\n" + good[1] + "\n");

  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 1u);
  EXPECT_EQ(reloaded.size(), 1u);
}

TEST(VerdictCacheTest, DamagedLinesSkippedAndCounted) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  Reference a = Pinned("registry.example.com/app", "a");
  Reference b = Pinned("registry.example.com/app", "b");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(a, MakeVerdict(Decision::kAllow, Reason::kVerified, a));
  }
  std::vector<std::string> good = Lines(path);
  ASSERT_EQ(good.size(), 1u);
  std::string unknown_reason = good[0];
  size_t at = unknown_reason.find("\"VERIFIED\"");
  ASSERT_NE(at, std::string::npos) << unknown_reason;
  unknown_reason.replace(at, 10, "\"SMELLS_FINE\"");
  AppendAll(path, "this is not json at all\n");
  AppendAll(path, good[0].substr(0, good[0].size() / 2) + "\n");  // truncated JSON
  AppendAll(path, unknown_reason + "\n");
  {
    // A good line after the damaged ones still loads.
    VerdictCache cache(CacheOptions(clock, path + ".b"));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(b, MakeVerdict(Decision::kAllow, Reason::kVerified, b));
  }
  AppendAll(path, ReadAll(path + ".b"));
  ASSERT_EQ(Lines(path).size(), 5u);

  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 3u);
  EXPECT_EQ(reloaded.size(), 2u);
  EXPECT_TRUE(reloaded.Find(a, kV1).has_value());
  EXPECT_TRUE(reloaded.Find(b, kV1).has_value());
  EXPECT_EQ(Lines(path).size(), 2u) << "damaged lines are not written back";
}

// A line with the right keys but a value of the wrong JSON type (e.g. "reason": 5) is
// damage like any other: skipped and counted, not an exception out of Load.
TEST(VerdictCacheTest, WrongTypedFieldIsSkippedNotThrown) {
  // Regression: Load used nlohmann's j.value("reason", ""), which throws type_error for a
  // field of another type; the exception escaped Load and the agent died at start.
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  Reference a = Pinned("registry.example.com/app", "a");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(a, MakeVerdict(Decision::kAllow, Reason::kVerified, a));
  }
  std::string good = Lines(path)[0];
  nlohmann::json bad = nlohmann::json::parse(good);
  bad["reason"] = 5;
  nlohmann::json bad_detail = nlohmann::json::parse(good);
  bad_detail["detail"] = nlohmann::json::array({1, 2});
  AppendAll(path, bad.dump() + "\n" + bad_detail.dump() + "\n");
  VerdictCache reloaded(CacheOptions(clock, path));
  absl::Status loaded;
  EXPECT_NO_THROW(loaded = reloaded.Load());
  EXPECT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(reloaded.skipped_lines(), 2u);
  EXPECT_TRUE(reloaded.Find(a, kV1).has_value());
}

TEST(VerdictCacheTest, FileCompactedOnLoad) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  Reference a = Pinned("registry.example.com/app", "a");
  Reference b = Pinned("registry.example.com/app", "b");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    for (int i = 0; i < 4; ++i) {  // superseded lines for the same key
      cache.Put(a, MakeVerdict(Decision::kAllow, Reason::kVerified, a));
      clock.t += absl::Seconds(1);
    }
    cache.Put(b, MakeVerdict(Decision::kAllow, Reason::kVerified, b));
  }
  EXPECT_EQ(Lines(path).size(), 5u);
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.size(), 2u);
  EXPECT_EQ(Lines(path).size(), 2u);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  // The newest of the superseded lines won: expiry 100s after the last Put of `a`.
  clock.t += absl::Seconds(98);
  EXPECT_TRUE(reloaded.Find(a, kV1).has_value());
  // New verdicts are appended to the compacted file.
  Reference c = Pinned("registry.example.com/app", "c");
  reloaded.Put(c, MakeVerdict(Decision::kAllow, Reason::kVerified, c));
  EXPECT_EQ(Lines(path).size(), 3u);
}

// Compaction triggered by appends (more appended lines than max_entries) rewrites the
// file from memory; entries that were never appended (unresolved references) must not
// appear in it, or the next start counts them as damaged lines.
TEST(VerdictCacheTest, CompactionAfterAppendsWritesOnlyPersistableEntries) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  FakeClock clock;
  VerdictCacheOptions o = CacheOptions(clock, path);
  o.max_entries = 3;
  Reference a = Pinned("registry.example.com/app", "a");
  {
    VerdictCache cache(o);
    ASSERT_TRUE(cache.Load().ok());
    // An unresolved DENY and an unresolved ALLOW (a manifest over the limit under
    // onRegistryError: allow): neither has a digest, neither is appended.
    Verdict deny;
    deny.decision = Decision::kDeny;
    deny.reason = Reason::kNotSigned;
    deny.policy_version = kV1;
    cache.PutUnresolved("registry.example.com/app:deny", deny);
    // Regression: Compact wrote every live ALLOW but REGISTRY_ERROR, this one included;
    // the next Load counted it as damage.
    Verdict limit;
    limit.decision = Decision::kAllow;
    limit.reason = Reason::kLimitExceeded;
    limit.policy_version = kV1;
    cache.PutUnresolved("registry.example.com/app:big", limit);
    EXPECT_EQ(Lines(path).size(), 0u);
    for (int i = 0; i < 5; ++i) {  // 5 appends > max_entries: compacts
      cache.Put(a, MakeVerdict(Decision::kAllow, Reason::kVerified, a));
      clock.t += absl::Seconds(1);
    }
    EXPECT_LE(Lines(path).size(), 3u) << ReadAll(path);
    for (const std::string& line : Lines(path)) EXPECT_THAT(line, ::testing::Not(HasSubstr("ref:")));
  }
  VerdictCache reloaded(o);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 0u) << ReadAll(path);
  EXPECT_TRUE(reloaded.Find(a, kV1).has_value());
  EXPECT_FALSE(reloaded.FindUnresolved("registry.example.com/app:deny", kV1).has_value());
}

TEST(VerdictCacheTest, ConcurrentUseStaysBounded) {
  TempDir dir;
  FakeClock clock;
  VerdictCacheOptions o = CacheOptions(clock, dir / "verdicts.jsonl");
  o.max_entries = 16;
  VerdictCache cache(o);
  ASSERT_TRUE(cache.Load().ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 200; ++i) {
        Reference r = Pinned("registry.example.com/app", StrCat(t, "-", i % 40));
        cache.Put(r, MakeVerdict(Decision::kAllow, Reason::kVerified, r));
        cache.Find(r, kV1);
        cache.RememberResolution(StrCat("registry.example.com/app:", i), r);
        cache.Resolve(StrCat("registry.example.com/app:", i / 2));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_LE(cache.size(), 16u);
  VerdictCache reloaded(o);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 0u);
  EXPECT_GT(reloaded.size(), 0u);
  EXPECT_LE(reloaded.size(), 16u);
}

TEST(VerdictCacheTest, LoadFailsForAnUnusablePath) {
  TempDir dir;
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock, dir / "no-such-dir/verdicts.jsonl"));
  absl::Status s = cache.Load();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("no-such-dir/verdicts.jsonl"));
}

TEST(VerdictCacheTest, NoPersistPathLoadsNothing) {
  FakeClock clock;
  VerdictCache cache(CacheOptions(clock));
  EXPECT_TRUE(cache.Load().ok());
  EXPECT_EQ(cache.size(), 0u);
}

// ---------------------------------------------------------------------------------------
// Clock jumps (issue 7): wall time and monotonic time moved separately, as an NTP step, an
// operator's `date -s` or a resumed VM would.

struct SteppingClock : Clock {
  absl::Time wall = absl::FromUnixSeconds(1'800'000'000);
  absl::Duration mono = absl::Hours(1);
  absl::Time Wall() const override { return wall; }
  absl::Duration Monotonic() const override { return mono; }
  void Elapse(absl::Duration d) {  // real time passing: both clocks move
    wall += d;
    mono += d;
  }
};

TEST(ClockJumpTest, WallClockSteppedBackDoesNotExtendCachedVerdicts) {
  SteppingClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  Reference denied = Pinned("registry.example.com/app", "denied");
  cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  cache.Put(denied, MakeVerdict(Decision::kDeny, Reason::kNotSigned, denied));
  cache.PutUnresolved("registry.example.com/app:down",
                      MakeVerdict(Decision::kDeny, Reason::kRegistryError, denied));
  cache.RememberResolution("registry.example.com/app:1", allowed);

  clock.wall -= absl::Hours(24 * 365);  // stepped back a year
  clock.Elapse(absl::Seconds(4));       // past error_ttl (3s)
  EXPECT_FALSE(cache.FindUnresolved("registry.example.com/app:down", kV1).has_value());
  EXPECT_TRUE(cache.Find(denied, kV1).has_value());
  clock.Elapse(absl::Seconds(4));  // 8s: past resolve_ttl (7s)
  EXPECT_FALSE(cache.Resolve("registry.example.com/app:1").has_value());
  clock.Elapse(absl::Seconds(3));  // 11s: past deny_ttl (10s)
  EXPECT_FALSE(cache.Find(denied, kV1).has_value());
  EXPECT_TRUE(cache.Find(allowed, kV1).has_value());
  clock.Elapse(absl::Seconds(90));  // 101s: past allow_ttl (100s)
  EXPECT_FALSE(cache.Find(allowed, kV1).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ClockJumpTest, WallClockSteppedForwardNeitherExpiresNorBreaksVerdicts) {
  SteppingClock clock;
  VerdictCache cache(CacheOptions(clock));
  Reference denied = Pinned("registry.example.com/app", "denied");
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  cache.Put(denied, MakeVerdict(Decision::kDeny, Reason::kNotSigned, denied));
  cache.RememberResolution("registry.example.com/app:1", allowed);

  clock.wall += absl::Hours(24 * 365);  // stepped forward a year
  clock.Elapse(absl::Seconds(1));
  // A denial still holds off the retry storm it is there for; the resolution still pins.
  EXPECT_TRUE(cache.Find(denied, kV1).has_value());
  EXPECT_TRUE(cache.Resolve("registry.example.com/app:1").has_value());
  // New entries put under the new wall time expire on their own TTL too.
  cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  clock.Elapse(absl::Seconds(99));
  EXPECT_TRUE(cache.Find(allowed, kV1).has_value());
  EXPECT_FALSE(cache.Find(denied, kV1).has_value());
  clock.Elapse(absl::Seconds(2));
  EXPECT_FALSE(cache.Find(allowed, kV1).has_value());
}

TEST(ClockJumpTest, PersistedVerdictWrittenBeforeTheWallClockWentBackIsVerifiedAgain) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  SteppingClock clock;
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  }
  ASSERT_EQ(Lines(path).size(), 1u);
  // The agent restarts after the clock was stepped back a year: the line's expiry now lies a
  // year and 100s ahead, more than allow_ttl; its age cannot be known, so it is not reused.
  clock.wall -= absl::Hours(24 * 365);
  clock.mono = absl::Seconds(5);  // a new boot
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 0u);  // not damaged, just not trusted
  EXPECT_EQ(reloaded.size(), 0u);
  EXPECT_FALSE(reloaded.Find(allowed, kV1).has_value());
  EXPECT_EQ(Lines(path).size(), 0u) << "compaction drops it from the file too";
}

TEST(ClockJumpTest, PersistedVerdictPastItsExpiryAfterAForwardStepIsDropped) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  SteppingClock clock;
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  }
  clock.wall += absl::Hours(24 * 365);
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.size(), 0u);
  // And the cache keeps working under the new time: a new verdict is kept and found.
  reloaded.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  EXPECT_TRUE(reloaded.Find(allowed, kV1).has_value());
}

TEST(ClockJumpTest, ReloadedVerdictKeepsOnlyItsRemainingLifeOnTheMonotonicClock) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  SteppingClock clock;
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
  }
  clock.Elapse(absl::Seconds(40));  // restarted 40s later: 60s left
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  ASSERT_TRUE(reloaded.Find(allowed, kV1).has_value());
  // Once loaded, wall steps no longer matter: back a year, and 61s later it is gone.
  clock.wall -= absl::Hours(24 * 365);
  clock.Elapse(absl::Seconds(59));
  EXPECT_TRUE(reloaded.Find(allowed, kV1).has_value());
  clock.Elapse(absl::Seconds(2));
  EXPECT_FALSE(reloaded.Find(allowed, kV1).has_value());
}

TEST(ClockJumpTest, OnlyLinesWrittenAfterABackwardStepAreReused) {
  TempDir dir;
  std::string path = dir / "verdicts.jsonl";
  SteppingClock clock;
  Reference allowed = Pinned("registry.example.com/app", "allowed");
  {
    VerdictCache cache(CacheOptions(clock, path));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(allowed, MakeVerdict(Decision::kAllow, Reason::kVerified, allowed));
    // Stepped back an hour while running; 30s later another verdict is written, its
    // expiry in the new wall time.
    clock.wall -= absl::Hours(1);
    clock.Elapse(absl::Seconds(30));
    Reference other = Pinned("registry.example.com/app", "other");
    cache.Put(other, MakeVerdict(Decision::kAllow, Reason::kVerified, other));
  }
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 2u);
  // The first line was written before the step: it looks an hour too long-lived, so a
  // reload does not trust it; the second was written after it and is reused, and the
  // compacted file holds it with its remaining life re-based on the wall clock of now.
  VerdictCache reloaded(CacheOptions(clock, path));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_FALSE(reloaded.Find(allowed, kV1).has_value());
  EXPECT_TRUE(reloaded.Find(Pinned("registry.example.com/app", "other"), kV1).has_value());
  nlohmann::json j = nlohmann::json::parse(Lines(path).at(0));
  EXPECT_EQ(j["expires"].get<int64_t>(), absl::ToUnixSeconds(clock.wall + absl::Seconds(100)));
}

}  // namespace
}  // namespace layerseal::agent
