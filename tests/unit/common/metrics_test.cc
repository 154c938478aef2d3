#include "common/metrics.h"

#include <cmath>
#include <limits>
#include <thread>

#include <gtest/gtest.h>

namespace eddy {
namespace {

TEST(MetricsTest, EmptyRegistryRendersNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.RenderText(), "");
}

TEST(MetricsTest, CounterFamiliesShareOneHeader) {
  MetricsRegistry registry;
  Counter& watch =
      registry.NewCounter("eddy_http_requests_total", "HTTP requests.", {{"route", "/v1/watch"}});
  Counter& status =
      registry.NewCounter("eddy_http_requests_total", "ignored", {{"route", "/v1/status"}});
  Counter& plain = registry.NewCounter("eddy_changes_total", "Changes captured.");
  watch.Add(3);
  status.Increment();
  plain.Add(0);
  // The same name and labels give back the same counter.
  EXPECT_EQ(&registry.NewCounter("eddy_http_requests_total", "", {{"route", "/v1/watch"}}), &watch);
  EXPECT_EQ(registry.RenderText(),
            "# HELP eddy_http_requests_total HTTP requests.\n"
            "# TYPE eddy_http_requests_total counter\n"
            "eddy_http_requests_total{route=\"/v1/watch\"} 3\n"
            "eddy_http_requests_total{route=\"/v1/status\"} 1\n"
            "# HELP eddy_changes_total Changes captured.\n"
            "# TYPE eddy_changes_total counter\n"
            "eddy_changes_total 0\n");
}

TEST(MetricsTest, GaugeValues) {
  MetricsRegistry registry;
  Gauge& g = registry.NewGauge("eddy_lag_seconds", "Lag.", {{"slot", "eddy"}, {"db", "app"}});
  g.Set(1.5);
  g.Add(-0.25);
  EXPECT_DOUBLE_EQ(g.Value(), 1.25);
  Gauge& big = registry.NewGauge("eddy_big", "Big.");
  big.Set(1e20);
  Gauge& inf = registry.NewGauge("eddy_inf", "Inf.");
  inf.Set(-std::numeric_limits<double>::infinity());
  Gauge& nan = registry.NewGauge("eddy_nan", "NaN.");
  nan.Set(std::nan(""));
  EXPECT_EQ(registry.RenderText(),
            "# HELP eddy_lag_seconds Lag.\n"
            "# TYPE eddy_lag_seconds gauge\n"
            "eddy_lag_seconds{slot=\"eddy\",db=\"app\"} 1.25\n"
            "# HELP eddy_big Big.\n"
            "# TYPE eddy_big gauge\n"
            "eddy_big 1e+20\n"
            "# HELP eddy_inf Inf.\n"
            "# TYPE eddy_inf gauge\n"
            "eddy_inf -Inf\n"
            "# HELP eddy_nan NaN.\n"
            "# TYPE eddy_nan gauge\n"
            "eddy_nan NaN\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram& h = registry.NewHistogram("eddy_latency_seconds", "Latency.", {0.005, 0.1, 1, 2.5},
                                       {{"route", "/v1/watch"}});
  for (double v : {0.001, 0.005, 0.05, 0.5, 3.0}) h.Observe(v);
  Histogram& bare = registry.NewHistogram("eddy_latency_seconds", "", {0.005, 0.1, 1, 2.5});
  bare.Observe(2.0);
  EXPECT_EQ(registry.RenderText(),
            "# HELP eddy_latency_seconds Latency.\n"
            "# TYPE eddy_latency_seconds histogram\n"
            "eddy_latency_seconds_bucket{route=\"/v1/watch\",le=\"0.005\"} 2\n"
            "eddy_latency_seconds_bucket{route=\"/v1/watch\",le=\"0.1\"} 3\n"
            "eddy_latency_seconds_bucket{route=\"/v1/watch\",le=\"1\"} 4\n"
            "eddy_latency_seconds_bucket{route=\"/v1/watch\",le=\"2.5\"} 4\n"
            "eddy_latency_seconds_bucket{route=\"/v1/watch\",le=\"+Inf\"} 5\n"
            "eddy_latency_seconds_sum{route=\"/v1/watch\"} 3.556\n"
            "eddy_latency_seconds_count{route=\"/v1/watch\"} 5\n"
            "eddy_latency_seconds_bucket{le=\"0.005\"} 0\n"
            "eddy_latency_seconds_bucket{le=\"0.1\"} 0\n"
            "eddy_latency_seconds_bucket{le=\"1\"} 0\n"
            "eddy_latency_seconds_bucket{le=\"2.5\"} 1\n"
            "eddy_latency_seconds_bucket{le=\"+Inf\"} 1\n"
            "eddy_latency_seconds_sum 2\n"
            "eddy_latency_seconds_count 1\n");
}

TEST(MetricsTest, HistogramHelpers) {
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1}));
  Histogram h({1, 2, std::numeric_limits<double>::infinity()});  // explicit +Inf is dropped
  EXPECT_EQ(h.bounds(), (std::vector<double>{1, 2}));
  h.Observe(std::nan(""));
  h.Observe(1);
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{1, 0, 1}));
  EXPECT_TRUE(std::isnan(h.Sum()));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.NewCounter("eddy_x_total", "Help with \\ and\nnewline \"quotes\".",
                      {{"path", "C:\\dir\n\"q\""}, {"utf8", "caf\xc3\xa9"}});
  EXPECT_EQ(registry.RenderText(),
            "# HELP eddy_x_total Help with \\\\ and\\nnewline \"quotes\".\n"
            "# TYPE eddy_x_total counter\n"
            "eddy_x_total{path=\"C:\\\\dir\\n\\\"q\\\"\",utf8=\"caf\xc3\xa9\"} 0\n");
}

