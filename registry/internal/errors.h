// The registry's own explanation of a failed request: the {"errors":[{"code","message"}]}
// body of the distribution spec, quoted (bounded) into status messages. Private to registry/
// (and its tests and fuzz target).
//
// Thread-safety: pure functions. Ownership: nothing is kept.
#ifndef LAYERSEAL_REGISTRY_INTERNAL_ERRORS_H_
#define LAYERSEAL_REGISTRY_INTERNAL_ERRORS_H_

#include <cstddef>
#include <string>

namespace layerseal::registry::internal {

// Registry error details quoted in a status message; the rest is dropped.
inline constexpr size_t kMaxErrorsQuoted = 4;
inline constexpr size_t kMaxErrorFieldChars = 200;

// ": CODE: message; CODE: message" from the registry's {"errors":[...]} body: at most
// kMaxErrorsQuoted entries, each field cut at kMaxErrorFieldChars. Empty when `body` is not
// such a document (any JSON error is swallowed: this only decorates another error).
std::string RegistryErrors(const std::string& body);

}  // namespace layerseal::registry::internal

#endif  // LAYERSEAL_REGISTRY_INTERNAL_ERRORS_H_
