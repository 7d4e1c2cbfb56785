// The integrity scrub (node-agent/scrub.h, issue 18) against a real containerd and a real
// docker-registry: images pulled by containerd's CRI plugin, then bytes changed, truncated
// or removed inside the test containerd's own content store directory (never the machine's
// /run/containerd). The scrub must find what changed, name the image and the blob, mark the
// image corrupt (IntegrityState: the judge no longer admits it), report a verdict event and
// count it; blobs gone are "not available", never a mismatch.
//
// End to end: the agent in front of containerd, images pulled through it, a layer corrupted,
// `layerseal cri scrub` against the agent's admin endpoint.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node-agent/agent.h"
#include "node-agent/config.h"
#include "node-agent/integrity_state.h"
#include "node-agent/scrub.h"
#include "plugin/image_judge.h"
#include "registry/client.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "tests/support/containerd_server.h"
#include "tests/support/cri_client.h"
#include "tests/support/images.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"
#include "tests/support/push.h"
#include "tests/support/registry_server.h"
#include "verifier/digest.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

using agent::IntegrityState;
using agent::ScrubFinding;
using agent::Scrubber;
using agent::ScrubReport;
using testing::CriClient;
using testing::TestImage;

class EventsSeen final : public plugin::EventSink {
 public:
  void Report(const plugin::VerdictEvent& event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  std::vector<plugin::VerdictEvent> Gate(std::string_view gate) {
    absl::MutexLock lock(&mu_);
    std::vector<plugin::VerdictEvent> out;
    for (const auto& e : events_) {
      if (e.gate == gate) out.push_back(e);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<plugin::VerdictEvent> events_;
};

// A registry and a containerd of the test's own; images pushed and pulled by the CRI plugin.
class ScrubFixture {
 public:
  void Start() {
    auto registry = testing::RegistryServer::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    auto containerd = testing::ContainerdServer::Start({.cri = true});
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = *std::move(containerd);
  }

  std::string Ref(const std::string& name) const {
    return StrCat(registry_->host(), "/scrub/", name, ":1");
  }
  // "<registry>/scrub/<name>@<digest>": how the runtime lists the image.
  std::string RepoDigest(const std::string& name, const Digest& d) const {
    return StrCat(registry_->host(), "/scrub/", name, "@", d.str());
  }

  void Push(const std::string& name, const TestImage& image) {
    registry::RegistryClient client(registry_->ClientOptions());
    absl::StatusOr<Reference> parsed = Reference::Parse(Ref(name));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    absl::Status pushed = testing::PushTestImage(client, *parsed, image);
    ASSERT_TRUE(pushed.ok()) << pushed;
  }

  // Pushed, then pulled into containerd (through `socket`: the agent's or containerd's).
  TestImage Pulled(const std::string& name, const std::string& socket = "") {
    TestImage image = testing::MakeBaseImage({.layers = 2, .seed = StrCat("scrub-", name)});
    Push(name, image);
    grpc::Status pulled = CriClient(socket.empty() ? containerd_->socket() : socket).Pull(Ref(name));
    EXPECT_TRUE(pulled.ok()) << pulled.error_message();
    return image;
  }

  std::string BlobFile(const Digest& blob) const {
    return StrCat(containerd_->dir(), "/root/io.containerd.content.v1.content/blobs/sha256/",
                  blob.hex());
  }
  void Overwrite(const Digest& blob, const std::string& bytes) const {
    const std::string file = BlobFile(blob);
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    testing::WriteFileOrDie(file, bytes);
  }
  // The image's layers in manifest order.
  static std::vector<Digest> Layers(const TestImage& image) {
    nlohmann::json m = nlohmann::json::parse(image.manifest);
    std::vector<Digest> out;
    for (const auto& l : m["layers"]) out.push_back(*Digest::Parse(l["digest"].get<std::string>()));
    return out;
  }
  // One byte of layer `i` flipped in containerd's store (same size); returns the digest of
  // the bytes now on disk.
  Digest FlipLayerByte(const TestImage& image, size_t i) const {
    Digest layer = Layers(image)[i];
    std::string bytes = image.blobs.at(layer.str());
    bytes[bytes.size() / 2] ^= 0x20;
    Overwrite(layer, bytes);
    return Digest::Sha256Of(bytes);
  }

  std::unique_ptr<testing::RegistryServer> registry_;
  std::unique_ptr<testing::ContainerdServer> containerd_;
};

class ScrubTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixture_ = new ScrubFixture();
    fixture_->Start();
  }
  static void TearDownTestSuite() {
    delete fixture_;
    fixture_ = nullptr;
  }

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Scrubber>> s =
        Scrubber::Create({.runtime = testing::ConnectCri(fixture_->containerd_->socket()),
                          .platform = *Platform::Parse("linux/amd64"),
                          .state = &state_,
                          .events = &events_,
                          .logger = &logger_,
                          .metrics = &metrics_});
    ASSERT_TRUE(s.ok()) << s.status();
    scrubber_ = *std::move(s);
  }

