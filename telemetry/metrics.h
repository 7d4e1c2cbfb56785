// A small Prometheus metrics registry: counters, gauges, histograms and gauge callbacks,
// rendered in the text exposition format 0.0.4 for the admin endpoint (admin_http.h).
//
// Thread-safety: everything here may be called from any thread. Counter, Gauge and
// Histogram updates are lock-free atomics; Family::WithLabels takes the family's mutex
// (one map lookup), so hot paths may cache the reference it returns.
// Ownership: the registry owns every family and every series. Pointers and references it
// hands out stay valid for the registry's whole life (nothing is ever removed).
//
// Nothing here crashes on bad input. A wrong label count lands in one "__invalid__" series,
// label sets beyond kMaxSeriesPerFamily land in one "__overflow__" series, and a wiring
// mistake (bad or duplicate name, bad label names) still returns a working family that is
// not exported and records the error in MetricsRegistry::status(), which the wiring code
// checks once at startup.
#ifndef LAYERSEAL_TELEMETRY_METRICS_H_
#define LAYERSEAL_TELEMETRY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace layerseal::telemetry {

// The most label combinations one family keeps. Label values usually come from bounded
// sets (gate, verdict, registry host), but an image name used as a label would otherwise
// grow the agent's memory and every scrape without bound.
inline constexpr size_t kMaxSeriesPerFamily = 1000;
// The label value of every label of the series that absorbs combinations beyond the cap.
inline constexpr char kOverflowLabelValue[] = "__overflow__";
// The label value of every label of the series that absorbs calls with a wrong label count.
inline constexpr char kInvalidLabelValue[] = "__invalid__";

// A monotonically increasing value. Increments that are negative or NaN are ignored:
// Prometheus treats any decrease as a counter reset.
class Counter {
 public:
  void Increment(double by = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets by upper bound (inclusive), plus their sum and count.
// Rendering makes the buckets cumulative and adds the +Inf bucket.
class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds (MetricsRegistry::AddHistogram
  // cleans them); shared by every series of a family.
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  void Observe(double v);

  // A consistent-enough copy for rendering: per-bucket (non-cumulative) counts, the last
  // one being +Inf. count is the total of the buckets, so it always equals the +Inf bucket.
  struct Snapshot {
    std::vector<uint64_t> bucket_counts;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_->size() + 1 (the +Inf one)
  std::atomic<double> sum_{0};
};

// The series of one metric name, one per combination of label values.
template <typename M>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<M>()> make);
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The series for `values` (one per label name, in order), created on first use. A wrong
  // number of values gives the "__invalid__" series; a new combination beyond
  // kMaxSeriesPerFamily gives the "__overflow__" series. (A family without labels has
  // nowhere to put "__invalid__": any values give its one series.)
  M& WithLabels(const std::vector<std::string>& values);
  // The series of a family without labels (same as WithLabels({})).
  M& Get() { return WithLabels({}); }

  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls fn for each series, ordered by label values. Holds the family's lock: fn must not
  // call back into this family.
  void ForEach(const std::function<void(const std::vector<std::string>& values, const M& m)>& fn)
      const;

 private:
  M& Special(const char* value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<M>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_ ABSL_GUARDED_BY(mu_);
  size_t regular_series_ ABSL_GUARDED_BY(mu_) = 0;  // excludes the two special series
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Names follow Prometheus: metric [a-zA-Z_:][a-zA-Z0-9_:]*, label [a-zA-Z_][a-zA-Z0-9_]*
  // not starting with "__" ("le" is also reserved for histograms). Each name once.
  Family<Counter>* AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  // `buckets`: upper bounds; sorted and deduplicated here, non-finite ones dropped (+Inf is
  // always added).
  Family<Histogram>* AddHistogram(std::string name, std::string help, std::vector<double> buckets,
                                  std::vector<std::string> label_names = {});
  // An unlabelled gauge whose value is fn() at render time (queue depths, cache sizes).
  // fn runs on the rendering thread without the registry's lock; if it throws the sample
  // is NaN.
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> fn);

  // The text exposition format 0.0.4, families ordered by name, series by label values.
  std::string RenderText() const;

  // OK, or the first wiring error (bad or duplicate name, bad label names).
  absl::Status status() const;

 private:
  struct Entry;
  // Registers `entry` under its name, or records why it cannot be and keeps it unexported.
  void Register(std::unique_ptr<Entry> entry);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Entry>> unexported_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// `count` bounds start, start*factor, start*factor^2, ... Empty if start <= 0, factor <= 1
// or count < 1 (the histogram then has only the +Inf bucket).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// `count` bounds start, start+width, ... Empty if width <= 0 or count < 1.
std::vector<double> LinearBuckets(double start, double width, int count);

// ---- Family implementation (a template, so here) ----

template <typename M>
Family<M>::Family(std::vector<std::string> label_names, std::function<std::unique_ptr<M>()> make)
    : label_names_(std::move(label_names)), make_(std::move(make)) {
  // A family without labels always has its one series, so it is exported from the start.
  if (label_names_.empty()) {
    absl::MutexLock lock(&mu_);
    series_.emplace(std::vector<std::string>{}, make_());
    regular_series_ = 1;
  }
}

template <typename M>
M& Family<M>::WithLabels(const std::vector<std::string>& values) {
  absl::MutexLock lock(&mu_);
  if (values.size() != label_names_.size()) return Special(kInvalidLabelValue);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  if (regular_series_ >= kMaxSeriesPerFamily) return Special(kOverflowLabelValue);
  ++regular_series_;
  return *series_.emplace(values, make_()).first->second;
}

template <typename M>
M& Family<M>::Special(const char* value) {
  std::vector<std::string> key(label_names_.size(), value);
  auto& slot = series_[key];
  if (slot == nullptr) slot = make_();
  return *slot;
}

template <typename M>
void Family<M>::ForEach(
    const std::function<void(const std::vector<std::string>& values, const M& m)>& fn) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, m] : series_) fn(values, *m);
}

}  // namespace layerseal::telemetry

#endif  // LAYERSEAL_TELEMETRY_METRICS_H_
