#include "node-agent/scrub.h"

#include <chrono>
#include <set>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "base/str_cat.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "node-agent/containerd_blob_reader.h"
#include "node-agent/containerd_content.h"
#include "verifier/image_integrity.h"
#include "verifier/layers/layer_stream.h"
#include "verifier/reference.h"

namespace layerseal::agent {
namespace {

// The first "sha256:<64 hex>" in `text` ("" when none): the blob an error names.
std::string FirstDigestIn(std::string_view text) {
  for (size_t at = text.find("sha256:"); at != std::string_view::npos;
       at = text.find("sha256:", at + 1)) {
    absl::StatusOr<Digest> d = Digest::Parse(text.substr(at, 7 + 64));
    if (d.ok()) return d->str();
  }
  return "";
}

}  // namespace

std::string_view ScrubFindingKindName(ScrubFinding::Kind kind) {
  switch (kind) {
    case ScrubFinding::Kind::kMismatch:
      return "mismatch";
    case ScrubFinding::Kind::kNotAvailable:
      return "not-available";
    case ScrubFinding::Kind::kError:
      return "error";
  }
  return "unknown";
}

std::string ScrubReport::ToJson() const {
  nlohmann::ordered_json j;
  j["started"] = absl::FormatTime(absl::RFC3339_sec, started, absl::UTCTimeZone());
  j["elapsedSeconds"] = absl::ToDoubleSeconds(elapsed);
  j["images"] = images;
  j["blobs"] = blobs;
  j["bytes"] = bytes;
  j["mismatches"] = mismatches;
  j["notAvailable"] = not_available;
  j["errors"] = errors;
  j["stopped"] = stopped;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ScrubFinding& f : findings) {
    list.push_back({{"kind", std::string(ScrubFindingKindName(f.kind))},
                    {"image", f.image},
                    {"blob", f.blob},
                    {"detail", f.detail}});
  }
  j["findings"] = std::move(list);
  j["findingsDropped"] = findings_dropped;
  // Details quote the runtime's and the images' bytes: never let bad UTF-8 throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<Scrubber>> Scrubber::Create(ScrubberOptions options) {
  if (options.bytes_per_second < kMinScrubBytesPerSecond) {
    return absl::InvalidArgumentError(
        StrCat("scrub rate ", options.bytes_per_second, " bytes/s: at least ",
               kMinScrubBytesPerSecond, " (a slower read outlasts containerd Read's deadline)"));
  }
  if (options.runtime == nullptr || options.state == nullptr || options.logger == nullptr ||
      options.clock == nullptr) {
    return absl::InvalidArgumentError("scrubber: runtime, state, logger and clock are required");
  }
  return std::unique_ptr<Scrubber>(new Scrubber(std::move(options)));
}

Scrubber::Scrubber(ScrubberOptions options)
    : options_(std::move(options)),
      content_(std::make_unique<ContainerdContent>(options_.runtime)),
      bucket_(options_.bytes_per_second, 0, *options_.clock) {
  if (telemetry::MetricsRegistry* m = options_.metrics; m != nullptr) {
    runs_total_ = &m->AddCounter("layerseal_scrub_runs_total", "Integrity scrubs finished.")->Get();
    images_total_ = &m->AddCounter("layerseal_scrub_images_total",
                                   "Images the integrity scrub looked at.")->Get();
    bytes_total_ = &m->AddCounter("layerseal_scrub_bytes_total",
                                  "Bytes the integrity scrub read from the content store.")->Get();
    mismatches_total_ = &m->AddCounter(
        "layerseal_scrub_mismatches_total",
        "Images whose blobs on disk no longer hash to their descriptors or diff_ids.")->Get();
    not_available_total_ = &m->AddCounter(
        "layerseal_scrub_not_available_total",
        "Blobs or images the runtime does not have (discard_unpacked_layers, CRI-O).")->Get();
    errors_total_ = &m->AddCounter("layerseal_scrub_errors_total",
                                   "Images the integrity scrub could not check.")->Get();
    IntegrityState* state = options_.state;
    m->AddGaugeCallback("layerseal_scrub_corrupt_images",
                        "Images marked corrupt by the integrity scrub (no longer admitted).",
                        [state] { return static_cast<double>(state->corrupt_images()); });
  }
}

Scrubber::~Scrubber() {
  stop_.store(true);
  stopping_.Notify();
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    thread = std::move(thread_);
  }
  // (A Start after this sees stop_ and starts nothing.)
  if (thread.joinable()) thread.join();
}