  static const ScrubFinding* FindingFor(const ScrubReport& r, ScrubFinding::Kind kind) {
    for (const ScrubFinding& f : r.findings) {
      if (f.kind == kind) return &f;
    }
    return nullptr;
  }

  static ScrubFixture* fixture_;
  IntegrityState state_;
  EventsSeen events_;
  telemetry::Logger logger_{"scrub-test"};
  telemetry::MetricsRegistry metrics_;
  std::unique_ptr<Scrubber> scrubber_;
};

ScrubFixture* ScrubTest::fixture_ = nullptr;

TEST_F(ScrubTest, AnImageAsPulledIsCleanAndEveryByteIsCounted) {
  TestImage image = fixture_->Pulled("clean");
  ScrubReport r = scrubber_->ScrubImage(image.digest);
  EXPECT_EQ(r.images, 1u);
  EXPECT_EQ(r.blobs, 4u);  // manifest, config, 2 layers
  uint64_t bytes = image.manifest.size();
  for (const auto& [digest, blob] : image.blobs) bytes += blob.size();
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_EQ(r.mismatches, 0u);
  EXPECT_EQ(r.not_available, 0u);
  EXPECT_EQ(r.errors, 0u) << r.ToJson();
  EXPECT_TRUE(r.findings.empty()) << r.ToJson();
  EXPECT_FALSE(state_.Corrupt(image.digest).has_value());
  EXPECT_TRUE(events_.Gate(agent::kScrubGate).empty());
}

TEST_F(ScrubTest, ALayerChangedOnDiskIsAMismatchThatMarksTheImageAndIsReported) {
  TestImage image = fixture_->Pulled("flipped");
  const Digest on_disk = fixture_->FlipLayerByte(image, 1);
  const Digest layer = ScrubFixture::Layers(image)[1];
  const std::string name = fixture_->RepoDigest("flipped", image.digest);

  ScrubReport r = scrubber_->ScrubImage(image.digest, name);
  EXPECT_EQ(r.mismatches, 1u) << r.ToJson();
  const ScrubFinding* f = FindingFor(r, ScrubFinding::Kind::kMismatch);
  ASSERT_NE(f, nullptr) << r.ToJson();
  EXPECT_EQ(f->image, name);
  EXPECT_EQ(f->blob, layer.str());
  EXPECT_NE(f->detail.find(layer.str()), std::string::npos) << f->detail;
  EXPECT_NE(f->detail.find(StrCat("hash to ", on_disk.str())), std::string::npos) << f->detail;

  // No longer admitted: the mark the judge consults.
  std::optional<IntegrityState::Corruption> mark = state_.Corrupt(image.digest);
  ASSERT_TRUE(mark.has_value());
  EXPECT_NE(mark->detail.find(layer.str()), std::string::npos) << mark->detail;

  std::vector<plugin::VerdictEvent> seen = events_.Gate(agent::kScrubGate);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].image, name);
  EXPECT_FALSE(seen[0].admitted);
  EXPECT_EQ(seen[0].judgement.verdict.decision, Decision::kDeny);
  EXPECT_EQ(seen[0].judgement.verdict.reason, Reason::kIntegrityMismatch);
  EXPECT_EQ(seen[0].judgement.verdict.manifest_digest, image.digest);

  std::string text = metrics_.RenderText();
  EXPECT_EQ(testing::MetricValue(text, "layerseal_scrub_mismatches_total"), 1.0) << text;
  EXPECT_EQ(testing::MetricValue(text, "layerseal_scrub_corrupt_images"), 1.0) << text;
}

