// The agent's durable event spool (node-agent/spool.h) and its sender to the controller
// (node-agent/event_sender.h), the latter against an in-process fake EventIngest server.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "node-agent/agent.h"
#include "node-agent/config.h"
#include "node-agent/event_record.h"
#include "node-agent/event_sender.h"
#include "node-agent/spool.h"
#include "tests/support/files.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

namespace fs = std::filesystem;
using testing::ReadAll;
using testing::WriteAll;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/spool_test.XXXXXX";
    char* made = mkdtemp(tmpl);
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The real filesystem, with syncs counted and writes failing on demand.
class TestFs : public SpoolFs {
 public:
  absl::Status Write(int fd, uint64_t offset, std::string_view data,
                     const std::string& path) override {
    if (fail_writes.load() || full_until_unlink.load()) {
      return absl::ResourceExhaustedError(StrCat(path, ": ENOSPC (test)"));
    }
    return SpoolFs::Write(fd, offset, data, path);
  }
  absl::Status Unlink(const std::string& path) override {
    full_until_unlink = false;  // deleting a file frees space
    return SpoolFs::Unlink(path);
  }
  absl::Status Sync(int fd, const std::string& path) override {
    syncs.fetch_add(1);
    // Holding the leader a moment lets the other appenders queue, as a real disk does.
    if (sync_delay > absl::ZeroDuration()) absl::SleepFor(sync_delay);
    return SpoolFs::Sync(fd, path);
  }
  std::atomic<bool> fail_writes{false};
  std::atomic<bool> full_until_unlink{false};
  std::atomic<int> syncs{0};
  absl::Duration sync_delay = absl::ZeroDuration();
};

v1::Event Verdict(const std::string& image) {
  plugin::VerdictEvent e;
  e.gate = "PullImage";
  e.image = image;
  e.admitted = true;
  e.time = absl::Now();
  return VerdictEventRecord(e, "node-1", 0, "test");
}

SpoolOptions Options(const std::string& dir, SpoolFs* fs = nullptr) {
  return SpoolOptions{.dir = dir + "/spool", .node = "node-1", .agent_version = "test", .fs = fs};
}

std::unique_ptr<EventSpool> OpenOrDie(SpoolOptions options) {
  absl::StatusOr<std::unique_ptr<EventSpool>> spool = EventSpool::Open(std::move(options));
  EXPECT_TRUE(spool.ok()) << spool.status();
  return spool.ok() ? *std::move(spool) : nullptr;
}

std::vector<v1::Event> AllUnacked(EventSpool& spool) {
  absl::StatusOr<std::vector<v1::Event>> events = spool.Unacked(1'000'000, 1 << 30);
  EXPECT_TRUE(events.ok()) << events.status();
  return events.ok() ? *events : std::vector<v1::Event>{};
}

std::vector<std::string> Segments(const std::string& spool_dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(spool_dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("seg-", 0) == 0) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SpoolTest, EventsSurviveReopenInOrder) {
  TempDir dir;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
    for (int i = 1; i <= 10; ++i) {
      absl::StatusOr<uint64_t> seq = spool->Append(Verdict(StrCat("img-", i)));
      ASSERT_TRUE(seq.ok()) << seq.status();
      EXPECT_EQ(*seq, static_cast<uint64_t>(i));
    }
  }
  std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(events[i].seq(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(events[i].image(), StrCat("img-", i + 1));
    EXPECT_EQ(events[i].node(), "node-1");
    EXPECT_EQ(events[i].kind(), v1::Event::VERDICT);
  }
  EXPECT_EQ(spool->stats().backlog, 10u);
  EXPECT_TRUE(spool->recovered_cuts().empty());
  EXPECT_EQ(*spool->Append(Verdict("next")), 11u);
}