bool Scrubber::Throttle(uint64_t bytes) {
  absl::Duration wait = bucket_.Take(bytes);
  if (wait <= absl::ZeroDuration()) return !stop_.load();
  return !stopping_.WaitFor(wait);
}

absl::StatusOr<std::vector<Scrubber::Target>> Scrubber::ListTargets(
    std::vector<std::string>* no_digest) {
  auto stub = ::runtime::v1::ImageService::NewStub(options_.runtime);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kScrubListTimeout));
  ::runtime::v1::ListImagesRequest req;
  ::runtime::v1::ListImagesResponse resp;
  grpc::Status s = stub->ListImages(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        StrCat("the runtime's ListImages: ", s.error_message()));
  }
  std::vector<Target> out;
  std::set<std::string> seen;
  for (const ::runtime::v1::Image& image : resp.images()) {
    bool any = false;
    for (const std::string& repo_digest : image.repo_digests()) {
      // Read as the gates and the sweep read it (plugin/image_gates.cc, sweep.cc).
      absl::StatusOr<Reference> ref = Reference::Parse(repo_digest);
      std::optional<Digest> d = ref.ok() ? ref->digest : std::nullopt;
      any |= d.has_value();
      if (!d || !seen.insert(d->str()).second) continue;
      if (out.size() >= kMaxScrubImages) {
        return absl::ResourceExhaustedError(
            StrCat("the runtime lists more than ", kMaxScrubImages, " images (kMaxScrubImages)"));
      }
      out.push_back({*d, repo_digest});
    }
    if (!any) no_digest->push_back(image.id());
  }
  return out;
}

ScrubReport Scrubber::ScrubAll() { return Run(std::nullopt); }

ScrubReport Scrubber::ScrubImage(const Digest& digest, std::string_view name) {
  return Run(std::vector<Target>{{digest, name.empty() ? digest.str() : std::string(name)}});
}

std::optional<uint64_t> Scrubber::Start(std::optional<Digest> image) {
  absl::MutexLock lock(&mu_);
  if (running_ || stop_.load()) return std::nullopt;
  if (thread_.joinable()) thread_.join();  // the last one has finished (running_ is false)
  running_ = true;
  thread_ = std::thread([this, image] {
    ScrubReport report = image ? ScrubImage(*image) : ScrubAll();
    absl::MutexLock lock(&mu_);
    last_ = std::move(report);
    running_ = false;
    ++runs_;
  });
  return runs_ + 1;
}

Scrubber::Status Scrubber::status() const {
  absl::MutexLock lock(&mu_);
  return Status{.running = running_, .runs = runs_, .last = last_};
}

void Scrubber::Finding(ScrubReport& report, ScrubFinding finding) {
  switch (finding.kind) {
    case ScrubFinding::Kind::kMismatch:
      break;  // counted per image by Mismatch
    case ScrubFinding::Kind::kNotAvailable:
      ++report.not_available;
      if (not_available_total_) not_available_total_->Increment();
      break;
    case ScrubFinding::Kind::kError:
      ++report.errors;
      if (errors_total_) errors_total_->Increment();
      options_.logger->Warn("integrity scrub: cannot check an image",
                            {{"image", finding.image}, {"error", finding.detail}});
      break;
  }
  if (report.findings.size() >= kMaxScrubFindings) {
    ++report.findings_dropped;
    return;
  }
  report.findings.push_back(std::move(finding));
}

void Scrubber::Mismatch(const Target& target, std::optional<Digest> manifest,
                        const std::string& blob, const std::string& detail, ScrubReport& report) {
  ++report.mismatches;
  if (mismatches_total_) mismatches_total_->Increment();
  const absl::Time now = options_.clock->Wall();
  const std::string marked = StrCat("integrity scrub: ", detail);
  bool kept = options_.state->MarkCorrupt(target.digest, marked, now);
  if (manifest && *manifest != target.digest) {
    kept = options_.state->MarkCorrupt(*manifest, marked, now) && kept;
  }
  options_.logger->Error("integrity scrub: an image's bytes on disk changed after the pull",
                         {{"image", target.name}, {"blob", blob}, {"detail", detail},
                          {"marked", kept}});
  Finding(report, {ScrubFinding::Kind::kMismatch, target.name, blob, detail});
  if (!kept) {
    Finding(report, {ScrubFinding::Kind::kError, target.name, blob,
                     StrCat("not marked corrupt: ", kMaxCorruptImages,
                            " images are marked already (kMaxCorruptImages)")});
  }
  if (options_.events != nullptr) {
    plugin::VerdictEvent event;
    event.gate = std::string(kScrubGate);
    event.image = target.name;
    Verdict& v = event.judgement.verdict;
    v.decision = Decision::kDeny;
    v.reason = Reason::kIntegrityMismatch;
    v.detail = marked;
    v.reference = target.name;
    v.manifest_digest = manifest.value_or(target.digest);
    event.admitted = false;
    event.time = now;
    options_.events->Report(event);
  }
}

