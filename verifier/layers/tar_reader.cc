#include "verifier/layers/tar_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/str_cat.h"
#include "verifier/layers/quoted.h"

namespace layerseal::layers {
namespace {

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

struct HeaderField {
  size_t offset;
  size_t size;
};
constexpr HeaderField kName{0, 100};
constexpr HeaderField kMode{100, 8};
constexpr HeaderField kSize{124, 12};
constexpr HeaderField kChecksum{148, 8};
constexpr size_t kTypeflag = 156;
constexpr HeaderField kLinkname{157, 100};
constexpr HeaderField kMagic{257, 6};
constexpr HeaderField kVersion{263, 2};
constexpr HeaderField kPrefix{345, 155};
constexpr size_t kGnuSparseIsExtended = 482;     // old GNU sparse header ('S')
constexpr size_t kGnuSparseExtIsExtended = 504;  // in each sparse extension block

std::string_view FieldBytes(std::string_view block, HeaderField f) { return block.substr(f.offset, f.size); }

std::string_view CString(std::string_view field) { return field.substr(0, field.find('\0')); }

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

// Octal (leading and trailing spaces and NULs allowed, as tar writers pad both ways; cut at
// the first NUL) or GNU base-256 (high bit of the first byte). Values over INT64_MAX and
// negative base-256 values are errors.
absl::StatusOr<uint64_t> ParseNumeric(std::string_view field, std::string_view name) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80) != 0) {
    if (static_cast<unsigned char>(field[0]) == 0xff) {
      return absl::InvalidArgumentError(StrCat("negative base-256 ", name, " field"));
    }
    uint64_t value = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < field.size(); ++i) {
      if (value > (kMaxInt64 >> 8)) {
        return absl::InvalidArgumentError(StrCat("base-256 ", name, " field overflows"));
      }
      value = (value << 8) | static_cast<unsigned char>(field[i]);
    }
    return value;
  }
  size_t b = 0, e = field.size();
  while (b < e && (field[b] == ' ' || field[b] == '\0')) ++b;
  while (e > b && (field[e - 1] == ' ' || field[e - 1] == '\0')) --e;
  std::string_view digits = field.substr(b, e - b);
  digits = digits.substr(0, digits.find('\0'));
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '7') {
      return absl::InvalidArgumentError(StrCat(name, " field ", Quoted(field), " is not octal"));
    }
    if (value > (kMaxInt64 >> 3)) return absl::InvalidArgumentError(StrCat(name, " field overflows"));
    value = value * 8 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

bool ChecksumMatches(std::string_view block, uint64_t stored) {
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= kChecksum.offset && i < kChecksum.offset + kChecksum.size;
    unsigned char c = in_field ? ' ' : static_cast<unsigned char>(block[i]);
    unsigned_sum += c;
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || static_cast<int64_t>(stored) == signed_sum;
}

// "./a//b/" -> "/a/b"; "" is an error, "." and "/" are "/".
absl::StatusOr<std::string> NormalizePath(std::string_view raw, size_t max_bytes, std::string_view what) {
  if (raw.empty()) return absl::InvalidArgumentError(StrCat("empty ", what));
  if (raw.size() > max_bytes) {
    return absl::ResourceExhaustedError(
        StrCat(what, " of ", raw.size(), " bytes is longer than the limit of ", max_bytes));
  }
  if (raw.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(what, " ", Quoted(raw), " holds a NUL byte"));
  }
  std::string out;
  out.reserve(raw.size() + 1);
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t slash = raw.find('/', pos);
    if (slash == std::string_view::npos) slash = raw.size();
    std::string_view comp = raw.substr(pos, slash - pos);
    if (comp == "..") {
      return absl::InvalidArgumentError(StrCat(what, " ", Quoted(raw), " has a \"..\" component"));
    }
    if (!comp.empty() && comp != ".") {
      out.push_back('/');
      out.append(comp);
    }
    pos = slash + 1;
  }
  if (out.empty()) out = "/";
  return out;
}

uint64_t PaddingFor(uint64_t size) { return (kBlock - size % kBlock) % kBlock; }

}  // namespace

