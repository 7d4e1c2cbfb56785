// telemetry/: the metrics registry's exposition text, its concurrency and cardinality cap,
// the JSON logger, and the admin HTTP server on a real loopback socket (spoken to with
// libcurl, an independent HTTP client).
#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "telemetry/admin_http.h"
#include "tests/support/slow_clients.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace layerseal::telemetry {
namespace {

using ::testing::HasSubstr;
using ::layerseal::testing::ClosedWithin;
using ::layerseal::testing::ConnectFrom;
using ::layerseal::testing::SlowClients;

// ---------------------------------------------------------------- metrics

TEST(MetricsTest, CounterAndGaugeExpositionIsExactWithEscaping) {
  MetricsRegistry registry;
  auto* pulls = registry.AddCounter("layerseal_pulls_total", "Pulls by verdict.\nSecond \\ line",
                                    {"verdict", "image"});
  auto* inflight = registry.AddGauge("layerseal_inflight", "In-flight verifications.");
  registry.AddGaugeCallback("layerseal_cache_entries", "Cache size.", [] { return 42.0; });

  pulls->WithLabels({"allow", "reg/a:1"}).Increment();
  pulls->WithLabels({"allow", "reg/a:1"}).Increment(2);
  pulls->WithLabels({"deny", "we\"ird\\na\nme"}).Increment(0.5);
  inflight->Get().Set(3);
  inflight->Get().Add(-1.25);

  EXPECT_EQ(registry.RenderText(),
            "# HELP layerseal_cache_entries Cache size.\n"
            "# TYPE layerseal_cache_entries gauge\n"
            "layerseal_cache_entries 42\n"
            "# HELP layerseal_inflight In-flight verifications.\n"
            "# TYPE layerseal_inflight gauge\n"
            "layerseal_inflight 1.75\n"
            "# HELP layerseal_pulls_total Pulls by verdict.\\nSecond \\\\ line\n"
            "# TYPE layerseal_pulls_total counter\n"
            "layerseal_pulls_total{verdict=\"allow\",image=\"reg/a:1\"} 3\n"
            "layerseal_pulls_total{verdict=\"deny\",image=\"we\\\"ird\\\\na\\nme\"} 0.5\n");
  EXPECT_TRUE(registry.status().ok()) << registry.status();
}

TEST(MetricsTest, HistogramExpositionIsCumulativeWithInfSumAndCount) {
  MetricsRegistry registry;
  auto* latency = registry.AddHistogram("layerseal_verify_seconds", "Verify latency.",
                                        {0.5, 0.1, 1, 0.1}, {"gate"});
  auto& pull = latency->WithLabels({"pull"});
  pull.Observe(0.05);
  pull.Observe(0.1);  // bounds are inclusive: this one is in le="0.1"
  pull.Observe(0.7);
  pull.Observe(30);
  latency->WithLabels({"create"}).Observe(0.2);

  EXPECT_EQ(registry.RenderText(),
            "# HELP layerseal_verify_seconds Verify latency.\n"
            "# TYPE layerseal_verify_seconds histogram\n"
            "layerseal_verify_seconds_bucket{gate=\"create\",le=\"0.1\"} 0\n"
            "layerseal_verify_seconds_bucket{gate=\"create\",le=\"0.5\"} 1\n"
            "layerseal_verify_seconds_bucket{gate=\"create\",le=\"1\"} 1\n"
            "layerseal_verify_seconds_bucket{gate=\"create\",le=\"+Inf\"} 1\n"
            "layerseal_verify_seconds_sum{gate=\"create\"} 0.2\n"
            "layerseal_verify_seconds_count{gate=\"create\"} 1\n"
            "layerseal_verify_seconds_bucket{gate=\"pull\",le=\"0.1\"} 2\n"
            "layerseal_verify_seconds_bucket{gate=\"pull\",le=\"0.5\"} 2\n"
            "layerseal_verify_seconds_bucket{gate=\"pull\",le=\"1\"} 3\n"
            "layerseal_verify_seconds_bucket{gate=\"pull\",le=\"+Inf\"} 4\n"
            "layerseal_verify_seconds_sum{gate=\"pull\"} 30.85\n"
            "layerseal_verify_seconds_count{gate=\"pull\"} 4\n");
}

TEST(MetricsTest, UnlabelledHistogramAndUnusedFamilies) {
  MetricsRegistry registry;
  registry.AddHistogram("h", "H.", {1});
  registry.AddCounter("c_total", "C.", {"x"});  // no series yet: header only
  EXPECT_EQ(registry.RenderText(),
            "# HELP c_total C.\n"
            "# TYPE c_total counter\n"
            "# HELP h H.\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\n"
            "h_count 0\n");
}

TEST(MetricsTest, CounterIgnoresNegativeAndNaN) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("c_total", "C.")->Get();
  c.Increment(2);
  c.Increment(-1);
  c.Increment(std::nan(""));
  EXPECT_EQ(c.value(), 2);
}