std::string Scrubber::OnDisk(BlobReader& reader, const Descriptor& layer) {
  Sha256Stream hash;
  absl::Status read = reader.Read(layer, [&](std::string_view chunk) -> absl::Status {
    if (!Throttle(chunk.size())) return absl::CancelledError("the scrubber is stopping");
    hash.Update(chunk);
    return absl::OkStatus();
  });
  if (!read.ok()) return "";
  return StrCat("the bytes on disk hash to ", hash.Finish().str(), " (expected ",
                layer.digest.str(), "); ");
}

// Why not InspectImage(scrub = true): it stops at the first layer it cannot read, and a
// scrub goes on past a layer containerd no longer has (the others can still be checked),
// and must tell a transport error (the runtime went away: not a mismatch) from bytes that
// do not hash or decompress. The hashing is the same layers::LayerStream.
void Scrubber::ScrubOne(const Target& target, ScrubReport& report) {
  ++report.images;
  if (images_total_) images_total_->Increment();
  // The lease goes without waiting for a garbage collection: one per image would be a
  // collection per image on a full node.
  ContainerdBlobReader reader(content_.get(), "scrub", /*sync_release=*/false);
  uint64_t counted = 0;  // reader bytes already added to the report
  auto count_bytes = [&] {
    uint64_t n = reader.bytes_read() - counted;
    counted = reader.bytes_read();
    report.bytes += n;
    if (bytes_total_) bytes_total_->Increment(static_cast<double>(n));
  };

  absl::StatusOr<StoredImage> stored = reader.ReadImage(target.digest, options_.platform);
  count_bytes();
  if (!stored.ok()) {
    const std::string detail(Sv(stored.status().message()));
    if (IsBlobNotAvailable(stored.status())) {
      Finding(report, {ScrubFinding::Kind::kNotAvailable, target.name, FirstDigestIn(detail), detail});
    } else if (stored.status().code() == absl::StatusCode::kDataLoss) {
      Mismatch(target, std::nullopt, FirstDigestIn(detail), detail, report);
    } else {
      Finding(report, {ScrubFinding::Kind::kError, target.name, "", detail});
    }
    return;
  }
  report.blobs += stored->index ? 3 : 2;  // (the index,) the manifest and the config
  if (!Throttle(stored->bytes_read)) {
    report.stopped = true;
    return;
  }
  absl::StatusOr<std::vector<Digest>> diff_ids = ParseConfigDiffIds(stored->config);
  if (!diff_ids.ok() || diff_ids->size() != stored->manifest.layers.size()) {
    Finding(report, {ScrubFinding::Kind::kError, target.name, stored->manifest.config.digest.str(),
                     diff_ids.ok() ? StrCat("the config has ", diff_ids->size(), " diff_ids for ",
                                            stored->manifest.layers.size(), " layers")
                                   : std::string(Sv(diff_ids.status().message()))});
    return;
  }

  for (size_t i = 0; i < stored->manifest.layers.size(); ++i) {
    const Descriptor& layer = stored->manifest.layers[i];
    const std::string blob = layer.digest.str();
    if (layer.digest.algorithm() != "sha256") {  // layers are streamed through SHA-256 only
      Finding(report, {ScrubFinding::Kind::kError, target.name, blob,
                       StrCat("layer ", i, ": a ", layer.digest.algorithm(),
                              " digest; the scrub streams SHA-256 only, not checked")});
      continue;
    }
    absl::StatusOr<std::unique_ptr<layers::LayerStream>> stream = layers::LayerStream::Open(
        {layer.media_type, layer.digest, static_cast<uint64_t>(layer.size)}, (*diff_ids)[i],
        /*visitor=*/nullptr);
    // A media type the stream does not decompress (a foreign or artifact layer): the blob's
    // digest is still checked.
    Sha256Stream plain;
    bool stream_failed = false;
    bool stopped = false;
    absl::Status read = reader.Read(layer, [&](std::string_view chunk) -> absl::Status {
      if (!Throttle(chunk.size())) {
        stopped = true;
        return absl::CancelledError("the scrubber is stopping");
      }
      if (!stream.ok()) {
        plain.Update(chunk);
        return absl::OkStatus();
      }
      absl::Status fed = (*stream)->Feed(chunk);
      stream_failed = !fed.ok();
      return fed;
    });
    count_bytes();
    if (stopped) {
      report.stopped = true;
      return;
    }
    if (read.ok()) {
      absl::Status finished;
      if (stream.ok()) {
        finished = (*stream)->Finish().status();
      } else if (Digest actual = plain.Finish(); actual != layer.digest) {
        finished = absl::DataLossError(StrCat("layer ", blob, " hashes to ", actual.str()));
      }
      if (!finished.ok()) {
        Mismatch(target, stored->digest, blob,
                 StrCat("layer ", i, ": ", OnDisk(reader, layer), Sv(finished.message())), report);
        count_bytes();
        return;
      }
      ++report.blobs;
      continue;
    }
    const std::string detail(Sv(read.message()));
    if (stream_failed || read.code() == absl::StatusCode::kDataLoss) {
      // The bytes do not decompress, or there are more or fewer than the descriptor says.
      Mismatch(target, stored->digest, blob, StrCat("layer ", i, ": ", OnDisk(reader, layer), detail),
               report);
      count_bytes();
      return;
    }
    if (IsBlobNotAvailable(read)) {
      Finding(report, {ScrubFinding::Kind::kNotAvailable, target.name, blob, detail});
      continue;  // the other layers can still be checked
    }
    Finding(report, {ScrubFinding::Kind::kError, target.name, blob, detail});
    return;
  }
}

