#include "verifier/sigstore/identity.h"

#include <utility>

#include "base/str_cat.h"
#include "re2/re2.h"

namespace layerseal::sigstore {

namespace {

// `value` compiled as a full-match RE2 pattern; the error names `field`.
absl::StatusOr<std::shared_ptr<const re2::RE2>> Compile(std::string_view field,
                                                        const std::string& value) {
  RE2::Options options;
  options.set_max_mem(kMaxIdentityRegexpMemory);
  options.set_log_errors(false);
  options.set_encoding(RE2::Options::EncodingUTF8);
  auto re = std::make_shared<const re2::RE2>(re2::StringPiece(value.data(), value.size()), options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(StrCat(field, ": not a valid regular expression: ", re->error()));
  }
  return re;
}

// Exactly one of `exact` / `regexp` (named `exact_field` / `regexp_field`), each at most
// kMaxIdentityPatternLength; the regexp compiled into `re`, else the exact text into `out`.
absl::Status OnePair(std::string_view exact_field, std::optional<std::string> exact,
                     std::string_view regexp_field, std::optional<std::string> regexp,
                     std::string& out, std::shared_ptr<const re2::RE2>& re) {
  if (exact.has_value() == regexp.has_value()) {
    return absl::InvalidArgumentError(
        StrCat("give exactly one of ", exact_field, " or ", regexp_field));
  }
  std::string_view field = exact ? exact_field : regexp_field;
  const std::string& value = exact ? *exact : *regexp;
  if (value.empty()) return absl::InvalidArgumentError(StrCat(field, ": empty"));
  if (value.size() > kMaxIdentityPatternLength) {
    return absl::InvalidArgumentError(StrCat(field, ": longer than ", kMaxIdentityPatternLength,
                                             " characters"));
  }
  if (exact) {
    out = std::move(*exact);
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const re2::RE2>> compiled = Compile(field, *regexp);
  if (!compiled.ok()) return compiled.status();
  re = *std::move(compiled);
  return absl::OkStatus();
}

bool Matches(std::string_view value, const std::string& exact,
             const std::shared_ptr<const re2::RE2>& re) {
  if (re == nullptr) return value == exact;
  return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re);
}

}  // namespace

absl::StatusOr<IdentityPattern> MakeIdentityPattern(
    std::string name, std::optional<std::string> issuer, std::optional<std::string> issuer_regexp,
    std::optional<std::string> subject, std::optional<std::string> subject_regexp) {
  IdentityPattern p;
  p.name = std::move(name);
  absl::Status s = OnePair("issuer", std::move(issuer), "issuerRegExp", std::move(issuer_regexp),
                           p.issuer, p.issuer_re);
  if (!s.ok()) return s;
  s = OnePair("subject", std::move(subject), "subjectRegExp", std::move(subject_regexp),
              p.subject, p.subject_re);
  if (!s.ok()) return s;
  return p;
}

bool MatchIdentity(const CertIdentity& id, const IdentityPattern& p) {
  return Matches(id.issuer, p.issuer, p.issuer_re) && Matches(id.subject, p.subject, p.subject_re);
}

}  // namespace layerseal::sigstore
