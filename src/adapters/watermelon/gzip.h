#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "eddy/result.h"

namespace eddy::watermelon {

// `data` as a gzip member (RFC 1952), for Content-Encoding: gzip.
Result<std::string> Gzip(std::string_view data);
// The reverse (tests and benchmarks).
Result<std::string> Gunzip(std::string_view data);

// A gzip member produced piece by piece, for bodies streamed as they are rendered: the output of
// each Add can be sent at once, and Finish ends the member. Level 1, like Gzip.
class GzipEncoder {
 public:
  static Result<std::unique_ptr<GzipEncoder>> Create();
  ~GzipEncoder();
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  // Compresses `data`, appending whatever output zlib has ready to `*out` (often nothing).
  Status Add(std::string_view data, std::string* out);
  // Flushes the rest and the gzip trailer to `*out`. No Add after it.
  Status Finish(std::string* out);
  uint64_t bytes_in() const;

 private:
  struct State;
  explicit GzipEncoder(std::unique_ptr<State> state);
  Status Run(std::string_view data, int flush, std::string* out);
  std::unique_ptr<State> state_;
};

}  // namespace eddy::watermelon