ScrubReport Scrubber::Run(const std::optional<std::vector<Target>>& given) {
  absl::MutexLock one_at_a_time(&run_mu_);
  ScrubReport report;
  report.started = options_.clock->Wall();
  const absl::Duration start = options_.clock->Monotonic();
  std::vector<Target> targets;
  std::vector<std::string> no_digest;
  if (given) {
    targets = *given;
  } else if (absl::StatusOr<std::vector<Target>> listed = ListTargets(&no_digest); listed.ok()) {
    targets = *std::move(listed);
    for (const std::string& id : no_digest) {
      Finding(report, {ScrubFinding::Kind::kNotAvailable, id, "",
                       "listed without a repo digest (imported, not pulled): no manifest to check against"});
    }
  } else {
    Finding(report, {ScrubFinding::Kind::kError, "", "", std::string(Sv(listed.status().message()))});
  }
  for (const Target& target : targets) {
    if (stop_.load()) report.stopped = true;
    if (report.stopped) break;
    ScrubOne(target, report);
  }
  report.elapsed = options_.clock->Monotonic() - start;
  if (runs_total_) runs_total_->Increment();
  options_.logger->Info("integrity scrub finished",
                        {{"images", report.images}, {"blobs", report.blobs},
                         {"bytes", report.bytes}, {"mismatches", report.mismatches},
                         {"not_available", report.not_available}, {"errors", report.errors},
                         {"seconds", absl::ToDoubleSeconds(report.elapsed)},
                         {"stopped", report.stopped}});
  return report;
}

telemetry::HttpRoute ScrubAdminRoute(Scrubber* scrubber) {
  return {kScrubAdminPath, [scrubber](const telemetry::HttpRequest& req) {
    telemetry::HttpResponse resp;
    resp.content_type = "application/json";
    auto bad = [&](const std::string& why) {
      resp.status = 400;
      resp.body = nlohmann::json({{"error", why}}).dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace);
      return resp;
    };
    for (const auto& [name, value] : req.query) {
      if (name != "start" && name != "image") return bad(StrCat("unknown parameter \"", name, "\""));
    }
    if (req.Count("start") > 1 || req.Count("image") > 1) return bad("a parameter is repeated");
    std::optional<Digest> image;
    if (req.Count("image") == 1) {
      if (req.Count("start") == 0) return bad("image needs start=1");
      absl::StatusOr<Digest> d = Digest::Parse(req.Param("image"));
      if (!d.ok()) return bad(StrCat("image: ", Sv(d.status().message())));
      image = *d;
    }
    Scrubber::Status status = scrubber->status();
    nlohmann::ordered_json j;
    if (req.Count("start") == 1) {
      if (req.Param("start") != "1") return bad("start takes the value 1");
      std::optional<uint64_t> run = scrubber->Start(image);
      resp.status = run ? 202 : 409;
      j["started"] = run.has_value();
      if (run) j["run"] = *run;
      status = scrubber->status();
    }
    j["running"] = status.running;
    j["runs"] = status.runs;
    j["last"] = status.last ? nlohmann::ordered_json::parse(status.last->ToJson())
                            : nlohmann::ordered_json();
    resp.body = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    return resp;
  }};
}

}  // namespace layerseal::agent
