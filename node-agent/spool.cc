#include "node-agent/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "node-agent/event_record.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

constexpr char kCursorName[] = "cursor";
constexpr char kIncarnationName[] = "incarnation";
constexpr size_t kIncarnationBytes = 16;  // random; written as 32 hex digits
constexpr char kSegmentPrefix[] = "seg-";
constexpr char kSegmentSuffix[] = ".log";
constexpr size_t kSegmentSeqDigits = 20;
// One of the cursor file's two slots (see CursorSlot).
constexpr size_t kCursorSlotBytes = 128;

absl::Status Errno(int err, const std::string& what) {
  return absl::ErrnoToStatus(err, StrCat(what, ": ", strerror(err)));
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Crc(std::string_view data) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

// The record of a payload serialized without its seq, with the seq appended as field 2
// (protobuf merges fields in any order): the leader numbers events without re-serializing.
std::string Record(const std::string& payload_without_seq, uint64_t seq) {
  std::string payload = payload_without_seq;
  payload.push_back(static_cast<char>(2 << 3));  // field 2, varint
  do {
    uint8_t byte = seq & 0x7f;
    seq >>= 7;
    payload.push_back(static_cast<char>(seq != 0 ? byte | 0x80 : byte));
  } while (seq != 0);
  std::string out;
  out.reserve(kSpoolRecordHeaderBytes + payload.size());
  PutU32(&out, static_cast<uint32_t>(payload.size()));
  PutU32(&out, Crc(payload));
  out += payload;
  return out;
}

// The first seq of a segment from its file name, or 0 when the name is not a segment's.
uint64_t SegmentFirstSeq(const std::string& name) {
  size_t prefix = sizeof(kSegmentPrefix) - 1, suffix = sizeof(kSegmentSuffix) - 1;
  if (name.size() != prefix + kSegmentSeqDigits + suffix || name.rfind(kSegmentPrefix, 0) != 0 ||
      name.compare(name.size() - suffix, suffix, kSegmentSuffix) != 0) {
    return 0;
  }
  uint64_t seq = 0;
  for (size_t i = prefix; i < prefix + kSegmentSeqDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    seq = seq * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return seq;
}

class PosixSpoolFs final : public SpoolFs {};

}  // namespace

// ---- SpoolFs: POSIX ----

absl::StatusOr<int> SpoolFs::Open(const std::string& path, bool create) {
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return Errno(errno, StrCat("cannot open ", path));
  return fd;
}

void SpoolFs::Close(int fd) { ::close(fd); }

absl::Status SpoolFs::Write(int fd, uint64_t offset, std::string_view data,
                            const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(errno, StrCat("cannot write ", path));
    if (n == 0) return Errno(EIO, StrCat("cannot write ", path));
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SpoolFs::Sync(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return Errno(errno, StrCat("cannot sync ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> SpoolFs::Read(int fd, uint64_t offset, size_t n,
                                          const std::string& path) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno(errno, StrCat("cannot read ", path));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

absl::StatusOr<uint64_t> SpoolFs::Size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno(errno, StrCat("cannot stat ", path));
  return static_cast<uint64_t>(st.st_size);
}

absl::Status SpoolFs::Truncate(int fd, uint64_t size, const std::string& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return Errno(errno, StrCat("cannot truncate ", path));
  }
  return absl::OkStatus();
}

absl::Status SpoolFs::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Errno(errno, StrCat("cannot rename ", from, " to ", to));
  }
  return absl::OkStatus();
}

absl::Status SpoolFs::Unlink(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Errno(errno, StrCat("cannot delete ", path));
  return absl::OkStatus();
}