TEST(SpoolTest, ConcurrentAppendsShareSyncs) {
  TempDir dir;
  TestFs test_fs;
  test_fs.sync_delay = absl::Milliseconds(2);
  std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path(), &test_fs));
  constexpr int kThreads = 16, kPerThread = 100;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<uint64_t> seq = spool->Append(Verdict(StrCat("t", t, "-", i)));
        if (seq.ok()) seqs[t].push_back(*seq);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<uint64_t> all;
  for (const auto& s : seqs) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));  // one thread's appends in order
    all.insert(s.begin(), s.end());
  }
  constexpr int kAppends = kThreads * kPerThread;
  ASSERT_EQ(all.size(), static_cast<size_t>(kAppends));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kAppends));
  // Every append returned after a sync, but far fewer syncs than appends ran.
  EXPECT_LT(test_fs.syncs.load(), kAppends / 4) << "syncs: " << test_fs.syncs.load();
  EXPECT_LT(spool->stats().syncs, static_cast<uint64_t>(kAppends / 4));
  EXPECT_EQ(AllUnacked(*spool).size(), static_cast<size_t>(kAppends));
}

TEST(SpoolTest, TornTailIsCutOff) {
  TempDir dir;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(spool->Append(Verdict("img")).ok());
  }
  std::vector<std::string> segments = Segments(dir.path() + "/spool");
  ASSERT_EQ(segments.size(), 1u);
  std::string intact = ReadAll(segments[0]);
  // A record whose header promises 100 bytes, of which 10 reached the disk.
  std::string torn = intact + std::string("\x64\0\0\0\x01\x02\x03\x04", 8) + "0123456789";
  WriteAll(segments[0], torn);
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
    ASSERT_EQ(spool->recovered_cuts().size(), 1u);
    EXPECT_NE(spool->recovered_cuts()[0].find("torn record"), std::string::npos)
        << spool->recovered_cuts()[0];
    EXPECT_EQ(ReadAll(segments[0]), intact);
    EXPECT_EQ(AllUnacked(*spool).size(), 5u);
    EXPECT_EQ(*spool->Append(Verdict("after")), 6u);
  }
  std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
  EXPECT_TRUE(spool->recovered_cuts().empty());
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events.back().image(), "after");
}

TEST(SpoolTest, CrcMismatchIsCutOff) {
  TempDir dir;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(spool->Append(Verdict(StrCat("img-", i))).ok());
  }
  std::string segment = Segments(dir.path() + "/spool")[0];
  std::string data = ReadAll(segment);
  data[data.size() - 3] ^= 0x55;  // inside the last record's payload
  WriteAll(segment, data);
  std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
  ASSERT_EQ(spool->recovered_cuts().size(), 1u);
  EXPECT_NE(spool->recovered_cuts()[0].find("crc mismatch"), std::string::npos);
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events.back().image(), "img-3");
}

TEST(SpoolTest, SeqContinuesAfterEverythingWasAcked) {
  TempDir dir;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool->Append(Verdict("img")).ok());
    ASSERT_TRUE(spool->Ack(3).ok());
    EXPECT_TRUE(Segments(dir.path() + "/spool").empty());
    EXPECT_EQ(spool->stats().backlog, 0u);
    EXPECT_EQ(spool->stats().bytes, 0u);
  }
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
    EXPECT_TRUE(AllUnacked(*spool).empty());  // nothing acknowledged is sent again
    EXPECT_EQ(*spool->Append(Verdict("img")), 4u);
  }
  std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path()));
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq(), 4u);
}

TEST(SpoolTest, FailedWritesAreCountedAndReportedFirst) {
  TempDir dir;
  TestFs test_fs;
  std::unique_ptr<EventSpool> spool = OpenOrDie(Options(dir.path(), &test_fs));
  ASSERT_EQ(*spool->Append(Verdict("before")), 1u);
  test_fs.fail_writes = true;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<uint64_t> seq = spool->Append(Verdict("lost"));
    ASSERT_FALSE(seq.ok());
    EXPECT_TRUE(absl::IsResourceExhausted(seq.status())) << seq.status();
  }
  EXPECT_EQ(spool->stats().lost, 3u);
  EXPECT_EQ(spool->stats().lost_pending, 3u);
  test_fs.fail_writes = false;
  absl::StatusOr<uint64_t> seq = spool->Append(Verdict("after"));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 3u);  // 2 is the EVENTS_LOST event
  EXPECT_EQ(spool->stats().lost_pending, 0u);
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].image(), "before");
  EXPECT_EQ(events[1].kind(), v1::Event::EVENTS_LOST);
  EXPECT_EQ(events[1].lost_count(), 3u);
  EXPECT_EQ(events[1].seq(), 2u);
  EXPECT_EQ(events[1].node(), "node-1");
  EXPECT_EQ(events[2].image(), "after");
  EXPECT_EQ(events[2].seq(), 3u);
}

