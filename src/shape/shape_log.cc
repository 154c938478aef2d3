#include "shape/shape_log.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"

namespace eddy::shape {
namespace {

// File layout (src/shape/README.md): an 8-byte header, then records
//   [u32 json_length | chunk_end << 31][u64 tx][u64 op][json][u32 crc32c]
// little-endian; the CRC covers everything before it in the record.
constexpr char kMagic[8] = {'E', 'D', 'D', 'Y', 'S', 'H', 'L', '1'};
constexpr uint64_t kFileHeaderBytes = sizeof(kMagic);
constexpr size_t kRecordHeaderBytes = 4 + 8 + 8;
constexpr size_t kRecordTrailerBytes = 4;
constexpr size_t kRecordOverhead = kRecordHeaderBytes + kRecordTrailerBytes;
constexpr uint32_t kChunkEndFlag = 0x80000000u;
// One message may not exceed 1 GiB: far past any row PostgreSQL sends, and it keeps a record's
// size well inside the length field.
constexpr uint32_t kMaxJsonBytes = 1u << 30;
constexpr size_t kScanBlockBytes = 1 << 20;
// Recent appended batches remembered so that a live reader asking for what follows the tail
// does not re-read the whole open chunk.
constexpr size_t kMaxTailHints = 16;
// The append buffer is kept between appends unless a batch made it larger than this.
constexpr size_t kKeptWriteBufferBytes = 1 << 20;

void PutU32(uint32_t v, char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

Status Errno(const std::string& what, const std::string& path) {
  return IoError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

// An open file descriptor, closed when the last user lets go: readers hold it across their
// pread so that Release() from another thread never closes it under them.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }
  int Get() const { return fd_; }

 private:
  int fd_;
};

Status PreadAll(int fd, uint64_t offset, char* buf, size_t n, size_t* got,
                const std::string& path) {
  *got = 0;
  while (*got < n) {
    ssize_t r = ::pread(fd, buf + *got, n - *got, static_cast<off_t>(offset + *got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("read", path);
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status PwriteAll(int fd, uint64_t offset, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t r =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status TruncateFd(int fd, uint64_t size, const std::string& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return Errno("truncate", path);
  return Status::Ok();
}

// One chunk in the sparse index: 48 bytes, whatever the number of messages in it.
struct ChunkEntry {
  uint64_t first_tx = 0;
  uint64_t first_op = 0;
  uint64_t last_tx = 0;
  uint64_t last_op = 0;
  uint64_t pos = 0;    // file position of its first record
  uint64_t bytes = 0;  // record bytes (headers and CRCs included)

  Offset Last() const { return Offset::At(last_tx, last_op); }
};
static_assert(sizeof(ChunkEntry) == 48);

// Where a recently appended batch starts: every record before `pos` has an offset below
// (tx, op).
struct TailHint {
  uint64_t tx = 0;
  uint64_t op = 0;
  uint64_t pos = 0;
};

// Builds chunk entries as records go by, for Append and for the scan on Open alike.
struct ChunkBuilder {
  ChunkEntry current;
  bool open = false;
  uint64_t open_json_bytes = 0;

  // Adds a record; returns true when it closes the chunk (`closed` then holds it).
  bool Add(Offset offset, uint64_t pos, uint64_t record_bytes, uint64_t json_bytes,
           bool closes_chunk, ChunkEntry* closed) {
    if (!open) {
      current = ChunkEntry{offset.tx, offset.op, offset.tx, offset.op, pos, 0};
      open = true;
      open_json_bytes = 0;
    }
    current.last_tx = offset.tx;
    current.last_op = offset.op;
    current.bytes += record_bytes;
    open_json_bytes += json_bytes;
    if (!closes_chunk) return false;
    *closed = current;
    open = false;
    open_json_bytes = 0;
    return true;
  }
};

// Reads a file front to back through a block buffer (the scan on Open).
class BlockReader {
 public:
  BlockReader(int fd, uint64_t limit, const std::string& path)
      : fd_(fd), limit_(limit), path_(path) {}

  // Points *data at bytes [pos, pos + n); false (with ok status) when the file ends first.
  Result<bool> Get(uint64_t pos, size_t n, const char** data) {
    if (pos + n > limit_) return false;
    if (pos < buf_start_ || pos + n > buf_start_ + buf_.size()) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(std::max(n, kScanBlockBytes), limit_ - pos));
      buf_.resize(want);
      size_t got = 0;
      EDDY_RETURN_IF_ERROR(PreadAll(fd_, pos, buf_.data(), want, &got, path_));
      buf_.resize(got);
      buf_start_ = pos;
      if (got < n) return false;
    }
    *data = buf_.data() + (pos - buf_start_);
    return true;
  }

 private:
  int fd_;
  uint64_t limit_;
  const std::string& path_;
  std::string buf_;
  uint64_t buf_start_ = 0;
};

class ShapeLogImpl final : public ShapeLog {
 public:
  ShapeLogImpl(std::string path, uint64_t chunk_bytes)
      : path_(std::move(path)), chunk_bytes_(std::max<uint64_t>(chunk_bytes, 1)) {}

  Status OpenAndScan(uint64_t valid_bytes);

  Status Append(std::span<const LogMessage> messages) override;
  Result<ReadResult> Read(Offset after) const override;
  Offset last_offset() const override {
    std::lock_guard lock(mu_);
    return message_count_ == 0 ? Offset::BeforeAll() : Offset::At(last_tx_, last_op_);
  }
  uint64_t size_bytes() const override {
    std::lock_guard lock(mu_);
    return size_bytes_;
  }
  uint64_t message_count() const override {
    std::lock_guard lock(mu_);
    return message_count_;
  }
  Status Sync() override;
  void Release() override;
  Status Remove() override;

 private:
  // The open descriptor, reopened after Release(). REQUIRES: mu_ held.
  Result<std::shared_ptr<const Fd>> FdLocked() const;
  Status ValidateBatch(std::span<const LogMessage> messages) const;

  const std::string path_;
  const uint64_t chunk_bytes_;

  // Serializes the appender's side (Append, Sync, Release, Remove). Taken before mu_.
  std::mutex append_mu_;
  std::string write_buffer_;  // guarded by append_mu_

  // Guards everything below. Only the appender (holding append_mu_ too) changes it, so the
  // appender may read it without mu_; readers take mu_.
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Fd> fd_;  // null when released
  std::vector<ChunkEntry> chunks_;
  bool last_chunk_open_ = false;
  uint64_t open_chunk_json_bytes_ = 0;
  std::vector<TailHint> tail_hints_;
  uint64_t last_tx_ = 0;
  uint64_t last_op_ = 0;
  uint64_t size_bytes_ = 0;
  uint64_t message_count_ = 0;
  bool removed_ = false;
};

Result<std::shared_ptr<const Fd>> ShapeLogImpl::FdLocked() const {
  if (removed_) return FailedPrecondition(fmt::format("shape log {} was removed", path_));
  if (!fd_) {
    int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return NotFound(fmt::format("shape log {} is gone (removed outside eddy?)", path_));
      }
      return Errno("open", path_);
    }
    fd_ = std::make_shared<const Fd>(fd);
  }
  return fd_;
}

Status ShapeLogImpl::OpenAndScan(uint64_t valid_bytes) {
  int raw = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (raw < 0) return Errno("open", path_);
  auto fd = std::make_shared<const Fd>(raw);
  struct stat st {};
  if (::fstat(raw, &st) != 0) return Errno("stat", path_);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  // A header that is missing or cut short (a crash right after creation, or valid_bytes below
  // it) starts the log over; one that is whole but different is somebody else's file.
  char header[kFileHeaderBytes] = {};
  size_t got = 0;
  EDDY_RETURN_IF_ERROR(PreadAll(raw, 0, header, kFileHeaderBytes, &got, path_));
  const bool header_whole = got == kFileHeaderBytes;
  if (std::memcmp(header, kMagic, got) != 0) {
    return Corruption(fmt::format(
        "{} is not an eddy shape log (bad header); remove the file to rebuild the shape", path_));
  }
  if (!header_whole || valid_bytes < kFileHeaderBytes) {
    EDDY_RETURN_IF_ERROR(TruncateFd(raw, 0, path_));
    EDDY_RETURN_IF_ERROR(PwriteAll(raw, 0, std::string_view(kMagic, kFileHeaderBytes), path_));
    fd_ = std::move(fd);
    size_bytes_ = kFileHeaderBytes;
    return Status::Ok();
  }

  const uint64_t limit = std::min(file_size, valid_bytes);
  BlockReader reader(raw, limit, path_);
  ChunkBuilder builder;
  uint64_t pos = kFileHeaderBytes;
  bool have_last = false;
  Offset last;
  for (;;) {
    const char* head = nullptr;
    EDDY_ASSIGN_OR_RETURN(bool whole, reader.Get(pos, kRecordHeaderBytes, &head));
    if (!whole) break;
    const uint32_t length_and_flags = GetU32(head);
    const uint32_t json_bytes = length_and_flags & ~kChunkEndFlag;
    const Offset offset = Offset::At(GetU64(head + 4), GetU64(head + 12));
    if (json_bytes == 0 || json_bytes > kMaxJsonBytes) break;
    if (have_last && !(last < offset)) break;
    const char* record = nullptr;
    const size_t record_bytes = kRecordOverhead + json_bytes;
    EDDY_ASSIGN_OR_RETURN(whole, reader.Get(pos, record_bytes, &record));
    if (!whole) break;
    if (Crc32c(std::string_view(record, record_bytes - kRecordTrailerBytes)) !=
        GetU32(record + record_bytes - kRecordTrailerBytes)) {
      break;
    }
    ChunkEntry closed;
    if (builder.Add(offset, pos, record_bytes, json_bytes, (length_and_flags & kChunkEndFlag) != 0,
                    &closed)) {
      chunks_.push_back(closed);
    }
    pos += record_bytes;
    last = offset;
    have_last = true;
    ++message_count_;
  }
  if (builder.open) chunks_.push_back(builder.current);
  chunks_.shrink_to_fit();
  last_chunk_open_ = builder.open;
  open_chunk_json_bytes_ = builder.open_json_bytes;
  if (have_last) {
    last_tx_ = last.tx;
    last_op_ = last.op;
  }
  if (pos < file_size) EDDY_RETURN_IF_ERROR(TruncateFd(raw, pos, path_));
  size_bytes_ = pos;
  fd_ = std::move(fd);
  return Status::Ok();
}

Status ShapeLogImpl::ValidateBatch(std::span<const LogMessage> messages) const {
  bool have_previous = message_count_ > 0;
  Offset previous = Offset::At(last_tx_, last_op_);
  for (size_t i = 0; i < messages.size(); ++i) {
    const LogMessage& m = messages[i];
    if (m.offset.kind != Offset::Kind::kAt) {
      return InvalidArgument(fmt::format(
          "shape log {}: message {} of the batch has offset {}; a message needs a <tx>_<op> offset",
          path_, i, m.offset.ToString()));
    }
    if (have_previous && !(previous < m.offset)) {
      return InvalidArgument(fmt::format(
          "shape log {}: message {} of the batch has offset {}, not after {}; offsets must "
          "strictly increase",
          path_, i, m.offset.ToString(), previous.ToString()));
    }
    if (m.json.empty() || m.json.size() > kMaxJsonBytes) {
      return InvalidArgument(fmt::format(
          "shape log {}: message {} of the batch at {} is {} bytes of JSON; a message is 1 byte "
          "to 1 GiB",
          path_, i, m.offset.ToString(), m.json.size()));
    }
    previous = m.offset;
    have_previous = true;
  }
  return Status::Ok();
}

Status ShapeLogImpl::Append(std::span<const LogMessage> messages) {
  std::lock_guard append_lock(append_mu_);
  if (messages.empty()) return Status::Ok();
  EDDY_RETURN_IF_ERROR(ValidateBatch(messages));
  std::shared_ptr<const Fd> fd;
  {
    std::lock_guard lock(mu_);
    EDDY_ASSIGN_OR_RETURN(fd, FdLocked());
  }

  // Lay the records out and work out the chunks they make, on copies: readers keep seeing the
  // old index until the bytes are in the file.
  ChunkBuilder builder;
  if (last_chunk_open_) {
    builder.current = chunks_.back();
    builder.open = true;
    builder.open_json_bytes = open_chunk_json_bytes_;
  }
  std::vector<ChunkEntry> closed_chunks;
  write_buffer_.clear();
  const uint64_t batch_pos = size_bytes_;
  uint64_t pos = batch_pos;
  for (const LogMessage& m : messages) {
    const size_t record_bytes = kRecordOverhead + m.json.size();
    const bool closes_chunk =
        (builder.open ? builder.open_json_bytes : 0) + m.json.size() >= chunk_bytes_;
    const size_t at = write_buffer_.size();
    write_buffer_.resize(at + record_bytes);
    char* record = write_buffer_.data() + at;
    PutU32(static_cast<uint32_t>(m.json.size()) | (closes_chunk ? kChunkEndFlag : 0), record);
    PutU64(m.offset.tx, record + 4);
    PutU64(m.offset.op, record + 12);
    m.json.copy(record + kRecordHeaderBytes, m.json.size());
    const size_t crc_at = record_bytes - kRecordTrailerBytes;
    PutU32(Crc32c(std::string_view(record, crc_at)), record + crc_at);
    ChunkEntry closed;
    if (builder.Add(m.offset, pos, record_bytes, m.json.size(), closes_chunk, &closed)) {
      closed_chunks.push_back(closed);
    }
    pos += record_bytes;
  }

  Status written = PwriteAll(fd->Get(), batch_pos, write_buffer_, path_);
  if (write_buffer_.capacity() > kKeptWriteBufferBytes) std::string().swap(write_buffer_);
  if (!written.ok()) {
    // Leave no partial records behind the index; if even that fails, the next Open's scan cuts
    // them off.
    (void)TruncateFd(fd->Get(), batch_pos, path_);
    return written;
  }

  std::lock_guard lock(mu_);
  if (last_chunk_open_) chunks_.pop_back();  // re-added below, grown or closed
  chunks_.insert(chunks_.end(), closed_chunks.begin(), closed_chunks.end());
  if (builder.open) chunks_.push_back(builder.current);
  last_chunk_open_ = builder.open;
  open_chunk_json_bytes_ = builder.open_json_bytes;
  if (tail_hints_.size() == kMaxTailHints) tail_hints_.erase(tail_hints_.begin());
  tail_hints_.push_back({messages.front().offset.tx, messages.front().offset.op, batch_pos});
  last_tx_ = messages.back().offset.tx;
  last_op_ = messages.back().offset.op;
  size_bytes_ = pos;
  message_count_ += messages.size();
  return Status::Ok();
}

Result<ReadResult> ShapeLogImpl::Read(Offset after) const {
  if (after.kind == Offset::Kind::kNow) {
    return InvalidArgument("offset: \"now\" must be resolved to the shape's last offset first");
  }
  ReadResult result;
  result.end = after;
  std::shared_ptr<const Fd> fd;
  uint64_t start = 0;
  uint64_t end = 0;
  {
    std::lock_guard lock(mu_);
    EDDY_ASSIGN_OR_RETURN(fd, FdLocked());
    // The first chunk holding a message after `after`.
    auto chunk = std::partition_point(chunks_.begin(), chunks_.end(),
                                      [&](const ChunkEntry& c) { return c.Last() <= after; });
    if (chunk == chunks_.end()) {
      result.at_head = true;
      return result;
    }
    start = chunk->pos;
    end = chunk->pos + chunk->bytes;
    result.at_head = chunk + 1 == chunks_.end();
    if (after.kind == Offset::Kind::kAt) {
      for (const TailHint& hint : tail_hints_) {
        if (hint.pos > start && hint.pos < end && Offset::At(hint.tx, hint.op) <= after) {
          start = hint.pos;
        }
      }
    }
  }

  // Records are never rewritten once the index shows them, so the read needs no lock.
  std::string buffer(end - start, '\0');
  size_t got = 0;
  EDDY_RETURN_IF_ERROR(PreadAll(fd->Get(), start, buffer.data(), buffer.size(), &got, path_));
  if (got != buffer.size()) {
    return Corruption(fmt::format("shape log {} ends at {} inside a chunk that runs to {}", path_,
                                  start + got, end));
  }
  // The messages are moved down inside the buffer, which then becomes `items`: no second copy
  // of a chunk. Only the framing is checked here; CRCs were checked when the log was opened
  // (as LevelDB, reads do not re-verify checksums: it would halve the read rate).
  size_t at = 0;
  size_t items_end = 0;
  while (at < buffer.size()) {
    const char* record = buffer.data() + at;
    const uint64_t json_bytes =
        buffer.size() - at < kRecordOverhead ? UINT64_MAX : GetU32(record) & ~kChunkEndFlag;
    if (json_bytes == 0 || json_bytes > kMaxJsonBytes ||
        buffer.size() - at < kRecordOverhead + json_bytes) {
      return Corruption(
          fmt::format("shape log {}: record at {} is malformed; remove the file "
                      "to rebuild the shape",
                      path_, start + at));
    }
    const Offset offset = Offset::At(GetU64(record + 4), GetU64(record + 12));
    if (after < offset) {
      if (result.count > 0) buffer[items_end++] = ',';
      std::memmove(buffer.data() + items_end, record + kRecordHeaderBytes, json_bytes);
      items_end += json_bytes;
      ++result.count;
      result.end = offset;
    }
    at += kRecordOverhead + json_bytes;
  }
  buffer.resize(items_end);
  result.items = std::move(buffer);
  return result;
}

Status ShapeLogImpl::Sync() {
  std::lock_guard append_lock(append_mu_);
  std::shared_ptr<const Fd> fd;
  {
    std::lock_guard lock(mu_);
    EDDY_ASSIGN_OR_RETURN(fd, FdLocked());
  }
  if (::fdatasync(fd->Get()) != 0) return Errno("fdatasync", path_);
  return Status::Ok();
}

void ShapeLogImpl::Release() {
  std::lock_guard append_lock(append_mu_);
  std::string().swap(write_buffer_);
  std::lock_guard lock(mu_);
  fd_.reset();
  std::vector<TailHint>().swap(tail_hints_);
  chunks_.shrink_to_fit();
}

Status ShapeLogImpl::Remove() {
  std::lock_guard append_lock(append_mu_);
  std::lock_guard lock(mu_);
  if (removed_) return Status::Ok();
  fd_.reset();
  removed_ = true;
  std::vector<ChunkEntry>().swap(chunks_);
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return Errno("remove", path_);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ShapeLog>> ShapeLog::Open(const ShapeLogOptions& options) {
  if (options.path.empty()) {
    return InvalidArgument("shape log: path is empty; give the file the shape's log lives in");
  }
  auto log = std::make_unique<ShapeLogImpl>(options.path, options.chunk_bytes);
  EDDY_RETURN_IF_ERROR(log->OpenAndScan(options.valid_bytes));
  return std::unique_ptr<ShapeLog>(std::move(log));
}

}  // namespace eddy::shape
