#pragma once

// A response body produced faster than some clients read it. A pull holds a REPEATABLE READ
// snapshot while it renders, and a snapshot held for minutes stops VACUUM (spec 4), so the
// producer must never wait on the client: bytes go straight to the http::EventStream while its
// send queue is short, and into an unlinked temporary file (the spool) once it is not; the
// BodyFeeder thread then moves spooled bytes to the stream as the client drains it.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "eddy/result.h"

#include "http/server.h"

namespace eddy::watermelon {

class BodyFeeder;

// An unlinked file that is written at its end and read from its start.
class SpoolFile {
 public:
  // In `dir` ("" : the system's temporary directory).
  static Result<std::unique_ptr<SpoolFile>> Create(const std::string& dir);
  ~SpoolFile();
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  Status Append(std::string_view bytes);
  // Up to `max` bytes from `offset`.
  Result<std::string> Read(uint64_t offset, size_t max) const;

 private:
  explicit SpoolFile(int fd) : fd_(fd) {}
  int fd_;
  uint64_t size_ = 0;  // written by Append only (one producer)
};

struct StreamedBodyOptions {
  std::string spool_dir;                // "" : the system's temporary directory
  size_t direct_queue_bytes = 1 << 20;  // send directly while the stream queues less
  size_t chunk_bytes = 256 << 10;       // the feeder sends at most this much at once
  // The unsent bytes of every body's spool together (the feeder's count). Past it a producer
  // waits for its client instead of filling the disk; 0: no bound.
  uint64_t max_spool_bytes = 0;
};

class StreamedBody : public std::enable_shared_from_this<StreamedBody> {
 public:
  StreamedBody(std::shared_ptr<http::EventStream> stream, BodyFeeder& feeder,
               StreamedBodyOptions options);

  // Producer side (one thread). Fails once the client is gone or the spool cannot be written.
  Status Write(std::string_view bytes);
  // The body is complete: the stream closes after the last byte.
  void Finish();
  // The body failed midway: the client must see a broken response, not a short one.
  void Abort(std::string reason);

  bool spooled() const;
  uint64_t spooled_bytes() const;

 private:
  friend class BodyFeeder;
  enum class Feed { kMore, kDone };
  // Feeder side: moves spooled bytes to the stream while it has room.
  Feed FeedSome();
  // Feeder side, once FeedSome said kDone: closes the spool and gives its unsent bytes back to
  // the feeder's count.
  void ReleaseSpool();

  const std::shared_ptr<http::EventStream> stream_;
  BodyFeeder& feeder_;
  const StreamedBodyOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<SpoolFile> spool_;  // guarded by mu_ (created once, then only appended to)
  uint64_t written_ = 0;              // spooled bytes; guarded by mu_
  uint64_t read_ = 0;                 // spooled bytes sent; feeder only
  uint64_t sent_ = 0;                 // spooled bytes sent; guarded by mu_ (mirrors read_)
  bool released_ = false;             // guarded by mu_: the spool is gone
  bool finished_ = false;             // guarded by mu_
  std::string abort_reason_;          // guarded by mu_; non-empty: aborted
};

// One thread for every spooled body of a face.
class BodyFeeder {
 public:
  BodyFeeder();
  ~BodyFeeder();  // aborts what is left
  void Add(std::shared_ptr<StreamedBody> body);
  void Wake();
  size_t active() const;
  // Bytes in every body's spool not sent yet.
  uint64_t spooled_bytes() const { return spooled_bytes_.load(); }
  uint64_t spool_waits() const { return spool_waits_.load(); }

 private:
  friend class StreamedBody;
  void Run();
  std::atomic<uint64_t> spooled_bytes_{0};
  std::atomic<uint64_t> spool_waits_{0};  // times a producer waited for a full spool
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<StreamedBody>> bodies_;  // guarded by mu_
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace eddy::watermelon
