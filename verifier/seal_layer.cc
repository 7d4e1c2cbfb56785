#include "verifier/seal_layer.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/str_cat.h"

namespace layerseal {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kGzipChunk = 64 * 1024;
constexpr int kGzipWindowBits = 16 + 15;  // 16: gzip wrapper (not zlib), 15: 32 KiB window

// ustar header fields: offset and length (POSIX.1-1988 / pax "ustar Interchange Format").
struct Field {
  size_t offset;
  size_t size;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr Field kTypeflag{156, 1};
constexpr Field kMagic{257, 6};
constexpr Field kVersion{263, 2};
constexpr Field kDevMajor{329, 8};
constexpr Field kDevMinor{337, 8};
constexpr Field kPrefix{345, 155};

constexpr std::string_view kUstarMagic{"ustar\0", 6};
constexpr std::string_view kUstarVersion{"00", 2};
constexpr uint64_t kMaxOctalSize = 077777777777ULL;  // 11 octal digits

size_t PaddedSize(uint64_t n) { return static_cast<size_t>((n + kBlock - 1) / kBlock * kBlock); }

void Put(std::string& header, Field f, std::string_view value) {
  if (value.empty()) return;  // an empty view's data() may be null, which memcpy forbids
  std::memcpy(header.data() + f.offset, value.data(), std::min(value.size(), f.size));
}

// A zero-padded octal number filling the field but its last byte, which stays NUL.
void PutOctal(std::string& header, Field f, uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%0*llo", static_cast<int>(f.size - 1), static_cast<unsigned long long>(value));
  Put(header, f, buf);
}

// Sum of the header bytes as unsigned, with the checksum field counted as spaces.
uint32_t HeaderChecksum(std::string_view header) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= kChecksum.offset && i < kChecksum.offset + kChecksum.size;
    sum += in_field ? ' ' : static_cast<unsigned char>(header[i]);
  }
  return sum;
}

// Splits `path` into ustar prefix and name (name <= 100, prefix <= 155, split at a '/').
bool SplitPath(std::string_view path, std::string_view& prefix, std::string_view& name) {
  if (path.size() <= kName.size) {
    prefix = {};
    name = path;
    return !path.empty();
  }
  for (size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1)) {
    if (slash <= kPrefix.size && path.size() - slash - 1 <= kName.size && slash + 1 < path.size()) {
      prefix = path.substr(0, slash);
      name = path.substr(slash + 1);
      return true;
    }
  }
  return false;
}

std::string_view FieldBytes(std::string_view header, Field f) { return header.substr(f.offset, f.size); }

// A NUL-terminated string field (the full width when it has no NUL).
std::string_view CString(std::string_view header, Field f) {
  std::string_view s = FieldBytes(header, f);
  return s.substr(0, s.find('\0'));
}

// Strict octal: 1+ digits, then at least one NUL or space to the end of the field. Rejects
// the GNU base-256 form, signs, leading spaces and digits 8/9.
bool ParseOctal(std::string_view field, uint64_t& value) {
  size_t i = 0;
  value = 0;
  while (i < field.size() && field[i] >= '0' && field[i] <= '7') value = value * 8 + (field[i++] - '0');
  if (i == 0 || i == field.size()) return false;
  for (; i < field.size(); ++i) {
    if (field[i] != '\0' && field[i] != ' ') return false;
  }
  return true;
}

std::string QuoteTarText(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

std::string TypeName(char t) {
  switch (t) {
    case '1': return "'1' (hard link)";
    case '2': return "'2' (symbolic link)";
    case '3': return "'3' (character device)";
    case '4': return "'4' (block device)";
    case '5': return "'5' (directory)";
    case '6': return "'6' (FIFO)";
    case '7': return "'7' (contiguous file)";
    case 'x': return "'x' (PAX extended header)";
    case 'g': return "'g' (PAX global header)";
    case 'L': return "'L' (GNU long name)";
    case 'K': return "'K' (GNU long link name)";
    default: {
      unsigned char c = static_cast<unsigned char>(t);
      if (c >= 0x20 && c < 0x7f) return StrCat("'", t, "'");
      char buf[8];
      std::snprintf(buf, sizeof(buf), "0x%02x", c);
      return buf;
    }
  }
}

absl::Status TarError(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("seal tar: ", what));
}

