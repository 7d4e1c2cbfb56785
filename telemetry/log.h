// A structured logger: one JSON object a line,
//   {"ts":"2026-11-23T10:00:00.123Z","level":"info","component":"agent","msg":"...",...fields}
// so node logs can be parsed by any collector without a format of our own.
//
// Thread-safety: Logger may be used from any thread; each line reaches the sink in one call,
// under the logger's lock, so lines of one logger never interleave. StderrSink writes each
// line with one stdio call, so lines of different loggers on stderr do not interleave either.
// Ownership: the logger owns its sink (a copy of the function).
#ifndef LAYERSEAL_TELEMETRY_LOG_H_
#define LAYERSEAL_TELEMETRY_LOG_H_

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace layerseal::telemetry {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error".
std::string_view LevelName(Level level);
// Accepts the names above (and "warning"), case-insensitively; anything else is an error
// naming the value.
absl::StatusOr<Level> ParseLevel(std::string_view name);

// Receives one complete JSON line without its trailing newline; adds the separator itself.
using Sink = std::function<void(std::string_view line)>;
// Writes line + "\n" to stderr in one fwrite.
Sink StderrSink();

class Logger {
 public:
  explicit Logger(std::string component, Sink sink = StderrSink());
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Writes one line if level >= min_level(). `fields` should be an object; its keys follow
  // the four fixed ones (a field named like a fixed key is renamed "fields.<key>"). Any
  // other JSON value is logged under "fields". Invalid UTF-8 is replaced, never thrown.
  void Log(Level level, std::string_view msg, nlohmann::json fields = nlohmann::json::object());
  void Debug(std::string_view msg, nlohmann::json fields = nlohmann::json::object()) {
    Log(Level::kDebug, msg, std::move(fields));
  }
  void Info(std::string_view msg, nlohmann::json fields = nlohmann::json::object()) {
    Log(Level::kInfo, msg, std::move(fields));
  }
  void Warn(std::string_view msg, nlohmann::json fields = nlohmann::json::object()) {
    Log(Level::kWarn, msg, std::move(fields));
  }
  void Error(std::string_view msg, nlohmann::json fields = nlohmann::json::object()) {
    Log(Level::kError, msg, std::move(fields));
  }

  void set_min_level(Level level) { min_level_.store(level, std::memory_order_relaxed); }
  Level min_level() const { return min_level_.load(std::memory_order_relaxed); }
  bool enabled(Level level) const { return level >= min_level(); }

 private:
  const std::string component_;
  std::atomic<Level> min_level_{Level::kInfo};
  absl::Mutex mu_;
  Sink sink_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerseal::telemetry

#endif  // LAYERSEAL_TELEMETRY_LOG_H_
