#include "node-agent/event_log.h"

#include <sys/stat.h>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "verifier/verdict_codec.h"

namespace layerseal::agent {

// The verdict's members come from the codec (the layerseal.v1.Verdict fields under their
// proto names), the event's from here. The line is not the proto JSON of layerseal.v1.Event:
// docs/agent.md promises this flat snake_case form, with the verification time as verify_ms.
nlohmann::json EventJson(const std::string& node, const plugin::VerdictEvent& e) {
  nlohmann::json j = VerdictJsonMembers(e.judgement.verdict);
  j["verify_ms"] = std::move(j["duration_ms"]);
  j.erase("duration_ms");
  j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.time, absl::UTCTimeZone());
  j["node"] = node;
  j["gate"] = e.gate;
  j["pod"] = {{"namespace", e.pod.ns}, {"name", e.pod.name}, {"uid", e.pod.uid}};
  j["image"] = e.image;
  j["admitted"] = e.admitted;
  j["cached"] = e.judgement.cached;
  j["gate_ms"] = absl::ToDoubleMilliseconds(e.gate_time);
  // A sweep's finding about a running container (gate "Revalidation", node-agent/sweep.h).
  if (!e.container_id.empty() || !e.container_name.empty()) {
    j["container"] = {{"id", e.container_id}, {"name", e.container_name}};
  }
  return j;
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