TEST(MetricsTest, ConcurrentIncrementsFromEightThreadsSumExactly) {
  MetricsRegistry registry;
  auto* family = registry.AddCounter("ops_total", "Ops.", {"worker"});
  auto* hist = registry.AddHistogram("op_seconds", "Op.", {1}, {});
  Counter& shared = registry.AddCounter("shared_total", "Shared.")->Get();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        shared.Increment();
        family->WithLabels({std::to_string(t % 2)}).Increment();
        hist->Get().Observe(0.5);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(shared.value(), kThreads * kPerThread);
  EXPECT_EQ(family->WithLabels({"0"}).value(), kThreads / 2 * kPerThread);
  EXPECT_EQ(family->WithLabels({"1"}).value(), kThreads / 2 * kPerThread);
  Histogram::Snapshot s = hist->Get().snapshot();
  EXPECT_EQ(s.count, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(s.sum, kThreads * kPerThread * 0.5);
}

TEST(MetricsTest, SeriesBeyondTheCapGoToOneOverflowSeries) {
  MetricsRegistry registry;
  auto* family = registry.AddCounter("by_image_total", "By image.", {"image", "gate"});
  Counter* first = &family->WithLabels({"img0", "pull"});
  for (size_t i = 0; i < kMaxSeriesPerFamily + 25; ++i) {
    family->WithLabels({"img" + std::to_string(i), "pull"}).Increment();
  }
  // Existing series keep their own counter (and address) after the cap is reached.
  EXPECT_EQ(&family->WithLabels({"img0", "pull"}), first);
  EXPECT_EQ(first->value(), 1);
  Counter& overflow = family->WithLabels({"img-new", "pull"});
  EXPECT_EQ(&overflow, &family->WithLabels({"another", "create"}));
  EXPECT_EQ(overflow.value(), 25);

  std::string text = registry.RenderText();
  EXPECT_THAT(text, HasSubstr("by_image_total{image=\"__overflow__\",gate=\"__overflow__\"} 25\n"));
  size_t samples = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("by_image_total{", 0) == 0) ++samples;
  }
  EXPECT_EQ(samples, kMaxSeriesPerFamily + 1);
}

TEST(MetricsTest, WrongLabelCountGoesToTheInvalidSeries) {
  MetricsRegistry registry;
  auto* family = registry.AddGauge("g", "G.", {"a", "b"});
  family->WithLabels({"only-one"}).Set(1);
  family->WithLabels({"x", "y", "z"}).Add(1);
  EXPECT_EQ(registry.RenderText(),
            "# HELP g G.\n# TYPE g gauge\ng{a=\"__invalid__\",b=\"__invalid__\"} 2\n");
}

