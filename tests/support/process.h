// Test helpers: temp dirs and child processes (posix_spawn), with timeouts.
#ifndef LAYERSEAL_TESTS_SUPPORT_PROCESS_H_
#define LAYERSEAL_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace layerseal::testing {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) to completion, feeding `input` on stdin.
absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv, const std::string& input = "",
                              absl::Duration timeout = absl::Seconds(120));

// A background child; killed (SIGTERM, then SIGKILL) and reaped on destruction.
class Child {
 public:
  // stdout/stderr go to `log_path` (appended).
  static absl::StatusOr<std::unique_ptr<Child>> Spawn(const std::vector<std::string>& argv,
                                                      const std::string& log_path);
  ~Child();
  pid_t pid() const { return pid_; }
  bool Running();
  void Stop();

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& content, int mode = 0644);
// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();
// Polls until `host:port` accepts TCP connections or `timeout` passes.
bool WaitForPort(int port, absl::Duration timeout);

// Run() that also measures the child: its peak resident set size (wait4's ru_maxrss) and
// how long it ran. For bounds on memory and time budgets (never for speed).
struct MeasuredRun {
  RunResult result;
  size_t peak_rss_bytes = 0;
  absl::Duration elapsed;
};
absl::StatusOr<MeasuredRun> RunMeasured(const std::vector<std::string>& argv,
                                        const std::string& input = "",
                                        absl::Duration timeout = absl::Seconds(120));

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_PROCESS_H_