absl::Status CheckHeader(std::string_view header) {
  uint64_t stored = 0;
  // The checksum field is traditionally "%06o\0 " or "%07o\0"; allow leading digits then NUL/space.
  if (!ParseOctal(FieldBytes(header, kChecksum), stored) || stored != HeaderChecksum(header)) {
    return TarError(StrCat("bad header checksum (expected ", HeaderChecksum(header), " decimal)"));
  }
  if (FieldBytes(header, kMagic) != kUstarMagic || FieldBytes(header, kVersion) != kUstarVersion) {
    return TarError(StrCat("not a POSIX ustar header (magic and version ",
                           QuoteTarText(header.substr(kMagic.offset, kMagic.size + kVersion.size)), ")"));
  }
  char type = header[kTypeflag.offset];
  if (type != '0' && type != '\0') {
    return TarError(StrCat("entry type ", TypeName(type), "; only a regular file is allowed"));
  }
  return absl::OkStatus();
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

// After the entry: only zero blocks up to the end, at least the two end-of-archive blocks.
absl::Status CheckEnd(std::string_view tar, size_t pos) {
  if ((tar.size() - pos) % kBlock != 0) return TarError("archive size is not a multiple of 512 bytes");
  for (size_t off = pos; off < tar.size(); off += kBlock) {
    if (!AllZero(tar.substr(off, kBlock))) {
      return TarError(StrCat("more than one entry (non-zero block at offset ", off, ")"));
    }
  }
  if (tar.size() - pos < 2 * kBlock) return TarError("missing the two zero blocks that end the archive");
  return absl::OkStatus();
}

// Keeps `out` from doubling past `max_out`: grows its capacity by hand up to the limit.
void AppendBounded(std::string& out, const char* data, size_t n, size_t max_out) {
  size_t need = out.size() + n;
  if (need > out.capacity()) out.reserve(std::min(max_out, std::max(need, 2 * out.capacity())));
  out.append(data, n);
}

}  // namespace

std::string MakeSingleFileTar(std::string_view path, std::string_view content) {
  std::string_view prefix, name;
  if (!SplitPath(path, prefix, name) || content.size() > kMaxOctalSize) return "";
  std::string header(kBlock, '\0');
  Put(header, kName, name);
  PutOctal(header, kMode, 0644);
  PutOctal(header, kUid, 0);
  PutOctal(header, kGid, 0);
  PutOctal(header, kSize, content.size());
  PutOctal(header, kMtime, 0);
  header[kTypeflag.offset] = '0';
  Put(header, kMagic, kUstarMagic);
  Put(header, kVersion, kUstarVersion);
  PutOctal(header, kDevMajor, 0);
  PutOctal(header, kDevMinor, 0);
  Put(header, kPrefix, prefix);
  // Checksum as GNU tar writes it: six octal digits, NUL, space.
  char sum[8];
  std::snprintf(sum, sizeof(sum), "%06o", HeaderChecksum(header));
  std::memcpy(header.data() + kChecksum.offset, sum, 7);
  header[kChecksum.offset + 7] = ' ';

  std::string tar = header;
  tar.append(content);
  tar.resize(kBlock + PaddedSize(content.size()) + 2 * kBlock, '\0');
  return tar;
}

