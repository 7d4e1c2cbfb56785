// The controller's web page (controller/web.h) in a real browser: a SQLite event store with
// events from three nodes, the admin HTTP server with WebRoutes on a free port, and Debian's
// chromium (headless) loading the page; the assertions are on the DOM it dumps after the
// page's script ran. The JSON routes are checked directly with libcurl.
//
// Regenerate the screenshot in docs/ (from the source root, after building):
//   LAYERSEAL_WEB_SCREENSHOT=$PWD/docs/images/controller-web.png build/tests/controller_web_test --gtest_filter='*Screenshot*'
#include <curl/curl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "base/str_cat.h"
#include "controller/event_store.h"
#include "controller/web.h"
#include "nlohmann/json.hpp"
#include "telemetry/admin_http.h"
#include "tests/support/package_inventory.h"
#include "tests/support/process.h"

namespace layerseal {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using nlohmann::json;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kHostileImage[] = "<img src=x onerror=alert(1)>";
constexpr char kHostileImageEscaped[] = "&lt;img src=x onerror=alert(1)&gt;";
constexpr char kDigestA[] =
    "sha256:aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888";
constexpr char kDigestB[] =
    "sha256:bbbb1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888";
// Issue 17's signers: a seal key, and a keyless identity with its Rekor entry.
constexpr char kSealKey[] =
    "sha256:5ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea1";
constexpr char kCertKey[] =
    "sha256:ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kSubject[] = "https://github.com/shop/api/.github/workflows/release.yml@refs/heads/main";
constexpr char kPolicyV1[] =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kPolicyV2[] =
    "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

// ---------------------------------------------------------------- events

struct EventSpec {
  std::string image;
  std::string digest;
  std::string verdict;  // ALLOW or DENY
  std::string reason;
  std::string mode;
  std::string ns;
  std::string pod;
};

v1::Event MakeEvent(const std::string& node, uint64_t seq, absl::Time at, const EventSpec& s) {
  v1::Event e;
  e.set_node(node);
  e.set_seq(seq);
  e.set_time_unix_micros(absl::ToUnixMicros(at));
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image(s.image);
  e.set_pod_namespace(s.ns);
  e.set_pod_name(s.pod);
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference(s.image);
  v->set_digest(s.digest);
  v->set_verdict(s.verdict);
  v->set_reason(s.reason);
  v->set_mode(s.mode);
  v->set_detail(s.verdict == "DENY" ? "the seal's signature does not verify with any trusted key"
                                    : "signed by a trusted key");
  e.set_admitted(s.verdict == "ALLOW" || s.mode != "enforce");
  // Issue 17: the web image is sealed, the api image signed keyless; a BAD_SIGNATURE DENY
  // keeps the seal key it found (no signer_kind: it admitted nothing).
  if (s.image == "registry.example/shop/web:1.4" || s.reason == "BAD_SIGNATURE") {
    v->set_key_id(kSealKey);
    if (s.verdict == "ALLOW") v->set_signer_kind("seal");
  } else if (s.image == "registry.example/shop/api:2.0" && s.verdict == "ALLOW") {
    v->set_key_id(kCertKey);
    v->set_signer_kind("cosign-keyless");
    v->set_signer_issuer(kIssuer);
    v->set_signer_subject(kSubject);
    v->set_rekor_log_index(4'000'000'000 + static_cast<int64_t>(seq));
    v->set_rekor_log_id("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
  }
  return e;
}

v1::AgentStatus Status(const std::string& version, const std::string& policy, uint64_t backlog,
                       uint64_t lost) {
  v1::AgentStatus s;
  s.set_agent_version(version);
  s.set_policy_version(policy);
  s.set_spool_backlog(backlog);
  s.set_events_lost(lost);
  return s;
}

// 3 nodes; 10 events (4 DENY), the newest (node-c's hostile image) first in the table.
void Fill(controller::EventStore& store) {
  absl::Time t0 = absl::Now() - absl::Minutes(30);
  const std::string web = "registry.example/shop/web:1.4";
  const std::string api = "registry.example/shop/api:2.0";
  const std::string tool = "docker.io/library/busybox:latest";
  std::vector<v1::Event> a = {
      MakeEvent("node-a", 1, t0 + absl::Minutes(1), {web, kDigestA, "ALLOW", "VERIFIED", "enforce", "shop", "web-1"}),
      MakeEvent("node-a", 2, t0 + absl::Minutes(2), {api, kDigestB, "ALLOW", "VERIFIED", "enforce", "shop", "api-1"}),
      MakeEvent("node-a", 3, t0 + absl::Minutes(3), {tool, "", "DENY", "NOT_SIGNED", "enforce", "ops", "debug"}),
  };
  a.back().mutable_verdict()->set_detail("no layer carries a layerseal seal");
  std::vector<v1::Event> b = {
      MakeEvent("node-b", 1, t0 + absl::Minutes(4), {web, kDigestA, "ALLOW", "VERIFIED", "enforce", "shop", "web-2"}),
      MakeEvent("node-b", 2, t0 + absl::Minutes(5), {api, kDigestB, "DENY", "BAD_SIGNATURE", "enforce", "shop", "api-2"}),
      MakeEvent("node-b", 3, t0 + absl::Minutes(6), {api, kDigestB, "DENY", "BAD_SIGNATURE", "warn", "staging", "api-3"}),
      MakeEvent("node-b", 4, t0 + absl::Minutes(7), {web, kDigestA, "ALLOW", "VERIFIED", "audit", "staging", "web-3"}),
  };
  std::vector<v1::Event> c = {
      MakeEvent("node-c", 1, t0 + absl::Minutes(8), {web, kDigestA, "ALLOW", "VERIFIED", "enforce", "shop", "web-4"}),
      MakeEvent("node-c", 2, t0 + absl::Minutes(9), {api, kDigestB, "ALLOW", "VERIFIED", "enforce", "shop", "api-4"}),
      MakeEvent("node-c", 3, t0 + absl::Minutes(10), {kHostileImage, "", "DENY", "REJECTED_BY_POLICY", "enforce", "evil", "x"}),
  };
  c.back().mutable_verdict()->set_detail("no policy scope admits \"<img src=x onerror=alert(1)>\"");
  absl::Time now = absl::Now();
  ASSERT_TRUE(store.Append("node-a", Status("0.1.0", kPolicyV1, 0, 0), a, now).ok());
  ASSERT_TRUE(store.Append("node-b", Status("0.1.0", kPolicyV2, 17, 3), b, now).ok());
  ASSERT_TRUE(store.Append("node-c", Status("0.2.0-rc1", kPolicyV1, 2, 0), c, now).ok());
  // Issue 18: the package inventory of the api image's digest (two packages).
  ASSERT_TRUE(store
                  .PutPackages({{kDigestB,
                                 testing::TestAttachment(kDigestB, {{"curl", "7.88.1-10"},
                                                                    {"jq", "1.6-2.1"}}),
                                 2, 0, "node-a"}},
                               now)
                  .ok());
}

// ---------------------------------------------------------------- HTTP

struct HttpResult {
  long status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // lower-case names
  json Json() const { return json::parse(body, nullptr, false); }
};

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n") + 1);
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

HttpResult Get(int port, const std::string& path) {
  HttpResult r;
  CURL* curl = curl_easy_init();
  EXPECT_NE(curl, nullptr);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(curl);
  EXPECT_EQ(rc, CURLE_OK) << url << ": " << curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  char* ct = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
  if (ct != nullptr) r.content_type = ct;
  curl_easy_cleanup(curl);
  return r;
}

// ---------------------------------------------------------------- the browser

bool HaveChromium() { return access(kChromium, X_OK) == 0; }

// Chromium's common flags: headless, as root (no sandbox), its profile in `profile`, no
// proxy from the environment, and 5 s of virtual time for the page's fetches and script.
std::vector<std::string> ChromiumArgs(const std::string& profile) {
  return {kChromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-proxy-server",
          "--user-data-dir=" + profile,
          "--virtual-time-budget=5000"};
}

// The DOM after the page's script ran, as chromium serializes it.
std::string DumpDom(int port, const std::string& path) {
  testing::TempDir profile;
  std::vector<std::string> argv = ChromiumArgs(profile.path());
  argv.push_back("--dump-dom");
  argv.push_back("http://127.0.0.1:" + std::to_string(port) + path);
  absl::StatusOr<testing::RunResult> r = testing::Run(argv, "", absl::Seconds(120));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << r->err;
  return r->out;
}

// The cells of every <tr class="cls">: their serialized inner HTML without tags (links), so
// text is still escaped as chromium serializes it ("&lt;").
std::vector<std::vector<std::string>> Rows(const std::string& dom, const std::string& cls) {
  std::vector<std::vector<std::string>> rows;
  std::regex row_re("<tr class=\"" + cls + "\">(.*?)</tr>");
  std::regex cell_re("<td[^>]*>(.*?)</td>");
  std::regex tag_re("<[^>]*>");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), row_re); it != std::sregex_iterator();
       ++it) {
    std::string inner = (*it)[1];
    std::vector<std::string> cells;
    for (auto c = std::sregex_iterator(inner.begin(), inner.end(), cell_re);
         c != std::sregex_iterator(); ++c) {
      cells.push_back(std::regex_replace((*c)[1].str(), tag_re, ""));
    }
    rows.push_back(cells);
  }
  return rows;
}

