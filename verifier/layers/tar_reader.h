// A push-style, bounded, hostile-safe tar reader for image layers (issue 18,
// docs/design/continuous-validation-plan.md section 2).
//
// Formats: POSIX ustar (prefix + name), old GNU (magic "ustar  \0"; L/K long names and
// links; S sparse files, whose extension blocks are skipped), V7, PAX `x` headers (keys
// `path`, `linkpath`, `size`, `GNU.sparse.name`; other keys ignored) and PAX `g` headers
// (ignored, as containerd ignores them). Numeric fields are octal or GNU base-256.
// Header checksums are verified (unsigned or historic signed sums).
//
// Every entry is reported to a TarVisitor with its path normalized to absolute form
// ("./usr//bin/" -> "/usr/bin", "." -> "/"); a path or hard-link target with a `..`
// component, a NUL, or more than max_path_bytes bytes is an error. The visitor may ask for
// the entry's content up to a bound, or skip it.
//
// Fail closed: ambiguity is an error rather than a guess, since what containerd unpacks is
// what the rules must judge: two `x` (or two `L`, two `K`) headers before one entry, a PAX
// `path` and a GNU long name that differ, a PAX record that does not parse, a duplicate PAX
// key among path/linkpath/size, an unknown entry type, and non-zero bytes after the
// end-of-archive blocks. The archive may end with two zero blocks (then only zero bytes may
// follow), one zero block, or nothing at all at an entry boundary (as Go's archive/tar,
// which containerd uses, accepts); it may not end inside a header, a special header's data
// or an entry's content.
//
// Memory: one 512-byte block, the current special header's data (at most
// max_pax_header_bytes or max_path_bytes), and the content the visitor asked for (at most
// max_captured_file_bytes); never the archive's size.
//
// Thread-safety: not thread-safe (one stream, one caller). Ownership: borrows the visitor,
// which must outlive the reader.
#ifndef LAYERSEAL_VERIFIER_LAYERS_TAR_READER_H_
#define LAYERSEAL_VERIFIER_LAYERS_TAR_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace layerseal::layers {

// Longest entry path or link target, in bytes (Linux PATH_MAX).
inline constexpr size_t kMaxTarPathBytes = 4096;
// Largest PAX `x`/`g` header data (Go's archive/tar allows 1 MiB too).
inline constexpr size_t kMaxPaxHeaderBytes = 1 << 20;
// Most entries in one layer (real layers: tens of thousands).
inline constexpr uint64_t kMaxTarEntries = 1 << 20;
// Largest content a visitor may capture (rpm's sqlite database is tens of MiB).
inline constexpr size_t kMaxCapturedFileBytes = 64 << 20;

struct TarLimits {
  size_t max_path_bytes = kMaxTarPathBytes;
  size_t max_pax_header_bytes = kMaxPaxHeaderBytes;
  uint64_t max_entries = kMaxTarEntries;
  size_t max_captured_file_bytes = kMaxCapturedFileBytes;
};

enum class TarEntryType {
  kFile,         // '0', '\0', '7' (contiguous), 'S' (GNU sparse)
  kHardLink,     // '1'
  kSymlink,      // '2'
  kCharDevice,   // '3'
  kBlockDevice,  // '4'
  kDirectory,    // '5'
  kFifo,         // '6'
};

std::string_view TarEntryTypeName(TarEntryType type);

struct TarEntry {
  std::string path;      // absolute, normalized: "/", "/etc/passwd", "/bin/.wh.sh"
  TarEntryType type = TarEntryType::kFile;
  uint64_t size = 0;     // content bytes stored in the archive (0 for links, dirs, devices)
  std::string linkname;  // kSymlink: the target as stored; kHardLink: normalized absolute path
  uint32_t mode = 0;     // permission and set-id bits (07777)
  uint64_t index = 0;    // 0-based ordinal among reported entries
  bool sparse = false;   // a GNU sparse file (old 'S' or PAX GNU.sparse): content is not the file's
};

class TarVisitor {
 public:
  // What to do with an entry's content.
  struct Action {
    bool capture = false;
    size_t max_bytes = 0;
    static Action Skip() { return {}; }
    // OnContent receives the first min(entry.size, max_bytes) bytes (max_bytes is capped at
    // the reader's max_captured_file_bytes); compare with entry.size to see truncation.
    static Action Capture(size_t max_bytes) { return {true, max_bytes}; }
  };

  virtual ~TarVisitor() = default;
  // Each entry, in archive order. An error stops the reader and is returned from Feed.
  virtual absl::StatusOr<Action> OnEntry(const TarEntry& entry) = 0;
  // The captured content of the entry just reported, when OnEntry asked for it (also for
  // empty content). Not called for sparse entries: capturing one is an error.
  virtual absl::Status OnContent(const TarEntry& entry, std::string_view content) {
    (void)entry;
    (void)content;
    return absl::OkStatus();
  }
};

class TarReader {
 public:
  explicit TarReader(TarVisitor* visitor, TarLimits limits = {});
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // The archive's next bytes, any chunk size. InvalidArgument naming the entry (index and
  // path when known) and the byte offset for malformed input; ResourceExhausted for a limit;
  // the visitor's own errors as they are. After an error every call returns it again.
  absl::Status Feed(std::string_view bytes);
  // The end of the archive: an error when it ends inside a header or an entry.
  absl::Status Finish();

  uint64_t entries() const { return entries_; }
  uint64_t offset() const { return offset_; }

 private:
  enum class State { kHeader, kSpecialData, kSparseExt, kContent, kPadding, kEnd, kZeroTail };
  enum class Special { kNone, kPax, kGlobal, kLongName, kLongLink };

  absl::Status ProcessHeader();
  absl::Status FinishSpecial();
  absl::Status StartEntry(char typeflag, std::string_view raw_name, std::string_view raw_link,
                          uint64_t size, uint32_t mode, bool gnu_sparse, bool sparse_ext);
  absl::Status EndContent();
  absl::Status Fail(absl::Status status);
  std::string Where() const;

  TarVisitor* visitor_;
  TarLimits limits_;
  absl::Status error_;
  State state_ = State::kHeader;
  uint64_t offset_ = 0;   // bytes consumed
  uint64_t header_offset_ = 0;  // where the last header began
  uint64_t entries_ = 0;  // entries reported
  std::string block_;     // the partial 512-byte block being gathered (headers, sparse ext)
  uint64_t remaining_ = 0;  // bytes left of the current data (special, content) or padding
  uint64_t padding_ = 0;    // padding after the current data
  // The special header being read and what the ones before this entry set.
  Special special_ = Special::kNone;
  std::string special_data_;
  bool have_pax_ = false, have_long_name_ = false, have_long_link_ = false;
  std::string pax_path_, pax_linkpath_, pax_sparse_name_, long_name_, long_link_;
  bool pax_has_path_ = false, pax_has_linkpath_ = false, pax_has_size_ = false;
  bool pax_sparse_ = false;
  uint64_t pax_size_ = 0;
  // The current entry and its capture.
  TarEntry entry_;
  bool capture_ = false;
  size_t capture_max_ = 0;
  std::string captured_;
};

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_TAR_READER_H_
