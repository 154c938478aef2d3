#include "eddy/position.h"

#include <charconv>

#include <fmt/format.h>

namespace eddy {

std::string Lsn::ToString() const {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(value_ >> 32),
                     static_cast<uint32_t>(value_));
}

namespace {
bool ParseHex32(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 8) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, 16);
  return ec == std::errc() && ptr == text.data() + text.size();
}
}  // namespace

std::optional<Lsn> Lsn::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  uint32_t hi = 0;
  uint32_t lo = 0;
  if (!ParseHex32(text.substr(0, slash), &hi) || !ParseHex32(text.substr(slash + 1), &lo)) {
    return std::nullopt;
  }
  return Lsn((static_cast<uint64_t>(hi) << 32) | lo);
}

std::string Position::ToString() const {
  return fmt::format("{}:{}", commit_lsn.ToString(), index);
}

std::optional<Position> Position::Parse(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::optional<Lsn> lsn = Lsn::Parse(text.substr(0, colon));
  if (!lsn) return std::nullopt;
  std::string_view idx = text.substr(colon + 1);
  uint32_t index = 0;
  auto [ptr, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), index, 10);
  if (idx.empty() || ec != std::errc() || ptr != idx.data() + idx.size()) return std::nullopt;
  return Position{*lsn, index};
}

}  // namespace eddy