// Columns of the tables, as the page lays them out.
enum EventColumn { kTime, kNode, kPod, kImage, kDigest, kVerdict, kReason, kMode, kSigner, kDetail };
enum ImageColumn { kImgImage, kImgDigest, kImgAllowed, kImgDenied, kImgNodes, kImgPackages, kImgSeen };
enum NodeColumn { kNdNode, kNdSeen, kNdAgent, kNdPolicy, kNdBacklog, kNdLost, kNdEvents, kNdDenied };

std::vector<std::string> Column(const std::vector<std::vector<std::string>>& rows, size_t col) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(col < row.size() ? row[col] : "<missing>");
  return out;
}

const std::vector<std::string>* RowWith(const std::vector<std::vector<std::string>>& rows,
                                        size_t col, const std::string& value) {
  for (const auto& row : rows) {
    if (col < row.size() && row[col] == value) return &row;
  }
  return nullptr;
}

// ---------------------------------------------------------------- fixture

// One store and one HTTP server for the suite.
class ControllerWebTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto store = controller::OpenEventStore("sqlite:" + dir_->File("events.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = store->release();  // the suite's, deleted in TearDownTestSuite
    Fill(*store_);
    telemetry::AdminHttpOptions options = controller::WebHttpOptions(store_);  // as served
    options.port = testing::PickFreePort();
    auto server = telemetry::AdminHttpServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete store_;
    delete dir_;
    server_ = nullptr;
    store_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the suite's setup failed";
  }
  static int port() { return server_->port(); }

  static testing::TempDir* dir_;
  static controller::EventStore* store_;
  static telemetry::AdminHttpServer* server_;
};

