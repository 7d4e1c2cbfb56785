// The agent's durable event spool: every event the agent keeps is on disk before the verdict
// it describes is returned, and stays there until the controller has acknowledged it.
//
// Layout (one directory, default <stateDir>/spool):
//   seg-<first seq, 20 digits>.log   append-only segments of records
//                                    [u32 length LE][u32 crc32 LE of the payload][payload]
//                                    payload: a serialized layerseal.v1.Event
//   cursor                           two 128-byte slots "layerseal-spool 2 acked=<seq>
//                                    next=<seq> crc=<crc32>": the highest acknowledged seq and
//                                    the next seq to use. Writes alternate between the slots
//                                    in place (then fdatasync), so once the file exists an
//                                    acknowledgement needs no new block, also on a full disk;
//                                    a torn write leaves the other, older slot
//   incarnation                      "layerseal-spool-incarnation 1 id=<32 hex> crc=<crc32>":
//                                    128 random bits made when the file is missing (a new
//                                    directory), written to a temp file, fsynced and renamed
//
// Every event kept carries the incarnation (Event.spool_incarnation, stamped by Append): its
// id at the controller is (node, incarnation, seq), so an agent whose state directory was
// lost, numbering from 1 again, sends new ids rather than what look like resends. Records
// written before the field existed keep the legacy incarnation "" (as they were first sent).
// A missing incarnation file is made anew (the seqs continue from the cursor, so nothing
// collides); a damaged one is an error naming it (DataLoss), like the cursor.
//
// Events are numbered 1, 2, 3, ... across restarts, also when every segment was deleted (the
// cursor keeps the next seq). Append writes with group commit: concurrent appenders queue; the
// first one (the leader) writes everybody's records with one write and one fdatasync outside
// the lock, then wakes the others (leveldb's writer queue).
//
// Bounded: when a record would take the segments past max_bytes, or a write or sync fails
// (ENOSPC, EIO), the event is not kept: Append returns an error (the caller only counts it),
// the lost counter grows, and the first append that succeeds again writes an EVENTS_LOST event
// carrying the count first. Nothing is lost silently.
//
// Recovery on Open: a torn or damaged record (short, bad length, crc mismatch, unparsable,
// seq not increasing) and everything after it in its segment is cut off and counted
// (recovered_cuts()); acknowledged events are never returned again; a cursor file that cannot
// be parsed is an error naming it (DataLoss): the spool does not guess where the controller
// stands, because a guessed seq could make the controller drop new events as duplicates.
//
// Thread-safety: Append may be called concurrently from any number of threads. Unacked and
// Ack are meant for one consumer (the sender) but are safe to call from any thread. stats()
// from any thread.
// Ownership: the spool owns its files and descriptors; SpoolFs is borrowed and must outlive it.
// No Append may be in progress when the spool is destroyed.
#ifndef LAYERSEAL_NODE_AGENT_SPOOL_H_
#define LAYERSEAL_NODE_AGENT_SPOOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "layerseal/v1/controller.pb.h"

namespace layerseal::agent {

inline constexpr uint64_t kDefaultSpoolMaxBytes = 64ull << 20;
// A segment is closed and a new one begun past this size (acknowledged segments are deleted
// whole, so this is also the granularity at which disk space comes back).
inline constexpr uint64_t kDefaultSpoolSegmentBytes = 1ull << 20;
// The longest record: Append refuses (and counts as lost) an event longer than this, and
// Open takes a longer one for damage. Events are a few hundred bytes; a PullImage event may
// carry a package inventory of up to kMaxEventPackagesBytes (node-agent/event_record.h,
// 3 MiB), which this leaves room for (issue 18; it was 1 MiB before attachments).
inline constexpr uint32_t kMaxSpoolRecordBytes = 4u << 20;
// One leader writes at most this many bytes of queued records per write+sync.
inline constexpr size_t kMaxGroupCommitBytes = 1u << 20;
inline constexpr size_t kSpoolRecordHeaderBytes = 8;
// An incarnation file is one line; more is damage.
inline constexpr size_t kMaxIncarnationFileBytes = 128;

// The filesystem as the spool uses it (leveldb's Env idea): tests inject failures and count
// syncs. Every call names the file in its error. Thread-safety: called concurrently.
class SpoolFs {
 public:
  virtual ~SpoolFs() = default;
  // Opens read-write, creating the file when `create`. Returns the descriptor.
  virtual absl::StatusOr<int> Open(const std::string& path, bool create);
  virtual void Close(int fd);
  // Writes all of `data` at `offset`.
  virtual absl::Status Write(int fd, uint64_t offset, std::string_view data,
                             const std::string& path);
  virtual absl::Status Sync(int fd, const std::string& path);  // fdatasync
  virtual absl::StatusOr<std::string> Read(int fd, uint64_t offset, size_t n,
                                           const std::string& path);  // short at the end
  virtual absl::StatusOr<uint64_t> Size(int fd, const std::string& path);
  virtual absl::Status Truncate(int fd, uint64_t size, const std::string& path);
  virtual absl::Status Rename(const std::string& from, const std::string& to);
  virtual absl::Status Unlink(const std::string& path);
  virtual absl::Status SyncDir(const std::string& dir);
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& dir);  // names
  virtual absl::Status MakeDir(const std::string& dir);  // with parents

