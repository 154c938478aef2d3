#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy::change {

// A compact binary form of tables, changes and commits, used by the change log (src/log) and by
// spool files. Integers are LEB128 varints (zigzag for signed ones) except LSNs, which are fixed
// 8-byte little-endian. Every encoding starts with a format byte (kBinaryFormatVersion).
//
// The decoders treat their input as untrusted: every read is bounds checked, counts are checked
// against the bytes that remain before anything is allocated, and any problem is a kCorruption
// Status whose message says what is wrong. Trailing bytes are an error too.
//
// Value encoding: one varint tag = (text length << 2) | kind, then the text bytes for kText, so
// kNull, kUnchanged and kText round-trip exactly and a short text costs one byte of overhead.

inline constexpr uint8_t kBinaryFormatVersion = 1;

// Looks up the table a change was written under; returns null when it is unknown.
using TableLookup =
    std::function<std::shared_ptr<const Table>(RelationId relation_id, uint32_t schema_version)>;

void EncodeTable(const Table& table, std::string* out);
Result<std::shared_ptr<const Table>> DecodeTable(std::string_view data);

// Encodes everything in `change` except the table, which is referenced by (relation_id,
// schema_version) and resolved through the lookup when decoding. Appends to `out`.
void EncodeChange(const Change& change, std::string* out);
// kCorruption if the bytes are malformed, the lookup returns null, or a non-empty row's width
// differs from the table's column count.
Result<Change> DecodeChange(std::string_view data, const TableLookup& lookup);
// Reads only the position of an encoded change (cheap: for skipping changes).
Result<Position> DecodeChangePosition(std::string_view data);

void EncodeCommit(const Commit& commit, std::string* out);
Result<Commit> DecodeCommit(std::string_view data);

}  // namespace eddy::change