testing::TempDir* ControllerWebTest::dir_ = nullptr;
controller::EventStore* ControllerWebTest::store_ = nullptr;
telemetry::AdminHttpServer* ControllerWebTest::server_ = nullptr;

// ---------------------------------------------------------------- JSON routes

TEST_F(ControllerWebTest, EventsRouteFiltersAndPages) {
  HttpResult all = Get(port(), "/api/events");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.content_type, "application/json; charset=utf-8");
  json j = all.Json();
  ASSERT_THAT(j["events"], SizeIs(10));
  EXPECT_EQ(j["events"][0]["image"], kHostileImage);  // newest first
  EXPECT_EQ(j["events"][0]["verdict"]["verdict"], "DENY");

  json denied = Get(port(), "/api/events?verdict=DENY").Json();
  ASSERT_THAT(denied["events"], SizeIs(4));
  for (const json& e : denied["events"]) EXPECT_EQ(e["verdict"]["verdict"], "DENY");

  json b_warn = Get(port(), "/api/events?node=node-b&mode=warn").Json();
  ASSERT_THAT(b_warn["events"], SizeIs(1));
  EXPECT_EQ(b_warn["events"][0]["podName"], "api-3");

  EXPECT_THAT(Get(port(), "/api/events?since=1h").Json()["events"], SizeIs(10));
  EXPECT_THAT(Get(port(), "/api/events?until=1h").Json()["events"], SizeIs(0));
  EXPECT_THAT(Get(port(), "/api/events?since=2000-01-01T00:00:00Z&reason=BAD_SIGNATURE")
                  .Json()["events"],
              SizeIs(2));

  // Pages of 3 until no token is left: every event once, newest first.
  std::vector<std::string> seen;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    HttpResult page = Get(port(), "/api/events?page_size=3&page_token=" + token);
    ASSERT_EQ(page.status, 200) << page.body;
    json p = page.Json();
    EXPECT_LE(p["events"].size(), 3u);
    for (const json& e : p["events"]) seen.push_back(e["node"].get<std::string>() + "/" + e["seq"].get<std::string>());
    token = p["nextPageToken"];
    if (token.empty()) break;
  }
  EXPECT_THAT(seen, SizeIs(10));
  EXPECT_EQ(seen.front(), "node-c/3");
  EXPECT_EQ(seen.back(), "node-a/1");
}