absl::Status SpoolFs::SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, StrCat("cannot open directory ", dir));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Errno(err, StrCat("cannot sync directory ", dir));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SpoolFs::List(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno(errno, StrCat("cannot list ", dir));
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

absl::Status SpoolFs::MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

SpoolFs* SpoolFs::Posix() {
  static PosixSpoolFs* fs = new PosixSpoolFs();
  return fs;
}

// ---- EventSpool ----

struct EventSpool::Segment {
  Segment(SpoolFs* fs, std::string path, int fd, uint64_t first_seq)
      : fs(fs), path(std::move(path)), fd(fd), first_seq(first_seq) {}
  ~Segment() { fs->Close(fd); }
  SpoolFs* const fs;
  const std::string path;
  const int fd;
  const uint64_t first_seq;
  // Written by the leader (or Open) under mu_; read under mu_.
  uint64_t last_seq = 0;
  uint64_t size = 0;  // bytes of whole, synced records
};

struct EventSpool::Writer {
  std::string payload;  // the event serialized without its seq
  bool done = false;
  absl::Status status;
  uint64_t seq = 0;
  absl::CondVar cv;
};

// What one leader writes: records for some of the queued writers (and an EVENTS_LOST record
// first when events were lost before), in one buffer, to one segment.
struct EventSpool::Group {
  size_t taken = 0;                // writers_ popped when done (written or refused)
  std::vector<Writer*> written;    // each has its seq
  std::vector<Writer*> refused;    // the spool is full
  std::string buffer;
  std::vector<RecordRef> records;  // offsets relative to buffer; segment set when written
  uint64_t next_seq = 0;           // next_seq_ once written
  uint64_t lost_reported = 0;      // carried by this group's EVENTS_LOST record
  std::shared_ptr<Segment> segment;  // nullptr: begin a new one
  uint64_t offset = 0;             // where buffer goes in the segment
};

EventSpool::EventSpool(SpoolOptions options)
    : options_(std::move(options)), fs_(options_.fs != nullptr ? options_.fs : SpoolFs::Posix()) {}

EventSpool::~EventSpool() = default;

absl::StatusOr<std::unique_ptr<EventSpool>> EventSpool::Open(SpoolOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("event spool: no directory given");
  if (options.max_bytes < kSpoolRecordHeaderBytes) {
    return absl::InvalidArgumentError(
        StrCat("event spool: max bytes ", options.max_bytes, " is too small"));
  }
  if (options.segment_bytes == 0) options.segment_bytes = kDefaultSpoolSegmentBytes;
  std::unique_ptr<EventSpool> spool(new EventSpool(std::move(options)));
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  return spool;
}

std::string EventSpool::SegmentPath(uint64_t first_seq) const {
  char digits[kSegmentSeqDigits + 1];
  snprintf(digits, sizeof digits, "%020" PRIu64, first_seq);
  return StrCat(options_.dir, "/", kSegmentPrefix, digits, kSegmentSuffix);
}

namespace {

// The cursor file holds two fixed-size slots, each "layerseal-spool 2 acked=N next=M crc=C"
// padded to kCursorSlotBytes. Writes alternate between the slots and overwrite them in
// place, so after the file exists no write needs a new block: an acknowledgement can always
// be recorded, also on a full disk, and only deleting segments frees space. A write torn by
// a crash leaves the other slot, one acknowledgement older (which only causes resends).
std::string CursorSlot(uint64_t acked, uint64_t next) {
  std::string text = StrCat("layerseal-spool 2 acked=", acked, " next=", next);
  uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size())));
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", crc);
  text = StrCat(text, " crc=", hex);
  text.resize(kCursorSlotBytes - 1, ' ');
  return text + "\n";
}

// Parses one slot; false when it is torn, damaged or not a slot.
bool ParseCursorSlot(std::string_view slot, uint64_t* acked, uint64_t* next) {
  unsigned long long a = 0, n = 0;
  unsigned int crc = 0;
  std::string text(slot);
  if (sscanf(text.c_str(), "layerseal-spool 2 acked=%llu next=%llu crc=%8x", &a, &n, &crc) != 3) {
    return false;
  }
  if (n <= a || CursorSlot(a, n) != text) return false;  // also checks crc and padding
  *acked = a;
  *next = n;
  return true;
}

}  // namespace

