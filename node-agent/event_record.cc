#include "node-agent/event_record.h"

#include "verifier/verdict_codec.h"

namespace layerseal::agent {

v1::Event VerdictEventRecord(const plugin::VerdictEvent& e, const std::string& node, uint64_t seq,
                             const std::string& agent_version) {
  v1::Event out;
  out.set_node(node);
  out.set_seq(seq);
  out.set_time_unix_micros(absl::ToUnixMicros(e.time));
  out.set_kind(v1::Event::VERDICT);
  out.set_gate(e.gate);
  out.set_image(e.image);
  out.set_pod_namespace(e.pod.ns);
  out.set_pod_name(e.pod.name);
  out.set_pod_uid(e.pod.uid);
  out.set_container_id(e.container_id);
  out.set_container_name(e.container_name);
  *out.mutable_verdict() = VerdictToProto(e.judgement.verdict);
  out.set_admitted(e.admitted);
  out.set_cached(e.judgement.cached);
  out.set_gate_ms(absl::ToDoubleMilliseconds(e.gate_time));
  out.set_agent_version(agent_version);
  if (e.packages_attachment.size() > kMaxEventPackagesBytes) {
    out.set_packages_omitted_bytes(e.packages_attachment.size());
  } else {
    out.set_packages_attachment(e.packages_attachment);
  }
  return out;
}

v1::Event EventsLostRecord(uint64_t lost_count, const std::string& node, uint64_t seq,
                           const std::string& agent_version, absl::Time time) {
  v1::Event out;
  out.set_node(node);
  out.set_seq(seq);
  out.set_time_unix_micros(absl::ToUnixMicros(time));
  out.set_kind(v1::Event::EVENTS_LOST);
  out.set_lost_count(lost_count);
  out.set_agent_version(agent_version);
  return out;
}

}  // namespace layerseal::agent
