#include "verifier/strict_json.h"

#include <set>
#include <string>
#include <vector>

#include "base/str_cat.h"

namespace layerseal {
namespace {

using nlohmann::json;

// Thrown from the parser callback to abort a parse; caught in ParseStrictJson.
struct StrictJsonError {
  std::string message;
};

}  // namespace

absl::StatusOr<json> ParseStrictJson(std::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return absl::ResourceExhaustedError(
        StrCat("JSON document of ", bytes.size(), " bytes exceeds the limit of ", max_bytes));
  }
  // One set of seen keys per open object: duplicates are an error, not "last one wins",
  // because two parsers disagreeing on a duplicate is how signature bypasses are made.
  std::vector<std::set<std::string>> seen;
  auto callback = [&seen](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) throw StrictJsonError{StrCat("nesting deeper than ", kMaxJsonDepth)};
    switch (event) {
      case json::parse_event_t::object_start: seen.emplace_back(); break;
      case json::parse_event_t::object_end: seen.pop_back(); break;
      case json::parse_event_t::key:
        if (!seen.back().insert(parsed.get<std::string>()).second) {
          throw StrictJsonError{StrCat("duplicate key \"", parsed.get<std::string>(), "\"")};
        }
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(bytes.begin(), bytes.end(), callback);
  } catch (const StrictJsonError& e) {
    return absl::InvalidArgumentError(StrCat("invalid JSON: ", e.message));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(StrCat("invalid JSON: ", e.what()));
  }
}

}  // namespace layerseal