absl::Status EventSpool::ReadCursor(uint64_t* acked, uint64_t* next) {
  std::string path = StrCat(options_.dir, "/", kCursorName);
  absl::StatusOr<int> fd = fs_->Open(path, /*create=*/false);
  if (absl::IsNotFound(fd.status())) {
    *acked = 0;
    *next = 1;
    return absl::OkStatus();
  }
  if (!fd.ok()) return fd.status();
  absl::StatusOr<std::string> text = fs_->Read(*fd, 0, 2 * kCursorSlotBytes, path);
  fs_->Close(*fd);
  if (!text.ok()) return text.status();
  bool found = false;
  for (size_t slot = 0; slot < 2; ++slot) {
    uint64_t a = 0, n = 0;
    if (text->size() < (slot + 1) * kCursorSlotBytes ||
        !ParseCursorSlot(std::string_view(*text).substr(slot * kCursorSlotBytes, kCursorSlotBytes),
                         &a, &n)) {
      continue;
    }
    if (!found || a > *acked || (a == *acked && n > *next)) {
      *acked = a;
      *next = n;
      cursor_slot_ = 1 - slot;  // the next write goes to the other slot
    }
    found = true;
  }
  if (!found) {
    return absl::DataLossError(StrCat(
        "event spool cursor ", path, " is damaged (neither of its two slots holds \"layerseal-spool"
        " 2 acked=N next=M crc=C\" with M > N and a matching crc): the agent will not guess which"
        " events the controller has, since a wrong seq would make it drop new events as"
        " duplicates; restore the file or, accepting resends and reused seqs, delete the"
        " directory ", options_.dir));
  }
  return absl::OkStatus();
}

absl::Status EventSpool::WriteCursor(uint64_t acked, uint64_t next) {
  std::string path = StrCat(options_.dir, "/", kCursorName);
  std::string slot = CursorSlot(acked, next);
  absl::StatusOr<int> fd = fs_->Open(path, /*create=*/false);
  if (absl::IsNotFound(fd.status())) return CreateAtomically(path, slot + slot);
  if (!fd.ok()) return fd.status();
  absl::Status s = fs_->Write(*fd, cursor_slot_ * kCursorSlotBytes, slot, path);
  if (s.ok()) s = fs_->Sync(*fd, path);
  fs_->Close(*fd);
  if (s.ok()) cursor_slot_ = 1 - cursor_slot_;
  return s;
}

// A new file (the first cursor, with both slots; the incarnation) written whole to a temp
// file, synced and renamed into place, so that a crash never leaves it half written.
absl::Status EventSpool::CreateAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  absl::StatusOr<int> fd = fs_->Open(tmp, /*create=*/true);
  if (!fd.ok()) return fd.status();
  absl::Status s = fs_->Write(*fd, 0, content, tmp);
  if (s.ok()) s = fs_->Sync(*fd, tmp);
  fs_->Close(*fd);
  if (s.ok()) s = fs_->Rename(tmp, path);
  if (s.ok()) s = fs_->SyncDir(options_.dir);
  return s;
}

namespace {

// "layerseal-spool-incarnation 1 id=<32 hex> crc=<8 hex>\n"
std::string IncarnationText(const std::string& id) {
  std::string text = StrCat("layerseal-spool-incarnation 1 id=", id);
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", Crc(text));
  return StrCat(text, " crc=", hex, "\n");
}

// The id of an incarnation file's text; "" when it is damaged.
std::string ParseIncarnation(const std::string& text) {
  char id[2 * kIncarnationBytes + 1] = {};
  if (sscanf(text.c_str(), "layerseal-spool-incarnation 1 id=%32[0-9a-f]", id) != 1 ||
      strlen(id) != 2 * kIncarnationBytes || IncarnationText(id) != text) {
    return "";
  }
  return id;
}

absl::StatusOr<std::string> NewIncarnationId() {
  unsigned char bytes[kIncarnationBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return absl::InternalError("event spool: no random bytes for a new incarnation");
  }
  std::string id;
  for (unsigned char b : bytes) {
    char hex[3];
    snprintf(hex, sizeof hex, "%02x", b);
    id += hex;
  }
  return id;
}

}  // namespace

