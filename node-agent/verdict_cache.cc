#include "node-agent/verdict_cache.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/verdict_codec.h"

namespace layerseal::agent {
namespace {

enum class LineRead { kLine, kTooLong, kEnd };

// One line of `in` without its newline, keeping at most kMaxVerdictCacheLineBytes of it: a
// longer line is read to its end and reported kTooLong.
LineRead ReadBoundedLine(std::istream& in, std::string* line) {
  line->clear();
  bool any = false;
  bool too_long = false;
  for (int c = in.get(); c != std::char_traits<char>::eof(); c = in.get()) {
    any = true;
    if (c == '\n') break;
    if (line->size() < kMaxVerdictCacheLineBytes) {
      line->push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
  if (!any) return LineRead::kEnd;
  return too_long ? LineRead::kTooLong : LineRead::kLine;
}

using nlohmann::json;

std::string Key(const Reference& pinned, const std::string& policy_version) {
  return StrCat(pinned.Name(), "@", pinned.digest ? pinned.digest->str() : "", "|", policy_version);
}

std::string UnresolvedKey(const std::string& ref, const std::string& policy_version) {
  return StrCat("ref:", ref, "|", policy_version);
}

std::string RepositoryKey(const std::string& repository, const std::string& policy_version) {
  return StrCat("repo:", repository, "|", policy_version);
}

// A persisted entry: the codec's verdict members (verdict_codec.h) but two, plus "key" and
// "expires". Only ALLOW verdicts are written, so "verdict" is left out, and so is
// "duration_ms" (never kept): the lines stay those of the format before the codec, which old
// and new agents both read.
json ToJson(const std::string& key, const Verdict& v, absl::Time expires) {
  json j = VerdictJsonMembers(v);
  j.erase("verdict");
  j.erase("duration_ms");
  j["key"] = key;
  j["expires"] = absl::ToUnixSeconds(expires);
  return j;
}

// Only verdicts that stay valid for allow_ttl are written: an ALLOW of a resolved image.
// Fail-open ALLOWs (onRegistryError) and unresolved entries live in memory only. (A verdict
// without a policy is never an ALLOW; excluded too so a line claiming one is damage.)
bool Persistable(const Verdict& v) {
  return v.allowed() && v.manifest_digest.has_value() && v.reason != Reason::kRegistryError &&
         v.reason != Reason::kLimitExceeded && v.reason != Reason::kPolicyUnavailable;
}

}  // namespace

// One persisted line, or nullopt if any member is missing, mistyped or unknown.
std::optional<VerdictCache::Line> VerdictCache::ParseLine(const std::string& line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto key = j.find("key");
  auto expires = j.find("expires");
  if (key == j.end() || !key->is_string() || key->get_ref<const std::string&>().empty() ||
      expires == j.end() || !expires->is_number_integer()) {
    return std::nullopt;
  }
  std::string key_text = key->get<std::string>();
  absl::Time when = absl::FromUnixSeconds(expires->get<int64_t>());
  j["verdict"] = DecisionName(Decision::kAllow);  // see ToJson
  j.erase("duration_ms");
  absl::StatusOr<Verdict> v = VerdictFromJsonMembers(j);
  if (!v.ok() || !Persistable(*v)) return std::nullopt;
  return Line{std::move(key_text), *std::move(v), when};
}

VerdictCache::VerdictCache(VerdictCacheOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock()) {}

VerdictCache::~VerdictCache() {
  absl::MutexLock lock(&mu_);
  if (persist_ != nullptr) fclose(persist_);
}

absl::Duration VerdictCache::TtlFor(const Verdict& v, bool signatures_beside_image) const {
  // Registry errors first: an ALLOW through onRegistryError must not outlive the outage.
  if (v.reason == Reason::kRegistryError || v.reason == Reason::kLimitExceeded) {
    return options_.error_ttl;
  }
  if (v.allowed()) return options_.allow_ttl;
  return signatures_beside_image ? std::min(options_.deny_ttl, options_.referrer_deny_ttl)
                                 : options_.deny_ttl;
}

absl::Status VerdictCache::Load() {
  if (options_.persist_path.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  std::ifstream in(options_.persist_path);
  std::string line;
  absl::Time wall = clock_.Wall();
  absl::Duration mono = clock_.Monotonic();
  for (LineRead r = ReadBoundedLine(in, &line); r != LineRead::kEnd;
       r = ReadBoundedLine(in, &line)) {
    std::optional<Line> loaded;
    if (r == LineRead::kLine) loaded = ParseLine(line);
    if (!loaded) {
      ++skipped_;
      continue;
    }
    // What is left of its life, from here on measured on the monotonic clock. Longer than
    // allow_ttl: written by a clock now stepped back (or under a longer TTL), age unknown.
    absl::Duration left = loaded->expires - wall;
    if (left <= absl::ZeroDuration() || left > options_.allow_ttl) continue;
    Insert(std::move(loaded->key), loaded->verdict, mono + left);
  }
  Compact();
  if (persist_ == nullptr) {
    return absl::UnavailableError(StrCat("verdict cache: cannot write ", options_.persist_path));
  }
  return absl::OkStatus();
}

// Rewrites the file with the live ALLOW entries (temp file + rename: a crash leaves either
// the old file or the new one) and reopens it for appending.
void VerdictCache::Compact() {
  if (persist_ != nullptr) fclose(persist_);
  persist_ = nullptr;
  std::string tmp = options_.persist_path + ".tmp";
  FILE* out = fopen(tmp.c_str(), "w");
  if (out == nullptr) return;
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (!Persistable(it->verdict)) continue;
    std::string line = LineText(*it);
    fwrite(line.data(), 1, line.size(), out);
  }
  bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
  fclose(out);
  if (!ok || rename(tmp.c_str(), options_.persist_path.c_str()) != 0) return;
  persist_ = fopen(options_.persist_path.c_str(), "a");
  appended_ = 0;
}

// The entry's remaining life re-based on the wall clock as it reads now.
std::string VerdictCache::LineText(const Entry& e) const {
  absl::Time expires = clock_.Wall() + (e.expires - clock_.Monotonic());
  return ToJson(e.key, e.verdict, expires).dump() + "\n";
}

void VerdictCache::Append(const Entry& e) {
  if (persist_ == nullptr || !Persistable(e.verdict)) return;
  std::string line = LineText(e);
  fwrite(line.data(), 1, line.size(), persist_);
  fflush(persist_);
  // Superseded and expired lines accumulate; rewrite once they could outnumber live ones.
  if (++appended_ > options_.max_entries) Compact();
}

void VerdictCache::Insert(std::string key, const Verdict& v, absl::Duration expires) {
  auto found = index_.find(key);
  if (found != index_.end()) {
    lru_.erase(found->second);
    index_.erase(found);
  }
  lru_.push_front(Entry{key, v, expires});
  index_.emplace(std::move(key), lru_.begin());
  while (lru_.size() > options_.max_entries) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::optional<Verdict> VerdictCache::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  if (found->second->expires <= clock_.Monotonic()) {
    lru_.erase(found->second);
    index_.erase(found);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->verdict;
}

std::optional<Verdict> VerdictCache::Find(const Reference& pinned,
                                          const std::string& policy_version) {
  return Get(Key(pinned, policy_version));
}

void VerdictCache::Put(const Reference& pinned, const Verdict& v) { Put(pinned, v.policy_version, v); }

void VerdictCache::Put(const Reference& pinned, const std::string& key_version, const Verdict& v,
                       bool signatures_beside_image) {
  absl::MutexLock lock(&mu_);
  absl::Duration expires = clock_.Monotonic() + TtlFor(v, signatures_beside_image);
  Insert(Key(pinned, key_version), v, expires);
  Append(lru_.front());
}

std::optional<Verdict> VerdictCache::FindUnresolved(const std::string& ref,
                                                    const std::string& policy_version) {
  return Get(UnresolvedKey(ref, policy_version));
}

void VerdictCache::PutUnresolved(const std::string& ref, const Verdict& v) {
  PutUnresolved(ref, v.policy_version, v);
}

void VerdictCache::PutUnresolved(const std::string& ref, const std::string& key_version,
                                 const Verdict& v) {
  absl::MutexLock lock(&mu_);
  Insert(UnresolvedKey(ref, key_version), v, clock_.Monotonic() + TtlFor(v));
}

std::optional<Verdict> VerdictCache::FindForRepository(const std::string& repository,
                                                       const std::string& key_version) {
  return Get(RepositoryKey(repository, key_version));
}

void VerdictCache::PutForRepository(const std::string& repository, const std::string& key_version,
                                    const Verdict& v) {
  absl::MutexLock lock(&mu_);
  Insert(RepositoryKey(repository, key_version), v, clock_.Monotonic() + TtlFor(v));
}

std::optional<Reference> VerdictCache::Resolve(const std::string& ref) {
  absl::MutexLock lock(&mu_);
  auto found = resolutions_.find(ref);
  if (found == resolutions_.end()) return std::nullopt;
  if (found->second.expires <= clock_.Monotonic()) {
    resolutions_.erase(found);
    return std::nullopt;
  }
  return found->second.pinned;
}

void VerdictCache::RememberResolution(const std::string& ref, const Reference& pinned) {
  absl::MutexLock lock(&mu_);
  if (resolutions_.size() >= options_.max_entries) resolutions_.clear();  // crude but bounded
  resolutions_.insert_or_assign(ref, Resolution{pinned, clock_.Monotonic() + options_.resolve_ttl});
}

size_t VerdictCache::size() const {
  absl::MutexLock lock(&mu_);
  return lru_.size();
}

size_t VerdictCache::skipped_lines() const {
  absl::MutexLock lock(&mu_);
  return skipped_;
}

void VerdictCache::AddMetrics(telemetry::MetricsRegistry& metrics) const {
  metrics.AddGaugeCallback("layerseal_verdict_cache_entries", "Verdicts in the cache.",
                           [this] { return static_cast<double>(size()); });
}

}  // namespace layerseal::agent
