// `layerseal events` (cli/events.cc) against the real layerseal-controller binary over
// mutual TLS: events reported through EventIngest with the nodes' certificates, then read
// with the CLI (a subprocess, its own client certificate): table and JSON lines, filters,
// --limit across pages, the summaries, --follow receiving an event reported after it
// started and ending cleanly on SIGTERM, and the errors for an unreachable controller, a
// wrong CA and bad flags.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/tls_certs.h"
#include "base/str_cat.h"

extern char** environ;

namespace layerseal {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using nlohmann::json;
using testing::CertKey;
using testing::ReadFileOrDie;
using testing::RunResult;
using testing::TlsCerts;

// How long a test waits for something that should happen (a port, an event on a stream,
// an exit) before it fails; never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(60);
constexpr int kBulkEvents = 1100;  // node-a: more than one page of 1000
constexpr char kDigestAllow[] =
    "sha256:aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888";
constexpr char kDigestDeny[] =
    "sha256:dddd1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888";

// node-s's signers (issue 17).
constexpr char kSealKey[] =
    "sha256:5ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea15ea1";
constexpr char kCertKey[] =
    "sha256:ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47ce47";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kSubject[] = "https://github.com/team/app/.github/workflows/release.yml@refs/heads/main";

std::string ControllerBinary() { return LAYERSEAL_CONTROLLER_BINARY; }
std::string CliBinary() { return LAYERSEAL_BINARY; }

v1::Event MakeEvent(const std::string& node, uint64_t seq, absl::Time at,
                    const std::string& verdict, const std::string& mode, const std::string& ns,
                    const std::string& pod, const std::string& image) {
  v1::Event e;
  e.set_node(node);
  e.set_seq(seq);
  e.set_time_unix_micros(absl::ToUnixMicros(at));
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image(image);
  e.set_pod_namespace(ns);
  e.set_pod_name(pod);
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference(image);
  v->set_digest(verdict == "ALLOW" ? kDigestAllow : kDigestDeny);
  v->set_verdict(verdict);
  v->set_reason(verdict == "ALLOW" ? "VERIFIED" : "BAD_SIGNATURE");
  v->set_detail("test event");
  v->set_mode(mode);
  e.set_admitted(verdict == "ALLOW" || mode != "enforce");
  e.set_agent_version("0.1.0-test");
  return e;
}

// JSON lines: each line parsed (a line that is not JSON fails the test).
std::vector<json> JsonLines(const std::string& out) {
  std::vector<json> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    json j = json::parse(std::string(line), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    lines.push_back(j);
  }
  return lines;
}

std::vector<std::string> Lines(const std::string& out) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    lines.emplace_back(line);
  }
  return lines;
}

