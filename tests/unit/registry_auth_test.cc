// Registry auth pieces without a server: WWW-Authenticate parsing, token responses, the
// token cache, URL helpers, and docker config.json credentials.
#include <stdlib.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/credentials.h"
#include "registry/internal/auth.h"
#include "registry/internal/http.h"
#include "base/str_cat.h"

namespace layerseal::registry {
namespace {

using ::testing::HasSubstr;
using internal::Challenge;
using internal::ParseChallenges;

std::string Msg(const absl::Status& s) { return std::string(Sv(s.message())); }

TEST(ParseChallengesTest, BearerWithRealmServiceAndScope) {
  auto c = ParseChallenges(
      "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
      "scope=\"repository:team/app:pull,push\"");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].Param("realm"), "https://auth.example.com/token");
  EXPECT_EQ((*c)[0].Param("service"), "registry.example.com");
  // The comma inside the quotes belongs to the value.
  EXPECT_EQ((*c)[0].Param("scope"), "repository:team/app:pull,push");
}

TEST(ParseChallengesTest, SchemeAndParameterNamesAreCaseInsensitive) {
  auto c = ParseChallenges("BASIC Realm=\"Registry Realm\"");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].Param("realm"), "Registry Realm");
}

TEST(ParseChallengesTest, BackslashEscapesInQuotedValues) {
  auto c = ParseChallenges(R"(Bearer realm="a\"b\\c,d", service=plain-token)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].Param("realm"), "a\"b\\c,d");
  EXPECT_EQ((*c)[0].Param("service"), "plain-token");
}

TEST(ParseChallengesTest, SeveralChallengesInOneHeader) {
  auto c = ParseChallenges("Bearer realm=\"https://a/token\", service=\"s\", Basic realm=\"r\"");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].Param("service"), "s");
  EXPECT_EQ((*c)[1].scheme, "basic");
  EXPECT_EQ((*c)[1].Param("realm"), "r");
}

TEST(ParseChallengesTest, SchemeWithoutParameters) {
  auto c = ParseChallenges("Basic");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_TRUE((*c)[0].params.empty());
}

TEST(ParseChallengesTest, SpacesAroundEqualsAndCommas) {
  auto c = ParseChallenges("Bearer  realm = \"x\" ,  service = \"y\"  ");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].Param("realm"), "x");
  EXPECT_EQ((*c)[0].Param("service"), "y");
}

TEST(ParseChallengesTest, MalformedHeadersAreRejected) {
  for (const char* bad : {
           "",                                      // empty
           "   ",                                   // blank
           "Bearer realm=\"unterminated",           // no closing quote
           "Bearer realm=\"x\\",                    // escape at the end
           "Bearer realm=",                         // no value
           "Bearer realm=,service=\"s\"",           // empty value
           "Bearer realm=\"a\",realm=\"b\"",        // duplicate parameter
           "Bearer realm=\"a\" service=\"b\"",      // missing comma
           "=\"x\"",                                // no scheme
           "Bearer realm=\"a\";service=\"b\"",      // wrong separator
           "Bear@r realm=\"x\"",                    // junk in the scheme
       }) {
    auto c = ParseChallenges(bad);
    EXPECT_FALSE(c.ok()) << "accepted: " << bad;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(Msg(c.status()), HasSubstr("WWW-Authenticate"));
    }
  }
}

TEST(ParseChallengesTest, OverlongHeaderIsRejected) {
  std::string header = StrCat("Bearer realm=\"", std::string(internal::kMaxChallengeBytes, 'a'),
                              "\"");
  EXPECT_FALSE(ParseChallenges(header).ok());
}

