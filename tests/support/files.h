// Whole-file reads and writes for unit tests (no servers, no processes; the integration
// harness has ReadFileOrDie/WriteFileOrDie in process.h, which unit tests do not link).
#ifndef LAYERSEAL_TESTS_SUPPORT_FILES_H_
#define LAYERSEAL_TESTS_SUPPORT_FILES_H_

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace layerseal::testing {

// The file's bytes, or "" if it cannot be read.
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replaces the file's contents with `data`.
inline void WriteAll(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_FILES_H_
