// Verdict events as the controller receives them (layerseal.v1.Event, controller.proto):
// built here once, written to the spool (spool.h) and sent by the sender (event_sender.h).
// Thread-safety: pure functions.
#ifndef LAYERSEAL_NODE_AGENT_EVENT_RECORD_H_
#define LAYERSEAL_NODE_AGENT_EVENT_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "layerseal/v1/controller.pb.h"
#include "plugin/image_judge.h"

namespace layerseal::agent {

// The largest package inventory (plugin::VerdictEvent::packages_attachment) an event
// carries to the controller (issue 18). It travels inside its event, so that it is spooled,
// acknowledged and deduplicated with it (one id, one record); this bound keeps that event
// within a spool record (kMaxSpoolRecordBytes, 4 MiB) and within the controller's batch
// (controller/ingest_service.h kMaxBatchBytes, 4 MiB). 3 MiB holds some 10,000 packages
// (about 300 bytes each). A larger inventory is not sent: the event carries its size in
// packages_omitted_bytes instead, and VerdictEvents logs and counts it.
inline constexpr size_t kMaxEventPackagesBytes = 3u << 20;

// A VERDICT event. `seq` 0: not numbered yet (the spool numbers what it keeps). The
// event's packages attachment when it is at most kMaxEventPackagesBytes, its size in
// packages_omitted_bytes otherwise.
v1::Event VerdictEventRecord(const plugin::VerdictEvent& event, const std::string& node,
                             uint64_t seq, const std::string& agent_version);

// An EVENTS_LOST event: the agent could not keep `lost_count` events before `time`.
v1::Event EventsLostRecord(uint64_t lost_count, const std::string& node, uint64_t seq,
                           const std::string& agent_version, absl::Time time);

}  // namespace layerseal::agent

#endif  // LAYERSEAL_NODE_AGENT_EVENT_RECORD_H_
