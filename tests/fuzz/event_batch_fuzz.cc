// Fuzzes the controller's batch check: bytes parsed as layerseal.v1.ReportEventsRequest
// (as gRPC would), then ValidateBatch.
#include "controller/ingest_service.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  layerseal::v1::ReportEventsRequest request;
  if (size > layerseal::controller::kMaxBatchBytes) return 0;  // gRPC refuses these first
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::Status s = layerseal::controller::ValidateBatch(request);
  if (s.ok()) {
    FUZZ_CHECK(request.events_size() <= layerseal::controller::kMaxBatchEvents);
    for (const layerseal::v1::Event& e : request.events()) FUZZ_CHECK(e.node() == request.node());
  } else {
    FUZZ_CHECK(!s.message().empty());
  }
  return 0;
}
