// base/: the general helpers every component shares (file.h, host_port.h, status_code.h,
// signals.h).
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/file.h"
#include "base/host_port.h"
#include "base/signals.h"
#include "base/status_code.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(Sv(s.message())); }

class ReadFileLimitedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "base_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string dir_;
};

TEST_F(ReadFileLimitedTest, ReadsAFileUpToAndAtTheLimit) {
  EXPECT_EQ(*ReadFileLimited(Write("a", "hello"), 10, "greeting"), "hello");
  EXPECT_EQ(*ReadFileLimited(Write("b", "0123456789"), 10, "greeting"), "0123456789");
  EXPECT_EQ(*ReadFileLimited(Write("c", ""), 0, "greeting"), "");
  // Larger than one read chunk, exactly at the limit.
  std::string big(200 * 1024 + 7, 'x');
  EXPECT_EQ(*ReadFileLimited(Write("d", big), big.size(), "blob"), big);
}

TEST_F(ReadFileLimitedTest, OneBytePastTheLimitIsResourceExhausted) {
  std::string path = Write("big.pem", std::string(11, 'x'));
  absl::StatusOr<std::string> got = ReadFileLimited(path, 10, "controller certificate");
  ASSERT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
  EXPECT_EQ(Message(got.status()),
            StrCat("controller certificate \"", path, "\" is larger than 10 bytes"));
  EXPECT_EQ(ReadFileLimited(Write("e", "x"), 0, "").status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(ReadFileLimitedTest, AHugeSparseFileIsRefusedUnread) {
  std::string path = Write("sparse", "");
  fs::resize_file(path, 64ull << 30);  // 64 GiB of nothing: reading it would take ages
  absl::StatusOr<std::string> got = ReadFileLimited(path, 1 << 20, "policy");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
}

TEST_F(ReadFileLimitedTest, AnEndlessNonRegularFileStopsOnePastTheLimit) {
  // /dev/zero has no size and no end: only max_bytes + 1 bytes may be read.
  absl::StatusOr<std::string> got = ReadFileLimited("/dev/zero", 1000, "key");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();
  EXPECT_THAT(Message(got.status()), HasSubstr("key \"/dev/zero\" is larger than 1000 bytes"));
}

// A FIFO nobody writes to: open() used to block forever (a config or key path pointing at a
// FIFO hung the program at start). Now it returns at once.
TEST_F(ReadFileLimitedTest, AFifoWithoutAWriterDoesNotBlock) {
  std::string path = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  auto done = std::make_shared<std::promise<absl::StatusOr<std::string>>>();
  std::future<absl::StatusOr<std::string>> result = done->get_future();
  std::thread([path, done] { done->set_value(ReadFileLimited(path, 10, "policy")); }).detach();
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    int unblock = open(path.c_str(), O_WRONLY);  // lets the blocked open() return
    if (unblock >= 0) close(unblock);
    result.wait();
    FAIL() << "ReadFileLimited blocked on a FIFO without a writer";
  }
  absl::StatusOr<std::string> got = result.get();
  if (got.ok()) {
    EXPECT_EQ(*got, "");
  }
}

TEST_F(ReadFileLimitedTest, MissingIsNotFoundNamingPathAndWhat) {
  std::string path = dir_ + "/nope.pem";
  absl::StatusOr<std::string> got = ReadFileLimited(path, 10, "controller key");
  ASSERT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_EQ(Message(got.status()),
            StrCat("cannot open controller key \"", path, "\": No such file or directory"));
  // A missing directory on the way is missing too; without a what, just the path.
  got = ReadFileLimited(dir_ + "/no/such/file", 10, "");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(got.status()), ::testing::StartsWith("cannot open \""));
}

TEST_F(ReadFileLimitedTest, ADirectoryIsAnErrorNamingIt) {
  absl::StatusOr<std::string> got = ReadFileLimited(dir_, 10, "policy");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(got.status()),
            StrCat("cannot read policy \"", dir_, "\": Is a directory"));
}

TEST_F(ReadFileLimitedTest, AnUnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string path = Write("secret", "x");
  fs::permissions(path, fs::perms::none);
  absl::StatusOr<std::string> got = ReadFileLimited(path, 10, "docker config");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(Message(got.status()), HasSubstr(path));
}

TEST_F(ReadFileLimitedTest, OddPathsAreQuotedEscaped) {
  std::string path = Write("new\nline", "");
  absl::StatusOr<std::string> got = ReadFileLimited(path + "x", 10, "");
  EXPECT_THAT(Message(got.status()), HasSubstr("new\\nlinex\""));
}

TEST(SplitHostPortTest, SplitsNamesIpv4AndBracketedIpv6) {
  absl::StatusOr<HostPort> hp = SplitHostPort("127.0.0.1:7081");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 7081);
  hp = SplitHostPort("localhost:65535");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "localhost");
  EXPECT_EQ(hp->port, 65535);
  hp = SplitHostPort("[::1]:9464");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "::1");  // without the brackets: what bind() and getaddrinfo() take
  EXPECT_EQ(hp->port, 9464);
  hp = SplitHostPort("[fe80::1%eth0]:1");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "fe80::1%eth0");
  EXPECT_EQ(hp->port, 1);
}