// Issue 17: `signer` matches the key id, the keyless issuer or the keyless subject, exactly.
TEST_F(ControllerWebTest, EventsRouteFiltersBySigner) {
  auto events = [](const std::string& query) {
    HttpResult r = Get(port(), "/api/events?" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return r.Json()["events"];
  };
  auto escaped = [](const std::string& v) {
    char* e = curl_easy_escape(nullptr, v.c_str(), static_cast<int>(v.size()));
    std::string out = e;
    curl_free(e);
    return out;
  };
  // web ALLOWs on three nodes, and the two BAD_SIGNATURE DENYs that found the seal key.
  EXPECT_THAT(events("signer=" + escaped(kSealKey)), SizeIs(6));
  EXPECT_THAT(events("signer=" + escaped(kSealKey) + "&verdict=ALLOW"), SizeIs(4));
  for (const char* who : {kIssuer, kSubject, kCertKey}) {
    json keyless = events("signer=" + escaped(who));
    ASSERT_THAT(keyless, SizeIs(2)) << who;
    for (const json& e : keyless) {
      EXPECT_EQ(e["verdict"]["signerKind"], "cosign-keyless");
      EXPECT_EQ(e["verdict"]["signerSubject"], kSubject);
      EXPECT_EQ(e["image"], "registry.example/shop/api:2.0");
    }
    EXPECT_EQ(keyless[0]["verdict"]["rekorLogIndex"], "4000000002");  // node-c's, newest
  }
  EXPECT_THAT(events("signer=" + escaped(kSubject) + "&node=node-a"), SizeIs(1));
  EXPECT_THAT(events("signer=" + escaped("https://token.actions.githubusercontent")), SizeIs(0));
  EXPECT_THAT(events("signer=nobody"), SizeIs(0));
  EXPECT_THAT(events("signer="), SizeIs(10));  // empty: no filter
}

// Issue 14 item 10: an absent bound and a bound at the epoch differ. Every event is after
// 1970, so until the epoch matches none, since the epoch all; "0" is neither form (400).
TEST_F(ControllerWebTest, BoundAtTheEpochIsABound) {
  HttpResult until = Get(port(), "/api/events?until=1970-01-01T00:00:00Z");
  ASSERT_EQ(until.status, 200) << until.body;
  EXPECT_THAT(until.Json()["events"], SizeIs(0)) << until.body;
  EXPECT_THAT(Get(port(), "/api/events?since=1970-01-01T00:00:00Z").Json()["events"], SizeIs(10));
  EXPECT_THAT(Get(port(), "/api/events?until=").Json()["events"], SizeIs(10));  // empty: absent
  HttpResult zero = Get(port(), "/api/events?until=0");
  EXPECT_EQ(zero.status, 400) << zero.body;
  EXPECT_THAT(zero.body, HasSubstr("until"));
  EXPECT_THAT(Get(port(), "/api/images?since=1970-01-01T00:00:00Z").Json()["images"], SizeIs(4));
}

TEST_F(ControllerWebTest, BadParametersAre400NamingTheParameter) {
  struct Case {
    std::string query;
    std::string parameter;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/events?verdict=MAYBE", "verdict"},
           {"/api/events?mode=strict", "mode"},
           {"/api/events?since=yesterday", "since"},
           {"/api/events?since=1h&until=2h", "until"},
           {"/api/events?page_size=0", "page_size"},
           {"/api/events?page_size=1001", "page_size"},
           {"/api/events?page_size=ten", "page_size"},
           {"/api/events?page_token=not-a-token", "page_token"},
           {"/api/events?colour=red", "colour"},
           {"/api/events?node=a&node=b", "node"},
           {"/api/events?signer=a&signer=b", "signer"},
           {"/api/events?signer=" + std::string(controller::kMaxWebParamBytes + 1, 's'), "signer"},
           {"/api/events?image=" + std::string(controller::kMaxWebParamBytes + 1, 'x'), "image"},
           {"/api/nodes?node=a", "node"},
           {"/api/images?limit=-1", "limit"},
       }) {
    HttpResult r = Get(port(), c.query);
    EXPECT_EQ(r.status, 400) << c.query << ": " << r.body;
    json j = r.Json();
    EXPECT_EQ(j.value("parameter", ""), c.parameter) << c.query << ": " << r.body;
    EXPECT_THAT(j.value("error", ""), HasSubstr(c.parameter)) << c.query;
  }
}

