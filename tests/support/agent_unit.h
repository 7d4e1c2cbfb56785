// Helpers the node agent's unit tests share (tests/unit/verdict_cache_test.cc, judge_test.cc,
// event_log_test.cc, policy_set_test.cc, ...): a temp dir, references and digests from
// seeds, a fake clock and verdict-cache options on it. Header-only, for unit tests (no
// servers, no processes; integration tests have TempDir in process.h).
// Thread-safety: the functions are; a FakeClock is moved by the test's thread only.
#ifndef LAYERSEAL_TESTS_SUPPORT_AGENT_UNIT_H_
#define LAYERSEAL_TESTS_SUPPORT_AGENT_UNIT_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "node-agent/verdict_cache.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal::testing {

// A fresh directory under /tmp, removed at the end of the test. (Not process.h's TempDir,
// which unit tests do not link: files alias this one as TempDir.)
class UnitTempDir {
 public:
  UnitTempDir() {
    char tmpl[] = "/tmp/layerseal-agent-unit-XXXXXX";
    char* made = mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path_ = made != nullptr ? made : "/tmp";
  }
  ~UnitTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  UnitTempDir(const UnitTempDir&) = delete;
  UnitTempDir& operator=(const UnitTempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return StrCat(path_, "/", name); }

 private:
  std::string path_;
};

// The file's lines (without their '\n'); none if it cannot be read.
inline std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// `text` parsed; a failed expectation (and an empty Reference) if it does not parse.
inline Reference Ref(std::string_view text) {
  absl::StatusOr<Reference> r = Reference::Parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status();
  return r.ok() ? *r : Reference{};
}

inline Digest DigestOf(std::string_view seed) { return Digest::Sha256Of(seed); }

// A clock the test moves by hand: wall and monotonic time move together.
struct FakeClock : Clock {
  absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  absl::Time Wall() const override { return t; }
  absl::Duration Monotonic() const override { return t - absl::UnixEpoch(); }
};

// Small TTLs (allow 100 s, deny 10 s, error 3 s, resolve 7 s), 100 entries, on `clock`
// (which must outlive the cache).
inline agent::VerdictCacheOptions CacheOptions(const Clock& clock, std::string persist_path = "") {
  agent::VerdictCacheOptions o;
  o.max_entries = 100;
  o.allow_ttl = absl::Seconds(100);
  o.deny_ttl = absl::Seconds(10);
  o.error_ttl = absl::Seconds(3);
  o.resolve_ttl = absl::Seconds(7);
  o.persist_path = std::move(persist_path);
  o.clock = &clock;
  return o;
}

// The policy version the verdicts of these tests carry.
inline constexpr char kV1[] = "sha256:policy-v1";

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_AGENT_UNIT_H_