TEST(MetricsTest, WiringErrorsAreReportedAndTheFamilyStillWorksUnexported) {
  MetricsRegistry registry;
  registry.AddCounter("ok_total", "Ok.")->Get().Increment();
  EXPECT_TRUE(registry.status().ok());

  auto* dup = registry.AddGauge("ok_total", "Dup.");
  dup->Get().Set(5);  // must not crash
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(registry.status().message()), HasSubstr("\"ok_total\""));

  registry.AddCounter("1bad", "Bad.")->Get().Increment();
  registry.AddHistogram("h", "H.", {1}, {"le"})->WithLabels({"x"}).Observe(1);
  registry.AddCounter("c_total", "C.", {"__name"});
  registry.AddCounter("d_total", "D.", {"a", "a"});
  // The first error is kept; none of the bad families is exported.
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.RenderText(), "# HELP ok_total Ok.\n# TYPE ok_total counter\nok_total 1\n");

  MetricsRegistry other;
  other.AddHistogram("h", "H.", {1}, {"le"});
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("invalid label name \"le\""));
}

TEST(MetricsTest, ThrowingGaugeCallbackRendersNaN) {
  MetricsRegistry registry;
  registry.AddGaugeCallback("g", "G.", []() -> double { throw std::runtime_error("boom"); });
  EXPECT_EQ(registry.RenderText(), "# HELP g G.\n# TYPE g gauge\ng NaN\n");
}

TEST(MetricsTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1}));
  EXPECT_EQ(LinearBuckets(1, 2, 3), (std::vector<double>{1, 3, 5}));
  EXPECT_TRUE(ExponentialBuckets(0, 2, 3).empty());
  EXPECT_TRUE(ExponentialBuckets(1, 1, 3).empty());
  EXPECT_TRUE(LinearBuckets(1, 0, 3).empty());
}

// ---------------------------------------------------------------- logger

struct CapturedLines {
  std::mutex mu;
  std::string text;
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
};

// A sink that appends each line in two separate pieces, yielding in between: if the logger
// did not serialize calls, concurrent lines would interleave here.
Sink SlowSink(CapturedLines* out) {
  return [out](std::string_view line) {
    size_t half = line.size() / 2;
    {
      std::lock_guard<std::mutex> lock(out->mu);
      out->text.append(line.substr(0, half));
    }
    std::this_thread::yield();
    std::lock_guard<std::mutex> lock(out->mu);
    out->text.append(line.substr(half));
    out->text += '\n';
  };
}

TEST(LoggerTest, LinesAreJsonWithFixedKeysFirstAndFields) {
  CapturedLines captured;
  Logger logger("agent", SlowSink(&captured));
  logger.Info("pull allowed", {{"image", "reg/a@sha256:ab"}, {"ms", 12}});
  logger.Error("bad \"quote\"\n", {{"msg", "shadowed"}});

  auto lines = captured.Lines();
  ASSERT_EQ(lines.size(), 2u);
  auto first = nlohmann::ordered_json::parse(lines[0]);
  std::vector<std::string> keys;
  for (auto& [k, v] : first.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"ts", "level", "component", "msg", "image", "ms"}));
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["component"], "agent");
  EXPECT_EQ(first["msg"], "pull allowed");
  EXPECT_EQ(first["image"], "reg/a@sha256:ab");
  EXPECT_EQ(first["ms"], 12);
  EXPECT_TRUE(std::regex_match(first["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << first["ts"];

  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["level"], "error");
  EXPECT_EQ(second["msg"], "bad \"quote\"\n");
  EXPECT_EQ(second["fields.msg"], "shadowed");
}

TEST(LoggerTest, MinLevelFiltersAndInvalidUtf8DoesNotThrow) {
  CapturedLines captured;
  Logger logger("agent", SlowSink(&captured));
  logger.Debug("hidden");
  logger.set_min_level(Level::kWarn);
  logger.Info("hidden too");
  logger.Warn("shown \xff\xfe bytes", nlohmann::json("not an object"));
  auto lines = captured.Lines();
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["fields"], "not an object");
  EXPECT_THAT(j["msg"].get<std::string>(), HasSubstr("shown"));
}

