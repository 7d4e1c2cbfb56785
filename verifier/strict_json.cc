#include "verifier/strict_json.h"

#include <set>
#include <string>
#include <vector>

#include "base/str_cat.h"

namespace layerseal {
namespace {

using nlohmann::json;

// The strictness checks as a SAX pass that builds nothing: duplicate keys and depth. (nlohmann
// 3.11.2's callback parser, which did this before, rescans the enclosing container at every
// object's end: an array of n objects cost O(n^2), minutes for a few MiB of `[{},{},...]`.)
// A second, plain parse then builds the document; both passes are linear.
class StrictnessCheck final : public nlohmann::json_sax<json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (!Open()) return false;
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      error_ = StrCat("duplicate key \"", k, "\"");
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error_ = ex.what();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  bool Open() {
    if (++depth_ > kMaxJsonDepth) {
      error_ = StrCat("nesting deeper than ", kMaxJsonDepth);
      return false;
    }
    return true;
  }
  int depth_ = 0;
  // One set of seen keys per open object: duplicates are an error, not "last one wins",
  // because two parsers disagreeing on a duplicate is how signature bypasses are made.
  std::vector<std::set<std::string>> keys_;
  std::string error_;
};

}  // namespace

absl::StatusOr<json> ParseStrictJson(std::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return absl::ResourceExhaustedError(
        StrCat("JSON document of ", bytes.size(), " bytes exceeds the limit of ", max_bytes));
  }
  StrictnessCheck check;
  if (!json::sax_parse(bytes.begin(), bytes.end(), &check)) {
    return absl::InvalidArgumentError(StrCat("invalid JSON: ", check.error()));
  }
  try {
    return json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {  // not expected: the first pass parsed the same bytes
    return absl::InvalidArgumentError(StrCat("invalid JSON: ", e.what()));
  }
}

}  // namespace layerseal