TEST(SpoolTest, FullSpoolCountsLossAndReportsItWhenSpaceReturns) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  options.max_bytes = 4096;
  options.segment_bytes = 1024;
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  uint64_t kept = 0;
  while (spool->Append(Verdict("fill")).ok()) ++kept;
  ASSERT_GT(kept, 3u);
  EXPECT_LE(spool->stats().bytes, options.max_bytes);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(spool->Append(Verdict("refused")).ok());
  EXPECT_EQ(spool->stats().lost, 5u);  // the one that ended the loop and four more
  ASSERT_TRUE(spool->Ack(kept).ok());
  EXPECT_EQ(spool->stats().bytes, 0u);
  absl::StatusOr<uint64_t> seq = spool->Append(Verdict("room again"));
  ASSERT_TRUE(seq.ok()) << seq.status();
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind(), v1::Event::EVENTS_LOST);
  EXPECT_EQ(events[0].lost_count(), 5u);
  EXPECT_EQ(events[0].seq(), kept + 1);
  EXPECT_EQ(events[1].image(), "room again");
  EXPECT_EQ(events[1].seq(), kept + 2);
}

TEST(SpoolTest, AckDeletesWholeSegmentsAndSurvivesReopen) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  options.segment_bytes = 1024;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(options);
    for (int i = 1; i <= 50; ++i) ASSERT_TRUE(spool->Append(Verdict(StrCat("img-", i))).ok());
    size_t before = Segments(options.dir).size();
    ASSERT_GT(before, 3u);
    ASSERT_TRUE(spool->Ack(25).ok());
    size_t after = Segments(options.dir).size();
    EXPECT_LT(after, before);
    EXPECT_GT(after, 0u);
    EXPECT_EQ(spool->stats().backlog, 25u);
    std::vector<v1::Event> events = AllUnacked(*spool);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0].seq(), 26u);
  }
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 25u);
  EXPECT_EQ(events.front().seq(), 26u);
  EXPECT_EQ(events.back().seq(), 50u);
  EXPECT_EQ(events.back().image(), "img-50");
  // Batches respect both limits and always hold at least one event.
  absl::StatusOr<std::vector<v1::Event>> batch = spool->Unacked(10, 1 << 20);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 10u);
  batch = spool->Unacked(10, 1);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 1u);
}

TEST(SpoolTest, AckOnAFullDiskDeletesSegmentsToMakeRoomForTheCursor) {
  TempDir dir;
  TestFs test_fs;
  SpoolOptions options = Options(dir.path(), &test_fs);
  options.segment_bytes = 512;
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(spool->Append(Verdict("img")).ok());
  ASSERT_GT(Segments(options.dir).size(), 2u);
  test_fs.full_until_unlink = true;  // not even the cursor's bytes fit
  absl::Status acked = spool->Ack(20);
  ASSERT_TRUE(acked.ok()) << acked;
  EXPECT_TRUE(Segments(options.dir).empty());
  EXPECT_EQ(spool->stats().backlog, 0u);
  spool.reset();
  spool = OpenOrDie(options);
  EXPECT_TRUE(AllUnacked(*spool).empty());
  EXPECT_EQ(*spool->Append(Verdict("img")), 21u);
}

TEST(SpoolTest, CursorThatCannotBeWrittenOnlyCausesResends) {
  TempDir dir;
  TestFs test_fs;
  SpoolOptions options = Options(dir.path(), &test_fs);
  options.segment_bytes = 512;
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(spool->Append(Verdict("img")).ok());
  test_fs.fail_writes = true;
  EXPECT_FALSE(spool->Ack(20).ok());
  EXPECT_EQ(spool->stats().backlog, 20u);
  EXPECT_EQ(AllUnacked(*spool).size(), 20u);  // still readable, sent again
  EXPECT_EQ(Segments(options.dir).size(), 1u);  // the newest stays: it knows the next seq
  test_fs.fail_writes = false;
  spool.reset();
  spool = OpenOrDie(options);
  EXPECT_EQ(*spool->Append(Verdict("img")), 21u);  // never a seq used before
}