TEST(TokenResponseTest, TokenWithExpiry) {
  auto t = internal::ParseTokenResponse(R"({"token":"abc","expires_in":300})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "abc");
  EXPECT_EQ(t->lifetime, absl::Seconds(300));
}

TEST(TokenResponseTest, AccessTokenAndDefaultLifetime) {
  auto t = internal::ParseTokenResponse(R"({"access_token":"xyz"})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "xyz");
  EXPECT_EQ(t->lifetime, absl::Seconds(60));
}

TEST(TokenResponseTest, TokenWinsOverAccessToken) {
  auto t = internal::ParseTokenResponse(R"({"access_token":"b","token":"a"})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "a");
}

TEST(TokenResponseTest, NonPositiveExpiryFallsBackToTheDefault) {
  auto t = internal::ParseTokenResponse(R"({"token":"a","expires_in":0})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->lifetime, absl::Seconds(60));
}

TEST(TokenResponseTest, BadResponsesAreRejected) {
  for (const char* bad : {"", "not json", "[]", "{}", R"({"token":""})", R"({"token":5})"}) {
    EXPECT_FALSE(internal::ParseTokenResponse(bad).ok()) << bad;
  }
}

// Monotonic time the test moves by hand (the cache never reads wall time).
struct ManualClock : Clock {
  absl::Duration mono = absl::Hours(1);
  absl::Time Wall() const override { return absl::UnixEpoch(); }
  absl::Duration Monotonic() const override { return mono; }
};

TEST(TokenCacheTest, TokenIsServedUntilShortlyBeforeItExpires) {
  ManualClock clock;
  internal::TokenCache cache(clock);
  std::string key = internal::TokenCache::Key("r.example", "repository:a:pull");
  cache.Put(key, "tok", absl::Seconds(60));
  EXPECT_EQ(cache.Get(key), "tok");
  clock.mono += absl::Seconds(54);
  EXPECT_EQ(cache.Get(key), "tok");
  // Within the slack of the expiry: treated as expired so it cannot lapse in flight.
  clock.mono += absl::Seconds(2);
  EXPECT_EQ(cache.Get(key), std::nullopt);
  clock.mono += absl::Seconds(5);
  EXPECT_EQ(cache.Get(key), std::nullopt);
}

TEST(TokenCacheTest, KeysSeparateRegistriesAndScopes) {
  internal::TokenCache cache;
  cache.Put(internal::TokenCache::Key("a", "repository:x:pull"), "t1", absl::Hours(1));
  EXPECT_EQ(cache.Get(internal::TokenCache::Key("b", "repository:x:pull")), std::nullopt);
  EXPECT_EQ(cache.Get(internal::TokenCache::Key("a", "repository:x:pull,push")), std::nullopt);
  EXPECT_EQ(cache.Get(internal::TokenCache::Key("a", "repository:x:pull")), "t1");
}

TEST(TokenCacheTest, ExpiredEntriesAreDroppedOnPut) {
  ManualClock clock;
  internal::TokenCache cache(clock);
  cache.Put("old", "t", absl::Seconds(1));
  clock.mono += absl::Seconds(2);
  cache.Put("new", "t", absl::Hours(1));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(BasicAuthorizationTest, Base64OfUserColonPassword) {
  EXPECT_EQ(internal::BasicAuthorization("user", "pass"), "Basic dXNlcjpwYXNz");
}

TEST(UrlTest, ResolveRelativeAndAbsoluteLocations) {
  std::string out;
  ASSERT_TRUE(internal::ResolveUrl("http://h:5000/v2/a/blobs/uploads/",
                                   "/v2/a/blobs/uploads/uuid?_state=x", &out).ok());
  EXPECT_EQ(out, "http://h:5000/v2/a/blobs/uploads/uuid?_state=x");
  ASSERT_TRUE(internal::ResolveUrl("http://h:5000/v2/", "https://cdn.example/obj", &out).ok());
  EXPECT_EQ(out, "https://cdn.example/obj");
}

TEST(UrlTest, OriginMakesTheDefaultPortExplicit) {
  std::string a, b, c;
  ASSERT_TRUE(internal::OriginOf("https://Registry.Example/v2/x", &a).ok());
  ASSERT_TRUE(internal::OriginOf("https://registry.example:443/other", &b).ok());
  ASSERT_TRUE(internal::OriginOf("http://registry.example/v2/x", &c).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(UrlTest, EncodeQueryValues) {
  EXPECT_EQ(internal::UrlEncode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush");
  EXPECT_EQ(internal::UrlEncode("sha256:ab"), "sha256%3Aab");
}

// --- docker config.json ---

class DockerConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = StrCat(::testing::TempDir(), "/registry_auth_test_", getpid(), "_", name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
};

TEST_F(DockerConfigTest, AuthFieldAndKeyForms) {
  // dXNlcjpwYXNz = base64("user:pass"); YWxpY2U6czNjOnJldA== = base64("alice:s3c:ret")
  std::string path = Write("forms.json", R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
      "https://reg.example:5000": {"auth": "YWxpY2U6czNjOnJldA=="},
      "plain.example": {"username": "bob", "password": "pw"},
      "oauth.example": {"identitytoken": "refresh-me", "username": "00000000"},
      "helper.example": {}
    },
    "credsStore": "desktop"
  })");
  auto store = DockerConfigCredentials(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto hub = (*store)->Lookup("docker.io");
  ASSERT_TRUE(hub.has_value());
  EXPECT_EQ(hub->username, "user");
  EXPECT_EQ(hub->password, "pass");
  auto reg = (*store)->Lookup("reg.example:5000");
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->username, "alice");
  EXPECT_EQ(reg->password, "s3c:ret");  // only the first colon separates
  auto plain = (*store)->Lookup("plain.example");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->username, "bob");
  EXPECT_EQ(plain->password, "pw");
  auto oauth = (*store)->Lookup("oauth.example");
  ASSERT_TRUE(oauth.has_value());
  EXPECT_EQ(oauth->identity_token, "refresh-me");
  EXPECT_FALSE((*store)->Lookup("helper.example").has_value());
  EXPECT_FALSE((*store)->Lookup("reg.example").has_value());  // the port is part of the key
  EXPECT_FALSE((*store)->Lookup("unknown.example").has_value());
}

TEST_F(DockerConfigTest, BadBase64NamesFileAndEntry) {
  std::string path = Write("badb64.json", R"({"auths":{"reg.example":{"auth":"%%%not-base64"}}})");
  auto store = DockerConfigCredentials(path);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << store.status();
  EXPECT_THAT(Msg(store.status()), HasSubstr(path));
  EXPECT_THAT(Msg(store.status()), HasSubstr("reg.example"));
}

TEST_F(DockerConfigTest, AuthWithoutColonIsRejected) {
  // base64("nocolon")
  std::string path = Write("nocolon.json", R"({"auths":{"r":{"auth":"bm9jb2xvbg=="}}})");
  auto store = DockerConfigCredentials(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << store.status();
}

TEST_F(DockerConfigTest, MissingFileIsNotFoundNamingThePath) {
  std::string path = StrCat(::testing::TempDir(), "/does-not-exist-", getpid(), ".json");
  auto store = DockerConfigCredentials(path);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kNotFound) << store.status();
  EXPECT_THAT(Msg(store.status()), HasSubstr(path));
}

TEST_F(DockerConfigTest, BadJsonIsRejected) {
  for (const char* bad : {"{not json", "[1,2]", R"({"auths":[]})", R"({"auths":{"r":"str"}})"}) {
    std::string path = Write("bad.json", bad);
    auto store = DockerConfigCredentials(path);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Msg(store.status()), HasSubstr(path));
  }
}

TEST_F(DockerConfigTest, NoAuthsIsAnEmptyStore) {
  auto store = DockerConfigCredentials(Write("empty.json", "{}"));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->Lookup("docker.io").has_value());
}

TEST_F(DockerConfigTest, DefaultUsesDockerConfigDirectory) {
  std::string dir = StrCat(::testing::TempDir(), "/registry_auth_test_dc_", getpid());
  ASSERT_EQ(system(StrCat("mkdir -p ", dir).c_str()), 0);
  std::ofstream(StrCat(dir, "/config.json")) << R"({"auths":{"r.example":{"auth":"dXNlcjpwYXNz"}}})";
  setenv("DOCKER_CONFIG", dir.c_str(), 1);
  auto store = DefaultDockerConfigCredentials();
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Lookup("r.example").has_value());
  // A directory without config.json: an empty store, not an error.
  setenv("DOCKER_CONFIG", StrCat(dir, "/nothing-here").c_str(), 1);
  store = DefaultDockerConfigCredentials();
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->Lookup("r.example").has_value());
  unsetenv("DOCKER_CONFIG");
}

TEST(StaticCredentialsTest, ScopedToOneRegistryOrAll) {
  Credentials c;
  c.username = "u";
  auto one = StaticCredentials("https://r.example", c);
  EXPECT_TRUE(one->Lookup("r.example").has_value());
  EXPECT_FALSE(one->Lookup("other.example").has_value());
  auto all = StaticCredentials("", c);
  EXPECT_TRUE(all->Lookup("anything.example").has_value());
}

TEST(ChainCredentialsTest, FirstAnswerWins) {
  Credentials a, b;
  a.username = "a";
  b.username = "b";
  auto chain = ChainCredentials(StaticCredentials("x.example", a), StaticCredentials("", b));
  EXPECT_EQ(chain->Lookup("x.example")->username, "a");
  EXPECT_EQ(chain->Lookup("y.example")->username, "b");
  auto with_null = ChainCredentials(nullptr, StaticCredentials("", b));
  EXPECT_EQ(with_null->Lookup("y.example")->username, "b");
}

}  // namespace
}  // namespace layerseal::registry