  static SpoolFs* Posix();  // the real filesystem (never destroyed)
};

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = kDefaultSpoolMaxBytes;
  uint64_t segment_bytes = kDefaultSpoolSegmentBytes;
  std::string node;           // for the EVENTS_LOST events the spool writes itself
  std::string agent_version;  // likewise
  SpoolFs* fs = nullptr;      // nullptr: SpoolFs::Posix()
  // Called with each write+fdatasync's duration (a metric); on the leader's thread.
  std::function<void(absl::Duration)> on_sync;
  // Called with the number of events just lost (a metric); under the spool's lock: must be
  // quick and must not call the spool.
  std::function<void(uint64_t)> on_lost;
};

struct SpoolStats {
  uint64_t backlog = 0;       // events kept and not yet acknowledged
  uint64_t bytes = 0;         // bytes of all segments on disk
  uint64_t lost = 0;          // events not kept since Open
  uint64_t lost_pending = 0;  // of those, not yet reported by an EVENTS_LOST event
  uint64_t syncs = 0;         // fdatasyncs of segments since Open
  uint64_t next_seq = 0;
  uint64_t acked = 0;
};

class EventSpool {
 public:
  static absl::StatusOr<std::unique_ptr<EventSpool>> Open(SpoolOptions options);
  ~EventSpool();
  EventSpool(const EventSpool&) = delete;
  EventSpool& operator=(const EventSpool&) = delete;

  // Numbers `event` (its seq is overwritten) and returns its seq once it is on disk and
  // synced. On error the event is not kept and is counted as lost (ResourceExhausted when the
  // spool is full or the event is longer than kMaxSpoolRecordBytes, the filesystem's error
  // otherwise).
  absl::StatusOr<uint64_t> Append(v1::Event event);

  // The oldest events not yet acknowledged, in seq order: at most `max_events`, and at most
  // `max_bytes` of serialized events (but always one, if any). A record found damaged on
  // disk is dropped and counted as lost (reported by the next EVENTS_LOST event).
  absl::StatusOr<std::vector<v1::Event>> Unacked(size_t max_events, size_t max_bytes);

  // Everything up to and including `through_seq` is acknowledged: persists that in the
  // cursor and deletes the segments that hold nothing else. On a full disk, where even the
  // cursor cannot be written, acknowledged segments are deleted first to make room.
  absl::Status Ack(uint64_t through_seq);

  SpoolStats stats() const;
  // Damaged or torn records cut off by Open (each cut removes a record and what followed it
  // in its segment), with one line each naming the segment, offset and damage.
  const std::vector<std::string>& recovered_cuts() const { return recovered_cuts_; }
  // This spool's incarnation (32 hex digits), fixed by Open.
  const std::string& incarnation() const { return incarnation_; }

 private:
  struct Segment;
  struct Writer;
  struct RecordRef {
    uint64_t seq;
    std::shared_ptr<Segment> segment;
    uint64_t offset;  // of the record's header
    uint32_t length;  // of the payload
  };

  explicit EventSpool(SpoolOptions options);
  absl::Status Recover();
  absl::Status RecoverSegment(const std::string& name, uint64_t acked, uint64_t* max_seq);
  absl::Status ReadCursor(uint64_t* acked, uint64_t* next);
  absl::Status WriteCursor(uint64_t acked, uint64_t next);
  absl::Status CreateAtomically(const std::string& path, const std::string& content);
  // Reads the incarnation file into incarnation_, making one when it is missing.
  absl::Status LoadIncarnation();
  std::string SegmentPath(uint64_t first_seq) const;

  // Leader work: turns the queued writers into one buffer of records.
  struct Group;
  Group BuildGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteGroup(Group& group) ABSL_LOCKS_EXCLUDED(mu_);
  void FinishGroup(Group& group, const absl::Status& written) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountLost(uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes the segments holding nothing after `through_seq` (but the newest, if asked).
  absl::Status DeleteAcked(uint64_t through_seq, bool keep_newest) ABSL_LOCKS_EXCLUDED(mu_);

  const SpoolOptions options_;
  SpoolFs* const fs_;
  std::vector<std::string> recovered_cuts_;  // written by Open only
  std::string incarnation_;                  // written by Open only

  mutable absl::Mutex mu_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a leader is writing to active_
  std::shared_ptr<Segment> active_ ABSL_GUARDED_BY(mu_);  // nullptr: begin one on next write
  std::map<uint64_t, std::shared_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);  // by first seq
  std::deque<RecordRef> unacked_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t lost_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t lost_pending_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex ack_mu_;  // one Ack at a time (cursor file)
  size_t cursor_slot_ = 0;  // the cursor slot the next write overwrites (Open, then ack_mu_)
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_SPOOL_H_
