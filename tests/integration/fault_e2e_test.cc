// Faults under the node agent (issue 7), end to end: a real containerd (CRI plugin, temp
// root), a real docker-registry, the real `layerseal-agent` binary. Each fault must fail
// closed, crash nothing, admit no unverified image, lose no event, and heal when it ends.
//   - containerd SIGKILLed while the agent forwards an allowed pull;
//   - the registry SIGKILLed while the agent verifies (between manifest and blob fetches);
//   - the wall clock stepped back and forward a year under the agent (libfaketime, wall
//     time only), while pulls go on.
// The other faults are tested elsewhere: controller unreachable and spool disk full in
// delivery_e2e_test, containerd stopped and restarted in agent_e2e_test, policy files in
// policy_fault_test; clock jumps also in verdict_cache_test (ClockJumpTest), on a fake clock.
//
// To kill at a known point the registry is reached through a relay in this process
// (HoldingRelay) that can hold a request or a response still; the fault is injected while
// it holds, then the relay lets go. No timing decides the outcome.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "registry/client.h"
#include "tests/support/agent_process.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/crypto.h"
#include "verifier/reference.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

namespace cri = ::runtime::v1;
using nlohmann::json;
using testing::TestImage;

// Size of the random base layer of the image whose pull is interrupted: several relay
// buffers, so that containerd is surely mid-download when the relay holds it.
constexpr size_t kBigLayerBytes = 6 << 20;
// A connection that has carried this much toward the client is containerd fetching the big
// layer (the agent reads manifests, the config and the seal layer, all far smaller).
constexpr size_t kHoldResponsesBeyond = 1 << 20;
constexpr size_t kRelayBuffer = 64 << 10;
constexpr absl::Duration kFaultWait = absl::Seconds(60);

// A TCP relay from 127.0.0.1:<port()> to 127.0.0.1:<upstream_port>, two threads a
// connection. Armed, it holds a connection still (before forwarding) when a request chunk
// contains a pattern, or once a response has passed a byte count; Release lets go.
// Thread-safety: all methods may be called from any thread.
class HoldingRelay {
 public:
  explicit HoldingRelay(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "relay: cannot listen: " << strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~HoldingRelay() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::string host() const { return StrCat("127.0.0.1:", port_); }

  void HoldRequestsContaining(std::string pattern) {
    std::lock_guard<std::mutex> lock(mu_);
    request_pattern_ = std::move(pattern);
    holding_ = false;
  }
  void HoldResponsesBeyond(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    response_limit_ = bytes;
    holding_ = false;
  }
  // True once some connection is held.
  bool WaitUntilHolding(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return holding_; });
  }
  // Disarms and lets every held connection go on.
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      request_pattern_.clear();
      response_limit_ = 0;
    }
    cv_.notify_all();
  }

 private:
  void Accept() {
    for (;;) {
      pollfd p{listen_fd_, POLLIN, 0};
      int ready = poll(&p, 1, 100);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      if (ready <= 0) continue;
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      int server = ConnectUpstream();
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(client);
      if (server < 0) {  // upstream down: the client sees the connection closed
        shutdown(client, SHUT_RDWR);
        continue;
      }
      fds_.push_back(server);
      pumps_.emplace_back([this, client, server] { Pump(client, server, true); });
      pumps_.emplace_back([this, client, server] { Pump(server, client, false); });
    }
  }

  int ConnectUpstream() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Copies `from` to `to` until either side ends, then ends both (HTTP clients here never
  // half-close).
  void Pump(int from, int to, bool toward_server) {
    std::vector<char> buf(kRelayBuffer);
    size_t total = 0;
    for (;;) {
      ssize_t n = recv(from, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      if (toward_server) MaybeHold([&] {
        return !request_pattern_.empty() &&
               std::string_view(buf.data(), n).find(request_pattern_) != std::string_view::npos;
      });
      if (!SendAll(to, buf.data(), static_cast<size_t>(n))) break;
      total += static_cast<size_t>(n);
      if (!toward_server) MaybeHold([&] { return response_limit_ > 0 && total > response_limit_; });
    }
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }

  template <typename Pred>
  void MaybeHold(Pred armed) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!armed()) return;
    holding_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return stopping_ || !armed(); });
  }

  static bool SendAll(int fd, const char* data, size_t size) {
    while (size > 0) {
      ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool holding_ = false;
  std::string request_pattern_;
  size_t response_limit_ = 0;
  std::vector<int> fds_;
  std::vector<std::thread> pumps_;
};

// The pid of this process's child whose command line contains `needle` (0: none). Only our
// own children: this never signals anything the test did not start.
pid_t ChildWithArg(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(stat.c_str() + close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid != getpid() || state == 'Z') continue;
    std::ifstream cmd_file(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd_file)), {});
    if (cmdline.find(needle) != std::string::npos) return static_cast<pid_t>(std::stoi(name));
  }
  return 0;
}