TEST_F(ScrubTest, ATruncatedLayerAndAChangedConfigAreMismatchesToo) {
  TestImage image = fixture_->Pulled("truncated");
  const Digest layer = ScrubFixture::Layers(image)[0];
  std::string bytes = image.blobs.at(layer.str());
  fixture_->Overwrite(layer, bytes.substr(0, bytes.size() - 10));
  ScrubReport r = scrubber_->ScrubImage(image.digest);
  EXPECT_EQ(r.mismatches, 1u) << r.ToJson();
  const ScrubFinding* f = FindingFor(r, ScrubFinding::Kind::kMismatch);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->blob, layer.str());

  TestImage other = fixture_->Pulled("config");
  nlohmann::json m = nlohmann::json::parse(other.manifest);
  Digest config = *Digest::Parse(m["config"]["digest"].get<std::string>());
  std::string changed = other.blobs.at(config.str());
  changed[changed.size() / 2] ^= 0x01;
  fixture_->Overwrite(config, changed);
  r = scrubber_->ScrubImage(other.digest);
  EXPECT_EQ(r.mismatches, 1u) << r.ToJson();
  f = FindingFor(r, ScrubFinding::Kind::kMismatch);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->blob, config.str());
  EXPECT_TRUE(state_.Corrupt(other.digest).has_value());
}

TEST_F(ScrubTest, ALayerGoneIsNotAvailableAndNeverAMismatch) {
  TestImage image = fixture_->Pulled("gone");
  const Digest layer = ScrubFixture::Layers(image)[0];
  std::filesystem::remove(fixture_->BlobFile(layer));
  ScrubReport r = scrubber_->ScrubImage(image.digest);
  EXPECT_EQ(r.mismatches, 0u) << r.ToJson();
  EXPECT_EQ(r.not_available, 1u) << r.ToJson();
  EXPECT_EQ(r.blobs, 3u) << r.ToJson();  // the other layer is still checked
  const ScrubFinding* f = FindingFor(r, ScrubFinding::Kind::kNotAvailable);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->blob, layer.str());
  EXPECT_FALSE(state_.Corrupt(image.digest).has_value());
  EXPECT_TRUE(events_.Gate(agent::kScrubGate).empty());

  // An image the runtime never had: not available.
  r = scrubber_->ScrubImage(Digest::Sha256Of("no such image"));
  EXPECT_EQ(r.not_available, 1u) << r.ToJson();
  EXPECT_EQ(r.mismatches, 0u);
}

TEST_F(ScrubTest, AnIndexIsScrubbedForThePlatformAndBothDigestsAreMarked) {
  TestImage amd64 = testing::MakeBaseImage({.layers = 1, .seed = "scrub-index-amd64"});
  TestImage arm64 =
      testing::MakeBaseImage({.layers = 1, .seed = "scrub-index-arm64", .architecture = "arm64"});
  TestImage index = testing::MakeIndex(
      Family::kOci,
      {{*Platform::Parse("linux/amd64"), amd64}, {*Platform::Parse("linux/arm64"), arm64}});
  fixture_->Push("index", index);
  ASSERT_TRUE(CriClient(fixture_->containerd_->socket()).Pull(fixture_->Ref("index")).ok());
  fixture_->FlipLayerByte(amd64, 0);
  ScrubReport r = scrubber_->ScrubImage(index.digest);
  EXPECT_EQ(r.mismatches, 1u) << r.ToJson();
  EXPECT_TRUE(state_.Corrupt(index.digest).has_value());
  EXPECT_TRUE(state_.Corrupt(amd64.digest).has_value());
}