std::string_view TarEntryTypeName(TarEntryType type) {
  switch (type) {
    case TarEntryType::kFile: return "file";
    case TarEntryType::kHardLink: return "hard link";
    case TarEntryType::kSymlink: return "symbolic link";
    case TarEntryType::kCharDevice: return "character device";
    case TarEntryType::kBlockDevice: return "block device";
    case TarEntryType::kDirectory: return "directory";
    case TarEntryType::kFifo: return "FIFO";
  }
  return "unknown";
}

TarReader::TarReader(TarVisitor* visitor, TarLimits limits) : visitor_(visitor), limits_(limits) {
  block_.reserve(kBlock);
}

std::string TarReader::Where() const {
  if (state_ == State::kContent || state_ == State::kPadding) {
    return StrCat("tar entry ", entry_.index, " ", Quoted(entry_.path), ", archive offset ", offset_);
  }
  return StrCat("tar header at archive offset ", header_offset_);
}

absl::Status TarReader::Fail(absl::Status status) {
  if (status.ok()) return status;
  // The visitor's own errors pass as they are; the reader's get their place in the archive.
  error_ = absl::Status(status.code(), StrCat("tar: ", Sv(status.message()), " (", Where(), ")"));
  return error_;
}

absl::Status TarReader::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  while (!bytes.empty()) {
    switch (state_) {
      case State::kHeader:
      case State::kEnd:
      case State::kSparseExt: {
        size_t take = std::min(bytes.size(), kBlock - block_.size());
        block_.append(bytes.data(), take);
        bytes.remove_prefix(take);
        offset_ += take;
        if (block_.size() < kBlock) break;
        if (state_ == State::kSparseExt) {
          bool more = block_[kGnuSparseExtIsExtended] != '\0';
          block_.clear();
          if (!more) {
            state_ = State::kContent;
            if (remaining_ == 0) {
              if (absl::Status s = EndContent(); !s.ok()) return error_.ok() ? Fail(s) : s;
            }
          }
          break;
        }
        if (state_ == State::kEnd) {
          header_offset_ = offset_ - kBlock;
          if (!AllZero(block_)) return Fail(absl::InvalidArgumentError("a non-zero block follows a zero block"));
          block_.clear();
          state_ = State::kZeroTail;
          break;
        }
        if (absl::Status s = ProcessHeader(); !s.ok()) return error_.ok() ? Fail(s) : s;
        break;
      }
      case State::kSpecialData: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(bytes.size(), remaining_));
        special_data_.append(bytes.data(), take);
        bytes.remove_prefix(take);
        offset_ += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          if (absl::Status s = FinishSpecial(); !s.ok()) return Fail(s);
        }
        break;
      }
      case State::kContent: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(bytes.size(), remaining_));
        if (capture_ && captured_.size() < capture_max_) {
          size_t keep = std::min(take, capture_max_ - captured_.size());
          captured_.append(bytes.data(), keep);
        }
        bytes.remove_prefix(take);
        offset_ += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          if (absl::Status s = EndContent(); !s.ok()) return error_.ok() ? Fail(s) : s;
        }
        break;
      }
      case State::kPadding: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(bytes.size(), padding_));
        bytes.remove_prefix(take);
        offset_ += take;
        padding_ -= take;
        if (padding_ == 0) state_ = State::kHeader;
        break;
      }
      case State::kZeroTail: {
        if (!AllZero(bytes)) {
          offset_ += std::find_if(bytes.begin(), bytes.end(), [](char c) { return c != '\0'; }) - bytes.begin();
          error_ = absl::InvalidArgumentError(
              StrCat("tar: non-zero data after the end-of-archive blocks (archive offset ", offset_, ")"));
          return error_;
        }
        offset_ += bytes.size();
        bytes = {};
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status TarReader::Finish() {
  if (!error_.ok()) return error_;
  std::string what;
  switch (state_) {
    case State::kHeader:
      if (!block_.empty()) what = StrCat("the archive ends inside a header (", block_.size(), " of 512 bytes)");
      else if (have_pax_ || have_long_name_ || have_long_link_) what = "the archive ends after a PAX or GNU header, before its entry";
      break;
    case State::kEnd:
      if (!block_.empty()) what = "the archive ends inside its end-of-archive block";
      break;
    case State::kZeroTail:
      break;
    case State::kSpecialData:
      what = StrCat("the archive ends inside a PAX or GNU header's data (", remaining_, " bytes missing)");
      break;
    case State::kSparseExt:
      what = "the archive ends inside a GNU sparse header";
      break;
    case State::kContent:
      what = StrCat("the archive ends inside the entry's content (", remaining_, " bytes missing)");
      break;
    case State::kPadding:
      what = StrCat("the archive ends inside the entry's padding (", padding_, " bytes missing)");
      break;
  }
  if (!what.empty()) return Fail(absl::InvalidArgumentError(what));
  return absl::OkStatus();
}

absl::Status TarReader::ProcessHeader() {
  header_offset_ = offset_ - kBlock;
  std::string_view block = block_;
  if (AllZero(block)) {
    if (have_pax_ || have_long_name_ || have_long_link_) {
      return absl::InvalidArgumentError("end of archive right after a PAX or GNU header");
    }
    block_.clear();
    state_ = State::kEnd;
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> checksum = ParseNumeric(FieldBytes(block, kChecksum), "checksum");
  if (!checksum.ok()) return checksum.status();
  if (!ChecksumMatches(block, *checksum)) {
    return absl::InvalidArgumentError(StrCat("header checksum ", *checksum, " (decimal) does not match the header"));
  }
  std::string_view magic = FieldBytes(block, kMagic);
  std::string_view version = FieldBytes(block, kVersion);
  bool ustar = magic == std::string_view("ustar\0", 6) && version == std::string_view("00", 2);
  bool gnu = magic == std::string_view("ustar ", 6) && version == std::string_view(" \0", 2);
  char type = block[kTypeflag];
  absl::StatusOr<uint64_t> size = ParseNumeric(FieldBytes(block, kSize), "size");
  if (!size.ok()) return size.status();
  absl::StatusOr<uint64_t> mode = ParseNumeric(FieldBytes(block, kMode), "mode");
  if (!mode.ok()) return mode.status();

  std::string raw_name(CString(FieldBytes(block, kName)));
  if (ustar) {
    std::string_view prefix = CString(FieldBytes(block, kPrefix));
    if (!prefix.empty()) raw_name = StrCat(prefix, "/", raw_name);
  }
  std::string raw_link(CString(FieldBytes(block, kLinkname)));
  if (type == 'S' && !gnu) {
    // Go's archive/tar (containerd's reader) accepts old GNU sparse entries only in GNU headers.
    return absl::InvalidArgumentError("a GNU sparse entry ('S') in a non-GNU header");
  }
  bool gnu_sparse_ext = type == 'S' && block[kGnuSparseIsExtended] != '\0';
  block_.clear();

  switch (type) {
    case 'x':
    case 'g':
    case 'L':
    case 'K': {
      Special kind = type == 'x' ? Special::kPax : type == 'g' ? Special::kGlobal
                     : type == 'L' ? Special::kLongName : Special::kLongLink;
      if ((kind == Special::kPax && have_pax_) || (kind == Special::kLongName && have_long_name_) ||
          (kind == Special::kLongLink && have_long_link_)) {
        return absl::InvalidArgumentError(StrCat("two type '", type, "' headers before one entry"));
      }
      uint64_t limit = (kind == Special::kPax || kind == Special::kGlobal) ? limits_.max_pax_header_bytes
                                                                            : limits_.max_path_bytes + 1;
      if (*size > limit) {
        return absl::ResourceExhaustedError(StrCat("type '", type, "' header data of ", *size,
                                                   " bytes is larger than the limit of ", limit));
      }
      special_ = kind;
      special_data_.clear();
      special_data_.reserve(static_cast<size_t>(*size));
      remaining_ = *size;
      padding_ = PaddingFor(*size);
      if (remaining_ == 0) return FinishSpecial();
      state_ = State::kSpecialData;
      return absl::OkStatus();
    }
    default:
      break;
  }
  absl::Status s = StartEntry(type, raw_name, raw_link, *size, static_cast<uint32_t>(*mode & 07777),
                              type == 'S', gnu_sparse_ext);
  if (!s.ok()) return s;
  if (gnu_sparse_ext) {
    state_ = State::kSparseExt;  // extension blocks, then the content
  }
  return absl::OkStatus();
}

absl::Status TarReader::FinishSpecial() {
  Special kind = special_;
  special_ = Special::kNone;
  std::string data = std::move(special_data_);
  special_data_.clear();
  state_ = padding_ > 0 ? State::kPadding : State::kHeader;
  switch (kind) {
    case Special::kLongName:
      long_name_ = std::string(CString(data));
      have_long_name_ = true;
      return absl::OkStatus();
    case Special::kLongLink:
      long_link_ = std::string(CString(data));
      have_long_link_ = true;
      return absl::OkStatus();
    case Special::kGlobal:
      return absl::OkStatus();  // ignored, as containerd ignores PAX global headers
    case Special::kNone:
      return absl::OkStatus();
    case Special::kPax:
      break;
  }
  have_pax_ = true;
  pax_has_path_ = pax_has_linkpath_ = pax_has_size_ = pax_sparse_ = false;
  pax_path_.clear();
  pax_linkpath_.clear();
  pax_sparse_name_.clear();
  std::string_view rest = data;
  while (!rest.empty()) {
    // "<length> <key>=<value>\n", the length counting the whole record.
    size_t space = rest.find(' ');
    if (space == std::string_view::npos || space == 0 || space > 20) {
      return absl::InvalidArgumentError("PAX record without a length");
    }
    uint64_t length = 0;
    for (char c : rest.substr(0, space)) {
      if (c < '0' || c > '9') return absl::InvalidArgumentError("PAX record length is not decimal");
      length = length * 10 + static_cast<uint64_t>(c - '0');
      if (length > rest.size()) break;
    }
    if (length <= space + 1 || length > rest.size()) {
      return absl::InvalidArgumentError(StrCat("PAX record length ", length, " does not fit the header"));
    }
    std::string_view record = rest.substr(0, static_cast<size_t>(length));
    rest.remove_prefix(static_cast<size_t>(length));
    if (record.back() != '\n') return absl::InvalidArgumentError("PAX record does not end in a newline");
    std::string_view kv = record.substr(space + 1, record.size() - space - 2);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(StrCat("PAX record ", Quoted(kv), " is not key=value"));
    }
    std::string_view key = kv.substr(0, eq);
    std::string_view value = kv.substr(eq + 1);
    auto once = [&](bool& seen) -> absl::Status {
      if (seen) return absl::InvalidArgumentError(StrCat("PAX key ", Quoted(key), " appears twice"));
      seen = true;
      return absl::OkStatus();
    };
    if (key == "path") {
      if (absl::Status s = once(pax_has_path_); !s.ok()) return s;
      pax_path_ = std::string(value);
    } else if (key == "linkpath") {
      if (absl::Status s = once(pax_has_linkpath_); !s.ok()) return s;
      pax_linkpath_ = std::string(value);
    } else if (key == "size") {
      if (absl::Status s = once(pax_has_size_); !s.ok()) return s;
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return absl::InvalidArgumentError(StrCat("PAX size ", Quoted(value), " is not a decimal number"));
      }
      pax_size_ = 0;
      for (char c : value) pax_size_ = pax_size_ * 10 + static_cast<uint64_t>(c - '0');
      if (pax_size_ > kMaxInt64) return absl::InvalidArgumentError("PAX size overflows");
    } else if (key == "GNU.sparse.name") {
      pax_sparse_name_ = std::string(value);
      pax_sparse_ = true;
    } else if (key.substr(0, 11) == "GNU.sparse.") {
      pax_sparse_ = true;
    }
  }
  return absl::OkStatus();
}