// A crash in the middle of a cursor write tears one slot; the other, one acknowledgement
// older, is used: events after it are sent again, no seq is reused.
TEST(SpoolTest, CursorWithATornSlotFallsBackToTheOtherSlot) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(options);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(spool->Append(Verdict("img")).ok());
    ASSERT_TRUE(spool->Ack(2).ok());
    ASSERT_TRUE(spool->Ack(4).ok());  // the two slots now say acked=2 and acked=4
  }
  std::string cursor = ReadAll(options.dir + "/cursor");
  ASSERT_EQ(cursor.size(), 256u);
  size_t newest = cursor.find("acked=4");
  ASSERT_NE(newest, std::string::npos);
  cursor[newest + 6] = '9';  // acked=9: its crc no longer matches
  WriteAll(options.dir + "/cursor", cursor);
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  std::vector<v1::Event> unacked = AllUnacked(*spool);
  ASSERT_EQ(unacked.size(), 3u);  // 3, 4 and 5 again
  EXPECT_EQ(unacked[0].seq(), 3u);
  EXPECT_EQ(*spool->Append(Verdict("img")), 6u);
}

TEST(SpoolTest, GarbageCursorIsAClearError) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(options);
    ASSERT_TRUE(spool->Append(Verdict("img")).ok());
    ASSERT_TRUE(spool->Ack(1).ok());
  }
  WriteAll(options.dir + "/cursor", "\x01garbage\xff");
  absl::StatusOr<std::unique_ptr<EventSpool>> spool = EventSpool::Open(options);
  ASSERT_FALSE(spool.ok());
  EXPECT_TRUE(absl::IsDataLoss(spool.status())) << spool.status();
  EXPECT_NE(std::string(Sv(spool.status().message())).find(options.dir + "/cursor"),
            std::string::npos);
}

// Issue 14.6: the spool's incarnation is part of every event's id at the controller.
TEST(SpoolTest, IncarnationPersistsAcrossReopenAndIsStampedOnEveryEvent) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  std::string incarnation;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(options);
    incarnation = spool->incarnation();
    ASSERT_TRUE(spool->Append(Verdict("img-1")).ok());
  }
  EXPECT_EQ(incarnation.size(), 32u);
  EXPECT_EQ(incarnation.find_first_not_of("0123456789abcdef"), std::string::npos);
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  EXPECT_EQ(spool->incarnation(), incarnation);
  ASSERT_TRUE(spool->Append(Verdict("img-2")).ok());
  std::vector<v1::Event> events = AllUnacked(*spool);
  ASSERT_EQ(events.size(), 2u);
  for (const v1::Event& e : events) EXPECT_EQ(e.spool_incarnation(), incarnation);
}

TEST(SpoolTest, WipedDirectoryGetsANewIncarnationAndStartsAtOne) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  std::string first;
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(options);
    first = spool->incarnation();
    ASSERT_TRUE(spool->Append(Verdict("img")).ok());
  }
  fs::remove_all(options.dir);
  std::unique_ptr<EventSpool> spool = OpenOrDie(options);
  EXPECT_NE(spool->incarnation(), first);
  absl::StatusOr<uint64_t> seq = spool->Append(Verdict("img"));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 1u);  // the same seq as before: the incarnation tells them apart
}

TEST(SpoolTest, DamagedIncarnationIsAnErrorNamingItNotASilentNewId) {
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  std::string path = options.dir + "/incarnation";
  {
    std::unique_ptr<EventSpool> spool = OpenOrDie(options);
    ASSERT_TRUE(spool->Append(Verdict("img")).ok());
    std::string text = ReadAll(path);
    ASSERT_FALSE(text.empty());
    text[text.find("id=") + 3] ^= 1;  // one bit of the id: the crc no longer matches
    WriteAll(path, text);
  }
  absl::StatusOr<std::unique_ptr<EventSpool>> spool = EventSpool::Open(options);
  ASSERT_FALSE(spool.ok());
  EXPECT_TRUE(absl::IsDataLoss(spool.status())) << spool.status();
  EXPECT_NE(std::string(Sv(spool.status().message())).find(path), std::string::npos);

  // A missing file (a directory of an agent older than incarnations): a new incarnation,
  // the seqs continuing, so that nothing collides with what was sent before.
  fs::remove(path);
  std::unique_ptr<EventSpool> upgraded = OpenOrDie(options);
  EXPECT_EQ(upgraded->incarnation().size(), 32u);
  EXPECT_EQ(*upgraded->Append(Verdict("img-2")), 2u);
}

