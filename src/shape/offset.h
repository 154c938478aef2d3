#pragma once

// Offsets of Electric's Shape API: "-1" (before everything), "now", "<tx>_<op>" and "<tx>_inf".
// Snapshot rows live at "0_<n>", the end of the snapshot is "0_inf", live changes at
// "<commit LSN as decimal>_<op position>".

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy::shape {

struct Offset {
  enum class Kind : uint8_t { kBeforeAll = 0, kAt = 1, kNow = 2 };
  static constexpr uint64_t kInfOp = UINT64_MAX;

  Kind kind = Kind::kAt;
  uint64_t tx = 0;
  uint64_t op = 0;  // kInfOp prints as "inf"

  static constexpr Offset BeforeAll() { return {Kind::kBeforeAll, 0, 0}; }
  static constexpr Offset Now() { return {Kind::kNow, 0, 0}; }
  static constexpr Offset At(uint64_t tx, uint64_t op) { return {Kind::kAt, tx, op}; }
  static constexpr Offset SnapshotEnd() { return {Kind::kAt, 0, kInfOp}; }

  // "-1", "now", "<digits>_<digits>" or "<digits>_inf" (leading zeros allowed); nullopt on
  // anything else ("10", "1_2_3", "1_2 ", "10_32.1", overflow).
  static std::optional<Offset> Parse(std::string_view text);
  std::string ToString() const;

  // kBeforeAll < every kAt (ordered by tx, then op, "inf" last). kNow is not ordered: callers
  // resolve it first.
  auto operator<=>(const Offset&) const = default;
};

}  // namespace eddy::shape
