// A main() for the fuzz targets in builds without libFuzzer (the normal gcc builds): runs
// LLVMFuzzerTestOneInput once over every file in the files and directories given
// (directories not recursed into), so the committed corpora and crash regressions are
// replayed by ctest in every CI pass. Exits non-zero when a path cannot be read or no input
// was found; a crashing input crashes this program (the test fails, naming the file first).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Bigger files are not fuzz inputs: a mistake in the corpus, refused rather than read.
constexpr std::uintmax_t kMaxInputBytes = 16u << 20;

bool CollectInputs(const std::filesystem::path& p, std::vector<std::filesystem::path>* out) {
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(p, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    if (ec) {
      std::fprintf(stderr, "replay: cannot list %s: %s\n", p.c_str(), ec.message().c_str());
      return false;
    }
    std::sort(files.begin(), files.end());
    out->insert(out->end(), files.begin(), files.end());
    return true;
  }
  if (std::filesystem::is_regular_file(p, ec)) {
    out->push_back(p);
    return true;
  }
  std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", p.c_str());
  return false;
}

bool ReadInput(const std::filesystem::path& p, std::string* bytes) {
  std::error_code ec;
  std::uintmax_t size = std::filesystem::file_size(p, ec);
  if (ec || size > kMaxInputBytes) {
    std::fprintf(stderr, "replay: %s: %s\n", p.c_str(),
                 ec ? ec.message().c_str() : "larger than 16 MiB");
    return false;
  }
  std::ifstream in(p, std::ios::binary);
  bytes->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!CollectInputs(argv[i], &inputs)) return 2;
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs found (usage: %s DIR_OR_FILE...)\n", argv[0]);
    return 2;
  }
  for (const auto& p : inputs) {
    std::string bytes;
    if (!ReadInput(p, &bytes)) return 2;
    std::fprintf(stderr, "replay: %s\n", p.c_str());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs ran without a crash\n", inputs.size());
  return 0;
}
