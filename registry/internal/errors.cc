#include "registry/internal/errors.h"

#include "nlohmann/json.hpp"
#include "base/str_cat.h"

namespace layerseal::registry::internal {
namespace {

std::string Truncated(std::string s) {
  if (s.size() > kMaxErrorFieldChars) s = s.substr(0, kMaxErrorFieldChars) + "...";
  return s;
}

std::string StringMember(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string RegistryErrors(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array()) return "";
  std::string out;
  size_t n = 0;
  for (const nlohmann::json& e : j["errors"]) {
    if (!e.is_object() || ++n > kMaxErrorsQuoted) break;
    out += StrCat(n == 1 ? ": " : "; ", Truncated(StringMember(e, "code")), ": ",
                  Truncated(StringMember(e, "message")));
  }
  return out;
}

}  // namespace layerseal::registry::internal
