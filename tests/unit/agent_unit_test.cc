// The node agent's pieces, one at a time: the verdict cache (TTLs by kind on a fake clock,
// LRU bound, persistence), the policy set (namespace files, reload, fingerprint), the
// configuration (file + flags), the event log, and the caching judge with policies that
// need no registry, or a registry that cannot be reached.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/server.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_source.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "nlohmann/json.hpp"
#include "node-agent/config.h"
#include "node-agent/containerd_images.h"
#include "node-agent/event_log.h"
#include "node-agent/judge.h"
#include "node-agent/policy_set.h"
#include "node-agent/verdict_cache.h"
#include "plugin/image_judge.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/reference.h"
#include "base/str_cat.h"
#include "verifier/verdict.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// ---------------------------------------------------------------------------------------
// Helpers

using layerseal::testing::ReadAll;
using layerseal::testing::WriteAll;

void AppendAll(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << data;
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// A fresh directory under /tmp, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/layerseal-agent-unit-XXXXXX";
    char* made = mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path_ = made != nullptr ? made : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return StrCat(path_, "/", name); }

 private:
  std::string path_;
};

Reference Ref(std::string_view text) {
  absl::StatusOr<Reference> r = Reference::Parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status();
  return r.ok() ? *r : Reference{};
}

Digest DigestOf(std::string_view seed) { return Digest::Sha256Of(seed); }

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

// A clock the test moves by hand: wall and monotonic time move together.
struct FakeClock : Clock {
  absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  absl::Time Wall() const override { return t; }
  absl::Duration Monotonic() const override { return t - absl::UnixEpoch(); }
};

VerdictCacheOptions CacheOptions(const Clock& clock, std::string persist_path = "") {
  VerdictCacheOptions o;
  o.max_entries = 100;
  o.allow_ttl = absl::Seconds(100);
  o.deny_ttl = absl::Seconds(10);
  o.error_ttl = absl::Seconds(3);
  o.resolve_ttl = absl::Seconds(7);
  o.persist_path = std::move(persist_path);
  o.clock = &clock;
  return o;
}

constexpr char kV1[] = "sha256:policy-v1";

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
// PolicySet

class PolicySetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "keys");
    fs::create_directories(dir_ / "ns");
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    WriteAll(dir_ / "keys/ci.pub", key->public_key().ToPem());
    node_path_ = dir_ / "policy.yaml";
    ns_dir_ = dir_ / "ns";
    WriteAll(node_path_, kNodePolicy);
  }

  std::string NsFile(std::string_view name) const { return StrCat(ns_dir_, "/", name); }
  // A namespace policy (its text varies with `tag` so each has its own version).
  std::string SignedPolicy(std::string_view tag) const {
    return StrCat("# ", tag, "\nversion: 1\nkeys:\n  ci:\n    path: ", dir_.path(),
                  "/keys/ci.pub\ndefault:\n  requirement: signed\n  keys: [ci]\n");
  }
  static std::string Version(std::string_view text) { return Digest::Sha256Of(text).str(); }

  static constexpr std::string_view kNodePolicy = "version: 1\ndefault:\n  requirement: reject\n";
  TempDir dir_;
  std::string node_path_;
  std::string ns_dir_;
};

TEST_F(PolicySetTest, NodePolicyOnly) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, "");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_NE((*set)->node(), nullptr);
  EXPECT_EQ((*set)->node()->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->For("").get(), (*set)->node().get());
  EXPECT_TRUE((*set)->NamespaceVersions().empty());
}

TEST_F(PolicySetTest, MissingNodePolicyFails) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(dir_ / "absent.yaml", "");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("absent.yaml"));
}

TEST_F(PolicySetTest, NamespaceFilePicksThePolicyForThatNamespace) {
  std::string team_a = SignedPolicy("team-a");
  WriteAll(NsFile("team-a.yaml"), team_a);
  WriteAll(NsFile("notes.txt"), "not a policy, not .yaml: ignored");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->For("team-a")->default_scope().requirement, Requirement::kSigned);
  EXPECT_EQ((*set)->For("team-b")->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->For("")->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->node()->version(), Version(kNodePolicy));
  EXPECT_EQ((*set)->NamespaceVersions(),
            (std::map<std::string, std::string>{{"team-a", Version(team_a)}}));
}

TEST_F(PolicySetTest, BadNamespaceFileNameFailsNamingTheFile) {
  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a"));
  WriteAll(NsFile("Bad_Name.yaml"), SignedPolicy("bad"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("Bad_Name.yaml"));
}

TEST_F(PolicySetTest, BadPolicyFailsNamingTheFile) {
  WriteAll(NsFile("broken.yaml"), "version: 2\ndefault:\n  requirement: reject\n");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("broken.yaml"));
}

TEST_F(PolicySetTest, MissingNamespaceDirFails) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, dir_ / "nope");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(Sv(set.status().message())), HasSubstr("nope"));
}

TEST_F(PolicySetTest, ReloadPicksUpChanges) {
  std::string team_a = SignedPolicy("team-a");
  WriteAll(NsFile("team-a.yaml"), team_a);
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  std::shared_ptr<const Policy> old_team_a = (*set)->For("team-a");

  std::string team_a2 = SignedPolicy("team-a, second edition");
  std::string team_b = SignedPolicy("team-b");
  WriteAll(NsFile("team-a.yaml"), team_a2);
  WriteAll(NsFile("team-b.yaml"), team_b);
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a2));
  EXPECT_EQ((*set)->For("team-b")->version(), Version(team_b));
  // A caller still holding the old policy keeps it intact.
  EXPECT_EQ(old_team_a->version(), Version(team_a));

  fs::remove(NsFile("team-b.yaml"));
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("team-b")->version(), Version(kNodePolicy));
}

TEST_F(PolicySetTest, FailedReloadKeepsTheOldPolicies) {
  std::string team_a = SignedPolicy("team-a");
  WriteAll(NsFile("team-a.yaml"), team_a);
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();

  // The node policy and team-a change on disk, but a bad file makes the whole reload fail.
  std::string node2 = "version: 1\ndefault:\n  requirement: insecureAcceptAnything\n";
  WriteAll(node_path_, node2);
  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a v2"));
  WriteAll(NsFile("Bad_Name.yaml"), SignedPolicy("bad"));
  absl::Status s = (*set)->Reload();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("Bad_Name.yaml"));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->For("")->version(), Version(kNodePolicy));

  fs::remove(NsFile("Bad_Name.yaml"));
  WriteAll(NsFile("zz.yaml"), "version: 1\ndefault: {requirement: signed}\n");  // no keys
  s = (*set)->Reload();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("zz.yaml"));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->For("zz")->version(), Version(kNodePolicy));

  fs::remove(NsFile("zz.yaml"));
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("")->version(), Version(node2));
  EXPECT_EQ((*set)->For("team-a")->version(), Version(SignedPolicy("team-a v2")));
}

