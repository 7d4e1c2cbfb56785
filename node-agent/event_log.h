// Verdict events as JSON lines: each gate decision becomes one line in a local log file
// (rotated at kMaxEventLogBytes, one old file kept) and is handed on to a reporter (the
// controller client, issue 5). The line format is docs/agent.md's "Events".
// Thread-safety: Report may be called concurrently.
#ifndef LAYERSEAL_NODE_AGENT_EVENT_LOG_H_
#define LAYERSEAL_NODE_AGENT_EVENT_LOG_H_

#include <cstdio>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "plugin/image_judge.h"

namespace layerseal::agent {

inline constexpr size_t kMaxEventLogBytes = 64 << 20;

// The event as one JSON object (also what the controller will receive).
nlohmann::json EventJson(const std::string& node, const plugin::VerdictEvent& event);

class EventLog final : public plugin::EventSink {
 public:
  // `path` "" : no file. `next` (not owned, may be null) receives every event too.
  static absl::StatusOr<std::unique_ptr<EventLog>> Open(std::string node, std::string path,
                                                        plugin::EventSink* next);
  ~EventLog() override;

  void Report(const plugin::VerdictEvent& event) override;
  // The same, with the event's EventJson already built by the caller.
  void Record(const plugin::VerdictEvent& event, const nlohmann::json& line);

 private:
  EventLog(std::string node, std::string path, plugin::EventSink* next)
      : node_(std::move(node)), path_(std::move(path)), next_(next) {}
  void Rotate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string node_;
  const std::string path_;
  plugin::EventSink* const next_;
  absl::Mutex mu_;
  FILE* file_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_EVENT_LOG_H_
