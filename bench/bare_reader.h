#pragma once

// The latency floor of the benchmarks: a bare libpq logical replication reader on its own slot
// that reads only Commit messages and records commit-to-receipt time.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "eddy/clock.h"

#include "capture/replication_stream.h"
#include "common/byte_reader.h"

namespace eddy::bench {

// Reads a slot with plain libpq and records commit-to-receipt latency of every Commit message.
inline void DieIfError(const Status& s, const char* what) {
  if (s.ok()) return;
  fmt::print(stderr, "{}: {}\n", what, s.ToString());
  std::exit(1);
}

constexpr int64_t kPgEpochOffsetUs = 946684800000000LL;

class BareReader {
 public:
  BareReader(std::string conninfo, std::string slot)
      : conninfo_(std::move(conninfo)), slot_(std::move(slot)) {}
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    thread_.join();
  }
  std::vector<int64_t> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(latencies_, {});
  }

 private:
  void Run() {
    auto stream = eddy::capture::ReplicationStream::Connect(conninfo_);
    DieIfError(stream.status(), "bare reader connect");
    DieIfError((*stream)->Start(slot_, "eddy", eddy::Lsn()), "bare reader start");
    eddy::Lsn last;
    auto last_status = std::chrono::steady_clock::now();
    while (!stop_) {
      auto frame = (*stream)->Next(50);
      DieIfError(frame.status(), "bare reader");
      if (frame->kind == eddy::capture::StreamFrame::Kind::kXLogData && !frame->payload.empty() &&
          frame->payload[0] == 'C') {
        int64_t now = SystemClock().NowUnixMicros();
        eddy::ByteReader r(frame->payload.substr(2));
        r.ReadU64();
        last = eddy::Lsn(r.ReadU64());
        int64_t commit_us = r.ReadI64() + kPgEpochOffsetUs;
        std::lock_guard<std::mutex> lock(mu_);
        latencies_.push_back(now - commit_us);
      }
      if (std::chrono::steady_clock::now() - last_status > std::chrono::milliseconds(500)) {
        DieIfError((*stream)->SendStatus(last, last, false), "bare reader status");
        last_status = std::chrono::steady_clock::now();
      }
    }
  }
  std::string conninfo_;
  std::string slot_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int64_t> latencies_;
};

}  // namespace eddy::bench
