#include "adapters/watermelon/streamed_body.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace eddy::watermelon {
namespace {

constexpr auto kFeedPeriod = std::chrono::milliseconds(10);

http::SharedBytes Share(std::string_view bytes) {
  return std::make_shared<const std::string>(bytes);
}

}  // namespace

Result<std::unique_ptr<SpoolFile>> SpoolFile::Create(const std::string& dir) {
  std::error_code ec;
  const std::string where = dir.empty() ? std::filesystem::temp_directory_path(ec).string() : dir;
  if (ec) return Unavailable("spool: no temporary directory: " + ec.message());
  // O_TMPFILE: never has a name, so nothing is left behind by a crash.
  int fd = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string pattern = where + "/eddy-spool-XXXXXX";
    fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(pattern.c_str());
  }
  if (fd < 0) {
    return Unavailable(fmt::format("spool: cannot create a file in {}: {} (watermelon.spool_dir)",
                                   where, std::strerror(errno)));
  }
  return std::unique_ptr<SpoolFile>(new SpoolFile(fd));
}

SpoolFile::~SpoolFile() { ::close(fd_); }

Status SpoolFile::Append(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(size_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable(fmt::format("spool: write failed: {}", std::strerror(errno)));
    size_ += static_cast<uint64_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<std::string> SpoolFile::Read(uint64_t offset, size_t max) const {
  std::string out(max, '\0');
  size_t got = 0;
  while (got < max) {
    const ssize_t n = ::pread(fd_, out.data() + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Unavailable(fmt::format("spool: read failed: {}", std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

StreamedBody::StreamedBody(std::shared_ptr<http::EventStream> stream, BodyFeeder& feeder,
                           StreamedBodyOptions options)
    : stream_(std::move(stream)), feeder_(feeder), options_(std::move(options)) {}

Status StreamedBody::Write(std::string_view bytes) {
  if (bytes.empty()) return Status::Ok();
  bool waited = false;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (finished_ || !abort_reason_.empty()) {
        return FailedPrecondition("the body is already complete");
      }
      if (released_ || stream_->closed()) return Unavailable("the client went away");
      if (!spool_ && stream_->queued_bytes() < options_.direct_queue_bytes) {
        if (!stream_->Send(Share(bytes))) return Unavailable("the client went away");
        return Status::Ok();
      }
      const uint64_t spooled = feeder_.spooled_bytes_.load();
      if (options_.max_spool_bytes == 0 || spooled + bytes.size() <= options_.max_spool_bytes) {
        if (!spool_) {
          // The client is behind: from here on every byte goes through the spool, in order.
          EDDY_ASSIGN_OR_RETURN(spool_, SpoolFile::Create(options_.spool_dir));
          feeder_.Add(shared_from_this());
        }
        EDDY_RETURN_IF_ERROR(spool_->Append(bytes));
        written_ += bytes.size();
        feeder_.spooled_bytes_ += bytes.size();
        break;
      }
    }
    // Every spool together is full: wait for the clients to read (this pull keeps its snapshot
    // meanwhile, which is what the spool avoids when there is room).
    if (!waited) feeder_.spool_waits_++;
    waited = true;
    feeder_.Wake();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  feeder_.Wake();
  return Status::Ok();
}

void StreamedBody::Finish() {
  {
    std::lock_guard lock(mu_);
    if (finished_ || !abort_reason_.empty()) return;
    finished_ = true;
    if (!spool_) {
      stream_->Close();
      return;
    }
  }
  feeder_.Wake();
}

void StreamedBody::Abort(std::string reason) {
  if (reason.empty()) reason = "aborted";
  {
    std::lock_guard lock(mu_);
    if (finished_ || !abort_reason_.empty()) return;
    abort_reason_ = reason;
    if (!spool_) {
      stream_->Abort(std::move(reason));
      return;
    }
  }
  feeder_.Wake();
}

bool StreamedBody::spooled() const {
  std::lock_guard lock(mu_);
  return spool_ != nullptr;
}

uint64_t StreamedBody::spooled_bytes() const {
  std::lock_guard lock(mu_);
  return written_;
}

StreamedBody::Feed StreamedBody::FeedSome() {
  uint64_t available = 0;
  bool finished = false;
  const SpoolFile* spool = nullptr;
  {
    std::lock_guard lock(mu_);
    if (released_) return Feed::kDone;
    if (!abort_reason_.empty()) {
      stream_->Abort(abort_reason_);
      return Feed::kDone;
    }
    available = written_;
    finished = finished_;
    spool = spool_.get();  // never replaced once set
  }
  if (stream_->closed()) return Feed::kDone;  // the client went away
  while (read_ < available && stream_->queued_bytes() < options_.direct_queue_bytes) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(options_.chunk_bytes, available - read_));
    auto bytes = spool->Read(read_, n);
    if (!bytes.ok() || bytes->size() != n) {
      stream_->Abort(bytes.ok() ? "spool: short read" : bytes.status().message());
      return Feed::kDone;
    }
    read_ += n;
    {
      std::lock_guard lock(mu_);
      sent_ = read_;
    }
    feeder_.spooled_bytes_ -= n;
    if (!stream_->Send(Share(*bytes))) return Feed::kDone;
  }
  if (finished && read_ == available) {
    stream_->Close();
    return Feed::kDone;
  }
  return Feed::kMore;
}

void StreamedBody::ReleaseSpool() {
  std::lock_guard lock(mu_);
  if (released_) return;
  released_ = true;
  feeder_.spooled_bytes_ -= written_ - sent_;
  spool_.reset();
}

BodyFeeder::BodyFeeder() : thread_([this] { Run(); }) {}

BodyFeeder::~BodyFeeder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (auto& body : bodies_) body->Abort("server stopping");
  for (auto& body : bodies_) {
    (void)body->FeedSome();  // passes the abort to the stream
    body->ReleaseSpool();
  }
}

void BodyFeeder::Add(std::shared_ptr<StreamedBody> body) {
  {
    std::lock_guard lock(mu_);
    bodies_.push_back(std::move(body));
    woken_ = true;
  }
  cv_.notify_all();
}

void BodyFeeder::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

size_t BodyFeeder::active() const {
  std::lock_guard lock(mu_);
  return bodies_.size();
}

void BodyFeeder::Run() {
  std::vector<std::shared_ptr<StreamedBody>> round;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // Bodies in progress are polled: the stream says nothing when its client drains it.
      if (bodies_.empty()) {
        cv_.wait(lock, [&] { return stopping_ || woken_; });
      } else {
        cv_.wait_for(lock, kFeedPeriod, [&] { return stopping_ || woken_; });
      }
      if (stopping_) return;
      woken_ = false;
      round = bodies_;
    }
    std::vector<StreamedBody*> done;
    for (const auto& body : round) {
      if (body->FeedSome() == StreamedBody::Feed::kDone) {
        body->ReleaseSpool();
        done.push_back(body.get());
      }
    }
    round.clear();
    if (done.empty()) continue;
    std::lock_guard lock(mu_);
    std::erase_if(bodies_, [&](const std::shared_ptr<StreamedBody>& b) {
      return std::find(done.begin(), done.end(), b.get()) != done.end();
    });
  }
}

}  // namespace eddy::watermelon
