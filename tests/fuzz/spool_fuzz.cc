// Fuzzes the agent's spool recovery: the input (after one flags byte) becomes a segment file
// seg-00000000000000000001.log in an empty directory, then EventSpool::Open recovers it and
// Unacked reads it back. Flags bit 0: recompute every record's crc32 before writing, so that
// mutations reach the event parsing and seq checks instead of stopping at "crc mismatch".
// Syncs are no-ops (a fuzz run does not need durability, and fdatasync is slow).
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "node-agent/spool.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr char kSegmentName[] = "seg-00000000000000000001.log";
constexpr size_t kMaxEventsRead = 1000;
constexpr size_t kMaxBytesRead = 1u << 20;

class NoSyncFs final : public layerseal::agent::SpoolFs {
 public:
  absl::Status Sync(int, const std::string&) override { return absl::OkStatus(); }
  absl::Status SyncDir(const std::string&) override { return absl::OkStatus(); }
};

// One directory for the whole run (libFuzzer runs inputs one at a time in one process).
const std::string& Dir() {
  static const std::string* dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "layerseal-spool-fuzz-XXXXXX");
    FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr);
    return new std::string(tmpl);
  }();
  static const bool cleanup_registered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return true;
  }();
  (void)cleanup_registered;
  return *dir;
}

uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return u[0] | (u[1] << 8) | (u[2] << 16) | (static_cast<uint32_t>(u[3]) << 24);
}

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Rewrites the crc of every whole record, walking the records as recovery does.
void FixCrcs(std::string* data) {
  size_t offset = 0;
  while (data->size() - offset >= layerseal::agent::kSpoolRecordHeaderBytes) {
    uint32_t length = GetU32(data->data() + offset);
    size_t left = data->size() - offset - layerseal::agent::kSpoolRecordHeaderBytes;
    if (length > left) break;
    const char* payload = data->data() + offset + layerseal::agent::kSpoolRecordHeaderBytes;
    PutU32(data->data() + offset + 4,
           static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(payload), length)));
    offset += layerseal::agent::kSpoolRecordHeaderBytes + length;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string segment(layerseal::fuzz::AsView(data + 1, size - 1));
  if (data[0] & 1) FixCrcs(&segment);
  const std::string& dir = Dir();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir + "/" + kSegmentName, std::ios::binary);
    out.write(segment.data(), static_cast<std::streamsize>(segment.size()));
    FUZZ_CHECK(out.good());
  }
  static NoSyncFs fs;
  layerseal::agent::SpoolOptions options;
  options.dir = dir;
  options.node = "fuzz-node";
  options.agent_version = "fuzz";
  options.fs = &fs;
  absl::StatusOr<std::unique_ptr<layerseal::agent::EventSpool>> spool =
      layerseal::agent::EventSpool::Open(options);
  if (!spool.ok()) return 0;
  absl::StatusOr<std::vector<layerseal::v1::Event>> events =
      (*spool)->Unacked(kMaxEventsRead, kMaxBytesRead);
  FUZZ_CHECK(events.ok());
  uint64_t last = 0;
  for (const layerseal::v1::Event& e : *events) {
    FUZZ_CHECK(e.seq() > last);  // recovered in seq order, each once
    last = e.seq();
  }
  // A new event is numbered after everything recovered.
  absl::StatusOr<uint64_t> seq = (*spool)->Append(layerseal::v1::Event());
  if (seq.ok()) FUZZ_CHECK(*seq > last);
  return 0;
}