TEST(SplitHostPortTest, PortZeroOnlyWhereAllowed) {
  absl::StatusOr<HostPort> hp = SplitHostPort("127.0.0.1:0");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->port, 0);
  hp = SplitHostPort("127.0.0.1:0", PortZero::kRefused);
  ASSERT_FALSE(hp.ok());
  EXPECT_THAT(Message(hp.status()), HasSubstr("port 0"));
  EXPECT_TRUE(SplitHostPort("127.0.0.1:1", PortZero::kRefused).ok());
}

TEST(SplitHostPortTest, RefusesWhatIsNotHostPortNamingIt) {
  for (const char* bad :
       {"", ":7081", "[]:7081", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80 ", "127.0.0.1:0x50", "127.0.0.1:123456",
        "::1:80", "::1", "[::1]", "[::1]80", "[::1:80", "[::1]]:80", "[[::1]]:80", "a]:80",
        "host:80:80", "127.0.0.1:99999999999999999999"}) {
    absl::StatusOr<HostPort> hp = SplitHostPort(bad);
    ASSERT_FALSE(hp.ok()) << bad << " -> " << hp->host << " " << hp->port;
    EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(hp.status()), HasSubstr(StrCat("\"", bad, "\" is not host:port: ")))
        << bad;
  }
  EXPECT_THAT(Message(SplitHostPort(":7081").status()), HasSubstr("empty host"));
  EXPECT_THAT(Message(SplitHostPort("::1:80").status()), HasSubstr("brackets"));
  EXPECT_THAT(Message(SplitHostPort("h:65536").status()), HasSubstr("0 to 65535"));
  EXPECT_FALSE(SplitHostPort(std::string(kMaxHostPortBytes, 'a') + ":1").ok());
}

TEST(SplitHostPortTest, JoinIsTheInverse) {
  EXPECT_EQ(JoinHostPort("127.0.0.1", 80), "127.0.0.1:80");
  EXPECT_EQ(JoinHostPort("::1", 9464), "[::1]:9464");
  for (const char* address : {"127.0.0.1:80", "[::1]:9464", "localhost:0"}) {
    absl::StatusOr<HostPort> hp = SplitHostPort(address);
    ASSERT_TRUE(hp.ok()) << address;
    EXPECT_EQ(JoinHostPort(hp->host, hp->port), address);
  }
}

TEST(StatusCodeNameTest, NamesAsLogsAndMetricsWriteThem) {
  // The metric label values of layerseal_cri_calls_total and the event sender's log "code".
  EXPECT_EQ(StatusCodeName(0), "OK");
  EXPECT_EQ(StatusCodeName(1), "CANCELLED");
  EXPECT_EQ(StatusCodeName(4), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(7), "PERMISSION_DENIED");
  EXPECT_EQ(StatusCodeName(8), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusCodeName(12), "UNIMPLEMENTED");
  EXPECT_EQ(StatusCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(17), "CODE_17");  // never an empty label
  EXPECT_EQ(StatusCodeName(-1), "CODE_-1");
}

// The signals are raised to this thread only (they are blocked, so they stay pending for it),
// and the mask is given back afterwards.
TEST(ShutdownSignalsTest, HangupsCallTheCallbackAndTermEndsTheWait) {
  ShutdownSignals signals = ShutdownSignals::Block(ShutdownSignals::kWithHangup);
  int hangups = 0;
  ASSERT_EQ(pthread_kill(pthread_self(), SIGHUP), 0);
  int sig = signals.Wait([&] {
    if (++hangups == 1) {
      pthread_kill(pthread_self(), SIGHUP);
    } else {
      pthread_kill(pthread_self(), SIGTERM);
    }
  });
  EXPECT_EQ(sig, SIGTERM);
  EXPECT_EQ(hangups, 2);
  pthread_sigmask(SIG_SETMASK, &signals.previous_mask(), nullptr);
}

TEST(ShutdownSignalsTest, InterruptEndsTheWaitWithoutHangup) {
  ShutdownSignals signals = ShutdownSignals::Block(ShutdownSignals::kWithoutHangup);
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  EXPECT_EQ(sigismember(&blocked, SIGINT), 1);
  EXPECT_EQ(sigismember(&blocked, SIGTERM), 1);
  EXPECT_EQ(sigismember(&blocked, SIGHUP), 0);  // SIGHUP keeps its default action
  ASSERT_EQ(pthread_kill(pthread_self(), SIGINT), 0);
  EXPECT_EQ(signals.Wait(), SIGINT);
  pthread_sigmask(SIG_SETMASK, &signals.previous_mask(), nullptr);
  EXPECT_EQ(signal(SIGPIPE, SIG_DFL), SIG_IGN);  // SIGPIPE was ignored
}

}  // namespace
}  // namespace layerseal
