// A VERDICT event as an agent reports it (layerseal.v1.Event), for the controller's tests:
// PolicyReports (unit and real API server) build their inputs with it. Header-only (needs
// only the controller's protos). Thread-safe: a pure function.
#ifndef LAYERSEAL_TESTS_SUPPORT_VERDICT_EVENT_H_
#define LAYERSEAL_TESTS_SUPPORT_VERDICT_EVENT_H_

#include <cstdint>
#include <string>

#include "base/str_cat.h"
#include "layerseal/v1/controller.pb.h"

namespace layerseal::testing {

// Gate PullImage on node-1 for pod `pod` (uid "uid-<pod>") in namespace `ns`; the digest is
// sha256:aaaa...; a DENY carries the detail "no signature found"; scope registry.example/team.
inline v1::Event VerdictEvent(const std::string& ns, const std::string& pod,
                              const std::string& image, int64_t micros,
                              const std::string& decision = "ALLOW",
                              const std::string& reason = "VERIFIED", bool admitted = true,
                              const std::string& mode = "enforce") {
  v1::Event e;
  e.set_kind(v1::Event::VERDICT);
  e.set_node("node-1");
  e.set_time_unix_micros(micros);
  e.set_gate("PullImage");
  e.set_image(image);
  e.set_pod_namespace(ns);
  e.set_pod_name(pod);
  e.set_pod_uid(StrCat("uid-", pod));
  e.set_admitted(admitted);
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference(image);
  v->set_digest("sha256:" + std::string(64, 'a'));
  v->set_verdict(decision);
  v->set_reason(reason);
  v->set_detail(decision == "ALLOW" ? "" : "no signature found");
  v->set_scope("registry.example/team");
  v->set_mode(mode);
  return e;
}

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_VERDICT_EVENT_H_
