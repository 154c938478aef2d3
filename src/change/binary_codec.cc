#include "change/binary_codec.h"

#include <cstring>

#include <fmt/format.h>

namespace eddy::change {
namespace {

constexpr uint8_t kMaxTypeKind = static_cast<uint8_t>(TypeKind::kMoney);

// ---- Encoding ---------------------------------------------------------------------------------

// Writes into a small stack buffer first so a run of integers costs one append.
class Scratch {
 public:
  void U8(uint8_t v) { buf_[n_++] = static_cast<char>(v); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      buf_[n_++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    buf_[n_++] = static_cast<char>(v);
  }
  void ZigZag(int64_t v) {
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Fixed64(uint64_t v) {
    for (int i = 0; i < 8; ++i) buf_[n_++] = static_cast<char>(v >> (8 * i));
  }
  void FlushTo(std::string* out) {
    out->append(buf_, n_);
    n_ = 0;
  }
  // Room left before a flush is needed; callers flush when below 32 bytes.
  size_t room() const { return sizeof(buf_) - n_; }

 private:
  char buf_[96];
  size_t n_ = 0;
};

void PutString(Scratch& s, std::string_view v, std::string* out) {
  s.Varint(v.size());
  s.FlushTo(out);
  out->append(v);
}

void PutValues(const std::vector<Value>& row, Scratch& s, std::string* out) {
  s.Varint(row.size());
  for (const Value& v : row) {
    if (v.kind == Value::Kind::kText) {
      s.Varint((static_cast<uint64_t>(v.text.size()) << 2) | 2u);
      s.FlushTo(out);
      out->append(v.text);
    } else {
      s.U8(static_cast<uint8_t>(v.kind));  // kNull = 0, kUnchanged = 1: tag with length 0
      if (s.room() < 32) s.FlushTo(out);
    }
  }
}

// ---- Decoding ---------------------------------------------------------------------------------

// A bounds-checked cursor. After the first failure ok() is false, `error` says what failed, and
// every read returns zero/empty.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}

  bool ok() const { return error_ == nullptr; }
  const char* error() const { return error_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  void Fail(const char* what) {
    if (error_ == nullptr) error_ = what;
    p_ = end_;
  }

  uint8_t U8(const char* what) {
    if (p_ == end_) {
      Fail(what);
      return 0;
    }
    return static_cast<uint8_t>(*p_++);
  }
  uint64_t Varint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (p_ == end_) break;
      uint8_t b = static_cast<uint8_t>(*p_++);
      if (shift == 63 && b > 1) break;  // more than 64 bits
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    Fail(what);
    return 0;
  }
  uint32_t Varint32(const char* what) {
    uint64_t v = Varint(what);
    if (v > UINT32_MAX) {
      Fail(what);
      return 0;
    }
    return static_cast<uint32_t>(v);
  }
  int64_t ZigZag(const char* what) {
    uint64_t v = Varint(what);
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  uint64_t Fixed64(const char* what) {
    if (remaining() < 8) {
      Fail(what);
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += 8;
    return v;
  }
  std::string_view Bytes(uint64_t n, const char* what) {
    if (n > remaining()) {
      Fail(what);
      return {};
    }
    std::string_view s(p_, static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  std::string_view String(const char* what) { return Bytes(Varint(what), what); }

 private:
  const char* p_;
  const char* end_;
  const char* error_ = nullptr;
};

Status CursorError(std::string_view object, const Cursor& c) {
  return Corruption(fmt::format("malformed binary {}: {}", object, c.error()));
}

Status CheckVersion(Cursor& c, std::string_view object) {
  uint8_t version = c.U8("missing format byte");
  if (!c.ok()) return CursorError(object, c);
  if (version != kBinaryFormatVersion) {
    return Corruption(fmt::format("binary {} has unknown format version {} (expected {})", object,
                                  version, kBinaryFormatVersion));
  }
  return Status::Ok();
}

Status CheckEnd(const Cursor& c, std::string_view object) {
  if (!c.ok()) return CursorError(object, c);
  if (c.remaining() != 0) {
    return Corruption(fmt::format("binary {} has {} trailing bytes", object, c.remaining()));
  }
  return Status::Ok();
}

// Reads a row of values; `row` is filled in place (no per-value allocation besides the text).
Status GetValues(Cursor& c, std::vector<Value>* row, const char* which) {
  uint64_t count = c.Varint("truncated row width");
  if (!c.ok()) return CursorError("change", c);
  if (count > c.remaining()) {  // every value takes at least one byte
    return Corruption(fmt::format("binary change {} claims {} values but only {} bytes remain",
                                  which, count, c.remaining()));
  }
  row->resize(static_cast<size_t>(count));
  for (Value& v : *row) {
    uint64_t tag = c.Varint("truncated value tag");
    switch (tag & 3) {
      case 0:
      case 1:
        if (tag > 1) {
          return Corruption(
              fmt::format("binary change {} has a null/unchanged value with a length", which));
        }
        v.kind = static_cast<Value::Kind>(tag);
        break;
      case 2: {
        std::string_view text = c.Bytes(tag >> 2, "value text runs past the end");
        v.kind = Value::Kind::kText;
        v.text.assign(text.data(), text.size());
        break;
      }
      default:
        return Corruption(fmt::format("binary change {} has a value of unknown kind", which));
    }
    if (!c.ok()) return CursorError("change", c);
  }
  return Status::Ok();
}

Status CheckWidth(const std::vector<Value>& row, const Table& table, const char* which) {
  if (!row.empty() && row.size() != table.columns.size()) {
    return Corruption(fmt::format(
        "binary change {} has {} values but table {} (schema version {}) "
        "has {} columns",
        which, row.size(), table.QualifiedName(), table.schema_version, table.columns.size()));
  }
  return Status::Ok();
}

bool ValidOp(uint8_t op) {
  return op == static_cast<uint8_t>(Op::kInsert) || op == static_cast<uint8_t>(Op::kUpdate) ||
         op == static_cast<uint8_t>(Op::kDelete) || op == static_cast<uint8_t>(Op::kTruncate);
}

}  // namespace

// Table: version, relation_id, schema, name, replica_identity, schema_version, column count,
// then per column: name, type_oid, type_modifier (zigzag), type_name, kind, element_kind, is_key.
void EncodeTable(const Table& table, std::string* out) {
  Scratch s;
  s.U8(kBinaryFormatVersion);
  s.Varint(table.relation_id.value());
  PutString(s, table.schema, out);
  PutString(s, table.name, out);
  s.U8(static_cast<uint8_t>(table.replica_identity));
  s.Varint(table.schema_version);
  s.Varint(table.columns.size());
  for (const Column& col : table.columns) {
    PutString(s, col.name, out);
    s.Varint(col.type_oid);
    s.ZigZag(col.type_modifier);
    PutString(s, col.type_name, out);
    s.U8(static_cast<uint8_t>(col.kind));
    s.U8(static_cast<uint8_t>(col.element_kind));
    s.U8(col.is_key ? 1 : 0);
  }
  s.FlushTo(out);
}

Result<std::shared_ptr<const Table>> DecodeTable(std::string_view data) {
  Cursor c(data);
  EDDY_RETURN_IF_ERROR(CheckVersion(c, "table"));
  auto table = std::make_shared<Table>();
  table->relation_id = RelationId(c.Varint32("truncated relation id"));
  std::string_view schema = c.String("truncated schema name");
  std::string_view name = c.String("truncated table name");
  table->schema.assign(schema.data(), schema.size());
  table->name.assign(name.data(), name.size());
  table->replica_identity = static_cast<char>(c.U8("truncated replica identity"));
  table->schema_version = c.Varint32("truncated schema version");
  uint64_t ncols = c.Varint("truncated column count");
  if (!c.ok()) return CursorError("table", c);
  switch (table->replica_identity) {
    case 'd':
    case 'n':
    case 'f':
    case 'i':
      break;
    default:
      return Corruption(fmt::format("binary table has unknown replica identity {}",
                                    static_cast<int>(table->replica_identity)));
  }
  constexpr size_t kMinColumnBytes = 7;
  if (ncols > c.remaining() / kMinColumnBytes) {
    return Corruption(fmt::format("binary table claims {} columns but only {} bytes remain", ncols,
                                  c.remaining()));
  }
  table->columns.resize(static_cast<size_t>(ncols));
  for (Column& col : table->columns) {
    std::string_view col_name = c.String("truncated column name");
    col.name.assign(col_name.data(), col_name.size());
    col.type_oid = c.Varint32("truncated type oid");
    int64_t typmod = c.ZigZag("truncated type modifier");
    std::string_view type_name = c.String("truncated type name");
    col.type_name.assign(type_name.data(), type_name.size());
    uint8_t kind = c.U8("truncated type kind");
    uint8_t element_kind = c.U8("truncated element kind");
    uint8_t is_key = c.U8("truncated key flag");
    if (!c.ok()) return CursorError("table", c);
    if (typmod < INT32_MIN || typmod > INT32_MAX) {
      return Corruption(fmt::format("binary table column {} has type modifier {} out of range",
                                    col.name, typmod));
    }
    if (kind > kMaxTypeKind || element_kind > kMaxTypeKind || is_key > 1) {
      return Corruption(
          fmt::format("binary table column {} has an invalid kind/element kind/key flag ({}/{}/{})",
                      col.name, kind, element_kind, is_key));
    }
    col.type_modifier = static_cast<int32_t>(typmod);
    col.kind = static_cast<TypeKind>(kind);
    col.element_kind = static_cast<TypeKind>(element_kind);
    col.is_key = is_key == 1;
  }
  EDDY_RETURN_IF_ERROR(CheckEnd(c, "table"));
  return std::shared_ptr<const Table>(std::move(table));
}

// Change: version, commit_lsn (fixed64), index, xid, commit_time_us (zigzag), op, old_kind,
// truncate_flags, relation_id, schema_version, new_row, old_row.
void EncodeChange(const Change& change, std::string* out) {
  Scratch s;
  s.U8(kBinaryFormatVersion);
  s.Fixed64(change.position.commit_lsn.value());
  s.Varint(change.position.index);
  s.Varint(change.xid.value());
  s.ZigZag(change.commit_time_us);
  s.U8(static_cast<uint8_t>(change.op));
  s.U8(static_cast<uint8_t>(change.old_kind));
  s.U8(change.truncate_flags);
  s.Varint(change.table ? change.table->relation_id.value() : 0);
  s.Varint(change.table ? change.table->schema_version : 0);
  PutValues(change.new_row, s, out);
  PutValues(change.old_row, s, out);
  s.FlushTo(out);
}

Result<Position> DecodeChangePosition(std::string_view data) {
  Cursor c(data);
  EDDY_RETURN_IF_ERROR(CheckVersion(c, "change"));
  Position pos;
  pos.commit_lsn = Lsn(c.Fixed64("truncated commit lsn"));
  pos.index = c.Varint32("truncated change index");
  if (!c.ok()) return CursorError("change", c);
  return pos;
}

Result<Change> DecodeChange(std::string_view data, const TableLookup& lookup) {
  Cursor c(data);
  EDDY_RETURN_IF_ERROR(CheckVersion(c, "change"));
  Change change;
  change.position.commit_lsn = Lsn(c.Fixed64("truncated commit lsn"));
  change.position.index = c.Varint32("truncated change index");
  change.xid = Xid(c.Varint32("truncated xid"));
  change.commit_time_us = c.ZigZag("truncated commit time");
  uint8_t op = c.U8("truncated op");
  uint8_t old_kind = c.U8("truncated old row kind");
  change.truncate_flags = c.U8("truncated truncate flags");
  RelationId relation_id(c.Varint32("truncated relation id"));
  uint32_t schema_version = c.Varint32("truncated schema version");
  if (!c.ok()) return CursorError("change", c);
  if (!ValidOp(op)) return Corruption(fmt::format("binary change has unknown op {}", op));
  if (old_kind > static_cast<uint8_t>(OldRow::kFull)) {
    return Corruption(fmt::format("binary change has unknown old row kind {}", old_kind));
  }
  change.op = static_cast<Op>(op);
  change.old_kind = static_cast<OldRow>(old_kind);
  EDDY_RETURN_IF_ERROR(GetValues(c, &change.new_row, "new row"));
  EDDY_RETURN_IF_ERROR(GetValues(c, &change.old_row, "old row"));
  EDDY_RETURN_IF_ERROR(CheckEnd(c, "change"));
  change.table = lookup ? lookup(relation_id, schema_version) : nullptr;
  if (change.table == nullptr) {
    return Corruption(
        fmt::format("binary change refers to unknown table: relation {} schema "
                    "version {}",
                    relation_id.value(), schema_version));
  }
  EDDY_RETURN_IF_ERROR(CheckWidth(change.new_row, *change.table, "new row"));
  EDDY_RETURN_IF_ERROR(CheckWidth(change.old_row, *change.table, "old row"));
  return change;
}

// Commit: version, xid, commit_lsn (fixed64), end_lsn (fixed64), commit_time_us (zigzag),
// change_count.
void EncodeCommit(const Commit& commit, std::string* out) {
  Scratch s;
  s.U8(kBinaryFormatVersion);
  s.Varint(commit.xid.value());
  s.Fixed64(commit.commit_lsn.value());
  s.Fixed64(commit.end_lsn.value());
  s.ZigZag(commit.commit_time_us);
  s.Varint(commit.change_count);
  s.FlushTo(out);
}

Result<Commit> DecodeCommit(std::string_view data) {
  Cursor c(data);
  EDDY_RETURN_IF_ERROR(CheckVersion(c, "commit"));
  Commit commit;
  commit.xid = Xid(c.Varint32("truncated xid"));
  commit.commit_lsn = Lsn(c.Fixed64("truncated commit lsn"));
  commit.end_lsn = Lsn(c.Fixed64("truncated end lsn"));
  commit.commit_time_us = c.ZigZag("truncated commit time");
  commit.change_count = c.Varint32("truncated change count");
  EDDY_RETURN_IF_ERROR(CheckEnd(c, "commit"));
  return commit;
}

}  // namespace eddy::change