TEST_F(ScrubTest, ScrubAllFindsTheImagesTheRuntimeListsAndOnlyTheChangedOneIsMarked) {
  TestImage good = fixture_->Pulled("all-good");
  TestImage bad = fixture_->Pulled("all-bad");
  fixture_->FlipLayerByte(bad, 0);
  ScrubReport r = scrubber_->ScrubAll();
  EXPECT_GE(r.images, 2u);
  EXPECT_FALSE(state_.Corrupt(good.digest).has_value()) << r.ToJson();
  EXPECT_TRUE(state_.Corrupt(bad.digest).has_value()) << r.ToJson();
  bool named = false;
  for (const ScrubFinding& f : r.findings) {
    named |= f.kind == ScrubFinding::Kind::kMismatch &&
             f.image == fixture_->RepoDigest("all-bad", bad.digest);
  }
  EXPECT_TRUE(named) << r.ToJson();
}

// The rate holds: 12 MiB of incompressible layer at 4 MiB/s (a bucket of one second's worth)
// cannot take less than 2 s, however fast the machine. (A lower bound only: a loaded machine
// is slower, never faster.)
TEST_F(ScrubTest, TheReadRateIsBounded) {
  std::string payload(12 << 20, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (char& c : payload) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  TestImage image = testing::MakeBaseImage({.seed = "scrub-rate", .payload = payload});
  fixture_->Push("rate", image);
  ASSERT_TRUE(CriClient(fixture_->containerd_->socket()).Pull(fixture_->Ref("rate")).ok());
  absl::StatusOr<std::unique_ptr<Scrubber>> slow = Scrubber::Create(
      {.runtime = testing::ConnectCri(fixture_->containerd_->socket()),
       .platform = *Platform::Parse("linux/amd64"),
       .bytes_per_second = agent::kMinScrubBytesPerSecond,
       .state = &state_,
       .logger = &logger_});
  ASSERT_TRUE(slow.ok()) << slow.status();
  ScrubReport r = (*slow)->ScrubImage(image.digest);
  EXPECT_EQ(r.mismatches, 0u) << r.ToJson();
  EXPECT_EQ(r.errors, 0u) << r.ToJson();
  ASSERT_GT(r.bytes, uint64_t{12} << 20);
  const double floor = static_cast<double>(r.bytes - agent::kMinScrubBytesPerSecond) /
                       static_cast<double>(agent::kMinScrubBytesPerSecond);
  EXPECT_GE(absl::ToDoubleSeconds(r.elapsed), floor * 0.95) << r.ToJson();
}

TEST_F(ScrubTest, ARateBelowTheReadDeadlinesIsRefused) {
  absl::StatusOr<std::unique_ptr<Scrubber>> s = Scrubber::Create(
      {.runtime = testing::ConnectCri(fixture_->containerd_->socket()),
       .bytes_per_second = agent::kMinScrubBytesPerSecond - 1,
       .state = &state_,
       .logger = &logger_});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
}

// End to end: the agent, its admin endpoint and `layerseal cri scrub`.
class ScrubE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start();
    testing::WriteFileOrDie(dir_.File("policy.yaml"),
                            "version: 1\ndefault: {requirement: insecureAcceptAnything}\n");
    std::vector<std::string> argv = {
        "--listen", dir_.File("agent.sock"), "--runtime-endpoint", fixture_.containerd_->socket(),
        "--policy", dir_.File("policy.yaml"), "--state-dir", dir_.File("state"),
        "--health-socket", "", "--event-log", "-", "--admin", StrCat("127.0.0.1:", admin_port_),
        "--plain-http-registry", fixture_.registry_->host()};
    absl::StatusOr<agent::ParsedArgs> args = agent::ParseAgentArgs(argv);
    ASSERT_TRUE(args.ok()) << args.status();
    absl::StatusOr<std::unique_ptr<agent::Agent>> a =
        agent::Agent::Start(args->config, {.reporter = &events_});
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = *std::move(a);
  }

  testing::RunResult Scrub(std::vector<std::string> args) {
    args.insert(args.begin(), {LAYERSEAL_BINARY, "cri", "scrub", "--admin",
                               StrCat("127.0.0.1:", admin_port_)});
    absl::StatusOr<testing::RunResult> r = testing::Run(args, "", absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::RunResult{};
  }

  ScrubFixture fixture_;
  testing::TempDir dir_;
  int admin_port_ = testing::PickFreePort();
  EventsSeen events_;
  std::unique_ptr<agent::Agent> agent_;
};