absl::Status TarReader::StartEntry(char typeflag, std::string_view raw_name, std::string_view raw_link,
                                   uint64_t size, uint32_t mode, bool gnu_sparse, bool sparse_ext) {
  TarEntry entry;
  switch (typeflag) {
    case '0': case '\0': case '7': case 'S': entry.type = TarEntryType::kFile; break;
    case '1': entry.type = TarEntryType::kHardLink; break;
    case '2': entry.type = TarEntryType::kSymlink; break;
    case '3': entry.type = TarEntryType::kCharDevice; break;
    case '4': entry.type = TarEntryType::kBlockDevice; break;
    case '5': entry.type = TarEntryType::kDirectory; break;
    case '6': entry.type = TarEntryType::kFifo; break;
    default: {
      unsigned char c = static_cast<unsigned char>(typeflag);
      return absl::InvalidArgumentError(StrCat("unsupported entry type ", Quoted(std::string_view(&typeflag, 1)),
                                               " (byte ", static_cast<int>(c), ")"));
    }
  }
  // The name: the header's, replaced by a GNU long name, a PAX path, or a PAX sparse name
  // (in the order containerd's Go reader applies them); two different ones are ambiguous.
  std::string name(raw_name);
  if (have_long_name_ && pax_has_path_ && long_name_ != pax_path_) {
    return absl::InvalidArgumentError(StrCat("GNU long name ", Quoted(long_name_), " and PAX path ",
                                             Quoted(pax_path_), " differ"));
  }
  if (have_long_link_ && pax_has_linkpath_ && long_link_ != pax_linkpath_) {
    return absl::InvalidArgumentError(StrCat("GNU long link ", Quoted(long_link_), " and PAX linkpath ",
                                             Quoted(pax_linkpath_), " differ"));
  }
  if (pax_has_path_) name = pax_path_;
  if (have_long_name_) name = long_name_;
  if (!pax_sparse_name_.empty()) name = pax_sparse_name_;
  std::string link(raw_link);
  if (pax_has_linkpath_) link = pax_linkpath_;
  if (have_long_link_) link = long_link_;
  if (pax_has_size_) size = pax_size_;
  entry.sparse = gnu_sparse || pax_sparse_;
  have_pax_ = have_long_name_ = have_long_link_ = false;
  pax_has_path_ = pax_has_linkpath_ = pax_has_size_ = pax_sparse_ = false;
  pax_path_.clear();
  pax_linkpath_.clear();
  pax_sparse_name_.clear();
  long_name_.clear();
  long_link_.clear();

  absl::StatusOr<std::string> path = NormalizePath(name, limits_.max_path_bytes, "entry path");
  if (!path.ok()) return path.status();
  entry.path = std::move(*path);
  if (entry.type == TarEntryType::kHardLink) {
    absl::StatusOr<std::string> target = NormalizePath(link, limits_.max_path_bytes, "hard link target");
    if (!target.ok()) return target.status();
    entry.linkname = std::move(*target);
  } else if (entry.type == TarEntryType::kSymlink) {
    if (link.empty()) return absl::InvalidArgumentError(StrCat("symbolic link ", Quoted(entry.path), " has no target"));
    if (link.size() > limits_.max_path_bytes) {
      return absl::ResourceExhaustedError(StrCat("symbolic link target of ", link.size(),
                                                 " bytes is longer than the limit of ", limits_.max_path_bytes));
    }
    if (link.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(StrCat("symbolic link target ", Quoted(link), " holds a NUL byte"));
    }
    entry.linkname = std::move(link);
  }
  // Links, directories and devices store no content in the archive (Go's reader and GNU
  // tar agree), whatever their size field says.
  if (entry.type != TarEntryType::kFile) size = 0;
  entry.size = size;
  entry.mode = mode;
  if (entries_ >= limits_.max_entries) {
    return absl::ResourceExhaustedError(StrCat("more than ", limits_.max_entries, " entries"));
  }
  entry.index = entries_++;
  entry_ = std::move(entry);
  state_ = State::kContent;  // Where() now names the entry
  remaining_ = entry_.size;
  padding_ = PaddingFor(entry_.size);
  capture_ = false;
  captured_.clear();
  absl::StatusOr<TarVisitor::Action> action = visitor_->OnEntry(entry_);
  if (!action.ok()) {
    error_ = action.status();
    return error_;
  }
  if (action->capture) {
    if (entry_.sparse) {
      return absl::InvalidArgumentError("cannot capture a sparse file's content");
    }
    capture_ = true;
    capture_max_ = std::min(action->max_bytes, limits_.max_captured_file_bytes);
    captured_.reserve(static_cast<size_t>(std::min<uint64_t>(capture_max_, entry_.size)));
  }
  if (remaining_ == 0 && !sparse_ext) return EndContent();
  return absl::OkStatus();
}

absl::Status TarReader::EndContent() {
  state_ = padding_ > 0 ? State::kPadding : State::kHeader;
  if (!capture_) return absl::OkStatus();
  capture_ = false;
  std::string content = std::move(captured_);
  captured_.clear();
  absl::Status s = visitor_->OnContent(entry_, content);
  if (!s.ok()) error_ = s;
  return s;
}

}  // namespace layerseal::layers
