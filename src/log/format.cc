#include "log/format.h"

#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "change/binary_codec.h"

namespace eddy::log {
namespace {

constexpr uint32_t kHeaderMagic = 0x59444445;  // "EDDY" little-endian
constexpr uint8_t kHeaderVersion = 1;

void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  PutFixed32(b, v);
  out->append(b, 4);
}

}  // namespace

void PutFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// magic u32, version u8, flags u8 (bit 0: continuation), seq u64, prev lsn u64, prev index u32,
// has_commit u8, [EncodeCommit bytes].
void EncodeSegmentHeader(const SegmentHeader& header, std::string* out) {
  PutU32(out, kHeaderMagic);
  out->push_back(static_cast<char>(kHeaderVersion));
  out->push_back(static_cast<char>(header.continuation ? 1 : 0));
  PutFixed64(out, header.seq);
  PutFixed64(out, header.prev.commit_lsn.value());
  PutU32(out, header.prev.index);
  out->push_back(static_cast<char>(header.prev_commit ? 1 : 0));
  if (header.prev_commit) change::EncodeCommit(*header.prev_commit, out);
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view payload) {
  constexpr size_t kFixed = 4 + 1 + 1 + 8 + 8 + 4 + 1;
  if (payload.size() < kFixed) {
    return Corruption(fmt::format("segment header too short ({} bytes)", payload.size()));
  }
  const char* p = payload.data();
  if (GetFixed32(p) != kHeaderMagic) return Corruption("segment header has a bad magic number");
  if (static_cast<uint8_t>(p[4]) != kHeaderVersion) {
    return Corruption(
        fmt::format("segment header has unknown version {}", static_cast<uint8_t>(p[4])));
  }
  uint8_t flags = static_cast<uint8_t>(p[5]);
  if (flags > 1) return Corruption(fmt::format("segment header has unknown flags {}", flags));
  SegmentHeader h;
  h.continuation = flags == 1;
  h.seq = GetFixed64(p + 6);
  h.prev.commit_lsn = Lsn(GetFixed64(p + 14));
  h.prev.index = GetFixed32(p + 22);
  uint8_t has_commit = static_cast<uint8_t>(p[26]);
  std::string_view rest = payload.substr(kFixed);
  if (has_commit > 1) return Corruption("segment header has a bad commit flag");
  if (has_commit == 1) {
    auto commit = change::DecodeCommit(rest);
    if (!commit.ok()) return commit.status().WithContext("segment header");
    h.prev_commit = *commit;
  } else if (!rest.empty()) {
    return Corruption("segment header has trailing bytes");
  }
  return h;
}

void EncodeSegmentFooter(const SegmentFooter& footer, std::string* out) {
  PutFixed64(out, footer.last.commit_lsn.value());
  PutU32(out, footer.last.index);
  PutFixed64(out, static_cast<uint64_t>(footer.max_time_us));
}

Result<SegmentFooter> DecodeSegmentFooter(std::string_view payload) {
  if (payload.size() != kFooterPayloadSize) {
    return Corruption(fmt::format("segment footer has {} bytes, expected {}", payload.size(),
                                  kFooterPayloadSize));
  }
  SegmentFooter f;
  f.last.commit_lsn = Lsn(GetFixed64(payload.data()));
  f.last.index = GetFixed32(payload.data() + 8);
  f.max_time_us = static_cast<int64_t>(GetFixed64(payload.data() + 12));
  return f;
}

std::string SegmentFileName(Lsn first_lsn, uint64_t seq) {
  return fmt::format("{:016X}-{:016X}.seg", first_lsn.value(), seq);
}

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  // 16 hex, '-', 16 hex, ".seg"
  if (name.size() != 16 + 1 + 16 + 4 || name[16] != '-' || name.substr(33) != ".seg") {
    return std::nullopt;
  }
  for (size_t i : {size_t{0}, size_t{17}}) {
    for (size_t k = i; k < i + 16; ++k) {
      char c = name[k];
      if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return std::nullopt;
    }
  }
  uint64_t seq = 0;
  std::from_chars(name.data() + 17, name.data() + 33, seq, 16);
  return seq;
}

void RecordScanner::Reset(const File* file, uint64_t offset, uint64_t limit) {
  file_ = file;
  offset_ = offset;
  limit_ = limit;
  pos_ = 0;
  len_ = 0;
  io_error_ = Status::Ok();
  if (buf_.capacity() > 2 * kReadChunk) {
    buf_.clear();
    buf_.shrink_to_fit();
  }
}

bool RecordScanner::Fill(size_t need) {
  if (len_ - pos_ >= need) return true;
  if (offset_ + need > limit_) return false;
  // Compact: move the unread bytes to the front.
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, len_ - pos_);
    len_ -= pos_;
    pos_ = 0;
  }
  size_t want = std::max(need, kReadChunk);
  if (buf_.size() < want) {
    buf_.resize(want);
  } else if (buf_.size() > 2 * kReadChunk && need <= kReadChunk && len_ <= kReadChunk) {
    buf_.resize(kReadChunk);  // give back the room a large record needed
    buf_.shrink_to_fit();
  }
  // File offset of buf_[len_] is offset_ + len_ (pos_ == 0).
  uint64_t room_to_limit = limit_ - (offset_ + len_);
  size_t to_read = static_cast<size_t>(std::min<uint64_t>(buf_.size() - len_, room_to_limit));
  auto n = file_->ReadAt(offset_ + len_, buf_.data() + len_, to_read);
  if (!n.ok()) {
    io_error_ = n.status();
    return false;
  }
  len_ += *n;
  return len_ >= need;
}

RecordScanner::Outcome RecordScanner::Next(RawRecord* record) {
  if (offset_ >= limit_) return Outcome::kEnd;
  if (!Fill(kRecordHeaderSize)) return io_error_.ok() ? Outcome::kIncomplete : Outcome::kIoError;
  const char* h = buf_.data() + pos_;
  uint32_t length = GetFixed32(h);
  uint32_t crc = GetFixed32(h + 4);
  if (length > kMaxRecordPayload) return Outcome::kBadLength;
  const size_t total = kRecordHeaderSize + length;
  if (!Fill(total)) return io_error_.ok() ? Outcome::kIncomplete : Outcome::kIoError;
  h = buf_.data() + pos_;
  if (Crc32cExtend(0, h + 8, length + 1) != crc) return Outcome::kBadChecksum;
  record->type = static_cast<RecordType>(h[8]);
  record->payload = std::string_view(h + kRecordHeaderSize, length);
  record->offset = offset_;
  record->end = offset_ + total;
  pos_ += total;
  offset_ += total;
  return Outcome::kRecord;
}

const char* RecordScanner::Describe(Outcome outcome) {
  switch (outcome) {
    case Outcome::kRecord:
      return "record";
    case Outcome::kEnd:
      return "end";
    case Outcome::kIncomplete:
      return "record runs past the end of the data";
    case Outcome::kBadLength:
      return "record length is implausible";
    case Outcome::kBadChecksum:
      return "record checksum mismatch";
    case Outcome::kIoError:
      return "read error";
  }
  return "unknown";
}

}  // namespace eddy::log