TEST_F(ControllerWebTest, NodesAndImagesRoutes) {
  json nodes = Get(port(), "/api/nodes").Json()["nodes"];
  ASSERT_THAT(nodes, SizeIs(3));
  EXPECT_EQ(nodes[1]["node"], "node-b");
  EXPECT_EQ(nodes[1]["status"]["agentVersion"], "0.1.0");
  EXPECT_EQ(nodes[1]["status"]["policyVersion"], kPolicyV2);
  EXPECT_EQ(nodes[1]["status"]["spoolBacklog"], "17");
  EXPECT_EQ(nodes[1]["denied"], "2");

  json images = Get(port(), "/api/images").Json()["images"];
  ASSERT_THAT(images, SizeIs(4));
  EXPECT_EQ(images[0]["image"], kHostileImage);  // most recently seen first
  bool found_api = false;
  for (const json& im : images) {
    if (im["image"] != "registry.example/shop/api:2.0") continue;
    found_api = true;
    EXPECT_EQ(im["allowed"], "2");
    EXPECT_EQ(im["denied"], "2");
    EXPECT_EQ(im["nodes"], json({"node-a", "node-b", "node-c"}));
  }
  EXPECT_TRUE(found_api);
  EXPECT_THAT(Get(port(), "/api/images?limit=1").Json()["images"], SizeIs(1));
}