TEST(LoggerTest, ParseLevel) {
  EXPECT_EQ(ParseLevel("debug").value(), Level::kDebug);
  EXPECT_EQ(ParseLevel("INFO").value(), Level::kInfo);
  EXPECT_EQ(ParseLevel("warning").value(), Level::kWarn);
  EXPECT_EQ(ParseLevel("error").value(), Level::kError);
  absl::StatusOr<Level> bad = ParseLevel("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"loud\""));
}

TEST(LoggerTest, ConcurrentLinesNeverInterleave) {
  CapturedLines captured;
  Logger logger("agent", SlowSink(&captured));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        logger.Info("tick", {{"thread", t}, {"seq", i}, {"pad", std::string(200, 'x')}});
      }
    });
  }
  for (auto& th : threads) th.join();

  auto lines = captured.Lines();
  ASSERT_EQ(lines.size(), size_t{kThreads * kPerThread});
  std::set<std::pair<int, int>> seen;
  for (const auto& line : lines) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << "not one JSON object: " << line;
    seen.emplace(j["thread"].get<int>(), j["seq"].get<int>());
  }
  EXPECT_EQ(seen.size(), size_t{kThreads * kPerThread});
}

// ---------------------------------------------------------------- admin HTTP

struct HttpResult {
  long status = 0;
  std::string body;
  std::string content_type;
};

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One request with libcurl; `post_body` makes it a POST; `host` replaces the Host header.
HttpResult Fetch(int port, const std::string& path, const std::string* post_body = nullptr,
                 const std::string& host = "") {
  HttpResult r;
  CURL* curl = curl_easy_init();
  EXPECT_NE(curl, nullptr);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  if (post_body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
  }
  curl_slist* headers = nullptr;
  if (!host.empty()) {
    headers = curl_slist_append(headers, ("Host: " + host).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  EXPECT_EQ(rc, CURLE_OK) << url << ": " << curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  char* ct = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
  if (ct != nullptr) r.content_type = ct;
  curl_easy_cleanup(curl);
  return r;
}

TEST(AdminHttpTest, ServesMetricsHealthReadyAnd404OnAnEphemeralPort) {
  MetricsRegistry registry;
  registry.AddCounter("scrapes_total", "Scrapes.")->Get().Increment(7);
  std::atomic<bool> ready{true};
  AdminHttpOptions options;
  options.metrics = &registry;
  options.ready = [&]() -> absl::Status {
    if (ready.load()) return absl::OkStatus();
    return absl::UnavailableError("registry cache not warmed");
  };
  auto server = AdminHttpServer::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  ASSERT_GT(port, 0);

  HttpResult metrics = Fetch(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body, registry.RenderText());
  EXPECT_THAT(metrics.body, HasSubstr("scrapes_total 7\n"));

  HttpResult health = Fetch(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  HttpResult readyz = Fetch(port, "/readyz");
  EXPECT_EQ(readyz.status, 200);
  EXPECT_EQ(readyz.body, "ready\n");

  ready = false;
  HttpResult not_ready = Fetch(port, "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, "registry cache not warmed\n");

  HttpResult missing = Fetch(port, "/metrics/extra");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "not found\n");
  std::string small = "x";
  EXPECT_EQ(Fetch(port, "/healthz", &small).status, 413);  // GET only, never a body
}

TEST(AdminHttpTest, RequestBodyOverTheLimitIsRefused) {
  auto server = AdminHttpServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  std::string big(kAdminHttpMaxPayloadBytes + 1, 'x');
  EXPECT_EQ(Fetch((*server)->port(), "/healthz", &big).status, 413);
}

TEST(AdminHttpTest, SecondServerOnTheSamePortFailsNamingTheAddress) {
  auto first = AdminHttpServer::Start({});
  ASSERT_TRUE(first.ok()) << first.status();
  int port = (*first)->port();

  AdminHttpOptions options;
  options.port = port;
  auto second = AdminHttpServer::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
  // The first server still owns the port.
  EXPECT_EQ(Fetch(port, "/healthz").body, "ok\n");
}

TEST(AdminHttpTest, StopsPromptlyRightAfterStartAndFreesThePort) {
  int port = 0;
  for (int i = 0; i < 20; ++i) {  // Start then immediate destruction must never hang
    auto server = AdminHttpServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    port = (*server)->port();
  }
  AdminHttpOptions options;
  options.port = port;
  auto again = AdminHttpServer::Start(options);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(AdminHttpTest, RejectsABadPort) {
  AdminHttpOptions options;
  options.port = 70000;
  auto server = AdminHttpServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AdminHttpTest, HostMustBeAnIpLiteralLocalhostOrAnAllowedName) {
  const std::vector<std::string> allowed = {"layerseal-controller.layerseal.svc"};
  for (const char* ok : {"127.0.0.1", "127.0.0.1:7080", "10.2.3.4:9464", "[::1]", "[::1]:7080",
                         "[fe80::1]:80", "localhost", "LocalHost:7080",
                         "layerseal-controller.layerseal.svc",
                         "Layerseal-Controller.layerseal.svc:7080"}) {
    EXPECT_TRUE(AdminHttpHostAllowed(ok, allowed)) << ok;
  }
  for (const char* bad : {"", "evil.example", "evil.example:7080", "localhost.", "localhost.evil",
                          "127.0.0.1.nip.io", "layerseal-controller", ":7080", "127.0.0.1:",
                          "127.0.0.1:abc", "127.0.0.1:123456", "[::1", "[::1]x", "[evil]",
                          "::1", "0x7f.1", "127.1", "localhost:80:80", "svc.layerseal-controller"}) {
    EXPECT_FALSE(AdminHttpHostAllowed(bad, allowed)) << bad;
  }
  EXPECT_FALSE(AdminHttpHostAllowed("layerseal-controller.layerseal.svc", {}));
}

// DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends
// "Host: evil.example"; every route (probes included) refuses it with 421.
TEST(AdminHttpTest, RefusesAForeignHostOnEveryRoute) {
  AdminHttpOptions options;
  options.allowed_hosts = {"controller.example"};
  options.routes.push_back({"/api/events", [](const HttpRequest&) {
                              return HttpResponse{.body = "secret events"};
                            }});
  auto server = AdminHttpServer::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  std::string evil = "evil.example:" + std::to_string(port);
  for (const char* path : {"/api/events", "/metrics", "/healthz", "/readyz", "/nothing"}) {
    HttpResult r = Fetch(port, path, nullptr, evil);
    EXPECT_EQ(r.status, 421) << path;
    EXPECT_THAT(r.body, HasSubstr("\"" + evil + "\" is not served here")) << path;
    EXPECT_THAT(r.body, ::testing::Not(HasSubstr("secret"))) << path;
  }
  EXPECT_EQ(Fetch(port, "/api/events").body, "secret events");  // Host: 127.0.0.1:port
  EXPECT_EQ(Fetch(port, "/api/events", nullptr, "localhost").body, "secret events");
  EXPECT_EQ(Fetch(port, "/api/events", nullptr, "controller.example").body, "secret events");
}

TEST(AdminHttpTest, RejectsABadAllowedHostOrLimits) {
  AdminHttpOptions bad_host;
  bad_host.allowed_hosts = {"evil.example:80"};
  EXPECT_EQ(AdminHttpServer::Start(bad_host).status().code(), absl::StatusCode::kInvalidArgument);
  AdminHttpOptions bad_limit;
  bad_limit.max_connections_per_peer = bad_limit.threads + 1;
  EXPECT_EQ(AdminHttpServer::Start(bad_limit).status().code(), absl::StatusCode::kInvalidArgument);
}

// The whole answer to `request` sent raw on a new connection (until the server closes).
std::string RawExchange(int port, const std::string& request) {
  int fd = ConnectFrom("127.0.0.1", port);
  if (fd < 0) return "";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) == 1) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

TEST(AdminHttpTest, Http11WithoutHostIs400AndHttp10WithoutHostIsServed) {
  auto server = AdminHttpServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  EXPECT_THAT(RawExchange(port, "GET /healthz HTTP/1.1\r\n\r\n"), HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(RawExchange(port, "GET /healthz HTTP/1.0\r\n\r\n"), HasSubstr("200 OK"));
}

// Issue 14 item 2: two dozen slow clients must not hold every worker thread. The probes
// from another address still answer within a second each, and the server closes the slow
// connections once the request deadline has passed.
TEST(AdminHttpTest, SlowClientsCannotStarveTheProbes) {
  auto server = AdminHttpServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  constexpr int kSlow = 24;
  SlowClients slow("127.0.0.2", port, kSlow, kAdminHttpRequestDeadlineSeconds + 10);
  for (int fd : slow.fds()) ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // they now hold what they can
  for (int i = 0; i < 4; ++i) {
    for (const char* path : {"/healthz", "/readyz"}) {
      auto start = std::chrono::steady_clock::now();
      HttpResult r = Fetch(port, path);
      auto took = std::chrono::steady_clock::now() - start;
      EXPECT_EQ(r.status, 200) << path;
      EXPECT_LT(took, std::chrono::seconds(1)) << path << " while " << kSlow << " clients are slow";
    }
  }
  // Past the request deadline every slow connection has been closed by the server.
  auto by = std::chrono::seconds(kAdminHttpRequestDeadlineSeconds + 5);
  for (int fd : slow.fds()) {
    EXPECT_TRUE(ClosedWithin(fd, std::chrono::duration_cast<std::chrono::milliseconds>(by)));
  }
}

TEST(AdminHttpTest, OnePeerHoldsAtMostTheLimitOfConnections) {
  auto server = AdminHttpServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  SlowClients held("127.0.0.3", port, kAdminHttpMaxConnectionsPerPeer, 8);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int extra = ConnectFrom("127.0.0.3", port);
  ASSERT_GE(extra, 0);
  EXPECT_TRUE(ClosedWithin(extra, std::chrono::milliseconds(3000))) << "over the per-peer limit";
  close(extra);
  for (int fd : held.fds()) EXPECT_FALSE(ClosedWithin(fd, std::chrono::milliseconds(200)));
  EXPECT_EQ(Fetch(port, "/healthz").status, 200);  // another peer is served
}

// A flood from many addresses cannot pile up sockets: past the one worker and
// kAdminHttpMaxQueuedConnections waiting, connections are closed at accept.
TEST(AdminHttpTest, WaitingConnectionsAreBounded) {
  AdminHttpOptions options;
  options.threads = 1;
  options.max_connections_per_peer = 1;
  auto server = AdminHttpServer::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kExtra = 5;
  const int total = 1 + static_cast<int>(kAdminHttpMaxQueuedConnections) + kExtra;
  std::vector<std::unique_ptr<SlowClients>> peers;
  for (int i = 0; i < total; ++i) {  // one connection each from 127.0.1.1, 127.0.1.2, ...
    std::string source = "127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250);
    peers.push_back(std::make_unique<SlowClients>(source.c_str(), (*server)->port(), 1, 4));
    ASSERT_GE(peers.back()->fds()[0], 0) << source;
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the worker's
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the accept loop has seen them all
  int closed = 0;
  for (const auto& peer : peers) {
    closed += ClosedWithin(peer->fds()[0], std::chrono::milliseconds(50)) ? 1 : 0;
  }
  EXPECT_EQ(closed, kExtra);
}

}  // namespace
}  // namespace layerseal::telemetry
