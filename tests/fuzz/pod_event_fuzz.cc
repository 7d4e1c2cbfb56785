// Fuzzes what the controller turns an agent's event into for Kubernetes (issue 19,
// controller/kube/pod_events.h): bytes parsed as layerseal.v1.Event (as gRPC would), then
// PodEventFor and EventObject. Invariants: the message is one line of valid UTF-8 within
// kMaxMessageBytes, the Event's name and reportingInstance within the API's limits, and the
// object serializes. Also base/utf8.h's TruncateUtf8 over the raw bytes.
#include "base/utf8.h"
#include "controller/kube/pod_events.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace layerseal;
  std::string_view raw = fuzz::AsView(data, size);
  std::string cut = TruncateUtf8(raw, size / 2);
  FUZZ_CHECK(cut.size() <= size / 2);
  FUZZ_CHECK(ValidUtf8(cut) == cut);

  v1::Event event;
  if (!event.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::optional<controller::kube::PodEventSpec> spec = controller::kube::PodEventFor(event);
  if (!spec.has_value()) return 0;
  FUZZ_CHECK(!spec->namespace_name.empty() && !spec->pod_name.empty());
  FUZZ_CHECK(spec->message.size() <= controller::kube::kMaxMessageBytes);
  FUZZ_CHECK(ValidUtf8(spec->message, /*one_line=*/true) == spec->message);
  nlohmann::json object = controller::kube::EventObject(*spec, std::string(raw.substr(0, 200)));
  FUZZ_CHECK(object["metadata"]["name"].get<std::string>().size() <=
             controller::kube::kMaxEventNameBytes);
  FUZZ_CHECK(object["reportingInstance"].get<std::string>().size() <=
             controller::kube::kMaxReportingInstanceBytes);
  FUZZ_CHECK(object["message"] == spec->message);
  std::string body = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  FUZZ_CHECK(!body.empty());
  return 0;
}
