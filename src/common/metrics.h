#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eddy {

// Label name/value pairs of one series, rendered in this order.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Lock-free.
class Counter {
 public:
  void Add(uint64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Lock-free.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets by upper bound (le). Lock-free: one atomic per bucket.
class Histogram {
 public:
  // `bounds`: finite, strictly increasing upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);

  // NaN counts in the +Inf bucket only (and makes the sum NaN).
  void Observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (not cumulative) counts, bounds().size() + 1 of them (the last is +Inf).
  std::vector<uint64_t> BucketCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// `count` bounds start, start*factor, start*factor^2, ... (start > 0, factor > 1).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// A registry of metrics rendered in the Prometheus text exposition format 0.0.4.
//
// Metrics are created once (at startup) and then updated lock-free from any thread; the returned
// references stay valid for the registry's lifetime. Registering the same name and labels again
// returns the existing metric. Several label sets under one name form one family with one
// # HELP / # TYPE block. Families render in registration order, series in creation order.
//
// Misuse is a programming error and aborts like a failed CHECK: an invalid metric or label name
// ([a-zA-Z_:][a-zA-Z0-9_:]*, labels [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"), a repeated
// label name, "le" on a histogram, bad bucket bounds, or a name reused with another type or other
// buckets. The help text of a family is the one given first.
class MetricsRegistry {
 public:
  using Labels = MetricLabels;
  // Series produced at scrape time: label set and value for each.
  using Callback = std::function<std::vector<std::pair<Labels, double>>()>;

  // The Content-Type of RenderText()'s output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& NewCounter(std::string name, std::string help, Labels labels = {});
  Gauge& NewGauge(std::string name, std::string help, Labels labels = {});
  Histogram& NewHistogram(std::string name, std::string help, std::vector<double> buckets,
                          Labels labels = {});

  // A family whose series `fn` returns at every scrape (capture lag, subscriber counts). `type`
  // is "gauge" or "counter". `fn` runs on the scraping thread without the registry's lock held;
  // it must be thread-safe and may not assume anything about which thread that is. Series whose
  // labels are invalid are skipped at render time.
  void AddCallback(std::string name, std::string help, std::string type, Callback fn);

  // The whole registry as Prometheus text (every line ends with '\n'; "" when empty).
  std::string RenderText() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family;
  struct Series;

  // Both need mu_ held.
  Family& FamilyFor(std::string name, std::string help, Type type,
                    const std::vector<double>* bounds);
  Series& SeriesFor(Family& family, Labels labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;              // registration order
  std::unordered_map<std::string, Family*> families_by_name_;  // guarded by mu_
};

}  // namespace eddy