TEST(SpoolTest, BadOptionsAreErrors) {
  EXPECT_FALSE(EventSpool::Open(SpoolOptions{}).ok());
  TempDir dir;
  SpoolOptions options = Options(dir.path());
  options.max_bytes = 1;
  EXPECT_FALSE(EventSpool::Open(options).ok());
}


// ---- EventSender against a fake EventIngest ----

// Stores what it is sent, answers with `code`, and holds calls while `hold` is set.
class FakeIngest final : public v1::EventIngest::Service {
 public:
  grpc::Status ReportEvents(grpc::ServerContext*, const v1::ReportEventsRequest* request,
                            v1::ReportEventsResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    ++in_flight_;
    mu_.Await(absl::Condition(
        +[](bool* hold) { return !*hold; }, &hold_));
    --in_flight_;
    last_status_ = request->status();
    if (code_ != grpc::StatusCode::OK) return grpc::Status(code_, "refused by the test");
    for (const v1::Event& e : request->events()) {
      stored_.push_back(e.seq());
      events_.push_back(e);
      response->set_stored(response->stored() + 1);
    }
    if (request->events().empty()) ++heartbeats_;
    return grpc::Status::OK;
  }

  void Reset() {
    absl::MutexLock lock(&mu_);
    code_ = grpc::StatusCode::OK;
    hold_ = false;
    calls_ = heartbeats_ = 0;
    stored_.clear();
    events_.clear();
  }
  void set_code(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    code_ = code;
  }
  void set_hold(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  // Waits (up to a generous bound, never asserted as a time) until `done` holds.
  bool WaitFor(const std::function<bool(FakeIngest&)>& done) {
    absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (absl::Now() < give_up) {
      if (done(*this)) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  int calls() { absl::MutexLock lock(&mu_); return calls_; }
  int in_flight() { absl::MutexLock lock(&mu_); return in_flight_; }
  int heartbeats() { absl::MutexLock lock(&mu_); return heartbeats_; }
  std::vector<uint64_t> stored() { absl::MutexLock lock(&mu_); return stored_; }
  std::vector<v1::Event> events() { absl::MutexLock lock(&mu_); return events_; }
  v1::AgentStatus last_status() { absl::MutexLock lock(&mu_); return last_status_; }

 private:
  absl::Mutex mu_;
  grpc::StatusCode code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int heartbeats_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> stored_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Event> events_ ABSL_GUARDED_BY(mu_);
  v1::AgentStatus last_status_ ABSL_GUARDED_BY(mu_);
};

// One server for the whole suite (gRPC 1.51 and many servers in one process do not mix).
class SenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_dir_ = new TempDir();
    ingest_ = new FakeIngest();
    socket_ = "unix:" + server_dir_->path() + "/ingest.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(ingest_);
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
  }
  static void TearDownTestSuite() {
    ingest_->set_hold(false);
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    delete server_;
    delete ingest_;
    delete server_dir_;
  }
  void SetUp() override {
    ingest_->Reset();
    spool_ = OpenOrDie(Options(dir_.path()));
    ASSERT_NE(spool_, nullptr);
  }
  void TearDown() override { ingest_->set_hold(false); }

  std::unique_ptr<EventSender> StartSender() {
    absl::StatusOr<std::unique_ptr<EventSender>> sender = EventSender::Start(
        {.target = socket_,
         .credentials = grpc::InsecureChannelCredentials(),
         .node = "node-1",
         .agent_version = "test",
         .policy_version = [] { return std::string("sha256:policy"); },
         .spool = spool_.get(),
         .on_batch = [this](std::string_view result) {
           absl::MutexLock lock(&results_mu_);
           results_.emplace_back(result);
         },
         .heartbeat = absl::Milliseconds(50),
         .min_backoff = absl::Milliseconds(10),
         .max_backoff = absl::Milliseconds(100)});
    EXPECT_TRUE(sender.ok()) << sender.status();
    return sender.ok() ? *std::move(sender) : nullptr;
  }
  void AppendN(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(spool_->Append(Verdict(StrCat("img-", i))).ok());
  }
  static std::vector<uint64_t> OneTo(uint64_t n) {
    std::vector<uint64_t> out;
    for (uint64_t i = 1; i <= n; ++i) out.push_back(i);
    return out;
  }
  bool BacklogIs(uint64_t n) {
    absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (spool_->stats().backlog != n && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    return spool_->stats().backlog == n;
  }

  static TempDir* server_dir_;
  static FakeIngest* ingest_;
  static grpc::Server* server_;
  static std::string socket_;
  TempDir dir_;
  std::unique_ptr<EventSpool> spool_;
  absl::Mutex results_mu_;
  std::vector<std::string> results_;
};

TempDir* SenderTest::server_dir_ = nullptr;
FakeIngest* SenderTest::ingest_ = nullptr;
grpc::Server* SenderTest::server_ = nullptr;
std::string SenderTest::socket_;

TEST_F(SenderTest, DeliversInOrderAndAcks) {
  AppendN(20);
  std::unique_ptr<EventSender> sender = StartSender();
  ASSERT_TRUE(BacklogIs(0));
  EXPECT_EQ(ingest_->stored(), OneTo(20));
  // Events appended later are sent after a Wake, in order.
  AppendN(5);
  sender->Wake();
  ASSERT_TRUE(BacklogIs(0));
  EXPECT_EQ(ingest_->stored(), OneTo(25));
  EXPECT_EQ(spool_->stats().acked, 25u);
  sender.reset();
  // Acknowledged events are never sent again, also after a restart.
  spool_ = OpenOrDie(Options(dir_.path()));
  EXPECT_TRUE(AllUnacked(*spool_).empty());
}

TEST_F(SenderTest, FailingControllerKeepsEventsAndGetsThemOnce) {
  ingest_->set_code(grpc::StatusCode::UNAVAILABLE);
  AppendN(5);
  std::unique_ptr<EventSender> sender = StartSender();
  ASSERT_TRUE(ingest_->WaitFor([](FakeIngest& f) { return f.calls() >= 3; }));
  EXPECT_EQ(spool_->stats().backlog, 5u);  // nothing removed
  EXPECT_TRUE(ingest_->stored().empty());
  ingest_->set_code(grpc::StatusCode::OK);
  ASSERT_TRUE(BacklogIs(0));
  EXPECT_EQ(ingest_->stored(), OneTo(5));  // each once, in order
  absl::MutexLock lock(&results_mu_);
  EXPECT_NE(std::find(results_.begin(), results_.end(), "error"), results_.end());
  EXPECT_NE(std::find(results_.begin(), results_.end(), "ok"), results_.end());
}

TEST_F(SenderTest, RefusedBatchesAreRetriedNeverDropped) {
  ingest_->set_code(grpc::StatusCode::PERMISSION_DENIED);
  AppendN(3);
  std::unique_ptr<EventSender> sender = StartSender();
  ASSERT_TRUE(ingest_->WaitFor([](FakeIngest& f) { return f.calls() >= 2; }));
  EXPECT_EQ(spool_->stats().backlog, 3u);
  ingest_->set_code(grpc::StatusCode::OK);
  ASSERT_TRUE(BacklogIs(0));
  EXPECT_EQ(ingest_->stored(), OneTo(3));
}

TEST_F(SenderTest, HeartbeatCarriesStatus) {
  std::unique_ptr<EventSender> sender = StartSender();
  ASSERT_TRUE(ingest_->WaitFor([](FakeIngest& f) { return f.heartbeats() >= 2; }));
  v1::AgentStatus status = ingest_->last_status();
  EXPECT_EQ(status.agent_version(), "test");
  EXPECT_EQ(status.policy_version(), "sha256:policy");
  EXPECT_EQ(status.spool_backlog(), 0u);
  EXPECT_EQ(status.events_lost(), 0u);
}

TEST_F(SenderTest, AppendsDoNotWaitForABlockedSender) {
  ingest_->set_hold(true);
  AppendN(1);
  std::unique_ptr<EventSender> sender = StartSender();
  ASSERT_TRUE(ingest_->WaitFor([](FakeIngest& f) { return f.in_flight() == 1; }));
  // The sender is stuck in a call the server holds; appends still complete.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(spool_->Append(Verdict("while blocked")).ok());
    sender->Wake();
  }
  EXPECT_EQ(ingest_->in_flight(), 1);
  EXPECT_EQ(spool_->stats().backlog, 201u);
  ingest_->set_hold(false);
  ASSERT_TRUE(BacklogIs(0));
  EXPECT_EQ(ingest_->stored(), OneTo(201));
}

TEST_F(SenderTest, StopsWhileACallIsHeld) {
  ingest_->set_hold(true);
  AppendN(1);
  std::unique_ptr<EventSender> sender = StartSender();
  ASSERT_TRUE(ingest_->WaitFor([](FakeIngest& f) { return f.in_flight() == 1; }));
  sender.reset();  // cancels the call in flight: returns although the server still holds it
  EXPECT_EQ(ingest_->in_flight(), 1);
  EXPECT_EQ(spool_->stats().backlog, 1u);
  ingest_->set_hold(false);
}

// ---- The agent, in-process, delivering over mutual TLS ----

struct Pem {
  std::string cert;
  std::string key;
};

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A P-256 certificate for `cn`, signed by `issuer` (nullptr: self-signed, a CA).
Pem MakeCert(const std::string& cn, const Pem* issuer, const std::string& san = "") {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  static int serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = x;
  EVP_PKEY* issuer_key = key;
  if (issuer != nullptr) {
    BIO* b = BIO_new_mem_buf(issuer->cert.data(), static_cast<int>(issuer->cert.size()));
    issuer_cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    b = BIO_new_mem_buf(issuer->key.data(), static_cast<int>(issuer->key.size()));
    issuer_key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
  }
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, issuer == nullptr ? "critical,CA:TRUE" : "CA:FALSE");
  if (!san.empty()) add(NID_subject_alt_name, san.c_str());
  X509_sign(x, issuer_key, EVP_sha256());
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, x);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  if (issuer != nullptr) {
    X509_free(issuer_cert);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return {BioString(cert_bio), BioString(key_bio)};
}

class AgentDeliveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ca_ = new Pem(MakeCert("layerseal test CA", nullptr));
    Pem server = MakeCert("controller", ca_, "DNS:controller.test");
    WriteAll(File("ca.pem"), ca_->cert);
    for (const char* node : {"node-1", "node-other"}) {
      Pem client = MakeCert(node, ca_);
      WriteAll(File(StrCat(node, ".pem")), client.cert);
      WriteAll(File(StrCat(node, ".key")), client.key);
    }
    WriteAll(File("policy.yaml"), "version: 1\nkeys: {}\ndefault: {requirement: reject}\n");
    ingest_ = new FakeIngest();
    grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = ca_->cert;
    tls.pem_key_cert_pairs.push_back({server.key, server.cert});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port_);
    builder.RegisterService(ingest_);
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  static void TearDownTestSuite() {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    delete server_;
    delete ingest_;
    delete ca_;
    delete dir_;
  }
  void SetUp() override { ingest_->Reset(); }
  static std::string File(const std::string& name) { return dir_->path() + "/" + name; }

  // The agent's command line, as an operator (or the end-to-end test) writes it.
  static std::vector<std::string> Args(const std::string& cert_node, const std::string& run) {
    return {"--listen", File(run + "/agent.sock"), "--runtime-endpoint", File("no-runtime.sock"),
            "--policy", File("policy.yaml"), "--state-dir", File(run + "/state"),
            "--node-name", "node-1", "--admin", "", "--health-socket", "",
            "--log-level", "error",
            "--controller", StrCat("127.0.0.1:", port_), "--controller-ca", File("ca.pem"),
            "--controller-cert", File(cert_node + ".pem"), "--controller-key", File(cert_node + ".key"),
            "--controller-server-name", "controller.test", "--spool-max-bytes", "1Mi"};
  }

  static TempDir* dir_;
  static Pem* ca_;
  static FakeIngest* ingest_;
  static grpc::Server* server_;
  static int port_;
};

