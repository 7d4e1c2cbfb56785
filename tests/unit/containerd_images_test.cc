// The containerd image recorder (node-agent/containerd_images.h) against a runtime without
// containerd's images API. (Against a real containerd: agent_e2e_test.)
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node-agent/containerd_images.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal::agent {
namespace {

using ::testing::HasSubstr;

// A runtime without containerd's images API (CRI-O): every method is UNIMPLEMENTED. The
// recorder says so, counts it, logs once, and does not ask again.
TEST(ContainerdImageRecorderTest, ARuntimeWithoutTheImagesApiIsDetectedOnce) {
  // gRPC's default generic service answers every method UNIMPLEMENTED, as CRI-O does for
  // containerd's services.
  grpc::CallbackGenericService unimplemented;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&unimplemented);
  std::unique_ptr<grpc::Server> runtime = builder.BuildAndStart();
  ASSERT_NE(runtime, nullptr);
  telemetry::MetricsRegistry metrics;
  auto* outcomes = metrics.AddCounter("tags", "", {"result"});
  std::vector<std::string> lines;
  telemetry::Logger logger("test", [&](std::string_view line) { lines.emplace_back(line); });
  ContainerdImageRecorder recorder(runtime->InProcessChannel(grpc::ChannelArguments()), &logger,
                                   outcomes);
  Reference tag = *Reference::Parse("example.org/app:1");
  Reference pinned = tag.WithDigest(Digest::Sha256Of("manifest"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recorder.NameTag(tag, pinned).code(), absl::StatusCode::kUnimplemented);
  }
  EXPECT_FALSE(recorder.supported());
  EXPECT_EQ(outcomes->WithLabels({"unsupported"}).value(), 1);
  EXPECT_EQ(outcomes->WithLabels({"named"}).value(), 0);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("no containerd images API"));
  runtime->Shutdown();
}

}  // namespace
}  // namespace layerseal::agent
