// Quoting untrusted bytes (entry paths, patterns) for error messages and verdict details in
// verifier/layers: C-escaped, in double quotes, cut at kMaxQuotedBytes with "..." marking the
// cut. Thread-safety: a pure function.
#ifndef LAYERSEAL_VERIFIER_LAYERS_QUOTED_H_
#define LAYERSEAL_VERIFIER_LAYERS_QUOTED_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "base/str_cat.h"

namespace layerseal::layers {

// The most bytes of a path or pattern quoted in a message.
inline constexpr size_t kMaxQuotedBytes = 200;

inline std::string Quoted(std::string_view s) {
  std::string_view cut = s.substr(0, kMaxQuotedBytes);
  return StrCat("\"", Sv(absl::CEscape(absl::string_view(cut.data(), cut.size()))),
                s.size() > cut.size() ? "...\"" : "\"");
}

}  // namespace layerseal::layers

#endif  // LAYERSEAL_VERIFIER_LAYERS_QUOTED_H_
