#include "common/byte_reader.h"

namespace eddy {

bool ByteReader::Need(size_t n) {
  if (!ok_ || data_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}

uint8_t ByteReader::ReadU8() {
  if (!Need(1)) return 0;
  return static_cast<uint8_t>(data_[pos_++]);
}

uint16_t ByteReader::ReadU16() {
  if (!Need(2)) return 0;
  uint16_t v = 0;
  for (int i = 0; i < 2; ++i)
    v = static_cast<uint16_t>(v << 8 | static_cast<uint8_t>(data_[pos_++]));
  return v;
}

uint32_t ByteReader::ReadU32() {
  if (!Need(4)) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(data_[pos_++]);
  return v;
}

uint64_t ByteReader::ReadU64() {
  if (!Need(8)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(data_[pos_++]);
  return v;
}

std::string_view ByteReader::ReadCString() {
  if (!ok_) return {};
  size_t end = data_.find('\0', pos_);
  if (end == std::string_view::npos) {
    ok_ = false;
    return {};
  }
  std::string_view s = data_.substr(pos_, end - pos_);
  pos_ = end + 1;
  return s;
}

std::string_view ByteReader::ReadBytes(size_t n) {
  if (!Need(n)) return {};
  std::string_view s = data_.substr(pos_, n);
  pos_ += n;
  return s;
}

void ByteWriter::WriteU16(uint16_t v) {
  out_->push_back(static_cast<char>(v >> 8));
  out_->push_back(static_cast<char>(v));
}

void ByteWriter::WriteU32(uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out_->push_back(static_cast<char>(v >> s));
}

void ByteWriter::WriteU64(uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out_->push_back(static_cast<char>(v >> s));
}

void ByteWriter::WriteCString(std::string_view s) {
  out_->append(s);
  out_->push_back('\0');
}

}  // namespace eddy