// ConfigMap volumes: "..data" -> "..<timestamp>/" and "<file>" -> "..data/<file>".
TEST_F(PolicySetTest, HiddenEntriesSkipped) {
  std::string team_a = SignedPolicy("team-a");
  std::string stamp = NsFile("..2026_11_23_10_00_00.123456789");
  fs::create_directories(stamp);
  WriteAll(stamp + "/team-a.yaml", team_a);
  fs::create_directory_symlink("..2026_11_23_10_00_00.123456789", NsFile("..data"));
  fs::create_symlink("..data/team-a.yaml", NsFile("team-a.yaml"));
  // Hidden files that would fail both by name and by content if read.
  WriteAll(NsFile("..bad.yaml"), "not: [a policy");
  WriteAll(NsFile(".Hidden_Name.yaml"), "version: 7\n");
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->For("team-a")->version(), Version(team_a));
  EXPECT_EQ((*set)->NamespaceVersions().size(), 1u);
}

TEST_F(PolicySetTest, FingerprintChangesWhenAFileChanges) {
  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  std::string f0 = (*set)->Fingerprint();
  EXPECT_EQ((*set)->Fingerprint(), f0);

  WriteAll(NsFile("team-a.yaml"), SignedPolicy("team-a, longer second edition"));
  std::string f1 = (*set)->Fingerprint();
  EXPECT_NE(f1, f0);

  WriteAll(node_path_, "version: 1\ndefault:\n  requirement: insecureAcceptAnything\n");
  std::string f2 = (*set)->Fingerprint();
  EXPECT_NE(f2, f1);

  WriteAll(NsFile("team-b.yaml"), SignedPolicy("team-b"));
  std::string f3 = (*set)->Fingerprint();
  EXPECT_NE(f3, f2);

  fs::remove(NsFile("team-b.yaml"));
  EXPECT_NE((*set)->Fingerprint(), f3);
}

// A ConfigMap update swaps the "..data" symlink to a new timestamped directory: the
// fingerprint changes and a reload reads the new file through the "<ns>.yaml" symlink.
TEST_F(PolicySetTest, ConfigMapSymlinkSwap) {
  std::string v1 = SignedPolicy("team-a v1");
  std::string v2 = SignedPolicy("team-a v2");
  fs::create_directories(NsFile("..t1"));
  fs::create_directories(NsFile("..t2"));
  WriteAll(NsFile("..t1/team-a.yaml"), v1);
  WriteAll(NsFile("..t2/team-a.yaml"), v2);
  fs::create_directory_symlink("..t1", NsFile("..data"));
  fs::create_symlink("..data/team-a.yaml", NsFile("team-a.yaml"));
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->For("team-a")->version(), Version(v1));
  std::string f0 = (*set)->Fingerprint();

  fs::create_directory_symlink("..t2", NsFile("..data_tmp"));
  fs::rename(NsFile("..data_tmp"), NsFile("..data"));  // atomic, as the kubelet does
  EXPECT_NE((*set)->Fingerprint(), f0);
  ASSERT_TRUE((*set)->Reload().ok());
  EXPECT_EQ((*set)->For("team-a")->version(), Version(v2));
}

TEST_F(PolicySetTest, FingerprintSeesASameSizeRewrite) {
  absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, "");
  ASSERT_TRUE(set.ok()) << set.status();
  std::string f0 = (*set)->Fingerprint();
  // Same size, new content, new inode (written aside and renamed over, like editors do).
  std::string next = "version: 1\ndefault:\n  requirement: rejecT\n";
  ASSERT_EQ(next.size(), kNodePolicy.size());
  WriteAll(node_path_ + ".new", next);
  fs::rename(node_path_ + ".new", node_path_);
  EXPECT_NE((*set)->Fingerprint(), f0);
}

// ---------------------------------------------------------------------------------------
// ParseAgentArgs

std::string ErrorOf(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs(args);
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(Sv(p.status().message()));
}

TEST(AgentConfigTest, Defaults) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->help);
  EXPECT_FALSE(p->version);
  const AgentConfig& c = p->config;
  EXPECT_EQ(c.listen, "/run/layerseal/layerseal.sock");
  EXPECT_EQ(c.listen_mode, 0660);
  EXPECT_EQ(c.runtime_endpoint, "/run/containerd/containerd.sock");
  EXPECT_EQ(c.policy, "/etc/layerseal/policy.yaml");
  EXPECT_EQ(c.namespace_policy_dir, "");
  EXPECT_EQ(c.state_dir, "/var/lib/layerseal");
  EXPECT_EQ(c.EventLogPath(), "/var/lib/layerseal/events.jsonl");
  EXPECT_EQ(c.cache.persist_path, "/var/lib/layerseal/verdicts.jsonl");
  EXPECT_EQ(c.admin_address, "127.0.0.1:9464");
  EXPECT_EQ(c.workers, 16);
  EXPECT_EQ(c.registry_timeout, absl::Seconds(30));
  EXPECT_EQ(c.verify_timeout, absl::Seconds(60));
  EXPECT_TRUE(c.plain_http_registries.empty());
  EXPECT_EQ(c.cache.max_entries, 10000u);
  EXPECT_EQ(c.cache.allow_ttl, absl::Hours(24));
  EXPECT_EQ(c.cache.deny_ttl, kDefaultDenyTtl);
  EXPECT_EQ(c.cache.error_ttl, absl::Seconds(5));
  EXPECT_EQ(c.cache.resolve_ttl, absl::Seconds(10));
  EXPECT_FALSE(c.node_name.empty()) << "defaults to the host name";
}

TEST(AgentConfigTest, AdminAllowedHostsRepeat) {
  EXPECT_TRUE(ParseAgentArgs({})->config.admin_allowed_hosts.empty());
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs(
      {"--admin-allowed-host", "agent.example", "--admin-allowed-host", "node-1.example"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.admin_allowed_hosts,
            (std::vector<std::string>{"agent.example", "node-1.example"}));
}

TEST(AgentConfigTest, EventLogDash) {
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({"--event-log", "-"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.EventLogPath(), "");
}

TEST(AgentConfigTest, ConfigFileWithNestedKeys) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file,
           "listen: /tmp/ls.sock\n"
           "listenMode: 0600\n"
           "runtimeEndpoint: unix:///run/crio/crio.sock\n"
           "stateDir: /srv/layerseal\n"
           "nodeName: node-7\n"
           "workers: 4\n"
           "registry:\n"
           "  plainHttp:\n"
           "    - 127.0.0.1:5000\n"
           "    - localhost:5001\n"
           "  timeout: 3s\n"
           "  verifyTimeout: 20s\n"
           "cache:\n"
           "  denyTtl: 45s\n"
           "  maxEntries: 50\n");
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({"--config", file});
  ASSERT_TRUE(p.ok()) << p.status();
  const AgentConfig& c = p->config;
  EXPECT_EQ(c.listen, "/tmp/ls.sock");
  EXPECT_EQ(c.listen_mode, 0600);
  EXPECT_EQ(c.runtime_endpoint, "/run/crio/crio.sock");
  EXPECT_EQ(c.node_name, "node-7");
  EXPECT_EQ(c.workers, 4);
  EXPECT_THAT(c.plain_http_registries, UnorderedElementsAre("127.0.0.1:5000", "localhost:5001"));
  EXPECT_EQ(c.registry_timeout, absl::Seconds(3));
  EXPECT_EQ(c.verify_timeout, absl::Seconds(20));
  EXPECT_EQ(c.cache.deny_ttl, absl::Seconds(45));
  EXPECT_EQ(c.cache.max_entries, 50u);
  EXPECT_EQ(c.cache.allow_ttl, absl::Hours(24)) << "keys not in the file keep their defaults";
  EXPECT_EQ(c.cache.persist_path, "/srv/layerseal/verdicts.jsonl");
  EXPECT_EQ(c.EventLogPath(), "/srv/layerseal/events.jsonl");
}

