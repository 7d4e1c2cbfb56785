#include "telemetry/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <utility>

namespace layerseal::telemetry {
namespace {

// RFC 3339 UTC with milliseconds: 2026-11-23T10:00:00.123Z.
std::string NowUtc() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  int millis = static_cast<int>(ms.count() % 1000);
  if (millis < 0) {  // before 1970: keep the fraction positive
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

bool IsFixedKey(const std::string& key) {
  return key == "ts" || key == "level" || key == "component" || key == "msg";
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  std::string lower;
  for (char c : name) lower += Lower(c);
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warn" || lower == "warning") return Level::kWarn;
  if (lower == "error") return Level::kError;
  return absl::InvalidArgumentError("log level \"" + std::string(name) +
                                    "\" is not one of debug, info, warn, error");
}

Sink StderrSink() {
  return [](std::string_view line) {
    std::string buf(line);
    buf += '\n';
    std::fwrite(buf.data(), 1, buf.size(), stderr);
  };
}

Logger::Logger(std::string component, Sink sink)
    : component_(std::move(component)), sink_(std::move(sink)) {}

void Logger::Log(Level level, std::string_view msg, nlohmann::json fields) {
  if (!enabled(level)) return;
  // ordered_json keeps the fixed keys first, in the documented order.
  nlohmann::ordered_json line;
  line["ts"] = NowUtc();
  line["level"] = LevelName(level);
  line["component"] = component_;
  line["msg"] = msg;
  if (fields.is_object()) {
    for (auto& [key, value] : fields.items()) {
      line[IsFixedKey(key) ? "fields." + key : key] = nlohmann::ordered_json(value);
    }
  } else if (!fields.is_null()) {
    line["fields"] = nlohmann::ordered_json(fields);
  }
  // replace: a message carrying bytes from an image name must not throw out of logging.
  std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  absl::MutexLock lock(&mu_);
  if (sink_) sink_(text);
}

}  // namespace layerseal::telemetry
