#include "tests/support/sqlite_damage.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "tests/support/process.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

absl::StatusOr<int64_t> QueryNumber(const std::string& path, const std::string& sql) {
  absl::StatusOr<RunResult> r = Run({"sqlite3", path, sql});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return absl::InternalError(StrCat("sqlite3 ", path, ": ", r->err));
  if (r->out.empty() || r->out == "\n") return absl::NotFoundError(StrCat(sql, ": no row"));
  return std::strtoll(r->out.c_str(), nullptr, 10);
}

}  // namespace

absl::StatusOr<int64_t> MiddleLeafPage(const std::string& path, const std::string& name) {
  absl::StatusOr<int64_t> leaves = QueryNumber(
      path, StrCat("SELECT COUNT(*) FROM dbstat WHERE name = '", name, "' AND pagetype = 'leaf'"));
  if (!leaves.ok()) return leaves.status();
  if (*leaves == 0) return absl::NotFoundError(StrCat(path, ": ", name, " has no leaf page"));
  return QueryNumber(path, StrCat("SELECT pageno FROM dbstat WHERE name = '", name,
                                  "' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET ",
                                  *leaves / 2));
}

absl::Status ZeroSqlitePage(const std::string& path, int64_t page) {
  absl::StatusOr<int64_t> page_size = QueryNumber(path, "PRAGMA page_size");
  if (!page_size.ok()) return page_size.status();
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(StrCat("cannot open ", path));
  std::string zeros(static_cast<size_t>(*page_size), '\0');
  ssize_t n = ::pwrite(fd, zeros.data(), zeros.size(), (page - 1) * *page_size);
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n != static_cast<ssize_t>(zeros.size()) || !synced) {
    return absl::UnavailableError(StrCat("cannot zero page ", page, " of ", path));
  }
  return absl::OkStatus();
}

}  // namespace layerseal::testing
