#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"

#include "common/crc32c.h"
#include "log/file.h"

// The on-disk format of the change log: segment file names, record framing, the segment header
// and footer records, and a buffered scanner over records. See src/log/README.md.
namespace eddy::log {

enum class RecordType : uint8_t {
  kHeader = 1,  // first record of every segment (SegmentHeader)
  kTable = 2,   // change::EncodeTable
  kChange = 3,  // change::EncodeChange
  kCommit = 4,  // change::EncodeCommit
  kFooter = 5,  // last record of a sealed segment (SegmentFooter)
};

// [u32 payload length][u32 crc32c of type byte + payload][u8 type][payload], little-endian.
inline constexpr size_t kRecordHeaderSize = 9;
inline constexpr uint32_t kMaxRecordPayload = 1u << 30;  // larger lengths are corruption

void PutFixed32(char* p, uint32_t v);
uint32_t GetFixed32(const char* p);

// Appends one record to `buf`; `encode(std::string*)` appends the payload.
template <class Encode>
void AppendRecord(std::string* buf, RecordType type, Encode&& encode) {
  const size_t start = buf->size();
  buf->append(kRecordHeaderSize, '\0');
  encode(buf);
  char* rec = buf->data() + start;
  const size_t payload = buf->size() - start - kRecordHeaderSize;
  rec[8] = static_cast<char>(type);
  PutFixed32(rec, static_cast<uint32_t>(payload));
  PutFixed32(rec + 4, Crc32cExtend(0, rec + 8, payload + 1));
}

// Describes where a segment sits in the log. Readers use `prev` to find the segment that holds
// a position and to detect segments removed underneath them.
struct SegmentHeader {
  uint64_t seq = 0;           // increases by at least one per new segment
  Position prev;              // position of the last entry before this segment; Position{} if none
  bool continuation = false;  // the segment starts inside a transaction
  std::optional<Commit> prev_commit;  // the last commit before this segment
};
void EncodeSegmentHeader(const SegmentHeader& header, std::string* out);
Result<SegmentHeader> DecodeSegmentHeader(std::string_view payload);

// Written when a segment is sealed, so Open learns its metadata without scanning it.
struct SegmentFooter {
  Position last;            // position of its last entry (the header's prev if it has none)
  int64_t max_time_us = 0;  // newest commit time of its entries (INT64_MIN if none)
};
inline constexpr size_t kFooterPayloadSize = 20;
inline constexpr size_t kFooterRecordSize = kRecordHeaderSize + kFooterPayloadSize;
void EncodeSegmentFooter(const SegmentFooter& footer, std::string* out);
Result<SegmentFooter> DecodeSegmentFooter(std::string_view payload);

// "<16 hex digits of the first entry's commit LSN>-<16 hex digits of seq>.seg".
std::string SegmentFileName(Lsn first_lsn, uint64_t seq);
// The seq of a segment file name; nullopt if `name` is not one.
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);

struct RawRecord {
  RecordType type;
  std::string_view payload;  // valid until the next call to RecordScanner::Next
  uint64_t offset = 0;       // of the record's first byte
  uint64_t end = 0;          // offset just past the record
};

// Reads records sequentially from [offset, limit) of a file through a buffer of about
// kReadChunk bytes (more only while a single larger record is being read). Never reads past
// `limit`. Not thread-safe.
class RecordScanner {
 public:
  static constexpr size_t kReadChunk = 1 << 20;

  enum class Outcome {
    kRecord,
    kEnd,          // at limit
    kIncomplete,   // a record runs past the limit or the end of the file
    kBadLength,    // a length over kMaxRecordPayload
    kBadChecksum,  // the CRC does not match
    kIoError,      // see io_error()
  };

  RecordScanner() = default;
  void Reset(const File* file, uint64_t offset, uint64_t limit);
  void set_limit(uint64_t limit) { limit_ = limit; }
  uint64_t limit() const { return limit_; }
  uint64_t offset() const { return offset_; }
  Outcome Next(RawRecord* record);
  const Status& io_error() const { return io_error_; }
  size_t buffer_capacity() const { return buf_.capacity(); }
  // "checksum mismatch", ...: for error messages.
  static const char* Describe(Outcome outcome);

 private:
  // Makes `need` bytes from offset_ available in buf_; false if the limit or EOF comes first.
  bool Fill(size_t need);

  const File* file_ = nullptr;
  uint64_t offset_ = 0;
  uint64_t limit_ = 0;
  std::string buf_;
  size_t pos_ = 0;  // index in buf_ of offset_
  size_t len_ = 0;  // valid bytes in buf_
  Status io_error_;
};

}  // namespace eddy::log