// A child whose exit code matters (testing::Child only stops): stdout and stderr to `log`.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv, const std::string& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  // The exit code (-1: killed by a signal), or nullopt if it is still running at `deadline`.
  std::optional<int> WaitExit(absl::Time deadline) {
    while (pid_ > 0) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (absl::Now() > deadline) return std::nullopt;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------- fixture

// One controller process (SQLite) for the suite, filled once:
//   node-a: kBulkEvents ALLOW events, 2 h ago, namespace "bulk"
//   node-b: 3 events 30 min ago: DENY enforce shop/api-1, ALLOW shop/web-1, DENY warn staging/api-2
//   node-s: 3 events 20 min ago naming their signers (issue 17): ALLOW by a seal key,
//           ALLOW keyless (issuer + subject, Rekor entry), DENY UNTRUSTED_KEY by the seal key
//   node-c: nothing until the --follow test reports.
//   node-z: nothing until the hostile-text test reports (a compromised node).
class CliEventsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (ControllerBinary().empty()) return;  // SetUp skips
    dir_ = new testing::TempDir();
    auto certs = testing::MakeTlsCerts(dir_->path(), {"node-a", "node-b", "node-c", "node-z", "node-s"}, {"ops-alice"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new TlsCerts(*std::move(certs));
    grpc_port_ = testing::PickFreePort();
    int http_port = testing::PickFreePort();
    log_ = dir_->File("controller.log");
    auto child = testing::Child::Spawn(
        {ControllerBinary(), "--listen", StrCat("127.0.0.1:", grpc_port_), "--admin",
         StrCat("127.0.0.1:", http_port), "--web", "", "--tls-cert", certs_->server.cert, "--tls-key",
         certs_->server.key, "--client-ca", certs_->ca.cert, "--database",
         "sqlite:" + dir_->File("events.db"), "--log-level", "debug"},
        log_);
    ASSERT_TRUE(child.ok()) << child.status();
    controller_ = child->release();
    absl::Time deadline = absl::Now() + kPatience;
    while (!testing::WaitForPort(grpc_port_, absl::Milliseconds(100))) {
      ASSERT_TRUE(controller_->Running()) << "the controller exited:\n" << ReadFileOrDie(log_);
      ASSERT_LT(absl::Now(), deadline) << ReadFileOrDie(log_);
    }
    Seed();
  }
  static void TearDownTestSuite() {
    delete controller_;
    delete certs_;
    delete dir_;
    controller_ = nullptr;
    certs_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (ControllerBinary().empty()) GTEST_SKIP() << "layerseal-controller is not built";
    ASSERT_NE(controller_, nullptr) << "the suite's setup failed";
  }

  static std::string target() { return StrCat("127.0.0.1:", grpc_port_); }

  // Reports `events` as `node` (with the node's own certificate).
  static void Report(const std::string& node, const std::vector<v1::Event>& events,
                     const std::string& agent_version = "") {
    const CertKey& cert = certs_->client.at(node);
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFileOrDie(certs_->ca.cert);
    tls.pem_cert_chain = ReadFileOrDie(cert.cert);
    tls.pem_private_key = ReadFileOrDie(cert.key);
    auto stub = v1::EventIngest::NewStub(
        grpc::CreateChannel(target(), grpc::SslCredentials(tls)));
    v1::ReportEventsRequest request;
    request.set_node(node);
    for (const v1::Event& e : events) *request.add_events() = e;
    v1::AgentStatus* status = request.mutable_status();
    status->set_agent_version(!agent_version.empty() ? agent_version
                              : node == "node-b"    ? "0.2.0"
                                                    : "0.1.0");
    status->set_policy_version(
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    status->set_spool_backlog(node == "node-b" ? 17 : 0);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
    v1::ReportEventsResponse response;
    grpc::Status s = stub->ReportEvents(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << ReadFileOrDie(log_);
  }

  static void Seed() {
    absl::Time bulk_at = absl::Now() - absl::Hours(2);
    std::vector<v1::Event> bulk;
    for (int i = 1; i <= kBulkEvents; ++i) {
      bulk.push_back(MakeEvent("node-a", i, bulk_at + absl::Milliseconds(i), "ALLOW", "enforce",
                               "bulk", StrCat("pod-", i), "registry.example/bulk:1"));
      if (bulk.size() == 500 || i == kBulkEvents) {
        Report("node-a", bulk);
        bulk.clear();
      }
    }
    absl::Time b_at = absl::Now() - absl::Minutes(30);
    Report("node-b", {MakeEvent("node-b", 1, b_at, "DENY", "enforce", "shop", "api-1",
                                "registry.example/shop/api:2.0"),
                      MakeEvent("node-b", 2, b_at + absl::Seconds(1), "ALLOW", "enforce", "shop",
                                "web-1", "registry.example/shop/web:1.4"),
                      MakeEvent("node-b", 3, b_at + absl::Seconds(2), "DENY", "warn", "staging",
                                "api-2", "registry.example/shop/api:2.0")});
    absl::Time s_at = absl::Now() - absl::Minutes(20);
    v1::Event seal = MakeEvent("node-s", 1, s_at, "ALLOW", "enforce", "signed", "sealed-1",
                               "registry.example/signed/sealed:1");
    seal.mutable_verdict()->set_key_id(kSealKey);
    seal.mutable_verdict()->set_signer_kind("seal");
    v1::Event keyless = MakeEvent("node-s", 2, s_at + absl::Seconds(1), "ALLOW", "enforce",
                                  "signed", "keyless-1", "registry.example/signed/keyless:1");
    v1::Verdict* k = keyless.mutable_verdict();
    k->set_key_id(kCertKey);
    k->set_signer_kind("cosign-keyless");
    k->set_signer_issuer(kIssuer);
    k->set_signer_subject(kSubject);
    k->set_rekor_log_index(123456789);
    k->set_rekor_log_id("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
    v1::Event untrusted = MakeEvent("node-s", 3, s_at + absl::Seconds(2), "DENY", "enforce",
                                    "signed", "sealed-2", "registry.example/signed/sealed:2");
    untrusted.mutable_verdict()->set_reason("UNTRUSTED_KEY");
    untrusted.mutable_verdict()->set_key_id(kSealKey);  // found, not trusted: no signer_kind
    Report("node-s", {seal, keyless, untrusted});
  }

  // `layerseal events <args>` with this suite's controller and client certificate.
  static RunResult Cli(std::vector<std::string> args, bool with_connection = true) {
    std::vector<std::string> argv = {CliBinary(), "events"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (with_connection) {
      const CertKey& me = certs_->client.at("ops-alice");
      for (const std::string& a : {std::string("--controller"), target(), std::string("--ca"),
                                   certs_->ca.cert, std::string("--cert"), me.cert,
                                   std::string("--key"), me.key}) {
        argv.push_back(a);
      }
    }
    absl::StatusOr<RunResult> r = testing::Run(argv, "", kPatience);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }

  static testing::TempDir* dir_;
  static TlsCerts* certs_;
  static testing::Child* controller_;
  static int grpc_port_;
  static std::string log_;
};

testing::TempDir* CliEventsTest::dir_ = nullptr;
TlsCerts* CliEventsTest::certs_ = nullptr;
testing::Child* CliEventsTest::controller_ = nullptr;
int CliEventsTest::grpc_port_ = 0;
std::string CliEventsTest::log_;

// ---------------------------------------------------------------- output

TEST_F(CliEventsTest, TableShowsTheEventsNewestFirst) {
  RunResult r = Cli({"--node", "node-b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_THAT(lines, SizeIs(4)) << r.out;
  EXPECT_THAT(lines[0], AllOf(StartsWith("TIME"), HasSubstr("NODE"), HasSubstr("POD"),
                              HasSubstr("IMAGE"), HasSubstr("DIGEST"), HasSubstr("VERDICT"),
                              HasSubstr("REASON"), HasSubstr("MODE")));
  EXPECT_THAT(lines[1], AllOf(HasSubstr("node-b"), HasSubstr("staging/api-2"), HasSubstr("DENY"),
                              HasSubstr("warn"), HasSubstr("sha256:dddd1111bbbb ")));
  EXPECT_THAT(lines[2], AllOf(HasSubstr("shop/web-1"), HasSubstr("ALLOW"), HasSubstr("VERIFIED")));
  EXPECT_THAT(lines[3], AllOf(HasSubstr("shop/api-1"), HasSubstr("BAD_SIGNATURE"),
                              HasSubstr("registry.example/shop/api:2.0")));
  // Columns line up: every row has the verdict where the header has VERDICT.
  size_t col = lines[0].find("VERDICT");
  EXPECT_EQ(lines[1].substr(col, 4), "DENY");
  EXPECT_EQ(lines[2].substr(col, 5), "ALLOW");
}

TEST_F(CliEventsTest, JsonIsOneEventPerLine) {
  RunResult r = Cli({"--node", "node-b", "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> events = JsonLines(r.out);
  ASSERT_THAT(events, SizeIs(3)) << r.out;
  EXPECT_EQ(events[0]["seq"], "3");
  EXPECT_EQ(events[0]["podNamespace"], "staging");
  EXPECT_EQ(events[0]["verdict"]["mode"], "warn");
  EXPECT_EQ(events[2]["verdict"]["digest"], kDigestDeny);
  for (const json& e : events) {
    EXPECT_EQ(e["node"], "node-b");
    EXPECT_GT(std::stoll(e["receivedUnixMicros"].get<std::string>()), 0);
  }
}

TEST_F(CliEventsTest, FiltersNarrowTheEvents) {
  auto count = [](std::vector<std::string> args) {
    args.push_back("--output");
    args.push_back("json");
    RunResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return JsonLines(r.out);
  };
  std::vector<json> denied = count({"--verdict", "deny", "--node", "node-b"});  // any case
  ASSERT_THAT(denied, SizeIs(2));
  for (const json& e : denied) EXPECT_EQ(e["verdict"]["verdict"], "DENY");
  EXPECT_THAT(count({"--node", "node-b", "--mode", "warn"}), SizeIs(1));
  EXPECT_THAT(count({"--namespace", "shop", "--pod", "web-1"}), SizeIs(1));
  EXPECT_THAT(count({"--image", "registry.example/shop/api:2.0", "--reason", "BAD_SIGNATURE"}),
              SizeIs(2));
  EXPECT_THAT(count({"--digest", kDigestDeny, "--namespace", "staging"}), SizeIs(1));
  // node-a's events are 2 h old, node-b's 30 min.
  std::vector<json> recent = count({"--since", "1h", "--node", "node-b"});
  EXPECT_THAT(recent, SizeIs(3));
  EXPECT_THAT(count({"--since", "1h", "--node", "node-a"}), SizeIs(0));
  std::string hour_ago = absl::FormatTime(absl::RFC3339_full, absl::Now() - absl::Hours(1),
                                          absl::UTCTimeZone());
  std::vector<json> old = count({"--until", hour_ago, "--limit", "5"});
  ASSERT_THAT(old, SizeIs(5));
  for (const json& e : old) EXPECT_EQ(e["node"], "node-a");
}

// Issue 17: --signer matches the key id, the keyless issuer or the keyless subject, exactly,
// whatever the verdict; the table says which signature admitted each image.
TEST_F(CliEventsTest, SignerFilterMatchesKeyIdIssuerOrSubject) {
  auto events = [](std::vector<std::string> args) {
    args.insert(args.end(), {"--output", "json"});
    RunResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return JsonLines(r.out);
  };
  std::vector<json> by_key = events({"--signer", kSealKey});
  ASSERT_THAT(by_key, SizeIs(2));  // newest first: the DENY that found the key, the ALLOW
  EXPECT_EQ(by_key[0]["verdict"]["reason"], "UNTRUSTED_KEY");
  EXPECT_EQ(by_key[1]["verdict"]["signerKind"], "seal");
  std::vector<json> admitted = events({"--signer", kSealKey, "--verdict", "ALLOW"});
  ASSERT_THAT(admitted, SizeIs(1));
  EXPECT_EQ(admitted[0]["podName"], "sealed-1");
  for (const char* who : {kIssuer, kSubject, kCertKey}) {
    std::vector<json> keyless = events({"--signer", who});
    ASSERT_THAT(keyless, SizeIs(1)) << who;
    const json& v = keyless[0]["verdict"];
    EXPECT_EQ(v["signerKind"], "cosign-keyless");
    EXPECT_EQ(v["signerIssuer"], kIssuer);
    EXPECT_EQ(v["signerSubject"], kSubject);
    EXPECT_EQ(v["rekorLogIndex"], "123456789");  // proto3 JSON: int64 as a string
  }
  // Exact, not a prefix or a substring.
  EXPECT_THAT(events({"--signer", "https://token.actions.githubusercontent"}), SizeIs(0));
  EXPECT_THAT(events({"--signer", "sha256:5ea1"}), SizeIs(0));
  EXPECT_THAT(events({"--signer", kSubject, "--node", "node-b"}), SizeIs(0));

  RunResult table = Cli({"--node", "node-s"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> lines = Lines(table.out);
  ASSERT_THAT(lines, SizeIs(4)) << table.out;
  EXPECT_THAT(lines[0], HasSubstr("SIGNER"));
  EXPECT_THAT(lines[2], HasSubstr(StrCat(kSubject, " (", kIssuer, ") rekor#123456789")));
  EXPECT_THAT(lines[3], HasSubstr("seal sha256:5ea15ea15ea1"));
}

TEST_F(CliEventsTest, LimitFollowsPageTokens) {
  RunResult r = Cli({"--node", "node-a", "--output", "json", "--limit", "1050"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> events = JsonLines(r.out);
  ASSERT_THAT(events, SizeIs(1050));  // two pages (1000 is the controller's largest)
  std::set<std::string> seqs;
  for (const json& e : events) seqs.insert(e["seq"].get<std::string>());
  EXPECT_THAT(seqs, SizeIs(1050));  // no event twice
  EXPECT_EQ(events.front()["seq"], StrCat(kBulkEvents));
  EXPECT_EQ(events.back()["seq"], StrCat(kBulkEvents - 1049));

  r = Cli({"--node", "node-a", "--output", "json", "--limit", "5000"});
  EXPECT_THAT(JsonLines(r.out), SizeIs(kBulkEvents));  // all there is, then no token
  r = Cli({"--node", "node-a", "--output", "json"});
  EXPECT_THAT(JsonLines(r.out), SizeIs(100));  // the default limit
}

TEST_F(CliEventsTest, NodesAndImagesSummaries) {
  RunResult nodes = Cli({"nodes"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  std::vector<std::string> lines = Lines(nodes.out);
  ASSERT_GE(lines.size(), 3u) << nodes.out;
  EXPECT_THAT(lines[0], AllOf(StartsWith("NODE"), HasSubstr("AGENT"), HasSubstr("BACKLOG")));
  EXPECT_THAT(lines[1], AllOf(StartsWith("node-a"), HasSubstr("0.1.0"), HasSubstr("1100")));
  EXPECT_THAT(lines[2], AllOf(StartsWith("node-b"), HasSubstr("0.2.0"), HasSubstr(" 17 "),
                              HasSubstr("sha256:0123456789ab ")));

  RunResult images = Cli({"images", "--output", "json"});
  ASSERT_EQ(images.exit_code, 0) << images.err;
  bool found = false;
  for (const json& im : JsonLines(images.out)) {
    if (im["image"] != "registry.example/shop/api:2.0") continue;
    found = true;
    EXPECT_EQ(im["denied"], "2");
    EXPECT_EQ(im["nodes"], json({"node-b"}));
  }
  EXPECT_TRUE(found) << images.out;
  EXPECT_THAT(JsonLines(Cli({"images", "--output", "json", "--limit", "1"}).out), SizeIs(1));
}

TEST_F(CliEventsTest, ConnectionFromTheEnvironment) {
  const CertKey& me = certs_->client.at("ops-alice");
  setenv("LAYERSEAL_CONTROLLER", target().c_str(), 1);
  setenv("LAYERSEAL_CONTROLLER_CA", certs_->ca.cert.c_str(), 1);
  setenv("LAYERSEAL_CONTROLLER_CERT", me.cert.c_str(), 1);
  setenv("LAYERSEAL_CONTROLLER_KEY", me.key.c_str(), 1);
  RunResult r = Cli({"--node", "node-b", "--output", "json"}, false);
  for (const char* v : {"LAYERSEAL_CONTROLLER", "LAYERSEAL_CONTROLLER_CA",
                        "LAYERSEAL_CONTROLLER_CERT", "LAYERSEAL_CONTROLLER_KEY"}) {
    unsetenv(v);
  }
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(JsonLines(r.out), SizeIs(3));
}

// Issue 14 item 10: a bound at the epoch is a bound (every event is after it), not "none".
TEST_F(CliEventsTest, UntilTheEpochMatchesNothing) {
  RunResult r = Cli({"--until", "1970-01-01T00:00:00Z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(Lines(r.out), SizeIs(1)) << "only the header:\n" << r.out;
  RunResult json_out = Cli({"--until", "1970-01-01T00:00:00Z", "--output", "json"});
  ASSERT_EQ(json_out.exit_code, 0) << json_out.err;
  EXPECT_EQ(json_out.out, "");
  // --since at the epoch is a bound too, and matches everything.
  RunResult since = Cli({"--since", "1970-01-01T00:00:00Z", "--node", "node-b", "--limit", "3",
                         "--output", "json"});
  ASSERT_EQ(since.exit_code, 0) << since.err;
  EXPECT_THAT(JsonLines(since.out), SizeIs(3));
}

// Issue 14 item 9: what a compromised node reports cannot drive the operator's terminal.
// C1 controls (U+009B is CSI), bidi overrides and isolates, and C0 escapes in event fields
// and in the agent version are shown as visible escapes, in the table and the summaries.
TEST_F(CliEventsTest, TextFromNodesIsEscapedForTheTerminal) {
  const std::string hostile =
      "x\xc2\x9b" "2J\xe2\x80\xae" "exe.gpj\xe2\x81\xa6\xe2\x80\x8f\x1b]0;t\x07\tz";
  v1::Event e = MakeEvent("node-z", 1, absl::Now(), "DENY", "enforce", "ns" + hostile,
                          "pod" + hostile, "registry.example/img" + hostile);
  e.mutable_verdict()->set_reason("BAD" + hostile);
  e.mutable_verdict()->set_signer_kind("cosign-keyless");  // issue 17's SIGNER column too
  e.mutable_verdict()->set_signer_subject("who" + hostile);
  Report("node-z", {e}, "1.0" + hostile);
  const std::string shown = "x\\u009b2J\\u202eexe.gpj\\u2066\\u200f\\x1b]0;t\\x07\\x09z";
  auto raw_bytes = [](const std::string& out) {
    for (const char* bad : {"\xc2\x9b", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x80\x8f", "\x1b",
                            "\x07", "\t"}) {
      if (out.find(bad) != std::string::npos) return true;
    }
    return false;
  };
  RunResult table = Cli({"--node", "node-z"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_FALSE(raw_bytes(table.out)) << ::testing::PrintToString(table.out);
  EXPECT_THAT(table.out, AllOf(HasSubstr("ns" + shown + "/pod" + shown),
                               HasSubstr("registry.example/img" + shown), HasSubstr("BAD" + shown),
                               HasSubstr("who" + shown)));
  RunResult nodes = Cli({"nodes"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_FALSE(raw_bytes(nodes.out)) << ::testing::PrintToString(nodes.out);
  EXPECT_THAT(nodes.out, HasSubstr("1.0" + shown));
  RunResult images = Cli({"images", "--limit", "1000"});
  ASSERT_EQ(images.exit_code, 0) << images.err;
  EXPECT_FALSE(raw_bytes(images.out)) << ::testing::PrintToString(images.out);
  EXPECT_THAT(images.out, HasSubstr("registry.example/img" + shown));
  // JSON lines carry the text intact, every such character as a JSON escape (protobuf's
  // printer leaves the isolates raw; the CLI escapes them too).
  RunResult as_json = Cli({"--node", "node-z", "--output", "json"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_FALSE(raw_bytes(as_json.out)) << ::testing::PrintToString(as_json.out);
  std::vector<json> events = JsonLines(as_json.out);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0]["podName"], "pod" + hostile);
}

// ---------------------------------------------------------------- --follow

TEST_F(CliEventsTest, FollowPrintsEventsReportedAfterItStartedAndEndsOnSigterm) {
  const CertKey& me = certs_->client.at("ops-alice");
  std::string out = dir_->File("follow.out");
  Process follow({CliBinary(), "events", "--follow", "--output", "json", "--node", "node-c",
                  "--controller", target(), "--ca", certs_->ca.cert, "--cert", me.cert, "--key",
                  me.key},
                 out);
  ASSERT_TRUE(follow.started());
  // The stream starts at the newest stored event; until it is open an event is not
  // followed, so report one a moment until the follower prints one.
  absl::Time deadline = absl::Now() + kPatience;
  uint64_t seq = 0;
  std::vector<json> seen;
  while (seen.empty()) {
    ASSERT_LT(absl::Now(), deadline) << ReadFileOrDie(out);
    ++seq;
    Report("node-c", {MakeEvent("node-c", seq, absl::Now(), "DENY", "enforce", "ops",
                                StrCat("follow-", seq), "registry.example/follow:1")});
    Report("node-b", {MakeEvent("node-b", 100 + seq, absl::Now(), "ALLOW", "enforce", "ops",
                                "not-followed", "registry.example/other:1")});
    absl::SleepFor(absl::Milliseconds(200));
    seen = JsonLines(ReadFileOrDie(out));
  }
  EXPECT_EQ(seen[0]["node"], "node-c");  // the filter holds on the stream
  EXPECT_EQ(seen[0]["verdict"]["verdict"], "DENY");
  EXPECT_THAT(seen[0]["podName"].get<std::string>(), StartsWith("follow-"));

  follow.Signal(SIGTERM);
  std::optional<int> code = follow.WaitExit(absl::Now() + kPatience);
  ASSERT_TRUE(code.has_value()) << "--follow did not end on SIGTERM";
  EXPECT_EQ(*code, 0) << ReadFileOrDie(out);
  for (const json& e : JsonLines(ReadFileOrDie(out))) EXPECT_EQ(e["node"], "node-c");
}

// ---------------------------------------------------------------- errors

TEST_F(CliEventsTest, UnreachableControllerIsNamed) {
  std::string nowhere = StrCat("127.0.0.1:", testing::PickFreePort());
  RunResult r = Cli({"--controller", nowhere, "--insecure"}, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the controller at " + nowhere));

  const CertKey& me = certs_->client.at("ops-alice");
  r = Cli({"--follow", "--controller", nowhere, "--ca", certs_->ca.cert, "--cert", me.cert,
           "--key", me.key},
          false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the controller at " + nowhere));
}

TEST_F(CliEventsTest, TlsFailureSaysSo) {
  // The controller's certificate is not from this CA.
  const CertKey& me = certs_->client.at("ops-alice");
  RunResult r = Cli({"--controller", target(), "--ca", certs_->other_ca.cert, "--cert", me.cert,
                     "--key", me.key},
                    false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("TLS handshake with the controller at " + target() + " failed"));
  // A client certificate from another CA: the controller refuses it.
  r = Cli({"--controller", target(), "--ca", certs_->ca.cert, "--cert",
           certs_->other_client.cert, "--key", certs_->other_client.key},
          false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("controller at " + target()), HasSubstr("client certificate")));
  EXPECT_THAT(r.out, Not(HasSubstr("node-b")));
}

TEST_F(CliEventsTest, BadFlagsAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--verdict", "MAYBE"}, "--verdict is ALLOW or DENY"},
           {{"--mode", "strict"}, "--mode is enforce, warn or audit"},
           {{"--output", "yaml"}, "--output is table or json"},
           {{"--since", "yesterday"}, "--since \"yesterday\" is neither RFC 3339"},
           {{"--since", "1h", "--until", "2h"}, "--until is not after --since"},
           {{"--limit", "0"}, "--limit \"0\""},
           {{"--colour", "red"}, "colour"},
           {{"nodes", "--node", "a"}, "--node is for events"},
           {{"images", "--follow"}, "--follow is for events"},
           {{"images", "--signer", kSealKey}, "--signer is for events"},
           {{"everything"}, "takes no arguments"},
       }) {
    RunResult r = Cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0];
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args[0];
  }
  RunResult missing = Cli({}, false);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--controller HOST:PORT is required"));
  RunResult no_key = Cli({"--controller", target(), "--ca", certs_->ca.cert}, false);
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_THAT(no_key.err, HasSubstr("mutual TLS needs --ca, --cert and --key"));
  RunResult help = Cli({"--help"}, false);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, AllOf(HasSubstr("--follow"), HasSubstr("--limit"), HasSubstr("--since"),
                              HasSubstr("--signer"), HasSubstr("LAYERSEAL_CONTROLLER")));
}

}  // namespace
}  // namespace layerseal