TEST(AgentConfigTest, FlagOverridesFile) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file,
           "listen: /tmp/from-file.sock\n"
           "registry:\n"
           "  plainHttp: [127.0.0.1:5000]\n"
           "cache:\n"
           "  denyTtl: 45s\n");
  // Flags given before --config still win over the file.
  absl::StatusOr<ParsedArgs> p =
      ParseAgentArgs({"--cache-deny-ttl=7s", "--config", file, "--listen", "/tmp/from-flag.sock",
                      "--plain-http-registry", "127.0.0.1:6000"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.cache.deny_ttl, absl::Seconds(7));
  EXPECT_EQ(p->config.listen, "/tmp/from-flag.sock");
  EXPECT_THAT(p->config.plain_http_registries, Contains("127.0.0.1:6000"));
}

TEST(AgentConfigTest, UnknownKeyNamesFileLineAndKey) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file,
           "listen: /tmp/ls.sock\n"
           "cache:\n"
           "  denyTTL: 5s\n");
  std::string e = ErrorOf({"--config", file});
  EXPECT_THAT(e, HasSubstr(StrCat(file, ":3")));
  EXPECT_THAT(e, HasSubstr("cache.denyTTL"));
  EXPECT_THAT(e, HasSubstr("unknown key"));
}

TEST(AgentConfigTest, BadValueInFileNamesFileLineAndKey) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file, "cache:\n  allowTtl: 1h\n  errorTtl: forever\n");
  std::string e = ErrorOf({"--config", file});
  EXPECT_THAT(e, HasSubstr(StrCat(file, ":3")));
  EXPECT_THAT(e, HasSubstr("cache.errorTtl"));
  EXPECT_THAT(e, HasSubstr("forever"));
}

TEST(AgentConfigTest, ListWhereOneValueExpected) {
  TempDir dir;
  std::string file = dir / "agent.yaml";
  WriteAll(file, "listen: [a, b]\n");
  std::string e = ErrorOf({"--config", file});
  EXPECT_THAT(e, HasSubstr(StrCat(file, ":1")));
  EXPECT_THAT(e, HasSubstr("listen"));
}

TEST(AgentConfigTest, MissingConfigFileFails) {
  TempDir dir;
  std::string e = ErrorOf({"--config", dir / "absent.yaml"});
  EXPECT_THAT(e, HasSubstr("absent.yaml"));
}

TEST(AgentConfigTest, V1alpha2GateOrRefuse) {
  absl::StatusOr<ParsedArgs> d = ParseAgentArgs({});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->config.v1alpha2, plugin::V1alpha2Mode::kGate);
  absl::StatusOr<ParsedArgs> r = ParseAgentArgs({"--v1alpha2", "refuse"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.v1alpha2, plugin::V1alpha2Mode::kRefuse);
  EXPECT_THAT(ErrorOf({"--v1alpha2", "pass"}), HasSubstr("is not gate or refuse"));
}

TEST(AgentConfigTest, UnknownFlagFails) {
  EXPECT_THAT(ErrorOf({"--no-such-flag", "x"}), HasSubstr("--no-such-flag"));
  EXPECT_THAT(ErrorOf({"stray"}), HasSubstr("stray"));
}

TEST(AgentConfigTest, BadDurationNamesTheFlag) {
  std::string e = ErrorOf({"--cache-deny-ttl", "soon"});
  EXPECT_THAT(e, HasSubstr("--cache-deny-ttl"));
  EXPECT_THAT(e, HasSubstr("soon"));
  EXPECT_THAT(ErrorOf({"--registry-timeout=0s"}), HasSubstr("--registry-timeout"));
  EXPECT_THAT(ErrorOf({"--cache-error-ttl=-5s"}), HasSubstr("--cache-error-ttl"));
}