TEST(MetricsTest, CallbackFamiliesRenderAtScrapeTime) {
  MetricsRegistry registry;
  int subscribers = 2;
  registry.AddCallback("eddy_subscribers", "Subscribers by table.", "gauge", [&] {
    std::vector<std::pair<MetricLabels, double>> out;
    for (int i = 0; i < subscribers; ++i) {
      out.push_back({{{"table", "public.t" + std::to_string(i)}}, 10.0 * i + 0.5});
    }
    out.push_back({{{"bad-label", "x"}}, 1});  // skipped
    return out;
  });
  registry.AddCallback("eddy_bytes_total", "Bytes.", "counter", [] {
    return std::vector<std::pair<MetricLabels, double>>{{{}, 4096}};
  });
  registry.AddCallback("eddy_nothing", "Nothing yet.", "gauge",
                       [] { return std::vector<std::pair<MetricLabels, double>>{}; });
  EXPECT_EQ(registry.RenderText(),
            "# HELP eddy_subscribers Subscribers by table.\n"
            "# TYPE eddy_subscribers gauge\n"
            "eddy_subscribers{table=\"public.t0\"} 0.5\n"
            "eddy_subscribers{table=\"public.t1\"} 10.5\n"
            "# HELP eddy_bytes_total Bytes.\n"
            "# TYPE eddy_bytes_total counter\n"
            "eddy_bytes_total 4096\n");
  subscribers = 0;
  EXPECT_EQ(registry.RenderText(),
            "# HELP eddy_bytes_total Bytes.\n"
            "# TYPE eddy_bytes_total counter\n"
            "eddy_bytes_total 4096\n");
}

TEST(MetricsTest, CallbackMayUseTheRegistry) {
  MetricsRegistry registry;
  Counter& scrapes = registry.NewCounter("eddy_scrapes_total", "Scrapes.");
  registry.AddCallback("eddy_cb", "Cb.", "gauge", [&] {
    scrapes.Increment();
    registry.NewGauge("eddy_late", "Registered during a scrape.");  // no deadlock
    return std::vector<std::pair<MetricLabels, double>>{{{}, 1}};
  });
  registry.RenderText();
  EXPECT_EQ(scrapes.Value(), 1u);
  EXPECT_NE(registry.RenderText().find("eddy_late 0\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentUpdatesFromFourThreads) {
  MetricsRegistry registry;
  Counter& counter = registry.NewCounter("eddy_c_total", "C.");
  Gauge& gauge = registry.NewGauge("eddy_g", "G.");
  Histogram& hist = registry.NewHistogram("eddy_h", "H.", {0.5});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& labelled =
          registry.NewCounter("eddy_l_total", "L.", {{"thread", std::to_string(t % 2)}});
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        labelled.Add(2);
        gauge.Add(1.0);
        hist.Observe(i % 2 == 0 ? 0.25 : 1.0);
        if (i % 10000 == 0) (void)registry.RenderText();  // scrapes race with updates
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter.Value(), uint64_t{kThreads} * kPerThread);
  EXPECT_DOUBLE_EQ(gauge.Value(), double{kThreads} * kPerThread);
  EXPECT_EQ(hist.BucketCounts(),
            (std::vector<uint64_t>{kThreads * kPerThread / 2, kThreads * kPerThread / 2}));
  const std::string text = registry.RenderText();
  EXPECT_NE(text.find("eddy_c_total 200000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("eddy_l_total{thread=\"0\"} 200000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("eddy_l_total{thread=\"1\"} 200000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("eddy_h_bucket{le=\"+Inf\"} 200000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("eddy_h_sum 125000\n"), std::string::npos) << text;
}

TEST(MetricsDeathTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry registry;
  registry.NewCounter("eddy_a_total", "A.");
  EXPECT_DEATH(registry.NewGauge("eddy_a_total", "A."), "another type");
  EXPECT_DEATH(registry.NewCounter("eddy-bad", "B."), "invalid metric name");
  EXPECT_DEATH(registry.NewCounter("eddy_b_total", "B.", {{"__x", "1"}}), "label");
  EXPECT_DEATH(registry.NewCounter("eddy_b_total", "B.", {{"a", "1"}, {"a", "2"}}), "label");
  EXPECT_DEATH(registry.NewHistogram("eddy_h", "H.", {1}, {{"le", "1"}}), "label");
  EXPECT_DEATH(registry.NewHistogram("eddy_h", "H.", {2, 1}), "increasing");
  EXPECT_DEATH(registry.AddCallback("eddy_cb", "Cb.", "histogram",
                                    [] { return std::vector<std::pair<MetricLabels, double>>{}; }),
               "gauge");
}

}  // namespace
}  // namespace eddy