absl::StatusOr<std::string> ReadSingleFileTar(std::string_view tar, std::string_view path) {
  if (tar.size() < kBlock) return TarError(StrCat("archive of ", tar.size(), " bytes has no header"));
  std::string_view header = tar.substr(0, kBlock);
  if (AllZero(header)) return TarError("archive has no entry");
  if (absl::Status s = CheckHeader(header); !s.ok()) return s;
  std::string_view prefix = CString(header, kPrefix);
  std::string name(CString(header, kName));
  if (!prefix.empty()) name = StrCat(prefix, "/", name);
  if (name != path) return TarError(StrCat("entry is named ", QuoteTarText(name), ", expected ", QuoteTarText(path)));
  uint64_t size = 0;
  if (!ParseOctal(FieldBytes(header, kSize), size)) {
    return TarError(StrCat("size field ", QuoteTarText(FieldBytes(header, kSize)), " is not octal"));
  }
  // size < 8^11, so the padded end cannot overflow.
  if (size > tar.size() || PaddedSize(size) > tar.size() - kBlock) {
    return TarError(StrCat("entry size ", size, " runs past the end of the ", tar.size(), "-byte archive"));
  }
  size_t end = kBlock + PaddedSize(size);
  if (!AllZero(tar.substr(kBlock + size, end - kBlock - size))) {
    return TarError("non-zero padding after the file content");
  }
  if (absl::Status s = CheckEnd(tar, end); !s.ok()) return s;
  return std::string(tar.substr(kBlock, size));
}

std::string GzipCompress(std::string_view bytes) {
  z_stream zs{};
  // No deflateSetHeader: zlib then writes mtime 0 and no file name, so output is deterministic.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out;
  size_t pos = 0;
  int flush = Z_NO_FLUSH;
  do {
    size_t take = std::min<size_t>(bytes.size() - pos, UINT_MAX);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + pos));
    zs.avail_in = static_cast<uInt>(take);
    pos += take;
    flush = pos == bytes.size() ? Z_FINISH : Z_NO_FLUSH;
    do {
      size_t old = out.size();
      out.resize(old + kGzipChunk);
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      zs.avail_out = kGzipChunk;
      deflate(&zs, flush);  // cannot fail: the stream is valid and output space is given
      out.resize(old + kGzipChunk - zs.avail_out);
    } while (zs.avail_out == 0);
  } while (flush != Z_FINISH);
  deflateEnd(&zs);
  return out;
}

absl::StatusOr<std::string> GzipDecompress(std::string_view gz, size_t max_out) {
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) return absl::InternalError("inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> cleanup(&zs, inflateEnd);
  std::string out;
  std::unique_ptr<char[]> chunk(new char[kGzipChunk]);
  size_t pos = 0;
  for (;;) {
    if (zs.avail_in == 0 && pos < gz.size()) {
      size_t take = std::min<size_t>(gz.size() - pos, UINT_MAX);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data() + pos));
      zs.avail_in = static_cast<uInt>(take);
      pos += take;
    }
    zs.next_out = reinterpret_cast<Bytef*>(chunk.get());
    zs.avail_out = kGzipChunk;
    int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
      return absl::InvalidArgumentError(StrCat("gzip: corrupt data (", zs.msg ? zs.msg : "no detail", ")"));
    }
    if (rc == Z_MEM_ERROR) return absl::ResourceExhaustedError("gzip: out of memory");
    size_t produced = kGzipChunk - zs.avail_out;
    // Stop as soon as the limit is passed: a bomb never costs more than max_out + one chunk.
    if (produced > max_out - out.size()) {
      return absl::ResourceExhaustedError(StrCat("gzip: uncompressed size exceeds the limit of ", max_out, " bytes"));
    }
    AppendBounded(out, chunk.get(), produced, max_out);
    if (rc == Z_STREAM_END) break;
    // No progress possible: input exhausted before the end of the member.
    if (zs.avail_in == 0 && pos == gz.size() && zs.avail_out != 0) {
      return absl::InvalidArgumentError(StrCat("gzip: truncated stream (", gz.size(), " bytes)"));
    }
  }
  if (zs.avail_in != 0 || pos != gz.size()) {
    return absl::InvalidArgumentError(StrCat("gzip: ", zs.avail_in + (gz.size() - pos),
                                             " trailing bytes after the gzip member (a second member?)"));
  }
  return out;
}

}  // namespace layerseal