TempDir* AgentDeliveryTest::dir_ = nullptr;
Pem* AgentDeliveryTest::ca_ = nullptr;
FakeIngest* AgentDeliveryTest::ingest_ = nullptr;
grpc::Server* AgentDeliveryTest::server_ = nullptr;
int AgentDeliveryTest::port_ = 0;

TEST_F(AgentDeliveryTest, FlagsAreParsed) {
  absl::StatusOr<ParsedArgs> args = ParseAgentArgs(Args("node-1", "flags"));
  ASSERT_TRUE(args.ok()) << args.status();
  const AgentConfig& c = args->config;
  EXPECT_EQ(c.controller, StrCat("127.0.0.1:", port_));
  EXPECT_EQ(c.controller_ca, File("ca.pem"));
  EXPECT_EQ(c.controller_cert, File("node-1.pem"));
  EXPECT_EQ(c.controller_key, File("node-1.key"));
  EXPECT_EQ(c.controller_server_name, "controller.test");
  EXPECT_EQ(c.spool_max_bytes, 1u << 20);
  EXPECT_EQ(c.SpoolDir(), File("flags/state") + "/spool");
  for (const char* bad : {"12", "64Ki0", "lots", "2048Gi"}) {
    EXPECT_FALSE(ParseAgentArgs({"--spool-max-bytes", bad}).ok()) << bad;
  }
  EXPECT_EQ(ParseAgentArgs({"--spool-max-bytes", "65536"})->config.spool_max_bytes, 65536u);
}

