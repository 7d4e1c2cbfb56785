#include "telemetry/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <utility>

namespace layerseal::telemetry {

// Counters are incremented on every CRI call: they must never take a lock.
static_assert(std::atomic<double>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

void Counter::Increment(double by) {
  if (!(by >= 0)) return;  // negative or NaN
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::Observe(double v) {
  // Bucket i counts bounds[i-1] < v <= bounds[i]; NaN goes to +Inf like client_golang.
  size_t i = bounds_->size();
  if (!std::isnan(v)) {
    i = std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin();
  }
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bucket_counts.reserve(bounds_->size() + 1);
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    uint64_t c = counts_[i].load(std::memory_order_relaxed);
    s.bucket_counts.push_back(c);
    s.count += c;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace {

// Go's strconv.FormatFloat(v, 'g', -1, 64) as Prometheus prints it: shortest round trip.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "NaN";  // cannot happen with 64 bytes
  return std::string(buf, end);
}

std::string FormatCount(uint64_t v) { return std::to_string(v); }

// Label values escape backslash, double quote and newline; HELP text only the first and last.
void AppendEscaped(std::string& out, const std::string& s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}` plus an optional extra label (histogram `le`); nothing if there are none.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra_name = "", const std::string& extra_value = "") {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendEscaped(out, values[i], true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    AppendEscaped(out, extra_value, true);
    out += '"';
  }
  out += '}';
  return out;
}

void AppendSample(std::string& out, const std::string& name, const std::string& labels,
                  const std::string& value) {
  out += name;
  out += labels;
  out += ' ';
  out += value;
  out += '\n';
}

void AppendHeader(std::string& out, const std::string& name, const std::string& help,
                  const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscaped(out, help, false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// ASCII only: std::isalpha would follow the process locale.
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsMetricName(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = IsAlpha(c) || c == '_' || c == ':' ||
              (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(const std::string& s) {
  if (s.empty() || s.rfind("__", 0) == 0) return false;  // "__" prefix is Prometheus's own
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = IsAlpha(c) || c == '_' ||
              (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

absl::Status Validate(const std::string& name, const std::vector<std::string>& labels,
                      bool histogram) {
  if (!IsMetricName(name)) {
    return absl::InvalidArgumentError("metrics: invalid metric name \"" + name + "\"");
  }
  std::set<std::string> seen;
  for (const auto& l : labels) {
    if (!IsLabelName(l) || (histogram && l == "le")) {
      return absl::InvalidArgumentError("metrics: " + name + ": invalid label name \"" + l + "\"");
    }
    if (!seen.insert(l).second) {
      return absl::InvalidArgumentError("metrics: " + name + ": duplicate label name \"" + l +
                                        "\"");
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<const std::vector<double>> CleanBounds(std::vector<double> b) {
  b.erase(std::remove_if(b.begin(), b.end(), [](double v) { return !std::isfinite(v); }),
          b.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return std::make_shared<const std::vector<double>>(std::move(b));
}

}  // namespace

struct MetricsRegistry::Entry {
  std::string name;
  std::string help;
  absl::Status valid;  // why it is not exported, if it is not
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;
  std::function<double()> callback;

  void Render(std::string& out) const;
};

void MetricsRegistry::Entry::Render(std::string& out) const {
  if (counter != nullptr) {
    AppendHeader(out, name, help, "counter");
    counter->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
      AppendSample(out, name, LabelSet(counter->label_names(), values), FormatValue(c.value()));
    });
  } else if (gauge != nullptr) {
    AppendHeader(out, name, help, "gauge");
    gauge->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
      AppendSample(out, name, LabelSet(gauge->label_names(), values), FormatValue(g.value()));
    });
  } else if (histogram != nullptr) {
    AppendHeader(out, name, help, "histogram");
    const auto& names = histogram->label_names();
    histogram->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
      Histogram::Snapshot s = h.snapshot();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < s.bucket_counts.size(); ++i) {
        cumulative += s.bucket_counts[i];
        std::string le = i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
        AppendSample(out, name + "_bucket", LabelSet(names, values, "le", le),
                     FormatCount(cumulative));
      }
      AppendSample(out, name + "_sum", LabelSet(names, values), FormatValue(s.sum));
      AppendSample(out, name + "_count", LabelSet(names, values), FormatCount(s.count));
    });
  } else if (callback) {
    AppendHeader(out, name, help, "gauge");
    double v = std::nan("");
    try {
      v = callback();
    } catch (...) {
      // A failing callback must not take /metrics down with it; NaN shows it failed.
    }
    AppendSample(out, name, "", FormatValue(v));
  }
}

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Family<Counter>* MetricsRegistry::AddCounter(std::string name, std::string help,
                                             std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->valid = Validate(name, label_names, false);
  e->counter = std::make_unique<Family<Counter>>(std::move(label_names),
                                                 [] { return std::make_unique<Counter>(); });
  Family<Counter>* family = e->counter.get();
  e->name = std::move(name);
  e->help = std::move(help);
  Register(std::move(e));
  return family;
}

Family<Gauge>* MetricsRegistry::AddGauge(std::string name, std::string help,
                                         std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->valid = Validate(name, label_names, false);
  e->gauge = std::make_unique<Family<Gauge>>(std::move(label_names),
                                             [] { return std::make_unique<Gauge>(); });
  Family<Gauge>* family = e->gauge.get();
  e->name = std::move(name);
  e->help = std::move(help);
  Register(std::move(e));
  return family;
}

Family<Histogram>* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                 std::vector<double> buckets,
                                                 std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->valid = Validate(name, label_names, true);
  auto bounds = CleanBounds(std::move(buckets));
  e->histogram = std::make_unique<Family<Histogram>>(
      std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); });
  Family<Histogram>* family = e->histogram.get();
  e->name = std::move(name);
  e->help = std::move(help);
  Register(std::move(e));
  return family;
}

void MetricsRegistry::AddGaugeCallback(std::string name, std::string help,
                                       std::function<double()> fn) {
  auto e = std::make_unique<Entry>();
  e->valid = Validate(name, {}, false);
  if (e->valid.ok() && !fn) {
    e->valid = absl::InvalidArgumentError("metrics: " + name + ": empty callback");
  }
  e->callback = std::move(fn);
  e->name = std::move(name);
  e->help = std::move(help);
  Register(std::move(e));
}

void MetricsRegistry::Register(std::unique_ptr<Entry> entry) {
  absl::MutexLock lock(&mu_);
  if (entry->valid.ok() && entries_.count(entry->name) > 0) {
    entry->valid = absl::AlreadyExistsError("metrics: metric \"" + entry->name +
                                            "\" registered twice");
  }
  if (!entry->valid.ok()) {
    if (status_.ok()) status_ = entry->valid;
    unexported_.push_back(std::move(entry));  // still owned: the caller holds its family
    return;
  }
  std::string name = entry->name;
  entries_.emplace(std::move(name), std::move(entry));
}

std::string MetricsRegistry::RenderText() const {
  // Copy the entry pointers and render without the registry lock, so gauge callbacks may
  // take their own locks (or even register metrics) without deadlocking. Entries are never
  // removed, so the pointers stay valid.
  std::vector<const Entry*> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.reserve(entries_.size());
    for (const auto& [name, e] : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (const Entry* e : entries) e->Render(out);
  return out;
}

absl::Status MetricsRegistry::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  if (!(start > 0) || !(factor > 1) || count < 1) return out;
  out.reserve(count);
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> out;
  if (!(width > 0) || count < 1) return out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) out.push_back(start + width * i);
  return out;
}

}  // namespace layerseal::telemetry
