#include "base/flags.h"

#include "base/str_cat.h"

namespace layerseal {

absl::StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args, const FlagSpec& spec) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      flags.positional_.insert(flags.positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (spec.switches.count(name)) {
      if (value) return absl::InvalidArgumentError(StrCat("--", name, " takes no value"));
      flags.switches_.insert(name);
    } else if (spec.values.count(name)) {
      if (!value) {
        if (i + 1 >= args.size()) return absl::InvalidArgumentError(StrCat("--", name, " needs a value"));
        value = args[++i];
      }
      flags.values_[name].push_back(*value);
    } else {
      return absl::InvalidArgumentError(StrCat("unknown flag --", name));
    }
  }
  return flags;
}

bool Flags::Has(const std::string& name) const {
  return switches_.count(name) > 0 || values_.count(name) > 0;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::string Flags::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

absl::StatusOr<absl::Duration> ParsePositiveDuration(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(StrCat("invalid duration \"", text, "\" (e.g. 30s, 500ms, 2m)"));
  }
  return d;
}

}  // namespace layerseal
