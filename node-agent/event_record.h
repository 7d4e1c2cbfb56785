// Verdict events as the controller receives them (layerseal.v1.Event, controller.proto):
// built here once, written to the spool (spool.h) and sent by the sender (event_sender.h).
// Thread-safety: pure functions.
#ifndef LAYERSEAL_NODE_AGENT_EVENT_RECORD_H_
#define LAYERSEAL_NODE_AGENT_EVENT_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "layerseal/v1/controller.pb.h"
#include "plugin/image_judge.h"

namespace layerseal::agent {

// A VERDICT event. `seq` 0: not numbered yet (the spool numbers what it keeps).
v1::Event VerdictEventRecord(const plugin::VerdictEvent& event, const std::string& node,
                             uint64_t seq, const std::string& agent_version);

// An EVENTS_LOST event: the agent could not keep `lost_count` events before `time`.
v1::Event EventsLostRecord(uint64_t lost_count, const std::string& node, uint64_t seq,
                           const std::string& agent_version, absl::Time time);

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_EVENT_RECORD_H_
