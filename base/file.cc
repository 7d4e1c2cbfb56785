#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "base/str_cat.h"

namespace layerseal {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

// `what "path"`, or `"path"` without a what; the path C-escaped (file names can hold anything).
std::string Named(std::string_view what, const std::string& path) {
  std::string_view cut = std::string_view(path).substr(0, kMaxQuotedPathBytes);
  std::string quoted = StrCat("\"", Sv(absl::CEscape(absl::string_view(cut.data(), cut.size()))),
                              path.size() > cut.size() ? "\"..." : "\"");
  return what.empty() ? quoted : StrCat(what, " ", quoted);
}

absl::Status ErrnoError(int err, std::string_view verb, std::string_view what,
                        const std::string& path) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      StrCat("cannot ", verb, " ", Named(what, path), ": ", std::strerror(err)));
}

absl::Status TooLarge(std::string_view what, const std::string& path, size_t max_bytes) {
  return absl::ResourceExhaustedError(
      StrCat(Named(what, path), " is larger than ", max_bytes, " bytes"));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadFileLimited(const std::filesystem::path& path, size_t max_bytes,
                                            std::string_view what) {
  const std::string& name = path.native();
  // O_NONBLOCK: a FIFO with no writer would block open() (and the caller) forever; with it,
  // open returns and read() sees end of file (or EAGAIN, an error). Regular files ignore it.
  Fd fd(open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return ErrnoError(errno, "open", what, name);
  struct stat st {};
  if (fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uintmax_t>(st.st_size) > max_bytes) {
    return TooLarge(what, name, max_bytes);  // refused unread (a sparse file costs nothing)
  }
  // Grown as read, so a small file under a large limit costs its size, not the limit.
  const size_t want = max_bytes == SIZE_MAX ? max_bytes : max_bytes + 1;
  std::string out;
  char buf[kReadChunkBytes];
  while (out.size() < want) {
    ssize_t n = read(fd.get(), buf, std::min(sizeof buf, want - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read", what, name);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (out.size() > max_bytes) return TooLarge(what, name, max_bytes);
  return out;
}

}  // namespace layerseal