TEST(AgentConfigTest, BadOctalListenModeNamesTheFlag) {
  for (const char* bad : {"0999", "0660x", "01777", "rw-rw----", ""}) {
    std::string e = ErrorOf({"--listen-mode", bad});
    EXPECT_THAT(e, HasSubstr("--listen-mode")) << bad;
  }
  absl::StatusOr<ParsedArgs> p = ParseAgentArgs({"--listen-mode=0640"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.listen_mode, 0640);
}

TEST(AgentConfigTest, BadCountsNameTheFlag) {
  EXPECT_THAT(ErrorOf({"--workers", "0"}), HasSubstr("--workers"));
  EXPECT_THAT(ErrorOf({"--workers", "many"}), HasSubstr("--workers"));
  EXPECT_THAT(ErrorOf({"--cache-max-entries", "-1"}), HasSubstr("--cache-max-entries"));
}

TEST(AgentConfigTest, HelpAndVersion) {
  absl::StatusOr<ParsedArgs> help = ParseAgentArgs({"--help"});
  ASSERT_TRUE(help.ok()) << help.status();
  EXPECT_TRUE(help->help);
  EXPECT_FALSE(help->version);
  // Nothing else is checked with --help.
  absl::StatusOr<ParsedArgs> help2 = ParseAgentArgs({"--cache-deny-ttl", "soon", "--help"});
  ASSERT_TRUE(help2.ok()) << help2.status();
  EXPECT_TRUE(help2->help);

  absl::StatusOr<ParsedArgs> version = ParseAgentArgs({"--version"});
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_TRUE(version->version);
  EXPECT_FALSE(version->help);

  EXPECT_FALSE(ParseAgentArgs({"--help=yes"}).ok());

  std::string usage = AgentUsage();
  for (const char* flag : {"--config", "--listen-mode", "--cache-deny-ttl", "--plain-http-registry",
                           "--version", "(cache.denyTtl)", "(registry.plainHttp)"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
}

// ---------------------------------------------------------------------------------------
// EventLog / EventJson

plugin::VerdictEvent MakeEvent(std::string image, bool allow) {
  plugin::VerdictEvent e;
  e.gate = "PullImage";
  e.image = std::move(image);
  e.pod = plugin::PodRef{.ns = "team-a", .name = "web-0", .uid = "uid-1234"};
  Verdict& v = e.judgement.verdict;
  v.decision = allow ? Decision::kAllow : Decision::kDeny;
  v.reason = allow ? Reason::kVerified : Reason::kBadSignature;
  v.detail = allow ? "signed by key-1" : "signature does not verify";
  v.reference = e.image;
  if (allow) v.manifest_digest = DigestOf("event-image");
  v.key_id = "key-1";
  v.policy_version = kV1;
  v.scope = "registry.example.com";
  v.mode = allow ? Mode::kEnforce : Mode::kWarn;
  v.duration = absl::Milliseconds(12);
  e.judgement.cached = allow;
  e.admitted = allow;
  e.gate_time = absl::Milliseconds(15);
  e.time = absl::FromUnixMillis(1'800'000'000'123);
  return e;
}

TEST(EventJsonTest, Fields) {
  nlohmann::json j = EventJson("node-7", MakeEvent("registry.example.com/app:1", true));
  EXPECT_EQ(j["time"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(j["node"], "node-7");
  EXPECT_EQ(j["gate"], "PullImage");
  EXPECT_EQ(j["pod"]["namespace"], "team-a");
  EXPECT_EQ(j["pod"]["name"], "web-0");
  EXPECT_EQ(j["pod"]["uid"], "uid-1234");
  EXPECT_EQ(j["image"], "registry.example.com/app:1");
  EXPECT_EQ(j["reference"], "registry.example.com/app:1");
  EXPECT_EQ(j["digest"], DigestOf("event-image").str());
  EXPECT_EQ(j["verdict"], "ALLOW");
  EXPECT_EQ(j["reason"], "VERIFIED");
  EXPECT_EQ(j["detail"], "signed by key-1");
  EXPECT_EQ(j["key_id"], "key-1");
  EXPECT_EQ(j["policy_version"], kV1);
  EXPECT_EQ(j["scope"], "registry.example.com");
  EXPECT_EQ(j["mode"], "enforce");
  EXPECT_EQ(j["admitted"], true);
  EXPECT_EQ(j["cached"], true);
  EXPECT_DOUBLE_EQ(j["verify_ms"].get<double>(), 12.0);
  EXPECT_DOUBLE_EQ(j["gate_ms"].get<double>(), 15.0);
}

TEST(EventJsonTest, DenialFields) {
  nlohmann::json j = EventJson("node-7", MakeEvent("registry.example.com/app:2", false));
  EXPECT_EQ(j["verdict"], "DENY");
  EXPECT_EQ(j["reason"], "BAD_SIGNATURE");
  EXPECT_EQ(j["mode"], "warn");
  EXPECT_EQ(j["digest"], "");
  EXPECT_EQ(j["admitted"], false);
  EXPECT_EQ(j["cached"], false);
}

class RecordingSink : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent& event) override { events.push_back(event); }
  std::vector<plugin::VerdictEvent> events;
};

TEST(EventLogTest, LinesAreValidJson) {
  TempDir dir;
  std::string path = dir / "events.jsonl";
  {
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(MakeEvent("registry.example.com/app:1", true));
    (*log)->Report(MakeEvent("registry.example.com/app:2", false));
    // Not UTF-8 (an image name straight from a CRI request): still a valid JSON line.
    (*log)->Report(MakeEvent("registry.example.com/bad\xff\xfe:1", false));
  }
  {
    // Reopening appends.
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(MakeEvent("registry.example.com/app:4", true));
  }
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 4u) << ReadAll(path);
  std::vector<std::string> images;
  for (const std::string& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["node"], "node-7");
    EXPECT_EQ(j["pod"]["uid"], "uid-1234");
    images.push_back(j["image"].get<std::string>());
  }
  EXPECT_EQ(images[0], "registry.example.com/app:1");
  EXPECT_EQ(images[1], "registry.example.com/app:2");
  EXPECT_THAT(images[2], HasSubstr("registry.example.com/bad"));
  EXPECT_EQ(images[3], "registry.example.com/app:4");
}

TEST(EventLogTest, NextSinkReceivesEveryEvent) {
  TempDir dir;
  for (std::string path : {std::string(""), dir / "events.jsonl"}) {
    RecordingSink sink;
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, &sink);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(MakeEvent("registry.example.com/app:1", true));
    (*log)->Report(MakeEvent("registry.example.com/app:2", false));
    (*log)->Report(MakeEvent("registry.example.com/app:3", true));
    ASSERT_EQ(sink.events.size(), 3u) << path;
    EXPECT_EQ(sink.events[0].image, "registry.example.com/app:1");
    EXPECT_EQ(sink.events[1].image, "registry.example.com/app:2");
    EXPECT_FALSE(sink.events[1].admitted);
    EXPECT_EQ(sink.events[2].image, "registry.example.com/app:3");
    if (!path.empty()) {
      EXPECT_EQ(Lines(path).size(), 3u);
    }
  }
}

// At kMaxEventLogBytes the file is moved to <path>.1 (one old file kept) and a new one
// begun. The size is taken from the file at Open, so a sparse file stands in for 64 MiB.
TEST(EventLogTest, RotatesAtTheSizeLimit) {
  TempDir dir;
  std::string path = dir / "events.jsonl";
  WriteAll(path + ".1", "older rotation\n");
  WriteAll(path, "{}\n");
  fs::resize_file(path, kMaxEventLogBytes - 10);
  absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("node-7", path, nullptr);
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Report(MakeEvent("registry.example.com/app:1", true));
  EXPECT_EQ(fs::file_size(path + ".1"), kMaxEventLogBytes - 10);
  std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(nlohmann::json::accept(lines[0])) << lines[0];
  (*log)->Report(MakeEvent("registry.example.com/app:2", true));
  EXPECT_EQ(Lines(path).size(), 2u);
  EXPECT_EQ(fs::file_size(path + ".1"), kMaxEventLogBytes - 10);
}

TEST(EventLogTest, OpenFailsForAnUnwritablePath) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<EventLog>> log =
      EventLog::Open("node-7", dir / "missing/events.jsonl", nullptr);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(Sv(log.status().message())), HasSubstr("missing/events.jsonl"));
}

// ---------------------------------------------------------------------------------------
// CachingJudge

class CachingJudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "ns");
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    WriteAll(dir_ / "ci.pub", key->public_key().ToPem());
    WriteAll(dir_ / "policy.yaml", kNodePolicy);
    WriteAll(dir_ / "ns/locked.yaml", kLockedPolicy);
    WriteAll(dir_ / "ns/secure.yaml", SecurePolicy("deny"));
    WriteAll(dir_ / "ns/lenient.yaml", SecurePolicy("allow"));
    absl::StatusOr<std::unique_ptr<PolicySet>> set =
        PolicySet::Load(dir_ / "policy.yaml", dir_ / "ns");
    ASSERT_TRUE(set.ok()) << set.status();
    policies_ = *std::move(set);

    VerdictCacheOptions co = CacheOptions(clock_);
    co.error_ttl = absl::Seconds(5);
    cache_ = std::make_unique<VerdictCache>(co);

    JudgeOptions jo;
    jo.policies = policies_.get();
    jo.cache = cache_.get();
    jo.registry.timeout = absl::Seconds(2);
    jo.registry.connect_timeout = absl::Seconds(1);
    jo.registry.max_retries = 0;
    jo.plain_http_registries = {"127.0.0.1:1"};
    judge_ = std::make_unique<CachingJudge>(std::move(jo));
  }

  std::string SecurePolicy(std::string_view on_registry_error) const {
    return StrCat("version: 1\nonRegistryError: ", on_registry_error, "\nkeys:\n  ci:\n    path: ",
                  dir_.path(), "/ci.pub\ndefault:\n  requirement: signed\n  keys: [ci]\n");
  }
  static std::string Version(std::string_view text) { return Digest::Sha256Of(text).str(); }

  plugin::Judgement Judge(std::string_view ref, std::string ns = "") {
    plugin::JudgeRequest r;
    r.reference = Ref(ref);
    r.pod.ns = std::move(ns);
    return judge_->Judge(r);
  }

  static constexpr std::string_view kNodePolicy =
      "version: 1\n"
      "default:\n"
      "  requirement: insecureAcceptAnything\n"
      "scopes:\n"
      "  \"reject.example.com\": {requirement: reject}\n";
  static constexpr std::string_view kLockedPolicy =
      "version: 1\nmode: audit\ndefault:\n  requirement: reject\n";

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<CachingJudge> judge_;
};

