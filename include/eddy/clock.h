#pragma once

#include <cstdint>

namespace eddy {

// Time, behind a seam so tests can drive it. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time in microseconds since the Unix epoch.
  virtual int64_t NowUnixMicros() const = 0;
  // Monotonic time in microseconds from an arbitrary origin.
  virtual int64_t NowSteadyMicros() const = 0;
};

// The process-wide real clock.
Clock& SystemClock();

}  // namespace eddy
