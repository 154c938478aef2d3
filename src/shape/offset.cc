#include "shape/offset.h"

#include <charconv>

namespace eddy::shape {
namespace {

// Parses one or more ASCII digits (leading zeros allowed) into a u64; nullopt on anything else or
// on overflow. std::from_chars alone would accept a leading '-' or stop early on junk.
std::optional<uint64_t> ParseDigits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<Offset> Offset::Parse(std::string_view text) {
  if (text == "-1") return BeforeAll();
  if (text == "now") return Now();
  const size_t underscore = text.find('_');
  if (underscore == std::string_view::npos) return std::nullopt;
  std::optional<uint64_t> tx = ParseDigits(text.substr(0, underscore));
  if (!tx) return std::nullopt;
  std::string_view op_text = text.substr(underscore + 1);
  if (op_text == "inf") return At(*tx, kInfOp);
  std::optional<uint64_t> op = ParseDigits(op_text);
  // UINT64_MAX is how "inf" is held: as a number it would alias "inf", so it counts as overflow.
  if (!op || *op == kInfOp) return std::nullopt;
  return At(*tx, *op);
}

std::string Offset::ToString() const {
  switch (kind) {
    case Kind::kBeforeAll:
      return "-1";
    case Kind::kNow:
      return "now";
    case Kind::kAt:
      break;
  }
  std::string out = std::to_string(tx);
  out += '_';
  if (op == kInfOp) {
    out += "inf";
  } else {
    out += std::to_string(op);
  }
  return out;
}

}  // namespace eddy::shape
