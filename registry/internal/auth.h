// Registry authentication pieces: the WWW-Authenticate parser, token responses and the token
// cache. Private to registry/ (and its tests).
#ifndef LAYERSEAL_REGISTRY_INTERNAL_AUTH_H_
#define LAYERSEAL_REGISTRY_INTERNAL_AUTH_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"

namespace layerseal::registry::internal {

// Default token lifetime when the token server gives no expires_in (distribution's token
// spec says 60 seconds).
inline constexpr absl::Duration kDefaultTokenLifetime = absl::Seconds(60);
// A cached token is dropped this long before it expires, so it does not expire in flight.
inline constexpr absl::Duration kTokenExpirySlack = absl::Seconds(5);
inline constexpr size_t kMaxChallengeBytes = 8 * 1024;

struct Challenge {
  std::string scheme;                         // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case names, unquoted values
  std::string Param(const std::string& name) const;
};

// Parses one WWW-Authenticate header value, which may hold several challenges
// ("Bearer realm=\"x\",service=\"y\", Basic realm=\"z\""). Quoted values may contain commas
// and backslash escapes. Malformed input (unterminated quotes, missing values, duplicate
// parameters, garbage between parameters) is InvalidArgument.
absl::StatusOr<std::vector<Challenge>> ParseChallenges(std::string_view header);

struct Token {
  std::string value;
  absl::Duration lifetime = kDefaultTokenLifetime;
};

// The token server's JSON answer: "token" or "access_token", optional "expires_in" seconds.
absl::StatusOr<Token> ParseTokenResponse(std::string_view body);

// "Basic base64(user:password)".
std::string BasicAuthorization(std::string_view username, std::string_view password);

// Bearer tokens keyed by (registry, scope), each kept for its lifetime on the monotonic clock
// (base/clock.h), so a wall clock stepped forward does not expire them early nor one stepped
// back keep them too long. Thread-safe. The clock is borrowed and must outlive the cache.
class TokenCache {
 public:
  explicit TokenCache(const Clock& clock = SystemClock()) : clock_(clock) {}
  static std::string Key(std::string_view registry, std::string_view scope);
  // The token for `key` if it is still valid now (with kTokenExpirySlack to spare).
  std::optional<std::string> Get(const std::string& key) const;
  // Keeps `token` for `lifetime` from now; drops the expired entries.
  void Put(const std::string& key, std::string token, absl::Duration lifetime);
  size_t size() const;

 private:
  struct Entry {
    std::string token;
    absl::Duration expires;  // on clock_.Monotonic()
  };
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::registry::internal

#endif  // LAYERSEAL_REGISTRY_INTERNAL_AUTH_H_
