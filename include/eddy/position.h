#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

// A PostgreSQL WAL position (XLogRecPtr). Printed as PostgreSQL prints it: "16/B374D848".
class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr bool IsZero() const { return value_ == 0; }
  std::string ToString() const;
  // Accepts "X/Y" with hexadecimal halves; nullopt on anything else.
  static std::optional<Lsn> Parse(std::string_view text);
  constexpr auto operator<=>(const Lsn&) const = default;

 private:
  uint64_t value_ = 0;
};

// A PostgreSQL transaction id (32 bits on the wire).
class Xid {
 public:
  constexpr Xid() = default;
  constexpr explicit Xid(uint32_t value) : value_(value) {}
  constexpr uint32_t value() const { return value_; }
  constexpr auto operator<=>(const Xid&) const = default;

 private:
  uint32_t value_ = 0;
};

// A table's OID as pgoutput names it in Relation messages.
class RelationId {
 public:
  constexpr RelationId() = default;
  constexpr explicit RelationId(uint32_t value) : value_(value) {}
  constexpr uint32_t value() const { return value_; }
  constexpr auto operator<=>(const RelationId&) const = default;

 private:
  uint32_t value_ = 0;
};

// The identity of one change: the commit LSN of its transaction and its index inside that
// transaction. Positions order changes in commit order. It is the offset in eddy's log and the
// resume token of every subscription. Text form: "<lsn>:<index>", e.g. "0/16B3748:3".
struct Position {
  Lsn commit_lsn;
  uint32_t index = 0;

  std::string ToString() const;
  static std::optional<Position> Parse(std::string_view text);
  constexpr auto operator<=>(const Position&) const = default;
};

}  // namespace eddy
