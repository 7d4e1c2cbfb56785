// Small helpers for reading sigstore's protobuf-JSON documents (bundles, trusted roots):
// base64 as protojson writes it, int64 as number or string, RFC 3339 times, and strict member
// sets. Pure functions; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_JSON_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_JSON_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace layerseal::sigstore {

// Bytes from a protojson base64 string: standard or URL alphabet (not mixed), padded or not,
// no stray bits in the final quantum. Line breaks ('\r', '\n') are skipped, as Go's decoder
// does; any other whitespace is an error. InvalidArgument naming `path` otherwise (also when
// `j` is not a string).
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
// The member `name` (lowerCamel) or its snake_case spelling; nullptr when absent or null
// (protojson reads a null as the field's default, i.e. unset).
const nlohmann::json* Member(const nlohmann::json& j, std::string_view name);

// Shared by the sigstore parsers for uniform messages. Messages quote the input, so each
// quoted part is cut to kMaxJsonErrorChars (at a UTF-8 boundary).
inline constexpr size_t kMaxJsonErrorChars = 240;
// ParseStrictJson (verifier/manifest.h: duplicate keys, depth, UTF-8, size) with its error
// prefixed by `what`, cut to kMaxJsonErrorChars and with non-ASCII bytes replaced (the parser
// quotes the raw input it read). The code is kept: ResourceExhausted over `max_bytes`, else
// InvalidArgument.
absl::StatusOr<nlohmann::json> ParseJsonDocument(std::string_view bytes, size_t max_bytes,
                                                 std::string_view what);
// InvalidArgument "<path>: <what>".
absl::Status PathError(std::string_view path, std::string_view what);
// "parent.member", or "member" when parent is empty.
std::string JoinPath(std::string_view parent, std::string_view member);
// protojson's snake_case spelling of a lowerCamel name: "logIndex" -> "log_index".
std::string SnakeCase(std::string_view camel);
// Member(obj, name), required: InvalidArgument "<path>.<name>: missing" when absent or null.
absl::StatusOr<const nlohmann::json*> RequiredMember(const nlohmann::json& obj,
                                                     std::string_view path, std::string_view name);
// A string member: InvalidArgument when it is not a string, or when `required` and it is
// absent or empty. "" when absent and not required.
absl::StatusOr<std::string> StringMember(const nlohmann::json& obj, std::string_view path,
                                         std::string_view name, bool required);

}  // namespace layerseal::sigstore

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_JSON_H_
