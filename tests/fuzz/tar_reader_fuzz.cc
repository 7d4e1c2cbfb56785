// Fuzzes the tar reader (verifier/layers/tar_reader.h). Input: one byte k, then k % 8 chunk
// sizes (one byte each, 0 meaning 1), then the archive, fed in those chunk sizes in turn.
// Invariants: chunking never changes the outcome or the entries; every path is normalized
// and absolute; captured content is within its bounds.
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "tests/fuzz/fuzz_check.h"
#include "verifier/layers/tar_reader.h"

namespace {

using layerseal::layers::TarEntry;
using layerseal::layers::TarEntryType;
using layerseal::layers::TarLimits;
using layerseal::layers::TarReader;
using layerseal::layers::TarVisitor;

constexpr size_t kCapture = 700;

bool Normalized(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/' || path.find("//") != std::string::npos) return false;
  if (path.find('\0') != std::string::npos) return false;
  std::string with_slash = path + "/";
  return with_slash.find("/../") == std::string::npos && with_slash.find("/./") == std::string::npos;
}

class Checker : public TarVisitor {
 public:
  std::vector<std::string> seen;
  uint64_t entries = 0;
  absl::StatusOr<Action> OnEntry(const TarEntry& e) override {
    FUZZ_CHECK(Normalized(e.path));
    FUZZ_CHECK(e.path.size() <= 4096);
    FUZZ_CHECK(e.mode <= 07777);
    FUZZ_CHECK(e.index == entries++);
    if (e.type == TarEntryType::kHardLink) FUZZ_CHECK(Normalized(e.linkname));
    if (e.type != TarEntryType::kFile) FUZZ_CHECK(e.size == 0);
    seen.push_back(layerseal::StrCat(e.path, "|", static_cast<int>(e.type), "|", e.size, "|", e.linkname));
    // Capture every other entry, at a bound that sometimes truncates.
    if (e.index % 2 == 0 && !e.sparse) return Action::Capture(e.index % 4 == 0 ? kCapture : 3);
    return Action::Skip();
  }
  absl::Status OnContent(const TarEntry& e, std::string_view content) override {
    FUZZ_CHECK(content.size() <= e.size);
    FUZZ_CHECK(content.size() <= kCapture);
    seen.push_back(std::string(content));
    return absl::OkStatus();
  }
};

absl::Status Read(std::string_view tar, const std::vector<size_t>& chunks, Checker& checker) {
  TarLimits limits;
  limits.max_entries = 64;
  limits.max_pax_header_bytes = 4096;
  limits.max_captured_file_bytes = 512;
  TarReader reader(&checker, limits);
  size_t pos = 0, turn = 0;
  while (pos < tar.size()) {
    size_t n = chunks.empty() ? tar.size() - pos : chunks[turn++ % chunks.size()];
    n = std::min(n, tar.size() - pos);
    if (absl::Status s = reader.Feed(tar.substr(pos, n)); !s.ok()) return s;
    pos += n;
  }
  return reader.Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = layerseal::fuzz::AsView(data, size);
  if (in.empty()) return 0;
  size_t k = static_cast<unsigned char>(in[0]) % 8;
  in.remove_prefix(1);
  if (in.size() < k) return 0;
  std::vector<size_t> chunks;
  for (size_t i = 0; i < k; ++i) chunks.push_back(std::max<size_t>(1, static_cast<unsigned char>(in[i])));
  in.remove_prefix(k);
  Checker whole, chunked;
  absl::Status a = Read(in, {}, whole);
  absl::Status b = Read(in, chunks, chunked);
  FUZZ_CHECK(a.ok() == b.ok());
  FUZZ_CHECK(a.code() == b.code());
  FUZZ_CHECK(whole.seen == chunked.seen);
  return 0;
}