TEST_F(CachingJudgeTest, PolicyOnlyVerdictsCarryThePolicyVersion) {
  plugin::Judgement open = Judge("example.org/app:1");
  EXPECT_TRUE(open.verdict.allowed());
  EXPECT_EQ(open.verdict.reason, Reason::kInsecureAcceptAnything);
  EXPECT_EQ(open.verdict.policy_version, Version(kNodePolicy));
  EXPECT_EQ(open.verdict.scope, "default");
  EXPECT_EQ(open.verdict.reference, "example.org/app:1");
  EXPECT_FALSE(open.cached);

  plugin::Judgement rejected = Judge("reject.example.com/app:1");
  EXPECT_FALSE(rejected.verdict.allowed());
  EXPECT_EQ(rejected.verdict.reason, Reason::kRejectedByPolicy);
  EXPECT_EQ(rejected.verdict.policy_version, Version(kNodePolicy));
  EXPECT_EQ(rejected.verdict.scope, "reject.example.com");
  EXPECT_FALSE(rejected.cached);

  // The pod's namespace picks its own policy.
  plugin::Judgement locked = Judge("example.org/app:1", "locked");
  EXPECT_FALSE(locked.verdict.allowed());
  EXPECT_EQ(locked.verdict.reason, Reason::kRejectedByPolicy);
  EXPECT_EQ(locked.verdict.mode, Mode::kAudit);
  EXPECT_TRUE(locked.verdict.admits());
  EXPECT_EQ(locked.verdict.policy_version, Version(kLockedPolicy));

  plugin::Judgement other_ns = Judge("example.org/app:1", "elsewhere");
  EXPECT_TRUE(other_ns.verdict.allowed());
  EXPECT_EQ(other_ns.verdict.policy_version, Version(kNodePolicy));
}

TEST_F(CachingJudgeTest, PolicyVersionFollowsReload) {
  EXPECT_EQ(Judge("example.org/app:1").verdict.policy_version, Version(kNodePolicy));
  std::string node2 = "version: 1\ndefault:\n  requirement: reject\n";
  WriteAll(dir_ / "policy.yaml", node2);
  ASSERT_TRUE(policies_->Reload().ok());
  plugin::Judgement j = Judge("example.org/app:1");
  EXPECT_FALSE(j.verdict.allowed());
  EXPECT_EQ(j.verdict.policy_version, Version(node2));
}

TEST_F(CachingJudgeTest, UnreachableRegistryIsARegistryErrorCachedForErrorTtl) {
  absl::Time start = absl::Now();
  plugin::Judgement first = Judge("127.0.0.1:1/team/app:1", "secure");
  EXPECT_FALSE(first.verdict.allowed());
  EXPECT_EQ(first.verdict.reason, Reason::kRegistryError) << first.verdict.detail;
  EXPECT_EQ(first.verdict.policy_version, Version(SecurePolicy("deny")));
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(judge_->verifications(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "no retries, short timeouts";

  clock_.t += absl::Seconds(4);  // within error_ttl (5s)
  plugin::Judgement second = Judge("127.0.0.1:1/team/app:1", "secure");
  EXPECT_TRUE(second.cached);
  EXPECT_EQ(second.verdict.reason, Reason::kRegistryError);
  EXPECT_FALSE(second.verdict.allowed());
  EXPECT_EQ(second.verdict.reference, "127.0.0.1:1/team/app:1");
  EXPECT_EQ(judge_->verifications(), 1u) << "no second attempt within error_ttl";

  // Another namespace's policy is another key: not answered from this entry.
  plugin::Judgement node = Judge("127.0.0.1:1/team/app:1");
  EXPECT_TRUE(node.verdict.allowed());
  EXPECT_EQ(node.verdict.reason, Reason::kInsecureAcceptAnything);

  clock_.t += absl::Seconds(2);  // 6s: past error_ttl, tried again
  plugin::Judgement third = Judge("127.0.0.1:1/team/app:1", "secure");
  EXPECT_FALSE(third.cached);
  EXPECT_EQ(third.verdict.reason, Reason::kRegistryError);
  EXPECT_EQ(judge_->verifications(), 3u);  // the node-policy judgement counted too
}

TEST_F(CachingJudgeTest, AllowOnRegistryErrorLivesOnlyErrorTtl) {
  plugin::Judgement first = Judge("127.0.0.1:1/team/app@" + DigestOf("x").str(), "lenient");
  EXPECT_TRUE(first.verdict.allowed());
  EXPECT_EQ(first.verdict.reason, Reason::kRegistryError) << first.verdict.detail;
  EXPECT_EQ(first.verdict.policy_version, Version(SecurePolicy("allow")));
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(judge_->verifications(), 1u);

  plugin::Judgement second = Judge("127.0.0.1:1/team/app@" + DigestOf("x").str(), "lenient");
  EXPECT_TRUE(second.cached);
  EXPECT_TRUE(second.verdict.allowed());
  EXPECT_EQ(judge_->verifications(), 1u);

  clock_.t += absl::Seconds(6);  // past error_ttl (5s), well within allow_ttl (100s)
  plugin::Judgement third = Judge("127.0.0.1:1/team/app@" + DigestOf("x").str(), "lenient");
  EXPECT_FALSE(third.cached);
  EXPECT_EQ(judge_->verifications(), 2u);
}

TEST_F(CachingJudgeTest, TryCachedAnswersOnlyWhatJudgeWouldAnswerFromMemory) {
  plugin::JudgeRequest r;
  r.reference = Ref("127.0.0.1:1/team/app@" + DigestOf("y").str());
  r.pod.ns = "lenient";
  // Nothing known yet: TryCached neither verifies nor guesses.
  EXPECT_FALSE(judge_->TryCached(r).has_value());
  EXPECT_EQ(judge_->verifications(), 0u);

  plugin::Judgement judged = judge_->Judge(r);
  EXPECT_FALSE(judged.cached);
  std::optional<plugin::Judgement> cached = judge_->TryCached(r);
  ASSERT_TRUE(cached.has_value());
  EXPECT_TRUE(cached->cached);
  EXPECT_EQ(cached->verdict.reason, judged.verdict.reason);
  EXPECT_EQ(cached->verdict.policy_version, judged.verdict.policy_version);
  EXPECT_EQ(judge_->verifications(), 1u);

  // Keyed by the pod's policy, and gone once the entry expires.
  r.pod.ns = "secure";
  EXPECT_FALSE(judge_->TryCached(r).has_value());
  r.pod.ns = "lenient";
  clock_.t += absl::Seconds(6);  // past error_ttl
  EXPECT_FALSE(judge_->TryCached(r).has_value());
  EXPECT_EQ(judge_->verifications(), 1u);
}

TEST_F(CachingJudgeTest, ConcurrentJudgementsOfOneImage) {
  std::vector<std::thread> threads;
  std::vector<plugin::Judgement> results(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, &results, t] {
      results[t] = Judge("127.0.0.1:1/team/app:7", "secure");
    });
  }
  for (std::thread& th : threads) th.join();
  for (const plugin::Judgement& j : results) {
    EXPECT_FALSE(j.verdict.allowed());
    EXPECT_EQ(j.verdict.reason, Reason::kRegistryError);
  }
  EXPECT_GE(judge_->verifications(), 1u);
  EXPECT_LE(judge_->verifications(), 8u);
  EXPECT_TRUE(Judge("127.0.0.1:1/team/app:7", "secure").cached);
}

