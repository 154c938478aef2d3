#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace eddy {
namespace {

[[noreturn]] void Misuse(const std::string& what) {
  std::fprintf(stderr, "eddy metrics: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Valid label names, none repeated, and (for histograms) no "le".
bool LabelsValid(const MetricLabels& labels, bool histogram) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!IsLabelName(labels[i].first)) return false;
    if (histogram && labels[i].first == "le") return false;
    for (size_t j = 0; j < i; ++j) {
      if (labels[j].first == labels[i].first) return false;
    }
  }
  return true;
}

// Label values: backslash, double quote and line feed are escaped.
void AppendLabelValue(std::string_view v, std::string* out) {
  for (const char c : v) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
}

// HELP text: backslash and line feed are escaped.
void AppendHelp(std::string_view v, std::string* out) {
  for (const char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// `a="x",b="y"` (no braces).
std::string RenderLabels(const MetricLabels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out.push_back(',');
    out.append(name).append("=\"");
    AppendLabelValue(value, &out);
    out.push_back('"');
  }
  return out;
}

void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, ec == std::errc() ? end : buf);
  }
}

// name{labels[,extra]} value\n
void AppendSample(std::string_view name, std::string_view labels, std::string_view extra,
                  std::string_view value, std::string* out) {
  out->append(name);
  if (!labels.empty() || !extra.empty()) {
    out->push_back('{');
    out->append(labels);
    if (!labels.empty() && !extra.empty()) out->push_back(',');
    out->append(extra);
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

std::vector<double> CheckedBounds(std::vector<double> bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) Misuse("histogram bucket bounds must be finite");
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      Misuse("histogram bucket bounds must be strictly increasing");
    }
  }
  return bounds;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(CheckedBounds(std::move(bounds))),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  const size_t i = std::isnan(v)
                       ? bounds_.size()
                       : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                             bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    Misuse("ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> out;
  out.reserve(static_cast<size_t>(count));
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

struct MetricsRegistry::Series {
  Labels labels;
  std::string rendered_labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  Type type = Type::kCounter;
  std::vector<double> bounds;                   // histograms
  std::vector<std::unique_ptr<Series>> series;  // guarded by mu_
  std::shared_ptr<const Callback> callback;     // callback families

  std::string_view TypeName() const {
    switch (type) {
      case Type::kCounter:
        return "counter";
      case Type::kGauge:
        return "gauge";
      case Type::kHistogram:
        return "histogram";
    }
    return "untyped";
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string name, std::string help, Type type,
                                                    const std::vector<double>* bounds) {
  if (!IsMetricName(name)) Misuse("invalid metric name \"" + name + "\"");
  auto it = families_by_name_.find(name);
  if (it != families_by_name_.end()) {
    Family& family = *it->second;
    if (family.type != type || family.callback) {
      Misuse("metric " + name + " is already registered with another type");
    }
    if (bounds != nullptr && family.bounds != *bounds) {
      Misuse("histogram " + name + " is already registered with other buckets");
    }
    return family;
  }
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = type;
  if (bounds != nullptr) family->bounds = *bounds;
  Family& ref = *family;
  families_by_name_.emplace(ref.name, &ref);
  families_.push_back(std::move(family));
  return ref;
}

MetricsRegistry::Series& MetricsRegistry::SeriesFor(Family& family, Labels labels) {
  if (!LabelsValid(labels, family.type == Type::kHistogram)) {
    Misuse("invalid or repeated label names for metric " + family.name);
  }
  for (const std::unique_ptr<Series>& s : family.series) {
    if (s->labels == labels) return *s;
  }
  auto series = std::make_unique<Series>();
  series->rendered_labels = RenderLabels(labels);
  series->labels = std::move(labels);
  switch (family.type) {
    case Type::kCounter:
      series->counter = std::make_unique<Counter>();
      break;
    case Type::kGauge:
      series->gauge = std::make_unique<Gauge>();
      break;
    case Type::kHistogram:
      series->histogram = std::make_unique<Histogram>(family.bounds);
      break;
  }
  family.series.push_back(std::move(series));
  return *family.series.back();
}

Counter& MetricsRegistry::NewCounter(std::string name, std::string help, Labels labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FamilyFor(std::move(name), std::move(help), Type::kCounter, nullptr);
  return *SeriesFor(family, std::move(labels)).counter;
}

Gauge& MetricsRegistry::NewGauge(std::string name, std::string help, Labels labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FamilyFor(std::move(name), std::move(help), Type::kGauge, nullptr);
  return *SeriesFor(family, std::move(labels)).gauge;
}

Histogram& MetricsRegistry::NewHistogram(std::string name, std::string help,
                                         std::vector<double> buckets, Labels labels) {
  const std::vector<double> bounds = CheckedBounds(std::move(buckets));
  std::lock_guard<std::mutex> lock(mu_);
  Family& family = FamilyFor(std::move(name), std::move(help), Type::kHistogram, &bounds);
  return *SeriesFor(family, std::move(labels)).histogram;
}

void MetricsRegistry::AddCallback(std::string name, std::string help, std::string type,
                                  Callback fn) {
  if (type != "gauge" && type != "counter") {
    Misuse("callback metric type must be \"gauge\" or \"counter\", not \"" + type + "\"");
  }
  if (!fn) Misuse("empty callback for metric " + name);
  if (!IsMetricName(name)) Misuse("invalid metric name \"" + name + "\"");
  std::lock_guard<std::mutex> lock(mu_);
  if (families_by_name_.count(name) != 0) Misuse("metric " + name + " is already registered");
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->help = std::move(help);
  family->type = type == "gauge" ? Type::kGauge : Type::kCounter;
  family->callback = std::make_shared<const Callback>(std::move(fn));
  families_by_name_.emplace(family->name, family.get());
  families_.push_back(std::move(family));
}

std::string MetricsRegistry::RenderText() const {
  // Snapshot the structure under the lock; read values and run callbacks without it.
  struct Snapshot {
    const Family* family;
    std::vector<const Series*> series;
  };
  std::vector<Snapshot> snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot.reserve(families_.size());
    for (const std::unique_ptr<Family>& f : families_) {
      Snapshot s{f.get(), {}};
      s.series.reserve(f->series.size());
      for (const std::unique_ptr<Series>& series : f->series) s.series.push_back(series.get());
      snapshot.push_back(std::move(s));
    }
  }

  std::string out;
  std::string value;
  for (const Snapshot& snap : snapshot) {
    const Family& f = *snap.family;
    std::vector<std::pair<Labels, double>> produced;
    if (f.callback) {
      produced = (*f.callback)();
      std::erase_if(produced, [](const auto& p) { return !LabelsValid(p.first, false); });
      if (produced.empty()) continue;
    } else if (snap.series.empty()) {
      continue;
    }
    out.append("# HELP ").append(f.name).push_back(' ');
    AppendHelp(f.help, &out);
    out.append("\n# TYPE ").append(f.name).push_back(' ');
    out.append(f.TypeName()).push_back('\n');

    for (const auto& [labels, v] : produced) {
      value.clear();
      AppendDouble(v, &value);
      AppendSample(f.name, RenderLabels(labels), "", value, &out);
    }
    for (const Series* s : snap.series) {
      if (s->counter) {
        AppendSample(f.name, s->rendered_labels, "", std::to_string(s->counter->Value()), &out);
      } else if (s->gauge) {
        value.clear();
        AppendDouble(s->gauge->Value(), &value);
        AppendSample(f.name, s->rendered_labels, "", value, &out);
      } else if (s->histogram) {
        const Histogram& h = *s->histogram;
        const std::vector<uint64_t> counts = h.BucketCounts();
        const std::string bucket_name = f.name + "_bucket";
        uint64_t cumulative = 0;
        std::string le;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          le.assign("le=\"");
          if (i < h.bounds().size()) {
            AppendDouble(h.bounds()[i], &le);
          } else {
            le.append("+Inf");
          }
          le.push_back('"');
          AppendSample(bucket_name, s->rendered_labels, le, std::to_string(cumulative), &out);
        }
        value.clear();
        AppendDouble(h.Sum(), &value);
        AppendSample(f.name + "_sum", s->rendered_labels, "", value, &out);
        // _count is the +Inf bucket, so the two always agree even under concurrent Observe().
        AppendSample(f.name + "_count", s->rendered_labels, "", std::to_string(cumulative), &out);
      }
    }
  }
  return out;
}

}  // namespace eddy
