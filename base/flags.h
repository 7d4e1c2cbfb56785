// A small command-line parser for subcommands: "--name value", "--name=value", boolean
// switches, repeated flags, and positional arguments. Unknown flags are errors.
#ifndef LAYERSEAL_BASE_FLAGS_H_
#define LAYERSEAL_BASE_FLAGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace layerseal {

struct FlagSpec {
  std::set<std::string> values;    // flags that take a value (may repeat)
  std::set<std::string> switches;  // flags that take none
};

class Flags {
 public:
  static absl::StatusOr<Flags> Parse(const std::vector<std::string>& args, const FlagSpec& spec);

  bool Has(const std::string& name) const;
  // The last value given, or nullopt.
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> switches_;
  std::vector<std::string> positional_;
};

// "30s", "500ms", "2m" (absl::ParseDuration), positive.
absl::StatusOr<absl::Duration> ParsePositiveDuration(const std::string& text);

}  // namespace layerseal

#endif  // LAYERSEAL_BASE_FLAGS_H_
