#include "node-agent/event_log.h"

#include <sys/stat.h>

#include "absl/time/time.h"
#include "base/str_cat.h"

namespace layerseal::agent {

nlohmann::json EventJson(const std::string& node, const plugin::VerdictEvent& e) {
  const Verdict& v = e.judgement.verdict;
  return nlohmann::json{
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.time, absl::UTCTimeZone())},
      {"node", node},
      {"gate", e.gate},
      {"pod", {{"namespace", e.pod.ns}, {"name", e.pod.name}, {"uid", e.pod.uid}}},
      {"image", e.image},
      {"reference", v.reference},
      {"digest", v.manifest_digest ? v.manifest_digest->str() : ""},
      {"verdict", DecisionName(v.decision)},
      {"reason", ReasonName(v.reason)},
      {"detail", v.detail},
      {"key_id", v.key_id},
      {"policy_version", v.policy_version},
      {"scope", v.scope},
      {"mode", ModeName(v.mode)},
      {"admitted", e.admitted},
      {"cached", e.judgement.cached},
      {"verify_ms", absl::ToDoubleMilliseconds(v.duration)},
      {"gate_ms", absl::ToDoubleMilliseconds(e.gate_time)},
  };
}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(std::string node, std::string path,
                                                         plugin::EventSink* next) {
  std::unique_ptr<EventLog> log(new EventLog(std::move(node), std::move(path), next));
  if (!log->path_.empty()) {
    absl::MutexLock lock(&log->mu_);
    log->file_ = fopen(log->path_.c_str(), "a");
    if (log->file_ == nullptr) {
      return absl::UnavailableError(StrCat("event log: cannot open ", log->path_, " for appending"));
    }
    struct stat st {};
    if (fstat(fileno(log->file_), &st) == 0) log->size_ = static_cast<size_t>(st.st_size);
  }
  return log;
}

EventLog::~EventLog() {
  absl::MutexLock lock(&mu_);
  if (file_ != nullptr) fclose(file_);
}

void EventLog::Rotate() {
  fclose(file_);
  std::string old = path_ + ".1";
  rename(path_.c_str(), old.c_str());
  file_ = fopen(path_.c_str(), "a");
  size_ = 0;
}

void EventLog::Report(const plugin::VerdictEvent& event) {
  Record(event, EventJson(node_, event));
}

void EventLog::Record(const plugin::VerdictEvent& event, const nlohmann::json& json) {
  if (!path_.empty()) {
    std::string line =
        json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    absl::MutexLock lock(&mu_);
    if (file_ != nullptr && size_ + line.size() > kMaxEventLogBytes) Rotate();
    if (file_ != nullptr) {
      fwrite(line.data(), 1, line.size(), file_);
      fflush(file_);
      size_ += line.size();
    }
  }
  if (next_ != nullptr) next_->Report(event);
}

}  // namespace layerseal::agent