// Issue 15.6: a verdict of the policy alone is cached for its whole repository, so TryCached
// (an ImageStatus on the proxy's thread) answers any tag or digest of it without a worker.
TEST_F(CachingJudgeTest, PolicyOnlyVerdictsAreCachedForTheWholeRepository) {
  plugin::JudgeRequest by_digest;
  by_digest.reference = Ref("example.org/app@" + DigestOf("open").str());
  EXPECT_FALSE(judge_->TryCached(by_digest).has_value());  // nothing known yet

  EXPECT_EQ(Judge("example.org/app:1").verdict.reason, Reason::kInsecureAcceptAnything);
  std::optional<plugin::Judgement> open = judge_->TryCached(by_digest);
  ASSERT_TRUE(open.has_value());
  EXPECT_TRUE(open->cached);
  EXPECT_TRUE(open->verdict.allowed());
  EXPECT_EQ(open->verdict.reason, Reason::kInsecureAcceptAnything);
  EXPECT_EQ(open->verdict.reference, by_digest.reference.ToString());
  plugin::Judgement other_tag = Judge("example.org/app:2");
  EXPECT_TRUE(other_tag.cached);
  EXPECT_EQ(other_tag.verdict.reference, "example.org/app:2");

  EXPECT_EQ(Judge("reject.example.com/app:1").verdict.reason, Reason::kRejectedByPolicy);
  plugin::JudgeRequest rejected;
  rejected.reference = Ref("reject.example.com/app@" + DigestOf("r").str());
  std::optional<plugin::Judgement> known = judge_->TryCached(rejected);
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->verdict.reason, Reason::kRejectedByPolicy);
  EXPECT_EQ(judge_->verifications(), 2u);

  // Keyed by the policy: another repository or a reloaded policy is not answered.
  by_digest.reference = Ref("example.org/other@" + DigestOf("open").str());
  EXPECT_FALSE(judge_->TryCached(by_digest).has_value());
  WriteAll(dir_ / "policy.yaml", std::string(kNodePolicy) + "# changed\n");
  ASSERT_TRUE(policies_->Reload().ok());
  by_digest.reference = Ref("example.org/app@" + DigestOf("open").str());
  EXPECT_FALSE(judge_->TryCached(by_digest).has_value());
}

// Issue 15.4: without a pod (ImageStatus) an image is admitted when any policy in force
// admits it; here the "locked" namespace's audit mode admits what the node policy rejects,
// decided by that policy alone.
TEST_F(CachingJudgeTest, AnyPolicyAdmitsWhatANamespacePolicyAdmits) {
  plugin::JudgeRequest r;
  r.reference = Ref("reject.example.com/app@" + DigestOf("any").str());
  r.any_policy = true;
  EXPECT_FALSE(judge_->TryCached(r).has_value());  // the node policy has not judged it yet
  plugin::Judgement j = judge_->Judge(r);
  EXPECT_TRUE(j.verdict.admits());
  EXPECT_EQ(j.verdict.mode, Mode::kAudit);
  EXPECT_EQ(j.verdict.policy_version, Version(kLockedPolicy));
  std::optional<plugin::Judgement> again = judge_->TryCached(r);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->verdict.admits());
  // The pod's own request still gets its own policy's verdict.
  r.any_policy = false;
  EXPECT_FALSE(judge_->Judge(r).verdict.admits());
}

// A judge reading images from a FakeSource (no registry), on a fake clock with the default
// TTLs: the node policy wants images signed by `ci`; namespace "team" trusts `other`.
class BackOffJudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "ns");
    WriteAll(dir_ / "ci.pub", key_.public_key().ToPem());
    WriteAll(dir_ / "other.pub", other_.public_key().ToPem());
    WriteAll(dir_ / "policy.yaml", StrCat("version: 1\nkeys:\n  ci:\n    path: ", dir_ / "ci.pub",
                                          "\ndefault:\n  requirement: signed\n  keys: [ci]\n"));
    WriteAll(dir_ / "ns/team.yaml", StrCat("version: 1\nkeys:\n  other:\n    path: ",
                                           dir_ / "other.pub",
                                           "\ndefault:\n  requirement: signed\n  keys: [other]\n"));
    absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(dir_ / "policy.yaml", dir_ / "ns");
    ASSERT_TRUE(set.ok()) << set.status();
    policies_ = *std::move(set);
    VerdictCacheOptions co;  // the defaults under test
    co.clock = &clock_;
    cache_ = std::make_unique<VerdictCache>(co);
    judge_ = std::make_unique<CachingJudge>(
        JudgeOptions{.policies = policies_.get(), .cache = cache_.get(), .source = &source_});
  }

  plugin::Judgement Judge(std::string_view ref, std::string ns = "", bool any_policy = false) {
    plugin::JudgeRequest r;
    r.reference = Ref(ref);
    r.pod.ns = std::move(ns);
    r.any_policy = any_policy;
    return judge_->Judge(r);
  }

  static constexpr std::string_view kTag = "registry.example/team/app:1";
  PrivateKey key_ = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  PrivateKey other_ = *PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
  TempDir dir_;
  FakeClock clock_;
  layerseal::testing::FakeSource source_;
  std::unique_ptr<PolicySet> policies_;
  std::unique_ptr<VerdictCache> cache_;
  std::unique_ptr<CachingJudge> judge_;
};

// Issue 15.5: the kubelet retries a denied pull after about 10, 20, 40, 80, 160 and then every
// 300 s. Every retry of the ladder is answered from the denial cached for the image's digest
// (only the tag is looked up again); once the tag names a fixed (signed) image, the next
// retry is judged afresh and admitted.
TEST_F(BackOffJudgeTest, DenialAbsorbsTheBackOffLadderAndAFixedImageIsAdmittedAtTheNextRetry) {
  source_.Add(Ref(kTag), layerseal::testing::MakeBaseImage({.seed = "backoff-unsigned"}));
  plugin::Judgement first = Judge(kTag);
  EXPECT_EQ(first.verdict.reason, Reason::kNotSigned) << first.verdict.detail;
  EXPECT_EQ(judge_->verifications(), 1u);
  int blobs = source_.blob_fetches;
  for (int seconds : {10, 20, 40, 80, 160, 300}) {
    clock_.t += absl::Seconds(seconds);
    plugin::Judgement retry = Judge(kTag);
    EXPECT_FALSE(retry.verdict.admits()) << seconds;
    EXPECT_TRUE(retry.cached) << "retry after " << seconds << " s verified again";
  }
  EXPECT_EQ(judge_->verifications(), 1u);
  EXPECT_EQ(source_.blob_fetches, blobs);

  // The fix: a signed image pushed under the same tag.
  source_.Add(Ref(kTag), layerseal::testing::SealTestImage(
                             layerseal::testing::MakeBaseImage({.seed = "backoff-unsigned"}), key_));
  clock_.t += absl::Seconds(10);
  plugin::Judgement fixed = Judge(kTag);
  EXPECT_TRUE(fixed.verdict.allowed()) << fixed.verdict.detail;
  EXPECT_EQ(fixed.verdict.reason, Reason::kVerified);
  EXPECT_EQ(judge_->verifications(), 2u);
}

