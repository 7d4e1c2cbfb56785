// Small helpers for reading sigstore's protobuf-JSON documents (bundles, trusted roots):
// base64 as protojson writes it, int64 as number or string, RFC 3339 times, and strict member
// sets. Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_JSON_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_JSON_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace layerseal::sigstore {

// Bytes from a protojson base64 string: standard or URL alphabet, padded or not, no
// whitespace. InvalidArgument naming `path` otherwise (also when `j` is not a string).
absl::StatusOr<std::string> ProtoBytes(const nlohmann::json& j, std::string_view path);
// An int64 given as a JSON integer or a decimal string.
absl::StatusOr<int64_t> ProtoInt64(const nlohmann::json& j, std::string_view path);
// An RFC 3339 time ("2023-01-01T00:00:00Z", fractional seconds and offsets allowed).
absl::StatusOr<absl::Time> ProtoTime(const nlohmann::json& j, std::string_view path);
// OK when `j` is an object whose members are all in `allowed` (each given in lowerCamel; the
// snake_case spelling is accepted too, as protojson does). InvalidArgument naming the first
// unknown member otherwise.
absl::Status CheckFields(const nlohmann::json& j, std::string_view path,
                         std::initializer_list<std::string_view> allowed);
// The member `name` (lowerCamel) or its snake_case spelling; nullptr when absent.
const nlohmann::json* Member(const nlohmann::json& j, std::string_view name);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_JSON_H_