absl::Status EventSpool::LoadIncarnation() {
  std::string path = StrCat(options_.dir, "/", kIncarnationName);
  absl::StatusOr<int> fd = fs_->Open(path, /*create=*/false);
  if (absl::IsNotFound(fd.status())) {
    // A new directory (or one of an agent older than incarnations: its seqs continue from
    // the cursor, so a new id collides with nothing it sent).
    absl::StatusOr<std::string> id = NewIncarnationId();
    if (!id.ok()) return id.status();
    if (absl::Status s = CreateAtomically(path, IncarnationText(*id)); !s.ok()) return s;
    incarnation_ = *id;
    return absl::OkStatus();
  }
  if (!fd.ok()) return fd.status();
  absl::StatusOr<std::string> text = fs_->Read(*fd, 0, kMaxIncarnationFileBytes, path);
  fs_->Close(*fd);
  if (!text.ok()) return text.status();
  incarnation_ = ParseIncarnation(*text);
  if (incarnation_.empty()) {
    return absl::DataLossError(StrCat(
        "event spool incarnation ", path, " is damaged (not \"layerseal-spool-incarnation 1"
        " id=<32 hex> crc=C\" with a matching crc): the agent will not make up a new one"
        " silently; restore the file or delete it (the spool then takes a new incarnation)"));
  }
  return absl::OkStatus();
}

