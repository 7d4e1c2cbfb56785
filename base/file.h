// Reading a whole small file (a policy, a PEM, a docker config) with a size limit, and one
// error vocabulary for it (issue 16: this was written six times, with three codes for "too
// large"):
// - NOT_FOUND when the file (or a directory on its path) is missing;
// - RESOURCE_EXHAUSTED when it is larger than the limit: the message names the file, what it
//   is, and the limit;
// - any other failure (permission, a directory, an I/O error): the code errno maps to
//   (absl::ErrnoToStatusCode), the message names the file and has errno's text.
// Thread-safety: a free function, safe from any thread. Ownership: returns its own copy.
#ifndef LAYERSEAL_BASE_FILE_H_
#define LAYERSEAL_BASE_FILE_H_

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerseal {

// The longest path quoted whole in a message; longer ones end in "...".
inline constexpr size_t kMaxQuotedPathBytes = 4096;

// The bytes of `path`, at most `max_bytes` of them. `what` says what the file is in messages
// ("controller certificate", "policy"; "" when the caller's message says it already):
//   cannot open controller certificate "/etc/x.pem": No such file or directory
//   controller certificate "/etc/x.pem" is larger than 1048576 bytes
// A regular file whose size is over the limit is refused before any byte is read; otherwise
// at most max_bytes + 1 bytes are read (never the whole file first), so a growing file or a
// pipe cannot make it allocate more than that. It never blocks waiting for a writer: a FIFO
// is read as far as it holds data (none without a writer).
absl::StatusOr<std::string> ReadFileLimited(const std::filesystem::path& path, size_t max_bytes,
                                            std::string_view what);

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_FILE_H_