// Issue 15.4: an image only a namespace policy admits. Without a pod it is admitted once that
// namespace's verdict is known; before, it is absent but the denial is not conclusive (it
// must not be recorded as a denial of any pod). Namespace policies are never verified for it.
TEST_F(BackOffJudgeTest, AnyPolicyUsesNamespaceVerdictsWithoutVerifyingUnderThem) {
  layerseal::testing::TestImage image = layerseal::testing::SealTestImage(
      layerseal::testing::MakeBaseImage({.seed = "team-only"}), other_);
  source_.Add(Ref(kTag), image);
  std::string pinned = StrCat("registry.example/team/app@", image.digest.str());

  plugin::Judgement unknown = Judge(pinned, "", /*any_policy=*/true);
  EXPECT_FALSE(unknown.verdict.admits());
  EXPECT_EQ(unknown.verdict.reason, Reason::kUntrustedKey);
  EXPECT_FALSE(unknown.conclusive);
  EXPECT_EQ(judge_->verifications(), 1u);  // the node policy only

  EXPECT_TRUE(Judge(kTag, "team").verdict.allowed());  // the pull of a "team" pod
  plugin::JudgeRequest r{.reference = Ref(pinned), .any_policy = true};
  std::optional<plugin::Judgement> known = judge_->TryCached(r);
  ASSERT_TRUE(known.has_value());
  EXPECT_TRUE(known->verdict.allowed());
  EXPECT_EQ(known->verdict.policy_version, policies_->For("team")->version());
  EXPECT_FALSE(Judge(pinned, "default").verdict.admits());  // a pod elsewhere: still denied

  // A node-policy denial with every namespace verdict known (and none admitting) is conclusive.
  layerseal::testing::TestImage unsigned_image =
      layerseal::testing::MakeBaseImage({.seed = "nobody"});
  source_.Add(Ref("registry.example/team/other:1"), unsigned_image);
  std::string other = StrCat("registry.example/team/other@", unsigned_image.digest.str());
  EXPECT_FALSE(Judge(other, "team").verdict.admits());
  plugin::Judgement denied = Judge(other, "", /*any_policy=*/true);
  EXPECT_FALSE(denied.verdict.admits());
  EXPECT_TRUE(denied.conclusive);
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

TEST(ClockJumpTest, MonotonicSignalWaitsAndWakes) {
  MonotonicSignal signal;
  EXPECT_FALSE(signal.WaitFor(absl::Milliseconds(1)));  // nobody notifies: times out
  std::thread notifier([&signal] { signal.Notify(); });
  EXPECT_TRUE(signal.WaitFor(absl::Hours(1)));  // woken, not timed out
  notifier.join();
  EXPECT_TRUE(signal.WaitFor(absl::ZeroDuration()));  // stays notified
}

TEST(ClockJumpTest, SystemClockMonotonicNeverGoesBack) {
  const Clock& clock = SystemClock();
  absl::Duration last = clock.Monotonic();
  for (int i = 0; i < 1000; ++i) {
    absl::Duration now = clock.Monotonic();
    ASSERT_GE(now, last);
    last = now;
  }
}

// ---------------------------------------------------------------------------------------
// The last-good policy copy (PolicySet::SaveLastGood / LoadLastGood), helper "policy".

class LastGoodPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "etc/keys");
    fs::create_directories(dir_ / "etc/ns");
    fs::create_directories(dir_ / "state");
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(Algorithm::kEcdsaP256Sha256);
    ASSERT_TRUE(key.ok()) << key.status();
    WriteAll(dir_ / "etc/keys/ci.pub", key->public_key().ToPem());
    // Relative key paths, as docs/policy.md recommends: the copy must carry the key.
    WriteAll(node_path_, "version: 1\nkeys:\n  ci: {path: keys/ci.pub}\n"
                         "default: {requirement: signed, keys: [ci]}\n");
    WriteAll(ns_dir_ + "/team-a.yaml", "version: 1\nkeys:\n  ci: {path: ../keys/ci.pub}\n"
                                       "default: {requirement: reject}\n");
  }

  std::unique_ptr<PolicySet> Loaded() {
    absl::StatusOr<std::unique_ptr<PolicySet>> set = PolicySet::Load(node_path_, ns_dir_);
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? *std::move(set) : PolicySet::Empty(node_path_, ns_dir_);
  }
  std::string Message(const absl::Status& s) { return std::string(Sv(s.message())); }

  TempDir dir_;
  std::string node_path_ = dir_ / "etc/policy.yaml";
  std::string ns_dir_ = dir_ / "etc/ns";
  std::string copy_ = dir_ / "state/policy.last-good";
  std::string key_dir_ = dir_ / "state/policy.last-good.keys";
};

TEST_F(LastGoodPolicyTest, EmptySetHasNoPolicy) {
  std::unique_ptr<PolicySet> set = PolicySet::Empty(node_path_, ns_dir_);
  EXPECT_EQ(set->origin(), PolicyOrigin::kNone);
  EXPECT_EQ(set->node(), nullptr);
  EXPECT_EQ(set->For("team-a"), nullptr);
  EXPECT_EQ(set->version(), "");
  EXPECT_EQ(PolicyOriginName(set->origin()), "none");
  // Nothing to save: a copy of "no policy" would be a deny-all written over a good copy.
  absl::Status saved = set->SaveLastGood(copy_);
  EXPECT_EQ(saved.code(), absl::StatusCode::kFailedPrecondition) << saved;
  EXPECT_FALSE(fs::exists(copy_));
  ASSERT_TRUE(set->Reload().ok());
  EXPECT_EQ(set->origin(), PolicyOrigin::kFiles);
  EXPECT_NE(set->node(), nullptr);
}

