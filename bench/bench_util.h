#pragma once

// Setup shared by the benchmarks that run against a throwaway PostgreSQL 15: a failed step ends
// the run with its error, and the capture benchmarks write the same WAL (single-row transactions
// from 8 clients plus one large transaction) before they read it.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "eddy/result.h"

#include "pg/connection.h"
#include "pg/throwaway_cluster.h"

namespace eddy::bench {

using Clock = std::chrono::steady_clock;

// Prints `what` and the error and exits if `s` is an error.
inline void Die(const Status& s, const char* what) {
  if (s.ok()) return;
  fmt::print(stderr, "{}: {}\n", what, s.ToString());
  std::exit(1);
}

inline std::unique_ptr<pg::Connection> Connect(const std::string& conninfo) {
  auto c = pg::Connection::Connect(conninfo);
  Die(c.status(), "connect");
  return std::move(c).value();
}

inline void Exec(pg::Connection& c, const std::string& sql) {
  auto r = c.Exec(sql);
  Die(r.status(), sql.c_str());
}

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A throwaway PostgreSQL 15 (max_wal_size 4GB, so the writes do not force checkpoints) with a
// database named "bench"; its conninfo is ConnInfo("bench").
inline std::unique_ptr<pg::ThrowawayCluster> StartBenchCluster() {
  pg::ThrowawayClusterOptions cluster_options;
  cluster_options.settings = {{"max_wal_size", "4GB"}};
  auto cluster = pg::ThrowawayCluster::Start(cluster_options);
  Die(cluster.status(), "start PostgreSQL");
  Die((*cluster)->CreateDatabase("bench"), "create database");
  return std::move(cluster).value();
}

// Writes ids 0..single-1 into bench (id bigint PRIMARY KEY, v text, n int) as single-row
// transactions from 8 connections, then ids single..single+large-1 in one transaction on `admin`.
inline void WriteSingleAndLarge(const std::string& db, pg::Connection& admin, int64_t single,
                                int64_t large) {
  fmt::print("writing {} single-row transactions (8 clients) and one {}-row transaction...\n",
             single, large);
  std::fflush(stdout);
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      auto conn = Connect(db);
      for (int64_t i = w; i < single; i += 8) {
        Exec(*conn, fmt::format("INSERT INTO bench VALUES ({}, 'row {}', {})", i, i, i % 100));
      }
    });
  }
  for (auto& t : writers) t.join();
  Exec(admin, fmt::format("INSERT INTO bench SELECT g, 'row ' || g, g % 100 FROM "
                          "generate_series({}, {}) g",
                          single, single + large - 1));
}

}  // namespace eddy::bench