TEST_F(ControllerWebTest, PageHeadersAreStrict) {
  HttpResult page = Get(port(), "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
  const std::string& csp = page.headers["content-security-policy"];
  EXPECT_THAT(csp, AllOf(HasSubstr("default-src 'none'"), HasSubstr("script-src 'nonce-"),
                         Not(HasSubstr("unsafe-inline")), HasSubstr("connect-src 'self'")));
  // The nonce in the header is the one on the page's script, and a new one every time.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(csp, m, std::regex("'nonce-([0-9a-f]{32})'")));
  EXPECT_THAT(page.body, HasSubstr("<script nonce=\"" + m[1].str() + "\">"));
  EXPECT_NE(Get(port(), "/").headers["content-security-policy"], csp);
  // Nothing is loaded from elsewhere.
  EXPECT_THAT(page.body, AllOf(Not(HasSubstr("http://")), Not(HasSubstr("https://")),
                               Not(HasSubstr(" src=")), Not(HasSubstr("innerHTML"))));
  EXPECT_EQ(Get(port(), "/api/nodes").headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(Get(port(), "/nowhere").status, 404);
}

// A store that fails: the routes answer 503 naming the store's error.
class FailingStore : public controller::EventStore {
 public:
  absl::StatusOr<controller::AppendResult> Append(const std::string&, const v1::AgentStatus&,
                                                  const std::vector<v1::Event>&,
                                                  absl::Time) override {
    return Down();
  }
  absl::StatusOr<controller::EventPage> Query(const v1::EventFilter&, int,
                                              const std::string&) override {
    return Down();
  }
  absl::StatusOr<int64_t> LatestCursor() override { return Down(); }
  absl::StatusOr<std::vector<v1::Event>> After(const v1::EventFilter&, int64_t*, int) override {
    return Down();
  }
  absl::StatusOr<std::vector<v1::NodeSummary>> Nodes() override { return Down(); }
  absl::StatusOr<std::vector<v1::ImageSummary>> Images(absl::Time, int) override { return Down(); }
  absl::StatusOr<int64_t> Prune(absl::Time) override { return Down(); }
  int64_t Count() override { return 0; }

 private:
  static absl::Status Down() { return absl::UnavailableError("database is locked"); }
};

TEST(ControllerWebStoreErrorTest, StoreErrorsAre503) {
  FailingStore store;
  telemetry::AdminHttpOptions options;
  options.routes = controller::WebRoutes(&store);
  auto server = telemetry::AdminHttpServer::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* path : {"/api/events", "/api/nodes", "/api/images"}) {
    HttpResult r = Get((*server)->port(), path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_THAT(r.Json().value("error", ""), HasSubstr("database is locked")) << path;
  }
}

TEST(AdminHttpRoutesTest, BadRoutesAreRefusedAtStart) {
  auto handler = [](const telemetry::HttpRequest&) { return telemetry::HttpResponse{}; };
  for (const std::string path : {"/metrics", "no-slash", "/a.b", "/x?y", ""}) {
    telemetry::AdminHttpOptions options;
    options.routes = {{path, handler}};
    auto server = telemetry::AdminHttpServer::Start(std::move(options));
    EXPECT_FALSE(server.ok()) << path;
    if (!server.ok()) {
      EXPECT_THAT(std::string(server.status().message()), HasSubstr(path)) << path;
    }
  }
  telemetry::AdminHttpOptions twice;
  twice.routes = {{"/a", handler}, {"/a", handler}};
  EXPECT_FALSE(telemetry::AdminHttpServer::Start(std::move(twice)).ok());
}

// ---------------------------------------------------------------- in the browser

class ControllerWebBrowserTest : public ControllerWebTest {
 protected:
  void SetUp() override {
    ControllerWebTest::SetUp();
    if (!HaveChromium()) GTEST_SKIP() << kChromium << " is not installed (scripts/setup installs it)";
  }
};

TEST_F(ControllerWebBrowserTest, PageShowsEventsImagesAndNodes) {
  std::string dom = DumpDom(port(), "/");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;  // the script ran, every fetch ok

  auto events = Rows(dom, "event");
  ASSERT_THAT(events, SizeIs(10)) << dom;
  EXPECT_THAT(Column(events, kNode), ElementsAre("node-c", "node-c", "node-c", "node-b", "node-b",
                                                 "node-b", "node-b", "node-a", "node-a", "node-a"));
  EXPECT_EQ(events[3][kPod], "staging/web-3");
  EXPECT_EQ(events[3][kImage], "registry.example/shop/web:1.4");
  EXPECT_EQ(events[3][kDigest], "sha256:aaaa1111bbbb");
  EXPECT_EQ(events[3][kMode], "audit");
  EXPECT_EQ(events[4][kReason], "BAD_SIGNATURE");
  EXPECT_THAT(events[4][kDetail], HasSubstr("does not verify"));
  EXPECT_THAT(dom, HasSubstr("<td class=\"verdict verdict-deny\" title=\"refused\">DENY</td>"));
  EXPECT_THAT(dom, HasSubstr("<td class=\"verdict verdict-allow\" title=\"admitted\">ALLOW</td>"));
  EXPECT_THAT(dom, HasSubstr("<button id=\"older\" type=\"button\" hidden=\"\">"));  // one page

  auto images = Rows(dom, "image-summary");
  ASSERT_THAT(images, SizeIs(4)) << dom;
  const auto* api = RowWith(images, kImgImage, "registry.example/shop/api:2.0");
  ASSERT_NE(api, nullptr) << dom;
  EXPECT_EQ((*api)[kImgAllowed], "2");
  EXPECT_EQ((*api)[kImgDenied], "2");
  EXPECT_EQ((*api)[kImgNodes], "node-a, node-b, node-c");
  EXPECT_EQ((*api)[kImgPackages], "2");
  const auto* busybox = RowWith(images, kImgImage, "docker.io/library/busybox:latest");
  ASSERT_NE(busybox, nullptr) << dom;
  EXPECT_EQ((*busybox)[kImgDenied], "1");
  EXPECT_EQ((*busybox)[kImgAllowed], "0");
  EXPECT_EQ((*busybox)[kImgPackages], "");

  auto nodes = Rows(dom, "node-summary");
  ASSERT_THAT(nodes, SizeIs(3)) << dom;
  EXPECT_THAT(Column(nodes, kNdNode), ElementsAre("node-a", "node-b", "node-c"));
  EXPECT_THAT(Column(nodes, kNdAgent), ElementsAre("0.1.0", "0.1.0", "0.2.0-rc1"));
  EXPECT_THAT(Column(nodes, kNdPolicy),
              ElementsAre("sha256:0123456789ab", "sha256:fedcba987654", "sha256:0123456789ab"));
  EXPECT_THAT(Column(nodes, kNdBacklog), ElementsAre("0", "17", "2"));
  EXPECT_THAT(Column(nodes, kNdLost), ElementsAre("0", "3", "0"));
  EXPECT_THAT(Column(nodes, kNdEvents), ElementsAre("3", "4", "3"));
  EXPECT_THAT(Column(nodes, kNdSeen), Each(HasSubstr("s ago)")));
  // Names link to the events filtered by them.
  EXPECT_THAT(dom, HasSubstr("<a href=\"/?node=node-b\">node-b</a>"));
  EXPECT_THAT(dom, HasSubstr("<a href=\"/?image=registry.example%2Fshop%2Fapi%3A2.0\">"));
}

TEST_F(ControllerWebBrowserTest, HostileImageNameIsShownAsText) {
  std::string dom = DumpDom(port(), "/");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;
  auto events = Rows(dom, "event");
  ASSERT_FALSE(events.empty()) << dom;
  EXPECT_EQ(events[0][kImage], kHostileImageEscaped);  // as text, in the table...
  EXPECT_THAT(Column(Rows(dom, "image-summary"), kImgImage), Contains(kHostileImageEscaped));
  // ...and no element was made of it: the page has no <img> at all.
  EXPECT_THAT(dom, Not(HasSubstr("<img")));
}

TEST_F(ControllerWebBrowserTest, FilterFromTheUrlShowsOnlyDeniedRows) {
  std::string dom = DumpDom(port(), "/?verdict=DENY&namespace=shop");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;
  auto events = Rows(dom, "event");
  ASSERT_THAT(events, SizeIs(1)) << dom;
  EXPECT_EQ(events[0][kPod], "shop/api-2");

  dom = DumpDom(port(), "/?verdict=DENY");
  events = Rows(dom, "event");
  ASSERT_THAT(events, SizeIs(4)) << dom;
  EXPECT_THAT(Column(events, kVerdict), Each("DENY"));
  // The form shows the filter in force.
  EXPECT_THAT(dom, HasSubstr("<option selected=\"\">DENY</option>"));
}

// Issue 17: the signer column says which signature admitted each image, its names link to
// the events of that signer, and the signer filter (from the URL, as the form submits it)
// shows only that signer's events.
TEST_F(ControllerWebBrowserTest, SignerColumnAndFilter) {
  std::string dom = DumpDom(port(), "/");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;
  auto events = Rows(dom, "event");
  ASSERT_THAT(events, SizeIs(10)) << dom;
  // node-c: hostile DENY, api keyless, web sealed; node-b's BAD_SIGNATURE DENYs name none.
  EXPECT_EQ(events[0][kSigner], "");
  EXPECT_EQ(events[1][kSigner], StrCat(kSubject, " (", kIssuer, ") rekor #4000000002"));
  EXPECT_EQ(events[2][kSigner], "seal sha256:5ea15ea15ea1");
  EXPECT_EQ(events[4][kReason], "BAD_SIGNATURE");
  EXPECT_EQ(events[4][kSigner], "");
  EXPECT_THAT(events[4][kDetail], HasSubstr("does not verify"));
  EXPECT_THAT(dom, HasSubstr(StrCat("<a href=\"/?signer=", "sha256%3A5ea15ea15ea1", "5ea1")));
  EXPECT_THAT(dom, HasSubstr("<a href=\"/?signer=https%3A%2F%2Ftoken.actions.githubusercontent.com\">"));
  EXPECT_THAT(dom, HasSubstr(StrCat("title=\"key ", kCertKey, "; rekor log c0d23d6a")));

  // Filtered by the keyless subject, as a signer link or the form would.
  dom = DumpDom(port(), "/?signer=" + std::string("https%3A%2F%2Fgithub.com%2Fshop%2Fapi%2F.github"
                                                  "%2Fworkflows%2Frelease.yml%40refs%2Fheads%2Fmain"));
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;
  events = Rows(dom, "event");
  ASSERT_THAT(events, SizeIs(2)) << dom;
  EXPECT_THAT(Column(events, kNode), ElementsAre("node-c", "node-a"));
  EXPECT_THAT(Column(events, kImage), Each("registry.example/shop/api:2.0"));
  EXPECT_THAT(dom, HasSubstr(StrCat("<input name=\"signer\" id=\"f-signer\" placeholder=\"key id, "
                                    "issuer or subject\" value=\"", kSubject, "\">")));
  // By the seal key and ALLOW: the sealed web image on each node.
  dom = DumpDom(port(), StrCat("/?verdict=ALLOW&signer=", "sha256%3A", std::string(kSealKey).substr(7)));
  events = Rows(dom, "event");
  ASSERT_THAT(events, SizeIs(4)) << dom;
  EXPECT_THAT(Column(events, kImage), Each("registry.example/shop/web:1.4"));
  EXPECT_THAT(Column(events, kSigner), Each("seal sha256:5ea15ea15ea1"));
}

// Issue 14 item 10: the page with an until at the epoch shows no events (it showed all).
TEST_F(ControllerWebBrowserTest, UntilTheEpochShowsNoEvents) {
  std::string dom = DumpDom(port(), "/?until=1970-01-01T00:00:00Z");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;
  EXPECT_THAT(Rows(dom, "event"), SizeIs(0)) << dom;
  EXPECT_THAT(dom, HasSubstr("<p id=\"events-empty\" class=\"empty\">No events match.</p>"));
  EXPECT_THAT(dom, HasSubstr("value=\"1970-01-01T00:00:00Z\""));  // the form says so
}

TEST_F(ControllerWebBrowserTest, PagingShowsTheOlderButton) {
  std::string dom = DumpDom(port(), "/?node=node-b&page_size=3");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"ok\"")) << dom;
  EXPECT_THAT(Rows(dom, "event"), SizeIs(3)) << dom;
  EXPECT_THAT(dom, HasSubstr("<button id=\"older\" type=\"button\">Older</button>"));
  EXPECT_THAT(dom, HasSubstr("<input name=\"node\" id=\"f-node\" value=\"node-b\">"));
}