absl::Status EventSpool::Recover() {
  if (absl::Status s = fs_->MakeDir(options_.dir); !s.ok()) return s;
  uint64_t acked = 0, next = 1;
  if (absl::Status s = ReadCursor(&acked, &next); !s.ok()) return s;
  if (absl::Status s = LoadIncarnation(); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = fs_->List(options_.dir);
  if (!names.ok()) return names.status();
  std::map<uint64_t, std::string> segment_names;
  for (const std::string& name : *names) {
    if (uint64_t first = SegmentFirstSeq(name); first != 0) segment_names[first] = name;
  }
  absl::MutexLock lock(&mu_);
  uint64_t max_seq = 0;
  for (const auto& [first, name] : segment_names) {
    if (absl::Status s = RecoverSegment(name, acked, &max_seq); !s.ok()) return s;
  }
  acked_ = acked;
  next_seq_ = std::max({next, max_seq + 1, acked + 1});
  // Made (or rewritten) now, while there is room, so that no later acknowledgement needs a
  // new block. On a disk already full this fails; the first Ack makes room and tries again.
  WriteCursor(acked_, next_seq_).IgnoreError();
  return absl::OkStatus();
}

absl::Status EventSpool::RecoverSegment(const std::string& name, uint64_t acked,
                                        uint64_t* max_seq) {
  std::string path = StrCat(options_.dir, "/", name);
  absl::StatusOr<int> fd = fs_->Open(path, /*create=*/false);
  if (!fd.ok()) return fd.status();
  auto segment = std::make_shared<Segment>(fs_, path, *fd, SegmentFirstSeq(name));
  absl::StatusOr<uint64_t> size = fs_->Size(*fd, path);
  if (!size.ok()) return size.status();
  absl::StatusOr<std::string> data = fs_->Read(*fd, 0, *size, path);
  if (!data.ok()) return data.status();
  std::vector<RecordRef> refs;
  uint64_t offset = 0;
  while (offset < data->size()) {
    std::string damage;
    uint64_t left = data->size() - offset;
    uint32_t length = 0;
    v1::Event event;
    if (left < kSpoolRecordHeaderBytes) {
      damage = "torn record header";
    } else if (length = GetU32(data->data() + offset); length > kMaxSpoolRecordBytes) {
      damage = StrCat("record length ", length, " beyond ", kMaxSpoolRecordBytes);
    } else if (kSpoolRecordHeaderBytes + length > left) {
      damage = "torn record";
    } else {
      std::string_view payload(data->data() + offset + kSpoolRecordHeaderBytes, length);
      if (Crc(payload) != GetU32(data->data() + offset + 4)) {
        damage = "crc mismatch";
      } else if (!event.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        damage = "not an event";
      } else if (event.seq() <= *max_seq) {
        damage = StrCat("seq ", event.seq(), " not above ", *max_seq);
      }
    }
    if (!damage.empty()) {
      recovered_cuts_.push_back(StrCat(path, " at byte ", offset, ": ", damage, "; cut ",
                                       data->size() - offset, " bytes"));
      if (absl::Status s = fs_->Truncate(*fd, offset, path); !s.ok()) return s;
      if (absl::Status s = fs_->Sync(*fd, path); !s.ok()) return s;
      data->resize(offset);
      break;
    }
    *max_seq = event.seq();
    segment->last_seq = event.seq();
    if (event.seq() > acked) refs.push_back({event.seq(), segment, offset, length});
    offset += kSpoolRecordHeaderBytes + length;
  }
  segment->size = data->size();
  if (refs.empty()) return fs_->Unlink(path);  // nothing left to deliver
  segments_[segment->first_seq] = segment;
  bytes_ += segment->size;
  unacked_.insert(unacked_.end(), refs.begin(), refs.end());
  return absl::OkStatus();
}

void EventSpool::CountLost(uint64_t n) {
  if (n == 0) return;
  lost_ += n;
  lost_pending_ += n;
  if (options_.on_lost) options_.on_lost(n);
}

EventSpool::Group EventSpool::BuildGroup() {
  Group g;
  g.next_seq = next_seq_;
  uint64_t room = options_.max_bytes > bytes_ ? options_.max_bytes - bytes_ : 0;
  bool full = false;
  auto add = [&](const std::string& payload) {
    std::string record = Record(payload, g.next_seq);
    if (full || record.size() > room - std::min<uint64_t>(room, g.buffer.size())) {
      full = true;  // later ones neither: the loss is reported before anything after it
      return false;
    }
    g.records.push_back({g.next_seq, nullptr, g.buffer.size(),
                         static_cast<uint32_t>(record.size() - kSpoolRecordHeaderBytes)});
    g.buffer += record;
    ++g.next_seq;
    return true;
  };
  if (lost_pending_ > 0) {
    v1::Event lost = EventsLostRecord(lost_pending_, options_.node, 0, options_.agent_version,
                                      absl::Now());
    lost.set_spool_incarnation(incarnation_);
    if (add(lost.SerializeAsString())) g.lost_reported = lost_pending_;
  }
  for (Writer* w : writers_) {
    if (g.taken > 0 && g.buffer.size() >= kMaxGroupCommitBytes) break;
    ++g.taken;
    uint64_t seq = g.next_seq;
    if (add(w->payload)) {
      w->seq = seq;
      g.written.push_back(w);
    } else {
      g.refused.push_back(w);
    }
  }
  if (active_ != nullptr &&
      (active_->size == 0 || active_->size + g.buffer.size() <= options_.segment_bytes)) {
    g.segment = active_;
    g.offset = active_->size;
  }
  return g;
}

absl::Status EventSpool::WriteGroup(Group& g) {
  absl::Time start = absl::Now();
  if (g.segment == nullptr) {
    std::string path = SegmentPath(g.records.front().seq);
    absl::StatusOr<int> fd = fs_->Open(path, /*create=*/true);
    if (!fd.ok()) return fd.status();
    g.segment = std::make_shared<Segment>(fs_, path, *fd, g.records.front().seq);
    g.offset = 0;
    absl::Status s = fs_->Write(*fd, 0, g.buffer, path);
    if (s.ok()) s = fs_->Sync(*fd, path);
    if (s.ok()) s = fs_->SyncDir(options_.dir);  // the new file's name is durable too
    if (!s.ok()) {
      fs_->Unlink(path).IgnoreError();  // nothing in it was kept
      g.segment = nullptr;
      return s;
    }
  } else {
    absl::Status s = fs_->Write(g.segment->fd, g.offset, g.buffer, g.segment->path);
    if (s.ok()) s = fs_->Sync(g.segment->fd, g.segment->path);
    if (!s.ok()) {
      // After a failed write or sync the file's tail is unknown: cut it back to the last
      // synced record and begin a new segment with the next group.
      fs_->Truncate(g.segment->fd, g.offset, g.segment->path).IgnoreError();
      return s;
    }
  }
  if (options_.on_sync) options_.on_sync(absl::Now() - start);
  return absl::OkStatus();
}

void EventSpool::FinishGroup(Group& g, const absl::Status& written) {
  writing_ = false;
  if (!g.written.empty() || g.lost_reported > 0) ++syncs_;
  if (written.ok() && !g.records.empty()) {
    if (g.segment != active_) {
      segments_[g.segment->first_seq] = g.segment;
      active_ = g.segment;
    }
    for (RecordRef& r : g.records) {
      r.segment = g.segment;
      r.offset += g.offset;
      unacked_.push_back(r);
    }
    g.segment->size += g.buffer.size();
    g.segment->last_seq = g.records.back().seq;
    bytes_ += g.buffer.size();
    next_seq_ = g.next_seq;
    lost_pending_ -= g.lost_reported;
  } else if (!written.ok()) {
    if (g.segment == active_) active_ = nullptr;
    for (Writer* w : g.written) w->status = written;
    CountLost(g.written.size());
  }
  for (Writer* w : g.refused) {
    w->status = absl::ResourceExhaustedError(
        StrCat("event spool ", options_.dir, " is full (", bytes_, " of ", options_.max_bytes,
               " bytes): event not kept"));
  }
  CountLost(g.refused.size());
  for (size_t i = 0; i < g.taken; ++i) {
    Writer* w = writers_.front();
    writers_.pop_front();
    w->done = true;
    w->cv.Signal();
  }
  if (!writers_.empty()) writers_.front()->cv.Signal();  // the next leader
}

absl::StatusOr<uint64_t> EventSpool::Append(v1::Event event) {
  event.clear_seq();
  event.set_spool_incarnation(incarnation_);
  Writer w;
  w.payload = event.SerializeAsString();
  // Room for the seq Record() adds (a varint field: at most 11 bytes).
  if (w.payload.size() + 16 > kMaxSpoolRecordBytes) {
    absl::MutexLock lock(&mu_);
    CountLost(1);
    return absl::ResourceExhaustedError(
        StrCat("event spool ", options_.dir, ": an event of ", w.payload.size(),
               " bytes is longer than a record may be (kMaxSpoolRecordBytes ",
               kMaxSpoolRecordBytes, "): event not kept"));
  }
  mu_.Lock();
  writers_.push_back(&w);
  while (!w.done && &w != writers_.front()) w.cv.Wait(&mu_);
  if (!w.done) {  // the leader: write for everybody queued
    Group g = BuildGroup();
    writing_ = true;
    absl::Status written = absl::OkStatus();
    if (!g.records.empty()) {
      mu_.Unlock();
      written = WriteGroup(g);
      mu_.Lock();
    }
    FinishGroup(g, written);
  }
  mu_.Unlock();
  if (!w.status.ok()) return w.status;
  return w.seq;
}

absl::StatusOr<std::vector<v1::Event>> EventSpool::Unacked(size_t max_events, size_t max_bytes) {
  std::vector<RecordRef> refs;
  {
    absl::MutexLock lock(&mu_);
    size_t bytes = 0;
    for (const RecordRef& r : unacked_) {
      if (refs.size() >= max_events || (!refs.empty() && bytes + r.length > max_bytes)) break;
      bytes += r.length;
      refs.push_back(r);
    }
  }
  std::vector<v1::Event> out;
  out.reserve(refs.size());
  for (const RecordRef& r : refs) {
    absl::StatusOr<std::string> record = fs_->Read(r.segment->fd, r.offset,
                                                   kSpoolRecordHeaderBytes + r.length,
                                                   r.segment->path);
    if (!record.ok()) return record.status();  // an I/O error: try again later
    v1::Event event;
    std::string_view payload(*record);
    bool whole = payload.size() == kSpoolRecordHeaderBytes + r.length;
    if (whole) payload.remove_prefix(kSpoolRecordHeaderBytes);
    if (!whole || Crc(payload) != GetU32(record->data() + 4) ||
        !event.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
        event.seq() != r.seq) {
      // Damaged on disk since it was written: it cannot be delivered, so it is lost (and
      // reported as such), never retried forever.
      absl::MutexLock lock(&mu_);
      auto it = std::find_if(unacked_.begin(), unacked_.end(),
                             [&](const RecordRef& u) { return u.seq == r.seq; });
      if (it != unacked_.end()) {
        unacked_.erase(it);
        CountLost(1);
      }
      continue;
    }
    out.push_back(std::move(event));
  }
  return out;
}

absl::Status EventSpool::Ack(uint64_t through_seq) {
  absl::MutexLock ack_lock(&ack_mu_);
  uint64_t next = 0;
  {
    absl::MutexLock lock(&mu_);
    through_seq = std::min(through_seq, next_seq_ - 1);
    if (through_seq <= acked_) return absl::OkStatus();
    next = next_seq_;
  }
  if (absl::Status s = WriteCursor(through_seq, next); !s.ok()) {
    // A full disk may refuse even the cursor's few bytes, and only deleting segments frees
    // space. Delete those the controller has, except the newest (it keeps the next seq known
    // should the cursor stay old), and try once more. Crashing in between only resends.
    DeleteAcked(through_seq, /*keep_newest=*/true).IgnoreError();
    if (absl::Status again = WriteCursor(through_seq, next); !again.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    acked_ = through_seq;
    while (!unacked_.empty() && unacked_.front().seq <= through_seq) unacked_.pop_front();
  }
  return DeleteAcked(through_seq, /*keep_newest=*/false);
}

absl::Status EventSpool::DeleteAcked(uint64_t through_seq, bool keep_newest) {
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = segments_.begin(); it != segments_.end();) {
      const std::shared_ptr<Segment>& seg = it->second;
      bool newest = std::next(it) == segments_.end();
      if (seg->last_seq > through_seq || (seg == active_ && writing_) || (keep_newest && newest)) {
        ++it;
        continue;
      }
      if (seg == active_) active_ = nullptr;
      bytes_ -= seg->size;
      doomed.push_back(seg);
      it = segments_.erase(it);
    }
  }
  absl::Status result = absl::OkStatus();
  for (const std::shared_ptr<Segment>& seg : doomed) {
    absl::Status s = fs_->Unlink(seg->path);
    if (result.ok()) result = s;
  }
  return result;
}

SpoolStats EventSpool::stats() const {
  absl::MutexLock lock(&mu_);
  return SpoolStats{.backlog = unacked_.size(),
                    .bytes = bytes_,
                    .lost = lost_,
                    .lost_pending = lost_pending_,
                    .syncs = syncs_,
                    .next_seq = next_seq_,
                    .acked = acked_};
}

}  // namespace layerseal::agent