TEST_F(ScrubE2eTest, CriScrubFindsTheBlobCorruptedInContainerdsStoreAndTheImageIsMarked) {
  const std::string socket = dir_.File("agent.sock");
  TestImage good = fixture_.Pulled("good", socket);
  TestImage bad = fixture_.Pulled("bad", socket);
  const Digest layer = ScrubFixture::Layers(bad)[1];

  // Before: clean, exit 0.
  testing::RunResult before = Scrub({});
  EXPECT_EQ(before.exit_code, 0) << before.out << before.err;
  EXPECT_NE(before.out.find("images 2, blobs 8,"), std::string::npos) << before.out;

  fixture_.FlipLayerByte(bad, 1);
  testing::RunResult after = Scrub({"--output", "json"});
  EXPECT_EQ(after.exit_code, 1) << after.out << after.err;
  nlohmann::json report = nlohmann::json::parse(after.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << after.out;
  EXPECT_EQ(report["images"], 2);
  EXPECT_EQ(report["mismatches"], 1);
  ASSERT_EQ(report["findings"].size(), 1u) << after.out;
  EXPECT_EQ(report["findings"][0]["kind"], "mismatch");
  EXPECT_EQ(report["findings"][0]["image"], fixture_.RepoDigest("bad", bad.digest));
  EXPECT_EQ(report["findings"][0]["blob"], layer.str());

  // The agent marked it (the judge's input), reported it and counted it.
  EXPECT_TRUE(agent_->integrity().Corrupt(bad.digest).has_value());
  EXPECT_FALSE(agent_->integrity().Corrupt(good.digest).has_value());
  std::vector<plugin::VerdictEvent> seen = events_.Gate(agent::kScrubGate);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].judgement.verdict.reason, Reason::kIntegrityMismatch);
  std::optional<std::string> text = testing::ScrapeMetrics(admin_port_);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(testing::MetricValue(*text, "layerseal_scrub_mismatches_total"), 1.0) << *text;

  // The judge consults the mark: CreateContainer of the changed image is refused by the
  // agent; the intact one goes on to containerd (which has no such sandbox).
  grpc::Status refused = CriClient(socket).CreateContainer(fixture_.RepoDigest("bad", bad.digest));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.error_message().find("INTEGRITY_MISMATCH"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find(layer.str()), std::string::npos) << refused.error_message();
  grpc::Status passed = CriClient(socket).CreateContainer(fixture_.RepoDigest("good", good.digest));
  EXPECT_EQ(passed.error_message().find("INTEGRITY_MISMATCH"), std::string::npos)
      << passed.error_message();

  // One image by digest, in the table form: the finding names the blob.
  testing::RunResult one = Scrub({"--image", bad.digest.str()});
  EXPECT_EQ(one.exit_code, 1) << one.out << one.err;
  EXPECT_NE(one.out.find("images 1,"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find(layer.str()), std::string::npos) << one.out;

  // The endpoint refuses what it does not know.
  absl::StatusOr<testing::RunResult> bad_query = testing::Run(
      {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
       StrCat("http://127.0.0.1:", admin_port_, "/scrub?start=1&image=sha256:nothex")},
      "", absl::Seconds(30));
  ASSERT_TRUE(bad_query.ok());
  EXPECT_EQ(bad_query->out, "400");
}

TEST_F(ScrubE2eTest, TheCliSaysWhenTheAgentCannotBeReached) {
  absl::StatusOr<testing::RunResult> r = testing::Run(
      {LAYERSEAL_BINARY, "cri", "scrub", "--admin", StrCat("127.0.0.1:", testing::PickFreePort())},
      "", absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1) << r->out << r->err;
  EXPECT_NE(r->err.find("layerseal cri scrub:"), std::string::npos) << r->err;
}

}  // namespace
}  // namespace layerseal
