// Prometheus text as the tests read it: scraped from a server's /metrics with curl (an
// independent HTTP client), and one sample's value looked up by its rendered series.
// Header-only. Thread-safety: the functions are; each runs curl as a child process.
#ifndef LAYERSEAL_TESTS_SUPPORT_METRICS_TEXT_H_
#define LAYERSEAL_TESTS_SUPPORT_METRICS_TEXT_H_

#include <cstdlib>
#include <optional>
#include <string>

#include "tests/support/process.h"
#include "base/str_cat.h"

namespace layerseal::testing {

// The body of http://127.0.0.1:<port>/metrics, or nullopt when it cannot be fetched.
inline std::optional<std::string> ScrapeMetrics(int port) {
  absl::StatusOr<RunResult> r =
      Run({"curl", "-sf", StrCat("http://127.0.0.1:", port, "/metrics")}, "", absl::Seconds(10));
  if (!r.ok() || r->exit_code != 0) return std::nullopt;
  return r->out;
}

// The value of the sample `series` (name plus labels, as rendered, e.g.
// `x_total{reason="a"}`) at the start of a line of `text`, or nullopt when it is absent.
inline std::optional<double> MetricValue(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::strtod(text.c_str() + at + series.size() + 1, nullptr);
    }
    at += series.size();
  }
  return std::nullopt;
}

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_METRICS_TEXT_H_