TEST_F(AgentDeliveryTest, CertificateOfAnotherNodeStopsTheStart) {
  absl::StatusOr<ParsedArgs> args = ParseAgentArgs(Args("node-other", "other"));
  ASSERT_TRUE(args.ok()) << args.status();
  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Start(args->config);
  ASSERT_FALSE(agent.ok());
  std::string message(Sv(agent.status().message()));
  EXPECT_NE(message.find("\"node-other\""), std::string::npos) << message;
  EXPECT_NE(message.find("\"node-1\""), std::string::npos) << message;
  // Without a key, no start either (the controller needs mutual TLS).
  args->config.controller_key.clear();
  EXPECT_FALSE(Agent::Start(args->config).ok());
}

TEST_F(AgentDeliveryTest, DeniedPullArrivesAtTheControllerOverMutualTls) {
  absl::StatusOr<ParsedArgs> args = ParseAgentArgs(Args("node-1", "run"));
  ASSERT_TRUE(args.ok()) << args.status();
  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Start(args->config);
  ASSERT_TRUE(agent.ok()) << agent.status();

  auto channel = grpc::CreateChannel("unix:" + File("run/agent.sock"),
                                     grpc::InsecureChannelCredentials());
  auto images = runtime::v1::ImageService::NewStub(channel);
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image("elsewhere.example/app:1");
  runtime::v1::PodSandboxMetadata* pod = request.mutable_sandbox_config()->mutable_metadata();
  pod->set_namespace_("team");
  pod->set_name("web-0");
  grpc::ClientContext context;
  runtime::v1::PullImageResponse response;
  grpc::Status pulled = images->PullImage(&context, request, &response);
  EXPECT_FALSE(pulled.ok()) << "the policy rejects every image";

  ASSERT_TRUE(ingest_->WaitFor([](FakeIngest& f) { return !f.events().empty(); }));
  v1::Event e = ingest_->events()[0];
  EXPECT_EQ(e.node(), "node-1");
  EXPECT_EQ(e.seq(), 1u);
  EXPECT_EQ(e.kind(), v1::Event::VERDICT);
  EXPECT_EQ(e.gate(), "PullImage");
  EXPECT_EQ(e.image(), "elsewhere.example/app:1");
  EXPECT_EQ(e.pod_namespace(), "team");
  EXPECT_EQ(e.pod_name(), "web-0");
  EXPECT_EQ(e.verdict().verdict(), "DENY");
  EXPECT_FALSE(e.admitted());
  EXPECT_EQ(e.agent_version(), std::string(kAgentVersion));
  EXPECT_FALSE(ingest_->last_status().policy_version().empty());

  // Acknowledged: the backlog gauge drains; batches were counted.
  std::string metrics;
  for (int i = 0; i < 6000; ++i) {
    metrics = (*agent)->metrics().RenderText();
    if (metrics.find("\nlayerseal_agent_spool_events 0\n") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_NE(metrics.find("\nlayerseal_agent_spool_events 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("layerseal_agent_controller_batches_total{result=\"ok\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("layerseal_agent_spool_sync_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("layerseal_agent_events_lost_total 0\n"), std::string::npos);
  agent->reset();
}

}  // namespace
}  // namespace layerseal::agent
