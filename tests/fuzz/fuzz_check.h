// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cc). A target's invariant that does
// not hold is a bug like a crash: FUZZ_CHECK aborts, so libFuzzer keeps the input and the
// replay test (replay_main.cc) fails on it.
// Thread-safety: pure functions. Ownership: views borrow the fuzz input.
#ifndef LAYERSEAL_TESTS_FUZZ_FUZZ_CHECK_H_
#define LAYERSEAL_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                          \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace layerseal::fuzz {

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits an input "first line\nrest" (for targets that take two strings, e.g. a Content-Type
// and a body). Without a newline the first part is empty.
inline std::pair<std::string_view, std::string_view> SplitFirstLine(std::string_view in) {
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return {std::string_view(), in};
  return {in.substr(0, nl), in.substr(nl + 1)};
}

}  // namespace layerseal::fuzz

#endif  // LAYERSEAL_TESTS_FUZZ_FUZZ_CHECK_H_