TEST_F(ControllerWebBrowserTest, BadFilterShowsTheServersError) {
  std::string dom = DumpDom(port(), "/?verdict=MAYBE");
  ASSERT_THAT(dom, HasSubstr("data-loaded=\"error\"")) << dom;
  EXPECT_THAT(dom, HasSubstr("parameter verdict: \"MAYBE\" is not ALLOW or DENY"));
  EXPECT_THAT(Rows(dom, "event"), SizeIs(0));
}

// Writes $LAYERSEAL_WEB_SCREENSHOT (docs/images/controller-web.png) when set, else a temp
// file; either way it must be a PNG.
TEST_F(ControllerWebBrowserTest, Screenshot) {
  testing::TempDir tmp;
  const char* env = std::getenv("LAYERSEAL_WEB_SCREENSHOT");
  std::string out = env != nullptr && *env != '\0' ? env : tmp.File("controller-web.png");
  testing::TempDir profile;
  std::vector<std::string> argv = ChromiumArgs(profile.path());
  argv.push_back("--hide-scrollbars");
  argv.push_back("--window-size=1280,1000");
  argv.push_back("--screenshot=" + out);
  argv.push_back("http://127.0.0.1:" + std::to_string(port()) + "/");
  absl::StatusOr<testing::RunResult> r = testing::Run(argv, "", absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  std::string png = testing::ReadFileOrDie(out);
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
}  // namespace layerseal