// SIGKILLs our child whose command line contains `needle`; false when there is none.
bool KillChild(const std::string& needle) {
  pid_t pid = ChildWithArg(needle);
  if (pid == 0) return false;
  return kill(pid, SIGKILL) == 0;
}

using testing::CriClient;

std::string RandomBytes(size_t n) {
  std::mt19937_64 random(42);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

class FaultE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::RegistryServer>> registry =
        testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    relay_ = new HoldingRelay(registry_->port());
    absl::StatusOr<std::unique_ptr<testing::ContainerdServer>> containerd =
        testing::ContainerdServer::Start({.cri = true, .plain_http_registries = {relay_->host()}});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = containerd->release();
    key_ = new PrivateKey(*PrivateKey::Generate(Algorithm::kEcdsaP256Sha256));
  }
  static void TearDownTestSuite() {
    delete containerd_;
    containerd_ = nullptr;
    delete relay_;
    relay_ = nullptr;
    delete registry_again_;  // before registry_, whose directory it serves
    registry_again_ = nullptr;
    delete registry_;
    registry_ = nullptr;
    delete key_;
    key_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(containerd_, nullptr);
    testing::WriteFileOrDie(dir_.File("ci.pub"), key_->public_key().ToPem());
    testing::WriteFileOrDie(dir_.File("policy.yaml"),
                            StrCat("version: 1\n"
                                   "keys:\n  ci: {path: ", dir_.File("ci.pub"), "}\n"
                                   "default: {requirement: reject}\n"
                                   "scopes:\n"
                                   "    \"", relay_->host(), "\": {requirement: signed, keys: [ci]}\n"));
    std::filesystem::create_directories(dir_.File("namespaces"));
  }

  // Starts the agent binary with `env` ("NAME=value", e.g. LD_PRELOAD) added to its
  // environment.
  void StartAgent(const std::vector<std::string>& env = {}) {
    // Short negative TTLs: a fault's verdict must not outlive the fault by long.
    std::vector<std::string> args = {
         "--listen", dir_.File("agent.sock"), "--runtime-endpoint",
         containerd_->socket(), "--policy", dir_.File("policy.yaml"), "--namespace-policy-dir",
         dir_.File("namespaces"), "--state-dir", dir_.File("state"), "--node-name", "node-fault",
         "--admin", StrCat("127.0.0.1:", admin_port_), "--plain-http-registry", relay_->host(),
         "--cache-deny-ttl", "1s", "--cache-error-ttl", "1s", "--cache-resolve-ttl", "1s",
         "--registry-timeout", "10s"};
    absl::StatusOr<std::unique_ptr<testing::AgentProcess>> agent =
        testing::AgentProcess::Start(args, env, admin_port_, dir_.File("agent.log"));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    client_ = std::make_unique<CriClient>(dir_.File("agent.sock"));
  }

  void TearDown() override {
    relay_->Release();
    client_.reset();
    if (agent_ == nullptr) return;  // skipped before it started
    EXPECT_TRUE(agent_->Running()) << "the agent died\n" << AgentLog();
    agent_->Stop();
    // Under the sanitizer build the agent is instrumented too: a report fails the test.
    EXPECT_EQ(AgentLog().find("Sanitizer"), std::string::npos) << AgentLog();
    EXPECT_EQ(AgentLog().find("runtime error:"), std::string::npos) << AgentLog();
  }

  std::string AgentLog() { return testing::ReadFileOrDie(dir_.File("agent.log")); }

  std::vector<json> Events() {
    std::vector<json> out;
    std::ifstream in(dir_.File("state/events.jsonl"));
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }

  static int YearOf(const json& e) { return std::stoi(e["time"].get<std::string>().substr(0, 4)); }
  // Pulls images that do not exist (each a fresh denial, so a fresh event) until the agent
  // stamps its events in `year`; false after 50 tries.
  bool AwaitEventYear(int year) {
    for (int i = 0; i < 50; ++i) {
      (void)client_->Pull(Ref(StrCat("clock/probe-", year, "-", i, ":1")));
      std::vector<json> events = Events();
      if (!events.empty() && YearOf(events.back()) == year) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  // `repo_tag` as the agent and containerd name it (through the relay).
  static std::string Ref(const std::string& repo_tag) { return StrCat(relay_->host(), "/", repo_tag); }

  static Digest Push(const std::string& repo_tag, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    Reference ref = *Reference::Parse(StrCat(registry_->host(), "/", repo_tag));
    absl::Status pushed = testing::PushTestImage(client, ref, image);
    EXPECT_TRUE(pushed.ok()) << pushed;
    return image.digest;
  }

  // The names containerd itself holds for images of `repo` (not through the agent).
  static std::vector<std::string> ContainerdImages(const std::string& repo) {
    absl::StatusOr<testing::RunResult> ls = containerd_->CtrIn("k8s.io", {"images", "ls", "-q"});
    EXPECT_TRUE(ls.ok() && ls->exit_code == 0) << (ls.ok() ? ls->err : ls.status().ToString());
    std::vector<std::string> names;
    if (!ls.ok()) return names;
    std::istringstream in(ls->out);
    std::string line;
    std::string prefix = Ref(repo);
    while (std::getline(in, line)) {
      if (line.rfind(prefix + ":", 0) == 0 || line.rfind(prefix + "@", 0) == 0) names.push_back(line);
    }
    return names;
  }

  // Pulls `image` through the agent until it succeeds (the agent's runtime connection
  // reconnects with gRPC's backoff after a runtime restart) or `attempts` run out.
  grpc::Status PullEventually(const std::string& image, std::string* image_ref, int attempts = 60) {
    grpc::Status s;
    for (int i = 0; i < attempts; ++i) {
      s = client_->Pull(image, image_ref);
      if (s.ok()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return s;
  }

  // Kills the registry (SIGKILL); RestartRegistry starts it once more on the same config:
  // same port, same storage.
  static void KillRegistry() {
    std::string config = StrCat(registry_->dir(), "/config.yml");
    ASSERT_TRUE(KillChild(config)) << "no docker-registry child serving " << config;
  }
  static void RestartRegistry() {
    absl::StatusOr<std::unique_ptr<testing::Child>> child = testing::Child::Spawn(
        {"/usr/bin/env", "-i", StrCat("HOME=", registry_->dir()), "/usr/bin/docker-registry",
         "serve", StrCat(registry_->dir(), "/config.yml")},
        StrCat(registry_->dir(), "/registry-again.log"));
    ASSERT_TRUE(child.ok()) << child.status();
    delete registry_again_;
    registry_again_ = child->release();
    ASSERT_TRUE(testing::WaitForPort(registry_->port(), absl::Seconds(30)));
  }

  static testing::RegistryServer* registry_;
  static testing::Child* registry_again_;  // the registry after a restart
  static HoldingRelay* relay_;
  static testing::ContainerdServer* containerd_;
  static PrivateKey* key_;
  testing::TempDir dir_;
  int admin_port_ = testing::PickFreePort();
  std::unique_ptr<testing::AgentProcess> agent_;
  std::unique_ptr<CriClient> client_;
};

testing::RegistryServer* FaultE2eTest::registry_ = nullptr;
testing::Child* FaultE2eTest::registry_again_ = nullptr;
HoldingRelay* FaultE2eTest::relay_ = nullptr;
testing::ContainerdServer* FaultE2eTest::containerd_ = nullptr;
PrivateKey* FaultE2eTest::key_ = nullptr;

TEST_F(FaultE2eTest, ContainerdKilledDuringAnAllowedPull) {
  TestImage big = testing::SealTestImage(
      testing::MakeBaseImage({.seed = "fault-big", .payload = RandomBytes(kBigLayerBytes),
                              .payload_path = "data/random.bin"}),
      *key_);
  Digest verified = Push("kill/containerd:1", big);
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  std::string pinned = StrCat(Ref("kill/containerd"), "@", verified.str());

  relay_->HoldResponsesBeyond(kHoldResponsesBeyond);
  grpc::Status interrupted;
  std::thread kubelet([&] { interrupted = client_->Pull(Ref("kill/containerd:1")); });
  // containerd is mid-way through the big layer: kill it there.
  bool held = relay_->WaitUntilHolding(kFaultWait);
  EXPECT_TRUE(held) << "containerd never fetched the layer\n" << AgentLog();
  if (held) {
    EXPECT_TRUE(KillChild(StrCat(containerd_->dir(), "/config.toml")));
  }
  relay_->Release();
  kubelet.join();
  ASSERT_TRUE(held);

  // A clean error from the runtime's side, not a verdict and not a hang.
  RecordProperty("interrupted_pull", interrupted.error_message());
  EXPECT_FALSE(interrupted.ok());
  EXPECT_EQ(interrupted.error_code(), grpc::StatusCode::UNAVAILABLE) << interrupted.error_message();
  EXPECT_EQ(interrupted.error_message().find("layerseal denied"), std::string::npos)
      << interrupted.error_message();
  EXPECT_TRUE(agent_->Running()) << AgentLog();

  // While containerd is down the tag moves to an unsigned image.
  Digest unsigned_digest = Push("kill/containerd:1", testing::MakeBaseImage({.seed = "fault-moved"}));
  ASSERT_TRUE(containerd_->Restart().ok());

  // Nothing the agent did not verify is there: at most the verified digest, never the tag.
  for (const std::string& name : ContainerdImages("kill/containerd")) {
    EXPECT_EQ(name, pinned) << "containerd holds an image the agent did not verify";
  }
  // The moved tag is refused (fail closed), the verified digest is pulled.
  std::string image_ref;
  grpc::Status again = PullEventually(pinned, &image_ref);
  ASSERT_TRUE(again.ok()) << again.error_message() << AgentLog();
  EXPECT_FALSE(image_ref.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the 1s resolve TTL
  grpc::Status moved = client_->Pull(Ref("kill/containerd:1"));
  EXPECT_FALSE(moved.ok());
  EXPECT_NE(moved.error_message().find("NOT_SIGNED"), std::string::npos) << moved.error_message();
  std::vector<std::string> names = ContainerdImages("kill/containerd");
  EXPECT_EQ(names, std::vector<std::string>{pinned});

  // The interrupted pull's verdict was recorded, and the later ones.
  std::vector<json> events = Events();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0]["verdict"], "ALLOW");
  EXPECT_EQ(events[0]["reason"], "VERIFIED");
  EXPECT_EQ(events[0]["digest"], verified.str());
  EXPECT_EQ(events[0]["image"], Ref("kill/containerd:1"));
  EXPECT_EQ(events.back()["verdict"], "DENY");
  EXPECT_EQ(events.back()["digest"], unsigned_digest.str());
}

TEST_F(FaultE2eTest, RegistryKilledDuringVerification) {
  Digest digest = Push("kill/registry:1", testing::SealTestImage(
                                              testing::MakeBaseImage({.seed = "fault-registry"}), *key_));
  ASSERT_NO_FATAL_FAILURE(StartAgent());
  // The manifest is read; the first blob request (config or seal layer) is held, the
  // registry killed, and the request let go toward a registry that is gone.
  relay_->HoldRequestsContaining("GET /v2/kill/registry/blobs/");
  grpc::Status denied;
  std::thread kubelet([&] { denied = client_->Pull(Ref("kill/registry:1")); });
  bool held = relay_->WaitUntilHolding(kFaultWait);
  EXPECT_TRUE(held) << "the agent never asked for a blob\n" << AgentLog();
  if (held) KillRegistry();
  relay_->Release();
  kubelet.join();
  ASSERT_TRUE(held);

  RecordProperty("denied_pull", denied.error_message());
  EXPECT_FALSE(denied.ok());
  EXPECT_NE(denied.error_message().find("REGISTRY_ERROR"), std::string::npos) << denied.error_message();
  EXPECT_NE(denied.error_message().find(relay_->host()), std::string::npos) << denied.error_message();
  EXPECT_TRUE(ContainerdImages("kill/registry").empty());
  EXPECT_TRUE(agent_->Running()) << AgentLog();
  EXPECT_TRUE(client_->Version().ok());  // other CRI calls go on

  // Still down: denied again, nothing pulled.
  grpc::Status still = client_->Pull(Ref("kill/registry:1"));
  EXPECT_NE(still.error_message().find("REGISTRY_ERROR"), std::string::npos) << still.error_message();

  RestartRegistry();
  std::string image_ref;
  grpc::Status allowed = PullEventually(Ref("kill/registry:1"), &image_ref);
  ASSERT_TRUE(allowed.ok()) << allowed.error_message() << AgentLog();
  // The verified digest, and the tag the agent names it by in containerd (issue 15 item 1).
  EXPECT_EQ(ContainerdImages("kill/registry"),
            (std::vector<std::string>{Ref("kill/registry:1"),
                                      StrCat(Ref("kill/registry"), "@", digest.str())}));

  std::vector<json> events = Events();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["verdict"], "DENY");
  EXPECT_EQ(events.front()["reason"], "REGISTRY_ERROR");
  EXPECT_EQ(events.back()["verdict"], "ALLOW");
  EXPECT_EQ(events.back()["reason"], "VERIFIED");
  EXPECT_EQ(events.back()["digest"], digest.str());
}


// libfaketime (Debian's faketime package) shifts what the agent reads as wall time; the
// monotonic clock is left alone, as a real clock step leaves it. The offset is read from a
// file on every call, so the test steps the clock while the agent runs.
constexpr char kFaketimeLibrary[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

// The offset file replaced at once (libfaketime re-reads it on every call and must never
// see it half written).
void SetFakeOffset(const std::string& path, const std::string& offset) {
  testing::WriteFileOrDie(path + ".tmp", offset + "\n");
  ASSERT_EQ(rename((path + ".tmp").c_str(), path.c_str()), 0) << strerror(errno);
}

TEST_F(FaultE2eTest, WallClockSteppedBackAndForwardUnderTheAgent) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "libfaketime preloaded ahead of ThreadSanitizer's runtime leaves the agent's "
                  "clock unshifted; the release and ASan passes run this test";
#endif
  if (!std::filesystem::exists(kFaketimeLibrary)) {
    GTEST_SKIP() << kFaketimeLibrary << " is missing (scripts/setup installs faketime)";
  }
  std::string offset = dir_.File("faketime");
  SetFakeOffset(offset, "+0");
  const int now_year = std::stoi(absl::FormatTime("%Y", absl::Now(), absl::UTCTimeZone()));
  const char* asan = getenv("ASAN_OPTIONS");
  ASSERT_NO_FATAL_FAILURE(StartAgent(
      {StrCat("LD_PRELOAD=", kFaketimeLibrary),
       StrCat("FAKETIME_TIMESTAMP_FILE=", offset), "FAKETIME_NO_CACHE=1",
       "FAKETIME_DONT_FAKE_MONOTONIC=1",
       // The preloaded library comes before the sanitizer runtime in the ASan build.
       StrCat("ASAN_OPTIONS=", asan != nullptr ? asan : "", ":verify_asan_link_order=0")}));

  // Denied (unsigned), and that denial and the tag's resolution are cached (1s TTLs).
  Push("clock/app:1", testing::MakeBaseImage({.seed = "clock-unsigned"}));
  grpc::Status first = client_->Pull(Ref("clock/app:1"));
  EXPECT_NE(first.error_message().find("NOT_SIGNED"), std::string::npos) << first.error_message();

  // The wall clock goes back a year and the image is fixed. On wall time the cached denial
  // would hold for a year; on the monotonic clock it ends after its second.
  SetFakeOffset(offset, "-365d");
  Digest fixed = Push("clock/app:1", testing::SealTestImage(
                                         testing::MakeBaseImage({.seed = "clock-signed"}), *key_));
  std::string image_ref;
  grpc::Status back = PullEventually(Ref("clock/app:1"), &image_ref, 20);
  ASSERT_TRUE(back.ok()) << back.error_message() << AgentLog();

  // Forward a year: the ALLOW is still reused, a fresh resolution still verifies, and a
  // denial still denies. First make sure the agent's clock has taken the step: libfaketime
  // and abseil's clock (which extrapolates between kernel readings) take it a moment later,
  // and once in CI the next pulls were still stamped a year back.
  SetFakeOffset(offset, "+365d");
  ASSERT_TRUE(AwaitEventYear(now_year + 1)) << "the forward step never reached the agent";
  EXPECT_TRUE(client_->Pull(StrCat(Ref("clock/app"), "@", fixed.str())).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the resolve TTL
  grpc::Status forward = client_->Pull(Ref("clock/app:1"));
  EXPECT_TRUE(forward.ok()) << forward.error_message() << AgentLog();
  Push("clock/other:1", testing::MakeBaseImage({.seed = "clock-other"}));
  grpc::Status other = client_->Pull(Ref("clock/other:1"));
  EXPECT_NE(other.error_message().find("NOT_SIGNED"), std::string::npos) << other.error_message();

  // The steps really reached the agent: its events carry the shifted times, one per pull.
  std::vector<json> events = Events();
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(YearOf(events.front()), now_year) << events.front().dump();
  bool saw_back = false;
  for (const json& e : events) saw_back = saw_back || YearOf(e) == now_year - 1;
  EXPECT_TRUE(saw_back) << "no event a year back: the clock step did not reach the agent";
  EXPECT_EQ(YearOf(events.back()), now_year + 1) << events.back().dump();
  EXPECT_EQ(events.back()["verdict"], "DENY");
  EXPECT_EQ(ContainerdImages("clock/app"),
            (std::vector<std::string>{Ref("clock/app:1"), StrCat(Ref("clock/app"), "@", fixed.str())}));
}

}  // namespace
}  // namespace layerseal