TEST_F(LastGoodPolicyTest, CopyRestoresEveryPolicyWithItsKeys) {
  std::unique_ptr<PolicySet> set = Loaded();
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  EXPECT_FALSE(fs::exists(copy_ + ".tmp"));
  std::string node_trust = set->node()->trust_version();
  std::string team_trust = set->For("team-a")->trust_version();

  // The files and the key are gone: only the copy can say what the policy was.
  WriteAll(node_path_, std::string("\x00\x01\xff binary", 10));
  fs::remove(dir_ / "etc/keys/ci.pub");
  std::unique_ptr<PolicySet> restarted = PolicySet::Empty(node_path_, ns_dir_);
  absl::Status reload = restarted->Reload();
  ASSERT_FALSE(reload.ok());
  EXPECT_THAT(Message(reload), HasSubstr("policy.yaml"));
  absl::Status loaded = restarted->LoadLastGood(copy_, key_dir_);
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(restarted->origin(), PolicyOrigin::kLastGood);
  EXPECT_EQ(restarted->version(), set->version());
  // Same bytes and the same keys: the same trust version (so remembered verdicts apply).
  EXPECT_EQ(restarted->node()->trust_version(), node_trust);
  EXPECT_EQ(restarted->For("team-a")->trust_version(), team_trust);
  EXPECT_EQ(restarted->For("team-a")->default_scope().requirement, Requirement::kReject);
  EXPECT_EQ(restarted->NamespaceVersions(), set->NamespaceVersions());
  // A copy in force is not a copy source.
  EXPECT_EQ(restarted->SaveLastGood(copy_).code(), absl::StatusCode::kFailedPrecondition);
  // A failed reload keeps the copy in force; a good one replaces it.
  EXPECT_FALSE(restarted->Reload().ok());
  EXPECT_EQ(restarted->origin(), PolicyOrigin::kLastGood);
  WriteAll(node_path_, "version: 1\ndefault: {requirement: reject}\n");
  fs::remove(ns_dir_ + "/team-a.yaml");
  ASSERT_TRUE(restarted->Reload().ok());
  EXPECT_EQ(restarted->origin(), PolicyOrigin::kFiles);
  EXPECT_TRUE(restarted->NamespaceVersions().empty());
}

TEST_F(LastGoodPolicyTest, SaveReplacesTheCopyWhole) {
  std::unique_ptr<PolicySet> set = Loaded();
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  std::string first = ReadAll(copy_);
  std::string node2 = "version: 1\ndefault: {requirement: reject}\n";
  WriteAll(node_path_, node2);
  ASSERT_TRUE(set->Reload().ok());
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  EXPECT_NE(ReadAll(copy_), first);
  std::unique_ptr<PolicySet> other = PolicySet::Empty(node_path_, ns_dir_);
  ASSERT_TRUE(other->LoadLastGood(copy_, key_dir_).ok());
  EXPECT_EQ(other->version(), Digest::Sha256Of(node2).str());
}

TEST_F(LastGoodPolicyTest, DamagedCopiesAreRefusedAndChangeNothing) {
  std::unique_ptr<PolicySet> set = Loaded();
  ASSERT_TRUE(set->SaveLastGood(copy_).ok());
  nlohmann::json good = nlohmann::json::parse(ReadAll(copy_));
  std::string bad_copy = dir_ / "state/damaged";
  struct Case {
    std::string name, text, expect;
  };
  nlohmann::json bad_format = good;
  bad_format["format"] = 2;
  nlohmann::json escaping_key = good;
  escaping_key["policies"][0]["keys"][0]["path"] = "/../../etc/evil.pub";
  nlohmann::json relative_key = good;
  relative_key["policies"][0]["keys"][0]["path"] = "keys/ci.pub";
  nlohmann::json bad_base64 = good;
  bad_base64["policies"][0]["yaml"] = "%%%not base64%%%";
  nlohmann::json bad_namespace = good;
  bad_namespace["policies"][1]["namespace"] = "Bad_Name";
  nlohmann::json no_node = good;
  no_node["policies"].erase(0);
  nlohmann::json bad_yaml = good;
  bad_yaml["policies"][0]["yaml"] = Base64Encode("version: 2\n");
  std::string text = good.dump();
  for (const Case& c : {Case{"not json", "\x00\x01 garbage", "not JSON"},
                        Case{"truncated", text.substr(0, text.size() / 2), "not JSON"},
                        Case{"empty", "", "not JSON"},
                        Case{"wrong format", bad_format.dump(), "format"},
                        Case{"key escaping the key dir", escaping_key.dump(), "bad key path"},
                        Case{"relative key path", relative_key.dump(), "bad key path"},
                        Case{"bad base64", bad_base64.dump(), "base64"},
                        Case{"bad namespace", bad_namespace.dump(), "Bad_Name"},
                        Case{"no node policy", no_node.dump(), "no node policy"},
                        Case{"policy that does not parse", bad_yaml.dump(), "last-good copy of"}}) {
    SCOPED_TRACE(c.name);
    WriteAll(bad_copy, c.text);
    std::unique_ptr<PolicySet> fresh = PolicySet::Empty(node_path_, ns_dir_);
    absl::Status s = fresh->LoadLastGood(bad_copy, key_dir_);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(Message(s), HasSubstr(c.expect));
    EXPECT_EQ(fresh->origin(), PolicyOrigin::kNone);
    EXPECT_EQ(fresh->node(), nullptr);
    // A set with a policy keeps it.
    EXPECT_FALSE(set->LoadLastGood(bad_copy, key_dir_).ok());
    EXPECT_EQ(set->origin(), PolicyOrigin::kFiles);
  }
  EXPECT_FALSE(fs::exists(dir_.path() + "/etc/evil.pub"));
  EXPECT_FALSE(fs::exists("/etc/evil.pub"));
}

TEST_F(LastGoodPolicyTest, MissingOrOversizedCopyIsRefused) {
  std::unique_ptr<PolicySet> set = PolicySet::Empty(node_path_, ns_dir_);
  absl::Status missing = set->LoadLastGood(copy_, key_dir_);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(Message(missing), HasSubstr("policy.last-good"));
  WriteAll(copy_, "{");
  fs::resize_file(copy_, kMaxLastGoodBytes + 1);  // sparse: cheap to make, refused unread
  absl::Status big = set->LoadLastGood(copy_, key_dir_);
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted) << big;
  EXPECT_EQ(set->origin(), PolicyOrigin::kNone);
}

TEST_F(LastGoodPolicyTest, SaveFailureIsAnErrorNamingThePath) {
  std::unique_ptr<PolicySet> set = Loaded();
  absl::Status s = set->SaveLastGood(dir_ / "no-such-dir/policy.last-good");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(Message(s), HasSubstr("no-such-dir"));
}

// A runtime without containerd's images API (CRI-O): every method is UNIMPLEMENTED. The
// recorder says so, counts it, logs once, and does not ask again.
TEST(ContainerdImageRecorderTest, ARuntimeWithoutTheImagesApiIsDetectedOnce) {
  // gRPC's default generic service answers every method UNIMPLEMENTED, as CRI-O does for
  // containerd's services.
  grpc::CallbackGenericService unimplemented;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&unimplemented);
  std::unique_ptr<grpc::Server> runtime = builder.BuildAndStart();
  ASSERT_NE(runtime, nullptr);
  telemetry::MetricsRegistry metrics;
  auto* outcomes = metrics.AddCounter("tags", "", {"result"});
  std::vector<std::string> lines;
  telemetry::Logger logger("test", [&](std::string_view line) { lines.emplace_back(line); });
  ContainerdImageRecorder recorder(runtime->InProcessChannel(grpc::ChannelArguments()), &logger,
                                   outcomes);
  Reference tag = *Reference::Parse("example.org/app:1");
  Reference pinned = tag.WithDigest(Digest::Sha256Of("manifest"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recorder.NameTag(tag, pinned).code(), absl::StatusCode::kUnimplemented);
  }
  EXPECT_FALSE(recorder.supported());
  EXPECT_EQ(outcomes->WithLabels({"unsupported"}).value(), 1);
  EXPECT_EQ(outcomes->WithLabels({"named"}).value(), 0);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("no containerd images API"));
  runtime->Shutdown();
}

}  // namespace
}  // namespace layerseal::agent
