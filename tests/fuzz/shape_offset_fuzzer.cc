// libFuzzer target for the Shape API's offset parameter (Offset::Parse): whatever the bytes, a
// value or nullopt, never a crash; what parses prints back to text that parses to the same
// offset, and the printed form is the input without leading zeros.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "shape/offset.h"

using eddy::shape::Offset;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<Offset> parsed = Offset::Parse(text);
  if (parsed) {
    const std::string printed = parsed->ToString();
    std::optional<Offset> again = Offset::Parse(printed);
    if (!again || *again != *parsed) std::abort();
    if (printed.size() > text.size()) std::abort();  // only leading zeros are dropped
    if (Offset::Parse(printed)->ToString() != printed) std::abort();
  }
  // The same bytes as an offset value: printing then parsing gives it back.
  if (size >= 16) {
    uint64_t tx = 0;
    uint64_t op = 0;
    std::memcpy(&tx, data, 8);
    std::memcpy(&op, data + 8, 8);
    const Offset at = Offset::At(tx, op);
    std::optional<Offset> round = Offset::Parse(at.ToString());
    if (!round || *round != at) std::abort();
    // Ordering agrees with (tx, op).
    if (parsed && parsed->kind == Offset::Kind::kAt) {
      const bool less = parsed->tx < tx || (parsed->tx == tx && parsed->op < op);
      if ((*parsed < at) != less) std::abort();
    }
  }
  return 0;
}
