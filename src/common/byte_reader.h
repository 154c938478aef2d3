#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eddy {

// Reads big-endian integers and strings from an untrusted byte buffer. Every read checks bounds;
// after the first failed read ok() is false and every later read returns zero/empty, so a
// parser can read a whole message and check ok() once.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  uint8_t ReadU8();
  uint16_t ReadU16();
  uint32_t ReadU32();
  uint64_t ReadU64();
  int16_t ReadI16() { return static_cast<int16_t>(ReadU16()); }
  int32_t ReadI32() { return static_cast<int32_t>(ReadU32()); }
  int64_t ReadI64() { return static_cast<int64_t>(ReadU64()); }
  // A NUL-terminated string (without the NUL).
  std::string_view ReadCString();
  std::string_view ReadBytes(size_t n);

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  size_t position() const { return pos_; }
  bool AtEnd() const { return ok_ && pos_ == data_.size(); }

 private:
  bool Need(size_t n);

  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Appends big-endian integers and strings to a byte string.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void WriteU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void WriteU16(uint16_t v);
  void WriteU32(uint32_t v);
  void WriteU64(uint64_t v);
  void WriteI64(int64_t v) { WriteU64(static_cast<uint64_t>(v)); }
  void WriteCString(std::string_view s);
  void WriteBytes(std::string_view s) { out_->append(s); }

 private:
  std::string* out_;
};

}  // namespace eddy
